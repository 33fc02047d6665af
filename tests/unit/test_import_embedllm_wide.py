"""EmbedLLM / IrtNet CSV and the wide models x items matrix, on small files the tests write."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from irtnet.data.importers.embedllm import import_embedllm
from irtnet.data.importers.wide import import_wide
from irtnet.errors import DataError

HEAD = "model_id,prompt_id,prompt,label,category\n"
ROWS = ("m1,1,What is 2+2?,1,gsm8k\nm1,2,Capital of France?,0,mmlu\n"
        "m2,1,What is 2+2?,1,gsm8k\nm2,2,Capital of France?,1,mmlu\n")


def test_embedllm_file_maps_prompt_id_category_prompt_and_label(tmp_path):
    (tmp_path / "train.csv").write_text(HEAD + ROWS)
    t = import_embedllm(tmp_path / "train.csv")
    assert t.model_vocab.ids == ("m1", "m2") and t.query_vocab.ids == ("1", "2")
    assert t.benchmarks_of(["1", "2"]).tolist() == ["gsm8k", "mmlu"]
    assert t.texts_of(["2"]) == ["Capital of France?"]
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 1]])


def test_embedllm_folder_pools_its_csvs_and_votes_repeats(tmp_path):
    (tmp_path / "train.csv").write_text(HEAD + ROWS)
    more = HEAD + "m1,3,New?,1,mmlu\nm1,2,Capital of France?,1,mmlu\n"
    (tmp_path / "test.csv.gz").write_bytes(gzip.compress(more.encode()))
    t = import_embedllm(tmp_path)
    assert t.n_queries == 3 and t.report.n_repeated_pairs == 1 and t.report.n_conflicting_pairs == 1
    assert "pooled 2 files" in t.report.notes[0]


@pytest.mark.parametrize("text,message", [
    ("model_id,prompt_id,prompt,label\nm1,1,x,1\n",
     r"e.csv, field 'category': missing required column \['category'\]"),
    (HEAD + "m1,1,x,1,a\nm1,2,y,2,a\n", r"e.csv, row 2, field 'label': label is not 0/1, true/false or yes/no \(got '2'"),
    (HEAD + "m1,1,x,1,a\nm2,2,y,NaN,a\n", r"e.csv, row 2, field 'label': label is not 0/1.*got 'NaN'"),
    ("", r"e.csv: no records \(the file is empty\)"),
    (HEAD, r"e.csv: no records \(the input is empty\)"),
    (HEAD + "m1,1,x,1,a\nm2,1,x,0,b\n",
     r"query id '1' collides: it has two different benchmark values \(rows \[1, 2\]"),
    (HEAD + "m1,1,x,1,a\nm2,1,,0,a\n",
     r"e.csv, row 2, field 'text': query id '1' has a text on row 1 but none on row 2"),
    (HEAD + "m1,1,x,1,a\nm2,1,x,,a\n", r"e.csv, row 2, field 'label': model 'm2' has no records"),
])
def test_bad_embedllm_input_names_file_row_and_field(tmp_path, text, message):
    (tmp_path / "e.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        import_embedllm(tmp_path / "e.csv")


def test_embedllm_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"no \*.csv or \*.csv.gz files in the folder"):
        import_embedllm(tmp_path)
    with pytest.raises(DataError, match="nope.csv: no such file or folder"):
        import_embedllm(tmp_path / "nope.csv")


# ---------------------------------------------------------------- wide
def test_wide_matrix_with_header_counts_empty_cells(tmp_path):
    (tmp_path / "m.csv").write_text("model,i1,i2,i3\na,1,0,\nb,1,1,0\n")
    t = import_wide(tmp_path / "m.csv", default_benchmark="bench", query_prefix="w/")
    assert t.query_vocab.ids == ("w/i1", "w/i2", "w/i3") and len(t.responses) == 5
    assert t.report.skipped == {"empty cells (not observed)": 1}
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 1], [np.nan, 0]])


def test_wide_matrix_without_header_numbers_models_and_items(tmp_path):
    (tmp_path / "combine.csv").write_text("1.0,0.0,1.0\n0.0,0.0,1.0\n")
    t = import_wide(tmp_path / "combine.csv", header=False)
    assert t.model_vocab.ids == ("model_0", "model_1") and t.n_queries == 3
    assert t.benchmark_vocab.ids == ("combine",)
    assert t.label_matrix(model_ids=["model_0"]).ravel().tolist() == [1, 0, 1]


@pytest.mark.parametrize("text,kind,message", [
    ("model,i1,i2\na,1,0\nb,1\n", "auto",
     r"m.csv, row 2, field 'i2': the row has 2 fields, the header 3: missing 'i2'"),
    ("model,i1,i2\na,1,0\nb,1,x\n", "auto", r"m.csv, row 2, field 'i2': not a number \(got 'x'\)"),
    ("model,i1,i2\na,1,0\nb,1,NaN\n", "auto", r"m.csv, row 2, field 'i2': not a number \(got 'NaN'\)"),
    ("model,i1,i2\na,1,0.5\n", "binary", r"m.csv, row 1, field 'i2': label is not 0 or 1 \(got 0.5"),
    ("model,i1,i2\na,1,2\n", "auto", r"m.csv, row 1, field 'i2': score outside \[0, 1\]"),
    ("", "auto", r"m.csv: no records"),
    ("model,i1,i2\n", "auto", r"m.csv: no records \(the matrix has no model rows\)"),
    ("model,i1,i2\na,1,0\na,1,1\n", "auto", r"m.csv, row 2, field 'model': model 'a' has two rows"),
    ("model,i1,i1\na,1,0\n", "auto", r"m.csv, row header, field 'i1': item id 'i1' names two columns"),
    ("model,i1,i2\na,1,0\nb,,\n", "auto", r"m.csv, row 2: model 'b' has no records"),
])
def test_bad_wide_input_names_file_row_and_field(tmp_path, text, kind, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        import_wide(tmp_path / "m.csv", outcome_kind=kind)

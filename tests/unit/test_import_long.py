"""The generic long importer and its ColumnMap, on small files the tests write."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from irtnet.data.importers import column_map, import_table
from irtnet.data.importers.long import import_long
from irtnet.errors import ConfigError, DataError

CSV = "system,item,correct,bench\na,q1,1,x\na,q2,0,y\nb,q1,1,x\nb,q2,1,y\n"


def _write(tmp_path, text, name="scores.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_long_csv_with_a_mapping(tmp_path):
    t = import_long(_write(tmp_path, CSV), model="system", query="item", outcome="correct", benchmark="bench")
    assert t.model_vocab.ids == ("a", "b") and t.query_vocab.ids == ("q1", "q2")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 1]])
    assert t.benchmarks_of(["q1", "q2"]).tolist() == ["x", "y"]


@pytest.mark.parametrize("name,write", [
    ("s.jsonl", lambda p, rows: p.write_text("\n".join(json.dumps(r) for r in rows))),
    ("s.json.gz", lambda p, rows: p.write_bytes(gzip.compress(json.dumps({"data": rows}).encode()))),
    ("s.parquet", lambda p, rows: pd.DataFrame(rows).to_parquet(p)),
])
def test_long_reads_json_lines_compressed_json_and_parquet(tmp_path, name, write):
    rows = [{"m": "a", "q": 1, "y": True}, {"m": "b", "q": 1, "y": False}]
    write(tmp_path / name, rows)
    extra = {"records_key": "data"} if name.endswith(".json.gz") else {}
    t = import_long(tmp_path / name, model="m", query="q", outcome="y", default_benchmark="b", **extra)
    assert t.responses["label"].tolist() == [1, 0] and t.query_vocab.ids == ("1",)


def test_counts_from_a_percentage_and_a_fixed_number_of_trials(tmp_path):
    path = _write(tmp_path, "model,query,pass\na,q,30\nb,q,100\n")
    t = import_long(path, outcome="pass", outcome_kind="counts", outcome_scale=100, n_trials=10,
                    default_benchmark="lcb")
    assert t.responses["n_correct"].tolist() == [3, 10] and t.responses["label"].tolist() == [0, 1]


def test_threshold_binarises_a_continuous_score(tmp_path):
    path = _write(tmp_path, "model,query,score\na,q,7.5\nb,q,-3\n")
    t = import_long(path, outcome="score", threshold=7, default_benchmark="eq")
    assert t.responses["label"].tolist() == [1, 0]


def test_missing_outcomes_and_excluded_models_are_counted_not_dropped_silently(tmp_path):
    path = _write(tmp_path, "model,query,label\na,q1,1\na,q2,\nb,q1,0\nb,q2,1\nc,q1,1\n")
    t = import_long(path, exclude_models=["c", "zzz"], default_benchmark="b")
    assert t.report.skipped == {"records of excluded model 'c'": 1,
                                "missing outcome ('label' empty): not observed": 1}
    assert any("'zzz' does not occur" in n for n in t.report.notes)
    assert t.n_models == 2 and len(t.responses) == 3


def test_texts_file_and_query_prefix(tmp_path):
    path = _write(tmp_path, "model,query,label\na,1,1\nb,1,0\na,2,1\n")
    texts = _write(tmp_path, "id,question\n1,What is 1?\n", "texts.csv")
    t = import_long(path, texts_file=str(texts), texts_query="id", texts_text="question", query_prefix="gsm/",
                    default_benchmark="gsm")
    assert t.texts_of(["gsm/1", "gsm/2"]) == ["What is 1?", None]
    assert any("1 queries have no text" in n for n in t.report.notes)


def test_default_benchmark_is_the_file_name_and_noted(tmp_path):
    t = import_long(_write(tmp_path, "model,query,label\na,q,1\n", "my-bench.csv.gz".replace(".gz", "")))
    assert t.benchmark_vocab.ids == ("my-bench",) and "file name" in t.report.notes[0]


# ---------------------------------------------------------------- errors name file, row and field
@pytest.mark.parametrize("text,message", [
    ("system,item,bench\na,q1,x\n", r"scores.csv, field 'correct': missing required column \['correct'\]"),
    ("system,item,correct,bench\na,q1,1,x\nb,q1,2,x\n",
     r"scores.csv, row 2, field 'correct': label is not 0/1, true/false or yes/no \(got '2'"),
    ("system,item,correct,bench\na,q1,yes,x\nb,q1,maybe,x\n", r"row 2, field 'correct': label is not 0/1"),
    ("system,item,correct,bench\na,q1,1,x\nb,q1,NaN,x\n", r"row 2, field 'correct': label is not 0/1.*got 'NaN'"),
    ("", r"scores.csv: no records \(the file is empty\)"),
    ("system,item,correct,bench\n", r"scores.csv: no records \(the input is empty\)"),
    ("system,item,correct,bench\na,q1,1,x\nb,q1,1,x,extra\n",
     r"scores.csv, row 2, field 'column 5': the row has 5 fields, the header only 4"),
    ("system,item,correct,bench\na,q1,1,x\n,q1,1,x\n", r"row 2, field 'system': missing id"),
    ("system,item,correct,bench\na,q1,1,x\nb,q1,,x\n", r"model 'b' has no records"),
    ("system,item,correct,bench\na,q1,1,x\nb,q1,0,y\n", r"query id 'q1' collides: it has two different benchmark"),
])
def test_bad_long_input_names_what_is_wrong(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        import_long(_write(tmp_path, text), model="system", query="item", outcome="correct", outcome_kind="binary",
                    benchmark="bench")


def test_fraction_out_of_range_and_counts_that_are_not_whole(tmp_path):
    with pytest.raises(DataError, match=r"row 1, field 'label': score outside \[0, 1\]"):
        import_long(_write(tmp_path, "model,query,label\na,q,1.5\n"), default_benchmark="b")
    with pytest.raises(DataError, match=r"row 1, field 'p': outcome x n_trials is not a whole number"):
        import_long(_write(tmp_path, "model,query,p\na,q,0.35\n"), outcome="p", outcome_kind="counts",
                    n_trials=10, default_benchmark="b")


def test_a_bad_mapping_is_a_config_error():
    with pytest.raises(ConfigError, match="outcome_kind 'counts' needs n_trials"):
        column_map(outcome_kind="counts")
    with pytest.raises(ConfigError, match="unknown_field: Extra inputs are not permitted"):
        column_map({"unknown_field": 1})
    with pytest.raises(ConfigError, match="takes no option 'modle'"):
        import_table("long", "x.csv", modle="m")


# ---------------------------------------------------------------- NaN is not missing, repeats, odd labels and ids
def _nan_parquet(path, values):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"model": ["a", "a", "b", "b"], "query": ["q1", "q2", "q1", "q2"],
                             "label": pa.array(values, pa.float64())}), path)
    return path


def test_a_nan_outcome_in_json_or_parquet_stops_the_import_but_a_null_is_missing(tmp_path):
    lines = ['{"model":"a","query":"q1","label":1}', '{"model":"a","query":"q2","label":NaN}',
             '{"model":"b","query":"q1","label":null}', '{"model":"b","query":"q2","label":0}']
    with pytest.raises(DataError, match=r"nan.jsonl, row 2, field 'label': .*got 'NaN'"):
        import_long(_write(tmp_path, "\n".join(lines) + "\n", "nan.jsonl"), default_benchmark="x")
    with pytest.raises(DataError, match=r"nan.json, row 0, field 'label': .*got 'Infinity'"):
        import_long(_write(tmp_path, "[" + lines[0].replace("1}", "Infinity}") + "]", "nan.json"),
                    default_benchmark="x")
    with pytest.raises(DataError, match=r"nan.parquet, row 2, field 'label': .*got 'nan'"):
        import_long(_nan_parquet(tmp_path / "nan.parquet", [1.0, float("nan"), None, 0.0]), default_benchmark="x")
    t = import_long(_nan_parquet(tmp_path / "null.parquet", [1.0, None, None, 0.0]), default_benchmark="x")
    assert t.report.skipped == {"missing outcome ('label' empty): not observed": 2} and len(t.responses) == 2
    lines[1] = '{"model":"a","query":"q2","label":null}'
    t = import_long(_write(tmp_path, "\n".join(lines) + "\n", "null.jsonl"), default_benchmark="x")
    assert len(t.responses) == 2


def test_repeats_error_refuses_a_repeated_pair_and_vote_reports_it(tmp_path):
    path = _write(tmp_path, "model,query,label\na,q1,1\nb,q1,1\na,q1,0\n")
    with pytest.raises(DataError, match=r"row 3: repeated \(model, query\) record: model 'a', query 'q1' "
                                        r"\(first at row 1\)"):
        import_long(path, default_benchmark="x", repeats="error")
    t = import_long(path, default_benchmark="x")
    assert (t.report.n_repeated_pairs, t.report.n_conflicting_pairs) == (1, 1)
    with pytest.raises(ConfigError, match="repeats"):
        column_map(repeats="sometimes")


def test_binary_text_labels_in_any_letter_case_and_ids_that_are_lists(tmp_path):
    t = import_long(_write(tmp_path, "model,query,label\na,q1,Yes\na,q2,NO\nb,q1,True\nb,q2,false\n"),
                    outcome_kind="binary", default_benchmark="x")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 0]])
    with pytest.raises(DataError, match=r"row 1, field 'query': an id must be a string or a number"):
        import_long(_write(tmp_path, '{"model":"a","query":[1,2],"label":1}\n', "ids.jsonl"), default_benchmark="x")


def test_a_nan_outside_the_outcome_is_read_as_before(tmp_path):
    rows = ['{"model":"a","query":"q1","label":1,"bench":NaN,"text":NaN}',
            '{"model":"a","query":"q2","label":0,"bench":"x","text":"What?"}']
    t = import_long(_write(tmp_path, "\n".join(rows) + "\n", "ok.jsonl"), benchmark="bench",
                    default_benchmark="d", text="text")
    assert t.benchmarks_of(["q1", "q2"]).tolist() == ["d", "x"]  # a NaN benchmark is missing: the default
    assert t.texts_of(["q1", "q2"]) == [None, "What?"]
    with pytest.raises(DataError, match=r"row 1, field 'query': missing id"):
        import_long(_write(tmp_path, '{"model":"a","query":NaN,"label":1}\n', "id.jsonl"), default_benchmark="d")
    with pytest.raises(DataError, match=r"row 1, field 'cost'"):
        import_long(_write(tmp_path, '{"model":"a","query":"q","label":1,"cost":Infinity}\n', "c.jsonl"),
                    default_benchmark="d", cost="cost")

"""Inputs read wrongly or refused late: a blank line of a .csv texts or answers file skipped silently (a .txt
file's is refused naming it; a .jsonl file's are skipped, as every JSONL reader of the project skips them), a
compare spec's `threads` above the training's bound refused only when the work starts, without naming the field,
and lines over 120 characters in the command line and run modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irtnet.api.compare import load_spec
from irtnet.api.inputs import read_answers, read_texts
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import save_predictor
from irtnet.training.threads import MAX_THREADS
from cli_checks import one_line_error as _error

SRC = Path(__file__).resolve().parents[2] / "src" / "irtnet"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """(a tiny checkpoint that reads texts, prices.json for its models)."""
    root = tmp_path_factory.mktemp("bb11")
    table = make_synthetic(n_models=3, n_queries=90, n_benchmarks=2, dim=2, feature_dim=6, seed=1).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    fitted = IrtNet("small", {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    (root / "prices.json").write_text(json.dumps({m: 0.001 * (i + 1) for i, m in enumerate(fitted.models_.to_list())}))
    return save_predictor(fitted, root / "ckpt"), root / "prices.json"


# ------------------------------------------------------------------------ 1. a blank line of a .csv file
@pytest.mark.parametrize(("content", "line"), [
    (b"text\na q\n\nb q\n", 3),  # a blank line between two records
    (b"text\na q\n   \nb q\n", 3),  # whitespace only: pandas skips it too
    (b"text,benchmark\r\na q,x\r\n\r\nb q,y\r\n", 3),  # Windows line ends, two columns
    (b"text\na q\nb q\n\n", 4),  # a blank line after the last record (not just its own line end)
    (b"\ntext\na q\n", 1),  # before the header
])
def test_a_blank_line_of_a_csv_texts_file_is_refused_naming_it(tmp_path, content, line):
    path = tmp_path / "q.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"q.csv, line {line}: a blank line: a .csv file holds its header, then one "
                                        "record per line"):
        read_texts(path)


@pytest.mark.parametrize(("content", "texts"), [
    (b"text\na q\nb q\n", ["a q", "b q"]),  # the last line's own line end is no blank line
    (b"text\na q\nb q", ["a q", "b q"]),  # nor is a missing one
    (b'text\n"a\n\nq"\nb q\n', ["a\n\nq", "b q"]),  # a blank line inside a quoted cell is part of the text
    (b"\xef\xbb\xbftext\r\na q\r\n", ["a q"]),
])
def test_a_csv_texts_file_without_blank_lines_reads_as_before(tmp_path, content, texts):
    path = tmp_path / "q.csv"
    path.write_bytes(content)
    assert read_texts(path)[0] == texts


def test_a_quoted_empty_cell_is_still_refused_as_no_text_of_its_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b'text\na q\n""\n')
    with pytest.raises(DataError, match=r"q.csv, row 2, field 'text': no text"):
        read_texts(path)


def test_a_blank_line_of_a_csv_answers_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"text,correct\na q,1\n\nb q,0\n")
    with pytest.raises(DataError, match=r"a.csv, line 3: a blank line"):
        read_answers(path)


def test_blank_lines_of_a_jsonl_texts_file_stay_skipped_and_counted(tmp_path):
    """The project's rule for JSONL (docs/data-formats.md, every JSONL reader): blank lines are skipped and
    counted in the line numbers of errors."""
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "a q"}\n\n{"text": "b q"}\n')
    assert read_texts(path)[0] == ["a q", "b q"]
    path.write_text('{"text": "a q"}\n\n{"text": " "}\n')
    with pytest.raises(DataError, match=r"q.jsonl, line 3, field 'text': no text"):
        read_texts(path)


def test_predict_benchmark_and_calibrate_refuse_a_blank_csv_line_naming_file_and_line(model, tmp_path):
    ckpt, prices = model
    path = tmp_path / "q.csv"
    path.write_text("text\na question\n\nanother question\n")
    printed = _error("predict-benchmark", ckpt, path)
    assert f"{path}, line 3: a blank line" in printed
    printed = _error("calibrate", ckpt, "--texts", path, "--target", "p=0.5", "--prices", prices)
    assert f"{path}, line 3: a blank line" in printed


# ------------------------------------------------------------------------ 2. a compare spec's threads
def _raw(threads):
    return {"datasets": [{"name": "syn", "table": "t.parquet"}], "models": [{"name": "counting"}], "seeds": [0],
            "threads": threads}


def test_a_compare_specs_threads_above_the_bound_is_refused_when_read_naming_threads():
    with pytest.raises(ConfigError, match=rf"^invalid comparison spec: threads: Input should be less than or equal "
                                          rf"to {MAX_THREADS}$"):
        load_spec(_raw(MAX_THREADS + 1))
    assert load_spec(_raw(MAX_THREADS)).threads == MAX_THREADS


# ------------------------------------------------------------------------ 3. lines of at most 120 characters
@pytest.mark.parametrize("module", ["cli/serve.py", "cli/tasks.py", "api/run.py", "api/inputs.py",
                                    "api/compare_spec.py"])
def test_no_line_is_longer_than_120_characters(module):
    long = [n for n, line in enumerate((SRC / module).read_text().splitlines(), 1) if len(line) > 120]
    assert not long, f"{module}: lines {long} are over 120 characters"

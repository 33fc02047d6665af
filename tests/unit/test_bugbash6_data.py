"""Bug bash 6 of `irtnet data` on the generic formats (long, wide) and merge: what the earlier bashes missed."""

from __future__ import annotations

import bz2
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet.cli.data import app  # the `irtnet data` sub-app; cli.main would import torch
from irtnet.data.importers import import_table
from irtnet.data.importers.long import column_map
from irtnet.data.merge import merge_tables
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError

ROWS = "model,query,label\nm1,q1,1\nm2,q1,0\nm1,q2,1\n"


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, newline="")
    return path


# ---------------------------------------------------------------- compressed and archived sources
@pytest.mark.parametrize("fmt", ["long", "wide"])
def test_a_truncated_bz2_file_is_a_data_error_not_a_value_error(tmp_path, fmt):
    text = ROWS if fmt == "long" else "model,i1\nm1,1\nm2,0\n" * 20
    path = _write(tmp_path / "t.csv.bz2", bz2.compress(text.encode())[:-12])
    with pytest.raises(DataError, match=r"t\.csv\.bz2: cannot decompress"):
        import_table(fmt, path)


def test_a_zip_member_with_corrupt_data_is_a_data_error_naming_the_archive(tmp_path):
    buf = io.BytesIO()
    body = "model,query,label\n" + "".join(f"m{i % 7},q{i},{i % 2}\n" for i in range(3000))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", body)
    raw = bytearray(buf.getvalue())
    raw[100:120] = bytes(20)  # inside the deflate stream: zlib.error when read
    path = _write(tmp_path / "z.zip", bytes(raw))
    for source in (path, f"{path}::a.csv"):
        with pytest.raises(DataError, match=r"z\.zip: not a readable zip archive"):
            import_table("long", source)


# ---------------------------------------------------------------- values of the wrong JSON / Parquet type
def test_a_true_or_false_id_is_an_error_not_the_text_true(tmp_path):
    path = _write(tmp_path / "r.jsonl", '{"model": true, "query": "q", "label": 1}\n'
                                        '{"model": "m2", "query": "q", "label": 0}\n')
    with pytest.raises(DataError, match=r"line 1, field 'model': an id must be a string or a number, not true/false"):
        import_table("long", path)
    frame = pd.DataFrame({"model": ["m1", "m2"], "query": [True, False], "label": [1, 0]})
    frame.to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"row 1, field 'query': an id must be .* not true/false"):
        import_table("long", tmp_path / "b.parquet")


def test_true_or_false_as_a_count_or_a_cost_is_an_error_not_1_or_0(tmp_path):
    counts = _write(tmp_path / "k.jsonl", '{"model": "m1", "query": "q", "k": 1, "n": true}\n')
    with pytest.raises(DataError, match=r"line 1, field 'n': true/false is not a count"):
        import_table("long", counts, outcome_kind="counts", n_correct="k", n_trials="n")
    pd.DataFrame({"model": ["m1", "m1"], "query": ["a", "b"], "label": [1, 0], "cost": [True, False]}).to_parquet(
        tmp_path / "c.parquet")
    with pytest.raises(DataError, match=r"row 1, field 'cost': true/false is not a cost \(got True; 2 such rows\)"):
        import_table("long", tmp_path / "c.parquet", cost="cost")
    numbers = _write(tmp_path / "ok.jsonl", '{"model": "m1", "query": "q", "k": 1, "n": 2, "cost": 0.5}\n')
    table = import_table("long", numbers, outcome_kind="counts", n_correct="k", n_trials="n", cost="cost")
    assert table.responses["n_trials"].tolist() == [2.0] and table.responses["cost"].tolist() == [0.5]


@pytest.mark.parametrize("value", ["5", '["a", "b"]', '{"x": 1}', "true"])
def test_a_text_that_is_not_a_string_is_an_error_not_its_python_spelling(tmp_path, value):
    path = _write(tmp_path / "t.jsonl", f'{{"model": "m1", "query": "q", "label": 1, "text": {value}}}\n')
    with pytest.raises(DataError, match=r"line 1, field 'text': a text must be a string"):
        import_table("long", path, text="text")


def test_a_numeric_parquet_text_column_is_an_error(tmp_path):
    pd.DataFrame({"model": ["m1", "m2"], "query": ["a", "b"], "label": [1, 0], "text": [1, 2]}).to_parquet(
        tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"row 1, field 'text': a text must be a string"):
        import_table("long", tmp_path / "t.parquet", text="text")


def test_a_blank_text_is_no_text_as_an_empty_cell_is(tmp_path):
    csv = _write(tmp_path / "t.csv", 'model,query,label,text\nm1,q,1,"   "\nm1,r,0,hello\nm2,r,1,hello\n')
    table = import_table("long", csv, text="text")
    assert dict(zip(table.queries["query"], table.queries["text"])) == {"q": None, "r": "hello"}
    # a query with its text on one line and "" on another is named, not a "collision" of two texts
    jsonl = _write(tmp_path / "t.jsonl", '{"model": "m1", "query": "q", "label": 1, "text": ""}\n'
                                         '{"model": "m2", "query": "q", "label": 0, "text": "a"}\n')
    with pytest.raises(DataError, match=r"has a text on line 2 but none on line 1"):
        import_table("long", jsonl, text="text")


# ---------------------------------------------------------------- the column mapping
@pytest.mark.parametrize("field", ["n_trials", "outcome_scale", "threshold"])
def test_true_or_false_in_a_numeric_mapping_field_is_a_config_error(field):
    extra = {"outcome_kind": "counts"} if field == "n_trials" else {}
    with pytest.raises(ConfigError, match=rf"{field}: .*is true/false, not a number"):
        column_map(None, **{field: True}, **extra)


def test_a_mapping_file_with_a_boolean_n_trials_is_refused(tmp_path):
    mapping = _write(tmp_path / "map.json", '{"outcome_kind": "counts", "n_trials": true}')
    path = _write(tmp_path / "r.csv", "model,query,label\nm1,q,0.3\n")
    with pytest.raises(ConfigError, match="n_trials"):
        import_table("long", path, mapping=str(mapping))


@pytest.mark.parametrize("role", ["model", "query", "text", "benchmark"])
def test_a_source_column_named_row_cannot_be_mapped(tmp_path, role):
    # before: the frames' own `_row` (1, 2, ...) replaced it, so `-O query=_row` made the row numbers the query ids
    path = _write(tmp_path / "r.csv", "model,_row,label\nm1,qa,1\nm1,qb,0\n")
    options = {"query": "_row"} if role == "query" else {role: "_row"}
    with pytest.raises(ConfigError, match="'_row' is the name irtnet gives its row numbers"):
        import_table("long", path, **options)


# ---------------------------------------------------------------- ids that differ only in letter case
def test_ids_that_differ_only_in_letter_case_stay_apart_and_are_noted(tmp_path):
    long = import_table("long", _write(tmp_path / "c.csv", "model,query,label\nGPT-4,q,1\ngpt-4,q,0\nGPT-4,Q,1\n"))
    assert sorted(long.models["model"]) == ["GPT-4", "gpt-4"] and long.n_queries == 2
    notes = " | ".join(long.report.notes)
    assert "model ids 'GPT-4' and 'gpt-4' differ only in letter case" in notes
    assert "query ids 'Q' and 'q' differ only in letter case" in notes and "kept as different queries" in notes
    wide = import_table("wide", _write(tmp_path / "w.csv", "model,i1,I1\nm1,1,0\n"))
    assert any("query ids 'I1' and 'i1'" in n for n in wide.report.notes)
    plain = import_table("long", _write(tmp_path / "p.csv", ROWS))
    assert not any("letter case" in n for n in plain.report.notes)


# ---------------------------------------------------------------- wide
def test_wide_reads_a_tsv_matrix_with_tabs(tmp_path):
    table = import_table("wide", _write(tmp_path / "w.tsv", "model\ti1\ti2\nm1\t1\t0\nm2\t\t1\n"))
    assert table.n_models == 2 and table.n_queries == 2 and len(table.responses) == 3


@pytest.mark.parametrize("name", ["w.json", "w.jsonl", "w.parquet", "w.json.gz"])
def test_wide_refuses_a_json_or_parquet_file_saying_it_reads_a_matrix(tmp_path, name):
    import gzip

    body = b'[{"model": "m1", "i1": 1}]'
    path = _write(tmp_path / name, gzip.compress(body) if name.endswith(".gz") else body)
    with pytest.raises(DataError, match="the wide format reads a CSV or TSV matrix"):
        import_table("wide", path)


def test_wide_refuses_an_empty_default_benchmark_from_python_too(tmp_path):
    path = _write(tmp_path / "w.csv", "model,i1\nm1,1\n")
    with pytest.raises(ConfigError, match="default_benchmark is empty"):
        import_table("wide", path, default_benchmark="")
    assert import_table("wide", path, default_benchmark="b").queries["benchmark"].tolist() == ["b"]


# ---------------------------------------------------------------- merge
def _table(rows, models=None, source="s"):
    records = pd.DataFrame(rows, columns=["model", "query", "n_correct", "n_trials", "benchmark"])
    return ResponseTable.from_records(records, models=pd.DataFrame(models) if models else None, source=source)


def test_merge_compares_list_and_object_metadata_instead_of_crashing():
    a = _table([("m1", "q1", 1, 1, "b")], [{"model": "m1", "tags": ["x"]}], "a")
    b = _table([("m1", "q2", 1, 1, "b")], [{"model": "m1", "tags": ["y"]}], "b")
    with pytest.raises(DataError, match=r"model 'm1': tags is \['x'\] in a but \['y'\] in b"):
        merge_tables([a, b])
    c = _table([("m1", "q2", 0, 1, "b")], [{"model": "m1", "tags": ["x"], "info": {"k": 1}}], "c")
    merged = merge_tables([a, c])
    assert merged.models["tags"].tolist() == [["x"]] and merged.models["info"].tolist() == [{"k": 1}]


def test_merge_notes_models_that_differ_only_in_letter_case():
    a, b = _table([("m1", "q1", 1, 1, "b")], source="a"), _table([("M1", "q1", 0, 1, "b")], source="b")
    merged = merge_tables([a, b])
    assert merged.n_models == 2 and any("'M1' and 'm1' differ only in letter case" in n for n in merged.report.notes)


# ---------------------------------------------------------------- the commands
def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_import_refuses_to_write_the_table_over_its_own_input(tmp_path):
    source = _write(tmp_path / "r.csv", ROWS)
    result = _cli("import", "long", str(source), "-o", str(tmp_path / "." / "r.csv"))
    assert result.exit_code == 2 and "is the input file" in result.output
    assert source.read_text() == ROWS  # before: replaced by the Parquet table
    mapping = _write(tmp_path / "map.json", '{"model": "model"}')
    result = _cli("import", "long", str(source), "-o", str(mapping), "-O", f"mapping={mapping}")
    assert result.exit_code == 2 and "is the input file" in result.output
    assert mapping.read_text() == '{"model": "model"}'


def test_import_and_merge_refuse_a_folder_output_before_the_work(tmp_path, monkeypatch):
    import irtnet.data.importers as importers

    source = _write(tmp_path / "r.csv", ROWS)
    (tmp_path / "out").mkdir()
    called = []
    monkeypatch.setattr(importers, "import_table", lambda *a, **k: called.append(a))
    result = _cli("import", "long", str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "is a folder" in result.output and not called
    result = _cli("merge", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "is a folder" in result.output and "no such file" not in result.output


def test_merge_refuses_one_table_given_twice(tmp_path):
    table = tmp_path / "t.parquet"
    import_table("long", _write(tmp_path / "r.csv", ROWS)).to_parquet(table)
    result = _cli("merge", str(table), str(tmp_path / "." / "t.parquet"), "-o", str(tmp_path / "m.parquet"),
                  "--labels", "counts")
    assert result.exit_code == 2 and "is given twice" in result.output  # before: every count doubled
    assert not (tmp_path / "m.parquet").exists()


def test_summary_of_a_folder_says_it_is_a_folder(tmp_path):
    (tmp_path / "d").mkdir()
    result = _cli("summary", str(tmp_path / "d"))
    assert result.exit_code == 2 and "is a folder, not a response table file" in result.output
    with pytest.raises(DataError, match="is a folder"):
        ResponseTable.read_parquet(tmp_path / "d")


def test_merge_refuses_to_write_over_one_of_its_inputs(tmp_path):
    """It replaced that input with the merged table (atomically, but the source table was gone)."""
    one, two = tmp_path / "a.parquet", tmp_path / "b.parquet"
    import_table("long", _write(tmp_path / "r.csv", ROWS)).to_parquet(one)
    import_table("long", _write(tmp_path / "r.csv", ROWS)).to_parquet(two)
    before = one.read_bytes()
    result = _cli("merge", str(one), str(two), "-o", str(one))
    assert result.exit_code == 2 and "is the input file" in result.output
    assert one.read_bytes() == before


# --------------------------------------------------------------------- split files (a run's split.json)
def _split_doc(**changes):
    doc = {"train": ["q1", "q2"], "val": ["q3"], "test": ["q4"], "kind": "query", "params": {"seed": 0}}
    return doc | changes


@pytest.mark.parametrize("doc, field, message", [
    (None, None, "no such file"),
    ("[1, 2]", None, "expected a split"),
    (_split_doc(kind="bogus"), "kind", "unknown split kind 'bogus'"),
    (_split_doc(params=[]), "params", "params must be an object"),
    ({k: v for k, v in _split_doc().items() if k != "val"}, "val", "missing or not a list"),
    (_split_doc(train=["q1", 2]), "train", "2 is not a query id"),
    (_split_doc(test=["q4", "q4"]), "test", "'q4' is listed twice"),
    (_split_doc(test=["q1"]), "test", "'q1' is in both train and test"),
    (_split_doc(kind="pair", train=[["m", "q1"]], val=[["m"]], test=[]), "val", "is not a \\[model, query\\] pair"),
    (_split_doc(kind="pair", train=[["m", "q1"]], val=[], test=[["m", "q1"]]), "test", "is in both train and test"),
])
def test_a_damaged_split_file_is_a_data_error_naming_it(tmp_path, doc, field, message):
    """load_split read any JSON and failed with a bare FileNotFoundError or KeyError, or loaded a split whose
    test query was also in training (QuerySplit checks overlap; PairSplit did not)."""
    import json

    from irtnet.data.pair_split import load_split

    path = tmp_path / "split.json"
    if doc is not None:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(DataError, match=message) as info:
        load_split(path)
    assert info.value.file == str(path) and info.value.field == field


def test_split_files_round_trip(tmp_path):
    from irtnet.data.pair_split import PairSplit, load_split
    from irtnet.data.splits import QuerySplit

    q = QuerySplit(("a", "b"), (), ("c",), "kfold", {"k": 5})
    q.save(tmp_path / "q.json")
    assert load_split(tmp_path / "q.json") == q == QuerySplit.load(tmp_path / "q.json")
    p = PairSplit((("m", "a"),), (), (("n", "a"),), "pair", {"seed": 1})
    p.save(tmp_path / "p.json")
    assert load_split(tmp_path / "p.json") == p
    with pytest.raises(DataError, match="pairs, not of queries"):
        QuerySplit.load(tmp_path / "p.json")


def test_the_query_column_as_the_text_keeps_numeric_ids(tmp_path):
    """A text must be a string, but where the text is the query column itself (`text=query`), a numeric JSON id is
    read as the id is ("1"), as before the text check."""
    import json

    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"model": m, "query": q, "label": int(m == "a")}) + "\n"
                            for m in ("a", "b") for q in (1, 2)))
    table = import_table("long", path, text="query")
    assert sorted(table.texts_of(["1", "2"])) == ["1", "2"]

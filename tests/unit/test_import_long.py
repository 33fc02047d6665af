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


@pytest.mark.parametrize("value", ["inf", "-Infinity"])
def test_an_infinite_score_is_refused_before_the_threshold_or_the_scale(tmp_path, value):
    path = _write(tmp_path, f"model,query,score\na,q,7.5\nb,q,{value}\n")
    for options in ({"threshold": 7}, {"outcome_scale": 10}):
        with pytest.raises(DataError, match=rf"row 2, field 'score': infinite: not a finite number \(got '{value}'"):
            import_long(path, outcome="score", default_benchmark="eq", **options)


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
    with pytest.raises(DataError, match=r"nan.jsonl, line 2, field 'label': .*got 'NaN'"):
        import_long(_write(tmp_path, "\n".join(lines) + "\n", "nan.jsonl"), default_benchmark="x")
    with pytest.raises(DataError, match=r"nan.json, row 1, field 'label': .*got 'Infinity'"):
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
    path = _write(tmp_path, "model,query,label\na,q1,1\nb,q1,1\na,q1,0\na,q1,1\n")
    with pytest.raises(DataError, match=r"row 3: repeated \(model, query\) record: model 'a', query 'q1' "
                                        r"\(first at row 1\)"):
        import_long(path, default_benchmark="x", repeats="error")
    t = import_long(path, default_benchmark="x")
    assert (t.report.n_repeated_pairs, t.report.n_conflicting_pairs) == (1, 1)
    assert t.label_matrix().tolist() == [[1.0, 1.0]]  # two of three records say 1: a majority, with dissent
    with pytest.raises(ConfigError, match="repeats"):
        column_map(repeats="sometimes")


def test_binary_text_labels_in_any_letter_case_and_ids_that_are_lists(tmp_path):
    t = import_long(_write(tmp_path, "model,query,label\na,q1,Yes\na,q2,NO\nb,q1,True\nb,q2,false\n"),
                    outcome_kind="binary", default_benchmark="x")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 0]])
    with pytest.raises(DataError, match=r"ids.jsonl, line 1, field 'query': an id must be a string or a number"):
        import_long(_write(tmp_path, '{"model":"a","query":[1,2],"label":1}\n', "ids.jsonl"), default_benchmark="x")


def test_a_nan_outside_the_outcome_is_read_as_before(tmp_path):
    rows = ['{"model":"a","query":"q1","label":1,"bench":NaN,"text":NaN}',
            '{"model":"a","query":"q2","label":0,"bench":"x","text":"What?"}']
    t = import_long(_write(tmp_path, "\n".join(rows) + "\n", "ok.jsonl"), benchmark="bench",
                    default_benchmark="d", text="text")
    assert t.benchmarks_of(["q1", "q2"]).tolist() == ["d", "x"]  # a NaN benchmark is missing: the default
    assert t.texts_of(["q1", "q2"]) == [None, "What?"]
    with pytest.raises(DataError, match=r"id.jsonl, line 1, field 'query': missing id"):
        import_long(_write(tmp_path, '{"model":"a","query":NaN,"label":1}\n', "id.jsonl"), default_benchmark="d")
    with pytest.raises(DataError, match=r"c.jsonl, line 1, field 'cost'"):
        import_long(_write(tmp_path, '{"model":"a","query":"q","label":1,"cost":Infinity}\n', "c.jsonl"),
                    default_benchmark="d", cost="cost")


# ---------------------------------------------------------------- repeated names, ties, roles, texts, messages
def _parquet(path, names, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], names=names), path)
    return path


@pytest.mark.parametrize("name,write", [
    ("dup.csv", lambda p: p.write_text("model,query,label,label\nm1,q1,1,0\n")),
    ("dup.tsv", lambda p: p.write_text("model\tquery\tlabel\tlabel\nm1\tq1\t1\t0\n")),
    ("dup.parquet", lambda p: _parquet(p, ["model", "query", "label", "label"], [["m1"], ["q1"], [1], [0]])),
])
def test_a_column_name_used_twice_is_an_error_naming_it_and_its_positions(tmp_path, name, write):
    write(tmp_path / name)
    with pytest.raises(DataError, match=rf"{name}, field 'label': the column name 'label' is used twice "
                                        r"\(columns 3 and 4\); give each column its own name$"):
        import_long(tmp_path / name, default_benchmark="x")


def test_unnamed_columns_are_not_repeated_names(tmp_path):
    t = import_long(_write(tmp_path, "model,query,label,,\nm1,q1,1,,\n"), default_benchmark="x")
    assert t.responses["label"].tolist() == [1]


def test_a_tied_vote_is_an_error_naming_the_pair_and_the_rows_that_disagree(tmp_path):
    path = _write(tmp_path, "model,query,label\nm1,q1,1\nm2,q1,1\nm1,q1,0\nm1,q1,no\nm1,q1,true\n")
    with pytest.raises(DataError, match=r"scores.csv: the repeated records of model 'm1', query 'q1' tie \(label 1 "
                                        r"at rows 1, 5, label 0 at rows 3, 4\): the majority vote has no winner; "
                                        r"correct the source or keep one record of the pair$"):
        import_long(path, outcome_kind="binary", default_benchmark="x")
    counts = _write(tmp_path, "model,query,k\nm1,q1,3\nm1,q1,1\n", "counts.csv")  # own labels: 3/4 -> 1, 1/4 -> 0
    with pytest.raises(DataError, match=r"counts.csv: .* query 'q1' tie \(label 1 at row 1, label 0 at row 2\)"):
        import_long(counts, n_correct="k", outcome_kind="counts", n_trials=4, default_benchmark="x")


def test_a_column_mapped_to_two_roles_is_a_config_error_naming_the_options():
    with pytest.raises(ConfigError, match=r"column 'query' is mapped to two roles, model and query \(option "
                                          r"model=query, query=query by default\); map each role to its own column"):
        column_map(model="query")
    with pytest.raises(ConfigError, match=r"column 'x' is mapped to two roles, outcome and cost \(option outcome=x, "
                                          r"option cost=x\)"):
        column_map(outcome="x", cost="x")
    with pytest.raises(ConfigError, match=r"two roles, n_correct and n_trials"):
        column_map(outcome_kind="counts", n_correct="k", n_trials="k")
    assert column_map(text="query").text == "query"  # a query whose id is its text
    assert column_map(outcome_kind="counts", n_correct="label", n_trials=3).n_correct == "label"  # outcome unread


def test_a_texts_file_that_names_no_query_or_has_an_empty_text_is_an_error(tmp_path):
    path = _write(tmp_path, "model,query,label\na,1,1\nb,1,0\na,2,1\n")
    nothing = _write(tmp_path, "id,question\ngsm/1,What is 1?\n", "texts.csv")
    with pytest.raises(DataError, match=r"texts.csv, field 'id': none of its 1 query ids is a query of the table "
                                        r"\(its first: 'gsm/1'; the table's first: '1'; ids are matched before "
                                        r"query_prefix\)$"):
        import_long(path, texts_file=str(nothing), texts_query="id", texts_text="question", query_prefix="gsm/",
                    default_benchmark="gsm")
    empty = _write(tmp_path, "id,question\n1,What is 1?\n2,\n", "empty.csv")
    with pytest.raises(DataError, match=r"empty.csv, row 2, field 'question': empty text: the cell is empty or null "
                                        r"\(1 such row\)$"):
        import_long(path, texts_file=str(empty), texts_query="id", texts_text="question", default_benchmark="gsm")


def test_messages_show_plain_values_and_only_source_columns(tmp_path):
    with pytest.raises(DataError, match=r"missing required column \['y'\]; found \['model', 'query', 'label'\]$"):
        import_long(_write(tmp_path, "model,query,label\na,q,1\n"), outcome="y", default_benchmark="x")
    with pytest.raises(DataError, match=r"row 1, field 'query': missing id: the cell is empty or null \(1 such row\)$"):
        import_long(_write(tmp_path, "model,query,label\na,,1\n"), default_benchmark="x")
    names = ["model", "query", "label", "cost"]
    two = _parquet(tmp_path / "two.parquet", names, [["a", "b"], ["q", "q"], [1, 2], [1.0, 2.0]])
    with pytest.raises(DataError, match=r"row 2, field 'label': label is not 0 or 1 \(got 2; 1 such row\)$"):
        import_long(two, outcome_kind="binary", default_benchmark="x")
    no_cost = _parquet(tmp_path / "cost.parquet", names, [["a", "b"], ["q", "q"], [1, 0], [1.0, None]])
    with pytest.raises(DataError, match=r"row 2, field 'cost': missing, NaN or infinite value "
                                        r"\(got NaN; 1 such row\)$"):
        import_long(no_cost, cost="cost", default_benchmark="x")
    with pytest.raises(DataError, match=r"nan.parquet, row 2, field 'label': label is not 0/1 but NaN or infinite, "
                                        r"which is not a missing value: only an empty cell or a null is "
                                        r"\(got 'nan'; 1 such row\)$"):
        import_long(_nan_parquet(tmp_path / "nan.parquet", [1.0, float("nan"), None, 0.0]), default_benchmark="x")

"""Vocabularies, record validation, repeated-record voting and the Parquet round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irtnet.data.records import make_records
from irtnet.data.table import ResponseTable, reduce_repeats
from irtnet.data.vocab import Vocab
from irtnet.errors import DataError, UnknownIdError


def test_vocab_is_strict_and_ordered():
    v = Vocab("model", ["b", "a", "c"])
    assert v.index(["c", "b"]).tolist() == [2, 0]
    assert "a" in v and "z" not in v
    with pytest.raises(UnknownIdError, match=r"unknown model ids: 'x', 'y'"):
        v.index(["a", "x", "y"])
    with pytest.raises(DataError, match="duplicate model ids"):
        Vocab("model", ["a", "a"])


def _frame(**over):
    df = pd.DataFrame({"m": ["a", "a", "b", "b"], "q": ["q1", "q2", "q1", "q2"], "y": [1, 0, 1, 1],
                       "bench": ["x", "y", "x", "y"], "text": ["t1", "t2", "t1", "t2"]})
    for k, v in over.items():
        df[k] = v
    return df


def _table(df, **kw):
    rec = make_records(df, file="f.csv", model="m", query="q", outcome="y", benchmark="bench", text="text", **kw)
    return ResponseTable.from_records(rec, source="f.csv")


def test_table_holds_vocabularies_and_sorted_responses():
    t = _table(_frame())
    assert t.model_vocab.ids == ("a", "b") and t.query_vocab.ids == ("q1", "q2")
    assert t.query_index().tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 1]])
    assert t.benchmarks_of(["q2"]).tolist() == ["y"]


@pytest.mark.parametrize("column,value,message", [
    ("y", [1, 0, 2, 1], r"row 3, field 'y': score outside \[0, 1\]"),
    ("y", [1, np.nan, 1, 1], r"row 2, field 'y': missing, NaN or infinite"),
    ("y", ["1", "0", "maybe", "1"], r"row 3, field 'y': label is not 0/1"),
    ("q", ["q1", None, "q1", "q2"], r"row 2, field 'q': missing id"),
    ("m", ["a", " ", "b", "b"], r"row 2, field 'm': empty id"),
    ("text", ["t1", "t2", "t1", "other"], r"query id 'q2' collides: it has two different text values"),
    ("bench", ["x", "y", "x", "z"], r"query id 'q2' collides: it has two different benchmark values"),
])
def test_bad_records_name_the_row_and_field(column, value, message):
    with pytest.raises(DataError, match=message):
        _table(_frame(**{column: value}))


def test_missing_column_and_empty_input_are_named():
    with pytest.raises(DataError, match=r"f.csv, field 'y': missing required column \['y'\]"):
        _table(_frame().drop(columns="y"))
    with pytest.raises(DataError, match="f.csv: no records"):
        _table(_frame().iloc[:0])


def test_repeats_are_majority_voted_ties_to_correct_and_counts_kept():
    rec = pd.DataFrame({"model": ["a"] * 5 + ["b"] * 2, "query": ["q"] * 7,
                        "n_correct": [1, 0, 0, 1, 0, 1, 0], "n_trials": 1.0, "_row": range(1, 8)})
    out, n_rep, n_conf = reduce_repeats(rec)
    out = out.set_index("model")
    assert out.loc["a", "label"] == 0 and out.loc["a", "n_correct"] == 2 and out.loc["a", "n_trials"] == 5
    assert out.loc["b", "label"] == 1  # a 1-1 tie goes to correct
    assert (n_rep, n_conf) == (2, 2)


def test_vote_uses_record_labels_not_pooled_counts():
    # 3/10, 4/10 and 10/10: two of three records are wrong, though 17/30 pooled is above one half.
    rec = pd.DataFrame({"model": ["a"] * 3, "query": ["q"] * 3, "n_correct": [3.0, 4.0, 10.0],
                        "n_trials": [10.0] * 3, "benchmark": "x", "_row": [1, 2, 3]})
    t = ResponseTable.from_records(rec)
    row = t.responses.iloc[0]
    assert row["label"] == 0 and row["n_correct"] == 17 and row["n_trials"] == 30
    assert t.report.n_repeated_pairs == 1


def test_counts_form_is_validated():
    df = pd.DataFrame({"m": ["a", "b"], "q": ["q", "q"], "k": [3, 11], "n": [10, 10], "bench": "x"})
    with pytest.raises(DataError, match=r"row 2, field 'k': correct count outside \[0, n_trials\]"):
        make_records(df, file="c.csv", model="m", query="q", outcome_kind="counts", n_correct="k",
                     n_trials="n", benchmark="bench")


def test_parquet_round_trip_keeps_everything(tmp_path):
    df = _frame(y=[1.0, 0.25, 1.0, 0.5])
    rec = make_records(df, file="f.csv", model="m", query="q", outcome="y", outcome_kind="fraction",
                       benchmark="bench", text="text")
    rec["cost"] = [0.1, 0.2, 0.3, 0.4]
    models = pd.DataFrame({"model": ["a", "b"], "family": ["fa", "fb"]})
    t = ResponseTable.from_records(rec, models=models, source="f.csv")
    t.to_parquet(tmp_path / "t.parquet")
    back = ResponseTable.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back.responses, t.responses)
    pd.testing.assert_frame_equal(back.queries, t.queries)
    assert back.models["family"].tolist() == ["fa", "fb"]
    assert back.report.source == "f.csv" and back.has_cost


def test_read_parquet_rejects_foreign_files(tmp_path):
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(DataError, match="not an irtnet response table"):
        ResponseTable.read_parquet(tmp_path / "plain.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="junk.parquet: not a readable Parquet file"):
        ResponseTable.read_parquet(tmp_path / "junk.parquet")


def test_listed_model_without_records_is_an_error():
    rec = make_records(_frame(), file="f.csv", model="m", query="q", outcome="y", benchmark="bench")
    with pytest.raises(DataError, match="model 'c' has no records"):
        ResponseTable.from_records(rec, models=pd.DataFrame({"model": ["a", "b", "c"]}), source="f.csv")


def test_select_is_strict_and_recomputes_vocabularies():
    t = _table(_frame())
    sub = t.select(queries=["q2"])
    assert sub.query_vocab.ids == ("q2",) and len(sub.responses) == 2
    with pytest.raises(UnknownIdError, match="unknown query id: 'nope'"):
        t.select(queries=["nope"])

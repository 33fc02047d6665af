"""A stored response table is input: `ResponseTable.read_parquet` refuses damaged rows and metadata, naming where."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from irtnet.data.records import make_records
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError


@pytest.fixture
def stored(tmp_path):
    """(the frame of a written table file, its metadata, a writer of edited copies)."""
    df = pd.DataFrame({"m": ["a", "a", "b", "b"], "q": ["q1", "q2", "q1", "q2"], "k": [1, 0, 2, 3],
                       "n": [1, 1, 3, 3], "bench": ["x", "y", "x", "y"], "cost": [0.1, 0.2, 0.3, 0.4]})
    rec = make_records(df, file="f.csv", model="m", query="q", outcome_kind="counts", n_correct="k", n_trials="n",
                       benchmark="bench", cost="cost")
    ResponseTable.from_records(rec, source="f.csv").to_parquet(tmp_path / "good.parquet")
    table = pq.read_table(tmp_path / "good.parquet")

    def write(frame: pd.DataFrame, meta: dict | None = None, name: str = "bad.parquet"):
        out = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(out.replace_schema_metadata(meta or table.schema.metadata), tmp_path / name)
        return tmp_path / name

    return table.to_pandas(), table.schema.metadata, write


def test_a_good_file_reads(stored, tmp_path):
    back = ResponseTable.read_parquet(tmp_path / "good.parquet")
    assert back.n_models == 2 and back.n_queries == 2 and back.has_cost


@pytest.mark.parametrize(("edit", "field", "message"), [
    ({"label": 5}, "label", r"label is not 0 or 1 \(got 5"),
    ({"n_correct": float("nan"), "score": float("nan")}, "n_correct", "missing, NaN or infinite value"),
    ({"n_trials": 0.0}, "n_trials", "number of trials must be at least 1"),
    ({"n_trials": 1.5}, "n_trials", "count is not an integer"),
    ({"n_correct": 4.0}, "n_correct", r"correct count outside \[0, n_trials\]"),
    ({"n_correct": -1.0}, "n_correct", r"correct count outside \[0, n_trials\]"),
    ({"label": "maybe"}, "label", "label is not 0/1, true/false or yes/no"),
    ({"score": 0.7}, "score", "score is not n_correct / n_trials"),
    ({"cost": -2.0}, "cost", "negative cost"),
    ({"cost": float("inf")}, "cost", "missing, NaN or infinite value"),
])
def test_damaged_values_are_refused_naming_the_file_row_and_field(stored, edit, field, message):
    frame, _, write = stored
    frame = frame.copy()
    for column, value in edit.items():
        if column == "label":
            frame[column] = frame[column].astype(str if isinstance(value, str) else "int64")
        frame.loc[1, column] = value  # row 2: model b, query q1, 2 of 3 correct
    with pytest.raises(DataError, match=message) as err:
        ResponseTable.read_parquet(write(frame))
    assert err.value.file.endswith("bad.parquet") and err.value.row == 2 and err.value.field == field


def test_numbers_stored_as_text_read_as_the_importers_read_them(stored, tmp_path):
    frame, _, write = stored
    frame = frame.assign(label=frame["label"].map({0: "false", 1: "true"}), n_trials=frame["n_trials"].astype(str))
    back = ResponseTable.read_parquet(write(frame))
    good = ResponseTable.read_parquet(tmp_path / "good.parquet")
    pd.testing.assert_frame_equal(back.responses, good.responses)


@pytest.mark.parametrize("value", [None, "  "])
def test_a_missing_or_blank_id_is_refused(stored, value):
    frame, _, write = stored
    frame = frame.assign(model=frame["model"].astype(str))
    frame.loc[2, "model"] = value
    with pytest.raises(DataError, match="missing id|empty id") as err:
        ResponseTable.read_parquet(write(frame))
    assert err.value.row == 3 and err.value.field == "model"


def test_a_blank_id_in_a_dictionary_column_is_refused(stored):
    frame, _, write = stored
    frame = frame.assign(query=frame["query"].astype(str).replace("q2", " ").astype("category"))
    with pytest.raises(DataError, match="empty id") as err:
        ResponseTable.read_parquet(write(frame))
    assert err.value.row == 3 and err.value.field == "query"  # rows sorted by (query, model): q2 is rows 3, 4


def test_a_numeric_id_column_is_refused(stored):
    frame, _, write = stored
    with pytest.raises(DataError, match="not text") as err:
        ResponseTable.read_parquet(write(frame.assign(model=[1, 2, 3, 4])))
    assert err.value.field == "model"


def test_a_repeated_pair_is_refused_without_advising_an_option_the_reader_lacks(stored):
    frame, _, write = stored
    with pytest.raises(DataError, match="repeated .model, query. pair.*first at row 2.*re-import its source") as err:
        ResponseTable.read_parquet(write(pd.concat([frame, frame.iloc[[1]]], ignore_index=True)))
    assert err.value.row == 5 and "repeats=" not in str(err.value)


def test_a_missing_column_is_refused(stored):
    frame, _, write = stored
    with pytest.raises(DataError, match=r"missing required column \['label'\]"):
        ResponseTable.read_parquet(write(frame.drop(columns="label")))


@pytest.mark.parametrize(("raw", "message"), [
    (b"{not json", "damaged irtnet metadata: not JSON"),
    (b"\xff\xfe", "damaged irtnet metadata: not JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (json.dumps({"format_version": 1, "report": {}, "models": {"a": 1}}).encode(), "'models' is not a list"),
    (json.dumps({"format_version": 1, "report": {}, "models": [{"x": 1}]}).encode(), "'models' is not a list"),
    (json.dumps({"format_version": 1, "report": [], "models": []}).encode(), "'report' is not an import report"),
    (json.dumps({"format_version": 1, "report": {"bogus": 1}, "models": []}).encode(), "'report' is not an"),
    (json.dumps({"format_version": 1, "report": {"notes": "x"}, "models": []}).encode(), "'notes' is not a list"),
    (json.dumps({"format_version": 1, "report": {"n_records": True}, "models": []}).encode(), "'n_records' is not"),
])
def test_damaged_metadata_is_a_data_error_naming_the_file(stored, raw, message):
    frame, _, write = stored
    path = write(frame, {b"irtnet": raw})
    for check in (ResponseTable.read_parquet, ResponseTable.check_file):
        with pytest.raises(DataError, match=message) as err:
            check(path)
        assert err.value.file == str(path)

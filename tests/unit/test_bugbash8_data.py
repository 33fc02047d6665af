"""Bug bash 8 of the data layer outside the importers: splits, merge, the Parquet label reader, the embedding
cache and `irtnet data encode`'s text reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from irtnet.data.merge import merge_tables
from irtnet.data.pair_split import split_by_pair
from irtnet.data.splits import leave_benchmarks_out, split_by_query
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError


def _table(rows: list[tuple], source: str = "<records>") -> ResponseTable:
    """A table of (model, query, benchmark, text, n_correct) rows, one trial each."""
    frame = pd.DataFrame(rows, columns=["model", "query", "benchmark", "text", "n_correct"]).assign(n_trials=1)
    return ResponseTable.from_records(frame, source=source)


def _grid(sizes: dict[str, int], models: tuple[str, ...] = ("m1", "m2")) -> ResponseTable:
    """Every model on every query of benchmarks of the given sizes; labels alternate."""
    rows = [(m, f"{b}{i}", b, f"{b} text {i}", (i + j) % 2)
            for b, n in sizes.items() for i in range(n) for j, m in enumerate(models)]
    return _table(rows)


# ---------------------------------------------------------------- splits: rounding of the part sizes
def test_leaving_a_benchmark_out_keeps_every_other_query_in_training_or_validation():
    table = _grid({"A": 5, "B": 3})  # A's 5 queries cut 0.9/0.1: 4.5 and 0.5 both round down
    split = leave_benchmarks_out(table, ["B"], val_fraction=0.1, seed=0)
    assert len(split.train) + len(split.val) + len(split.test) == table.n_queries
    assert sorted(split.train + split.val) == [f"A{i}" for i in range(5)]


@pytest.mark.parametrize("fractions", [(0.9, 0.1, 0.0), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)])
def test_a_zero_test_fraction_puts_no_query_in_test(fractions):
    table = _grid({"A": 5, "B": 3, "C": 1})
    split = split_by_query(table, fractions, seed=0)
    assert split.test == ()
    assert len(split.train) + len(split.val) == table.n_queries
    if fractions[1] == 0:
        assert split.val == ()


def test_a_zero_test_fraction_puts_no_pair_in_test():
    table = _grid({"A": 5}, models=("m1", "m2", "m3", "m4", "m5"))  # 25 pairs cut 0.9/0.1/0: 22.5 and 2.5 round down
    assert (split_by_pair(table, (0.8, 0.1, 0.1), seed=0) == 2).any()
    with pytest.raises(DataError, match="leaves no test pair: the test fraction is 0"):
        split_by_pair(table, (0.9, 0.1, 0.0), seed=0)


@pytest.mark.parametrize("val_fraction", [float("nan"), 1.0, -0.1, 1.5])
def test_leaving_a_benchmark_out_refuses_a_validation_fraction_outside_0_to_1(val_fraction):
    table = _grid({"A": 5, "B": 3})
    with pytest.raises(ConfigError, match="val_fraction must be a number in \\[0, 1\\)"):
        leave_benchmarks_out(table, ["B"], val_fraction=val_fraction, seed=0)


# ---------------------------------------------------------------- the Parquet label reader (large.py)
def test_a_damaged_parquet_file_in_a_folder_of_labels_is_a_data_error_naming_it(tmp_path):
    from irtnet.data.large import read_packed_labels

    pq.write_table(pa.table({"model": ["a", "b"], "query": ["q", "q"], "label": [1, 0], "benchmark": ["x", "x"]}),
                   tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match=r"b\.parquet: not a readable Parquet file"):
        read_packed_labels(tmp_path)


def test_a_nan_id_in_a_numeric_id_column_is_a_missing_id_not_the_id_nan(tmp_path):
    from irtnet.data.large import read_packed_labels

    pq.write_table(pa.table({"model": ["a", "b"], "query": [1.0, float("nan")], "label": [1, 0]}),
                   tmp_path / "a.parquet")
    with pytest.raises(DataError, match=r"a\.parquet, row 2 \(row group 0, row 2\), field 'query': missing query id"):
        read_packed_labels(tmp_path / "a.parquet")


def test_an_ids_file_that_is_not_utf8_or_repeats_an_id_is_a_data_error_naming_it(tmp_path):
    from irtnet.data.large import ids_path, open_embeddings

    npy = tmp_path / "e.npy"
    np.save(npy, np.zeros((2, 3), np.float32))
    ids_path(npy).write_bytes(b"\xff\xfe\nq2\n")
    with pytest.raises(DataError, match=r"e\.ids\.txt: not UTF-8 text"):
        open_embeddings(npy)
    ids_path(npy).write_text("q1\nq1\n")
    with pytest.raises(DataError, match=r"e\.ids\.txt, field 'query': duplicate query ids: \['q1'\]"):
        open_embeddings(npy)


# ---------------------------------------------------------------- merge: benchmark names in two letter cases
def test_merge_says_when_a_query_s_two_benchmarks_differ_only_in_letter_case():
    a = _table([("m1", "q1", "MMLU", "t1", 1), ("m2", "q1", "MMLU", "t1", 0)], "a.parquet")
    b = _table([("m3", "q1", "mmlu", "t1", 1), ("m3", "q2", "mmlu", "t2", 0)], "b.parquet")
    with pytest.raises(DataError, match=r"query 'q1' is in benchmark 'MMLU' in a\.parquet but 'mmlu' in b\.parquet: "
                                        r"the two names differ only in letter case"):
        merge_tables([a, b])


def test_merge_notes_benchmarks_that_differ_only_in_letter_case():
    a = _table([("m1", "q1", "MMLU", "t1", 1), ("m2", "q1", "MMLU", "t1", 0)], "a.parquet")
    b = _table([("m3", "q3", "mmlu", "t3", 1), ("m3", "q2", "mmlu", "t2", 0)], "b.parquet")
    merged = merge_tables([a, b])
    assert merged.benchmark_vocab.ids == ("MMLU", "mmlu")  # kept apart, as ids are
    notes = [n for n in merged.report.notes if "letter case" in n]
    assert len(notes) == 1 and "'MMLU' and 'mmlu'" in notes[0] and "benchmark" in notes[0], merged.report.notes


# ---------------------------------------------------------------- the embedding cache: a shard of another width
@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """An empty cache folder and an empty process memo (as in a fresh process)."""
    from irtnet.data import embeddings

    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path))
    monkeypatch.setattr(embeddings, "_INDEXES", {})
    return tmp_path


TEXTS = [f"question number {i} about topic {i % 3}" for i in range(6)]


def _foreign_shard(root, texts, width=32):
    """A shard of `width`-wide vectors for `texts` in the hashing-64 folder (copied from another encoder's)."""
    from irtnet.data.embedding_cache import write_shard
    from irtnet.data.embeddings import text_key

    folder = root / "embeddings" / "hashing-64"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / write_shard(folder, [text_key(t) for t in texts], np.ones((len(texts), width), np.float32))


@pytest.mark.parametrize("cached", [TEXTS[:3], TEXTS])
@pytest.mark.parametrize("by_name", [True, False])
def test_a_cached_shard_of_another_width_is_set_aside_and_its_texts_re_encoded(cache_root, caplog, cached, by_name):
    import logging

    from irtnet.data.embeddings import HashingEncoder, embed_texts

    shard = _foreign_shard(cache_root, cached)
    with caplog.at_level(logging.WARNING, logger="irtnet.data.embeddings"):
        vectors = embed_texts(TEXTS, "hashing-64" if by_name else HashingEncoder(64))
    np.testing.assert_array_equal(vectors, HashingEncoder(64).encode(TEXTS))
    assert not shard.exists() and shard.with_name(shard.name + ".corrupt").exists()
    assert any(str(shard) in r.getMessage() and "32" in r.getMessage() for r in caplog.records), caplog.records


# ---------------------------------------------------------------- irtnet data encode: a column file without rows
@pytest.mark.parametrize("name", ["texts.csv", "texts.parquet"])
def test_a_column_file_without_rows_is_an_error_not_zero_texts_encoded(tmp_path, name):
    from irtnet.data.encode_pool import read_texts

    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("text\n")
    else:
        pd.DataFrame({"text": pd.Series([], dtype=object)}).to_parquet(path)
    with pytest.raises(DataError, match=rf"{name}: no texts \(the file has no rows\)"):
        read_texts(path)


# ---------------------------------------------------------------- a stored table's label against its counts
def _stored(tmp_path, edit):
    """A stored table file with `edit` (arrow table -> arrow table) applied to its rows, its metadata kept."""
    table = _table([("m1", "q1", "A", "t1", 1), ("m2", "q1", "A", "t1", 0), ("m1", "q2", "A", "t2", 0)])
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    raw = pq.read_table(path)
    pq.write_table(edit(raw).replace_schema_metadata(raw.schema.metadata), path)
    return path


def _set(name, values, kind):
    return lambda t: t.set_column(t.schema.get_field_index(name), name, pa.array(values, kind))


@pytest.mark.parametrize("labels", [[1, 1, 0], [0, 0, 0], [1, 0, 1]])
def test_a_stored_label_that_contradicts_the_counts_is_refused_naming_the_row(tmp_path, labels):
    path = _stored(tmp_path, _set("label", labels, pa.int8()))
    with pytest.raises(DataError, match=r"t\.parquet, row \d, field 'label': the label contradicts the counts"):
        ResponseTable.read_parquet(path)


def test_a_stored_k_of_n_label_is_still_read_as_stored(tmp_path):
    # k of n (merged repeats) does not fix the voted label: 1 of 2 is a tie (label 1) or, of records 1/1 and 0/1
    # weighed otherwise, a 0; only all-correct and all-wrong counts (and single trials) do
    edit = lambda t: _set("n_trials", [2.0, 2.0, 1.0], pa.float32())(  # noqa: E731
        _set("score", [0.5, 0.0, 0.0], pa.float32())(_set("n_correct", [1.0, 0.0, 0.0], pa.float32())(t)))
    table = ResponseTable.read_parquet(_stored(tmp_path, edit))
    assert table.responses["label"].tolist() == [1, 0, 0]


def test_a_blank_stored_text_is_no_text_as_on_import(tmp_path):
    path = _stored(tmp_path, _set("text", ["  ", "  ", "t2"], pa.string()))
    table = ResponseTable.read_parquet(path)
    assert dict(zip(table.queries["query"], table.queries["text"])) == {"q1": None, "q2": "t2"}
    assert not table.has_text


# ---------------------------------------------------------------- irtnet data merge: options checked before the work
@pytest.mark.parametrize("option", [["--labels", "count"], ["--versions", "keep"]])
def test_merge_refuses_a_bad_option_before_reading_any_table(tmp_path, option, monkeypatch):
    from typer.testing import CliRunner

    from irtnet.cli.data import app

    paths = [str(tmp_path / f"{name}.parquet") for name in ("a", "b")]
    for name, path in zip("ab", paths):
        _table([("m1", f"{name}1", "A", "t", 1), ("m2", f"{name}1", "A", "t", 0)]).to_parquet(path)
    reads = []
    original = ResponseTable.read_parquet
    monkeypatch.setattr(ResponseTable, "read_parquet", classmethod(lambda cls, p: reads.append(p) or original(p)))
    result = CliRunner().invoke(app, ["merge", *paths, "-o", str(tmp_path / "m.parquet"), *option])
    assert result.exit_code == 2, result.output
    assert f"{option[0][2:]} must be one of" in result.output and reads == []


@pytest.mark.parametrize("raw", ["3", '{"source": "x"}', '["x"]', "[bad"])
def test_merge_refuses_damaged_provenance_naming_the_table_file(raw):
    a = _table([("m1", "q1", "A", "t1", 1), ("m2", "q1", "A", "t1", 0)], "logs/a")
    a.models = a.models.assign(provenance=[raw, None])
    b = _table([("m3", "q2", "A", "t2", 1), ("m3", "q3", "A", "t3", 0)], "logs/b")
    with pytest.raises(DataError, match=r"^a\.parquet, field 'provenance': model 'm1': provenance is not"):
        merge_tables([a, b], ["a.parquet", "b.parquet"])


# ---------------------------------------------------------------- vocabularies: a missing id is not the text "None"
@pytest.mark.parametrize("missing", [None, float("nan"), np.float64("nan"), pd.NA])
def test_a_vocabulary_refuses_a_missing_id_instead_of_spelling_it(missing):
    from irtnet.data.vocab import Vocab

    with pytest.raises(DataError, match=r"field 'query': missing query id \(position 2 of 3\)"):
        Vocab("query", ["q1", missing, "q3"])

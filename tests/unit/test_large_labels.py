"""irtnet.data.large and irtnet.training.large_batching: a Parquet response set read in chunks gives the arrays
`build_arrays` gives for the same table, bad rows are named, embeddings stay memory-mapped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import QueryEmbeddings
from irtnet.data.large import open_embeddings, read_packed_labels, write_ids
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import DataError
from irtnet.models.irtnet import PRESETS, IrtNetModule
from irtnet.training.batching import batches, build_arrays
from irtnet.training.large_batching import PackedColumn, packed_arrays
from irtnet.training.trainer import TrainConfig, train

N_MODELS, N_QUERIES, DIM = 7, 40, 8


def _records(fractions: bool, seed: int = 0) -> pd.DataFrame:
    """Shuffled long-form records of about 70% of all pairs, 3 benchmarks, 0/1 (or fractional) labels."""
    rng = np.random.default_rng(seed)
    q, m = np.divmod(np.flatnonzero(rng.random(N_QUERIES * N_MODELS) < 0.7), N_MODELS)
    label = rng.integers(0, 2, len(q)).astype(np.float64)
    if fractions:
        label[::3] = rng.random(len(label[::3])).round(3)
    order = rng.permutation(len(q))
    return pd.DataFrame({"model": [f"m{i}" for i in m[order]], "query": [f"q{i:02d}" for i in q[order]],
                         "label": label[order], "benchmark": [f"b{i % 3}" for i in q[order]]})


def _write(records: pd.DataFrame, folder, n_files: int = 3) -> list:
    folder.mkdir(exist_ok=True)
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(records)), n_files)):
        path = folder / f"part-{i}.parquet"
        pq.write_table(pa.Table.from_pandas(records.iloc[part], preserve_index=False), path, row_group_size=40)
        paths.append(path)
    return paths


def _vectors(ids, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((len(ids), DIM)).astype(np.float32)


def _reference(records: pd.DataFrame, vectors: np.ndarray, ids):
    table = ResponseTable.from_records(records.assign(n_correct=records["label"], n_trials=1.0).drop(columns="label"))
    data = Dataset.from_table(table, QueryEmbeddings(Vocab("query", ids), vectors, "test"))
    return table, build_arrays(data, table.model_vocab, table.benchmark_vocab, target="score")


def _packed(tmp_path, records, order: np.ndarray | None = None):
    labels = read_packed_labels(tmp_path / "set", batch_rows=16)
    ids = np.asarray(labels.query_vocab.ids, dtype=object)
    ids = ids if order is None else ids[order]
    vectors = _vectors(ids)
    np.save(tmp_path / "emb.npy", vectors)
    write_ids(tmp_path / "emb.npy", list(ids))
    emb = open_embeddings(tmp_path / "emb.npy")
    return labels, emb, vectors, ids


@pytest.mark.parametrize("fractions", [False, True], ids=["binary", "fractions"])
def test_arrays_equal_those_of_build_arrays(tmp_path, fractions):
    records = _records(fractions)
    _write(records, tmp_path / "set")
    order = np.random.default_rng(2).permutation(N_QUERIES)  # the .npy rows in another order: keyed by id
    labels, emb, vectors, ids = _packed(tmp_path, records, order)
    assert (labels.scores is None) != fractions and (labels.bits is None) == fractions
    table, ref = _reference(records, vectors, ids)
    got = packed_arrays(labels, emb, table.benchmark_vocab)
    assert labels.model_vocab == table.model_vocab and labels.query_vocab == table.query_vocab
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    for name in ("model", "target", "label"):
        np.testing.assert_array_equal(getattr(got, name).numpy(), getattr(ref, name).numpy(), err_msg=name)
    np.testing.assert_array_equal(got.weight.numpy(), ref.weight.numpy())
    for name in ("x", "groups", "cluster"):
        assert torch.equal(getattr(got, name), getattr(ref, name)), name
    assert got.n_labels == ref.n_labels == len(records)
    for a, b in zip(batches(got, 5, torch.Generator().manual_seed(0)), batches(ref, 5, torch.Generator().manual_seed(0))):
        for name in ("x", "groups", "q_local", "model", "target", "weight", "label", "cluster"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
            assert getattr(a, name).dtype == getattr(b, name).dtype, name


def test_packed_labels_are_compact(tmp_path):
    records = _records(False)
    _write(records, tmp_path / "set")
    labels = read_packed_labels(tmp_path / "set")
    assert labels.model.dtype == np.int32 and labels.bits.dtype == np.uint8
    assert labels.bits.nbytes == -(-len(records) // 8)
    assert labels.nbytes < 4.2 * len(records) + 8 * (N_QUERIES + 1)


def test_training_on_packed_arrays_matches_build_arrays(tmp_path):
    records = _records(True)
    _write(records, tmp_path / "set")
    labels, emb, vectors, ids = _packed(tmp_path, records)
    table, ref = _reference(records, vectors, ids)
    got = packed_arrays(labels, emb, table.benchmark_vocab)
    cfg, histories = TrainConfig(epochs=2, batch_pairs=32, seed=3), []
    for arrays in (got, ref):
        torch.manual_seed(0)
        module = IrtNetModule(PRESETS["small"], DIM, N_MODELS)
        histories.append(train(module, arrays, arrays, N_MODELS, cfg).history)
    for a, b in zip(*histories):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_log_loss"] == pytest.approx(b["val_log_loss"], rel=1e-6)


def test_embeddings_stay_memory_mapped(tmp_path):
    records = _records(False)
    _write(records, tmp_path / "set")
    labels, emb, vectors, _ = _packed(tmp_path, records)
    assert isinstance(emb.vectors, np.memmap) and emb.vectors.mode == "r" and not emb.vectors.flags.writeable
    arrays = packed_arrays(labels, emb)
    assert arrays.x.data_ptr() == emb.vectors.ctypes.data  # the tensor is the mapping, not a copy
    np.testing.assert_array_equal(arrays.x.numpy(), vectors)
    assert arrays.nbytes == labels.nbytes + vectors.nbytes


def test_a_nan_label_names_file_row_group_row_and_field(tmp_path):
    records = _records(False)
    first = len(np.array_split(np.arange(len(records)), 3)[0])
    records.loc[records.index[first + 45], "label"] = np.nan  # file part-1, row 46: row group 1 (of 40 rows), row 6
    _write(records, tmp_path / "set")
    with pytest.raises(DataError, match=r"part-1\.parquet, row 46 \(row group 1, row 6\), field 'label': missing label"):
        read_packed_labels(tmp_path / "set", batch_rows=16)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("label", 1.5, r"field 'label': label 1.5 is not 0/1 or a fraction"),
    ("model", None, r"field 'model': missing model id"),
    ("query", "", r"field 'query': empty query id"),
])
def test_bad_rows_are_named(tmp_path, column, value, message):
    records = _records(False).astype({column: object})
    records.loc[records.index[3], column] = value
    paths = _write(records, tmp_path / "set")
    with pytest.raises(DataError, match=rf"{paths[0].name}, row 4 \(row group 0, row 4\), {message}"):
        read_packed_labels(tmp_path / "set")


def test_repeated_pairs_and_unknown_ids_are_refused(tmp_path):
    records = _records(False)
    _write(pd.concat([records, records.iloc[:1]]), tmp_path / "set")
    with pytest.raises(DataError, match=r"repeated \(model, query\) pair"):
        read_packed_labels(tmp_path / "set")
    _write(records, tmp_path / "set")
    with pytest.raises(DataError, match=r"part-0\.parquet, row 1 .*field 'model': model '\w+' is not in the model vocab"):
        read_packed_labels(tmp_path / "set", models=["nobody"])


def test_bad_embeddings_are_refused(tmp_path):
    vectors = _vectors(["a", "b", "c"])
    vectors[1, 2] = np.nan
    np.save(tmp_path / "e.npy", vectors)
    with pytest.raises(DataError, match=r"e\.npy, row 1 \(0-based\), field 'embeddings': the vector of query 'b'"):
        open_embeddings(tmp_path / "e.npy", ["a", "b", "c"])
    with pytest.raises(DataError, match=r"3 vectors for 2 query ids"):
        open_embeddings(tmp_path / "e.npy", ["a", "b"], check_finite=False)
    with pytest.raises(DataError, match=r"no query ids for the rows"):
        open_embeddings(tmp_path / "e.npy")


def test_packed_column_reads_rows_as_tensors():
    column = PackedColumn(10, lambda rows: rows * 2, torch.long)
    assert len(column) == 10 and column[torch.tensor([3, 1])].tolist() == [6, 2]
    assert column.numpy().tolist() == list(range(0, 20, 2))

"""Response sets too large for pandas: Parquet straight into packed query-major label arrays.

`read_packed_labels(path)` reads one Parquet file or a folder of them (columns `model`, `query`, `label`:
0/1 or a fraction in [0, 1], and optionally `benchmark`) in bounded record batches (pyarrow's
`iter_batches`, one row group at a time), in two passes over the files:

1. census: every row is checked (a missing or empty id, a missing, NaN or out-of-range label raises
   `DataError` naming the file, row group, row and field); the model and query ids are collected (or, where
   vocabularies are given, looked up strictly); the labels of each query are counted; each query's
   benchmark is recorded (two benchmarks for one query is an error).
2. fill: each batch is scattered to its queries' write cursors in the query-major arrays: int32 model
   positions and uint8 outcomes (float32 scores where any label is a fraction).

Then each query's labels are ordered by model (in blocks of whole queries, so temporaries stay bounded),
which finds any repeated (model, query) pair, and 0/1 outcomes are bit-packed. The layout is that of
`irtnet.training.batching.build_arrays` on the same table (queries and models in sorted id order, each
query's labels by model), at 4 bytes and 1 bit per label instead of 20 (int64 model, float32 target,
weight and label). The reading holds the output arrays, one batch and the census (one entry per id),
never a frame of all rows.

`open_embeddings(npy, ids)`: a float32 [n, dim] `.npy` memory-mapped read-only (`np.load(mmap_mode="r")`),
its rows keyed by query id (a `Vocab`, a list, or the text file beside it, see `ids_path`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from irtnet._io import write_text
from irtnet.data.vocab import Vocab
from irtnet.errors import DataError

__all__ = ["MappedEmbeddings", "PackedLabels", "ids_path", "open_embeddings", "parquet_files",
           "read_packed_labels", "write_ids"]

ID_COLUMNS = ("model", "query")
SORT_BLOCK = 1 << 22  # labels ordered per block of whole queries (bounds the argsort temporaries)


@dataclass(frozen=True)
class PackedLabels:
    """Query-major labels: those of query i are rows indptr[i]:indptr[i+1].

    indptr [Q+1] int64; model [N] int32 positions in `model_vocab`; either `bits` [ceil(N/8)] uint8, the 0/1
    outcomes bit-packed (little bit order), or `scores` [N] float32 where some label is a fraction;
    `benchmarks` [Q] object (None without a benchmark column; an entry is None for a query of a given
    vocabulary that has no rows).
    """

    model_vocab: Vocab
    query_vocab: Vocab
    indptr: np.ndarray
    model: np.ndarray
    bits: np.ndarray | None = None
    scores: np.ndarray | None = None
    benchmarks: np.ndarray | None = None
    sources: tuple[str, ...] = ()

    @property
    def n_labels(self) -> int:
        return len(self.model)

    @property
    def n_queries(self) -> int:
        return len(self.indptr) - 1

    @property
    def nbytes(self) -> int:
        """Bytes of the packed arrays (indptr, models, outcomes or scores)."""
        return sum(a.nbytes for a in (self.indptr, self.model, self.bits, self.scores) if a is not None)

    @property
    def benchmark_vocab(self) -> Vocab | None:
        return None if self.benchmarks is None else Vocab("benchmark", sorted(set(self.benchmarks.tolist()) - {None}))

    def targets(self, rows: np.ndarray) -> np.ndarray:
        """[len(rows)] float32: the label of each row (0/1, or the fraction)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.scores is not None:
            return self.scores[rows]
        return ((self.bits[rows >> 3] >> (rows & 7).astype(np.uint8)) & 1).astype(np.float32)

    def outcomes(self, rows: np.ndarray) -> np.ndarray:
        """[len(rows)] float32 0/1: the majority label (a fraction >= 0.5 counts as correct, as in the table)."""
        values = self.targets(rows)
        return values if self.scores is None else (values >= 0.5).astype(np.float32)


# ------------------------------------------------------------------------------------------- scanning
def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of `path`: the file itself, or every `*.parquet` below a folder, in sorted order."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*.parquet") if p.is_file()) if path.is_dir() else []
    if not files:
        raise DataError("no Parquet file here" if path.exists() else "no such file or folder", file=str(path))
    return files


@dataclass
class _Chunk:
    """One record batch and where it is: file, row group, 0-based first row of the batch in the file and group."""

    file: str
    group: int
    file_row: int
    group_row: int
    batch: pa.RecordBatch

    def fail(self, offset: int, field: str, message: str) -> DataError:
        row = f"{self.file_row + offset + 1} (row group {self.group}, row {self.group_row + offset + 1})"
        return DataError(message, file=self.file, row=row, field=field)


def _parquet_file(path: Path, columns: Sequence[str] = ()) -> pq.ParquetFile:
    """The open Parquet file `path` (`columns` read as dictionaries); an unreadable one is a DataError naming it."""
    try:
        return pq.ParquetFile(path, read_dictionary=list(columns))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", file=str(path)) from exc


def _scan(files: Sequence[Path], columns: list[str], batch_rows: int) -> Iterator[_Chunk]:
    for path in files:
        reader = _parquet_file(path, [c for c in columns if c != "label"])
        present = set(reader.schema_arrow.names)
        missing = [c for c in columns if c not in present]
        if missing:
            raise DataError(f"missing column(s) {missing}; found {sorted(present)}", file=str(path), field=missing[0])
        file_row = 0
        for group in range(reader.num_row_groups):
            group_row = 0
            for batch in reader.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns):
                yield _Chunk(str(path), group, file_row, group_row, batch)
                file_row, group_row = file_row + batch.num_rows, group_row + batch.num_rows


def _ids(chunk: _Chunk, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes [n] int64 into values, values [k] object str) of an id column; missing and empty ids raise."""
    column = chunk.batch.column(name)
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    if column.null_count:
        offset = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise chunk.fail(offset, name, f"missing {name} id")
    values = np.asarray(column.dictionary.cast(pa.string()).to_pylist(), dtype=object)
    codes = column.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    for bad, what in ((_nan_values(column.dictionary), f"missing {name} id (NaN)"),
                      (np.flatnonzero(values == ""), f"empty {name} id")):
        if len(bad) and np.isin(codes, bad).any():
            raise chunk.fail(int(np.flatnonzero(np.isin(codes, bad))[0]), name, what)
    return codes, values


def _nan_values(dictionary: pa.Array) -> np.ndarray:
    """Positions of the NaN values of an id column's dictionary (a float column's missing ids, which are not nulls
    and would otherwise read as the id "nan")."""
    if not pa.types.is_floating(dictionary.type):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(pc.is_nan(dictionary).to_numpy(zero_copy_only=False))


def _labels(chunk: _Chunk) -> np.ndarray:
    """[n] float64 labels; missing, NaN and values outside [0, 1] raise."""
    column = chunk.batch.column("label")
    try:
        column = pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"labels must be numbers 0/1 or fractions in [0, 1], not {column.type}",
                        file=chunk.file, field="label") from exc
    if column.null_count:
        offset = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise chunk.fail(offset, "label", "missing label")
    y = column.to_numpy(zero_copy_only=False)
    bad = ~((y >= 0) & (y <= 1))  # NaN fails both comparisons
    if bad.any():
        offset = int(np.flatnonzero(bad)[0])
        raise chunk.fail(offset, "label", f"label {float(y[offset])!r} is not 0/1 or a fraction in [0, 1] "
                                          f"({int(bad.sum())} such rows in this batch)")
    return y


def _positions(chunk: _Chunk, name: str, index: pd.Index, ids: tuple[np.ndarray, np.ndarray] | None = None
               ) -> np.ndarray:
    """Each row's position in the vocabulary `index`; an id outside it raises naming the first such row."""
    codes, values = ids if ids is not None else _ids(chunk, name)
    lookup = index.get_indexer(pd.Index(values, dtype=object))
    pos = lookup[codes]
    if (pos < 0).any():
        offset = int(np.flatnonzero(pos < 0)[0])
        raise chunk.fail(offset, name, f"{name} {values[codes[offset]]!r} is not in the {name} vocabulary")
    return pos


# ------------------------------------------------------------------------------------------- pass 1
@dataclass
class _Census:
    """What the first pass learns: ids, labels per query id, each query's benchmark, whether labels are 0/1.
    With given vocabularies (`indexes`: model, query), an id outside one raises naming its row."""

    indexes: dict[str, pd.Index] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    benchmark: dict[str, str] = field(default_factory=dict)
    binary: bool = True

    def add(self, chunk: _Chunk, with_benchmark: bool) -> None:
        q_codes, q_values = _ids(chunk, "query")
        m_codes, m_values = _ids(chunk, "model")
        for name, ids in (("model", (m_codes, m_values)), ("query", (q_codes, q_values))):
            if name in self.indexes:
                _positions(chunk, name, self.indexes[name], ids)
        y = _labels(chunk)
        self.binary = self.binary and bool(np.all((y == 0) | (y == 1)))
        per_query = np.bincount(q_codes, minlength=len(q_values))
        for qid, n in zip(q_values[per_query > 0].tolist(), per_query[per_query > 0].tolist()):
            self.counts[qid] = self.counts.get(qid, 0) + n
        self.models.update(m_values[np.bincount(m_codes, minlength=len(m_values)) > 0].tolist())
        if with_benchmark:
            self._benchmarks(chunk, q_codes, q_values)

    def _benchmarks(self, chunk: _Chunk, q_codes: np.ndarray, q_values: np.ndarray) -> None:
        b_codes, b_values = _ids(chunk, "benchmark")
        pairs, first = np.unique(q_codes * len(b_values) + b_codes, return_index=True)
        for pair, offset in zip(pairs.tolist(), first.tolist()):
            qid, bench = q_values[pair // len(b_values)], b_values[pair % len(b_values)]
            known = self.benchmark.setdefault(qid, bench)
            if known != bench:
                raise chunk.fail(offset, "benchmark", f"query {qid!r} has two benchmarks, {known!r} and {bench!r}")


def _vocab(kind: str, given: Vocab | Sequence[str] | None, seen: Iterable[str]) -> Vocab:
    """The given vocabulary, or the sorted ids seen."""
    if given is None:
        return Vocab(kind, sorted(seen))
    return given if isinstance(given, Vocab) else Vocab(kind, given)


# ------------------------------------------------------------------------------------------- pass 2
def _fill(chunks: Iterator[_Chunk], indptr: np.ndarray, model_index: pd.Index, query_index: pd.Index,
          binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """(model [N] int32, values [N] uint8 outcomes or float32 scores), rows at each query's cursor."""
    n = int(indptr[-1])
    model = np.empty(n, dtype=np.int32)
    values = np.empty(n, dtype=np.uint8 if binary else np.float32)
    cursor = indptr[:-1].copy()
    for chunk in chunks:
        q = _positions(chunk, "query", query_index)
        m = _positions(chunk, "model", model_index)
        y = _labels(chunk)
        order = np.argsort(q, kind="stable")
        qs = q[order]
        starts = np.flatnonzero(np.concatenate([[True], qs[1:] != qs[:-1]]))
        lens = np.diff(np.append(starts, len(qs)))
        dest = cursor[qs] + (np.arange(len(qs)) - np.repeat(starts, lens))
        if len(dest) and (dest >= indptr[qs + 1]).any():
            raise DataError("the files changed while they were read (more rows than in the first pass)",
                            file=chunk.file)
        cursor[qs[starts]] += lens
        model[dest], values[dest] = m[order], y[order]
    if not np.array_equal(cursor, indptr[1:]):
        raise DataError("the files changed while they were read (fewer rows than in the first pass)")
    return model, values


def _order_by_model(indptr: np.ndarray, model: np.ndarray, values: np.ndarray, vocabs: tuple[Vocab, Vocab]) -> None:
    """Sort each query's rows by model in place, block by block of whole queries; a repeated pair raises."""
    n_models = len(vocabs[0])
    q = 0
    while q < len(indptr) - 1:
        end = max(q + 1, int(np.searchsorted(indptr, indptr[q] + SORT_BLOCK, side="right")) - 1)
        r0, r1 = int(indptr[q]), int(indptr[end])
        local = np.repeat(np.arange(end - q, dtype=np.int64), np.diff(indptr[q:end + 1]))
        key = local * n_models + model[r0:r1]
        if len(key) > 1 and not (np.diff(key) > 0).all():
            order = np.argsort(key, kind="stable")
            key = key[order]
            model[r0:r1], values[r0:r1] = model[r0:r1][order], values[r0:r1][order]
            repeated = np.flatnonzero(key[1:] == key[:-1])
            if len(repeated):
                pair = key[repeated[0]]
                raise DataError(f"repeated (model, query) pair ({vocabs[0].id(int(pair % n_models))!r}, "
                                f"{vocabs[1].id(q + int(pair // n_models))!r}); reduce repeats before reading "
                                "(`irtnet data import` votes them)", field="model")
        q = end


def read_packed_labels(path: str | Path, *, models: Vocab | Sequence[str] | None = None,
                       queries: Vocab | Sequence[str] | None = None, benchmark: bool | None = None,
                       batch_rows: int = 1 << 20) -> PackedLabels:
    """Read a Parquet response set (file or folder) into `PackedLabels`, `batch_rows` rows at a time.

    `models` / `queries`: fixed vocabularies (an id outside one is a `DataError`; a listed query without
    labels gets none); by default the sorted ids found. `benchmark`: read the `benchmark` column (None:
    where every file has one).
    """
    files = parquet_files(path)
    if benchmark is None:
        benchmark = all("benchmark" in _parquet_file(f).schema_arrow.names for f in files)
    columns = ["model", "query", "label"] + (["benchmark"] if benchmark else [])
    given = {name: _vocab(name, v, ()) for name, v in (("model", models), ("query", queries)) if v is not None}
    census = _Census({name: pd.Index(v.ids, dtype=object) for name, v in given.items()})
    for chunk in _scan(files, columns, batch_rows):
        census.add(chunk, benchmark)
    if not census.counts:
        raise DataError("no labels (the files have no rows)", file=str(path))
    model_vocab, query_vocab = _vocab("model", models, census.models), _vocab("query", queries, census.counts)
    counts = np.array([census.counts.get(q, 0) for q in query_vocab.ids], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    model, values = _fill(_scan(files, ["model", "query", "label"], batch_rows), indptr,
                          pd.Index(model_vocab.ids, dtype=object), pd.Index(query_vocab.ids, dtype=object),
                          census.binary)
    _order_by_model(indptr, model, values, (model_vocab, query_vocab))
    bits = np.packbits(values, bitorder="little") if census.binary else None
    benchmarks = np.array([census.benchmark.get(q) for q in query_vocab.ids], dtype=object) if benchmark else None
    return PackedLabels(model_vocab, query_vocab, indptr, model, bits, None if census.binary else values,
                        benchmarks, tuple(str(f) for f in files))


# ------------------------------------------------------------------------------------------- embeddings
@dataclass(frozen=True)
class MappedEmbeddings:
    """vectors [n, dim] float32, memory-mapped read-only (an `np.memmap`), rows addressed by `vocab`."""

    vocab: Vocab
    vectors: np.ndarray
    path: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes)


def ids_path(npy: str | Path) -> Path:
    """The query-id file kept beside an embedding matrix: `emb.npy` -> `emb.ids.txt` (one id per line)."""
    return Path(npy).with_suffix(".ids.txt")


def write_ids(npy: str | Path, ids: Sequence[str]) -> Path:
    """Write the row ids of the matrix `npy` to `ids_path(npy)`."""
    if any("\n" in i for i in ids):
        raise DataError("a query id contains a line break; pass the ids to open_embeddings instead", field="query")
    path = ids_path(npy)
    write_text(path, "".join(f"{i}\n" for i in ids))
    return path


def open_embeddings(path: str | Path, ids: Vocab | Sequence[str] | None = None, *, check_finite: bool = True,
                    chunk_rows: int = 1 << 16) -> MappedEmbeddings:
    """Memory-map the float32 [n, dim] matrix of a `.npy` file; row i is the vector of query `ids[i]`.

    `ids`: a vocabulary or list of n ids (None: read `ids_path(path)`). `check_finite` reads the file once, in
    chunks of `chunk_rows` rows, to refuse NaN and infinite values; nothing stays loaded.
    """
    path = Path(path)
    try:
        vectors = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(f"not a readable .npy matrix ({exc})", file=str(path)) from exc
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise DataError(f"expected a 2-d float32 matrix, got {vectors.dtype} of shape {vectors.shape}",
                        file=str(path), field="embeddings")
    vocab = _embedding_vocab(path, ids)
    if len(vocab) != vectors.shape[0]:
        raise DataError(f"{vectors.shape[0]} vectors for {len(vocab)} query ids", file=str(path), field="embeddings")
    for start in range(0, vectors.shape[0] if check_finite else 0, chunk_rows):
        bad = ~np.isfinite(vectors[start:start + chunk_rows]).all(axis=1)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            raise DataError(f"the vector of query {vocab.id(row)!r} has NaN or infinite values", file=str(path),
                            row=f"{row} (0-based)", field="embeddings")
    return MappedEmbeddings(vocab, vectors, str(path))


def _embedding_vocab(path: Path, ids: Vocab | Sequence[str] | None) -> Vocab:
    if isinstance(ids, Vocab):
        return ids
    if ids is not None:
        return Vocab("query", ids)
    source = ids_path(path)
    if not source.is_file():
        raise DataError(f"no query ids for the rows: pass them, or write them to {source.name}", file=str(path))
    try:
        lines = source.read_bytes().decode("utf-8").split("\n")  # not splitlines: ids may hold U+0085 and the like
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(source)) from exc
    try:
        return Vocab("query", lines[:-1] if lines and lines[-1] == "" else lines)
    except DataError as exc:  # a repeated or empty id: say which file holds it
        raise DataError(exc.reason, file=str(source), field=exc.field) from exc

"""Query-major training arrays and batches.

Labels are grouped by query (CSR layout: the labels of query i are rows indptr[i]:indptr[i+1]), so a
batch is a set of queries with all their observed labels: the query network runs once per query, and
no dense models x queries matrix is ever built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from irtnet.data.dataset import Dataset
from irtnet.data.vocab import Vocab
from irtnet.errors import DataError


@dataclass
class LabelArrays:
    """x [Q, d_in]; groups [Q] (or None); indptr [Q+1]; per label: model [N], target [N], weight [N], label [N]."""

    x: torch.Tensor
    groups: torch.Tensor | None
    indptr: np.ndarray
    model: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    label: torch.Tensor
    #: [Q] benchmark index of each query (for the alignment loss's query-to-query term), or None
    cluster: torch.Tensor | None = None

    @property
    def n_queries(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_labels(self) -> int:
        return len(self.model)


@dataclass
class Batch:
    """Queries of one batch and their labelled pairs (q_local indexes rows of x)."""

    x: torch.Tensor
    groups: torch.Tensor | None
    q_local: torch.Tensor
    model: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    label: torch.Tensor
    cluster: torch.Tensor | None = None


def group_indices(groups: np.ndarray | None, vocab: Vocab | None) -> torch.Tensor | None:
    """Benchmark names -> indices into `vocab`; unknown names (and None) map to len(vocab), the unknown slot."""
    if vocab is None or groups is None:
        return None
    pos = vocab._index.get_indexer(np.asarray(groups, dtype=object))
    return torch.as_tensor(np.where(pos < 0, len(vocab), pos), dtype=torch.long)


def build_arrays(data: Dataset, model_vocab: Vocab, group_vocab: Vocab | None, target: str = "score") -> LabelArrays:
    """Arrays of `data` with models indexed by `model_vocab` (strict) and groups by `group_vocab`.

    target "score": soft target n_correct / n_trials with weight n_trials (the binomial likelihood);
    target "label": the 0/1 majority label with weight 1.
    """
    if data.queries.vectors is None:
        raise DataError("this model needs query embeddings; the data set has none", field="vectors")
    resp = data.table.responses
    q = data.table.query_index()
    indptr = np.concatenate([[0], np.cumsum(np.bincount(q, minlength=data.table.n_queries))]).astype(np.int64)
    models = _model_positions(data, model_vocab)
    label = resp["label"].to_numpy(dtype=np.float32)
    if target == "score":
        tgt, weight = resp["score"].to_numpy(dtype=np.float32), resp["n_trials"].to_numpy(dtype=np.float32)
    elif target == "label":
        tgt, weight = label, np.ones_like(label)
    else:
        raise DataError(f"unknown training target {target!r}: use 'score' or 'label'", field="target")
    return LabelArrays(
        x=torch.as_tensor(np.ascontiguousarray(data.queries.vectors, dtype=np.float32)),
        groups=group_indices(data.queries.groups, group_vocab),
        indptr=indptr, model=torch.from_numpy(np.array(models)), target=torch.from_numpy(np.array(tgt)),
        weight=torch.from_numpy(np.array(weight)), label=torch.from_numpy(np.array(label)),
        cluster=_clusters(data.queries.groups),
    )


def _model_positions(data: Dataset, model_vocab: Vocab) -> np.ndarray:
    """Each response row's model as a position in `model_vocab` (strict about models it lacks).

    Looks up each distinct model of the table once and maps the rows' integer codes, instead of turning
    every row's model into a Python string first (seconds for a few million rows).
    """
    column = data.table.responses["model"].cat
    codes = column.codes.to_numpy(dtype=np.int64)
    used = np.flatnonzero(np.bincount(codes, minlength=len(column.categories)))
    lookup = np.full(len(column.categories), -1, dtype=np.int64)
    lookup[used] = model_vocab.index(np.asarray(column.categories, dtype=object)[used])
    return lookup[codes]


def _clusters(groups: np.ndarray | None) -> torch.Tensor | None:
    """Benchmark name of each query -> a dense integer code (None without benchmarks)."""
    if groups is None:
        return None
    codes, _ = pd.factorize(np.asarray(groups, dtype=object))
    return torch.as_tensor(codes, dtype=torch.long)


def batches(arrays: LabelArrays, queries_per_batch: int, generator: torch.Generator | None = None) -> Iterator[Batch]:
    """Batches of `queries_per_batch` queries (shuffled when a generator is given) with all their labels."""
    n = arrays.n_queries
    order = torch.randperm(n, generator=generator).numpy() if generator is not None else np.arange(n)
    counts = np.diff(arrays.indptr)
    for start in range(0, n, queries_per_batch):
        qs = order[start:start + queries_per_batch]
        lens = counts[qs]
        rows_t = torch.as_tensor(_ranges(arrays.indptr[qs], lens))
        yield Batch(
            x=arrays.x[torch.as_tensor(qs)],
            groups=None if arrays.groups is None else arrays.groups[torch.as_tensor(qs)],
            q_local=torch.as_tensor(np.repeat(np.arange(len(qs)), lens)),
            model=arrays.model[rows_t], target=arrays.target[rows_t],
            weight=arrays.weight[rows_t], label=arrays.label[rows_t],
            cluster=None if arrays.cluster is None else arrays.cluster[torch.as_tensor(qs)],
        )


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + l) for each (s, l), vectorised."""
    total = int(lens.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return np.arange(total) + offsets


def queries_per_batch(arrays: LabelArrays, batch_pairs: int) -> int:
    """How many queries make about `batch_pairs` labels (the paper's batch is 2048 pairs)."""
    mean_labels = arrays.n_labels / max(arrays.n_queries, 1)
    return max(1, int(round(batch_pairs / max(mean_labels, 1e-9))))

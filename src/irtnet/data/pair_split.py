"""Splits over (model, query) pairs, for models with free per-item parameters (classical IRT): such a model
can only score a query it has seen, so its test pairs are drawn from queries that keep training pairs of other
models. `split_by_pair` draws the parts; `PairSplit` records them by id so a run can rebuild them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import write_json
from irtnet.data.dataset import Dataset
from irtnet.data.splits import QuerySplit, check_fractions, pair_subset, part_sizes, read_split_file
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError

PARTS = ("train", "val", "test")


def split_by_pair(table: ResponseTable, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """Part of each response row: 0 train, 1 validation, 2 test, drawn over (model, query) pairs.

    Pairs are ordered by (query, model) id before shuffling, so the split depends on the seed only. A
    query left without any training pair has all its pairs moved to training (it could not be scored).
    """
    fractions = check_fractions(fractions)
    resp = table.responses
    order = np.lexsort((resp["model"].astype(str).to_numpy(), resp["query"].astype(str).to_numpy()))
    perm = order[np.random.default_rng(seed).permutation(len(order))]
    n_train, n_val = part_sizes(len(perm), fractions)
    part = np.full(len(perm), 2, dtype=np.int8)
    part[perm[:n_train]], part[perm[n_train:n_train + n_val]] = 0, 1
    q = table.query_index()
    has_train = np.zeros(table.n_queries, dtype=bool)
    has_train[q[part == 0]] = True
    part[~has_train[q]] = 0
    if not (part == 2).any():
        raise DataError(f"the pair split {'/'.join(str(float(f)) for f in fractions)} of {len(perm)} pairs leaves no "
                        f"test pair: {_why_no_test(table, fractions)}", field="split")
    return part


def _why_no_test(table: ResponseTable, fractions: tuple[float, float, float]) -> str:
    """Why a pair split left no test pair, and the remedy."""
    if fractions[2] == 0:
        return "the test fraction is 0; give the test part a fraction above 0"
    if table.n_models == 1:
        why = "the table has one model, so each query has one pair, which stays in training"
    else:
        single = int((np.bincount(table.query_index(), minlength=table.n_queries) == 1).sum())
        why = (f"{single} of the {table.n_queries} queries have one labelled model only, and a query keeps its pairs "
               "in training unless another model's pair of it is in training")
    return f"{why}; a pair split needs queries answered by two models or more (or use a split by query)"


def _pairs(table: ResponseTable) -> list[tuple[str, str]]:
    resp = table.responses
    return list(zip(resp["model"].astype(str), resp["query"].astype(str)))


@dataclass(frozen=True)
class PairSplit:
    """Disjoint train / validation / test (model, query) pairs, and how they were drawn."""

    train: tuple[tuple[str, str], ...]
    val: tuple[tuple[str, str], ...]
    test: tuple[tuple[str, str], ...]
    kind: str = "pair"
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def draw(cls, table: ResponseTable, fractions: tuple[float, float, float], seed: int) -> PairSplit:
        part, pairs = split_by_pair(table, fractions, seed), _pairs(table)
        by_part = [tuple(sorted(p for p, k in zip(pairs, part) if k == i)) for i in range(3)]
        return cls(*by_part, params={"fractions": list(fractions), "seed": seed})

    def parts(self, table: ResponseTable) -> np.ndarray:
        """Part (0, 1, 2) of each response row of `table`; a row of no part, or a listed pair that the table
        lacks, is an error (the table is not the one the split was drawn from)."""
        where = {p: i for i, part in enumerate((self.train, self.val, self.test)) for p in part}
        pairs = _pairs(table)
        missing = [p for p in pairs if p not in where]
        if missing or len(where) != len(pairs):
            raise DataError(f"the split does not match the table ({len(missing)} of its pairs are in no part, "
                            f"{len(where) - len(pairs) + len(missing)} split pairs are not in it)", field="split")
        return np.array([where[p] for p in pairs], dtype=np.int8)

    def datasets(self, data: Dataset) -> tuple[Dataset, Dataset | None, Dataset]:
        part = self.parts(data.table)
        train, val, test = (pair_subset(data, part == i) for i in range(3))
        if train is None or test is None:
            raise DataError("the pair split leaves the training or the test part empty", field="split")
        return train, val, test

    def save(self, path: str | Path) -> None:
        write_json(path, {"kind": self.kind, "params": self.params,
                          **{name: [list(p) for p in getattr(self, name)] for name in PARTS}})


def load_split(path: str | Path) -> Any:
    """A QuerySplit or a PairSplit, as its file says, checked (`splits.read_split_file`): a DataError naming the
    file and the field."""
    kind, params, parts = read_split_file(path)
    return (PairSplit if kind == "pair" else QuerySplit)(*parts, kind, params)

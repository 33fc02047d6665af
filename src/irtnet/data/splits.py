"""Seeded splits: by query, leave benchmarks out (one, or groups dealt by `benchmark_groups`), and held-out
models; the one check of split fractions (`check_fractions`), the one check that a training part can teach
something of every model scored after it (`check_training_part`) and the one sub-dataset of chosen response rows
(`pair_subset`).

Every split is a plain record of ids, written to JSON beside a run so the same split can be rebuilt.
Test queries never appear in training or validation: all splits partition the query ids. Nor does their text:
queries with the same text under different ids (*text twins*: MMLU-Pro has 159 such pairs) are kept in one part
(`keep_twins_together`), else a test query's twin in training would be a seen query under another name.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import json_kind, read_json, write_json
from irtnet.config import check_fractions
from irtnet.data.dataset import Dataset
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError


@dataclass(frozen=True)
class QuerySplit:
    """Disjoint train / validation / test query ids, and how they were drawn."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    kind: str = "query"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sets = [set(self.train), set(self.val), set(self.test)]
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise DataError("split parts overlap: a query is in two of train/val/test", field="split")

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> QuerySplit:
        """The split in `path`, checked (`read_split_file`): a DataError naming the file and field."""
        kind, params, parts = read_split_file(path)
        if kind == "pair":
            raise DataError("holds a split of (model, query) pairs, not of queries", file=str(path), field="kind")
        return cls(*parts, kind, params)


@dataclass(frozen=True)
class ModelSplit:
    """Models used to train versus models held out (e.g. to onboard later from few labels)."""

    train_models: tuple[str, ...]
    test_models: tuple[str, ...]
    seed: int


def pair_subset(data: Dataset, rows: np.ndarray) -> Dataset | None:
    """The dataset of `data`'s response rows where `rows` (bool [n_responses]) is True; None when none is.

    Every column that defines a label is kept: `label` (a repeated k-of-n record's majority vote over its
    records, which its summed counts alone cannot give back), `n_correct`, `n_trials` and `cost`; `score` is
    n_correct / n_trials again. Only the queries and models that keep a response stay (with their metadata);
    the query vectors and benchmark names follow their queries.
    """
    rows = np.asarray(rows)
    if rows.dtype != bool or rows.shape != (len(data.table.responses),):
        raise DataError(f"pair_subset needs a boolean mask of the {len(data.table.responses)} responses, "
                        f"got {rows.dtype} {rows.shape}", field="rows")
    if not rows.any():
        return None
    resp = data.table.responses[rows]
    records = resp.assign(model=resp["model"].astype(str).astype(object),
                          query=resp["query"].astype(str).astype(object)).drop(columns="score")
    queries = data.table.queries[data.table.queries["query"].isin(set(records["query"]))]
    models = data.table.models[data.table.models["model"].isin(set(records["model"]))]
    table = ResponseTable.from_records(records, queries=queries, models=models, source="<pair subset>",
                                       repeats="error")
    return Dataset(table, data.queries.take(data.table.query_vocab.index(table.query_vocab.ids)))


def check_split_parts(split: QuerySplit, fractions: tuple[float, float, float], pool: int,
                      where: str = "in the table") -> QuerySplit:
    """`split` when each part a run uses holds a query: training and test always, validation where its
    fraction is above 0. Otherwise a ConfigError naming the option, its fractions, the empty part and the
    `pool` queries it was cut from (`where`: where they are)."""
    parts = {"training": (split.train, True), "validation": (split.val, fractions[1] > 0),
             "test": (split.test, True)}
    for name, (ids, needed) in parts.items():
        if needed and not ids:
            shown = "/".join(str(float(f)) for f in fractions)
            remedy = f"raise the {name} fraction" + (" (or make it 0)" if name == "validation" else "")
            raise ConfigError(f"the split {shown} (--split or data.fractions) leaves no {name} queries ({pool} "
                              f"{'query' if pool == 1 else 'queries'} {where}): {remedy} or use a table with more "
                              "queries")
    return split


def check_training_part(train: ResponseTable, **others: ResponseTable | None) -> None:
    """A DataError unless `train` can teach a model something about every model scored on `others` (named
    parts, e.g. validation=..., test=...; None: no such part): each of their models has a label in training
    (else nothing is known of it, and it would be left out or scored on a guess), and the training labels are
    not all the same (else there is nothing to learn about who answers what)."""
    known = set(train.model_vocab.ids)
    for part, table in others.items():
        if table is None:
            continue
        unknown = [m for m in table.model_vocab.ids if m not in known]
        if unknown:
            n = int((table.responses["model"].astype(str) == unknown[0]).sum())
            more = f"; {len(unknown)} models are like this: {', '.join(map(repr, unknown[:5]))}" \
                + (", ..." if len(unknown) > 5 else "") if len(unknown) > 1 else ""
            raise DataError(f"model {unknown[0]!r} has no label among the {train.n_queries} training queries ({n} "
                            f"of its labels are in the {part} part{more}): nothing "
                            "can be learnt of it; drop it from the table, or draw another split (seed, fractions) "
                            "that gives it training labels", field="model")
    labels = train.responses["label"].to_numpy()
    if len(labels) and (labels == labels[0]).all():
        value = int(labels[0])
        raise DataError(f"every one of the {len(labels)} training labels is {value} (all "
                        f"{'correct' if value else 'wrong'}): there is nothing to learn about who answers what, and "
                        "AUC is undefined; the table needs both correct and wrong answers", field="label")


def text_twins(table: ResponseTable) -> dict[str, str]:
    """{query id: the smallest id of the queries sharing its text}, for every query whose exact text another
    query of `table` has (the smallest id maps to itself); empty where the table has no texts or no twins."""
    if "text" not in table.queries.columns:
        return {}
    q = table.queries[["query", "text"]].dropna()
    q = q[q["text"].duplicated(keep=False)]
    if q.empty:
        return {}
    first = q.groupby("text", sort=False)["query"].transform("min")
    return dict(zip(q["query"].astype(str), first.astype(str)))


def keep_twins_together(parts: list[list[str]], twins: dict[str, str]) -> tuple[list[list[str]], int]:
    """`parts` (disjoint lists of query ids) with every text twin moved to the part of its group's smallest id,
    order otherwise kept; and how many ids moved."""
    if not twins:
        return parts, 0
    part_of = {q: i for i, part in enumerate(parts) for q in part}
    home = {q: part_of[first] for q, first in twins.items() if first in part_of and q in part_of}
    out = [[q for q in part if home.get(q, i) == i] for i, part in enumerate(parts)]
    moved = [q for i, part in enumerate(parts) for q in part if home.get(q, i) != i]
    for q in moved:
        out[home[q]].append(q)
    return out, len(moved)


def part_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    """(training, validation) sizes of `n` items cut by `fractions`, each rounded; the test part is the rest.

    A part given a zero fraction stays empty: with a zero test fraction, what rounding leaves over goes to
    validation (to training where validation is 0 too), not to a test part nobody asked for; a leave-benchmarks-out
    cut (TRAIN,VAL,0) thus keeps every query."""
    n_train = min(n, int(round(fractions[0] * n)))
    n_val = min(n - n_train, int(round(fractions[1] * n)))
    if fractions[2] == 0:
        n_train, n_val = (n_train, n - n_train) if fractions[1] > 0 else (n, 0)
    return n_train, n_val


def _cut(ids: np.ndarray, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[np.ndarray]:
    perm = ids[rng.permutation(len(ids))]
    n_train, n_val = part_sizes(len(ids), fractions)
    return [perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]]


def split_by_query(
    table: ResponseTable,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    stratify: bool = True,
) -> QuerySplit:
    """Partition the queries into train/val/test with the given fractions.

    With `stratify`, each benchmark is cut separately so every part keeps the benchmark mix.
    Query ids are sorted before shuffling, so the split depends on the seed, not on file order.
    """
    fractions = check_fractions(fractions)
    rng = np.random.default_rng(seed)
    q = table.queries.sort_values("query")
    groups = [g["query"].to_numpy(dtype=object) for _, g in q.groupby("benchmark", sort=True)] \
        if stratify else [q["query"].to_numpy(dtype=object)]
    parts: list[list[str]] = [[], [], []]
    for ids in groups:
        for i, cut in enumerate(_cut(ids, fractions, rng)):
            parts[i].extend(cut.tolist())
    parts, moved = keep_twins_together(parts, text_twins(table))
    if not parts[0]:
        raise DataError("the training split is empty; use more queries or a larger train fraction")
    params = {"fractions": list(fractions), "seed": seed, "stratify": stratify}
    if moved:
        params["text_twins_moved"] = moved
    return QuerySplit(tuple(parts[0]), tuple(parts[1]), tuple(parts[2]), "query", params)


def leave_benchmarks_out(
    table: ResponseTable, benchmarks: list[str], val_fraction: float = 0.1, seed: int = 0
) -> QuerySplit:
    """Test = every query of `benchmarks`; train/val = the other benchmarks' queries, cut with `seed`.

    A query of another benchmark whose exact text a held-out query has (a text twin across benchmarks) is in
    no part: in training it would be a test text seen under another name, and it is not of a held-out benchmark.
    Such ids are listed in the split's params (`text_twins_left_out`)."""
    benchmarks = list(benchmarks)
    _check_val_fraction(val_fraction)
    if not benchmarks:
        raise DataError("no benchmark to hold out: the list is empty", field="benchmark")
    unknown = [b for b in benchmarks if b not in table.benchmark_vocab]
    if unknown:
        raise DataError(f"unknown benchmark {unknown[0]!r}; known: {table.benchmark_vocab.to_list()}",
                        field="benchmark")
    if len(set(benchmarks)) != len(benchmarks):
        raise DataError(f"a benchmark is named twice in {benchmarks}", field="benchmark")
    q = table.queries.sort_values("query")
    held = q["benchmark"].isin(benchmarks)
    rest = q.loc[~held, "query"].to_numpy(dtype=object)
    if len(rest) == 0:
        raise DataError(f"holding out {benchmarks} leaves no other benchmark to train on", field="benchmark")
    train, val, _ = _cut(rest, (1 - val_fraction, val_fraction, 0.0), np.random.default_rng(seed))
    test = tuple(q.loc[held, "query"])
    left_out = _twins_of(table, set(test))
    train, val = ([i for i in part if i not in left_out] for part in (train, val))
    one = len(benchmarks) == 1
    params: dict[str, Any] = {"benchmark": benchmarks[0]} if one else {"benchmarks": benchmarks}
    params.update({"val_fraction": val_fraction, "seed": seed})
    if left_out:
        params["text_twins_left_out"] = sorted(left_out)
    return QuerySplit(tuple(train), tuple(val), test, "leave-one-benchmark-out" if one else "leave-benchmarks-out",
                      params)


def _twins_of(table: ResponseTable, test: set[str]) -> set[str]:
    """The ids outside `test` whose exact text a query of `test` has."""
    twins = text_twins(table)
    groups = {twins[i] for i in test if i in twins}
    return {i for i, first in twins.items() if first in groups and i not in test}


def leave_one_benchmark_out(
    table: ResponseTable, benchmark: str, val_fraction: float = 0.1, seed: int = 0
) -> QuerySplit:
    """Test = every query of `benchmark`; train/val = the other benchmarks' queries."""
    return leave_benchmarks_out(table, [benchmark], val_fraction, seed)


def benchmark_groups(names: list[str], n_groups: int, seed: int = 0) -> list[list[str]]:
    """The sorted `names` shuffled with `seed` and dealt in turn into `n_groups` non-empty groups.

    Each group is one `leave_benchmarks_out` test set; together they hold every benchmark out once.
    """
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) \
            or not 1 <= n_groups <= len(names):
        raise ConfigError(f"n_groups must be an integer from 1 to the {len(names)} benchmarks, got {n_groups!r}")
    order = np.array(sorted(names), dtype=object)[np.random.default_rng(seed).permutation(len(names))]
    return [sorted(order[g::n_groups].tolist()) for g in range(n_groups)]


def held_out_models(
    table: ResponseTable, n_test: int | None = None, models: list[str] | None = None, seed: int = 0
) -> ModelSplit:
    """Hold out `models` (strict) or `n_test` models drawn with `seed`."""
    all_models = np.array(table.model_vocab.to_list(), dtype=object)
    if models is not None:
        if not models:
            raise ConfigError("models: no model to hold out (the list is empty)")
        repeated = sorted({m for m in models if list(models).count(m) > 1})
        if repeated:
            raise ConfigError(f"models: {repeated[0]!r} is named twice among the models to hold out")
        table.model_vocab.index(models)
        test = list(models)
    else:
        whole = not isinstance(n_test, bool) and isinstance(n_test, (int, np.integer))
        if not whole or not 0 < n_test < len(all_models):
            raise ConfigError(f"n_test must be a whole number between 1 and {len(all_models) - 1}, got {n_test!r}")
        test = sorted(np.random.default_rng(seed).choice(all_models, size=n_test, replace=False).tolist())
    train = [m for m in all_models if m not in set(test)]
    if not train:
        raise DataError("every model is held out; nothing is left to train on", field="models")
    return ModelSplit(tuple(train), tuple(test), seed)


def _check_kfold(k: int, val_fraction: float, n_queries: int) -> None:
    """ConfigError naming the field unless 2 <= k <= n_queries and 0 <= val_fraction < 1."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ConfigError(f"k (the number of folds) must be an integer of at least 2, got {k!r}")
    if k > n_queries:
        raise ConfigError(f"k = {k} folds is more than the {n_queries} queries: use k <= {n_queries}")
    _check_val_fraction(val_fraction)


def _check_val_fraction(val_fraction: float) -> None:
    """ConfigError naming the field unless 0 <= val_fraction < 1 (a number, not NaN nor a boolean)."""
    try:
        ok = not isinstance(val_fraction, bool) and math.isfinite(float(val_fraction)) \
            and 0 <= float(val_fraction) < 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")


def _stratified_order(groups: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Every id of `groups` (one array per benchmark) in an interleaved order: each group shuffled, then its
    j-th of n ids placed at position (j + 0.5) / n, so any prefix keeps every group's share within 1 id."""
    ids, keys = [], []
    for g in groups:
        ids.append(g[rng.permutation(len(g))])
        keys.append((np.arange(len(g)) + 0.5) / len(g))
    key = np.concatenate(keys) if keys else np.zeros(0)
    order = np.lexsort((rng.random(len(key)), key))  # random tie break between groups
    return np.concatenate(ids)[order] if ids else np.zeros(0, dtype=object)


def kfold_query_splits(
    table: ResponseTable,
    k: int = 5,
    seed: int = 0,
    val_fraction: float = 0.1,
    stratify: bool = True,
) -> list[QuerySplit]:
    """K-fold cross-fitting over queries: `k` splits, split i tests fold i, so every query is tested once.

    The queries are dealt into k folds (with `stratify`, benchmark by benchmark, so each fold holds every
    benchmark's share within one query and fold sizes differ by at most one). Validation is `val_fraction`
    of the other folds' queries (stratified the same way), carved from them; train is the rest. Query ids
    are sorted before shuffling, so the splits depend on the seed, not on table row order.
    Returns k `QuerySplit`s of kind "kfold", params {k, fold, seed, val_fraction, stratify}.
    """
    _check_kfold(k, val_fraction, table.n_queries)
    rng = np.random.default_rng(seed)
    q = table.queries.sort_values("query")
    ids = q["query"].to_numpy(dtype=object)
    bench = q["benchmark"].to_numpy(dtype=object) if stratify else np.zeros(len(ids), dtype=object)
    perm = np.concatenate([rng.permutation(np.flatnonzero(bench == b)) for b in sorted(set(bench.tolist()))])
    ids, bench = ids[perm], bench[perm]
    fold = np.arange(len(ids)) % k  # dealt round robin: each benchmark's share per fold within one query
    twins = text_twins(table)
    if twins:  # a twin joins the fold of its group's smallest id
        position = {q: j for j, q in enumerate(ids.tolist())}
        fold = fold.copy()
        for q, first in twins.items():
            fold[position[q]] = fold[position[first]]
    splits = []
    for i in range(int(k)):
        rest, rest_bench = ids[fold != i], bench[fold != i]
        groups = [rest[rest_bench == b] for b in sorted(set(rest_bench.tolist()))]
        order = _stratified_order(groups, np.random.default_rng([seed, i]))
        n_val = round(float(val_fraction) * len(order))
        if n_val >= len(order):
            raise DataError(f"fold {i} leaves no training query; use fewer folds or a smaller val_fraction",
                            field="val_fraction")
        (train, val), _ = keep_twins_together([order[n_val:].tolist(), order[:n_val].tolist()], twins)
        params = {"k": int(k), "fold": i, "seed": seed, "val_fraction": float(val_fraction), "stratify": stratify}
        if twins:
            params["text_twins"] = len(twins)
        splits.append(QuerySplit(tuple(train), tuple(val), tuple(ids[fold == i].tolist()), "kfold", params))
    return splits


# -------------------------------------------------------------------------------------------- split files
#: The kinds a split file may name: `pair_split.PairSplit`'s, and QuerySplit's (by query, leave benchmarks out, K
#: folds).
SPLIT_KINDS = ("pair", "query", "leave-one-benchmark-out", "leave-benchmarks-out", "kfold")
_PARTS = ("train", "val", "test")


def read_split_file(path: str | Path) -> tuple[str, dict[str, Any], list[tuple[Any, ...]]]:
    """(kind, params, [train, val, test]) of a split file, each part a tuple of query ids (a pair split's: of
    (model, query) tuples). A file that is missing, not JSON, of an unknown kind, without a part, with an id that
    is no string (a pair that is no [model, query] pair of strings), or whose parts share an id (a test query in
    training) is a DataError naming the file and the field."""
    raw = read_json(path, dict, "a split (an object with train, val, test, kind and params)")
    kind = raw.get("kind")
    if kind not in SPLIT_KINDS:
        raise DataError(f"unknown split kind {kind!r}; a split is one of {', '.join(SPLIT_KINDS)}", file=str(path),
                        field="kind")
    if not isinstance(raw.get("params"), dict):
        raise DataError(f"params must be an object, got {json_kind(raw.get('params'))}", file=str(path),
                        field="params")
    parts = [_split_part(raw, name, kind == "pair", path) for name in _PARTS]
    for i, name in enumerate(_PARTS):
        for j in range(i + 1, 3):
            shared = set(parts[i]) & set(parts[j])
            if shared:
                raise DataError(f"{min(shared)!r} is in both {name} and {_PARTS[j]}: a split's parts are disjoint",
                                file=str(path), field=_PARTS[j])
    return kind, raw["params"], parts


def _split_part(raw: dict[str, Any], name: str, pair: bool, path: str | Path) -> tuple[Any, ...]:
    """One part's ids (query ids, or (model, query) pairs), each a string, none twice."""
    values = raw.get(name)
    if not isinstance(values, list):
        raise DataError(f"missing or not a list (got {json_kind(values)})", file=str(path), field=name)
    if pair:
        bad = next((v for v in values if not (isinstance(v, list) and len(v) == 2
                                              and all(isinstance(x, str) for x in v))), None)
        what = "a [model, query] pair of strings"
    else:
        bad = next((v for v in values if not isinstance(v, str)), None)
        what = "a query id (a string)"
    if bad is not None:
        raise DataError(f"{bad!r} is not {what}", file=str(path), field=name)
    ids = tuple(tuple(v) for v in values) if pair else tuple(values)
    if len(set(ids)) < len(ids):
        seen: set[Any] = set()
        twice = next(v for v in ids if v in seen or seen.add(v))
        raise DataError(f"{twice!r} is listed twice", file=str(path), field=name)
    return ids

"""Data efficiency (docs/estimation.md, "Evaluating estimation"): how correctness prediction improves with the
number of labelled training queries.

One query split (`split_by_query`, stratified by benchmark); the training queries are put in one seeded
order that interleaves the benchmarks (`stratified_order`), so every prefix keeps each benchmark's share
within one query and a smaller fraction's training set is a subset of every larger one's (nested). Each
predictor is fitted on every fraction's prefix (every model's labels of those queries; the full validation
part for early stopping) and scored on the same test queries in both settings: benchmark known (the test
queries' names given) and text only (`queries.without_groups()`), with the one evaluator's correctness
metrics (accuracy at 0.5, AUC, log loss) over the observed test pairs.

With a `StepCache` each predictor's points at one fraction are saved as soon as they are scored, and a rerun
with the same table, models, split and code reads them instead of training again (`tasks/step_cache.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from irtnet._io import nan_for_null
from irtnet.data.dataset import Dataset
from irtnet.data.splits import split_by_query
from irtnet.errors import ConfigError, DataError
from irtnet.metrics import correctness_metrics
from irtnet.tasks.step_cache import StepCache, load_step, open_cache, save_step, step_path

FRACTIONS = (0.01, 0.02, 0.04, 0.10, 0.25, 0.5, 1.0)
SETTINGS = ("benchmark known", "text only")


@dataclass(frozen=True)
class EfficiencyPoint:
    """One predictor trained on one fraction of the training queries, scored in one setting."""

    predictor: str
    fraction: float
    n_train_queries: int
    setting: str
    accuracy: float
    auc: float
    log_loss: float
    n_test_pairs: int
    models_left_out: list[str] = field(default_factory=list)  # test models without a training label at this share


@dataclass
class DataEfficiency:
    """Every point of the curve and the settings."""

    points: list[EfficiencyPoint]
    settings: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # this invocation's steps, computed and read from the cache

    def to_dict(self) -> dict[str, Any]:
        return {"task": "data-efficiency", "settings": self.settings, "run": self.run,
                "points": [asdict(p) for p in self.points]}

    def curve(self, predictor: str, setting: str = "benchmark known", metric: str = "auc") -> dict[float, float]:
        """{fraction: metric} of one predictor in one setting."""
        return {p.fraction: getattr(p, metric) for p in self.points if p.predictor == predictor and p.setting == setting}


def stratified_order(ids: Sequence[str], groups: Sequence[Any], seed: int = 0) -> list[str]:
    """Every id in one order where each group's j-th of n ids sits at (j + 0.5) / n (shuffled within the group,
    random tie break), so any prefix keeps each group's share within one id."""
    rng = np.random.default_rng(seed)
    ids, groups = np.asarray(ids, dtype=object), np.asarray(groups, dtype=object)
    parts, keys = [], []
    for g in sorted(set(groups.tolist()), key=str):
        mine = ids[groups == g]
        parts.append(mine[rng.permutation(len(mine))])
        keys.append((np.arange(len(mine)) + 0.5) / len(mine))
    if not parts:
        return []
    key = np.concatenate(keys)
    return np.concatenate(parts)[np.lexsort((rng.random(len(key)), key))].tolist()


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    out = sorted({float(f) for f in fractions})
    if not out or not all(0 < f <= 1 for f in out):  # also refuses NaN, which sorts anywhere
        raise ConfigError(f"training fractions must lie in (0, 1], got {list(fractions)}")
    return out


def _train_sizes(fractions: Sequence[float], n_train: int) -> dict[float, int]:
    """{share: its number of training queries, rounded}, before any training: a share below one query (it was
    trained on one, and shown at the share asked) and two shares of the same number of queries (one training set,
    two points of the curve) are DataErrors naming them."""
    if n_train < 1:
        raise DataError("the split leaves no training queries; use a larger train fraction", field="split")
    sizes = {f: round(f * n_train) for f in fractions}
    for f, n in sizes.items():
        if n < 1:
            raise DataError(f"the share {f:g} of the {n_train} training queries is {f * n_train:.2g} of a query; "
                            f"give shares (--fractions) of at least {1 / n_train:.2g} (one query)", field="fractions")
    for (f, n), (g, m) in zip(sizes.items(), list(sizes.items())[1:]):
        if n == m:
            raise DataError(f"the shares {f:g} and {g:g} both train on {n} of the {n_train} training queries (one "
                            "training set, shown as two points); give shares (--fractions) further apart",
                            field="fractions")
    return sizes


def _score(predictor: Any, test: Dataset, labels: np.ndarray) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Correctness metrics of `predictor` on the observed test pairs of the models it knows, per setting, and the
    test models it does not know (a small training fraction of sparse data may miss a model: its pairs are left
    out, `n` says how many pairs were scored and the list names the models, so that points scored on other
    pairs are not read as comparable without saying so)."""
    models = list(test.table.model_vocab.ids)
    cols = [j for j, m in enumerate(models) if m in predictor.models_]
    observed = ~np.isnan(labels[:, cols])
    out = {}
    for setting, queries in zip(SETTINGS, (test.queries, test.queries.without_groups())):
        prob = predictor.predict_proba(queries, [models[j] for j in cols])
        out[setting] = correctness_metrics(prob[observed], labels[:, cols][observed])
    return out, [m for m in models if m not in predictor.models_]


def data_efficiency_curve(data: Dataset, factories: Mapping[str, Callable[[], Any]],
                          fractions: Sequence[float] = FRACTIONS, seed: int = 0,
                          split: tuple[float, float, float] = (0.8, 0.1, 0.1),
                          progress: Callable[[str], None] | None = None,
                          cache: StepCache | None = None) -> DataEfficiency:
    """Fit every factory on each fraction of the training queries (nested, stratified) and score it on the
    same test queries in both settings (see the module docstring); with `cache`, each (fraction, predictor)
    step is kept and read back."""
    fracs = _check_fractions(fractions)
    if not factories:
        raise ConfigError("no predictors to train")
    qsplit = split_by_query(data.table, split, seed)
    if not qsplit.test:
        raise DataError("the split leaves no test queries; use a larger test fraction", field="split")
    bench = dict(zip(data.table.queries["query"], data.table.queries["benchmark"]))
    order = stratified_order(qsplit.train, [bench[q] for q in qsplit.train], seed)
    val = data.select(qsplit.val) if qsplit.val else None
    test = data.select(qsplit.test)
    labels = test.table.label_matrix()
    sizes = _train_sizes(fracs, len(order))
    cache = open_cache(cache, data.table)
    points, read = [], 0
    for f in fracs:
        n, train = sizes[f], None
        for name, make in factories.items():
            path = None if cache is None else step_path(cache, f"{name}-{f:g}", {
                "task": "data-efficiency", "predictor": name, "fraction": f, "n": n, "seed": seed,
                "split": list(split)})
            done = _points_from_record(load_step(path))
            if done is not None:
                read += 1
                if progress:
                    progress(f"{name}: {n} training queries ({f:g}): read from {path}")
                points += done
                continue
            if progress:
                progress(f"{name}: {n} training queries ({f:g})")
            train = data.select(order[:n]) if train is None else train
            scores, left_out = _score(make().fit(train, val), test, labels)
            mine = [EfficiencyPoint(name, f, n, setting, m["accuracy"], m["auc"], m["log_loss"], m["n"], left_out)
                    for setting, m in scores.items()]
            save_step(path, {"points": [asdict(p) for p in mine]})
            points += mine
    settings = {"fractions": fracs, "seed": seed, "split": list(split), "predictors": list(factories),
                "n_train_queries": len(order), "n_test_queries": test.table.n_queries,
                "nested": "each fraction's training queries are a prefix of one stratified order"}
    run = {"steps_computed": len(fracs) * len(factories) - read, "steps_from_cache": read,
           "step_cache": None if cache is None else str(cache.folder)}
    return DataEfficiency(points, settings, run)


def _points_from_record(record: dict[str, Any] | None) -> list[EfficiencyPoint] | None:
    """The points saved by `data_efficiency_curve`, metrics as floats again (NaN where null); None where there
    is no record or it has another shape (the step is computed again)."""
    if record is None:
        return None
    try:
        return [EfficiencyPoint(**{**p, **nan_for_null({k: p[k] for k in ("accuracy", "auc", "log_loss")})})
                for p in record["points"]]
    except (KeyError, TypeError):
        return None

"""Benchmark accuracy prediction (docs/method.md section 2.4): a model's accuracy on a set of queries that no
model was run on, predicted as the mean predicted probability over the queries' texts.

Evaluation leaves one benchmark out: every predictor is fitted on the other benchmarks, then predicts each
model's accuracy on the held-out benchmark from its texts alone (the benchmark's name is hidden, since it
is new), scored against the true accuracies over models: mean absolute error, Pearson and Spearman
correlation, and top-k recovery (share of the true k best models among the predicted k best).

Pure cores: `benchmark_scores` (mean probability per group), `accuracy_prediction_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.splits import leave_one_benchmark_out
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import Predictor
from irtnet.tasks.evaluate import score_matrix

PredictorFactory = Callable[[], Predictor]


def benchmark_scores(prob: np.ndarray, groups: np.ndarray, observed: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Mean of `prob` [Q, M] over each group's queries: {group: [M]}.

    With `observed` [Q, M] (bool), each model's mean runs over its observed cells only, so a predicted
    accuracy covers exactly the queries its true accuracy covers (NaN where a model has none).
    """
    out = {}
    for g in sorted(set(np.asarray(groups).tolist())):
        rows = np.asarray(groups) == g
        p = prob[rows]
        if observed is None:
            out[str(g)] = p.mean(axis=0)
        else:
            obs = observed[rows]
            n = obs.sum(axis=0)
            out[str(g)] = np.where(n > 0, (p * obs).sum(axis=0) / np.maximum(n, 1), np.nan)
    return out


def _correlation(fn: Callable[..., Any], x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")  # undefined for constant inputs
    return float(fn(x, y)[0])


def accuracy_prediction_metrics(pred: np.ndarray, true: np.ndarray, k: int = 3) -> dict[str, float]:
    """Predicted versus true accuracies of the same models ([M] each; NaN entries are dropped).

    Returns n, MAE, bias (mean of pred - true: the level error, which dominates the MAE when a new
    benchmark is much easier or harder than the training ones), Pearson, Spearman and top-k recovery
    (|top-k(pred) & top-k(true)| / k).
    """
    keep = ~(np.isnan(pred) | np.isnan(true))
    pred, true = np.asarray(pred)[keep], np.asarray(true)[keep]
    k = min(k, len(true))
    best_pred, best_true = set(np.argsort(-pred, kind="stable")[:k]), set(np.argsort(-true, kind="stable")[:k])
    top = len(best_pred & best_true) / k if k else float("nan")
    return {"n_models": int(len(true)), "mae": float(np.mean(np.abs(pred - true))) if len(true) else float("nan"),
            "bias": float(np.mean(pred - true)) if len(true) else float("nan"),
            "pearson": _correlation(stats.pearsonr, pred, true),
            "spearman": _correlation(stats.spearmanr, pred, true), f"top{k}_recovery": float(top)}


def predict_benchmark(predictor: Predictor, queries: Queries, models: Sequence[str] | None = None,
                      chunk: int = 4096) -> list[tuple[str, float]]:
    """Every model's predicted accuracy on `queries` (mean predicted probability), best first."""
    if len(queries) == 0:
        raise DataError("no queries to predict a benchmark accuracy from", field="texts")
    names = list(models) if models is not None else predictor.models_.to_list()
    total = np.zeros(len(names))
    for s in range(0, len(queries), chunk):
        total += predictor.predict_proba(queries.take(slice(s, s + chunk)), names).sum(axis=0)
    acc = total / len(queries)
    return [(names[i], float(acc[i])) for i in np.argsort(-acc, kind="stable")]


@dataclass
class BenchmarkFold:
    """One held-out benchmark: true accuracies and each predictor's predictions and scores."""

    benchmark: str
    n_queries: int
    models: list[str]
    true: list[float]
    predicted: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class BenchmarkEvaluation:
    """Leave-one-benchmark-out results: one fold per benchmark and the mean of each metric per predictor."""

    folds: list[BenchmarkFold]
    summary: dict[str, dict[str, float]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "benchmark-accuracy", "settings": self.settings, "summary": self.summary,
                "folds": [asdict(f) for f in self.folds]}


def true_accuracies(test: Dataset, value: str = "label") -> np.ndarray:
    """Each model's mean `value` ("label" or "score") over its observed queries of `test` [M]."""
    lab = test.table.label_matrix(value=value)
    with np.errstate(invalid="ignore"):
        return np.nanmean(lab, axis=0)


def evaluate_fold(data: Dataset, benchmark: str, predictors: Mapping[str, PredictorFactory],
                  k: int = 3, val_fraction: float = 0.1, seed: int = 0) -> BenchmarkFold:
    """Fit every predictor without `benchmark`, then predict its models' accuracies from texts alone."""
    split = leave_one_benchmark_out(data.table, benchmark, val_fraction, seed)
    train = data.select(split.train)
    val = data.select(split.val) if split.val else None
    test = data.select(split.test)
    known = [m for m in test.table.model_vocab.ids if m in train.table.model_vocab]
    test = test.select(model_ids=known)
    observed = ~np.isnan(test.table.label_matrix())
    true = true_accuracies(test)
    fold = BenchmarkFold(benchmark, test.table.n_queries, list(known), true.tolist())
    hidden = Dataset(test.table, test.queries.without_groups())
    for name, make in predictors.items():
        prob = score_matrix(make().fit(train, val), hidden)
        pred = benchmark_scores(prob, np.full(len(prob), benchmark, dtype=object), observed)[benchmark]
        fold.predicted[name] = pred.tolist()
        fold.metrics[name] = accuracy_prediction_metrics(pred, true, k)
    return fold


def summarise(folds: Sequence[BenchmarkFold]) -> dict[str, dict[str, float]]:
    """Mean of each metric over folds (NaN folds skipped), per predictor."""
    out: dict[str, dict[str, float]] = {}
    for name in folds[0].metrics:
        keys = [k for k in folds[0].metrics[name] if k != "n_models"]
        out[name] = {key: float(np.nanmean([f.metrics[name][key] for f in folds])) if any(
            np.isfinite(f.metrics[name][key]) for f in folds) else float("nan") for key in keys}
        out[name]["n_folds"] = len(folds)
    return out


def evaluate_benchmarks(data: Dataset, predictors: Mapping[str, PredictorFactory],
                        benchmarks: Sequence[str] | None = None, k: int = 3, val_fraction: float = 0.1,
                        seed: int = 0, progress: Callable[[str], None] | None = None) -> BenchmarkEvaluation:
    """Leave each of `benchmarks` (default: all) out in turn; see the module docstring."""
    names = list(benchmarks) if benchmarks else data.table.benchmark_vocab.to_list()
    if len(data.table.benchmark_vocab) < 2:
        raise DataError("leave-one-benchmark-out needs at least two benchmarks", field="benchmark")
    if not predictors:
        raise ConfigError("no predictors to evaluate")
    folds = []
    for bench in names:
        if progress:
            progress(bench)
        folds.append(evaluate_fold(data, bench, predictors, k, val_fraction, seed))
    settings = {"k": k, "val_fraction": val_fraction, "seed": seed, "predictors": list(predictors),
                "truth": "mean 0/1 label per model over its observed queries of the held-out benchmark",
                "prediction": "mean predicted probability over the same queries, benchmark name hidden"}
    return BenchmarkEvaluation(folds, summarise(folds), settings)

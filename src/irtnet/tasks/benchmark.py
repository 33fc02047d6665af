"""Benchmark accuracy prediction (docs/method.md section 2.4): a model's accuracy on a set of queries that no
model was run on, predicted as the mean predicted probability over the queries' texts.

Evaluation leaves one benchmark out: every predictor is fitted on the other benchmarks, then predicts each
model's accuracy on the held-out benchmark from its texts alone (the benchmark's name is hidden, since it
is new), scored against the true accuracies over models: mean absolute error, Pearson and Spearman
correlation, and top-k recovery (share of the true k best models among the predicted k best).

The anchor setting (issue 14, item 2) extends it: every known model has answered `n` items of the new benchmark
(its *anchor items*), and a model's accuracy is estimated from those answers and the predictor's probabilities
(`tasks/anchors.py`: the level shift, the share of it the anchors support, each model's shrunk residual). The n
items are the first n of a seeded random order of the benchmark's items, in several draws (orders); each metric
is its mean over the draws, and the paired comparison's interval resamples models and draws crossed. Beside the
predictors, `anchor-mean` is each model's plain mean over the anchor items. The zero-item end of this curve is
the text-only leave-one-benchmark-out figure.

With a `StepCache`, each held-out benchmark's fold is saved as soon as it is scored, and a rerun with the same
table, models and settings reads it instead of training again (`tasks/step_cache.py`).

Pure cores: `benchmark_scores` (mean probability per group), `accuracy_prediction_metrics`, `paired_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from irtnet._io import nan_for_null
from irtnet.data.dataset import Dataset, Queries
from irtnet.data.splits import leave_one_benchmark_out
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import Predictor
from irtnet.tasks.anchors import (ANCHOR_MEAN, DEFAULT_SHIFT, SHIFT_PRIOR_SD, anchor_curve, check_shift,
                                  interval_curve)
from irtnet.tasks.evaluate import score_matrix
from irtnet.tasks.stats import crossed_interval, unit_interval, verdict
from irtnet.tasks.step_cache import StepCache, load_step, open_cache, save_step, step_path

PredictorFactory = Callable[[], Predictor]
#: How each `ANCHOR_SHIFTS` rule is described in a result's settings.
_SHIFT_TEXT = {"cautious": "the smallest share of it within one standard error of the best when each anchor item "
                           "is left out in turn",
               "chosen": "the share of it chosen by leaving each anchor item out",
               "whole": "all of it"}
#: The level of the anchor setting's intervals whose coverage and width are scored (the evaluated predictor's and
#: the plain anchor mean's Wilson interval).
INTERVAL_LEVEL = 0.9


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
    (`top_k_recovery`).
    """
    keep = ~(np.isnan(pred) | np.isnan(true))
    pred, true = np.asarray(pred)[keep], np.asarray(true)[keep]
    return {"n_models": int(len(true)), "mae": float(np.mean(np.abs(pred - true))) if len(true) else float("nan"),
            "bias": float(np.mean(pred - true)) if len(true) else float("nan"),
            "pearson": _correlation(stats.pearsonr, pred, true),
            "spearman": _correlation(stats.spearmanr, pred, true), f"top{k}_recovery": top_k_recovery(pred, true, k)}


def top_k_recovery(pred: np.ndarray, true: np.ndarray, k: int) -> float:
    """The share of the k models predicted best that are among the k truly best, a model tied with the k-th best
    counting as one of them (with ties the true top k is not one set). NaN where there are no more than k models:
    every model is then among the k best, and recovering them says nothing."""
    if len(true) <= k:
        return float("nan")
    kth_best = np.sort(true)[::-1][k - 1]
    return float(np.mean(true[np.argsort(-pred, kind="stable")[:k]] >= kth_best))


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
    # the anchor setting: {n anchor items: {predictor (and anchor-mean): metrics / accuracies}}, and the shifts
    anchored: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    anchored_predicted: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)  # [draws][models]
    shifts: dict[str, dict[str, float]] = field(default_factory=dict)
    text_twins_left_out: int = 0  # training queries of other benchmarks with a held-out query's exact text


@dataclass
class BenchmarkEvaluation:
    """Leave-one-benchmark-out results: one fold per benchmark and the mean of each metric per predictor."""

    folds: list[BenchmarkFold]
    summary: dict[str, dict[str, float]]
    settings: dict[str, Any] = field(default_factory=dict)
    anchored: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # per n: `summarise`'s means
    paired: list[dict[str, Any]] = field(default_factory=list)  # `paired_errors`
    run: dict[str, Any] = field(default_factory=dict)  # this invocation's folds, computed and read from the cache

    def to_dict(self) -> dict[str, Any]:
        return {"task": "benchmark-accuracy", "settings": self.settings, "run": self.run, "summary": self.summary,
                "anchored": self.anchored, "paired": self.paired, "folds": [asdict(f) for f in self.folds]}


def true_accuracies(test: Dataset, value: str = "label") -> np.ndarray:
    """Each model's mean `value` ("label" or "score") over its observed queries of `test` [M]."""
    lab = test.table.label_matrix(value=value)
    with np.errstate(invalid="ignore"):
        return np.nanmean(lab, axis=0)


def _anchor_curve(fold: BenchmarkFold, probs: Mapping[str, np.ndarray], labels: np.ndarray, true: np.ndarray,
                  anchors: Sequence[int], k: int, seed: int, draws: int, shift: str) -> None:
    """Fill `fold.anchored` (each metric's mean over the draws; the first predictor's and the anchor mean's interval
    `coverage` and `width`, NaN for the others), `fold.anchored_predicted` ([draws][M] accuracies) and `fold.shifts`
    (the mean shift applied) at each n of `anchors` below the benchmark's size."""
    curve = anchor_curve(probs, labels, anchors, fold.benchmark, seed, draws, shift)
    first = next(iter(probs))
    bounds = interval_curve({first: probs[first]}, labels, anchors, fold.benchmark, seed, draws, shift,
                            INTERVAL_LEVEL)
    for n, entries in curve.items():
        fold.anchored[str(n)] = {name: {**_draw_means([accuracy_prediction_metrics(a, true, k) for a in accs]),
                                        **_interval_scores(bounds[n].get(name), true)}
                                 for name, (accs, _) in entries.items()}
        fold.anchored_predicted[str(n)] = {name: accs.tolist() for name, (accs, _) in entries.items()}
        fold.shifts[str(n)] = {name: float(np.mean(d)) for name, (_, d) in entries.items() if name != ANCHOR_MEAN}


def _interval_scores(bounds: tuple[np.ndarray, np.ndarray] | None, true: np.ndarray) -> dict[str, float]:
    """The share of (draw, model) intervals holding the model's true accuracy, and their mean width, over the
    models with one; NaN without intervals."""
    if bounds is None or not np.isfinite(true).any():
        return {"coverage": float("nan"), "width": float("nan")}
    lower, upper = (b[:, np.isfinite(true)] for b in bounds)
    truth = true[np.isfinite(true)]
    return {"coverage": float(np.mean((lower <= truth) & (truth <= upper))), "width": float(np.mean(upper - lower))}


def _draw_means(per_draw: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each metric's mean over the anchor draws (NaN draws skipped; NaN where every draw is)."""
    out = {}
    for key in per_draw[0]:
        values = np.array([m[key] for m in per_draw], dtype=np.float64)
        out[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    out["n_models"] = int(per_draw[0]["n_models"])
    return out


def held_out_fold(data: Dataset, benchmark: str, val_fraction: float = 0.1, seed: int = 0
                  ) -> tuple[Any, Dataset, Dataset | None, Dataset, Dataset]:
    """(the split, training, validation or None, the held-out benchmark's data with only the models training
    knows, the same with its benchmark names hidden) of `benchmark` held out (`splits.leave_one_benchmark_out`)."""
    split = leave_one_benchmark_out(data.table, benchmark, val_fraction, seed)
    train = data.select(split.train)
    val = data.select(split.val) if split.val else None
    test = data.select(split.test)
    test = test.select(model_ids=[m for m in test.table.model_vocab.ids if m in train.table.model_vocab])
    return split, train, val, test, Dataset(test.table, test.queries.without_groups())


def evaluate_fold(data: Dataset, benchmark: str, predictors: Mapping[str, PredictorFactory],
                  k: int = 3, val_fraction: float = 0.1, seed: int = 0, anchors: Sequence[int] = (),
                  anchor_draws: int = 1, anchor_shift: str = DEFAULT_SHIFT) -> BenchmarkFold:
    """Fit every predictor without `benchmark`, then predict its models' accuracies from texts alone, and with
    `anchors` items of it answered by every model (`_anchor_curve`)."""
    split, train, val, test, hidden = held_out_fold(data, benchmark, val_fraction, seed)
    known = list(test.table.model_vocab.ids)
    observed = ~np.isnan(test.table.label_matrix())
    true = true_accuracies(test)
    fold = BenchmarkFold(benchmark, test.table.n_queries, known, true.tolist(),
                         text_twins_left_out=len(split.params.get("text_twins_left_out", ())))
    probs = {}
    for name, make in predictors.items():
        probs[name] = prob = score_matrix(make().fit(train, val), hidden)
        pred = benchmark_scores(prob, np.full(len(prob), benchmark, dtype=object), observed)[benchmark]
        fold.predicted[name] = pred.tolist()
        fold.metrics[name] = accuracy_prediction_metrics(pred, true, k)
    _anchor_curve(fold, probs, test.table.label_matrix(), true, anchors, k, seed, anchor_draws, anchor_shift)
    return fold


def summarise(folds: Sequence[BenchmarkFold]) -> dict[str, dict[str, float]]:
    """Mean of each metric over folds (NaN folds skipped), per predictor."""
    return _means([f.metrics for f in folds])


def _means(per_fold: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in per_fold[0]:
        keys = [k for k in per_fold[0][name] if k != "n_models"]
        out[name] = {key: float(np.nanmean([m[name][key] for m in per_fold])) if any(
            np.isfinite(m[name][key]) for m in per_fold) else float("nan") for key in keys}
        out[name]["n_folds"] = len(per_fold)
    return out


def paired_errors(folds: Sequence[BenchmarkFold], a: str, n_boot: int = 2000, seed: int = 0,
                  level: float = 0.95) -> list[dict[str, Any]]:
    """`a`'s absolute error minus each other entry's, per number of anchor items (0: no item answered), over the
    same (benchmark, model) cells, and with anchors over the same draws of anchor items: the mean difference and
    a percentile bootstrap interval over models (a model's errors on the held-out benchmarks move together), and
    with several draws over models and draws crossed (`stats.crossed_interval`: the draws' luck is noise too),
    with the verdict (lower error wins)."""
    rows = []
    for n in ["0", *sorted({n for f in folds for n in f.anchored}, key=int)]:
        per = [(f, f.predicted if n == "0" else f.anchored_predicted.get(n, {})) for f in folds]
        for b in dict.fromkeys(name for _, preds in per for name in preds if name != a):
            models, draws, diffs = [], [], []
            for f, preds in per:
                if a in preds and b in preds:
                    d = np.atleast_2d(_errors(preds[a], f.true) - _errors(preds[b], f.true))  # [draws, M]
                    for r, row in enumerate(d):
                        keep = ~np.isnan(row)
                        models += [m for m, ok in zip(f.models, keep) if ok]
                        draws += [r] * int(keep.sum())
                        diffs += row[keep].tolist()
            if diffs:
                rows.append({"n": int(n), "a": a, "b": b, **_model_bootstrap(models, np.array(diffs), n_boot, seed,
                                                                               level, np.array(draws))})
    return rows


def _errors(pred: Sequence[Any], true: Sequence[float]) -> np.ndarray:
    """Absolute errors of one prediction [M], or of each anchor draw's [draws, M]."""
    return np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64))


def _model_bootstrap(models: Sequence[str], diffs: np.ndarray, n_boot: int, seed: int,
                     level: float, draws: np.ndarray | None = None) -> dict[str, Any]:
    """The mean difference, its bootstrap interval over models (and over `draws` crossed with them where there
    are several) and the verdict; "n/a" with a reason where one model leaves no spread between models to
    resample. Differences within rounding of 0 (two entries giving the same accuracies by different sums) count
    as 0, so they tie rather than let float noise pick a side."""
    diffs = np.where(np.abs(diffs) <= _SAME, 0.0, diffs)
    codes, uniq = pd.factorize(np.asarray(models, dtype=object))
    out = {"diff": float(diffs.mean()), "n_cells": len(diffs), "n_models": len(uniq)}
    if len(uniq) < 2:
        return {**out, "lo": float("nan"), "hi": float("nan"), "verdict": "n/a",
                "reason": "one model: an interval over models needs at least two"}
    if draws is not None and draws.max() > 0:
        out["n_draws"] = int(draws.max()) + 1
        lo, hi = crossed_interval(codes, draws, diffs, n_boot, seed, level)
    else:
        lo, hi = unit_interval(codes, diffs, n_boot, seed, level)
    return {**out, "lo": lo, "hi": hi, "verdict": verdict(float(lo), float(hi), higher_is_better=False)}


_SAME = 1e-12  # absolute errors of accuracies closer than this are equal


def summarise_anchored(folds: Sequence[BenchmarkFold]) -> dict[str, dict[str, dict[str, float]]]:
    """Per number of anchor items: `summarise`'s means over the folds whose benchmark is larger than it."""
    ns = sorted({n for f in folds for n in f.anchored}, key=int)
    return {n: _means([f.anchored[n] for f in folds if n in f.anchored]) for n in ns}


def evaluate_benchmarks(data: Dataset, predictors: Mapping[str, PredictorFactory],
                        benchmarks: Sequence[str] | None = None, k: int = 3, val_fraction: float = 0.1,
                        seed: int = 0, progress: Callable[[str], None] | None = None,
                        anchors: Sequence[int] = (), cache: StepCache | None = None, anchor_draws: int = 10,
                        anchor_shift: str = DEFAULT_SHIFT) -> BenchmarkEvaluation:
    """Leave each of `benchmarks` (default: all) out in turn, and score the anchor setting at each n of
    `anchors` (numbers of items every model answered) over `anchor_draws` random draws of those items, applying
    the level shift `anchor_shift` ("chosen", "cautious": the share `anchors.shift_weight` picks by that rule;
    "whole"); see the module
    docstring. With `cache`, each fold is kept as it finishes and read back on a rerun."""
    if len(data.table.benchmark_vocab) < 2:
        raise DataError("leave-one-benchmark-out needs at least two benchmarks", field="benchmark")
    names = data.table.benchmark_vocab.to_list() if benchmarks is None else _held_out(data, benchmarks)
    if not predictors:
        raise ConfigError("no predictors to evaluate")
    if not 1 <= k < data.table.n_models:
        raise ConfigError(f"--k: top-k recovery needs k from 1 to one less than the {data.table.n_models} models "
                          f"(with k >= the models every top k is recovered), got {k}")
    check_anchor_options(anchor_draws, anchor_shift)
    _refuse_unknown_models(data, names)
    anchors, skipped = _usable_anchors(data, names, anchors)
    cache = open_cache(cache, data.table)
    folds, read = [], 0
    for bench in names:
        path = None if cache is None else step_path(cache, str(bench), {
            "task": "benchmark-accuracy", "benchmark": bench, "predictors": list(predictors), "k": k,
            "val_fraction": val_fraction, "seed": seed, "anchors": [int(n) for n in anchors],
            **({"anchor_draws": int(anchor_draws), "anchor_shift": anchor_shift,
                "interval_level": INTERVAL_LEVEL} if anchors else {})})
        done = _fold_from_record(load_step(path))
        if done is not None:
            read += 1
            if progress:
                progress(f"{bench}: read from {path}")
            folds.append(done)
            continue
        if progress:
            progress(bench)
        folds.append(evaluate_fold(data, bench, predictors, k, val_fraction, seed, anchors, int(anchor_draws),
                                   anchor_shift))
        save_step(path, asdict(folds[-1]))
    settings = {"k": k, "val_fraction": val_fraction, "seed": seed, "predictors": list(predictors),
                "truth": "mean 0/1 label per model over its observed queries of the held-out benchmark",
                "prediction": "mean predicted probability over the same queries, benchmark name hidden",
                "anchors": [int(n) for n in anchors], "anchors_skipped": skipped,
                "anchor_draws": int(anchor_draws), "anchor_shift": anchor_shift,
                "anchored": "observed labels on n random anchor items of the benchmark (answered by every model) "
                            "plus the probabilities elsewhere shifted by one logit offset fitted on them "
                            f"(prior sd {SHIFT_PRIOR_SD}; " + _SHIFT_TEXT[anchor_shift]
                            + "); anchor-mean: the mean of each model's anchor answers; each metric is its mean "
                              f"over {int(anchor_draws)} draws of the anchor items; a paired comparison pairs "
                              "the same (benchmark, model, draw) cells (its n_cells) and resamples models and "
                              "draws crossed",
                "interval": f"coverage: the share of (draw, model) {INTERVAL_LEVEL:.0%} intervals holding the true "
                            f"accuracy, width their mean width; for {next(iter(predictors))} its predictive interval "
                            "(tasks.anchors.anchored_interval), for anchor-mean Wilson's on its answers; NaN for "
                            "the others"}
    first = next(iter(predictors))
    run = {"folds_computed": len(names) - read, "folds_from_cache": read,
           "step_cache": None if cache is None else str(cache.folder)}
    return BenchmarkEvaluation(folds, summarise(folds), settings, summarise_anchored(folds),
                               paired_errors(folds, first, seed=seed), run)


def check_anchor_options(anchor_draws: Any, anchor_shift: Any) -> None:
    """The anchor setting's draws (a whole number of at least 1) and shift rule (`anchors.ANCHOR_SHIFTS`): a ConfigError
    naming the option, before any table is read."""
    if isinstance(anchor_draws, bool) or not isinstance(anchor_draws, (int, np.integer)) or anchor_draws < 1:
        raise ConfigError(f"--anchor-draws must be a whole number of at least 1, got {anchor_draws!r}")
    check_shift(anchor_shift)


def _held_out(data: Dataset, benchmarks: Sequence[str]) -> list[str]:
    """The benchmarks asked to be held out: each a benchmark of the table, given once; none given is an error, never
    read as "all"."""
    if not benchmarks:
        raise ConfigError("--benchmarks is empty: name the benchmarks to hold out, or leave the option out for all")
    known = set(data.table.benchmark_vocab.to_list())
    unknown = [b for b in benchmarks if b not in known]
    if unknown:
        raise ConfigError(f"--benchmarks: unknown benchmark(s) {', '.join(map(repr, unknown))}; the table has "
                          f"{', '.join(sorted(known))}")
    repeated = sorted({b for b in benchmarks if list(benchmarks).count(b) > 1})
    if repeated:
        raise ConfigError(f"--benchmarks: {', '.join(map(repr, repeated))} given twice (each fold would count "
                          "again); name each benchmark once")
    return list(benchmarks)


def _refuse_unknown_models(data: Dataset, names: Sequence[str]) -> None:
    """A held-out benchmark none of whose models answered another benchmark has no model the predictors trained
    without it know (a fold of no models): a DataError naming it, before any fold is trained."""
    responses = data.table.responses
    models = responses["model"].astype(str).to_numpy(dtype=object)
    benches = data.table.benchmarks_of(responses["query"].astype(str).to_numpy(dtype=object))
    for bench in names:
        inside = set(models[benches == bench])
        if not inside & set(models[benches != bench]):
            shown = ", ".join(map(repr, sorted(inside)[:3])) + (" ..." if len(inside) > 3 else "")
            raise DataError(f"held-out benchmark {bench!r}: none of its {len(inside)} model(s) ({shown}) answered "
                            "another benchmark, so the predictors trained without it know none of them; hold out "
                            "the other benchmarks (--benchmarks)", field="benchmark")


def _usable_anchors(data: Dataset, names: Sequence[str], anchors: Sequence[int]) -> tuple[list[int], dict[str, str]]:
    """(the numbers of anchor items some held-out benchmark has more items than, {each other n: why it is skipped});
    checked before training: an n below 1, or none usable where some were asked, is an error."""
    if any(int(n) < 1 for n in anchors):
        raise ConfigError(f"numbers of anchor items must be at least 1, got {list(anchors)}")
    sizes = data.table.queries["benchmark"].astype(str).value_counts()
    largest = max(int(sizes.get(str(b), 0)) for b in names)
    usable = [int(n) for n in anchors if int(n) < largest]
    skipped = {str(int(n)): f"not fewer than the {largest} items of the largest held-out benchmark"
               for n in anchors if int(n) >= largest}
    if anchors and not usable:
        raise ConfigError(f"--anchors: every number of anchor items ({', '.join(map(str, anchors))}) is at least "
                          f"the {largest} items of the largest held-out benchmark; use fewer, or '' for none")
    return usable, skipped


def _fold_from_record(record: dict[str, Any] | None) -> BenchmarkFold | None:
    """A fold saved by `evaluate_benchmarks` (`asdict`), its numbers as floats again (NaN where null); None
    where there is none or it has another shape (it is computed again)."""
    numbers = ("true", "predicted", "metrics", "anchored", "anchored_predicted", "shifts")
    if record is None:
        return None
    try:
        return BenchmarkFold(**{**record, **{key: nan_for_null(record[key]) for key in numbers}})
    except (KeyError, TypeError):
        return None

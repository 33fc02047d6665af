"""The known models replayed through a new model's design (`estimate.estimate_accuracy`'s default misfit
correction, docs/estimation.md): each known model's ability is fitted from its own labels of the answered items
only, and its error on each benchmark's unanswered items measures what the new model's estimate will get wrong.

Per benchmark g the replayed models give e (plug-in error on g's unanswered mean) and d (mean residual on g's
answered items); the weight lambda_g of the new model's own residual minimises their squared error, and that
error's root mean square gives a Student-t interval (`replay_benchmark`). Because every replayed model is the
same model on every benchmark, its errors on all benchmarks add up to its error on the overall accuracy, which
gives the overall interval with the benchmarks' correlation included (`replay_overall`).

Pure functions of numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.tasks.onboard import Prior, fit_theta

MIN_REPLAYED = 5  # known models with labels on a benchmark's unanswered items that replay needs
#: How replay's weight lambda is fitted: on every benchmark's replayed models at once, on each benchmark's own, or
#: the first unless the second predicts the replayed models clearly better out of sample (`choose_replay_weight`).
REPLAY_WEIGHTS = ("auto", "pooled", "per-benchmark")


def check_replay_weight(replay_weight: str) -> None:
    """ConfigError unless `replay_weight` is one of REPLAY_WEIGHTS (checked before any fitting)."""
    if replay_weight not in REPLAY_WEIGHTS:
        raise ConfigError(f"unknown replay_weight {replay_weight!r}; choose from {REPLAY_WEIGHTS}")


def check_replay_priors(priors: Sequence[Prior], n_known: int) -> None:
    """DataError unless there is exactly one replay prior per known model."""
    if len(priors) != n_known:
        raise DataError(f"{len(priors)} replay priors for {n_known} known models", field="replay_priors")


def replay_errors(a: np.ndarray, b: np.ndarray, names: np.ndarray, answered: np.ndarray, known: np.ndarray,
                  priors: Sequence[Prior]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The known models replayed through the new model's design: each one's ability fitted by MAP (under its
    own prior: `priors`, one per column of `known`) from its own labels of the answered items only, then per
    benchmark g, over the models with labels on g's unanswered items, (e [M_g]: plug-in mean of those items
    minus its realised mean there, d [M_g]: its mean residual y - P over g's answered items, 0 where it has
    none, models [M_g]: their columns of `known`)."""
    is_answered = np.zeros(len(b), bool)
    is_answered[answered] = True
    seen = ~np.isnan(known)
    fit = seen & is_answered[:, None]
    check_replay_priors(priors, known.shape[1])
    theta = np.array([fit_theta(a[f], b[f], known[f, m], priors[m].mean, priors[m].precision)
                      for m, f in enumerate(fit.T)]).reshape(known.shape[1], a.shape[1])
    prob = irt_probability(theta, a, b)  # [Q, M]
    resid = np.where(fit, np.nan_to_num(known) - prob, 0.0)
    out = {}
    for g in sorted(set(names.tolist())):
        rows = names == g
        free = seen & (rows & ~is_answered)[:, None]
        n_free, n_ans = free.sum(axis=0), (fit & rows[:, None]).sum(axis=0)
        ok = n_free > 0
        e = (np.where(free, prob - np.nan_to_num(known), 0.0).sum(axis=0)[ok]) / n_free[ok]
        d = resid[rows].sum(axis=0)[ok] / np.maximum(n_ans[ok], 1)
        out[g] = (e, d, np.flatnonzero(ok))
    return out


def _replayed(e: np.ndarray, d: np.ndarray, lam: float | None = None) -> tuple[float, float]:
    """(lambda, mean squared error) of plug-in + lambda * residual over the replayed models: lambda (unless
    given) = -mean(e d) / mean(d^2) in [0, 1], the weight that minimises their squared error."""
    if lam is None:
        dd = float(np.mean(d * d))
        lam = float(np.clip(-np.mean(e * d) / dd, 0, 1)) if dd > 0 else 0.0
    return lam, float(np.mean((e + lam * d) ** 2))


def _pooled_weight(replay: dict[str, tuple[np.ndarray, ...]]) -> float | None:
    """`_replayed`'s lambda over the (e, d) of every benchmark with at least MIN_REPLAYED replayed models
    (None where there is none)."""
    used = [v for v in replay.values() if len(v[0]) >= MIN_REPLAYED]
    if not used:
        return None
    return _replayed(np.concatenate([v[0] for v in used]), np.concatenate([v[1] for v in used]))[0]


def choose_replay_weight(replay: dict[str, tuple[np.ndarray, ...]], shares: dict[str, float]) -> str:
    """"pooled" or "per-benchmark", chosen on the replayed known models out of sample. Each model's corrected
    error e + lambda d on each benchmark with at least MIN_REPLAYED replayed models is taken with lambda fitted
    without that model (leave one model out: on every benchmark's other models, or on the benchmark's own other
    models), squared and weighted by the square of the benchmark's unanswered share of its items (`shares`,
    n_free / n_g: the error's weight on the benchmark's accuracy), and summed per model. The per-benchmark
    weights (one per benchmark, the richer choice) replace the pooled one only when they lower that loss by more
    than two standard errors of the per-model paired difference, so noise keeps the single weight; "per-benchmark"
    with fewer than two such benchmarks, where the two are one."""
    used = {g: v for g, v in replay.items() if len(v[0]) >= MIN_REPLAYED}
    if len(used) < 2:
        return "per-benchmark"
    e, d, models = (np.concatenate([v[k] for v in used.values()]) for k in range(3))
    w = np.concatenate([np.full(len(v[0]), shares[g] ** 2) for g, v in used.items()])
    bench = np.concatenate([np.full(len(v[0]), i) for i, v in enumerate(used.values())])
    _, unit = np.unique(models, return_inverse=True)
    gain = np.bincount(unit, _loo_losses(e, d, w, np.zeros(len(e)), models) - _loo_losses(e, d, w, bench, models))
    better = len(gain) > 1 and gain.mean() > 2 * gain.std(ddof=1) / np.sqrt(len(gain))
    return "per-benchmark" if better else "pooled"


def _loo_losses(e: np.ndarray, d: np.ndarray, w: np.ndarray, group: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Each row's w (e + lambda d)^2, its lambda `_replayed`'s weight fitted on the rows of its `group` without
    those of its `model`: the group's sums of e d and d^2 less the (group, model) pair's."""
    _, g = np.unique(group, return_inverse=True)
    _, gm = np.unique(np.stack([g, np.unique(model, return_inverse=True)[1]]), axis=1, return_inverse=True)
    gm = gm.ravel()
    ed, dd = (np.bincount(g, v)[g] - np.bincount(gm, v)[gm] for v in (e * d, d * d))
    lam = np.clip(-np.divide(ed, dd, out=np.zeros(len(e)), where=dd > 0), 0, 1)
    return w * (e + lam * d) ** 2


def _leverage(d_new: float, d: np.ndarray) -> float:
    """1 + d_new^2 / sum d^2: the prediction variance's factor for a new point at residual d_new when the slope
    lambda was fitted on the replayed residuals d (least squares through the origin), 1 when d is all zero."""
    dd = float(np.sum(d * d))
    return 1.0 + d_new * d_new / dd if dd > 0 else 1.0


@dataclass(frozen=True)
class ReplayedBenchmark:
    """One benchmark's replay-corrected estimate: the unanswered items' mean and the interval's half-width on
    the benchmark's accuracy, and what the overall interval needs (each replayed model's corrected error on
    the unanswered mean, the columns of those models, the mean squared error and the leverage)."""

    mean: float
    half: float
    errors: np.ndarray
    models: np.ndarray
    mse: float
    leverage: float


def replay_benchmark(replayed: tuple[np.ndarray, np.ndarray, np.ndarray], p_free_mean: float, d_new: float,
                     n_free: int, n_items: int, level: float, lam: float | None = None) -> ReplayedBenchmark:
    """The unanswered mean Pbar_free + lambda d_new (lambda: `_replayed`, unless given) and the Student-t
    half-width t_{M-1} sqrt(mse M / (M - 1) leverage) n_free / n_items over the M replayed models `replayed`
    (e, d, models) of one benchmark (`replay_errors`)."""
    e, d, models = replayed
    lam, mse = _replayed(e, d, lam)
    m, lev = len(e), _leverage(d_new, d)
    half = student_t.ppf((1 + level) / 2, m - 1) * np.sqrt(mse * m / (m - 1) * lev) * n_free / n_items
    return ReplayedBenchmark(float(p_free_mean + lam * d_new), float(half), e + lam * d, np.asarray(models), mse, lev)


def replay_overall(parts: Sequence[tuple[ReplayedBenchmark, int]], n_total: int, level: float) -> float | None:
    """The half-width of the overall accuracy's interval from replayed benchmarks `parts` [(benchmark, its
    number of unanswered items)] over `n_total` items: each model replayed on every one of them has the overall
    error sum_g (n_free_g / n_total) err_g, and the interval is Student's over those models (the benchmarks'
    correlation included), its leverage the benchmarks' mean weighted by their share of the variance. None where
    fewer than MIN_REPLAYED models were replayed on every benchmark."""
    if not parts:
        return 0.0
    common = set(parts[0][0].models.tolist())
    for r, _ in parts[1:]:
        common &= set(r.models.tolist())
    if len(common) < MIN_REPLAYED:
        return None
    cols = np.array(sorted(common))
    err = sum(n_free / n_total * r.errors[[dict(zip(r.models.tolist(), range(len(r.models))))[c] for c in cols]]
              for r, n_free in parts)
    var = np.array([(n_free / n_total) ** 2 * r.mse for r, n_free in parts])
    lev = float(var @ [r.leverage for r, _ in parts] / var.sum()) if var.sum() > 0 else 1.0
    m = len(cols)
    return float(student_t.ppf((1 + level) / 2, m - 1) * np.sqrt(np.mean(err ** 2) * m / (m - 1) * lev))

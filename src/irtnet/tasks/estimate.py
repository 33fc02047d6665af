"""Few answers, whole picture: a new model's accuracy on every benchmark of a pool of items, from the answers
it gave on a few of them (docs/estimation.md).

With the query network frozen, every pool item has its a_q [d] and b_q, and the new model's ability theta is
fitted by MAP from its answers (`onboard.fit_theta`). Its posterior is taken as Gaussian (Laplace): the MAP
and the inverse of the Hessian there, H = sum_i p_i (1 - p_i) a_i a_i^T + P (Fisher information of the
answered items plus the prior precision). A benchmark's accuracy is its realised share of correct answers
over *all* its items:

    acc_g = (sum of observed y on its answered items + sum of P(correct) on its unanswered items) / n_g

and its interval is a *predictive* interval of that realised share: theta drawn from the posterior, then
each unanswered item's outcome drawn as a Bernoulli of its probability under that theta. The interval covers
both what is unknown about the model and the luck of the items it has not been run on.

With the known models' labels of the pool (`known_labels`), the estimate is corrected for the network's
*misfit*, in the spirit of tinyBenchmarks' gp-IRT but with irtnet's own a, b (`estimate_accuracy`): the
frozen a, b do not describe every model on every benchmark, so the new model's own residual on benchmark g,
the mean of y - P over its answered items of g, is added to the plug-in with a weight lambda_g in [0, 1]:

    unanswered mean = Pbar_free(theta) + lambda_g (ybar_ans - Pbar_ans(theta))

Few answers or a well-fitting network: the plug-in; many answers: the plug-in plus the observed residual,
which converges to the sample mean (and equals the observed share once every item is answered). lambda_g and
the interval come from the known models: by default ("replay") each known model is put through the new
model's design (ability from its own labels of the answered items only, under a prior built without it),
and lambda_g is the weight that minimises their squared error on g's unanswered items, whose root mean
square (with that lambda_g) gives a Student-t prediction interval (degrees of freedom: the known models less
one; widened where the new model's residual lies beyond theirs, as the fitted weight errs more there); or
("in-sample", "split-half") from a misfit variance sigma_g^2 (`benchmark_misfit`) by inverse-variance
weights, with the interval from the draws plus the misfit left.

Pure functions of numpy arrays: `estimate_accuracy`, `benchmark_misfit`, `answers_for_width` (how many more
answers would narrow each interval to a target width), `plan_items` (which items to run first),
`routing_profile`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.tasks.estimate_replay import (MIN_REPLAYED, ReplayedBenchmark, _pooled_weight, check_replay_priors,
                                          check_replay_weight, choose_replay_weight, replay_benchmark, replay_errors,
                                          replay_overall)
from irtnet.tasks.onboard import Prior, fisher_weight, fit_theta

PLAN_STRATEGIES = ("adaptive", "balanced", "anchor")
WIDTH_STRATEGIES = ("d-optimal", "fisher")
_CHUNK = 1 << 22  # probabilities drawn at once (doubles): 32 MiB
OVERALL = "(all benchmarks)"  # the name of `estimate_accuracy(overall=True)`'s last row
RESERVED_BENCHMARKS = (OVERALL, "all")  # rows over every benchmark ("all": routing profile, summary): no names


@dataclass(frozen=True)
class BenchmarkEstimate:
    """One benchmark's estimated accuracy and its predictive interval at `level`."""

    benchmark: str
    n_items: int
    n_answered: int
    estimate: float
    lower: float
    upper: float
    level: float
    #: how the known models corrected it: "replay, pooled weight", "replay, per-benchmark weight", "in-sample",
    #: "split-half", "given misfit"; None for the plain IRT estimate (and the baselines'); the overall row joins
    #: its benchmarks' with " + "
    correction: str | None = None

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pool(a: np.ndarray, b: np.ndarray, groups: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    names = np.asarray([str(g) for g in groups], dtype=object)
    if a.ndim != 2 or b.shape != (len(a),) or len(names) != len(a):
        raise DataError(f"pool shapes do not match: a {a.shape}, b {b.shape}, groups {len(names)}", field="pool")
    if len(a) == 0:
        raise DataError("the pool of items is empty", field="pool")
    return a, b, names


def _answers(n_pool: int, answered: Sequence[int], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Answered pool positions [n] (distinct, in range) and their outcomes [n] (finite, in [0, 1])."""
    idx, y = np.asarray(answered, dtype=np.int64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    if len(idx) != len(y):
        raise DataError(f"{len(idx)} answered items but {len(y)} outcomes", field="answers")
    if len(idx) and (idx.min() < 0 or idx.max() >= n_pool):
        raise DataError(f"answered positions must lie in 0..{n_pool - 1}", field="answers")
    if len(np.unique(idx)) != len(idx):
        raise DataError("an item is answered twice", field="answers")
    if not np.all(np.isfinite(y) & (y >= 0) & (y <= 1)):
        raise DataError("outcomes must be numbers in [0, 1] (no NaN)", field="correct")
    return idx, y


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ConfigError(f"level must lie strictly between 0 and 1, got {level}")


#: The range of a given ability-prior strength: far below it the ability's Hessian underflows to singular.
PRIOR_STRENGTH_RANGE = (1e-6, 1e6)


def check_prior_strength(strength: float | None) -> None:
    """ConfigError unless `strength` is None (chosen on the known models) or in PRIOR_STRENGTH_RANGE."""
    low, high = PRIOR_STRENGTH_RANGE
    if strength is not None and (isinstance(strength, bool) or not isinstance(strength, (int, float, np.number))):
        raise ConfigError(f"prior strength must be a number from {low:g} to {high:g}, or None to choose it on the "
                          f"known models (the command line's 'auto'), got {strength!r}")
    if strength is not None and not low <= strength <= high:  # also refuses NaN and infinity
        raise ConfigError(f"prior strength must lie from {low:g} to {high:g} (or 'auto'), got {strength}")


def laplace_posterior(a: np.ndarray, b: np.ndarray, answered: np.ndarray, y: np.ndarray,
                      prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """(MAP theta [d], posterior covariance [d, d]) from the answers y [n] to pool items `answered` [n]."""
    a_n, b_n = a[answered], b[answered]
    theta = fit_theta(a_n, b_n, y, prior.mean, prior.precision)
    w = fisher_weight(a_n, b_n, theta)
    cov = np.linalg.inv((a_n * w[:, None]).T @ a_n + prior.precision)
    return theta, (cov + cov.T) / 2


def posterior_draws(theta: np.ndarray, cov: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """[n_draws, d] draws of N(theta, cov) (cov may be near-singular: its square root by eigendecomposition)."""
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    return theta + rng.standard_normal((n_draws, len(theta))) @ root.T


MISFIT_FLOOR = 1e-4  # sigma_g^2 never below (0.01)^2: in-sample known models fit better than a new model will
COMBINE = ("residual", "mean")
MISFIT_METHODS = ("in-sample", "split-half")
def _draw_sums(a: np.ndarray, b: np.ndarray, draws: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For each theta draw [S, d]: (the summed probability [S], the number of Bernoulli draws that came out
    correct [S]) over items (a [n, d], b [n])."""
    prob, hits = np.zeros(len(draws)), np.zeros(len(draws))
    step = max(1, _CHUNK // max(len(draws), 1))
    for s in range(0, len(b), step):
        p = irt_probability(draws, a[s:s + step], b[s:s + step])  # [n_chunk, S]
        prob += p.sum(axis=0)
        hits += (rng.random(p.shape) < p).sum(axis=0)
    return prob, hits


def _known_inputs(known_labels: Any, known_theta: Any, n_pool: int, d: int) -> tuple[np.ndarray, np.ndarray | None]:
    known = np.asarray(known_labels, np.float64)
    if known.ndim != 2 or len(known) != n_pool or known.shape[1] < 1:
        raise DataError(f"known labels have shape {known.shape}, expected [{n_pool}, n_models]", field="known_labels")
    if known_theta is None:
        return known, None
    theta = np.asarray(known_theta, np.float64)
    if theta.shape != (known.shape[1], d):
        raise DataError(f"known abilities have shape {theta.shape}, expected [{known.shape[1]}, {d}] (one per "
                        "column of known_labels)", field="known_theta")
    return known, theta


def benchmark_misfit(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], known_labels: np.ndarray,
                     known_theta: np.ndarray | None = None, prior: Prior | None = None,
                     floor: float = MISFIT_FLOOR, method: str = "in-sample", seed: int = 0) -> dict[str, float]:
    """{benchmark: sigma_g^2}, the network's misfit variance of a benchmark's accuracy, from the known models
    (known_labels [Q, M], NaN where unobserved).

    "in-sample": for each known model m with labels on g, r = (its mean label on g) - (its plug-in mean P over
    the same items), with P at its ability known_theta[m] ([M, d], in the columns' order of known_labels), or,
    without it, at its MAP ability from all its labels under `prior`; sigma_g^2 = the mean over models of r^2.
    r also carries the Bernoulli luck of the model's items, sum p (1 - p) / n^2, but its ability was fitted to
    those very labels, which absorbs much of that luck and of the misfit, so nothing is subtracted: on planted
    data the raw mean square is close to a new model's misfit (subtracting the luck left only the floor).
    "split-half": cross-fitted, as a new model sees it: each known model's ability is fitted by MAP (under
    `prior`) on a seeded random half of the items, r is measured on the other half of g, and its luck there
    is subtracted: sigma_g^2 = mean of (r^2 - sum p (1 - p) / n^2).
    Either way at least `floor`; a benchmark no known model has labels on gets the mean over the others (the
    floor when there are none).
    """
    if method not in MISFIT_METHODS:
        raise ConfigError(f"unknown misfit method {method!r}; choose from {MISFIT_METHODS}")
    a, b, names = _pool(a, b, groups)
    known, theta = _known_inputs(known_labels, known_theta, len(b), a.shape[1])
    seen = ~np.isnan(known)
    scored = seen
    if method == "split-half" or theta is None:
        if prior is None:
            raise ConfigError("benchmark_misfit needs the known models' abilities or a prior to fit them")
        fit = seen
        if method == "split-half":
            half = np.random.default_rng(seed).random(len(b)) < 0.5
            fit, scored = seen & half[:, None], seen & ~half[:, None]
        theta = np.array([fit_theta(a[f], b[f], known[f, m], prior.mean, prior.precision)
                          for m, f in enumerate(fit.T)]).reshape(known.shape[1], a.shape[1])
    prob = irt_probability(theta, a, b)  # [Q, M]
    out: dict[str, float] = {}
    for g in sorted(set(names.tolist())):
        rows = names == g
        n = scored[rows].sum(axis=0)
        ok = n > 0
        if not ok.any():
            continue
        y, p = np.where(scored[rows], known[rows], 0.0), np.where(scored[rows], prob[rows], 0.0)
        r = (y.sum(axis=0)[ok] - p.sum(axis=0)[ok]) / n[ok]
        luck = (p * (1 - p)).sum(axis=0)[ok] / n[ok] ** 2 if method == "split-half" else 0.0
        out[g] = float(max(np.mean(r ** 2 - luck), floor))
    fill = float(np.mean(list(out.values()))) if out else floor
    return {g: out.get(g, fill) for g in sorted(set(names.tolist()))}


def estimate_accuracy(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], answered: Sequence[int],
                      y: Sequence[float], prior: Prior, level: float = 0.9, n_draws: int = 2000,
                      seed: int = 0, *, known_labels: np.ndarray | None = None,
                      known_theta: np.ndarray | None = None, misfit: dict[str, float] | None = None,
                      combine: str = "residual", misfit_method: str = "replay",
                      replay_items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
                      replay_priors: Sequence[Prior] | None = None,
                      replay_weight: str = "auto", overall: bool = False) -> list[BenchmarkEstimate]:
    """Each benchmark's accuracy from a new model's answers (see the module docstring), sorted by name.

    a [Q, d], b [Q], groups [Q]: every item of the pool (answered or not) and its benchmark; answered [n]:
    positions into the pool; y [n]: their outcomes in [0, 1]. The estimate is observed outcomes plus predicted
    probabilities at the MAP theta; [lower, upper] is the central `level` interval of the realised accuracy
    over `n_draws` joint draws of theta (Laplace posterior) and of the unanswered items' outcomes.

    Misfit correction, where `known_labels` [Q, M_known] (the known models' outcomes on the pool, NaN where
    unobserved; with `known_theta` [M_known, d] their abilities, else fitted by MAP under `prior`) or a
    precomputed `misfit` {benchmark: sigma_g^2} is given.

    Each estimate's `correction` says which of these corrected it.

    misfit_method="replay" (default, needs `known_labels`): each known model's ability is fitted by MAP under
    `prior` from its own labels of the answered items only (`replay_errors`); per benchmark, over the known
    models with labels on its unanswered items (at least `MIN_REPLAYED`, else "in-sample" is used), e = their
    plug-in error on the unanswered items' mean and d = their mean residual on the answered items; the
    unanswered mean is Pbar_free(theta) + lambda (ybar_ans - Pbar_ans(theta)) with lambda = -mean(e d) /
    mean(d^2) in [0, 1] (`_replayed`: the known models' least squared error), and the interval is Student's:
    estimate +- t_{M_g - 1} sqrt(mean (e + lambda d)^2 M_g / (M_g - 1) (1 + d_new^2 / sum d^2)) n_f / n_g,
    kept within [s / n_g, (s + n_f) / n_g] (s: the observed sum; d_new: the new model's own mean residual on g's
    answered items), which allows for the error variance being measured on only M_g models and for the weight
    fitted on them, whose error grows
    with the new residual's distance from theirs (`_leverage`; `n_draws`, `combine` unused). `replay_priors`
    [M_known]: each known model's own ability prior (built without it, as the new model's is built without the
    new model: `item_refit.refit_for_new_models`), else `prior`. `replay_weight` "pooled" fits one lambda on the
    replayed (e, d) of every benchmark with at least `MIN_REPLAYED` models (a few known models give a noisy
    slope per benchmark), each benchmark's error variance and leverage still from its own e and d;
    "per-benchmark" fits lambda on each benchmark's own; "auto" (default) keeps the pooled weight unless the
    per-benchmark ones predict the replayed models clearly better, each model left out in turn
    (`estimate_replay.choose_replay_weight`).

    `overall`: append the item-weighted accuracy over every benchmark (named OVERALL) with its interval
    (`_overall`; on the replayed benchmarks from each known model's summed replayed errors).

    `replay_items` [(a, b, columns of known_labels)]: each group of known models is replayed on its own item
    parameters instead of a, b (items refitted without them: `item_refit.refit_for_new_models`, or networks
    trained without them: `model_split`).

    misfit_method="in-sample" or "split-half": sigma_g^2 from `benchmark_misfit` (the known models'
    residuals at their abilities; or cross-fitted), combined as follows. On benchmark g with n_a answered
    and n_f unanswered items, the mean over the unanswered items is estimated as

        combine="residual" (default):  Pbar_free(theta) + lambda (ybar_ans - Pbar_ans(theta)),
                                       lambda = sigma_g^2 / (sigma_g^2 + v_res), v_res = mean p (1 - p) / n_a
                                       over the answered items (their residual's variance)
        combine="mean":                (1 - lambda) Pbar_free(theta) + lambda ybar_ans,
                                       lambda = v_irt / (v_irt + v_mean), v_irt = the delta-method posterior
                                       variance of Pbar_free + sigma_g^2, v_mean = pbar (1 - pbar) / n_a

    (lambda = 0 without answers on g), and the accuracy is (observed + n_f * that) / n_g. The draws evaluate
    the same formula at each theta draw, centre each Bernoulli sum of the unanswered items on its draw's
    probabilities, and add N(0, v) misfit noise to the mean (v = lambda v_res, or (1 - lambda)^2 sigma_g^2 +
    lambda^2 v_mean), so the interval covers the theta posterior, the misfit left after the answers, and the
    luck of the unanswered items. Without answers on g it is the plug-in with sigma_g^2 added; with every
    item answered it is the observed share, with zero width.
    """
    a, b, names = _pool(a, b, groups)
    idx, y = _answers(len(b), answered, y)
    _check_estimate_options(level, n_draws, combine, replay_weight, overall, names)
    replay: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    kind = None if misfit is None else "given misfit"  # what corrects the benchmarks replay does not
    if misfit is None and known_labels is not None:
        if misfit_method not in (*MISFIT_METHODS, "replay"):
            raise ConfigError(f"unknown misfit method {misfit_method!r}; choose from {(*MISFIT_METHODS, 'replay')}")
        if misfit_method == "replay":
            replay = _replayed(a, b, names, idx, known_labels, prior, replay_items, replay_priors)
        kind = "in-sample" if misfit_method == "replay" else misfit_method
        misfit = benchmark_misfit(a, b, names, known_labels, known_theta, prior, method=kind, seed=seed)
    weight = _weight_kind(replay_weight, replay, names, idx)
    pooled_lam = _pooled_weight(replay) if weight == "pooled" else None
    theta, cov = laplace_posterior(a, b, idx, y, prior)
    rng = np.random.default_rng(seed)
    draws = posterior_draws(theta, cov, n_draws, rng)
    y_full, is_answered = np.zeros(len(b)), np.zeros(len(b), bool)
    y_full[idx], is_answered[idx] = y, True
    out, replayed, realised_of = [], [], {}
    for g in sorted(set(names.tolist())):
        items = np.flatnonzero(names == g)
        free = items[~is_answered[items]]
        observed = float(y_full[items].sum())
        if misfit is None:
            point = (observed + irt_probability(theta, a[free], b[free]).sum()) / len(items)
            realised = (observed + _draw_sums(a[free], b[free], draws, rng)[1]) / len(items)
        elif len(free) and len(replay.get(g, ((),))[0]) >= MIN_REPLAYED:
            ans = items[is_answered[items]]
            p_ans = irt_probability(theta, a[ans], b[ans]) if len(ans) else np.zeros(0)
            d_new = float((y_full[ans] - p_ans).mean()) if len(ans) else 0.0
            r = replay_benchmark(replay[g], float(irt_probability(theta, a[free], b[free]).mean()), d_new, len(free),
                                 len(items), level, pooled_lam)
            point = (observed + len(free) * float(np.clip(r.mean, 0, 1))) / len(items)  # a mean of outcomes in [0, 1]
            replayed.append((r, len(free), len(items)))  # the interval: within what the unanswered items allow
            out.append(BenchmarkEstimate(g, len(items), len(items) - len(free), point, max(point - r.half, observed /
                                         len(items)), min(point + r.half, (observed + len(free)) / len(items)), level,
                                         f"replay, {weight} weight"))
            continue
        else:
            point, realised = _corrected(a, b, theta, cov, draws, items, free, items[is_answered[items]], y_full,
                                         observed, misfit.get(g, MISFIT_FLOOR), combine, rng)
        realised_of[g] = realised
        lower, upper = np.quantile(realised, [(1 - level) / 2, (1 + level) / 2])
        # the point is an expectation; with few unanswered items the draws' quantiles are a few discrete values
        # that can leave it out (0.998 shown against 1.000 - 1.000), so the interval is widened to hold it
        out.append(BenchmarkEstimate(g, len(items), len(items) - len(free), float(point), float(min(lower, point)),
                                     float(max(upper, point)), level, kind))
    feasible = (float(y.sum()) / len(b), (float(y.sum()) + len(b) - len(idx)) / len(b))
    return [*out, _overall(out, replayed, realised_of, level, feasible)] if overall else out


def _check_estimate_options(level: float, n_draws: int, combine: str, replay_weight: str, overall: bool,
                            names: np.ndarray) -> None:
    """ConfigError (DataError for a reserved benchmark name) naming the first bad option, before any fit."""
    _check_level(level)
    if n_draws < 1:
        raise ConfigError(f"n_draws must be at least 1, got {n_draws}")
    if combine not in COMBINE:
        raise ConfigError(f"unknown combine {combine!r}; choose from {COMBINE}")
    check_replay_weight(replay_weight)
    taken = [n for n in RESERVED_BENCHMARKS if overall and n in set(names.tolist())]  # rows over every benchmark
    if taken:
        raise DataError(f"a benchmark is named {taken[0]!r}, the name of a row over every benchmark; rename it",
                        field="benchmark")


def _replayed(a: np.ndarray, b: np.ndarray, names: np.ndarray, idx: np.ndarray, known_labels: np.ndarray,
              prior: Prior, replay_items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
              replay_priors: Sequence[Prior] | None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{benchmark: (e, d, known model columns)}: `replay_errors` of every group of known models on its own item
    parameters (`replay_items`, else a, b for all), joined per benchmark (see `estimate_accuracy`)."""
    known, _ = _known_inputs(known_labels, None, len(b), a.shape[1])
    priors = list(replay_priors) if replay_priors is not None else [prior] * known.shape[1]
    check_replay_priors(priors, known.shape[1])  # before the groups below index it
    items_of = replay_items or [(a, b, np.arange(known.shape[1]))]
    parts = [replay_errors(pa, pb, names, idx, known[:, cols], [priors[c] for c in cols])
             for pa, pb, cols in items_of]
    return {g: (*(np.concatenate([p[g][k] for p in parts if g in p]) for k in (0, 1)),  # e, d
                np.concatenate([cols[p[g][2]] for p, (_, _, cols) in zip(parts, items_of) if g in p]))
            for g in sorted({g for p in parts for g in p})}


def _weight_kind(replay_weight: str, replay: dict[str, tuple[np.ndarray, ...]], names: np.ndarray,
                 answered: np.ndarray) -> str:
    """replay's weight, "pooled" or "per-benchmark"; "auto" chooses on the replayed models (`choose_replay_weight`,
    each benchmark's error weighted by its unanswered share of its items)."""
    if replay_weight != "auto":
        return replay_weight
    n_answered = Counter(names[np.unique(answered)].tolist())
    size = Counter(names.tolist())
    return choose_replay_weight(replay, {g: 1 - n_answered[g] / size[g] for g in replay})


def _overall(estimates: list[BenchmarkEstimate], replayed: list[tuple[ReplayedBenchmark, int, int]],
             realised_of: dict[str, np.ndarray], level: float,
             feasible: tuple[float, float] = (0.0, 1.0)) -> BenchmarkEstimate:
    """The item-weighted accuracy over every benchmark (OVERALL) and its interval: the replayed benchmarks'
    part from the models replayed on all of them (`replay_overall`; where too few were, the sum of their
    weighted half-widths, as if their errors moved together), the drawn benchmarks' part from the weighted sum
    of their draws around their points (the theta draws are shared, so their correlation is kept), and the
    two parts' widths added; the interval kept within `feasible` (what the unanswered items allow)."""
    n = sum(e.n_items for e in estimates)
    point = sum(e.estimate * e.n_items for e in estimates) / n
    half = replay_overall([(r, n_free) for r, n_free, _ in replayed], n, level)
    if half is None:
        half = sum(r.half * n_items / n for r, _, n_items in replayed)
    lo = hi = 0.0
    if realised_of:
        dev = sum((realised_of[e.benchmark] - e.estimate) * e.n_items / n for e in estimates
                  if e.benchmark in realised_of)
        lo, hi = (float(q) for q in np.quantile(dev, [(1 - level) / 2, (1 + level) / 2]))
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # the interval holds the point, though the draws may all lie to one side
    kinds = " + ".join(sorted({e.correction for e in estimates if e.correction})) or None
    return BenchmarkEstimate(OVERALL, n, sum(e.n_answered for e in estimates), float(point),
                             float(np.clip(point + lo - half, *feasible)), float(np.clip(point + hi + half, *feasible)),
                             level,
                             kinds)


def _corrected(a: np.ndarray, b: np.ndarray, theta: np.ndarray, cov: np.ndarray, draws: np.ndarray,
               items: np.ndarray, free: np.ndarray, ans: np.ndarray, y_full: np.ndarray, observed: float,
               sigma2: float, combine: str, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """(point, realised accuracy per draw [S]) of one benchmark with the misfit correction."""
    n, n_f, n_a = len(items), len(free), len(ans)
    if n_f == 0:
        return observed / n, np.full(len(draws), observed / n)
    p_free = irt_probability(theta, a[free], b[free])
    ybar = float(y_full[ans].mean()) if n_a else 0.0
    sums_free, hits = _draw_sums(a[free], b[free], draws, rng)
    mean_free = sums_free / n_f  # Pbar_free at each draw [S]
    if combine == "residual":
        if n_a:
            p_ans = irt_probability(theta, a[ans], b[ans])
            v_res = max(float((p_ans * (1 - p_ans)).mean()), 1e-6) / n_a
            lam = sigma2 / (sigma2 + v_res)
            point_mean = p_free.mean() + lam * (ybar - p_ans.mean())
            ans_draws = _draw_sums(a[ans], b[ans], draws, rng)[0] / n_a
            draw_mean = mean_free + lam * (ybar - ans_draws)
            noise = lam * v_res
        else:
            point_mean, draw_mean, noise = p_free.mean(), mean_free, sigma2
    else:
        w = fisher_weight(a[free], b[free], theta)
        grad = (w[:, None] * a[free]).sum(axis=0) / n_f
        v_irt = float(grad @ cov @ grad) + sigma2
        if n_a:
            pbar = (observed + p_free.sum()) / n
            v_mean = max(pbar * (1 - pbar), 1e-6) / n_a
            lam = v_irt / (v_irt + v_mean)
        else:
            v_mean, lam = 0.0, 0.0
        point_mean = (1 - lam) * p_free.mean() + lam * ybar
        draw_mean = (1 - lam) * mean_free + lam * ybar
        noise = (1 - lam) ** 2 * sigma2 + lam ** 2 * v_mean
    bern = hits - sums_free  # the luck of the unanswered items around each draw's probabilities
    draw_mean = draw_mean + np.sqrt(noise) * rng.standard_normal(len(draws))
    realised = (observed + n_f * np.clip(draw_mean, 0, 1) + bern) / n  # within what the unanswered items allow
    point = (observed + n_f * float(np.clip(point_mean, 0, 1))) / n
    return point, np.clip(realised, observed / n, (observed + n_f) / n)


# ------------------------------------------------------------------------------------ answers for a width

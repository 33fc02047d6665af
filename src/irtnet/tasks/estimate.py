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

Pure functions of numpy arrays: `estimate_accuracy`, `answers_for_width` (how many more answers would narrow
each interval to a target width), `plan_items` (which items to run first), `routing_profile`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.tasks.onboard import Prior, _rank_one_update, fisher_weight, fit_theta, suggest_queries

PLAN_STRATEGIES = ("adaptive", "balanced", "anchor")
WIDTH_STRATEGIES = ("d-optimal", "fisher")
_CHUNK = 1 << 22  # probabilities drawn at once (doubles): 32 MiB


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


def _outcome_sums(a: np.ndarray, b: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each theta draw [S, d], the number of correct answers [S] among items (a [n, d], b [n]), each drawn
    as a Bernoulli of its probability under that draw."""
    total = np.zeros(len(draws))
    step = max(1, _CHUNK // max(len(draws), 1))
    for s in range(0, len(b), step):
        p = irt_probability(draws, a[s:s + step], b[s:s + step])  # [n_chunk, S]
        total += (rng.random(p.shape) < p).sum(axis=0)
    return total


def estimate_accuracy(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], answered: Sequence[int],
                      y: Sequence[float], prior: Prior, level: float = 0.9, n_draws: int = 2000,
                      seed: int = 0) -> list[BenchmarkEstimate]:
    """Each benchmark's accuracy from a new model's answers (see the module docstring), sorted by name.

    a [Q, d], b [Q], groups [Q]: every item of the pool (answered or not) and its benchmark; answered [n]:
    positions into the pool; y [n]: their outcomes in [0, 1]. The estimate is observed outcomes plus predicted
    probabilities at the MAP theta; [lower, upper] is the central `level` interval of the realised accuracy
    over `n_draws` joint draws of theta (Laplace posterior) and of the unanswered items' outcomes.
    """
    a, b, names = _pool(a, b, groups)
    idx, y = _answers(len(b), answered, y)
    _check_level(level)
    if n_draws < 1:
        raise ConfigError(f"n_draws must be at least 1, got {n_draws}")
    theta, cov = laplace_posterior(a, b, idx, y, prior)
    rng = np.random.default_rng(seed)
    draws = posterior_draws(theta, cov, n_draws, rng)
    y_full, is_answered = np.zeros(len(b)), np.zeros(len(b), bool)
    y_full[idx], is_answered[idx] = y, True
    out = []
    for g in sorted(set(names.tolist())):
        items = np.flatnonzero(names == g)
        free = items[~is_answered[items]]
        observed = float(y_full[items].sum())
        point = (observed + irt_probability(theta, a[free], b[free]).sum()) / len(items)
        realised = (observed + _outcome_sums(a[free], b[free], draws, rng)) / len(items)
        lower, upper = np.quantile(realised, [(1 - level) / 2, (1 + level) / 2])
        out.append(BenchmarkEstimate(g, len(items), len(items) - len(free), float(point), float(lower),
                                     float(upper), level))
    return out


# ------------------------------------------------------------------------------------ answers for a width
def greedy_picks(a: np.ndarray, b: np.ndarray, theta: np.ndarray, h_inv: np.ndarray, free: np.ndarray,
                 strategy: str = "d-optimal") -> Iterator[tuple[int, np.ndarray]]:
    """Lazily, the next pool item to ask and the posterior covariance [d, d] once it is answered: greedy
    D-optimal (or Fisher) order with every weight p (1 - p) taken at `theta`, no labels needed (the order of
    `onboard.suggest_queries`). `h_inv` [d, d]: the current posterior covariance; `free` [Q]: askable items."""
    if strategy not in WIDTH_STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose from {WIDTH_STRATEGIES}")
    h_inv, free = h_inv.copy(), free.copy()
    w = fisher_weight(a, b, theta)
    quad = np.einsum("nd,de,ne->n", a, h_inv, a) if strategy == "d-optimal" else np.einsum("nd,nd->n", a, a)
    while free.any():
        i = int(np.argmax(np.where(free, w * quad, -np.inf)))
        free[i] = False
        u = np.sqrt(w[i]) * a[i]
        if strategy == "d-optimal":
            _rank_one_update(h_inv, quad, a, u)  # keeps every candidate's a^T H^-1 a current
        else:
            v = h_inv @ u
            h_inv -= np.outer(v, v) / (1.0 + u @ v)
        yield i, h_inv


def _delta_terms(a: np.ndarray, w: np.ndarray, codes: np.ndarray, free: np.ndarray,
                 n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per benchmark over its unanswered items: the gradient of the summed probability in theta [G, d]
    (sum of p (1 - p) a) and the summed Bernoulli variance [G] (sum of p (1 - p))."""
    grad = np.zeros((n_groups, a.shape[1]))
    np.add.at(grad, codes[free], w[free, None] * a[free])
    return grad, np.bincount(codes[free], weights=w[free], minlength=n_groups)


def _variances(grad: np.ndarray, bern: np.ndarray, cov: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Delta-method variance [G] of each benchmark's realised accuracy."""
    return (np.einsum("gd,de,ge->g", grad, cov, grad) + bern) / sizes ** 2


def answers_for_width(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], answered: Sequence[int],
                      y: Sequence[float], prior: Prior, target_width: float, level: float = 0.9,
                      strategy: str = "d-optimal", max_k: int = 1000,
                      current: Sequence[BenchmarkEstimate] | None = None) -> dict[str, int | None]:
    """How many more answers each benchmark's `level` interval needs to be at most `target_width` wide:
    {benchmark: smallest k, or None when more than `max_k` (or the whole pool) would be needed}.

    The k more items are the greedy order of `strategy` over the whole pool ("d-optimal": the order
    `suggest_queries` gives, at the current MAP theta, without labels). After k of them the projected
    variance of benchmark g's realised accuracy is the delta-method one, (grad_g^T Sigma_k grad_g +
    sum p (1 - p)) / n_g^2 over its still unanswered items, with Sigma_k the posterior covariance once those
    k items add their expected Fisher information. The width is 2 z sqrt(variance), or, where `current`
    (the sampled estimates of `estimate_accuracy`) is given, the current sampled width scaled by the ratio of
    projected to current standard deviations, so that k = 0 agrees with the interval shown.
    Shapes as in `estimate_accuracy`.
    """
    a, b, names = _pool(a, b, groups)
    idx, y = _answers(len(b), answered, y)
    _check_level(level)
    if not 0 < target_width <= 1:
        raise ConfigError(f"target width must lie in (0, 1], got {target_width}")
    theta, cov = laplace_posterior(a, b, idx, y, prior)
    labels, codes = np.unique(names, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(labels)).astype(np.float64)
    free = np.ones(len(b), bool)
    free[idx] = False
    w = fisher_weight(a, b, theta)
    grad, bern = _delta_terms(a, w, codes, free, len(labels))
    var0 = _variances(grad, bern, cov, sizes)
    scale = np.full(len(labels), 2 * norm.ppf((1 + level) / 2))
    if current is not None:
        sampled = {e.benchmark: e.width for e in current}
        scale = np.array([sampled.get(g, np.nan) for g in labels]) / np.sqrt(np.maximum(var0, 1e-300))
        scale = np.where(np.isfinite(scale), scale, 2 * norm.ppf((1 + level) / 2))
    need: dict[str, int | None] = {g: (0 if scale[j] * np.sqrt(var0[j]) <= target_width else None)
                                   for j, g in enumerate(labels)}
    for k, (i, cov_k) in enumerate(greedy_picks(a, b, theta, cov, free, strategy), start=1):
        if k > max_k or all(v is not None for v in need.values()):
            break
        grad[codes[i]] -= w[i] * a[i]
        bern[codes[i]] -= w[i]
        width = scale * np.sqrt(np.maximum(_variances(grad, bern, cov_k, sizes), 0))
        for j in np.flatnonzero(width <= target_width):
            need[labels[j]] = k if need[labels[j]] is None else need[labels[j]]
    return need


# -------------------------------------------------------------------------------------------- planning
def _check_plan(n: int, n_pool: int, strategy: str) -> None:
    if strategy not in PLAN_STRATEGIES:
        raise ConfigError(f"unknown plan strategy {strategy!r}; choose from {PLAN_STRATEGIES}")
    if not 1 <= n <= n_pool:
        raise ConfigError(f"cannot plan {n} items from a pool of {n_pool}: choose 1..{n_pool}")


def equal_quotas(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n items over groups of `sizes` [G] in equal numbers (differing by at most one, the extra ones to
    seeded random groups), a group that runs out handing its share to the others."""
    quota = np.zeros(len(sizes), dtype=np.int64)
    while quota.sum() < n:
        open_ = np.flatnonzero(quota < sizes)
        left = n - int(quota.sum())
        share = left // len(open_)
        if share == 0:
            quota[rng.choice(open_, size=left, replace=False)] += 1
        else:
            quota[open_] = np.minimum(quota[open_] + share, sizes[open_])
    return quota


def proportional_quotas(sizes: np.ndarray, n: int) -> np.ndarray:
    """n items over groups of `sizes` [G] in proportion to size (largest remainder)."""
    raw = n * sizes / sizes.sum()
    quota = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def _interleave(parts: Sequence[Sequence[int]]) -> list[int]:
    """Round-robin over the groups' picks, so any prefix of the plan stays balanced."""
    longest = max((len(p) for p in parts), default=0)
    return [int(p[r]) for r in range(longest) for p in parts if r < len(p)]


def _d_optimal(a: np.ndarray, b: np.ndarray, prior: Prior, n: int) -> list[int]:
    return suggest_queries(a, b, prior.mean, prior, a[:0], b[:0], n, "d-optimal")


def anchor_items(labels: np.ndarray, k: int, seed: int) -> list[int]:
    """k anchor items of one benchmark (tinyBenchmarks): k-means over the items' correctness vectors across the
    known models (labels [n, M], NaN where unobserved, filled with that model's mean), the item nearest each
    centroid (the next nearest when taken)."""
    from sklearn.cluster import KMeans

    if k >= len(labels):
        return list(range(len(labels)))
    x = np.array(labels, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model without labels here: mean of nothing
        fill = np.nan_to_num(np.nanmean(x, axis=0), nan=0.5)
    x = np.where(np.isnan(x), fill, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer distinct vectors than clusters: k-means says so, we cope
        centres = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x).cluster_centers_
    dist = ((x[None] - centres[:, None]) ** 2).sum(axis=2)  # [k, n]
    taken: list[int] = []
    for row in dist:
        taken.append(int(next(i for i in np.argsort(row, kind="stable") if i not in taken)))
    return taken


def plan_items(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], n: int, strategy: str, prior: Prior,
               seed: int = 0, known_labels: np.ndarray | None = None) -> list[int]:
    """n distinct pool positions for a new model to answer first, in the order to ask them.

    "adaptive": greedy D-optimal over the whole pool from the prior (`suggest_queries` at the prior mean; no
    labels, deterministic). "balanced": equal numbers per benchmark (`equal_quotas`), D-optimal within each,
    interleaved. "anchor": tinyBenchmarks-style anchor points (`anchor_items`) allocated to benchmarks in
    proportion to their size; needs `known_labels` [Q, M], the known models' outcomes on the pool items.
    a [Q, d], b [Q], groups [Q] as in `estimate_accuracy`.
    """
    a, b, names = _pool(a, b, groups)
    _check_plan(n, len(b), strategy)
    if strategy == "adaptive":
        return _d_optimal(a, b, prior, n)
    labels, codes = np.unique(names, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(labels))
    members = [np.flatnonzero(codes == j) for j in range(len(labels))]
    if strategy == "balanced":
        quota = equal_quotas(sizes, n, np.random.default_rng(seed))
        return _interleave([m[_d_optimal(a[m], b[m], prior, int(q))] if q else [] for m, q in zip(members, quota)])
    if known_labels is None:
        raise ConfigError("the anchor strategy needs the known models' labels of the pool items (a run's table); "
                          "use 'adaptive' or 'balanced' without them")
    known = np.asarray(known_labels, np.float64)
    if known.ndim != 2 or len(known) != len(b):
        raise DataError(f"known labels have shape {known.shape}, expected [{len(b)}, n_models]", field="known_labels")
    quota = proportional_quotas(sizes, n)
    return _interleave([m[anchor_items(known[m], int(q), seed)] if q else [] for m, q in zip(members, quota)])


# --------------------------------------------------------------------------------------------- routing
@dataclass(frozen=True)
class RoutingRow:
    """Within one benchmark (or "all"): the new model's mean P(correct) beside the best known model's, its rank
    among all models by that mean (1 = best), and the share of items where it has the highest P (where a
    router choosing argmax P would send them)."""

    benchmark: str
    n_items: int
    new_p: float
    best_known: str
    best_known_p: float
    rank: int
    n_models: int
    routed_share: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def routing_profile(p_new: np.ndarray, p_known: np.ndarray, groups: Sequence[Any],
                    models: Sequence[str]) -> list[RoutingRow]:
    """Rows per benchmark (sorted) then one "all" row; p_new [Q], p_known [Q, M] of the pool items."""
    p_new, p_known = np.asarray(p_new, np.float64), np.asarray(p_known, np.float64)
    names = np.asarray([str(g) for g in groups], dtype=object)
    rows = []
    for g in [*sorted(set(names.tolist())), None]:
        sel = np.ones(len(names), bool) if g is None else names == g
        new, known = float(p_new[sel].mean()), p_known[sel].mean(axis=0)
        best = int(np.argmax(known))
        routed = float((p_new[sel] > p_known[sel].max(axis=1)).mean())
        rows.append(RoutingRow("all" if g is None else g, int(sel.sum()), new, str(models[best]), float(known[best]),
                               int((known > new).sum()) + 1, len(models) + 1, routed))
    return rows

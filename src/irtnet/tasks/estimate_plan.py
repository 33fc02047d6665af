"""How many more answers would narrow an estimate to a target width (`answers_for_width`), which items a
new model should answer first (`plan_items`: adaptive, balanced or anchor points), and where queries would be
routed once it exists (`routing_profile`). The estimate itself is in `irtnet.tasks.estimate`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from irtnet.errors import ConfigError, DataError
from irtnet.tasks.estimate import (OVERALL, PLAN_STRATEGIES, WIDTH_STRATEGIES, BenchmarkEstimate, _answers,
                                   _check_level, _pool, laplace_posterior)
from irtnet.tasks.onboard import Prior, _rank_one_update, fisher_weight, suggest_queries


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
                      current: Sequence[BenchmarkEstimate] | None = None,
                      overall: bool = False) -> dict[str, int | None]:
    """How many more answers each benchmark's `level` interval needs to be at most `target_width` wide:
    {benchmark: smallest k, or None when more than `max_k` (or the whole pool) would be needed}; with
    `overall`, also the overall accuracy's (key `OVERALL`: every benchmark's unanswered items as one group).

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
    if overall:  # one more row: the sums over every benchmark, over every item of the pool
        labels = np.append(labels.astype(object), OVERALL)
        grad, bern, sizes = np.vstack([grad, grad.sum(0)]), np.append(bern, bern.sum()), np.append(sizes, len(b))
    rows = (lambda i: [codes[i], len(labels) - 1]) if overall else (lambda i: [codes[i]])
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
        grad[rows(i)] -= w[i] * a[i]
        bern[rows(i)] -= w[i]
        width = scale * np.sqrt(np.maximum(_variances(grad, bern, cov_k, sizes), 0))
        for j in np.flatnonzero(width <= target_width):
            need[labels[j]] = k if need[labels[j]] is None else need[labels[j]]
    return need


# -------------------------------------------------------------------------------------------- planning


def check_plan(n: int, n_pool: int, strategy: str) -> None:
    """A ConfigError unless `strategy` is a plan strategy and `n` a whole number of items from 1 to `n_pool`."""
    if strategy not in PLAN_STRATEGIES:
        raise ConfigError(f"unknown plan strategy {strategy!r}; choose from {PLAN_STRATEGIES}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"the number of items to plan must be a whole number, got {n!r}")
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
    check_plan(n, len(b), strategy)
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

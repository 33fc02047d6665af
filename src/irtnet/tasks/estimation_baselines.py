"""Baselines for a new model's accuracy on every benchmark from a few of its answers (docs/estimation.md,
"Evaluating estimation"), written from their papers' descriptions as pure numpy / sklearn functions.

Every estimator reads the answered pool positions `answered` [n], their outcomes `y` [n] in [0, 1] and the
benchmark of every pool item `groups` [Q] (plus what it needs: the known models' labels of the pool items
`known_labels` [Q, M_known] with NaN where unobserved, a fitted IRT, clusters), and returns one
`BenchmarkEstimate` per benchmark, sorted by name, with the realised accuracy over *all* the benchmark's
pool items as the target. Methods without an interval give lower = upper = level = NaN.

- `mean_estimate`: the plain mean of the answered items per benchmark with a Wilson interval (a benchmark
  without answers: the mean of all answers, interval [0, 1]). Items from `random_items` or
  `stratified_items` (proportional to benchmark size, every benchmark at least one item once n >= G).
- tinyBenchmarks (Polo et al. 2024). `anchor_points`: per benchmark, k-means over the items' correctness
  vectors across the known models, the item nearest each centroid, weighted by its cluster's share of the
  benchmark; `anchor_estimate` is the weighted sum of the anchors' outcomes. `pirt_estimate`: a classical
  IRT fitted on the known models' labels (`fit_classical_irt`: the multidimensional 2PL of
  `irtnet.predictors.baselines.irt.fit_irt`, free per-item parameters, MAP, dim 2 by default, as
  tinyBenchmarks fits py-irt's MIRT on its training LLMs), the new model's ability by MAP from its answers
  under a Gaussian prior with the known models' fitted abilities' mean and spread, then (sum of observed outcomes + sum of P over unanswered items) / n_g.
  `gpirt_estimate`: lambda * first + (1 - lambda) * p-IRT per benchmark, with the paper's heuristic
  lambda = b^2 / (b^2 + s^2 / n_g): `first` the anchor (or sample-mean) estimate, whose sampling bias is
  taken as 0 and variance as s^2 / n_g (s^2: the known models' mean per-item Bernoulli variance on the
  benchmark); b^2 the squared bias of the IRT extrapolation, whose own variance is taken as 0, estimated on
  known models by split-half (`irt_bias`: IRT fitted on two thirds of the known models; each remaining
  model's ability fitted on a random half of the items; b^2 = mean squared error of its predicted accuracy
  on the other half, per benchmark).
- HierShrink (vLLM Semantic Router): `text_clusters` (spherical k-means over the items' text embeddings)
  and `hiershrink_estimate`: each cluster's accuracy over the model's answered items shrunk toward the
  model's mean answer by `prior_strength` (24) pseudo-answers, the model's mean toward the known models' mean
  by one; a benchmark's estimate averages its items (observed outcome where answered, else the cluster's rate).
- Retraining with the new model included needs the trainer, so the protocol does it; `plugin_estimate`
  turns any model's probabilities of the pool items into the same observed + predicted estimate.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.tasks.estimate import BenchmarkEstimate
from irtnet.tasks.onboard import fit_theta, population_prior

NAN = float("nan")


# ------------------------------------------------------------------------------------------ inputs
def _check(answered: Sequence[int], y: Sequence[float], groups: Sequence[object]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(answered [n] int, y [n] float, groups [Q] str) checked: distinct positions in range, outcomes in [0, 1]."""
    names = np.asarray([str(g) for g in groups], dtype=object)
    idx, out = np.asarray(answered, np.int64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    if len(idx) != len(out):
        raise DataError(f"{len(idx)} answered items but {len(out)} outcomes", field="answers")
    if len(idx) and (idx.min() < 0 or idx.max() >= len(names)):
        raise DataError(f"answered positions must lie in 0..{len(names) - 1}", field="answers")
    if len(np.unique(idx)) != len(idx):
        raise DataError("an item is answered twice", field="answers")
    if not np.all(np.isfinite(out) & (out >= 0) & (out <= 1)):
        raise DataError("outcomes must be numbers in [0, 1] (no NaN)", field="correct")
    return idx, out, names


def _known(known_labels: np.ndarray | None, n_pool: int) -> np.ndarray:
    if known_labels is None:
        raise ConfigError("this estimator needs the known models' labels of the pool items (known_labels)")
    known = np.asarray(known_labels, np.float64)
    if known.ndim != 2 or len(known) != n_pool or known.shape[1] < 2:
        raise DataError(f"known labels have shape {known.shape}, expected [{n_pool}, >= 2 models]",
                        field="known_labels")
    return known


def _point(g: str, n_items: int, n_answered: int, value: float) -> BenchmarkEstimate:
    return BenchmarkEstimate(g, n_items, n_answered, float(value), NAN, NAN, NAN)


def _full(idx: np.ndarray, y: np.ndarray, n_pool: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcome per pool item [Q] (0 where unanswered) and the answered mask [Q]."""
    y_full, is_answered = np.zeros(n_pool), np.zeros(n_pool, bool)
    y_full[idx], is_answered[idx] = y, True
    return y_full, is_answered


def plugin_estimate(answered: Sequence[int], y: Sequence[float], groups: Sequence[object],
                    prob: np.ndarray) -> list[BenchmarkEstimate]:
    """(observed outcomes + predicted P of the unanswered items) / n_g per benchmark; prob [Q] any model's."""
    idx, y, names = _check(answered, y, groups)
    prob = np.asarray(prob, np.float64)
    if prob.shape != (len(names),):
        raise DataError(f"probabilities have shape {prob.shape}, expected [{len(names)}]", field="prob")
    y_full, is_answered = _full(idx, y, len(names))
    value = np.where(is_answered, y_full, prob)
    return [_point(g, int((names == g).sum()), int((is_answered & (names == g)).sum()), value[names == g].mean())
            for g in sorted(set(names.tolist()))]


# ---------------------------------------------------------------------------------------- selection
def allocate(sizes: np.ndarray, n: int) -> np.ndarray:
    """n items over groups of `sizes` [G] in proportion to size (largest remainder), then, once n >= G, every
    empty group given one item taken from the largest quota; never more than a group holds."""
    sizes = np.asarray(sizes, np.int64)
    n = min(int(n), int(sizes.sum()))
    raw = n * sizes / max(int(sizes.sum()), 1)
    quota = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    while n >= len(sizes) and ((quota == 0) & (sizes > 0)).any():
        quota[int(np.argmax(quota))] -= 1
        quota[int(np.flatnonzero((quota == 0) & (sizes > 0))[0])] += 1
    return quota


def random_items(n_pool: int, n: int, seed: int | Sequence[int]) -> np.ndarray:
    """The first n of a seeded random order of the pool positions (nested over n for one seed)."""
    return np.random.default_rng(seed).permutation(n_pool)[: min(n, n_pool)]


def stratified_items(groups: Sequence[object], n: int, seed: int | Sequence[int]) -> np.ndarray:
    """n pool positions, each benchmark's quota from `allocate`, drawn at random within it."""
    names = np.asarray([str(g) for g in groups], dtype=object)
    labels = sorted(set(names.tolist()))
    members = [np.flatnonzero(names == g) for g in labels]
    quota = allocate(np.array([len(m) for m in members]), n)
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(m)[:q] for m, q in zip(members, quota)]).astype(np.int64)


@dataclass(frozen=True)
class AnchorPoints:
    """Anchor items (pool positions) [k] and each one's weight [k]: its cluster's share of its benchmark."""

    items: np.ndarray
    weights: np.ndarray


def _fill_missing(x: np.ndarray) -> np.ndarray:
    """NaN cells of correctness vectors [n, M] filled with that model's mean on these items (0.5 if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fill = np.nan_to_num(np.nanmean(x, axis=0), nan=0.5)
    return np.where(np.isnan(x), fill, x)


def _cluster_anchors(x: np.ndarray, k: int, seed: int) -> tuple[list[int], np.ndarray]:
    """k distinct items nearest the k-means centroids of rows x [n, M], and each cluster's share [k]."""
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer distinct vectors than clusters: some clusters stay empty
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
    share = np.bincount(km.labels_, minlength=k) / len(x)
    dist = ((x[None] - km.cluster_centers_[:, None]) ** 2).sum(axis=2)  # [k, n]
    taken: list[int] = []
    for row in dist:
        taken.append(int(next(i for i in np.argsort(row, kind="stable") if i not in taken)))
    return taken, share


def anchor_points(known_labels: np.ndarray, groups: Sequence[object], n: int, seed: int = 0) -> AnchorPoints:
    """tinyBenchmarks' correctness anchor points: `allocate` n over the benchmarks, then per benchmark
    k-means (k = its quota) over its items' correctness vectors across the known models (known_labels
    [Q, M_known], NaN filled per model); the item nearest each centroid, weighted by the cluster's share."""
    names = np.asarray([str(g) for g in groups], dtype=object)
    known = _known(known_labels, len(names))
    if n < 1:
        raise ConfigError(f"the number of anchor points must be at least 1, got {n}")
    labels = sorted(set(names.tolist()))
    members = [np.flatnonzero(names == g) for g in labels]
    quota = allocate(np.array([len(m) for m in members]), n)
    items, weights = [], []
    for m, q in zip(members, quota):
        if q == len(m):
            items.append(m)
            weights.append(np.full(len(m), 1.0 / len(m)))
        elif q:
            taken, share = _cluster_anchors(_fill_missing(known[m]), int(q), seed)
            items.append(m[taken])
            weights.append(share)
    return AnchorPoints(np.concatenate(items).astype(np.int64), np.concatenate(weights))


# ---------------------------------------------------------------------------------------- estimators
def wilson_interval(k: float, n: int, level: float = 0.9) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion from k successes in n trials ([0, 1] when n = 0)."""
    if not 0 < level < 1:
        raise ConfigError(f"level must lie strictly between 0 and 1, got {level}")
    if n < 0 or not 0 <= k <= n:
        raise DataError(f"need 0 <= successes <= trials, got {k} of {n}", field="answers")
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf((1 + level) / 2))
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
    # at k = 0 (k = n) the bound is 0 (1) exactly; rounding left 1 - 1e-16, an interval without its own mean
    return (0.0 if k == 0 else float(max(0.0, centre - half))), (1.0 if k == n else float(min(1.0, centre + half)))


def mean_estimate(answered: Sequence[int], y: Sequence[float], groups: Sequence[object],
                  known_labels: np.ndarray | None = None, level: float = 0.9) -> list[BenchmarkEstimate]:
    """Per benchmark, the mean outcome of its answered items with a Wilson interval at `level` (fractional
    outcomes count as that many successes)."""
    idx, y, names = _check(answered, y, groups)
    fallback = float(y.mean()) if len(y) else 0.5
    out = []
    for g in sorted(set(names.tolist())):
        mine = y[names[idx] == g]
        lower, upper = wilson_interval(float(mine.sum()), len(mine), level)
        value = float(mine.mean()) if len(mine) else fallback
        out.append(BenchmarkEstimate(g, int((names == g).sum()), len(mine), value, lower, upper, level))
    return out


def anchor_estimate(answered: Sequence[int], y: Sequence[float], groups: Sequence[object],
                    known_labels: np.ndarray | None = None, *, weights: Sequence[float]) -> list[BenchmarkEstimate]:
    """tinyBenchmarks' anchor estimate per benchmark: sum of weight * outcome over its anchors (`answered`,
    the `AnchorPoints.items`, with their `weights`), renormalised over the anchors present."""
    idx, y, names = _check(answered, y, groups)
    w = np.asarray(weights, np.float64)
    if w.shape != y.shape:
        raise DataError(f"{len(w)} anchor weights for {len(y)} answers", field="weights")
    fallback = float(y.mean()) if len(y) else 0.5
    out = []
    for g in sorted(set(names.tolist())):
        sel = names[idx] == g
        total = w[sel].sum()
        value = float(w[sel] @ y[sel] / total) if total > 0 else fallback
        out.append(_point(g, int((names == g).sum()), int(sel.sum()), value))
    return out


@dataclass(frozen=True)
class ClassicalIrt:
    """A classical IRT fitted on known models' labels: item a [Q, d], b [Q], the models' theta [M, d]."""

    a: np.ndarray
    b: np.ndarray
    theta: np.ndarray

    def take(self, items: np.ndarray) -> ClassicalIrt:
        return ClassicalIrt(self.a[items], self.b[items], self.theta)


def fit_classical_irt(known_labels: np.ndarray, dim: int = 2, seed: int = 0) -> ClassicalIrt:
    """The multidimensional 2PL (dim 1: the 2PL) with free per-item parameters, by MAP on the observed cells
    of known_labels [Q, M] (`irtnet.predictors.baselines.irt.fit_irt`)."""
    from irtnet.predictors.baselines.irt import fit_irt

    known = _known(known_labels, len(known_labels))
    items, models = np.nonzero(~np.isnan(known))
    fit = fit_irt(models, items, known[items, models], known.shape[1], len(known), kind="2pl", dim=dim,
                  seed=seed, max_iter=200)
    return ClassicalIrt(fit.a, fit.b, fit.theta)


def _irt_theta(irt: ClassicalIrt, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    # the known abilities' own spread, not the fit's N(0, I) prior: that prior is weak, so the scale of the
    # fitted abilities is set by the data (a std of about 4 on planted data) and N(0, I) would pin theta near 0
    prior = population_prior(irt.theta)
    return fit_theta(irt.a[idx], irt.b[idx], y, prior.mean, prior.precision)


def pirt_estimate(answered: Sequence[int], y: Sequence[float], groups: Sequence[object],
                  known_labels: np.ndarray | None = None, *, irt: ClassicalIrt) -> list[BenchmarkEstimate]:
    """tinyBenchmarks' p-IRT: (observed outcomes + classical-IRT P of the unanswered items) / n_g."""
    idx, y, names = _check(answered, y, groups)
    if irt.a.shape[0] != len(names):
        raise DataError(f"the IRT has {irt.a.shape[0]} items, the pool {len(names)}", field="irt")
    theta = _irt_theta(irt, idx, y)
    return plugin_estimate(idx, y, names, irt_probability(theta, irt.a, irt.b))


def irt_bias(known_labels: np.ndarray, groups: Sequence[object], dim: int = 2, seed: int = 0) -> dict[str, float]:
    """{benchmark: b^2}, the squared bias of the IRT extrapolation by split-half on known models (module
    docstring); needs at least 3 known models (two to fit, one to validate)."""
    names = np.asarray([str(g) for g in groups], dtype=object)
    known = _known(known_labels, len(names))
    if known.shape[1] < 3:
        raise DataError("the split-half bias needs at least 3 known models", field="known_labels")
    rng = np.random.default_rng(seed)
    models = rng.permutation(known.shape[1])
    n_val = max(1, known.shape[1] // 3)
    irt = fit_classical_irt(known[:, models[n_val:]], dim, seed)
    half = rng.random(len(names)) < 0.5
    errors: dict[str, list[float]] = {g: [] for g in sorted(set(names.tolist()))}
    for m in models[:n_val]:
        obs = ~np.isnan(known[:, m])
        seen = np.flatnonzero(half & obs)
        p = irt_probability(_irt_theta(irt, seen, known[seen, m]), irt.a, irt.b)
        for g, found in errors.items():
            rest = ~half & obs & (names == g)
            if rest.any():
                found.append(float(p[rest].mean() - known[rest, m].mean()) ** 2)
    return {g: float(np.mean(e)) if e else 0.0 for g, e in errors.items()}


def item_variance(known_labels: np.ndarray, groups: Sequence[object]) -> dict[str, float]:
    """{benchmark: s^2}, the known models' mean per-item Bernoulli variance acc (1 - acc) on it."""
    names = np.asarray([str(g) for g in groups], dtype=object)
    known = _known(known_labels, len(names))
    out = {}
    for g in sorted(set(names.tolist())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            acc = np.nanmean(known[names == g], axis=0)
        out[g] = float(np.nanmean(acc * (1 - acc))) if np.isfinite(acc).any() else 0.25
    return out


def gpirt_lambda(bias2: float, variance: float, n_answered: int) -> float:
    """The weight of the first (anchor / sample-mean) estimate: b^2 / (b^2 + s^2 / n); 0 without answers."""
    if n_answered == 0:
        return 0.0
    denom = bias2 + variance / n_answered
    return float(bias2 / denom) if denom > 0 else 0.5


def gpirt_estimate(first: Sequence[BenchmarkEstimate], pirt: Sequence[BenchmarkEstimate],
                   bias2: dict[str, float], variance: dict[str, float]) -> list[BenchmarkEstimate]:
    """tinyBenchmarks' gp-IRT per benchmark: lambda * first + (1 - lambda) * p-IRT (`gpirt_lambda`)."""
    by_name = {e.benchmark: e for e in pirt}
    if set(by_name) != {e.benchmark for e in first}:
        raise DataError("the first and the p-IRT estimates cover different benchmarks", field="estimates")
    out = []
    for e in first:
        lam = gpirt_lambda(bias2.get(e.benchmark, 0.0), variance.get(e.benchmark, 0.25), e.n_answered)
        out.append(_point(e.benchmark, e.n_items, e.n_answered, lam * e.estimate + (1 - lam) * by_name[e.benchmark].estimate))
    return out


def text_clusters(vectors: np.ndarray, n_clusters: int = 32, seed: int = 0) -> np.ndarray:
    """Cluster of each pool item [Q]: spherical k-means (sklearn's KMeans on unit vectors) of the text
    embeddings [Q, D], at most one cluster per 5 items."""
    from sklearn.cluster import KMeans

    x = np.asarray(vectors, np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise DataError(f"text embeddings must be [items, dim], got shape {x.shape}", field="vectors")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = max(1, min(int(n_clusters), len(x) // 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x).labels_.astype(np.int64)


def response_clusters(known_labels: np.ndarray, n_clusters: int = 32, seed: int = 0) -> np.ndarray:
    """Cluster of each pool item [Q] where the table has no text: k-means of the items' correctness vectors
    across the known models (known_labels [Q, M], NaN where unanswered), at most one cluster per 5 items."""
    from sklearn.cluster import KMeans

    x = np.asarray(known_labels, np.float64)
    if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
        raise DataError(f"known models' labels must be [items, models], got shape {x.shape}", field="known_labels")
    k = max(1, min(int(n_clusters), len(x) // 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(_fill_missing(x)).labels_.astype(np.int64)


def hiershrink_estimate(answered: Sequence[int], y: Sequence[float], groups: Sequence[object],
                        known_labels: np.ndarray | None = None, *, clusters: np.ndarray,
                        prior_strength: float = 24.0) -> list[BenchmarkEstimate]:
    """HierShrink: cluster rates of the answered items shrunk toward the model's mean (module docstring);
    clusters [Q] from `text_clusters` (or `response_clusters` for text-free tables); known_labels (optional) give the mean the model's own is shrunk to."""
    idx, y, names = _check(answered, y, groups)
    clusters = np.asarray(clusters, np.int64)
    if clusters.shape != (len(names),):
        raise DataError(f"{len(clusters)} cluster labels for {len(names)} pool items", field="clusters")
    if prior_strength < 0:
        raise ConfigError(f"prior_strength must be >= 0, got {prior_strength}")
    known_mean = 0.5 if known_labels is None else float(np.nanmean(_known(known_labels, len(names))))
    model_mean = (y.sum() + known_mean) / (len(y) + 1.0)
    k = int(clusters.max()) + 1
    sums = np.bincount(clusters[idx], weights=y, minlength=k)
    counts = np.bincount(clusters[idx], minlength=k).astype(np.float64)
    rate = (sums + prior_strength * model_mean) / np.maximum(counts + prior_strength, 1e-12)
    return plugin_estimate(idx, y, names, np.where(counts + prior_strength > 0, rate, model_mean)[clusters])

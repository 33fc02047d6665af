"""Paired statistics over queries: the bootstrap that says whether predictor A beats predictor B.

The unit of resampling is the query (its models' labels are not independent). Each metric is split into
per-query pieces once, so a resample, which is a vector of query multiplicities `w` [Q], scores as a weighted
sum: log loss, routing accuracy and ECE are ratios of `w @ piece`; AUC is a weighted AUC whose (query, model)
pairs carry their query's weight, sorted once (O(n log n)) and scored per resample in O(n) by cumulative sums.
A and B are scored on the same resamples (paired), so the interval of A - B is much tighter than either one's.

Under K-fold cross-fitting (`irtnet.data.splits.kfold_query_splits`) every query is tested exactly once, so
the caller concatenates the test rows of all folds (labels and each predictor's probabilities, in the same
query order) and passes them here as one set of queries.

Shapes: `y` [Q, M] 0/1 labels with NaN where unlabelled; `p`, `p_a`, `p_b` [Q, M] probabilities (only the
labelled cells are read); resample weights [B, Q]. Metric definitions follow `irtnet.metrics` (log loss
clipped at 1e-7, ECE over 10 equal-width bins) and `irtnet.tasks.routing` (argmax pick, "complete" mode).
"""

from __future__ import annotations

import math

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from irtnet.errors import ConfigError, DataError
from irtnet.tasks.routing import picked, route, scorable

#: Metrics `paired_bootstrap` reports, and whether a higher value is better.
METRICS = ("auc", "log_loss", "routing", "ece")
HIGHER_IS_BETTER = {"auc": True, "log_loss": False, "routing": True, "ece": False}
N_BINS = 10
_EPS = 1e-7  # the clip of irtnet.metrics.log_loss
_CELLS = 2_000_000  # (resample, pair) cells per batch: bounds memory at a few arrays of 16 MB


# ----------------------------------------------------------------------------- inputs
def check_inputs(y: np.ndarray, p: np.ndarray, name: str = "p") -> tuple[np.ndarray, np.ndarray]:
    """`y` [Q, M] (0/1 or NaN) and `p` [Q, M] as float64; DataError unless p is a probability on labelled cells."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if y.ndim != 2 or p.shape != y.shape:
        raise DataError(f"labels {y.shape} and probabilities {p.shape} must both be [queries, models]", field=name)
    obs = ~np.isnan(y)
    if not np.isin(y[obs], (0.0, 1.0)).all():
        raise DataError("labels must be 0, 1 or NaN (unlabelled)", field="y")
    q = p[obs]
    if not (np.isfinite(q).all() and (q >= 0).all() and (q <= 1).all()):
        raise DataError("probabilities must be finite and in [0, 1] on every labelled cell", field=name)
    return y, p


# ----------------------------------------------------------------------------- per-query pieces
def log_loss_contributions(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the summed log loss of its labelled pairs [Q] and their count [Q] (p clipped at 1e-7)."""
    obs = ~np.isnan(y)
    pc = np.clip(np.where(obs, p, 0.5), _EPS, 1 - _EPS)
    yy = np.where(obs, y, 0.0)
    loss = np.where(obs, -(yy * np.log(pc) + (1 - yy) * np.log(1 - pc)), 0.0)
    return loss.sum(axis=1), obs.sum(axis=1).astype(np.float64)


def routing_contributions(y: np.ndarray, p: np.ndarray, mask: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per query, 1.0 if the model of highest probability among its labelled models is correct [Q], and
    whether the query counts [Q] (float 0/1).

    `mask` [Q] bool picks the queries that count; None means routing's default "complete" mode (only
    queries with every model labelled, `irtnet.tasks.routing.scorable(y, "complete")`); pass
    `scorable(y, "observed")[0]` for "observed" mode. A query with no label never counts. Ties go to the
    first model, as in `irtnet.tasks.routing.route`.
    """
    choice, keep = _routed(y, p, mask)
    hit = np.where(keep, picked(np.nan_to_num(y, nan=0.0), choice), 0.0)
    return hit, keep.astype(np.float64)


def _routed(y: np.ndarray, p: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(the chosen model per query [Q], whether the query counts [Q] bool), as `routing_contributions` reads
    `mask`."""
    obs = ~np.isnan(y)
    keep = scorable(y, "complete")[0] if mask is None else np.asarray(mask, dtype=bool)
    if keep.shape != (len(y),):
        raise DataError(f"routing mask must be [{len(y)}] booleans, got shape {keep.shape}", field="routing_mask")
    return route(np.where(obs, p, 0.0), allowed=obs), keep & obs.any(axis=1)


def routing_disagreement(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, mask: np.ndarray | None = None
                         ) -> dict[str, Any]:
    """Where two routers send a query to different models: the routed queries (`mask` as in
    `routing_contributions`), how many of them A and B route differently, and each one's mean score on those.

    Two routers' routing accuracies can differ only there: A's minus B's equals share x (a - b). Returns
    {"n_routed", "n_differ", "share", "a", "b"} ("a", "b" None where no query is routed differently)."""
    choice_a, keep = _routed(y, p_a, mask)
    choice_b, _ = _routed(y, p_b, mask)
    differ = keep & (choice_a != choice_b)
    n_routed, n_differ = int(keep.sum()), int(differ.sum())
    score = np.nan_to_num(y, nan=0.0)
    return {"n_routed": n_routed, "n_differ": n_differ, "share": n_differ / n_routed if n_routed else None,
            "a": float(picked(score, choice_a)[differ].mean()) if n_differ else None,
            "b": float(picked(score, choice_b)[differ].mean()) if n_differ else None}


def ece_contributions(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query and equal-width bin (as `irtnet.metrics.ece`): labelled-pair count, probability sum and label
    sum, each [Q, n_bins]. ECE = sum_k |p_sum_k - y_sum_k| / sum_k count_k."""
    obs = ~np.isnan(y)
    rows, cols = np.nonzero(obs)
    prob, lab = p[rows, cols], y[rows, cols]
    bins = np.minimum((prob * n_bins).astype(int), n_bins - 1)
    cell = rows * n_bins + bins
    size = len(y) * n_bins

    def total(values: np.ndarray | None) -> np.ndarray:
        return np.bincount(cell, weights=values, minlength=size).reshape(len(y), n_bins).astype(np.float64)

    return total(None), total(prob), total(lab)


# ----------------------------------------------------------------------------- weighted AUC
@dataclass(frozen=True)
class AucPlan:
    """Labelled pairs prepared once for a weighted AUC under many weightings of their groups (queries).

    neg_group [n_neg]: group of each negative, negatives sorted by score; pos_group [n_pos]: group of each
    positive; lo, hi [n_pos]: how many negatives score strictly below / at most each positive's score.
    """

    neg_group: np.ndarray
    pos_group: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n_groups: int

    @classmethod
    def from_pairs(cls, scores: np.ndarray, labels: np.ndarray, group: np.ndarray, n_groups: int) -> AucPlan:
        """scores [n], 0/1 labels [n], group index in [0, n_groups) [n]. One sort: O(n log n)."""
        scores, group = np.asarray(scores, dtype=np.float64), np.asarray(group, dtype=np.int64)
        pos = np.asarray(labels) == 1
        order = np.argsort(scores[~pos], kind="stable")
        neg_scores = scores[~pos][order]
        return cls(group[~pos][order], group[pos], np.searchsorted(neg_scores, scores[pos], "left"),
                   np.searchsorted(neg_scores, scores[pos], "right"), int(n_groups))

    def auc(self, weights: np.ndarray) -> np.ndarray:
        """Weighted AUC [B] for group weights [B, n_groups] (NaN where a class has no weight).

        AUC = sum over (positive i, negative j) of w_i w_j ([s_i > s_j] + 1/2 [s_i = s_j]) / (W_pos W_neg),
        each pair weighted by its group's weight. O(n) per row, in batches of bounded memory."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        if weights.shape[1] != self.n_groups:
            raise DataError(f"weights need {self.n_groups} columns, got {weights.shape[1]}", field="weights")
        step = max(1, _CELLS // max(len(self.neg_group) + len(self.pos_group), 1))
        return np.concatenate([self._auc_batch(weights[s:s + step]) for s in range(0, len(weights), step)])

    def _auc_batch(self, w: np.ndarray) -> np.ndarray:
        # Integer weights (resample counts) whose sums stay below 2**24 add up exactly in float32, at half the
        # memory traffic; the products then round by at most 6e-8 relative, and the final sums are float64.
        exact = w.max(initial=0) * 2 * len(self.neg_group) < 2 ** 24 and np.array_equal(w, np.round(w))
        w = w.astype(np.float32 if exact else np.float64)
        below = np.zeros((len(w), len(self.neg_group) + 1), dtype=w.dtype)
        np.cumsum(w[:, self.neg_group], axis=1, out=below[:, 1:])  # negative weight below each rank
        wp = w[:, self.pos_group]
        mid = below[:, self.lo]
        mid += below[:, self.hi]  # twice the negative weight below, ties counted once: 1/2 each
        mid *= wp
        num = 0.5 * mid.sum(axis=1, dtype=np.float64)
        den = wp.sum(axis=1, dtype=np.float64) * below[:, -1].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float | np.ndarray:
    """ROC AUC of `scores` [n] against 0/1 `labels` [n] with per-pair `weights` [n] (a float) or [B, n] (an
    array [B]); ties count 1/2, as `sklearn.metrics.roc_auc_score(..., sample_weight=weights)`. NaN where a
    class has no weight."""
    n = len(scores)
    plan = AucPlan.from_pairs(scores, labels, np.arange(n), n)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    out = plan.auc(w)
    return float(out[0]) if w.ndim == 1 else out


# ----------------------------------------------------------------------------- one predictor's pieces
@dataclass(frozen=True)
class QueryContributions:
    """One predictor's per-query pieces [Q] / [Q, n_bins] and AUC plan; see `query_contributions`."""

    ll_sum: np.ndarray
    ll_count: np.ndarray
    route_hit: np.ndarray
    route_count: np.ndarray
    ece_count: np.ndarray
    ece_p: np.ndarray
    ece_y: np.ndarray
    auc_plan: AucPlan

    @cached_property
    def _linear(self) -> np.ndarray:
        """[Q, 4 + 3 n_bins]: every piece a metric reads as a weighted sum, for one matrix product."""
        return np.column_stack([self.ll_sum, self.ll_count, self.route_hit, self.route_count,
                                self.ece_count, self.ece_p, self.ece_y])

    def metrics(self, weights: np.ndarray, names: Sequence[str] = METRICS) -> dict[str, np.ndarray]:
        """Each metric in `names` [B] under query weights [B, Q] (NaN where its denominator is 0)."""
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ConfigError(f"unknown metric {unknown[0]!r}: use some of {list(METRICS)}")
        t = np.einsum("bq,qk->bk", w, self._linear)  # numpy's own loop: no BLAS threads to wait on
        k = self.ece_count.shape[1]
        out = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            if "log_loss" in names:
                out["log_loss"] = t[:, 0] / t[:, 1]
            if "routing" in names:
                out["routing"] = t[:, 2] / t[:, 3]
            if "ece" in names:
                out["ece"] = np.abs(t[:, 4 + k:4 + 2 * k] - t[:, 4 + 2 * k:]).sum(axis=1) / t[:, 4:4 + k].sum(axis=1)
        if "auc" in names:
            out["auc"] = self.auc_plan.auc(w)
        return {n: out[n] for n in names}


def query_contributions(y: np.ndarray, p: np.ndarray, routing_mask: np.ndarray | None = None,
                        n_bins: int = N_BINS) -> QueryContributions:
    """Per-query pieces of every metric for labels `y` [Q, M] and probabilities `p` [Q, M] (checked)."""
    y, p = check_inputs(y, p)
    rows, cols = np.nonzero(~np.isnan(y))
    plan = AucPlan.from_pairs(p[rows, cols], y[rows, cols], rows, len(y))
    return QueryContributions(*log_loss_contributions(y, p), *routing_contributions(y, p, routing_mask),
                              *ece_contributions(y, p, n_bins), plan)


# ----------------------------------------------------------------------------- bootstrap
def resample_weights(n_queries: int, n_boot: int, seed: int = 0, batch: int = 256) -> Iterator[np.ndarray]:
    """Query multiplicities of `n_boot` bootstrap resamples (each draws `n_queries` queries with replacement),
    yielded in batches of [<= batch, n_queries] float64; the same seed gives the same resamples whatever
    the batch size."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        draws = rng.integers(0, n_queries, size=(b, n_queries)) + n_queries * np.arange(b)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n_queries).reshape(b, n_queries).astype(np.float64)


def cluster_resample_weights(clusters: np.ndarray, n_boot: int, seed: int = 0,
                             batch: int = 256) -> Iterator[np.ndarray]:
    """Two-stage resamples of queries grouped by `clusters` [Q] (ints, e.g. the draw a query was tested in):
    each resample draws as many clusters as there are, with replacement, then, for every cluster drawn, its
    own number of queries from it with replacement; yielded as query multiplicities [<= batch, Q] float64.
    The interval it gives holds the spread between clusters (draws) as well as within them."""
    members = [np.flatnonzero(np.asarray(clusters) == c) for c in np.unique(clusters)]
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        picks = rng.integers(0, len(members), size=(b, len(members))) + len(members) * np.arange(b)[:, None]
        copies = np.bincount(picks.ravel(), minlength=b * len(members)).reshape(b, len(members))
        out = np.zeros((b, len(clusters)))
        for k, idx in enumerate(members):
            m = copies[:, k] * len(idx)  # queries drawn from cluster k in each resample
            rows = np.repeat(np.arange(b), m)
            hits = rows * len(idx) + rng.integers(0, len(idx), size=int(m.sum()))
            out[:, idx] = np.bincount(hits, minlength=b * len(idx)).reshape(b, len(idx))
        yield out


def unit_interval(codes: np.ndarray, values: np.ndarray, n_boot: int = 2000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of `values` [n] when their units (`codes` [n], ints 0..U-1: a cell's
    model, say) are resampled with replacement, each unit's cells together."""
    codes = np.asarray(codes, np.int64)
    sums, counts = np.bincount(codes, values), np.bincount(codes).astype(float)
    boot = np.concatenate([(w @ sums) / (w @ counts) for w in resample_weights(len(counts), n_boot, seed)])
    lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def crossed_interval(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of `values` [n] when two crossed kinds of unit are resampled with
    replacement, independently: `rows` [n] (ints 0..R-1: a cell's model) and `cols` [n] (ints 0..C-1: its random
    draw of items), a cell weighing its row's multiplicity times its column's. Both sources of noise enter the
    interval, where resampling one of them alone would take the other as fixed."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    n_rows, n_cols = int(rows.max()) + 1, int(cols.max()) + 1
    sums = np.zeros((n_rows, n_cols))
    counts = np.zeros((n_rows, n_cols))
    np.add.at(sums, (rows, cols), values)
    np.add.at(counts, (rows, cols), 1.0)
    col_weights = resample_weights(n_cols, n_boot, seed + 1)
    boot = np.concatenate([((w @ sums) * v).sum(axis=1) / ((w @ counts) * v).sum(axis=1)
                           for w, v in zip(resample_weights(n_rows, n_boot, seed), col_weights)])
    lo, hi = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def verdict(diff_lo: float, diff_hi: float, higher_is_better: bool) -> str:
    """"win" when the interval [diff_lo, diff_hi] of A - B lies wholly on the better side of 0 (above it if
    higher is better, below it otherwise), "loss" when wholly on the worse side, "tie" when it touches 0, and
    "n/a" when a bound is NaN (no data to compare on: never counted as a tie)."""
    if math.isnan(diff_lo) or math.isnan(diff_hi):
        return "n/a"
    if higher_is_better:
        return "win" if diff_lo > 0 else "loss" if diff_hi < 0 else "tie"
    return "win" if diff_hi < 0 else "loss" if diff_lo > 0 else "tie"


def _check_bootstrap(n_boot: int, level: float, metrics: Sequence[str]) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ConfigError(f"level must be a number strictly between 0 and 1, got {level!r}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"metrics must be some of {list(METRICS)}, got {list(metrics)!r}")


def _summary(a: float, b: float, diffs: np.ndarray, level: float, higher: bool) -> dict[str, Any]:
    finite = diffs[np.isfinite(diffs)]
    if len(finite):
        lo, hi = (float(v) for v in np.percentile(finite, [50 * (1 - level), 50 * (1 + level)]))
        se = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
    else:
        lo = hi = se = float("nan")
    return {"a": a, "b": b, "diff": a - b, "lo": lo, "hi": hi, "se": se, "n_valid": len(finite),
            "better": "higher" if higher else "lower", "verdict": verdict(lo, hi, higher)}


def _no_comparison(y: np.ndarray, routing_mask: np.ndarray | None, metrics: Sequence[str]) -> dict[str, str]:
    """The metrics two predictors cannot differ on, whatever they predict, with the reason: AUC where every
    labelled pair has the same label (undefined), routing where every routed query's labelled models share one
    label (one model, or identical labels: any pick scores the same, so the difference is 0 by construction)."""
    obs = ~np.isnan(y)
    out = {}
    labels = y[obs]
    if "auc" in metrics and len(labels) and (labels == labels[0]).all():
        out["auc"] = "every labelled test pair has the same label: AUC is undefined"
    if "routing" in metrics:
        _, keep = _routed(y, np.zeros_like(y), routing_mask)
        lab = y[keep]
        if len(lab) and (np.nanmin(lab, axis=1) == np.nanmax(lab, axis=1)).all():
            out["routing"] = ("the test queries have one model only: every router picks it" if y.shape[1] == 1 else
                              "on every routed query all its models have the same label, so any pick scores the same")
    return out


def paired_bootstrap(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 2000, seed: int = 0,
                     routing_mask: np.ndarray | None = None, level: float = 0.95,
                     metrics: Sequence[str] = METRICS, clusters: np.ndarray | None = None) -> dict[str, Any]:
    """Paired bootstrap over queries of predictor A against predictor B on the same labels.

    y [Q, M] 0/1 with NaN = unlabelled; p_a, p_b [Q, M] probabilities; routing_mask [Q] bool, the queries
    routing accuracy counts (None: those with every model labelled, routing's "complete" mode). Under K-fold
    cross-fitting, concatenate every fold's test queries (each is tested once) into y, p_a and p_b.
    Each of `n_boot` resamples draws Q queries with replacement; A and B are scored on the same resamples.
    `clusters` [Q] (ints, e.g. the draw that tested each query): resample the clusters, then queries within
    each (`cluster_resample_weights`), so the interval holds the spread between clusters.

    Returns {"n_queries", "n_pairs", "n_routed", "n_boot", "seed", "level", "metrics": {name: {
      "a", "b": point estimates on all queries, "diff": a - b, "lo", "hi": the percentile interval of A - B
      at `level`, "se": the bootstrap standard deviation of A - B, "n_valid": resamples where it is defined,
      "better": "higher" | "lower", "verdict": "win" | "tie" | "loss" for A (see `verdict`), or "n/a" with
      "reason" where no predictor could differ on these labels (`_no_comparison`)}}}.
    Metric names: "auc", "log_loss" (mean over labelled pairs), "routing" (accuracy), "ece" (10 bins).
    """
    _check_bootstrap(n_boot, level, metrics)
    y, p_a = check_inputs(y, p_a, "p_a")
    y, p_b = check_inputs(y, p_b, "p_b")
    if not (~np.isnan(y)).any():
        raise DataError("no labelled (query, model) pair to compare on", field="y")
    parts = [query_contributions(y, p, routing_mask) for p in (p_a, p_b)]
    ones = np.ones((1, len(y)))
    point = [c.metrics(ones, metrics) for c in parts]
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    if clusters is not None and np.shape(clusters) != (len(y),):
        raise DataError(f"clusters must hold one entry per query ({len(y)}), got shape {np.shape(clusters)}",
                        field="clusters")
    weights = (resample_weights(len(y), int(n_boot), seed) if clusters is None
               else cluster_resample_weights(np.asarray(clusters), int(n_boot), seed))
    for w in weights:
        ra, rb = (c.metrics(w, metrics) for c in parts)
        for m in metrics:
            diffs[m].append(ra[m] - rb[m])
    out = {m: _summary(float(point[0][m][0]), float(point[1][m][0]), np.concatenate(diffs[m]), level,
                       HIGHER_IS_BETTER[m]) for m in metrics}
    for m, reason in _no_comparison(y, routing_mask, metrics).items():
        out[m] |= {"lo": math.nan, "hi": math.nan, "se": math.nan, "verdict": "n/a", "reason": reason}
    return {"n_queries": len(y), "n_pairs": int((~np.isnan(y)).sum()), "n_routed": int(parts[0].route_count.sum()),
            "n_boot": int(n_boot), "seed": seed, "level": float(level),
            "n_clusters": None if clusters is None else len(np.unique(clusters)), "metrics": out}

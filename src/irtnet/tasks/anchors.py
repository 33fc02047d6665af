"""The anchor setting of benchmark accuracy prediction (docs/method.md section 2.4, issue 14 item 2): every known
model has answered the same n items of a new benchmark; each model's accuracy on the whole of it is estimated from
those answers and a predictor's probabilities on the benchmark's texts.

- `level_shift`: one logit offset for the whole benchmark (its level error, the same for every model), MAP on the
  n x M answers.
- `shift_weight`: how much of that offset to apply, chosen by leaving each anchor item out in turn. Every model
  answered the same n items, so the offset carries those items' luck; where the predictor's level is right (a
  benchmark like the training ones) an offset from five items only adds that luck, and where it is far off the
  offset is what the anchors are for. Which it is, is read from the anchors themselves.
- `residual_weights`: each model's own residual on the anchors, shrunk by an empirical-Bayes weight.
- `anchored_accuracies`: the observed anchor labels plus the corrected probabilities on the other items.
- `anchor_curve`: the evaluation at each n over several draws of anchor items (each draw a seeded random order of
  the benchmark's items, its first n the anchors, so larger n adds items within a draw).

Pure functions of arrays; `tasks/benchmark.py` fits the predictors and scores the folds.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from irtnet.numeric import logit, sigmoid

#: The level shift's Gaussian prior (logits): wide, it only keeps the shift finite when every anchor answer
#: is right, or every one wrong.
SHIFT_PRIOR_SD = 2.0
#: The shares of the fitted level shift that `shift_weight` chooses among: 0, 0.05, ..., 1.
SHIFT_WEIGHTS = tuple(i / 20 for i in range(21))
ANCHOR_MEAN = "anchor-mean"  # the plain mean of each model's anchor answers, beside the predictors


def level_shift(prob: np.ndarray, labels: np.ndarray, prior_sd: float = SHIFT_PRIOR_SD, steps: int = 30) -> float:
    """The MAP logit offset d for which sigmoid(logit(prob) + d) best fits labels (prob, labels [k, M]; NaN
    labels are unobserved and skipped; labels may be fractions), under a N(0, prior_sd^2) prior: Newton steps on
    a strictly concave objective. 0 without observed labels."""
    z, y = logit(np.asarray(prob, np.float64)), np.asarray(labels, np.float64)
    keep = ~np.isnan(y)
    z, y = z[keep], y[keep]
    d = 0.0
    for _ in range(steps if len(y) else 0):
        p = sigmoid(z + d)
        step = (np.sum(y - p) - d / prior_sd ** 2) / (np.sum(p * (1 - p)) + 1 / prior_sd ** 2)
        d += float(step)
        if abs(step) < 1e-10:
            break
    return d


def shift_weight(prob: np.ndarray, labels: np.ndarray, weights: Sequence[float] = SHIFT_WEIGHTS) -> float:
    """The share w of the level shift to apply (one of `weights`), chosen by leave-one-item-out log loss on the
    anchor rows (prob, labels [n, M]): each item's answers are predicted with w times the shift fitted on the other
    items, summed over items; the smallest total wins (ties: the smaller w). With fewer than two items that have
    an answer there is nothing to hold out: 1 (the whole shift)."""
    z, y = logit(np.asarray(prob, np.float64)), np.asarray(labels, np.float64)
    rows = np.flatnonzero((~np.isnan(y)).any(axis=1))
    if len(rows) < 2:
        return 1.0
    w = np.asarray(weights, np.float64)
    loss = np.zeros(len(w))
    for i in rows:
        others = rows[rows != i]
        d = level_shift(prob[others], y[others])
        keep = ~np.isnan(y[i])
        p = np.clip(sigmoid(z[i, keep][None, :] + w[:, None] * d), 1e-12, 1 - 1e-12)
        loss -= (y[i, keep] * np.log(p) + (1 - y[i, keep]) * np.log(1 - p)).sum(axis=1)
    return float(w[int(np.argmin(loss))])


def residual_weights(prob: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([M] residuals, [M] weights) on the anchor rows: each model's mean residual r_m = mean(y - p) over its
    observed anchors, and the empirical-Bayes weight lambda_m = tau^2 / (tau^2 + v_m), where v_m = mean p (1 - p)
    / n_m is the residual's sampling variance and tau^2 = max(0, mean r_m^2 - mean v_m) the models' own spread
    around the shifted prediction (method of moments). Few anchors: lambda near 0, the prediction; many: near 1,
    the model's own anchor mean. A model without observed anchors: weight 0."""
    obs = ~np.isnan(labels)
    n = obs.sum(axis=0)
    y = np.nan_to_num(labels)
    residual = np.where(n > 0, ((y - prob) * obs).sum(axis=0) / np.maximum(n, 1), 0.0)
    var = np.where(n > 0, (prob * (1 - prob) * obs).sum(axis=0) / np.maximum(n, 1) ** 2, np.inf)
    seen = n > 0
    tau2 = max(0.0, float(np.mean(residual[seen] ** 2) - np.mean(var[seen]))) if seen.any() else 0.0
    weight = np.where(seen, tau2 / (tau2 + np.where(seen, var, 1.0)), 0.0) if tau2 > 0 else np.zeros(len(n))
    return residual, weight


def anchored_accuracies(prob: np.ndarray, labels: np.ndarray, anchors: np.ndarray, chosen: bool = True,
                        counted: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """([M] accuracies, the shift applied): each model's accuracy over its `counted` cells of prob / labels [Q, M]
    (default: its observed ones, ~NaN labels): its answers on the anchor rows, and elsewhere its shifted
    probabilities (`level_shift`, fitted on the anchor rows, times `shift_weight` where `chosen`, else whole)
    corrected by its own shrunk residual on the anchors (`residual_weights`); NaN where it has no counted cell.
    `counted` all True is a new benchmark's accuracy over every item, unanswered anchor cells included."""
    labels = np.asarray(labels, np.float64)
    counted = ~np.isnan(labels) if counted is None else np.asarray(counted, bool)
    d = level_shift(prob[anchors], labels[anchors])
    if chosen:
        d *= shift_weight(prob[anchors], labels[anchors])
    shifted = sigmoid(logit(np.asarray(prob, np.float64)) + d)
    residual, weight = residual_weights(shifted[anchors], labels[anchors])
    answered = np.zeros(labels.shape, bool)
    answered[anchors] = ~np.isnan(labels[anchors])
    answered &= counted
    free = counted & ~answered
    n = counted.sum(axis=0)
    total = np.where(answered, labels, 0.0).sum(axis=0) + (shifted * free).sum(axis=0) \
        + free.sum(axis=0) * weight * residual
    acc = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return np.clip(acc, 0.0, 1.0), d


def anchor_order(n_queries: int, benchmark: str, seed: int, draw: int = 0) -> np.ndarray:
    """One seeded order of a benchmark's rows; the first n are its n anchor items (nested across n). Draw 0 is
    the order of earlier versions (one draw)."""
    key = [seed, zlib.crc32(benchmark.encode())] + ([draw] if draw else [])
    return np.random.default_rng(key).permutation(n_queries)


def anchor_curve(probs: Mapping[str, np.ndarray], labels: np.ndarray, ns: Sequence[int], benchmark: str,
                 seed: int, draws: int = 1, chosen: bool = True) -> dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{n: {entry: ([draws, M] accuracies, [draws] shifts)}} for each n of `ns` below the benchmark's size (probs
    and labels [Q, M]): `anchor-mean`, each model's plain mean over its anchor answers (NaN where it answered none;
    shift 0), and every predictor's `anchored_accuracies`, on the first n items of each draw's order."""
    orders = [anchor_order(len(labels), benchmark, seed, r) for r in range(draws)]
    out: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for n in (int(n) for n in ns if 0 < int(n) < len(labels)):
        per: dict[str, list[tuple[np.ndarray, float]]] = {ANCHOR_MEAN: []}
        for order in orders:
            rows = order[:n]
            seen = (~np.isnan(labels[rows])).sum(axis=0)
            per[ANCHOR_MEAN].append((np.where(seen > 0, np.nansum(labels[rows], axis=0) / np.maximum(seen, 1),
                                              np.nan), 0.0))
            for name, prob in probs.items():
                per.setdefault(name, []).append(anchored_accuracies(prob, labels, rows, chosen))
        out[n] = {name: (np.stack([a for a, _ in got]), np.array([d for _, d in got])) for name, got in per.items()}
    return out

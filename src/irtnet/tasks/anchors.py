"""The anchor setting of benchmark accuracy prediction (docs/method.md section 2.4, issue 14 item 2): every known
model has answered the same n items of a new benchmark; each model's accuracy on the whole of it is estimated from
those answers and a predictor's probabilities on the benchmark's texts.

- `level_shift`: one logit offset for the whole benchmark (its level error, the same for every model), MAP on the
  n x M answers.
- `shift_weight`: how much of that offset to apply, chosen by leaving each anchor item out in turn. Every model
  answered the same n items, so the offset carries those items' luck; where the predictor's level is right (a
  benchmark like the training ones) an offset from five items only adds that luck, and where it is far off the
  offset is what the anchors are for. Which it is, is read from the anchors themselves (`chosen`, the default), or
  more cautiously (`cautious`: the smallest share the held-out items cannot tell from the best one).
- `residual_weights`: each model's own residual on the anchors, shrunk by an empirical-Bayes weight.
- `anchored_accuracies`: the observed anchor labels plus the corrected probabilities on the other items.
- `anchored_interval`: a predictive interval of each model's accuracy: the level's error (a delete-a-group
  jackknife over the anchor items, and the share of the shift not applied), and the model's own error beyond the
  shared one (its residual's spread with the items' common luck taken out), Student's t on the groups.
- `anchor_curve`: the evaluation at each n over several draws of anchor items (each draw a seeded random order of
  the benchmark's items, its first n the anchors, so larger n adds items within a draw); `interval_curve` the
  intervals on the same items (the plain anchor mean's are Wilson's, `anchor_mean_interval`).

Pure functions of arrays; `tasks/benchmark.py` fits the predictors and scores the folds.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from irtnet.errors import ConfigError
from irtnet.numeric import logit, sigmoid
from irtnet.tasks.estimation_baselines import wilson_interval

#: The level shift's Gaussian prior (logits): wide, it only keeps the shift finite when every anchor answer
#: is right, or every one wrong.
SHIFT_PRIOR_SD = 2.0
#: The shares of the fitted level shift that `shift_weight` chooses among: 0, 0.05, ..., 1.
SHIFT_WEIGHTS = tuple(i / 20 for i in range(21))
ANCHOR_MEAN = "anchor-mean"  # the plain mean of each model's anchor answers, beside the predictors
#: The most groups of anchor items the interval's jackknife leaves out in turn (each group one refit).
INTERVAL_GROUPS = 20
#: How much of the level shift the anchor setting applies (`shift_weight`'s rules, or "whole"); the first is the
#: default (docs/estimation.md, "A cautious share").
ANCHOR_SHIFTS = ("chosen", "cautious", "whole")
DEFAULT_SHIFT = ANCHOR_SHIFTS[0]


def level_shift(prob: np.ndarray, labels: np.ndarray, prior_sd: float = SHIFT_PRIOR_SD, steps: int = 30) -> float:
    """The MAP logit offset d for which sigmoid(logit(prob) + d) best fits labels (prob, labels [k, M]; NaN
    labels are unobserved and skipped; labels may be fractions), under a N(0, prior_sd^2) prior: Newton steps on
    a strictly concave objective. 0 without observed labels."""
    z, y = np.atleast_2d(logit(np.asarray(prob, np.float64))), np.atleast_2d(np.asarray(labels, np.float64))
    return float(_level_shifts(z, y, np.ones((1, len(y)), bool), prior_sd, steps)[0])


def _level_shifts(z: np.ndarray, y: np.ndarray, use: np.ndarray, prior_sd: float = SHIFT_PRIOR_SD,
                  steps: int = 30) -> np.ndarray:
    """`level_shift` on several subsets of the rows at once ([F] offsets; z logits and y labels [k, M], `use`
    [F, k] the rows of each fit), each fit stopping when its Newton step falls below 1e-10."""
    keep = use[:, :, None] & ~np.isnan(y)[None]
    y = np.nan_to_num(y)[None]
    d = np.zeros(len(use))
    active = keep.any(axis=(1, 2))
    for _ in range(steps):
        if not active.any():
            break
        p = sigmoid(z[None] + d[:, None, None])
        grad = np.where(keep, y - p, 0.0).sum(axis=(1, 2)) - d / prior_sd ** 2  # where: a NaN p off `keep` is no 0
        step = grad / (np.where(keep, p * (1 - p), 0.0).sum(axis=(1, 2)) + 1 / prior_sd ** 2)
        d = np.where(active, d + step, d)
        active &= np.abs(step) >= 1e-10
    return d


def shift_weight(prob: np.ndarray, labels: np.ndarray, weights: Sequence[float] = SHIFT_WEIGHTS,
                 rule: str = DEFAULT_SHIFT) -> float:
    """The share w of the level shift to apply (one of `weights`), chosen by leave-one-item-out log loss on the
    anchor rows (prob, labels [n, M]): each item's answers are predicted with w times the shift fitted on the other
    items. `rule` "chosen": the smallest total over the items wins (ties: the smaller w). "cautious": the smallest w
    whose total is within one standard error of that best one, the error of the items' paired loss differences
    (the one-standard-error rule: a share the held-out items cannot tell from a smaller one is not applied, so
    the luck of a few items is not passed on to every model). With fewer than two items that have an answer there
    is nothing to hold out: 1 (the whole shift)."""
    if rule not in ("chosen", "cautious"):
        raise ConfigError(f"a share rule is 'chosen' or 'cautious', got {rule!r}")
    z, y = logit(np.asarray(prob, np.float64)), np.asarray(labels, np.float64)
    rows = np.flatnonzero((~np.isnan(y)).any(axis=1))
    if len(rows) < 2:
        return 1.0
    w = np.asarray(weights, np.float64)
    z, y = z[rows], y[rows]
    d = _level_shifts(z, y, ~np.eye(len(rows), dtype=bool))  # row i's shift, fitted on the other rows
    seen = ~np.isnan(y)
    p = np.clip(sigmoid(z[None] + w[:, None, None] * d[None, :, None]), 1e-12, 1 - 1e-12)  # [weights, n, M]
    yy = np.nan_to_num(y)[None]
    per_item = -((yy * np.log(p) + (1 - yy) * np.log(1 - p)) * seen[None]).sum(axis=2)  # [weights, n]
    best = int(np.argmin(per_item.sum(axis=1)))  # "chosen"
    return float(w[cautious_index(per_item) if rule == "cautious" else best])


def cautious_index(per_item: np.ndarray) -> int:
    """The first row of per_item [shares, n items] (held-out losses) whose total is within one standard error of
    the smallest total: the error of the mean of its n paired per-item differences from that best row, times n."""
    best = int(np.argmin(per_item.sum(axis=1)))
    diff = per_item[: best + 1] - per_item[best]  # each smaller share's loss over the best one's, per item
    within = diff.sum(axis=1) <= np.sqrt(per_item.shape[1]) * diff.std(axis=1, ddof=1)
    return int(np.argmax(within))  # the best itself always is within


def applied_shift(prob: np.ndarray, labels: np.ndarray, shift: str = DEFAULT_SHIFT) -> float:
    """The logit offset applied on anchor rows (prob, labels [n, M]): `level_shift`, times `shift_weight` under
    the rule `shift` ("chosen", "cautious"; "whole": all of it)."""
    check_shift(shift)
    d = level_shift(prob, labels)
    return d if shift == "whole" else d * shift_weight(prob, labels, rule=shift)


def check_shift(shift: Any) -> None:
    """An anchor shift rule: one of `ANCHOR_SHIFTS` (a ConfigError naming --anchor-shift otherwise)."""
    if shift not in ANCHOR_SHIFTS:
        raise ConfigError(f"--anchor-shift must be one of {', '.join(ANCHOR_SHIFTS)}, got {shift!r}")


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


def anchored_accuracies(prob: np.ndarray, labels: np.ndarray, anchors: np.ndarray, shift: str = DEFAULT_SHIFT,
                        counted: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """([M] accuracies, the shift applied): each model's accuracy over its `counted` cells of prob / labels [Q, M]
    (default: its observed ones, ~NaN labels): its answers on the anchor rows, and elsewhere its shifted
    probabilities (`applied_shift` under the rule `shift`: `level_shift` fitted on the anchor rows, times the share
    `shift_weight` picks, or whole)
    corrected by its own shrunk residual on the anchors (`residual_weights`), each cell kept within [0, 1]; NaN
    where it has no counted cell.
    `counted` all True is a new benchmark's accuracy over every item, unanswered anchor cells included."""
    labels = np.asarray(labels, np.float64)
    counted = ~np.isnan(labels) if counted is None else np.asarray(counted, bool)
    d = applied_shift(prob[anchors], labels[anchors], shift)
    shifted = sigmoid(logit(np.asarray(prob, np.float64)) + d)
    residual, weight = residual_weights(shifted[anchors], labels[anchors])
    answered, free = _answered_free(labels, anchors, counted)
    n = counted.sum(axis=0)
    corrected = np.clip(shifted + weight * residual, 0.0, 1.0)  # a chance, never above 1 (the answers' ceiling)
    total = np.where(answered, labels, 0.0).sum(axis=0) + np.where(free, corrected, 0.0).sum(axis=0)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan), d


def _answered_free(labels: np.ndarray, anchors: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([Q, M] the counted cells answered on the anchor rows, [Q, M] the counted cells left to estimate)."""
    answered = np.zeros(labels.shape, bool)
    answered[anchors] = ~np.isnan(labels[anchors])
    answered &= counted
    return answered, counted & ~answered


def anchored_interval(prob: np.ndarray, labels: np.ndarray, anchors: np.ndarray, shift: str = DEFAULT_SHIFT,
                      counted: np.ndarray | None = None, level: float = 0.9,
                      groups: int = INTERVAL_GROUPS) -> tuple[np.ndarray, np.ndarray]:
    """([M] lower, [M] upper): a `level` predictive interval of each model's `anchored_accuracies` estimate (same
    arguments) of its accuracy over its counted cells, from these parts, added as variances:

    - the level's luck, shared by every model: the models' mean estimate refitted with each of up to `groups`
      groups of the answered anchor items left out in turn (a delete-a-group jackknife; the share of the shift is
      chosen again in each), scaled to each model by how far a logit of shift moves its accuracy (its mean
      p (1 - p) over its unanswered cells, against the models' mean: a model near 0 or 1 hardly moves);
    - where only a share of the shift is applied, the rest of it: the change in the model's accuracy were it
      applied whole (a bias the jackknife cannot see);
    - the model's own error: its residual on the anchors, with each item's mean residual over the models taken
      out (the items' common luck is the level's), has spread tau^2 over the models and sampling variance v_m; the
      estimate applies weight lambda_m of it, so its own error is (1 - lambda_m)^2 tau^2 + lambda_m^2 v_m, on the
      share of its counted cells that were not answered; and the unanswered items' own luck (the truth is the
      share it gets right, not its chance): one item's residual variance s^2 = n_m v_m over their number.

    The half-width is Student's t (groups - 1 degrees of freedom) times the root of the sum, clipped to what the
    answers allow (every unanswered cell wrong, or right) and widened to hold the estimate. With fewer than two
    answered items nothing measures the error: the interval is all the answers allow."""
    check_level(level)
    labels = np.asarray(labels, np.float64)
    counted = ~np.isnan(labels) if counted is None else np.asarray(counted, bool)
    acc, d = anchored_accuracies(prob, labels, anchors, shift, counted)
    answered, free = _answered_free(labels, anchors, counted)
    n_counted = np.maximum(counted.sum(axis=0), 1)
    floor = np.where(answered, labels, 0.0).sum(axis=0) / n_counted
    ceiling = floor + free.sum(axis=0) / n_counted
    rows = np.asarray(anchors)[(~np.isnan(labels[anchors])).any(axis=1)]
    if len(rows) < 2:
        return np.minimum(floor, acc), np.maximum(ceiling, acc)
    parts = np.array_split(rows, min(len(rows), int(groups)))
    reps = np.array([np.nanmean(anchored_accuracies(prob, labels, np.setdiff1d(rows, part), shift, counted)[0])
                     for part in parts])
    z = logit(np.asarray(prob, np.float64))
    shifted = sigmoid(z + d)
    # how far a logit of shift moves each model's accuracy: p (1 - p) over its unanswered share of its cells
    slope = np.where(free, shifted * (1 - shifted), 0.0).sum(axis=0) / n_counted
    moved = slope[np.isfinite(slope) & (free.sum(axis=0) > 0)]  # a model with nothing left to estimate moves not
    scale = (slope / moved.mean()) ** 2 if len(moved) and moved.mean() > 0 else np.zeros_like(slope)
    shared = (len(parts) - 1) / len(parts) * float(np.sum((reps - reps.mean()) ** 2)) * scale
    whole = sigmoid(z + level_shift(prob[rows], labels[rows]))
    unapplied = np.where(free, whole - shifted, 0.0).sum(axis=0) / n_counted
    _, weight = residual_weights(shifted[rows], labels[rows])
    tau2, v = own_spread(shifted[rows], labels[rows])
    n_free = free.sum(axis=0)
    item_spread = v * np.maximum((~np.isnan(labels[rows])).sum(axis=0), 1)  # one item's residual variance
    own = (n_free / n_counted) ** 2 * ((1 - weight) ** 2 * tau2 + weight ** 2 * v) + n_free * item_spread / n_counted ** 2
    half = stats.t.ppf(0.5 + level / 2, len(parts) - 1) * np.sqrt(shared + unapplied ** 2 + own)
    lower, upper = np.clip(acc - half, floor, ceiling), np.clip(acc + half, floor, ceiling)
    return np.minimum(lower, acc), np.maximum(upper, acc)


def check_level(level: Any) -> None:
    """An interval level: a number strictly between 0 and 1 (a ConfigError naming --level otherwise)."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0 < float(level) < 1:
        raise ConfigError(f"--level must be a number between 0 and 1 (exclusive), got {level!r}")


def own_spread(prob: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(tau^2, [M] v_m) on the anchor rows (prob, labels [n, M]; NaN unobserved): the residuals y - p with each
    item's mean over the models taken out; v_m is their pooled within-model variance over the items over model m's
    number of answers (the sampling variance of its mean residual, the items' common luck excluded), tau^2 the
    models' spread of mean residuals beyond it (method of moments, at least 0). Every model answered the same
    items, so their residuals share those items' luck: the Bernoulli variance p (1 - p) / n counts it in each."""
    obs = ~np.isnan(labels)
    n = obs.sum(axis=0)
    e = (np.nan_to_num(labels) - prob) * obs
    e = (e - np.where(obs.any(axis=1), e.sum(axis=1) / np.maximum(obs.sum(axis=1), 1), 0.0)[:, None]) * obs
    mean = e.sum(axis=0) / np.maximum(n, 1)
    s2 = ((e - mean) ** 2 * obs).sum(axis=0)
    several = n > 1
    pooled = float(s2[several].sum() / (n[several] - 1).sum()) if several.any() else 0.25
    v = pooled / np.maximum(n, 1)
    seen = n > 0
    if seen.sum() < 2:
        return 0.0, v
    residual = (np.nan_to_num(labels) - prob) * obs
    residual = residual.sum(axis=0)[seen] / n[seen]
    return max(0.0, float(np.var(residual, ddof=1) - np.mean(v[seen]))), v


def anchor_mean_interval(labels: np.ndarray, rows: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """([M] lower, [M] upper): each model's Wilson interval at `level` from its answers on `rows` (labels [Q, M],
    NaN unobserved; a fraction counts as that share of a success); [0, 1] where it answered none."""
    y = labels[rows]
    seen = ~np.isnan(y)
    bounds = [wilson_interval(float(np.nansum(y[:, m])), int(seen[:, m].sum()), level) for m in range(y.shape[1])]
    return np.array([lo for lo, _ in bounds]), np.array([hi for _, hi in bounds])


def interval_curve(probs: Mapping[str, np.ndarray], labels: np.ndarray, ns: Sequence[int], benchmark: str,
                   seed: int, draws: int = 1, shift: str = DEFAULT_SHIFT, level: float = 0.9
                   ) -> dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{n: {entry: ([draws, M] lower, [draws, M] upper)}} on the anchor items of `anchor_curve` (same ns, same
    draws): `anchor-mean`'s Wilson intervals, and each predictor's of `probs` `anchored_interval`s."""
    orders = [anchor_order(len(labels), benchmark, seed, r) for r in range(draws)]
    out: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for n in (int(n) for n in ns if 0 < int(n) < len(labels)):
        got = {ANCHOR_MEAN: [anchor_mean_interval(labels, o[:n], level) for o in orders],
               **{name: [anchored_interval(prob, labels, o[:n], shift, level=level) for o in orders]
                  for name, prob in probs.items()}}
        out[n] = {name: (np.stack([lo for lo, _ in b]), np.stack([hi for _, hi in b])) for name, b in got.items()}
    return out


def anchor_order(n_queries: int, benchmark: str, seed: int, draw: int = 0) -> np.ndarray:
    """One seeded order of a benchmark's rows; the first n are its n anchor items (nested across n). Draw 0 is
    the order of earlier versions (one draw)."""
    key = [seed, zlib.crc32(benchmark.encode())] + ([draw] if draw else [])
    return np.random.default_rng(key).permutation(n_queries)


def anchor_curve(probs: Mapping[str, np.ndarray], labels: np.ndarray, ns: Sequence[int], benchmark: str,
                 seed: int, draws: int = 1, shift: str = DEFAULT_SHIFT
                 ) -> dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
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
                per.setdefault(name, []).append(anchored_accuracies(prob, labels, rows, shift))
        out[n] = {name: (np.stack([a for a, _ in got]), np.array([d for _, d in got])) for name, got in per.items()}
    return out

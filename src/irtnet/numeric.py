"""Numeric helpers shared by every layer (numpy only, no irtnet imports).

The IRT response function in numpy, written once:

    P(model m answers query q) = sigmoid(a_q . theta_m - b_q)

with theta [M, d] the models' abilities, a [Q, d] the queries' discriminations and b [Q] their
difficulties. `irtnet.models.irt` has the same function on torch tensors for training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)), elementwise, for any shape.

    Numerically stable: exp is only ever taken of -|x|, so nothing overflows (no warnings) and both tails
    keep their relative precision (sigmoid(-40) is 4.2e-18, not 0). NaN in, NaN out. Float inputs keep
    their dtype; anything else becomes float64.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def logit(p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def irt_logit(theta: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Logits a_q . theta_m - b_q of every (query, model) pair.

    theta: [M, d] abilities, or [d] for one model; a: [Q, d] discriminations; b: [Q] difficulties.
    Returns [Q, M], or [Q] when theta is one vector [d].
    """
    theta, a, b = np.asarray(theta), np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.shape != (a.shape[0],) or theta.ndim not in (1, 2) or theta.shape[-1] != a.shape[1]:
        raise ValueError(f"irt_logit needs theta [M, d] or [d], a [Q, d] and b [Q]; got theta {theta.shape}, "
                         f"a {a.shape}, b {b.shape}")
    if theta.ndim == 1:
        return a @ theta - b
    return a @ theta.T - b[:, None]


def irt_probability(theta: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(correct) = sigmoid(a_q . theta_m - b_q) of every (query, model) pair.

    theta: [M, d] abilities, or [d] for one model; a: [Q, d] discriminations; b: [Q] difficulties.
    Returns [Q, M], or [Q] when theta is one vector [d].
    """
    return sigmoid(irt_logit(theta, a, b))


def _logits_and_targets(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`logits` and `target` as flat float64 arrays; ValueError unless they have one length, every logit is finite
    and every target is in [0, 1] (a NaN would make the fit return its starting point as if fitted)."""
    z, y = np.asarray(logits, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    if len(z) != len(y):
        raise ValueError(f"logits and targets differ in length: {len(z)} and {len(y)}")
    if not np.isfinite(z).all():
        raise ValueError("logits to calibrate must be finite; got NaN or infinite values")
    if not ((y >= 0) & (y <= 1)).all():
        raise ValueError("targets to calibrate must lie in [0, 1]")
    return z, y


def fit_temperature(logits: np.ndarray, target: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T minimising the log loss of sigmoid(logits / T) against targets in [0, 1] (flat
    arrays of the same length); 1.0 when there is nothing to fit."""
    from scipy.optimize import minimize_scalar

    z, y = _logits_and_targets(logits, target)
    if not len(z):
        return 1.0
    res = minimize_scalar(lambda log_t: _log_loss(z / np.exp(log_t), y), bounds=tuple(np.log(bounds)),
                          method="bounded")
    return float(np.exp(res.x))


def fit_platt(logits: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(scale, shift) minimising the log loss of sigmoid(scale * logits + shift) against targets in [0, 1];
    (1, 0) when there is nothing to fit. The scale is kept in [0.05, 20], as the temperature's bounds."""
    from scipy.optimize import minimize

    z, y = _logits_and_targets(logits, target)
    if not len(z):
        return 1.0, 0.0

    def loss_grad(p: np.ndarray) -> tuple[float, np.ndarray]:
        s = p[0] * z + p[1]
        r = sigmoid(s) - y  # d loss / d s
        return _log_loss(s, y), np.array([np.mean(r * z), np.mean(r)])

    res = minimize(loss_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(0.05, 20.0), (None, None)])
    return float(res.x[0]), float(res.x[1])


#: The post-hoc calibrations `choose_calibration` picks from: name -> fit(logits, target) -> (scale, shift).
CALIBRATIONS = {
    "none": lambda z, y: (1.0, 0.0),
    "temperature": lambda z, y: (1.0 / fit_temperature(z, y), 0.0),
    "platt": fit_platt,
}


def keep_unless_beaten(per_query: Mapping[Any, np.ndarray]) -> Any:
    """The key of `per_query` to keep (its keys in order of preference, e.g. the simplest first; each value:
    one held-out loss per query, the same queries for every key): going in that order, a choice replaces the one
    kept so far only when its loss is lower by more than two standard errors of the paired per-query difference,
    so noise keeps the preferred one."""
    names = list(per_query)
    if not names:
        raise ValueError("keep_unless_beaten needs at least one choice")
    kept = names[0]
    for name in names[1:]:
        gain = np.asarray(per_query[kept], np.float64) - np.asarray(per_query[name], np.float64)
        if len(gain) > 1 and gain.mean() > 2 * gain.std(ddof=1) / np.sqrt(len(gain)):
            kept = name
    return kept


def choose_calibration(logits: np.ndarray, target: np.ndarray, groups: np.ndarray,
                       seed: int = 0) -> tuple[str, float, float, dict[str, float]]:
    """The calibration of `CALIBRATIONS` chosen by 2-fold cross-validation over `groups` (query ids: a query's
    pairs stay in one half), refitted on all the data.

    logits, target, groups: flat arrays of the same length (validation pairs). Going from the simplest kind
    ("none") to the richest, a kind replaces the one kept so far only when its held-out log loss is lower by
    more than two standard errors of the paired per-query difference, so noise keeps the simpler one.
    Returns (name, scale, shift, {name: held-out mean log loss}).
    """
    z, y = _logits_and_targets(logits, target)
    groups = np.asarray(groups).ravel()
    if len(groups) != len(z):
        raise ValueError(f"logits and groups differ in length: {len(z)} and {len(groups)}")
    _, query = np.unique(groups, return_inverse=True)
    n_q = int(query.max()) + 1 if len(query) else 0
    half = (np.random.default_rng(seed).permutation(n_q) % 2 == 0)[query]
    per_query = {}
    for name, fit in CALIBRATIONS.items():
        loss = np.zeros(len(z))
        for fit_rows in (half, ~half):
            a, b = fit(z[fit_rows], y[fit_rows])
            s = a * z[~fit_rows] + b
            loss[~fit_rows] = np.logaddexp(0.0, s) - y[~fit_rows] * s
        per_query[name] = np.bincount(query, loss, minlength=n_q)
    kept = keep_unless_beaten(per_query)
    scale, shift = CALIBRATIONS[kept](z, y)
    return kept, scale, shift, {k: float(v.sum() / max(len(z), 1)) for k, v in per_query.items()}


def _log_loss(s: np.ndarray, y: np.ndarray) -> float:
    """Mean log loss of sigmoid(s) against y, computed stably: log(1 + e^s) - y s; 0 for no rows."""
    return float(np.mean(np.logaddexp(0.0, s) - y * s)) if len(s) else 0.0

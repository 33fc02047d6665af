"""Numeric helpers shared by every layer (numpy only, no irtnet imports).

The IRT response function in numpy, written once:

    P(model m answers query q) = sigmoid(a_q . theta_m - b_q)

with theta [M, d] the models' abilities, a [Q, d] the queries' discriminations and b [Q] their
difficulties. `irtnet.models.irt` has the same function on torch tensors for training.
"""

from __future__ import annotations

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


def fit_temperature(logits: np.ndarray, target: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T minimising the log loss of sigmoid(logits / T) against targets in [0, 1] (flat
    arrays of the same length); 1.0 when there is nothing to fit."""
    from scipy.optimize import minimize_scalar

    z, y = np.asarray(logits, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    if not len(z):
        return 1.0

    def loss(log_t: float) -> float:
        s = z / np.exp(log_t)  # log loss of sigmoid(s): log(1 + e^s) - y s, computed stably
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    res = minimize_scalar(loss, bounds=tuple(np.log(bounds)), method="bounded")
    return float(np.exp(res.x))

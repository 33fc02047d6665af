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

"""The result of a classical IRT fit, shared by the L-BFGS (`irt.fit_irt`) and Fisher-scoring
(`irt_newton.fit_2pl_newton`) fitters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class IrtFit:
    """theta [M, d], a [Q, d], b [Q]; the final objective (per unit weight), iterations, convergence."""

    theta: np.ndarray
    a: np.ndarray
    b: np.ndarray
    loss: float
    n_iter: int
    converged: bool

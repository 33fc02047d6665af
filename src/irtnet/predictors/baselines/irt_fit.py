"""The result of a classical IRT fit, shared by the L-BFGS (`irt.fit_irt`) and Fisher-scoring
(`irt_newton.fit_2pl_newton`) fitters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irtnet.errors import DataError


@dataclass
class IrtFit:
    """theta [M, d], a [Q, d], b [Q]; the final objective (per unit weight), iterations, convergence."""

    theta: np.ndarray
    a: np.ndarray
    b: np.ndarray
    loss: float
    n_iter: int
    converged: bool


def check_pairs(fitter: str, model_idx, item_idx, y, weight, n_models: int,
                n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(model_idx, item_idx int64, y, weight float64; weight 1 where None) after checking they are equally
    long, non-empty and in range; `fitter` names the caller in the error."""
    model_idx, item_idx = np.asarray(model_idx, np.int64), np.asarray(item_idx, np.int64)
    y = np.asarray(y, np.float64)
    w = np.ones_like(y) if weight is None else np.asarray(weight, np.float64)
    if not (len(model_idx) == len(item_idx) == len(y) == len(w)) or len(y) == 0:
        raise DataError(f"{fitter} needs equally long, non-empty model_idx, item_idx, y (and weight)")
    for idx, n, what in ((model_idx, n_models, "model_idx"), (item_idx, n_items, "item_idx")):
        if idx.min() < 0 or idx.max() >= n:
            raise DataError(f"{what} must lie in [0, {n}), got values in [{idx.min()}, {idx.max()}]", field=what)
    return model_idx, item_idx, y, w

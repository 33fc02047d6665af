"""The result of a classical IRT fit, shared by the L-BFGS (`irt.fit_irt`) and Fisher-scoring
(`irt_newton.fit_2pl_newton`) fitters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from irtnet.errors import ConfigError, DataError


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
    long, one-dimensional and non-empty, the indices whole numbers in range, the outcomes finite and in [0, 1],
    the weights finite, non-negative and not all 0; `fitter` names the caller in the error."""
    arrays = {"model_idx": np.asarray(model_idx), "item_idx": np.asarray(item_idx), "y": np.asarray(y, np.float64),
              "weight": np.ones(np.shape(y)) if weight is None else np.asarray(weight, np.float64)}
    flat = next((name for name, a in arrays.items() if a.ndim != 1), None)
    if flat is not None:
        raise DataError(f"{fitter}: {flat} must be one-dimensional, got shape {list(arrays[flat].shape)}", field=flat)
    if len({len(a) for a in arrays.values()}) != 1 or len(arrays["y"]) == 0:
        raise DataError(f"{fitter} needs equally long, non-empty model_idx, item_idx, y (and weight)")
    model_idx, item_idx = (_indices(arrays[what], n, what) for what, n in (("model_idx", n_models),
                                                                            ("item_idx", n_items)))
    y, w = arrays["y"], arrays["weight"]
    if not (np.isfinite(y).all() and ((y >= 0) & (y <= 1)).all()):
        raise DataError(f"{fitter}: outcomes y must be finite and lie in [0, 1]", field="y")
    if not (np.isfinite(w).all() and (w >= 0).all()) or not w.sum() > 0:
        raise DataError(f"{fitter}: weights must be finite and non-negative, and not all 0", field="weight")
    return model_idx, item_idx, y, w


def _indices(idx: np.ndarray, n: int, what: str) -> np.ndarray:
    """`idx` as int64 after checking its values are whole numbers in [0, n) (never 1.7 truncated to 1)."""
    if idx.dtype.kind in "iu":
        as_int = idx.astype(np.int64)
    else:
        try:
            values = np.asarray(idx, np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{what} must hold whole numbers, got {idx[:3].tolist()}", field=what) from None
        with np.errstate(invalid="ignore"):
            as_int = values.astype(np.int64)
        if not np.array_equal(as_int, values):
            raise DataError(f"{what} must hold whole numbers, got {values[as_int != values][:3].tolist()}",
                            field=what)
    if as_int.min() < 0 or as_int.max() >= n:
        raise DataError(f"{what} must lie in [0, {n}), got values in [{as_int.min()}, {as_int.max()}]", field=what)
    return as_int


def check_options(fitter: str, **options: float) -> None:
    """ConfigError naming the first of the fitter's `options` that is not what it must be: `max_iter` a whole
    number of at least 1, every other one (prior standard deviations, the tolerance) a finite number > 0."""
    for name, value in options.items():
        if name == "max_iter":
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
            what = "a whole number of at least 1"
        else:
            ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and \
                math.isfinite(value) and value > 0
            what = "a finite number > 0"
        if not ok:
            raise ConfigError(f"{fitter}: {name} must be {what}, got {value!r}")

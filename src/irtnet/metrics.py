"""Scoring functions on probabilities and 0/1 labels (pure numpy; shapes [n]).

Every function takes two array-likes of one shape: probabilities in [0, 1] and labels in [0, 1] (AUC: 0/1
labels). A figure that is undefined is NaN: every figure of no pairs, every figure where a probability is NaN (a
diverged network), and the AUC where only one class is present. Arrays of different shapes, a probability or a
label outside [0, 1] and a NaN label are refused (ValueError), never broadcast, clipped or dropped.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

_EPS = 1e-7
#: How far a probability may stray outside [0, 1] by rounding (an average of probabilities) and still be one.
_ROUNDING = 1e-6


def _pair(prob: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`prob` and `label` as float64 arrays of one shape; ValueError where the shapes differ, a probability is
    outside [0, 1] (NaN passes: the figures are NaN then) or a label is NaN or outside [0, 1]."""
    prob, label = np.asarray(prob, dtype=np.float64), np.asarray(label, dtype=np.float64)
    if prob.shape != label.shape:
        raise ValueError(f"prob {prob.shape} and label {label.shape} differ in shape")
    outside = (prob < -_ROUNDING) | (prob > 1 + _ROUNDING)
    if outside.any():
        raise ValueError(f"probabilities must lie in [0, 1]; got {prob[outside][0]!r}")
    if not ((label >= 0) & (label <= 1)).all():
        raise ValueError(f"labels must lie in [0, 1]; got {label[~((label >= 0) & (label <= 1))][0]!r}")
    return prob, label


def _undefined(prob: np.ndarray) -> bool:
    """Whether every figure of `prob` is NaN: no pairs, or a NaN probability."""
    return len(prob) == 0 or bool(np.isnan(prob).any())


def accuracy(prob: np.ndarray, label: np.ndarray) -> float:
    """Share of labels matched by thresholding at 0.5 (NaN: see the module docstring)."""
    prob, label = _pair(prob, label)
    return math.nan if _undefined(prob) else float(np.mean((prob >= 0.5) == (label >= 0.5)))


def auc(prob: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC of 0/1 labels; NaN where only one class is present (it is undefined there)."""
    prob, label = _pair(prob, label)
    if not np.isin(label, (0.0, 1.0)).all():
        raise ValueError("AUC needs 0/1 labels; got fractional ones")
    if _undefined(prob) or len(np.unique(label)) < 2:
        return math.nan
    return float(roc_auc_score(label, prob))


def log_loss(prob: np.ndarray, target: np.ndarray) -> float:
    """Mean binary cross-entropy (targets may be soft, in [0, 1]); probabilities are clipped to [1e-7, 1 - 1e-7]."""
    prob, target = _pair(prob, target)
    if _undefined(prob):
        return math.nan
    p = np.clip(prob, _EPS, 1 - _EPS)
    return float(-np.mean(target * np.log(p) + (1 - target) * np.log(1 - p)))


def brier(prob: np.ndarray, label: np.ndarray) -> float:
    """Mean squared difference of probability and label."""
    prob, label = _pair(prob, label)
    return math.nan if _undefined(prob) else float(np.mean((prob - label) ** 2))


def ece(prob: np.ndarray, label: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error over `n_bins` equal-width probability bins (empty bins count nothing)."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    prob, label = _pair(prob, label)
    if _undefined(prob):
        return math.nan
    bins = np.clip((prob * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for k in range(n_bins):
        sel = bins == k
        if sel.any():
            total += sel.sum() * abs(prob[sel].mean() - label[sel].mean())
    return float(total / len(prob))


def correctness_metrics(prob: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, ROC AUC, log loss, Brier score and ECE, plus the count and base rate (NaN figures for no
    pairs); a NaN or infinite probability is refused."""
    if not np.isfinite(np.asarray(prob, dtype=np.float64)).all():
        raise ValueError("predicted probabilities contain NaN or infinite values")
    prob, label = _pair(prob, label)
    return {
        "n": int(len(label)), "base_rate": float(label.mean()) if len(label) else float("nan"),
        "accuracy": accuracy(prob, label), "auc": auc(prob, label), "log_loss": log_loss(prob, label),
        "brier": brier(prob, label), "ece": ece(prob, label),
    }

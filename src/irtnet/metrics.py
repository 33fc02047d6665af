"""Scoring functions on probabilities and 0/1 labels (pure numpy; shapes [n])."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

_EPS = 1e-7


def accuracy(prob: np.ndarray, label: np.ndarray) -> float:
    """Share of labels matched by thresholding at 0.5."""
    return float(np.mean((prob >= 0.5) == (label >= 0.5)))


def auc(prob: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC; NaN where only one class is present (it is undefined there)."""
    if len(np.unique(label)) < 2:
        return float("nan")
    return float(roc_auc_score(label, prob))


def log_loss(prob: np.ndarray, target: np.ndarray) -> float:
    """Mean binary cross-entropy (targets may be soft, in [0, 1])."""
    p = np.clip(prob, _EPS, 1 - _EPS)
    return float(-np.mean(target * np.log(p) + (1 - target) * np.log(1 - p)))


def brier(prob: np.ndarray, label: np.ndarray) -> float:
    return float(np.mean((prob - label) ** 2))


def ece(prob: np.ndarray, label: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error over `n_bins` equal-width probability bins."""
    bins = np.minimum((prob * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for k in range(n_bins):
        sel = bins == k
        if sel.any():
            total += sel.sum() * abs(prob[sel].mean() - label[sel].mean())
    return float(total / max(len(prob), 1))


def correctness_metrics(prob: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, ROC AUC, log loss, Brier score and ECE, plus the count and base rate."""
    prob = np.asarray(prob, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if prob.shape != label.shape:
        raise ValueError(f"prob {prob.shape} and label {label.shape} differ in shape")
    if not np.isfinite(prob).all():
        raise ValueError("predicted probabilities contain NaN or infinite values")
    return {
        "n": int(len(label)), "base_rate": float(label.mean()) if len(label) else float("nan"),
        "accuracy": accuracy(prob, label), "auc": auc(prob, label), "log_loss": log_loss(prob, label),
        "brier": brier(prob, label), "ece": ece(prob, label),
    }

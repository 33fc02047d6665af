"""Routing: pick a model per query, and score the picks against the labels.

Protocol (docs/method.md section 2.2): for each test query pick argmax over models of the router's score (minus
lambda times cost, for cost-aware routing); the pick scores 1 if that model's label is 1. Micro accuracy
averages over queries, macro over benchmarks. References computed from labels alone, never from a
model: random pick (its exact expectation), the best single model chosen on *training* accuracy, each
benchmark's best model on training data, and the oracle (1 if any model is right).

Missing labels never count as wrong: by default only queries with every candidate labelled are scored
(mode "complete"); mode "observed" instead restricts each query's candidates to its labelled models.
Both say how many queries were scored and how many were left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from irtnet.errors import ConfigError, DataError


def route(scores: np.ndarray, cost: np.ndarray | None = None, lam: float = 0.0,
          allowed: np.ndarray | None = None) -> np.ndarray:
    """Chosen model index per query: argmax of scores - lam * cost over allowed models.

    scores [Q, M]; cost [M] or [Q, M]; allowed [Q, M] bool (default all). Returns [Q] int64.
    """
    value = scores.astype(np.float64, copy=True)
    if cost is not None and lam:
        with np.errstate(over="ignore", invalid="ignore"):
            penalty = lam * np.broadcast_to(np.asarray(cost, dtype=np.float64), value.shape)
        if np.isfinite(penalty).all():
            value = value - penalty
        else:  # lam x cost overflows: the same order, divided by lam (never every value -inf, the first model)
            value = value / lam - np.broadcast_to(cost, value.shape)
    if allowed is not None:
        value = np.where(allowed, value, -np.inf)
    return np.argmax(value, axis=1)


def picked(labels: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Label of the chosen model for each query ([Q] float; NaN only if the choice is unlabelled)."""
    return labels[np.arange(len(choice)), choice]


def group_means(values: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    return {str(g): float(values[groups == g].mean()) for g in sorted(set(groups.tolist()))}


@dataclass
class RoutingResult:
    """Micro/macro routing accuracy of a router beside the label-only references."""

    mode: str
    n_queries: int
    n_excluded: int
    micro: float
    macro: float
    references: dict[str, dict[str, float]] = field(default_factory=dict)
    per_benchmark: dict[str, float] = field(default_factory=dict)
    gap_closed: float = float("nan")
    choice_share: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def routing_no_result(random_micro: float, oracle_micro: float, n_models: int | None = None) -> str | None:
    """Why routing accuracy is no result on these test labels, or None where it is one.

    With one model every router picks it; where the random pick's expected accuracy equals the oracle's, every
    routed query has the same label for all its models (random <= oracle on each query), so every choice scores
    the same. Either way a router's accuracy is the labels' alone, and routers cannot differ."""
    if n_models == 1:
        return ("the test queries have one model only: every router picks it, so routing accuracy is that model's "
                "accuracy, not a result")
    if random_micro == oracle_micro:
        return ("on every routed query all its models have the same label, so every choice scores the same: routing "
                "accuracy is no result here")
    return None


def references_no_result(references: dict[str, Any], n_models: int | None = None) -> str | None:
    """`routing_no_result` read from a routing result's references (`random` and `oracle`, each with `micro`);
    None where they are missing."""
    if "random" not in references or "oracle" not in references:
        return None
    return routing_no_result(references["random"]["micro"], references["oracle"]["micro"], n_models)


def scorable(labels: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(query mask, allowed-models mask) under the missing-label policy `mode`."""
    observed = ~np.isnan(labels)
    if mode == "complete":
        keep = observed.all(axis=1)
        return keep, np.ones_like(observed)
    if mode == "observed":
        return observed.any(axis=1), observed
    raise ConfigError(f"unknown routing mode {mode!r}: use 'complete' or 'observed'")


def reference_accuracies(labels: np.ndarray, allowed: np.ndarray, groups: np.ndarray,
                         train_model_acc: np.ndarray, train_bench_acc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-query scores of the references: random (expectation), best single, benchmark-best, oracle."""
    lab = np.where(allowed, labels, np.nan)
    random = np.nanmean(lab, axis=1)
    oracle = (np.nan_to_num(lab, nan=0.0) > 0.5).any(axis=1).astype(float)
    single = route(np.broadcast_to(train_model_acc, labels.shape), allowed=allowed)
    per_bench = np.stack([train_bench_acc.get(str(g), train_model_acc) for g in groups]) if len(groups) \
        else np.zeros_like(labels)
    bench = route(per_bench, allowed=allowed)
    return {"random": random, "best_single": picked(labels, single),
            "benchmark_best": picked(labels, bench), "oracle": oracle}


def routing_result(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, model_names: list[str],
                   train_model_acc: np.ndarray, train_bench_acc: dict[str, np.ndarray],
                   mode: str = "complete", cost: np.ndarray | None = None, lam: float = 0.0) -> RoutingResult:
    """Score a router's `scores` [Q, M] against 0/1 `labels` [Q, M] (NaN = missing) on benchmarks `groups` [Q]."""
    if scores.shape != labels.shape:
        raise DataError(f"scores {scores.shape} and labels {labels.shape} differ in shape", field="scores")
    keep, allowed = scorable(labels, mode)
    if not keep.any():
        raise DataError(f"no query can be scored under routing mode {mode!r}: every query misses some model's "
                        "label; route each query among its labelled models with routing mode 'observed' "
                        "(irtnet evaluate --routing-mode observed)")
    labels, scores, groups, allowed = labels[keep], scores[keep], groups[keep], allowed[keep]
    choice = route(scores, None if cost is None else (cost[keep] if np.ndim(cost) == 2 else cost), lam, allowed)
    hit = picked(labels, choice)
    refs = reference_accuracies(labels, allowed, groups, train_model_acc, train_bench_acc)
    references = {k: {"micro": float(v.mean()), "macro": float(np.mean(list(group_means(v, groups).values())))}
                  for k, v in refs.items()}
    micro = float(hit.mean())
    best, oracle = references["best_single"]["micro"], references["oracle"]["micro"]
    shares = np.bincount(choice, minlength=len(model_names)) / len(choice)
    return RoutingResult(
        mode=mode, n_queries=int(keep.sum()), n_excluded=int((~keep).sum()), micro=micro,
        macro=float(np.mean(list(group_means(hit, groups).values()))), references=references,
        per_benchmark=group_means(hit, groups),
        gap_closed=(micro - best) / (oracle - best) if oracle > best else float("nan"),
        choice_share={m: float(s) for m, s in zip(model_names, shares) if s > 0},
    )

"""The one evaluator: every model and baseline is scored here, through the `Router`/`Predictor` interface.

Correctness (docs/method.md section 2.1): over all observed test (model, query) pairs, accuracy at 0.5, ROC
AUC, log loss, Brier score and ECE, overall and per benchmark. Routing (2.2): see `irtnet.tasks.routing`.
The evaluator imports no concrete model; callers pass the base-rate predictor through it like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from irtnet._io import figures_read_back
from irtnet.config import expect
from irtnet.data.dataset import Dataset
from irtnet.metrics import correctness_metrics
from irtnet.predictors.base import Predictor, Router
from irtnet.tasks.routing import RoutingResult, routing_result


@dataclass
class EvaluationResult:
    """Correctness (None for a router without probabilities) and routing figures of one predictor."""

    predictor: str
    correctness: dict[str, Any] | None
    routing: RoutingResult
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"predictor": self.predictor, "correctness": self.correctness,
                "routing": self.routing.to_dict(), "info": self.info}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaluationResult:
        """A result from its `to_dict`, also as read back from a JSON file (`stored_result`: null figures as NaN)."""
        d = stored_result(d)
        return cls(d["predictor"], d["correctness"], RoutingResult(**d["routing"]), d.get("info", {}))


def stored_result(d: dict[str, Any]) -> dict[str, Any]:
    """A result dict (`EvaluationResult.to_dict`) read back from JSON with its figures as written: JSON has no
    NaN, so an undefined figure (an AUC on one class, a benchmark without labels) was written as null
    (`_io.write_json`), and is NaN again here. Correctness stays None for a router without probabilities, and
    `info` stays as written (its nulls mean "none", e.g. no query routed differently); other fields are kept.
    (`reporting.results` reads results.json's cells with the same `_io.figures_read_back`.)"""
    return figures_read_back(d, ("correctness", "routing"))


def score_matrix(router: Router, data: Dataset, chunk: int = 4096) -> np.ndarray:
    """[n_queries, n_models] scores (probabilities for a Predictor) in `data`'s query and model order."""
    models = data.table.model_vocab.ids
    method = router.predict_proba if isinstance(router, Predictor) else router.scores
    parts = [method(data.queries.take(slice(s, s + chunk)), models) for s in range(0, len(data.queries), chunk)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, len(models)))


def training_accuracies(train: Dataset, model_ids: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-model training accuracy [M] and per-benchmark per-model accuracy {benchmark: [M]}.

    A model without training labels on a benchmark falls back to its overall training accuracy; one with
    no training labels at all gets -inf (never chosen as 'best').
    """
    resp = train.table.responses
    frame = resp.assign(model=resp["model"].astype(str),
                        benchmark=train.table.queries["benchmark"].to_numpy(dtype=object)[train.table.query_index()])
    overall = frame.groupby("model")["label"].mean()
    model_acc = overall.reindex(list(model_ids)).to_numpy(dtype=np.float64)
    model_acc = np.where(np.isnan(model_acc), -np.inf, model_acc)
    by_bench = frame.groupby(["benchmark", "model"])["label"].mean()
    bench_acc = {}
    for bench, sub in by_bench.groupby(level=0):
        acc = sub.droplevel(0).reindex(list(model_ids)).to_numpy(dtype=np.float64)
        bench_acc[str(bench)] = np.where(np.isnan(acc), model_acc, acc)
    return model_acc, bench_acc


def correctness_result(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Correctness metrics over the observed cells of `labels` [Q, M], overall and per benchmark."""
    observed = ~np.isnan(labels)
    overall = correctness_metrics(scores[observed], labels[observed])
    per = {}
    for g in sorted(set(groups.tolist())):
        rows = groups == g
        obs = observed[rows]
        per[str(g)] = correctness_metrics(scores[rows][obs], labels[rows][obs])
    return {"overall": overall, "per_benchmark": per}


def evaluate(router: Router, train: Dataset, test: Dataset, routing_mode: str = "complete",
             scores: np.ndarray | None = None) -> EvaluationResult:
    """Score `router` on `test` (references from `train` labels). `scores` skips prediction if given."""
    expect(router, Router, "router", "a fitted model (a Router)")
    expect(train, Dataset, "train", "a Dataset (the training part: api.split_datasets)")
    expect(test, Dataset, "test", "a Dataset (the test part: api.split_datasets)")
    labels = test.table.label_matrix()
    groups = test.table.queries["benchmark"].to_numpy(dtype=object)
    scores = score_matrix(router, test) if scores is None else scores
    correctness = correctness_result(scores, labels, groups) if isinstance(router, Predictor) else None
    model_acc, bench_acc = training_accuracies(train, test.table.model_vocab.ids)
    routing = routing_result(scores, labels, groups, list(test.table.model_vocab.ids), model_acc, bench_acc,
                             mode=routing_mode)
    info = {"n_test_queries": test.table.n_queries, "n_test_pairs": int((~np.isnan(labels)).sum()),
            "n_models": test.table.n_models}
    return EvaluationResult(router.name, correctness, routing, info)


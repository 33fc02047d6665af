"""What a response table holds: sizes, missingness, outcome balance, per-model and per-benchmark accuracy.

`summarize(table)` is a pure function returning a `TableSummary` dataclass; `to_dict()` gives plain
JSON-ready values. Printing is the CLI's job (`irtnet data summary`).

Accuracy is the mean 0/1 `label` (after the majority vote over samples and repeats); `mean_score` is
the mean of `score` = n_correct / n_trials, which differs from it where outcomes are soft or k of n.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from irtnet.data.table import ImportReport, ResponseTable

__all__ = ["BenchmarkStats", "ModelStats", "TableSummary", "summarize"]


@dataclass(frozen=True)
class ModelStats:
    """One model: observed responses, share of the table's queries it lacks, accuracy, mean score, cost."""

    model: str
    responses: int
    missing: float
    accuracy: float
    mean_score: float
    mean_cost: float | None = None


@dataclass(frozen=True)
class BenchmarkStats:
    """One benchmark: its queries, observed responses, missing share, mean label and mean score."""

    benchmark: str
    queries: int
    responses: int
    missing: float
    accuracy: float
    mean_score: float


@dataclass
class TableSummary:
    """A response table at a glance.

    `missing` = 1 - responses / (models x queries); `positives` / `negatives` count the 0/1 labels;
    `soft_share` is the share of scores strictly between 0 and 1; `text_share` the share of queries
    with text.
    """

    source: str
    models: int
    queries: int
    benchmarks: int
    responses: int
    missing: float
    queries_answered_by_all: int
    positives: int
    negatives: int
    mean_label: float
    mean_score: float
    soft_share: float
    text_share: float
    has_cost: bool
    per_model: list[ModelStats] = field(default_factory=list)
    per_benchmark: list[BenchmarkStats] = field(default_factory=list)
    report: ImportReport = field(default_factory=ImportReport)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts, lists, strings and numbers (JSON-ready)."""
        return asdict(self)


def summarize(table: ResponseTable) -> TableSummary:
    """Summarise `table` (see `TableSummary`)."""
    resp = table.responses
    label = resp["label"].to_numpy(dtype=np.int64)
    score = resp["score"].to_numpy(dtype=np.float64)
    per_query = resp.groupby("query", observed=True).size()
    return TableSummary(
        source=table.report.source,
        models=table.n_models,
        queries=table.n_queries,
        benchmarks=len(table.benchmark_vocab),
        responses=len(resp),
        missing=1 - len(resp) / (table.n_models * table.n_queries),
        queries_answered_by_all=int((per_query == table.n_models).sum()),
        positives=int(label.sum()),
        negatives=int(len(label) - label.sum()),
        mean_label=float(label.mean()),
        mean_score=float(score.mean()),
        soft_share=float(((score > 0) & (score < 1)).mean()),
        text_share=float(table.queries["text"].notna().mean()),
        has_cost=table.has_cost,
        per_model=_per_model(resp, table.n_queries),
        per_benchmark=_per_benchmark(table),
        report=table.report,
    )


def _per_model(resp: pd.DataFrame, n_queries: int) -> list[ModelStats]:
    agg = {"responses": ("label", "size"), "accuracy": ("label", "mean"), "mean_score": ("score", "mean")}
    if "cost" in resp.columns:
        agg["mean_cost"] = ("cost", "mean")
    grouped = resp.groupby("model", observed=True).agg(**agg)
    return [ModelStats(str(m), int(r["responses"]), float(1 - r["responses"] / n_queries), float(r["accuracy"]),
                       float(r["mean_score"]), float(r["mean_cost"]) if "mean_cost" in r else None)
            for m, r in grouped.iterrows()]


def _per_benchmark(table: ResponseTable) -> list[BenchmarkStats]:
    benchmark = table.queries["benchmark"].to_numpy(dtype=object)[table.query_index()]
    grouped = table.responses.assign(benchmark=benchmark).groupby("benchmark").agg(
        responses=("label", "size"), accuracy=("label", "mean"), mean_score=("score", "mean"))
    n_queries = table.queries.groupby("benchmark").size()
    return [BenchmarkStats(str(b), int(n_queries[b]), int(r["responses"]),
                           float(1 - r["responses"] / (n_queries[b] * table.n_models)), float(r["accuracy"]),
                           float(r["mean_score"]))
            for b, r in grouped.iterrows()]

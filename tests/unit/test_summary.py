"""`summarize`: sizes, missingness, outcome balance and per-model / per-benchmark figures of a known table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from irtnet.data.summary import summarize
from irtnet.data.table import ResponseTable


@pytest.fixture
def table():
    # a answers q1 (1), q2 (0.25 -> label 0), q3 (1); b answers q1 (0) and q3 (1); b lacks q2.
    records = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b"], "query": ["q1", "q2", "q3", "q1", "q3"],
        "n_correct": [1, 1, 1, 0, 1], "n_trials": [1, 4, 1, 1, 1], "cost": [1.0, 2.0, 3.0, 0.5, 0.5],
        "benchmark": ["x", "x", "y", "x", "y"],
    })
    return ResponseTable.from_records(records, source="mem")


def test_summary_counts_and_balance(table):
    s = summarize(table)
    assert (s.models, s.queries, s.benchmarks, s.responses) == (2, 3, 2, 5)
    assert s.missing == pytest.approx(1 / 6) and s.queries_answered_by_all == 2
    assert (s.positives, s.negatives) == (3, 2) and s.mean_label == pytest.approx(0.6)
    assert s.mean_score == pytest.approx((1 + 0.25 + 1 + 0 + 1) / 5) and s.soft_share == pytest.approx(0.2)
    assert s.text_share == 0.0 and s.has_cost and s.source == "mem"


def test_summary_per_model_and_per_benchmark(table):
    s = summarize(table)
    a, b = s.per_model
    assert (a.model, a.responses, a.missing, a.accuracy) == ("a", 3, 0.0, pytest.approx(2 / 3))
    assert a.mean_score == pytest.approx(0.75) and a.mean_cost == pytest.approx(2.0)
    assert (b.model, b.responses, b.missing, b.accuracy) == ("b", 2, pytest.approx(1 / 3), 0.5)
    x, y = s.per_benchmark
    assert (x.benchmark, x.queries, x.responses, x.missing, x.accuracy) == ("x", 2, 3, pytest.approx(0.25),
                                                                             pytest.approx(1 / 3))
    assert (y.benchmark, y.queries, y.responses, y.accuracy) == ("y", 1, 2, 1.0)


def test_summary_is_json_ready_and_carries_the_report(table):
    table.report.skipped["empty cells"] = 4
    data = json.loads(json.dumps(summarize(table).to_dict()))
    assert data["report"]["skipped"] == {"empty cells": 4}
    assert data["per_model"][1]["mean_cost"] == 0.5 and data["per_benchmark"][0]["benchmark"] == "x"

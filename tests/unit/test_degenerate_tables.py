"""Degenerate tables (one model, one label value, a model without training labels, duplicate texts, empty
parts): each gets a clear error naming what is wrong, or output that says the figure is no result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet.api.data import split_datasets
from irtnet.cli.main import app
from irtnet.data.dataset import Dataset
from irtnet.data.importers import import_table
from irtnet.data.importers.long import import_long
from irtnet.data.pair_split import split_by_pair
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError
from irtnet.reporting.paired import paired_markdown
from irtnet.reporting.results import aggregate, table_markdown
from irtnet.reporting.tables import setting_notes
from irtnet.tasks.evaluate import EvaluationResult
from irtnet.tasks.onboard import population_prior
from irtnet.tasks.routing import routing_result
from irtnet.tasks.stats import paired_bootstrap

runner = CliRunner()


def _table(labels: np.ndarray, models: list[str] | None = None, keep: np.ndarray | None = None) -> ResponseTable:
    """A table of 0/1 `labels` [Q, M] (queries q000.., benchmarks a/b alternating); `keep` [Q, M] bool: observed."""
    n_q, n_m = labels.shape
    models = models or [f"m{j}" for j in range(n_m)]
    keep = np.ones_like(labels, dtype=bool) if keep is None else keep
    qi, mi = np.nonzero(keep)
    records = pd.DataFrame({"model": np.asarray(models, dtype=object)[mi],
                            "query": [f"q{q:03d}" for q in qi],
                            "n_correct": labels[qi, mi].astype(float), "n_trials": 1.0})
    queries = pd.DataFrame({"query": [f"q{q:03d}" for q in range(n_q)],
                            "benchmark": ["a" if q % 2 else "b" for q in range(n_q)],
                            "text": [f"question number {q}" for q in range(n_q)]})
    return ResponseTable.from_records(records, queries=queries)


def test_a_model_without_training_labels_is_refused_naming_it():
    labels = (np.random.default_rng(0).random((60, 3)) < 0.5).astype(int)
    split = split_by_query(_table(labels), (0.8, 0.1, 0.1), seed=0)
    test_rows = np.isin([f"q{q:03d}" for q in range(60)], split.test)
    keep = np.ones_like(labels, dtype=bool)
    keep[:, 2] = test_rows  # model m2 answered the test queries only
    table = _table(labels, keep=keep)
    with pytest.raises(DataError, match=r"model 'm2' has no label among the 48 training queries .*test part"):
        split_datasets(Dataset.from_table(table), split)


@pytest.mark.parametrize("value, word", [(1, "correct"), (0, "wrong")])
def test_training_labels_all_the_same_are_refused(value, word):
    table = _table(np.full((40, 3), value))
    split = split_by_query(table, (0.8, 0.1, 0.1), seed=0)
    with pytest.raises(DataError, match=rf"every one of the 96 training labels is {value} \(all {word}\)"):
        split_datasets(Dataset.from_table(table), split)


def test_a_pair_split_of_one_model_says_why_it_has_no_test_pair():
    table = make_synthetic(n_models=1, n_queries=50, n_benchmarks=2, text=False, seed=0).table
    with pytest.raises(DataError, match="leaves no test pair: the table has one model"):
        split_by_pair(table, (0.8, 0.1, 0.1), seed=0)


# --------------------------------------------------------------------------- routing among one model, or no choice
def _routing_result(labels: np.ndarray, scores: np.ndarray) -> EvaluationResult:
    groups = np.array(["a"] * len(labels), dtype=object)
    acc = np.nanmean(labels, axis=0)
    routing = routing_result(scores, labels, groups, [f"m{j}" for j in range(labels.shape[1])], acc, {"a": acc})
    return EvaluationResult("irtnet", None, routing, {"n_models": labels.shape[1]})


def test_evaluate_tables_say_routing_among_one_model_is_no_result():
    labels = np.array([[1.0], [0.0], [1.0]])
    notes = setting_notes([_routing_result(labels, np.full_like(labels, 0.7))])
    assert notes and notes[0].startswith("routing: the test queries have one model only: every router picks it")


def test_evaluate_tables_say_so_where_every_model_has_the_same_label_per_query():
    labels = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    notes = setting_notes([_routing_result(labels, np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.6]]))])
    assert any("all its models have the same label" in n for n in notes)
    labels[0, 1] = 0.0  # one query where the pick matters: routing is a result again
    assert not any(n.startswith("routing:") for n in setting_notes([_routing_result(labels, np.full((3, 2), .5))]))


def test_paired_routing_verdict_is_not_a_tie_when_routing_cannot_differ():
    rng = np.random.default_rng(0)
    y = (rng.random((30, 1)) < 0.5).astype(float)
    out = paired_bootstrap(y, rng.random((30, 1)), rng.random((30, 1)), n_boot=50)
    routing = out["metrics"]["routing"]
    assert routing["verdict"] == "n/a" and "one model only" in routing["reason"] and np.isnan(routing["lo"])
    same = np.repeat((rng.random((30, 1)) < 0.5).astype(float), 3, axis=1)  # three models, one label per query
    out = paired_bootstrap(same, rng.random((30, 3)), rng.random((30, 3)), n_boot=50)
    assert out["metrics"]["routing"]["verdict"] == "n/a" and "same label" in out["metrics"]["routing"]["reason"]
    ones = np.ones((30, 3))
    out = paired_bootstrap(ones, rng.random((30, 3)), rng.random((30, 3)), n_boot=50)
    assert "AUC is undefined" in out["metrics"]["auc"]["reason"]
    line = paired_markdown({"focus": "irtnet", "n_queries": 30, "units": 1,
                            "rows": {"knn": {"metrics": out["metrics"]}}, "best_other": {}})
    assert "+nan" not in line and "**n/a** (every labelled test pair has the same label: AUC is undefined)" in line


def _cell(label: str, micro: float, random: float, oracle: float, n_models: int) -> dict:
    refs = {"random": random, "best_single": random, "benchmark_best": random, "oracle": oracle}
    return {"dataset": "d", "setting": "query", "seed": 0, "fold": None, "label": label, "model": label,
            "status": "ok", "error": None, "fit_seconds": 0.0, "eval_seconds": 0.0, "cached": False,
            "result": {"correctness": None, "info": {"n_test_queries": 3, "n_test_pairs": 3, "n_models": n_models},
                       "routing": {"mode": "complete", "n_queries": 3, "n_excluded": 0, "micro": micro,
                                   "macro": micro, "gap_closed": float("nan"),
                                   "references": {k: {"micro": v, "macro": v} for k, v in refs.items()}}}}


def test_compare_tables_say_routing_among_one_model_is_no_result_and_mark_none_best():
    results = {"spec": {"datasets": [{"name": "d"}], "models": [{"name": "irtnet"}, {"name": "knn"}]},
               "cells": [_cell("irtnet", 0.6, 0.6, 0.6, 1), _cell("knn", 0.6, 0.6, 0.6, 1)]}
    [table] = aggregate(results)
    text = table_markdown(table)
    assert "**Routing** (gap closed = (micro - best single) / (oracle - best single)): the test queries have one " \
           "model only" in text
    assert "**0.6000**" not in text
    results["cells"] = [_cell("irtnet", 0.6, 0.5, 0.9, 3), _cell("knn", 0.7, 0.5, 0.9, 3)]
    text = table_markdown(aggregate(results)[0])
    assert "no result" not in text and "**0.7000**" in text


def test_route_says_when_there_is_one_model_to_route_among(tmp_path):
    table = make_synthetic(n_models=3, n_queries=80, n_benchmarks=2, dim=2, feature_dim=8, seed=0).table
    table.to_parquet(tmp_path / "t.parquet")
    result = runner.invoke(app, ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "run"), "--preset",
                                 "small", "--encoder", "hashing-64", "--epochs", "1", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    one = table.model_vocab.ids[0]
    result = runner.invoke(app, ["route", str(tmp_path / "run"), "a question", "--candidates", one])
    assert result.exit_code == 0, result.output
    assert f"one model to route among ({one}): every query goes to it" in " ".join(result.output.split())
    result = runner.invoke(app, ["route", str(tmp_path / "run"), "a question"])
    assert result.exit_code == 0 and "one model to route among" not in result.output


# ------------------------------------------------------------------------------------ imports and their reports
def test_long_import_counts_a_query_whose_every_outcome_is_empty(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("model,query,label\na,q1,1\nb,q1,0\na,q2,\nb,q2,\n")
    table = import_long(path, default_benchmark="x")
    assert table.n_queries == 1
    assert table.report.skipped["queries whose every row has an empty 'label' (left out of the table)"] == 1


def test_long_import_notes_texts_file_ids_that_are_no_query_of_the_table(tmp_path):
    (tmp_path / "scores.csv").write_text("model,query,label\na,q1,1\nb,q1,0\n")
    (tmp_path / "texts.csv").write_text("query,text\nq1,first\norphan,nobody answered this\n")
    table = import_long(tmp_path / "scores.csv", default_benchmark="x", texts_file=str(tmp_path / "texts.csv"))
    assert any("1 query ids of the texts file are no query of the table" in n and "'orphan'" in n
               for n in table.report.notes)


def test_import_notes_queries_that_share_their_text(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("model,query,label,text\na,q1,1,same words\nb,q1,0,same words\na,q2,1,same words\n"
                    "b,q2,1,same words\na,q3,0,other words\nb,q3,1,other words\n")
    table = import_table("long", path, default_benchmark="x", text="text")
    assert any("2 queries share their text with another query id" in n and "'q1', 'q2'" in n
               for n in table.report.notes)


def test_estimating_among_one_known_model_says_the_checkpoint_knows_one():
    with pytest.raises(DataError, match="the checkpoint knows 1 model: .*at least two known models"):
        population_prior(np.zeros((1, 3)))

"""Every JSON file irtnet writes is strict JSON (an undefined figure is null, never a bare NaN or Infinity token,
which jq, JavaScript and strict parsers refuse), and every reader that computes or prints such a figure takes
the null back as the NaN that was written: a run's history, evaluation and checkpoint, a comparison's cells,
results and stats, and the task results the report reads."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from irtnet._io import dumps_json, json_default, nan_for_null, read_json, strict_json, write_json
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable


def strict_load(path: Path) -> Any:
    """`path` parsed as strict JSON: a NaN, Infinity or -Infinity token is an error."""
    def refuse(token: str) -> None:
        raise ValueError(f"{path}: bare {token} token, not strict JSON")

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=refuse)


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (and never to None)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _nans(value: Any) -> int:
    if isinstance(value, float):
        return int(math.isnan(value))
    if isinstance(value, dict):
        return sum(_nans(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nans(v) for v in value)
    return 0


# ------------------------------------------------------------------------------------------------ writing
def test_write_json_writes_every_non_finite_float_as_null(tmp_path):
    doc = {"auc": float("nan"), "hi": float("inf"), "lo": -math.inf, "ok": 0.5, "n": 3, "none": None,
           "np": np.float32("nan"), "np64": np.float64(0.25), "arr": np.array([1.0, np.nan, np.inf]),
           "deep": [{"x": (float("nan"), 1)}, [np.int64(2), np.bool_(True)]], "path": Path("a/b")}
    write_json(tmp_path / "doc.json", doc)
    text = (tmp_path / "doc.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert strict_load(tmp_path / "doc.json") == {
        "auc": None, "hi": None, "lo": None, "ok": 0.5, "n": 3, "none": None, "np": None, "np64": 0.25,
        "arr": [1.0, None, None], "deep": [{"x": [None, 1]}, [2, True]], "path": "a/b"}
    assert dumps_json([math.nan, {"a": np.float16("inf")}]) == "[null, {\"a\": null}]"
    assert strict_json((1, np.array([[np.nan]]))) == [1, [[None]]]


def test_json_default_gives_a_numpy_nan_as_null_so_strict_dumps_never_fail():
    assert json.dumps([np.float32("nan"), np.array([np.inf, 1.0])], default=json_default, allow_nan=False) \
        == "[null, [null, 1.0]]"


def test_nan_for_null_reads_the_figures_back():
    back = nan_for_null({"auc": None, "per": [None, 0.5], "name": "m", "n": 2})
    assert math.isnan(back["auc"]) and math.isnan(back["per"][0]) and back["per"][1] == 0.5
    assert back["name"] == "m" and back["n"] == 2


# ---------------------------------------------------------------------------------------------- a run
def _table_with_one_class_outside_training(seed_split: Any, syn: ResponseTable) -> ResponseTable:
    """`syn` with every label of the split's validation and test queries 1: their AUC is undefined (NaN)."""
    held = set(seed_split.val) | set(seed_split.test)
    resp = syn.responses
    records = resp.assign(model=resp["model"].astype(str), query=resp["query"].astype(str))[["model", "query"]]
    labels = [1.0 if q in held else float(y) for q, y in zip(records["query"], resp["label"])]
    return ResponseTable.from_records(records.assign(n_correct=labels, n_trials=1.0), queries=syn.queries)


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory):
    """A run whose validation and test labels are all 1 (AUC NaN in its history and evaluation), evaluated:
    (run, the evaluation results as computed)."""
    from irtnet import api
    from irtnet.api.data import make_split
    from irtnet.api.run import RunSpec, train_run
    from irtnet.config import DataConfig
    from irtnet.predictors.spec import ModelSpec

    root = tmp_path_factory.mktemp("nan-run")
    syn = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    data = DataConfig(table=str(root / "t.parquet"), encoder="hashing-32", seed=0)
    _table_with_one_class_outside_training(make_split(syn, data), syn).to_parquet(root / "t.parquet")
    spec = RunSpec(data=data, model=ModelSpec(preset="small", params={"train": {"epochs": 2, "progress": False}}),
                   threads=1)
    run = train_run(spec, root / "run", progress=False)
    return run, api.evaluate_run(run.path)


def test_a_run_writes_strict_json_and_reads_its_nans_back(nan_run):
    from irtnet.reporting.report import _evaluation
    from irtnet.reporting.tables import markdown
    from irtnet.tasks.evaluate import EvaluationResult

    run, results = nan_run
    for name in ("history.json", "evaluation.json", "model/checkpoint.json", "run.json", "config.json"):
        strict_load(run.path / name)
    assert math.isnan(results[0].correctness["overall"]["auc"])  # the case this test is about
    history = strict_load(run.path / "history.json")
    assert all(row["val_auc"] is None for row in history)
    restored = run.predictor().result_.history  # the checkpoint's copy, read back
    assert all(math.isnan(row["val_auc"]) for row in restored) and len(restored) == len(history)
    stored = _evaluation(run.path / "evaluation.json")
    assert same(stored, [r.to_dict() for r in results])
    again = [EvaluationResult.from_dict(d) for d in read_json(run.path / "evaluation.json", list)]
    assert markdown(again) == markdown(results) and "| - |" in markdown(again)  # the AUC printed as before


# ---------------------------------------------------------------------------------------------- compare
def test_a_comparison_writes_strict_json_and_its_tables_keep_the_nans(tmp_path, monkeypatch):
    from irtnet.api.compare import load_spec, read_cached_cell, run_comparison
    from irtnet.api.compare_stats import paired_tables
    from irtnet.api.data import make_split
    from irtnet.config import DataConfig
    from irtnet.reporting.paired import paired_markdown
    from irtnet.reporting.result_files import read_stats
    from irtnet.reporting.results import aggregate, read_results

    syn = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    spec = load_spec({"datasets": [{"name": "syn", "table": str(tmp_path / "t.parquet")}], "seeds": [0],
                      "models": [{"name": "mean", "model": "model-mean"},
                                 {"name": "bench", "model": "model-benchmark-mean"}],
                      "encoder": "hashing-32", "n_boot": 100})
    split = make_split(syn, DataConfig(table="-", fractions=spec.fractions, seed=0, stratify=spec.stratify))
    _table_with_one_class_outside_training(split, syn).to_parquet(tmp_path / "t.parquet")
    first = run_comparison(spec, tmp_path / "out").to_dict()
    cells = [f"cells/{p.name}" for p in (tmp_path / "out" / "cells").glob("*.json")]
    for name in ("results.json", "stats.json", *cells):
        strict_load(tmp_path / "out" / name)
    assert math.isnan(first["cells"][0]["result"]["correctness"]["overall"]["auc"])
    stored = read_results(tmp_path / "out")
    assert same([c["result"] for c in stored["cells"]], [c["result"] for c in first["cells"]])
    assert same(aggregate(stored), aggregate(first))  # NaN stays among a table's values, as in a fresh run
    stats = read_stats(tmp_path / "out")[("syn", "query")]
    fresh = paired_tables(first, tmp_path / "out" / "cells")[0]
    assert math.isnan(stats["best_other"]["auc"]["diff"]) and stats["best_other"]["auc"]["verdict"] == "n/a"
    assert paired_markdown(stats) == paired_markdown(fresh)
    cell = next((tmp_path / "out" / "cells").glob("*.json"))
    assert math.isnan(read_cached_cell(cell, ["known"])["results"]["known"]["correctness"]["overall"]["auc"])
    again = run_comparison(spec, tmp_path / "out").to_dict()  # every cell read from the cache
    assert again["run"]["from_cache"] == len(again["cells"]) == len(first["cells"])
    assert same([c["result"] for c in again["cells"]], [c["result"] for c in first["cells"]])


def test_a_cached_cell_written_with_bare_nan_tokens_still_reads(tmp_path):
    from irtnet.api.compare import read_cached_cell

    overall = {"accuracy": 0.5, "auc": float("nan"), "log_loss": 0.7, "brier": 0.25, "ece": 0.1, "n": 3}
    routing = {"micro": 0.5, "macro": 0.5, "gap_closed": float("nan"), "n_queries": 1, "n_excluded": 0,
               "mode": "complete", "references": {"oracle": {"micro": 1.0, "macro": 1.0}}}
    info = {"best_epoch": None, "n_test_queries": 1, "n_test_pairs": 3, "n_models": 3, "epochs_run": None}
    result = {"predictor": "m", "correctness": {"overall": overall, "per_benchmark": {}}, "routing": routing,
              "info": info}
    doc = {"results": {"known": result}, "fit_seconds": 1.0, "eval_seconds": 0.5}
    (tmp_path / "old.json").write_text(json.dumps(doc))  # how irtnet wrote cells before: NaN tokens
    (tmp_path / "new.json").write_text(dumps_json(doc))
    for name in ("old", "new"):
        np.savez(tmp_path / f"{name}.npz", labels=np.ones((1, 1)), queries=np.array(["q"]), models=np.array(["m"]),
                 scores_known=np.ones((1, 1)))  # a readable predictions file beside it
        cell = read_cached_cell(tmp_path / f"{name}.json", ["known"])
        assert same(cell["results"]["known"], result), name
        assert cell["results"]["known"]["info"]["best_epoch"] is None  # info's nulls mean "none"


# ---------------------------------------------------------------------------------------- task results
def _benchmark_doc() -> dict[str, Any]:
    from irtnet.tasks.benchmark import BenchmarkEvaluation, BenchmarkFold

    nan = float("nan")
    folds = [BenchmarkFold("algebra", 10, ["m1", "m2"], [0.5, nan], {"irtnet": [0.4, 0.6]},
                           {"irtnet": {"mae": 0.1, "bias": 0.0, "spearman": nan}})]
    return BenchmarkEvaluation(folds, {"irtnet": {"mae": 0.1, "bias": 0.0, "spearman": nan, "n_folds": 1}},
                               {"k": 3, "seed": None},
                               paired=[{"n": 0, "a": "irtnet", "b": "knn", "diff": nan, "lo": nan, "hi": nan,
                                        "verdict": "n/a"}]).to_dict()


def _cost_doc() -> dict[str, Any]:
    from irtnet.tasks.cost import CostCurve, CostEvaluation, CurvePoint

    curves = [CostCurve("irtnet", [CurvePoint(0.0, 1.0, 0.5, float("nan"))], area=float("nan"))]
    return CostEvaluation(curves, {"m1": {"cost": 1.0, "accuracy": 0.5}}, "m1", {"cost": 1.0, "accuracy": 1.0},
                          (1.0, 1.0), single_area=float("nan"), settings={"cost_source": "table"}).to_dict()


@pytest.mark.parametrize("doc", [
    _benchmark_doc(), _cost_doc(),
    {"task": "onboarding", "settings": {"protocol": "p", "seed": None},
     "rows": [{"method": "prior", "k": 0, "auc": float("nan"), "log_loss": 0.6, "model_auc": float("nan"),
               "benchmark_mae": 0.1}]},
    {"task": "estimation", "settings": {"level": 0.9, "pool": None}, "run": {},
     "summary": [{"method": "irtnet-random", "n": 10, "benchmark": "all", "abs_error": 0.1, "spearman": float("nan"),
                  "coverage": float("nan"), "width": 0.2}],
     "paired": [{"n": 10, "metric": "abs_error", "a_method": "irtnet-random", "b_method": "x", "a": 0.1, "b": 0.2,
                 "diff": -0.1, "lo": float("nan"), "hi": float("nan"), "verdict": "n/a"}], "routing": [], "cells": []},
    {"task": "data-efficiency", "settings": {}, "run": {},
     "points": [{"predictor": "irtnet", "fraction": 0.5, "n_train_queries": 10, "setting": "text only",
                 "accuracy": 0.7, "auc": float("nan"), "log_loss": 0.6, "n_test_pairs": 20}]},
], ids=["benchmark-accuracy", "cost-routing", "onboarding", "estimation", "data-efficiency"])
def test_a_task_result_file_reads_back_with_its_nans(tmp_path, doc):
    from irtnet.reporting.report import _task_doc

    write_json(tmp_path / "task.json", doc)
    assert strict_load(tmp_path / "task.json")["task"] == doc["task"]
    back = _task_doc(tmp_path / "task.json")
    assert _nans(back) == _nans(doc) > 0
    assert same({k: v for k, v in back.items() if k not in ("settings", "run")},
                {k: v for k, v in doc.items() if k not in ("settings", "run")})
    assert back["settings"] == strict_load(tmp_path / "task.json")["settings"]  # its nulls stay None


def test_the_report_prints_a_nan_read_from_a_task_file_as_it_prints_the_task_s_own(tmp_path):
    from irtnet.reporting import html as H
    from irtnet.reporting.report import _task_doc

    doc = _cost_doc()
    write_json(tmp_path / "cost_routing.json", doc)
    strict_load(tmp_path / "cost_routing.json")
    tables = []
    for source in (doc, _task_doc(tmp_path / "cost_routing.json")):
        rep = H.Report("r")
        H.cost_section(rep, source)
        tables.append([H._table_html(t) for s in rep.sections for t in s.tables])
    assert tables[0] == tables[1] and '<td class="num">-</td>' in tables[1][0] and "None" not in tables[1][0]

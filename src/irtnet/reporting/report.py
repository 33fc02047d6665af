"""The report of a run or checkpoint: what `irtnet report` writes. It gathers the evaluation, the
interpretation of the model on the run's test queries and the task results found beside it, through the API,
and lays them out with `irtnet.reporting.html`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irtnet import api
from irtnet._io import json_kind, nan_for_null, read_json
from irtnet.api.experiments import cost_routing_run
from irtnet.errors import ConfigError, DataError
from irtnet.reporting import html as H
from irtnet.tasks.evaluate import stored_result

_TASK_FILES = ("benchmark_eval.json", "onboarding.json", "cost_routing.json")
_SECTIONS = {"benchmark-accuracy": H.benchmark_section, "onboarding": H.onboarding_section,
             "cost-routing": H.cost_section, "estimation": H.estimation_section,
             "data-efficiency": H.efficiency_section}


def build_report(checkpoint: str | Path, table_path: str | Path | None = None, include: list[Path] | None = None,
                 prices: str | Path | None = None, output_tokens: float = 256) -> H.Report:
    """The report of a run directory (or of a checkpoint directory with `table_path`). The run's evaluation.json
    and task files and every `include` file are read first: one that is missing (an `include`), empty, not valid
    JSON or of the wrong shape is a DataError naming it."""
    checkpoint = Path(checkpoint)
    run = api.Run.open(checkpoint) if api.is_run_dir(checkpoint) else None
    predictor = run.predictor() if run else api.load(checkpoint)
    evaluation_path = run.path / "evaluation.json" if run else None
    evaluation = _evaluation(evaluation_path) if evaluation_path and evaluation_path.exists() else None
    own = [p for p in _task_files(run) if p.exists()]
    docs = [_task_doc(p) for p in [*own, *(include or [])]]
    rep = H.Report(f"irtnet report: {checkpoint}", meta={"checkpoint": str(checkpoint), "predictor": predictor.name,
                                                         "models": len(predictor.models_)})
    if evaluation is not None:
        H.evaluation_section(rep, evaluation)
    if hasattr(predictor, "query_parameters") and (run or table_path):
        _interpretation(rep, predictor, run, table_path)
    if run and not any(d["task"] == "cost-routing" for d in docs):
        try:
            docs.append(cost_routing_run(run.path, prices, output_tokens, ["model-benchmark-mean"]))
        except ConfigError as exc:  # no costs for this table: the section is left out, and the page says why
            rep.meta["cost section"] = f"left out ({exc})"
    for doc in docs:
        _SECTIONS[doc["task"]](rep, doc)
    return rep


def _task_files(run: api.Run | None) -> list[Path]:
    return [run.path / n for n in _TASK_FILES] if run else []


def _evaluation(path: Path) -> list[dict[str, Any]]:
    """A run's evaluation.json: a non-empty list of result objects (DataError naming the file otherwise)."""
    what = "a JSON list of evaluation results (written by `irtnet evaluate`)"
    results = read_json(path, list, what)
    if not results:
        raise DataError(f"holds no evaluation results (expected {what}); rerun `irtnet evaluate`", file=str(path))
    for i, result in enumerate(results, start=1):
        if not isinstance(result, dict):
            raise DataError(f"expected an evaluation result (a JSON object), got {json_kind(result)}",
                            file=str(path), row=i)
    return [stored_result(r) for r in results]


def _task_doc(path: Path) -> dict[str, Any]:
    """A task result file (a JSON object whose `task` has a report section); a missing or malformed one, or one
    of a task the report has no section for, is a DataError naming it."""
    tasks = ", ".join(_SECTIONS)
    doc = read_json(path, dict, f"a task result (a JSON object with a 'task' field: {tasks})")
    if doc.get("task") not in _SECTIONS:
        found = "missing" if "task" not in doc else f"{doc['task']!r} has no report section"
        raise DataError(f"{found} (expected one of: {tasks})", file=str(path), field="task")
    return stored_figures(doc)


#: Per task, the fields of its result file whose leaves are all figures (or text), so that a null there is a NaN
#: the task wrote (JSON has none); `settings` and `run` are left as written (their nulls mean "not given").
_FIGURES = {"benchmark-accuracy": ("summary", "anchored", "paired", "folds"), "onboarding": ("rows",),
            "cost-routing": ("single_area", "single_models", "oracle", "cost_range"),
            "estimation": ("summary", "paired", "routing", "cells"), "data-efficiency": ("points",)}
#: A cost curve's figures; its `match_cost` and `match_lam` are null where no point matches the best single model.
_CURVE_FIGURES = ("area", "points")


def stored_figures(doc: dict[str, Any]) -> dict[str, Any]:
    """A task result read back from its file with the figures the task computed: every null in `_FIGURES`'
    fields (and in each cost curve's area and points) as NaN, so the sections print "-" and plot as they do
    for the task's own result."""
    out = {**doc, **{k: nan_for_null(doc[k]) for k in _FIGURES.get(doc.get("task"), ()) if k in doc}}
    if doc.get("task") == "cost-routing" and isinstance(doc.get("curves"), list):
        out["curves"] = [{**c, **{k: nan_for_null(c[k]) for k in _CURVE_FIGURES if k in c}} if isinstance(c, dict)
                         else c for c in doc["curves"]]
    return out


def _interpretation(rep: H.Report, predictor: Any, run: api.Run | None, table_path: str | Path | None) -> None:
    from irtnet.tasks.interpret import model_families

    own_table = table_path is None or (run and Path(table_path).resolve() == Path(run.spec.data.table))
    if run and own_table:
        data = run.datasets()[2]
        where = ("the run's test pairs" if run.spec.data.split == "pair"
                 else "the run's test queries (unseen in training)")
        table_name = run.spec.data.table
    else:
        data = api.prepare(api.load_table(table_path), getattr(predictor, "encoder_", None))
        where, table_name = "all queries of the table", str(table_path)
    known = [m for m in data.table.model_vocab.ids if m in predictor.models_]
    data = data.select(model_ids=known)
    rep.meta.update(table=table_name, interpretation_queries=where)
    H.interpretation_section(rep, predictor, data, model_families(data.table.models), where)

"""The report of a run or checkpoint: what `irtnet report` writes. It gathers the evaluation, the
interpretation of the model on the run's test queries and the task results found beside it, through the API,
and lays them out with `irtnet.reporting.html`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from irtnet import api
from irtnet.api.experiments import cost_routing_run
from irtnet.errors import ConfigError
from irtnet.reporting import html as H

_TASK_FILES = ("benchmark_eval.json", "onboarding.json", "cost_routing.json")


def build_report(checkpoint: str | Path, table_path: str | Path | None = None, include: list[Path] | None = None,
                 prices: str | Path | None = None, output_tokens: float = 256) -> H.Report:
    """The report of a run directory (or of a checkpoint directory with `table_path`)."""
    checkpoint = Path(checkpoint)
    run = api.Run.open(checkpoint) if api.is_run_dir(checkpoint) else None
    predictor = run.predictor() if run else api.load(checkpoint)
    rep = H.Report(f"irtnet report: {checkpoint}", meta={"checkpoint": str(checkpoint), "predictor": predictor.name,
                                                         "models": len(predictor.models_)})
    if run and (run.path / "evaluation.json").exists():
        H.evaluation_section(rep, json.loads((run.path / "evaluation.json").read_text()))
    if hasattr(predictor, "query_parameters") and (run or table_path):
        _interpretation(rep, predictor, run, table_path)
    docs = [json.loads(p.read_text()) for p in [*_task_files(run), *(include or [])] if p.exists()]
    if run and not any(d.get("task") == "cost-routing" for d in docs):
        try:
            docs.append(cost_routing_run(run.path, prices, output_tokens, ["model-benchmark-mean"]))
        except ConfigError as exc:  # no costs for this table: the section is left out, and the page says why
            rep.meta["cost section"] = f"left out ({exc})"
    sections = {"benchmark-accuracy": H.benchmark_section, "onboarding": H.onboarding_section,
                "cost-routing": H.cost_section, "estimation": H.estimation_section,
                "data-efficiency": H.efficiency_section}
    for doc in docs:
        if doc.get("task") in sections:
            sections[doc["task"]](rep, doc)
    return rep


def _task_files(run: api.Run | None) -> list[Path]:
    return [run.path / n for n in _TASK_FILES] if run else []


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

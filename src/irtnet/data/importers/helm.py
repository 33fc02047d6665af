"""HELM run folders (`benchmark_output/runs/<suite>/<run>/`): every model and scenario into one table.

PATH is one run folder (holding `run_spec.json`) or any folder above several, searched recursively.
Each run needs `run_spec.json` and `per_instance_stats.json`; `scenario_state.json` gives the text and
`stats.json` the run's own aggregates (both optional, their absence noted).

Mapping: model = `run_spec.adapter_spec.model` (e.g. `openai/gpt2`); benchmark = the scenario name, the
run name before ":" (`mmlu`, `narrative_qa`); query = `<task>/<instance_id>`, where the task is the run
name without its `model=` and `model_deployment=` arguments (`mmlu:subject=philosophy,method=
multiple_choice_joint/id147`), so runs of other models on the same scenario share query ids while other
subjects or adaptation methods do not.

Score: the per-instance stat named `metric` (default `exact_match`; a comma-separated preference list is
allowed, a run with none of them is skipped and counted), its `mean`, which must be a number in [0, 1]; 0/1 is
binary, anything else (`f1_score`, `rouge_l`) a fraction. An empty `per_instance_stats.json` (`[]`: it holds
no items), a row that is not an object and an `instance_id` that is missing or not a string are errors naming
the file (and row). Rows with a `perturbation` (robustness and fairness variants of an instance) are skipped
and counted; stats with a perturbation are ignored.
A `train_trial_index` that is not an integer >= 0 (null, "0", a list), the metric's stat given twice for one
instance with different means, a run name without a scenario and a `scenario_state.json` without a
`request_states` list are errors naming the file (and row).
Every split is kept (HELM runs hold `test` and `valid` instances) unless `splits` names some. Several
train trials of an instance (other few-shot examples) become k of n counts. Each split's mean is compared
with the run's `stats.json` figure for it.

Query text: `instance.input.text` of `scenario_state.json`, followed for multiple-choice runs by the lettered
choices of `output_mapping` ("A. ..."; `choices=false` leaves them out). The references of generation
runs are answers and are never added. Provenance: HELM logs no tool or task version; each model's
`provenance` entries (`irtnet.data.merge`) name the run folders.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from irtnet._io import brief
from irtnet.data.importers._harness_items import (
    Check,
    Item,
    Provenance,
    harness_table,
    preferences,
    stated_notes,
    unit_score,
)
from irtnet.data.importers._source import parse_json, require_path, skip
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

_MODEL_ARGS = ("model=", "model_deployment=")


def import_helm(path: str | Path, metric: str | None = None, splits: list[str] | None = None,
                choices: bool = True) -> ResponseTable:
    """HELM run folders (run_spec.json + per_instance_stats.json, text from scenario_state.json)."""
    root = Path(path)
    require_path(root)
    report = ImportReport(source=str(root))
    wanted = preferences(metric) or ["exact_match"]
    prov, checks, units, used = Provenance("helm"), [], [], set()
    for folder in _run_folders(root):
        model, bench, task = _run_names(folder)
        stats_file = folder / "per_instance_stats.json"
        rows = _instance_rows(stats_file)
        chosen = next((m for m in wanted if any(_stat(row, m) for row in rows)), None)
        if chosen is None:
            skip(report, "HELM runs without the asked metric", 1)
            report.notes.append(f"{folder}: no per-instance stat {' or '.join(wanted)}: skipped")
            continue
        values, split_of = _instance_values(rows, chosen, splits, str(stats_file), report)
        texts = _texts(folder, choices, report)
        units.append((str(stats_file), [Item(model, f"{task}/{iid}", bench, vals, texts.get(iid), f"instance {iid}")
                                        for iid, vals in values.items()]))
        checks += _checks(folder, model, task, chosen, values, split_of)
        prov.add(model, str(folder), bench)
        used.add(f"{task}: {chosen}")
    if used:
        report.notes.append(f"helm per-instance stats read: {'; '.join(sorted(used))}")
    report.notes += stated_notes("helm", checks, "(model, task, split) triples")
    return harness_table(units, source=str(root), report=report, provenance=prov)


# ---------------------------------------------------------------- files
def _run_folders(root: Path) -> list[Path]:
    if (root / "run_spec.json").is_file():
        return [root]
    if root.is_file():
        raise DataError("give a HELM run folder (with run_spec.json) or a folder above several", file=str(root))
    folders = sorted(p.parent for p in root.rglob("run_spec.json"))
    if not folders:
        raise DataError("no HELM run folders (no run_spec.json) in the folder", file=str(root))
    return folders


def _load_json(file: Path) -> Any:
    if not file.is_file():
        raise DataError("missing: a HELM run folder needs run_spec.json and per_instance_stats.json", file=str(file))
    return parse_json(file.read_bytes(), str(file))


def _load_list(file: Path) -> list[Any]:
    data = _load_json(file)
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list, got a {type(data).__name__}", file=str(file))
    return data


def _instance_rows(file: Path) -> list[dict[str, Any]]:
    """per_instance_stats.json: a non-empty list of objects, each with a string instance_id (`_check_row`)."""
    rows = _load_list(file)
    if not rows:
        raise DataError("holds no items (an empty list): the run has no per-instance stats", file=str(file))
    for index, row in enumerate(rows, start=1):
        _check_row(row, str(file), index)
    return rows


def _run_names(folder: Path) -> tuple[str, str, str]:
    """(model, benchmark, task) of a run, from its run_spec.json."""
    file = folder / "run_spec.json"
    spec = _load_json(file)
    name = spec.get("name") if isinstance(spec, dict) else None
    adapter = spec.get("adapter_spec") if isinstance(spec, dict) else None
    model = adapter.get("model") if isinstance(adapter, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise DataError("no run name", file=str(file), field="name")
    if not isinstance(model, str) or not model.strip():
        raise DataError("no model", file=str(file), field="adapter_spec.model")
    bench, _, args = name.strip().partition(":")
    if not bench.strip():
        raise DataError(f"the run name {name!r} has no scenario before ':'", file=str(file), field="name")
    kept = [a for a in args.split(",") if a and not a.startswith(_MODEL_ARGS)]
    return model.strip(), bench, f"{bench}:{','.join(kept)}" if kept else bench


# ---------------------------------------------------------------- scores
def _stat(row: dict[str, Any], metric: str, file: str = "", index: int = 0) -> dict[str, Any] | None:
    """The row's stat named `metric` computed on the instance itself (not on a perturbation). With `file`, the same
    stat (same name, split and sub-split) given twice with different means is a DataError: neither is guessed."""
    found = None
    for stat in row.get("stats") or []:  # a list (`_check_row`)
        name = stat.get("name") if isinstance(stat, dict) else None
        if isinstance(name, dict) and name.get("name") == metric and not name.get("perturbation"):
            if found is None:
                found = stat
            elif file and name == found["name"] and stat.get("mean") != found.get("mean"):
                raise DataError(f"instance {row['instance_id']} gives the stat {metric!r} twice, with means "
                                f"{found.get('mean')!r} and {stat.get('mean')!r}", file=file, row=index,
                                field=f"stats.{metric}")
    return found


def _instance_values(rows: list[dict[str, Any]], metric: str, splits: list[str] | None, file: str,
                     report: ImportReport) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Instance id -> the metric's value per train trial, and instance id -> split."""
    values: dict[str, list[float]] = defaultdict(list)
    split_of: dict[str, str] = {}
    seen: set[tuple[str, Any]] = set()
    for index, row in enumerate(rows, start=1):
        if row.get("perturbation"):
            skip(report, "HELM rows of perturbed instances (robustness/fairness variants)", 1)
            continue
        iid, trial = row["instance_id"], _trial(row, file, index)
        if (iid, trial) in seen:
            raise DataError(f"instance {iid} train trial {trial} appears twice", file=file, row=index,
                            field="instance_id")
        seen.add((iid, trial))
        stat = _stat(row, metric, file, index)
        if stat is None or "mean" not in stat:
            raise DataError(f"instance {iid} has no {metric!r} stat with a mean", file=file, row=index,
                            field=f"stats.{metric}")
        split = str(stat["name"].get("split"))
        if splits and split not in splits:
            skip(report, "HELM instances of splits not asked for", 1)
            continue
        values[iid].append(unit_score(stat["mean"], file=file, row=index, field=f"stats.{metric}.mean"))
        split_of[iid] = split
    return dict(values), split_of


def _trial(row: dict[str, Any], file: str, index: int) -> int:
    """A row's `train_trial_index`: an integer >= 0 (an integral float is its integer), 0 where the row has none;
    anything else (null, text such as "0", a list) is a DataError naming the row."""
    value = row.get("train_trial_index", 0)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"train_trial_index {brief(value)} is not an integer >= 0", file=file, row=index,
                        field="train_trial_index")
    return value


def _check_row(row: Any, file: str, index: int) -> None:
    """A row must be an object with a string `instance_id` (HELM writes ids such as "id147") and a list of `stats`."""
    if not isinstance(row, dict):
        raise DataError(f"a row is a {type(row).__name__}, not an object", file=file, row=index)
    iid = row.get("instance_id")
    if iid is None:
        raise DataError("a row without an instance_id", file=file, row=index, field="instance_id")
    if not isinstance(iid, str):
        raise DataError(f"the instance_id is not a string (got {type(iid).__name__} {brief(iid)})", file=file,
                        row=index, field="instance_id")
    if not iid.strip():
        raise DataError("the instance_id is empty", file=file, row=index, field="instance_id")
    if not isinstance(row.get("stats", []), list):
        raise DataError(f"stats is a {type(row['stats']).__name__}, not a list of stats", file=file, row=index,
                        field="stats")


def _checks(folder: Path, model: str, task: str, metric: str, values: dict[str, list[float]],
            split_of: dict[str, str]) -> list[Check]:
    """Per split: the mean over the imported instances against the run's stats.json figure."""
    stated: dict[str, float] = {}
    file = folder / "stats.json"
    for stat in _load_list(file) if file.is_file() else []:
        name = stat.get("name") if isinstance(stat, dict) else None
        if isinstance(name, dict) and name.get("name") == metric and not name.get("perturbation"):
            stated.setdefault(str(name.get("split")), stat.get("mean"))
    out = []
    for split in sorted(set(split_of.values())):
        means = [sum(v) / len(v) for iid, v in values.items() if split_of[iid] == split]
        figure = stated.get(split)
        out.append((model, f"{task} ({split})", sum(means) / len(means),
                    float(figure) if isinstance(figure, (int, float)) else None, f"{metric} ({split})"))
    return out


# ---------------------------------------------------------------- text
def _texts(folder: Path, choices: bool, report: ImportReport) -> dict[str, str]:
    """Instance id -> question text (with lettered choices for multiple-choice runs) from scenario_state.json."""
    file = folder / "scenario_state.json"
    if not file.is_file():
        report.notes.append(f"{folder}: no scenario_state.json, so its queries have no text")
        return {}
    state = parse_json(file.read_bytes(), str(file))
    states = state.get("request_states") if isinstance(state, dict) else None
    if not isinstance(states, list):
        got = f"request_states {brief(states)}" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise DataError(f"expected an object with a request_states list, got {got}", file=str(file),
                        field="request_states")
    out: dict[str, str] = {}
    for rs in states:
        instance = rs.get("instance") if isinstance(rs, dict) else None
        if not isinstance(instance, dict) or instance.get("perturbation") or str(instance.get("id")) in out:
            continue
        given = instance.get("input")
        text = given.get("text") if isinstance(given, dict) else None
        if isinstance(text, str):
            mapping = rs.get("output_mapping")
            if choices and isinstance(mapping, dict) and mapping:
                text += "\n" + "\n".join(f"{letter}. {option}" for letter, option in mapping.items())
            out[str(instance.get("id"))] = text
    return out

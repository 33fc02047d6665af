"""The report of a run or checkpoint: what `irtnet report` writes. It gathers the evaluation, the
interpretation of the model on the run's test queries and the task results found beside it, through the API,
and lays them out with `irtnet.reporting.html`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irtnet import api
from irtnet._io import json_kind, nan_for_null, read_json
from irtnet.api.experiments import cost_routing_run
from irtnet.errors import ConfigError, DataError, UnusedOptionError
from irtnet.reporting import html as H
from irtnet.tasks.evaluate import stored_result
from irtnet.tasks.prices import check_output_tokens

_TASK_FILES = ("benchmark_eval.json", "onboarding.json", "cost_routing.json")
_SECTIONS = {"benchmark-accuracy": H.benchmark_section, "onboarding": H.onboarding_section,
             "cost-routing": H.cost_section, "estimation": H.estimation_section,
             "data-efficiency": H.efficiency_section}


def build_report(checkpoint: str | Path, table_path: str | Path | None = None, include: list[Path] | None = None,
                 prices: str | Path | None = None, output_tokens: float | None = None) -> H.Report:
    """The report of a run directory (or of a checkpoint directory with `table_path`, a ConfigError without it, as
    is a `table_path` that a model without IRT query parameters leaves unread). The run's evaluation.json
    and task files and every `include` file are read first: one that is missing (an `include`), given twice, empty,
    not valid JSON, of the wrong shape or without a field its section reads is a DataError naming it. `prices` and
    `output_tokens` (None: 256) are for the cost section the report computes for a run without a cost-routing
    result; given where nothing reads them, they are a ConfigError, as is a price file that fails."""
    if output_tokens is not None:
        check_output_tokens(output_tokens)
    checkpoint = Path(checkpoint)
    run = api.Run.open(checkpoint) if api.is_run_dir(checkpoint) else None
    if run is None and table_path is None:  # a checkpoint alone has no queries to report on: an empty report
        raise ConfigError(f"{checkpoint} is a checkpoint directory, not a run directory: its report needs --table "
                          "TABLE (a response table of its models), or give the run directory")
    predictor = run.predictor() if run else api.load(checkpoint)
    if table_path is not None and not hasattr(predictor, "query_parameters"):
        raise UnusedOptionError(f"--table is read for the interpretation sections, which need an IRT model with "
                                f"query parameters, and {checkpoint} holds {predictor.name}: leave out --table"
                                + ("" if run else " (a checkpoint without them has no report; give its run)"))
    evaluation_path = run.path / "evaluation.json" if run else None
    evaluation = _evaluation(evaluation_path) if evaluation_path and evaluation_path.exists() else None
    own = [p for p in _task_files(run) if p.exists()]
    _refuse_repeats(own, include or [])
    docs = [_task_doc(p) for p in [*own, *(include or [])]]
    cost_file = next((p for p, d in zip([*own, *(include or [])], docs) if d["task"] == "cost-routing"), None)
    unused = [n for n, v in (("--prices", prices), ("--output-tokens", output_tokens)) if v is not None]
    if unused and (not run or cost_file is not None):
        given = " and ".join(unused)
        why = (f"{checkpoint} is no run directory" if not run else
               f"the cost section is read from {cost_file} (run `irtnet evaluate-cost` with {given} instead)")
        raise ConfigError(f"{given} {'is' if len(unused) == 1 else 'are'} read only where the report computes the "
                          f"cost section of a run, and {why}: leave out {given}")
    rep = H.Report(f"irtnet report: {checkpoint}", meta={"checkpoint": str(checkpoint), "predictor": predictor.name,
                                                         "models": len(predictor.models_)})
    left_out = None
    if run and cost_file is None:  # before the long work, so that a bad price file or option fails first
        try:
            docs.append(cost_routing_run(run.path, prices, output_tokens, ["model-benchmark-mean"]))
        except ConfigError as exc:  # no costs for this table: the section is left out, and the page says why
            if prices is not None or isinstance(exc, UnusedOptionError):  # costs, but no output-token price
                raise
            if output_tokens is not None:
                raise ConfigError(f"--output-tokens is read only for the token prices of the cost section, which is "
                                  f"left out ({exc}): leave out --output-tokens, or pass --prices FILE") from None
            left_out = f"left out ({exc})"
    if evaluation is not None:
        H.evaluation_section(rep, evaluation)
    if hasattr(predictor, "query_parameters") and (run or table_path):
        _interpretation(rep, predictor, run, table_path)
    if left_out:
        rep.meta["cost section"] = left_out
    for doc in docs:
        _SECTIONS[doc["task"]](rep, doc)
    return rep


def _refuse_repeats(own: list[Path], include: list[Path]) -> None:
    """An `include` file given twice, or that is one of the run's own task files (added without it), would be
    written twice: a ConfigError naming it."""
    own_file = ("is a task file of the run, which the report adds without --include", "leave it out")
    seen = {p.resolve(): own_file for p in own}
    for path in include:
        key = Path(path).resolve()
        if key in seen:
            why, fix = seen[key]
            raise ConfigError(f"--include {path} {why}, so its section would be written twice: {fix}")
        seen[key] = ("is given twice", "give each file once")


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
        _check_evaluation_result(result, str(path), i)
    return [stored_result(r) for r in results]


#: The correctness figures and the routing fields the report reads of each evaluation result.
_CORRECTNESS = ("accuracy", "auc", "log_loss", "brier", "ece")
_ROUTING = ("mode", "n_queries", "n_excluded", "micro", "macro", "references", "gap_closed", "per_benchmark",
            "choice_share")


def _check_evaluation_result(result: dict[str, Any], file: str, row: int) -> None:
    """What the evaluation section reads of one result of evaluation.json: its predictor (text), correctness
    (null, or an object whose `overall` has each figure), routing (an object with the fields `irtnet evaluate`
    writes: micro, macro, gap_closed numbers, references an object of objects with micro and macro) and info (an
    object, if present); anything else is a DataError naming the file, the row and the field."""
    def bad(field: str, what: str) -> DataError:
        return DataError(f"{what} (`irtnet evaluate` writes it in every result; damaged? rerun `irtnet evaluate`)",
                         file=file, row=row, field=field)

    for key in ("predictor", "routing"):
        if key not in result:
            raise bad(key, "missing")
    if not isinstance(result["predictor"], str):
        raise bad("predictor", f"is {json_kind(result['predictor'])}, not a predictor's name")
    correctness = result.get("correctness")
    if correctness is not None:
        overall = correctness.get("overall") if isinstance(correctness, dict) else None
        if not isinstance(overall, dict) or not all(_is_figure(overall.get(k, "")) for k in _CORRECTNESS):
            raise bad("correctness", f"has no 'overall' object with a number for each of {', '.join(_CORRECTNESS)}")
    routing = result.get("routing")
    if not isinstance(routing, dict):
        raise bad("routing", f"is {json_kind(routing)}, not a JSON object")
    needed = [k for k in _ROUTING[:7] if k not in routing]
    unknown = [k for k in routing if k not in _ROUTING]
    if needed or unknown:
        raise bad("routing", f"has no {', '.join(map(repr, needed))}" if needed
                  else f"has unknown key(s) {', '.join(map(repr, unknown))}")
    if not all(_is_figure(routing.get(k)) for k in ("micro", "macro", "gap_closed")):
        raise bad("routing", "micro, macro and gap_closed must be numbers (or null)")
    references = routing.get("references", {})
    if not isinstance(references, dict) or not all(
            isinstance(v, dict) and _is_figure(v.get("micro", "")) and _is_figure(v.get("macro", ""))
            for v in references.values()):
        raise bad("routing", "its references must be an object of objects, each with a number micro and macro")
    info = result.get("info", {})
    if not isinstance(info, dict):
        raise bad("info", f"is {json_kind(info)}, not a JSON object")
    if not isinstance(info.get("setting", ""), str) and info.get("setting") is not None:
        raise bad("info", f"its setting is {json_kind(info['setting'])}, not a setting's name")
    for key, keys in (("paths", None), ("skipped", None), ("skipped_settings", ()),
                      ("routed_differently", ("share", "n_differ", "a", "b"))):
        value = info.get(key) or {}
        if not isinstance(value, dict) or (keys is not None and not all(
                isinstance(v, dict) and all(k in v for k in keys) for v in value.values())):
            raise bad("info", f"its {key} is not an object" + (" of objects" if keys is not None else "")
                      + (f" with {', '.join(keys)}" if keys else ""))
    for name, d in (info.get("routed_differently") or {}).items():
        _check_disagreement(name, d, bad)


def _check_disagreement(name: str, d: dict[str, Any], bad: Any) -> None:
    """One entry of `info.routed_differently` as the notes print it: n_differ a whole number; share and each
    router's mean score there (a, b) numbers, null only where no query is routed differently."""
    differ = d["n_differ"]
    if isinstance(differ, bool) or not isinstance(differ, int):
        raise bad("info", f"its routed_differently of {name!r}: n_differ is {json_kind(differ)}, not a whole number")
    for key in ("share", "a", "b"):
        if not _is_figure(d[key], null=not differ):
            raise bad("info", f"its routed_differently of {name!r}: {key} is {json_kind(d[key])}, not a number"
                              + (f" ({differ} queries are routed differently)" if differ else ""))


def _task_doc(path: Path) -> dict[str, Any]:
    """A task result file (a JSON object whose `task` has a report section); a missing or malformed one, or one
    of a task the report has no section for, is a DataError naming it."""
    tasks = ", ".join(_SECTIONS)
    doc = read_json(path, dict, f"a task result (a JSON object with a 'task' field: {tasks})")
    if doc.get("task") not in _SECTIONS:
        found = "missing" if "task" not in doc else f"{doc['task']!r} has no report section"
        raise DataError(f"{found} (expected one of: {tasks})", file=str(path), field="task")
    check_task_fields(doc, str(path))
    return stored_figures(doc)


#: Per task: the command that writes its result, and the fields its report section reads, each with its kind
#: ("object", "text", "number"; "rows": a list of objects, "objects": an object of objects, each with the keys
#: given) and whether the section needs it (optional ones are checked where present).
_WRITER = {"benchmark-accuracy": "evaluate-benchmarks", "onboarding": "evaluate-onboarding",
           "cost-routing": "evaluate-cost", "estimation": "evaluate-estimation", "data-efficiency": "data-efficiency"}
_PAIRED = ("diff", "lo", "hi", "verdict")
_FIELDS: dict[str, dict[str, tuple[str, tuple[str, ...], bool]]] = {
    "benchmark-accuracy": {"summary": ("objects", (), True),
                           "folds": ("rows", ("benchmark", "true", "predicted"), True),
                           "anchored": ("objects", (), False), "paired": ("rows", ("a", "b", "n", *_PAIRED), False)},
    "onboarding": {"settings": ("object", (), True),
                   "rows": ("rows", ("method", "k", "auc", "log_loss", "model_auc", "benchmark_mae"), True)},
    "cost-routing": {"settings": ("object", (), True), "best_single": ("text", (), True),
                     "single_models": ("objects", ("cost", "accuracy"), True), "single_area": ("number", (), True),
                     "curves": ("rows", ("router", "kind", "area", "points", "match_cost"), True),
                     "oracle": ("object", ("cost", "accuracy"), True), "cost_range": ("list", (), True)},
    "estimation": {"settings": ("object", (), True), "summary": ("rows", ("benchmark", "method", "n"), True),
                   "paired": ("rows", ("a_method", "b_method", "n", "metric", *_PAIRED), False),
                   "routing": ("rows", ("a_method", "b_method", "n", "metric", *_PAIRED), False)},
    "data-efficiency": {"points": ("rows", ("predictor", "setting", "fraction", "n_train_queries", "accuracy", "auc",
                                           "log_loss"), True)},
}
#: The fields whose section has nothing to show without an entry, and what their task writes in them.
_NON_EMPTY = {("benchmark-accuracy", "summary"): "an entry per predictor", ("cost-routing", "single_models"): "an "
              "entry per model", ("benchmark-accuracy", "folds"): "an entry per held-out benchmark",
              ("onboarding", "rows"): "a row per method and K"}
_KINDS = {"object": (dict, "a JSON object"), "objects": (dict, "a JSON object of objects"),
          "rows": (list, "a JSON list of objects"), "list": (list, "a JSON list"), "text": (str, "a JSON string"),
          "number": ((int, float, type(None)), "a JSON number")}


def check_task_fields(doc: dict[str, Any], file: str) -> None:
    """Every field the report section of `doc`'s task reads (`_FIELDS`): a missing one, one of the wrong kind and
    an entry without a key it needs are a DataError naming `file` and the field, never a KeyError later."""
    task = doc["task"]
    damaged = f"`irtnet {_WRITER[task]}` writes it in every {task} result; damaged or cut?"
    for name, (kind, keys, needed) in _FIELDS[task].items():
        if name not in doc:
            if needed:
                raise DataError(f"missing: {damaged}", file=file, field=name)
            continue
        value = doc[name]
        types, what = _KINDS[kind]
        if not isinstance(value, types) or isinstance(value, bool):
            raise DataError(f"expected {what}, got {json_kind(value)}", file=file, field=name)
        entries = value if kind == "rows" else list(value.values()) if kind == "objects" else [value]
        if not entries and (task, name) in _NON_EMPTY:
            raise DataError(f"is empty: `irtnet {_WRITER[task]}` writes {_NON_EMPTY[task, name]} (damaged?)",
                            file=file, field=name)
        if kind not in ("rows", "objects", "object"):
            continue
        for i, entry in enumerate(entries, start=1):
            where = "" if kind == "object" else f"entry {i} " if kind == "rows" else f"entry {list(value)[i - 1]!r} "
            if not isinstance(entry, dict):
                raise DataError(f"{where}is {json_kind(entry)}, not a JSON object", file=file, field=name)
            absent = [k for k in keys if k not in entry]
            if absent:
                raise DataError(f"{where}has no {', '.join(map(repr, absent))} (each has {', '.join(keys)}; "
                                "damaged?)", file=file, field=name)
    if task in _FIGURE_CHECKS:
        _FIGURE_CHECKS[task](doc, file)


def _is_figure(value: Any, null: bool = True) -> bool:
    """A JSON number (not a boolean), or null (a NaN the task wrote) where `null`."""
    return (value is None and null) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _check_cost_figures(doc: dict[str, Any], file: str) -> None:
    """The figures of a cost-routing result that its section and plot read: every curve's router and kind (text),
    area and match_cost (a number or null) and its points (a non-empty list of objects with a cost and an
    accuracy); each single model's and the oracle's cost and accuracy; the cost range (two numbers)."""
    def bad(field: str, what: str) -> DataError:
        return DataError(f"{what} (`irtnet evaluate-cost` writes it; damaged?)", file=file, field=field)

    if doc["best_single"] not in doc["single_models"]:
        raise bad("best_single", f"{doc['best_single']!r} is not among single_models")
    entries = [("oracle", "its", doc["oracle"]), *(("single_models", f"entry {m!r}:", v)
                                                    for m, v in doc["single_models"].items())]
    for field, where, entry in entries:
        for key in ("cost", "accuracy"):
            if not _is_figure(entry[key]):
                raise bad(field, f"{where} {key} is {json_kind(entry[key])}, not a number")
    if len(doc["cost_range"]) != 2 or not all(_is_figure(v, null=False) for v in doc["cost_range"]):
        raise bad("cost_range", "is not a list of two numbers (the cheapest and the dearest model's mean cost)")
    if not doc["curves"]:
        raise bad("curves", "is empty: no router's curve")
    for i, curve in enumerate(doc["curves"], start=1):
        for key in ("router", "kind"):
            if not isinstance(curve[key], str):
                raise bad("curves", f"entry {i}: its {key} is {json_kind(curve[key])}, not a string")
        for key in ("area", "match_cost"):
            if not _is_figure(curve[key]):
                raise bad("curves", f"entry {i}: its {key} is {json_kind(curve[key])}, not a number or null")
        points = curve["points"]
        if not isinstance(points, list) or not points:
            got = "an empty list" if isinstance(points, list) else json_kind(points)
            raise bad("curves", f"entry {i}: its points are {got}, not a non-empty list of objects")
        for j, point in enumerate(points, start=1):
            if not isinstance(point, dict) or not all(_is_figure(point.get(k, "")) for k in ("cost", "accuracy")):
                raise bad("curves", f"entry {i}, point {j}: not an object with a number cost and accuracy")


def _check_benchmark_figures(doc: dict[str, Any], file: str) -> None:
    """What the benchmark section reads beyond the fields: every summary entry with the first one's figures, each
    anchored predictor's mae, bias, spearman and n_folds, each fold's true accuracies (a list) and the predictions
    (a list as long) of every predictor it plots, and each paired row's entry and verdict as text."""
    def bad(field: str, what: str) -> DataError:
        return DataError(f"{what} (`irtnet evaluate-benchmarks` writes it; damaged?)", file=file, field=field)

    first = next(iter(doc["summary"].values()))
    for name, entry in doc["summary"].items():
        if set(entry) != set(first):
            raise bad("summary", f"entry {name!r} has figures {sorted(entry)}, not the first entry's {sorted(first)}")
    for n, per in (doc.get("anchored") or {}).items():
        for name, entry in per.items():
            if not isinstance(entry, dict) or any(k not in entry for k in ("mae", "bias", "spearman", "n_folds")):
                raise bad("anchored", f"entry {n!r}, predictor {name!r}: not an object with mae, bias, spearman and "
                                      "n_folds")
    for i, fold in enumerate(doc["folds"], start=1):
        true, predicted = fold["true"], fold["predicted"]
        if not isinstance(fold["benchmark"], str) or not isinstance(true, list) or not isinstance(predicted, dict):
            raise bad("folds", f"entry {i}: not a benchmark's name, its true accuracies (a list) and its predicted "
                               "ones (an object of lists)")
        for name in list(doc["summary"])[:4]:  # the predictors the figure plots
            if not (isinstance(predicted.get(name), list) and len(predicted[name]) == len(true)):
                raise bad("folds", f"entry {i} ({fold['benchmark']!r}): its predicted has no list of {len(true)} "
                                   f"accuracies for {name!r}, one per model of its true")
    for i, row in enumerate(doc.get("paired") or [], start=1):
        if not (isinstance(row["b"], str) and isinstance(row["verdict"], str)):
            raise bad("paired", f"entry {i}: its b and verdict are {json_kind(row['b'])} and "
                                f"{json_kind(row['verdict'])}, not text")


def _check_onboarding_figures(doc: dict[str, Any], file: str) -> None:
    """The onboarding section's settings.protocol (text, if present), each row's method (text) and K (a whole
    number: -1 for every pool answer)."""
    where = "`irtnet evaluate-onboarding` writes it; damaged?"
    protocol = doc["settings"].get("protocol", "")
    if not isinstance(protocol, str):
        raise DataError(f"its protocol is {json_kind(protocol)}, not text ({where})", file=file, field="settings")
    for i, row in enumerate(doc["rows"], start=1):
        method, k = row["method"], row["k"]
        what = (f"its method is {json_kind(method)}, not text" if not isinstance(method, str) else
                f"its k is {json_kind(k)}{'' if k is None else f' {k!r}'}, not a whole number of answers"
                if isinstance(k, bool) or not isinstance(k, int) else None)
        if what:
            raise DataError(f"entry {i}: {what} ({where})", file=file, field="rows")


_FIGURE_CHECKS = {"benchmark-accuracy": _check_benchmark_figures, "onboarding": _check_onboarding_figures,
                  "cost-routing": lambda doc, file: _check_cost_figures(doc, file)}


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
    if not known:
        ids = list(data.table.model_vocab.ids)
        raise DataError(f"shares no model with the checkpoint: its {len(ids)} model(s) ({', '.join(ids[:3])}"
                        f"{' ...' if len(ids) > 3 else ''}) are none of the checkpoint's {len(predictor.models_)} "
                        f"({', '.join(list(predictor.models_.ids)[:3])} ...); give a table of the checkpoint's models",
                        file=table_name)
    other = [m for m in data.table.model_vocab.ids if m not in predictor.models_]
    if other:  # said on the page, never left out quietly
        rep.meta["models left out of the interpretation"] = (
            f"{len(other)} of the table's {len(data.table.model_vocab)} models are not in the checkpoint: "
            f"{', '.join(other[:10])}{' ...' if len(other) > 10 else ''}")
    data = data.select(model_ids=known)
    rep.meta.update(table=table_name, interpretation_queries=where)
    H.interpretation_section(rep, predictor, data, model_families(data.table.models), where)

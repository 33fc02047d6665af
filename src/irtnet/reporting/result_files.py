"""The files of a comparison run as the tables read them: results.json (`read_results`) and stats.json
(`read_stats`), each checked for the fields the tables use (a damaged or foreign file is a DataError naming the
file and the field), with the figures written as null (how strict JSON writes a NaN) NaN again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from irtnet._io import figures_read_back, json_kind, nan_for_null, read_json
from irtnet.errors import ConfigError, DataError
from irtnet.reporting.result_cells import check_cells

_RESULTS_FIELDS = (("spec", dict), ("cells", list), ("datasets", dict), ("spec.datasets", list), ("spec.models", list),
                   ("spec.seeds", list), ("spec.fractions", list), ("spec.encoder", str), ("spec.routing_mode", str))
_JSON_TYPES = {dict: "a JSON object", list: "a JSON list", str: "a JSON string"}
#: The fields of each dataset's record (`datasets.<name>`) that the Datasets table reads.
_DATASET_FIELDS = (("fingerprint", str, "a string"), ("n_models", int, "a whole number"),
                   ("n_queries", int, "a whole number"), ("n_pairs", int, "a whole number"),
                   ("benchmarks", list, "a JSON list"))


#: What `irtnet compare` and `write_tables` keep in a run directory: the files, and the folders of files.
RUN_FILES = ("results.json", "stats.json", "summary.md")
RUN_FOLDERS = ("tables", "cells", "splits", "datasets")


def check_run_dir(run_dir: str | Path) -> None:
    """A ConfigError where `run_dir` is a file, not the folder `irtnet compare` wrote."""
    if Path(run_dir).is_file():
        raise ConfigError(f"{run_dir} is a file, not a run directory: give the folder `irtnet compare` wrote (the "
                          "one holding results.json)")


def check_not_run_file(output: Path | None, run_dirs: list[Path], option: str) -> None:
    """A ConfigError where `output` (the file of `option`) is one of the files of a run of `run_dirs` (results.json,
    stats.json, summary.md, or one under its tables/, cells/, splits/ or datasets/), which writing it would
    replace: a run's results destroyed by a document over them."""
    if output is None:
        return
    target = output.resolve()
    for run_dir in run_dirs:
        run = Path(run_dir).resolve()
        if target in [run / name for name in RUN_FILES] or any(run / f in target.parents for f in RUN_FOLDERS):
            raise ConfigError(f"{option} {output} is a file of the run {run_dir}, which writing it would replace: "
                              f"give a path outside the run's {', '.join(RUN_FILES)} and {'/, '.join(RUN_FOLDERS)}/")


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """A comparison run's results.json; a truncated one, or one without the fields the tables read
    (`_RESULTS_FIELDS`), is a DataError naming the file and the field; so is a damaged, repeated, foreign or
    missing cell (`result_cells.check_cells`: the field names the cell, `cells[i]...`). The cells' figures
    written as null (a NaN: JSON has none) are NaN again (`stored_result`), so the tables keep them among the
    values, as a fresh run's."""
    check_run_dir(run_dir)
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise ConfigError(f"{run_dir}: no results.json here; run `irtnet compare` into this folder first")
    results = read_json(path, dict, "the results of `irtnet compare` (a JSON object with 'spec', 'cells' and "
                                    "'datasets')")
    for name, kind in _RESULTS_FIELDS:
        *parents, key = name.split(".")
        holder = results
        for parent in parents:  # checked as an object already
            holder = holder[parent]
        if not isinstance(holder.get(key), kind):
            found = "missing" if key not in holder else f"got {json_kind(holder[key])}"
            raise DataError(f"{found}, expected {_JSON_TYPES[kind]} (not the results.json of `irtnet compare`, "
                            "or damaged)", file=str(path), field=name)
    check_cells(results, str(path))
    _check_records(results, str(path))
    results["cells"] = [_stored_cell(c) for c in results["cells"]]
    return results


def _check_records(results: dict[str, Any], file: str) -> None:
    """The records the document prints beside the tables: a dataset record (`datasets.<name>`) for each dataset of
    the spec and none other, with the fields of `_DATASET_FIELDS`; the focus one of the model entries (or null);
    each model entry's `params` an object."""
    names = [d["name"] for d in results["spec"]["datasets"]]
    stray = [name for name in results["datasets"] if name not in names]
    for name in [*names, *stray]:
        field = f"datasets.{name}"
        record = results["datasets"].get(name)
        if name in stray:
            raise DataError(f"a record of a dataset that is not in spec.datasets ({', '.join(map(repr, names))}): "
                            "results of another run mixed in, or damaged?", file=file, field=field)
        if not isinstance(record, dict):
            found = "missing" if record is None and name not in results["datasets"] else f"got {json_kind(record)}"
            raise DataError(f"{found}, expected a JSON object (the dataset's versions and sizes; damaged?)", file=file,
                            field=field)
        for key, kind, what in _DATASET_FIELDS:
            if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
                found = "missing" if key not in record else f"got {json_kind(record[key])}"
                raise DataError(f"{found}, expected {what} (damaged?)", file=file, field=f"{field}.{key}")
        _check_provenance(record.get("provenance", {}), file, f"{field}.provenance")
    _check_spec_text(results["spec"], file)
    entries = [m["name"] for m in results["spec"]["models"]]
    focus = results["spec"].get("focus")
    if focus is not None and focus not in entries:
        raise DataError(f"{focus!r} is not a model entry of the run (spec.models: {', '.join(map(repr, entries))}; "
                        "damaged?)", file=file, field="spec.focus")
    for i, entry in enumerate(results["spec"]["models"]):
        if not isinstance(entry.get("params", {}), dict):
            raise DataError(f"got {json_kind(entry['params'])}, expected a JSON object (damaged?)", file=file,
                            field=f"spec.models[{i}].params")


def _check_provenance(provenance: Any, file: str, field: str) -> None:
    """A dataset's provenance as the Datasets table reads it: an object whose `files` (if given) is an object of
    the source files' digests and whose `digest` and `commit` are strings (or null)."""
    if not isinstance(provenance, dict):
        raise DataError(f"got {json_kind(provenance)}, expected a JSON object (damaged?)", file=file, field=field)
    if not isinstance(provenance.get("files", {}), dict):
        raise DataError(f"got {json_kind(provenance['files'])}, expected a JSON object (each source file's sha256; "
                        "damaged?)", file=file, field=f"{field}.files")
    for key in ("digest", "commit"):
        if not isinstance(provenance.get(key, ""), (str, type(None))):
            raise DataError(f"got {json_kind(provenance[key])}, expected a string or null (damaged?)", file=file,
                            field=f"{field}.{key}")


def _check_spec_text(spec: dict[str, Any], file: str) -> None:
    """What the document prints of the spec beside its names: the split's three fractions (numbers), the title
    and the description (strings, or null)."""
    fractions = spec["fractions"]
    if len(fractions) != 3 or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in fractions):
        raise DataError(f"got {json.dumps(fractions)}, expected three numbers (the train, validation and test "
                        "fractions; damaged?)", file=file, field="spec.fractions")
    for key in ("title", "description"):
        if not isinstance(spec.get(key), (str, type(None))):
            raise DataError(f"got {json_kind(spec[key])}, expected a string or null (damaged?)", file=file,
                            field=f"spec.{key}")


def _stored_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell of results.json with its result's figures (correctness, routing) as the run had them: null, how a
    NaN is written, is NaN again, as `tasks.evaluate.stored_result` reads them (not imported: it would load
    torch and scikit-learn into `irtnet results`, which reads JSON only)."""
    result = cell.get("result")
    if not isinstance(result, dict):  # a cell without a score (checked: not an "ok" one)
        return cell
    return {**cell, "result": figures_read_back(result, ("correctness", "routing"))}


def read_stats(run_dir: str | Path, results: dict[str, Any] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """The run's paired statistics (stats.json, written by `irtnet compare`), by (dataset, setting); {} where it
    is absent (`missing_stats_note`). A malformed one (without a field the tables read: `_check_paired`) is a
    DataError naming it, the table (its row) and the field; so, given the run's `results` (`read_results`), is one
    of another run: a dataset, focus or model entry that is not the run's, or more splits than its focus scored."""
    path = Path(run_dir) / "stats.json"
    if not path.exists():
        return {}
    what = "the paired statistics of `irtnet compare` (a JSON list of objects with 'dataset' and 'setting')"
    tables = read_json(path, list, what)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i, x in enumerate(tables, start=1):
        if not (isinstance(x, dict) and isinstance(x.get("dataset"), str) and isinstance(x.get("setting"), str)):
            got = "an object without them" if isinstance(x, dict) else json_kind(x)
            raise DataError(f"expected an object with 'dataset' and 'setting' (strings), got {got}", file=str(path),
                            row=i)
        if (x["dataset"], x["setting"]) in out:
            raise DataError(f"repeats the table of dataset {x['dataset']!r}, setting {x['setting']!r} (damaged?)",
                            file=str(path), row=i)
        _check_paired(x, _Where(str(path), i))
        if results is not None:
            _check_same_run(x, results, _Where(str(path), i))
        out[(x["dataset"], x["setting"])] = _stored_paired(x)
    return out


class _Where:
    """A table of stats.json being checked: raises the DataError naming the file, the table and the field."""

    def __init__(self, file: str, row: int) -> None:
        self.file, self.row = file, row

    def fail(self, field: str, message: str, why: str = "not the stats.json of `irtnet compare`, or damaged") -> NoReturn:
        raise DataError(f"{message} ({why})", file=self.file, row=self.row, field=field)

    def need(self, holder: dict[str, Any], key: str, field: str, kinds: tuple[type, ...], what: str,
             null: bool = False) -> Any:
        value = holder.get(key, _MISSING)
        if (value is None and null) or (isinstance(value, kinds) and not isinstance(value, bool)):
            return value
        self.fail(field, f"{'missing' if value is _MISSING else f'got {json_kind(value)}'}, expected {what}"
                         f"{' or null' if null else ''}")


_MISSING = object()
_NUMBER = (int, float)
_VERDICTS = ("win", "tie", "loss", "n/a")


def _check_paired(table: dict[str, Any], where: _Where) -> None:
    """The fields of one stats.json table that the Verdicts, Paired differences and summary tables read; `left_out`
    is optional (stats.json files written before it have none)."""
    where.need(table, "focus", "focus", (str,), "a string (the focus entry)")
    if table.get("unavailable") is not None:
        where.need(table, "unavailable", "unavailable", (str,), "a string (why there is no comparison)")
        return
    for key in ("units", "n_queries"):
        where.need(table, key, key, (int,), "a whole number")
    rows = where.need(table, "rows", "rows", (dict,), "a JSON object (an entry per other model entry)")
    for label, row in rows.items():
        where.need(rows, label, f"rows.{label}", (dict,), "a JSON object")
        metrics = where.need(row, "metrics", f"rows.{label}.metrics", (dict,), "a JSON object")
        for metric in metrics:
            _check_metric(metrics, metric, f"rows.{label}.metrics.{metric}", where)
        if row.get("routing_disagreement") is not None:
            d = where.need(row, "routing_disagreement", f"rows.{label}.routing_disagreement", (dict,),
                           "a JSON object")
            differ = where.need(d, "n_differ", f"rows.{label}.routing_disagreement.n_differ", (int,),
                                "a whole number")
            for key in ("share", "a", "b"):  # null only where no query is routed differently: no mean score there
                where.need(d, key, f"rows.{label}.routing_disagreement.{key}", _NUMBER,
                           f"a number{' (' + str(differ) + ' queries are routed differently)' if differ else ''}",
                           null=not differ)
    best = where.need(table, "best_other", "best_other", (dict,), "a JSON object (the best other entry per metric)")
    for metric in best:
        _check_metric(best, metric, f"best_other.{metric}", where)
        entry = where.need(best[metric], "entry", f"best_other.{metric}.entry", (str,), "a string (a model entry)")
        if entry not in rows:
            where.fail(f"best_other.{metric}.entry", f"{entry!r} is none of the entries compared (rows)")
    if "left_out" in table:  # absent from a stats.json written before it was recorded: read as none
        _check_left_out(table, rows, where)


def _check_left_out(table: dict[str, Any], rows: dict[str, Any], where: _Where) -> None:
    """`left_out`: the entries not compared for want of predictions on a split, each with those splits' names."""
    left_out = where.need(table, "left_out", "left_out", (dict,), "a JSON object (entry -> the splits it lacks)")
    for label in left_out:
        splits = where.need(left_out, label, f"left_out.{label}", (list,), "a JSON list of split names")
        if not splits or not all(isinstance(s, str) for s in splits):
            where.fail(f"left_out.{label}", "expected a non-empty JSON list of split names (strings)")
        if label in rows:
            where.fail(f"left_out.{label}", f"{label!r} is both compared (rows) and left out")


def _check_metric(holder: dict[str, Any], metric: str, field: str, where: _Where) -> None:
    """One paired comparison on one metric: the estimates, the difference and its interval, and the verdict."""
    m = where.need(holder, metric, field, (dict,), "a JSON object")
    for key in ("a", "b", "diff", "lo", "hi"):
        where.need(m, key, f"{field}.{key}", _NUMBER, "a number", null=True)
    verdict = where.need(m, "verdict", f"{field}.verdict", (str,), "a string")
    if verdict not in _VERDICTS:
        where.fail(f"{field}.verdict", f"{verdict!r} is no verdict: expected one of {', '.join(_VERDICTS)}")


def _check_same_run(table: dict[str, Any], results: dict[str, Any], where: _Where) -> None:
    """A stats.json table belongs to the run of `results`: its dataset, setting, focus and entries are the run's,
    and it pairs no more splits than the focus entry scored there (a stats.json beside another run's results)."""
    spec, why = results["spec"], "a stats.json of another run? rerun `irtnet compare` into this folder"
    datasets, entries = [d["name"] for d in spec["datasets"]], [m["name"] for m in spec["models"]]
    if table["dataset"] not in datasets:
        where.fail("dataset", f"{table['dataset']!r} is not a dataset of results.json (spec.datasets: "
                              f"{', '.join(map(repr, datasets))})", why)
    if table["setting"] not in ("query", "text"):
        where.fail("setting", f"{table['setting']!r} is not a setting with paired statistics ('query', 'text')")
    focus = spec.get("focus") or entries[0]
    if table["focus"] != focus:
        where.fail("focus", f"{table['focus']!r}, but the focus entry of results.json is {focus!r}", why)
    for part in ("rows", "left_out"):
        stray = [label for label in table.get(part) or {} if label not in entries or label == focus]
        if stray:
            where.fail(f"{part}.{stray[0]}", f"{stray[0]!r} is not another model entry of results.json (spec.models: "
                                             f"{', '.join(map(repr, entries))})", why)
    scored = sum(c["dataset"] == table["dataset"] and c["setting"] == table["setting"] and c["label"] == focus
                 and c["status"] == "ok" for c in results["cells"])
    if table.get("units", 0) > scored:
        where.fail("units", f"pairs {table['units']} split(s), but results.json has {scored} scored cell(s) of "
                            f"{focus!r} in dataset {table['dataset']!r}, setting {table['setting']!r}", why)


def _stored_paired(table: dict[str, Any]) -> dict[str, Any]:
    """One table of stats.json with its figures as `compare_stats` made them: each comparison's point estimates,
    difference, interval and spread (`rows.<entry>.metrics.<metric>`, `best_other.<metric>`), written as null
    where NaN (no data to compare on), NaN again. A routing disagreement's nulls mean "none" and stay."""
    out = dict(table)
    if isinstance(table.get("rows"), dict):
        out["rows"] = {label: {**row, "metrics": {m: nan_for_null(v) for m, v in row["metrics"].items()}}
                       if isinstance(row, dict) and isinstance(row.get("metrics"), dict) else row
                       for label, row in table["rows"].items()}
    if isinstance(table.get("best_other"), dict):
        out["best_other"] = {m: nan_for_null(v) for m, v in table["best_other"].items()}
    return out


def missing_stats_note(run_dir: str | Path) -> str | None:
    """What a run without stats.json leaves out of its document (None: stats.json is there)."""
    if (Path(run_dir) / "stats.json").exists():
        return None
    return (f"{Path(run_dir) / 'stats.json'} is missing: the Verdicts and Paired differences sections are left "
            "out (rerun `irtnet compare` into this folder to make it)")


#: The settings `irtnet compare` writes paired statistics for: benchmark known, text only.
_PAIRED_SETTINGS = ("query", "text")


def focus_entry(spec: dict[str, Any]) -> str:
    """The run's focus entry: the spec's `focus`, or its first model entry (as `irtnet compare` picks it)."""
    return spec.get("focus") or spec["models"][0]["name"]


def paired_stats(run_dir: str | Path, results: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The run's paired statistics (`read_stats`), in the run's order, with a table for each (dataset, setting)
    with paired statistics (query, text) that has cells but none in stats.json: `irtnet compare` writes none where
    the focus entry has nothing scored to pair (every cell failed, none run yet, none in the setting). Such a
    table is `unavailable`, with why, so that the Verdicts, the Paired differences and the README summary show
    its row as n/a instead of leaving it out. Without stats.json: {} (`missing_stats_note` says so)."""
    stats = read_stats(run_dir, results)
    if missing_stats_note(run_dir):
        return stats
    focus, out = focus_entry(results["spec"]), {}
    for ds in results["spec"]["datasets"]:
        for setting in _PAIRED_SETTINGS:
            key = (ds["name"], setting)
            cells = [c for c in results["cells"] if (c["dataset"], c["setting"]) == key]
            if key in stats:
                out[key] = stats[key]
            elif cells:
                out[key] = {"dataset": key[0], "setting": setting, "focus": focus, "units": 0, "n_queries": 0,
                            "rows": {}, "best_other": {}, "unavailable": _not_paired(focus, cells)}
    return out


def _not_paired(focus: str, cells: list[dict[str, Any]]) -> str:
    """Why a (dataset, setting) with `cells` has no paired statistics of `focus`, from the focus entry's cells."""
    mine = [c for c in cells if c["label"] == focus]
    statuses = {c["status"] for c in mine}
    if not mine:
        return f"{focus} has no cell in this setting"
    if "ok" in statuses:
        return (f"stats.json has no paired statistics of {focus} here (its stored predictions were missing?); rerun "
                "`irtnet compare` into this folder")
    if "error" in statuses:
        message = next(c["error"] for c in mine if c["status"] == "error") or ""
        return f"{focus} was not scored here: error: {message.splitlines()[0][:160] if message else 'no message'}"
    if "pending" in statuses:
        return f"{focus} was not scored here: not run yet"
    return f"{focus} is n/a here: {mine[0]['error'] or 'n/a'}"

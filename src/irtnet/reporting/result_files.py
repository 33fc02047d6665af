"""The files of a comparison run as the tables read them: results.json (`read_results`) and stats.json
(`read_stats`), each checked for the fields the tables use (a damaged or foreign file is a DataError naming the
file and the field), with the figures written as null (how strict JSON writes a NaN) NaN again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irtnet._io import figures_read_back, json_kind, nan_for_null, read_json
from irtnet.errors import ConfigError, DataError
from irtnet.reporting.result_cells import check_cells

_RESULTS_FIELDS = (("spec", dict), ("cells", list), ("datasets", dict), ("spec.datasets", list), ("spec.models", list),
                   ("spec.seeds", list))
_JSON_TYPES = {dict: "a JSON object", list: "a JSON list"}


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """A comparison run's results.json; a truncated one, or one without the fields the tables read
    (`_RESULTS_FIELDS`), is a DataError naming the file and the field; so is a damaged, repeated, foreign or
    missing cell (`result_cells.check_cells`: the field names the cell, `cells[i]...`). The cells' figures
    written as null (a NaN: JSON has none) are NaN again (`stored_result`), so the tables keep them among the
    values, as a fresh run's."""
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
    results["cells"] = [_stored_cell(c) for c in results["cells"]]
    return results


def _stored_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell of results.json with its result's figures (correctness, routing) as the run had them: null, how a
    NaN is written, is NaN again, as `tasks.evaluate.stored_result` reads them (not imported: it would load
    torch and scikit-learn into `irtnet results`, which reads JSON only)."""
    result = cell.get("result")
    if not isinstance(result, dict):  # a cell without a score (checked: not an "ok" one)
        return cell
    return {**cell, "result": figures_read_back(result, ("correctness", "routing"))}


def read_stats(run_dir: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The run's paired statistics (stats.json, written by `irtnet compare`), by (dataset, setting); {} where it
    is absent (`missing_stats_note`). A malformed one is a DataError naming it."""
    path = Path(run_dir) / "stats.json"
    if not path.exists():
        return {}
    what = "the paired statistics of `irtnet compare` (a JSON list of objects with 'dataset' and 'setting')"
    tables = read_json(path, list, what)
    for i, x in enumerate(tables, start=1):
        if not (isinstance(x, dict) and isinstance(x.get("dataset"), str) and isinstance(x.get("setting"), str)):
            got = "an object without them" if isinstance(x, dict) else json_kind(x)
            raise DataError(f"expected an object with 'dataset' and 'setting' (strings), got {got}", file=str(path),
                            row=i)
    return {(x["dataset"], x["setting"]): _stored_paired(x) for x in tables}


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

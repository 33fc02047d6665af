"""The cells of a comparison run's results.json, checked as the tables read them (`check_cells`, called once by
`result_files.read_results`). A damaged cell is a DataError naming results.json, the cell (`cells[i]` and its
dataset, setting, model entry, seed and fold, where they can be read) and the field; nothing is dropped,
counted twice or guessed:

- each cell names a dataset, a model entry and a seed of the run's spec, a setting, a fold where the spec has
  folds (none in the pair setting) and a status; a cell given twice (the same dataset, setting, entry, seed and
  fold) is refused, as is a list of cells whose statuses do not add up to the counts in `run.cells`;
- a scored cell ("ok") has its timings and its result: correctness (null: a router without probabilities) and
  routing figures, the same reference routers as the other scored cells of its table, and the test sizes. A
  figure may be null (how an undefined one, a NaN, is written); text, a boolean or a missing one is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

from irtnet._io import FILE_NAME, json_kind
from irtnet.errors import DataError

CORRECTNESS = ("accuracy", "auc", "log_loss", "brier", "ece")
ROUTING = ("micro", "macro", "gap_closed")
STATUSES = ("ok", "error", "n/a", "pending")
SETTINGS = ("query", "text", "pair")
_MISSING = object()
_KINDS: dict[str, Callable[[Any], bool]] = {
    "a number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "a whole number": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a string": lambda v: isinstance(v, str),
    "a JSON object": lambda v: isinstance(v, dict),
    "true or false": lambda v: isinstance(v, bool),
}
Where = tuple[str, ...]


class _Cell:
    """One cell being checked: reads its fields by path and raises the DataError that names it."""

    def __init__(self, file: str, index: int, cell: Any) -> None:
        self.file, self.index, self.cell = file, index, cell

    def need(self, path: Where, kind: str, *, null: bool = False, optional: bool = False) -> Any:
        """The field at `path`, which must be `kind` (or null with `null`; or absent with `optional`)."""
        value: Any = self.cell
        for key in path:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if (value is _MISSING and optional) or (value is None and null):
            return None
        if value is _MISSING or not _KINDS[kind](value):
            self.fail(path, f"{_found(value)}, expected {kind}{' or null' if null else ''}")
        return value

    def one_of(self, path: Where, kind: str, allowed: Any, what: str) -> Any:
        """The field at `path`, `kind` and one of `allowed` (`what` names them)."""
        value = self.need(path, kind)
        if value not in allowed:
            self.fail(path, f"{value!r} is not {what}: expected one of {', '.join(map(repr, allowed)) or 'none'}")
        return value

    def fail(self, path: Where, message: str) -> NoReturn:
        field = "".join([f"cells[{self.index}]", *(f".{key}" for key in path)])
        raise DataError(f"{message} (in {self.name()}; damaged?)", file=self.file, field=field)

    def name(self) -> str:
        """"cell 3: dataset 'x', setting 'query', model entry 'y', seed 0, fold 1": what can be read of it."""
        if not isinstance(self.cell, dict):
            return f"cell {self.index}"
        parts = [f"{word} {self.cell[key]!r}" for key, word in (("dataset", "dataset"), ("setting", "setting"),
                                                                 ("label", "model entry"), ("seed", "seed"),
                                                                 ("fold", "fold"))
                 if self.cell.get(key) is not None]
        return f"cell {self.index}" + (f": {', '.join(parts)}" if parts else "")


def _found(value: Any) -> str:
    if value is _MISSING:
        return "missing"
    if isinstance(value, (dict, list)) or value is None:
        return f"got {json_kind(value)}"
    text = json.dumps(value)
    return f"got {json_kind(value)} ({text if len(text) <= 40 else text[:37] + '...'})"


def check_cells(results: dict[str, Any], file: str) -> None:
    """Check every cell of `results` (a results.json whose top level is checked already) as described above."""
    spec = results["spec"]
    if not results["cells"]:
        raise DataError("no cells: a comparison run has one per dataset, setting, model entry and draw (damaged?)",
                        file=file, field="cells")
    names = {key: _spec_names(spec, key, file) for key in ("datasets", "models")}
    _spec_seeds(spec, file)
    seen: dict[tuple[Any, ...], int] = {}
    references: dict[tuple[str, str], tuple[int, set[str]]] = {}
    for i, raw in enumerate(results["cells"]):
        cell = _Cell(file, i, raw)
        draw = _check_cell(cell, spec, names)
        if draw in seen:
            cell.fail((), f"repeats cells[{seen[draw]}] (the same dataset, setting, model entry, seed and fold): it "
                          "would be counted twice")
        seen[draw] = i
        if raw["status"] == "ok":
            _same_references(cell, references)
    _check_counts(results, file)


def _spec_names(spec: dict[str, Any], key: str, file: str) -> list[str]:
    """The names of the spec's datasets or model entries (`key`), each entry an object with a string 'name' that
    no other entry has (its table or row would be shown twice); a dataset's name is one safe file name (it names
    the files of tables/, which another name would put elsewhere)."""
    names: list[str] = []
    for i, entry in enumerate(spec[key]):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
            found = "an object without one" if isinstance(entry, dict) else json_kind(entry)
            raise DataError(f"expected an object with a 'name' (a string), got {found}", file=file,
                            field=f"spec.{key}[{i}]")
        name = entry["name"]
        if key == "datasets" and not FILE_NAME.fullmatch(name):
            raise DataError(f"{name!r}: a dataset's name names files (tables/): use letters, digits, '.', '_' and "
                            "'-' only, starting with a letter or digit (damaged?)", file=file,
                            field=f"spec.{key}[{i}].name")
        _not_again(names, name, f"spec.{key}", file)
        names.append(name)
    return names


def _spec_seeds(spec: dict[str, Any], file: str) -> None:
    """The spec's seeds: whole numbers, each given once (the document lists them)."""
    seen: list[int] = []
    for i, seed in enumerate(spec["seeds"]):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise DataError(f"{_found(seed)}, expected a whole number (damaged?)", file=file, field=f"spec.seeds[{i}]")
        _not_again(seen, seed, "spec.seeds", file)
        seen.append(seed)


def _not_again(seen: list[Any], value: Any, field: str, file: str) -> None:
    """A DataError naming `field`'s next item when `value` is one of the items before it (`seen`)."""
    if value in seen:
        raise DataError(f"{value!r} is given again (as {field}[{seen.index(value)}]): it would be shown twice "
                        "(damaged?)", file=file, field=f"{field}[{len(seen)}]")


def _check_cell(cell: _Cell, spec: dict[str, Any], names: dict[str, list[str]]) -> tuple[Any, ...]:
    """Check one cell's fields; returns its draw (dataset, setting, entry, seed, fold), which no other cell has."""
    if not isinstance(cell.cell, dict):
        cell.fail((), f"got {json_kind(cell.cell)}, expected a JSON object (a cell)")
    dataset = cell.one_of(("dataset",), "a string", names["datasets"], "a dataset of the run (spec.datasets)")
    setting = cell.one_of(("setting",), "a string", SETTINGS, "a setting")
    label = cell.one_of(("label",), "a string", names["models"], "a model entry of the run (spec.models)")
    seed = cell.one_of(("seed",), "a whole number", spec["seeds"], "a seed of the run (spec.seeds)")
    fold = _fold(cell, spec.get("folds"), setting)
    status = cell.one_of(("status",), "a string", STATUSES, "a cell status")
    if status == "ok":
        for key in ("fit_seconds", "eval_seconds"):
            cell.need((key,), "a number")
        cell.need(("cached",), "true or false", optional=True)
        _check_result(cell)
    else:
        cell.need(("error",), "a string", null=True)
    return dataset, setting, label, seed, fold


def _fold(cell: _Cell, folds: Any, setting: str) -> int | None:
    """The cell's fold: one of the spec's folds (`spec.folds`: K) in a query setting of a cross-fitted run, else
    null (or absent)."""
    if folds and setting != "pair":
        allowed = list(range(folds)) if isinstance(folds, int) else []
        return cell.one_of(("fold",), "a whole number", allowed, "a fold of the run (spec.folds)")
    fold = cell.need(("fold",), "a whole number", null=True, optional=True)
    if fold is not None:
        cell.fail(("fold",), f"got {fold!r}, expected null: the run has no folds in the {setting!r} setting")
    return None


def _check_result(cell: _Cell) -> None:
    """A scored cell's result: the figures the tables read (null: undefined, NaN) and the test sizes."""
    cell.need(("result",), "a JSON object")
    routing = ("result", "routing")
    cell.need(routing, "a JSON object")
    cell.need((*routing, "mode"), "a string")
    for key in (*ROUTING, "n_queries", "n_excluded"):
        cell.need((*routing, key), "a number", null=True)
    for name in cell.need((*routing, "references"), "a JSON object"):
        _figures(cell, (*routing, "references", name), ("micro", "macro"))
    info = ("result", "info")
    cell.need(info, "a JSON object")
    for key in ("n_test_queries", "n_test_pairs"):
        cell.need((*info, key), "a number")
    for key in ("n_models", "epochs_run"):
        cell.need((*info, key), "a number", null=True, optional=True)
    if cell.need(("result", "correctness"), "a JSON object", null=True) is None:
        return  # a router without probabilities
    _figures(cell, ("result", "correctness", "overall"), CORRECTNESS)
    per_benchmark = ("result", "correctness", "per_benchmark")
    for bench in cell.need(per_benchmark, "a JSON object"):
        _figures(cell, (*per_benchmark, bench), ("accuracy", "base_rate"))


def _figures(cell: _Cell, path: Where, keys: tuple[str, ...]) -> None:
    """An object at `path` with a figure (a number, or null: undefined) at each of `keys`."""
    cell.need(path, "a JSON object")
    for key in keys:
        cell.need((*path, key), "a number", null=True)


def _same_references(cell: _Cell, seen: dict[tuple[str, str], tuple[int, set[str]]]) -> None:
    """The reference routers of a scored cell: those of the first scored cell of its (dataset, setting)."""
    table = (cell.cell["dataset"], cell.cell["setting"])
    names = set(cell.cell["result"]["routing"]["references"])
    first, expected = seen.setdefault(table, (cell.index, names))
    if names != expected:
        cell.fail(("result", "routing", "references"), f"names {sorted(names)}, but cells[{first}] of the same "
                  f"dataset and setting names {sorted(expected)}")


def _check_counts(results: dict[str, Any], file: str) -> None:
    """The cells' statuses against `run.cells`, the counts the run wrote beside them (where it did)."""
    run = results.get("run", {})
    if not isinstance(run, dict):
        raise DataError(f"got {json_kind(run)}, expected a JSON object", file=file, field="run")
    claimed = run.get("cells")
    if claimed is None:
        return
    counts = {s: sum(c["status"] == s for c in results["cells"]) for s in STATUSES}
    if not isinstance(claimed, dict) or {s: claimed.get(s) for s in STATUSES} != counts:
        said = json.dumps(claimed) if isinstance(claimed, dict) else json_kind(claimed)
        raise DataError(f"says {said}, but the cells are {json.dumps(counts)}: a cell was removed or added "
                        "(damaged?)", file=file, field="run.cells")

"""`irtnet results` on a results.json with the right top level but a damaged cell: an error naming the file, the
cell (`cells[i]`, its dataset, entry and seed) and the field, never a traceback, a cell counted twice, a cell
dropped or an empty table (`reporting.result_cells`, called by `result_files.read_results`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.errors import DataError
from irtnet.reporting.results import aggregate, read_results, results_document

_FIGURES = {"accuracy": 0.7, "auc": 0.8, "log_loss": 0.5, "brier": 0.2, "ece": 0.05}
_REFS = {name: {"micro": 0.5, "macro": 0.5} for name in ("random", "best_single", "benchmark_best", "oracle")}


def _result(seed: int) -> dict[str, Any]:
    per_benchmark = {"b0": {**_FIGURES, "n": 10, "base_rate": 0.4}, "b.1": {**_FIGURES, "n": 10, "base_rate": None}}
    return {"predictor": "p",
            "correctness": {"overall": {**_FIGURES, "auc": 0.8 + seed / 100, "n": 20, "base_rate": 0.4},
                            "per_benchmark": per_benchmark},
            "routing": {"mode": "complete", "n_queries": 5, "n_excluded": 0, "micro": 0.6, "macro": 0.6,
                        "gap_closed": None, "references": copy.deepcopy(_REFS), "per_benchmark": {}},
            "info": {"n_test_queries": 5, "n_test_pairs": 20, "n_models": 3}}


def _cell(label: str, seed: int, status: str = "ok") -> dict[str, Any]:
    return {"dataset": "syn", "setting": "query", "seed": seed, "label": label, "model": label, "status": status,
            "fold": None, "key": f"{label}-{seed}", "error": None if status == "ok" else "boom",
            "fit_seconds": 1.0, "eval_seconds": 0.5, "cached": False,
            "result": _result(seed) if status == "ok" else None}


def _doc() -> dict[str, Any]:
    """A tiny comparison: one dataset, two entries (one failed on seed 1), seeds 0 and 1, no folds."""
    cells = [_cell("a", 0), _cell("a", 1), _cell("b", 0), _cell("b", 1, status="error")]
    spec = {"datasets": [{"name": "syn", "table": "syn.parquet"}], "models": [{"name": "a"}, {"name": "b"}],
            "seeds": [0, 1], "folds": None, "fractions": [0.8, 0.1, 0.1], "encoder": "hashing-32",
            "routing_mode": "complete"}
    datasets = {"syn": {"table": "syn.parquet", "fingerprint": "f" * 16, "n_models": 3, "n_queries": 30,
                        "n_pairs": 90, "benchmarks": ["b0", "b.1"]}}
    return {"spec": spec, "version": "x", "datasets": datasets, "cells": cells,
            "run": {"command": "irtnet compare", "cells": {"ok": 3, "error": 1, "n/a": 0, "pending": 0}}}


def _write(tmp_path: Path, damage=None) -> Path:
    doc = _doc()
    if damage is not None:
        damage(doc)
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(doc))
    return run


def _set(path: str, value: Any):
    """A damage: the value at `path` (dotted, cells by index) set to `value`, or deleted (value `...`)."""
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]

    def damage(doc):
        holder = doc
        for key in parents:
            holder = holder[key]
        if value is ...:
            del holder[last]
        else:
            holder[last] = value
    return damage


def _duplicate(doc):
    doc["cells"].append(copy.deepcopy(doc["cells"][0]))
    doc["run"]["cells"]["ok"] += 1  # the counts agree: the repeat itself is the error


def _drop(doc):
    doc["cells"].pop(1)


def _refs(doc):
    del doc["cells"][2]["result"]["routing"]["references"]["oracle"]


_A0 = "cell 0: dataset 'syn', setting 'query', model entry 'a', seed 0"
CASES = {
    "metric-text": (_set("cells.0.result.correctness.overall.auc", "high"),
                    "cells[0].result.correctness.overall.auc", "got a JSON string (\"high\"), expected a number or null"
                    f" (in {_A0}"),
    "result-null": (_set("cells.0.result", None), "cells[0].result", "got JSON null, expected a JSON object"),
    "no-dataset": (_set("cells.0.dataset", ...), "cells[0].dataset",
                   "missing, expected a string (in cell 0: setting 'query', model entry 'a', seed 0"),
    "seed-text": (_set("cells.1.seed", "zero"), "cells[1].seed", "got a JSON string (\"zero\"), expected a whole "
                                                                  "number"),
    "seed-bool": (_set("cells.1.seed", True), "cells[1].seed", "got a JSON boolean (true), expected a whole number"),
    "seed-foreign": (_set("cells.1.seed", 7), "cells[1].seed", "7 is not a seed of the run (spec.seeds): expected "
                                                               "one of 0, 1"),
    "dataset-foreign": (_set("cells.0.dataset", "nosuch"), "cells[0].dataset",
                        "'nosuch' is not a dataset of the run (spec.datasets): expected one of 'syn'"),
    "entry-foreign": (_set("cells.2.label", "ghost"), "cells[2].label",
                      "'ghost' is not a model entry of the run (spec.models): expected one of 'a', 'b'"),
    "setting": (_set("cells.0.setting", "both"), "cells[0].setting", "'both' is not a setting"),
    "status": (_set("cells.0.status", "done"), "cells[0].status", "'done' is not a cell status"),
    "fold-without-folds": (_set("cells.0.fold", 1), "cells[0].fold", "got 1, expected null: the run has no folds"),
    "duplicate": (_duplicate, "cells[4]", "repeats cells[0] (the same dataset, setting, model entry, seed and "
                                          "fold): it would be counted twice (in cell 4: dataset 'syn'"),
    "cells-empty": (_set("cells", []), "cells", "no cells"),
    "cell-dropped": (_drop, "run.cells", 'says {"ok": 3, "error": 1, "n/a": 0, "pending": 0}, but the cells are '
                                         '{"ok": 2, "error": 1, "n/a": 0, "pending": 0}: a cell was removed or added'),
    "cell-not-object": (_set("cells.3", 3), "cells[3]", "got a JSON number, expected a JSON object (a cell) (in "
                                                        "cell 3;"),
    "per-benchmark": (_set("cells.1.result.correctness.per_benchmark.b0.accuracy", "x"),
                      "cells[1].result.correctness.per_benchmark.b0.accuracy", "expected a number or null"),
    "reference-missing": (_refs, "cells[2].result.routing.references", "names ['benchmark_best', 'best_single', "
                          "'random'], but cells[0] of the same dataset and setting names"),
    "test-size": (_set("cells.0.result.info.n_test_pairs", None), "cells[0].result.info.n_test_pairs",
                  "got JSON null, expected a number"),
    "timing": (_set("cells.0.fit_seconds", "1s"), "cells[0].fit_seconds", "expected a number"),
    "error-text": (_set("cells.3.error", 5), "cells[3].error", "got a JSON number (5), expected a string or null"),
    "spec-entry": (_set("spec.models.1", "b"), "spec.models[1]", "expected an object with a 'name' (a string)"),
}


def test_a_whole_results_file_reads_and_makes_its_tables(tmp_path):
    results = read_results(_write(tmp_path))
    (table,) = aggregate(results)
    assert [(r["label"], r["status"], r["n_ok"]) for r in table["rows"]] == [("a", "ok", 2), ("b", "partial", 1)]
    assert table["rows"][0]["correctness"]["auc"]["values"] == [0.8, 0.81]
    assert "error: boom" not in results_document([tmp_path / "run"])  # partial: the row shows the scored seed


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_damaged_cell_is_an_error_naming_the_file_the_cell_and_the_field(tmp_path, case):
    damage, field, message = CASES[case]
    run = _write(tmp_path, damage)
    with pytest.raises(DataError) as caught:
        read_results(run)
    assert caught.value.file == str(run / "results.json") and caught.value.field == field, str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize("case", ["metric-text", "result-null", "no-dataset", "seed-text", "duplicate",
                                  "dataset-foreign", "cells-empty"])
@pytest.mark.parametrize("mode", ["-o", "--summary"])
def test_cli_results_says_so_in_one_line_and_writes_nothing(tmp_path, case, mode):
    damage, field, message = CASES[case]
    run = _write(tmp_path, damage)
    (run / "stats.json").write_text("[]")
    args = ["-o", str(tmp_path / "r.md")] if mode == "-o" else ["--summary"]
    res = CliRunner().invoke(app, ["results", str(run), *args])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert out.startswith(f"error: {run / 'results.json'}, field '{field}': ") and message in out
    assert not (tmp_path / "r.md").exists() and not (run / "tables").exists()


def test_a_router_without_probabilities_and_undefined_figures_are_no_damage(tmp_path):
    def router_only(doc):
        doc["cells"][2]["result"]["correctness"] = None  # entry b, seed 0: a router
        doc["cells"][0]["result"]["routing"]["micro"] = None  # written for a NaN
        doc["cells"][0]["result"]["info"].pop("n_models")
    rows = {r["label"]: r for r in aggregate(read_results(_write(tmp_path, router_only)))[0]["rows"]}
    assert rows["b"]["correctness"] is None and rows["a"]["routing"]["micro"]["n"] == 1


def test_cli_results_reads_every_run_and_checks_the_output_before_writing(tmp_path):
    good = _write(tmp_path / "good")
    bad = _write(tmp_path / "bad", _duplicate)
    res = CliRunner().invoke(app, ["results", str(good), str(bad), "-o", str(tmp_path / "r.md")])
    assert res.exit_code == 2 and f"error: {bad / 'results.json'}, field 'cells[4]'" in " ".join(res.output.split())
    assert not (good / "tables").exists() and not (tmp_path / "r.md").exists()  # the whole run's tables too
    res = CliRunner().invoke(app, ["results", str(good), "-o", str(tmp_path)])
    assert res.exit_code == 2 and f"error: {tmp_path}: is a folder" in res.output and not (good / "tables").exists()

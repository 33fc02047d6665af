"""Bug bash 8 of the reporting layer (`irtnet results`, `irtnet compare`'s tables and lines): a results.json whose
spec repeats a name, names a dataset that is no file name or holds fields of the wrong type; output paths that are
a run's own files; a run given as a file; lines and labels that misreport folds, counts or a table nobody
scored; and summaries that leave out a setting whose focus entry was not scored."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from irtnet.api.compare import Cell
from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.reporting.console import cell_line, comparison_table
from irtnet.reporting.results import (aggregate, fmt, read_results, results_document, summary_markdown,
                                      table_markdown, write_tables)

_FIGURES = {"accuracy": 0.7, "auc": 0.8, "log_loss": 0.5, "brier": 0.2, "ece": 0.05}
_REFS = {name: {"micro": 0.5, "macro": 0.5} for name in ("random", "best_single", "benchmark_best", "oracle")}


def _result(auc: float | None = 0.8) -> dict[str, Any]:
    return {"predictor": "p",
            "correctness": {"overall": {**_FIGURES, "auc": auc, "n": 20, "base_rate": 0.4},
                            "per_benchmark": {"b0": {**_FIGURES, "n": 20, "base_rate": 0.4}}},
            "routing": {"mode": "complete", "n_queries": 5, "n_excluded": 0, "micro": 0.6, "macro": 0.6,
                        "gap_closed": None, "references": copy.deepcopy(_REFS), "per_benchmark": {}},
            "info": {"n_test_queries": 5, "n_test_pairs": 20, "n_models": 3}}


def _cell(label: str, seed: int, status: str = "ok", setting: str = "query", fold: int | None = None,
          auc: float | None = 0.8) -> dict[str, Any]:
    return {"dataset": "syn", "setting": setting, "seed": seed, "label": label, "model": label, "status": status,
            "fold": fold, "key": f"{label}-{setting}-{seed}-{fold}", "error": None if status == "ok" else "boom",
            "fit_seconds": 1.0, "eval_seconds": 0.5, "cached": False,
            "result": _result(auc) if status == "ok" else None}


def _doc(cells: list[dict[str, Any]] | None = None, folds: int | None = None) -> dict[str, Any]:
    """A tiny comparison: dataset syn, entries a (the focus) and b, seeds 0 and 1."""
    cells = cells if cells is not None else [_cell("a", 0), _cell("a", 1), _cell("b", 0), _cell("b", 1)]
    spec = {"datasets": [{"name": "syn", "table": "syn.parquet"}], "models": [{"name": "a"}, {"name": "b"}],
            "seeds": [0, 1], "folds": folds, "fractions": [0.8, 0.1, 0.1], "encoder": "hashing-32",
            "routing_mode": "complete"}
    datasets = {"syn": {"table": "syn.parquet", "fingerprint": "f" * 16, "n_models": 3, "n_queries": 30,
                        "n_pairs": 90, "benchmarks": ["b0"],
                        "provenance": {"path": "syn.parquet", "files": {"syn.parquet": "0" * 64}, "digest": "d" * 64}}}
    counts = {s: sum(c["status"] == s for c in cells) for s in ("ok", "error", "n/a", "pending")}
    return {"spec": spec, "version": "x", "datasets": datasets, "cells": cells,
            "run": {"command": "irtnet compare", "cells": counts}}


def _write(folder: Path, doc: dict[str, Any], stats: list | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(doc))
    if stats is not None:
        (folder / "stats.json").write_text(json.dumps(stats))
    return folder


def _results(*args: str):
    return CliRunner().invoke(app, ["results", *args])


# ------------------------------------------------------------------------ results.json: the spec's fields
def _repeat_model(doc):
    doc["spec"]["models"].append({"name": "a"})


def _repeat_dataset(doc):
    doc["spec"]["datasets"].append({"name": "syn", "table": "other.parquet"})


def _repeat_seed(doc):
    doc["spec"]["seeds"] = [0, 0, 1]


def _escaping_name(doc):
    doc["spec"]["datasets"][0]["name"] = "../esc"
    doc["datasets"] = {"../esc": doc["datasets"].pop("syn")}
    for c in doc["cells"]:
        c["dataset"] = "../esc"


def _set(path: str, value: Any):
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]

    def damage(doc):
        holder = doc
        for key in parents:
            holder = holder[key]
        holder[last] = value
    return damage


SPEC_CASES = {  # was: a row or a table shown twice, "Seeds: 0, 0, 1", a table written outside tables/, a traceback
    "model-twice": (_repeat_model, "spec.models[2]", "'a' is given again (as spec.models[0])"),
    "dataset-twice": (_repeat_dataset, "spec.datasets[1]", "'syn' is given again (as spec.datasets[0])"),
    "seed-twice": (_repeat_seed, "spec.seeds[1]", "0 is given again (as spec.seeds[0])"),
    "seed-text": (_set("spec.seeds", ["0", 1]), "spec.seeds[0]", "expected a whole number"),
    "dataset-not-a-file-name": (_escaping_name, "spec.datasets[0].name", "names files (tables/): use letters, "
                                                                         "digits, '.', '_' and '-' only"),
    "fractions-short": (_set("spec.fractions", [0.8]), "spec.fractions", "expected three numbers"),
    "fractions-text": (_set("spec.fractions", ["a", None, 3]), "spec.fractions", "expected three numbers"),
    "description": (_set("spec.description", 5), "spec.description", "got a JSON number, expected a string or null"),
    "title": (_set("spec.title", ["t"]), "spec.title", "got a JSON list, expected a string or null"),
    "provenance-files": (_set("datasets.syn.provenance.files", 3), "datasets.syn.provenance.files",
                         "got a JSON number, expected a JSON object"),
    "provenance-digest": (_set("datasets.syn.provenance.digest", 5), "datasets.syn.provenance.digest",
                          "got a JSON number, expected a string or null"),
    "provenance-commit": (_set("datasets.syn.provenance.commit", 7), "datasets.syn.provenance.commit",
                          "got a JSON number, expected a string or null"),
}


@pytest.mark.parametrize("case", SPEC_CASES, ids=list(SPEC_CASES))
def test_a_spec_that_repeats_a_name_or_holds_a_wrong_field_is_named_not_shown_wrong(tmp_path, case):
    damage, field, message = SPEC_CASES[case]
    doc = _doc()
    damage(doc)
    run = _write(tmp_path / "run", doc)
    with pytest.raises(DataError) as caught:
        read_results(run)
    assert caught.value.file == str(run / "results.json") and caught.value.field == field, str(caught.value)
    assert message in str(caught.value)
    res = _results(str(run), "-o", str(tmp_path / "r.md"))
    assert res.exit_code == 2 and "Traceback" not in res.output and message in " ".join(res.output.split())
    assert not (tmp_path / "r.md").exists() and not list(tmp_path.rglob("*-query.*"))  # nothing written anywhere


def test_a_whole_spec_still_reads(tmp_path):
    run = _write(tmp_path / "run", _doc())
    assert [r["label"] for r in write_tables(run)[0]["rows"]] == ["a", "b"]


def test_one_source_file_is_not_counted_as_files(tmp_path):
    doc = _doc()
    document = results_document([_write(tmp_path / "run", doc)])
    assert "1 file, digest `dddddddddddd`" in document and "1 files" not in document  # was: "1 files"
    doc["datasets"]["syn"]["provenance"]["files"]["other.csv"] = "1" * 64
    assert "2 files, digest" in results_document([_write(tmp_path / "run2", doc)])


# ------------------------------------------------------------------------------- irtnet results: its arguments
@pytest.mark.parametrize("target", ["results.json", "stats.json", "summary.md", "tables/syn-query.md"])
def test_results_refuses_to_write_the_document_over_a_file_of_a_run(tmp_path, target):
    run = _write(tmp_path / "run", _doc(), stats=[])
    before = (run / "results.json").read_text()
    res = _results(str(run), "-o", str(run / target))  # was: results.json (or stats.json) replaced by Markdown
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and f"--output {run / target}" in out and "is a file of the run" in out, res.output
    assert (run / "results.json").read_text() == before and not (run / "tables").exists()
    assert _results(str(run), "-o", str(run / "results.md")).exit_code == 0  # another name in the folder is fine


def test_compare_refuses_a_markdown_path_that_is_a_file_of_its_run(tmp_path):
    make_synthetic(n_models=3, n_queries=20, n_benchmarks=2, dim=2, feature_dim=4, seed=0).table.to_parquet(
        tmp_path / "syn.parquet")
    res = CliRunner().invoke(app, ["compare", "-d", f"syn={tmp_path / 'syn.parquet'}", "-m", "model-mean",
                                   "--seeds", "0", "--encoder", "hashing-32", "-o", str(tmp_path / "run"),
                                   "--markdown", str(tmp_path / "run" / "stats.json")])
    assert res.exit_code == 2 and "is a file of the run" in " ".join(res.output.split()), res.output
    assert not (tmp_path / "run").exists()  # refused before any cell is computed


def test_compare_counts_one_cell_computed_as_one_cell(tmp_path):
    make_synthetic(n_models=3, n_queries=20, n_benchmarks=2, dim=2, feature_dim=4, seed=0).table.to_parquet(
        tmp_path / "syn.parquet")
    res = CliRunner().invoke(app, ["compare", "-d", f"syn={tmp_path / 'syn.parquet'}", "-m",
                                   '{"name": "model-mean", "settings": ["pair"]}', "--seeds", "0", "--encoder",
                                   "hashing-32", "-o", str(tmp_path / "run"), "--quiet"])
    out = " ".join(res.output.split())
    assert res.exit_code == 0 and "(1 cell computed, 0 from the cache, 0 failed)" in out, res.output  # was: 1 cells


def test_results_names_a_run_given_as_a_file(tmp_path):
    run = _write(tmp_path / "run", _doc(), stats=[])
    for mode in (["--summary"], ["-o", str(tmp_path / "r.md")]):
        res = _results(str(run / "results.json"), *mode)  # was: "run/results.json: no stats.json here"
        out = " ".join(res.output.split())
        assert res.exit_code == 2 and "is a file, not a run directory" in out, res.output
        assert not (tmp_path / "r.md").exists()


# ---------------------------------------------------------------------------- lines and labels of the tables
def test_a_cell_line_names_the_fold_and_shows_an_undefined_figure_as_a_dash():
    result = _result(auc=math.nan)
    lines = {cell_line(Cell("syn", "query", 0, "a", "a", "ok", fold=f, result=result)) for f in (0, 1)}
    assert len(lines) == 2  # was: one line for both folds
    line = cell_line(Cell("syn", "query", 0, "a", "a", "ok", fold=1, result=result))
    assert "seed 0 fold 1 a" in line and "auc -" in line and "nan" not in line  # was: "auc nan"
    assert "fold" not in cell_line(Cell("syn", "query", 0, "a", "a", "ok", result=_result()))


def test_the_terminal_table_title_counts_its_seeds_and_folds():
    doc = _doc([_cell("a", 0, fold=f) for f in (0, 1)], folds=2)
    doc["spec"]["seeds"] = [0]
    (table,) = aggregate(doc)
    assert str(comparison_table(table).title) == "syn (query split, seed 0, 2 folds)"  # was: "seeds 0"


def test_a_partial_row_under_folds_counts_splits_not_seeds(tmp_path):
    cells = [_cell(label, 0, fold=f, status="error" if (label, f) == ("b", 1) else "ok")
             for label in ("a", "b") for f in (0, 1)]
    doc = _doc(cells, folds=2)
    doc["spec"]["seeds"] = [0]
    text = table_markdown(aggregate(read_results(_write(tmp_path / "run", doc)))[0])
    assert "| b (1/2 splits) |" in text and "seeds)" not in text  # was: "b (1/2 seeds)", a fold of one seed


def test_a_table_no_cell_of_which_was_scored_says_so(tmp_path):
    cells = [_cell(label, seed, status="error") for label in ("a", "b") for seed in (0, 1)]
    text = table_markdown(aggregate(read_results(_write(tmp_path / "run", _doc(cells))))[0])
    assert "Routing mode 'None'" not in text and "- queries" not in text  # was: "Routing mode 'None': - queries"
    assert "No cell of this table was scored" in text


def test_a_mean_over_fewer_draws_than_the_table_says_shows_its_count(tmp_path):
    cells = [_cell("a", 0), _cell("a", 1, auc=None), _cell("b", 0), _cell("b", 1)]  # a's AUC undefined on seed 1
    (table,) = aggregate(read_results(_write(tmp_path / "run", _doc(cells))))
    a = table["rows"][0]["correctness"]["auc"]
    assert fmt(a) == "0.8000 (1 of 2 defined)"  # was: "0.8000", under "mean ± sample std over 2 seeds"
    assert fmt(table["rows"][1]["correctness"]["auc"]) == "0.8000 ± 0.0000"


# ------------------------------------------------------------- summaries: a setting whose focus was not scored
def _focus_failed_in_text(tmp_path: Path) -> Path:
    """Focus a scored in the query setting, failed on every seed of the text setting: compare writes no paired
    statistics for that setting (stats.json holds the query table only)."""
    cells = [_cell(label, seed, setting=setting, status="error" if (label, setting) == ("a", "text") else "ok")
             for setting in ("query", "text") for label in ("a", "b") for seed in (0, 1)]
    metric = {"a": 0.8, "b": 0.7, "diff": 0.1, "lo": 0.05, "hi": 0.15, "verdict": "win"}
    query = {"dataset": "syn", "setting": "query", "focus": "a", "units": 2, "n_queries": 10,
             "rows": {"b": {"metrics": {"auc": metric}}}, "best_other": {"auc": {"entry": "b", **metric}},
             "left_out": {}}
    return _write(tmp_path / "run", _doc(cells), stats=[query])


def test_the_summary_keeps_a_setting_whose_focus_was_not_scored(tmp_path):
    run = _focus_failed_in_text(tmp_path)
    lines = summary_markdown(run).splitlines()
    assert lines[0].startswith("| dataset | setting | AUC: a vs best other |")
    assert lines[2].startswith("| syn | benchmark known | .800 vs .800 b, **win** |")
    assert lines[3] == "| | text only | n/a (a was not scored here: error: boom) | | |", lines  # was: no row


def test_the_verdicts_keep_a_setting_whose_focus_was_not_scored(tmp_path):
    document = results_document([_focus_failed_in_text(tmp_path)])
    assert "| syn | text only | n/a (a was not scored here: error: boom) |" in document  # was: no row
    assert "**Paired differences, a minus each entry**: n/a (a was not scored here: error: boom)" in document


def test_a_summary_of_a_run_with_no_paired_setting_names_its_focus(tmp_path):
    cells = [_cell(label, 0, status="error" if label == "a" else "ok") for label in ("a", "b")]
    doc = _doc(cells)
    doc["spec"]["seeds"] = [0]
    run = _write(tmp_path / "run", doc, stats=[])
    lines = summary_markdown(run).splitlines()
    assert "AUC: a vs best other" in lines[0]  # was: "AUC: focus vs best other" over an empty table
    assert lines[2] == "| syn | benchmark known | n/a (a was not scored here: error: boom) | | |", lines


def test_a_focus_without_cells_in_a_setting_is_said_so(tmp_path):
    cells = [_cell("b", 0), _cell("b", 1)]
    run = _write(tmp_path / "run", _doc(cells), stats=[])
    assert "n/a (a has no cell in this setting)" in summary_markdown(run)


def test_a_summary_without_stats_json_is_still_refused(tmp_path):
    with pytest.raises(ConfigError, match="no stats.json here"):
        summary_markdown(_write(tmp_path / "run", _doc()))


# ------------------------------------------------------------------------------------------------ irtnet report
@pytest.mark.parametrize("n_queries", [12, 30])
def test_the_most_and_least_discriminating_queries_are_distinct_queries(n_queries):
    from irtnet.data.dataset import Dataset
    from irtnet.data.embeddings import embed_queries
    from irtnet.models.irtnet import PRESETS
    from irtnet.predictors import IrtNet
    from irtnet.reporting import html as H

    table = make_synthetic(n_models=4, n_queries=n_queries, n_benchmarks=2, dim=2, feature_dim=4, seed=0).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    model = IrtNet(PRESETS["small"], {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    report = H.Report("r")
    H.interpretation_section(report, model, data, ["f"] * 4, "all queries")
    tables = {t.title: [row[0] for row in t.rows] for t in report.sections[0].tables}
    most, least = tables["Most discriminating queries"], tables["Least discriminating queries"]
    assert not set(most) & set(least), (most, least)  # was: 8 of 12 queries listed as both most and least
    assert len(most) + len(least) == min(20, n_queries)


def test_a_routing_disagreement_without_its_scores_is_named(tmp_path):
    run = _focus_failed_in_text(tmp_path)
    stats = json.loads((run / "stats.json").read_text())
    stats[0]["rows"]["b"]["routing_disagreement"] = {"n_routed": 10, "n_differ": 3, "share": 0.3, "a": None, "b": 0.5}
    (run / "stats.json").write_text(json.dumps(stats))
    res = _results(str(run), "-o", str(tmp_path / "r.md"))  # was: TypeError (None formatted as a number)
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "field 'rows.b.routing_disagreement.a': got JSON null, expected a number (3 queries are routed" in out
    stats[0]["rows"]["b"]["routing_disagreement"] = {"n_routed": 10, "n_differ": 0, "share": 0.0, "a": None, "b": None}
    (run / "stats.json").write_text(json.dumps(stats))
    assert _results(str(run), "-o", str(tmp_path / "r.md")).exit_code == 0  # none differ: no scores, as written


def test_report_names_an_evaluation_whose_routing_disagreement_lacks_its_scores(tmp_path):
    from irtnet.reporting.report import _evaluation

    result = {**_result(), "predictor": "irtnet", "info": {"routed_differently": {
        "knn": {"n_routed": 12, "n_differ": 2, "share": 0.2, "a": None, "b": 0.5}}}}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps([result]))
    with pytest.raises(DataError) as caught:  # was: TypeError in the notes (None formatted as a number)
        _evaluation(path)
    assert caught.value.field == "info" and caught.value.row == 1
    assert "routed_differently of 'knn': a is JSON null, not a number (2 queries are routed differently)" in str(
        caught.value)
    result["info"]["routed_differently"]["knn"].update(n_differ=0, share=0.0, a=None, b=None)  # as written: none
    path.write_text(json.dumps([result]))
    assert _evaluation(path)[0]["predictor"] == "irtnet"

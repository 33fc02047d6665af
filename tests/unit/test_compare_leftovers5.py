"""Leftovers 5 of compare: an entry without predictions on one of the focus entry's splits is named as left out
of the paired statistics (stats.json, the Paired differences table, the Verdicts and the README summary), not
dropped without a word; and a rerun into the same folder leaves no datasets/ or splits/ record of the earlier one."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet.api.compare import load_spec, run_comparison
from irtnet.api.compare_stats import _best_other, split_name
from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.reporting.paired import paired_markdown, verdict_summary
from irtnet.reporting.result_files import read_results, read_stats
from irtnet.reporting.results import results_document, summary_markdown

FOCUS = "model-benchmark-mean"


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "syn.parquet"
    make_synthetic(n_models=5, n_queries=120, n_benchmarks=3, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


def _spec(table_path: Path, seeds: list[int], name: str = "syn", **kw):
    return load_spec({"datasets": [{"name": name, "table": str(table_path)}],
                      "models": [{"name": FOCUS}, {"name": "model-mean"}, {"name": "random"}, {"name": "irt-1pl"}],
                      "seeds": seeds, "n_boot": 100, "encoder": "hashing-32", **kw})


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory, table_path) -> Path:
    """Seed 0 for every entry, then seed 1 for the focus and random only: model-mean's seed-1 cells are pending."""
    out = tmp_path_factory.mktemp("gap") / "run"
    run_comparison(_spec(table_path, [0]), out)
    run_comparison(_spec(table_path, [0, 1]), out, only_models={FOCUS, "random"})
    return out


# ---------------------------------------------------------------------------- an entry missing one split
def test_an_entry_without_one_split_is_named_as_left_out_in_stats_json(gap_run):
    stats = {t["setting"]: t for t in json.loads((gap_run / "stats.json").read_text())}
    for setting in ("query", "text"):
        table = stats[setting]
        assert table["units"] == 2 and set(table["rows"]) == {"random"}
        assert table["left_out"] == {"model-mean": ["seed 1"]}  # was: no field, model-mean silently gone
        assert {b["entry"] for b in table["best_other"].values()} == {"random"}
    # irt-1pl is "n/a" in these settings by design (item-seen): no candidate, so not "left out"
    assert "irt-1pl" not in stats["query"]["left_out"]


def test_the_tables_and_the_readme_summary_say_which_entry_was_left_out(gap_run):
    stats = read_stats(gap_run, read_results(gap_run))
    table = stats[("syn", "query")]
    assert "Left out, missing predictions on a split model-benchmark-mean was tested on (so neither compared nor " \
           "a candidate for the best other entry): model-mean (seed 1)" in paired_markdown(table)
    verdicts = verdict_summary(list(stats.values()))
    assert "| syn | benchmark known † |" in verdicts
    assert "† syn, text only: the best other entry is picked among the entries compared; left out, missing " \
           "predictions on a split model-benchmark-mean was tested on: model-mean (seed 1)" in verdicts
    summary = summary_markdown(gap_run)  # the README's table: its "win against the best other" is among the rest
    assert "| syn | benchmark known † |" in summary
    assert summary.splitlines()[-3:] == [
        "", "† syn, benchmark known: the best other entry is picked among the entries compared; left out, missing "
            "predictions on a split model-benchmark-mean was tested on: model-mean (seed 1)",
        "† syn, text only: the best other entry is picked among the entries compared; left out, missing predictions "
        "on a split model-benchmark-mean was tested on: model-mean (seed 1)"]
    assert "model-mean (seed 1)" in results_document([gap_run])


def test_a_complete_run_leaves_nothing_out_and_prints_no_note(tmp_path, table_path):
    run_comparison(_spec(table_path, [0]), tmp_path / "run")
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert all(t["left_out"] == {} for t in stats) and {"model-mean", "random"} <= set(stats[0]["rows"])
    assert "†" not in summary_markdown(tmp_path / "run") and "Left out" not in results_document([tmp_path / "run"])


def test_splits_are_named_by_seed_and_fold():
    assert split_name((1, None)) == "seed 1" and split_name((0, 2)) == "seed 0 fold 2"


def _copy(run: Path, to: Path, change) -> Path:
    to.mkdir()
    for name in ("results.json", "stats.json"):
        shutil.copy(run / name, to / name)
    doc = json.loads((to / "stats.json").read_text())
    for table in doc:
        change(table)
    (to / "stats.json").write_text(json.dumps(doc))
    return to


def test_a_stats_json_written_before_left_out_still_reads(tmp_path, gap_run):
    run = _copy(gap_run, tmp_path / "old", lambda t: t.pop("left_out"))
    stats = read_stats(run, read_results(run))
    assert "left_out" not in stats[("syn", "query")] and "†" not in summary_markdown(run)
    assert "Left out" not in results_document([run])


@pytest.mark.parametrize("change, message", [
    (lambda t: t.update(left_out=["model-mean"]), "field 'left_out': got a JSON list, expected a JSON object"),
    (lambda t: t.update(left_out={"model-mean": "seed 1"}), "field 'left_out.model-mean': got a JSON string"),
    (lambda t: t.update(left_out={"model-mean": []}), "field 'left_out.model-mean': expected a non-empty JSON list"),
    (lambda t: t.update(left_out={"random": ["seed 1"]}), "field 'left_out.random': 'random' is both compared"),
    (lambda t: t.update(left_out={"ghost": ["seed 1"]}),
     "field 'left_out.ghost': 'ghost' is not another model entry of results.json"),
], ids=["list", "splits-text", "splits-empty", "also-compared", "foreign"])
def test_results_names_a_damaged_left_out(tmp_path, gap_run, change, message):
    run = _copy(gap_run, tmp_path / "run", change)
    res = CliRunner().invoke(app, ["results", str(run), "--summary"])
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output


# ----------------------------------------------------------------------- datasets/ and splits/ of an earlier run
def _splits(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "splits").iterdir())


def test_a_rerun_into_the_folder_leaves_no_dataset_or_split_record_of_the_earlier_run(tmp_path, table_path):
    out = tmp_path / "run"
    run_comparison(_spec(table_path, [0, 1], name="old"), out)
    (out / "datasets" / "notes.md").write_text("mine")  # not a record's name: kept
    # the dataset renamed and a seed dropped; every cell is cached (cells are keyed by content, not name), yet the
    # renamed dataset's split records are written (was: splits/ left empty)
    run_comparison(_spec(table_path, [0], name="syn"), out)
    assert sorted(p.name for p in (out / "datasets").iterdir()) == ["notes.md", "syn.json"]  # was: old.json too
    assert _splits(out) == ["syn-pair-seed0.json", "syn-query-seed0.json"]  # was: [] (old-* removed, none written)
    old = json.loads((tmp_path / "run" / "splits" / "syn-query-seed0.json").read_text())
    assert {"train", "val", "test"} <= set(old) and old["seed"] == 0


def test_a_seed_dropped_then_given_back_gets_its_split_records_back_from_the_cache(tmp_path, table_path):
    out = tmp_path / "run"
    run_comparison(_spec(table_path, [0, 1]), out)
    first = {name: (out / "splits" / name).read_text() for name in _splits(out)}
    assert sorted(first) == ["syn-pair-seed0.json", "syn-pair-seed1.json", "syn-query-seed0.json",
                             "syn-query-seed1.json"]
    run_comparison(_spec(table_path, [0]), out)
    assert _splits(out) == ["syn-pair-seed0.json", "syn-query-seed0.json"]
    back = run_comparison(_spec(table_path, [0, 1]), out)  # no force: seed 1's cells all come from the cache
    assert all(c.cached for c in back.cells if c.status == "ok")
    # was: seed 1's records gone for good (a cached cell wrote none); the same ids as the first run's
    assert {name: (out / "splits" / name).read_text() for name in _splits(out)} == first


def test_a_draw_that_fails_leaves_no_split_record_of_an_earlier_run(tmp_path, table_path, monkeypatch):
    """A failed draw (e.g. an empty part) wrote nothing and kept the earlier run's record of the same name."""
    import irtnet.api.compare as compare

    out = tmp_path / "run"
    run_comparison(_spec(table_path, [0]), out)
    assert _splits(out) == ["syn-pair-seed0.json", "syn-query-seed0.json"]

    def fails(table, setting, *args, **kwargs):
        raise ValueError("empty test part")

    monkeypatch.setattr(compare, "draw_split", fails)
    result = run_comparison(_spec(table_path, [0]), out, force=True)
    assert _splits(out) == []  # was: both records of the first run kept
    assert any(c.error and "empty test part" in c.error for c in result.cells)


def test_a_split_record_holds_the_ids_the_cells_were_scored_on(tmp_path, table_path):
    out = tmp_path / "run"
    run_comparison(_spec(table_path, [3], folds=2), out)
    for fold in (0, 1):
        record = json.loads((out / "splits" / f"syn-query-seed3-fold{fold}.json").read_text())
        scored = np.load(next(p for p in (out / "cells").glob("*.npz")
                              if json.loads(p.with_suffix(".json").read_text())["fold"] == fold
                              and json.loads(p.with_suffix(".json").read_text())["setting"] == "query"))
        assert sorted(scored["queries"].tolist()) == sorted(record["test"])


# ------------------------------------------------------------------------- best other entry: every estimate NaN
def _metric(b: float, verdict: str) -> dict:
    return {"a": 0.7, "b": b, "diff": 0.7 - b, "lo": -0.1, "hi": 0.1, "se": 0.05, "n_valid": 100, "better": "higher",
            "verdict": verdict}


def test_a_metric_whose_every_estimate_is_nan_says_n_a_and_a_number_beats_a_nan():
    rows = {"x": {"metrics": {"auc": _metric(math.nan, "n/a"), "routing": _metric(0.6, "win")}},
            "y": {"metrics": {"auc": _metric(math.nan, "n/a"), "routing": _metric(0.8, "loss")}}}
    best = _best_other(rows)
    assert best["routing"]["entry"] == "y" and best["auc"]["verdict"] == "n/a"  # the row says n/a, not nothing
    rows["y"]["metrics"]["auc"] = _metric(0.5, "win")
    assert _best_other(rows)["auc"]["entry"] == "y"

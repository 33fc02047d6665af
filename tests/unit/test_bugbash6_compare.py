"""Bug bash 6 of compare / results / the protocol APIs (each test failed before its fix): a benchmark named as the
estimation summary's row over every benchmark; numeric settings of the protocol functions checked only after
training; blank or padded names in a comparison spec; a damaged cell in the cache served into results.json; names
holding '|' or a line break splitting the Markdown tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import irtnet.api.estimation as estimation
import irtnet.api.experiments as experiments
from irtnet.api.compare import load_spec, run_comparison
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.spec import ModelSpec
from irtnet.reporting.results import results_document, summary_markdown, write_tables

FOCUS = "model-benchmark-mean"


def _never(*_args, **_kw):
    raise AssertionError("the table was read (and embedded) before the settings were checked")


def _table(path: Path, rename: dict[str, str] | None = None) -> Path:
    """A small synthetic table at `path`, its benchmarks renamed by `rename`."""
    table = make_synthetic(n_models=5, n_queries=120, n_benchmarks=3, dim=2, feature_dim=6, seed=0).table
    if rename:
        queries = table.queries.assign(benchmark=table.queries["benchmark"].replace(rename))
        table = ResponseTable(table.responses, queries, table.models)
    table.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    return _table(tmp_path_factory.mktemp("data") / "syn.parquet")


def _spec(table: Path, models: list[dict] | None = None, **kw):
    return load_spec({"datasets": [{"name": "syn", "table": str(table)}],
                      "models": models or [{"name": FOCUS}, {"name": "model-mean"}, {"name": "random"}],
                      "seeds": [0], "n_boot": 100, "encoder": "hashing-32", **kw})


# ------------------------------------------------------------- 1. a benchmark named as the summary's "all" row
@pytest.mark.parametrize("name", ["all", "(all benchmarks)"])
def test_evaluate_estimation_refuses_a_benchmark_named_as_the_row_over_every_benchmark(tmp_path, monkeypatch, name):
    """The summary has a row "all" per method and N beside one per benchmark: a benchmark named "all" gave two
    "all" rows, which the figures and the Markdown summary (rows with benchmark == "all") mixed as one."""
    path = _table(tmp_path / "t.parquet", {"algebra": name})
    monkeypatch.setattr(estimation, "prepared", _never)  # refused before the table is embedded
    with pytest.raises(DataError, match=r"t\.parquet.*field 'benchmark'.*the summary's row over every benchmark"):
        estimation.evaluate_estimation(path, ModelSpec(model="irtnet"), "hashing-32", quick=True)


def test_an_ordinary_table_passes_the_name_check(table_path):
    estimation.refuse_summary_names(table_path)  # no error: "algebra", "biology", "coding"


# ------------------------------------------------------------- 2. numeric settings before any training
@pytest.mark.parametrize("name, value", [
    ("n_draws", 0), ("n_draws", -5), ("n_draws", True), ("n_draws", 100.5), ("n_draws", math.nan),
    ("n_boot", 0), ("n_boot", False), ("n_boot", 200.0), ("n_boot", math.nan), ("n_boot", "500"),
    ("draws", 2.5), ("draws", math.nan), ("draws", True),
    ("retrain_epochs", 0), ("retrain_epochs", 1.5),
    ("replay_folds", 2.5), ("replay_folds", -1),
    ("ns", [10, 25.5]), ("ns", [True]), ("ns", "10"), ("routing_ns", [50.5]),
    ("held_out_share", "0.3"), ("level", "0.9"), ("level", True),
])
def test_evaluate_estimation_refuses_a_bad_number_before_reading_the_table(monkeypatch, tmp_path, name, value):
    """n_draws and n_boot were checked by the protocol's last steps (the estimate, the bootstrap), after every draw
    was trained; a float N or draw count was truncated (10.5 read as 10) or crashed in `range`; a string crashed
    with a TypeError."""
    monkeypatch.setattr(estimation, "prepared", _never)
    with pytest.raises(ConfigError, match=rf"^{name}(\[\d+\])? must be"):
        estimation.evaluate_estimation(tmp_path / "missing.parquet", ModelSpec(model="irtnet"), "hashing-64",
                                       **{name: value})


def test_evaluate_estimation_refuses_methods_given_as_one_string(monkeypatch, tmp_path):
    monkeypatch.setattr(estimation, "prepared", _never)
    with pytest.raises(ConfigError, match="methods must be a list of method names, got the string 'anchor'"):
        estimation.evaluate_estimation(tmp_path / "t.parquet", ModelSpec(model="irtnet"), "hashing-64",
                                       methods="anchor")


@pytest.mark.parametrize("kw, message", [
    ({"fractions": []}, r"fractions: give a non-empty list"),  # was: the default fractions, without a word
    ({"fractions": [0.5, 0.25, 0.5]}, r"fractions: 0.5 is given twice"),  # was: dropped without a word
    ({"fractions": [True]}, r"fractions\[0\] must be a number"),
    ({"fractions": [0.5, math.nan]}, r"fractions: training shares must lie in \(0, 1\], got nan"),
    ({"split": (0.9, 0.1, 0.0)}, "split: the test fraction must be positive"),  # was: after the embedding
    ({"split": (0.5, 0.5, 0.5)}, "summing to 1"),
    ({"seed": -1}, "seed must be a whole number of at least 0"),
    ({"seed": 1.5}, "seed must be a whole number of at least 0"),
    ({"specs": [ModelSpec(model="knn", seed=5)]}, "its spec's seed 5 contradicts seed = 0"),  # was: seed 0 used
])
def test_data_efficiency_refuses_bad_settings_before_reading_the_table(monkeypatch, tmp_path, kw, message):
    monkeypatch.setattr(estimation, "prepared", _never)
    specs = kw.pop("specs", [ModelSpec(model="model-mean")])
    with pytest.raises(ConfigError, match=message):
        estimation.data_efficiency(tmp_path / "t.parquet", specs, "hashing-64", **kw)


@pytest.mark.parametrize("call, message", [
    (lambda p: experiments.evaluate_onboarding(p, ModelSpec(model="irtnet"), "hashing-64", ks=[10.5]),
     r"--ks\[0\] must be a whole number"),
    (lambda p: experiments.evaluate_onboarding(p, ModelSpec(model="irtnet"), "hashing-64", n_test=2.5),
     "--n-test must be a whole number"),
    (lambda p: experiments.evaluate_onboarding(p, ModelSpec(model="irtnet"), "hashing-64", prior_strength=-1.0),
     "--prior-strength: prior strength must lie from"),
    (lambda p: experiments.evaluate_onboarding(p, ModelSpec(model="irtnet"), "hashing-64", retrain_epochs=1.5),
     "--retrain-epochs must be a whole number"),
    (lambda p: experiments.evaluate_benchmarks(p, ModelSpec(model="irtnet"), "hashing-64", k=2.5),
     "--k must be a whole number"),
    (lambda p: experiments.evaluate_benchmarks(p, ModelSpec(model="irtnet"), "hashing-64", anchors=[12.7]),
     r"--anchors\[0\] must be a whole number"),
], ids=["onboarding-ks", "onboarding-n-test", "onboarding-strength", "onboarding-epochs", "benchmarks-k",
        "benchmarks-anchors"])
def test_task_protocols_refuse_a_bad_number_before_reading_the_table(monkeypatch, tmp_path, call, message):
    monkeypatch.setattr(experiments, "prepared", _never)
    with pytest.raises(ConfigError, match=message):
        call(tmp_path / "t.parquet")


@pytest.mark.parametrize("strength", [0.0, -1.0, math.nan, None])
def test_onboard_refuses_a_prior_strength_that_is_no_strength(tmp_path, strength):
    """0 or a negative strength made the prior's precision none (or negative) and the fit nonsense; it was not
    checked at all. Refused before the checkpoint is read."""
    with pytest.raises(ConfigError, match="--prior-strength"):
        experiments.onboard(tmp_path / "no-run", tmp_path / "answers.csv", prior_strength=strength)


# ------------------------------------------------------------- 3. blank or padded names in a comparison spec
@pytest.mark.parametrize("change, field", [
    ({"encoder": ""}, "encoder"),  # was: accepted, then every cell failed with the same error
    ({"cells": ""}, "cells"),  # was: read as not given
    ({"out": "  "}, "out"),
    ({"models": [{"name": "x", "model": ""}]}, "models.0.model"),  # was: the registry name read as the label 'x'
    ({"models": [{"name": "irtnet", "preset": ""}]}, "models.0.preset"),  # was: the default preset
    ({"models": [{"name": "model-mean", "encoder": ""}]}, "models.0.encoder"),  # was: the comparison's encoder
    ({"models": [{"name": "model-mean"}, {"name": "model-mean ", "model": "model-mean"}]}, "models.1.name"),
    ({"datasets": [{"name": "syn", "table": ""}]}, "datasets.0.table"),  # was: '.: not a readable Parquet file'
    ({"datasets": [{"name": "syn", "format": "", "path": "x"}]}, "datasets.0.format"),
])
def test_a_compare_spec_refuses_blank_or_padded_names(table_path, change, field):
    """An empty string was read as "not given" (the default) or, for an entry's name with a space around it, made
    a second row that prints exactly as the first ('model-mean ' and 'model-mean')."""
    raw = {"datasets": [{"name": "syn", "table": str(table_path)}], "models": [{"name": "model-mean"}],
           "seeds": [0], **change}
    with pytest.raises(ConfigError, match=rf"invalid comparison spec: {field}: "):
        load_spec(raw)


def test_a_name_with_inner_spaces_is_still_a_label(table_path):
    assert load_spec(_spec(table_path).model_dump() | {"models": [{"name": "model mean", "model": "model-mean"}]})


# ------------------------------------------------------------- 4. a damaged cell in the cache
def _damage_routing(result):
    del result["routing"]


def _damage_figure(result):
    result["correctness"]["overall"]["auc"] = "0.7"


def _damage_reference(result):
    result["routing"]["references"]["oracle"] = 0.9


def _damage_info(result):
    result["info"]["n_test_queries"] = None


@pytest.mark.parametrize("damage", [_damage_routing, _damage_figure, _damage_reference, _damage_info])
def test_a_damaged_cached_cell_is_computed_again_not_written_into_results(tmp_path, table_path, damage):
    """A cell file whose result lacked a figure the tables read was served from the cache, written into
    results.json, and `irtnet results` (and every rerun of `irtnet compare`) refused results.json as damaged."""
    spec, out = _spec(table_path), tmp_path / "run"
    run_comparison(spec, out)
    cell = next(p for p in sorted((out / "cells").glob("*.json"))
                if json.loads(p.read_text())["label"] == "model-mean")
    doc = json.loads(cell.read_text())
    damage(doc["results"]["known"])
    cell.write_text(json.dumps(doc))
    rerun = run_comparison(spec, out)
    assert rerun.run["computed"] == 2 and rerun.run["from_cache"] == 4  # the damaged cell's query and text cells
    write_tables(out)  # was: DataError, results.json field 'cells[..].result...' damaged
    assert json.loads(cell.read_text())["results"]["known"]["routing"]["mode"] == "complete"


def test_a_cached_cell_with_true_as_its_timing_is_computed_again(tmp_path, table_path):
    spec, out = _spec(table_path), tmp_path / "run"
    run_comparison(spec, out)
    cell = sorted((out / "cells").glob("*.json"))[0]
    doc = json.loads(cell.read_text())
    doc["fit_seconds"] = True  # results.json refuses it: "got true, expected a number"
    cell.write_text(json.dumps(doc))
    assert run_comparison(spec, out).run["computed"] == 2
    write_tables(out)


# ------------------------------------------------------------- 5. '|' and line breaks in names
def _table_rows(markdown: str) -> list[list[str]]:
    """Each Markdown table of `markdown` as its lines' cell counts: unescaped '|' split cells."""
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line.replace("\\|", "").count("|") - 1)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_names_with_a_pipe_or_a_line_break_keep_every_table_row_in_its_columns(tmp_path):
    """An entry's label may hold '|' (and a benchmark's name, from the data, '|' or a line break): the paired
    differences, verdicts and per-benchmark tables wrote it as it is, and the row (or the header) split into
    more columns than the table has."""
    table = _table(tmp_path / "t.parquet", {"algebra": "alg|ebra\nI"})
    models = [{"name": "x|y", "model": FOCUS}, {"name": "a|b", "model": "model-mean"}, {"name": "random"}]
    out = tmp_path / "run"
    run_comparison(_spec(table, models), out)
    write_tables(out)
    for text in (results_document([out]), summary_markdown(out), (out / "summary.md").read_text(),
                 *(p.read_text() for p in (out / "tables").glob("*.md"))):
        for counts in _table_rows(text):
            assert len(set(counts)) == 1, (counts, text)
    doc = results_document([out])
    assert "| a\\|b | +" in doc and "x\\|y ECE, pooled" in doc and "| alg\\|ebra\\nI |" in doc

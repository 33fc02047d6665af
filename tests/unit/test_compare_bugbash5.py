"""Bug bash 5 of compare / results / report: a focus router without probabilities, ties for the best other
entry, stats.json and results.json that lack what the tables read or come from another run, and names with
matplotlib's math markup in the report's figures."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet.api.compare import load_spec, run_comparison
from irtnet.api.compare_stats import _best_other
from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.predictors import REGISTRY
from irtnet.predictors.base import Router
from irtnet.predictors.baselines.simple import ModelMean
from irtnet.reporting import estimation_figures as EF
from irtnet.reporting import figures as F


class Ranker(Router):
    """A router without probabilities: scores of any range (here -3 to 7), as RouterDC's similarities."""

    name = "ranker"

    def fit(self, train, val=None):
        self.inner_ = ModelMean().fit(train)
        self.models_ = self.inner_.models_
        return self

    def scores(self, queries, models=None):
        return 10 * self.inner_.predict_proba(queries, models) - 3


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "syn.parquet"
    make_synthetic(n_models=5, n_queries=120, n_benchmarks=3, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, table_path) -> Path:
    """A finished run: focus the per-benchmark mean against the per-model mean and random, seed 0."""
    spec = load_spec({"datasets": [{"name": "syn", "table": str(table_path)}],
                      "models": [{"name": "model-benchmark-mean"}, {"name": "model-mean"}, {"name": "random"}],
                      "seeds": [0], "n_boot": 100, "encoder": "hashing-32"})
    out = tmp_path_factory.mktemp("run") / "run"
    run_comparison(spec, out)
    return out


def _damaged(run_dir: Path, to: Path, name: str, damage) -> Path:
    """A copy of the run's results.json and stats.json with `damage` applied to the parsed `name`."""
    to.mkdir()
    for file in ("results.json", "stats.json"):
        shutil.copy(run_dir / file, to / file)
    doc = json.loads((to / name).read_text())
    damage(doc)
    (to / name).write_text(json.dumps(doc))
    return to


def _refused(run: Path, tmp_path: Path, message: str) -> None:
    for mode in (["-o", str(tmp_path / "r.md")], ["--summary"]):
        res = CliRunner().invoke(app, ["results", str(run), *mode])
        output = " ".join(res.output.split())
        assert res.exit_code == 2 and message in output, res.output
        assert "Traceback" not in res.output and not (tmp_path / "r.md").exists()


# ------------------------------------------------------------------------ a focus router without probabilities
def test_a_focus_router_without_probabilities_is_compared_on_routing_only(tmp_path, table_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "ranker", Ranker)
    spec = load_spec({"datasets": [{"name": "syn", "table": str(table_path)}],
                      "models": [{"name": "ranker"}, {"name": "model-benchmark-mean"}], "seeds": [0], "n_boot": 100,
                      "encoder": "hashing-32"})
    run_comparison(spec, tmp_path / "run")  # was: DataError "probabilities must be ... in [0, 1]", nothing written
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    for table in stats:
        assert set(table["rows"]["model-benchmark-mean"]["metrics"]) == {"routing"}
        assert set(table["best_other"]) == {"routing"}


# ------------------------------------------------------------------------------- ties for the best other entry
def _metric(b: float, verdict: str, better: str = "higher") -> dict:
    return {"a": 0.7, "b": b, "diff": 0.7 - b, "lo": -0.1, "hi": 0.1, "se": 0.05, "n_valid": 100, "better": better,
            "verdict": verdict}


def test_entries_tied_on_the_best_estimate_give_the_verdict_the_focus_fares_worst_in():
    rows = {"beaten": {"metrics": {"routing": _metric(0.75, "win"), "log_loss": _metric(0.4, "win", "lower")}},
            "level": {"metrics": {"routing": _metric(0.75, "tie"), "log_loss": _metric(0.4, "loss", "lower")}},
            "worse": {"metrics": {"routing": _metric(0.60, "win"), "log_loss": _metric(0.5, "win", "lower")}}}
    best = _best_other(rows)
    assert best["routing"]["entry"] == "level" and best["routing"]["verdict"] == "tie"  # was: "beaten", a win
    assert best["log_loss"]["entry"] == "level" and best["log_loss"]["verdict"] == "loss"
    undefined = {"nan": {"metrics": {"auc": _metric(math.nan, "n/a")}}, "x": {"metrics": {"auc": _metric(0.6, "win")}}}
    assert _best_other(undefined)["auc"]["entry"] == "x"  # a NaN estimate is never the best one


# ------------------------------------------------------------------------------ stats.json: damaged or foreign
def _drop(*path):
    def damage(doc):
        for table in doc:
            holder = table
            for key in path[:-1]:
                holder = holder[key]
            del holder[path[-1]]
    return damage


def _set(value, *path):
    def damage(doc):
        for table in doc:
            holder = table
            for key in path[:-1]:
                holder = holder[key]
            holder[path[-1]] = value
    return damage


@pytest.mark.parametrize("damage, message", [
    (_drop("focus"), "stats.json, row 1, field 'focus': missing, expected a string"),
    (_set([], "rows"), "row 1, field 'rows': got a JSON list, expected a JSON object"),
    (_drop("rows", "model-mean", "metrics"), "row 1, field 'rows.model-mean.metrics': missing"),
    (_drop("best_other", "auc", "verdict"), "row 1, field 'best_other.auc.verdict': missing, expected a string"),
    (_set("better", "rows", "random", "metrics", "auc", "verdict"),
     "field 'rows.random.metrics.auc.verdict': 'better' is no verdict"),
    (_drop("units"), "row 1, field 'units': missing, expected a whole number"),
    (_set("high", "rows", "random", "metrics", "auc", "lo"), "field 'rows.random.metrics.auc.lo': got a JSON string"),
], ids=["no-focus", "rows-list", "no-metrics", "no-verdict", "bad-verdict", "no-units", "bound-text"])
def test_results_names_a_stats_json_without_what_its_tables_read(tmp_path, run_dir, damage, message):
    run = _damaged(run_dir, tmp_path / "run", "stats.json", damage)  # was: KeyError or AttributeError
    _refused(run, tmp_path, message)


@pytest.mark.parametrize("damage, message", [
    (_set("other", "dataset"), "row 1, field 'dataset': 'other' is not a dataset of results.json"),
    (_set("model-mean", "focus"), "field 'focus': 'model-mean', but the focus entry of results.json is "
                                  "'model-benchmark-mean' (a stats.json of another run?"),
    (_set(5, "units"), "field 'units': pairs 5 split(s), but results.json has 1 scored cell(s)"),
    (lambda doc: doc.append(dict(doc[0])), "row 3: repeats the table of dataset 'syn', setting 'query'"),
    (lambda doc: [t["rows"].update(ghost=t["rows"]["random"]) for t in doc],
     "field 'rows.ghost': 'ghost' is not another model entry of results.json"),
], ids=["dataset", "focus", "units", "repeated", "entry"])
def test_results_refuses_a_stats_json_of_another_run(tmp_path, run_dir, damage, message):
    run = _damaged(run_dir, tmp_path / "run", "stats.json", damage)  # was: its verdicts printed as this run's
    _refused(run, tmp_path, message)


# --------------------------------------------------------------------- results.json: the records the document reads
@pytest.mark.parametrize("damage, message", [
    (lambda doc: doc["spec"].pop("fractions"), "field 'spec.fractions': missing, expected a JSON list"),
    (lambda doc: doc["spec"].pop("encoder"), "field 'spec.encoder': missing, expected a JSON string"),
    (lambda doc: doc["datasets"]["syn"].pop("fingerprint"), "field 'datasets.syn.fingerprint': missing"),
    (lambda doc: doc["datasets"].pop("syn"), "field 'datasets.syn': missing, expected a JSON object"),
    (lambda doc: doc["datasets"].update(old=doc["datasets"]["syn"]),
     "field 'datasets.old': a record of a dataset that is not in spec.datasets"),
    (lambda doc: doc["spec"]["models"][0].update(params=[1]), "field 'spec.models[0].params': got a JSON list"),
    (lambda doc: doc["spec"].update(focus="ghost"), "field 'spec.focus': 'ghost' is not a model entry of the run"),
], ids=["fractions", "encoder", "fingerprint", "record-missing", "record-foreign", "params", "focus"])
def test_results_names_a_results_json_without_the_records_its_document_reads(tmp_path, run_dir, damage, message):
    run = _damaged(run_dir, tmp_path / "run", "results.json", damage)  # was: KeyError, or a dataset row dropped
    _refused(run, tmp_path, message)


# ----------------------------------------------------------------------------- math markup in figure names
_MARKUP = r"cost $\x$"  # a pair of '$' is matplotlib's math markup, and \x no symbol it knows


def test_figures_draw_names_with_dollar_signs_as_they_are():
    rng = np.random.default_rng(0)
    figures = [
        F.profile_heatmap([_MARKUP], [_MARKUP], np.array([[0.5]])),
        F.difficulty_scatter(rng.normal(size=4), rng.random(4), np.array([_MARKUP] * 4)),
        F.ability_map(rng.normal(size=(2, 2)), [_MARKUP, "m"], [_MARKUP, "f"], np.array([0.6, 0.3])),
        F.item_curves(np.linspace(-2, 2, 5), rng.random((1, 5)), rng.normal(size=(1, 2)), [_MARKUP]),
        F.onboarding_curves([{"method": _MARKUP, "k": 1, "log_loss": 0.5}, {"method": _MARKUP, "k": 4,
                                                                              "log_loss": 0.4}]),
        EF.efficiency_curves({"points": [{"predictor": _MARKUP, "setting": "text only", "fraction": f, "auc": 0.7,
                                          "accuracy": 0.6} for f in (0.1, 1.0)]}),
    ]
    for fig in figures:
        assert F.png_bytes(fig).startswith(b"\x89PNG")  # was: ValueError "Unknown symbol: \x"
    assert F.plain(r"a $\alpha$ and $5") == r"a \$\alpha\$ and \$5"


# ------------------------------------------------------------------------------ tables of an earlier run
def test_a_rerun_into_the_folder_leaves_no_table_of_the_earlier_run(tmp_path, table_path):
    from irtnet.reporting.results import write_tables

    out = tmp_path / "run"
    for name in ("old", "syn"):  # the dataset renamed between the runs
        spec = load_spec({"datasets": [{"name": name, "table": str(table_path)}], "models": [{"name": "model-mean"}],
                          "seeds": [0], "n_boot": 100, "encoder": "hashing-32"})
        run_comparison(spec, out)
        write_tables(out)
    (out / "tables" / "notes.md").write_text("mine")  # not a table file: kept
    write_tables(out)
    assert sorted(p.name for p in (out / "tables").iterdir()) == [  # was: old-query.* and old-text.* beside them
        "notes.md", "syn-query.json", "syn-query.md", "syn-text.json", "syn-text.md"]

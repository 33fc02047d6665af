"""`irtnet report`, `evaluate-cost` and `data-efficiency` refuse bad options and damaged inputs before the work,
with one line naming the file or option (tiny synthetic data, hashing encoder)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import DataError
from irtnet.reporting.estimation_figures import efficiency_outputs, estimation_outputs
from irtnet.reporting.html import report_paths

runner = CliRunner()


def _ok(args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _refused(args, message):
    """The command exits 2 with `message` in its one-line error, and no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_checks")
    synth = make_synthetic(n_models=5, n_queries=240, n_benchmarks=3, dim=2, feature_dim=6, seed=0)
    synth.table.to_parquet(root / "t.parquet")
    models = list(synth.table.model_vocab.ids)
    (root / "prices.json").write_text(json.dumps({m: {"input_per_1k": 0.001, "output_per_1k": 0.002}
                                                  for m in models}))
    (root / "partial.json").write_text(json.dumps({m: {"per_query": 0.001} for m in models[1:]}))
    (root / "empty.json").write_text("{}")
    _ok(["train", root / "t.parquet", "-o", root / "run", "--preset", "small", "--encoder", "hashing-64",
         "--epochs", "1", "--quiet", "--threads", "1"])
    return root


# ---------------------------------------------------------------------------- 4: an output and its twin
def test_report_refuses_an_output_that_is_its_own_json_twin(root, tmp_path):
    _refused(["report", root / "run", "-o", tmp_path / "r.json"],
             f"error: {tmp_path / 'r.json'}: is the report's JSON twin (the same name with .json)")
    assert list(tmp_path.iterdir()) == []


def test_report_checks_the_json_twin_before_writing_the_html(root, tmp_path):
    (tmp_path / "r.json").mkdir()
    _refused(["report", root / "run", "-o", tmp_path / "r.html"], f"error: {tmp_path / 'r.json'}: is a folder")
    assert not (tmp_path / "r.html").exists()


def test_estimation_and_efficiency_outputs_refuse_their_own_twins(tmp_path):
    for name in ("x.md", "x.png"):
        with pytest.raises(DataError, match="is also the name of the"):
            efficiency_outputs(tmp_path / name)
    with pytest.raises(DataError, match="is also the name of the .md"):
        estimation_outputs(tmp_path / "x.md")
    (tmp_path / "y.md").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        efficiency_outputs(tmp_path / "y.json")
    assert estimation_outputs(tmp_path / "e.json") == [tmp_path / "e-error.png", tmp_path / "e-coverage.png",
                                                       tmp_path / "e.md"]
    assert report_paths(tmp_path / "r.html") == (tmp_path / "r.html", tmp_path / "r.json")


@pytest.mark.parametrize("command", ["data-efficiency", "evaluate-estimation"])
def test_twin_named_outputs_are_refused_before_the_work(root, tmp_path, command):
    out = tmp_path / "twin.md"
    _refused([command, root / "t.parquet", "--encoder", "hashing-64", "--epochs", "1", "-o", out],
             f"error: {out}: is also the name of the .md written beside the JSON result")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ 5: --output-tokens
@pytest.mark.parametrize("value", ["-1000", "nan", "inf"])
def test_a_negative_or_non_finite_output_tokens_is_refused(root, tmp_path, value):
    message = "error: --output-tokens must be a finite non-negative number"
    _refused(["evaluate-cost", root / "run", "--prices", root / "prices.json", "--output-tokens", value,
              "-o", tmp_path / "c.json"], message)
    _refused(["report", root / "run", "-o", tmp_path / "r.html", "--prices", root / "prices.json",
              "--output-tokens", value], message)
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_output_tokens_and_prices_that_nothing_reads(root, tmp_path):
    # the table has no costs: without --prices the cost section is left out, so --output-tokens has no effect
    _refused(["report", root / "run", "-o", tmp_path / "r.html", "--output-tokens", "5"],
             "error: --output-tokens is read only for the token prices of the cost section, which is left out")
    run = shutil.copytree(root / "run", tmp_path / "run")
    _ok(["evaluate-cost", run, "--prices", root / "prices.json"])
    _refused(["report", run, "-o", tmp_path / "r.html", "--prices", root / "prices.json"],
             f"error: --prices is read only where the report computes the cost section of a run, and the cost "
             f"section is read from {run / 'cost_routing.json'}")
    assert not (tmp_path / "r.html").exists()
    costs = json.loads((run / "cost_routing.json").read_text())
    assert costs["settings"]["output_tokens"] == 256  # the default, when not given


def test_evaluate_cost_and_report_refuse_output_tokens_with_per_query_prices(root, tmp_path):
    models = json.loads((root / "prices.json").read_text())  # every model of the table
    per_query = tmp_path / "per_query.json"
    per_query.write_text(json.dumps({m: {"per_query": 0.001} for m in models}))
    message = (f"error: --output-tokens has no effect: the prices ({per_query}) have no per-token output price")
    _refused(["evaluate-cost", root / "run", "--prices", per_query, "--output-tokens", "10",
              "-o", tmp_path / "c.json"], message)
    _refused(["report", root / "run", "-o", tmp_path / "r.html", "--prices", per_query, "--output-tokens", "10"],
             message)
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "r.html").exists()
    _ok(["evaluate-cost", root / "run", "--prices", per_query, "-o", tmp_path / "c.json"])  # not given: fine


# ------------------------------------------------------------------------------- 8: damaged task results
@pytest.mark.parametrize("content, field, message", [
    ({"task": "benchmark-accuracy"}, "summary", "missing: `irtnet evaluate-benchmarks` writes it"),
    ({"task": "benchmark-accuracy", "summary": {}, "folds": []}, "summary", "is empty"),
    ({"task": "onboarding"}, "settings", "missing: `irtnet evaluate-onboarding` writes it"),
    ({"task": "onboarding", "settings": {}, "rows": [{"method": "x"}]}, "rows", "entry 1 has no 'k', 'auc'"),
    ({"task": "onboarding", "settings": {}, "rows": {}}, "rows", "expected a JSON list of objects, got a JSON object"),
    ({"task": "cost-routing"}, "settings", "missing: `irtnet evaluate-cost` writes it"),
    ({"task": "estimation"}, "settings", "missing: `irtnet evaluate-estimation` writes it"),
    ({"task": "estimation", "settings": {}, "summary": [1]}, "summary", "entry 1 is a JSON number, not a JSON object"),
    ({"task": "data-efficiency"}, "points", "missing: `irtnet data-efficiency` writes it"),
], ids=["benchmark", "benchmark-empty", "onboarding", "onboarding-row", "onboarding-kind", "cost", "estimation",
        "estimation-row", "data-efficiency"])
def test_report_names_the_file_and_field_of_a_damaged_task_result(root, tmp_path, content, field, message):
    path = tmp_path / "inc.json"
    path.write_text(json.dumps(content))
    _refused(["report", root / "run", "-o", tmp_path / "r.html", "--include", path],
             f"error: {path}, field '{field}': {message}")
    assert not (tmp_path / "r.html").exists()


def test_report_names_the_runs_own_damaged_cost_file_and_refuses_a_file_twice(root, tmp_path):
    run = shutil.copytree(root / "run", tmp_path / "run")
    (run / "cost_routing.json").write_text('{"task": "cost-routing"}')
    _refused(["report", run, "-o", tmp_path / "r.html"], f"error: {run / 'cost_routing.json'}, field 'settings'")
    _refused(["report", run, "-o", tmp_path / "r.html", "--include", run / "cost_routing.json"],
             f"--include {run / 'cost_routing.json'} is a task file of the run")
    inc = tmp_path / "eff.json"
    inc.write_text(json.dumps({"task": "data-efficiency", "points": []}))
    _refused(["report", root / "run", "-o", tmp_path / "r.html", "--include", inc, "--include", inc],
             f"--include {inc} is given twice, so its section would be written twice")
    assert not (tmp_path / "r.html").exists()


# --------------------------------------------------------------------------------- 12: fractions
@pytest.mark.parametrize("value", ["nan", "0.5,inf"])
def test_data_efficiency_refuses_non_finite_fractions(root, tmp_path, value):
    _refused(["data-efficiency", root / "t.parquet", "--encoder", "hashing-64", "--fractions", value,
              "-o", tmp_path / "d.json"], "is not a finite number")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ 14: price files, --table
def test_an_empty_or_partial_price_file_is_named(root, tmp_path):
    empty = root / "empty.json"
    for args in (["evaluate-cost", root / "run", "-o", tmp_path / "c.json"], ["report", root / "run", "-o",
                                                                             tmp_path / "r.html"]):
        _refused([*args, "--prices", empty], f"error: {empty}: the price file holds no prices")
        _refused([*args, "--prices", root / "partial.json"],
                 f"error: {root / 'partial.json'} has no price for 1 of the 5 model(s)")
    assert list(tmp_path.iterdir()) == []


def test_report_names_a_table_that_shares_no_model_with_the_checkpoint(root, tmp_path):
    rows = [(m, f"q{q}", (q + i) % 2, "b1", f"what is {q} plus {i}") for i, m in enumerate(("m1", "m2"))
            for q in range(4)]
    pd.DataFrame(rows, columns=["model", "query", "label", "benchmark", "text"]).to_csv(tmp_path / "o.csv",
                                                                                     index=False)
    _ok(["data", "import", "long", tmp_path / "o.csv", "-o", tmp_path / "other.parquet"])
    _refused(["report", root / "run" / "model", "--table", tmp_path / "other.parquet", "-o", tmp_path / "r.html"],
             f"error: {tmp_path / 'other.parquet'}: shares no model with the checkpoint")
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_a_checkpoint_without_a_table(root, tmp_path):
    """A checkpoint directory has no queries of its own: without --table its report would have no section."""
    _refused(["report", root / "run" / "model", "-o", tmp_path / "r.html"],
             f"error: {root / 'run' / 'model'} is a checkpoint directory, not a run directory: its report needs "
             "--table TABLE")
    assert not (tmp_path / "r.html").exists()
    _ok(["report", root / "run" / "model", "--table", root / "t.parquet", "-o", tmp_path / "r.html"])
    assert json.loads((tmp_path / "r.json").read_text())["sections"]


def test_report_refuses_a_table_that_a_model_without_query_parameters_leaves_unread(root, tmp_path):
    _ok(["train", root / "t.parquet", "-o", tmp_path / "run", "--model", "model-mean", "--quiet", "--threads", "1"])
    _refused(["report", tmp_path / "run", "--table", root / "t.parquet", "-o", tmp_path / "r.html"],
             "error: --table is read for the interpretation sections, which need an IRT model with query parameters")
    _refused(["report", tmp_path / "run" / "model", "--table", root / "t.parquet", "-o", tmp_path / "r.html"],
             "leave out --table (a checkpoint without them has no report; give its run)")
    assert not (tmp_path / "r.html").exists()

"""Leftovers of earlier bug bashes: a budget of 0 routes to free models where there are some, and an empty or
repeated --baselines item is refused (not read as "every baseline", nor dropped) by every command that takes one."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet import api
from irtnet.cli.main import app
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import save_predictor

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(checkpoint folder, its model ids, a few texts) of a small IrtNet."""
    root = tmp_path_factory.mktemp("leftovers7")
    table = make_synthetic(n_models=3, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    model = IrtNet(PRESETS["small"], {"epochs": 2, "progress": False, "seed": 0}).fit(data)
    path = save_predictor(model, root / "m")
    return path, model.models_.to_list(), list(table.queries["text"].head(4))


def _prices(path, prices):
    file = path.parent / "prices.json"
    file.write_text(json.dumps(prices))
    return file


def test_a_budget_of_zero_routes_every_text_to_a_free_model(saved):
    path, models, texts = saved
    prices = _prices(path, {models[0]: 0.0, models[1]: 0.0, models[2]: 0.5})
    decisions = api.cost_route_texts(path, texts, prices=prices, budget=0.0)
    assert decisions.mean_cost == 0.0
    assert {decisions.models[c] for c in decisions.chosen} <= {models[0], models[1]}
    out = runner.invoke(app, ["route", str(path), *texts, "--prices", str(prices), "--budget", "0"])
    assert out.exit_code == 0, out.output
    assert "mean cost 0" in out.output


def test_a_budget_of_zero_without_a_free_model_names_the_cheapest_cost(saved):
    path, models, texts = saved
    prices = _prices(path, {m: 0.25 * (i + 1) for i, m in enumerate(models)})
    with pytest.raises(ConfigError, match="budget 0 per query is below the cheapest routing's mean cost 0.25"):
        api.cost_route_texts(path, texts, prices=prices, budget=0.0)
    with pytest.raises(ConfigError, match="--budget must be a finite non-negative number, got -0.1"):
        api.cost_route_texts(path, texts, prices=prices, budget=-0.1)


@pytest.mark.parametrize("command", [
    ["evaluate-benchmarks", "T", "-o", "O"],
    ["data-efficiency", "T", "-o", "O"],
])
@pytest.mark.parametrize("value, message", [
    ("knn,,cluster-rate", "--baselines 'knn,,cluster-rate': an empty item"),
    ("knn,", "--baselines 'knn,': an empty item"),
    ("knn,knn", "--baselines 'knn,knn' names 'knn' more than once"),
])
def test_an_empty_or_repeated_baseline_is_refused_before_the_table_is_read(tmp_path, command, value, message):
    args = [str(tmp_path / "t.parquet") if a == "T" else str(tmp_path / "o.json") if a == "O" else a for a in command]
    out = runner.invoke(app, [*args, "--baselines", value, "--encoder", "hashing-32"])
    assert out.exit_code == 2 and message in " ".join(out.output.split()), out.output
    assert "t.parquet" not in out.output  # refused before the (missing) table is looked for


def test_evaluate_benchmarks_with_no_baselines_scores_the_model_alone(tmp_path):
    make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=2).table.to_parquet(
        tmp_path / "t.parquet")
    out = tmp_path / "lobo.json"
    result = runner.invoke(app, ["evaluate-benchmarks", str(tmp_path / "t.parquet"), "-o", str(out), "--encoder",
                                 "hashing-32", "--model", "model-mean", "--baselines", "", "--anchors", ""])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert list(doc["summary"]) == ["model-mean"]


def test_ranking_or_predicting_no_texts_is_refused_not_a_stop_iteration(saved):
    path, _, _ = saved
    model = api.load(path)
    for call in (lambda: api.rank_models(model, []), lambda: api.predict_texts(model, []),
                 lambda: api.answer_paths(model, [], None)):
        with pytest.raises(ConfigError, match="no query texts: give at least one"):
            call()


def test_a_detected_format_that_fails_says_which_format_it_was_read_as(tmp_path):
    from irtnet.data.importers import import_table
    from irtnet.errors import DataError

    file = tmp_path / "x_samples.jsonl"  # an EEE record whose model_id is not text
    file.write_text(json.dumps({"schema_version": "0.3.0", "evaluation_id": "e", "sample_id": "1", "model_id": 5,
                                "evaluation_name": "b", "input": {"raw": "q"},
                                "evaluation": {"score": 1, "is_correct": True}}) + "\n")
    with pytest.raises(DataError, match=r"line 1, field 'model_id': .*read as eee, the format detected from the "
                                        r"files; name the format") as caught:
        import_table("auto", file)
    assert caught.value.file == str(file) and caught.value.line == 1


def test_a_benchmark_given_to_a_model_that_reads_none_is_quoted_even_when_empty(saved):
    path, _, _ = saved
    model = api.load(path)
    if api.known_benchmarks(model) is not None:
        pytest.skip("this preset reads benchmark names")
    with pytest.raises(ConfigError, match=r"reads no benchmark names; leave the benchmark out \(given: ''\)"):
        api.rank_models(model, ["q"], benchmark="")


def test_a_wrong_method_is_a_405_of_an_openai_error_type(saved):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from irtnet.serve.app import create_app

    reply = TestClient(create_app(saved[0])).get("/v1/route")
    assert reply.status_code == 405
    assert reply.json()["error"]["type"] == "invalid_request_error", reply.json()


@pytest.mark.parametrize("command, shown", [
    ("predict-benchmark", ["[default: 0.9]", "[default: chosen]"]),
    ("evaluate-benchmarks", ["[default: 10]", "[default: chosen]", "[default: the --config file's seed, else 0]"]),
])
def test_a_default_written_in_a_help_text_is_shown_not_read_as_markup(command, shown, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option
    out = runner.invoke(app, [command, "--help"])
    text = " ".join(out.output.split())
    for default in shown:
        assert default in text, default  # rich read "[default: 0.9]" as a style tag and dropped it

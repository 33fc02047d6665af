"""Bad input to `irtnet route`, `predict-benchmark` and `calibrate`: an empty candidate name, options that would
have no effect, overflowing costs, texts files with two text fields or a column named twice, and output paths
checked before the work. Each is one line `error: ...` and exit code 2, never a traceback or a silent choice."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import save_predictor
from cli_checks import one_line_error as _error

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """(a small checkpoint, its folder, its models; prices.json prices them per query)."""
    root = tmp_path_factory.mktemp("route")
    table = make_synthetic(n_models=3, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table
    model = IrtNet("small", {"epochs": 1, "progress": False, "seed": 0}).fit(
        Dataset.from_table(table, embed_queries(table, "hashing-64", use_cache=False)))
    models = model.models_.to_list()
    (root / "prices.json").write_text(json.dumps({m: 0.001 * 3 ** i for i, m in enumerate(models)}))
    (root / "q.txt").write_text("\n".join(table.queries["text"].head(20)) + "\n")
    return save_predictor(model, root / "m"), root, models


def test_an_empty_candidate_name_is_refused_never_dropped(ckpt):
    path, root, models = ckpt
    assert f"candidate model name 1 of 2 is empty ('', '{models[0]}')" in _error(
        "route", path, "a question", "--candidates", f",{models[0]}")
    assert "candidate model name 2 of 3 is empty" in _error(
        "route", path, "a question", "--candidates", f"{models[0]},,{models[1]}", "--cost-weight", 1,
        "--prices", root / "prices.json")
    assert "candidates is empty: name at least one model" in _error("route", path, "a question", "--candidates", "")
    assert "candidates is empty" in _error("calibrate", path, "--texts", root / "q.txt", "--target", "p=0.5",
                                           "--prices", root / "prices.json", "--candidates", "")
    assert "candidate model name 1 of 2 is empty" in _error(
        "calibrate", path, "--texts", root / "q.txt", "--target", "p=0.5", "--prices", root / "prices.json",
        "--candidates", f",{models[0]}")


def test_route_refuses_options_that_would_have_no_effect(ckpt):
    path, root, _ = ckpt
    prices = root / "prices.json"
    assert ("error: --prices is read only with --cost-weight or --budget (cost-aware routing), and neither is "
            "given: give one, or leave out --prices to rank the models by P") in _error(
        "route", path, "a question", "--prices", prices)
    assert "--prices and --output-tokens are read only with --cost-weight or --budget" in _error(
        "route", path, "a question", "--prices", prices, "--output-tokens", 10)
    assert "--top is read only when ranking the models" in _error(
        "route", path, "a question", "--prices", prices, "--budget", 1, "--top", 2)
    result = runner.invoke(app, ["route", str(path), "a question", "--prices", str(prices), "--cost-weight", "1"])
    assert result.exit_code == 0 and "mean cost" in result.output, result.output


def test_output_tokens_with_prices_without_an_output_token_price_is_refused(ckpt, tmp_path):
    """Per-query prices read no output tokens: an explicit --output-tokens would have no effect."""
    from irtnet import api
    from irtnet.errors import ConfigError

    path, root, models = ckpt
    prices = root / "prices.json"  # per query
    message = (f"error: --output-tokens has no effect: the prices ({prices}) have no per-token output price (each "
               "is per query, or its output price is 0); leave out --output-tokens")
    assert message in _error("route", path, "a question", "--prices", prices, "--cost-weight", 1,
                             "--output-tokens", 10)
    assert message in _error("calibrate", path, "--texts", root / "q.txt", "--target", "p=0.5", "--prices", prices,
                             "--output-tokens", 10)
    with pytest.raises(ConfigError, match="--output-tokens has no effect"):
        api.cost_route_texts(path, ["a question"], prices=prices, cost_weight=1, output_tokens=256)
    with pytest.raises(ConfigError, match="--output-tokens has no effect"):
        api.calibrate_texts(path, ["a question"], "p_min", "p=0.5", prices, output_tokens=256)
    free_output = tmp_path / "free.json"  # token prices whose output part is 0 read no output tokens either
    free_output.write_text(json.dumps({m: {"input_per_1k": 0.01, "output_per_1k": 0} for m in models}))
    assert "--output-tokens has no effect" in _error("route", path, "a question", "--prices", free_output,
                                                     "--budget", 1, "--output-tokens", 10)
    tokens = tmp_path / "tokens.json"  # one output-token price reads them
    tokens.write_text(json.dumps({**{m: 0.001 for m in models}, models[1]: {"input_per_1k": 1, "output_per_1k": 1}}))
    result = runner.invoke(app, ["route", str(path), "a question", "--prices", str(tokens), "--cost-weight", "1",
                                 "--output-tokens", "10"])
    assert result.exit_code == 0 and "mean cost" in result.output, result.output
    assert api.cost_route_texts(path, ["a question"], prices=prices, cost_weight=1).models == models  # not given
    with pytest.raises(ConfigError, match="--output-tokens has no effect without prices"):  # none to read them
        api.calibrate_texts(path, ["a question"], "p_min", "p=0.5", output_tokens=256)


def test_route_refuses_a_cost_that_overflows_naming_the_model(ckpt, tmp_path):
    path, root, models = ckpt
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({**{m: 0.001 for m in models}, models[1]: {"input_per_1k": 1, "output_per_1k": 1}}))
    printed = _error("route", path, "a question", "--prices", tokens, "--cost-weight", 1, "--output-tokens", "1e308")
    assert f"tokens.json, field '{models[1]}': model '{models[1]}' would cost 1e+305" in printed
    assert "mean cost" not in printed and "RuntimeWarning" not in printed
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({m: 1e308 for m in models}))
    assert "above the largest price irtnet computes with (1e+15)" in _error(
        "route", path, "a question", "--prices", huge, "--cost-weight", 1)
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({**{m: 0.001 for m in models}, models[0]: {"per_query": 0.001, "output_per1k": 5}}))
    assert "has unknown key(s) 'output_per1k' (did you mean 'output_per_1k'?)" in _error(
        "route", path, "a question", "--prices", typo, "--cost-weight", 1)


@pytest.mark.parametrize("name, content, message", [
    ("tp.jsonl", '{"text": "solve x", "prompt": "history of rome"}\n',
     "tp.jsonl, line 1, field 'prompt': two text fields ('text' and 'prompt'); give the text in one of them"),
    ("dup.csv", "text,text\nsolve x,history\n", "dup.csv, field 'text': the column name 'text' is used twice"),
])
def test_a_texts_file_with_two_text_fields_is_refused(ckpt, tmp_path, name, content, message):
    path, root, _ = ckpt
    (tmp_path / name).write_text(content)
    assert message in _error("predict-benchmark", path, tmp_path / name)
    assert message in _error("calibrate", path, "--texts", tmp_path / name, "--target", "p=0.5", "--prices",
                             root / "prices.json")


def test_output_paths_are_checked_before_the_work(ckpt, tmp_path):
    path, root, _ = ckpt
    printed = _error("predict-benchmark", path, root / "q.txt", "--json", tmp_path)
    assert f"{tmp_path}: is a folder: give the path of a file to write" in printed and "Predicted" not in printed
    printed = _error("calibrate", path, "--texts", root / "q.txt", "--target", "p=0.5", "--prices",
                     root / "prices.json", "--json", tmp_path)
    assert f"{tmp_path}: is a folder" in printed and "policy" not in printed
    (tmp_path / "file").write_text("")
    printed = _error("predict-benchmark", path, root / "q.txt", "--json", tmp_path / "file" / "r.json")
    assert "cannot write here: a folder on its path is a file" in printed and "Predicted" not in printed

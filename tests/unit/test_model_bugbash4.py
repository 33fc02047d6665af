"""Bug bash of the model commands (route, calibrate, evaluate) and their Python API: texts that are not UTF-8 or
hold Rich markup, cost routing of no texts, policy and target types, a cost overflow naming its price file,
--benchmark against the texts file's own names, prices from a run's table that changed since training, and the
LiteLLM strategy's benchmark. Each wrong input is one line `error: ...` (exit code 2) or a ConfigError/DataError
naming what is wrong, never a traceback, a silent override or a NaN."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet import api
from irtnet.cli.main import app
from irtnet.config import DataConfig
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import save_predictor
from irtnet.predictors.spec import ModelSpec
from irtnet.tasks.policies import Policy
from cli_checks import one_line_error as _error

runner = CliRunner()


def _table():
    return make_synthetic(n_models=3, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """(a small checkpoint that reads benchmark names, its folder, its models, its benchmarks); prices.json prices
    the models per query, tokens.json per token, q.txt holds 20 texts."""
    root = tmp_path_factory.mktemp("bugbash4")
    table = _table()
    config = PRESETS["small"].model_copy(update={"use_groups": True})
    model = IrtNet(config, {"epochs": 1, "progress": False, "seed": 0}).fit(
        Dataset.from_table(table, embed_queries(table, "hashing-64", use_cache=False)))
    models = model.models_.to_list()
    (root / "prices.json").write_text(json.dumps({m: 0.001 * 3 ** i for i, m in enumerate(models)}))
    (root / "tokens.json").write_text(json.dumps({m: {"input_price": 1, "output_price": 2} for m in models}))
    (root / "q.txt").write_text("\n".join(table.queries["text"].head(20)) + "\n")
    return save_predictor(model, root / "m"), root, models, model.groups_.to_list()


def test_a_text_that_is_not_utf8_is_refused_in_one_line(ckpt):
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates: they were a UnicodeEncodeError traceback."""
    path, root, _, _ = ckpt
    assert ("query text 2 is not valid Unicode (character 2 is '\\udcff', a lone surrogate" in
            _error("route", path, "fine", "a\udcffb"))
    assert "query text 1 is not valid Unicode" in _error("route", path, "a\udcffb", "--cost-weight", 1,
                                                           "--prices", root / "prices.json")
    with pytest.raises(DataError, match="query text 1 is not valid Unicode"):
        api.rank_models(path, ["\ud800"])


def test_texts_and_paths_with_markup_brackets_print_as_given(ckpt, tmp_path):
    """A "[/INST]" in a prompt (or a price file in a folder named like a closing tag) was read as Rich markup: a
    MarkupError traceback, and "[bold]" silently vanished from the text shown."""
    path, root, models, _ = ckpt
    text = "[INST] what is [bold]2 + 2[/bold]? [/INST]"
    ranked = runner.invoke(app, ["route", str(path), text, "--top", "1"])
    assert ranked.exit_code == 0 and "[/INST]" in ranked.output and "[bold]" in ranked.output, ranked.output
    folder = tmp_path / "prices[" / "x]"  # its path holds "[/x]": a closing tag to Rich
    folder.mkdir(parents=True)
    (folder / "p.json").write_text((root / "prices.json").read_text())
    cost = runner.invoke(app, ["route", str(path), text, "--cost-weight", "1", "--prices", str(folder / "p.json")])
    printed = "".join(cost.output.split())  # without spaces: the console wraps a long path anywhere
    assert cost.exit_code == 0 and "[INST]" in printed and f"prices:{folder / 'p.json'})" in printed, cost.output
    calibrated = runner.invoke(app, ["calibrate", str(path), "--texts", str(root / "q.txt"), "--target", "p=0.1",
                                     "--prices", str(folder / "p.json")])
    assert calibrated.exit_code == 0 and "prices[/x]" in "".join(calibrated.output.split()), calibrated.output


def test_cost_routing_of_no_texts_is_refused_never_a_nan(ckpt):
    path, root, _, _ = ckpt
    for rule in ({"budget": 1.0}, {"cost_weight": 1.0}):
        with pytest.raises(ConfigError, match="no query texts: give at least one"):
            api.cost_route_texts(path, [], prices=root / "prices.json", **rule)


def test_route_texts_reads_a_policy_text_and_refuses_other_types(ckpt):
    path, root, models, _ = ckpt
    model = api.load(path)
    [by_text] = api.route_texts(model, ["a question"], "max_p")
    [by_policy] = api.route_texts(model, ["a question"], Policy("max_p"))
    assert by_text.model == by_policy.model and by_text.policy == "max_p"
    with pytest.raises(ConfigError, match="policy: expected a Policy or its text"):
        api.route_texts(model, ["a question"], 5)
    with pytest.raises(ConfigError, match=r"book: expected a PriceBook \(load_price_book"):
        api.route_texts(model, ["a question"], "max_p", str(root / "prices.json"))
    with pytest.raises(ConfigError, match="target: expected a Target or its text"):
        api.calibrate_texts(path, ["a question"], "p_min", 0.5, prices=root / "prices.json")


@pytest.mark.parametrize("value", [True, "0.5", None])
def test_a_policy_value_must_be_a_number(value):
    with pytest.raises(ConfigError, match="policy p_min needs (a number|a value)"):
        Policy("p_min", value)


def test_calibrate_names_the_price_file_of_a_cost_too_large(ckpt):
    """The cost check of `calibrate` (and the service's policies) named the model but not the price file."""
    path, root, models, _ = ckpt
    tokens = root / "tokens.json"
    assert f"error: {tokens}, field '{models[0]}': model '{models[0]}' would cost" in _error(
        "calibrate", path, "--texts", root / "q.txt", "--target", "p=0.5", "--prices", tokens,
        "--output-tokens", 1e300)


def test_calibrate_refuses_a_benchmark_that_contradicts_the_files_own(ckpt, tmp_path):
    """--benchmark silently replaced the benchmark names the texts file gives; now it names the texts the file
    leaves unnamed, and a different name is an error naming the file, line and field."""
    path, root, _, known = ckpt
    texts = tmp_path / "q.jsonl"
    texts.write_text(json.dumps({"text": "a question", "benchmark": known[0]}) + "\n"
                     + json.dumps({"text": "another question"}) + "\n")
    args = ["calibrate", path, "--texts", texts, "--target", "p=0.1", "--prices", root / "prices.json"]
    assert (f"error: {texts}, line 1, field 'benchmark': the file gives benchmark {known[0]!r} and the benchmark "
            f"argument (--benchmark) gives {known[1]!r}") in _error(*args, "--benchmark", known[1])
    same = runner.invoke(app, [str(a) for a in [*args, "--benchmark", known[0]]])
    assert same.exit_code == 0, same.output


def test_prices_from_a_run_table_that_changed_since_training_are_refused(tmp_path):
    """Without --prices, cost routing read the run's table path as it is now: a table replaced after training (its
    fingerprint in run.json no longer matching) priced the models silently."""
    table = _table()
    models = table.models["model"].tolist()

    def priced(scale: float) -> ResponseTable:
        return ResponseTable(table.responses, table.queries,
                             table.models.assign(per_query=[scale * (i + 1) for i in range(len(models))]))

    path = tmp_path / "t.parquet"
    priced(0.001).to_parquet(path)
    spec = api.RunSpec(data=DataConfig(table=str(path), encoder="hashing-32", seed=0),
                       model=ModelSpec(preset="small", params={"train": {"epochs": 1, "progress": False}}), threads=1)
    run = api.train_run(spec, tmp_path / "run", progress=False)
    decisions = api.cost_route_texts(run.path, ["a question"], budget=1.0)
    assert decisions.source == f"model prices of {path.resolve()}"
    priced(5.0).to_parquet(path)
    assert "the table changed since this run was trained" in _error("route", run.path, "a question", "--budget", 1)
    with pytest.raises(DataError, match="the table changed since this run was trained"):
        api.cost_route_texts(run.path, ["a question"], budget=1.0)


def test_the_litellm_strategy_refuses_an_unknown_benchmark_when_made(ckpt):
    pytest.importorskip("litellm")
    from irtnet.integrations.litellm_strategy import IrtnetRoutingStrategy

    path, _, _, known = ckpt
    with pytest.raises(ConfigError, match=f"unknown benchmark 'nosuch'; the model knows: {', '.join(known)}"):
        IrtnetRoutingStrategy(path, benchmark="nosuch")
    with pytest.raises(ConfigError, match="policy: expected a Policy or its text"):
        IrtnetRoutingStrategy(path, None)
    assert IrtnetRoutingStrategy(path, "max_p", benchmark=known[0]).benchmark == known[0]


@pytest.mark.parametrize("kind, value, model, message", [
    ("bogus", 0.5, None, "unknown target kind 'bogus'"),
    ("share", 0.5, None, "a share target names its model"),
    ("p", 0.5, "m", "a share target names its model"),
    ("p", float("nan"), None, "a p target needs a finite number"),
    ("p", 5.0, None, r"a p target must be in \[0, 1\], got 5"),
    ("cost", -1.0, None, "a cost target must be non-negative"),
])
def test_a_target_made_in_python_is_checked_as_a_parsed_one(kind, value, model, message):
    """Only `Target.parse` checked a target: Target("bogus", 0.5) reached calibration as a KeyError, Target("p", 5)
    as a target never reached."""
    from irtnet.tasks.policies import Target

    with pytest.raises(ConfigError, match=message):
        Target(kind, value, model)


def test_cost_aware_route_says_which_path_answered_each_text(ckpt):
    """`irtnet route` says which path answered (README, Presets); with --cost-weight or --budget it did not."""
    path, root, _, known = ckpt
    result = runner.invoke(app, ["route", str(path), "a question", "another", "--benchmark", known[0],
                                 "--cost-weight", "1", "--prices", str(root / "prices.json")])
    assert result.exit_code == 0 and "answered from: benchmark 2" in result.output, result.output
    decisions = api.cost_route_texts(path, ["a question"], prices=root / "prices.json", budget=1.0)
    assert decisions.paths == api.answer_paths(path, ["a question"]) == ["text"]

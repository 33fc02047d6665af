"""`irtnet train / evaluate / route / demo` through typer's test runner, on small synthetic data."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    make_synthetic(n_models=6, n_queries=400, n_benchmarks=2, dim=2, feature_dim=8, seed=0).table.to_parquet(
        root / "t.parquet")
    result = runner.invoke(app, ["train", str(root / "t.parquet"), "-o", str(root / "run"), "--preset", "small",
                                 "--encoder", "hashing-64", "--epochs", "3", "--lr", "0.003", "--quiet",
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    return root / "run"


def test_train_writes_a_self_describing_run(run_dir):
    assert {"config.json", "split.json", "model", "history.json"} <= {p.name for p in run_dir.iterdir()}
    ckpt = json.loads((run_dir / "model" / "checkpoint.json").read_text())
    assert ckpt["kind"] == "irtnet" and ckpt["state"]["encoder"] == {"name": "hashing-64", "dim": 64}
    assert len(ckpt["state"]["models"]) == 6


def test_evaluate_prints_tables_and_writes_json(run_dir, tmp_path):
    result = runner.invoke(app, ["evaluate", str(run_dir), "--markdown", str(tmp_path / "e.md")])
    assert result.exit_code == 0, result.output
    assert "irtnet" in result.output and "model-benchmark-mean" in result.output
    printed = " ".join(result.output.split())  # titles may wrap
    for title in ("benchmark known", "text only: names hidden"):  # the tables of each setting, titled
        assert f"Correctness prediction ({title};" in printed and f"Routing accuracy ({title};" in printed
    assert printed.index("(benchmark known;") < printed.index("(text only: names hidden;")
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert [e["predictor"] for e in evaluation][0] == "irtnet"
    assert [e["info"]["setting"] for e in evaluation if e["predictor"] == "irtnet"] == ["benchmark known", "text only"]
    assert 0.5 < evaluation[0]["correctness"]["overall"]["auc"] <= 1
    md = (tmp_path / "e.md").read_text()
    assert "| irtnet" in md and "### Correctness (benchmark known)" in md
    assert "### Correctness (text only: names hidden)" in md


def test_route_answers_for_a_query_it_never_saw(run_dir):
    result = runner.invoke(app, ["route", str(run_dir), "algebra question: a brand new polynomial", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("family") >= 3


def test_errors_are_one_clear_line(tmp_path, run_dir):
    result = runner.invoke(app, ["train", str(tmp_path / "missing.parquet"), "-o", str(tmp_path / "r")])
    assert result.exit_code == 2 and "missing.parquet" in result.output
    result = runner.invoke(app, ["route", str(tmp_path), "text"])
    assert result.exit_code == 2 and "checkpoint" in result.output
    result = runner.invoke(app, ["train", str(run_dir.parent / "t.parquet"), "-o", str(tmp_path / "r"),
                                 "--preset", "nope", "--encoder", "hashing-8"])
    assert result.exit_code == 2 and "unknown IrtNet preset 'nope'" in result.output


def test_route_refuses_an_empty_text_and_a_negative_seed(run_dir, tmp_path):
    result = runner.invoke(app, ["route", str(run_dir), "a real question", "  "])
    assert result.exit_code == 2 and "field 'text': query text 2 is empty" in result.output
    result = runner.invoke(app, ["train", str(run_dir.parent / "t.parquet"), "-o", str(tmp_path / "r"),
                                 "--seed=-1"])
    assert result.exit_code == 2 and "--seed" in result.output and "Traceback" not in result.output


def test_demo_runs_end_to_end(tmp_path):
    result = runner.invoke(app, ["demo", "-o", str(tmp_path), "--models", "5", "--queries", "200", "--epochs", "2",
                                 "--encoder", "hashing-32", "--preset", "small"])
    assert result.exit_code == 0, result.output
    assert "routing" in result.output.lower() and "oracle" in result.output.lower()
    assert "train loss" in result.output and "val log loss" in result.output  # training says how far it is


def test_task_commands_keep_the_presets_benchmark_setting_unless_told():
    from irtnet.predictors.spec import model_spec_from, resolve_spec

    def groups_of(preset, flag):
        return resolve_spec(model_spec_from(preset=preset, groups=flag)).params["config"]["use_groups"]

    assert groups_of("default", None) is True and groups_of("small", None) is False
    assert groups_of("default", False) is False and groups_of("small", True) is True


@pytest.mark.parametrize("held", [["algebra"], ["algebra", "coding"]])
def test_train_holds_benchmarks_out_and_evaluates_them(tmp_path, held):
    make_synthetic(n_models=5, n_queries=300, n_benchmarks=3, dim=2, feature_dim=8, seed=1).table.to_parquet(
        tmp_path / "t.parquet")
    flags = sum((["--holdout-benchmark", b] for b in held), [])
    result = runner.invoke(app, ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "run"), "--preset",
                                 "small", "--encoder", "hashing-32", "--epochs", "2", "--quiet", "--threads", "1",
                                 *flags])
    assert result.exit_code == 0, result.output
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["split"] == "benchmark"
    assert config["data"]["holdout_benchmark"] == (held[0] if len(held) == 1 else held)
    assert split["kind"] == ("leave-one-benchmark-out" if len(held) == 1 else "leave-benchmarks-out")
    from irtnet.data.table import ResponseTable
    bench = ResponseTable.read_parquet(tmp_path / "t.parquet").queries.set_index("query")["benchmark"]
    assert set(bench.loc[split["test"]]) == set(held)
    assert not set(held) & set(bench.loc[split["train"] + split["val"]])
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output


def test_train_refuses_an_unknown_held_out_benchmark(tmp_path):
    make_synthetic(n_models=4, n_queries=100, n_benchmarks=2, dim=2, feature_dim=8, seed=1).table.to_parquet(
        tmp_path / "t.parquet")
    result = runner.invoke(app, ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "run"),
                                 "--encoder", "hashing-8", "--holdout-benchmark", "algebra", "--holdout-benchmark", "nope"])
    assert result.exit_code == 2 and "unknown benchmark 'nope'" in result.output and "biology" in result.output
    assert not (tmp_path / "run").exists()


def test_a_table_too_small_for_the_ngram_features_says_how_to_train_without_them(tmp_path):
    """The default preset's character n-gram features need 3 training texts; the message says what to do,
    and what it says works."""
    make_synthetic(n_models=4, n_queries=4, n_benchmarks=1, dim=2, feature_dim=4, seed=0).table.to_parquet(
        tmp_path / "t.parquet")
    flags = ["--encoder", "hashing-32", "--epochs", "1", "--split", "0.5,0.25,0.25", "--quiet", "--threads", "1"]
    result = runner.invoke(app, ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "run"), *flags])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "the training part holds only 2 query texts" in said, result.output
    assert "text_ngrams = 0 (under [model.params.config] in `irtnet train --config`" in said
    assert "config.text_ngrams needs" not in said and not (tmp_path / "run").exists()
    config = tmp_path / "c.toml"
    config.write_text('[model]\npreset = "default"\n[model.params.config]\ntext_ngrams = 0\n')
    result = runner.invoke(app, ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "run"), *flags,
                                 "--config", str(config)])
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------------------ cost-aware routing
def _models(run_dir):
    return json.loads((run_dir / "model" / "checkpoint.json").read_text())["state"]["models"]


def _price_file(path, models):
    path.write_text(json.dumps({m: 0.001 * 2 ** i for i, m in enumerate(models)}))
    return path


@pytest.mark.parametrize("flags, message", [
    (["--cost-weight", "inf"], "--cost-weight must be a finite non-negative number, got inf"),
    (["--cost-weight", "nan"], "--cost-weight must be a finite non-negative number, got nan"),
    (["--budget", "inf"], "--budget must be a finite non-negative number, got inf"),
    (["--cost-weight", "1", "--output-tokens", "inf"], "--output-tokens must be a finite non-negative number"),
])
def test_cost_routing_refuses_a_non_finite_weight_or_budget(run_dir, tmp_path, flags, message):
    from irtnet import api
    from irtnet.errors import ConfigError

    prices = _price_file(tmp_path / "p.json", _models(run_dir))
    result = runner.invoke(app, ["route", str(run_dir), "a question", "--prices", str(prices), *flags])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    values = dict(zip(flags[::2], map(float, flags[1::2])))
    with pytest.raises(ConfigError, match=message.split(",")[0]):
        api.cost_route_texts(run_dir, ["a question"], prices=prices, cost_weight=values.get("--cost-weight"),
                             budget=values.get("--budget"), output_tokens=values.get("--output-tokens", 256))


def test_bad_price_files_are_one_line_errors_naming_file_and_model(run_dir, tmp_path):
    models = _models(run_dir)
    (tmp_path / "neg.json").write_text(json.dumps({**{m: 0.001 for m in models}, models[0]: -5}))
    (tmp_path / "latin1.csv").write_bytes(("model,per_query\n" + "".join(f"{m},1\n" for m in models)
                                           + "modèle,1\n").encode("latin-1"))
    for name, message in [("neg.json", f"price of '{models[0]}' must be a finite number >= 0, got -5"),
                          ("latin1.csv", "not UTF-8 text: byte 0xe8 at offset")]:
        result = runner.invoke(app, ["route", str(run_dir), "a question", "--cost-weight", "1",
                                     "--prices", str(tmp_path / name)])
        printed = " ".join(result.output.split())
        assert result.exit_code == 2 and name in printed and message in printed, result.output
        assert "Traceback" not in result.output and "mean cost" not in result.output


def test_cost_routing_needs_a_price_for_every_candidate(run_dir, tmp_path):
    """A model without a price is an error naming it, never quietly left out; --candidates restricts the
    choice to priced models. The policies behind `irtnet serve` and `irtnet calibrate` follow the same rule."""
    from irtnet import api
    from irtnet.errors import ConfigError

    models = _models(run_dir)
    prices = _price_file(tmp_path / "partial.json", models[:3])
    result = runner.invoke(app, ["route", str(run_dir), "a question", "--cost-weight", "1", "--prices", str(prices)])
    printed = " ".join(result.output.split())
    assert result.exit_code == 2 and "partial.json has no price for 3 of the 6 model(s)" in printed, result.output
    assert all(repr(m) in printed for m in models[3:]) and "--candidates" in printed
    result = runner.invoke(app, ["route", str(run_dir), "a question", "--cost-weight", "1", "--prices", str(prices),
                                 "--candidates", ",".join(models[:2])])
    assert result.exit_code == 0 and "(2 models; prices:" in " ".join(result.output.split()), result.output
    with pytest.raises(ConfigError, match="has no price for 3 of the 6"):
        api.cost_route_texts(run_dir, ["a question"], prices=prices, budget=1.0)
    decisions = api.cost_route_texts(run_dir, ["a question"], prices=prices, budget=1.0, candidates=models[1:3])
    assert decisions.models == models[1:3]

    predictor, book = api.load(run_dir), api.load_price_book(run_dir, prices)
    with pytest.raises(ConfigError, match=r"no price for 3 of the 6 .*policy utility needs a price for every "
                                          r"candidate") as err:
        api.route_texts(predictor, ["a question"], api.Policy.parse("utility=1"), book)
    assert all(repr(m) in str(err.value) for m in models[3:])
    [decision] = api.route_texts(predictor, ["a question"], api.Policy.parse("utility=1"), book, models[:3])
    assert decision.model in models[:3]
    [decision] = api.route_texts(predictor, ["a question"], api.Policy.parse("max_p"), book)  # needs no price
    assert len(decision.ranking) == 6


def test_route_ranks_only_the_candidates_named(run_dir):
    models = _models(run_dir)
    result = runner.invoke(app, ["route", str(run_dir), "a question", "--candidates", ",".join(models[:2])])
    assert result.exit_code == 0 and all(m in result.output for m in models[:2]), result.output
    assert not any(m in result.output for m in models[2:])
    result = runner.invoke(app, ["route", str(run_dir), "a question", "--candidates", "nope"])
    assert result.exit_code == 2 and "unknown candidate model(s) 'nope'" in result.output
    twice = ",".join([models[0], models[1], models[0]])
    result = runner.invoke(app, ["route", str(run_dir), "a question", "--candidates", twice])
    assert result.exit_code == 2 and f"named more than once: {models[0]!r}" in " ".join(result.output.split())


# ------------------------------------------------------------------------------------------ errors as plain text
def test_error_text_with_square_brackets_is_printed_as_written(run_dir, tmp_path):
    """An error message is text, never Rich markup: a list or a path in brackets is shown as it is."""
    result = runner.invoke(app, ["train", str(run_dir.parent / "t.parquet"), "-o", str(tmp_path / "r"),
                                 "--split", "0.5,0.2,0.2"])
    assert result.exit_code == 2 and "summing to 1, got [0.5, 0.2, 0.2]" in " ".join(result.output.split())
    result = runner.invoke(app, ["compare", "--config", str(tmp_path / "[/x].toml")])
    assert result.exit_code == 2 and "[/x].toml: cannot read config file" in " ".join(result.output.split())


# ------------------------------------------------------------------------------------------ splits and training
@pytest.mark.parametrize("n_queries, n_benchmarks, flags, message", [
    (60, 2, ["--split", "0.9,0.1,0"], "the split 0.9/0.1/0.0 (--split or data.fractions) leaves no test queries "
                                      "(60 queries in the table): raise the test fraction or use a table with more "
                                      "queries"),
    (1, 1, [], "the split 0.8/0.1/0.1 (--split or data.fractions) leaves no validation queries (1 query in the "
               "table): raise the validation fraction (or make it 0) or use a table with more queries"),
    (5, 4, ["--split", "0.8,0,0.2"], "the split 0.8/0.0/0.2 (--split or data.fractions) leaves no test queries "
                                     "(5 queries in the table)"),
    (20, 2, ["--holdout-benchmark", "algebra", "--split", "0.02,0.98,0"],
     "the split 0.02/0.98/0.0 (--split or data.fractions) leaves no training queries (14 queries outside the "
     "held-out benchmarks)"),
])
def test_a_split_with_an_empty_part_names_the_part_and_the_option(tmp_path, n_queries, n_benchmarks, flags,
                                                                   message):
    make_synthetic(n_models=3, n_queries=n_queries, n_benchmarks=n_benchmarks, dim=1, feature_dim=4,
                   seed=0).table.to_parquet(tmp_path / "t.parquet")
    result = runner.invoke(app, ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "run"), "--preset",
                                 "small", "--encoder", "hashing-8", "--epochs", "1", "--quiet", *flags])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "run").exists()


def test_a_non_finite_learning_rate_is_refused(run_dir, tmp_path):
    result = runner.invoke(app, ["train", str(run_dir.parent / "t.parquet"), "-o", str(tmp_path / "r"),
                                 "--preset", "small", "--encoder", "hashing-8", "--lr", "inf"])
    assert result.exit_code == 2 and "lr: Input should be a finite number" in result.output, result.output


def test_training_that_diverges_stops_with_a_clear_error(run_dir, tmp_path):
    result = runner.invoke(app, ["train", str(run_dir.parent / "t.parquet"), "-o", str(tmp_path / "r"),
                                 "--preset", "small", "--encoder", "hashing-8", "--epochs", "2", "--lr", "1e10",
                                 "--quiet", "--threads", "1"])
    printed = " ".join(result.output.split())
    assert result.exit_code == 2 and "training diverged at epoch 1: the validation log loss is NaN; lower the " \
                                     "learning rate (--lr)" in printed, result.output
    assert not (tmp_path / "r").exists()

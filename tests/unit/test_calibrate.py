"""Routing policies as pure functions, their calibration on a sample of queries (answers known by
construction), router model names, and `irtnet calibrate` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet import api
from irtnet.cli.main import app as cli
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import save_predictor
from irtnet.tasks.policies import (Policy, Target, best_under_cap, calibrate, cheapest_likely, choose,
                                   parameter_grid)

PROB = np.array([[0.9, 0.8, 0.3],
                 [0.6, 0.5, 0.4],
                 [0.2, 0.3, 0.1]])
COST = np.array([10.0, 2.0, 1.0])
MODELS = ["big", "mid", "small"]


# ------------------------------------------------------------------------------------------- policies
def test_p_min_takes_the_cheapest_sure_enough_model_else_the_likeliest():
    choice, fallback = cheapest_likely(PROB, np.broadcast_to(COST, PROB.shape), 0.55)
    assert choice.tolist() == [1, 0, 1] and fallback.tolist() == [False, False, True]


def test_p_min_breaks_cost_ties_by_p():
    choice, _ = cheapest_likely(np.array([[0.7, 0.9, 0.8]]), np.array([[1.0, 1.0, 2.0]]), 0.5)
    assert choice.tolist() == [1]


def test_cost_cap_takes_the_likeliest_affordable_model_else_the_cheapest():
    choice, fallback = best_under_cap(PROB, np.broadcast_to(COST, PROB.shape), 2.0)
    assert choice.tolist() == [1, 1, 1] and not fallback.any()
    choice, fallback = best_under_cap(PROB, np.broadcast_to(COST, PROB.shape), 0.5)
    assert choice.tolist() == [2, 2, 2] and fallback.all()


def test_choose_dispatches_each_policy():
    assert choose(Policy("max_p"), PROB, None)[0].tolist() == [0, 0, 1]
    assert choose(Policy("utility", 0.0), PROB, COST)[0].tolist() == [0, 0, 1]
    assert choose(Policy("utility", 0.05), PROB, COST)[0].tolist() == [1, 1, 1]  # 0.9-0.5 < 0.8-0.1
    assert choose(Policy("utility", 100.0), PROB, COST)[0].tolist() == [2, 2, 2]
    with pytest.raises(ConfigError, match="policy p_min needs model prices"):
        choose(Policy("p_min", 0.5), PROB, None)


@pytest.mark.parametrize("text, match", [("p_min", "policy p_min needs a value, e.g. p_min=0.8"),
                                         ("max_p=1", "max_p takes no value"),
                                         ("p_min=1.5", r"p_min must be in \[0, 1\]"),
                                         ("utility=-1", "utility must be non-negative"),
                                         ("cost_cap=nan", "cost_cap 'nan' is not a finite number"),
                                         ("p_min=high", "p_min 'high' is not a plain decimal number"),
                                         ("p_min=0_5", "p_min '0_5' is not a plain decimal number"),
                                         ("utility=0x1", "utility '0x1' is not a plain decimal number"),
                                         ("p_min=\u0660.\u0668", "is not a plain decimal number"),
                                         ("cheapest", "unknown policy 'cheapest'")])
def test_bad_policies_say_why(text, match):
    with pytest.raises(ConfigError, match=match):
        Policy.parse(text)


def test_router_model_names_round_trip():
    default = Policy("max_p")
    for policy in (Policy("p_min", 0.8), Policy("utility", 0.5), Policy("cost_cap", 0.01), default):
        assert api.parse_router_model(api.router_model(policy), default) == policy
    assert api.parse_router_model("irtnet", Policy("p_min", 0.7)) == Policy("p_min", 0.7)
    assert api.parse_router_model("router-irtnet-0.8", default) == Policy("p_min", 0.8)
    assert api.parse_router_model("gpt-4o", default) is None
    assert api.parse_router_model("router-irtnet-.8e0", default) == Policy("p_min", 0.8)
    with pytest.raises(ConfigError, match="p_min 'x' is not a plain decimal number"):
        api.parse_router_model("router-irtnet-x", default)
    with pytest.raises(ConfigError, match=r"p_min must be in \[0, 1\], got 2"):
        api.parse_router_model("router-irtnet-2", default)


# ------------------------------------------------------------------------------------------- calibration
@pytest.fixture(scope="module")
def sample():
    """Two models: "strong" always likelier and dearer; its P minus the weak one's is spread evenly."""
    rng = np.random.default_rng(0)
    weak = rng.uniform(0.2, 0.7, 200)
    prob = np.stack([np.minimum(weak + rng.uniform(0.01, 0.3, 200), 0.99), weak], axis=1)
    return prob, np.array([1.0, 0.1]), ["strong", "weak"]


@pytest.mark.parametrize("kind", ["p_min", "utility", "cost_cap"])
def test_calibration_hits_a_share(sample, kind):
    prob, cost, models = sample
    cal = calibrate(kind, Target("share", 0.3, "strong"), prob, cost, models)
    if kind == "cost_cap":  # with constant prices the cap sends all or nothing to the dear model
        assert not cal.reached and cal.outcome.shares["strong"] in (0.0, 1.0)
        return
    assert cal.reached and abs(cal.outcome.shares["strong"] - 0.3) <= 1 / 200
    again = choose(cal.policy, prob, cost)[0]  # the printed (rounded) value reproduces it
    assert np.mean(again == 0) == cal.outcome.shares["strong"]


@pytest.mark.parametrize("kind", ["p_min", "utility"])
def test_calibration_hits_a_cost_or_p_at_the_best_trade(sample, kind):
    prob, cost, models = sample
    by_cost = calibrate(kind, Target("cost", 0.5), prob, cost, models)
    assert by_cost.reached and by_cost.outcome.mean_cost <= 0.5
    assert by_cost.outcome.mean_cost > 0.5 - 0.9 / 200 * 3  # no setting far below the budget was taken
    goal = (prob[:, 1].mean() + prob[:, 0].mean()) / 2
    by_p = calibrate(kind, Target("p", goal), prob, cost, models)
    assert by_p.reached and by_p.outcome.mean_p >= goal and by_p.outcome.mean_p < goal + 0.01
    assert by_p.outcome.mean_cost < cost[0]


def test_an_unreachable_target_gives_the_nearest_setting(sample):
    prob, cost, models = sample
    cal = calibrate("p_min", Target("p", 0.999), prob, cost, models)
    assert not cal.reached and cal.outcome.shares["strong"] == 1.0
    cal = calibrate("p_min", Target("cost", 0.01), prob, cost, models)
    assert not cal.reached and cal.outcome.shares["weak"] == 1.0


def test_grids_hold_one_value_per_regime():
    grid = parameter_grid("p_min", PROB, np.broadcast_to(COST, PROB.shape))
    assert grid[0] == 0 and grid[-1] == 1 and len(grid) == len(np.unique(PROB)) + 1
    with pytest.raises(ConfigError, match="max_p has no parameter"):
        parameter_grid("max_p", PROB, COST)


@pytest.mark.parametrize("text, match", [("share=0.3", "use share:MODEL=0.3"), ("p=2", r"must be in \[0, 1\]"),
                                         ("cost=-1", "non-negative"), ("speed=3", "use share:MODEL"),
                                         ("p=0_5", "'0_5' is not a plain decimal number"),
                                         ("cost=nan", "'nan' is not a finite number")])
def test_bad_targets_say_why(text, match):
    with pytest.raises(ConfigError, match=match):
        Target.parse(text)


def test_a_share_target_names_a_routed_model(sample):
    with pytest.raises(ConfigError, match="share target names 'nope'"):
        calibrate("p_min", Target.parse("share:nope=0.2"), *sample)


# ------------------------------------------------------------------------------------------- api and CLI
def _data() -> Dataset:
    table = make_synthetic(n_models=3, n_queries=150, n_benchmarks=2, dim=2, feature_dim=6, seed=2).table
    return Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cal")
    data = _data()
    table = data.table
    model = IrtNet("small", {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    models = model.models_.to_list()
    (root / "prices.json").write_text(json.dumps({m: 0.001 * 3 ** i for i, m in enumerate(models)}))
    (root / "q.txt").write_text("\n".join(table.queries["text"].head(60)) + "\n")
    return save_predictor(model, root / "m"), root, models


def test_calibrate_texts_on_a_checkpoint(files):
    ckpt, root, models = files
    texts = (root / "q.txt").read_text().splitlines()
    report = api.calibrate_texts(ckpt, texts, "p_min", f"share:{models[0]}=0.5", root / "prices.json")  # the cheapest
    assert report.calibration.reached and abs(report.calibration.outcome.shares[models[0]] - 0.5) <= 1 / 60
    assert report.model == f"irtnet:{report.calibration.policy.spec}" and report.n_texts == 60
    with pytest.raises(ConfigError, match="needs model prices"):
        api.calibrate_texts(ckpt, texts, "utility", "cost=0.002")
    with pytest.raises(ConfigError, match="calibrate needs a policy with a parameter"):
        api.calibrate_texts(ckpt, texts, "max_p", "cost=0.002", root / "prices.json")


def test_irtnet_calibrate_prints_the_model_to_use(files, tmp_path):
    ckpt, root, models = files
    args = ["calibrate", str(ckpt), "--texts", str(root / "q.txt"), "--target", "cost=0.004", "--policy", "utility",
            "--prices", str(root / "prices.json"), "--json", str(tmp_path / "c.json")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["reached"] and saved["achieved"]["mean_cost"] <= 0.004 and saved["model"].startswith("irtnet:utility=")
    assert f'model="{saved["model"]}"' in result.output and "mean cost" in result.output
    bad = CliRunner().invoke(cli, ["calibrate", str(ckpt), "--texts", str(root / "q.txt"), "--target",
                                   "share:nope=0.3", "--prices", str(root / "prices.json")])
    assert bad.exit_code == 2 and "share target names 'nope'" in bad.output


def test_irtnet_calibrate_exits_1_when_the_target_is_not_reached(files, tmp_path):
    """`irtnet calibrate ... --json p.json && deploy` must not deploy a policy that misses its target: everything is
    printed and written as before, then the exit code is 1."""
    ckpt, root, _ = files
    result = CliRunner().invoke(cli, ["calibrate", str(ckpt), "--texts", str(root / "q.txt"), "--target", "p=0.9999",
                                      "--prices", str(root / "prices.json"), "--json", str(tmp_path / "c.json")])
    assert result.exit_code == 1, result.output
    printed = " ".join(result.output.split())
    assert "target p=0.9999 NOT reached (the nearest setting is shown)" in printed and "use with" in printed
    assert "error" not in printed and "wrote " in printed
    assert json.loads((tmp_path / "c.json").read_text())["reached"] is False


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """(a checkpoint of the same models that reads benchmark names, the names it knows)."""
    config = PRESETS["small"].model_copy(update={"use_groups": True})
    model = IrtNet(config, {"epochs": 1, "progress": False, "seed": 0}).fit(_data())
    return save_predictor(model, tmp_path_factory.mktemp("named") / "m"), model.groups_.to_list()


def _calibrate_on(ckpt, prices, path, content):
    path.write_text(content)
    return CliRunner().invoke(cli, ["calibrate", str(ckpt), "--texts", str(path), "--target", "p=0.5", "--prices",
                                    str(prices)])


def test_calibrate_names_the_texts_file_row_and_field_of_an_unknown_benchmark(files, named, tmp_path):
    (ckpt, known), path = named, tmp_path / "q.jsonl"
    rows = [{"text": "an algebra question", "benchmark": known[0]}, {"text": "a new question", "benchmark": "nosuch"}]
    bad = _calibrate_on(ckpt, files[1] / "prices.json", path, "".join(json.dumps(r) + "\n" for r in rows))
    assert bad.exit_code == 2 and (f"error: {path}, line 2, field 'benchmark': unknown benchmark 'nosuch'; the model "
                                   f"knows: {', '.join(known)}") in bad.output, bad.output


def test_calibrate_refuses_an_empty_benchmark_name_but_reads_an_empty_csv_cell_as_none(files, named, tmp_path):
    (ckpt, known), prices = named, files[1] / "prices.json"
    rows = [{"text": "an algebra question", "benchmark": known[0]}, {"text": "a new question", "benchmark": ""}]
    empty = _calibrate_on(ckpt, prices, tmp_path / "q.json", json.dumps(rows))
    assert empty.exit_code == 2 and (f"error: {tmp_path / 'q.json'}, row 2, field 'benchmark': '' is not a benchmark "
                                     "name: give one the model knows, or leave the field out (or null) for a text of "
                                     "a new benchmark") in empty.output, empty.output
    csv = f"text,benchmark\nan algebra question,{known[0]}\na new question,\n"
    blank_cell = _calibrate_on(ckpt, prices, tmp_path / "q.csv", csv)
    assert blank_cell.exit_code == 0, blank_cell.output  # an empty CSV cell is the CSV's null: not given

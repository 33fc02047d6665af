"""Bug bash 6: routing under a cost budget, calibration, cost evaluation and the report, on bad or edge input.

A budget in a tiny currency unit was exceeded; a single text with a budget got a worse model than one it could
afford; a huge cost weight overflowed to the dearest model; all-free prices and a free best model crashed the cost
evaluation and the report; a damaged cost-routing or evaluation file crashed the report with a KeyError; a cost
target in a tiny unit was called reached far above it; evaluate-cost's --baselines dropped empty names and merged
repeated ones; the report left the table's models unknown to the checkpoint out without a word."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.errors import DataError
from irtnet.tasks.cost import evaluate_cost, route_budget
from irtnet.tasks.policies import Target, calibrate
from irtnet.tasks.routing import RoutingResult, route

runner = CliRunner()


# ------------------------------------------------------------------------------------------- budget routing
def test_a_budget_in_a_tiny_unit_is_never_exceeded():
    """Costs of 1e-15 per query: the bisection's lambda cap and an absolute 1e-12 slack let the dearer model in."""
    prob, cost = np.array([[0.9, 0.5]]), np.array([[2e-15, 1e-15]])
    choice = route_budget(prob, cost, 1.5e-15)
    assert choice.tolist() == [1]
    # the same problem in any unit: the same choices
    for scale in (1e-15, 1e-6, 1.0, 1e6):
        rng = np.random.default_rng(0)
        p, c = rng.random((30, 4)), rng.random((30, 4))
        budget = float(c.min(axis=1).mean() + 0.3 * (c.max(axis=1).mean() - c.min(axis=1).mean()))
        got = route_budget(p, c * scale, budget * scale)
        assert c[np.arange(30), got].mean() <= budget * (1 + 1e-12)
        np.testing.assert_array_equal(got, route_budget(p, c, budget))


def test_a_single_text_gets_the_likeliest_model_it_can_afford():
    """The middle model lies off the lower convex hull of (cost, P): the lambda rule never picks it, and the old
    greedy fill only moved to the next hull model, so budget 1 got P 0.5 although P 0.6 cost 1."""
    prob, cost = np.array([[0.5, 0.6, 0.9]]), np.array([0.0, 1.0, 2.0])
    assert route_budget(prob, cost, 1.0).tolist() == [1]
    assert route_budget(prob, cost, 1.99).tolist() == [1]
    assert route_budget(prob, cost, 2.0).tolist() == [2]


def test_budget_routing_fits_and_is_best_for_one_text_on_random_problems():
    rng = np.random.default_rng(3)
    for _ in range(300):
        q, m = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        prob, cost = rng.random((q, m)), rng.random((q, m)) * 10.0 ** rng.integers(-15, 3)
        lo, hi = cost.min(axis=1).mean(), cost.max(axis=1).mean()
        budget = float(lo + rng.random() * (hi - lo))
        rows = np.arange(q)
        choice = route_budget(prob, cost, budget)
        assert cost[rows, choice].mean() <= budget * (1 + 1e-12)
        if q == 1:
            assert prob[0, choice[0]] == prob[0, cost[0] <= budget].max()
        else:  # never worse than picking every query's cheapest model, nor than any single fitting assignment by much
            best = max(prob[rows, list(c)].sum() for c in itertools.product(range(m), repeat=q)
                       if cost[rows, list(c)].mean() <= budget)
            assert prob[rows, choice].sum() >= best - 1.0  # at most one query's P short (LP rounding)


def test_a_huge_cost_weight_picks_the_cheapest_model_not_the_first():
    """lam x cost overflowed to -inf for every model, and argmax took the first (the dearest here)."""
    prob, cost = np.array([[0.5, 0.9, 0.4]]), np.array([2000.0, 3000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert route(prob, cost, 1e306).tolist() == [2]
        assert route(prob, cost, 1e-4).tolist() == [1]  # an ordinary weight: unchanged


# ------------------------------------------------------------------------------------------- calibration
def test_a_cost_target_in_a_tiny_unit_is_not_reached_far_above_it():
    """An absolute 1e-12 slack called a mean cost of 2e-13 'reached' for a target of 5e-14."""
    prob = np.array([[0.9, 0.5], [0.8, 0.4]])
    for scale in (1.0, 1e-13):
        cost = np.array([2.0, 1.0]) * scale
        for kind in ("p_min", "cost_cap", "utility"):
            cal = calibrate(kind, Target("cost", 0.5 * scale), prob, cost, ["a", "b"])
            assert not cal.reached and cal.outcome.mean_cost == pytest.approx(scale), (kind, scale)
            cal = calibrate(kind, Target("cost", 1.5 * scale), prob, cost, ["a", "b"])
            assert cal.reached and cal.outcome.mean_cost <= 1.5 * scale, (kind, scale)


# ------------------------------------------------------------------------------------------- cost evaluation
def _cost_doc(cost: np.ndarray) -> dict:
    rng = np.random.default_rng(1)
    prob = rng.random((40, 3))
    labels = (rng.random((40, 3)) < prob).astype(float)
    doc = evaluate_cost({"r": prob}, labels, cost, ["a", "b", "c"], np.array([0.9, 0.5, 0.4]), n_lambdas=8).to_dict()
    doc["settings"] = {"cost_source": "test"}
    return doc


def test_every_model_free_is_a_result_not_a_crash():
    """np.geomspace(1e-12, 0) raised ValueError: 'Geometric sequence cannot include zero'."""
    doc = _cost_doc(np.zeros(3))
    budget = [c for c in doc["curves"] if c["kind"] == "budget"][0]
    assert [p["lam"] for p in budget["points"]] == [0.0] and budget["points"][0]["cost"] == 0.0
    assert doc["cost_range"] == [0.0, 0.0]


def test_a_free_best_model_renders_its_cost_share_as_undefined():
    """The report divided each matching cost by the best single model's cost: ZeroDivisionError where it is free."""
    from irtnet.reporting import html as H

    doc = _cost_doc(np.array([0.0, 1.0, 2.0]))  # 'a', the best on training, is free
    assert doc["best_single"] == "a"
    rep = H.Report("t")
    H.cost_section(rep, doc)
    table = rep.sections[0].tables[0]
    assert all(np.isnan(row[4]) for row in table.rows) and table.rows[-1][3] == 0.0
    assert "<td class=\"num\">-</td>" in H.render(rep)


@pytest.mark.parametrize("damage, field, message", [
    (lambda d: d["curves"][0].update(points=[]), "curves", "entry 1: its points are an empty list"),
    (lambda d: d["curves"][0]["points"][0].pop("accuracy"), "curves", "entry 1, point 1: not an object with a number"),
    (lambda d: d["curves"][0].update(points="x"), "curves", "its points are a JSON string"),
    (lambda d: d["curves"][1].update(match_cost="x"), "curves", "entry 2: its match_cost is a JSON string"),
    (lambda d: d["curves"][0].update(kind=5), "curves", "entry 1: its kind is a JSON number, not a string"),
    (lambda d: d.update(curves=[]), "curves", "is empty"),
    (lambda d: d["single_models"]["a"].update(cost="x"), "single_models", "entry 'a': cost is a JSON string"),
    (lambda d: d["oracle"].update(accuracy=[1]), "oracle", "its accuracy is a JSON list"),
    (lambda d: d.update(cost_range=[]), "cost_range", "is not a list of two numbers"),
], ids=["no-points", "point-without-accuracy", "points-text", "match-cost-text", "kind-number", "no-curves",
        "single-cost-text", "oracle-list", "cost-range-empty"])
def test_a_damaged_cost_routing_file_is_named_not_a_crash(tmp_path, damage, field, message):
    """Each crashed the report (ValueError: max() arg is an empty sequence, KeyError, TypeError, IndexError)."""
    from irtnet.reporting.report import _task_doc

    doc = _cost_doc(np.array([1.0, 2.0, 3.0]))
    (tmp_path / "ok.json").write_text(json.dumps(doc))
    assert _task_doc(tmp_path / "ok.json")["task"] == "cost-routing"
    damage(doc)
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message) as err:
        _task_doc(tmp_path / "c.json")
    assert err.value.file == str(tmp_path / "c.json") and err.value.field == field


def _evaluation_result() -> dict:
    refs = {k: {"micro": 0.5, "macro": 0.5} for k in ("random", "best_single", "benchmark_best", "oracle")}
    routing = RoutingResult("complete", 10, 0, 0.6, 0.55, refs, {"b": 0.6}, 0.1, {"m": 1.0}).to_dict()
    return {"predictor": "irtnet", "correctness": {"overall": {"n": 20, "accuracy": 0.7, "auc": 0.8, "log_loss": 0.5,
                                                               "brier": 0.2, "ece": 0.05}},
            "routing": routing, "info": {"setting": "benchmark known", "n_models": 2}}


@pytest.mark.parametrize("damage, field, message", [
    (lambda r: r.pop("routing"), "routing", "missing"),
    (lambda r: r.pop("predictor"), "predictor", "missing"),
    (lambda r: r.update(routing="x"), "routing", "is a JSON string, not a JSON object"),
    (lambda r: r["routing"].pop("micro"), "routing", "has no 'micro'"),
    (lambda r: r["routing"].update(foo=1), "routing", "has unknown key\\(s\\) 'foo'"),
    (lambda r: r["routing"].update(micro="0.6"), "routing", "micro, macro and gap_closed must be numbers"),
    (lambda r: r["routing"].update(references={"random": 1}), "routing", "its references must be an object"),
    (lambda r: r.update(correctness={"overall": {}}), "correctness", "has no 'overall' object"),
    (lambda r: r.update(info=[1]), "info", "is a JSON list, not a JSON object"),
    (lambda r: r["info"].update(setting=[1]), "info", "its setting is a JSON list"),
    (lambda r: r["info"].update(routed_differently={"x": {"share": 0.1}}), "info", "its routed_differently"),
], ids=["no-routing", "no-predictor", "routing-text", "no-micro", "unknown-key", "micro-text", "references",
        "correctness", "info-list", "setting-list", "routed-differently"])
def test_a_damaged_evaluation_result_is_named_with_its_row(tmp_path, damage, field, message):
    """A result without `routing` (or with a damaged one) crashed the report with a KeyError or TypeError."""
    from irtnet.reporting import html as H
    from irtnet.reporting.report import _evaluation

    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps([_evaluation_result(), _evaluation_result()]))
    rep = H.Report("t")
    H.evaluation_section(rep, _evaluation(path))  # the undamaged file renders
    results = [_evaluation_result(), _evaluation_result()]
    damage(results[1])
    path.write_text(json.dumps(results))
    with pytest.raises(DataError, match=message) as err:
        _evaluation(path)
    assert (err.value.file, err.value.row, err.value.field) == (str(path), 2, field)


def test_evaluate_cost_refuses_an_empty_or_repeated_baseline_name(tmp_path):
    """'m,,' ran m alone (the empty name dropped); 'm,m' drew one curve for both."""
    for given, message in (("model-benchmark-mean,,", "an empty item"),
                           ("model-benchmark-mean,model-benchmark-mean", "names 'model-benchmark-mean' more than "
                                                                         "once: name each baseline once")):
        result = runner.invoke(app, ["evaluate-cost", str(tmp_path / "run"), "--baselines", given,
                                     "-o", str(tmp_path / "c.json")])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output and not (tmp_path / "c.json").exists()


# ------------------------------------------------------------------------------------------- with a checkpoint
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """(a checkpoint of 2 of a table's 3 models, that table's parquet file, all 3 models)."""
    from irtnet.data.dataset import Dataset
    from irtnet.data.embeddings import embed_queries
    from irtnet.data.synthetic import make_synthetic
    from irtnet.predictors import IrtNet
    from irtnet.predictors.checkpoint import save_predictor

    root = tmp_path_factory.mktemp("bugbash6")
    table = make_synthetic(n_models=3, n_queries=90, n_benchmarks=2, dim=2, feature_dim=6, seed=4).table
    table.to_parquet(root / "t.parquet")
    models = list(table.model_vocab.ids)
    part = table.select(models=models[:2])
    model = IrtNet("small", {"epochs": 1, "progress": False, "seed": 0}).fit(
        Dataset.from_table(part, embed_queries(part, "hashing-64", use_cache=False)))
    return save_predictor(model, root / "m"), root / "t.parquet", models


def test_cost_routing_with_a_huge_weight_chooses_the_cheapest_model(ckpt, tmp_path):
    from irtnet import api

    path, _, models = ckpt
    (tmp_path / "p.json").write_text(json.dumps({models[0]: 2000.0, models[1]: 1000.0}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = api.cost_route_texts(path, ["what is 2 plus 2", "name a cell organelle"], prices=tmp_path / "p.json",
                                   cost_weight=1e306)
    assert [got.models[c] for c in got.chosen] == [models[1], models[1]]


def test_the_report_says_which_table_models_the_checkpoint_does_not_know(ckpt, tmp_path):
    """The interpretation kept the models both know and left the table's third model out without a word."""
    from irtnet.reporting.report import build_report

    path, table, models = ckpt
    rep = build_report(path, table)
    note = rep.meta["models left out of the interpretation"]
    assert note == f"1 of the table's 3 models are not in the checkpoint: {models[2]}"


def test_a_price_path_that_is_a_folder_is_called_one(tmp_path):
    """A folder given as --prices was reported as 'no such price file', though it exists."""
    from irtnet.tasks.prices import load_prices

    with pytest.raises(DataError, match="is a folder, not a price file") as err:
        load_prices(tmp_path)
    assert err.value.file == str(tmp_path)
    with pytest.raises(DataError, match="no such price file"):
        load_prices(tmp_path / "missing.json")


def test_the_console_lines_of_a_free_best_model_say_it_is_free():
    """`evaluate-cost` printed its lines after writing the JSON, and crashed dividing by the free model's cost."""
    from irtnet.reporting.console import cost_lines

    doc = _cost_doc(np.array([0.0, 1.0, 2.0]))  # 'a', the best on training, is free
    lines = cost_lines(doc)
    assert all(line.endswith("matches it at cost 0 (it is free)") for line in lines[1:]) and len(lines) == 3


def test_the_console_lines_of_a_curve_that_never_matches_the_best_model():
    """The free-model fix divided a missing match cost (None) by the best model's cost: every such curve crashed."""
    from irtnet.reporting.console import cost_lines

    doc = _cost_doc(np.array([1.0, 2.0, 3.0]))
    for curve in doc["curves"]:
        curve["match_cost"] = None
    assert all(line.endswith("never matches it") for line in cost_lines(doc)[1:])

"""Bug bash 7: calibrate, report, onboarding and benchmark evaluation with bad or edge-case input. Each test failed
before its fix (a traceback, a silently dropped or wrong result, or an error that named nothing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet import api
from irtnet.cli.main import app as cli
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError
from irtnet.reporting.html import Report, render
from irtnet.reporting.report import _SECTIONS, _task_doc
from irtnet.tasks.benchmark import evaluate_benchmarks
from irtnet.tasks.onboard import onboarding_experiment, population_prior
from irtnet.tasks.policies import Policy, Target, calibrate, choose

_COLUMNS = ["model", "query", "benchmark", "text", "label", "score", "n_correct", "n_trials"]


def _never():
    pytest.fail("a model was trained before the settings were checked")


def _records(table: ResponseTable):
    rec = table.responses.merge(table.queries, on="query")
    return rec.assign(model=rec["model"].astype(str), query=rec["query"].astype(str))


def _dataset(table: ResponseTable) -> Dataset:
    return Dataset.from_table(table, embed_queries(table, "hashing-64", use_cache=False))


@pytest.fixture(scope="module")
def synth_table():
    return make_synthetic(n_models=5, n_queries=120, n_benchmarks=3, dim=2, feature_dim=6, seed=0).table


# ------------------------------------------------------------------------------------------- calibrate
def test_the_calibrated_value_is_printed_with_the_digits_that_keep_its_choices():
    """Rounding the calibrated p_min to 6 digits (0.80000013 -> 0.8) crossed a probability, sent both queries to the
    cheap model and reported a reachable target as NOT reached (exit 1); the name printed must name that value."""
    prob = np.array([[0.99, 0.80000012], [0.99, 0.80000014]])
    cost = np.array([1.0, 0.0])
    goal = (0.99 + 0.80000014) / 2  # the dear model for query 1, the cheap one for query 2
    cal = calibrate("p_min", Target("p", goal), prob, cost, ["dear", "cheap"])
    assert cal.reached and cal.outcome.shares == {"dear": 0.5, "cheap": 0.5}
    assert cal.policy.value == 0.80000013 and cal.policy.spec == "p_min=0.80000013"
    assert api.parse_router_model(api.router_model(cal.policy), Policy("max_p")) == cal.policy
    again = choose(api.parse_router_model(api.router_model(cal.policy), Policy("max_p")), prob, cost)[0]
    assert again.tolist() == [0, 1]


def test_router_model_names_round_trip_beyond_six_digits_and_stay_short_otherwise():
    for policy in (Policy("p_min", 0.123456789), Policy("utility", 1234567.5), Policy("cost_cap", 1.0000001e-7)):
        assert api.parse_router_model(api.router_model(policy), Policy("max_p")) == policy, policy
    assert [Policy(k, v).spec for k, v in (("p_min", 0.8), ("utility", 1e-7), ("cost_cap", 0.00123))] == \
        ["p_min=0.8", "utility=1e-07", "cost_cap=0.00123"]
    assert api.router_model(Policy("p_min", 0.123456789)) == "irtnet:p_min=0.123456789"


@pytest.fixture(scope="module")
def named(tmp_path_factory, synth_table):
    """(a checkpoint that reads benchmark names, a texts file, a price file)."""
    from irtnet.models.irtnet import PRESETS
    from irtnet.predictors import IrtNet
    from irtnet.predictors.checkpoint import save_predictor

    root = tmp_path_factory.mktemp("bb7cal")
    config = PRESETS["small"].model_copy(update={"use_groups": True})
    model = IrtNet(config, {"epochs": 1, "progress": False, "seed": 0}).fit(_dataset(synth_table))
    (root / "q.txt").write_text("\n".join(synth_table.queries["text"].head(20)) + "\n")
    (root / "prices.json").write_text(json.dumps({m: 0.001 * (i + 1) for i, m in enumerate(model.models_.ids)}))
    return save_predictor(model, root / "m"), root / "q.txt", root / "prices.json"


@pytest.mark.parametrize("value, message", [
    ("", "error: benchmark (--benchmark): '' is not a benchmark name: give one the model knows, or leave it out"),
    ("nosuch", "error: benchmark (--benchmark) 'nosuch': unknown benchmark 'nosuch'; the model knows: "),
])
def test_calibrate_names_the_benchmark_option_it_refuses(named, value, message):
    """Before: "unknown benchmark ''" (or 'nosuch') without saying it came from --benchmark, where predict-benchmark
    names the option."""
    ckpt, texts, prices = named
    result = CliRunner().invoke(cli, ["calibrate", str(ckpt), "--texts", str(texts), "--target", "p=0.5",
                                      "--prices", str(prices), "--benchmark", value])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_calibrate_checks_the_policy_and_target_before_reading_the_texts(named, tmp_path):
    ckpt, _, prices = named
    for extra, message in ((["--policy", "max_p", "--target", "p=0.5"], "calibrate needs a policy with a parameter"),
                           (["--target", "speed=3"], "target 'speed=3': use share:MODEL=0.3")):
        result = CliRunner().invoke(cli, ["calibrate", str(ckpt), "--texts", str(tmp_path / "absent.txt"),
                                          "--prices", str(prices), *extra])
        assert result.exit_code == 2 and message in result.output and "absent.txt" not in result.output, \
            result.output


# ------------------------------------------------------------------------------------------- onboarding
@pytest.fixture(scope="module")
def onboarding_data(synth_table):
    return _dataset(synth_table)


def test_a_strategy_named_twice_is_refused_before_training_not_left_out_of_the_rows(onboarding_data):
    """Before: --strategies d-optimal,d-optimal trained, onboarded, then dropped every d-optimal row (each (method, k)
    had twice the predictions of a model count), printing only the prior and all-pool rows."""
    with pytest.raises(ConfigError, match=r"--strategies: 'd-optimal' given twice; name each strategy once"):
        onboarding_experiment(onboarding_data, _never, n_test=2, ks=[5], strategies=["d-optimal", "d-optimal"])


def test_holding_out_all_but_one_model_is_refused_before_training(onboarding_data):
    """Before: the network was trained on the one model left, then the prior failed with 'the checkpoint knows 1
    model' (there is no checkpoint)."""
    with pytest.raises(ConfigError, match=r"holding out 4 of the table's 5 models leaves 1 to train on; .* hold out "
                                          r"at most 3"):
        onboarding_experiment(onboarding_data, _never, n_test=4, ks=[5], strategies=["random"])


@pytest.mark.parametrize("part, split_part", [("test", "test"), ("pool", "train")])
def test_a_held_out_model_without_test_or_pool_answers_is_named(synth_table, part, split_part):
    """Before: a held-out model without a test answer was silently left out of the evaluation (and of its
    settings' new_models); one without a pool answer failed after training with an unknown-model-id error."""
    split = split_by_query(synth_table, (0.7, 0.1, 0.2), 0)
    model = synth_table.model_vocab.ids[0]
    rec = _records(synth_table)
    rec = rec[~((rec["model"] == model) & rec["query"].isin(list(getattr(split, split_part))))]
    data = _dataset(ResponseTable.from_records(rec[_COLUMNS]))
    with pytest.raises(DataError, match=rf"held-out model\(s\) '{model}' answered none of the \d+ {part} queries"):
        onboarding_experiment(data, _never, n_test=None, models=[model], ks=[5], strategies=["random"])


@pytest.mark.parametrize("strength", [float("nan"), float("inf")])
def test_a_prior_strength_that_is_not_positive_and_finite_is_refused(strength):
    """Before: NaN passed `strength <= 0` and made every fitted ability NaN, inf a zero-variance prior."""
    theta = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ConfigError, match="prior strength must be positive and finite"):
        population_prior(theta, strength)


# ------------------------------------------------------------------------------------------- benchmarks
def test_a_held_out_benchmark_whose_models_answered_nothing_else_is_named(synth_table):
    """Before: "field 'queries/models': the selection contains no responses", naming neither the benchmark nor
    why, and only after the folds before it were trained."""
    rec = _records(synth_table)
    first = synth_table.benchmark_vocab.ids[0]
    inside = rec["benchmark"] == first
    rec.loc[inside, "model"] = "solo-" + rec.loc[inside, "model"]
    data = _dataset(ResponseTable.from_records(rec[_COLUMNS]))
    with pytest.raises(DataError, match=rf"held-out benchmark '{first}': none of its 5 model\(s\) .* answered "
                                        r"another benchmark"):
        evaluate_benchmarks(data, {"model-mean": _never}, k=1)


# ------------------------------------------------------------------------------------------- report
def _bench_doc():
    return {"task": "benchmark-accuracy", "settings": {},
            "summary": {"a": {"mae": 0.1, "bias": 0.0, "n_folds": 1}, "b": {"mae": 0.2, "bias": 0.1, "n_folds": 1}},
            "anchored": {"5": {"a": {"mae": 0.1, "bias": 0.0, "spearman": 0.5, "n_folds": 1}}},
            "paired": [{"n": 0, "a": "a", "b": "b", "diff": -0.1, "lo": -0.2, "hi": 0.0, "verdict": "tie"}],
            "folds": [{"benchmark": "x<&>", "true": [0.5, 0.6], "predicted": {"a": [0.5, 0.5], "b": [0.4, None]}}]}


def _onboarding_doc():
    row = {"auc": 0.6, "log_loss": 0.6, "model_auc": 0.6, "benchmark_mae": 0.1}
    return {"task": "onboarding", "settings": {"protocol": "p"},
            "rows": [{"method": "prior", "k": 0, **row}, {"method": "all-pool", "k": -1, **row},
                     {"method": "random", "k": 5, **row}, {"method": "random", "k": 10, **row}]}


def _render(tmp_path, doc):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(doc))
    stored = _task_doc(path)
    report = Report("r")
    _SECTIONS[stored["task"]](report, stored)
    return render(report)


def test_well_formed_task_results_render(tmp_path):
    assert "id='benchmark_prediction'" in _render(tmp_path, _bench_doc())
    assert "all-pool" in _render(tmp_path, _onboarding_doc())


def _set(doc, path, value):
    *keys, last = path
    target = doc
    for key in keys:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize("path, value, field, message", [
    (("summary", "b", "bias"), KeyError, "summary", "entry 'b' has figures ['mae', 'n_folds'], not the first entry's"),
    (("anchored", "5", "a", "mae"), KeyError, "anchored", "entry '5', predictor 'a': not an object with mae"),
    (("folds", 0, "predicted", "b"), KeyError, "folds", "entry 1 ('x<&>'): its predicted has no list of 2 "
                                                        "accuracies for 'b'"),
    (("folds", 0, "predicted", "a"), [0.5], "folds", "its predicted has no list of 2 accuracies for 'a'"),
    (("folds", 0, "predicted"), [0.5, 0.5], "folds", "entry 1: not a benchmark's name"),
    (("paired", 0, "verdict"), None, "paired", "entry 1: its b and verdict are a JSON string and JSON null"),
    (("folds",), [], "folds", "is empty: `irtnet evaluate-benchmarks` writes an entry per held-out benchmark"),
])
def test_a_damaged_benchmark_result_is_named_not_a_traceback(tmp_path, path, value, field, message):
    """Before: KeyError, TypeError or matplotlib's ValueError from inside the section or its figure."""
    with pytest.raises(DataError, match="field") as err:
        _render(tmp_path, _set(_bench_doc(), path, value))
    assert err.value.field == field and message in str(err.value) and "task.json" in str(err.value), str(err.value)


@pytest.mark.parametrize("path, value, field, message", [
    (("rows", 2, "k"), "5", "rows", "entry 3: its k is a JSON string '5', not a whole number of answers"),
    (("rows", 0, "k"), None, "rows", "entry 1: its k is JSON null, not a whole number of answers"),
    (("rows", 1, "method"), 3, "rows", "entry 2: its method is a JSON number, not text"),
    (("settings", "protocol"), None, "settings", "its protocol is JSON null, not text"),
    (("rows",), [], "rows", "is empty: `irtnet evaluate-onboarding` writes a row per method and K"),
])
def test_a_damaged_onboarding_result_is_named_not_a_traceback(tmp_path, path, value, field, message):
    """Before: TypeError ('<' between str and int), AttributeError (None.replace) or an empty section."""
    with pytest.raises(DataError, match="field") as err:
        _render(tmp_path, _set(_onboarding_doc(), path, value))
    assert err.value.field == field and message in str(err.value) and "task.json" in str(err.value), str(err.value)


def test_a_figure_a_result_lacks_renders_as_a_dash_not_none(tmp_path):
    """Before: an anchored entry without coverage and width (a result written before the interval columns, which the
    section reads with .get) showed the word "None" in both cells, and a float32 NaN showed "nan"."""
    from irtnet.reporting.html import Table, _table_html

    page = _render(tmp_path, _bench_doc())
    assert "<td>None</td>" not in page and "None" not in page.split("<h3>With n items")[1].split("</table>")[0]
    cells = _table_html(Table("t", ["a", "b", "c", "d"], [[None, np.float32("nan"), np.int64(3), np.float32(0.5)]]))
    assert cells.count('<td class="num">-</td>') == 2 and '<td class="num">3</td>' in cells
    assert '<td class="num">0.5</td>' in cells and "nan" not in cells

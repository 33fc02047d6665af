"""The anchor setting's predictive interval (`tasks.anchors.anchored_interval`): it covers a planted truth about as
often as it says, is narrower than the plain mean's Wilson interval, holds its estimate within what the answers
allow; `predict-benchmark --answers` shows and writes it, and `evaluate-benchmarks` scores its coverage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from anchor_fixtures import run_with_texts, write_answers

from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.numeric import sigmoid
from irtnet.predictors import ModelMean
from irtnet.tasks.anchors import (ANCHOR_MEAN, anchor_mean_interval, anchored_accuracies, anchored_interval,
                                  level_shift, shift_weight)
from irtnet.tasks.benchmark import evaluate_benchmarks


def _bench(seed: int, n_items: int = 300, n_models: int = 30):
    """(predicted probabilities, labels) of a new benchmark the prediction gets wrong three ways: its level (one
    offset for every item), each model's own level on it, and each item's difficulty."""
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(0, 1, n_models), rng.normal(0, 1.5, n_items)
    own, item, level = rng.normal(0, 0.4, n_models), rng.normal(0, 0.7, n_items), rng.normal(0, 0.6)
    truth = sigmoid(theta[None, :] + own[None, :] - b[:, None] - item[:, None] + level)
    labels = (rng.random(truth.shape) < truth).astype(float)
    return sigmoid(theta[None, :] - b[:, None]), labels


def _coverage(n: int, seeds: range) -> tuple[float, float, float]:
    """(coverage, mean width, Wilson's mean width) of 90% intervals over `seeds` benchmarks, n anchors each."""
    hits, widths, wilson = [], [], []
    for seed in seeds:
        prob, labels = _bench(seed)
        rows = np.random.default_rng(1000 + seed).permutation(len(labels))[:n]
        lower, upper = anchored_interval(prob, labels, rows)
        truth = labels.mean(axis=0)
        hits.append((lower <= truth) & (truth <= upper))
        widths.append(upper - lower)
        wilson.append(np.subtract(*anchor_mean_interval(labels, rows)[::-1]))
    return float(np.mean(hits)), float(np.mean(widths)), float(np.mean(wilson))


@pytest.mark.parametrize("n", [5, 10])
def test_ninety_percent_intervals_cover_a_planted_truth_about_ninety_percent_of_the_time(n):
    """Both the level's luck (shared) and each model's own error count: without the unanswered items' own luck
    (the truth is the share a model got right, not its chance) the n = 10 intervals fall below this band."""
    coverage, width, wilson = _coverage(n, range(60))
    assert 0.84 <= coverage <= 0.96, coverage
    assert width < wilson  # the prediction carries what the few answers cannot


def test_the_interval_holds_its_estimate_within_what_the_answers_allow():
    prob, labels = _bench(3, n_items=60)
    rows = np.arange(8)
    labels[rows[:4], 0] = np.nan  # model 0 answered only half of the anchors
    acc, _ = anchored_accuracies(prob, labels, rows, counted=np.ones(labels.shape, bool))
    lower, upper = anchored_interval(prob, labels, rows, counted=np.ones(labels.shape, bool))
    answered = np.nansum(labels[rows], axis=0)
    free = len(labels) - (~np.isnan(labels[rows])).sum(axis=0)
    assert np.all(lower <= acc) and np.all(acc <= upper)
    assert np.all(lower >= answered / len(labels) - 1e-12)
    assert np.all(upper <= (answered + free) / len(labels) + 1e-12)
    assert np.all(upper - lower > 0)


def test_every_item_answered_is_the_accuracy_itself_and_one_item_says_nothing_more_than_the_answers():
    prob, labels = _bench(4, n_items=40)
    lower, upper = anchored_interval(prob, labels, np.arange(40))
    np.testing.assert_allclose(lower, labels.mean(axis=0))
    np.testing.assert_allclose(upper, labels.mean(axis=0))
    lower, upper = anchored_interval(prob, labels, np.array([7]))
    np.testing.assert_allclose(lower, labels[7] / 40)
    np.testing.assert_allclose(upper, (labels[7] + 39) / 40)


def test_more_anchors_narrow_the_interval_and_a_higher_level_widens_it():
    prob, labels = _bench(5)
    order = np.random.default_rng(0).permutation(len(labels))
    widths = [np.mean(np.subtract(*anchored_interval(prob, labels, order[:n])[::-1])) for n in (5, 25, 100)]
    assert widths[0] > widths[1] > widths[2]
    w80, w95 = (np.mean(np.subtract(*anchored_interval(prob, labels, order[:25], level=lv)[::-1]))
                for lv in (0.8, 0.95))
    assert w80 < w95


def test_the_batched_leave_one_out_shifts_are_the_one_at_a_time_fits():
    """`shift_weight` fits every held-out item's shift at once; each is `level_shift` on the other rows."""
    from irtnet.numeric import logit
    from irtnet.tasks.anchors import _level_shifts

    prob, labels = _bench(6, n_items=12)
    labels[2, :5] = np.nan
    batched = _level_shifts(logit(prob), labels, ~np.eye(12, dtype=bool))
    single = [level_shift(np.delete(prob, i, 0), np.delete(labels, i, 0)) for i in range(12)]
    np.testing.assert_allclose(batched, single, atol=1e-9)
    assert 0.0 <= shift_weight(prob, labels) <= 1.0


# -------------------------------------------------------------------------------------- evaluate-benchmarks
def test_evaluate_benchmarks_scores_the_coverage_of_the_first_predictor_and_of_the_plain_mean():
    from irtnet.data.dataset import Dataset

    synth = make_synthetic(n_models=8, n_queries=200, n_benchmarks=2, dim=2, feature_dim=6, seed=2)
    data = Dataset.from_table(synth.table, synth.features)
    result = evaluate_benchmarks(data, {"model-mean": ModelMean, "other": ModelMean}, k=2, anchors=[10],
                                 anchor_draws=3)
    for fold in result.folds:
        row = fold.anchored["10"]
        for name in ("model-mean", ANCHOR_MEAN):
            assert 0.0 <= row[name]["coverage"] <= 1.0 and 0.0 < row[name]["width"] <= 1.0
        assert np.isnan(row["other"]["coverage"]) and np.isnan(row["other"]["width"])
    assert "coverage" in result.anchored["10"]["model-mean"] and "90%" in result.settings["interval"]


# ------------------------------------------------------------------------------ predict-benchmark --answers
@pytest.fixture(scope="module")
def run_and_texts(tmp_path_factory):
    """A tiny run, 30 of its table's texts with ids, and its models' answers on the first 10."""
    root = tmp_path_factory.mktemp("intervals")
    rows, _, _ = run_with_texts(root, n_texts=30, seed=3, n_queries=200)
    first_ten = list(dict.fromkeys(r["id"] for r in rows))[:10]
    write_answers(root / "a.jsonl", [r for r in rows if r["id"] in first_ten])
    return root


def test_predict_benchmark_shows_and_writes_each_models_interval(run_and_texts, tmp_path):
    root = run_and_texts
    out = CliRunner().invoke(app, ["predict-benchmark", str(root / "run"), str(root / "t.jsonl"), "--answers",
                                   str(root / "a.jsonl"), "--level", "0.8", "--json", str(tmp_path / "o.json")])
    assert out.exit_code == 0, out.output
    assert "80% interval" in out.output
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["level"] == 0.8
    for row in doc["ranking"]:
        assert 0.0 <= row["lower"] <= row["predicted_accuracy"] <= row["upper"] <= 1.0


@pytest.mark.parametrize("level", [0.0, 1.0, float("nan"), True, "0.9"])
def test_a_level_outside_zero_one_is_refused_before_anything_is_read(tmp_path, level):
    from irtnet.api.experiments import anchored_benchmark

    with pytest.raises(ConfigError, match="--level must be a number between 0 and 1"):
        anchored_benchmark(tmp_path / "no-run", tmp_path / "no.jsonl", tmp_path / "no.csv", level=level)


def test_level_without_answers_is_refused(run_and_texts):
    root = run_and_texts
    out = CliRunner().invoke(app, ["predict-benchmark", str(root / "run"), str(root / "t.jsonl"), "--level", "0.8"])
    assert out.exit_code == 2 and "--level is read only with --answers" in " ".join(out.output.split())


def test_a_corrected_chance_never_passes_one_so_no_estimate_passes_what_the_answers_allow():
    """Hard anchors a model beat and easy items left: its residual added to a 0.97 chance went above 1, and the
    estimate (and the interval's upper end) above every unanswered item right."""
    prob = np.vstack([np.full((6, 10), 0.3), np.full((6, 10), 0.97)])
    beat = np.r_[np.ones((5, 5)), np.zeros((1, 5))]  # half the models beat five of the six anchors, half none
    labels = np.vstack([np.hstack([beat, np.zeros((6, 5))]), np.ones((6, 10))])
    rows = np.arange(6)
    every = np.ones(labels.shape, bool)
    acc, _ = anchored_accuracies(prob, labels, rows, counted=every)
    lower, upper = anchored_interval(prob, labels, rows, counted=every)
    ceiling = (labels[rows].sum(axis=0) + 6) / 12
    assert np.all(acc <= ceiling + 1e-12) and np.all(upper <= ceiling + 1e-12)
    assert np.all(lower <= acc) and np.all(acc <= upper)


def test_the_shift_skips_a_missing_chance_where_no_answer_is_and_reads_one_row_as_a_row():
    from irtnet.tasks.anchors import _level_shifts

    prob = np.array([[0.4, np.nan], [0.6, 0.5]])
    labels = np.array([[1.0, np.nan], [0.0, 1.0]])
    d = _level_shifts(np.log(prob / (1 - prob)), labels, np.ones((1, 2), bool))[0]
    assert np.isfinite(d)
    assert level_shift(np.array([0.5, 0.5]), np.array([1.0, 1.0])) == pytest.approx(
        level_shift(np.array([[0.5, 0.5]]), np.array([[1.0, 1.0]])))


@pytest.mark.parametrize("level", [1.5, 90, 0.0, float("nan")])
def test_the_interval_refuses_a_level_it_cannot_read(level):
    prob, labels = _bench(7, n_items=30)
    with pytest.raises(ConfigError, match="--level must be a number between 0 and 1"):
        anchored_interval(prob, labels, np.arange(5), level=level)


def test_one_models_missing_chance_leaves_the_others_intervals_as_they_were():
    """The level's luck is scaled to each model against the models' mean sensitivity: a NaN chance of one model
    made that mean NaN and took the shared part from every other model."""
    prob, labels = _bench(8, n_items=40, n_models=6)
    rows = np.arange(10)
    before = anchored_interval(prob, labels, rows, counted=np.ones(labels.shape, bool))
    prob = prob.copy()
    prob[30, 5] = np.nan
    after = anchored_interval(prob, labels, rows, counted=np.ones(labels.shape, bool))
    for b, a in zip(before, after):
        np.testing.assert_allclose(a[:5], b[:5], atol=0.02)


def test_predict_benchmark_applies_the_anchor_shift_rule_it_is_given(run_and_texts, tmp_path):
    """--anchor-shift reaches the estimate (the served path of evaluate-benchmarks' rules): each rule's shift is
    the one `anchors.applied_shift` gives on the answered items, and a rule is checked before anything is read."""
    from irtnet.api.experiments import anchored_benchmark

    root = run_and_texts
    shifts = {}
    for rule in ("chosen", "cautious", "whole"):
        out = CliRunner().invoke(app, ["predict-benchmark", str(root / "run"), str(root / "t.jsonl"), "--answers",
                                       str(root / "a.jsonl"), "--anchor-shift", rule, "--json",
                                       str(tmp_path / f"{rule}.json")])
        assert out.exit_code == 0, out.output
        doc = json.loads((tmp_path / f"{rule}.json").read_text())
        assert doc["anchor_shift"] == rule
        shifts[rule] = doc["shift"]
        assert shifts[rule] == anchored_benchmark(root / "run", root / "t.jsonl", root / "a.jsonl",
                                                  shift=rule).shift
    assert abs(shifts["cautious"]) <= abs(shifts["chosen"]) <= abs(shifts["whole"]) + 1e-12
    with pytest.raises(ConfigError, match="--anchor-shift must be one of chosen, cautious, whole, got 'half'"):
        anchored_benchmark(tmp_path / "no-run", tmp_path / "no.jsonl", tmp_path / "no.csv", shift="half")
    out = CliRunner().invoke(app, ["predict-benchmark", str(root / "run"), str(root / "t.jsonl"), "--anchor-shift",
                                   "whole"])
    assert out.exit_code == 2 and "--anchor-shift is read only with --answers" in " ".join(out.output.split())

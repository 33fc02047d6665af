"""The anchor setting's level shift: how much of it to apply is read from the anchor items (leave one out), and
the evaluation averages over several draws of those items."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from anchor_fixtures import run_with_texts, write_answers

from irtnet.cli.main import app
from irtnet.data.dataset import Dataset
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.numeric import sigmoid
from irtnet.predictors import ModelMean
from irtnet.tasks.anchors import (ANCHOR_MEAN, anchor_curve, anchor_order, anchored_accuracies, cautious_index,
                                  shift_weight)
from irtnet.tasks.benchmark import evaluate_benchmarks


def _bench(seed: int, offset: float, n_items: int = 400, n_models: int = 30):
    """(predicted probabilities, labels) of a benchmark whose items vary widely in difficulty, the prediction right
    but for `offset` logits on every item (a new benchmark's level error)."""
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(0, 1, n_models), rng.normal(0, 2, n_items)
    truth = sigmoid(theta[None, :] - b[:, None])
    labels = (rng.random(truth.shape) < truth).astype(float)
    return sigmoid(theta[None, :] - b[:, None] - offset), labels


def _errors(offset: float, n: int, shift: str) -> float:
    errs = []
    for seed in range(40):
        prob, labels = _bench(seed, offset)
        rows = np.random.default_rng(100 + seed).permutation(len(labels))[:n]
        acc, _ = anchored_accuracies(prob, labels, rows, shift=shift)
        errs.append(np.mean(np.abs(acc - labels.mean(axis=0))))
    return float(np.mean(errs))


def test_a_right_level_keeps_the_few_anchors_luck_out_and_a_wrong_one_is_still_corrected():
    """With the level right, five anchors' shift is only their luck: the chosen share drops most of it and the
    error falls; with a level one logit off, 25 anchors' shift is kept nearly whole."""
    assert _errors(0.0, 5, "chosen") < 0.9 * _errors(0.0, 5, "whole")  # measured 0.028 against 0.035
    assert _errors(1.0, 25, "chosen") < 1.1 * _errors(1.0, 25, "whole")
    for rule in ("chosen", "cautious"):
        weights = [shift_weight(*(a[:25] for a in _bench(seed, 1.0)), rule=rule) for seed in range(10)]
        assert np.mean(weights) > 0.7, rule


def test_the_cautious_share_keeps_less_of_few_items_luck_and_still_corrects_a_wrong_level():
    """The one-standard-error rule applies no more of the shift than the best share and drops more of five items'
    luck where the level is right (that it still applies most of a level one logit off at 25 items is checked
    above)."""
    for seed in range(10):
        prob, labels = _bench(seed, 0.0)
        assert shift_weight(prob[:5], labels[:5], rule="cautious") <= shift_weight(prob[:5], labels[:5], rule="chosen")
    assert _errors(0.0, 5, "cautious") < _errors(0.0, 5, "chosen")


def test_the_cautious_index_is_the_first_share_within_one_standard_error_of_the_total():
    """Four items: row 2 is best (total 4); row 1 totals 6, its per-item excess (0.5 each, sd 0) is no noise, so it
    is out; row 0 totals 8 with excesses 4, 0, 0, 0 (sd 2): the standard error of their total is sqrt(4) x 2 = 4,
    so 8 - 4 = 4 is within it and row 0 is chosen. A little more excess, or less spread, and it is not."""
    best = np.array([1.0, 1.0, 1.0, 1.0])
    assert cautious_index(np.stack([best + [4, 0, 0, 0], best + 0.5, best])) == 0
    assert cautious_index(np.stack([best + [4, 0, 0, 0.0001], best + 0.5, best])) == 2  # just beyond it
    assert cautious_index(np.stack([best + [3, 0.5, 0.25, 0.25], best + 0.5, best])) == 2  # sd 1.34: 2.68 < 4
    assert cautious_index(np.stack([best + 0.5, best, best + 1])) == 1  # only the best row itself


def test_shift_weight_needs_two_answered_items_to_hold_one_out():
    prob, labels = _bench(0, 0.0)
    assert shift_weight(prob[:1], labels[:1]) == 1.0
    labels[1:3] = np.nan  # unanswered items are not items to hold out
    assert shift_weight(prob[:3], labels[:3]) == 1.0


def test_the_first_draw_is_the_one_order_of_earlier_versions_and_others_differ():
    import zlib

    prob, labels = _bench(1, 0.0)
    old = np.random.default_rng([7, zlib.crc32(b"b")]).permutation(len(labels))
    np.testing.assert_array_equal(anchor_order(len(labels), "b", 7), old)
    curve = anchor_curve({"p": prob}, labels, [10, 1000], "b", seed=7, draws=3)
    assert list(curve) == [10]  # n below the benchmark's size only
    accs, shifts = curve[10][ANCHOR_MEAN]
    assert accs.shape == (3, 30) and shifts.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(accs[0], labels[old[:10]].mean(axis=0))
    assert not np.allclose(accs[0], accs[1])
    assert curve[10]["p"][0].shape == (3, 30)


def test_draws_and_shift_are_checked_before_any_fit():
    synth = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=4, seed=0)
    data = Dataset.from_table(synth.table, synth.features)
    with pytest.raises(ConfigError, match="--anchor-draws must be a whole number of at least 1"):
        evaluate_benchmarks(data, {"m": ModelMean}, anchors=(5,), anchor_draws=0)
    with pytest.raises(ConfigError, match="--anchor-shift must be one of chosen, cautious, whole"):
        evaluate_benchmarks(data, {"m": ModelMean}, anchors=(5,), anchor_shift="half")
    result = evaluate_benchmarks(data, {"m": ModelMean}, anchors=(5,), anchor_draws=3)
    fold = result.folds[0]
    assert np.shape(fold.anchored_predicted["5"]["m"]) == (3, len(fold.models))
    assert result.settings["anchor_draws"] == 3 and result.settings["anchor_shift"] == "chosen"
    row = next(r for r in result.paired if r["n"] == 5 and r["b"] == ANCHOR_MEAN)
    true = [np.asarray(f.true) for f in result.folds]
    mean_err = [np.mean(np.abs(np.asarray(f.anchored_predicted["5"][e]) - t), axis=0)  # per model, over the draws
                for f, t in zip(result.folds, true) for e in ("m", ANCHOR_MEAN)]
    assert row["diff"] == pytest.approx(np.mean(np.concatenate(mean_err[0::2]) - np.concatenate(mean_err[1::2])))


def test_the_anchor_options_are_refused_without_anchors(tmp_path):
    out = CliRunner().invoke(app, ["evaluate-benchmarks", str(tmp_path / "t.parquet"), "--anchors", "",
                                   "--anchor-draws", "3", "-o", str(tmp_path / "o.json")])
    assert out.exit_code == 2 and "--anchor-draws is read only in the anchor setting" in out.output


def test_the_crossed_interval_counts_the_draws_luck_that_a_models_only_interval_misses():
    """Cells of 30 models x 10 draws whose differences move with the draw: resampling models alone takes the
    draws as fixed and gives a narrow interval; crossing them with the draws widens it to their spread."""
    from irtnet.tasks.stats import crossed_interval, unit_interval

    rng = np.random.default_rng(0)
    models, draws = np.repeat(np.arange(30), 10), np.tile(np.arange(10), 30)
    values = rng.normal(0, 0.05, 10)[draws] + rng.normal(0, 0.005, 300)
    lo_m, hi_m = unit_interval(models, values, 2000, 0)
    lo_c, hi_c = crossed_interval(models, draws, values, 2000, 0)
    assert hi_c - lo_c > 3 * (hi_m - lo_m)
    assert lo_c <= values.mean() <= hi_c


# ------------------------------------------------------------------- predict-benchmark --answers (a user's anchors)
@pytest.fixture(scope="module")
def anchored(tmp_path_factory):
    """A run, and one benchmark's texts (with ids) with the table's own answers of its models on them."""
    root = tmp_path_factory.mktemp("anchored")
    rows, labels, models = run_with_texts(root, n_texts=40, seed=1)
    return root, rows, labels, models


def test_every_text_answered_gives_each_models_own_accuracy_and_a_few_move_the_prediction(anchored, tmp_path):
    from irtnet.api.experiments import anchored_benchmark, predict_benchmark

    root, rows, labels, models = anchored
    full = anchored_benchmark(root / "run", root / "t.jsonl", write_answers(tmp_path / "all.jsonl", rows))
    assert full.n_items_answered == 40 and full.answered == {m: 40 for m in models}
    np.testing.assert_allclose([a for _, a in sorted(full.ranked)],
                               [labels[:, models.index(m)].mean() for m in sorted(models)], atol=1e-12)
    first_five = list(dict.fromkeys(r["id"] for r in rows))[:5]
    few = [r for r in rows if r["id"] in first_five]
    some = anchored_benchmark(root / "run", root / "t.jsonl", write_answers(tmp_path / "few.jsonl", few))
    _, plain, _ = predict_benchmark(root / "run", root / "t.jsonl")
    assert some.n_items_answered == 5 and dict(some.ranked) != dict(plain)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows + [{**rows[0], "model": "nobody"}], "'nobody' is not a model the checkpoint knows"),
    (lambda rows: rows + [{**rows[0], "id": "q-none"}], "'q-none' is not an item id of the texts file"),
    (lambda rows: rows + [{**rows[0], "correct": 1 - rows[0]["correct"]}], "was answered in line 1 with"),
    (lambda rows: [{**r, "benchmark": "x"} for r in rows], "unknown field(s) 'benchmark'"),
    (lambda rows: [{k: v for k, v in r.items() if k != "correct"} for r in rows], "no label"),
])
def test_bad_anchor_answers_are_refused_naming_the_record(anchored, tmp_path, change, message):
    root, rows, _, _ = anchored
    path = write_answers(tmp_path / "a.jsonl", change(rows[:6]))
    out = CliRunner().invoke(app, ["predict-benchmark", str(root / "run"), str(root / "t.jsonl"), "--answers",
                                   str(path)])
    assert out.exit_code == 2 and message in " ".join(out.output.split()) and "a.jsonl, line" in out.output


def test_the_command_writes_what_the_answers_were(anchored, tmp_path):
    import json

    root, rows, _, models = anchored
    answers = write_answers(tmp_path / "a.jsonl", rows[:12])
    out = CliRunner().invoke(app, ["predict-benchmark", str(root / "run"), str(root / "t.jsonl"), "--answers",
                                   str(answers), "--json", str(tmp_path / "o.json")])
    assert out.exit_code == 0, out.output
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["n_items_answered"] == len({r["id"] for r in rows[:12]}) and sum(doc["answered"].values()) == 12
    assert len(doc["ranking"]) == len(models) and "answered by known models" in " ".join(out.output.split())


def test_an_empty_anchor_shift_is_refused_not_read_as_the_default(tmp_path):
    out = CliRunner().invoke(app, ["evaluate-benchmarks", str(tmp_path / "t.parquet"), "--anchor-shift", "",
                                   "-o", str(tmp_path / "o.json")])
    assert out.exit_code == 2 and "--anchor-shift must be one of chosen, cautious, whole, got ''" in out.output

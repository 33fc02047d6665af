"""Benchmark accuracy prediction: pure scoring functions and leave-one-benchmark-out on planted data."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import DataError
from irtnet.predictors import ModelMean, Predictor
from irtnet.tasks.benchmark import accuracy_prediction_metrics, benchmark_scores, evaluate_benchmarks, predict_benchmark


class Planted(Predictor):
    """Returns the synthetic truth: a predictor whose benchmark predictions are known to be right."""

    name = "planted"

    def __init__(self, synth) -> None:
        self.synth = synth

    def fit(self, train, val=None):
        self.models_ = self.synth.table.model_vocab
        return self

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        rows = self.synth.table.query_vocab.index(list(queries.ids))
        return self.synth.prob[rows][:, self._model_positions(models)]


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_models=10, n_queries=1500, n_benchmarks=3, dim=2, feature_dim=6, seed=3)


def test_benchmark_scores_respects_observed_cells():
    prob = np.array([[0.2, 0.9], [0.4, 0.1], [1.0, 1.0]])
    groups = np.array(["x", "x", "y"])
    observed = np.array([[True, True], [True, False], [False, True]])
    out = benchmark_scores(prob, groups, observed)
    np.testing.assert_allclose(out["x"], [0.3, 0.9])
    assert np.isnan(out["y"][0]) and out["y"][1] == 1.0
    np.testing.assert_allclose(benchmark_scores(prob, groups)["x"], [0.3, 0.5])


def test_accuracy_prediction_metrics_known_values():
    true = np.array([0.1, 0.5, 0.7, 0.9])
    perfect = accuracy_prediction_metrics(true, true, k=2)
    assert perfect["mae"] == 0 and perfect["pearson"] == pytest.approx(1) and perfect["top2_recovery"] == 1
    shifted = accuracy_prediction_metrics(true + 0.1, true, k=2)
    assert shifted["mae"] == pytest.approx(0.1) and shifted["spearman"] == pytest.approx(1)
    reversed_ = accuracy_prediction_metrics(true[::-1].copy(), true, k=2)
    assert reversed_["spearman"] == pytest.approx(-1) and reversed_["top2_recovery"] == 0
    constant = accuracy_prediction_metrics(np.full(4, 0.5), true)
    assert np.isnan(constant["pearson"]) and constant["n_models"] == 4


def test_predict_benchmark_ranks_by_mean_probability(synth):
    model = Planted(synth).fit(None)
    queries = Queries(synth.table.query_vocab.ids[:200])
    ranked = predict_benchmark(model, queries)
    accs = [a for _, a in ranked]
    assert accs == sorted(accs, reverse=True)
    best = synth.prob[:200].mean(axis=0).argmax()
    assert ranked[0][0] == synth.table.model_vocab.id(best)
    with pytest.raises(DataError, match="no queries"):
        predict_benchmark(model, Queries(()))


def test_leave_one_benchmark_out_planted_beats_model_mean(synth):
    data = Dataset.from_table(synth.table, synth.features)
    result = evaluate_benchmarks(data, {"planted": lambda: Planted(synth), "model-mean": ModelMean})
    assert [f.benchmark for f in result.folds] == synth.table.benchmark_vocab.to_list()
    for fold in result.folds:
        assert len(fold.true) == len(fold.predicted["planted"]) == 10
    s = result.summary
    # the truth predicts held-out accuracies up to label noise (about 1/sqrt(500 queries))
    assert s["planted"]["mae"] < 0.04 and s["planted"]["spearman"] > 0.9
    assert s["planted"]["mae"] < s["model-mean"]["mae"]
    assert result.to_dict()["task"] == "benchmark-accuracy"


def test_a_held_out_querys_text_twin_in_another_benchmark_is_counted_out_of_training(synth):
    from irtnet.data.table import ResponseTable

    queries = synth.table.queries.copy()
    first = queries.groupby("benchmark")["query"].first()  # the first query of each benchmark
    b0, b1 = synth.table.benchmark_vocab.to_list()[:2]
    queries.loc[queries["query"] == first[b1], "text"] = queries.loc[queries["query"] == first[b0], "text"].iloc[0]
    table = ResponseTable(synth.table.responses, queries, synth.table.models)
    result = evaluate_benchmarks(Dataset.from_table(table, synth.features), {"m": ModelMean}, benchmarks=[b0, b1])
    assert [f.text_twins_left_out for f in result.folds] == [1, 1]
    plain = evaluate_benchmarks(Dataset.from_table(synth.table, synth.features), {"m": ModelMean}, benchmarks=[b0])
    assert plain.folds[0].text_twins_left_out == 0


def test_leave_one_benchmark_out_needs_two_benchmarks():
    one = make_synthetic(n_models=4, n_queries=100, n_benchmarks=1, dim=2, feature_dim=4, seed=0)
    with pytest.raises(DataError, match="at least two benchmarks"):
        evaluate_benchmarks(Dataset.from_table(one.table, one.features), {"m": ModelMean})


def test_level_shift_recovers_a_planted_offset():
    from irtnet.numeric import logit, sigmoid
    from irtnet.tasks.anchors import level_shift

    rng = np.random.default_rng(0)
    prob = rng.uniform(0.1, 0.9, (400, 8))
    labels = (rng.random(prob.shape) < sigmoid(logit(prob) + 1.0)).astype(float)  # the benchmark is easier
    assert level_shift(prob, labels) == pytest.approx(1.0, abs=0.15)
    labels[::2] = np.nan  # unobserved cells are skipped, not counted as wrong
    assert level_shift(prob, labels) == pytest.approx(1.0, abs=0.2)
    assert level_shift(prob[:3], np.ones((3, 8))) < 5  # all right: the prior keeps it finite
    assert level_shift(prob, np.full(prob.shape, np.nan)) == 0.0


def test_anchored_accuracies_count_anchor_answers_and_shift_the_rest():
    from irtnet.tasks.anchors import anchored_accuracies

    prob = np.full((10, 2), 0.5)
    labels = np.array([[1.0, 0.0]] * 10)
    labels[9, 1] = np.nan  # model 1 has nine observed items
    acc, d = anchored_accuracies(prob, labels, np.arange(10))  # every item an anchor: the observed accuracy
    np.testing.assert_allclose(acc, [1.0, 0.0])
    acc, d = anchored_accuracies(prob, labels, np.array([0, 1]))  # half the anchor answers right: no shift
    assert d == pytest.approx(0.0, abs=1e-9)
    # residuals +-0.5, sampling variance 0.25 / 2, so tau^2 = 0.25 - 0.125 and each residual counts half
    np.testing.assert_allclose(acc, [(2 + 8 * (0.5 + 0.25)) / 10, (0 + 7 * (0.5 - 0.25)) / 9])


def test_residual_weights_grow_with_the_anchors_and_vanish_without_spread():
    from irtnet.tasks.anchors import residual_weights

    rng = np.random.default_rng(1)
    offsets = np.linspace(-0.2, 0.2, 12)  # each model's own error around the benchmark's level
    for n, low, high in ((5, 0.0, 0.5), (200, 0.8, 1.0)):
        prob = np.full((n, 12), 0.5)
        labels = (rng.random((n, 12)) < 0.5 + offsets).astype(float)
        residual, weight = residual_weights(prob, labels)
        assert np.all((low <= weight) & (weight <= high)), (n, weight)
    same = (rng.random((200, 12)) < 0.5).astype(float)  # no model differs from the prediction
    assert residual_weights(np.full((200, 12), 0.5), same)[1].max() < 0.5
    labels = np.full((5, 2), np.nan)
    labels[:, 0] = 1.0
    _, weight = residual_weights(np.full((5, 2), 0.5), labels)
    assert weight[1] == 0.0  # a model without anchor answers keeps the prediction


class Biased(Planted):
    """The truth, one logit too pessimistic on every query: a level error such as a new benchmark brings."""

    name = "biased"

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        from irtnet.numeric import logit, sigmoid

        return sigmoid(logit(super().predict_proba(queries, models)) - 1.0)


def test_anchor_items_remove_a_level_error(synth):
    data = Dataset.from_table(synth.table, synth.features)
    result = evaluate_benchmarks(data, {"biased": lambda: Biased(synth), "model-mean": ModelMean},
                                 anchors=(10, 50, 10_000))
    assert result.settings["anchors"] == [10, 50] and set(result.anchored) == {"10", "50"}  # n < size only
    assert list(result.settings["anchors_skipped"]) == ["10000"]  # larger than every benchmark: said, not dropped
    zero, ten, fifty = result.summary["biased"]["mae"], result.anchored["10"]["biased"], result.anchored["50"]["biased"]
    assert zero > 0.1 and fifty["mae"] < 0.03 and ten["mae"] < zero / 2  # measured 0.122, 0.022, 0.018
    assert fifty["mae"] < result.anchored["50"]["anchor-mean"]["mae"]  # better than the anchors' plain mean
    for fold in result.folds:
        assert fold.shifts["50"]["biased"] == pytest.approx(1.0, abs=0.3)
    doc = result.to_dict()
    assert doc["anchored"]["50"]["anchor-mean"]["n_folds"] == 3
    with pytest.raises(Exception, match="at least 1"):
        evaluate_benchmarks(data, {"m": ModelMean}, anchors=(0,))


def test_paired_errors_say_which_entry_estimates_the_anchor_setting_better(synth):
    data = Dataset.from_table(synth.table, synth.features)
    result = evaluate_benchmarks(data, {"biased": lambda: Biased(synth), "model-mean": ModelMean}, anchors=(10, 50))
    rows = {(r["n"], r["b"]): r for r in result.paired}
    assert set(rows) == {(0, "model-mean"), (10, "model-mean"), (10, "anchor-mean"), (50, "model-mean"),
                         (50, "anchor-mean")}
    for r in rows.values():
        assert r["a"] == "biased" and r["lo"] <= r["diff"] <= r["hi"] and r["n_models"] == 10
        assert r["n_cells"] == (30 if r["n"] == 0 else 300)  # (benchmark, model) cells, with anchors in 10 draws
    assert rows[(50, "anchor-mean")]["verdict"] == "win"  # the text's items know more than 50 answers alone
    assert rows[(50, "anchor-mean")]["diff"] == pytest.approx(np.mean(np.concatenate([
        np.abs(np.asarray(f.anchored_predicted["50"]["biased"]) - np.asarray(f.true))
        - np.abs(np.asarray(f.anchored_predicted["50"]["anchor-mean"]) - np.asarray(f.true)) for f in result.folds])))



def test_top_k_recovery_counts_ties_with_the_kth_best_and_is_undefined_with_k_models_or_fewer():
    from irtnet.tasks.benchmark import top_k_recovery

    true = np.array([0.9, 0.5, 0.5, 0.5, 0.1])  # the 2nd best is three models tied
    assert top_k_recovery(np.array([0.8, 0.1, 0.2, 0.7, 0.0]), true, 2) == 1.0  # picks 0 and 3: both among the best
    assert top_k_recovery(np.array([0.0, 0.1, 0.2, 0.3, 0.9]), true, 2) == 0.5  # picks 4 (worst) and 3 (tied 2nd)
    assert math.isnan(top_k_recovery(true[:3], true[:3], 3))  # every model is in the top 3: nothing to recover
    metrics = accuracy_prediction_metrics(true[:2], true[:2], k=3)
    assert math.isnan(metrics["top3_recovery"]) and "top2_recovery" not in metrics  # the key keeps the k asked


def test_paired_errors_among_one_model_are_no_result_and_equal_errors_tie():
    from irtnet.tasks.benchmark import BenchmarkFold, paired_errors

    one = [BenchmarkFold("b", 10, ["m0"], [0.5], {"x": [0.6], "y": [0.7]})]
    (row,) = paired_errors(one, "x", n_boot=100)
    assert row["verdict"] == "n/a" and "one model" in row["reason"] and math.isnan(row["lo"])
    same = [BenchmarkFold("b", 10, ["m0", "m1", "m2"], [1.0, 1.0, 1.0],
                          {"x": [0.1 + 0.2, 0.3, 0.3], "y": [0.3, 0.1 + 0.2, 0.3]})]  # equal up to rounding
    (row,) = paired_errors(same, "x", n_boot=100)
    assert row["verdict"] == "tie" and (row["lo"], row["hi"]) == (0.0, 0.0)

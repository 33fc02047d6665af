"""The downstream tasks on one real data set (LLMRouter dcrouter: 9 models, 14 tasks, model prices), with
the hashing encoder and a few epochs so that it runs in about a minute. Checks that each task runs end to
end on real data and that its figures beat trivial references computed here from the same data, by margins
that a constant or random predictor does not clear.

The bounds rest on figures measured with training seeds 0-3 (`TRAIN` below, seed varied): each comment
gives the measured range and what a constant or random prediction scores."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet import api
from irtnet.data.importers import import_table
from irtnet.data.splits import split_by_query
from irtnet.metrics import log_loss
from irtnet.predictors import IrtNet, ModelBenchmarkMean, ModelMean
from irtnet.tasks.benchmark import evaluate_benchmarks
from irtnet.tasks.cost import evaluate_cost
from irtnet.tasks.prices import cost_matrix, prices_from_models, token_counts
from irtnet.tasks.evaluate import score_matrix, training_accuracies
from irtnet.tasks.interpret import difficulty_correlation
from irtnet.tasks.onboard import onboarding_experiment

pytestmark = pytest.mark.shared_data

TRAIN = {"epochs": 4, "lr": 3e-3, "progress": False, "threads": 1}


@pytest.fixture(scope="module")
def data(shared_data):
    import torch

    torch.set_num_threads(1)
    table = import_table("llmrouter", shared_data / "llmrouter-dcrouter")
    return api.prepare(table, "hashing-256")


def test_benchmark_prediction_on_held_out_tasks(data):
    result = evaluate_benchmarks(data, {"irtnet": lambda: IrtNet("small", TRAIN), "model-mean": ModelMean},
                                 benchmarks=["mmlu", "gsm8k"])
    labels = data.table.label_matrix()
    benchmark = data.table.queries["benchmark"].to_numpy(dtype=object)
    trivial_mae = []
    for fold in result.folds:
        assert fold.n_queries > 400 and len(fold.true) == 9
        assert all(0 <= p <= 1 for p in fold.predicted["irtnet"])
        # the trivial reference: every model's accuracy predicted as the mean accuracy of all models on the
        # training benchmarks (every benchmark but the held-out one)
        cols = data.table.model_vocab.index(fold.models)
        level = np.nanmean(labels[benchmark != fold.benchmark][:, cols])
        trivial_mae.append(float(np.mean(np.abs(level - np.asarray(fold.true)))))
        # ranking the models: Spearman 0.72-0.85 on mmlu, 0.90 on gsm8k; a constant prediction has none
        # (NaN), and a random order of 9 models passes 0.6 with probability about 0.05 per fold
        assert fold.metrics["irtnet"]["spearman"] > 0.6, fold.metrics["irtnet"]
    # MAE over the two folds: IrtNet 0.230-0.237, the trivial reference 0.307; predicting 0.5 for every
    # model scores 0.284 and random probabilities 0.283, so 0.04 below the trivial reference (0.267)
    # fails both
    mae = result.summary["irtnet"]["mae"]
    assert mae < np.mean(trivial_mae) - 0.04, (mae, trivial_mae)


def _model_mean_log_loss(data, new_models, fractions=(0.7, 0.1, 0.2), seed=0) -> float:
    """Pooled log loss on the onboarding test queries of each new model's mean label over all its pool
    answers (onboarding_experiment's query split): the label-only counterpart of "all-pool"."""
    split = split_by_query(data.table, fractions, seed)
    pool = data.select(split.train, new_models).table.label_matrix()
    test = data.select(split.test, new_models).table.label_matrix()
    prob, label = [], []
    for j in range(len(new_models)):
        seen = ~np.isnan(test[:, j])
        prob.append(np.full(seen.sum(), np.nanmean(pool[:, j])))
        label.append(test[seen, j])
    return log_loss(np.concatenate(prob), np.concatenate(label))


def test_onboarding_and_cost_and_interpretation(data):
    onb = onboarding_experiment(data, lambda: IrtNet("small", TRAIN), n_test=2, ks=(10, 50),
                                strategies=("d-optimal", "random"), n_random=1)
    table = onb.table("log_loss")
    assert set(table["d-optimal"]) == {10, 50}
    # log loss on the new models' test pairs: the prior mean alone 0.668-0.705, 50 d-optimal answers
    # 0.501-0.526, every pool answer 0.459-0.464; the new models' mean pool label as a constant
    # prediction (same answers, no query network) 0.477. A fit that ignored the answers would stay at the
    # prior, one that caught only each model's level would sit at the constant.
    prior, all_pool = table["prior"][0], table["all-pool"][-1]
    assert all_pool < prior - 0.1 and table["d-optimal"][50] < prior - 0.1, table
    model_mean = _model_mean_log_loss(data, onb.settings["new_models"])
    assert all_pool < model_mean - 0.005, (all_pool, model_mean)

    split = split_by_query(data.table, (0.8, 0.1, 0.1), 0)
    train, val, test = data.select(split.train), data.select(split.val), data.select(split.test)
    model = IrtNet("small", TRAIN).fit(train, val)
    models = list(test.table.model_vocab.ids)
    cost = cost_matrix(prices_from_models(data.table.models), models, token_counts(test.table.queries["text"]))
    labels = test.table.label_matrix()
    probs = {"irtnet": score_matrix(model, test), "mbm": score_matrix(ModelBenchmarkMean().fit(train), test),
             "random": np.random.default_rng(0).random(labels.shape)}
    result = evaluate_cost(probs, labels, cost, models, training_accuracies(train, tuple(models))[0])
    singles = result.single_models
    cheapest = min(singles, key=lambda m: (singles[m]["cost"], -singles[m]["accuracy"]))
    # the single models' frontier starts at the cheapest model and climbs to the most accurate one
    # (0.545 < 0.595 < 0.632 measured): an area on a wrong cost axis falls outside
    assert result.best_single in models
    assert singles[cheapest]["accuracy"] < result.single_area < max(s["accuracy"] for s in singles.values())
    area = {}
    for curve in result.curves:
        costs = np.array([p.cost for p in curve.points])
        step = np.diff(costs) if curve.kind == "budget" else -np.diff(costs)  # lambda up: cost down; budget up: up
        assert all(step >= -1e-15)
        area[curve.router, curve.kind] = curve.area
    # areas (lambda, budget): IrtNet 0.600-0.612 and 0.606-0.615, model-benchmark-mean 0.674 and 0.675,
    # random probabilities 0.545 (their frontier is the cheapest model alone; 5 seeds give the same), the
    # best single models' frontier 0.595. Every router beats random by 0.03; the deterministic mbm beats
    # the single models' frontier by 0.03.
    for kind in ("lambda", "budget"):
        for router in ("irtnet", "mbm"):
            assert area[router, kind] > area["random", kind] + 0.03, area
        assert area["mbm", kind] > result.single_area + 0.03, (area, result.single_area)

    a, b = model.query_parameters(test.queries)
    groups = test.table.queries["benchmark"].to_numpy(dtype=object)
    corr = difficulty_correlation(a, b, probs["irtnet"], labels, groups)
    assert corr["query"]["b"]["pearson"] < 0  # harder predicted, fewer models right

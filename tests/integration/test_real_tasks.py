"""The downstream tasks on one real data set (LLMRouter dcrouter: 9 models, 14 tasks, model prices), with
the hashing encoder and a few epochs so that it runs in about a minute. Checks that each task runs end to
end on real data and that its figures stand in sensible relation to their references."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet import api
from irtnet.data.importers import import_table
from irtnet.data.splits import split_by_query
from irtnet.predictors import IrtNet, ModelBenchmarkMean, ModelMean
from irtnet.tasks.benchmark import evaluate_benchmarks
from irtnet.tasks.cost import cost_matrix, evaluate_cost, prices_from_models, token_counts
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
    for fold in result.folds:
        assert fold.n_queries > 400 and len(fold.true) == 9
        assert all(0 <= p <= 1 for p in fold.predicted["irtnet"])
    assert np.isfinite(result.summary["irtnet"]["mae"]) and result.summary["irtnet"]["mae"] < 0.5


def test_onboarding_and_cost_and_interpretation(data):
    onb = onboarding_experiment(data, lambda: IrtNet("small", TRAIN), n_test=2, ks=(10, 50),
                                strategies=("d-optimal", "random"), n_random=1)
    table = onb.table("log_loss")
    assert table["all-pool"][-1] < table["prior"][0] + 0.05 and set(table["d-optimal"]) == {10, 50}

    split = split_by_query(data.table, (0.8, 0.1, 0.1), 0)
    train, val, test = data.select(split.train), data.select(split.val), data.select(split.test)
    model = IrtNet("small", TRAIN).fit(train, val)
    models = list(test.table.model_vocab.ids)
    cost = cost_matrix(prices_from_models(data.table.models), models, token_counts(test.table.queries["text"]))
    probs = {"irtnet": score_matrix(model, test), "mbm": score_matrix(ModelBenchmarkMean().fit(train), test)}
    result = evaluate_cost(probs, test.table.label_matrix(), cost, models, training_accuracies(train, tuple(models))[0])
    assert result.best_single in models and 0 < result.single_area < 1
    for curve in result.curves:
        costs = np.array([p.cost for p in curve.points])
        step = np.diff(costs) if curve.kind == "budget" else -np.diff(costs)  # lambda up: cost down; budget up: up
        assert all(step >= -1e-15) and 0 < curve.area <= 1

    a, b = model.query_parameters(test.queries)
    groups = test.table.queries["benchmark"].to_numpy(dtype=object)
    corr = difficulty_correlation(a, b, probs["irtnet"], test.table.label_matrix(), groups)
    assert corr["query"]["b"]["pearson"] < 0  # harder predicted, fewer models right

"""Baselines: planted-structure tests whose answer is known (each must beat a trivially wrong reference). The
contract every registered model meets is tests/unit/test_contract.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.embeddings import QueryEmbeddings, embed_queries
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.metrics import auc
from irtnet.predictors import REGISTRY
from irtnet.predictors.baselines import RandomPredictor, UnseenQueryError, fit_2pl, fit_irt
from irtnet.predictors.baselines.knn import KNN
from irtnet.predictors.baselines.linear_mirt import LinearMIRTModule
from irtnet.predictors.baselines.mf import EmbedLLMModule
from irtnet.predictors.baselines.routerdc import cluster_loss, sample_llm_loss
from irtnet.tasks.evaluate import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = {
    "random": {"seed": 3},
    "knn": {"k": 15},
    "embedllm-mf": {"dim": 16, "epochs": 15, "lr": 1e-2, "batch_pairs": 1024},
    "linear-mirt": {"dim": 4, "epochs": 15, "lr": 1e-2, "batch_pairs": 1024},
    "irt-1pl": {}, "irt-2pl": {}, "mirt-2pl": {"dim": 2},
    "routerdc": {"epochs": 8, "hidden": 64, "dim": 32},
}




@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_models=16, n_queries=500, n_benchmarks=3, seed=0)


@pytest.fixture(scope="module")
def data(synth):
    """(train, val, test) split by query, with hashing embeddings of the generated texts."""
    full = Dataset.from_table(synth.table, embed_queries(synth.table, "hashing-256", use_cache=False))
    split = split_by_query(synth.table, (0.7, 0.15, 0.15), seed=0)
    return full.select(split.train), full.select(split.val), full.select(split.test)


def _subtable(table: ResponseTable, rows: np.ndarray) -> ResponseTable:
    resp = table.responses[rows]
    records = pd.DataFrame({"model": resp["model"].astype(str), "query": resp["query"].astype(str),
                            "n_correct": resp["n_correct"], "n_trials": resp["n_trials"]})
    return ResponseTable.from_records(records, queries=table.queries, source="pairs")


@pytest.fixture(scope="module")
def pairs(data):
    """Item-seen protocol: the training queries' pairs split 80/20 (every test query is in training)."""
    train = data[0]
    held = np.random.default_rng(0).random(len(train.table.responses)) < 0.2
    fit_table = _subtable(train.table, ~held)
    fit = Dataset.from_table(fit_table)
    test = Dataset.from_table(_subtable(train.table, held & train.table.responses["query"].astype(str)
                                        .isin(fit_table.query_vocab.ids).to_numpy()))
    return fit, test


def _fit(name: str, data, pairs, **over):
    params = {**FAST[name], **over}
    predictor = REGISTRY[name](**params)
    if getattr(predictor, "item_seen", False):
        return predictor.fit(pairs[0]), pairs[1]
    return predictor.fit(data[0], data[1]), data[2]


@pytest.fixture(scope="module")
def fitted(data, pairs):
    return {name: _fit(name, data, pairs) for name in FAST}


# ---------------------------------------------------------------- the registry, and the contract for every baseline
def test_the_registry_refuses_a_second_class_under_a_taken_name():
    from irtnet.predictors.base import register

    taken = REGISTRY["knn"]
    with pytest.raises(ConfigError, match=r"the model name 'knn' is already registered to .*KNN"):
        @register("knn")
        class Impostor(RandomPredictor):
            pass
    assert REGISTRY["knn"] is taken and taken.name == "knn"
    assert register("knn")(taken) is taken  # the same class again (a module reload) is accepted


# The contract itself (shapes, save/load, determinism, seeds) runs over the whole registry in test_contract.py;
# below are the tests whose answer is known from the planted structure.


@pytest.mark.parametrize("name", ["knn", "embedllm-mf", "linear-mirt"])
def test_text_baselines_beat_the_model_mean(name, fitted, data):
    train, _, test = data
    ours = evaluate(fitted[name][0], train, test).correctness["overall"]["auc"]
    base = evaluate(REGISTRY["model-mean"]().fit(train), train, test).correctness["overall"]["auc"]
    assert ours > base + 0.03, (ours, base)


@pytest.mark.parametrize("name", ["irt-1pl", "irt-2pl", "mirt-2pl"])
def test_item_seen_models_beat_the_model_mean_on_held_out_pairs(name, fitted, pairs):
    fit, test = pairs  # held-out pairs leave every query incomplete: route among labelled models
    ours = evaluate(fitted[name][0], fit, test, routing_mode="observed").correctness["overall"]["auc"]
    base = evaluate(REGISTRY["model-mean"]().fit(fit), fit, test, routing_mode="observed").correctness["overall"]["auc"]
    assert ours > base + 0.05, (ours, base)


@pytest.mark.parametrize("name", ["irt-1pl", "irt-2pl", "mirt-2pl"])
def test_item_seen_model_refuses_an_unseen_query(name, fitted, data):
    predictor = fitted[name][0]
    assert predictor.item_seen
    with pytest.raises(UnseenQueryError, match=rf"{name} has free per-item parameters .* 2 of 3 queries are unseen"):
        predictor.predict_proba(Queries(("new-1", predictor.items_.id(0), "new-2")))


def test_text_baselines_need_embeddings(pairs):
    for name in ("knn", "embedllm-mf", "linear-mirt", "routerdc"):
        with pytest.raises(DataError, match=f"{name} needs query embeddings"):
            REGISTRY[name]().fit(pairs[0])


def test_bad_hyperparameters_are_named(data):
    with pytest.raises(ConfigError, match="knn needs k >= 1"):
        KNN(k=0).fit(data[0])
    with pytest.raises(ConfigError, match="unknown training target 'labels'"):
        REGISTRY["irt-2pl"](target="labels").fit(data[0])
    with pytest.raises(ConfigError, match="invalid embedllm-mf hyperparameters: lr: Input should be greater than 0"):
        REGISTRY["embedllm-mf"](lr=0).fit(data[0])
    with pytest.raises(ConfigError, match="unsupported IRT model kind='1pl' dim=2"):
        fit_irt([0], [0], [1.0], 1, 1, kind="1pl", dim=2)


# ---------------------------------------------------------------- classical IRT: parameter recovery
def test_fit_2pl_recovers_planted_parameters():
    syn = make_synthetic(n_models=30, n_queries=400, dim=1, seed=1)
    t = syn.table
    theta, a, b = fit_2pl(t.model_index(), t.query_index(), t.responses["label"].to_numpy(float),
                          t.n_models, t.n_queries)
    assert theta.shape == (30,) and a.shape == b.shape == (400,) and (a > 0).all()
    assert spearmanr(b, syn.b)[0] > 0.8
    assert spearmanr(theta, syn.theta[:, 0])[0] > 0.9
    assert spearmanr(a, syn.a[:, 0])[0] > 0.4  # 30 answers per item pin the slope only loosely


def test_fit_2pl_uses_observed_pairs_only_and_agrees_with_the_class(synth, pairs):
    fit_data = pairs[0]
    t = fit_data.table
    theta, a, b = fit_2pl(t.model_index(), t.query_index(), t.responses["score"].to_numpy(float),
                          t.n_models, t.n_queries, weight=t.responses["n_trials"].to_numpy(float))
    model = REGISTRY["irt-2pl"]().fit(fit_data)
    np.testing.assert_allclose(model.abilities_[:, 0], theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.difficulty_, b, rtol=1e-6, atol=1e-8)
    truth_b = synth.b[synth.table.query_vocab.index(t.query_vocab.ids)]
    assert spearmanr(b, truth_b)[0] > 0.7  # a 1-d 2PL fitted to a multidimensional truth


def test_irt_missing_pairs_are_not_wrong_answers():
    # model "b" never answered q2: treating the gap as wrong would make q2 look harder than q1
    y = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    fit = fit_irt(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 0, 0, 1]), y, 3, 2, kind="1pl")
    assert fit.converged and fit.b[1] < fit.b[0]


# ---------------------------------------------------------------- KNN
def test_knn_on_training_queries_with_k1_returns_their_own_outcomes(data):
    train = data[0]
    knn = KNN(k=1, prior_strength=0.0).fit(train)
    np.testing.assert_allclose(knn.predict_proba(train.queries), train.table.label_matrix(value="score"))


def test_knn_skips_unlabelled_neighbours_and_shrinks_to_the_model_mean():
    records = pd.DataFrame({"model": ["a", "a", "b", "b", "a", "b"], "query": ["q1", "q2", "q2", "q3", "q3", "q4"],
                            "n_correct": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], "n_trials": 1.0, "benchmark": "x"})
    vectors = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5], [0, 1]], dtype=np.float32)
    toy = Dataset.from_table(ResponseTable.from_records(records),
                             QueryEmbeddings(Vocab("query", ["q1", "q2", "q3", "q4"]), vectors, "toy"))
    new = Queries(("new",), np.array([[1.0, 0.0]], np.float32), encoder="toy")
    # a's nearest labelled query is q1 (right); b never answered q1, so its nearest is q2 (right), not q1 as wrong
    np.testing.assert_allclose(KNN(k=1, prior_strength=0.0).fit(toy).predict_proba(new), [[1.0, 1.0]])
    shrunk = KNN(k=1, prior_strength=1.0).fit(toy)
    np.testing.assert_allclose(shrunk.predict_proba(new), [(1 + shrunk.model_mean_) / 2])


# ---------------------------------------------------------------- networks: one forward, two paths
@pytest.mark.parametrize("module", [EmbedLLMModule(8, 5, 4, 0.0), LinearMIRTModule(8, 5, 3)])
def test_pair_and_dense_logits_agree(module):
    torch.manual_seed(0)
    x = torch.randn(6, 8)
    q, m = torch.tensor([0, 0, 3, 5, 2]), torch.tensor([1, 4, 0, 2, 2])
    module.eval()
    torch.testing.assert_close(module(x, pairs=(q, m)).logits, module(x).logits[q, m])


# ---------------------------------------------------------------- random and RouterDC
def test_random_is_a_seeded_coin_flip_independent_of_batching(data):
    train, _, test = data
    rnd = RandomPredictor(seed=7).fit(train)
    full = rnd.predict_proba(test.queries)
    np.testing.assert_array_equal(rnd.predict_proba(test.queries.take(slice(5, 9)))[:, 2:], full[5:9, 2:])
    np.testing.assert_array_equal(rnd.predict_proba(test.queries, list(train.table.model_vocab.ids[2:])), full[:, 2:])
    assert np.abs(full - 0.5).max() <= 0.5e-6
    assert not np.array_equal(RandomPredictor(seed=8).fit(train).predict_proba(test.queries), full)
    labels = test.table.label_matrix()
    assert abs(auc(full[~np.isnan(labels)], labels[~np.isnan(labels)]) - 0.5) < 0.05


def test_routerdc_routes_better_than_random(fitted, data):
    router, test = fitted["routerdc"]
    result = evaluate(router, data[0], test)
    assert result.correctness is None
    assert result.routing.micro > result.routing.references["random"]["micro"] + 0.1


def test_routerdc_trains_in_the_one_loop_with_its_own_objective_and_early_stopping(fitted):
    router, _ = fitted["routerdc"]
    history = router.result_.history
    assert history is router.history_ and {"train_loss", "val_routing", "lr"} <= set(history[0])
    best = max(row["val_routing"] for row in history)
    assert history[router.best_epoch_ - 1]["val_routing"] == best  # the best epoch's weights were kept
    assert router._train_config().optimizer == "adamw" and router._train_config().batch_queries == router.batch_size


def test_routerdc_losses_ignore_unlabelled_and_tied_models():
    sim = torch.tensor([[0.9, -0.5, 0.1, 0.0]], requires_grad=True)
    outcome = torch.tensor([[1.0, 0.0, float("nan"), 1.0]])
    loss = sample_llm_loss(sim, outcome, top_k=2, last_k=2, temperature=1.0, tie_break=torch.zeros(1, 4))
    loss.backward()
    assert sim.grad[0, 2] == 0  # the unlabelled model is neither a positive nor a negative
    assert sim.grad[0, 0] < 0 and sim.grad[0, 3] < 0 and sim.grad[0, 1] > 0
    assert sample_llm_loss(sim, torch.ones(1, 4), 2, 2, 1.0, torch.zeros(1, 4)) == 0  # all right: no negative
    h = torch.randn(6, 4)
    gen = torch.Generator().manual_seed(0)
    assert cluster_loss(h, torch.zeros(6, dtype=torch.long), 3, 1.0, gen) == 0  # one cluster: no negative
    assert cluster_loss(h, torch.tensor([0, 0, 0, 1, 1, 1]), 3, 1.0, gen) > 0

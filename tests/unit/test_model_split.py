"""Replaying the known models on auxiliary networks trained without them (tasks/model_split.py)."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet.api.data import prepare
from irtnet.api.experiments import factory
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.predictors.spec import ModelSpec
from irtnet.tasks.estimation_protocol import evaluate_estimation
from irtnet.tasks.model_split import fold_networks, fold_priors, model_folds, replay_on_folds
from irtnet.tasks.onboard import population_prior

SMALL = ModelSpec(preset="small", params={"train": {"epochs": 2, "progress": False}})


@pytest.fixture(scope="module")
def data(one_torch_thread):
    synth = make_synthetic(n_models=8, n_queries=300, n_benchmarks=2, dim=2, feature_dim=8, seed=1)
    return prepare(synth.table, "hashing-64")


@pytest.mark.parametrize("n, folds", [(7, 5), (7, 7), (3, 10), (10, 2)])
def test_folds_partition_the_models_evenly(n, folds):
    parts = model_folds(n, folds, seed=3)
    assert len(parts) == min(n, folds)
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [p.tolist() for p in parts] == [p.tolist() for p in model_folds(n, folds, seed=3)]


def test_folds_refuse_too_few_folds_or_models():
    with pytest.raises(ConfigError, match="at least 2 folds"):
        model_folds(7, 1, 0)
    with pytest.raises(ConfigError, match="at least 3 known models"):
        model_folds(2, 2, 0)


def test_each_fold_is_replayed_on_a_network_that_never_saw_it(data):
    trained_on: list[list[str]] = []
    fitted = []

    def make():
        est = factory(SMALL)()
        fit = est.fit

        def recording_fit(train, val=None):
            trained_on.append(list(train.table.model_vocab.ids))
            fitted.append(fit(train, val))
            return fitted[-1]
        est.fit = recording_fit
        return est

    known_ids = list(data.table.model_vocab.ids)[:6]
    train = data.select(model_ids=known_ids)
    labels = train.table.label_matrix(model_ids=known_ids)
    nets = fold_networks(make, train, None, train.queries, known_ids, folds=3, seed=0)
    replay, priors = replay_on_folds(nets, labels, prior_sd=0.0, prior_kind="isotropic")
    assert len(replay) == len(trained_on) == 3 and len(priors) == len(known_ids)
    assert sorted(np.concatenate([cols for _, _, cols in replay]).tolist()) == list(range(6))
    for (a, b, cols), names, est in zip(replay, trained_on, fitted):
        assert a.shape == (train.table.n_queries, est.abilities_.shape[1]) and b.shape == (train.table.n_queries,)
        assert not {known_ids[c] for c in cols} & set(names)  # the fold's models were not trained on
        assert sorted(names) == sorted(set(known_ids) - {known_ids[c] for c in cols})
        ref_a, ref_b = est.query_parameters(train.queries)  # prior_sd 0: the auxiliary network's own items
        np.testing.assert_allclose(a, ref_a, rtol=1e-6)
        np.testing.assert_allclose(b, ref_b, rtol=1e-6)
        expected = population_prior(np.asarray(est.abilities_, np.float64), 1.0, "isotropic")
        for c in cols:  # each replayed model's prior: the auxiliary network's abilities, itself not among them
            np.testing.assert_allclose(priors[c].precision, expected.precision)
            np.testing.assert_allclose(priors[c].mean, expected.mean)
    weak = fold_priors(nets, len(known_ids), "isotropic", 0.5)  # another strength (auto, at another N)
    for net, est in zip(nets, fitted):
        half = population_prior(np.asarray(est.abilities_, np.float64), 0.5, "isotropic")
        for c in net.cols:
            np.testing.assert_allclose(weak[c].precision, half.precision)


def test_protocol_records_the_model_split_and_checks_it(data):
    make = factory(SMALL)
    with pytest.raises(ConfigError, match="replay folds must be 0"):
        evaluate_estimation(data, make, ns=(10,), draws=1, replay_folds=1)
    out = evaluate_estimation(data, make, ns=(20,), draws=1, methods=["irtnet-random", "mean-random"],
                              replay_folds=2, n_draws=100, n_boot=100)
    assert out.settings["replay_folds"] == 2
    cells = [c for c in out.cells if c.method == "irtnet-random"]
    assert cells and all(c.lower <= c.estimate <= c.upper for c in cells)
    auto = evaluate_estimation(data, make, ns=(20,), draws=1, methods=["irtnet-random"], replay_folds=2,
                               n_draws=100, n_boot=100, prior_strength=None)  # the replay follows the strength at N
    (record,) = auto.settings["item_refit"]["per_draw"]
    assert record["strength_chosen"] and "20" in record["strength_at"]
    assert all(c.lower <= c.estimate <= c.upper for c in auto.cells)


def test_replay_on_folds_refuses_folds_that_leave_a_known_model_out():
    from irtnet.tasks.model_split import FoldNetwork, replay_on_folds

    rng = np.random.default_rng(0)
    labels = (rng.random((20, 4)) < 0.5).astype(float)
    net = FoldNetwork(np.array([0, 1]), np.array([2, 3]), rng.normal(size=(20, 2)), rng.normal(size=20),
                      rng.normal(size=(2, 2)))
    with pytest.raises(ConfigError, match=r"no fold holds known model column\(s\) \[2, 3\]"):
        replay_on_folds([net], labels, 0.0, "isotropic")
    other = FoldNetwork(np.array([2, 3]), np.array([0, 1]), net.a, net.b, net.theta)
    replay, priors = replay_on_folds([net, other], labels, 0.0, "isotropic")
    assert [cols.tolist() for _, _, cols in replay] == [[0, 1], [2, 3]] and len(priors) == 4
    assert priors[0] is priors[1] and priors[2] is priors[3] and priors[0] is not priors[2]

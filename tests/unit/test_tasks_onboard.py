"""Onboarding a new model from few answers: the convex fit, the adaptive selection and the evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from irtnet.data.dataset import Dataset
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.tasks.onboard import (
    ALL, evaluate_onboarding, fisher_weight, fit_theta, onboard_sequence, population_prior, suggest_queries,
    with_new_model,
)


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_models=40, n_queries=3000, n_benchmarks=4, dim=3, feature_dim=8, seed=1)


def _labels(synth, m, seed=0):
    return (np.random.default_rng(seed).random(len(synth.b)) < synth.prob[:, m]).astype(float)


def test_fit_theta_matches_a_generic_optimiser():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=40)
    y = (rng.random(40) < 0.6).astype(float)
    mu, prec = np.array([0.2, -0.1, 0.0]), np.diag([2.0, 1.0, 0.5])

    def loss(t):
        z = a @ t - b
        return np.sum(np.logaddexp(0, z) - y * z) + 0.5 * (t - mu) @ prec @ (t - mu)

    ref = minimize(loss, mu, method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(fit_theta(a, b, y, mu, prec), ref, atol=1e-5)
    np.testing.assert_array_equal(fit_theta(a[:0], b[:0], y[:0], mu, prec), mu)  # no answers: the prior mean


def test_fit_theta_rejects_mismatched_shapes():
    with pytest.raises(DataError, match="shapes do not match"):
        fit_theta(np.zeros((3, 2)), np.zeros(3), np.zeros(2), np.zeros(2), np.eye(2))


def test_population_prior_kinds_and_errors():
    theta = np.random.default_rng(0).normal(size=(20, 3)) * [1.0, 2.0, 3.0]
    iso = population_prior(theta)
    np.testing.assert_allclose(iso.mean, theta.mean(axis=0))
    np.testing.assert_allclose(np.diag(iso.precision), 1 / theta.var(axis=0).mean())
    pop = population_prior(theta, kind="population")
    assert pop.precision[0, 0] > pop.precision[2, 2]  # tighter along the narrow direction
    with pytest.raises(DataError, match="at least two known models"):
        population_prior(theta[:1])
    with pytest.raises(ConfigError, match="unknown prior kind"):
        population_prior(theta, kind="flat")
    with pytest.raises(ConfigError, match="must be positive"):
        population_prior(theta, strength=0)


def _recovery_error(synth, strategy, k, models=range(30, 40), seeds=(0,)):
    prior = population_prior(synth.theta[:30])
    errors = []
    for m in models:
        y = _labels(synth, m)
        for seed in seeds:
            path = onboard_sequence(synth.a, synth.b, lambda i: y[i], prior, [k], strategy, seed)
            errors.append(np.linalg.norm(path.thetas[k] - synth.theta[m]))
    return float(np.mean(errors))


def test_planted_theta_is_recovered_better_with_more_answers(synth):
    prior = population_prior(synth.theta[:30])
    no_answers = np.mean([np.linalg.norm(prior.mean - synth.theta[m]) for m in range(30, 40)])
    errs = [_recovery_error(synth, "random", k, seeds=(0, 1)) for k in (10, 50, 400)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.5 * no_answers


def test_adaptive_selection_beats_random_at_equal_answers(synth):
    random50 = _recovery_error(synth, "random", 50, seeds=(0, 1, 2))
    assert _recovery_error(synth, "d-optimal", 50) < 0.7 * random50
    assert _recovery_error(synth, "fisher", 50) < random50


def test_adaptive_picks_informative_unasked_candidates(synth):
    prior = population_prior(synth.theta[:30])
    y = _labels(synth, 35)
    allowed = np.zeros(len(synth.b), bool)
    allowed[::3] = True
    path = onboard_sequence(synth.a, synth.b, lambda i: y[i], prior, [5, 20], "d-optimal", candidates=allowed)
    assert len(set(path.order)) == 20 and allowed[path.order].all()
    assert set(path.thetas) == {5, 20}
    # the first pick maximises p(1-p) a^T P^-1 a at the prior mean
    gain = fisher_weight(synth.a, synth.b, prior.mean) * np.einsum(
        "nd,de,ne->n", synth.a, np.linalg.inv(prior.precision), synth.a)
    assert path.order[0] == int(np.argmax(np.where(allowed, gain, -np.inf)))
    with pytest.raises(ConfigError, match="unknown strategy"):
        onboard_sequence(synth.a, synth.b, lambda i: 0.0, prior, [5], "greedy")


def test_suggest_queries_are_distinct_and_spread(synth):
    prior = population_prior(synth.theta[:30])
    picks = suggest_queries(synth.a, synth.b, prior.mean, prior, synth.a[:0], synth.b[:0], n=6)
    assert len(set(picks)) == 6
    # D-optimal spreads over directions: its picks are less aligned than the plain Fisher picks
    fisher = suggest_queries(synth.a, synth.b, prior.mean, prior, synth.a[:0], synth.b[:0], n=6, strategy="fisher")

    def alignment(idx):
        u = synth.a[idx] / np.linalg.norm(synth.a[idx], axis=1, keepdims=True)
        return np.abs(u @ u.T)[np.triu_indices(len(idx), 1)].mean()

    assert alignment(picks) <= alignment(fisher) + 1e-9


class Truth:
    """The planted query parameters and known abilities, as the frozen network would give them."""

    def __init__(self, synth, known):
        self.synth, self.abilities_ = synth, synth.theta[known]

    def query_parameters(self, queries):
        rows = self.synth.table.query_vocab.index(list(queries.ids))
        return self.synth.a[rows], self.synth.b[rows]


def test_evaluate_onboarding_rows(synth):
    data = Dataset.from_table(synth.table, synth.features)
    models = synth.table.model_vocab.ids
    ids = synth.table.query_vocab.ids
    pool = data.select(ids[:2000], models[30:34])
    test = data.select(ids[2000:], models[30:34])
    result = evaluate_onboarding(Truth(synth, slice(0, 30)), pool, test, ks=(10, 50), n_random=2)
    table = result.table("log_loss")
    assert set(table) == {"prior", "all-pool", "d-optimal", "fisher", "random", "answer-mean", "answer-benchmark-mean"}
    assert set(table["random"]) == {10, 50} and set(table["all-pool"]) == {ALL}
    assert table["all-pool"][ALL] < table["d-optimal"][50] < table["prior"][0]
    assert table["d-optimal"][50] < table["answer-mean"][50]
    assert result.to_dict()["settings"]["new_models"] == list(models[30:34])


@pytest.mark.parametrize("groups", [False, True])
def test_with_new_model_appends_an_ability(groups):
    from irtnet.predictors import IrtNet
    from irtnet.predictors.irtnet import resolve_config

    small = make_synthetic(n_models=4, n_queries=200, n_benchmarks=2, dim=2, feature_dim=4, seed=0)
    data = Dataset.from_table(small.table, small.features)
    config = resolve_config("small").model_copy(update={"use_groups": groups})
    model = IrtNet(config, {"epochs": 1, "progress": False, "threads": 1}).fit(data)
    theta = np.full(model.abilities_.shape[1], 0.5, np.float32)
    bigger = with_new_model(model, "newcomer", theta)
    assert bigger.models_.to_list()[-1] == "newcomer"
    np.testing.assert_allclose(bigger.abilities_[-1], theta)
    np.testing.assert_allclose(bigger.predict_proba(data.queries, model.models_.to_list()),
                               model.predict_proba(data.queries), atol=1e-6)
    with pytest.raises(ConfigError, match="already known"):
        with_new_model(model, model.models_.id(0), theta)
    with pytest.raises(DataError, match="theta has shape"):
        with_new_model(model, "x", np.zeros(3))


def test_content_balancing_follows_benchmark_shares(synth):
    prior = population_prior(synth.theta[:30])
    y = _labels(synth, 31)
    groups = synth.table.queries["benchmark"].to_numpy(dtype=object)
    share = {g: np.mean(groups == g) for g in set(groups)}
    for strategy in ("d-optimal-balanced", "random-balanced"):
        path = onboard_sequence(synth.a, synth.b, lambda i: y[i], prior, [40], strategy, groups=groups)
        asked = groups[path.order]
        for g, s in share.items():
            assert abs(np.sum(asked == g) - 40 * s) <= 1.5  # never more than about one pick off its share
    with pytest.raises(ConfigError, match="needs the benchmark of each pool query"):
        onboard_sequence(synth.a, synth.b, lambda i: 0.0, prior, [5], "d-optimal-balanced")

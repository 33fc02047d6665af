"""The dense Fisher-scoring 2PL (`fit_2pl_newton`): it finds the MAP of its stated objective, recovers planted
parameters, treats missing answers as missing, adds repeated pairs up, and refuses bad input by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from irtnet.data.dataset import Dataset
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import REGISTRY
from irtnet.predictors.baselines import fit_2pl_newton


def planted(n_models: int, n_items: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta, a, beta = rng.normal(0, 1, n_models), rng.uniform(0.5, 2.0, n_items), rng.normal(0, 1, n_items)
    p = 1 / (1 + np.exp(-a[:, None] * (theta[None, :] - beta[:, None])))
    y = (rng.random((n_items, n_models)) < p).astype(float)
    item, model = np.indices(y.shape).reshape(2, -1)
    return theta, a, beta, model, item, y.reshape(-1)


def neg_log_posterior(theta, u, beta, model, item, y, a_std=1.0, beta_std=1.0):
    logit = torch.exp(u)[item] * (theta[model] - beta[item])
    nll = torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.as_tensor(y), reduction="sum")
    return nll + 0.5 * ((theta ** 2).sum() + (u ** 2).sum() / a_std ** 2 + (beta ** 2).sum() / beta_std ** 2)


def test_the_fit_is_a_stationary_point_of_its_objective():
    _, _, _, model, item, y = planted(40, 300, seed=1)
    fit = fit_2pl_newton(model, item, y, 40, 300, tol=1e-10, max_iter=500)
    assert fit.converged
    a = fit.a[:, 0]
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for v in (fit.theta[:, 0], np.log(a), fit.b / a)]
    loss = neg_log_posterior(*params, torch.as_tensor(model), torch.as_tensor(item), y)
    loss.backward()
    grad = torch.cat([p.grad for p in params])
    # float32 cells: the gradient is tiny beside the objective's scale (12,000 answers)
    assert float(grad.abs().max()) < 5e-2, float(grad.abs().max())  # 1.2 after 3 sweeps
    assert fit.loss == pytest.approx(float(loss.detach()) / len(y), rel=1e-5)


def test_recovers_planted_parameters():
    theta, a, beta, model, item, y = planted(100, 2000, seed=2)
    fit = fit_2pl_newton(model, item, y, 100, 2000)
    est_a = fit.a[:, 0]
    assert fit.converged and fit.n_iter < 30 and (est_a > 0).all()
    assert pearsonr(fit.b / est_a, beta)[0] > 0.95
    assert pearsonr(fit.theta[:, 0], theta)[0] > 0.98
    assert pearsonr(est_a, a)[0] > 0.7


def test_missing_answers_are_missing_not_wrong():
    theta, a, beta, model, item, y = planted(30, 200, seed=3)
    keep = np.random.default_rng(0).random(len(y)) < 0.7
    sparse = fit_2pl_newton(model[keep], item[keep], y[keep], 30, 200)
    # "missing" filled in as wrong answers: every item looks harder
    filled = fit_2pl_newton(model, item, np.where(keep, y, 0.0), 30, 200)
    beta_sparse, beta_filled = sparse.b / sparse.a[:, 0], filled.b / filled.a[:, 0]
    assert pearsonr(beta_sparse, beta)[0] > 0.85
    assert np.mean(beta_filled - filled.theta.mean()) > np.mean(beta_sparse - sparse.theta.mean()) + 0.3


def test_repeated_pairs_add_up_like_weights():
    _, _, _, model, item, y = planted(20, 100, seed=4)
    twice = fit_2pl_newton(np.r_[model, model], np.r_[item, item], np.r_[y, y], 20, 100)
    weighted = fit_2pl_newton(model, item, y, 20, 100, weight=np.full(len(y), 2.0))
    np.testing.assert_allclose(twice.b, weighted.b, atol=1e-5)
    np.testing.assert_allclose(twice.theta, weighted.theta, atol=1e-5)


def test_bad_input_is_refused_by_name():
    with pytest.raises(DataError, match="model_idx"):
        fit_2pl_newton([0, 5], [0, 0], [1.0, 0.0], 2, 1)
    with pytest.raises(DataError, match="outcomes y"):
        fit_2pl_newton([0, 1], [0, 0], [1.0, np.nan], 2, 1)
    with pytest.raises(DataError, match="weight"):
        fit_2pl_newton([0, 1], [0, 0], [1.0, 0.0], 2, 1, weight=[1.0, -1.0])
    with pytest.raises(DataError, match="non-empty"):
        fit_2pl_newton([], [], [], 2, 1)
    with pytest.raises(ConfigError, match="fit_irt"):
        fit_2pl_newton([0], [0], [1.0], 100_000, 100_000)


def test_the_predictor_uses_it_and_agrees_on_ranks():
    data = Dataset.from_table(make_synthetic(n_models=25, n_queries=300, dim=1, seed=5).table)
    newton = REGISTRY["irt-2pl"](solver="newton", b_std=1.0).fit(data)
    lbfgs = REGISTRY["irt-2pl"]().fit(data)
    assert newton.fit_info_["converged"]
    assert pearsonr(newton.abilities_[:, 0], lbfgs.abilities_[:, 0])[0] > 0.99
    probs = newton.predict_proba(data.queries)
    assert probs.shape == (300, 25) and np.isfinite(probs).all()
    with pytest.raises(ConfigError, match="unknown solver"):
        REGISTRY["irt-2pl"](solver="sgd").fit(data)

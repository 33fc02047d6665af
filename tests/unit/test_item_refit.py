"""Item parameters refitted on the known models' answers (`irtnet.tasks.item_refit`): they move toward the
truth when the text's parameters are off, stay put at prior sd 0, and the prior is chosen on the known models."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet.errors import ConfigError, DataError
from irtnet.tasks.estimate import estimate_accuracy
from irtnet.tasks.item_refit import (ITEM_PRIOR_GRID, PRIOR_KINDS, STRENGTH_GRID, choose_priors, refit_for_new_models,
                                    refit_items)
from irtnet.tasks.onboard import population_prior


def planted(noise: float, n_models: int = 40, n_items: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, (n_models, 2))
    a, b = rng.uniform(0.3, 1.5, (n_items, 2)), rng.normal(0, 1, n_items)
    labels = (rng.random((n_items, n_models)) < 1 / (1 + np.exp(-(a @ theta.T - b[:, None])))).astype(float)
    labels[rng.random(labels.shape) < 0.1] = np.nan  # some answers missing: missing, not wrong
    groups = np.array(["x", "y"])[rng.integers(0, 2, n_items)]
    return theta, a, b, a + rng.normal(0, noise, a.shape), b + rng.normal(0, noise, b.shape), labels, groups


def test_refit_moves_off_parameters_toward_the_truth():
    theta, a, b, a_text, b_text, labels, _ = planted(noise=0.6)
    ra, rb = refit_items(a_text, b_text, labels, theta, prior_sd=1.0)
    assert np.abs(rb - b).mean() < 0.7 * np.abs(b_text - b).mean()
    assert np.abs(ra - a).mean() < 0.8 * np.abs(a_text - a).mean()
    same_a, same_b = refit_items(a_text, b_text, labels, theta, prior_sd=0.0)
    np.testing.assert_array_equal(same_a, a_text)
    np.testing.assert_array_equal(same_b, b_text)


@pytest.mark.parametrize("n_models, prior_sd", [(3, 0.3), (6, 1.0), (9, 3.0)])
def test_fewer_models_than_parameters_take_the_models_sized_newton_step_to_the_same_fit(n_models, prior_sd,
                                                                                       monkeypatch):
    """With M known models below d + 1 parameters the refit solves M-sized systems (Woodbury); the result is the
    (d + 1)-sized solve's, each Newton step and so the fit."""
    from irtnet.tasks import item_refit
    from irtnet.tasks.item_refit import _step_in_models, _step_in_parameters

    rng = np.random.default_rng(n_models)
    d, q = 12, 50
    x = np.hstack([rng.normal(0, 1, (n_models, d)), -np.ones((n_models, 1))])
    grad, weights = rng.normal(0, 1, (q, d + 1)), rng.uniform(0, 0.25, (q, n_models))
    weights[rng.random(weights.shape) < 0.3] = 0.0  # unanswered: no curvature
    c = 1 / prior_sd ** 2
    np.testing.assert_allclose(_step_in_models(grad, weights, x, c), _step_in_parameters(grad, weights, x, c),
                               rtol=1e-9, atol=1e-11)
    theta = x[:, :d]
    a, b = rng.normal(0, 0.5, (q, d)), rng.normal(0, 1, q)
    labels = (rng.random((q, n_models)) < 0.6).astype(float)
    labels[rng.random(labels.shape) < 0.2] = np.nan
    calls = []
    monkeypatch.setattr(item_refit, "_step_in_models", lambda *args: calls.append(1) or _step_in_models(*args))
    ra, rb = refit_items(a, b, labels, theta, prior_sd)
    monkeypatch.setattr(item_refit, "_step_in_models", _step_in_parameters)  # the direct solve, as before
    da, db = refit_items(a, b, labels, theta, prior_sd)
    assert len(calls) == item_refit.NEWTON_STEPS and np.abs(rb - b).max() > 1e-3  # it ran, and moved the items
    np.testing.assert_allclose(np.column_stack([ra, rb]), np.column_stack([da, db]), rtol=1e-8, atol=1e-10)


def test_an_item_nobody_answered_keeps_its_text_parameters():
    theta, _, _, a_text, b_text, labels, _ = planted(noise=0.6)
    labels[5] = np.nan
    ra, rb = refit_items(a_text, b_text, labels, theta, prior_sd=1.0)
    np.testing.assert_allclose(ra[5], a_text[5])
    assert rb[5] == pytest.approx(b_text[5])


def test_the_prior_is_chosen_on_the_known_models():
    theta, a, b, a_text, b_text, labels, groups = planted(noise=0.8)
    kind, sd, scores = choose_priors(a_text, b_text, groups, labels, theta, n_answers=50)
    assert len(scores) == len(PRIOR_KINDS) * len(ITEM_PRIOR_GRID) and kind in PRIOR_KINDS
    assert scores[f"{kind} {sd}"] == min(scores.values())
    assert sd > 0 and scores[f"{kind} {sd}"] < scores[f"{kind} 0.0"]  # the text's parameters are far off: refit
    _, _, exact = choose_priors(a, b, groups, labels, theta, n_answers=50)
    assert exact["isotropic 0.0"] < exact["isotropic 3.0"]  # exact parameters: a loose refit only adds noise
    assert choose_priors(a, b, groups, labels[:, :3], theta[:3]) == ("isotropic", 0.0, {})  # too few known models


def test_mismatched_shapes_are_refused():
    theta, _, _, a_text, b_text, labels, _ = planted(noise=0.1)
    with pytest.raises(DataError, match="known labels"):
        refit_items(a_text, b_text, labels[:, :5], theta, 1.0)


def test_the_known_models_are_replayed_out_of_sample():
    theta, a, b, a_text, b_text, labels, groups = planted(noise=0.6)
    fit = refit_for_new_models(a_text, b_text, groups, labels, theta, theta, n_answers=50)
    assert fit.record["prior_sd"] > 0 and fit.replay is not None
    cols = np.sort(np.concatenate([c for _, _, c in fit.replay]))
    np.testing.assert_array_equal(cols, np.arange(labels.shape[1]))  # each known model replayed once
    for ra, rb, own in fit.replay:  # on items refitted on the other half only
        other = np.setdiff1d(np.arange(labels.shape[1]), own)
        want_a, want_b = refit_items(a_text, b_text, labels[:, other], theta[other], fit.record["prior_sd"])
        np.testing.assert_allclose(ra, want_a)
        np.testing.assert_allclose(rb, want_b)
    all_a, _ = refit_items(a_text, b_text, labels, theta, fit.record["prior_sd"])
    np.testing.assert_allclose(fit.a, all_a)  # the estimate itself runs on items refitted on every known model
    few = refit_for_new_models(a_text, b_text, groups, labels[:, :3], theta[:3], theta)
    assert few.replay is None and few.a is a_text and few.record["prior_sd"] == 0.0


def test_a_regrouped_replay_on_equal_items_is_the_plain_replay():
    theta, a, b, _, _, labels, groups = planted(noise=0.6)
    prior = population_prior(theta)
    answered = np.arange(0, 400, 4)
    y = np.nan_to_num(labels[answered, 0])
    plain = estimate_accuracy(a, b, groups, answered, y, prior, known_labels=labels, known_theta=theta)
    halves = [(a, b, np.arange(0, 20)), (a, b, np.arange(20, 40))]
    split = estimate_accuracy(a, b, groups, answered, y, prior, known_labels=labels, known_theta=theta,
                              replay_items=halves)
    for p, s in zip(plain, split):
        assert s.estimate == pytest.approx(p.estimate) and s.upper - s.lower == pytest.approx(p.upper - p.lower)


def test_each_known_model_is_replayed_under_a_prior_built_without_it():
    theta, _, _, a_text, b_text, labels, groups = planted(noise=0.6, n_models=8)
    fit = refit_for_new_models(a_text, b_text, groups, labels, theta, theta, n_answers=50)
    assert fit.replay_priors is not None and len(fit.replay_priors) == 8
    kind, strength = fit.record["prior_kind"], fit.record["prior_strength"]  # the chosen kind and strength
    for m, own in enumerate(fit.replay_priors):
        want = population_prior(np.delete(theta, m, axis=0), strength, kind)
        np.testing.assert_allclose(own.mean, want.mean)
        np.testing.assert_allclose(own.precision, want.precision)
        assert not np.allclose(own.mean, fit.prior.mean)  # not the new model's prior over all eight
    few = refit_for_new_models(a_text, b_text, groups, labels[:, :3], theta[:3], theta[:3])
    assert few.replay_priors is not None and len(few.replay_priors) == 3  # isotropic, still without itself


@pytest.mark.parametrize("weight", ["pooled", "per-benchmark"])
def test_the_replay_interval_is_students_for_few_known_models(weight):
    from scipy.stats import t as student_t

    from irtnet.numeric import irt_probability
    from irtnet.tasks.estimate import laplace_posterior
    from irtnet.tasks.estimate_replay import _leverage, _replayed, replay_errors

    theta, a, b, _, _, labels, groups = planted(noise=0.0, n_models=6)
    labels = np.nan_to_num(labels, nan=0.0)
    prior = population_prior(theta)
    answered = np.arange(0, 400, 5)
    y = labels[answered, 0]
    got = {e.benchmark: e for e in estimate_accuracy(a, b, groups, answered, y, prior, known_labels=labels,
                                                     known_theta=theta, replay_weight=weight)}
    theta_new, _ = laplace_posterior(a, b, answered, y, prior)
    replay = replay_errors(a, b, groups.astype(object), answered, labels, [prior] * 6)
    pooled = _replayed(*(np.concatenate([v[k] for v in replay.values()]) for k in (0, 1)))[0]
    for g, (e, d, _) in replay.items():
        lam, mse = _replayed(e, d, pooled if weight == "pooled" else None)
        n_g, n_free = np.sum(groups == g), np.sum(groups[np.setdiff1d(np.arange(400), answered)] == g)
        ans = answered[groups[answered] == g]  # the new model's own residual there: the fitted weight's leverage
        d_new = float(np.mean(y[groups[answered] == g] - irt_probability(theta_new, a[ans], b[ans])))
        assert _leverage(d_new, d) > 1
        half = student_t.ppf(0.95, 5) * np.sqrt(mse * 6 / 5 * _leverage(d_new, d)) * n_free / n_g
        est = got[g]
        assert est.upper - est.lower == pytest.approx(min(est.estimate + half, 1) - max(est.estimate - half, 0))
        free = np.setdiff1d(np.flatnonzero(groups == g), answered)
        mean = irt_probability(theta_new, a[free], b[free]).mean() + lam * d_new
        assert est.estimate == pytest.approx(np.clip((y[groups[answered] == g].sum() + len(free) * mean) / n_g, 0, 1))
    with pytest.raises(DataError, match="replay priors"):
        replay_errors(a, b, groups.astype(object), answered, labels, [prior] * 5)
    with pytest.raises(DataError, match="replay priors"):
        estimate_accuracy(a, b, groups, answered, y, prior, known_labels=labels, replay_priors=[prior] * 5)


def _strength_of(labels_theta_scale: float, given_theta_scale: float) -> tuple[float, dict[str, float]]:
    """The strength chosen when labels come from abilities scaled by one factor and the checkpoint's known
    abilities (what the prior is built from) by another."""
    theta, a, b, _, _, _, groups = planted(noise=0.0, n_models=24)
    rng = np.random.default_rng(3)
    truth = labels_theta_scale * theta
    labels = (rng.random((len(b), len(theta))) < 1 / (1 + np.exp(-(a @ truth.T - b[:, None])))).astype(float)
    fit = refit_for_new_models(a, b, groups, labels, given_theta_scale * theta, given_theta_scale * theta,
                               n_answers=30, strength=None)
    assert fit.record["strength_chosen"] and fit.record["prior_strength"] in STRENGTH_GRID
    scores = fit.record["strength_scores"]
    assert scores[str(fit.record["prior_strength"])] == min(scores.values())
    return fit.record["prior_strength"], scores


def test_the_ability_prior_strength_is_chosen_on_the_known_models():
    # the checkpoint's abilities understate the models' spread: a prior built from them pulls too hard
    narrow, scores = _strength_of(labels_theta_scale=1.0, given_theta_scale=0.3)
    assert narrow < 1.0 and scores[str(narrow)] < scores["1.0"]
    # they overstate it (the models answer alike): a stronger pull than the spread says helps
    wide, scores = _strength_of(labels_theta_scale=0.2, given_theta_scale=1.0)
    assert wide > 1.0 and scores[str(wide)] < scores["1.0"]


def test_a_given_strength_is_kept_and_a_bad_one_refused():
    theta, a, b, a_text, b_text, labels, groups = planted(noise=0.3, n_models=12)
    fit = refit_for_new_models(a_text, b_text, groups, labels, theta, theta, n_answers=30, strength=0.5)
    assert fit.record["prior_strength"] == 0.5 and not fit.record["strength_chosen"]
    np.testing.assert_allclose(fit.prior.precision, population_prior(theta, 0.5, fit.record["prior_kind"]).precision)
    few = refit_for_new_models(a_text, b_text, groups, labels[:, :3], theta[:3], theta, n_answers=30)
    assert few.record["prior_strength"] == 1.0 and not few.record["strength_chosen"]  # too few to choose on
    with pytest.raises(ConfigError, match="strength must be positive"):
        refit_for_new_models(a_text, b_text, groups, labels, theta, theta, strength=0.0)


def test_the_strength_can_be_scored_on_held_out_queries():
    """Scored on fresh queries (the protocol passes its validation queries), the choice follows the same truth:
    a prior built from understated abilities pulls too hard, from overstated ones too little."""
    theta, a, b, _, _, _, groups = planted(noise=0.0, n_models=24)
    rng = np.random.default_rng(4)
    a_new, b_new = rng.uniform(0.3, 1.5, (200, 2)), rng.normal(0, 1, 200)
    chosen = {}
    for truth_scale, given_scale in ((1.0, 0.3), (0.2, 1.0)):
        truth = truth_scale * theta
        labels, held_y = ((rng.random((len(bb), len(theta))) < 1 / (1 + np.exp(-(aa @ truth.T - bb[:, None]))))
                          .astype(float) for aa, bb in ((a, b), (a_new, b_new)))
        held_y[:5, 0] = np.nan  # unlabelled held-out pairs are skipped, not counted as wrong
        fit = refit_for_new_models(a, b, groups, labels, given_scale * theta, given_scale * theta, n_answers=30,
                                   strength=None, held=(a_new, b_new, held_y))
        plain = refit_for_new_models(a, b, groups, labels, given_scale * theta, given_scale * theta, n_answers=30,
                                     strength=None)
        assert fit.record["strength_scores"] != plain.record["strength_scores"]  # scored elsewhere
        chosen[given_scale] = fit.record["prior_strength"]
    assert chosen[0.3] < 1.0 < chosen[1.0]


def test_the_strength_can_be_chosen_at_each_number_of_answers():
    """`strength_at`: the strength chosen again, by the same criterion, at each number of answers a new model may
    bring; `priors(n)` gives the prior and the replay's priors at that strength, and the one choice elsewhere."""
    theta, a, b, _, _, _, groups = planted(noise=0.0, n_models=24)
    rng = np.random.default_rng(3)
    labels = (rng.random((len(b), len(theta))) < 1 / (1 + np.exp(-(a @ theta.T - b[:, None])))).astype(float)
    given = 0.1 * theta  # the checkpoint's abilities understate the spread
    fit = refit_for_new_models(a, b, groups, labels, given, given, n_answers=30, strength=None,
                               strength_at=(10, 30, 100))
    at, kind = fit.record["strength_at"], fit.record["prior_kind"]
    assert set(at) == {"10", "30", "100"} and set(at.values()) <= set(STRENGTH_GRID)
    assert at["30"] == fit.record["prior_strength"]  # the same criterion as the choice at n_answers = 30
    for n in (10, 30, 100):
        prior, replay_priors = fit.priors(n)
        np.testing.assert_allclose(prior.precision, population_prior(given, at[str(n)], kind).precision)
        others = np.delete(given, 0, axis=0)  # the replay's first known model: the prior of the others
        np.testing.assert_allclose(replay_priors[0].precision, population_prior(others, at[str(n)], kind).precision)
    assert fit.priors(50) == (fit.prior, fit.replay_priors)  # an N not asked for: the one choice
    fixed = refit_for_new_models(a, b, groups, labels, given, given, n_answers=30, strength=0.5, strength_at=(10,))
    assert "strength_at" not in fixed.record and fixed.priors(10)[0] is fixed.prior  # a given strength holds at every N

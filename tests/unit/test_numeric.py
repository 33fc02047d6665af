"""irtnet.numeric: the one numpy IRT response function, against the formula and at extreme logits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from irtnet.models.irt import irt_logit as torch_irt_logit
from irtnet.numeric import irt_logit, irt_probability, sigmoid


def test_sigmoid_matches_the_formula_and_keeps_dtype():
    x = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=0)
    assert sigmoid(x.astype(np.float32)).dtype == np.float32
    assert sigmoid(np.array([1, -2])).dtype == np.float64  # integers become float64
    assert float(sigmoid(0.0)) == 0.5
    np.testing.assert_allclose(sigmoid(x) + sigmoid(-x), 1.0, rtol=0, atol=1e-15)  # symmetric


def test_sigmoid_of_extreme_logits_neither_overflows_nor_gives_nan():
    x = np.array([-1e308, -1e4, -745.0, -40.0, 40.0, 745.0, 1e4, 1e308, -np.inf, np.inf])
    x32 = np.array([-3e38, -1e4, -104.0, -40.0, 40.0, 104.0, 1e4, 3e38, -np.inf, np.inf], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail here
        p = sigmoid(x)
        p32 = sigmoid(x32)
    assert np.isfinite(p).all() and np.isfinite(p32).all()
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_array_equal(p[[0, 1, 8]], 0.0)
    np.testing.assert_array_equal(p[[5, 6, 7, 9]], 1.0)
    assert p[3] == pytest.approx(np.exp(-40.0) / (1 + np.exp(-40.0)), rel=1e-12)  # the lower tail keeps precision
    assert np.isnan(sigmoid(np.array([np.nan]))).all()  # NaN in, NaN out (never a silent number)


def test_irt_probability_against_the_direct_formula():
    rng = np.random.default_rng(0)
    theta, a, b = rng.normal(size=(5, 3)), rng.normal(size=(7, 3)), rng.normal(size=7)
    expected = np.empty((7, 5))
    for q in range(7):
        for m in range(5):
            expected[q, m] = 1 / (1 + np.exp(-(a[q] @ theta[m] - b[q])))
    np.testing.assert_allclose(irt_probability(theta, a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(irt_logit(theta, a, b), np.log(expected / (1 - expected)), rtol=1e-9, atol=1e-12)
    # one model's ability vector gives one probability per query
    np.testing.assert_allclose(irt_probability(theta[2], a, b), expected[:, 2], rtol=1e-12)
    # and the numpy function is the torch one the networks train with
    torch_logits = torch_irt_logit(torch.as_tensor(theta), torch.as_tensor(a), torch.as_tensor(b)).numpy()
    np.testing.assert_allclose(irt_logit(theta, a, b), torch_logits, rtol=1e-12)


def test_irt_probability_with_huge_parameters_stays_in_0_1():
    a = np.array([[1e200, 0.0], [-1e200, 0.0]])
    theta = np.array([[1e200, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the logits themselves overflow to +-inf; the probabilities must not
        p = irt_probability(theta, a, np.zeros(2))
    np.testing.assert_array_equal(p, [[1.0], [0.0]])


@pytest.mark.parametrize("theta,a,b", [
    (np.zeros((4, 3)), np.zeros((5, 2)), np.zeros(5)),   # dimensions differ
    (np.zeros((4, 3)), np.zeros((5, 3)), np.zeros(4)),   # b has the wrong length
    (np.zeros((4, 3)), np.zeros(3), np.zeros(1)),        # a is not a matrix
])
def test_irt_probability_refuses_mismatched_shapes(theta, a, b):
    with pytest.raises(ValueError, match=r"irt_logit needs theta \[M, d\]"):
        irt_probability(theta, a, b)


def test_fit_temperature_recovers_the_temperature_and_lowers_the_log_loss():
    from irtnet.metrics import log_loss
    from irtnet.numeric import fit_temperature, sigmoid

    rng = np.random.default_rng(7)
    z = rng.normal(scale=2.0, size=20000)
    y = (rng.random(z.shape) < sigmoid(z)).astype(float)
    for true_t in (0.5, 2.5):  # logits scaled by true_t: dividing by true_t undoes it
        t = fit_temperature(z * true_t, y)
        assert t == pytest.approx(true_t, rel=0.05)
        assert log_loss(sigmoid(z * true_t / t), y) < log_loss(sigmoid(z * true_t), y)
    assert fit_temperature(np.zeros(0), np.zeros(0)) == 1.0


def test_platt_recovers_scale_and_shift_and_the_choice_is_made_out_of_sample():
    from irtnet.numeric import choose_calibration, fit_platt, sigmoid

    rng = np.random.default_rng(3)
    z = rng.normal(scale=2.0, size=40000)
    y = (rng.random(z.shape) < sigmoid(0.6 * z - 0.4)).astype(float)
    scale, shift = fit_platt(z, y)
    assert scale == pytest.approx(0.6, rel=0.05) and shift == pytest.approx(-0.4, abs=0.05)
    groups = np.arange(len(z)) // 10  # ten pairs per query
    kind, s2, b2, losses = choose_calibration(z, y, groups)
    assert kind == "platt" and (s2, b2) == pytest.approx((scale, shift))
    assert losses["platt"] < losses["temperature"] < losses["none"]
    calibrated = (rng.random(z.shape) < sigmoid(z)).astype(float)  # already calibrated: nothing is kept
    assert choose_calibration(z, calibrated, groups)[:3] == ("none", 1.0, 0.0)
    assert fit_platt(np.zeros(0), np.zeros(0)) == (1.0, 0.0)

"""The estimation baselines on planted data: each recovers a held-out model's per-benchmark accuracy, the Wilson
interval covers, anchor points are distinct and cover their clusters, HierShrink shrinks with few answers."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.tasks import estimation_baselines as eb

KNOWN, HELD_OUT = range(28), range(28, 36)


@pytest.fixture(scope="module")
def planted(one_torch_thread):
    synth = make_synthetic(n_models=36, n_queries=1200, n_benchmarks=3, dim=2, feature_dim=8, seed=3)
    labels = synth.table.label_matrix()
    groups = synth.table.queries["benchmark"].to_numpy(dtype=object)
    known = labels[:, list(KNOWN)]
    irt = eb.fit_classical_irt(known, dim=2, seed=0)
    return {"synth": synth, "labels": labels, "groups": groups, "known": known, "irt": irt,
            "bias2": eb.irt_bias(known, groups, dim=2, seed=0), "variance": eb.item_variance(known, groups),
            "clusters": eb.text_clusters(synth.features.vectors, 16, seed=0),
            "anchors": {n: eb.anchor_points(known, groups, n, seed=0) for n in (30, 300)}}


def _error(estimates, y, groups) -> float:
    return float(np.mean([abs(e.estimate - y[groups == e.benchmark].mean()) for e in estimates]))


def _estimates(p, method: str, m: int, n: int):
    y, groups = p["labels"][:, m], p["groups"]
    rand = eb.random_items(len(y), n, m)
    if method == "mean":
        return eb.mean_estimate(rand, y[rand], groups)
    if method == "stratified":
        idx = eb.stratified_items(groups, n, m)
        return eb.mean_estimate(idx, y[idx], groups)
    if method == "hiershrink":
        return eb.hiershrink_estimate(rand, y[rand], groups, p["known"], clusters=p["clusters"])
    ap = p["anchors"][n]  # label-free: the same anchor points for every held-out model
    first = eb.anchor_estimate(ap.items, y[ap.items], groups, weights=ap.weights)
    pirt = eb.pirt_estimate(ap.items, y[ap.items], groups, irt=p["irt"])
    return {"anchor": first, "p-irt": pirt,
            "gp-irt": eb.gpirt_estimate(first, pirt, p["bias2"], p["variance"])}[method]


def _mean_error(p, method: str, n: int) -> float:
    return float(np.mean([_error(_estimates(p, method, m, n), p["labels"][:, m], p["groups"]) for m in HELD_OUT]))


@pytest.mark.parametrize("method, tol", [("mean", 0.05), ("stratified", 0.05), ("anchor", 0.05), ("p-irt", 0.06),
                                         ("gp-irt", 0.05), ("hiershrink", 0.08)])
def test_each_estimator_recovers_held_out_accuracies(planted, method, tol):
    groups, known = planted["groups"], planted["known"]
    # a no-op (the known models' mean accuracy for every benchmark) fails every tolerance
    noop = np.mean([_error(eb.plugin_estimate([], [], groups, np.full(len(groups), np.nanmean(known))),
                           planted["labels"][:, m], groups) for m in HELD_OUT])
    assert noop > 2 * tol
    many, few = _mean_error(planted, method, 300), _mean_error(planted, method, 30)
    assert many < tol
    assert many < few  # more answers, smaller error


def test_estimates_cover_every_benchmark_and_count_answers(planted):
    y, groups = planted["labels"][:, 30], planted["groups"]
    idx = eb.stratified_items(groups, 30, seed=0)
    est = eb.mean_estimate(idx, y[idx], groups)
    assert [e.benchmark for e in est] == sorted(set(groups))
    assert sum(e.n_answered for e in est) == 30 and sum(e.n_items for e in est) == len(groups)
    assert all(e.lower <= e.estimate <= e.upper for e in est)
    pirt = eb.pirt_estimate(idx, y[idx], groups, irt=planted["irt"])
    assert all(np.isnan(e.lower) and np.isnan(e.upper) for e in pirt)  # p-IRT has no interval


def test_wilson_interval_covers_at_its_level():
    rng = np.random.default_rng(0)
    for p, n in ((0.3, 40), (0.85, 25)):
        k = rng.binomial(n, p, size=3000)
        bounds = np.array([eb.wilson_interval(float(x), n, 0.9) for x in k])
        coverage = np.mean((bounds[:, 0] <= p) & (p <= bounds[:, 1]))
        assert 0.86 <= coverage <= 0.96
    assert eb.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = eb.wilson_interval(0, 10)
    assert lo == 0.0 and 0 < hi < 0.3
    with pytest.raises(DataError, match="successes <= trials"):
        eb.wilson_interval(5, 3)
    with pytest.raises(ConfigError, match="level must lie strictly between"):
        eb.wilson_interval(1, 3, level=1.0)


def test_anchor_points_are_distinct_and_cover_planted_clusters():
    rng = np.random.default_rng(0)
    sizes = [10, 20, 30, 40, 50]
    patterns = rng.random((5, 12)) < 0.5  # five distinct correctness vectors over 12 known models
    known = np.vstack([np.repeat(patterns[c][None].astype(float), s, axis=0) for c, s in enumerate(sizes)])
    cluster = np.repeat(np.arange(5), sizes)
    ap = eb.anchor_points(known, ["b"] * len(known), 5, seed=0)
    assert len(set(ap.items.tolist())) == 5
    assert sorted(cluster[ap.items].tolist()) == [0, 1, 2, 3, 4]  # one anchor per planted cluster
    np.testing.assert_allclose(ap.weights[np.argsort(cluster[ap.items])], np.array(sizes) / sum(sizes))


def test_anchor_points_split_the_budget_over_benchmarks(planted):
    ap = eb.anchor_points(planted["known"], planted["groups"], 40, seed=1)
    assert len(ap.items) == len(set(ap.items.tolist())) == 40
    for g in set(planted["groups"]):
        mine = planted["groups"][ap.items] == g
        assert mine.any() and ap.weights[mine].sum() == pytest.approx(1.0)


def test_allocate_is_proportional_with_one_each_first():
    assert eb.allocate(np.array([100, 10, 890]), 20).tolist() == [2, 1, 17]
    assert eb.allocate(np.array([100, 10, 890]), 2).sum() == 2
    assert eb.allocate(np.array([3, 1]), 10).tolist() == [3, 1]  # never more than a group holds


def test_hiershrink_moves_toward_the_model_mean_with_few_answers():
    groups = np.array(["a"] * 50 + ["b"] * 50, dtype=object)
    clusters = np.repeat([0, 1], 50)
    idx = np.array([0, 1, 2, 50, 51, 52, 53, 54, 55, 56, 57, 58])  # cluster 0: 3 right; cluster 1: 9 wrong
    y = np.array([1.0] * 3 + [0.0] * 9)
    model_mean = (3 + 0.5) / (12 + 1)
    shrunk = {e.benchmark: e.estimate for e in eb.hiershrink_estimate(idx, y, groups, clusters=clusters)}
    raw = {e.benchmark: e.estimate for e in eb.hiershrink_estimate(idx, y, groups, clusters=clusters,
                                                                    prior_strength=0.0)}
    assert raw["a"] == pytest.approx(1.0) and raw["b"] == pytest.approx(0.0)
    assert model_mean < shrunk["a"] < 1.0 and 0.0 < shrunk["b"] < model_mean
    rate_a = (3 + 24 * model_mean) / 27
    assert shrunk["a"] == pytest.approx((3 + 47 * rate_a) / 50)


def test_gpirt_weight_follows_bias_and_answers():
    assert eb.gpirt_lambda(0.01, 0.25, 0) == 0.0  # no answers: p-IRT alone
    assert eb.gpirt_lambda(0.0, 0.25, 10) == 0.0  # an unbiased IRT needs no correction
    assert eb.gpirt_lambda(0.01, 0.25, 25) == pytest.approx(0.5)
    assert eb.gpirt_lambda(0.01, 0.25, 2500) > 0.98  # many answers: the sample's own estimate


def test_errors_name_the_problem(planted):
    groups = planted["groups"]
    with pytest.raises(DataError, match="answered items but"):
        eb.mean_estimate([0, 1], [1.0], groups)
    with pytest.raises(DataError, match="answered twice"):
        eb.mean_estimate([0, 0], [1.0, 1.0], groups)
    with pytest.raises(DataError, match=r"outcomes must be numbers in \[0, 1\]"):
        eb.mean_estimate([0], [2.0], groups)
    with pytest.raises(DataError, match="answered positions must lie"):
        eb.mean_estimate([len(groups)], [1.0], groups)
    with pytest.raises(ConfigError, match="needs the known models' labels"):
        eb.anchor_points(None, groups, 10)
    with pytest.raises(DataError, match="known labels have shape"):
        eb.anchor_points(planted["known"][:5], groups, 10)
    with pytest.raises(ConfigError, match="at least 1"):
        eb.anchor_points(planted["known"], groups, 0)
    with pytest.raises(DataError, match="cluster labels for"):
        eb.hiershrink_estimate([0], [1.0], groups, clusters=np.zeros(3, int))
    with pytest.raises(DataError, match="anchor weights for"):
        eb.anchor_estimate([0, 1], [1.0, 0.0], groups, weights=[1.0])
    with pytest.raises(DataError, match="the IRT has"):
        eb.pirt_estimate([0], [1.0], groups[:10], irt=planted["irt"])

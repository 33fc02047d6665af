"""Paired bootstrap statistics over queries: per-query pieces, the weighted AUC, intervals, verdicts and
temperature scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from irtnet.errors import ConfigError, DataError
from irtnet.metrics import auc, ece, log_loss
from irtnet.tasks.routing import routing_result, scorable
from irtnet.tasks.stats import (METRICS, AucPlan, cluster_resample_weights, ece_contributions, log_loss_contributions,
                                paired_bootstrap, query_contributions, resample_weights, routing_contributions,
                                routing_disagreement, verdict, weighted_auc)

NAN = float("nan")
# Three queries, two models; the last query lacks model 2's label (its 0.2 is never read).
Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, NAN]])
P = np.array([[0.8, 0.3], [0.6, 0.4], [0.9, 0.2]])


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ----------------------------------------------------------------------------- hand-computed cases
def test_per_query_pieces_by_hand():
    s, n = log_loss_contributions(Y, P)
    assert s == pytest.approx([-math.log(0.8) - math.log(0.7), -2 * math.log(0.4), -math.log(0.9)])
    assert n.tolist() == [2, 2, 1]
    hit, count = routing_contributions(Y, P)  # "complete": the last query misses a label, it does not count
    assert hit.tolist() == [1, 0, 0] and count.tolist() == [1, 1, 0]
    hit, count = routing_contributions(Y, P, scorable(Y, "observed")[0])  # its only labelled model is right
    assert hit.tolist() == [1, 0, 1] and count.tolist() == [1, 1, 1]
    cnt, ps, ys = ece_contributions(Y, P)
    assert cnt.shape == (3, 10) and cnt.sum() == 5
    assert cnt[0, 8] == cnt[0, 3] == cnt[1, 6] == cnt[1, 4] == cnt[2, 9] == 1
    assert ps[0, 8] == 0.8 and ys[1, 4] == 1 and ys[1, 6] == 0


def test_routing_disagreement_by_hand():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, NAN]])
    p_a = np.array([[.9, .1], [.2, .8], [.6, .4], [.3, .7], [.1, .9]])  # routes 0, 1, 0, 1, 0 (its only label)
    p_b = np.array([[.9, .1], [.8, .2], [.4, .6], [.7, .3], [.9, .1]])  # routes 0, 0, 1, 0, 0
    d = routing_disagreement(y, p_a, p_b)  # "complete": the last query is not routed
    assert d == {"n_routed": 4, "n_differ": 3, "share": 0.75, "a": 2 / 3, "b": 1 / 3}
    hit_a, keep = routing_contributions(y, p_a)
    hit_b, _ = routing_contributions(y, p_b)
    assert math.isclose((hit_a.sum() - hit_b.sum()) / keep.sum(), d["share"] * (d["a"] - d["b"]))
    observed = routing_disagreement(y, p_a, p_b, scorable(y, "observed")[0])
    assert observed["n_routed"] == 5 and observed["n_differ"] == 3
    assert routing_disagreement(y, p_a, p_a)["n_differ"] == 0 and routing_disagreement(y, p_a, p_a)["a"] is None


def test_point_metrics_by_hand_and_under_query_weights():
    c = query_contributions(Y, P)
    one = c.metrics(np.ones(3))
    assert one["auc"][0] == pytest.approx(5 / 6)  # positives .8 .4 .9 against negatives .3 .6: 5 of 6 pairs
    assert one["routing"][0] == pytest.approx(0.5)
    assert one["ece"][0] == pytest.approx((0.2 + 0.3 + 0.6 + 0.6 + 0.1) / 5)
    assert one["log_loss"][0] == pytest.approx(-(math.log(0.8 * 0.7 * 0.4 * 0.4 * 0.9)) / 5)
    w = c.metrics(np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
    assert w["auc"].tolist() == pytest.approx([1.0, 0.0, 0.75])
    assert w["routing"].tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert w["log_loss"][0] == pytest.approx((2 * (-math.log(0.8) - math.log(0.7)) - math.log(0.9)) / 5)
    assert math.isnan(c.metrics(np.array([0.0, 0.0, 1.0]))["auc"][0])  # one class only: undefined


def test_ties_count_one_half():
    assert weighted_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    assert weighted_auc(np.array([0.5, 0.5, 0.2, 0.7]), np.array([1, 0, 0, 1])) == pytest.approx(3.5 / 4)
    assert weighted_auc(np.array([0.3, 0.3, 0.3]), np.array([1, 0, 1]), np.array([2.0, 1.0, 1.0])) == 0.5


# ----------------------------------------------------------------------------- against sklearn and irtnet.metrics
def test_weighted_auc_matches_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    n = 400
    labels = (rng.random(n) < 0.4).astype(int)
    scores = np.round(rng.random(n) * 0.5 + 0.4 * labels, 1)  # few distinct values: many ties
    weights = np.vstack([rng.random(n) * 3, rng.integers(0, 4, n), np.ones(n)])
    got = weighted_auc(scores, labels, weights)
    want = [roc_auc_score(labels, scores, sample_weight=w) for w in weights]
    assert got == pytest.approx(want, abs=1e-12)
    assert weighted_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_query_weighted_auc_is_the_pair_weighted_auc():
    rng = np.random.default_rng(1)
    q, m = 60, 5
    y = (rng.random((q, m)) < 0.5).astype(float)
    y[rng.random((q, m)) < 0.2] = NAN
    p = np.round(rng.random((q, m)), 2)
    rows, cols = np.nonzero(~np.isnan(y))
    plan = AucPlan.from_pairs(p[rows, cols], y[rows, cols], rows, q)
    w = np.vstack(list(resample_weights(q, 5, seed=3)))
    for wb, got in zip(w, plan.auc(w)):
        assert got == pytest.approx(roc_auc_score(y[rows, cols], p[rows, cols], sample_weight=wb[rows]), abs=1e-12)


def test_a_resample_scores_like_the_repeated_queries():
    """Weights = multiplicities: every metric equals the plain metric on the queries repeated that often."""
    rng = np.random.default_rng(2)
    q, m = 80, 6
    z = rng.normal(size=(q, m))
    y = (rng.random((q, m)) < _sigmoid(z)).astype(float)
    y[rng.random((q, m)) < 0.1] = NAN
    p = _sigmoid(z + rng.normal(size=(q, m)))
    w = next(resample_weights(q, 1, seed=5))[0]
    got = query_contributions(y, p, scorable(y, "observed")[0]).metrics(w)
    idx = np.repeat(np.arange(q), w.astype(int))
    yr, pr = y[idx], p[idx]
    obs = ~np.isnan(yr)
    assert got["auc"][0] == pytest.approx(auc(pr[obs], yr[obs]), abs=1e-12)
    assert got["log_loss"][0] == pytest.approx(log_loss(pr[obs], yr[obs]), abs=1e-12)
    assert got["ece"][0] == pytest.approx(ece(pr[obs], yr[obs]), abs=1e-12)
    zeros = np.zeros(m)
    routed = routing_result(pr, yr, np.zeros(len(yr)), [str(i) for i in range(m)], zeros, {}, mode="observed")
    assert got["routing"][0] == pytest.approx(routed.micro, abs=1e-12)


def test_point_estimates_agree_with_the_evaluator():
    rng = np.random.default_rng(4)
    q, m = 150, 4
    z = rng.normal(size=(q, m))
    y = (rng.random((q, m)) < _sigmoid(z)).astype(float)
    y[:10, 0] = NAN  # ten queries are left out of "complete" routing
    pa, pb = _sigmoid(z), _sigmoid(0.5 * z)
    res = paired_bootstrap(y, pa, pb, n_boot=50)
    obs = ~np.isnan(y)
    names = [str(i) for i in range(m)]
    for key, p in (("a", pa), ("b", pb)):
        assert res["metrics"]["auc"][key] == pytest.approx(auc(p[obs], y[obs]), abs=1e-12)
        assert res["metrics"]["log_loss"][key] == pytest.approx(log_loss(p[obs], y[obs]), abs=1e-12)
        assert res["metrics"]["ece"][key] == pytest.approx(ece(p[obs], y[obs]), abs=1e-12)
        routed = routing_result(p, y, np.zeros(q), names, np.zeros(m), {})
        assert res["metrics"]["routing"][key] == pytest.approx(routed.micro, abs=1e-12)
    assert res["n_queries"] == q and res["n_pairs"] == obs.sum() and res["n_routed"] == q - 10


# ----------------------------------------------------------------------------- the bootstrap
def test_paired_bootstrap_structure_and_symmetry():
    rng = np.random.default_rng(6)
    q, m = 200, 5
    z = rng.normal(size=(q, m))
    y = (rng.random((q, m)) < _sigmoid(z)).astype(float)
    pa, pb = _sigmoid(z + 0.2 * rng.normal(size=(q, m))), _sigmoid(0.3 * z + rng.normal(size=(q, m)))
    res = paired_bootstrap(y, pa, pb, n_boot=300, seed=1)
    assert set(res) == {"n_queries", "n_pairs", "n_routed", "n_boot", "seed", "level", "n_clusters", "metrics"}
    assert res["n_clusters"] is None
    assert list(res["metrics"]) == list(METRICS)
    for name, r in res["metrics"].items():
        assert set(r) == {"a", "b", "diff", "lo", "hi", "se", "n_valid", "better", "verdict"}
        assert r["diff"] == pytest.approx(r["a"] - r["b"]) and r["lo"] <= r["hi"] and r["n_valid"] == 300
        assert r["better"] == ("higher" if name in ("auc", "routing") else "lower")
    assert res["metrics"]["auc"]["verdict"] == "win" and res["metrics"]["log_loss"]["verdict"] == "win"
    assert res["metrics"]["log_loss"]["diff"] < 0  # A - B as is: lower log loss is the win
    swapped = paired_bootstrap(y, pb, pa, n_boot=300, seed=1)
    for name, r in swapped["metrics"].items():
        assert r["lo"] == pytest.approx(-res["metrics"][name]["hi"])
        assert r["verdict"] == {"win": "loss", "loss": "win", "tie": "tie"}[res["metrics"][name]["verdict"]]
    same = paired_bootstrap(y, pa, pa, n_boot=100)
    assert all(r["lo"] == r["hi"] == r["diff"] == 0 and r["verdict"] == "tie" for r in same["metrics"].values())
    assert paired_bootstrap(y, pa, pb, n_boot=300, seed=1) == res  # seeded
    only = paired_bootstrap(y, pa, pb, n_boot=20, metrics=("routing",))
    assert list(only["metrics"]) == ["routing"]


def test_resamples_do_not_depend_on_the_batch_size():
    a = np.vstack(list(resample_weights(37, 23, seed=9, batch=5)))
    b = np.vstack(list(resample_weights(37, 23, seed=9)))
    assert a.shape == (23, 37) and (a == b).all() and (a.sum(axis=1) == 37).all()


def test_cluster_resamples_draw_clusters_then_queries_within_them():
    clusters = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
    w = np.vstack(list(cluster_resample_weights(clusters, 500, seed=3, batch=64)))
    assert w.shape == (500, 10) and (w >= 0).all() and (w == np.round(w)).all()
    per = np.stack([w[:, clusters == k].sum(axis=1) for k in range(3)], axis=1)  # queries drawn per cluster
    copies = per / np.array([3, 5, 2])
    assert (copies == np.round(copies)).all() and (copies.sum(axis=1) == 3).all()  # 3 clusters drawn each time
    assert (copies == 0).any() and (copies >= 2).any()  # some clusters left out, some drawn twice
    assert np.vstack(list(cluster_resample_weights(clusters, 50, seed=3))).tolist() == \
        np.vstack(list(cluster_resample_weights(clusters, 50, seed=3))).tolist()  # seeded


def test_a_difference_that_flips_between_clusters_is_a_tie_only_when_clusters_are_resampled():
    rng = np.random.default_rng(8)
    q, m = 600, 4
    z = rng.normal(size=(q, m))
    y = (rng.random((q, m)) < _sigmoid(z)).astype(float)
    clusters = np.repeat([0, 1, 2], q // 3)
    good, bad = _sigmoid(z), _sigmoid(0.2 * z + rng.normal(size=(q, m)))
    pa = np.where((clusters < 2)[:, None], good, bad)  # A is the better one in two draws of three
    pb = np.where((clusters < 2)[:, None], bad, good)
    pooled = paired_bootstrap(y, pa, pb, n_boot=400, metrics=("log_loss",))["metrics"]["log_loss"]
    drawn = paired_bootstrap(y, pa, pb, n_boot=400, metrics=("log_loss",), clusters=clusters)
    assert pooled["verdict"] == "win" and drawn["metrics"]["log_loss"]["verdict"] == "tie"
    assert drawn["n_clusters"] == 3 and drawn["metrics"]["log_loss"]["diff"] == pooled["diff"]
    with pytest.raises(DataError, match="clusters must hold one entry per query"):
        paired_bootstrap(y, pa, pb, n_boot=10, clusters=clusters[:5])


def test_the_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """A small seeded simulation: queries of varying difficulty, A sharper than B; the 'true' difference is
    the metric difference on a population of 200,000 queries."""
    ability = np.array([-0.6, 0.0, 0.4, 0.9])

    def draw(n, rng):
        z = ability - rng.normal(size=(n, 1)) + 0.5 * rng.normal(size=(n, len(ability)))
        y = (rng.random(z.shape) < _sigmoid(z)).astype(float)
        return y, _sigmoid(z + 0.4 * rng.normal(size=z.shape)), _sigmoid(0.8 * z + 0.9 * rng.normal(size=z.shape))

    rng = np.random.default_rng(2024)
    names = ("auc", "log_loss", "routing")
    y, pa, pb = draw(200_000, rng)
    ones = np.ones(len(y))
    ta, tb = (query_contributions(y, p).metrics(ones, names) for p in (pa, pb))
    truth = {n: float(ta[n][0] - tb[n][0]) for n in names}
    hits = {n: 0 for n in names}
    reps = 300
    for r in range(reps):
        res = paired_bootstrap(*draw(100, rng), n_boot=300, seed=r, metrics=names)
        for n in names:
            hits[n] += res["metrics"][n]["lo"] <= truth[n] <= res["metrics"][n]["hi"]
    for n in names:
        assert 0.90 <= hits[n] / reps <= 0.99, (n, hits[n] / reps)


@pytest.mark.parametrize("lo, hi, higher, want", [
    (0.01, 0.05, True, "win"), (-0.05, -0.01, True, "loss"), (-0.01, 0.02, True, "tie"), (0.0, 0.02, True, "tie"),
    (-0.05, -0.01, False, "win"), (0.01, 0.05, False, "loss"), (-0.01, 0.02, False, "tie"),
    (-0.02, 0.0, False, "tie"), (NAN, NAN, True, "n/a"), (NAN, 0.01, False, "n/a"),
])
def test_verdict(lo, hi, higher, want):
    assert verdict(lo, hi, higher) == want


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="n_boot"):
        paired_bootstrap(Y, P, P, n_boot=0)
    with pytest.raises(ConfigError, match="level"):
        paired_bootstrap(Y, P, P, level=1.5)
    with pytest.raises(ConfigError, match="metrics"):
        paired_bootstrap(Y, P, P, metrics=("accuracy",))
    with pytest.raises(DataError, match="p_b"):
        paired_bootstrap(Y, P, P[:2])
    with pytest.raises(DataError, match="labels must be 0, 1 or NaN"):
        paired_bootstrap(Y * 0.5, P, P)
    with pytest.raises(DataError, match="p_a"):
        paired_bootstrap(Y, P + 1, P)
    with pytest.raises(DataError, match="routing_mask"):
        paired_bootstrap(Y, P, P, routing_mask=np.ones(2, bool))
    with pytest.raises(DataError, match="no labelled"):
        paired_bootstrap(np.full((2, 2), NAN), P[:2], P[:2])



"""Routing once held-out models are added (`irtnet.tasks.estimation_routing.routing_rows`): rows against both
other routers, and the fallback to "observed" routing where no query was answered by every model."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet.tasks.estimation_routing import routing_rows


def _draw(rng: np.random.Generator, complete: bool) -> dict[str, np.ndarray]:
    y = (rng.random((60, 4)) < 0.5).astype(float)
    if not complete:
        y[::2, :2], y[1::2, 2:] = np.nan, np.nan  # half the queries for each half of the models
    good = np.where(np.isnan(y), 0.5, 0.2 + 0.6 * np.nan_to_num(y))  # knows the answers
    return {"y": y, "irtnet-added": good, "retrain": np.full_like(good, 0.5) + rng.normal(0, 0.01, good.shape),
            "hiershrink": 1 - good, "new": np.array([False, False, True, True])}


@pytest.mark.parametrize("complete", [True, False])
def test_rows_against_both_routers_and_the_routing_mode(complete):
    rng = np.random.default_rng(0)
    draws = [_draw(rng, complete), _draw(rng, complete)]
    oracle = np.mean(np.vstack([np.nanmax(d["y"], axis=1) for d in draws]))  # some labelled model is right
    rows = routing_rows({50: draws}, n_boot=200)
    assert {(r["b_method"], r["metric"]) for r in rows} == {
        (b, m) for b in ("retrain", "hiershrink") for m in ("routing", "auc", "log_loss")}
    for r in rows:
        assert r["n"] == 50 and r["n_draws"] == 2 and r["lo"] - 1e-9 <= r["diff"] <= r["hi"] + 1e-9
        assert r["verdict"] == "win"  # the added model knows every answer; the others do not
        if r["metric"] == "routing":
            assert r["routing_mode"] == ("complete" if complete else "observed")
            assert r["a"] == pytest.approx(oracle)  # routed among its labelled models to a right one, where any is
    hier = next(r for r in rows if r["b_method"] == "hiershrink" and r["metric"] == "auc")
    assert hier["b"] == pytest.approx(1 - hier["a"])


def test_a_router_missing_from_a_draw_is_left_out():
    rng = np.random.default_rng(1)
    first, second = _draw(rng, True), _draw(rng, True)
    del second["hiershrink"]
    assert {r["b_method"] for r in routing_rows({50: [first, second]}, n_boot=100)} == {"retrain"}


def test_the_interval_resamples_draws_so_a_gain_in_one_draw_only_is_a_tie():
    rng = np.random.default_rng(2)
    draws = [_draw(rng, True) for _ in range(3)]
    for d in draws[1:]:  # the added model knows the answers in the first draw only, and ties retraining after
        d["irtnet-added"] = d["retrain"].copy()
    rows = {(r["b_method"], r["metric"]): r for r in routing_rows({50: draws}, n_boot=400)}
    assert rows[("retrain", "log_loss")]["diff"] < 0 and rows[("retrain", "log_loss")]["verdict"] == "tie"
    assert rows[("retrain", "log_loss")]["resampled"] == "draws, then queries within each"

"""scripts/routing_disagreement.py: the share two routers route differently and who is right there."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from routing_disagreement import disagreement  # noqa: E402


def test_counts_only_the_queries_routed_differently():
    nan = np.nan
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, nan]])
    p_a = np.array([[.9, .1], [.2, .8], [.6, .4], [.3, .7], [.1, .9]])  # A: 0, 1, 0, 1, (0: only labelled)
    p_b = np.array([[.9, .1], [.8, .2], [.4, .6], [.7, .3], [.9, .1]])  # B: 0, 0, 1, 0, 0
    mask = ~np.isnan(y).any(1)  # "complete" routing: the last query is not routed
    r = disagreement(y, p_a, p_b, mask, n_boot=200)
    assert r["routed"] == 4 and r["differ"] == 3 and r["share"] == 0.75
    # queries 1-3: A scores 1, 1, 0; B scores 0, 1, 0
    assert np.isclose(r["a"], 2 / 3) and np.isclose(r["b"], 1 / 3) and np.isclose(r["diff"], 1 / 3)
    assert r["lo"] <= r["diff"] <= r["hi"]
    # the overall routing difference is the share times the difference there
    acc = [y[np.arange(5), np.where(~np.isnan(y), p, -np.inf).argmax(1)][mask].mean() for p in (p_a, p_b)]
    assert np.isclose(acc[0] - acc[1], r["share"] * r["diff"])

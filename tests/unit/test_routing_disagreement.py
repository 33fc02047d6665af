"""scripts/routing_disagreement.py: the interval it adds to `tasks.stats.routing_disagreement` (whose counts
tests/unit/test_stats.py checks by hand)."""

from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))  # the script imports its sibling cells_blend_probe
    import routing_disagreement

    return routing_disagreement


def test_the_interval_is_on_the_queries_routed_differently(probe):
    nan = np.nan
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, nan]])
    p_a = np.array([[.9, .1], [.2, .8], [.6, .4], [.3, .7], [.1, .9]])  # A: 0, 1, 0, 1, (0)
    p_b = np.array([[.9, .1], [.8, .2], [.4, .6], [.7, .3], [.9, .1]])  # B: 0, 0, 1, 0, 0
    r = probe.disagreement(y, p_a, p_b, ~np.isnan(y).any(1), n_boot=500)
    assert (r["routed"], r["differ"], r["share"]) == (4, 3, 0.75)
    # the differences there are +1, 0, 0: every resample's mean lies in [0, 1]
    assert np.isclose(r["diff"], 1 / 3) and 0 <= r["lo"] <= r["diff"] <= r["hi"] <= 1
    same = probe.disagreement(y, p_a, p_a, ~np.isnan(y).any(1), n_boot=50)
    assert same["differ"] == 0 and np.isnan(same["lo"]) and np.isnan(same["diff"])

"""`estimate_accuracy` stays within what the answers allow: on a benchmark of g items with k answered and s of
their outcomes summed, the realised accuracy over every item lies in [s / g, (s + g - k) / g], and so must the
estimate and its interval, on every row (the overall one too) and every branch (plain, replay, in-sample,
split-half)."""

from __future__ import annotations

import numpy as np
import pytest

from estimate_fixtures import planted_misfit
from irtnet.data.synthetic import make_synthetic
from irtnet.tasks.estimate import OVERALL, estimate_accuracy

KNOWN = 12


@pytest.fixture(scope="module")
def case():
    """A small pool whose frozen a, b misfit each benchmark, and the known models' labels realised from the truth."""
    s = make_synthetic(n_models=KNOWN + 4, n_queries=160, n_benchmarks=3, dim=2, feature_dim=8, seed=3)
    groups = s.table.queries["benchmark"].to_numpy(dtype=object)
    a, b, known, theta, prior = planted_misfit(s, groups, KNOWN, 0.8, 7)
    return a, b, groups, known, theta, prior


def _answer_sets(groups, rng, n_sets):
    """Random answer sets: random items and outcomes, and extreme ones (all wrong or all right, on nearly every
    item of a benchmark), where an unclipped correction leaves the feasible range."""
    names = sorted(set(groups.tolist()))
    for k in range(n_sets):
        if k % 3 == 2:
            items = np.flatnonzero(groups == names[k % len(names)])
            asked = rng.choice(items, len(items) - int(rng.integers(1, 6)), replace=False)
            others = np.flatnonzero(groups != names[k % len(names)])
            asked = np.concatenate([asked, rng.choice(others, 5, replace=False)])
            y = np.full(len(asked), float(k % 2))
        else:
            asked = rng.choice(len(groups), int(rng.integers(1, len(groups))), replace=False)
            y = (rng.random(len(asked)) < rng.random()).astype(float)
        yield asked, y


@pytest.mark.parametrize("kw", [{}, {"misfit_method": "replay"}, {"misfit_method": "replay", "replay_weight": "pooled"},
                                {"misfit_method": "in-sample"}, {"misfit_method": "in-sample", "combine": "mean"},
                                {"misfit_method": "split-half"}], ids=lambda kw: "-".join(kw.values()) or "plain")
def test_every_row_stays_within_what_the_answers_allow(case, kw):
    a, b, groups, known, theta, prior = case
    rng = np.random.default_rng(11)
    known_kw = {"known_labels": known, "known_theta": theta, **kw} if kw else {}
    for asked, y in _answer_sets(groups, rng, 12):
        y_full = np.full(len(b), np.nan)
        y_full[asked] = y
        rows = estimate_accuracy(a, b, groups, asked, y, prior, n_draws=200, seed=0, overall=True, **known_kw)
        for e in rows:
            mine = np.ones(len(b), bool) if e.benchmark == OVERALL else groups == e.benchmark
            s, free = np.nansum(y_full[mine]), int(np.isnan(y_full[mine]).sum())
            low, high = s / mine.sum(), (s + free) / mine.sum()
            eps = 1e-12  # the point is an expectation, so it may lie just outside a discrete interval's quantiles
            assert low - eps <= min(e.lower, e.estimate) and max(e.upper, e.estimate) <= high + eps, (e, low, high)
            assert e.lower <= e.upper

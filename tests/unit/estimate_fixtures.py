"""Shared by the estimate tests: a planted-misfit pool on synthetic data, and a tiny trained run to estimate on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from irtnet.data.synthetic import make_synthetic
from irtnet.tasks.onboard import fit_theta, population_prior


def planted_misfit(s, groups, n_known: int, shift_sd: float, seed: int):
    """(a, b, known labels, known abilities, their prior) of synthetic data `s`, whose frozen a, b misfit each
    benchmark: a shared direction added to every item's a and a shift of b, drawn per benchmark with sd
    `shift_sd`, as a network that does not fit some benchmarks. The first `n_known` models' labels are realised
    from the truth; their abilities are refitted under the wrong a, b (as training would), and the prior is
    theirs."""
    names = sorted(set(groups.tolist()))
    code = np.array([names.index(g) for g in groups])
    rng = np.random.default_rng(seed)
    a = s.a + rng.normal(0, shift_sd, (len(names), s.a.shape[1]))[code]
    b = s.b + rng.normal(0, shift_sd, len(names))[code]
    known = (rng.random(s.prob[:, :n_known].shape) < s.prob[:, :n_known]).astype(float)
    prior0 = population_prior(s.theta[:n_known])
    theta = np.array([fit_theta(a, b, known[:, m], prior0.mean, prior0.precision) for m in range(n_known)])
    return a, b, known, theta, population_prior(theta)


def train_tiny_run(root: Path) -> Path:
    """A run directory under `root`: the small preset trained 2 epochs on 6 synthetic models x 300 queries of 2
    benchmarks (hashing-64 texts, ids q000000...)."""
    from irtnet.cli.main import app

    make_synthetic(n_models=6, n_queries=300, n_benchmarks=2, dim=2, feature_dim=8, seed=0).table.to_parquet(
        root / "t.parquet")
    result = CliRunner().invoke(app, ["train", str(root / "t.parquet"), "-o", str(root / "run"), "--preset", "small",
                                      "--encoder", "hashing-64", "--epochs", "2", "--lr", "0.003", "--quiet",
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    return root / "run"

"""Interpretation: families, difficulty correlations, profiles, the ability map and item curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irtnet.data.synthetic import make_synthetic
from irtnet.tasks.interpret import (
    ability_map, ability_profile, choose_icc_queries, difficulty_correlation, discrimination_ranking,
    empirical_accuracy, family_of, item_curves, model_families,
)


@pytest.mark.parametrize("name, family", [
    ("meta-llama/Meta-Llama-3-8B", "llama"), ("gpt-4-1106-preview", "gpt"), ("claude-v2", "claude"),
    ("mistralai/mixtral-8x7b-chat", "mixtral"), ("mistralai/Mistral-7B-v0.1", "mistral"),
    ("codegemma-7b", "codegemma"), ("gemma-2-9b-it", "gemma"), ("qwen2.5-7b-instruct", "qwen"),
    ("zero-one-ai/Yi-34B-Chat", "yi"), ("meta/code-llama-instruct-34b-chat", "codellama"),
    ("foo-bar-7b", "foo"),
])
def test_family_heuristic(name, family):
    assert family_of(name) == family


def test_family_metadata_wins_where_present():
    models = pd.DataFrame({"model": ["gpt-4", "llama-3"], "family": ["openai", None]})
    assert model_families(models) == ["openai", "llama"]
    assert model_families(models[["model"]]) == ["gpt", "llama"]


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_models=25, n_queries=1500, n_benchmarks=4, dim=2, feature_dim=6, seed=2)


def test_true_difficulty_correlates_negatively_with_accuracy(synth):
    labels = synth.table.label_matrix()
    groups = synth.table.queries["benchmark"].to_numpy(dtype=object)
    corr = difficulty_correlation(synth.a, synth.b, synth.prob, labels, groups)
    assert corr["query"]["b"]["pearson"] < -0.6
    assert corr["query"]["predicted_accuracy"]["pearson"] > 0.8
    assert corr["benchmark"]["b"]["n"] == 4 and corr["benchmark"]["b"]["spearman"] < 0
    shuffled_b = np.random.default_rng(0).permutation(synth.b)
    shuffled = difficulty_correlation(synth.a, shuffled_b, synth.prob, labels, groups)
    assert abs(shuffled["query"]["b"]["pearson"]) < 0.1


def test_empirical_accuracy_needs_enough_labels():
    labels = np.array([[1, 0, np.nan], [1, np.nan, np.nan]])
    acc = empirical_accuracy(labels, min_models=2)
    assert acc[0] == 0.5 and np.isnan(acc[1])


def test_profile_map_and_curves(synth):
    groups = synth.table.queries["benchmark"].to_numpy(dtype=object)
    names, profile = ability_profile(synth.prob, groups)
    assert names == sorted(set(groups)) and profile.shape == (4, 25)
    np.testing.assert_allclose(profile[0], synth.prob[groups == names[0]].mean(axis=0))
    amap = ability_map(synth.theta)
    assert amap.coords.shape == (25, 2) and amap.explained.sum() == pytest.approx(1.0)  # d = 2: all variance
    picks = choose_icc_queries(synth.a, synth.b)
    assert 2 <= len(picks) <= 4 and len(set(picks)) == len(picks)
    grid, p, t = item_curves(synth.a[picks], synth.b[picks], synth.theta)
    assert p.shape == (len(picks), len(grid)) and t.shape == (len(picks), 25)
    assert np.all(np.diff(p, axis=1) >= 0) and np.all(p[:, -1] > p[:, 0])  # increasing along a_q
    # the curve at a model's projected ability is that model's probability
    fine, p_fine, t = item_curves(synth.a[picks], synth.b[picks], synth.theta, grid=np.linspace(-30, 30, 600001))
    np.testing.assert_allclose(np.interp(t[0], fine, p_fine[0]), synth.prob[picks[0]], atol=1e-3)
    top, bottom = discrimination_ranking(synth.a, 5)
    norms = np.linalg.norm(synth.a, axis=1)
    assert norms[top].min() >= norms[bottom].max() and top[0] == norms.argmax()

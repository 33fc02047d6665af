"""The one contract every registered model meets, run over the registry itself: adding a model is one module
plus its registration, and this suite then checks it (it fails until the model has a fixture below).

The contract: built from a `ModelSpec` by the one resolver; `fit` returns the model; scores of shape
[queries, models], finite, in [0, 1] for a predictor, consistent for any subset and order of models; strict
about unknown model ids and use before fitting; saved and loaded through a checkpoint with identical scores;
deterministic under a seed; and, where the model has randomness, a different seed gives a different model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import IrtnetError, UnknownIdError
from irtnet.predictors import REGISTRY, Predictor
from irtnet.predictors.base import NotFittedError
from irtnet.predictors.baselines.simple import ModelMean
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.spec import ModelSpec, build_predictor, uses_seed
from irtnet.tasks.evaluate import score_matrix

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Small, fast parameters of every registered model (a model missing here fails the suite).
FIXTURES: dict[str, dict[str, Any]] = {
    "irtnet": {"preset": "small", "params": {"train": {"epochs": 3, "lr": 1e-2, "progress": False}}},
    "model-mean": {}, "model-benchmark-mean": {}, "random": {},
    "knn": {"params": {"k": 15}},
    "embedllm-mf": {"params": {"dim": 8, "epochs": 3, "lr": 1e-2}},
    "linear-mirt": {"params": {"dim": 3, "epochs": 3, "lr": 1e-2}},
    "irt-1pl": {"params": {"max_iter": 200}}, "irt-2pl": {"params": {"max_iter": 200}},
    "mirt-2pl": {"params": {"dim": 2, "max_iter": 200}},
    "routerdc": {"params": {"epochs": 3, "hidden": 32, "dim": 16}},
    "cluster-rate": {"params": {"n_clusters": 8, "prior_strength": 4.0}},
    "inferred-benchmark-rate": {},
}




@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Dataset, Dataset]:
    synth = make_synthetic(n_models=8, n_queries=240, n_benchmarks=2, dim=2, feature_dim=8, seed=0)
    full = Dataset.from_table(synth.table, embed_queries(synth.table, "hashing-64", use_cache=False))
    split = split_by_query(synth.table, (0.7, 0.15, 0.15), seed=0)
    return full.select(split.train), full.select(split.val), full.select(split.test)


def _fit(name: str, data, seed: int = 0):
    train, val, test = data
    model = build_predictor(ModelSpec(model=name, seed=seed, **FIXTURES.get(name, {})))
    if getattr(model, "item_seen", False):  # free per-item parameters: scored on queries seen in training
        fitted = model.fit(train, val)
        assert fitted is model, "fit must return the model itself"
        return model, train
    fitted = model.fit(train, val)
    assert fitted is model, "fit must return the model itself"
    return model, test


def check_contract(name: str, data, tmp_path) -> None:
    """Every clause of the contract for the registered model `name` (AssertionError on a breach)."""
    unfitted = build_predictor(ModelSpec(model=name, **FIXTURES.get(name, {})))
    with pytest.raises(NotFittedError):
        unfitted.scores(data[2].queries)
    model, test = _fit(name, data)
    names = list(test.table.model_vocab.ids)
    scores = score_matrix(model, test)
    assert scores.shape == (test.table.n_queries, len(names)), "scores must be [queries, models]"
    assert np.isfinite(scores).all(), "scores must be finite"
    if isinstance(model, Predictor):
        assert ((scores >= 0) & (scores <= 1)).all(), "a predictor's scores are probabilities"
    some = names[::-3]
    np.testing.assert_allclose(model.scores(test.queries, some), scores[:, [names.index(m) for m in some]],
                               atol=1e-6, err_msg="scores for a subset of models, in its order")
    with pytest.raises(UnknownIdError):
        model.scores(test.queries, ["no-such-model"])
    loaded = load_predictor(save_predictor(model, tmp_path / name))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(score_matrix(loaded, test), scores, err_msg="save/load changes the scores")
    again, _ = _fit(name, data)
    np.testing.assert_array_equal(score_matrix(again, test), scores, err_msg="the same seed gives the same model")
    if uses_seed(name):
        other, _ = _fit(name, data, seed=3)
        assert not np.array_equal(score_matrix(other, test), scores), "the seed must change a random model"


def test_every_registered_model_has_a_fixture():
    missing = sorted(set(REGISTRY) - set(FIXTURES))
    assert not missing, f"registered models without a contract fixture: {missing}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_contract(name, data, tmp_path):
    check_contract(name, data, tmp_path)


class _IgnoresModelOrder(ModelMean):
    """A deliberately broken baseline: it answers for every model whatever it was asked for."""

    def predict_proba(self, queries, models=None):
        self._check_fitted()
        return np.broadcast_to(self.mean_, (len(queries), len(self.mean_))).copy()


class _ForgetsOnSave(ModelMean):
    """Another: its checkpoint does not keep what it learned."""

    def get_state(self):
        meta, arrays = super().get_state()
        return meta, {"mean": np.full_like(arrays["mean"], 0.5)}


@pytest.mark.parametrize("broken", [_IgnoresModelOrder, _ForgetsOnSave])
def test_the_contract_catches_a_broken_model(broken, data, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "broken", broken)
    monkeypatch.setattr(broken, "name", "broken")
    with pytest.raises((AssertionError, IrtnetError)):
        check_contract("broken", data, tmp_path)

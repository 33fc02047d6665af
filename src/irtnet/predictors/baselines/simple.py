"""Reference predictors that read no text: per-model mean, per (model, benchmark) mean, and random.

The per (model, benchmark) training mean is the base-rate predictor that must stand beside every
correctness table: where base rates are extreme it is hard to beat on accuracy. `random` is the lower
bound: a coin flip for correctness and a uniformly random pick for routing. The oracle (1 if any model
is right) needs the test labels, so it is not a predictor: `irtnet.tasks.routing` reports it (and the
random pick's exact expectation) beside every router.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.predictors.base import Predictor, register
from irtnet.predictors.state import check_params, check_shapes, check_vocab


def _train_frame(data: Dataset) -> pd.DataFrame:
    resp, table = data.table.responses, data.table
    return pd.DataFrame({"model": resp["model"].astype(str), "label": resp["label"].to_numpy(np.float64),
                         "benchmark": table.queries["benchmark"].to_numpy(dtype=object)[table.query_index()]})


@register("model-mean")
class ModelMean(Predictor):
    """P(m answers q) = m's training accuracy, whatever q is."""

    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {"prior_strength": {"ge": 0}}  # (`baselines.params`)

    def __init__(self, prior_strength: float = 1.0) -> None:
        self.prior_strength = prior_strength

    def fit(self, train: Dataset, val: Dataset | None = None) -> ModelMean:
        frame = _train_frame(train)
        self.models_ = train.table.model_vocab
        stats = frame.groupby("model")["label"].agg(["sum", "count"]).reindex(self.models_.ids)
        global_mean = frame["label"].mean()
        k = self.prior_strength
        self.mean_ = ((stats["sum"] + k * global_mean) / (stats["count"] + k)).to_numpy()
        return self

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        return np.broadcast_to(self.mean_[m], (len(queries), len(m))).copy()

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        return {"models": self.models_.to_list(), "prior_strength": self.prior_strength}, {"mean": self.mean_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModelMean:
        self = cls(**check_params(cls, {"prior_strength": meta["prior_strength"]}, "state"))
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        check_shapes(arrays, {"mean": (len(self.models_),)})
        self.mean_ = arrays["mean"]
        return self


@register("model-benchmark-mean")
class ModelBenchmarkMean(Predictor):
    """P(m answers q) = m's training accuracy on q's benchmark, shrunk towards m's overall accuracy by
    `prior_strength` pseudo-labels; m's overall accuracy where q's benchmark is unknown or new."""

    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {"prior_strength": {"ge": 0}}  # (`baselines.params`)

    def __init__(self, prior_strength: float = 1.0) -> None:
        self.prior_strength = prior_strength

    def fit(self, train: Dataset, val: Dataset | None = None) -> ModelBenchmarkMean:
        frame = _train_frame(train)
        self.models_ = train.table.model_vocab
        self.model_mean_ = ModelMean(self.prior_strength).fit(train).mean_
        self.groups_ = Vocab("benchmark", train.table.benchmark_vocab.ids)
        stats = frame.groupby(["benchmark", "model"])["label"].agg(["sum", "count"])
        table = np.tile(self.model_mean_, (len(self.groups_), 1))
        for (bench, model), row in stats.iterrows():
            g, m = self.groups_.index([bench])[0], self.models_.index([model])[0]
            k = self.prior_strength
            table[g, m] = (row["sum"] + k * self.model_mean_[m]) / (row["count"] + k)
        self.mean_ = table
        return self

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        rows = np.tile(self.model_mean_[m], (len(queries), 1))
        if queries.groups is not None:
            pos = self.groups_._index.get_indexer(np.asarray(queries.groups, dtype=object))
            known = pos >= 0
            rows[known] = self.mean_[pos[known]][:, m]
        return rows

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"models": self.models_.to_list(), "groups": self.groups_.to_list(),
                "prior_strength": self.prior_strength}
        return meta, {"mean": self.mean_, "model_mean": self.model_mean_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModelBenchmarkMean:
        self = cls(**check_params(cls, {"prior_strength": meta["prior_strength"]}, "state"))
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        self.groups_ = Vocab("benchmark", check_vocab(meta, "groups"))
        m = len(self.models_)
        check_shapes(arrays, {"mean": (len(self.groups_), m), "model_mean": (m,)})
        self.mean_, self.model_mean_ = arrays["mean"], arrays["model_mean"]
        return self


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mixer (SplitMix64's finaliser); uint64 in, uint64 out."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _id_hashes(ids: Sequence[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "little")
                     for i in ids], dtype=np.uint64)


def pair_uniforms(query_ids: Sequence[str], model_ids: Sequence[str], seed: int) -> np.ndarray:
    """[n_queries, n_models] uniforms in [0, 1), a pure function of (seed, query id, model id): the same
    pair gets the same number whatever the batch, order or subset of models it is asked in."""
    q = _splitmix64(_id_hashes(query_ids) ^ _splitmix64(np.array([seed], dtype=np.uint64)))
    x = _splitmix64(q[:, None] ^ _splitmix64(_id_hashes(model_ids))[None, :])
    return (x >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


@register("random")
class RandomPredictor(Predictor):
    """The lower bound: P(m answers q) = 0.5 + spread * (u - 0.5), u uniform, seeded per (query, model).

    The probabilities are all but 0.5 (log loss ln 2, Brier 0.25, AUC about 0.5, accuracy at 0.5 a coin
    flip); their order is a seeded uniform random ranking of the models, so routing on them picks a
    uniformly random model per query through the same evaluator as every other router. Its routing
    accuracy estimates the "random" reference, which `irtnet.tasks.routing` computes exactly. `spread` lies in
    [1e-9, 1]: a smaller one would tie the models, and a pick among ties is always the first model.
    """

    #: (`baselines.params`) A spread of 0 would tie every model at 0.5, and a pick among ties is the first model,
    #: never a random one; below about 1e-9 the float64 values near 0.5 start to tie too.
    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {"spread": {"ge": 1e-9, "le": 1}}

    def __init__(self, seed: int = 0, spread: float = 1e-6) -> None:
        self.seed, self.spread = seed, spread

    def fit(self, train: Dataset, val: Dataset | None = None) -> RandomPredictor:
        self.models_ = train.table.model_vocab
        return self

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        names = [self.models_.id(i) for i in self._model_positions(models)]
        return 0.5 + self.spread * (pair_uniforms(queries.ids, names, self.seed) - 0.5)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        return {"models": self.models_.to_list(), "seed": self.seed, "spread": self.spread}, {}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RandomPredictor:
        self = cls(**check_params(cls, {"seed": meta["seed"], "spread": meta["spread"]}, "state"))
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        return self

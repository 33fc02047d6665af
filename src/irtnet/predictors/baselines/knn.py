"""K-nearest-neighbour predictor over query embeddings (the EmbedLLM paper's KNN baseline, k = 131).

P(m, q) = mean outcome of model m on the k training queries most cosine-similar to q among those m
answered, shrunk towards m's training mean by `prior_strength` pseudo-outcomes:

    P(m, q) = (sum_{j in N_k(q, m)} y_{m j} + s * mean_m) / (|N_k(q, m)| + s)

so a model with no labelled neighbour gets its training mean, and no probability is exactly 0 or 1
(where s > 0). Neighbours are uniform-weighted, as scikit-learn's KNeighborsClassifier in EmbedLLM.

Sparse labels: neighbours are searched among the `n_candidates(k)` most similar training queries
(k itself when every model answered every training query, so the result is exact there; with missing
labels the candidate pool grows by 1 / density times `candidate_factor`), and each model keeps the first
k of those it answered. A model that answered fewer than k of the candidates uses those it has.
Ties in similarity go to the training query listed first. There is no randomness, hence no seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError
from irtnet.predictors.base import Predictor, register
from irtnet.predictors.baselines._common import get_params, query_vectors, require_vectors
from irtnet.predictors.state import check_encoder, check_params, check_shapes, check_vocab, tensor_mismatch

_BLOCK_ELEMENTS = 8_000_000


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)


def _nearest(sim: np.ndarray, c: int) -> np.ndarray:
    """[B, c] the rows of the c largest similarities of each query, in row order; of rows tied at the c-th
    largest similarity, those listed first (`np.argpartition` alone would keep any of them)."""
    sim = np.where(np.isnan(sim), -np.inf, sim)                 # (a NaN similarity is the farthest)
    kth = -np.partition(-sim, c - 1, axis=1)[:, c - 1:c]        # each query's c-th largest similarity
    above, tied = sim > kth, sim == kth
    keep = above | (tied & (np.cumsum(tied, axis=1) <= c - above.sum(axis=1, keepdims=True)))
    return np.nonzero(keep)[1].reshape(len(sim), c)


def knn_mean(sim: np.ndarray, targets: np.ndarray, k: int, n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query and model, the sum and count of the first k labelled outcomes among the nearest rows.

    sim [B, N] similarities to the training queries; targets [N, M] outcomes, NaN where unlabelled.
    Returns (sum [B, M], count [B, M]).
    """
    c = min(n_candidates, sim.shape[1])
    cand = _nearest(sim, c) if c < sim.shape[1] else np.tile(np.arange(c), (len(sim), 1))
    # order the candidates by similarity, ties by training row: a stable sort on (-sim, row)
    order = np.argsort(-np.take_along_axis(sim, cand, axis=1), axis=1, kind="stable")
    cand = np.take_along_axis(cand, order, axis=1)
    t = targets[cand]                                   # [B, c, M]
    observed = ~np.isnan(t)
    use = observed & (np.cumsum(observed, axis=1) <= k)
    return np.where(use, t, 0.0).sum(axis=1), use.sum(axis=1)


@register("knn")
class KNN(Predictor):
    """KNN over query embeddings (see module docstring). Hyperparameters: `k` (neighbours per model),
    `prior_strength` (pseudo-outcomes at the model's mean), `target` ("score": fractional outcomes;
    "label": 0/1), `candidate_factor` (candidate pool size with missing labels), `chunk` (largest number of
    queries per similarity block). Learned state: `models_`, `encoder_`, `vectors_` [N, d] (unit-norm training
    embeddings), `targets_` [N, M] (training outcomes, NaN where unlabelled), `model_mean_` [M]."""

    reads_text = True
    nan_arrays = frozenset({"targets"})  # NaN: the training query has no label of that model
    #: Checked when the spec is resolved (`baselines.params`).
    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {
        "k": {"ge": 1}, "prior_strength": {"ge": 0}, "target": {"choices": ("score", "label")},
        "candidate_factor": {"gt": 0}, "chunk": {"ge": 1}}

    def __init__(self, k: int = 131, prior_strength: float = 1.0, target: str = "score",
                 candidate_factor: float = 2.0, chunk: int = 512) -> None:
        self.k, self.prior_strength, self.target = k, prior_strength, target
        self.candidate_factor, self.chunk = candidate_factor, chunk

    def fit(self, train: Dataset, val: Dataset | None = None) -> KNN:
        if self.k < 1:
            raise ConfigError(f"knn needs k >= 1, got {self.k}")
        if self.target not in ("score", "label"):
            raise ConfigError(f"unknown training target {self.target!r}: use 'score' or 'label'")
        require_vectors(train, self.name)
        self.models_ = train.table.model_vocab
        self.encoder_ = train.queries.encoder
        self.vectors_ = _normalise(train.queries.vectors)
        self.targets_ = train.table.label_matrix(value=self.target).astype(np.float32)
        sums, counts = np.nansum(self.targets_, axis=0), (~np.isnan(self.targets_)).sum(axis=0)
        s = self.prior_strength
        self.model_mean_ = (sums + s * sums.sum() / counts.sum()) / (counts + s)
        return self

    def n_candidates(self) -> int:
        density = float((~np.isnan(self.targets_)).mean())
        if density >= 1.0:
            return self.k
        return int(math.ceil(self.k * self.candidate_factor / max(density, 1e-6)))

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        x = _normalise(query_vectors(queries, self.vectors_.shape[1], self.encoder_, self.name))
        targets, mean, s = self.targets_[:, m], self.model_mean_[m], self.prior_strength
        out = np.empty((len(x), len(m)))
        n_cand = self.n_candidates()
        step = max(1, min(self.chunk, _BLOCK_ELEMENTS // max(1, n_cand * len(m))))  # bounds the [B, c, M] gather
        for start in range(0, len(x), step):
            block = slice(start, start + step)
            total, count = knn_mean(x[block] @ self.vectors_.T, targets, self.k, n_cand)
            with np.errstate(invalid="ignore", divide="ignore"):
                prob = (total + s * mean) / (count + s)
            out[block] = np.where(count + s > 0, prob, mean)
        return out

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"params": get_params(self), "models": self.models_.to_list(),
                "encoder": {"name": self.encoder_, "dim": int(self.vectors_.shape[1])}}
        return meta, {"vectors": self.vectors_, "targets": self.targets_, "model_mean": self.model_mean_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> KNN:
        self = cls(**check_params(cls, meta["params"]))
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        self.encoder_, dim = check_encoder(meta)
        m = len(self.models_)
        check_shapes(arrays, {"vectors": (None, dim), "targets": (None, m), "model_mean": (m,)})
        if len(arrays["vectors"]) != len(arrays["targets"]):
            raise tensor_mismatch(f"tensors 'vectors' {list(arrays['vectors'].shape)} and 'targets' "
                                  f"{list(arrays['targets'].shape)} differ in their number of training queries")
        self.vectors_, self.targets_, self.model_mean_ = arrays["vectors"], arrays["targets"], arrays["model_mean"]
        return self

"""A RouterDC-style dual contrastive router (Chen et al., NeurIPS 2024): routing only, no probabilities.

    h_q      = MLP(x_q)                              (RouterDC fine-tunes mDeBERTa; here a small MLP over the
                                                      frozen query embedding)
    s(q, m)  = cos(h_q, k_m)                         (k_m a learnable embedding per model)

Two contrastive losses, as in RouterDC:

- sample-LLM: for each query, each of its `top_k` best models (by outcome) is a positive against its
  `last_k` worst: -log softmax over [s(q, m+), s(q, m-_1..K)] / temperature. As in RouterDC, a positive
  must have outcome > 0 and a negative outcome <= 0.5. Only labelled models take part (missing labels are
  never read as wrong). Ties in outcome (all 0/1 data has many) are broken at random on every step
  (seeded) rather than by model order, so no model is the permanent positive of a tie.
- sample-sample: the training queries are clustered by k-means on their embeddings (`n_clusters`); for
  each query in a batch one same-cluster query is the positive and `cluster_negatives` other-cluster
  queries the negatives: -log softmax over their cosine similarities of h / temperature.

loss = sample-LLM + `cluster_weight` * sample-sample (`RouterDCObjective`), trained by irtnet's one trainer
(`irtnet.training.trainer.train`) on its query-major batches (`batch_size` queries each, with all their
labels): AdamW; early stopping on validation routing accuracy (each validation query routed among its
labelled models, the mean outcome of the pick), keeping a copy of the best weights.
Defaults follow RouterDC's published script (top_k 3, last_k 3, 5 clusters, 3 cluster negatives, batch
64, AdamW with weight decay 1e-4) except two: the learning rate, 1e-3 for a small MLP instead of 5e-5 for
fine-tuning a transformer, and the temperature, 0.1 instead of 1. Cosine similarities lie in [-1, 1], so
at temperature 1 the softmax can barely separate models; on llmrouter-dcrouter (hashing embeddings, query
split 80/10/10) the best validation routing accuracy was 0.585 at temperature 1 and 0.610 at 0.1 (both
of two seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from sklearn.cluster import KMeans
from torch import nn

from irtnet.data.dataset import Dataset, Queries
from irtnet.errors import ConfigError
from irtnet.predictors.base import Router, register
from irtnet.predictors.baselines._common import NetEstimator, train_config
from irtnet.training.batching import Batch, LabelArrays
from irtnet.training.trainer import StepLoss, TrainConfig


class RouterDCModule(nn.Module):
    """x [B, d_in] -> (cosine similarity to every model [B, M], query representation h [B, dim])."""

    def __init__(self, d_in: int, n_models: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.model_emb = nn.Parameter(torch.randn(n_models, dim) * 0.78)  # RouterDC's initial scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return F.normalize(h, dim=-1) @ F.normalize(self.model_emb, dim=-1).T, h


def sample_llm_loss(sim: torch.Tensor, outcome: torch.Tensor, top_k: int, last_k: int, temperature: float,
                    tie_break: torch.Tensor) -> torch.Tensor:
    """RouterDC's sample-LLM contrastive loss. sim [B, M]; outcome [B, M] (NaN = unlabelled);
    tie_break [B, M] small non-negative noise that orders equal outcomes at random."""
    observed = ~torch.isnan(outcome)
    y = torch.nan_to_num(outcome, nan=0.0)
    key = y + tie_break
    top_idx = torch.where(observed, key, -torch.inf).topk(min(top_k, y.shape[1]), dim=1).indices
    neg_idx = torch.where(observed, key, torch.inf).topk(min(last_k, y.shape[1]), dim=1, largest=False).indices
    logits = sim / temperature
    neg_ok = observed.gather(1, neg_idx) & (y.gather(1, neg_idx) <= 0.5)
    loss = sim.new_zeros(())
    for i in range(top_idx.shape[1]):
        pos = top_idx[:, i:i + 1]
        pos_ok = (observed.gather(1, pos) & (y.gather(1, pos) > 0)).squeeze(1)
        neg = torch.where(neg_ok & (neg_idx != pos), logits.gather(1, neg_idx), -torch.inf)
        logp = torch.log_softmax(torch.cat([logits.gather(1, pos), neg], dim=1), dim=1)[:, 0]
        loss = loss + torch.mean(-logp * pos_ok)
    return loss


def cluster_loss(h: torch.Tensor, cluster: torch.Tensor, n_negatives: int, temperature: float,
                 generator: torch.Generator) -> torch.Tensor:
    """RouterDC's sample-sample contrastive loss over query clusters. h [B, dim]; cluster [B] ids."""
    b = h.shape[0]
    hn = F.normalize(h, dim=-1)
    logits = hn @ hn.T / temperature
    same = cluster[:, None] == cluster[None, :]
    pos_mask = same & ~torch.eye(b, dtype=torch.bool)
    draw = torch.rand((b, b), generator=generator)
    pos = torch.where(pos_mask, draw, -1.0).argmax(dim=1, keepdim=True)
    neg = torch.where(~same, draw, -1.0).topk(min(n_negatives, b), dim=1).indices
    neg_ok = (~same).gather(1, neg)
    valid = pos_mask.any(dim=1) & neg_ok.any(dim=1)
    cand = torch.cat([logits.gather(1, pos), torch.where(neg_ok, logits.gather(1, neg), -torch.inf)], dim=1)
    logp = torch.log_softmax(cand, dim=1)[:, 0]
    return (-logp * valid).sum() / valid.sum().clamp(min=1)


def routing_value(scores: np.ndarray, outcome: np.ndarray) -> float:
    """Mean outcome of the top-scored labelled model per query (queries with no label are skipped)."""
    observed = ~np.isnan(outcome)
    keep = observed.any(axis=1)
    choice = np.argmax(np.where(observed, scores, -np.inf)[keep], axis=1)
    return float(outcome[keep][np.arange(len(choice)), choice].mean()) if keep.any() else float("nan")


def outcome_matrix(q_local: torch.Tensor, model: torch.Tensor, target: torch.Tensor, n_queries: int,
                   n_models: int) -> torch.Tensor:
    """[n_queries, n_models] outcomes of the listed pairs (q_local [P], model [P], target [P]), NaN elsewhere."""
    out = torch.full((n_queries, n_models), float("nan"), dtype=torch.float32)
    out[q_local, model] = target.to(torch.float32)
    return out


class RouterDCObjective(nn.Module):
    """RouterDC's two contrastive losses behind the trainer's `TrainableModule` protocol.

    Batches are the trainer's query-major batches; `batch.cluster` must hold each query's k-means cluster.
    Validation: routing accuracy ("routing", higher is better); no learning-rate plateau schedule.
    """

    plateau_metric: str | None = None

    def __init__(self, net: RouterDCModule, top_k: int, last_k: int, temperature: float, cluster_negatives: int,
                 cluster_weight: float, seed: int) -> None:
        super().__init__()
        self.net = net
        self.top_k, self.last_k, self.temperature = top_k, last_k, temperature
        self.cluster_negatives, self.cluster_weight = cluster_negatives, cluster_weight
        self.generator = torch.Generator().manual_seed(seed)  # ties in outcome, cluster positives/negatives

    def batch_loss(self, batch: Batch, n_models: int) -> StepLoss:
        sim, h = self.net(batch.x)
        outcome = outcome_matrix(batch.q_local, batch.model, batch.target, len(batch.x), n_models)
        loss = sample_llm_loss(sim, outcome, self.top_k, self.last_k, self.temperature,
                               torch.rand(sim.shape, generator=self.generator) * 1e-3)
        if self.cluster_weight:
            loss = loss + self.cluster_weight * cluster_loss(h, batch.cluster, self.cluster_negatives,
                                                             self.temperature, self.generator)
        return StepLoss(loss, loss.detach())

    @torch.no_grad()
    def validate(self, arrays: LabelArrays, n_models: int) -> dict[str, float]:
        was_training = self.training
        self.eval()
        sim = self.net(arrays.x)[0].double().numpy()
        self.train(was_training)
        q_local = torch.as_tensor(np.repeat(np.arange(arrays.n_queries), np.diff(arrays.indptr)))
        outcome = outcome_matrix(q_local, arrays.model, arrays.target, arrays.n_queries, n_models).double().numpy()
        return {"routing": routing_value(sim, outcome)}


@register("routerdc")
class RouterDC(NetEstimator, Router):
    """RouterDC-style router (see module docstring). Hyperparameters: `hidden`, `dim` (encoder sizes),
    `top_k`, `last_k`, `temperature`, `n_clusters`, `cluster_negatives`, `cluster_weight`, `epochs`,
    `batch_size` (queries per batch, each with all its labels), `lr`, `weight_decay` (AdamW's),
    `patience` (early stopping on validation routing accuracy), `target` ("score" or "label"), `seed`.
    Learned state: `models_`, `encoder_`, `d_in_`, `module_`, `result_` (also as `history_`, `best_epoch_`)."""

    #: Checked when the spec is resolved (`baselines.params`), with `NetEstimator`'s.
    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {
        **NetEstimator.param_bounds, "hidden": {"ge": 1}, "top_k": {"ge": 1}, "last_k": {"ge": 1},
        "temperature": {"gt": 0}, "n_clusters": {"ge": 1}, "cluster_negatives": {"ge": 0}, "cluster_weight": {"ge": 0}}

    def __init__(self, hidden: int = 256, dim: int = 128, top_k: int = 3, last_k: int = 3,
                 temperature: float = 0.1, n_clusters: int = 5, cluster_negatives: int = 3,
                 cluster_weight: float = 1.0, epochs: int = 50, batch_size: int = 64, lr: float = 1e-3,
                 weight_decay: float = 1e-4, patience: int = 5, target: str = "score", seed: int = 0) -> None:
        self.hidden, self.dim, self.top_k, self.last_k, self.temperature = hidden, dim, top_k, last_k, temperature
        self.n_clusters, self.cluster_negatives, self.cluster_weight = n_clusters, cluster_negatives, cluster_weight
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.target, self.seed = patience, target, seed

    def _build(self, d_in: int, n_models: int) -> RouterDCModule:
        return RouterDCModule(d_in, n_models, self.hidden, self.dim)

    def _train_config(self) -> TrainConfig:
        if self.target not in ("score", "label"):
            raise ConfigError(f"unknown training target {self.target!r}: use 'score' or 'label'")
        return train_config(self.name, epochs=self.epochs, batch_queries=self.batch_size, optimizer="adamw",
                            lr=self.lr, weight_decay=self.weight_decay, early_stopping_patience=self.patience,
                            select_metric="routing", target=self.target, seed=self.seed)

    def _trainable(self, module: nn.Module, arrays: LabelArrays) -> tuple[nn.Module, LabelArrays]:
        """The contrastive objective, on arrays whose `cluster` is each query's k-means cluster."""
        x = F.normalize(arrays.x, dim=-1).numpy()
        n_clusters = max(1, min(self.n_clusters, len(x)))
        clusters = KMeans(n_clusters, random_state=self.seed, n_init=10).fit_predict(x)
        objective = RouterDCObjective(module, self.top_k, self.last_k, self.temperature, self.cluster_negatives,
                                      self.cluster_weight, self.seed)
        return objective, replace(arrays, cluster=torch.as_tensor(clusters, dtype=torch.long))

    def fit(self, train: Dataset, val: Dataset | None = None) -> RouterDC:
        self._fit_network(train, val)
        return self

    @property
    def history_(self) -> list[dict[str, float]]:
        return self.result_.history

    @property
    def best_epoch_(self) -> int:
        return self.result_.best_epoch

    def scores(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        """[n_queries, n_models] cosine similarity of query and model representations (higher = better)."""
        m = self._model_positions(models)
        return self._forward(queries)[0][:, torch.as_tensor(m)].double().numpy()

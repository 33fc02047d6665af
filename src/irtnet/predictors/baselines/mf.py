"""EmbedLLM's matrix factorisation (Zhuang et al., ICLR 2025), behind the Predictor interface.

    q        = W x_q + c                      (x_q the frozen query embedding, + N(0, noise^2) in training)
    logit    = w . (P_m * q) + w_0            (P_m a free embedding per model, * elementwise)
    P(m, q)  = sigmoid(logit)

EmbedLLM's head is a 2-class linear layer trained with softmax cross-entropy; a 2-class softmax is the
sigmoid of the difference of the two logits, so one output trained with binary cross-entropy is the same
model with one redundant parameter set removed. The noise is added to the raw embedding before the
projection, as in EmbedLLM's code.

Defaults: EmbedLLM's published values (dim 232, noise 0.05, batch 2048 pairs, 50 epochs, weight decay 1e-5)
except the learning rate, 1e-3 instead of 1e-4: EmbedLLM's data gives about 1,600 steps per epoch, a data
set of a few thousand queries fewer than 100, and at 1e-4 the model stops far from converged. Early
stopping on validation log loss (patience 5) picks the epoch, so the higher rate does not overfit.
"""

from __future__ import annotations

import torch
from torch import nn

from irtnet.predictors.base import register
from irtnet.predictors.baselines._common import NetOutput, NetPredictor


class EmbedLLMModule(nn.Module):
    """x [B, d_in] -> logits [B, M] (all models) or [P] (pairs = (q_local [P], model [P]))."""

    def __init__(self, d_in: int, n_models: int, dim: int, noise: float) -> None:
        super().__init__()
        self.noise = noise
        self.model_emb = nn.Embedding(n_models, dim)
        self.proj = nn.Linear(d_in, dim)
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, groups: torch.Tensor | None = None,
                pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> NetOutput:
        if self.training and self.noise > 0:
            x = x + torch.randn_like(x) * self.noise
        q = self.proj(x)
        w, bias = self.head.weight[0], self.head.bias[0]
        if pairs is None:  # w . (P_m * q) = q . (w * P_m): one matrix product for every model
            return NetOutput(q @ (self.model_emb.weight * w).T + bias)
        q_idx, m_idx = pairs
        return NetOutput((q[q_idx] * self.model_emb.weight[m_idx]) @ w + bias)


@register("embedllm-mf")
class EmbedLLMMF(NetPredictor):
    """EmbedLLM matrix factorisation (see module docstring). Hyperparameters: `dim` (model embedding
    size), `noise` (std of training noise on the query embedding), and the optimisation settings
    `epochs`, `batch_pairs`, `lr`, `weight_decay`, `patience` (early stopping on validation log loss),
    `target` ("score": fractional outcomes weighted by trials; "label": 0/1), `seed`."""

    def __init__(self, dim: int = 232, noise: float = 0.05, epochs: int = 50, batch_pairs: int = 2048,
                 lr: float = 1e-3, weight_decay: float = 1e-5, patience: int = 5, target: str = "score",
                 seed: int = 0) -> None:
        self.dim, self.noise = dim, noise
        self.epochs, self.batch_pairs, self.lr, self.weight_decay = epochs, batch_pairs, lr, weight_decay
        self.patience, self.target, self.seed = patience, target, seed

    def _build(self, d_in: int, n_models: int) -> nn.Module:
        return EmbedLLMModule(d_in, n_models, self.dim, self.noise)

    @property
    def model_embeddings_(self):
        """P [n_models, dim] in `models_` order."""
        self._check_fitted()
        return self.module_.model_emb.weight.detach().numpy()

"""Amortised linear MIRT (the form of IRT-Router's MIRT router), behind the Predictor interface.

    a_q = W_a x_q          (discrimination, [d])
    b_q = w_b . x_q + c    (difficulty)
    P(m, q) = sigmoid(a_q . theta_m - b_q)

theta_m is a free ability vector per model; a_q and b_q are linear in the frozen query embedding, so a
new query needs no labels. It is IrtNet with the mixture of experts replaced by one linear map: the
baseline that says how much the network adds. The response function is `irtnet.models.irt`'s.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from irtnet.data.dataset import Queries
from irtnet.models.irt import irt_logit, pair_logit
from irtnet.predictors.base import register
from irtnet.predictors.baselines._common import NetOutput, NetPredictor, query_vectors


class LinearMIRTModule(nn.Module):
    """x [B, d_in] -> logits [B, M] (all models) or [P] (pairs = (q_local [P], model [P]))."""

    def __init__(self, d_in: int, n_models: int, dim: int, theta_init_std: float = 0.1) -> None:
        super().__init__()
        self.to_a = nn.Linear(d_in, dim, bias=False)
        self.to_b = nn.Linear(d_in, 1)
        self.theta = nn.Parameter(torch.randn(n_models, dim) * theta_init_std)

    def query_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a [B, dim], b [B]."""
        return self.to_a(x), self.to_b(x).squeeze(-1)

    def forward(self, x: torch.Tensor, groups: torch.Tensor | None = None,
                pairs: tuple[torch.Tensor, torch.Tensor] | None = None) -> NetOutput:
        a, b = self.query_params(x)
        if pairs is None:
            return NetOutput(irt_logit(self.theta, a, b))
        return NetOutput(pair_logit(self.theta, a, b, *pairs))


@register("linear-mirt")
class LinearMIRT(NetPredictor):
    """Amortised linear MIRT (see module docstring). Hyperparameters: `dim` (ability dimension) and the
    optimisation settings `epochs`, `batch_pairs`, `lr`, `weight_decay` (also the gauge fix of
    theta -> A theta, a -> A^-T a), `patience` (early stopping on validation log loss), `target`, `seed`."""

    def __init__(self, dim: int = 32, epochs: int = 50, batch_pairs: int = 2048, lr: float = 1e-3,
                 weight_decay: float = 1e-4, patience: int = 5, target: str = "score", seed: int = 0) -> None:
        self.dim = dim
        self.epochs, self.batch_pairs, self.lr, self.weight_decay = epochs, batch_pairs, lr, weight_decay
        self.patience, self.target, self.seed = patience, target, seed

    def _build(self, d_in: int, n_models: int) -> nn.Module:
        return LinearMIRTModule(d_in, n_models, self.dim)

    @torch.no_grad()
    def query_parameters(self, queries: Queries) -> tuple[np.ndarray, np.ndarray]:
        """Discrimination a [n, dim] and difficulty b [n] of each query."""
        self._check_fitted()
        a, b = self.module_.query_params(torch.as_tensor(query_vectors(queries, self.d_in_, self.encoder_, self.name)))
        return a.numpy(), b.numpy()

    @property
    def abilities_(self) -> np.ndarray:
        """theta [n_models, dim] in `models_` order."""
        self._check_fitted()
        return self.module_.theta.detach().numpy()

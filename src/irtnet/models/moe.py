"""Mixture of experts with a shared expert and auxiliary-loss-free load balancing.

    h = shared(x) + sum_{i in K} softmax_{j in K}(g(x))_i * expert_i(x),   K = TopK(g(x) + bias)
    expert(x) = Linear(in, hidden) -> ReLU -> Dropout -> Linear(hidden, out)

All experts live in stacked weight tensors and run as batched matrix products, never a Python loop:

- dense (top_k == n_experts, the IrtNet paper's published setting): one GEMM for every expert's first
  layer and one batched matmul for the second;
- sparse (top_k < n_experts): each (query, expert) assignment is dispatched into a padded
  [n_experts, capacity, in] tensor (capacity = the largest expert load in the batch), run through the
  same batched matmuls, and combined back with index_add. No assignment is ever dropped.

The balancing `bias` (DeepSeek-V3's auxiliary-loss-free method) only changes *which* experts are
selected; it is not a gradient parameter and never weights an expert's output. After each optimizer step
the trainer calls `update_bias(load)`, which moves each expert's bias by gamma towards the mean load
(the number of queries each expert received). With top_k == n_experts every expert is always selected,
so the bias is inert: that configuration is a dense MoE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pydantic import Field, model_validator
from torch import nn

from irtnet.config import StrictConfig


class MoEConfig(StrictConfig):
    """Sizes of the mixture of experts (strict: a bool or a string is not a number)."""

    n_experts: int = Field(39, ge=1)
    top_k: int = Field(39, ge=1)
    hidden: int = Field(512, ge=1)
    out: int = Field(256, ge=1)
    dropout: float = Field(0.5, ge=0.0, lt=1.0, allow_inf_nan=False)
    shared_expert: bool = True
    balance_gamma: float = Field(0.01, ge=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _k_le_n(self) -> MoEConfig:
        if self.top_k > self.n_experts:
            raise ValueError(f"top_k ({self.top_k}) cannot exceed n_experts ({self.n_experts})")
        return self


@dataclass
class GateStats:
    """Per-batch routing statistics: load [E] = queries sent to each expert; importance [E] = mean gate weight."""

    load: torch.Tensor
    importance: torch.Tensor


def dropout(h: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout (as `torch.nn.functional.dropout`) with the mask drawn as one uniform per element.

    Same distribution as torch's; torch's CPU kernel draws through `bernoulli_`, which takes about 3x as
    long, and at the paper's size (39 experts x 512 hidden) that was 9 % of a training step.
    """
    if not training or p == 0.0:
        return h
    return h * ((torch.rand_like(h) >= p) * (1.0 / (1.0 - p)))


class StackedExperts(nn.Module):
    """`n` two-layer MLP experts stored as stacked weights [n, in, hidden] and [n, hidden, out]."""

    def __init__(self, n: int, d_in: int, hidden: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(n, d_in, hidden))
        self.b1 = nn.Parameter(torch.empty(n, hidden))
        self.w2 = nn.Parameter(torch.empty(n, hidden, d_out))
        self.b2 = nn.Parameter(torch.empty(n, d_out))
        self.p = dropout
        for w, b, fan_in in ((self.w1, self.b1, d_in), (self.w2, self.b2, hidden)):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per expert
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def _outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert on every row, expert-major: x [B, in] -> [n, B, out].

        matmul broadcasts x over the experts and reads each expert's [in, hidden] block where it lies;
        flattening w1 into one [in, n * hidden] matrix would copy all first-layer weights (and their
        gradient) on every call, which dominates a small training batch.
        """
        h = torch.relu(torch.matmul(x, self.w1) + self.b1[:, None])                     # [n, B, hidden]
        h = dropout(h, self.p, self.training)
        return torch.baddbmm(self.b2[:, None], h, self.w2)

    def all_experts(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert on every row: x [B, in] -> [B, n, out]."""
        return self._outputs(x).transpose(0, 1)

    def mixture(self, x: torch.Tensor, weights: torch.Tensor | None = None, chunk: int = 1024) -> torch.Tensor:
        """sum_e weights[:, e] * expert_e(x): x [B, in], weights [B, n] (None: all ones) -> [B, out].

        Without autograd the rows go through in chunks of `chunk`, so a large inference batch never holds
        the whole [n, B, hidden] activation at once.
        """
        if not torch.is_grad_enabled() and x.shape[0] > chunk:
            return torch.cat([self.mixture(x[s:s + chunk], None if weights is None else weights[s:s + chunk],
                                           chunk) for s in range(0, x.shape[0], chunk)])
        out = self._outputs(x)
        if weights is not None:
            out = out * weights.T.unsqueeze(-1)
        return out.sum(0)

    def per_expert(self, x: torch.Tensor) -> torch.Tensor:
        """Expert e on its own rows: x [n, C, in] -> [n, C, out]."""
        h = dropout(torch.relu(torch.bmm(x, self.w1) + self.b1[:, None]), self.p, self.training)
        return torch.bmm(h, self.w2) + self.b2[:, None]


class MixtureOfExperts(nn.Module):
    """x [B, in] -> (h [B, out], GateStats)."""

    def __init__(self, d_in: int, config: MoEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.gate = nn.Linear(d_in, c.n_experts)
        self.experts = StackedExperts(c.n_experts, d_in, c.hidden, c.out, c.dropout)
        self.shared = StackedExperts(1, d_in, c.hidden, c.out, c.dropout) if c.shared_expert else None
        self.register_buffer("bias", torch.zeros(c.n_experts))

    @property
    def is_dense(self) -> bool:
        return self.config.top_k >= self.config.n_experts

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, GateStats]:
        logits = self.gate(x)
        weights = torch.softmax(logits, dim=-1)
        if self.is_dense:
            h = self.experts.mixture(x, weights)
            load = torch.full((self.config.n_experts,), float(x.shape[0]), device=x.device)
        else:
            h, load = self._sparse(x, logits, weights)
        if self.shared is not None:
            h = h + self.shared.mixture(x)
        return h, GateStats(load=load, importance=weights.mean(0).detach())

    def _sparse(self, x: torch.Tensor, logits: torch.Tensor, weights: torch.Tensor):
        n, k = self.config.n_experts, self.config.top_k
        chosen = torch.topk(logits.detach() + self.bias, k, dim=-1).indices          # [B, k]
        top_weights = torch.softmax(logits.gather(1, chosen), dim=-1).reshape(-1)    # softmax over the top-k
        rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(k)        # [B k]
        experts = chosen.reshape(-1)
        order = torch.argsort(experts, stable=True)
        rows, experts, top_weights = rows[order], experts[order], top_weights[order]
        load = torch.bincount(experts, minlength=n)
        slot = torch.arange(len(experts), device=x.device) - (torch.cumsum(load, 0) - load)[experts]
        capacity = int(load.max())
        index = torch.full((n, capacity), x.shape[0], device=x.device, dtype=torch.long)
        index[experts, slot] = rows
        padded = torch.cat([x, x.new_zeros(1, x.shape[1])])[index]                    # [n, C, in]
        out = self.experts.per_expert(padded)[experts, slot]                         # [B k, out]
        gate = top_weights.unsqueeze(-1)
        h = x.new_zeros(x.shape[0], out.shape[-1]).index_add_(0, rows, gate * out)
        return h, load.to(x.dtype)

    @torch.no_grad()
    def update_bias(self, load: torch.Tensor) -> None:
        """One balancing step: raise the bias of under-loaded experts, lower over-loaded ones."""
        if self.is_dense or self.config.balance_gamma == 0:
            return
        self.bias += self.config.balance_gamma * torch.sign(load.mean() - load)

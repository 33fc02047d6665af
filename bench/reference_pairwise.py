"""A pair-by-pair reference implementation of IrtNet, for timing only.

It computes the same mathematics as `irtnet.models.irtnet.IrtNetModule`,

    P(m correct on q) = sigmoid(a_q . theta_m - b_q),  (a_q, b_q) = heads(MoE(embedding_q)),

but shaped the way the authors' public research code is: the training set is a flat list of
(model, query, label) rows, a batch is 2048 such pairs, and the whole mixture of experts runs once per
*pair* (so a query's a_q, b_q are recomputed for every model that answered it). Each expert is its own
`Linear -> ReLU -> Dropout -> Linear` module visited in a Python loop, with the rows routed to it gathered
and scattered back. theta is an `nn.Embedding` looked up per pair.

It is written here from the description of that code (arXiv 2510.00844 and the behaviour of its public
train script); it is not a copy. It deliberately does NOT copy that code's defects, and it is slightly
*favoured*: batches are sliced from a shuffled index rather than collated item by item by a DataLoader.

`PairwiseIrtNet.from_module(module, embeddings)` copies the weights of an `IrtNetModule`, and
`gradients_by_name(module)` returns its gradients under the module's parameter names and shapes, so the
two implementations can be checked to give the same loss and the same gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from irtnet.models.irtnet import IrtNetConfig, IrtNetModule
from irtnet.models.moe import MoEConfig


class Expert(nn.Module):
    """One expert: Linear(in, hidden) -> ReLU -> Dropout -> Linear(hidden, out)."""

    def __init__(self, d_in: int, hidden: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_in, hidden), nn.Linear(hidden, d_out)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class PairwiseMoE(nn.Module):
    """Gate, top-k selection with a balancing bias, a Python loop over the experts, a shared expert."""

    def __init__(self, d_in: int, c: MoEConfig) -> None:
        super().__init__()
        self.config = c
        self.gate = nn.Linear(d_in, c.n_experts)
        self.experts = nn.ModuleList(Expert(d_in, c.hidden, c.out, c.dropout) for _ in range(c.n_experts))
        self.shared = Expert(d_in, c.hidden, c.out, c.dropout) if c.shared_expert else None
        self.register_buffer("bias", torch.zeros(c.n_experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.gate(x)
        chosen = torch.topk(logits.detach() + self.bias, self.config.top_k, dim=-1).indices
        weights = torch.softmax(logits.gather(1, chosen), dim=-1)         # over the selected experts
        h = x.new_zeros(x.shape[0], self.config.out)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if len(rows):
                h = h.index_add(0, rows, weights[rows, slot, None] * expert(x[rows]))
        if self.shared is not None:
            h = h + self.shared(x)
        return h, logits


class PairwiseIrtNet(nn.Module):
    """logit(model_ids [P], query_ids [P]) -> [P]; the query embeddings live in the model, as in the research code."""

    def __init__(self, config: IrtNetConfig, embeddings: torch.Tensor, n_models: int) -> None:
        super().__init__()
        if config.use_groups:
            raise ValueError("the reference implements the text-only network (use_groups=False)")
        self.config = config
        self.register_buffer("embeddings", embeddings)
        self.moe = PairwiseMoE(embeddings.shape[1], config.moe)
        self.to_a = nn.Linear(config.moe.out, config.dim)
        self.to_b = nn.Linear(config.moe.out, 1)
        self.theta = nn.Embedding(n_models, config.dim)

    def forward(self, model_ids: torch.Tensor, query_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embeddings[query_ids]                                    # one row per pair
        if self.training and self.config.input_noise > 0:
            x = x + torch.randn_like(x) * self.config.input_noise
        h, gate_logits = self.moe(x)                                      # the whole MoE, once per pair
        a, b = self.to_a(h), self.to_b(h).squeeze(-1)
        return (a * self.theta(model_ids)).sum(-1) - b, gate_logits

    @torch.no_grad()
    def balance_step(self, gate_logits: torch.Tensor) -> None:
        """The research code's bias update (by mean gate logit); inert when every expert is selected."""
        c = self.config.moe
        if c.top_k >= c.n_experts or c.balance_gamma == 0:
            return
        mean = gate_logits.mean(0)
        self.moe.bias += c.balance_gamma * torch.sign(mean.mean() - mean)

    # ------------------------------------------------------------------ correspondence with IrtNetModule
    @classmethod
    def from_module(cls, module: IrtNetModule, embeddings: torch.Tensor) -> PairwiseIrtNet:
        """A reference holding exactly `module`'s weights."""
        ref = cls(module.config, embeddings, module.n_models)
        src = module.moe
        with torch.no_grad():
            ref.moe.gate.load_state_dict(src.gate.state_dict())
            ref.moe.bias.copy_(src.bias)
            for e, expert in enumerate(ref.moe.experts):
                _load_expert(expert, src.experts, e)
            if ref.moe.shared is not None:
                _load_expert(ref.moe.shared, src.shared, 0)
            ref.to_a.load_state_dict(module.to_a.state_dict())
            ref.to_b.load_state_dict(module.to_b.state_dict())
            ref.theta.weight.copy_(module.theta)
        return ref

    def gradients_by_name(self, module: IrtNetModule) -> dict[str, torch.Tensor]:
        """This reference's gradients under `module`'s parameter names and shapes (zeros where none)."""
        def g(p: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(p) if p.grad is None else p.grad

        out = {"theta": g(self.theta.weight)}
        for name in ("weight", "bias"):
            out[f"moe.gate.{name}"] = g(getattr(self.moe.gate, name))
            out[f"to_a.{name}"] = g(getattr(self.to_a, name))
            out[f"to_b.{name}"] = g(getattr(self.to_b, name))
        groups = [("moe.experts", list(self.moe.experts))]
        if self.moe.shared is not None:
            groups.append(("moe.shared", [self.moe.shared]))
        for prefix, experts in groups:
            out[f"{prefix}.w1"] = torch.stack([g(e.fc1.weight).T for e in experts])
            out[f"{prefix}.b1"] = torch.stack([g(e.fc1.bias) for e in experts])
            out[f"{prefix}.w2"] = torch.stack([g(e.fc2.weight).T for e in experts])
            out[f"{prefix}.b2"] = torch.stack([g(e.fc2.bias) for e in experts])
        missing = {n for n, _ in module.named_parameters()} - set(out)
        if missing:
            raise ValueError(f"reference has no counterpart for {sorted(missing)}")
        return out


def _load_expert(expert: Expert, stacked, e: int) -> None:
    expert.fc1.weight.copy_(stacked.w1[e].T)
    expert.fc1.bias.copy_(stacked.b1[e])
    expert.fc2.weight.copy_(stacked.w2[e].T)
    expert.fc2.bias.copy_(stacked.b2[e])


def pair_batches(n_pairs: int, batch_pairs: int, generator: torch.Generator | None = None):
    """Index tensors of consecutive batches of a (shuffled) pair list."""
    order = torch.randperm(n_pairs, generator=generator) if generator is not None else torch.arange(n_pairs)
    for s in range(0, n_pairs, batch_pairs):
        yield order[s:s + batch_pairs]

"""The optional auxiliary losses of IrtNet, all off by default (weight 0).

Two contrastive terms on the unit-normalised discrimination vector a_q (the query's representation in
ability space), after the paper's "dual-contrastive learning for alignment":

- query-to-model: for each query with at least one correct and one wrong observed model, an InfoNCE over
  its observed models that pulls a_q toward the abilities theta_m of models that answered it correctly and
  away from those that failed it: -log( sum_{m correct} e^{s_qm/T} / sum_{m observed} e^{s_qm/T} ),
  s = cosine(a_q, theta_m). Fractional targets count as correct at >= 0.5.
- query-to-query: a supervised contrastive term over the queries of a batch, queries of the same
  benchmark (or cluster) being positives.

And a listwise ranking term on the pair logits themselves (`query_model_ranking`, ListNet).

All are pure functions of tensors, computed in float32 on the device of their inputs;
`IrtNetModule.auxiliary_loss` calls them with the configured weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _segment_logsumexp(values: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """log(sum(exp(values))) per segment id in [0, n); -inf for an empty segment."""
    peak = values.new_full((n,), -torch.inf).scatter_reduce(0, segment, values, "amax")
    safe = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    total = values.new_zeros(n).index_add(0, segment, torch.exp(values - safe[segment]))
    return torch.log(total) + safe


def query_model_alignment(a: torch.Tensor, theta: torch.Tensor, q_local: torch.Tensor, model: torch.Tensor,
                          target: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Mean InfoNCE over the queries of a batch that have both a correct and a wrong observed model."""
    sim = (F.normalize(a.float(), dim=-1)[q_local] * F.normalize(theta.float(), dim=-1)[model]).sum(-1) / temperature
    n = a.shape[0]
    positive = target >= 0.5
    lse_all = _segment_logsumexp(sim, q_local, n)
    lse_pos = _segment_logsumexp(sim.masked_fill(~positive, -torch.inf), q_local, n)
    n_pos = sim.new_zeros(n).index_add(0, q_local, positive.float())
    n_all = sim.new_zeros(n).index_add(0, q_local, torch.ones_like(sim))
    usable = (n_pos > 0) & (n_pos < n_all)
    if not bool(usable.any()):
        return a.sum() * 0.0
    return (lse_all - lse_pos)[usable].mean()


def query_query_alignment(a: torch.Tensor, cluster: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss: queries of the same cluster attract, the others repel."""
    z = F.normalize(a.float(), dim=-1)
    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -torch.inf)
    same = (cluster[:, None] == cluster[None, :]) & ~eye
    has_pos = same.any(1)
    if not bool(has_pos.any()):
        return a.sum() * 0.0
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos_mean = log_prob.masked_fill(~same, 0.0).sum(1) / same.sum(1).clamp(min=1)
    return -pos_mean[has_pos].mean()


def query_model_ranking(logits: torch.Tensor, q_local: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """Listwise ranking loss (ListNet): for each of the batch's `n` queries whose observed models' targets
    differ, the cross-entropy between the targets normalised to sum to 1 and the softmax of the pair logits
    [P] over those models. A query's difficulty cancels in the softmax, so it trains only the differences
    between the query's models' logits, which decide routing. Mean over the usable queries; 0 where none is."""
    logits, target = logits.float(), target.float()
    lse = _segment_logsumexp(logits, q_local, n)
    mass = logits.new_zeros(n).index_add(0, q_local, target)
    lo = logits.new_full((n,), torch.inf).scatter_reduce(0, q_local, target, "amin")
    hi = logits.new_full((n,), -torch.inf).scatter_reduce(0, q_local, target, "amax")
    usable = hi > lo  # targets in [0, 1]: some mass, and an order to learn
    if not bool(usable.any()):
        return logits.sum() * 0.0
    weight = target / mass.clamp(min=1e-12)[q_local]
    cross = logits.new_zeros(n).index_add(0, q_local, -weight * (logits - lse[q_local]))
    return cross[usable].mean()

"""The IRT response function, as pure tensor functions. Every model and baseline calls these."""

from __future__ import annotations

import torch


def irt_logit(theta: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Logits of every (query, model) pair: a_q . theta_m - b_q.

    theta: [M, d] abilities; a: [Q, d] discriminations; b: [Q] difficulties -> [Q, M].
    """
    return a @ theta.T - b[:, None]


def pair_logit(theta: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
               q_idx: torch.Tensor, m_idx: torch.Tensor) -> torch.Tensor:
    """Logits of the listed pairs only: a_{q_idx[p]} . theta_{m_idx[p]} - b_{q_idx[p]} -> [P].

    Costs O(P d) instead of O(Q M d), for sparse data where most pairs are unobserved.
    """
    return (a[q_idx] * theta[m_idx]).sum(-1) - b[q_idx]


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy with soft targets in [0, 1] and per-label weights.

    With target k/n and weight n this is the binomial log-likelihood of k successes in n trials (up to a
    constant), so 0/1, fractional and k-of-n outcomes all use their matching likelihood.
    """
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum()

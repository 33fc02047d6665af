"""IrtNet's seed ensemble ("members"): its checkpoint layout and its exact IRT representation, as pure functions.

Checkpoint layout: member 0's tensors keep their unprefixed names (a checkpoint of one network, written
before ensembles existed, is a one-member ensemble), member k >= 1's are stored as `member{k}.<name>`;
the state's `members` key records K (absent: 1).

IRT representation: the ensemble's logit is the mean of its members' logits,
mean_k(a_k . theta_k - b_k) = concat_k(a_k / sqrt K) . concat_k(theta_k / sqrt K) - mean_k(b_k),
so the ensemble is itself an IRT model of dimension K * d (`ensemble_items`, `ensemble_abilities`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn

from irtnet.predictors.state import StateError, load_weights


def member_prefix(k: int) -> str:
    """Member k's tensor-name prefix in a checkpoint ("" for member 0, else "member{k}.")."""
    return "" if k == 0 else f"member{k}."


def member_view(module: nn.Module, k: int) -> nn.Module:
    """Member k's network as its checkpoint names it: itself for member 0, else inside a container named
    `member{k}` (its state dict's keys `member{k}.<name>`), so `load_weights` names the full tensor names."""
    return module if k == 0 else nn.ModuleDict({f"member{k}": module})


def member_arrays(members: Sequence[nn.Module]) -> dict[str, np.ndarray]:
    """Every member's weights as CPU arrays, under their checkpoint names (`member_view`)."""
    return {name: value.detach().cpu().numpy()
            for k, module in enumerate(members) for name, value in member_view(module, k).state_dict().items()}


def split_member_arrays(arrays: dict[str, np.ndarray], n_members: int) -> list[dict[str, np.ndarray]]:
    """Per-member weights under their checkpoint names: member k >= 1's `member{k}.` tensors are taken out of
    `arrays`; member 0 gets what remains, so a tensor of no member (e.g. `member{K}.theta`) is reported as
    unexpected when member 0 is loaded."""
    out: list[dict[str, np.ndarray]] = [arrays]
    for k in range(1, n_members):
        prefix = member_prefix(k)
        out.append({name: arrays.pop(name) for name in [n for n in list(arrays.keys()) if n.startswith(prefix)]})
    return out


def load_members(members: Sequence[nn.Module], arrays: dict[str, np.ndarray]) -> None:
    """Load each member strictly from its tensors (taken out of `arrays`) and put it in eval mode; a missing,
    extra or misshapen tensor is a StateError with its full checkpoint name."""
    for k, (module, weights) in enumerate(zip(members, split_member_arrays(arrays, len(members)))):
        load_weights(member_view(module, k), weights)
        module.eval()


def check_members(meta: Mapping[str, Any]) -> int:
    """The state's number of members K (absent: 1, a checkpoint of a single network)."""
    value = meta.get("members", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StateError(f"state.members must be a positive integer, got {value!r}")
    return value


def check_member_best_epochs(meta: Mapping[str, Any], n_members: int, best_epoch: int) -> list[int]:
    """Each member's best epoch (absent: member 0's `best_epoch` and 0 for the others)."""
    value = meta["member_best_epochs"] if "member_best_epochs" in meta else [best_epoch] + [0] * (n_members - 1)
    if (not isinstance(value, list) or len(value) != n_members
            or not all(isinstance(e, int) and not isinstance(e, bool) for e in value)):
        raise StateError(f"state.member_best_epochs must be a list of {n_members} integers (one per member)")
    return value


def ensemble_items(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's (a [n, K*d], b [n]) from its members' (a_k [n, d], b_k [n]): a = concat_k(a_k / sqrt K),
    b = mean_k(b_k); one member's are returned unchanged."""
    if len(parts) == 1:
        return parts[0]
    scale = np.float32(1.0 / np.sqrt(len(parts)))
    a = np.concatenate([p[0] * scale for p in parts], axis=1)
    b = np.mean(np.stack([p[1] for p in parts]), axis=0, dtype=np.float64).astype(parts[0][1].dtype)
    return a, b


def ensemble_abilities(thetas: Sequence[np.ndarray]) -> np.ndarray:
    """The ensemble's abilities [n_models, K*d] = concat_k(theta_k / sqrt K); one member's unchanged."""
    if len(thetas) == 1:
        return thetas[0]
    scale = np.float32(1.0 / np.sqrt(len(thetas)))
    return np.concatenate([t * scale for t in thetas], axis=1)


def with_member_abilities(arrays: Mapping[str, np.ndarray], n_members: int, theta: np.ndarray) -> dict[str, np.ndarray]:
    """`arrays` with one more model, of ensemble ability `theta` [K*d], appended to every member's theta:
    member k's row is sqrt(K) * theta[k*d:(k+1)*d] (the inverse of `ensemble_abilities`)."""
    d = arrays["theta"].shape[1]
    scale = np.sqrt(n_members) if n_members > 1 else 1.0
    out = dict(arrays)
    for k in range(n_members):
        key = member_prefix(k) + "theta"
        row = np.asarray(theta[k * d:(k + 1) * d] * scale, arrays[key].dtype)
        out[key] = np.vstack([arrays[key], row[None]])
    return out

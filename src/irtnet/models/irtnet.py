"""The IrtNet network: P(correct | m, q) = sigmoid(a_q . theta_m - b_q).

theta_m is a free ability vector per model; a_q and b_q are predicted from the query embedding by a
mixture of experts, so a query never seen in training needs no labels. Optionally the query's benchmark
(group) enters the query representation as a learned embedding; an extra "unknown" slot is used for a
benchmark never seen and, with probability `group_dropout` during training, for known ones too, so the
network also learns to work from the text alone. With `group_abilities` (the default when groups are used)
a_q also carries the query's benchmark as a one-hot block and theta_m one matching ability per benchmark,
so the per-(model, benchmark) base rate is a special case of the model and the text explains the rest; the
response function keeps its form sigmoid(a_q . theta_m - b_q).

Compute shape: a_q, b_q depend only on the query, so the network runs once per query and all of that
query's models are scored with one matrix product (`irt_logit`), or, for a sparse batch, with a gather
over the observed pairs only (`pair_logit`). Both give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from irtnet.config import StrictConfig
from irtnet.models.alignment import query_model_alignment, query_model_ranking, query_query_alignment
from irtnet.models.irt import irt_logit, pair_logit
from irtnet.models.moe import GateStats, MixtureOfExperts, MoEConfig

# members="auto": a seed ensemble of AUTO_MEMBERS networks when training has fewer than AUTO_MEMBERS_BELOW
# queries, else one network. A compute rule, not tuned on test data: on few queries the variance between
# seeds dominates (text only, mean of 5 seeds: +0.0036 AUC on cruxeval's 1,280 training queries; mean of 3:
# +0.0003 on llmrouter's 4,300, `scripts/seed_ensemble_check.py`), and an ensemble costs K times the training.
AUTO_MEMBERS = 3
AUTO_MEMBERS_BELOW = 5000

# text_ngrams="auto": the widths tried (each is one more network trained), in order of preference: the
# default's 16 is kept unless no n-grams or 64 of them predict the validation queries better by more than two
# standard errors (`numeric.keep_unless_beaten`).
AUTO_NGRAMS = (16, 0, 64)


class IrtNetConfig(StrictConfig):
    """Architecture of IrtNet (the sizes of the data - embedding dim, models, groups - come from the data).
    Strict: a bool or a string where a number is expected is refused (an int is a valid float)."""

    dim: int = Field(232, ge=1, description="ability / discrimination dimension d")
    moe: MoEConfig = MoEConfig()
    input_noise: float = Field(0.05, ge=0.0, allow_inf_nan=False,
                              description="std of Gaussian noise on the embedding, training only")
    use_groups: bool = Field(False, description="let the benchmark name enter the query representation")
    group_dim: int = Field(16, ge=1)
    group_dropout: float = Field(0.2, ge=0.0, le=1.0, allow_inf_nan=False)
    group_abilities: bool = Field(True, description="with use_groups: one extra ability dimension per "
                                  "benchmark, a_q carrying the query's benchmark as a one-hot block")
    infer_groups: bool = Field(False, description="with use_groups: where a query's benchmark is not given, "
                               "average the predictions under each known benchmark, weighted by a text "
                               "classifier's posterior P(benchmark | text)")
    calibrate: bool = Field(False, description="after training, calibrate each answer path (benchmark known, "
                            "text only) on the validation queries: none, a temperature or Platt scaling, "
                            "whichever has the lowest log loss by 2-fold cross-validation within them")
    text_ngrams: Annotated[int, Field(ge=0, le=1024)] | Literal["auto"] = Field(
        0, description="append to the query embedding this many features of the raw text: its character "
        "n-grams' TF-IDF projected on the training texts' top singular vectors (predictors/ngram_projection.py); "
        f"0: the embedding alone; 'auto': one of {AUTO_NGRAMS} chosen on the validation queries' text-only log "
        "loss, another than the first only when better by more than two standard errors (the checkpoint holds "
        "the width)")
    linear_skip: bool = Field(False, description="add a linear map of the network's input to a_q and b_q, "
                              "beside the mixture of experts' (a residual path, as EmbedLLM's projection)")
    theta_init_std: float = Field(0.1, gt=0.0, allow_inf_nan=False)
    align_weight: float = Field(0.0, ge=0.0, allow_inf_nan=False,
                               description="weight of the query-to-model alignment loss (0: off)")
    align_query_weight: float = Field(0.0, ge=0.0, allow_inf_nan=False,
                                     description="weight of the query-to-query alignment loss")
    align_temperature: float = Field(0.1, gt=0.0, allow_inf_nan=False)
    rank_weight: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="weight of the listwise ranking loss "
                               "(ListNet): per query, the cross-entropy between the softmax of its observed models' "
                               "logits and their targets normalised to sum to 1; it trains the differences between a "
                               "query's models' logits, which decide routing (0: off)")
    members: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        1, description="seed ensemble: K networks trained with seeds seed, seed+1, ..., their logits averaged; "
        f"'auto' = {AUTO_MEMBERS} below {AUTO_MEMBERS_BELOW} training queries, else 1")


def resolve_members(members: int | str, n_train_queries: int) -> int:
    """The number of ensemble members K for a config's `members` and the number of training queries."""
    if members == "auto":
        return AUTO_MEMBERS if n_train_queries < AUTO_MEMBERS_BELOW else 1
    return int(members)


@dataclass
class IrtNetOutput:
    """logits: [B, M] (all models) or [P] (listed pairs); a: [B, d]; b: [B]; theta: [M, d]."""

    logits: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    theta: torch.Tensor
    gate: GateStats


class IrtNetModule(nn.Module):
    """The network. `n_groups` = number of known benchmarks (0 when groups are not used)."""

    def __init__(self, config: IrtNetConfig, d_in: int, n_models: int, n_groups: int = 0) -> None:
        super().__init__()
        self.config, self.d_in, self.n_models, self.n_groups = config, d_in, n_models, n_groups
        extra = 0
        self.group_emb: nn.Embedding | None = None
        if config.use_groups:
            self.group_emb = nn.Embedding(n_groups + 1, config.group_dim)  # last row: unknown benchmark
            extra = config.group_dim
        self.moe = MixtureOfExperts(d_in + extra, config.moe)
        self.to_a = nn.Linear(config.moe.out, config.dim)
        self.to_b = nn.Linear(config.moe.out, 1)
        self.skip = nn.Linear(d_in + extra, config.dim + 1) if config.linear_skip else None
        self.n_group_dims = n_groups if config.use_groups and config.group_abilities else 0
        self.theta = nn.Parameter(torch.randn(n_models, config.dim + self.n_group_dims) * config.theta_init_std)

    def query_params(self, x: torch.Tensor, groups: torch.Tensor | None = None):
        """x [B, d_in] embeddings, groups [B] group indices (n_groups = unknown) -> (a [B, d], b [B], GateStats)."""
        if self.training and self.config.input_noise > 0:
            x = x + torch.randn_like(x) * self.config.input_noise
        if self.group_emb is not None:
            if groups is None:
                groups = torch.full((x.shape[0],), self.n_groups, dtype=torch.long, device=x.device)
            elif self.training and self.config.group_dropout > 0:
                hide = torch.rand(groups.shape, device=x.device) < self.config.group_dropout
                groups = torch.where(hide, torch.full_like(groups, self.n_groups), groups)
            x = torch.cat([x, self.group_emb(groups)], dim=-1)
        h, gate = self.moe(x)
        a, b = self.to_a(h), self.to_b(h).squeeze(-1)
        if self.skip is not None:
            s = self.skip(x)
            a, b = a + s[:, :-1], b + s[:, -1]
        if self.n_group_dims:  # benchmark-specific ability dimensions; an unknown benchmark adds nothing
            onehot = torch.nn.functional.one_hot(groups, self.n_groups + 1)[:, : self.n_groups].to(a.dtype)
            a = torch.cat([a, onehot], dim=-1)
        return a, b, gate

    def forward(self, x: torch.Tensor, groups: torch.Tensor | None = None,
                pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
                models: torch.Tensor | None = None) -> IrtNetOutput:
        """Score queries against models.

        pairs = (q_local [P], m_idx [P]) scores only those pairs (logits [P]); otherwise every model, or the
        models listed in `models` [K], is scored with one matrix product (logits [B, M] or [B, K]).
        """
        a, b, gate = self.query_params(x, groups)
        theta = self.theta
        if pairs is not None:
            logits = pair_logit(theta, a, b, pairs[0], pairs[1])
        else:
            logits = irt_logit(theta if models is None else theta[models], a, b)
        return IrtNetOutput(logits, a, b, theta, gate)

    def auxiliary_loss(self, out: IrtNetOutput, batch) -> torch.Tensor | None:
        """The auxiliary terms for a training batch (None when every weight is 0). `out` is the forward of the
        batch's queries: pair logits [P] in the batch's pair order, or every model's [B, M] (a dense batch)."""
        cfg = self.config
        if cfg.align_weight == 0 and cfg.align_query_weight == 0 and cfg.rank_weight == 0:
            return None
        loss = out.a.sum() * 0.0
        if cfg.rank_weight > 0:
            pair = out.logits[batch.q_local, batch.model] if out.logits.dim() == 2 else out.logits  # dense batch
            loss = loss + cfg.rank_weight * query_model_ranking(pair, batch.q_local, batch.target, out.a.shape[0])
        if cfg.align_weight > 0:
            loss = loss + cfg.align_weight * query_model_alignment(
                out.a, out.theta, batch.q_local, batch.model, batch.target, cfg.align_temperature)
        if cfg.align_query_weight > 0 and batch.cluster is not None:
            loss = loss + cfg.align_query_weight * query_query_alignment(out.a, batch.cluster, cfg.align_temperature)
        return loss

    def balance_step(self, gate: GateStats) -> None:
        """Auxiliary-loss-free load balancing; call after each optimizer step (inert for a dense MoE)."""
        self.moe.update_bias(gate.load)


PRESETS: dict[str, IrtNetConfig] = {
    # The authors' published configuration: 39 experts, all selected (dense), d = 232.
    "paper": IrtNetConfig(),
    # A sparse variant of the paper's network: 8 of 39 experts per query, balanced by expert load.
    "paper-sparse": IrtNetConfig(moe=MoEConfig(top_k=8)),
    # irtnet's default for real logs: benchmark names enter the query (with benchmark-specific ability
    # dimensions), a smaller dense MoE that trains in minutes on a CPU. Chosen on llmrouter-dcrouter's
    # validation split; see docs/results-0.1.0.md (ablations) and docs/results.md.
    # members="auto": a 3-seed ensemble below 5,000 training queries (AUTO_MEMBERS above).
    # text_ngrams=16: 16 features of the text's character n-grams beside the sentence vector, chosen on
    # validation log loss and on benchmarks held out of training (docs/method.md section 1.2; 64 loses routing
    # on unseen benchmarks).
    "default": IrtNetConfig(dim=32, use_groups=True, group_dropout=0.1, infer_groups=True, calibrate=True,
                            text_ngrams=16, members="auto",
                            moe=MoEConfig(n_experts=8, top_k=8, hidden=256, out=128, dropout=0.5)),
    # A small network for tests and the demo.
    "small": IrtNetConfig(dim=8, moe=MoEConfig(n_experts=4, top_k=2, hidden=32, out=16, dropout=0.1)),
}

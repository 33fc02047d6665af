"""`IrtNet`: the estimator around `IrtNetModule` (fit on a Dataset, predict for any query embedding)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.models.irtnet import PRESETS, IrtNetConfig, IrtNetModule
from irtnet.predictors.base import Predictor, register
from irtnet.predictors.state import StateError, check_encoder, check_type, check_vocab, describe, load_weights
from irtnet.training.batching import build_arrays, group_indices
from irtnet.training.trainer import TrainConfig, TrainResult, train


def resolve_config(config: IrtNetConfig | str | dict[str, Any]) -> IrtNetConfig:
    """A config object from a preset name, a dict or a config."""
    if isinstance(config, IrtNetConfig):
        return config
    if isinstance(config, str):
        if config not in PRESETS:
            raise ConfigError(f"unknown IrtNet preset {config!r}; presets: {sorted(PRESETS)}")
        return PRESETS[config].model_copy(deep=True)
    return IrtNetConfig.model_validate(config)


@register("irtnet")
class IrtNet(Predictor):
    """IrtNet: P(m answers q) = sigmoid(a_q . theta_m - b_q), a_q and b_q from the query embedding.

    Parameters: `config` (an `IrtNetConfig`, a preset name such as "paper", or a dict) and `train`
    (a `TrainConfig`). Learned state: `models_` (model vocabulary), `groups_` (benchmark vocabulary, when
    the config uses groups), `encoder_` (name of the embedding encoder), `module_`, `result_`.
    """

    def __init__(self, config: IrtNetConfig | str | dict[str, Any] = "default",
                 train: TrainConfig | dict[str, Any] | None = None) -> None:
        self.config = config
        self.train = train

    # ------------------------------------------------------------------ fitting
    def fit(self, train_data: Dataset, val: Dataset | None = None) -> IrtNet:
        cfg = resolve_config(self.config)
        tcfg = self.train if isinstance(self.train, TrainConfig) else TrainConfig.model_validate(self.train or {})
        if train_data.queries.vectors is None:
            raise DataError("IrtNet needs query embeddings: the training data has none", field="vectors")
        self.config_, self.train_config_ = cfg, tcfg
        self.models_ = train_data.table.model_vocab
        self.groups_ = Vocab("benchmark", train_data.table.benchmark_vocab.ids) if cfg.use_groups else None
        self.encoder_ = train_data.queries.encoder
        self.d_in_ = int(train_data.queries.vectors.shape[1])
        arrays = build_arrays(train_data, self.models_, self.groups_, tcfg.target)
        val_arrays = build_arrays(val, self.models_, self.groups_, tcfg.target) if val is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            self.module_ = IrtNetModule(cfg, self.d_in_, len(self.models_), len(self.groups_ or ()))
            self.result_: TrainResult = train(self.module_, arrays, val_arrays, len(self.models_), tcfg)
        return self

    # ------------------------------------------------------------------ prediction
    def _inputs(self, queries: Queries) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check_fitted()
        if queries.vectors is None:
            raise DataError("IrtNet needs query embeddings; these queries have none", field="vectors")
        if queries.vectors.shape[1] != self.d_in_:
            raise DataError(f"query vectors have dimension {queries.vectors.shape[1]}, the model expects "
                            f"{self.d_in_} (encoder {self.encoder_!r})", field="vectors")
        if queries.encoder and self.encoder_ and queries.encoder != self.encoder_:
            raise DataError(f"queries were embedded with {queries.encoder!r} but the model was trained on "
                            f"{self.encoder_!r} embeddings", field="encoder")
        x = torch.as_tensor(np.ascontiguousarray(queries.vectors, dtype=np.float32))
        return x, group_indices(queries.groups, self.groups_)

    @torch.no_grad()
    def query_parameters(self, queries: Queries, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Discrimination a [n, d] and difficulty b [n] of each query."""
        x, groups = self._inputs(queries)
        self.module_.eval()
        a_parts, b_parts = [], []  # the query half of forward: the network runs once per query
        for s in range(0, len(x), batch_size):
            a, b, _ = self.module_.query_params(x[s:s + batch_size], None if groups is None else groups[s:s + batch_size])
            a_parts.append(a)
            b_parts.append(b)
        if not a_parts:
            return np.zeros((0, self.module_.theta.shape[1]), np.float32), np.zeros(0, np.float32)
        return torch.cat(a_parts).numpy(), torch.cat(b_parts).numpy()

    @torch.no_grad()
    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None,
                      batch_size: int = 4096) -> np.ndarray:
        """[n_queries, n_models] P(correct): the network's own forward (eval mode, `batch_size` queries at a
        time) scores every query against the models asked for, and the sigmoid of its logits is returned."""
        m = torch.as_tensor(self._model_positions(models))
        x, groups = self._inputs(queries)
        self.module_.eval()
        parts = [self.module_(x[s:s + batch_size], None if groups is None else groups[s:s + batch_size],
                              models=m).logits for s in range(0, len(x), batch_size)]
        if not parts:
            return np.zeros((0, len(m)))
        return torch.sigmoid(torch.cat(parts).double()).numpy()

    @property
    def abilities_(self) -> np.ndarray:
        """theta [n_models, d] in `models_` order."""
        self._check_fitted()
        return self.module_.theta.detach().numpy()

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {
            "config": self.config_.model_dump(), "train_config": self.train_config_.model_dump(),
            "models": self.models_.to_list(), "groups": None if self.groups_ is None else self.groups_.to_list(),
            "encoder": {"name": self.encoder_, "dim": self.d_in_},
            "history": self.result_.history, "best_epoch": self.result_.best_epoch,
        }
        arrays = {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> IrtNet:
        try:  # checkpoints written before benchmark-specific abilities existed had none
            cfg = IrtNetConfig.model_validate({"group_abilities": False, **check_type(meta, "config", dict)})
        except ValidationError as exc:
            raise StateError(f"invalid IrtNet config: {describe(exc, 'state.config')}") from exc
        try:
            tcfg = TrainConfig.model_validate(check_type(meta, "train_config", dict))
        except ValidationError as exc:
            raise StateError(f"invalid training config: {describe(exc, 'state.train_config')}") from exc
        self = cls(cfg, tcfg)
        self.config_, self.train_config_ = cfg, tcfg
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        groups = check_vocab(meta, "groups", optional=True)
        if (groups is None) == cfg.use_groups:
            raise StateError(f"state.groups must {'list the benchmarks' if cfg.use_groups else 'be null'} "
                             f"when config.use_groups is {cfg.use_groups}")
        self.groups_ = None if groups is None else Vocab("benchmark", groups)
        self.encoder_, self.d_in_ = check_encoder(meta)
        self.module_ = IrtNetModule(cfg, self.d_in_, len(self.models_), len(self.groups_ or ()))
        load_weights(self.module_, arrays)
        self.module_.eval()
        self.result_ = TrainResult(history=list(meta.get("history", [])), best_epoch=int(meta.get("best_epoch", 0)))
        return self

"""What the text baselines share: hyperparameter introspection, query-vector checks, and `NetPredictor`,
the shell of every baseline whose small network reads the query embedding and trains with irtnet's
trainer (`irtnet.training.trainer.train`: Adam, ReduceLROnPlateau, early stopping on validation with
the best weights truly copied).
"""

from __future__ import annotations

import inspect
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import Predictor
from irtnet.training.batching import build_arrays
from irtnet.training.trainer import TrainConfig, TrainResult, train


def get_params(obj: object) -> dict[str, Any]:
    """The constructor arguments of `obj` as stored on it (scikit-learn's `get_params`, shallow)."""
    names = [p for p in inspect.signature(type(obj).__init__).parameters if p != "self"]
    return {name: getattr(obj, name) for name in names}


def query_vectors(queries: Queries, d_in: int, encoder: str | None, who: str) -> np.ndarray:
    """The queries' embedding vectors [n, d_in] float32, after checking dimension and encoder."""
    if queries.vectors is None:
        raise DataError(f"{who} needs query embeddings; these queries have none", field="vectors")
    if queries.vectors.shape[1] != d_in:
        raise DataError(f"query vectors have dimension {queries.vectors.shape[1]}, {who} expects {d_in} "
                        f"(encoder {encoder!r})", field="vectors")
    if queries.encoder and encoder and queries.encoder != encoder:
        raise DataError(f"queries were embedded with {queries.encoder!r} but {who} was trained on "
                        f"{encoder!r} embeddings", field="encoder")
    return np.ascontiguousarray(queries.vectors, dtype=np.float32)


def net_state(obj: Any, history: list, best_epoch: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Checkpoint state of a fitted network estimator: its params, vocabulary, encoder, history and weights."""
    meta = {"params": get_params(obj), "models": obj.models_.to_list(),
            "encoder": {"name": obj.encoder_, "dim": obj.d_in_}, "history": history, "best_epoch": best_epoch}
    return meta, {k: v.detach().cpu().numpy() for k, v in obj.module_.state_dict().items()}


def restore_net(cls: type, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """The estimator `net_state` described, with its network rebuilt (`cls._build`) and weights loaded."""
    obj = cls(**meta["params"])
    obj.models_ = Vocab("model", meta["models"])
    obj.encoder_, obj.d_in_ = meta["encoder"]["name"], int(meta["encoder"]["dim"])
    obj.module_ = obj._build(obj.d_in_, len(obj.models_))
    obj.module_.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
    obj.module_.eval()
    return obj


def require_vectors(data: Dataset, who: str) -> None:
    if data.queries.vectors is None:
        raise DataError(f"{who} needs query embeddings: the training data has none", field="vectors")


@dataclass
class NetOutput:
    """logits: [B, M] for every model, or [P] for the listed (query, model) pairs."""

    logits: torch.Tensor


class NetPredictor(Predictor):
    """A predictor made of one `nn.Module` over the query embedding, trained by irtnet's trainer.

    Subclasses store their hyperparameters in `__init__` (among them `epochs`, `batch_pairs`, `lr`,
    `weight_decay`, `patience`, `target`, `seed`) and build the module in `_build`. The module's
    forward takes (x [B, d_in], groups=None, pairs=None) and returns a `NetOutput`.
    Learned state: `models_`, `encoder_`, `d_in_`, `module_`, `result_`.
    """

    epochs: int
    batch_pairs: int
    lr: float
    weight_decay: float
    patience: int
    target: str
    seed: int

    @abstractmethod
    def _build(self, d_in: int, n_models: int) -> nn.Module: ...

    def _train_config(self) -> TrainConfig:
        try:
            return TrainConfig(epochs=self.epochs, batch_pairs=self.batch_pairs, lr=self.lr,
                               weight_decay=self.weight_decay, early_stopping_patience=self.patience,
                               target=self.target, seed=self.seed, progress=False)
        except ValidationError as exc:
            bad = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid {self.name} hyperparameters: {bad}") from exc

    def fit(self, train_data: Dataset, val: Dataset | None = None) -> NetPredictor:
        require_vectors(train_data, self.name)
        cfg = self._train_config()
        self.models_ = train_data.table.model_vocab
        self.encoder_ = train_data.queries.encoder
        self.d_in_ = int(train_data.queries.vectors.shape[1])
        arrays = build_arrays(train_data, self.models_, None, cfg.target)
        val_arrays = build_arrays(val, self.models_, None, cfg.target) if val is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.module_ = self._build(self.d_in_, len(self.models_))
            self.result_: TrainResult = train(self.module_, arrays, val_arrays, len(self.models_), cfg)
        return self

    @torch.no_grad()
    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        x = torch.as_tensor(query_vectors(queries, self.d_in_, self.encoder_, self.name))
        self.module_.eval()
        return torch.sigmoid(self.module_(x).logits[:, torch.as_tensor(m)]).double().numpy()

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        return net_state(self, self.result_.history, self.result_.best_epoch)

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> NetPredictor:
        self = restore_net(cls, meta, arrays)
        self.result_ = TrainResult(history=meta.get("history", []), best_epoch=meta.get("best_epoch", 0))
        return self

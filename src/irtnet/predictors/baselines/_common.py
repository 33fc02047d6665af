"""What the text baselines share: hyperparameter introspection, query-vector checks, and `NetEstimator`,
the shell of every baseline whose small network reads the query embedding and trains with irtnet's one
trainer (`irtnet.training.trainer.train`: Adam or AdamW, ReduceLROnPlateau, early stopping on a
validation figure with the best weights truly copied). `NetPredictor` is the predictor among them (EmbedLLM
MF, linear MIRT: the likelihood of the labels); RouterDC is a router with its own objective.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import Predictor
from irtnet.predictors.state import check_encoder, check_history, check_params, check_vocab, load_weights
from irtnet.training.batching import LabelArrays, build_arrays
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
    obj = cls(**check_params(cls, meta["params"]))
    obj.models_ = Vocab("model", check_vocab(meta, "models"))
    obj.encoder_, obj.d_in_ = check_encoder(meta)
    obj.module_ = obj._build(obj.d_in_, len(obj.models_))
    load_weights(obj.module_, arrays)
    obj.module_.eval()
    return obj


def require_vectors(data: Dataset, who: str) -> None:
    if data.queries.vectors is None:
        raise DataError(f"{who} needs query embeddings: the training data has none", field="vectors")


@dataclass
class NetOutput:
    """logits: [B, M] for every model, or [P] for the listed (query, model) pairs."""

    logits: torch.Tensor


def train_config(who: str, **settings: Any) -> TrainConfig:
    """A `TrainConfig` from a baseline's hyperparameters; a bad value is a ConfigError naming it."""
    try:
        return TrainConfig(progress=False, **settings)
    except ValidationError as exc:
        bad = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {who} hyperparameters: {bad}") from exc


class NetEstimator(ABC):
    """A model made of one `nn.Module` over the query embedding, trained by irtnet's trainer.

    Subclasses store their hyperparameters in `__init__` (among them `seed`), build the network in
    `_build(d_in, n_models)`, say how it trains in `_train_config()`, and may wrap the network in their own
    objective (`_trainable(module, arrays)`, a `TrainableModule`; by default the trainer's likelihood of the
    labels) after adjusting the training arrays. Learned state: `models_`, `encoder_`, `d_in_`,
    `module_` (the network), `result_` (the training history).
    """

    reads_text = True
    name: str
    seed: int
    #: Checked when the spec is resolved (`baselines.params`); a subclass adds its own to these.
    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {
        "dim": {"ge": 1}, "epochs": {"ge": 1}, "batch_pairs": {"ge": 1}, "batch_size": {"ge": 1}, "lr": {"gt": 0},
        "weight_decay": {"ge": 0}, "patience": {"ge": 1}, "noise": {"ge": 0}, "target": {"choices": ("score", "label")}}

    @abstractmethod
    def _build(self, d_in: int, n_models: int) -> nn.Module: ...

    @abstractmethod
    def _train_config(self) -> TrainConfig: ...

    def _trainable(self, module: nn.Module, arrays: LabelArrays) -> tuple[nn.Module, LabelArrays]:
        """What the trainer runs, and on which arrays (default: the network itself, the arrays as built)."""
        return module, arrays

    def _fit_network(self, train_data: Dataset, val: Dataset | None) -> None:
        require_vectors(train_data, self.name)
        cfg = self._train_config()
        self.models_ = train_data.table.model_vocab
        self.encoder_ = train_data.queries.encoder
        self.d_in_ = int(train_data.queries.vectors.shape[1])
        if val is not None:
            self._check_validation(val)
        arrays = build_arrays(train_data, self.models_, None, cfg.target)
        val_arrays = build_arrays(val, self.models_, None, cfg.target) if val is not None else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.module_ = self._build(self.d_in_, len(self.models_))
            trainable, arrays = self._trainable(self.module_, arrays)
            self.result_: TrainResult = train(trainable, arrays, val_arrays, len(self.models_), cfg)
        self.module_.eval()

    def _check_validation(self, val: Dataset) -> None:
        """DataError unless the validation data's vectors are the training data's kind (dimension, encoder) and its
        models are among the training models: checked before training, not a torch error at the first validation."""
        try:
            query_vectors(val.queries, self.d_in_, self.encoder_, self.name)
        except DataError as exc:
            raise DataError(f"the validation data: {exc.reason}", field=exc.field) from None
        unknown = sorted(set(val.table.model_vocab.ids) - set(self.models_.ids))
        if unknown:
            raise DataError(f"the validation data has {len(unknown)} model(s) without a training label (first: "
                            f"{unknown[:3]}); {self.name} learns only the training data's models", field="model")

    @torch.no_grad()
    def _forward(self, queries: Queries) -> Any:
        """The network's output on `queries`, in eval mode (training mode restored after)."""
        x = torch.as_tensor(query_vectors(queries, self.d_in_, self.encoder_, self.name))
        was_training = self.module_.training
        self.module_.eval()
        try:
            return self.module_(x)
        finally:
            self.module_.train(was_training)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        return net_state(self, self.result_.history, self.result_.best_epoch)

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        self = restore_net(cls, meta, arrays)
        self.result_ = TrainResult(history=check_history(meta), best_epoch=int(meta.get("best_epoch", 0)))
        return self


class NetPredictor(NetEstimator, Predictor):
    """A predictor made of one network over the query embedding, trained on the likelihood of the labels.

    Hyperparameters include `epochs`, `batch_pairs`, `lr`, `weight_decay`, `patience`, `target`, `seed`.
    The network's forward takes (x [B, d_in], groups=None, pairs=None) and returns a `NetOutput`.
    """

    epochs: int
    batch_pairs: int
    lr: float
    weight_decay: float
    patience: int
    target: str

    def _train_config(self) -> TrainConfig:
        return train_config(self.name, epochs=self.epochs, batch_pairs=self.batch_pairs, lr=self.lr,
                            weight_decay=self.weight_decay, early_stopping_patience=self.patience,
                            target=self.target, seed=self.seed)

    def fit(self, train_data: Dataset, val: Dataset | None = None) -> NetPredictor:
        self._fit_network(train_data, val)
        return self

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        return torch.sigmoid(self._forward(queries).logits[:, torch.as_tensor(m)]).double().numpy()

"""The two narrow interfaces every model and baseline implements, and a plain registry.

- `Predictor`: `fit(train, val)` then `predict_proba(queries, models) -> [n_queries, n_models]`.
- `Router`: `scores(queries, models) -> [n_queries, n_models]`, higher is better; `choose` takes the argmax.
  Every predictor is a router (its scores are its probabilities); some routers give no probabilities.

Constructors only store hyperparameters; `fit` validates, learns state in attributes ending in `_`
(`models_`, ...) and returns self. `get_state`/`from_state` turn a fitted router or predictor into JSON-able
metadata plus named arrays, which `irtnet.predictors.checkpoint` writes as JSON + safetensors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, IrtnetError


class NotFittedError(IrtnetError, RuntimeError):
    """A predictor used before `fit` (or `load`)."""


class Router(ABC):
    """Anything that ranks models for queries."""

    name: ClassVar[str] = "router"
    #: Arrays of the saved state that may hold NaN (e.g. "missing label"); every other array must be finite.
    nan_arrays: ClassVar[frozenset[str]] = frozenset()
    #: True for routers that read the queries' text embeddings: they cannot run on a table without query texts.
    reads_text: ClassVar[bool] = False
    models_: Vocab

    @abstractmethod
    def fit(self, train: Dataset, val: Dataset | None = None) -> Router: ...

    @abstractmethod
    def scores(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        """[n_queries, n_models] routing scores, higher = better, for `models` (default: all known)."""

    def choose(self, queries: Queries, models: Sequence[str] | None = None) -> list[str]:
        """The best model for each query."""
        names = list(models) if models is not None else self.models_.to_list()
        return [names[i] for i in np.argmax(self.scores(queries, models), axis=1)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() or load a checkpoint")

    def _model_positions(self, models: Sequence[str] | None) -> np.ndarray:
        self._check_fitted()
        if isinstance(models, (str, bytes)):  # never its characters: "m1" is not the models 'm' and '1'
            raise ConfigError(f"models must be a list of model ids, not one string ({models!r}): e.g. [{models!r}]")
        return np.arange(len(self.models_)) if models is None else self.models_.index(list(models))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able metadata, named arrays) of the fitted object; `from_state` rebuilds it from them."""
        raise ConfigError(f"{type(self).__name__} cannot be saved")

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Router:
        raise ConfigError(f"{cls.__name__} cannot be loaded")


class Predictor(Router):
    """A router that also gives calibrated probabilities of correctness."""

    name: ClassVar[str] = "predictor"
    #: True for models with free per-item parameters: they predict only queries seen in `fit`.
    item_seen: ClassVar[bool] = False

    @abstractmethod
    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        """[n_queries, n_models] probabilities that each model answers each query correctly."""

    def scores(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        return self.predict_proba(queries, models)


R = TypeVar("R", bound=type[Router])
REGISTRY: dict[str, type[Router]] = {}


def register(name: str) -> Callable[[R], R]:
    """Class decorator: make a router or predictor available by `name` (CLI, compare, checkpoints).

    A name already registered to another class is a ConfigError (registering the same class again, as a
    module reload does, is allowed).
    """

    def deco(cls: R) -> R:
        known = REGISTRY.get(name)
        if known is not None and known is not cls and _qualname(known) != _qualname(cls):
            raise ConfigError(f"the model name {name!r} is already registered to {_qualname(known)}; "
                              f"cannot register {_qualname(cls)} under it")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"

"""Predictors and routers; importing this package registers all of them."""

from irtnet.predictors.base import REGISTRY, NotFittedError, Predictor, Router, register
from irtnet.predictors.irtnet import IrtNet

__all__ = ["REGISTRY", "IrtNet", "NotFittedError", "Predictor", "Router", "register"]
from irtnet.predictors.baselines.simple import ModelBenchmarkMean, ModelMean  # noqa: E402

__all__ += ["ModelBenchmarkMean", "ModelMean"]

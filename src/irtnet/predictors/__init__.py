"""Predictors and routers; importing this package registers all of them."""

from irtnet.predictors.base import REGISTRY, NotFittedError, Predictor, Router, register
from irtnet.predictors.irtnet import IrtNet

__all__ = ["REGISTRY", "IrtNet", "NotFittedError", "Predictor", "Router", "register"]
from irtnet.predictors.baselines import (  # noqa: E402
    IRT1PL, IRT2PL, KNN, MIRT2PL, ClusterRate, EmbedLLMMF, InferredBenchmarkRate, LinearMIRT, ModelBenchmarkMean,
    ModelMean, RandomPredictor, RouterDC,
)

__all__ += ["ClusterRate", "EmbedLLMMF", "IRT1PL", "IRT2PL", "InferredBenchmarkRate", "KNN", "LinearMIRT", "MIRT2PL",
            "ModelBenchmarkMean", "ModelMean", "RandomPredictor", "RouterDC"]

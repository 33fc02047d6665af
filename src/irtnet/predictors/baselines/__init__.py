"""Baselines, each behind the same Predictor/Router interface and scored by the same evaluator.

| registry name          | class                | reads text | gives probabilities | new queries |
|------------------------|----------------------|------------|---------------------|-------------|
| `model-mean`           | `ModelMean`          | no         | yes                 | yes         |
| `model-benchmark-mean` | `ModelBenchmarkMean` | no         | yes                 | yes         |
| `random`               | `RandomPredictor`    | no         | yes (all ~0.5)      | yes         |
| `embedllm-mf`          | `EmbedLLMMF`         | yes        | yes                 | yes         |
| `knn`                  | `KNN`                | yes        | yes                 | yes         |
| `linear-mirt`          | `LinearMIRT`         | yes        | yes                 | yes         |
| `cluster-rate`         | `ClusterRate`        | yes (vectors only) | yes         | yes         |
| `inferred-benchmark-rate` | `InferredBenchmarkRate` | yes (+ names where given) | yes | yes    |
| `irt-1pl`, `irt-2pl`, `mirt-2pl` | `IRT1PL`, `IRT2PL`, `MIRT2PL` | no | yes          | no (item-seen) |
| `routerdc`             | `RouterDC` (Router)  | yes        | no (scores only)    | yes         |

The oracle (1 if any model is right) needs the test labels, so it is not a baseline here: it is a
reference computed from labels in `irtnet.tasks.routing`, beside the random pick's exact expectation,
the best single model and each benchmark's best model on training data.
"""

from irtnet.predictors.baselines.irt import IRT1PL, IRT2PL, MIRT2PL, IrtFit, UnseenQueryError, fit_2pl, fit_irt
from irtnet.predictors.baselines.irt_newton import fit_2pl_newton
from irtnet.predictors.baselines.knn import KNN
from irtnet.predictors.baselines.linear_mirt import LinearMIRT
from irtnet.predictors.baselines.mf import EmbedLLMMF
from irtnet.predictors.baselines.routerdc import RouterDC
from irtnet.predictors.baselines.simple import ModelBenchmarkMean, ModelMean, RandomPredictor
from irtnet.predictors.baselines.text_rates import ClusterRate, InferredBenchmarkRate

__all__ = ["IRT1PL", "IRT2PL", "KNN", "MIRT2PL", "ClusterRate", "EmbedLLMMF", "InferredBenchmarkRate", "IrtFit",
           "LinearMIRT", "ModelBenchmarkMean", "ModelMean", "RandomPredictor", "RouterDC", "UnseenQueryError",
           "fit_2pl", "fit_2pl_newton", "fit_irt"]

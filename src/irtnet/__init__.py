"""irtnet: compact, interpretable representations of LLM abilities with Item Response Theory.

    P(model m answers query q correctly) = sigmoid(a_q . theta_m - b_q)

The public API is small; everything is imported lazily, so `import irtnet` loads no torch and no pandas:

    from irtnet import import_table, prepare, make_split, IrtNet, evaluate, save_predictor, load
    from irtnet import ModelSpec, RunSpec, train_run, evaluate_run, rank_models
"""

from __future__ import annotations

import importlib
from typing import Any

from irtnet._version import __version__

_PUBLIC = {
    # data
    "ResponseTable": "irtnet.data.table",
    "import_table": "irtnet.data.importers",
    "load_table": "irtnet.api.data",
    "make_synthetic": "irtnet.data.synthetic",
    "prepare": "irtnet.api.data",
    "make_split": "irtnet.api.data",
    "split_datasets": "irtnet.api.data",
    # models
    "IrtNet": "irtnet.predictors.irtnet",
    "ModelSpec": "irtnet.predictors.spec",
    "build_predictor": "irtnet.predictors.spec",
    "save_predictor": "irtnet.predictors.checkpoint",
    "load": "irtnet.api.texts",
    # runs
    "RunSpec": "irtnet.api.run",
    "train_run": "irtnet.api.run",
    "evaluate_run": "irtnet.api.run",
    # tasks
    "evaluate": "irtnet.tasks.evaluate",
    "rank_models": "irtnet.api.texts",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'irtnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

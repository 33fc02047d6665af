"""irtnet: compact, interpretable representations of LLM abilities with Item Response Theory.

    P(model m answers query q correctly) = sigmoid(a_q . theta_m - b_q)

The public API is small; everything is imported lazily, so `import irtnet` loads no torch and no pandas:

    from irtnet import import_table, prepare, make_split, IrtNet, evaluate, save_predictor, load
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    # data
    "ResponseTable": "irtnet.data.table",
    "import_table": "irtnet.data.importers",
    "load_table": "irtnet.api",
    "make_synthetic": "irtnet.data.synthetic",
    "prepare": "irtnet.api",
    "make_split": "irtnet.api",
    "split_datasets": "irtnet.api",
    # models
    "IrtNet": "irtnet.predictors.irtnet",
    "build_predictor": "irtnet.api",
    "save_predictor": "irtnet.predictors.checkpoint",
    "load": "irtnet.api",
    # tasks
    "evaluate": "irtnet.tasks.evaluate",
    "rank_models": "irtnet.api",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'irtnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

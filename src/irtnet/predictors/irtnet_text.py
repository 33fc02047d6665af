"""IrtNet's text path where a query comes without its benchmark name: the benchmark classifier it fits, saves
and restores (the predictions it weighs are `IrtNet._text_proba`'s)."""

from __future__ import annotations

from typing import Any

import numpy as np

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.models.irtnet import IrtNetConfig
from irtnet.predictors.benchmark_classifier import (BenchmarkClassifier, choose_classifier, classifier_state,
                                                    restore_text_features)
from irtnet.predictors.state import StateError
from irtnet.training.batching import group_indices

PREFIX = "benchmark_classifier."


def fit_text_classifier(train: Dataset, val: Dataset | None, groups: Vocab, seed: int
                        ) -> tuple[BenchmarkClassifier, dict[str, Any]]:
    """The benchmark classifier on the training queries (vectors, and texts where every query has one), its
    inputs and regularisation chosen on the validation queries of benchmarks seen in training."""
    x = np.asarray(train.queries.vectors, np.float64)
    y = group_indices(train.queries.groups, groups).numpy()
    x_val = y_val = texts_val = None
    if val is not None and val.queries.vectors is not None:
        pos = group_indices(val.queries.groups, groups).numpy()
        keep = np.flatnonzero(pos < len(groups))
        x_val, y_val = np.asarray(val.queries.vectors, np.float64)[keep], pos[keep]
        texts_val = None if val.queries.texts is None else val.queries.texts[keep]
    return choose_classifier(x, y, len(groups), x_val, y_val, seed, train.queries.texts, texts_val)


def texts_for(queries: Queries, rows: np.ndarray) -> np.ndarray | None:
    """The raw texts of `queries` at `rows` (None where the queries carry vectors only: a classifier that reads
    texts then says so)."""
    return None if queries.texts is None else queries.texts[rows]


def text_path_state(clf: BenchmarkClassifier | None, info: dict[str, Any] | None
                    ) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    """(state.text_path, the classifier's tensors) for a checkpoint."""
    if clf is None:
        return None, {}
    meta, arrays = classifier_state(clf, PREFIX)
    return {**meta, "choice": info}, arrays


def restore_classifier(meta: dict[str, Any], arrays: dict[str, np.ndarray], cfg: IrtNetConfig,
                       groups: Vocab | None, d_in: int) -> tuple[BenchmarkClassifier | None, float]:
    """The text path's classifier and temperature from a checkpoint (its arrays are taken out of `arrays`)."""
    text = meta.get("text_path")
    coef, intercept = arrays.pop(f"{PREFIX}coef", None), arrays.pop(f"{PREFIX}intercept", None)
    idf = arrays.pop(f"{PREFIX}idf", None)
    if not (cfg.use_groups and cfg.infer_groups):
        if text is not None or coef is not None or idf is not None:
            raise StateError("a benchmark classifier is stored but config.infer_groups is off")
        return None, 1.0
    if not isinstance(text, dict) or coef is None or intercept is None:
        raise StateError("config.infer_groups is on but the checkpoint has no benchmark classifier "
                         f"(state.text_path and the {PREFIX}* tensors)")
    features = restore_text_features(text, idf, "state.text_path")
    g, width = len(groups or ()), d_in + (0 if features is None else features.n_features)
    if coef.shape != (g, width) or intercept.shape != (g,):
        raise StateError(f"tensor '{PREFIX}coef' has shape {list(coef.shape)}, the checkpoint's state "
                         f"needs {[g, width]}")
    temperature, C = text.get("temperature", 1.0), text.get("C")  # a temperature: checkpoints of 0.2.0
    if not isinstance(temperature, (int, float)) or not temperature > 0 or not isinstance(C, (int, float)):
        raise StateError("state.text_path needs a number 'C' (and a positive 'temperature' where it has one)")
    clf = BenchmarkClassifier(coef.astype(np.float64), intercept.astype(np.float64), float(C), features)
    return clf, float(temperature)

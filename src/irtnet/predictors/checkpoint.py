"""Self-describing checkpoints: a directory with `checkpoint.json` and `weights.safetensors`.

The JSON holds the format version, the predictor kind, its hyperparameters, its learned metadata
(vocabularies, encoder name and dimension, ...) and any metrics; the safetensors file holds the arrays.
Loading needs nothing else and unpickles nothing. The directory is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from irtnet import __version__
from irtnet._io import atomic_dir, write_json
from irtnet.errors import CheckpointError
from irtnet.predictors.base import REGISTRY, Predictor

FORMAT = "irtnet-checkpoint"
FORMAT_VERSION = 1


def save_predictor(predictor: Predictor, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write `predictor` (fitted) to directory `path`, replacing it atomically."""
    meta, arrays = predictor.get_state()
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "irtnet_version": __version__,
           "kind": predictor.name, "state": meta, "metrics": metrics or {}}
    with atomic_dir(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / "weights.safetensors"))
        write_json(tmp / "checkpoint.json", doc)
    return Path(path)


def read_checkpoint_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    doc_path = path / "checkpoint.json"
    if not doc_path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint directory (no checkpoint.json)")
    try:
        doc = json.loads(doc_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{doc_path}: corrupt JSON ({exc})") from exc
    if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{doc_path}: unsupported checkpoint format "
                              f"{doc.get('format')!r} version {doc.get('format_version')!r}")
    return doc


def load_predictor(path: str | Path) -> Predictor:
    """Rebuild the predictor saved at `path`."""
    import irtnet.predictors  # noqa: F401  (registers every predictor)

    doc = read_checkpoint_json(path)
    kind = doc["kind"]
    if kind not in REGISTRY:
        raise CheckpointError(f"{path}: unknown predictor kind {kind!r}; known: {sorted(REGISTRY)}")
    try:
        arrays = load_file(str(Path(path) / "weights.safetensors"))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}/weights.safetensors: unreadable ({exc})") from exc
    return REGISTRY[kind].from_state(doc["state"], arrays)

"""Self-describing checkpoints of any router or predictor: a directory with `checkpoint.json` and
`weights.safetensors`.

The JSON holds the format version, the router's registry name (`kind`), its hyperparameters, its learned
metadata (vocabularies, encoder name and dimension, ...) and any metrics; the safetensors file holds the
arrays. Loading needs nothing else and unpickles nothing. The directory is written atomically.

Loading refuses every broken checkpoint with a one-line `CheckpointError` that names the checkpoint and
what is wrong: a missing, mistyped or unknown key (one no router reads), an invalid configuration field, a
calibration of an unknown kind, a negative best epoch, a missing, extra or misshapen
tensor, a tensor with NaN or infinite values, a NaN or infinite number in the state where a number is read (the
fit's history and choices, records only, may hold NaN), vocabularies that do not match the weights. The encoder
named in a checkpoint is only ever a name here (a string and a dimension); nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from safetensors.numpy import load_file, save_file

from irtnet._io import atomic_dir, read_json, recover_dir, write_json
from irtnet._version import __version__
from irtnet.config import expect
from irtnet.errors import CheckpointError, DataError
from irtnet.predictors.base import REGISTRY, Router
from irtnet.predictors.state import (
    WEIGHTS, StateDict, StateError, TensorDict, check_best_epochs, check_calibration, check_encoder,
    check_history_rows, check_member_count, check_ngrams_choice, check_type, check_vocab, describe,
)

FORMAT = "irtnet-checkpoint"
FORMAT_VERSION = 1
#: Optional state keys that every router reads the same way, checked before its own `from_state` runs.
_VOCABS = {"models": False, "groups": True, "items": False}
_OBJECTS = ("params", "config", "train_config", "fit_info")
#: The keys of checkpoint.json (`save_predictor` writes every one): a key beyond these is refused, not ignored.
_DOC_KEYS = ("format", "format_version", "irtnet_version", "kind", "state", "metrics")


def save_predictor(predictor: Router, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write `predictor` (any fitted router or predictor) to directory `path`, replacing it atomically. An
    existing `path` must be a checkpoint (it is replaced) or an empty folder: anything else (a run directory, a
    folder of runs, a file) is refused, never deleted."""
    expect(predictor, Router, "predictor", "a fitted model (a Router, e.g. build_predictor(spec).fit(data))")
    expect(path, (str, os.PathLike), "path", "the checkpoint folder to write (a str or a pathlib.Path)")
    refuse_to_replace(Path(path))
    meta, arrays = predictor.get_state()
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "irtnet_version": __version__,
           "kind": predictor.name, "state": meta, "metrics": metrics or {}}
    with atomic_dir(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / WEIGHTS))
        write_json(tmp / "checkpoint.json", doc)
    return Path(path)


def refuse_to_replace(path: Path) -> None:
    """CheckpointError unless `path` is absent, an empty folder or a checkpoint folder (which a save replaces) that
    is not a run's own."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise CheckpointError(f"{path}: exists and is not a folder; give a new path to save the checkpoint at")
    if (path / "checkpoint.json").is_file() and (path.parent / "run.json").is_file():  # the run holds its digests
        raise CheckpointError(f"{path}: is the checkpoint of the run {path.parent}, and replacing it would break "
                              "the run; give a new path")
    if (path / "checkpoint.json").is_file() or not any(path.iterdir()):
        return
    what = "a run directory" if (path / "run.json").is_file() else "a folder that is not a checkpoint"
    raise CheckpointError(f"{path}: is {what}, and saving a checkpoint there would replace it with all it holds; "
                          "give a new path (or an existing checkpoint's, to replace that checkpoint)")


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path` (`_io.read_json`): a missing, empty, damaged or non-object file is a
    CheckpointError naming it (a checkpoint, or a run's manifest, that cannot be opened)."""
    try:
        return read_json(path, dict)
    except DataError as exc:
        raise CheckpointError(str(exc)) from exc


def read_checkpoint_json(path: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON document, checked: format and version, `kind` (a string) and `state` (an object)."""
    path = Path(path)
    doc_path = path / "checkpoint.json"
    if not path.exists() and not recover_dir(path):  # an interrupted save's aside copy is put back
        raise CheckpointError(f"{path}: no such file or folder (give a run or checkpoint folder)")
    if not doc_path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint directory (no checkpoint.json)")
    doc = read_json_object(doc_path)
    if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{doc_path}: unsupported checkpoint format "
                              f"{doc.get('format')!r} version {doc.get('format_version')!r}")
    for key, kind in (("kind", str), ("state", dict), ("irtnet_version", str), ("metrics", dict)):
        if key not in doc:
            raise CheckpointError(f"{doc_path}: missing key {key!r}")
        if not isinstance(doc[key], kind):
            raise CheckpointError(f"{doc_path}: key {key!r} must be {'a string' if kind is str else 'an object'}, "
                                  f"got {type(doc[key]).__name__}")
    unknown = sorted(str(k) for k in doc if k not in _DOC_KEYS)
    if unknown:
        raise CheckpointError(f"{doc_path}: unknown key {unknown[0]!r} (a checkpoint has the keys "
                              f"{', '.join(_DOC_KEYS)})")
    where = non_finite(doc["state"], "state")  # a NaN, Infinity or 1e999 where a number is read
    if where is not None:
        raise CheckpointError(f"{doc_path}: {where[0]} is {where[1]!r}, not a finite number")
    return doc


#: state fields that record how a fit went and are never read as a number: a NaN there (an undefined validation
#: AUC, written as a bare NaN by versions before strict JSON) is kept, as it was
_RECORDS = frozenset({"history", "choice"})


def non_finite(value: Any, where: str) -> tuple[str, float] | None:
    """(the field, its value) of the first NaN or infinite number in a parsed JSON `value` (fields named from
    `where`: "state.text_path.temperature"), or None; the fit's records (`_RECORDS`) are not searched."""
    if isinstance(value, float) and not np.isfinite(value):
        return where, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(value, dict) and key in _RECORDS:
            continue
        found = non_finite(item, f"{where}.{key}" if isinstance(value, dict) else f"{where}[{key}]")
        if found is not None:
            return found
    return None


def read_weights(path: str | Path, nan_allowed: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """The checkpoint's arrays; every value must be finite (arrays in `nan_allowed` may hold NaN, never inf)."""
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise CheckpointError(f"{path}: no {WEIGHTS}")
    try:
        arrays = load_file(str(file))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{file}: unreadable ({_one_line(exc)})") from exc
    for key, value in arrays.items():
        if not np.issubdtype(value.dtype, np.floating):  # every router saves floats; ints would truncate weights
            raise CheckpointError(f"{file}: tensor {key!r} has dtype {value.dtype}, not a floating-point type "
                                  "(a checkpoint's tensors are float32 or float64)")
        bad = ~np.isfinite(value) if key not in nan_allowed else np.isinf(value)
        if bad.any():
            what = "infinite" if key in nan_allowed else "non-finite"
            raise CheckpointError(f"{file}: tensor {key!r} has {int(bad.sum())} {what} values")
    return arrays


def load_predictor(path: str | Path, expect: Callable[[str], None] | None = None) -> Router:
    """Rebuild the router or predictor saved at `path` (CheckpointError, one line, if anything is wrong).
    `expect`: called with the model kind checkpoint.json names before any weight is read (it raises to refuse)."""
    import irtnet.predictors  # noqa: F401  (registers every model)

    doc = read_checkpoint_json(path)
    doc_path = Path(path) / "checkpoint.json"
    kind = doc["kind"]
    if kind not in REGISTRY:
        raise CheckpointError(f"{doc_path}: unknown model kind {kind!r}; known: {sorted(REGISTRY)}")
    if expect is not None:
        expect(kind)
    cls = REGISTRY[kind]
    arrays = TensorDict(read_weights(path, cls.nan_arrays))
    state = StateDict(doc["state"])
    try:
        _check_common(dict(state))  # a plain copy: a key counts as used only when the router reads it
        router = cls.from_state(state, arrays)
        if state.unread:
            raise StateError(f"state has an unknown key {state.unread[0]!r} (a checkpoint of {kind} does not use "
                             "it)")
    except StateError as exc:
        raise CheckpointError(f"{Path(path) / exc.file}: {exc}") from exc
    except ValidationError as exc:
        raise CheckpointError(f"{doc_path}: invalid {kind} state: {describe(exc, 'state')}") from exc
    except KeyError as exc:
        raise CheckpointError(f"{doc_path}: the {kind} state is missing key {exc.args[0]!r}") from exc
    except (LookupError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: invalid {kind} checkpoint ({type(exc).__name__}: {_one_line(exc)})") from exc
    if arrays.unread:
        raise CheckpointError(f"{Path(path) / WEIGHTS}: unexpected tensor {arrays.unread[0]!r} "
                              f"(a checkpoint of {kind} does not use it)")
    return router


#: The same functions under the names that say they take any router.
save_router = save_predictor
load_router = load_predictor


def _check_common(state: dict[str, Any]) -> None:
    """The keys many routers share, checked the same way for all (only where the state has them)."""
    for key, optional in _VOCABS.items():
        if key in state:
            check_vocab(state, key, optional)
    if "encoder" in state:
        check_encoder(state)
    for key in _OBJECTS:
        if key in state:
            check_type(state, key, dict)
    if "history" in state:
        check_history_rows(state)
    check_best_epochs(state)
    if isinstance(state.get("config"), dict) and "members" in state["config"]:  # IrtNet's ensemble
        check_member_count(state)
    if "calibration" in state:
        check_calibration(state)
    check_ngrams_choice(state)


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."

"""Checks shared by every `from_state`: a saved state is read through these, so a broken one fails with a
`StateError` that names the key, tensor or field, which `irtnet.predictors.checkpoint` turns into a
one-line `CheckpointError` naming the checkpoint.

- `StateDict` / `TensorDict`: the state's metadata and arrays; a missing key or tensor is a `StateError`
  naming it, and the tensors a `from_state` never read are known afterwards (`TensorDict.unread`), so an
  extra tensor is refused as well as a missing one.
- `load_weights`: a network's state dict loaded strictly, every missing, extra or misshapen tensor named.
- `check_shapes`, `check_params`, `check_vocab`, `check_encoder`: shapes against vocabularies,
  constructor parameters against the constructor's defaults, id lists, the encoder field.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from irtnet._io import brief, nan_for_null


WEIGHTS = "weights.safetensors"


class StateError(ValueError):
    """A saved state that does not describe a model: the message names the key, tensor or field, and
    `file` the checkpoint file it is about ("checkpoint.json" or "weights.safetensors")."""

    def __init__(self, message: str, file: str = "checkpoint.json") -> None:
        super().__init__(message)
        self.file = file


def _tensor_error(message: str) -> StateError:
    return StateError(message, file=WEIGHTS)


def tensor_mismatch(message: str) -> StateError:
    """A StateError about the weights file (for checks that compare two tensors)."""
    return _tensor_error(message)


class StateDict(dict):
    """A state's metadata; a missing key raises a `StateError` naming it; the keys looked at (read, `get`, `in`)
    are recorded, so a key that no `from_state` looked at is known afterwards (`unread`) and refused."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        super().__init__(meta)
        self.read: set[str] = set()

    def __missing__(self, key: str) -> Any:
        raise StateError(f"state has no key {key!r}")

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    @property
    def unread(self) -> list[str]:
        return sorted(set(self.keys()) - self.read)


class TensorDict(dict):
    """A state's arrays; a missing tensor raises a `StateError` naming it; the tensors read are recorded."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__(arrays)
        self.read: set[str] = set()

    def __missing__(self, key: str) -> Any:
        raise _tensor_error(f"no tensor {key!r}")

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        self.read.add(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return default

    def items(self):  # noqa: ANN201 - dict's own view type
        self.read.update(self.keys())
        return super().items()

    def values(self):  # noqa: ANN201
        self.read.update(self.keys())
        return super().values()

    def __iter__(self) -> Iterator[str]:
        self.read.update(self.keys())
        return super().__iter__()

    @property
    def unread(self) -> list[str]:
        return sorted(set(self.keys()) - self.read)


def describe(exc: ValidationError, where: str) -> str:
    """A pydantic error as one line: `where.field: message; ...` (at most three errors shown)."""
    parts = [f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else f"{where}: {e['msg']}"
             for e in exc.errors()]
    more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
    return "; ".join(parts[:3]) + more


def load_weights(module: nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Load `arrays` into `module` strictly: a missing, extra or misshapen tensor is a StateError naming it
    (with the shape the checkpoint's own metadata - vocabularies, sizes - asks for)."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise _tensor_error(f"no tensor {missing[0]!r}"
                            + (f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""))
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise _tensor_error(f"unexpected tensor {extra[0]!r}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for key, value in expected.items():
        shape = tuple(np.shape(arrays[key]))
        if shape != tuple(value.shape):
            raise _tensor_error(f"tensor {key!r} has shape {list(shape)}, the checkpoint's state needs "
                                f"{list(value.shape)} (vocabulary sizes or dimensions do not match the weights)")
    module.load_state_dict({k: torch.as_tensor(np.asarray(arrays[k])) for k in expected})


def check_shapes(arrays: Mapping[str, np.ndarray], shapes: dict[str, tuple[int | None, ...]]) -> None:
    """Each tensor's shape against its expected shape (None: any size along that axis)."""
    for key, want in shapes.items():
        shape = tuple(np.shape(arrays[key]))
        if len(shape) != len(want) or any(w is not None and s != w for s, w in zip(shape, want)):
            shown = "[" + ", ".join("*" if w is None else str(w) for w in want) + "]"
            raise _tensor_error(f"tensor {key!r} has shape {list(shape)}, the checkpoint's state needs {shown} "
                                "(vocabulary sizes or dimensions do not match the weights)")


def check_vocab(state: Mapping[str, Any], key: str, optional: bool = False) -> list[str] | None:
    """`state[key]` as a non-empty list of distinct, non-empty strings (None allowed where `optional`)."""
    value = state[key]
    if value is None and optional:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise StateError(f"state.{key} must be a non-empty list of non-empty strings, got {_kind(value)}")
    if len(set(value)) != len(value):
        dup = sorted({v for v in value if value.count(v) > 1})
        raise StateError(f"state.{key} lists {dup[0]!r} twice")
    return value


def check_encoder(state: Mapping[str, Any]) -> tuple[str | None, int]:
    """`state.encoder` = {"name": str (None: vectors given without an encoder name), "dim": int >= 1}."""
    enc = state["encoder"]
    if not isinstance(enc, dict):
        raise StateError(f"state.encoder must be an object with 'name' and 'dim', got {_kind(enc)}")
    for field in ("name", "dim"):
        if field not in enc:
            raise StateError(f"state.encoder has no key {field!r}")
    extra = sorted(str(k) for k in enc if k not in ("name", "dim"))
    if extra:
        raise StateError(f"state.encoder has an unknown key {extra[0]!r} (an encoder is its 'name' and 'dim')")
    name, dim = enc["name"], enc["dim"]
    if name is not None and (not isinstance(name, str) or not name):
        raise StateError(f"state.encoder.name must be a string, got {_kind(name)}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise StateError(f"state.encoder.dim must be a positive integer, got {dim!r}")
    return name, dim


def check_params(cls: type, params: Any, where: str = "state.params") -> dict[str, Any]:
    """Constructor parameters: a dict of names `cls.__init__` takes, each of its default's type (an int
    where a float is expected is fine; a parameter whose default is None takes anything)."""
    if not isinstance(params, dict):
        raise StateError(f"{where} must be an object, got {_kind(params)}")
    signature = inspect.signature(cls.__init__).parameters
    for name, value in params.items():
        if name not in signature or name == "self":
            raise StateError(f"{where} has an unknown parameter {name!r} for {cls.__name__}")
        default = signature[name].default
        if default is inspect.Parameter.empty or default is None:
            continue
        want = type(default)
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if want is float else \
            (isinstance(value, int) and not isinstance(value, bool)) if want is int else isinstance(value, want)
        if not ok:
            raise StateError(f"{where}.{name} must be {want.__name__}, got {_kind(value)}")
    _check_declared(cls, params, where)
    return params


def _check_declared(cls: type, params: dict[str, Any], where: str) -> None:
    """The ranges and choices `cls` declares for its parameters (`param_bounds`), as a spec's are checked: a
    checkpoint edited to hold `k = 0` is refused on load, not used."""
    from irtnet.predictors.baselines.params import refusal

    for name, value in params.items():
        why = refusal(cls, name, value)
        if why is not None:
            raise StateError(f"{where}.{name} must be as {cls.__name__} declares it ({why}), got {_kind(value)}")


def check_type(state: Mapping[str, Any], key: str, want: type | tuple[type, ...]) -> Any:
    """`state[key]`, which must be of type `want` (a bool is not an int here)."""
    value = state[key]
    wants = want if isinstance(want, tuple) else (want,)
    if (isinstance(value, bool) and bool not in wants) or not isinstance(value, wants):
        names = " or ".join(w.__name__ for w in wants)
        raise StateError(f"state.{key} must be {names}, got {_kind(value)}")
    return value


def check_history_rows(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`state.history` as the trainer writes it: one object per epoch, in order (`epoch` 1, 2, ...), each
    figure a number or null (a NaN)."""
    history = check_type(state, "history", list)
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise StateError("state.history must be a list of objects (one per epoch)")
        for key, value in row.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise StateError(f"state.history[{i}].{key} must be a number (or null), got {_kind(value)}")
        epoch = row.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch != i + 1:
            raise StateError(f"state.history[{i}].epoch must be {i + 1} (one row per epoch, in order), "
                             f"got {epoch!r}")
    return history


def check_best_epochs(state: Mapping[str, Any]) -> None:
    """`state.best_epoch` (0 or more, at most the epochs the training settings allow) and `member_best_epochs`
    (each 0 or more, member 0's the same as `best_epoch`), where the state has them."""
    best = None
    if "best_epoch" in state:
        best = check_type(state, "best_epoch", int)
        if best < 0:
            raise StateError(f"state.best_epoch must be 0 or more (the epoch whose weights were kept), got {best}")
        for where in ("train_config", "params"):  # IrtNet's training settings; a baseline network's parameters
            epochs = state[where].get("epochs") if isinstance(state.get(where), dict) else None
            if isinstance(epochs, int) and not isinstance(epochs, bool) and best > epochs:
                raise StateError(f"state.best_epoch is {best}, but state.{where}.epochs is {epochs} (training "
                                 "ran at most that many epochs)")
    members = state.get("member_best_epochs")
    if not isinstance(members, list):
        return  # absent, or of the wrong type: the model's own check names it
    for k, epoch in enumerate(members):
        if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch < 0:
            raise StateError(f"state.member_best_epochs[{k}] must be 0 or more, got {epoch}")
    if best is not None and members and members[0] != best:
        raise StateError(f"state.member_best_epochs[0] is {members[0]!r}, but state.best_epoch is {best} "
                         "(both are member 0's best epoch)")


def check_member_count(state: Mapping[str, Any]) -> None:
    """`state.members` (absent: 1) is the number `state.config.members` asks for, where that is a number (not
    "auto", which leaves it to the fit)."""
    config = state.get("config")
    want = config.get("members") if isinstance(config, dict) else None
    have = state.get("members", 1)
    if isinstance(want, int) and not isinstance(want, bool) and isinstance(have, int) and have != want:
        raise StateError(f"state.members is {have}, but state.config.members is {want} (the networks the "
                         "checkpoint holds and the number its configuration asks for differ)")


_CALIBRATION_PATHS = ("benchmark", "text")
_CALIBRATION_FIELDS = ("kind", "scale", "shift", "cv_log_loss")


def check_calibration(state: Mapping[str, Any]) -> None:
    """`state.calibration`: for each answer path ("benchmark", "text") an object with a positive `scale`, a
    finite `shift`, a known `kind` (`numeric.CALIBRATIONS`) whose form they have ("none": scale 1 and shift 0;
    "temperature": shift 0) and optionally `cv_log_loss` ({kind: number}); no other path or key."""
    from irtnet.numeric import CALIBRATIONS

    kinds = ", ".join(repr(k) for k in CALIBRATIONS)
    cal = check_type(state, "calibration", dict)
    unknown = sorted(str(k) for k in cal if k not in _CALIBRATION_PATHS)
    if unknown:
        raise StateError(f"state.calibration has an unknown path {unknown[0]!r} (the paths are 'benchmark' and "
                         "'text')")
    for path in _CALIBRATION_PATHS:
        where = f"state.calibration.{path}"
        entry = cal.get(path)
        numbers = isinstance(entry, dict) and all(
            isinstance(entry.get(k), (int, float)) and not isinstance(entry.get(k), bool) for k in ("scale", "shift"))
        if not numbers or not entry["scale"] > 0 or not np.isfinite(entry["shift"]):
            raise StateError(f"{where} needs a positive 'scale' and a finite 'shift', got {_kind(entry)}")
        extra = sorted(str(k) for k in entry if k not in _CALIBRATION_FIELDS)
        if extra:
            raise StateError(f"{where} has an unknown key {extra[0]!r}")
        if "kind" not in entry:
            raise StateError(f"{where} has no key 'kind' (one of {kinds})")
        kind, scale, shift = entry["kind"], entry["scale"], entry["shift"]
        if not isinstance(kind, str) or kind not in CALIBRATIONS:
            raise StateError(f"{where}.kind must be one of {kinds}, got {_kind(kind)}")
        if (kind == "none" and (scale, shift) != (1, 0)) or (kind == "temperature" and shift != 0):
            fixed = "a scale of 1 and a shift of 0" if kind == "none" else "a shift of 0"
            raise StateError(f"{where} is of kind {kind!r}, which has {fixed}, but has scale {scale!r} and "
                             f"shift {shift!r}")
        losses = entry.get("cv_log_loss")
        if "cv_log_loss" in entry and (not isinstance(losses, dict) or not all(
                k in CALIBRATIONS and isinstance(v, (int, float)) and not isinstance(v, bool)
                for k, v in losses.items())):
            raise StateError(f"{where}.cv_log_loss must be an object of numbers, one per calibration kind "
                             f"({kinds}), got {_kind(losses)}")


def check_ngrams_choice(state: Mapping[str, Any]) -> None:
    """`state.text_ngrams_choice`, the record of an n-gram width chosen on validation data (absent or null: none):
    an object with the width `chosen` (the one `state.config.text_ngrams` holds), the `rule` and the
    `validation_log_loss` of each width tried (the chosen one among them); no other key."""
    record = state.get("text_ngrams_choice")
    if record is None:
        return
    where = "state.text_ngrams_choice"
    if not isinstance(record, dict):
        raise StateError(f"{where} must be an object (or null), got {_kind(record)}")
    extra = sorted(str(k) for k in record if k not in ("chosen", "rule", "validation_log_loss"))
    if extra:
        raise StateError(f"{where} has an unknown key {extra[0]!r}")
    chosen, losses = record.get("chosen"), record.get("validation_log_loss")
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 0:
        raise StateError(f"{where}.chosen must be a width (an integer, 0 or more), got {_kind(chosen)}")
    width = state["config"].get("text_ngrams") if isinstance(state.get("config"), dict) else None
    if width is not None and width != chosen:
        raise StateError(f"{where}.chosen is {chosen}, but state.config.text_ngrams is {width!r} (the width the "
                         "model was trained with is the one chosen)")
    if not isinstance(record.get("rule"), str):
        raise StateError(f"{where}.rule must be text, got {_kind(record.get('rule'))}")
    if not isinstance(losses, dict) or str(chosen) not in losses or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in losses.values()):
        raise StateError(f"{where}.validation_log_loss must be an object of finite numbers, one per width tried "
                         f"(the chosen {chosen} among them), got {_kind(losses)}")


def check_history(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`state.history` (one row of figures per training epoch; absent: none) as training left it: a figure
    written as null (a NaN, e.g. the validation AUC of an epoch where every label is the same: checkpoint.json is
    strict JSON) is NaN again."""
    return [nan_for_null(row) for row in state.get("history", [])]


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {brief(value)}"

"""Typed data configuration and the helpers that merge configuration sources: defaults in code, a JSON/TOML
file may override them, flags override that. Model settings are `irtnet.predictors.spec.ModelSpec`; a whole
run is `irtnet.api.run.RunSpec`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from irtnet._io import unique_keys
from irtnet.errors import ConfigError, DataError

#: The IrtNet preset used when none is named. It lets benchmark names enter the query representation where the
#: data has them (and learns to work without them), with a network small enough to train in minutes on a CPU.
#: Defined here, not in `irtnet.predictors.spec` (which re-exports it), so the CLI can show it without torch.
DEFAULT_PRESET = "default"
#: The largest seed every library irtnet seeds accepts (scikit-learn's random_state: 2**32 - 1; numpy, torch more).
MAX_SEED = 2**32 - 1
#: The most torch threads a run, a comparison or a command takes: more than any machine's cores (torch starts every
#: one, so a slip such as 1000000 would hang the process; above 2**31 torch fails with "Overflow when unpacking long").
MAX_THREADS = 4096

#: A plain decimal number: ASCII digits, an optional sign, point and exponent (not "0_5", "0x1" or "٠.٨", which
#: Python's float() reads too).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def plain_number(raw: str, name: str) -> float:
    """The value of parameter `name` written as `raw`; a ConfigError naming `name` unless it is a plain, finite
    decimal number."""
    raw = raw.strip()
    if raw.lower().lstrip("+-") in ("nan", "inf", "infinity") or (
            _DECIMAL.fullmatch(raw) and not math.isfinite(float(raw))):
        raise ConfigError(f"{name} {raw!r} is not a finite number")
    if not _DECIMAL.fullmatch(raw):
        raise ConfigError(f"{name} {raw!r} is not a plain decimal number: write ASCII digits with an optional sign, "
                          "point and exponent, e.g. 0.8")
    return float(raw)


def expect(value: Any, types: type | tuple[type, ...], name: str, expected: str) -> Any:
    """`value` where it is an instance of `types`; otherwise a ConfigError "`name`: expected `expected`, got
    <type> <value>", naming the parameter (never an AttributeError from deep inside)."""
    if isinstance(value, types):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise ConfigError(f"{name}: expected {expected}, got {type(value).__name__} {shown}")


def name_list(value: Any, what: str) -> list[Any] | None:
    """A list of names (`what`: the argument) as given; one string alone is a ConfigError, never iterated as its
    characters (e.g. baselines='knn' read as 'k', 'n', 'n')."""
    if isinstance(value, (str, bytes)):
        raise ConfigError(f"{what} must be a list of names, not one string: pass [{value!r}]")
    return None if value is None else list(value)


class RefusedAsConfigError(type(BaseModel)):  # type: ignore[misc]  # pydantic's model metaclass
    """The metaclass of irtnet's pydantic specs (`DataConfig`, `ModelSpec`): keyword construction
    (`DataConfig(table=..., fractions=...)`) refuses a bad value with a ConfigError naming the field, as `run_spec`
    does for a whole configuration. Only a direct call comes here: validation of a
    nested `data` table (RunSpec) does not, so its errors keep their `data.field` paths."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise ConfigError(f"invalid {cls.__name__}: {validation_brief(exc)}") from None


class StrictConfig(BaseModel):
    """Settings whose numbers must be numbers: strict (a bool or a string where a number is expected is refused,
    an int is a valid float), unknown keys refused. A numpy scalar (a value from a numpy grid) is read as the
    Python number it holds, before the check."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _numpy_scalars(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: python_scalar(v) for k, v in data.items()}


def python_scalar(value: Any) -> Any:
    """The Python number a numpy scalar holds (np.int64(3) -> 3); any other value as it is."""
    is_scalar = type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0
    return value.item() if is_scalar else value


HOLDOUT_FRACTIONS = (0.9, 0.1, 0.0)  # a benchmark split's default: training and validation of the other benchmarks


class DataConfig(StrictConfig, metaclass=RefusedAsConfigError):
    """Which table, which encoder, and how queries are split. Strict (`StrictConfig`): `seed = true` or `"3"`,
    `stratify = "no"` or `0`, and `fractions = [true, false, false]` are refused, not coerced."""

    table: str = Field(description="path of a response table (.parquet) written by `irtnet data import`")
    encoder: str = "all-MiniLM-L6-v2"
    split: Literal["query", "benchmark", "pair"] | None = Field(
        None, description="query (test queries unseen), benchmark (`holdout_benchmark` left out) or pair (test "
                          "(model, query) pairs of queries seen with other models); None: pair for a model with "
                          "free per-item parameters, else query")
    fractions: tuple[float, float, float] = Field(
        (0.8, 0.1, 0.1), description="train, validation and test fractions of the queries; a benchmark split's "
                                     "are TRAIN,VAL,0 (default 0.9,0.1,0: the other benchmarks' queries cut into "
                                     "training and validation), its test part being the held-out benchmarks")
    holdout_benchmark: str | list[str] | None = Field(
        None, description="the test benchmark, or a list of them, when split = 'benchmark': every query of "
                          "these is a test query and none is trained on")
    seed: int = Field(0, ge=0, description="seed of the split (a whole number of at least 0)")
    stratify: bool = True

    @field_validator("fractions", "holdout_benchmark", mode="before")
    @classmethod
    def _sequences(cls, value: Any, info: ValidationInfo) -> Any:
        """A list (JSON, TOML) or 1-d numpy array of fractions as a tuple, a tuple of benchmarks as a list; numpy numbers as Python's
        (strict validation takes only the declared kind of sequence; its items are still checked strictly)."""
        if info.field_name == "fractions" and type(value).__module__ == "numpy" and getattr(value, "ndim", 0) == 1:
            value = list(value)  # a numpy array of fractions: its items as numpy scalars, booleans still refused
        if info.field_name == "fractions" and isinstance(value, (list, tuple)):
            return tuple(python_scalar(v) for v in value)
        if info.field_name == "holdout_benchmark" and isinstance(value, tuple):
            return list(value)
        return value

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        return validate_fractions(v)

    @model_validator(mode="after")
    def _holdout_fractions(self) -> DataConfig:
        """A benchmark split without fractions given cuts the other benchmarks' queries 0.9 / 0.1, as the CLI does:
        the default's 0.1 test fraction would not be used, so it is not recorded as if it were."""
        held_out = self.holdout_benchmark is not None and self.split in (None, "benchmark")
        if held_out and "fractions" not in self.model_fields_set:
            self.fractions = HOLDOUT_FRACTIONS
        return self


def validation_brief(exc: ValidationError) -> str:
    """A pydantic error as one line, `field.path: message; ...` (here, not beside the models' specs: the CLI reads
    this module without torch)."""
    def one(e: Any) -> str:
        where, msg = ".".join(str(p) for p in e["loc"]), e["msg"].removeprefix("Value error, ")
        return f"{where}: {msg}" if where else msg

    return "; ".join(one(e) for e in exc.errors())


def validate_fractions(value: tuple[float, float, float], need_test: bool = False) -> tuple[float, float, float]:
    """`check_fractions` for a pydantic validator (a ValueError); `need_test`: the test fraction must be positive."""
    try:
        check_fractions(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if need_test and value[2] == 0:
        raise ValueError("the test fraction must be positive (every cell is scored on the test part), "
                         f"got {list(value)}")
    return value


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Train / validation / test fractions: three finite non-negative numbers summing to 1 (within 1e-6),
    the training one positive. Returns them as a tuple of floats; ConfigError naming the problem otherwise."""
    if isinstance(fractions, (str, bytes)):  # never its characters: "100" is not (1, 0, 0)
        raise ConfigError(f"split fractions must be three numbers (train, val, test), got {fractions!r}")
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ConfigError(f"split fractions must be three numbers (train, val, test), got {fractions!r}") from None
    if len(values) != 3 or any(isinstance(f, bool) for f in fractions):
        raise ConfigError(f"split fractions must be three numbers (train, val, test), got {fractions!r}")
    if not all(math.isfinite(f) and f >= 0 for f in values) or abs(sum(values) - 1) > 1e-6:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {list(values)}")
    if values[0] == 0:
        raise ConfigError(f"the training fraction must be positive, got {list(values)}")
    return values


def check_holdout_fractions(fractions: Sequence[float], option: str = "--split") -> None:
    """With benchmarks held out, the test part is every query of them and the other benchmarks' queries are cut
    into training and validation only: fractions given for such a split must be TRAIN,VAL,0 (VAL: the validation
    share), never a test fraction silently dropped. ConfigError otherwise."""
    values = check_fractions(fractions)
    if values[2] != 0:
        shown = ",".join(f"{f:g}" for f in values)
        raise ConfigError(f"{option} {shown} with held-out benchmarks (--holdout-benchmark, or data.split = "
                          "'benchmark'): the test queries are every query of the "
                          "held-out benchmarks, and the other benchmarks' queries are cut into training and "
                          f"validation only, so the test fraction must be 0: give {option} TRAIN,VAL,0 (e.g. "
                          f"{1 - values[1]:g},{values[1]:g},0) to set the validation share, or leave {option} out "
                          "(0.9 training, 0.1 validation)")



def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or TOML (named .toml) file as a dict (errors name the file; a key given twice in one table or object
    is one, in JSON as in TOML, never the last value silently winning; a YAML file is refused by its name; the
    suffixes in any case: .toml, .TOML)."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        raise ConfigError(f"{path}: a YAML file; only JSON and TOML config files are read (TOML named .toml)")
    try:
        text = path.read_text(encoding="utf-8-sig")  # (a byte-order mark, as some editors write, is skipped)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); JSON and TOML "
                          "config files are UTF-8 text") from None
    try:
        value = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(
            text, object_pairs_hook=unique_keys(str(path)))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); only JSON and TOML config files are read, TOML in a "
                          "file named .toml") from exc
    except DataError as exc:  # unique_keys: a key given twice
        raise ConfigError(f"{path}: {exc.reason}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a table of settings, got {type(value).__name__}")
    return value


def deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` merged in recursively (override wins; None means "not given"); neither input is
    modified."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict):
            out[key] = deep_update(out[key] if isinstance(out.get(key), dict) else {}, value)
        elif value is not None:
            out[key] = value
    return out

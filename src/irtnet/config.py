"""Typed run configuration: defaults in code, a JSON/TOML file may override them, flags override that.

The resolved configuration is written into every run directory (`config.json`).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from irtnet.errors import ConfigError


class DataConfig(BaseModel):
    """Which table, which encoder, and how queries are split."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(description="path of a response table (.parquet) written by `irtnet data import`")
    encoder: str = "all-MiniLM-L6-v2"
    split: Literal["query", "benchmark"] = "query"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    holdout_benchmark: str | None = Field(None, description="the test benchmark when split = 'benchmark'")
    seed: int = 0
    stratify: bool = True

    @field_validator("fractions")
    @classmethod
    def _sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f < 0 for f in v) or abs(sum(v) - 1) > 1e-6:
            raise ValueError(f"fractions must be non-negative and sum to 1, got {v}")
        return v


class RunConfig(BaseModel):
    """A training run: data, the predictor's registry name and its constructor parameters."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig
    model: str = "irtnet"
    params: dict[str, Any] = Field(default_factory=dict)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or TOML file as a dict (errors name the file)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc})") from exc


def deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` merged in recursively (override wins); neither input is modified."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def build_run_config(defaults: dict[str, Any], file: str | Path | None, flags: dict[str, Any]) -> RunConfig:
    """Defaults <- file <- flags, validated into a RunConfig (ConfigError on bad values)."""
    merged = deep_update(defaults, read_config_file(file) if file else {})
    merged = deep_update(merged, flags)
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc

"""`ModelSpec`, the one typed description of a model to build, and `resolve_spec`, the one place that turns
it into complete constructor parameters.

    spec = ModelSpec(model="irtnet", preset="paper", params={"train": {"epochs": 5}}, seed=3)
    full = resolve_spec(spec)          # every value spelt out: the preset expanded, defaults filled, seed set
    predictor = build_predictor(full)  # REGISTRY[full.model](**full.params)

Every entry point (the CLI's `train`, the task commands, `compare`, the Python API) builds a `ModelSpec` and
calls these two functions, so defaults are the same everywhere:

- IrtNet: `preset` names the base architecture (`DEFAULT_PRESET` when None); `params.config` (a partial dict)
  overrides parts of it, `params.train` parts of the `TrainConfig`. The resolved params are the full
  `{"config": ..., "train": ...}`, with `train.seed` = `seed`.
- Every other model: `params` are its constructor arguments (an unknown name is an error that lists the
  accepted ones); defaults come from the constructor's signature; a `seed` or `random_state` argument is set
  from `seed`. A `preset` is an error. Each value is checked against the type its constructor declares and
  the ranges of its `param_bounds` (`irtnet.predictors.baselines.params`): a ConfigError names the parameter.

Resolving a resolved spec gives it back unchanged, so a run's `config.json` can be resolved again to rebuild
exactly the model it describes.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import Field, ValidationError

from irtnet.config import (  # DEFAULT_PRESET: defined there (cheap for the CLI)
    DEFAULT_PRESET, MAX_SEED, RefusedAsConfigError, StrictConfig, deep_update, expect, python_scalar,
    validation_brief as brief,
)
from irtnet.errors import ConfigError
from irtnet.predictors.base import REGISTRY, Router

#: Parameters whose names say they seed a model's randomness.
_SEED_PARAMS = ("seed", "random_state")


class ModelSpec(StrictConfig, metaclass=RefusedAsConfigError):
    """What to build: a registry name, an IrtNet preset, typed overrides and the seed. Strict: `seed = true` or
    `seed = 2.0` is refused, not read as 1 or 2 (`params` are checked when resolved)."""

    model: str = Field("irtnet", description="registry name (see `irtnet.predictors.REGISTRY`)")
    preset: str | None = Field(None, description=f"IrtNet preset (default {DEFAULT_PRESET!r}); IrtNet only")
    params: dict[str, Any] = Field(default_factory=dict, description="overrides of the model's parameters")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the model's randomness (initialisation, batches, "
                      "draws): a whole number in [0, 2**32 - 1], which numpy, torch and scikit-learn all accept")


def registered(name: str) -> type[Router]:
    import irtnet.predictors  # noqa: F401  (registers every model)

    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def is_irtnet(name: str) -> bool:
    from irtnet.predictors.irtnet import IrtNet

    return issubclass(registered(name), IrtNet)


def as_model_spec(spec: ModelSpec | dict[str, Any]) -> ModelSpec:
    """`spec`, or a dict of its fields validated as one; anything else is a ConfigError naming `spec`."""
    if isinstance(spec, dict):
        try:
            return ModelSpec.model_validate(spec)
        except ValidationError as exc:
            raise ConfigError(f"invalid ModelSpec: {brief(exc)}") from None
    return expect(spec, ModelSpec, "spec", "a ModelSpec or a dict of its fields ({'model': 'irtnet', ...})")


def resolve_spec(spec: ModelSpec | dict[str, Any]) -> ModelSpec:
    """`spec` (a ModelSpec or a dict of its fields) with every parameter spelt out (see the module docstring);
    ConfigError on a bad value."""
    spec = as_model_spec(spec)
    if isinstance(spec.seed, bool) or spec.seed < 0:
        raise ConfigError(f"seed: expected a whole number of at least 0, got {spec.seed!r}")
    if is_irtnet(spec.model):
        preset, params = _resolve_irtnet(spec)
        return ModelSpec(model=spec.model, preset=preset, params=params, seed=spec.seed)
    if spec.preset is not None:
        raise ConfigError(f"a preset is an IrtNet option; {spec.model!r} takes parameters only")
    return ModelSpec(model=spec.model, params=_resolve_constructor(spec), seed=spec.seed)


def _resolve_irtnet(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    from irtnet.models.irtnet import PRESETS, IrtNetConfig
    from irtnet.training.trainer import TrainConfig

    extra = sorted(set(spec.params) - {"config", "train"})
    if extra:
        raise ConfigError(f"IrtNet parameters are `config` and `train`; unknown: {', '.join(extra)}")
    config, train = (_overrides_table(spec.params, name) for name in ("config", "train"))
    preset = spec.preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise ConfigError(f"unknown IrtNet preset {preset!r}; presets: {', '.join(sorted(PRESETS))}")
    if "seed" in train:
        _one_seed(spec, "train.seed", train["seed"])
    try:
        full = IrtNetConfig.model_validate(deep_update(PRESETS[preset].model_dump(), config))
        tcfg = TrainConfig.model_validate({**train, "seed": spec.seed})
    except ValidationError as exc:
        raise ConfigError(f"invalid IrtNet parameters: {brief(exc)}") from exc
    return preset, {"config": full.model_dump(), "train": tcfg.model_dump()}


def _overrides_table(params: dict[str, Any], name: str) -> dict[str, Any]:
    """IrtNet's `params.<name>` (`config` or `train`): a table of overrides ({} where absent or None). No value
    of `config` may be None: it is merged into the preset, where a null would be dropped and the preset's value
    silently kept (`train` is validated as given, so a None there is checked by `TrainConfig`)."""
    table = params.get(name)
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"IrtNet's `params.{name}` must be a table of overrides, got {type(table).__name__} "
                          f"{table!r} (name the architecture with `preset`)")
    null = _null_key(table) if name == "config" else None
    if null is not None:
        raise ConfigError(f"IrtNet's params.{name}.{null} is null: give a value, or leave it out to keep the "
                          "preset's")
    return table


def _null_key(table: dict[str, Any]) -> str | None:
    """The dotted path of the first None in the nested `table`, or None."""
    for key, value in table.items():
        if value is None:
            return str(key)
        inner = _null_key(value) if isinstance(value, dict) else None
        if inner is not None:
            return f"{key}.{inner}"
    return None


def _one_seed(spec: ModelSpec, name: str, value: Any) -> None:
    """Refuse a seed in the params (`params.NAME = value`) that is not the spec's `seed`, or not a whole number
    (`true` or `1.0` is not the seed 1, as `seed` itself refuses them)."""
    value = whole_seed(name, value)
    if value != spec.seed:
        whose = "" if is_irtnet(spec.model) else f" for {spec.model!r}"
        raise ConfigError(f"two seeds{whose}: params.{name} = {value} and seed = {spec.seed}; give the seed once, "
                          "as `seed`")


def whole_seed(name: str, value: Any) -> int:
    """A seed in the params (`params.NAME = value`) as an int; a ConfigError unless it is a whole number."""
    value = python_scalar(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"params.{name}: a seed is a whole number, got {type(value).__name__} {value!r}; give "
                          "the seed once, as `seed`")
    return value


def constructor_parameters(cls: type) -> list[inspect.Parameter]:
    """The keyword parameters of `cls`'s constructor."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:] if p.kind in kinds]


def _resolve_constructor(spec: ModelSpec) -> dict[str, Any]:
    cls = registered(spec.model)
    params = constructor_parameters(cls)
    names = [p.name for p in params]
    unknown = sorted(set(spec.params) - set(names))
    if unknown:
        raise ConfigError(f"{spec.model!r} has no parameter {', '.join(map(repr, unknown))}; "
                          f"its parameters: {', '.join(names) or '(none)'}")
    out: dict[str, Any] = {}
    for p in params:
        if p.name in _SEED_PARAMS:
            if p.name in spec.params:
                _one_seed(spec, p.name, spec.params[p.name])
            out[p.name] = spec.seed
        elif p.name in spec.params:  # a numpy number (from a numpy grid) as the Python number it holds
            out[p.name] = python_scalar(spec.params[p.name])
        elif p.default is not inspect.Parameter.empty:
            out[p.name] = p.default
        else:
            raise ConfigError(f"{spec.model!r} needs the parameter {p.name!r}")
    from irtnet.predictors.baselines.params import check_params

    check_params(cls, spec.model, out)  # types and ranges as the model declares them, defaults included
    return out


def uses_seed(name: str) -> bool:
    """Whether the model `name` has randomness that its seed controls."""
    return is_irtnet(name) or any(p.name in _SEED_PARAMS for p in constructor_parameters(registered(name)))


def build_predictor(spec: ModelSpec | dict[str, Any]) -> Router:
    """A fresh, unfitted model as `spec` (a ModelSpec or a dict of its fields) describes it (resolved here if it
    is not yet)."""
    full = resolve_spec(spec)
    cls = registered(full.model)
    try:
        return cls(**full.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad parameters for {full.model!r}: {exc}") from exc


def apply_flags(spec: ModelSpec, *, epochs: int | None = None, lr: float | None = None,
                groups: bool | None = None, progress: bool | None = None, device: str | None = None,
                bf16: bool | None = None) -> ModelSpec:
    """`spec` with the common command-line settings applied where the model has them; a setting that does not
    apply to the model is an error (never silently ignored). `progress` (progress bars) applies where a model
    draws them and is left out elsewhere: it changes no result. `device` and `bf16` are IrtNet's (its
    `TrainConfig.device` and `amp_bf16`); every other model trains on the CPU, so only `device` cpu passes."""
    over: dict[str, Any] = {}
    if is_irtnet(spec.model):
        train = {k: v for k, v in (("epochs", epochs), ("lr", lr), ("progress", progress), ("device", device),
                                   ("amp_bf16", bf16)) if v is not None}
        config = {"use_groups": groups} if groups is not None else {}
        over = {k: v for k, v in (("train", train), ("config", config)) if v}
    else:
        if device not in (None, "cpu") or bf16:
            raise ConfigError(f"--device and --bf16 apply to IrtNet only; {spec.model!r} trains on the CPU")
        names = {p.name for p in constructor_parameters(registered(spec.model))}
        for flag, value in (("epochs", epochs), ("lr", lr), ("groups", groups)):
            if value is None:
                continue
            if flag not in names:
                raise ConfigError(f"--{flag} does not apply to {spec.model!r} (it has no {flag!r} parameter)")
            over[flag] = value
    return spec.model_copy(update={"params": deep_update(spec.params, over)})


def model_spec_from(base: ModelSpec | dict[str, Any] | None = None, *, model: str | None = None,
                    preset: str | None = None, seed: int | None = None, epochs: int | None = None,
                    lr: float | None = None, groups: bool | None = None, progress: bool | None = None,
                    device: str | None = None, bf16: bool | None = None, base_names_model: bool = False) -> ModelSpec:
    """A ModelSpec from a file's settings (`base`) overridden by command-line flags. `--model` may not contradict
    a model the file names (`base_names_model`); otherwise it starts a fresh spec for that model. `--preset` and
    `--seed` also replace what a run's config.json spells out from its own (`_with_preset`, `_with_seed`)."""
    try:
        spec = base if isinstance(base, ModelSpec) else ModelSpec.model_validate(base or {})
    except ValidationError as exc:
        raise ConfigError(f"invalid model settings: {brief(exc)}") from exc
    named = base_names_model or (isinstance(base, dict) and "model" in base)
    if model is not None and model != spec.model:
        if named:
            raise ConfigError(f"--model {model} conflicts with the config file's model {spec.model!r}")
        spec = ModelSpec(model=model)
    if preset is not None:
        spec = _with_preset(spec, preset)
    if seed is not None:
        spec = _with_seed(spec, seed)
    return apply_flags(spec, epochs=epochs, lr=lr, groups=groups, progress=progress, device=device, bf16=bf16)


def _with_preset(spec: ModelSpec, preset: str) -> ModelSpec:
    """`spec` on the IrtNet preset `preset`. A `params.config` that spells out the whole network (a run's
    config.json) holds its own preset's values beside its overrides: those values give way to the new preset's,
    and only the overrides (values that differ from its preset's) are kept, so the preset recorded is the network
    trained. A partial `params.config` (written by hand) holds overrides only, all kept over the new preset.
    The rule: a config is spelled out when every key it has is a field of the old preset's network and it holds
    more than half of them; so a run written before a field was added (e.g. without `rank_weight`) still counts
    as spelled out, while a hand-written config names a few fields only."""
    config, old = spec.params.get("config"), spec.preset or DEFAULT_PRESET
    if preset == old or not isinstance(config, dict) or not config or not is_irtnet(spec.model):
        return spec.model_copy(update={"preset": preset})
    from irtnet.models.irtnet import PRESETS

    if old not in PRESETS:
        raise ConfigError(f"unknown IrtNet preset {old!r}; presets: {', '.join(sorted(PRESETS))}")
    base = PRESETS[old].model_dump()
    if not set(config) <= set(base) or 2 * len(config) <= len(base):
        return spec.model_copy(update={"preset": preset})
    return spec.model_copy(update={"preset": preset, "params": {**spec.params, "config": _overrides(config, base)}})


def _overrides(config: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The entries of `config` (nested) that differ from `base` (a bool is never the same as a number)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        was = base.get(key, inspect.Parameter.empty)
        if isinstance(value, dict) and isinstance(was, dict):
            if inner := _overrides(value, was):
                out[key] = inner
        elif value != was or isinstance(value, bool) != isinstance(was, bool):
            out[key] = value
    return out


def _with_seed(spec: ModelSpec, seed: int) -> ModelSpec:
    """`spec` seeded with `seed` (a command-line --seed) everywhere it carries a seed: `seed`, and the copies its
    params spell out (a run's config.json: IrtNet's `params.train.seed`, another model's `seed` or
    `random_state`), so a run can be trained again with a new seed. Seeds of the file that disagree with each
    other are still refused, as without the flag ("two seeds"); a seed in the params is compared with the file's
    `seed` only when the file wrote one (else `seed` is the default 0, which nobody gave)."""
    params, written = dict(spec.params), "seed" in spec.model_fields_set
    if is_irtnet(spec.model):
        train = params.get("train")
        if isinstance(train, dict) and "seed" in train:
            _one_seed(spec, "train.seed", train["seed"]) if written else whole_seed("train.seed", train["seed"])
            params["train"] = {**train, "seed": seed}
    else:
        for name in _SEED_PARAMS:
            if name in params:
                _one_seed(spec, name, params[name]) if written else whole_seed(name, params[name])
                params[name] = seed
    return spec.model_copy(update={"seed": seed, "params": params})

"""One check of a model's constructor parameters, from what the model declares: the annotations of its
`__init__` give each parameter's type (checked strictly: no string for a number, no boolean for an integer, no
float for an integer, no NaN or infinity), and the class attribute `param_bounds` adds ranges and choices:

    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {"k": {"ge": 1}, "target": {"choices": ("score", "label")}}

(`ge`, `gt`, `le`, `lt` as in `pydantic.Field`; `choices`: the allowed values). A seed (`seed`,
`random_state`) is a whole number of at least 0. `irtnet.predictors.spec.resolve_spec` calls `check_params` for
every model that is not IrtNet (IrtNet's parameters are typed configs of their own), so a bad value is a
ConfigError naming the parameter before any data is read, the same for the CLI, `compare` and the Python API.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from irtnet.errors import ConfigError

#: Bounds of every model's seed parameters.
SEED_BOUNDS = {"ge": 0}
_SEEDS = ("seed", "random_state")


def check_params(cls: type, model: str, values: dict[str, Any]) -> None:
    """ConfigError naming `params.<name>` for the first of `values` that its declaration refuses."""
    for name, value in values.items():
        why = refusal(cls, name, value)
        if why is not None:
            raise ConfigError(f"{model!r} params.{name}: {why}, got {value!r}")


def refusal(cls: type, name: str, value: Any) -> str | None:
    """Why `cls`'s declaration of its parameter `name` refuses `value` (pydantic's words), or None."""
    adapter = _adapter(cls, name)
    if adapter is None:
        return None
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return "; ".join(e["msg"] for e in exc.errors())
    return None


@functools.cache
def _adapter(cls: type, name: str) -> TypeAdapter | None:
    """The strict validator of `cls`'s parameter `name`; None where it declares neither a type nor bounds."""
    hint = _hints(cls).get(name, Any)
    bounds = dict(getattr(cls, "param_bounds", {}).get(name, {}))
    if name in _SEEDS:
        bounds = {**SEED_BOUNDS, **bounds}
    choices = bounds.pop("choices", None)
    if choices is not None:  # the exact values (a Literal takes no other constraint)
        return TypeAdapter(Literal[tuple(choices)])
    if hint is Any and not bounds:
        return None
    if float in (hint, *typing.get_args(hint)):  # (only a float schema takes this option)
        bounds["allow_inf_nan"] = False
    return TypeAdapter(Annotated[hint, Field(strict=True, **bounds)])


def _hints(cls: type) -> dict[str, Any]:
    """The annotations of `cls.__init__` (none where they cannot be resolved: then only bounds are checked)."""
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an unresolvable annotation is no declaration, not an error of the user's
        return {}

"""Shared CLI helpers: one-line errors instead of tracebacks, option checks, and the console."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from irtnet._io import check_file_target, names_a_folder
from irtnet.config import plain_number
from irtnet.errors import ConfigError, IrtnetError

console = Console()
#: for what holds the user's own text (query texts, paths, model and benchmark names): printed as given, never read
#: as Rich markup (a "[/INST]" in a prompt is no closing tag)
plain_console = Console(markup=False)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


INTERRUPTED = ("interrupted: no file was left half-written (each is as it was, or complete); compare, "
               "evaluate-benchmarks, evaluate-estimation, data-efficiency and data encode keep their finished steps "
               "for a rerun")


def friendly_errors(func: F) -> F:
    """Turn irtnet's own errors into one clear line on stderr and exit code 2, and Ctrl-C into one line and exit
    code 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except IrtnetError as exc:
            print_error(str(exc))
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:  # Ctrl-C: one line, not typer's silent exit; every write is atomic (irtnet._io)
            err_console.print(INTERRUPTED, highlight=False, soft_wrap=True)
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def print_error(message: str) -> None:
    """`message` as one `error:` line on stderr."""
    # soft_wrap: one line however narrow the terminal, so a path in the message is never cut in two;
    # escaped: brackets in the message (a list, a path) are text, not Rich markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def parse_fractions(text: str, option: str = "--split") -> tuple[float, float, float]:
    """`train,val,test` fractions of an option (their range is checked by `config.check_fractions`); an empty
    value is an error, never read as the default."""
    if not text.strip():
        raise ConfigError(f"{option} is empty: give three comma-separated fractions (train,val,test) like "
                          "0.8,0.1,0.1, or leave the option out for the default")
    try:
        parts = tuple(plain_number(x, option) for x in text.split(","))
    except ConfigError as exc:
        raise ConfigError(f"{exc}; expected three comma-separated numbers like 0.8,0.1,0.1, got {text!r}") from None
    if len(parts) != 3:
        raise ConfigError(f"{option}: expected three fractions (train,val,test), got {text!r}")
    return parts  # type: ignore[return-value]


def positive(value: int | float | None) -> int | float | None:
    """Option callback: a number above zero (None passes: not given)."""
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be above 0, got {value}")
    return value


def baseline_names(text: str | None, option: str = "--baselines") -> list[str] | None:
    """A --baselines option: None when not given (the command's default), [] for '' (none), else distinct
    comma-separated names; an empty or repeated name is a ConfigError (never dropped, nor merged into one curve)."""
    if text is None:
        return None
    if not text.strip():
        return []
    names = items(text, option) or []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{option} {text!r} names {', '.join(map(repr, repeated))} more than once: name each "
                          "baseline once")
    return names


def name_list(text: str | None) -> list[str] | None:
    """A comma-separated option of names, every one kept (None when not given; [] for ""): an empty name (",m0",
    "m0,,m1") is for the API to refuse (`api.texts.check_candidates`), never dropped."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",")] if text.strip() else []


def refuse_unused(options: dict[str, object], message: str) -> None:
    """Options given (not None) where they have no effect are a ConfigError naming them (`message`, formatted with
    {given}: their names, and {is_}: "is" or "are"), never ignored."""
    given = [name for name, value in options.items() if value is not None]
    if given:
        raise ConfigError(message.format(given=" and ".join(given), is_="is" if len(given) == 1 else "are"))


def output_option(*names: str, **options: Any) -> Any:
    """`typer.Option` for a file to write. Its text reaches `_output_path` as typed (typer's Path type drops a
    trailing '/', and "--json out/" wrote a file named out). Not for a folder to write (a run directory, where
    "out/" is as good as "out")."""
    return typer.Option(*names, parser=str, callback=_output_path, metavar="<path>", **options)


def _output_path(param: typer.CallbackParam, value: str | Path | None) -> Path | None:
    """Callback of `output_option`: the text as a Path; a folder's path ("out/") is one error line naming the
    option, before any work (the option is read before the command's own `friendly_errors` can catch)."""
    if value is None:
        return None
    if names_a_folder(value):
        print_error(f"{param.opts[0]} {str(value)!r}: names a folder, not a file: give the path of a file to write")
        raise typer.Exit(code=2)
    return Path(value)


def check_output_path(path: Path | None) -> None:
    """An output file checked before the work, not after it has been printed (`_io.check_file_target`)."""
    if path is not None:
        check_file_target(path)


def prior_strength_value(text: str) -> float | None:
    """--prior-strength: 'auto' (None: chosen on the known models) or a number (its range is checked by the API,
    `tasks.estimate.check_prior_strength`, for Python callers too)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--prior-strength: expected a number or 'auto', got {text!r}") from None


def items(text: str | None, option: str) -> list[str] | None:
    """The comma-separated items of `option` (None when not given); an empty value or item is refused, never
    dropped (an empty `--only-models=` is not "every model", `--seeds 0,,1` not [0, 1])."""
    if text is None:
        return None
    parts = [x.strip() for x in text.split(",")]
    if not all(parts):
        raise ConfigError(f"{option} {text!r}: an empty item; give comma-separated values, or leave the option out")
    return parts


def numbers(text: str | None, option: str, kind: type = int) -> list | None:
    """A comma-separated option of distinct plain decimal numbers (None when not given): whole numbers for `int`
    (ASCII digits and a sign), `config.plain_number` for `float`; an empty item, a repeated value or any other
    spelling ("0_5", "1e2" for a whole number) is a ConfigError naming the option."""
    parts = items(text, option)
    if parts is None:
        return None
    values = [_number(x, option, kind) for x in parts]
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        raise ConfigError(f"{option} {text!r}: {repeated!r} is given twice; give each value once")
    return values


def _number(text: str, option: str, kind: type) -> int | float:
    if kind is float:
        return plain_number(text, option)
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ConfigError(f"{option}: expected comma-separated whole numbers, got {text!r}")
    return int(text)

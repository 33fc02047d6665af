"""Shared CLI helpers: one-line errors instead of tracebacks, option checks, and the console."""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from irtnet._io import check_file_target, names_a_folder
from irtnet.config import MAX_THREADS, plain_number
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
        except OSError as exc:  # a path the system refuses (a name too long, ...): one line naming it
            if exc.filename is None:
                raise
            print_error(f"{exc.filename}: {exc.strerror or exc}")
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


def thread_count(value: int | None) -> int | None:
    """Option callback of --threads: None (not given) or a whole number in [1, MAX_THREADS], refused naming the
    option before any work (`training.threads.torch_threads` refuses the rest too, but naming no option, and only
    once the training starts)."""
    if value is not None and not 1 <= value <= MAX_THREADS:
        raise typer.BadParameter(f"the number of threads must be from 1 to {MAX_THREADS}, got {value}")
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


def path_argument(**options: Any) -> Any:
    """`typer.Argument` for a path to read (a run, a checkpoint, a table, a texts file). Its text reaches
    `_given_path` as typed: typer's Path type turns "" into Path("."), and `irtnet evaluate ""` read the current
    folder."""
    return typer.Argument(parser=str, callback=_given_path, **options)


def path_option(*names: str, **options: Any) -> Any:
    """`typer.Option` for a path to read (`path_argument`'s check: an empty value is refused, never ".")."""
    return typer.Option(*names, parser=str, callback=_given_path, metavar="<path>", **options)


def _given_path(param: typer.CallbackParam, value: str | Path | list | None) -> Path | list[Path] | None:
    """Callback of `path_argument` and `path_option`: the text (or each text of a repeated option) as a Path; an
    empty one is one error line naming the argument or option, before any work."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_given_path(param, v) for v in value]
    if not str(value).strip():
        name = param.opts[0] if param.param_type_name == "option" else (param.name or "path").upper()
        print_error(f"{name} is empty ({str(value)!r}): give a path (. for the current folder)")
        raise typer.Exit(code=2)
    return Path(value)


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
    if not str(value).strip():
        print_error(f"{param.opts[0]} is empty ({str(value)!r}): give the path of a file to write")
        raise typer.Exit(code=2)
    if names_a_folder(value):
        print_error(f"{param.opts[0]} {str(value)!r}: names a folder, not a file: give the path of a file to write")
        raise typer.Exit(code=2)
    return Path(value)


def check_output_path(path: Path | None, inputs: dict[str, Path | None] | None = None) -> None:
    """An output file checked before the work, not after it has been printed (`_io.check_file_target`): also
    refused where it is one of the command's `inputs` (what each is called -> its path, None: not given), a file
    of a run directory or a checkpoint (writing it would break them), or in a folder that takes no new file."""
    if path is None:
        return
    check_file_target(path)
    refuse_overwriting(path, inputs)
    _check_can_create(path)


def refuse_overwriting(path: Path | None, inputs: dict[str, Path | None] | None = None) -> None:
    """A file to write (or append to) that is one of the command's `inputs`, or a file of a run directory or a
    checkpoint: refused before the work (`check_output_path` without its checks of the path's kind)."""
    if path is None:
        return
    for name, given in (inputs or {}).items():
        if given is not None and _same_file(path, given):
            raise ConfigError(f"{path}: is the command's input ({name}): give another path to write")
    _refuse_a_file_of_a_run(path)


def _same_file(path: Path, other: Path) -> bool:
    """Whether `path` and `other` name one file (both existing: the same inode, links included)."""
    try:
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


def _refuse_a_file_of_a_run(path: Path) -> None:
    """A file a run directory or a checkpoint holds (run.json, config.json, the checkpoint's files, ...), which a
    result written over it would break for good (`Run.open` checks each file's sha256)."""
    from irtnet.api.run_output import RUN_NAMES

    folder = path.parent
    if (folder / "run.json").is_file() and path.name in RUN_NAMES:
        raise ConfigError(f"{path}: is a file of the run directory {folder}, and writing over it would break the "
                          "run: give another path to write")
    if (folder / "checkpoint.json").is_file() and path.name in CHECKPOINT_FILES:
        raise ConfigError(f"{path}: is a file of the checkpoint {folder}, and writing over it would break the "
                          "checkpoint: give another path to write")


#: What a checkpoint directory holds (`predictors.checkpoint.save_predictor`).
CHECKPOINT_FILES = frozenset({"checkpoint.json", "weights.safetensors"})


def _check_can_create(path: Path) -> None:
    """The folder `path` is written in (or the nearest one above that exists, where the write makes the rest)
    takes a new file: found before the work, not when the result is written after it."""
    above = next((p for p in path.parents if p.exists()), None)
    try:
        if path.parent.is_dir():  # a temporary sibling, as the write itself makes (`_io.atomic_path`)
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            os.unlink(probe)
        elif above is not None and not os.access(above, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write here ({exc.strerror or exc})") from None


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

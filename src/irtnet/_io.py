"""Atomic file and directory writes: a reader sees the old content or the new, never half of one.

Temporary files and folders are siblings of their target named `.<name>.<random>.tmp`; they are
removed when the block fails. A process killed with SIGKILL cannot remove its own, so each write first removes
the temporaries of its own path (`atomic_path`, `atomic_dir`), and where irtnet writes in bulk (the embedding
cache folder, a comparison's cells, the steps and draws kept for a rerun) it sweeps the folder: `clear_stale_temps`
removes such temporaries once they have not been modified for `STALE_AFTER_S` (an hour). Age, not the writer's pid, decides: a pid says nothing about a writer on
another host sharing the folder, and the writes swept (a cache shard, a table) take seconds to
minutes. Run directories, whose temporary twin lives as long as a training, are never swept. A folder replaced
by `swap_dir` is moved aside before the new one takes its place; a kill between the two renames leaves it aside,
and `recover_dir` (called by the next write, and by the readers of runs and checkpoints) puts it back.

What is written gets the permissions the user's umask allows (0o666 / 0o777 masked), not the
0o600 / 0o700 that `mkstemp` / `mkdtemp` create for privacy while the content is incomplete.

`read_json` reads what such writes (or an interrupted copy of them) left: a missing, empty, truncated or
wrongly shaped JSON file is a DataError naming it, never a traceback; so is an object that gives a key twice
(`unique_keys`: Python's json would keep the last silently).

Every JSON document irtnet writes is strict JSON (`dumps_json`, `write_json`): JSON has no NaN or Infinity, and
the bare `NaN`/`Infinity` tokens Python's json writes by default are refused by jq, JavaScript and strict
parsers. An undefined figure (an AUC where every label is the same, a correlation of a constant) is written as
null, and the readers that compute or print such figures take a null back as NaN (`nan_for_null`) where the
writer had a NaN. Files written by older versions, with the bare tokens, still read (Python's json reads them).
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from irtnet.errors import DataError

STALE_AFTER_S = 3600.0


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename. A `path` that is a
    folder, or a parent that cannot be created, is a DataError naming it."""
    path = check_file_target(path)
    clear_stale_temps(path.parent, f".{glob.escape(path.name)}.*.tmp")  # this path's, left by a killed writer
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (FileExistsError, NotADirectoryError) as exc:
        raise DataError("cannot write here: a folder on its path is a file", file=str(path)) from exc
    except OSError as exc:
        raise DataError(f"cannot write here ({exc.strerror or exc})", file=str(path)) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def check_file_target(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path, where a file can be written (what `atomic_path` refuses, checked before a command's work,
    not after it): a folder, or a path under an existing file, is a DataError naming it; so is a text that names a
    folder ("out/", `names_a_folder`), which Path would turn into a file named out."""
    given, path = os.fspath(path), Path(path)
    if path.is_dir():
        raise DataError("is a folder: give the path of a file to write", file=str(path))
    if names_a_folder(given):
        raise DataError("names a folder, not a file: give the path of a file to write", file=given)
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise DataError("cannot write here: a folder on its path is a file", file=str(path))
    return path


def names_a_folder(path: str | os.PathLike[str]) -> bool:
    """Whether `path`, as typed, names a folder: its last part is empty, '.' or '..' ("out/", "out/.", ".."). Only
    a text keeps a trailing '/' (Path("out/") is Path("out")): check the text a user gave, before making it a
    Path."""
    return os.path.basename(os.fspath(path)) in ("", ".", "..")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces directory `path` when the block succeeds (`swap_dir`), so an
    interruption at any point leaves the old or the new directory (the old one perhaps aside, which
    `recover_dir`, called here first, puts back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    clear_stale_temps(path.parent, f".{glob.escape(path.name)}.*.tmp")  # this folder's, left by a killed writer
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())  # files inside were created under the umask already
        swap_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def swap_dir(new: Path, path: Path) -> None:
    """Rename folder `new` to `path`. An existing `path` is first renamed aside, to `.<name>.old-<pid>-<random>`,
    and deleted only after the new one is in place; if the second rename fails the old one is put back. A
    process killed between the two renames leaves the old folder aside: `recover_dir` restores it."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
        os.replace(path, old)
    try:
        os.rename(new, path)  # fails if another writer put a folder there in the meantime
    except OSError:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def recover_dir(path: str | os.PathLike[str]) -> bool:
    """Put back the folder `path` that a killed `swap_dir` left aside: where `path` is missing and an aside copy
    whose writer is no longer running (its pid is in the name) exists, the newest such copy is renamed to `path`.
    Returns whether one was. A copy whose writer still runs is that writer's, for the microseconds of its swap.
    (A writer on another host sharing the folder has a pid this host cannot see: such a folder is not shared.)"""
    path = Path(path)
    if path.exists() or path.is_symlink() or not path.parent.is_dir():
        return False
    aside = [p for p in path.parent.glob(f".{glob.escape(path.name)}.old-*") if p.is_dir() and not _writer_alive(p)]
    if not aside:
        return False
    newest = max(aside, key=lambda p: p.stat().st_mtime)
    try:
        os.rename(newest, path)
    except OSError:
        return False  # another process restored it, or wrote a new one, first
    return True


def _writer_alive(aside: Path) -> bool:
    """Whether the process whose pid is in an aside copy's name (`.name.old-<pid>-<hex>`) still runs here."""
    try:
        pid = int(aside.name.rsplit(".old-", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return False  # not named by this version: nobody's swap in progress
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere: set and restore at once (process-global, but the window is two system calls).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def clear_stale_temps(folder: str | os.PathLike[str], pattern: str = ".*.tmp",
                      max_age_s: float = STALE_AFTER_S) -> int:
    """Remove temporary siblings (`pattern`) in `folder` not modified for `max_age_s`; return the count.

    Only what `atomic_path` / `atomic_dir` leave behind matches the default pattern. A file that a
    live writer is using is newer than the limit; one that vanishes meanwhile (another process
    cleaning, or its writer renaming it) is not an error.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff, removed = time.time() - max_age_s, 0
    for tmp in folder.glob(pattern):
        try:
            if tmp.lstat().st_mtime >= cutoff:
                continue
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError:  # not ours to fight over (permissions): leave it, never fail a write for it
            continue
    return removed


def read_json(path: str | os.PathLike[str], expected: type[dict] | type[list] | None = None,
              what: str | None = None) -> Any:
    """The JSON document in `path`. A file that is missing, unreadable, empty, not UTF-8 or not valid JSON
    (e.g. truncated), with an object that gives a key twice, or with `expected` of another JSON type, is a
    DataError naming it; `what` then says what the file should hold (default: "a JSON object" / "a JSON
    list"). A null stays None: the caller knows which of its fields are figures (`nan_for_null`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError("no such file", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from exc
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", file=str(path)) from exc
    if not text.strip():
        raise DataError("empty file, expected JSON (an interrupted write?)", file=str(path))
    try:
        value = json.loads(text, object_pairs_hook=unique_keys(str(path)))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON, truncated or damaged? ({exc})", file=str(path)) from exc
    if expected is not None and not isinstance(value, expected):
        expected_text = what or ("a JSON object" if expected is dict else "a JSON list")
        raise DataError(f"expected {expected_text}, got {json_kind(value)}", file=str(path))
    return value


#: A name that is one safe file name (a dataset's, which names files of a comparison run's tables/).
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

#: A carriage return left inside a line once \n split a text file: its lines end in CR alone (or a text holds one).
LONE_CR = ("a carriage return (CR) inside the line: are the file's lines ended by CR alone (an old Mac text file)? "
           "end them with LF or CRLF, one text per line")


def brief(value: Any, width: int = 40, count: bool = False) -> str:
    """`repr(value)` as a message shows it: whole up to `width` characters, else cut to `width` with "..." (and,
    with `count`, the whole length: for texts that may be long)."""
    text = repr(value)
    if len(text) <= width:
        return text
    return f"{text[:width - 3]}...({len(text)} characters)" if count else text[:width - 3] + "..."


def json_kind(value: Any) -> str:
    """How a parsed JSON value is called in messages: "a JSON object", "a JSON list", "a JSON string", ..."""
    kinds = ((bool, "a JSON boolean"), (dict, "a JSON object"), (list, "a JSON list"), (str, "a JSON string"),
             ((int, float), "a JSON number"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "JSON null")


def unique_keys(file: str | None, **where: Any) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """`json.loads`'s `object_pairs_hook` for a file a person wrote: each object as a dict, and a key given twice
    in one object a DataError naming `file`, the key and `where` (DataError's `line` or `row`: where in the file
    the parsed text is) instead of the last value silently winning. For JSON text that is no file (a command-line
    option), `file` is None and the caller puts the error's `reason` in its own message naming the option."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) < len(pairs):  # the rare case: find the first key given again
            seen: set[str] = set()
            repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
            raise DataError(f"the key {repeated!r} appears twice in one object; give it once", file=file,
                            field=repeated, **where)
        return out

    return hook


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write `obj` as indented strict JSON (`dumps_json`), atomically."""
    write_text(path, json_text(obj))


def json_text(obj: Any) -> str:
    """`obj` as the text `write_json` writes: indented strict JSON and a final newline."""
    return dumps_json(obj, indent=2) + "\n"


def write_together(files: list[tuple[str | os.PathLike[str], str | bytes]],
                   stale: str | os.PathLike[str] | None = None) -> None:
    """Write several texts (UTF-8) or byte strings as one change: each goes to a temporary sibling of its path
    first (the long part; an
    interruption there leaves every old file as it was), then they replace their paths in the order given.
    `stale`, one of the paths whose old content must never sit beside the others' new one, is removed just
    before the renames: the microseconds between them can leave it missing, never old."""
    with contextlib.ExitStack() as stack:
        for path, text in reversed(files):  # the stack closes (renames) the last entered first: the order given
            stack.enter_context(atomic_path(path)).write_bytes(text if isinstance(text, bytes) else text.encode())
        if stale is not None:
            Path(stale).unlink(missing_ok=True)


def dumps_json(obj: Any, **options: Any) -> str:
    """`obj` as strict JSON text (`json.dumps` `options`: indent, ensure_ascii, ...): every NaN or infinity, a
    Python or a numpy float at any depth, as null (`strict_json`); `allow_nan=False` makes one that slipped
    through an error, never a bare `NaN` token in a file."""
    return json.dumps(strict_json(obj), allow_nan=False, default=json_default, **options)


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float (Python or numpy, in dicts, lists, tuples and arrays at any depth) as
    None and numpy scalars and arrays as Python values; anything else as it is (`json_default` turns paths
    into text)."""
    np = sys.modules.get("numpy")  # without numpy imported there is no numpy value to convert
    if np is not None and isinstance(obj, (np.generic, np.ndarray)):
        return strict_json(obj.tolist() if isinstance(obj, np.ndarray) else obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: strict_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(value) for value in obj]
    return obj


def json_default(obj: Any) -> Any:
    """A numpy scalar or array, or a path, as the Python value JSON writes (`json.dumps(default=...)`); a
    non-finite numpy float as None, as `strict_json` writes it."""
    import numpy as np

    if isinstance(obj, (np.generic, np.ndarray)):
        return strict_json(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def nan_for_null(value: Any) -> Any:
    """A figure, or a structure of figures (dicts and lists whose leaves are all numbers: metrics, accuracies,
    an epoch's history row), read back from JSON: every None as NaN, where the writer had a NaN (`strict_json`);
    text and numbers as they are. Only for fields whose null can mean nothing but an undefined figure."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: nan_for_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nan_for_null(item) for item in value]
    return value


def figures_read_back(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """`record` with each of its fields `keys` that is an object of figures read back by `nan_for_null` (null as
    NaN); other fields as written (their nulls may mean "none")."""
    return {**record, **{k: nan_for_null(record[k]) for k in keys if isinstance(record.get(k), dict)}}


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` as UTF-8, atomically (the parent folder is created)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def is_unicode(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (False for a lone surrogate, such as an unpaired "\\ud800" escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

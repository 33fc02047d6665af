"""Where `irtnet.api.run.train_run` may write a run directory, and the writing of it whole.

`refuse_to_replace` and `check_writable` decide before the training whether the output path can take the run: a
file, or a folder that is not a run (`holds_a_run`), is never replaced, and a place where the run could not be
written is refused. `staging` is the hidden sibling folder the run is written into and renamed into place from,
so an interrupted or failed run leaves the directory as it was.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from irtnet._io import clear_stale_temps, current_umask, swap_dir
from irtnet.errors import ConfigError

#: What a run directory holds besides run.json: one of them without run.json is a damaged or old run.
RUN_PARTS = ("config.json", "split.json", "model")
#: What a run directory holds (results added later included): a folder of these names only is a run, perhaps a
#: damaged one, which --overwrite may replace.
RUN_NAMES = frozenset({*RUN_PARTS, "run.json", "history.json", "evaluation.json"})


def refuse_current_folder(out: Path) -> None:
    """ConfigError where `out` is the current folder or a folder above it ("-o .", "-o .."): the run is written
    beside it and renamed into its place, which cannot be done to the folder a process works in."""
    here, target = Path(os.getcwd()), Path(os.path.abspath(out))
    if target == here or target in here.parents:
        raise ConfigError(f"{out}: is the current folder or holds it ({target}); the run directory is written beside "
                          "its path and renamed into place: give it a path of its own, e.g. ../NAME or runs/NAME")


def refuse_to_replace(out: Path, overwrite: bool, appeared: bool = False) -> None:
    """ConfigError unless `out` is absent, an empty folder, or (with `overwrite`) a run directory: a file, or a
    folder that is not a run, is never replaced (that would delete all it holds), with or without `overwrite`.
    `appeared`: the check after training, where `out` was made meanwhile."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; give a new path for the run directory")
    if not any(out.iterdir()):
        return
    if not holds_a_run(out):
        raise ConfigError(f"{out}: is a folder that is not a run directory, and writing the run there would delete "
                          "all it holds; give a new path (--overwrite replaces a run directory only)")
    if not overwrite:
        raise ConfigError(f"{out} {'appeared while training' if appeared else 'exists'}; pass --overwrite "
                          "(overwrite=True) to replace it (the existing run is kept until the new one is complete)")


def holds_a_run(path: Path) -> bool:
    """A run directory: it has run.json, or (a damaged run, or irtnet 0.1's) it holds a checkpoint in model/ and
    nothing a run does not hold. A folder holding a config.json only (perhaps the --config being read) is none."""
    if (path / "run.json").is_file():
        return True
    names = {entry.name for entry in path.iterdir()}
    return names <= RUN_NAMES and (path / "model" / "checkpoint.json").is_file()


def check_writable(out: Path) -> None:
    """ConfigError where the run directory `out` could not be written once training ends: a file on its path, a
    folder without write permission, a name too long for the file system."""
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise ConfigError(f"{out}: cannot write the run directory here: {above} is a file, not a folder")
    try:
        if out.parent.is_dir():  # the staging folder itself, made and removed at once
            os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        elif above is not None and not os.access(above, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the run directory here ({exc.strerror or exc})") from None


class staging:
    """A hidden sibling folder that becomes `out` on success (rename), and is removed on failure. Such folders
    that a killed writer left (`.<name>.*.tmp`, untouched for an hour) are removed first, as `_io.atomic_dir`
    does."""

    def __init__(self, out: Path, overwrite: bool) -> None:
        self.out, self.overwrite = out, overwrite

    def __enter__(self) -> Path:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            clear_stale_temps(self.out.parent, f".{glob.escape(self.out.name)}.*.tmp")
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent))
        except OSError as exc:  # the folder changed during training (`check_writable` passed before it)
            raise ConfigError(f"{self.out}: cannot write the run directory here ({exc.strerror or exc})") from None
        os.chmod(self.tmp, 0o777 & ~current_umask())  # mkdtemp makes it private; a run follows the umask
        return self.tmp

    def __exit__(self, kind: Any, *_: Any) -> None:
        try:
            if kind is None:
                self._publish()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _publish(self) -> None:
        refuse_to_replace(self.out, self.overwrite, appeared=True)
        try:
            swap_dir(self.tmp, self.out)  # the old run, if any, is deleted only once the new one is in place
        except OSError as exc:
            raise ConfigError(f"{self.out}: could not move the new run into place ({exc.strerror})") from exc

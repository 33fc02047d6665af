"""The package version and a fingerprint of its source code, in a module of its own so that any layer can
read them without importing the package root (which would make every layer depend on the facade above it).

The version number changes rarely; `source_fingerprint()` changes with every edit of the code, so caches
of computed results key on it and never serve a result that older code computed.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

__version__ = "0.2.0"

PACKAGE_ROOT = Path(__file__).resolve().parent


def source_files(*parts: str) -> list[Path]:
    """The package's .py files under `parts` (relative to the package; all of it when none), sorted."""
    roots = [PACKAGE_ROOT / p for p in parts] or [PACKAGE_ROOT]
    files = {f for r in roots for f in ([r] if r.suffix == ".py" else r.rglob("*.py")) if f.is_file()}
    return sorted(files)


#: Top-level parts of the package that present or serve results and compute none: the layers above `api`
#: (`irtnet.reporting`, `irtnet.cli`, `irtnet.serve`; the layer checker forbids `api` and below to import them),
#: the optional integrations built on `api`, and the package root, a facade of re-exports.
PRESENTATION = frozenset({"reporting", "cli", "serve", "integrations", "__init__.py"})


def computing_parts() -> tuple[str, ...]:
    """The package's top-level modules and folders whose code can change a computed result (all but
    PRESENTATION), sorted: what a cache of computed results keys on, so that editing a report or the command
    line does not throw away hours of cached fits."""
    return tuple(sorted(p.name for p in PACKAGE_ROOT.iterdir() if p.name not in PRESENTATION
                        and ((p.is_dir() and p.name != "__pycache__") or p.suffix == ".py")))


@cache
def source_fingerprint(*parts: str) -> str:
    """sha256 (hex) over the relative paths and contents of the package's source files under `parts`."""
    h = hashlib.sha256()
    for f in source_files(*parts):
        h.update(str(f.relative_to(PACKAGE_ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()

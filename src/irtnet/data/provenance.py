"""What identifies a dataset: a content fingerprint of its table, and where its files come from.

- `table_fingerprint(table)`: sha256 of the responses, query benchmarks and texts and model metadata,
  independent of row order and of the file or name the table came from (results caches key on it).
- `provenance(path)`: sha256 of every source file and the commit named by the nearest `SOURCE.md`.
- `imported_table(format, path, options)`: `import_table` cached as Parquet under `$IRTNET_CACHE/tables`,
  keyed by format, options, the source files' sizes and times and the importer code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from irtnet._version import __version__, source_fingerprint
from irtnet.data.embeddings import cache_dir
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError

_log = logging.getLogger("irtnet.data.provenance")

#: Package code that, when changed, invalidates a cached imported table.
_IMPORT_CODE = ("data/importers", "data/table.py", "data/records.py")


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def table_fingerprint(table: ResponseTable) -> str:
    """sha256 (hex) of the table's content, independent of row order and origin."""
    resp = table.responses
    cols = {c: resp[c].astype(str).to_numpy(dtype=object) if c in ("model", "query") else resp[c].to_numpy()
            for c in resp.columns}
    frames = [pd.DataFrame(cols).sort_values(["query", "model"]),
              table.queries[["query", "benchmark", "text"]].astype(object).sort_values("query"),
              table.models.astype(str).sort_values("model")]
    h = hashlib.sha256()
    for frame in frames:
        h.update(",".join(frame.columns).encode())
        h.update(pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _source_files(path: str | Path) -> list[Path]:
    p = Path(str(path).split("::", 1)[0])
    return [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())


def provenance(path: str | Path | None) -> dict[str, Any]:
    """Source files (sha256 each, and one digest over all) and the nearest SOURCE.md's title and commit."""
    if path is None:
        return {}
    p = Path(str(path).split("::", 1)[0]).resolve()
    if not p.exists():
        return {"path": str(p)}
    base = p.parent if p.is_file() else p
    hashes = {str(f.relative_to(base)): file_sha256(f) for f in _source_files(p)}
    out: dict[str, Any] = {"path": str(p), "files": hashes,
                           "digest": sha256_text("".join(f"{k}:{v}\n" for k, v in hashes.items()))}
    for parent in [base, *base.parents][:4]:
        source_md = parent / "SOURCE.md"
        if source_md.exists():
            text = source_md.read_text(errors="replace")
            match = re.search(r"commit\s*`([0-9a-f]{7,40})`", text)
            out.update(source_md=str(source_md), source_md_sha256=file_sha256(source_md),
                       commit=match.group(1) if match else None,
                       title=text.splitlines()[0].lstrip("# ").strip() if text else "")
            break
    return out


def imported_table(format: str, path: str | Path, options: dict[str, Any] | None = None) -> ResponseTable:
    """`import_table(format, path, **options)`, cached; always read back from the cache file, so a fresh
    import and a cached one give the very same table."""
    from irtnet.data.importers import import_table

    options = options or {}
    key = sha256_text(json.dumps({
        "format": format, "path": str(Path(path).resolve()), "options": options,
        "files": [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _source_files(path)],
        "code": source_fingerprint(*_IMPORT_CODE), "version": __version__}, default=str))[:24]
    cached = cache_dir() / "tables" / f"{format}-{key}.parquet"
    if cached.exists():
        try:
            return ResponseTable.read_parquet(cached)
        except DataError as exc:  # a cache file cut short or damaged is no reason to fail: the source is at hand
            _log.warning("the cached import %s is damaged (%s); importing %s again", cached, exc, path)
    import_table(format, path, **options).to_parquet(cached)
    return ResponseTable.read_parquet(cached)

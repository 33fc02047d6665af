"""The file of a `QueryEmbeddings` (`embeddings.QueryEmbeddings.save` / `load`): a safetensors file with the tensors
`vectors` ([n, dim] floats) and `ids` (the n query ids, UTF-8, joined by newlines, as uint8 bytes) and the
metadata `encoder` (the encoder's name). Reading it checks every part: a missing, unreadable or damaged file, a
missing or extra tensor, a missing encoder name, ids that are not UTF-8, repeated or empty, vectors that are not
a 2-D float matrix with one finite row per id are each a `DataError` naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import safe_open

from irtnet.data.embedding_cache import first_line
from irtnet.errors import DataError

TENSORS = ("vectors", "ids")


def ids_bytes(ids: tuple[str, ...] | list[str], file: str | Path) -> np.ndarray:
    """The `ids` tensor of `ids` (to be written to `file`); an id holding a line break (the separator) is
    refused, as it would not read back."""
    bad = next((i for i in ids if "\n" in i or "\r" in i), None)
    if bad is not None:
        raise DataError(f"query id {bad!r} holds a line break, which an embeddings file cannot store",
                        file=str(file), field="ids")
    return np.frombuffer("\n".join(ids).encode("utf-8"), dtype=np.uint8).copy()


def read_embeddings_file(path: str | Path) -> tuple[list[str], np.ndarray, str]:
    """(query ids, vectors [n, dim], encoder name) of the embeddings file `path`, every part checked."""
    file = str(path)
    if not Path(path).is_file():
        raise DataError("no such file" if not Path(path).exists() else "not a file (a folder?)", file=file)
    try:
        with safe_open(file, framework="numpy") as f:
            metadata, names = f.metadata() or {}, sorted(f.keys())
            arrays = {name: f.get_tensor(name) for name in names if name in TENSORS}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise DataError(f"not a readable safetensors file ({first_line(exc)})", file=file) from exc
    for name in TENSORS:
        if name not in arrays:
            raise DataError(f"no tensor {name!r} (an embeddings file holds 'vectors' and 'ids')", file=file,
                            field=name)
    extra = [name for name in names if name not in TENSORS]
    if extra:
        raise DataError(f"unexpected tensor {extra[0]!r} (an embeddings file holds 'vectors' and 'ids')",
                        file=file, field=extra[0])
    encoder = metadata.get("encoder")
    if not encoder:
        raise DataError("the file's metadata names no encoder (the name the vectors were made with)", file=file,
                        field="encoder")
    vectors, raw = arrays["vectors"], arrays["ids"]
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise DataError(f"must be a 2-D float matrix (one row per query), got shape {list(vectors.shape)} of "
                        f"{vectors.dtype}", file=file, field="vectors")
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise DataError(f"must be the ids' UTF-8 bytes (1-D uint8), got shape {list(raw.shape)} of {raw.dtype}",
                        file=file, field="ids")
    try:
        ids = raw.tobytes().decode("utf-8").split("\n") if len(raw) else []
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=file, field="ids") from exc
    seen: set[str] = set()
    for line, query in enumerate(ids, 1):
        if query == "" or query in seen:
            what = f"query id {query!r} appears twice" if query else "an empty query id"
            raise DataError(f"{what} (id {line} of {len(ids)})", file=file, field="ids")
        seen.add(query)
    if len(ids) != len(vectors):
        raise DataError(f"{len(ids)} query ids for {len(vectors)} vector rows", file=file, field="ids")
    if not np.isfinite(vectors).all():
        row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise DataError(f"row {row + 1} (query {ids[row]!r}) holds NaN or infinite values", file=file,
                        field="vectors")
    return ids, vectors, encoder

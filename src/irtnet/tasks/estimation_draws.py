"""The estimation protocol's finished draws, kept on disk so that a rerun reads them instead of training again
(`irtnet.tasks.estimation_protocol`; the model is `irtnet compare`'s cell cache).

A draw is stored, once it has finished, as `<folder>/draw<d>-<key>.npz`, written atomically: its cells, its item
refit record and whether its checkpoint is item-seen as a JSON text (entry "record"), and its routing inputs (the
[Q, M] arrays of `estimation_routing.routing_rows`) as arrays. The key (`draw_key`) hashes all the draw's result
depends on (`tasks/step_cache.py`'s key): the table's content fingerprint, the caller's context (the encoder, the
models' resolved specs), the protocol's per-draw settings, the draw's index and the fingerprint of the package's
computing code. A file that
cannot be read is computed again and overwritten; a draw that raised is never written.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import atomic_path, dumps_json
from irtnet.tasks.estimation_summary import EstimationCell
from irtnet.tasks.step_cache import step_key


@dataclass(frozen=True)
class DrawCache:
    """Where finished draws are kept (`folder`) and what their results depend on that the protocol cannot see:
    `context`, JSON-able (the encoder and the resolved specs of the model and of the retrained model)."""

    folder: Path
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class DrawResult:
    """What the protocol's aggregation needs of one draw: its cells, its routing inputs per N (`routing_rows`'
    arrays), its item refit record and whether its checkpoint is item-seen (no routing on unseen queries)."""

    cells: list[EstimationCell]
    routing: dict[int, dict[str, np.ndarray]]
    refit: dict[str, Any]
    item_seen: bool


def draw_key(table: str, context: dict[str, Any], settings: dict[str, Any], draw: int) -> str:
    """The cache key of one draw: `step_cache.step_key` over the table's fingerprint with `context`, and the
    protocol's settings with the draw's index."""
    return step_key({"table": table, **context}, {"settings": settings, "draw": int(draw)})


def draw_path(cache: DrawCache, table: str, settings: dict[str, Any], draw: int) -> Path:
    """The file of one draw in `cache`."""
    return cache.folder / f"draw{int(draw)}-{draw_key(table, cache.context, settings, draw)}.npz"


def save_draw(path: Path, result: DrawResult) -> None:
    """Write one finished draw to `path` atomically (a reader sees the old file, or none, or the whole new one)."""
    parts = [(n, name, array) for n, inputs in result.routing.items() for name, array in inputs.items()]
    record = {"cells": [asdict(c) for c in result.cells], "refit": result.refit, "item_seen": bool(result.item_seen),
              "routing": [[int(n), name] for n, name, _ in parts]}
    arrays = {f"routing{i}": np.asarray(array) for i, (_, _, array) in enumerate(parts)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, record=np.asarray(dumps_json(record)), **arrays)


_CELL_FIGURES = ("estimate", "lower", "upper", "truth")


def _cell_read_back(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell's record as written by `save_draw` (strict JSON: an undefined figure is null) with its figures'
    nulls as NaN again; a record of an older file, whose figures were written as NaN tokens, reads the same."""
    return {**cell, **{k: float("nan") if cell.get(k) is None else cell[k] for k in _CELL_FIGURES if k in cell}}


def load_draw(path: Path) -> DrawResult | None:
    """The draw stored in `path`, or None where there is none or it cannot be read (truncated, damaged or of
    another shape): such a draw is computed again."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            record = json.loads(str(f["record"]))
            routing: dict[int, dict[str, np.ndarray]] = {}
            for i, (n, name) in enumerate(record["routing"]):
                routing.setdefault(int(n), {})[str(name)] = f[f"routing{i}"]
        cells = [EstimationCell(**_cell_read_back(c)) for c in record["cells"]]
        return DrawResult(cells, routing, dict(record["refit"]), bool(record["item_seen"]))
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None

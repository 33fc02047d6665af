"""The finished steps of a long evaluation kept on disk, so that an interrupted run loses none of them and a rerun
reads them instead of training again (`irtnet evaluate-benchmarks`: one held-out benchmark a step;
`irtnet data-efficiency`: one predictor at one training fraction; `irtnet evaluate-estimation`'s draws,
`tasks/estimation_draws.py`, share the key).

A step is stored, once it has finished, as `<folder>/<label>-<key>.json`, written atomically. The key (`step_key`)
hashes all the step's result depends on: the caller's `context` (the table's content fingerprint, the encoder,
the models' resolved specs), the step's own settings and the fingerprint of the package's computing code, so a
changed table, model, setting or computing module is computed again, never read from an old result. A file that
cannot be read (cut short, damaged, of another shape) is computed again and overwritten; a step that raised is
never written. JSON has no NaN: an undefined figure is written as null (`_io.write_json`) and the tasks read it
back as NaN (`_io.nan_for_null`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irtnet._io import clear_stale_temps, json_default, read_json, write_json
from irtnet._version import computing_parts, source_fingerprint
from irtnet.data.provenance import sha256_text, table_fingerprint
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError


@dataclass(frozen=True)
class StepCache:
    """Where finished steps are kept (`folder`) and what every step's result depends on that the task cannot
    see (`context`, JSON-able: the table's fingerprint, the encoder, the models' resolved specs)."""

    folder: Path
    context: dict[str, Any] = field(default_factory=dict)


def steps_folder(out: str | Path) -> Path:
    """Where a resumable evaluation written to `out` keeps its finished steps: `<out minus its suffix>.steps`
    beside it (data_efficiency.json: data_efficiency.steps/)."""
    return Path(out).with_suffix(".steps")


def step_key(context: dict[str, Any], step: dict[str, Any]) -> str:
    """24 hex digits of sha256 over `context`, `step` and the source fingerprint of the package's computing code
    (as `compare_spec.cell_key`)."""
    payload = {"context": context, "step": step, "code": source_fingerprint(*computing_parts())}
    return sha256_text(json.dumps(payload, sort_keys=True, default=json_default))[:24]


def step_path(cache: StepCache, label: str, step: dict[str, Any]) -> Path:
    """The file of one step in `cache`; `label` (a readable prefix: no path separators) names it for a person."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)[:60]
    return cache.folder / f"{safe}-{step_key(cache.context, step)}.json"


def open_cache(cache: StepCache | None, table: ResponseTable) -> StepCache | None:
    """`cache` keyed on `table`'s content fingerprint too, after sweeping what a killed run left half-written in
    its folder (saves go through `atomic_path`); None where there is no cache."""
    if cache is None:
        return None
    clear_stale_temps(cache.folder)
    return StepCache(cache.folder, {**cache.context, "table": table_fingerprint(table)})


def load_step(path: Path | None) -> dict[str, Any] | None:
    """The record stored in `path`, or None where there is none or it cannot be read: such a step is computed
    again."""
    if path is None or not path.is_file():
        return None
    try:
        return read_json(path, dict)
    except DataError:
        return None


def save_step(path: Path | None, record: dict[str, Any]) -> None:
    """Write one finished step's `record` to `path` atomically (nothing where `path` is None)."""
    if path is not None:
        write_json(path, record)  # strict JSON: a NaN as null


"""Helpers shared by the lighteval, Open LLM Leaderboard, EEE and OpenCompass importers.

- run timestamps in file names, and keeping only the latest run of each (model, task);
- choosing a per-item metric: the one asked for, else the first whose values are all 0/1;
- one text per query when models saw different prompts (chat templates);
- reading a samples file that is JSON Lines, a JSON list or Parquet;
- building the table with a `models` frame that carries provenance (`irtnet.data.merge`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from irtnet._io import unique_keys
from irtnet.data.importers._source import NonFiniteTokens, settle_tokens, build_table, parse_jsonl, read_frame, skip
from irtnet.data.merge import provenance_models
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

#: A run timestamp as the harnesses write it in names: 2026-08-10T17-22-11.385681 (also with ':' or '_').
TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}[-:_]\d{2}[-:_]\d{2}(?:\.\d+)?"
T = TypeVar("T")


def split_timestamp(stem: str, prefix: str) -> tuple[str, str] | None:
    """`<prefix><name>_<timestamp>` -> (name, timestamp), or None when the stem is not of that shape.

    >>> split_timestamp("details_anli:r1|0_2026-08-10T17-22-11.385681", "details_")
    ('anli:r1|0', '2026-08-10T17-22-11.385681')
    """
    match = re.fullmatch(rf"{re.escape(prefix)}(.+)_({TIMESTAMP})", stem)
    return (match.group(1), match.group(2)) if match else None


def keep_latest(runs: Sequence[T], key: Callable[[T], Any], stamp: Callable[[T], str],
                report: ImportReport, what: str) -> list[T]:
    """The latest run (by timestamp) of each key; the others are counted in the report under `what`."""
    latest: dict[Any, T] = {}
    for run in runs:
        k = key(run)
        if k not in latest or stamp(run) > stamp(latest[k]):
            latest[k] = run
    kept = [r for r in runs if latest[key(r)] is r]
    if len(kept) < len(runs):
        skip(report, f"{what} of an older run of the same model and task (the latest run is kept)",
             len(runs) - len(kept))
    return kept


# ---------------------------------------------------------------- metrics
def is_binary(values: pd.Series) -> bool:
    """Whether every non-missing value is 0/1 or a bool (and there is at least one)."""
    present = values[values.notna()]
    if present.empty:
        return False
    if not all(isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)) for v in present):
        return False
    return bool(np.isin(present.astype(np.float64).to_numpy(), (0.0, 1.0)).all())


def choose_metric(metrics: pd.DataFrame, requested: str | None, preferred: Sequence[str] = (),
                  binary_names: Collection[str] = ()) -> str | None:
    """The metric column to read: `requested` if present, else the first binary-valued one.

    Candidates are `preferred` names first (those present), then the other columns in order. A column named in
    `binary_names` (metrics the tool defines as 0/1, such as lighteval's `acc`) is taken when it holds anything but
    nulls (None; a NaN counts as a value), even if some value is not 0/1: the caller then checks every value, so a
    bad one is an error naming its row rather than a reason to pass the metric over. Returns None when no column
    fits (the caller skips the task and says why).
    """
    if requested is not None:
        return requested if requested in metrics.columns else None
    order = [c for c in preferred if c in metrics.columns] + [c for c in metrics.columns if c not in preferred]
    named = [c for c in order if c in binary_names and any(v is not None and v is not pd.NA for v in metrics[c])]
    return next((c for c in order if c in named or is_binary(metrics[c])), None)


def metric_outcome(values: pd.Series) -> str:
    """`binary` when every value is 0/1, else `fraction` (checked to lie in [0, 1] by `make_records`)."""
    return "binary" if is_binary(values) else "fraction"


def describe_metrics(metrics: pd.DataFrame) -> str:
    return ", ".join(map(str, metrics.columns)) or "none"


# ---------------------------------------------------------------- texts
def one_text_per_query(records: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Give every query one text: that of the first model (in sorted order) with a text.

    Harnesses store the rendered prompt, which differs between models when each has its own chat
    template; a query is still the same item, so the texts are unified (and the count noted).
    """
    if "text" not in records.columns:
        return records
    known = records[records["text"].notna()].sort_values(["query", "model"], kind="stable")
    differing = int(known.drop_duplicates(["query", "text"])["query"].duplicated().sum())
    if differing:
        report.notes.append(f"{differing} queries have different prompt texts for different models (e.g. chat "
                            "templates): each keeps the text of the first model in sorted order")
    first = known.drop_duplicates("query").set_index("query")["text"]
    text = records["query"].map(first)
    return records.assign(text=text.astype(object).where(text.notna(), None))


def message_text(value: Any) -> str | None:
    """A prompt that is a string, or a chat-message list (`content` or `prompt` of each) joined by blank lines."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        parts = [m.get("content", m.get("prompt")) if isinstance(m, dict) else m for m in value]
        return "\n\n".join(str(p) for p in parts if p is not None) or None
    return str(value)


# ---------------------------------------------------------------- reading
class AllBut(frozenset):
    """A `nan_text` (`read_samples`) naming every field except these: `name in AllBut(ids)` for any other name."""

    def __contains__(self, name: object) -> bool:
        return not super().__contains__(name)

    def __bool__(self) -> bool:
        return True


def non_finite_text(value: Any) -> bool:
    """Whether `value` is a NaN or infinity kept as text by `read_samples`'s `nan_text` ("NaN", "-Infinity", "nan")."""
    if not isinstance(value, str):
        return False
    try:
        return not np.isfinite(float(value))
    except ValueError:
        return False


def read_samples(file: Path, report: ImportReport, nan_text: Collection[str] = ()) -> pd.DataFrame:
    """A samples file as a frame with `_row`: JSON Lines (also when named .json), a JSON list, or Parquet. In the
    `nan_text` fields a NaN or infinite value that is not a null is read as its text (`read_frame`), so that it
    fails as a score naming its row instead of counting as missing."""
    if file.suffix.lower() != ".json":
        return read_frame(file, None, report, nan_text)
    content = file.read_bytes()
    marked = NonFiniteTokens() if nan_text else None
    try:
        data = json.loads(content, parse_constant=marked, object_pairs_hook=unique_keys(str(file)))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        if content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):  # a JSON list (cut off): no JSON Lines of samples
            raise DataError(f"not a valid JSON list of samples ({exc})", file=str(file)) from exc
        items, rows = parse_jsonl(content, str(file), marked)  # early Open LLM Leaderboard files: JSON Lines in .json
    else:
        if isinstance(data, dict):  # JSON Lines of a single line
            data, rows = [data], [1]
        elif isinstance(data, list):
            rows = list(range(1, len(data) + 1))
        else:
            raise DataError(f"expected JSON Lines or a JSON list of samples, got a {type(data).__name__}",
                            file=str(file))
        items = data
    if marked is not None and marked.seen:
        settle_tokens(items, nan_text)
    records = [(item, row) for item, row in zip(items, rows) if isinstance(item, dict)]
    skip(report, "samples that are not JSON objects", len(items) - len(records))
    if not records:
        raise DataError("no samples (the file is empty)", file=str(file))
    return pd.DataFrame([r for r, _ in records]).assign(_row=[row for _, row in records])


def load_json(file: Path) -> Any:
    """A JSON file; invalid JSON, or an object that gives a key twice, is a DataError naming it."""
    try:
        return json.loads(file.read_bytes(), object_pairs_hook=unique_keys(str(file)))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"not valid JSON ({exc})", file=str(file)) from exc


def dig(data: Any, *keys: Any) -> Any:
    """`data[k1][k2]...`, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


# ---------------------------------------------------------------- building
def finish(parts: Iterable[pd.DataFrame], provenance: dict[str, list[dict[str, Any]]], *, source: str,
           report: ImportReport, empty: str) -> ResponseTable:
    """Concatenate record frames, unify texts and build the table with its provenance models frame.

    `empty` is the message of the DataError raised when no records are left.
    """
    frames = [p for p in parts if len(p)]
    if not frames:
        raise DataError(empty, file=source)
    records = one_text_per_query(pd.concat(frames, ignore_index=True), report)
    models = provenance_models({m: provenance.get(m, []) for m in pd.unique(records["model"])})
    return build_table(records, source=source, report=report, models=models)

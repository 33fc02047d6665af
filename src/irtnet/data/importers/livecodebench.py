"""LiveCodeBench leaderboard per-problem pass@1, through the `long` importer's record reader.

`path` is `lcb_leaderboard_performances.tar.xz`, the folder holding it, or any performances JSON.
`member` picks the file inside the archive (default: the 2024-04-17 generation file, 45 models x 400
problems). Mapping: model = `model`, query = `livecodebench/<question_id>`, benchmark = `difficulty`
(easy / medium / hard), outcome = `pass@1` (a percentage over 10 samples) read as k of n = 10
(k = pass@1 / 10). The execution scenario keys on `sample_id` and has `Pass@1` and no difficulty;
its benchmark is `execution` (`cot=True` reads `Pass@1-COT`). No problem text (it is on Hugging Face
only). Model metadata (`model_name`, `family` = model_style, `release_date` as YYYY-MM-DD, `link`) goes
into the models frame for contamination-aware splits; problem release dates are not kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from irtnet.data.importers._source import build_table, json_records, parse_json, read_content, require_path, skip
from irtnet.data.importers.long import ColumnMap, frame_to_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

ARCHIVE = "lcb_leaderboard_performances.tar.xz"
DEFAULT_MEMBER = "performances_generation_2024-04-17_8ed5690c.json"
PREFIX = "livecodebench/"


def _mapping(performances: pd.DataFrame, cot: bool) -> ColumnMap:
    common = dict(model="model", outcome_kind="counts", outcome_scale=100, n_trials=10, query_prefix=PREFIX)
    if "sample_id" in performances.columns and "pass@1" not in performances.columns:
        return ColumnMap(query="sample_id", outcome="Pass@1-COT" if cot else "Pass@1",
                         default_benchmark="execution", **common)
    return ColumnMap(query="question_id", outcome="pass@1", benchmark="difficulty", **common)


def import_livecodebench(path: str | Path, member: str = DEFAULT_MEMBER, cot: bool = False) -> ResponseTable:
    """LiveCodeBench leaderboard performances (pass@1 over 10 samples as k of 10; no text)."""
    source = _source(Path(path), member)
    report = ImportReport(source=source)
    content, _ = read_content(source)
    data = parse_json(content, source)
    items = json_records(data, "performances", source)
    frame = pd.DataFrame.from_records([x for x in items if isinstance(x, dict)])
    if frame.empty:
        raise DataError("no records (the performances list is empty)", file=source, field="performances")
    frame["_row"] = [i for i, x in enumerate(items, start=1) if isinstance(x, dict)]
    skip(report, "performance items that are not records", len(items) - len(frame))
    records = frame_to_records(frame, _mapping(frame, cot), file=source, report=report)
    models = _models(data, set(records["model"]), report)
    return build_table(records, models=models, source=source, report=report)


def _source(path: Path, member: str) -> str:
    require_path(path)
    if path.is_dir():
        path = path / ARCHIVE
        require_path(path)
    return f"{path}::{member}" if path.name.endswith((".tar.xz", ".tar.gz", ".tgz", ".zip")) else str(path)


def _models(data: Any, present: set[str], report: ImportReport) -> pd.DataFrame | None:
    """Model metadata of the models with records; listed models without any are noted."""
    listed = data.get("models") if isinstance(data, dict) else None
    if not listed:
        return None
    frame = pd.DataFrame.from_records([m for m in listed if isinstance(m, dict)])
    if "model_repr" not in frame.columns:
        return None
    frame = frame.rename(columns={"model_repr": "model", "model_style": "family"})
    if "release_date" in frame.columns:
        dates = pd.to_datetime(pd.to_numeric(frame["release_date"], errors="coerce"), unit="ms")
        frame["release_date"] = dates.dt.strftime("%Y-%m-%d")
    frame = frame.drop_duplicates("model")
    absent = sorted(set(frame["model"]) - present)
    if absent:
        report.notes.append(f"{len(absent)} listed models have no performances: {absent[:5]}")
    keep = [c for c in ("model", "model_name", "family", "release_date", "link") if c in frame.columns]
    return frame[frame["model"].isin(present)][keep].reset_index(drop=True)

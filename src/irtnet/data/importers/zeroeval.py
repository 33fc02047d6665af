"""ZeroEval (CRUXEval-O, GSM8K, MATH level 5) through the `long` importer, texts from the tar.

`path` is the zeroeval folder. Each `zeroeval_<b>_scored.csv.gz` (`model, item_id, parsed, correct`)
is read with the mapping model = `model`, query = `<b>/<item_id>` (math-l5 ids are "0".."720", so
every id is prefixed with its benchmark), outcome = `correct` (0/1; for crux `crux_outcome` may pick
`correct_literal_eval`), benchmark = `crux`, `gsm` or `math-l5`. Query texts come from
`zeroeval_result_dirs_crux_gsm_math-l5.tar.xz`, streamed once: field `question` (`problem` for
math-l5) of the model files `result_dirs/<b>/<model>.json`, reading files until every item has a text.
Some model files are incomplete (e.g. gsm gemini-1.5-flash-exp-0827, 681 of 1,319 items): their
missing items stay missing (not wrong); the report notes each such model.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from irtnet.data.importers._source import build_table, iter_tar, json_records, parse_json, read_frame, require_path
from irtnet.data.importers.long import ColumnMap, frame_to_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError

BENCHMARKS = ("crux", "gsm", "math-l5")
ARCHIVE = "zeroeval_result_dirs_crux_gsm_math-l5.tar.xz"
_TEXT_FIELD = {"math-l5": "problem"}
_MEMBER = re.compile(r"(?:.*/)?result_dirs/([^/]+)/[^/]+\.json$")


def mapping(benchmark: str, outcome: str = "correct") -> ColumnMap:
    """The long-format mapping of one ZeroEval scored file."""
    return ColumnMap(model="model", query="item_id", outcome=outcome, outcome_kind="binary",
                     default_benchmark=benchmark, query_prefix=f"{benchmark}/")


def import_zeroeval(path: str | Path, benchmarks: tuple[str, ...] | list[str] = BENCHMARKS,
                    crux_outcome: str = "correct", texts: bool = True) -> ResponseTable:
    """ZeroEval scored CSVs (crux, gsm, math-l5) with question texts streamed from the tar.xz."""
    benchmarks = [benchmarks] if isinstance(benchmarks, str) else list(benchmarks)
    unknown = sorted(set(benchmarks) - set(BENCHMARKS))
    if unknown or not benchmarks:
        raise ConfigError(f"option benchmarks: unknown {unknown or 'empty list'}; "
                          f"choose from {', '.join(BENCHMARKS)}")
    folder = Path(path)
    require_path(folder)
    report = ImportReport(source=str(folder))
    parts = []
    for bench in benchmarks:
        file = folder / f"zeroeval_{bench}_scored.csv.gz"
        outcome = crux_outcome if bench == "crux" else "correct"
        parts.append(frame_to_records(read_frame(file), mapping(bench, outcome), file=str(file), report=report))
        _note_incomplete(parts[-1], bench, report)
    records = pd.concat(parts, ignore_index=True)
    queries = records[["query", "benchmark"]].drop_duplicates("query").reset_index(drop=True)
    queries["text"] = None
    if texts:
        found = read_texts(folder / ARCHIVE, set(benchmarks), set(queries["query"]))
        queries["text"] = queries["query"].map(found).astype(object)
        queries["text"] = queries["text"].where(queries["text"].notna(), None)
        if queries["text"].isna().any():
            report.notes.append(f"{int(queries['text'].isna().sum())} queries have no text in the archive")
    return build_table(records.drop(columns="benchmark"), queries=queries, source=str(folder), report=report)


def read_texts(archive: Path, benchmarks: set[str], needed: set[str]) -> dict[str, str]:
    """Query id (`<b>/<id>`) -> question text, streaming model files until every needed id has one."""
    found: dict[str, str] = {}

    def want(name: str) -> bool:
        match = _MEMBER.match(name)
        return bool(match) and match.group(1) in benchmarks

    for name, content in iter_tar(archive, want):
        bench = _MEMBER.match(name).group(1)  # type: ignore[union-attr]
        field = _TEXT_FIELD.get(bench, "question")
        for item in json_records(parse_json(content, f"{archive}::{name}"), None, name):
            if isinstance(item, dict) and item.get(field) is not None:
                found.setdefault(f"{bench}/{item.get('id')}", str(item[field]))
        if needed.issubset(found):
            break
    return found


def _note_incomplete(records: pd.DataFrame, bench: str, report: ImportReport) -> None:
    n_items = records["query"].nunique()
    per_model = records.groupby("model").size()
    for model, n in per_model[per_model < n_items].items():
        report.notes.append(f"{bench}: {model} has {n} of {n_items} items (the rest are missing, not wrong)")

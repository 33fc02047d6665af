"""CRUXEval leaderboard per-sample results as k-of-n counts, through the `long` importer's reader.

`path` is the cruxeval-leaderboard folder (or `cruxeval_leaderboard_scored.csv.gz` itself, with
`cruxeval.jsonl` beside it). Mapping of the scored CSV (`config, model, cot, temperature, task,
item_id, n_samples, n_correct`): outcome = `n_correct` of `n_samples`; benchmark =
`cruxeval-input` / `cruxeval-output` (the task); query id = `<benchmark>/<item_id>`
(e.g. `cruxeval-output/sample_0`).

The model id is the config without its task suffix (`codellama-7b+cot_temp0.2_input` ->
`codellama-7b+cot_temp0.2`), so one model answers both tasks; the base model, chain-of-thought and
temperature stay in the id because they change the answers. `temperature` keeps only the configs
sampled at that temperature (the others are counted in the report).

Text, from `cruxeval.jsonl`: for the output task the function and `assert f(<input>) == ??`; for the
input task the function and `assert f(??) == <output>`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from irtnet.data.importers._source import build_table, parse_jsonl, read_content, read_frame, require_path, skip
from irtnet.data.importers.long import ColumnMap, frame_to_records
from irtnet.data.records import require_columns
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

SCORED = "cruxeval_leaderboard_scored.csv.gz"
ITEMS = "cruxeval.jsonl"
MAPPING = ColumnMap(model="model_id", query="item_id", outcome_kind="counts", n_correct="n_correct",
                    n_trials="n_samples", benchmark="benchmark")


def import_cruxeval(path: str | Path, temperature: float | None = None) -> ResponseTable:
    """CRUXEval leaderboard scored CSV (n_correct of n_samples; input and output tasks; code as text)."""
    path = Path(path)
    require_path(path)
    scored = path / SCORED if path.is_dir() else path
    report = ImportReport(source=str(path))
    frame = read_frame(scored)
    require_columns(frame, ["config", "task", "temperature", "item_id", "n_samples", "n_correct"], str(scored))
    frame = _filter_temperature(frame, temperature, str(scored), report)
    task = frame["task"].astype(str).str.strip()
    frame = frame.assign(benchmark="cruxeval-" + task,
                         model_id=frame["config"].astype(str).str.strip().str.replace(r"_(input|output)$", "",
                                                                                      regex=True))
    records = frame_to_records(frame, MAPPING, file=str(scored), report=report)
    records["query"] = records["benchmark"] + "/" + records["query"]
    queries = records[["query", "benchmark"]].drop_duplicates("query").reset_index(drop=True)
    queries["text"] = _texts(scored.parent / ITEMS, queries, report)
    return build_table(records.drop(columns="benchmark"), queries=queries, source=str(path), report=report)


def _filter_temperature(frame: pd.DataFrame, temperature: float | None, file: str,
                        report: ImportReport) -> pd.DataFrame:
    if temperature is None:
        return frame
    temps = pd.to_numeric(frame["temperature"], errors="coerce")
    keep = (temps - temperature).abs() < 1e-9
    skip(report, f"records of configs at a temperature other than {temperature:g}", int((~keep).sum()))
    if not keep.any():
        raise DataError(f"no configs at temperature {temperature:g}", file=file, field="temperature")
    return frame[keep.to_numpy()]


def _texts(items_file: Path, queries: pd.DataFrame, report: ImportReport) -> list[str | None]:
    """The text of each query: the code plus the assertion the task asks to complete."""
    if not items_file.exists():
        report.notes.append(f"{items_file.name} not found beside the scored file: queries have no text")
        return [None] * len(queries)
    items, rows = parse_jsonl(read_content(items_file)[0], str(items_file))
    by_id = {}
    for item, row in zip(items, rows):
        if not isinstance(item, dict) or not {"id", "code", "input", "output"} <= set(item):
            raise DataError("expected an object with id, code, input and output", file=str(items_file), line=row)
        by_id[str(item["id"])] = item
    out: list[str | None] = []
    for query, bench in zip(queries["query"], queries["benchmark"]):
        item = by_id.get(query.split("/", 1)[1])
        if item is None:
            out.append(None)
        elif bench == "cruxeval-input":
            out.append(f"{item['code']}\nassert f(??) == {item['output']}")
        else:
            out.append(f"{item['code']}\nassert f({item['input']}) == ??")
    missing = sum(t is None for t in out)
    if missing:
        report.notes.append(f"{missing} queries have no item in {items_file.name} (no text)")
    return out

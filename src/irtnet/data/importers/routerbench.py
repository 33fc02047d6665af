"""RouterBench-style wide CSV: one row per prompt, one 0/1 column per model, per-model costs.

`path` is one CSV or a folder of them (e.g. routerdc/datasets/routerbench_zs). Columns:
`sample_id` (query id, e.g. `arc-challenge.test.1`), `prompt`, `eval_name` (the benchmark), one 0/1
column per model, `<model>|total_cost` (the cost of that model on that prompt, kept per record),
`<model>|model_response` and `oracle_model_to_route_to` (ignored), and an unnamed index (ignored).
A model column is any other column without "|". An empty label is "not observed": skipped and
counted, never 0.

Text: `prompt` holds a Python-list repr of the prompt parts; it is parsed with `ast.literal_eval`
and the parts joined with a blank line. A prompt that is not such a list is kept raw and counted.
Some `sample_id`s occur on two rows with different prompts (two prompt versions, each row labelling
a different subset of the models; 14 in arc-challenge). They stay one query: every model keeps the
label of the row that has it, and the query takes the text of the row with the most labels (the
first such row on a tie); the count is noted in the report.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from irtnet.data.importers._source import build_table, data_files, missing_values, read_frame, require_path, skip
from irtnet.data.records import make_records, require_columns, row_where
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

META = ("sample_id", "prompt", "eval_name", "oracle_model_to_route_to", "_row")
COST = "|total_cost"


def import_routerbench(path: str | Path) -> ResponseTable:
    """RouterBench-style CSV file or folder: per-model 0/1 columns, <model>|total_cost, eval_name."""
    path = Path(path)
    require_path(path)
    files = data_files(path, ("*.csv", "*.csv.gz")) if path.is_dir() else [path]
    report = ImportReport(source=str(path))
    records, prompts = zip(*(_file_records(f, report) for f in files))
    queries = _queries(pd.concat(prompts, ignore_index=True), report)
    return build_table(pd.concat(records, ignore_index=True), queries=queries, source=str(path), report=report)


def model_columns(frame: pd.DataFrame) -> list[str]:
    """The per-model label columns: not metadata, not `<model>|...`, not an unnamed index."""
    return [c for c in frame.columns if c not in META and "|" not in c and not str(c).startswith("Unnamed")]


def _file_records(file: Path, report: ImportReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, one row per source row: query, benchmark, text, number of labels, file, `_row`)."""
    frame = read_frame(file)
    require_columns(frame, ["sample_id", "prompt", "eval_name"], str(file))
    models = model_columns(frame)
    if not models:
        raise DataError("no model label columns (expected one 0/1 column per model)", file=str(file))
    with_cost = all(f"{m}{COST}" in frame.columns for m in models)
    if not with_cost:
        report.notes.append(f"{file.name}: not every model has a '<model>{COST}' column; costs not kept")
    parts, n_labels = [], np.zeros(len(frame), dtype=np.int64)
    for model in models:
        observed = ~missing_values(frame[model])
        if not observed.any():
            raise DataError(f"model {model!r} has no records (its column is empty)", file=str(file), field=model)
        skip(report, "empty model labels (not observed)", int((~observed).sum()))
        n_labels += observed
        parts.append(make_records(frame[observed].assign(_model=model), file=str(file), model="_model",
                                  query="sample_id", outcome=model, outcome_kind="binary",
                                  cost=f"{model}{COST}" if with_cost else None))
    texts, raw = zip(*(prompt_text(p) for p in frame["prompt"].fillna("")))
    if sum(raw):
        report.notes.append(f"{file.name}: {sum(raw)} prompts are not a Python list literal; kept raw")
    prompts = pd.DataFrame({"query": frame["sample_id"].astype(str).str.strip(),
                            "benchmark": frame["eval_name"].astype(str).str.strip(), "text": texts,
                            "n_labels": n_labels, "file": str(file), "_row": frame["_row"].to_numpy()})
    return pd.concat(parts, ignore_index=True), prompts


def prompt_text(prompt: str) -> tuple[str, bool]:
    """(text, kept_raw): the parts of a Python-list repr joined by a blank line, or the raw string."""
    try:
        parts = ast.literal_eval(prompt)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return prompt, True
    if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
        return "\n\n".join(parts), False
    return prompt, True


def _queries(prompts: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """One row per query; a query with two prompt versions takes the text of its most-labelled row."""
    benchmarks = prompts.drop_duplicates(["query", "benchmark"])
    if benchmarks["query"].duplicated().any():
        second = benchmarks[benchmarks["query"].duplicated()].iloc[0]
        raise DataError(f"sample_id {second['query']!r} has two different eval_name values",
                        file=second["file"], **row_where(second["file"], int(second["_row"])), field="eval_name")
    versions = prompts.drop_duplicates(["query", "text"])
    n_versions = versions.groupby("query").size()
    several = int((n_versions > 1).sum())
    if several:
        report.notes.append(f"{several} sample_ids have two or more prompt versions on different rows; each is "
                            "one query with the text of its row with the most labels")
    order = prompts.assign(_order=np.arange(len(prompts))).sort_values(["n_labels", "_order"],
                                                                        ascending=[False, True])
    return order.drop_duplicates("query")[["query", "benchmark", "text"]].reset_index(drop=True)

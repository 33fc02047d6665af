"""Open LLM Leaderboard (v2) "details": lm-eval per-sample files of one or many models.

Accepted layout (the Hugging Face datasets `open-llm-leaderboard/<org>__<model>-details`):
`<org>__<model>/samples_<task>_<ts>.jsonl`, e.g. `samples_leaderboard_bbh_navigate_2024-06-26T17-39-25.137155.jsonl`.
The same rows are accepted as `.parquet` (the Hub's conversion) and as `.json` holding JSON Lines or a
JSON list (the earliest v2 runs). PATH is one such file, a model folder, or a folder above several. A
folder with `samples_leaderboard_*` files reads only those. An lm-eval `results_<ts>.json` beside the
samples (the leaderboard keeps them in the separate `open-llm-leaderboard/results` dataset) is read when
present, for the model name and provenance.

Each row is an lm-eval sample: `doc_id`, `doc`, `target`, `arguments`, `resps`, `filtered_resps`,
optionally `filter` and `metrics` (the names of its metric fields), and the metric fields themselves
(`acc_norm`, `acc`, `exact_match`, `prompt_level_strict_acc`, ...). Mapping:

- model = option `model`, else the results file's `model_name`, else the folder name with its first
  `__` read as `/` (`meta-llama__Meta-Llama-3-8B-Instruct` -> `meta-llama/Meta-Llama-3-8B-Instruct`);
- benchmark = the task (`leaderboard_bbh_navigate`); query = `<task>/<doc_hash>` (the sha256 of the doc, as the
  `lm-eval` importer keys items, so tables of both merge item by item), `<task>/<doc_id>` for a file whose rows
  lack doc_hash (noted);
- text = the logged prompt `arguments.gen_args_0.arg_0` (older files: `arguments[0][0]`), which holds the
  few-shot examples and, for chat models, the chat template: a query takes the text of the first model
  in sorted order (noted when models differ);
- outcome = option `metric`, else the first 0/1-valued field among acc_norm, acc, exact_match,
  prompt_level_strict_acc, then the row's other metrics: what the leaderboard reports for BBH, GPQA and
  MuSR (acc_norm), MMLU-Pro (acc), MATH (exact_match) and IFEval (prompt-level strict). Those four are 0/1 by
  definition: one of them is taken wherever a row has it, and a value of it that is not a score (2, "yes") is
  an error naming the line, never a reason to read another metric; a null is not observed (counted), a NaN
  an error (in any metric field that would be read but for it, too). Lists such as
  `inst_level_strict_acc` are never a per-item outcome. A task without such a metric is skipped and
  counted; the notes say which metric each task used.
- a file whose rows carry several `filter` values keeps option `filter`'s rows (the others counted);
  without the option that is an error listing the filters. Rows without a `filter` field are filter "none" (as
  in the `lm-eval` importer): option `filter` naming another is an error naming the file. A `doc_id` twice in
  one file is an error, as are a `doc_id` that is not an integer, a `doc_hash` or `filter` that is not a string,
  a score written as text ("1", "0.5": never read as a number) and a results `model_name` that is not text.

When a model has several runs of a task, the latest timestamp is kept. Provenance per (model, task):
the samples file, tool `lm-eval`, the results file's `lm_eval_version`, `versions[task]` and
`task_hashes[task]` where present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irtnet._io import brief
from irtnet.data.importers._more_logs import (TIMESTAMP, AllBut, choose_metric, describe_metrics, dig, finish,
                                              is_binary, keep_latest, load_json, metric_outcome, non_finite_text,
                                              read_samples, split_timestamp)
from irtnet.data.importers._source import require_path, skip
from irtnet.data.merge import entry
from irtnet.data.records import make_records, require_columns, row_noun, row_where
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

PREFERRED = ("acc_norm", "acc", "exact_match", "prompt_level_strict_acc")
_SUFFIXES = (".jsonl", ".json", ".parquet")
_STRUCTURE = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics", "doc_hash",
              "prompt_hash", "target_hash", "_row"}


@dataclass(frozen=True)
class _Run:
    file: Path
    folder_model: str
    task: str
    stamp: str


def import_open_llm_leaderboard(path: str | Path, metric: str | None = None, model: str | None = None,
                                filter: str | None = None) -> ResponseTable:
    """Open LLM Leaderboard v2 details: <org>__<model>/samples_<task>_<ts>.jsonl (or .parquet), lm-eval rows."""
    root = Path(path)
    require_path(root)
    report = ImportReport(source=str(root))
    runs = keep_latest([_run(f) for f in _sample_files(root)], key=lambda r: (model or r.folder_model, r.task),
                       stamp=lambda r: r.stamp, report=report, what="samples files")
    provenance: dict[str, list[dict[str, Any]]] = {}
    used: list[str] = []
    parts = [_read_run(run, metric, model, filter, report, provenance, used) for run in runs]
    if used:
        report.notes.append("open-llm-leaderboard metrics: " + "; ".join(used))
    return finish(parts, provenance, source=str(root), report=report,
                  empty=f"no task has {'metric ' + repr(metric) if metric else 'a 0/1-valued metric'} "
                        f"(skipped: {report.skipped})")


def _sample_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("samples_*") if p.is_file() and p.suffix.lower() in _SUFFIXES)
    leaderboard = [p for p in files if p.name.startswith("samples_leaderboard_")]
    if not files:
        raise DataError("no samples_<task>_<timestamp>.jsonl (or .parquet) files in the folder", file=str(root))
    return leaderboard or files


def _run(file: Path) -> _Run:
    parts = split_timestamp(file.name[: -len(file.suffix)], "samples_")
    if parts is None:
        raise DataError("not a samples file name: expected samples_<task>_<timestamp>.jsonl (or .json, .parquet)",
                        file=str(file))
    return _Run(file, file.parent.name.replace("__", "/", 1), *parts)


def _results(run: _Run) -> tuple[Path | None, Any]:
    """The lm-eval results file of the run's timestamp beside the samples and its content, if there is one."""
    for file in sorted(run.file.parent.glob("results_*.json")):
        stamp = re.search(TIMESTAMP, file.name)
        if stamp is not None and stamp.group(0) == run.stamp:
            return file, load_json(file)
    return None, None


def _read_run(run: _Run, metric: str | None, model: str | None, filter: str | None, report: ImportReport,
              provenance: dict[str, list[dict[str, Any]]], used: list[str]) -> pd.DataFrame:
    results_file, results = _results(run)
    named = dig(results, "model_name")
    if model is None and named is not None and not isinstance(named, str):  # a list or a number is damage
        raise DataError(f"model_name {brief(named)} is not text (a model name)", file=str(results_file),
                        field="model_name")
    name_of_model = model or str(named or run.folder_model)
    frame = read_samples(run.file, report, nan_text=AllBut(_STRUCTURE))  # in every metric field, NaN is not missing
    require_columns(frame, ["doc_id"], str(run.file))
    frame = _one_filter(frame, run, filter, report)
    ids = _item_keys(frame, run, report)
    metrics = _metrics(frame)
    name = choose_metric(metrics, metric, PREFERRED, binary_names=PREFERRED)  # a bad 0/1 value: an error, not a skip
    if metric is None:  # a field passed over for a NaN in it would be a guess: an error instead
        order = [c for c in PREFERRED if c in metrics.columns] + [c for c in metrics.columns if c not in PREFERRED]
        _refuse_non_finite(metrics[order if name is None else order[:order.index(name)]], frame, run)
    if name is None:
        wanted = f"metric {metric!r}" if metric else "a 0/1-valued metric"
        skip(report, f"records of tasks without {wanted}", len(frame))
        report.notes.append(f"{run.file}: task {run.task!r} has no {wanted} (its fields: {describe_metrics(metrics)})")
        return pd.DataFrame()
    work = pd.DataFrame({"model": name_of_model, "query": [f"{run.task}/{d}" for d in ids],
                         "benchmark": run.task, "text": [_prompt(a) for a in _column(frame, "arguments")],
                         name: frame[name].to_numpy(dtype=object), "_row": frame["_row"].to_numpy()})
    missing = work[name].isna().to_numpy()
    text = np.array([isinstance(v, str) and not non_finite_text(v) for v in work[name]], dtype=bool)
    if text.any():  # "1" or "0.5": lm-eval writes scores as JSON numbers, so text is damage, never read as a number
        first = int(np.flatnonzero(text)[0])
        raise DataError(f"score {work[name].iloc[first]!r} is text, not a number (a score is a JSON number in [0, 1] "
                        "or true/false)", file=str(run.file), **row_where(str(run.file), int(work["_row"].iloc[first])),
                        field=name)
    skip(report, f"records without a value of the chosen metric ('{name}' missing): not observed", int(missing.sum()))
    work = work[~missing]
    if work.empty:
        return work
    records = make_records(work, file=str(run.file), model="model", query="query", outcome=name,
                           outcome_kind=metric_outcome(work[name]), benchmark="benchmark", text="text")
    used.append(f"{run.task} = {name}" + (f" (mean {float(np.mean(records['n_correct'])):.4f})" if len(records) else ""))
    provenance.setdefault(name_of_model, []).append(entry(
        str(run.file), run.task, "lm-eval", dig(results, "lm_eval_version"), dig(results, "versions", run.task),
        dig(results, "task_hashes", run.task)))
    return records


def _refuse_non_finite(metrics: pd.DataFrame, frame: pd.DataFrame, run: _Run) -> None:
    """A field that would be the 0/1 metric but for a NaN or infinity: a DataError naming the line (a NaN is never
    read as missing, nor a reason to read another field)."""
    for name in metrics.columns:
        bad = metrics[name].map(non_finite_text).to_numpy(dtype=bool)
        if bad.any() and is_binary(metrics[name][~bad]):
            row = int(frame["_row"].to_numpy()[np.flatnonzero(bad)[0]])
            raise DataError(f"score {metrics[name].to_numpy()[bad][0]!r} is NaN or infinite: not a 0/1 score, and not "
                            f"missing either (only a null is; {int(bad.sum())} such {row_noun(str(run.file))}s)",
                            file=str(run.file), **row_where(str(run.file), row), field=str(name))


def _one_filter(frame: pd.DataFrame, run: _Run, filter: str | None, report: ImportReport) -> pd.DataFrame:
    if "filter" not in frame.columns:  # rows without one are filter "none", as in the lm-eval importer
        if filter not in (None, "none"):
            raise DataError(f"option filter={filter!r} given, but the rows have no 'filter' field (their only filter "
                            "is 'none'): drop the option for this file", file=str(run.file), field="filter")
        return frame
    _refuse_odd(frame, "filter", _text_or_null, "a string (the filter's name)", run)
    names = list(pd.unique(frame["filter"].dropna()))
    if len(names) <= 1 and filter is None:
        return frame
    if filter is None:
        raise DataError(f"rows of several filters {names}: choose one with filter=NAME", file=str(run.file),
                        field="filter")
    if filter not in names:
        raise DataError(f"no rows of filter {filter!r} (filters here: {names})", file=str(run.file), field="filter")
    keep = (frame["filter"] == filter).to_numpy()
    skip(report, "rows of other filters than the one chosen", int((~keep).sum()))
    return frame[keep]


def _item_keys(frame: pd.DataFrame, run: _Run, report: ImportReport) -> pd.Series:
    """Item keys of a file's rows: `doc_hash` where every row has one, else `doc_id` (noted); unique per file."""
    ids = _doc_ids(frame, run)
    hashes = frame["doc_hash"] if "doc_hash" in frame.columns else None
    if hashes is not None:
        _refuse_odd(frame, "doc_hash", _text_or_null, "a string (the doc's hash)", run)
    if hashes is None or hashes.isna().any() or (hashes.astype(str).str.strip() == "").any():
        report.notes.append(f"{run.file}: no doc_hash on every row: items keyed by doc_id")
        return ids
    keys = hashes.astype(str).str.strip()
    if keys.duplicated().any():
        pos = int(np.flatnonzero(keys.duplicated().to_numpy())[0])
        raise DataError(f"doc_hash {keys.iloc[pos]!r} appears twice (docs {ids[keys == keys.iloc[pos]].tolist()})",
                        file=str(run.file), **row_where(str(run.file), int(frame["_row"].iloc[pos])),
                        field="doc_hash")
    return keys


def _text_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, float) and value != value)


def _refuse_odd(frame: pd.DataFrame, field: str, ok: Any, what: str, run: _Run) -> None:
    """A `field` value that `ok` refuses (a list where a string belongs) is a DataError naming its line."""
    for value, row in zip(frame[field], frame["_row"]):
        if not ok(value):
            raise DataError(f"{field} {brief(value)} is not {what}", file=str(run.file),
                            **row_where(str(run.file), int(row)), field=field)


def _doc_ids(frame: pd.DataFrame, run: _Run) -> pd.Series:
    """`doc_id` as text ("7", not "7.0" when a missing id made the column float); missing or repeated: an error."""
    ids = []
    for value, row in zip(frame["doc_id"], frame["_row"]):
        if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
            raise DataError("missing doc_id", file=str(run.file), **row_where(str(run.file), int(row)), field="doc_id")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, int, float, np.integer, np.floating)) \
                or (isinstance(value, (float, np.floating)) and not float(value).is_integer()) \
                or (isinstance(value, str) and not value.strip().isdigit()):
            raise DataError(f"doc_id {brief(value)} is not an integer (lm-eval numbers its docs 0, 1, ...)",
                            file=str(run.file), **row_where(str(run.file), int(row)), field="doc_id")
        ids.append(str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip())
    ids = pd.Series(ids, index=frame.index)
    if ids.duplicated().any():
        pos = int(np.flatnonzero(ids.duplicated().to_numpy())[0])
        raise DataError(f"doc_id {ids.iloc[pos]!r} appears twice (several filters or repeats in one file)",
                        file=str(run.file), **row_where(str(run.file), int(frame["_row"].iloc[pos])),
                        field="doc_id")
    return ids


def _metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """The metric fields of the rows: those the `metrics` lists name, else every non-structural column."""
    if "metrics" in frame.columns:
        listed = [m for value in frame["metrics"] if isinstance(value, (list, tuple, np.ndarray)) for m in value]
        names = [m for m in dict.fromkeys(map(str, listed)) if m in frame.columns]
        if names:
            return frame[names]
    return frame[[c for c in frame.columns if c not in _STRUCTURE]]


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    return frame[name].tolist() if name in frame.columns else [None] * len(frame)


def _prompt(arguments: Any) -> str | None:
    """The logged prompt: `gen_args_0.arg_0` (dict form) or the first argument of the first request (list)."""
    first = dig(arguments, "gen_args_0", "arg_0")
    if first is None and isinstance(arguments, (list, tuple, np.ndarray)) and len(arguments):
        head = arguments[0]
        first = head[0] if isinstance(head, (list, tuple, np.ndarray)) and len(head) else head
    return first if isinstance(first, str) else None

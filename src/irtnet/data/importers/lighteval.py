"""lighteval `--save-details` output: per-sample details Parquet files of many models and tasks.

Layout (lighteval 0.6+): `details/<org>/<model>/<ts>/details_<task>_<ts>.parquet` next to
`results/<org>/<model>/results_<ts>.json`. `<task>` is lighteval's task key such as `anli:r1|0`; copies
with `:` and `|` written as `_` are accepted (the task is then read from the rows). PATH is the output
folder, the `details` folder, any folder below it, or one details file.

Mapping:

- model = the results file's `config_general.model_name` (else the folders between `details/` and the
  timestamp folder, e.g. `eee-smoke/dummy-model`);
- benchmark = the task key (`doc.task_name`, e.g. `anli:r1|0`: the few-shot count stays, since another
  prompt is another item); query = `<task>/<doc.id>`; text = `doc.query` (the full prompt lighteval
  built, before any chat template);
- outcome = one column of the row's `metric` struct: `metric` if given, else the first metric whose
  values are all 0/1 or that lighteval defines as 0/1 (`BINARY_METRICS`: `acc`, `em`, ...); a score in
  [0, 1] is kept as a fraction, a null is not observed (counted), anything else (NaN, a string, a number
  outside [0, 1]) is an error naming the file, row and field, with or without `metric`. A task without
  such a metric is skipped and counted; the notes say which metric each task used and compare its mean
  with the results file's figure. A details file without rows, and a `doc.id` given twice in one file,
  are errors naming the file (and both rows).

Older lighteval details (columns `example`, `full_prompt`, `metrics`, no doc id) are read too: text =
`example` (else `full_prompt`), query = `<task>/<sha1(text)[:16]>`, outcome from `metrics` (a struct or
a JSON string); the same text twice in one file is one item there, its rows merged by vote (counted).
When one model (the name its records are imported under) has several runs of a task, the latest timestamp is
kept and the older files are counted. A `model_name` that is not text is an error naming the results file.
Provenance per (model, task): the details file, lighteval's `lighteval_sha` (when not "?"),
`config_tasks[task].version` and `summary_tasks[task].hashes.hash_examples`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irtnet._io import unique_keys
from irtnet.data.importers._harness_items import unit_score
from irtnet.data.importers._more_logs import (choose_metric, describe_metrics, dig, finish, keep_latest, load_json,
                                              metric_outcome, split_timestamp)
from irtnet.data.importers._source import read_frame, require_path, skip
from irtnet.data.merge import entry
from irtnet.data.records import make_records, row_where
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError


#: lighteval's metrics that are 0/1 by definition: taken even when a value is not 0/1, which is then an error.
BINARY_METRICS = ("acc", "acc_norm", "acc_norm_nospace", "em", "qem", "pem", "pqem", "exact_match",
                  "quasi_exact_match", "extractive_match")


@dataclass(frozen=True)
class _Run:
    file: Path
    model: str  # the model the records are imported under (also the key of "keep the latest run")
    task: str  # as in the file name
    stamp: str
    results: Any  # the results JSON of the run, None without one


def import_lighteval(path: str | Path, metric: str | None = None) -> ResponseTable:
    """lighteval details Parquet (details/<org>/<model>/<ts>/details_<task>_<ts>.parquet) + results JSON."""
    root = Path(path)
    require_path(root)
    report = ImportReport(source=str(root))
    runs = keep_latest([_run(f) for f in _details_files(root)], key=lambda r: (r.model, r.task),
                       stamp=lambda r: r.stamp, report=report, what="details files")
    provenance: dict[str, list[dict[str, Any]]] = {}
    used: list[str] = []
    parts = [_read_run(run, metric, report, provenance, used) for run in runs]
    if used:
        report.notes.append("lighteval: " + "; ".join(used))
    return finish(parts, provenance, source=str(root), report=report,
                  empty=f"no task has {'metric ' + repr(metric) if metric else 'a 0/1-valued metric'} "
                        f"(skipped: {report.skipped})")


def _details_files(root: Path) -> list[Path]:
    if root.is_file() and not root.name.lower().endswith(".parquet"):  # e.g. a results JSON: no per-item scores
        raise DataError("not a lighteval details file: give a details_<task>_<timestamp>.parquet file or the output "
                        "folder (results_<timestamp>.json files hold aggregates only)", file=str(root))
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("details_*.parquet") if p.is_file())
    if not files:
        raise DataError("no lighteval details files (details_<task>_<timestamp>.parquet) in the folder",
                        file=str(root))
    return files


def _run(file: Path) -> _Run:
    parts = split_timestamp(file.name.removesuffix(".parquet"), "details_")
    if parts is None:
        raise DataError("not a lighteval details file name: expected details_<task>_<timestamp>.parquet",
                        file=str(file))
    task, stamp = parts
    details = next((p for p in file.parents if p.name == "details"), None)
    if details is None or file.parent.parent == details:
        return _Run(file, file.parent.parent.name or file.parent.name, task, stamp, None)
    folders = "/".join(file.parent.parent.relative_to(details).parts)
    results_file = details.parent / "results" / folders / f"results_{stamp}.json"
    results = load_json(results_file) if results_file.is_file() else None
    return _Run(file, _model_name(results, folders, results_file), task, stamp, results)


def _model_name(results: Any, folders: str, file: Path) -> str:
    """`config_general.model_name` of the results file, else the folder-derived name; a name that is not text
    (a list, a number) is an error naming the file."""
    name = dig(results, "config_general", "model_name")
    if name is None or name == "":
        return folders
    if not isinstance(name, str):
        raise DataError(f"model_name is a {type(name).__name__} ({name!r}), not a model name (text)", file=str(file),
                        field="config_general.model_name")
    return name


def _read_run(run: _Run, metric: str | None, report: ImportReport,
              provenance: dict[str, list[dict[str, Any]]], used: list[str]) -> pd.DataFrame:
    results, model = run.results, run.model
    frame = read_frame(run.file, None, report)
    if frame.empty:
        raise DataError("holds no items (the details file has no rows)", file=str(run.file))
    ids, task, texts, metrics = _rows(frame, run, results)
    name = choose_metric(metrics, metric, binary_names=BINARY_METRICS)
    if name is None:
        wanted = f"metric {metric!r}" if metric else "a 0/1-valued metric"
        skip(report, f"records of tasks without {wanted}", len(frame))
        report.notes.append(f"{run.file}: task {task!r} has no {wanted.removeprefix('a ')} (its metrics: "
                            f"{describe_metrics(metrics)})")
        return pd.DataFrame()
    field = f"metric.{name}"
    values = [_score(v, run.file, row, field) for v, row in zip(metrics[name], frame["_row"])]
    work = pd.DataFrame({"model": model, "query": [f"{task}/{i}" for i in ids], "benchmark": task,
                         "text": texts, field: pd.Series(values, dtype=object).to_numpy(), "_row": frame["_row"]})
    missing = np.array([v is None for v in values], dtype=bool)
    skip(report, f"records without a value of the chosen metric ('{field}' is null): not observed",
         int(missing.sum()))
    work = work[~missing]
    if work.empty:
        return work
    records = make_records(work, file=str(run.file), model="model", query="query", outcome=field,
                           outcome_kind=metric_outcome(work[field]), benchmark="benchmark", text="text")
    _note_use(used, model, task, name, records, dig(results, "results", task, name))
    provenance.setdefault(model, []).append(entry(
        str(run.file), task, "lighteval", _sha(results), dig(results, "config_tasks", task, "version"),
        dig(results, "summary_tasks", task, "hashes", "hash_examples")))
    return records


def _score(value: Any, file: Path, row: Any, field: str) -> float | None:
    """A metric value as a score in [0, 1], None for a null (not observed); NaN, a string or a number outside
    [0, 1] is an error naming the row (`unit_score`)."""
    return None if value is None else unit_score(value, file=str(file), row=int(row), field=field)


def _rows(frame: pd.DataFrame, run: _Run, results: Any) -> tuple[list[str], str, list[Any], pd.DataFrame]:
    """(doc ids, task key, texts, metrics frame) of a details frame, new (`doc`) or old (`example`) layout."""
    file = str(run.file)
    if "doc" in frame.columns and "metric" in frame.columns:
        docs = _structs(frame, "doc", file)
        ids = _unique([_doc_id(d, row, file) for d, row in zip(docs, frame["_row"])], frame["_row"], file)
        names = {str(d["task_name"]) for d in docs if d.get("task_name")}
        if len(names) > 1:
            raise DataError(f"rows of several tasks in one details file: {sorted(names)}", file=file,
                            field="doc.task_name")
        task = names.pop() if names else _task_key(run.task, results)
        return ids, task, [d.get("query") for d in docs], _metric_frame(_structs(frame, "metric", file))
    if "metrics" in frame.columns and ("example" in frame.columns or "full_prompt" in frame.columns):
        text_col = "example" if "example" in frame.columns else "full_prompt"
        texts = frame[text_col].astype(object).where(frame[text_col].notna(), None).tolist()
        for t, row in zip(texts, frame["_row"]):  # the text is the item's id here: a null would join all null rows
            if t is None or not str(t).strip():
                raise DataError(f"no text to key the item by (got {t!r}): older details files key items by "
                                f"their {text_col}", file=file, **row_where(file, int(row)), field=text_col)
        ids = [hashlib.sha1(str(t).encode("utf-8")).hexdigest()[:16] for t in texts]
        metrics = [_json_struct(m, row, file) for m, row in zip(frame["metrics"], frame["_row"])]
        return ids, _task_key(run.task, results), texts, _metric_frame(metrics)
    raise DataError("not a lighteval details file: expected columns doc and metric (or example and metrics); "
                    f"found {[c for c in frame.columns if c != '_row']}", file=file)


def _metric_frame(structs: list[dict[str, Any]]) -> pd.DataFrame:
    """One object column per metric: a null or absent value is None, a NaN stays a NaN (an error when read)."""
    names = list(dict.fromkeys(name for struct in structs for name in struct))
    return pd.DataFrame({n: pd.Series([s.get(n) for s in structs], dtype=object) for n in names})


def _unique(ids: list[str], rows: pd.Series, file: str) -> list[str]:
    """`ids`, unless one is given twice: then a DataError naming both rows (two docs are never merged)."""
    first: dict[str, int] = {}
    for doc_id, row in zip(ids, rows):
        if first.setdefault(doc_id, int(row)) != int(row):
            raise DataError(f"doc id {doc_id!r} appears twice (rows {first[doc_id]} and {int(row)})", file=file,
                            **row_where(file, int(row)), field="doc.id")
    return ids


def _structs(frame: pd.DataFrame, column: str, file: str) -> list[dict[str, Any]]:
    out = []
    for value, row in zip(frame[column], frame["_row"]):
        if not isinstance(value, dict):
            raise DataError(f"expected a struct, got {type(value).__name__}", file=file, **row_where(file, int(row)),
                            field=column)
        out.append(value)
    return out


def _doc_id(doc: dict[str, Any], row: Any, file: str) -> str:
    value = doc.get("id")
    if value is None or str(value).strip() == "":
        raise DataError("missing doc id", file=file, **row_where(file, int(row)), field="doc.id")
    return str(value).strip()


def _json_struct(value: Any, row: Any, file: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value, object_pairs_hook=unique_keys(file, **row_where(file, int(row))))
        except json.JSONDecodeError as exc:
            raise DataError(f"metrics is not valid JSON ({exc})", file=file, **row_where(file, int(row)),
                            field="metrics") from exc
    if not isinstance(value, dict):
        raise DataError(f"expected a struct of metrics, got {type(value).__name__}", file=file,
                        **row_where(file, int(row)), field="metrics")
    return value


def _task_key(name: str, results: Any) -> str:
    """The task key of a file-name task: the results key it spells with '_' for ':' and '|', else the name."""
    for key in (dig(results, "results") or {}):
        if key == name or re.sub(r"[:|]", "_", key) == name:
            return str(key)
    return name


def _sha(results: Any) -> str | None:
    sha = dig(results, "config_general", "lighteval_sha")
    return None if sha in (None, "", "?") else str(sha)


def _note_use(used: list[str], model: str, task: str, name: str, records: pd.DataFrame, stated: Any) -> None:
    mean = float(np.mean(records["n_correct"] / records["n_trials"]))
    check = ""
    if isinstance(stated, (int, float)):
        check = (", as the results file states" if abs(mean - float(stated)) <= 5e-4
                 else f", the results file states {float(stated):.4f}")
    used.append(f"{model} {task}: metric {name!r}, mean {mean:.4f} over {len(records)} items{check}")

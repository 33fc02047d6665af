"""OpenCompass objective results with per-item details (`run.py ... --dump-eval-details`).

Layout of one run folder `outputs/<config>/<timestamp>/`: `results/<model_abbr>/<dataset_abbr>.json` holds
the metrics and, with `--dump-eval-details`, `details`; `predictions/<model_abbr>/<dataset_abbr>.json`
(or its parts `<dataset_abbr>_0.json`, `_1`, ...) holds `{"0": {"origin_prompt", "prediction", "gold"}, ...}`.
PATH is a run folder, a folder above several runs, or one results file.

`details` is a list, or an object keyed "0", "1", ... (older evaluators, or the harness's own
formatting): the keys are the items' 0-based positions, so errors call the entry under key "k" (like the
k-th list item, counting from 0) row k + 1, counting from 1 as for every JSON list. An object's "type" key
is the evaluator's label ("GEN"), not an entry; any other key that is not a whole number is an error, as are
an entry that is not an object, an empty `details`, and an item id (`example_abbr` or position) given twice.
Each entry's correctness is the first of `correct`, `is_correct`, `cascade_correct`: a bool
or 0/1 is binary; a list of them (one per replica, `n` > 1 runs) is k of n; null is not observed, an empty
list an error. Mapping:
model = the `results/` sub-folder; benchmark = the dataset abbr (file name); query =
`<dataset>/<example_abbr>` where entries have one (replicated runs), else `<dataset>/<index>`; text = the
entry's `prompt` / `origin_prompt`, else the `origin_prompt` of the same index in the predictions file (a
chat-message list is joined). Prompts carry each model's template: a query keeps the first model's text.
When several runs hold the same (model, dataset), the latest (by folder name) is kept.

**Refused** (an error naming the file and why; counted and skipped instead when other files of PATH can
be imported): a results file without per-item `details` (run without `--dump-eval-details`), one with an
`error`, and a subjective (judge) run, whose results hold a judge model's verdict text per item, e.g.
pairwise "A is better", and no per-item correct / incorrect.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irtnet.data.importers._more_logs import finish, keep_latest, load_json, message_text
from irtnet.data.importers._source import require_path, skip
from irtnet.data.merge import entry
from irtnet.data.records import make_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

CORRECT = ("correct", "is_correct", "cascade_correct")
HOW = ("import objective runs evaluated with --dump-eval-details: results/<model>/<dataset>.json with a `details` "
       "list whose entries hold `correct`")


@dataclass(frozen=True)
class _Result:
    file: Path
    run: Path
    model: str
    dataset: str


class _Refused(Exception):
    """A results file that holds no per-item correctness (the message says why)."""


def import_opencompass(path: str | Path) -> ResponseTable:
    """OpenCompass results/<model>/<dataset>.json with per-item `details` (--dump-eval-details) + predictions."""
    root = Path(path)
    require_path(root)
    report = ImportReport(source=str(root))
    results = keep_latest(_results(root), key=lambda r: (r.model, r.dataset), stamp=lambda r: r.run.name,
                          report=report, what="results files")
    parts: list[pd.DataFrame] = []
    refused: list[tuple[Path, str]] = []
    provenance: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        try:
            parts.append(_read(result, report))
        except _Refused as why:
            refused.append((result.file, str(why)))
            continue
        provenance.setdefault(result.model, []).append(entry(str(result.file), result.dataset, "opencompass"))
    if refused and not parts:
        more = f" (and {len(refused) - 1} more such files)" if len(refused) > 1 else ""
        raise DataError(refused[0][1] + more, file=str(refused[0][0]))
    skip(report, "results files without per-item correctness (see the notes)", len(refused))
    report.notes += [f"skipped {file}: {why}" for file, why in refused]
    return finish(parts, provenance, source=str(root), report=report, empty="no per-item details to import")


def _results(root: Path) -> list[_Result]:
    if root.is_file():
        return [_result(root)]
    files = sorted(p for p in root.rglob("*.json") if p.is_file() and p.parent.parent.name == "results")
    if not files:
        raise DataError("no OpenCompass results files (results/<model>/<dataset>.json) in the folder",
                        file=str(root))
    return [_result(f) for f in files]


def _result(file: Path) -> _Result:
    return _Result(file, file.parent.parent.parent, file.parent.name, file.stem)


def _read(result: _Result, report: ImportReport) -> pd.DataFrame:
    data = load_json(result.file)
    entries = _details(data, str(result.file))
    prompts = _prompts(result)
    rows = [_row(item, key, row, result, prompts) for key, row, item in entries]
    _refuse_repeats(rows, str(result.file))
    frame = pd.DataFrame(rows)
    missing = frame["k"].isna().to_numpy()
    skip(report, "details entries whose correctness is null (not observed)", int(missing.sum()))
    frame = frame[~missing]
    if frame.empty:
        return frame
    return make_records(frame.assign(model=result.model, benchmark=result.dataset), file=str(result.file),
                        model="model", query="query", outcome_kind="counts", n_correct="k", n_trials="n",
                        benchmark="benchmark", text="text")


def _details(data: Any, file: str) -> list[tuple[str, int, Any]]:
    """(key, row, entry) triples of a results file's details, or _Refused saying why it has none.

    The key is the entry's 0-based position in the dataset (its index in a list, or its key "0", "1", ... in an
    object); the row, as errors count, is that position + 1. An object's "type" key (e.g. "GEN") is the
    evaluator's label, not an entry; any other key that is not a whole number is an error, as is no entry at all.
    """
    if not isinstance(data, dict):
        raise _Refused(f"expected a JSON object of results, got a {type(data).__name__}")
    if "details" not in data:
        raise _Refused(_why_no_details(data))
    details = data["details"]
    if isinstance(details, dict):
        entries = sorted(((_position(k, file), k, v) for k, v in details.items()
                          if k != "type" or not isinstance(v, str)), key=lambda e: e[0])
        for (i, first, _), (j, key, _) in zip(entries, entries[1:]):
            if i == j:
                raise DataError(f"the details keys {first!r} and {key!r} name one position", file=file,
                                field=f"details.{key}")
        out = [(str(i), i + 1, v) for i, _, v in entries]
    elif isinstance(details, list):
        out = [(str(i), i + 1, v) for i, v in enumerate(details)]
    else:
        raise _Refused(f"`details` is a {type(details).__name__}, not a list or an object of entries")
    if not out:
        raise DataError("holds no items (`details` is empty)", file=file, field="details")
    return out


def _position(key: str, file: str) -> int:
    """A `details` key as the entry's 0-based position; a key that is not a whole number is a DataError."""
    if not re.fullmatch(r"[0-9]+", key):
        raise DataError(f"a details key {key!r} that is not an item's position (0, 1, ...)", file=file,
                        field=f"details.{key}")
    return int(key)


def _refuse_repeats(rows: list[dict[str, Any]], file: str) -> None:
    """One item per query id in a file: OpenCompass writes each item once (replicas as a list in its entry)."""
    first: dict[str, Any] = {}
    for row in rows:
        if first.setdefault(row["query"], row["_row"]) != row["_row"]:
            raise DataError(f"the item {row['query']!r} appears twice (rows {first[row['query']]} and {row['_row']})",
                            file=file, row=row["_row"], field=row["_id"])


def _why_no_details(data: dict[str, Any]) -> str:
    if "error" in data:
        return f"OpenCompass recorded an error for this evaluation ({str(data['error'])[:200]}); {HOW}"
    entries = [v for v in data.values() if isinstance(v, dict)]
    if entries and all("prediction" in v for v in entries):
        pair = _pair(entries[0].get("gold"))
        return ("this is a subjective (judge) run, not a correctness log: each entry holds a judge model's verdict "
                f"text (`prediction`){pair}, and no file of the run gives a per-item correct / incorrect; {HOW}")
    return f"no per-item `details` (only the aggregate metrics {sorted(map(str, data))[:8]}); {HOW}"


def _pair(gold: Any) -> str:
    """' comparing answer1 'x' with answer2 'y'' when the gold names a pairwise comparison."""
    if isinstance(gold, str):  # the predictions store it as a Python repr
        try:
            gold = ast.literal_eval(gold)
        except (ValueError, SyntaxError):
            return ""
    if isinstance(gold, dict) and "answer1" in gold and "answer2" in gold:
        return f" comparing the answers of {gold['answer1']!r} and {gold['answer2']!r}"
    return ""


def _row(item: Any, key: str, row: int, result: _Result, prompts: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise DataError(f"a details entry is a {type(item).__name__}, not an object", file=str(result.file), row=row,
                        field="details")
    field = next((f for f in CORRECT if f in item), None)
    if field is None:
        raise DataError(f"details entry has none of the fields {list(CORRECT)} (keys: {sorted(item)[:10]})",
                        file=str(result.file), row=row, field="details")
    k, n = _counts(item[field], result, row, field)
    ident = item.get("example_abbr")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident).strip()):
        raise DataError(f"the item id is empty or not text (got {ident!r})", file=str(result.file), row=row,
                        field="example_abbr")
    text = message_text(item.get("prompt", item.get("origin_prompt")))
    if text is None and ident is None:
        text = message_text(prompts.get(key, {}).get("origin_prompt") if isinstance(prompts.get(key), dict) else None)
    return {"query": f"{result.dataset}/{ident if ident is not None else key}", "k": k, "n": n, "text": text,
            "_row": row, "_id": "details" if ident is None else "example_abbr"}


def _counts(value: Any, result: _Result, row: int, field: str) -> tuple[float | None, float]:
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if not values:  # OpenCompass writes one outcome per replica, so an empty list is a damaged entry
        raise DataError("correctness is an empty list (no replica's outcome)", file=str(result.file), row=row,
                        field=field)
    if all(v is None for v in values):
        return None, 1.0
    ok = all(isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) and float(v) in (0.0, 1.0)
             for v in values)
    if not ok:
        raise DataError(f"correctness must be true/false or 0/1 (or a list of them), got {value!r}",
                        file=str(result.file), row=row, field=field)
    return float(sum(float(v) for v in values)), float(len(values))


def _prompts(result: _Result) -> dict[str, Any]:
    """The predictions of the result's model and dataset (parts `_0`, `_1`, ... concatenated), by index."""
    folder = result.run / "predictions" / result.model
    whole = folder / f"{result.dataset}.json"
    if whole.is_file():
        data = load_json(whole)
        return data if isinstance(data, dict) else {}
    out: dict[str, Any] = {}
    part = 0
    while (folder / f"{result.dataset}_{part}.json").is_file():
        data = load_json(folder / f"{result.dataset}_{part}.json")
        values = list(data.values()) if isinstance(data, dict) else []
        out.update({str(len(out) + i): v for i, v in enumerate(values)})
        part += 1
    return out

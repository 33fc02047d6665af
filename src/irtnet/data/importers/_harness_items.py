"""Shared pieces of the lm-eval, Inspect and HELM log importers (`lm_eval`, `inspect_logs`, `helm`).

Each importer turns its logs into `Item`s, one per (model, query) of one log file: `values` holds one
score in [0, 1] per trial (an Inspect epoch, a HELM train trial; lm-eval has one). `to_records` reduces
the trials the records way (`irtnet.data.records`): all 0/1 -> k of n counts; otherwise the mean, as a
fraction with n_trials = 1 (a soft score keeps no trial count; the report notes how many).

Provenance follows `irtnet.data.merge`: the models frame's `provenance` column holds, per model, a JSON
list of entries (source file, tool, tool version, benchmark, task version, task hash), built here with
`merge.entry` and `merge.provenance_models`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from irtnet._io import brief
from irtnet.data.importers._source import build_table
from irtnet.data.merge import entry, provenance_models
from irtnet.data.records import make_records, shown
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

#: (model, task, mean score over the imported items, the figure the log states or None, its name)
Check = tuple[str, str, float, float | None, str]


@dataclass
class Item:
    """One model's observed trials of one query, from one log file."""

    model: str
    query: str
    benchmark: str
    values: list[float]
    text: str | None = None
    row: int | str = 0  # where in the file, for error messages: a line, an index or "sample id X"


@dataclass
class Provenance:
    """Provenance entries per model (`irtnet.data.merge` format) for one tool."""

    tool: str
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, model: str, source: str, benchmark: str, tool_version: Any = None, task_version: Any = None,
            task_hash: Any = None) -> None:
        self.entries.setdefault(model, []).append(
            entry(source, benchmark, self.tool, tool_version, task_version, task_hash))

    def frame(self, models: set[str]) -> pd.DataFrame:
        return provenance_models({m: self.entries.get(m, []) for m in models})


def preferences(option: str | None) -> list[str]:
    """A comma-separated preference list ("acc_norm,acc") as names; [] for None."""
    return [part.strip() for part in (option or "").split(",") if part.strip()]


def unit_score(value: Any, *, file: str, field: str, row: int | str | None = None, line: int | None = None) -> float:
    """A per-item score as a float in [0, 1]: a bool (0/1) or a finite number in [0, 1]; anything else (a string,
    even "1", NaN, infinity, null, a list) is a DataError naming `file`, the `row` or `line` (of a JSON Lines file)
    and `field`. Harness logs write scores as JSON numbers, so text there is an upstream bug, never guessed at
    (Inspect's score letters and words are read by `inspect_logs` before they get here)."""
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"score {brief(value, 60)} is a {type(value).__name__}, not a number (not a per-item score)",
                        file=file, row=row, line=line, field=field)
    if not math.isfinite(value):
        raise DataError(f"score {shown(value)} is not a number in [0, 1] (NaN is never read as missing)",
                        file=file, row=row, line=line, field=field)
    if not 0 <= value <= 1:
        raise DataError(f"score {shown(value)} outside [0, 1]", file=file, row=row, line=line, field=field)
    return float(value)


def to_records(items: list[Item], file: str, report: ImportReport) -> pd.DataFrame:
    """Records of one file's items: 0/1 trials as k of n, soft scores as their mean (a fraction)."""
    rows = []
    for it in items:
        binary = all(v in (0.0, 1.0) for v in it.values)
        k, n = (sum(it.values), len(it.values)) if binary else (sum(it.values) / len(it.values), 1)
        rows.append({"model": it.model, "query": it.query, "k": k, "n": float(n), "_row": it.row,
                     "_binary": binary, "_trials": len(it.values)})
    frame = pd.DataFrame(rows)
    soft_multi = int(((~frame["_binary"]) & (frame["_trials"] > 1)).sum())
    if soft_multi:
        report.notes.append(f"{file}: {soft_multi} items have soft scores over several trials; each is stored "
                            "as its mean over the trials (a fraction, n_trials = 1)")
    parts = []
    for binary, kind in ((True, "counts"), (False, "fraction")):
        part = frame[frame["_binary"] == binary]
        if len(part):
            parts.append(make_records(part, file=file, model="model", query="query", outcome_kind=kind,
                                      outcome=None if binary else "k", n_correct="k" if binary else None,
                                      n_trials="n" if binary else None))
    return pd.concat(parts, ignore_index=True)


def harness_table(units: list[tuple[str, list[Item]]], *, source: str, report: ImportReport,
                  provenance: Provenance) -> ResponseTable:
    """One table from every file's items; a query keeps the first text read (differences are noted)."""
    units = [(file, items) for file, items in units if items]
    if not units:
        raise DataError(f"no scored items to import (skipped: {report.skipped or 'nothing'})", file=source)
    records = pd.concat([to_records(items, file, report) for file, items in units], ignore_index=True)
    queries = _queries([it for _, items in units for it in items], report)
    models = provenance.frame(set(records["model"]))
    return build_table(records, queries=queries, models=models, source=source, report=report)


def _queries(items: list[Item], report: ImportReport) -> pd.DataFrame:
    frame = pd.DataFrame({"query": [it.query for it in items], "benchmark": [it.benchmark for it in items],
                          "text": [it.text for it in items]})
    texts = frame.dropna(subset=["text"]).drop_duplicates(["query", "text"])
    differing = int(texts["query"].duplicated().sum())
    if differing:
        report.notes.append(f"{differing} queries have different texts in different logs (e.g. other prompt "
                            "templates); each keeps the first text read")
    first_text = texts.drop_duplicates("query").set_index("query")["text"]
    out = frame.drop_duplicates("query")[["query", "benchmark"]].reset_index(drop=True)
    text = out["query"].map(first_text)
    if text.isna().any():
        report.notes.append(f"{int(text.isna().sum())} of {len(out)} queries have no text in the logs")
    return out.assign(text=text.astype(object).where(text.notna(), None))


def stated_notes(tool: str, checks: list[Check], unit: str = "(model, task) pairs") -> list[str]:
    """Notes comparing each (model, task) mean score with the figure its log states (where it states one);
    `unit` names what one check is ("(model, task, split) triples" where a log states a figure per split).

    Matches within 5e-4 are summarised in one line; each mismatch gets its own line.
    """
    stated = [c for c in checks if c[3] is not None]
    if not stated:
        return []
    bad = [c for c in stated if abs(c[2] - float(c[3])) > 5e-4]
    notes = [(f"{tool}: the mean score of {len(stated) - len(bad)} of {len(stated)} {unit} equals "
              "the figure its log states")]
    notes += [f"{tool}: {model} {task}: mean over the imported items {got:.4f}, the log states {what} = "
              f"{float(want):.4f}" for model, task, got, want, what in bad]
    return notes

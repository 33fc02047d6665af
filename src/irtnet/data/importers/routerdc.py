"""RouterDC training data: JSON lists of `{"question": str, "scores": {model: score}}`.

`path` is one JSON file or a folder of them (e.g. routerdc/datasets/split2_model7). The benchmark
comes from the file name: lower case, without a train/test suffix (`mmlu_train.json` -> `mmlu`,
`gsm8k-test.json` -> `gsm8k`, `MATH_prealgebra.json` -> `math_prealgebra`). The query id is
`<benchmark>/<sha1(question)[:16]>` (the files have no ids), so a question repeated within a
benchmark (e.g. in both its train and test files) is one query whose repeated records are
majority-voted and reported.

Outcome rule (SOURCE.md):

- multiple choice (mmlu, cmmlu, ceval, arc_challenge, arc_easy): the score is 0 when wrong, else
  the normalised probability of the gold option, so `score > 0` = correct (binary);
- sampled tasks keep the fraction: gsm8k as k of n = 10 samples (k = 10 x score), humaneval, mbpp
  and javascript (HumanEvalPack-JS) as a fraction, because their number of samples is not documented;
- math_prealgebra: already 0/1 (binary);
- any other file name: a fraction in [0, 1], with a note in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irtnet.data.importers._source import (benchmark_from_name, build_table, data_files, json_records, parse_json,
                                          read_content, require_path, text_id)
from irtnet.data.records import make_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

#: Outcome rule per benchmark (file name): "mc" = score > 0 is correct, "counts" = k of SAMPLES[b],
#: "fraction" = kept as a soft score, "binary" = already 0/1. Unlisted benchmarks are fractions.
RULES = {"mmlu": "mc", "cmmlu": "mc", "ceval": "mc", "arc_challenge": "mc", "arc_easy": "mc",
         "gsm8k": "counts", "humaneval": "fraction", "mbpp": "fraction", "javascript": "fraction",
         "math_prealgebra": "binary"}
SAMPLES = {"gsm8k": 10}


def import_routerdc(path: str | Path) -> ResponseTable:
    """RouterDC JSON ({question, scores}) file or folder; benchmark from the file name."""
    path = Path(path)
    require_path(path)
    files = data_files(path, ("*.json",)) if path.is_dir() else [path]
    report = ImportReport(source=str(path))
    records = pd.concat([file_records(f, report) for f in files], ignore_index=True)
    return build_table(records, source=str(path), report=report)


def file_records(file: Path, report: ImportReport) -> pd.DataFrame:
    """The records of one RouterDC file, with the outcome rule of its benchmark applied."""
    bench = benchmark_from_name(file.name)
    items = json_records(parse_json(read_content(file)[0], str(file)), None, str(file))
    frame = _melt(items, bench, str(file))
    frame["score"] = _scores(frame, str(file))
    rule = RULES.get(bench)
    if rule is None:
        report.notes.append(f"{file.name}: benchmark {bench!r} has no documented rule; scores kept as fractions")
    common = dict(file=str(file), model="model", query="query", benchmark="benchmark", text="text")
    if rule == "counts":
        k = frame["score"] * SAMPLES[bench]
        _check_whole(frame, k, str(file))
        frame = frame.assign(k=np.round(k), n=float(SAMPLES[bench]))
        return make_records(frame, outcome_kind="counts", n_correct="k", n_trials="n", **common)
    if rule == "mc":
        frame["score"] = (frame["score"] > 0).astype(np.float64)
    kind = "binary" if rule in ("mc", "binary") else "fraction"
    return make_records(frame, outcome="score", outcome_kind=kind, **common)


def _melt(items: list[Any], bench: str, file: str) -> pd.DataFrame:
    """One row per (item, model): model, query, benchmark, text, raw score and `_row` (the item's 1-based
    position in the list, as a CSV's data rows are counted)."""
    rows: list[tuple[str, str, str, Any, int]] = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise DataError(f"expected an object, got {type(item).__name__}", file=file, row=i)
        question, scores = item.get("question"), item.get("scores")
        if not isinstance(question, str) or not question.strip():
            raise DataError("missing or empty question", file=file, row=i, field="question")
        if not isinstance(scores, dict) or not scores:
            raise DataError("missing scores (expected an object model -> score)", file=file, row=i, field="scores")
        qid = text_id(bench, question)
        rows.extend((str(m), qid, question, s, i) for m, s in scores.items())
    if not rows:
        raise DataError("no records (the input is empty)", file=file)
    frame = pd.DataFrame(rows, columns=["model", "query", "text", "raw", "_row"])
    frame["benchmark"] = bench
    return frame


def _scores(frame: pd.DataFrame, file: str) -> np.ndarray:
    values = pd.to_numeric(frame["raw"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(f"score of model {frame['model'].iloc[pos]!r} is not a number in [0, 1] "
                        f"(got {frame['raw'].iloc[pos]!r})", file=file, row=int(frame["_row"].iloc[pos]),
                        field="scores")
    return values


def _check_whole(frame: pd.DataFrame, k: pd.Series, file: str) -> None:
    off = (k - k.round()).abs() > 1e-6
    if off.any():
        pos = int(np.flatnonzero(off.to_numpy())[0])
        raise DataError(f"score {frame['score'].iloc[pos]} is not a whole number of the task's samples",
                        file=file, row=int(frame["_row"].iloc[pos]), field="scores")

"""MMLU-Pro per-question model outputs: one zip per model, each holding one JSON list of records.

`path` is the mmlu-pro-outputs folder (the zips may sit in `eval_results/`), or one zip. The model
id comes from the file name `model_outputs_<model>_5shots.zip`. Each record has `question_id`,
`question`, `options`, `answer`, `category`, `src` and `pred` (the extracted letter or null).

- label: `pred == answer` using that file's own gold letter; a null `pred` (extraction failed) is
  wrong, as in SOURCE.md (the official scorer would guess at random instead);
- query id: `mmlu-pro/<question_id>`; text: the question, then its options as `A. ...` lines;
- benchmark: the `category` (14 disciplines), or with `group="src"` the source subset (the part of
  `src` before the first "-": ori_mmlu, stemez, theoremQA, scibench);
- items of a list that are not records (DeepSeek-Coder-V2 has 43 stray strings) are skipped and
  counted; files that lack some questions (gemini-1.5-flash/pro) simply leave them missing.

The files come from different revisions of MMLU-Pro, so a few questions differ between files in
text, options or gold answer. A question takes the (question, options, group) version that most files
give (the first in file-name order on a tie); the counts of such questions are noted in the report.
Only that version's options are parsed into the text (and validated).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from irtnet.data.importers._source import (build_table, file_stem, json_records, parse_json, read_content,
                                          require_path, skip)
from irtnet.data.records import make_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError

PREFIX = "mmlu-pro/"
_MODEL = re.compile(r"^model_outputs_(.+?)_\d+shots$")
_FIELDS = ("question_id", "question", "options", "answer", "category", "src", "pred")
Version = tuple[str, Any, str]  # (question, options, group) as one file gives them


def import_mmlu_pro(path: str | Path, group: Literal["category", "src"] = "category") -> ResponseTable:
    """MMLU-Pro output zips (one per model): correct = pred == answer; benchmark = category or src."""
    if group not in ("category", "src"):
        raise ConfigError(f"option group must be 'category' or 'src', got {group!r}")
    path = Path(path)
    files = _zips(path)
    _check_model_names(files)
    report = ImportReport(source=str(path))
    versions: dict[str, dict[Version, list[Any]]] = defaultdict(dict)
    answers: dict[str, set[str]] = defaultdict(set)
    parts = []
    for file in files:
        items = json_records(parse_json(read_content(file)[0], str(file)), None, str(file))
        parts.append(_records(items, model_name(file), group, str(file), report, versions, answers))
    queries = _queries(versions, report)
    differing = sum(len(a) > 1 for a in answers.values())
    if differing:
        report.notes.append(f"{differing} questions have different gold answers in different files; "
                            "each label uses its own file's answer")
    return build_table(pd.concat(parts, ignore_index=True), queries=queries, source=str(path), report=report)


def model_name(file: Path) -> str:
    """`model_outputs_<model>_5shots.zip` -> `<model>` (else the file name without extension)."""
    stem = file_stem(file.name)
    match = _MODEL.match(stem)
    return match.group(1) if match else stem


def _check_model_names(files: list[Path]) -> None:
    """Two files naming the same model would silently pool their answers: refuse them."""
    seen: dict[str, Path] = {}
    for file in files:
        name = model_name(file)
        if name in seen:
            raise DataError(f"model {name!r} also comes from {seen[name]}; keep one file per model",
                            file=str(file), field="model")
        seen[name] = file


def _zips(path: Path) -> list[Path]:
    require_path(path)
    if path.is_file():
        return [path]
    files = sorted(path.rglob("model_outputs_*.zip")) or sorted(path.rglob("*.zip"))
    if not files:
        raise DataError("no model_outputs_<model>_5shots.zip files in the folder", file=str(path))
    return files


def _records(items: list[Any], model: str, group: str, file: str, report: ImportReport,
             versions: dict[str, dict[Version, list[Any]]], answers: dict[str, set[str]]) -> pd.DataFrame:
    """The records of one file; each question's (question, options, group) version is counted in `versions`."""
    rows = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue
        qid, answer = _checked(item, file, i)
        pred = item["pred"]
        rows.append((model, qid, float(pred is not None and str(pred).strip() == answer), i))
        options = item["options"]
        options = tuple(map(str, options)) if isinstance(options, list) else str(options)  # hashable
        key = (str(item["question"]).strip(), options, _benchmark(item, group))
        versions[qid].setdefault(key, [0, file, i])[0] += 1  # count, and where it was first seen
        answers[qid].add(answer)
    skip(report, "list items that are not records (stray strings)", len(items) - len(rows))
    if not rows:
        raise DataError("no records (the input is empty)", file=file)
    frame = pd.DataFrame(rows, columns=["model", "query", "label", "_row"])
    return make_records(frame, file=file, model="model", query="query", outcome="label", outcome_kind="binary")


def _checked(item: dict[str, Any], file: str, row: int) -> tuple[str, str]:
    """(query id, gold letter) of a record that has every field and a non-empty id and answer."""
    missing = [f for f in _FIELDS if f not in item]
    if missing:
        raise DataError(f"record lacks {missing}", file=file, row=row, field=missing[0])
    for field in ("question_id", "answer"):
        if item[field] is None or not str(item[field]).strip():
            raise DataError(f"missing {field}", file=file, row=row, field=field)
    return PREFIX + str(item["question_id"]).strip(), str(item["answer"]).strip()


def question_text(question: str, options: Any, file: str, row: int) -> str:
    """The question followed by its options as lettered lines (A. ..., B. ...)."""
    if isinstance(options, str):
        try:
            options = ast.literal_eval(options)
        except (ValueError, SyntaxError) as exc:
            raise DataError(f"options is not a list ({exc})", file=file, row=row, field="options") from exc
    if not isinstance(options, (list, tuple)):
        raise DataError(f"options is a {type(options).__name__}, not a list", file=file, row=row, field="options")
    lines = [f"{chr(ord('A') + k)}. {opt}" for k, opt in enumerate(options)]
    return "\n".join([question, *lines])


def _benchmark(item: dict[str, Any], group: str) -> str:
    value = str(item[group]).strip()
    return value.split("-", 1)[0] if group == "src" else value


def _queries(versions: dict[str, dict[Version, list[Any]]], report: ImportReport) -> pd.DataFrame:
    """One row per question: its most common version (the first seen on a tie), as (query, text, benchmark)."""
    rows = []
    for qid, seen in versions.items():
        (question, options, bench), (_, file, row) = max(seen.items(), key=lambda kv: kv[1][0])
        rows.append((qid, question_text(question, options, file, row), bench))
    differing = sum(len(seen) > 1 for seen in versions.values())
    if differing:
        report.notes.append(f"{differing} questions differ in text, options or group between files; each "
                            "takes the version most files give")
    return pd.DataFrame(rows, columns=["query", "text", "benchmark"])

"""LLMRouter (DCRouter preprocessed) routing data: 9 LLMs x 6,108 questions in 14 tasks.

`path` is the llmrouter-dcrouter folder (holding `data/`) or its `data/` folder. Scores come from
`dcrouter_preprocessed/{train,test}.json` (`{"question", "scores": {model: score}}`; `scores` may be
a Python dict repr, parsed with `ast.literal_eval`). They are fractions in [0, 1] (90-97% exactly
0 or 1) and are kept as such: label = score >= 0.5, score = the fraction.

Task names are not in those files: each question is joined on its exact text to `query` in
`example_data/query_data/*.jsonl` (split on "\\n" only: one query contains U+0085) to get
`task_name`, which becomes the benchmark. Six questions match two tasks (an mmlu question that is
also in openbook_qa or arc_challenge). Rule: the dcrouter files list questions grouped by task, so
an ambiguous question takes the task of the nearest preceding question of the same file whose task
is one of its candidates (else the nearest following one, else the alphabetically first); the count
is reported. A question found in no query file is skipped and counted.

Query id = `<task>/<sha1(question)[:16]>`. A question in both train.json and test.json (119 of
them, gpqa / human_eval / mbpp) is one query: its two records per model are majority-voted and
reported. `splits` picks which files to read. Model metadata (`input_price`, `output_price`, `size`,
`api_model`) comes from `example_data/llm_candidates/default_llm.json` for the models with data.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from irtnet.data.importers._source import (build_table, json_records, parse_json, parse_jsonl, read_content,
                                          require_path, skip, text_id)
from irtnet.data.records import make_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError

SPLITS = ("train", "test")


def import_llmrouter(path: str | Path, splits: tuple[str, ...] | list[str] = SPLITS) -> ResponseTable:
    """LLMRouter dcrouter train/test JSON joined to query_data for the task; prices from default_llm.json."""
    splits = [splits] if isinstance(splits, str) else list(splits)
    if not splits or not set(splits) <= set(SPLITS):
        raise ConfigError(f"option splits must name some of {', '.join(SPLITS)}, got {splits}")
    data = _data_dir(Path(path))
    report = ImportReport(source=str(path))
    tasks = task_index(data / "example_data" / "query_data")
    parts = []
    for split in splits:
        file = data / "dcrouter_preprocessed" / f"{split}.json"
        items = json_records(parse_json(read_content(file)[0], str(file)), None, str(file))
        parts.append(_records(items, assign_tasks(items, tasks, str(file), report), str(file)))
    records = pd.concat(parts, ignore_index=True)
    if len(splits) > 1:
        _note_shared(parts, report)
    models = model_metadata(data / "example_data" / "llm_candidates" / "default_llm.json", set(records["model"]),
                            report)
    return build_table(records, models=models, source=str(path), report=report)


def _data_dir(path: Path) -> Path:
    require_path(path)
    for candidate in (path / "data", path):
        if (candidate / "dcrouter_preprocessed").is_dir():
            return candidate
    raise DataError("no dcrouter_preprocessed/ folder (give the llmrouter-dcrouter folder or its data/)",
                    file=str(path))


def task_index(folder: Path) -> dict[str, list[str]]:
    """Query text -> the distinct task names it has in the query_data JSONL files (sorted)."""
    require_path(folder)
    found: dict[str, set[str]] = defaultdict(set)
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DataError("no *.jsonl query files", file=str(folder))
    for file in files:
        items, rows = parse_jsonl(read_content(file)[0], str(file))
        for item, row in zip(items, rows):
            if not isinstance(item, dict) or "query" not in item or "task_name" not in item:
                raise DataError("expected an object with query and task_name", file=str(file), line=row)
            found[str(item["query"])].add(str(item["task_name"]))
    return {q: sorted(t) for q, t in found.items()}


def assign_tasks(items: list[Any], tasks: dict[str, list[str]], file: str,
                 report: ImportReport) -> list[str | None]:
    """The task of each item (None where its question is in no query file); see the module rule."""
    candidates = [tasks.get(str(item.get("question"))) if isinstance(item, dict) else None for item in items]
    chosen: list[str | None] = [c[0] if c and len(c) == 1 else None for c in candidates]
    ambiguous = [i for i, c in enumerate(candidates) if c and len(c) > 1]
    fixed = list(chosen)
    for i in ambiguous:
        chosen[i] = _neighbour_task(i, candidates[i], fixed)
    if ambiguous:
        report.notes.append(f"{Path(file).name}: {len(ambiguous)} questions match two tasks; each took the "
                            "task of its neighbours in the file (grouped by task): "
                            + ", ".join(f"{candidates[i]} -> {chosen[i]}" for i in ambiguous))
    skip(report, "questions found in no query_data file (no task)", sum(c is None for c in candidates))
    return chosen


def _neighbour_task(i: int, candidates: list[str], fixed: list[str | None]) -> str:
    """The task of the nearest unambiguous question before i (else after i) if it is a candidate."""
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(fixed) and fixed[j] is None:
            j += step
        if 0 <= j < len(fixed) and fixed[j] in candidates:
            return str(fixed[j])
    return candidates[0]


def _records(items: list[Any], tasks: list[str | None], file: str) -> pd.DataFrame:
    rows = []
    for i, (item, task) in enumerate(zip(items, tasks), start=1):
        if task is None:
            continue
        question = item["question"]
        for model, score in _scores(item, file, i).items():
            rows.append((str(model), text_id(task, question), question, task, score, i))
    if not rows:
        what = "the file is empty" if not items else "no question has a task in query_data"
        raise DataError(f"no records ({what})", file=file)
    frame = pd.DataFrame(rows, columns=["model", "query", "text", "benchmark", "score", "_row"])
    return make_records(frame, file=file, model="model", query="query", outcome="score",
                        outcome_kind="fraction", benchmark="benchmark", text="text")


def _scores(item: dict[str, Any], file: str, row: int) -> dict[str, Any]:
    scores = item.get("scores")
    if isinstance(scores, str):
        try:
            scores = ast.literal_eval(scores)
        except (ValueError, SyntaxError) as exc:
            raise DataError(f"scores is not a dict literal ({exc})", file=file, row=row, field="scores") from exc
    if not isinstance(scores, dict) or not scores:
        raise DataError("missing scores (expected model -> score)", file=file, row=row, field="scores")
    return scores


def _note_shared(parts: list[pd.DataFrame], report: ImportReport) -> None:
    shared = set(parts[0]["query"]).intersection(*(set(p["query"]) for p in parts[1:]))
    if shared:
        report.notes.append(f"{len(shared)} questions appear in more than one split file; each is one query "
                            "and its repeated records are majority-voted (see repeated pairs)")


def model_metadata(file: Path, present: set[str], report: ImportReport) -> pd.DataFrame | None:
    """input_price, output_price, size and api_model of the candidate LLMs that have data."""
    if not file.exists():
        report.notes.append(f"{file.name} not found: no model prices")
        return None
    data = parse_json(read_content(file)[0], str(file))
    if not isinstance(data, dict):
        raise DataError("expected an object: model name -> metadata", file=str(file))
    without = sorted(set(data) - present)
    if without:
        report.notes.append(f"{len(without)} candidate LLMs in {file.name} have no scores and are not in the "
                            f"table: {', '.join(without)}")
    rows = [{"model": name, "input_price": meta.get("input_price"), "output_price": meta.get("output_price"),
             "size": meta.get("size"), "api_model": meta.get("model")}
            for name, meta in data.items() if name in present and isinstance(meta, dict)]
    return pd.DataFrame(rows) if rows else None

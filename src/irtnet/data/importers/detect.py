"""Which import format a file or folder holds, told from file names and a peek at a few keys.

`detect_format(path)` classifies each file by its name (`samples_<task>_<ts>.jsonl`, `details_*.parquet`,
`*.eval`, `run_spec.json`, ...) and, where the name says too little, by the top-level keys of a JSON file
or the first line of a JSONL / CSV file. A folder is walked (at most `MAX_FILES` files, `MAX_DEPTH`
levels); it must hold one format. Two exceptions are resolved: an Open LLM Leaderboard folder may hold
lm-eval `results_*.json` files (the leaderboard's samples are lm-eval samples), and an OpenCompass run
folder has `results/` beside `predictions/`. Anything else is a ConfigError that lists what was looked for.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from irtnet.data.importers._more_logs import TIMESTAMP
from irtnet.data.importers._source import split_source
from irtnet.errors import ConfigError

__all__ = ["LOOKED_FOR", "detect_format"]

MAX_FILES = 5000
MAX_DEPTH = 6
_PEEK_BYTES = 20 * 2**20  # JSON files larger than this are judged by the keys in their first 64 kB
LOOKED_FOR = (
    "lm-eval: samples_<task>_<timestamp>.jsonl, results_<timestamp>.json (results, configs, n-samples)",
    "inspect: *.eval, or a log .json with eval and status keys",
    "helm: run folders with run_spec.json, scenario_state.json, per_instance_stats.json",
    "lighteval: details_<task>_<timestamp>.parquet, results_<timestamp>.json with config_general",
    "open-llm-leaderboard: samples_leaderboard_<task>_<timestamp>.jsonl (or .json, .parquet)",
    ("eee: *_samples.jsonl records with schema_version, evaluation_id, sample_id; aggregate JSON with "
     "evaluation_results"),
    "opencompass: results/<model>/<dataset>.json beside predictions/, or a JSON with details",
    ("mmlu-pro model_outputs_*.zip, zeroeval_*_scored.csv.gz, cruxeval_leaderboard_scored.csv.gz, "
     "swebench_*_scored.csv.gz, lcb_leaderboard_performances.tar.xz, EmbedLLM or RouterBench CSV headers, "
     "RouterDC question/scores JSON, LLMRouter dcrouter_preprocessed/"),
)
_NAMES = (  # (pattern on the file name, format); the first match wins
    (r".+\.eval", "inspect"),
    (r"run_spec\.json|scenario_state\.json|per_instance_stats\.json", "helm"),
    (rf"details_.+_{TIMESTAMP}\.parquet", "lighteval"),
    (rf"samples_leaderboard_.+_{TIMESTAMP}\.(jsonl|json|parquet)", "open-llm-leaderboard"),
    (rf"samples_.+_{TIMESTAMP}\.jsonl", "lm-eval"),
    (r"model_outputs_.+\.zip", "mmlu-pro"),
    (r"zeroeval_.+_scored\.csv(\.gz)?|zeroeval_result_dirs.*\.tar\.xz", "zeroeval"),
    (r"cruxeval_leaderboard_scored\.csv(\.gz)?", "cruxeval"),
    (r"swebench_.+_scored\.csv(\.gz)?", "swebench"),
    (r"lcb_leaderboard_performances.*|performances_generation_.+\.json", "livecodebench"),
)


def detect_format(path: str | Path) -> str:
    """The import format of `path` (a file, a folder or ARCHIVE::MEMBER); ConfigError when it cannot tell."""
    p, _ = split_source(path)
    if not p.exists():
        raise ConfigError(f"cannot detect the format of {str(path)!r}: no such file or folder")
    if p.is_file():
        found = _file_format(p)
        if found is None:
            raise ConfigError(_cannot(path, "the file matches none of"))
        return found
    return _resolve(path, _folder_formats(p))


def _cannot(path: str | Path, what: str) -> str:
    return (f"cannot detect the format of {str(path)!r}: {what} the shapes looked for "
            f"({'; '.join(LOOKED_FOR)}); name the format instead (`irtnet data formats` lists them)")


def _resolve(path: str | Path, found: dict[str, list[Path]]) -> str:
    if not found:
        raise ConfigError(_cannot(path, "no file in the folder matches any of"))
    if set(found) == {"lm-eval", "open-llm-leaderboard"} and all(
            f.name.startswith("results_") for f in found["lm-eval"]):
        return "open-llm-leaderboard"
    if len(found) > 1:
        shown = "; ".join(f"{fmt} ({len(files)} files, e.g. {files[0]})" for fmt, files in sorted(found.items()))
        raise ConfigError(f"{str(path)!r} holds logs of several formats: {shown}; import each with its format "
                          "(then `irtnet data merge` the tables)")
    return next(iter(found))


def _folder_formats(folder: Path) -> dict[str, list[Path]]:
    if (folder / "dcrouter_preprocessed").is_dir() or (folder / "data" / "dcrouter_preprocessed").is_dir():
        return {"llmrouter": [folder]}
    found: dict[str, list[Path]] = {}
    for file in _walk(folder):
        fmt = _file_format(file)
        if fmt is not None:
            found.setdefault(fmt, []).append(file)
    return found


def _walk(folder: Path) -> Iterator[Path]:
    """Files below `folder` (sorted per level), at most MAX_FILES of them and MAX_DEPTH levels deep."""
    count = 0
    for current, dirs, files in os.walk(folder):
        depth = len(Path(current).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < MAX_DEPTH else []
        for name in sorted(files):
            if count >= MAX_FILES:
                return
            count += 1
            yield Path(current) / name


def _file_format(file: Path) -> str | None:
    name = file.name
    for pattern, fmt in _NAMES:
        if re.fullmatch(pattern, name):
            return fmt
    if _opencompass_layout(file):
        return "opencompass"
    lower = name.lower()
    if lower.endswith(".jsonl"):
        return _jsonl_format(file)
    if lower.endswith(".json"):
        return _json_format(file)
    if lower.endswith((".csv", ".csv.gz")):
        return _csv_format(file)
    return None


def _opencompass_layout(file: Path) -> bool:
    """`<run>/results/<model>/<dataset>.json` (or predictions/) with both results/ and predictions/ in <run>."""
    if file.suffix != ".json" or file.parent.parent.name not in ("results", "predictions"):
        return False
    run = file.parent.parent.parent
    return (run / "results").is_dir() and (run / "predictions").is_dir()


def _jsonl_format(file: Path) -> str | None:
    try:
        with file.open("rb") as handle:
            first = next((line for line in handle if line.strip()), b"")
        keys = set(json.loads(first)) if first else set()
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    if {"schema_version", "evaluation_id", "sample_id"} <= keys:
        return "eee"
    if {"doc_id", "doc"} <= keys:
        return "lm-eval"
    return None


def _json_format(file: Path) -> str | None:
    keys, first_item = _json_keys(file)
    if "config_general" in keys:
        return "lighteval"
    if "results" in keys and keys & {"configs", "n-samples", "lm_eval_version", "model_name_sanitized"}:
        return "lm-eval"
    if "eval" in keys and keys & {"status", "samples"}:
        return "inspect"
    if {"schema_version", "evaluation_results"} <= keys:
        return "eee"
    if "details" in keys:
        return "opencompass"
    if {"question", "scores"} <= first_item:
        return "routerdc"
    return None


def _json_keys(file: Path) -> tuple[set[str], set[str]]:
    """(top-level keys of a JSON object, keys of the first item of a JSON list); empty when unreadable. A key
    given twice changes no key set, so sniffing reads it as it is: the importer chosen refuses the file, naming
    the key (`unique_keys`)."""
    try:
        if file.stat().st_size > _PEEK_BYTES:
            with file.open("rb") as handle:
                head = handle.read(65536).decode("utf-8", "replace")
            keys = set(re.findall(r'"([A-Za-z_][\w\-]*)"\s*:', head))
            return keys, keys
        data: Any = json.loads(file.read_bytes())
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply to be a log
        return set(), set()
    if isinstance(data, dict):
        return set(map(str, data)), set()
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return set(), set(map(str, data[0]))
    return set(), set()


def _csv_format(file: Path) -> str | None:
    try:
        opener = gzip.open if file.name.lower().endswith(".gz") else open
        with opener(file, "rt", encoding="utf-8", errors="replace") as handle:
            header = {h.strip() for h in handle.readline().split(",")}
    except (OSError, EOFError):
        return None
    if {"model_id", "prompt_id", "prompt", "label", "category"} <= header:
        return "embedllm"
    if {"sample_id", "eval_name"} <= header and any(h.endswith("|total_cost") for h in header):
        return "routerbench"
    return None

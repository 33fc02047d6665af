"""Files of query texts and of a new model's answers, as users write them: .txt (one text per line), .jsonl,
.json (a list) or .csv. Every bad row is an error naming the file, the row and the field."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.errors import DataError

_TEXT_FIELDS = ("text", "query", "question", "prompt")
_LABEL_FIELDS = ("label", "correct", "score")
_ANSWER_SUFFIXES = (".csv", ".jsonl", ".json")


def _load_records(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        raise DataError("is a folder, not a file", file=str(path))
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _csv_records(path)
        text = path.read_text(encoding="utf-8")
    except DataError:
        raise  # already names the file, row and field (a ragged CSV row)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read ({exc})", file=str(path)) from exc
    if suffix == ".jsonl":
        rows = [_json_line(line, path, i) for i, line in enumerate(text.split("\n"), 1) if line.strip()]
    elif suffix == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc})", file=str(path)) from exc
        if not isinstance(rows, list):
            raise DataError("expected a JSON list of texts or objects", file=str(path))
    else:
        return [{"text": line} for line in text.split("\n") if line.strip()]
    return [r if isinstance(r, dict) else {"text": r} for r in rows]


def _csv_records(path: Path) -> list[dict[str, Any]]:
    """A CSV's rows as dicts of strings; a row with more or fewer fields than the header is an error naming it."""
    import pandas as pd

    from irtnet.data.importers._csv import check_shape

    content = path.read_bytes()
    if not content.strip():
        return []
    check_shape(content, str(path))
    # index_col=False: a row one field longer than the header must not turn the first column into an index
    return pd.read_csv(io.BytesIO(content), dtype=object, keep_default_na=False, index_col=False).to_dict("records")


def _json_line(line: str, path: Path, i: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", file=str(path), row=i) from exc


def _text_of(row: dict[str, Any], file: Path, i: int) -> str:
    for key in _TEXT_FIELDS:
        if isinstance(row.get(key), str) and row[key].strip():
            return row[key]
    raise DataError("no text (expected a non-empty 'text', 'query', 'question' or 'prompt' field)",
                    file=str(file), row=i + 1)


def _benchmark_of(row: dict[str, Any]) -> str | None:
    value = row.get("benchmark")
    return value if isinstance(value, str) and value.strip() else None


def read_texts(path: str | Path) -> tuple[list[str], list[str | None]]:
    """(texts, benchmarks) of a texts file; benchmarks None where not given."""
    path = Path(path)
    rows = _load_records(path)
    if not rows:
        raise DataError("no texts", file=str(path))
    return [_text_of(r, path, i) for i, r in enumerate(rows)], [_benchmark_of(r) for r in rows]


def _label_of(row: dict[str, Any], file: Path, i: int) -> float:
    keys = [k for k in _LABEL_FIELDS if k in row]
    if not keys:
        raise DataError("no label (expected a 'label', 'correct' or 'score' field)", file=str(file), row=i + 1)
    if len(keys) > 1:
        raise DataError(f"two label fields ({' and '.join(map(repr, keys))}); give the answer in one of them "
                        "(drop the other field or column)",
                        file=str(file), row=i + 1, field=keys[1])
    key = keys[0]
    value = row[key]
    try:
        label = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{value!r} is not a number in [0, 1]", file=str(file), row=i + 1, field=key) from None
    if math.isnan(label) or not 0 <= label <= 1:
        raise DataError(f"{value!r} is not in [0, 1]", file=str(file), row=i + 1, field=key)
    return label


def label_field(row: dict[str, Any]) -> str:
    """The field a row's label is read from (`_label_of`'s)."""
    return next((k for k in _LABEL_FIELDS if k in row), "correct")


def answer_records(path: Path) -> list[dict[str, Any]]:
    """The rows of an answers file: .csv, .jsonl or .json (a .txt of texts has no labels), at least one."""
    if path.suffix.lower() not in _ANSWER_SUFFIXES and not path.is_dir():
        raise DataError(f"an answers file is .csv, .jsonl or .json, not {path.suffix or 'a file without a suffix'!r}",
                        file=str(path))
    rows = _load_records(path)
    if not rows:
        raise DataError("no answers", file=str(path))
    return rows


def read_answers(path: str | Path) -> tuple[list[str], np.ndarray, list[str | None]]:
    """(texts, labels in [0, 1], benchmarks) of an answers file (fields text and label / correct / score)."""
    path = Path(path)
    rows = answer_records(path)
    texts = [_text_of(r, path, i) for i, r in enumerate(rows)]
    labels = np.array([_label_of(r, path, i) for i, r in enumerate(rows)])
    return texts, labels, [_benchmark_of(r) for r in rows]

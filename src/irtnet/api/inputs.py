"""Files of query texts and of a new model's answers, as users write them: .txt (one text per line, UTF-8),
.jsonl, .json (a list) or .csv; any other file type is an error. Every bad record is an error naming the file,
where the record is and the field: the line of a .jsonl or .txt file (1-based, blank lines counted: what an
editor shows), or the row of a .csv (1-based data rows, the header not counted) or of a .json list (its item).
A blank line of a .txt or .csv file is an error naming its line (a line is one record there); a .jsonl file's
blank lines are skipped, as every JSONL reader of the project skips them, and counted in its line numbers.
An object that gives a key twice, a CSV column name used twice and a record with two text fields (or two label
fields) are errors too, never read as one of the values."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import LONE_CR, read_json, unique_keys
from irtnet.errors import DataError

_TEXT_FIELDS = ("text", "query", "question", "prompt")
_LABEL_FIELDS = ("label", "correct", "score")
_TEXT_SUFFIXES = (".txt", ".csv", ".jsonl", ".json")
_ANSWER_SUFFIXES = (".csv", ".jsonl", ".json")


def _file_type(path: Path) -> str:
    """The suffix (.txt, .csv, .jsonl or .json) of an existing texts or answers file; anything else is an error
    naming the file, never read as lines of text."""
    if path.is_dir():
        raise DataError("is a folder, not a file", file=str(path))
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    suffix = path.suffix.lower()
    if suffix not in _TEXT_SUFFIXES:
        what = f"unknown file type {suffix!r}" if suffix else "no file type (the name has no extension)"
        raise DataError(f"{what}: expected .txt, .csv, .json or .jsonl", file=str(path))
    return suffix


class Record(dict):
    """One record of a texts or answers file (its fields), knowing where it is in the file: `at`, DataError's
    keyword naming it ({"line": n} or {"row": n}); `csv`: its values are a CSV's cells (text), not JSON values."""

    def __init__(self, fields: Any, at: dict[str, int], csv: bool = False) -> None:
        super().__init__(fields if isinstance(fields, dict) else {"text": fields})
        self.at, self.csv = at, csv


def where(record: dict[str, Any], i: int) -> dict[str, int]:
    """Where record `i` (0-based) of a file is, as DataError's keyword: its own `at` (a `Record`), else row i + 1."""
    return getattr(record, "at", None) or {"row": i + 1}


def where_text(at: dict[str, int]) -> str:
    """`where`'s place as a message says it: "line 3", "row 2"."""
    return " ".join(f"{kind} {n}" for kind, n in at.items())


def record_where(path: str | Path, i: int) -> dict[str, int]:
    """Where record `i` (0-based) of the texts or answers file `path` is (`where`), for an error about a record
    found after reading (e.g. an unknown benchmark): the file is read again. Row i + 1 where it cannot be."""
    try:
        return where(_load_records(Path(path))[i], i)
    except (DataError, OSError, IndexError):
        return {"row": i + 1}


def _load_records(path: Path) -> list[Record]:
    suffix = _file_type(path)
    if suffix == ".csv":
        return [Record(r, {"row": i}, csv=True) for i, r in enumerate(_csv_records(path), 1)]
    lines = _utf8_lines(path) if suffix in (".txt", ".jsonl") else []
    if suffix == ".txt":
        return _text_lines(lines, path)
    if suffix == ".jsonl":
        return [Record(_json_line(line, path, n), {"line": n}) for n, line in enumerate(lines, 1) if line.strip()]
    return [Record(r, {"row": i}) for i, r in enumerate(read_json(path, list, "a JSON list of texts or objects"), 1)]


def _text_lines(lines: list[str], path: Path) -> list[Record]:
    """The records of a .txt file, one text per line; a blank line (but the end of the file's last line) is an
    error naming it, never skipped, as each line is one text."""
    if lines and lines[-1] == "":
        lines = lines[:-1]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError("a blank line: a .txt file holds one text per line, and a blank line is no text; "
                            "remove the line", file=str(path), line=n)
    return [Record({"text": line}, {"line": n}) for n, line in enumerate(lines, 1)]


def _utf8_lines(path: Path) -> list[str]:
    """The lines of a text file (split on \\n, a line's \\r of a Windows line end dropped, and a UTF-8 byte order mark
    at the start); a line that is not UTF-8 is an error naming it."""
    lines = []
    for number, line in enumerate(path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        line = line.removesuffix(b"\r")
        if b"\r" in line:
            raise DataError(LONE_CR, file=str(path), line=number)
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line); a binary file?",
                            file=str(path), line=number) from exc
    return lines


def _csv_records(path: Path) -> list[dict[str, Any]]:
    """A CSV's rows as dicts of strings, except an empty `benchmark` cell: None (not given), the CSV's null; a
    row with more or fewer fields than the header is an error naming it."""
    import pandas as pd

    from irtnet.data.importers._csv import check_shape, refuse_repeated_columns

    content = path.read_bytes()
    if not content.strip():
        return []
    refuse_repeated_columns(check_shape(content, str(path)).header, str(path))
    _refuse_blank_lines(content, path)
    try:
        # index_col=False: a row one field longer than the header must not turn the first column into an index
        frame = pd.read_csv(io.BytesIO(content), dtype=object, keep_default_na=False, index_col=False)
    except ValueError as exc:
        raise DataError(f"cannot read ({exc})", file=str(path)) from exc
    return [{k: None if k == "benchmark" and v == "" else v for k, v in r.items()} for r in frame.to_dict("records")]


def _refuse_blank_lines(content: bytes, path: Path) -> None:
    """A blank (empty or whitespace-only) line of a .csv file, but the end of its last line, is an error naming the
    line, as in a .txt file: pandas would skip it silently, and in a one-column file it is a record without a
    text. A blank line inside a quoted cell is part of the cell, not a blank line."""
    from irtnet.data.importers._csv import no_field_limit

    last = [""]  # the physical line the csv reader read last: a row's last line

    def lines(stream: io.TextIOWrapper) -> Iterator[str]:
        for line in stream:
            last[0] = line
            yield line

    stream = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    try:
        with no_field_limit():
            reader = csv.reader(lines(stream))
            for _ in reader:
                if not last[0].strip():  # a row ending on a whitespace-only line is that line alone
                    raise DataError("a blank line: a .csv file holds its header, then one record per line, and "
                                    "a blank line is neither; remove the line", file=str(path), line=reader.line_num)
    finally:
        stream.detach()


def _json_line(line: str, path: Path, number: int) -> Any:
    """Line `number` of a .jsonl file, parsed; invalid JSON, or an object with a key twice, is an error naming it."""
    try:
        return json.loads(line, object_pairs_hook=unique_keys(str(path), line=number))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", file=str(path), line=number) from exc


def _text_of(row: dict[str, Any], file: Path, i: int) -> str:
    """A record's text: its one text field (`text`, `query`, `question` or `prompt`); two of them are an error, as
    two label fields are (`_label_of`), never one of them read and the other ignored."""
    keys = [k for k in _TEXT_FIELDS if k in row]
    if len(keys) > 1:
        raise DataError(f"two text fields ({' and '.join(map(repr, keys))}); give the text in one of them (drop the "
                        "other field or column)", file=str(file), **where(row, i), field=keys[1])
    if keys and isinstance(row[keys[0]], str) and row[keys[0]].strip():
        return row[keys[0]]
    raise DataError("no text (expected a non-empty 'text', 'query', 'question' or 'prompt' field)",
                    file=str(file), **where(row, i), **({"field": keys[0]} if keys else {}))


def _given_benchmark(row: dict[str, Any], file: Path, i: int, new_ok: bool = False) -> str | None:
    """A row's benchmark name; None where the field is absent or null (an empty CSV cell). An empty or
    non-string name is an error, never read as "not given"; its message offers leaving the field out only where
    the file may (`new_ok`: a text of a new benchmark)."""
    value = row.get("benchmark")
    if value is not None and not (isinstance(value, str) and value.strip()):
        fix = ("give one the model knows, or leave the field out (or null) for a text of a new benchmark" if new_ok
               else "give the name of a benchmark")
        raise DataError(f"{value!r} is not a benchmark name: {fix}", file=str(file), **where(row, i),
                        field="benchmark")
    return value


# a texts file's fields: a pool file's too (`estimate_inputs.pool_items` reads the `id`; a plan's lines carry one)
TEXTS_FIELDS = (*_TEXT_FIELDS, "benchmark", "id")
TEXTS_READS = "a text ('text', 'query', 'question' or 'prompt'), optionally its 'benchmark' and an item 'id'"


def read_texts(path: str | Path) -> tuple[list[str], list[str | None]]:
    """(texts, benchmarks) of a texts file (`read_texts_and_ids`)."""
    texts, benches, _ = read_texts_and_ids(path)
    return texts, benches


def read_texts_and_ids(path: str | Path) -> tuple[list[str], list[str | None], list[str | None]]:
    """(texts, benchmarks, ids) of a texts file; a benchmark or an id None where not given. Any field but a
    text, `benchmark` and `id` (read as a pool file reads it) is an error (`check_fields`), as is an `id` given
    to two records."""
    path = Path(path)
    rows = _load_records(path)
    if not rows:
        raise DataError("no texts", file=str(path))
    check_fields(rows, path, TEXTS_FIELDS, TEXTS_READS, "a texts file")
    ids = item_ids(rows, path, None)
    texts = [_text_of(r, path, i) for i, r in enumerate(rows)]
    return texts, [_given_benchmark(r, path, i, new_ok=True) for i, r in enumerate(rows)], ids


def refuse_other_benchmark(path: str | Path, benches: list[str | None], benchmark: str | None) -> None:
    """--benchmark names the benchmark of the texts a file (`read_texts`) leaves unnamed; where the file names
    another for a text, a DataError naming the file, the record and both names, never an override."""
    for i, given in enumerate(benches):
        if benchmark is not None and given is not None and given != benchmark:
            raise DataError(f"the file gives benchmark {given!r} and the benchmark argument (--benchmark) gives "
                            f"{benchmark!r}: leave out the argument (the file's names are read), or the file's "
                            "'benchmark' field",
                            file=str(path), **record_where(path, i), field="benchmark")


def is_id(value: Any) -> bool:
    """An item id as a file gives it: a non-empty string or an integer (not a boolean)."""
    return isinstance(value, (str, int)) and not isinstance(value, bool) and bool(str(value).strip())


def item_ids(rows: list[Record], path: Path, unnamed: str | None = "pool") -> list[str | None]:
    """Each record's id: its `id` field (a non-empty string or an integer, read as text), else `<unnamed>-N`, N
    its place in the file (None where `unnamed` is None); one given twice (1 and "1" alike) is an error naming
    both places."""
    ids: list[str | None] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        value = row.get("id")
        if (value is None or value == "") and unnamed is None:
            ids.append(None)
            continue
        if value is None or value == "":
            qid = f"{unnamed}-{i + 1}"
        elif is_id(value):
            qid = str(value).strip()
        else:
            raise DataError(f"{value!r} is not an item id (a non-empty string or an integer)", file=str(path),
                            **where(row, i), field="id")
        if qid in seen:
            made = f" (an item without an id is {unnamed}-N, N its place in the file)" if unnamed and qid.startswith(
                f"{unnamed}-") else ""
            raise DataError(f"the id {qid!r} is given twice, in {where_text(where(rows[seen[qid]], seen[qid]))} and "
                            f"here{made}: an id names one item; give each its own, or leave the ids out",
                            file=str(path), **where(row, i), field="id")
        seen[qid] = i
        ids.append(qid)
    return ids


def _label_of(row: dict[str, Any], file: Path, i: int) -> float:
    keys = [k for k in _LABEL_FIELDS if k in row]
    if not keys:
        raise DataError("no label (expected a 'label', 'correct' or 'score' field)", file=str(file), **where(row, i))
    if len(keys) > 1:
        raise DataError(f"two label fields ({' and '.join(map(repr, keys))}); give the answer in one of them "
                        "(drop the other field or column)",
                        file=str(file), **where(row, i), field=keys[1])
    key = keys[0]
    value = row[key]
    # a CSV cell is text, a number written out; a JSON label is a JSON number: JSON text ("1") and booleans
    # (true) are refused, as a CSV's "true" is, never read as 1
    csv = getattr(row, "csv", False)
    number = isinstance(value, str) if csv else isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        label = float(value) if number else math.nan
    except ValueError:
        number = False
    if not number:
        shown = (f"{json.dumps(value)} (a JSON boolean)" if isinstance(value, bool) else
                 f"{value!r} (JSON text: write the number without quotes)" if isinstance(value, str) and not csv
                 else repr(value))
        raise DataError(f"{shown} is not a number in [0, 1]", file=str(file), **where(row, i), field=key)
    if math.isnan(label) or not 0 <= label <= 1:
        raise DataError(f"{value!r} is not in [0, 1]", file=str(file), **where(row, i), field=key)
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


ANSWERS_FILE = "an answers file"


def check_fields(rows: list[Any], path: Path, fields: tuple[str, ...], reads: str, kind: str = ANSWERS_FILE) -> None:
    """Every field of `kind` of file (answers, texts or pool) is read (`fields`; `reads` says which, for the
    message): an unknown one is an error naming the file, the record (a CSV: its header) and the field, never
    ignored; in an answers file a `model` field above all, as a file is the answers of one new model, and two
    models' answers pooled would be fitted as one."""
    csv = path.suffix.lower() == ".csv"
    what = "column" if csv else "field"
    for i, row in enumerate(rows[:1] if csv else rows):
        unknown = [k for k in row if k not in fields]
        if not unknown:
            continue
        at = {} if csv else where(row, i)
        if "model" in unknown and kind == ANSWERS_FILE:
            named = sorted({str(r.get("model")) for r in rows if r.get("model") not in (None, "")})
            says = f" (it names {len(named)}: {', '.join(map(repr, named[:5]))})" if named else ""
            raise DataError(f"a 'model' {what}{says}: an answers file holds the answers of one new model, which it "
                            f"does not name; drop the {what}, and give each model's answers in a file of its own",
                            file=str(path), **at, field="model")
        raise DataError(f"unknown {what}(s) {', '.join(map(repr, unknown))}; {kind} reads {reads}",
                        file=str(path), **at, field=unknown[0])


def first_answers(keys: list[Any], labels: list[float], rows: list[Any], path: Path,
                  name: Callable[[int], str]) -> dict[Any, tuple[int, float]]:
    """{item key: (row index, label)} of each answered item's first row, in file order: an item answered again with
    the same label is one answer, never counted twice; with another label it is an error naming both places
    (`name(i)`: how the message names row i's item)."""
    first: dict[Any, tuple[int, float]] = {}
    for i, (key, y) in enumerate(zip(keys, labels)):
        if key in first and first[key][1] != y:
            j, before = first[key]
            raise DataError(f"{name(i)} was answered in {where_text(where(rows[j], j))} with {before:g} and here "
                            f"with {y:g}", file=str(path), **where(rows[i], i), field=label_field(rows[i]))
        first.setdefault(key, (i, y))
    return first


_ONBOARD_FIELDS = (*_TEXT_FIELDS, "benchmark", *_LABEL_FIELDS)
_ONBOARD_READS = ("a text ('text', 'query', 'question' or 'prompt'), optionally its 'benchmark', and 'label' (or "
                  "'correct' or 'score')")


def read_answers(path: str | Path, item_ids: Collection[str] = ()
                 ) -> tuple[list[str], np.ndarray, list[str | None]]:
    """(texts, labels in [0, 1], benchmarks) of an answers file (fields text and label / correct / score, and
    optionally benchmark; any other field is an error, `check_fields`). A text answered twice (under the same
    benchmark) is one answer: twice with the same label it is read once, with two labels it is an error
    (`first_answers`). `item_ids`: the query ids of the model's run; a `query` that is one of them is an error
    (`irtnet estimate`'s answers files give ids there), never fitted as a text."""
    path = Path(path)
    rows = answer_records(path)
    check_fields(rows, path, _ONBOARD_FIELDS, _ONBOARD_READS)
    _refuse_item_ids(rows, path, set(item_ids))
    texts = [_text_of(r, path, i) for i, r in enumerate(rows)]
    labels = [_label_of(r, path, i) for i, r in enumerate(rows)]
    benches = [_given_benchmark(r, path, i, new_ok=True) for i, r in enumerate(rows)]
    keys = list(zip(benches, texts))
    short = [t if len(t) <= 60 else t[:57] + "..." for t in texts]
    first = first_answers(keys, labels, rows, path, lambda i: f"the text {short[i]!r}" + (
        f" ({benches[i]})" if benches[i] is not None else ""))
    kept = [i for i, _ in first.values()]
    return [texts[i] for i in kept], np.array([labels[i] for i in kept]), [benches[i] for i in kept]


def _refuse_item_ids(rows: list[Record], path: Path, item_ids: set[str]) -> None:
    """A `query` that is a query id of the run's table: the answers of `irtnet estimate`, which reads ids there."""
    for i, row in enumerate(rows):
        value = row.get("query")
        if isinstance(value, str) and value in item_ids:
            raise DataError(f"{value!r} is a query id of the run's table, not a text: onboard reads the text of each "
                            "answered query (in 'text', 'query', 'question' or 'prompt'); to estimate from answers "
                            "given by query id, use `irtnet estimate RUN --answers FILE`", file=str(path),
                            **where(row, i), field="query")



# ------------------------------------------------------------------------------------ a new benchmark's anchors
_ANCHOR_FIELDS = ("model", "id", *_LABEL_FIELDS)
_ANCHOR_READS = "'model' (a model the checkpoint knows), 'id' (an item id of the texts file) and 'correct' (or " \
                "'label' or 'score')"


def read_anchor_answers(path: str | Path, ids: list[str | None], models: list[str]) -> np.ndarray:
    """Known models' answers on some items of a new benchmark, as labels [items, models] (NaN: not answered): one
    row per (model, item) with `model`, `id` and a label in [0, 1]. An unknown model, an id the texts file does not
    give, a missing field or an unknown one, and one (model, item) answered twice with two labels are errors
    naming the file, the record and the field."""
    path = Path(path)
    rows = answer_records(path)
    check_fields(rows, path, _ANCHOR_FIELDS, _ANCHOR_READS, "an anchor answers file")
    where_id = {qid: i for i, qid in enumerate(ids) if qid is not None}
    where_model = {m: j for j, m in enumerate(models)}
    keys, labels = [], []
    for i, row in enumerate(rows):
        model, qid = row.get("model"), row.get("id")
        if not is_id(model) or str(model).strip() not in where_model:
            shown = ", ".join(map(repr, models[:8])) + (", ..." if len(models) > 8 else "")
            raise DataError(f"{model!r} is not a model the checkpoint knows ({shown}); the answers of a new "
                            "benchmark's items are the known models' own", file=str(path), **where(row, i),
                            field="model")
        if not is_id(qid) or str(qid).strip() not in where_id:
            given = f"the texts file gives {len(where_id)} ids" if where_id else "the texts file gives no ids"
            raise DataError(f"{qid!r} is not an item id of the texts file ({given}: an answered item needs an 'id' "
                            "there)", file=str(path), **where(row, i), field="id")
        keys.append((where_id[str(qid).strip()], where_model[str(model).strip()]))
        labels.append(_label_of(row, path, i))
    out = np.full((len(ids), len(models)), np.nan)
    first = first_answers(keys, labels, rows, path,
                          lambda i: f"item {rows[i]['id']!r} of model {rows[i]['model']!r}")
    for (q, m), (_, y) in first.items():
        out[q, m] = y
    return out

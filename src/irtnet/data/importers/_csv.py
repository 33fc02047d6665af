"""Shape checks for CSV sources: every row has the header's fields, the file does not end mid-row, and no column
name is used twice (`refuse_repeated_columns`; the importers, the texts and answers readers and the price reader
share these checks).

pandas pads a row with fewer fields than the header with empty cells and (for a file whose first data
row is one field longer) silently turns the first column into an index, so a truncated file would
import with its last record read as "outcome missing". `check_shape` therefore walks the rows once with
the `csv` module (C speed, streamed) before pandas parses them, and raises a `DataError` naming the
file, the 1-based data row (header excluded, blank lines not counted, as in the frames' `_row`) and the
first missing or surplus field.

A file that does not end with a newline is fine when its last row is complete; one that ends right
after a separator (`...,1,` with no newline) was cut off inside its last field, so it is an error.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from irtnet.errors import DataError

# The csv module refuses fields over 128 KiB by default; prompts can be longer than that.
_FIELD_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Shape:
    """What the shape check saw: the header (or first row) and the number of data rows."""

    header: list[str]
    n_rows: int


def check_shape(content: bytes, label: str, sep: str = ",", header: bool = True) -> Shape:
    """Raise DataError unless every data row has exactly as many fields as the header (or first row)."""
    with _rows(content, label, sep) as rows:
        head = _first_row(rows)
        if head is None:
            return Shape([], 0)
        try:
            widths = Counter(map(len, rows))  # no Python code per row: within a small factor of pandas
        except csv.Error:
            widths = Counter({-1: 1})  # located in the slow pass below
    width = len(head)
    n_rows = sum(n for w, n in widths.items() if w > 0) + (0 if header else 1)
    if set(widths) - {0, width}:  # raises unless the odd rows were whitespace-only lines
        n_rows = _locate_bad_row(content, label, sep, header)
    ends_open = bool(content) and not content.endswith((b"\n", b"\r"))
    if ends_open and content.endswith(sep.encode()):
        names = head if header else []
        raise DataError("the file ends right after a separator, without a final newline: its last row "
                        "is cut off (truncated file?)", file=label, row=n_rows or "header",
                        field=field_name(names, width - 1))
    return Shape(head, n_rows)


def refuse_repeated_columns(names: list[str], label: str) -> None:
    """A column name used twice in a header is an error naming both columns (a reader would keep one of the two
    values silently: pandas renames the second, a dict keeps the last)."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name.strip() and first.setdefault(name, i) != i:
            raise DataError(f"the column name {name!r} is used twice (columns {first[name] + 1} and {i + 1}); "
                            "give each column its own name", file=label, field=name)


def check_row_width(row: list[str], header: list[str], label: str, number: int) -> None:
    """A DataError naming data row `number` and the first missing or surplus field unless `row` has as many
    fields as `header` (for readers that walk the rows themselves)."""
    if len(row) != len(header):
        _raise_width(row, header, len(header), label, number, False, False)


def last_row_width(content: bytes, label: str, sep: str = ",") -> int:
    """Fields of the last non-blank row (error path: names the field an unterminated quote opened)."""
    width = 0
    with _rows(content, label, sep) as rows:
        for row in rows:
            width = width if _blank(row) else len(row)
    return width


def field_name(header: list[str], index: int) -> str:
    """The header name of 0-based field `index`, or `column <index + 1>` beyond the header."""
    if index < len(header) and header[index].strip():
        return header[index]
    return f"column {index + 1}"


def _locate_bad_row(content: bytes, label: str, sep: str, header: bool) -> int:
    """Slow pass: raise for the first row whose field count differs from the header; else count the rows."""
    ends_open = not content.endswith((b"\n", b"\r"))
    with _rows(content, label, sep) as rows:
        head = _first_row(rows) or []
        names = head if header else []
        number = 0 if header else 1
        try:
            for row in rows:
                if _blank(row):
                    continue
                number += 1
                if len(row) != len(head):
                    _raise_width(row, names, len(head), label, number, ends_open, _at_end(rows))
        except csv.Error as exc:
            raise DataError(f"not a readable CSV row ({exc})", file=label, row=number + 1) from exc
    return number


def _raise_width(row: list[str], names: list[str], width: int, label: str, number: int, ends_open: bool,
                 last: bool) -> None:
    if len(row) < width:
        missing = [field_name(names, j) for j in range(len(row), width)]
        what = (f"the row has {len(row)} fields, the header {width}: missing "
                f"{', '.join(repr(m) for m in missing)}")
        field = missing[0]
    else:
        what = f"the row has {len(row)} fields, the header only {width}"
        field = field_name(names, width)
    hint = ""
    if last and ends_open:
        hint = " (the file ends mid-row: truncated?)"
    elif last and row and "\n" in row[-1]:  # an open quote runs to the end of the file
        hint = " (an unterminated quote runs to the end of the file: truncated?)"
    raise DataError(what + hint, file=label, row=number, field=field)


def _first_row(rows: Iterator[list[str]]) -> list[str] | None:
    """The first non-blank row (pandas skips blank lines before the header too), or None."""
    return next((row for row in rows if not _blank(row)), None)


def _at_end(rows: Iterator[list[str]]) -> bool:
    """Whether nothing but blank rows follows (consumes the iterator; only used before raising)."""
    return all(_blank(r) for r in rows)


def _blank(row: list[str]) -> bool:
    """pandas skips empty and whitespace-only lines; so does the shape check."""
    return not row or (len(row) == 1 and not row[0].strip())


@contextlib.contextmanager
def no_field_limit() -> Iterator[None]:
    """Lift the csv module's 128 KiB field limit for one read (it is process-global, so restore it)."""
    old = csv.field_size_limit(_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(old)


@contextlib.contextmanager
def _rows(content: bytes, label: str, sep: str) -> Iterator[Iterator[list[str]]]:
    """csv rows of UTF-8 `content`, decoded while streaming (no second copy of the text)."""
    stream = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    try:
        with no_field_limit():
            yield csv.reader(stream, delimiter=sep)
    except UnicodeDecodeError as exc:
        raise DataError(f"not a readable CSV file (not UTF-8: {exc})", file=label) from exc
    finally:
        stream.detach()

"""Reading raw evaluation files for the importers: local files, compressed files and archive members.

A *source* is a path string. `ARCHIVE::MEMBER` names one member of a `.tar.xz`, `.tar.gz`, `.tgz`,
`.tar` or `.zip` archive; it is streamed into memory, never extracted to disk. A `.zip` holding a
single data file may be named without `::MEMBER`. Files ending in `.gz`, `.xz` or `.bz2` are
decompressed by their suffix; the suffix before it picks the parser (CSV, JSON, JSONL, Parquet).

A CSV/TSV row with fewer or more fields than the header, or a file cut off right after a separator,
is an error naming the row and field (`_csv.check_shape`): pandas would pad a short row with empty
cells, which would then read as "outcome not observed".

Every frame read here carries `_row`, the label used in error messages: the 1-based data row of a
CSV or Parquet file (header excluded), the 1-based line of a JSONL file (blank lines counted), or the
1-based position of a record in a JSON list (the first item is row 1).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irtnet._io import unique_keys
from irtnet.data.importers._csv import check_shape, field_name, last_row_width, refuse_repeated_columns
from irtnet.data.records import row_where
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError

_DECOMPRESS = {".gz": gzip.decompress, ".xz": lzma.decompress, ".bz2": bz2.decompress}
_TAR_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar")
_PARSERS = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet")


def text_id(benchmark: str, text: str) -> str:
    """A stable query id for a source without ids: `benchmark/` + the first 16 hex digits of sha1(text)."""
    return f"{benchmark}/{hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]}"


def skip(report: ImportReport, reason: str, count: int) -> None:
    """Count `count` deliberately skipped records under `reason` (no-op for zero)."""
    if count:
        report.skipped[reason] = report.skipped.get(reason, 0) + int(count)


def split_source(source: str | Path) -> tuple[Path, str | None]:
    """`ARCHIVE::MEMBER` -> (archive path, member); a plain path -> (path, None)."""
    text = str(source)
    if "::" in text:
        archive, member = text.split("::", 1)
        return Path(archive), member.strip("/")
    return Path(text), None


def iter_tar(path: Path, want: Callable[[str], bool] | None = None) -> Iterator[tuple[str, bytes]]:
    """Stream (member name, content) for the regular files of a tar archive (those `want` accepts).

    The archive is read once, front to back, in memory; nothing is written to disk.
    """
    require_path(path)
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                if member.isfile() and (want is None or want(member.name.removeprefix("./"))):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield member.name.removeprefix("./"), handle.read()
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
        raise DataError(f"not a readable tar archive ({exc})", file=str(path)) from exc


def read_bytes(source: str | Path) -> tuple[bytes, str]:
    """The raw content of a source and the name whose suffixes say how to parse it."""
    path, member = split_source(source)
    require_path(path)
    if member is None and path.name.lower().endswith(".zip"):
        return _read_zip(path, None)
    if member is None:
        if path.is_dir():
            raise DataError("is a folder; this format needs a file", file=str(path))
        return path.read_bytes(), path.name
    if path.name.lower().endswith(".zip"):
        return _read_zip(path, member)
    if path.name.lower().endswith(_TAR_SUFFIXES):
        return _read_tar_member(path, member)
    raise DataError("'::MEMBER' needs a .tar.xz, .tar.gz, .tgz, .tar or .zip archive", file=str(path))


def require_path(path: Path) -> None:
    if not path.exists():
        raise DataError("no such file or folder", file=str(path))


def _read_zip(path: Path, member: str | None) -> tuple[bytes, str]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if member is None:
                if len(names) != 1:
                    raise DataError(f"the zip holds {len(names)} files; name one as ARCHIVE::MEMBER "
                                    f"(e.g. {names[:3]})", file=str(path))
                member = names[0]
            if member not in names:
                raise DataError(f"no member {member!r} (members: {names[:5]})", file=str(path))
            return zf.read(member), member
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError, RuntimeError, NotImplementedError, OSError,
            ValueError) as exc:  # a corrupt member's data (zlib, bz2, lzma), an encrypted or unsupported member
        raise DataError(f"not a readable zip archive ({exc})", file=str(path)) from exc


def _read_tar_member(path: Path, member: str) -> tuple[bytes, str]:
    seen: list[str] = []
    for name, content in iter_tar(path):
        if name == member:
            return content, name
        seen.append(name)
    raise DataError(f"no member {member!r} in the archive (members: {seen[:5]}...)", file=str(path))


def read_content(source: str | Path) -> tuple[bytes, str]:
    """Like `read_bytes`, decompressed by the name's .gz/.xz/.bz2 suffix (which is then dropped)."""
    return _decompress(*read_bytes(source), str(source))


def _decompress(content: bytes, name: str, label: str) -> tuple[bytes, str]:
    suffix = Path(name).suffix.lower()
    if suffix in _DECOMPRESS:
        try:
            return _DECOMPRESS[suffix](content), name[: -len(suffix)]
        except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:  # a truncated .bz2 raises ValueError
            raise DataError(f"cannot decompress ({exc})", file=label) from exc
    return content, name


def parser_of(name: str) -> str:
    """The parser a (decompressed) file name asks for: csv, tsv, json, jsonl or parquet."""
    suffix = Path(name).suffix.lower()
    if suffix == ".ndjson":
        return "jsonl"
    if suffix not in _PARSERS:
        raise DataError(f"unknown file type {suffix or name!r}: expected one of "
                        ".csv, .tsv, .json, .jsonl, .parquet (optionally .gz/.xz/.bz2)", file=name)
    return suffix[1:]


def read_frame(source: str | Path, records_key: str | None = None,
               report: ImportReport | None = None, nan_text: Collection[str] = (),
               id_columns: Collection[str] = ()) -> pd.DataFrame:
    """Read a CSV/TSV/JSON/JSONL/Parquet source into a frame of records with a `_row` column.

    CSV cells are read as strings (only empty cells are missing), so ids like "007" survive.
    A JSON source is a list of records or an object whose `records_key` holds one; non-object
    items of that list are skipped and counted in `report`.
    `nan_text`: columns (an outcome's) where a NaN or infinite value that is not a null (JSON's non-standard
    `NaN`/`Infinity` tokens, a NaN float in a Parquet column) is read as its text, as a CSV cell would be, so
    that it fails validation naming its row instead of counting as missing (`missing_values`). Elsewhere such a
    value is missing, like a null.
    `id_columns`: JSON columns holding ids, kept as the values written (an object column), so that a `1.0` among
    integer ids stays the query "1.0" instead of turning every id of the column into its float spelling ("2.0").
    """
    label = str(source)
    content, name = read_content(source)
    kind = parser_of(name)
    if kind in ("csv", "tsv"):
        frame = _read_csv(content, label, sep="\t" if kind == "tsv" else ",")
        return frame.assign(_row=np.arange(1, len(frame) + 1))
    if kind == "parquet":
        frame = _read_parquet(content, label, nan_text)
        return frame.assign(_row=np.arange(1, len(frame) + 1))
    marked = NonFiniteTokens() if nan_text else None
    if kind == "jsonl":
        items, rows = parse_jsonl(content, label, marked)
    else:
        items = json_records(parse_json(content, label, marked), records_key, label)
        rows = list(range(1, len(items) + 1))  # an item of a JSON list: row 1 is the first, as in a CSV
    if marked is not None and marked.seen:
        settle_tokens(items, nan_text)
    return _records_frame(items, rows, label, report, id_columns)


class NonFinite(str):
    """JSON's non-standard NaN / Infinity / -Infinity token, kept as its text until `settle_tokens`."""


class NonFiniteTokens:
    """`json.loads`'s `parse_constant`: each token as a `NonFinite`, counting them."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, token: str) -> NonFinite:
        self.seen += 1
        return NonFinite(token)


def settle_tokens(items: list[Any], nan_text: Collection[str]) -> None:
    """In place: each record's NonFinite tokens as plain text in the `nan_text` fields, elsewhere as the float
    they spell (what `json.loads` reads without a `parse_constant`)."""
    for item in items:
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, NonFinite):
                    item[key] = str(value) if key in nan_text else float(value)


def _read_parquet(content: bytes, label: str, nan_text: Collection[str]) -> pd.DataFrame:
    """A Parquet file as a frame; in the `nan_text` columns, NaN and infinite floats that are not nulls as text."""
    import pyarrow.parquet as pq

    try:
        refuse_repeated_columns(pq.read_schema(io.BytesIO(content)).names, label)
        frame = pd.read_parquet(io.BytesIO(content))
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        reason = " ".join(str(exc).split())
        raise DataError(f"not a readable Parquet file ({reason})", file=label) from exc
    odd = [c for c in frame.columns if c in nan_text and pd.api.types.is_float_dtype(frame[c].dtype)
           and (~np.isfinite(frame[c].to_numpy(dtype=np.float64, na_value=np.nan))).any()]
    if not odd:
        return frame
    import pyarrow.compute as pc

    table = pq.read_table(io.BytesIO(content), columns=[str(c) for c in odd])
    for c in odd:  # pandas reads a null as NaN too; Arrow keeps the two apart
        values = frame[c].to_numpy(dtype=object)
        number = frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
        text = pc.is_valid(table.column(str(c))).to_numpy(zero_copy_only=False) & ~np.isfinite(number)
        values[text] = [repr(float(v)) for v in number[text]]
        frame[c] = values
    return frame


def _read_csv(content: bytes, label: str, sep: str) -> pd.DataFrame:
    """A CSV as string cells; short, long or cut-off rows are errors naming the row and field (`_csv`)."""
    if not content.strip():
        raise DataError("no records (the file is empty)", file=label)
    shape = check_shape(content, label, sep)
    refuse_repeated_columns(shape.header, label)
    try:
        # index_col=False: never take the first column as an index because data rows are one longer
        return pd.read_csv(io.BytesIO(content), sep=sep, dtype=str, keep_default_na=False,
                           na_values=[""], index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        row, field = None, None
        if "EOF inside string" in str(exc):  # an unterminated quote swallows the rest: the last row
            row, field = shape.n_rows, field_name(shape.header, last_row_width(content, label, sep) - 1)
        raise DataError(f"not a readable CSV file ({str(exc).strip()})", file=label, row=row,
                        field=field) from exc


def parse_json(content: bytes, label: str, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """A JSON document; invalid JSON, or an object that gives a key twice (json would keep the last silently),
    is a DataError naming `label`."""
    try:
        return json.loads(content, parse_constant=parse_constant, object_pairs_hook=unique_keys(label))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise DataError(f"not valid JSON ({exc})", file=label) from exc


def parse_jsonl(content: bytes, label: str,
                parse_constant: Callable[[str], Any] | None = None) -> tuple[list[Any], list[int]]:
    """Parse JSON Lines, splitting on "\\n" only (str.splitlines would also split on U+0085): (the items, the
    1-based line of each in the file, blank lines counted). A line that is not valid JSON, or with an object
    that gives a key twice, is a DataError naming the file and the line."""
    items, rows = [], []
    for number, line in enumerate(content.split(b"\n"), start=1):
        if line.strip():
            try:
                items.append(json.loads(line, parse_constant=parse_constant,
                                        object_pairs_hook=unique_keys(label, line=number)))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                raise DataError(f"not valid JSON ({exc})", file=label, line=number) from exc
            rows.append(number)
    return items, rows


def json_records(data: Any, records_key: str | None, label: str) -> list[Any]:
    """The list of records in parsed JSON: the top level, or the list under `records_key`."""
    if records_key is not None:
        if not isinstance(data, dict) or records_key not in data:
            keys = list(data)[:10] if isinstance(data, dict) else type(data).__name__
            raise DataError(f"no key {records_key!r} holding the records (found {keys})",
                            file=label, field=records_key)
        data = data[records_key]
    if not isinstance(data, list):
        hint = f"; name the key holding the records (keys: {list(data)[:10]})" if isinstance(data, dict) else ""
        raise DataError(f"expected a JSON list of records, got {type(data).__name__}{hint}", file=label)
    return data


def _records_frame(items: list[Any], rows: list[int], label: str,
                   report: ImportReport | None, id_columns: Collection[str] = ()) -> pd.DataFrame:
    keep = [i for i, item in enumerate(items) if isinstance(item, dict)]
    if len(keep) < len(items):
        if report is None:
            first = next(i for i, item in enumerate(items) if not isinstance(item, dict))
            raise DataError(f"item is a {type(items[first]).__name__}, not a record (a JSON object)",
                            file=label, **row_where(label, rows[first]))
        skip(report, "JSON items that are not records (not objects)", len(items) - len(keep))
    if not keep:
        raise DataError("no records (the input is empty)", file=label)
    records = [items[i] for i in keep]
    frame = pd.DataFrame.from_records(records)
    for column in set(id_columns) & set(frame.columns):  # pandas would cast ints mixed with floats to floats
        frame[column] = pd.Series([item.get(column) for item in records], index=frame.index, dtype=object)
    return frame.assign(_row=[rows[i] for i in keep])


def missing_values(series: pd.Series) -> np.ndarray:
    """Cells that mean "not observed": an empty (or blank) CSV cell, or a JSON/Parquet null.

    Text such as "NaN" or "NA" is not missing: it fails validation later with an error naming its row,
    because a NaN outcome is usually an upstream bug, not a deliberate gap. pandas reads a JSON or
    Parquet NaN as it reads a null; `read_frame(..., nan_text=[columns])` keeps it as text in those columns.
    """
    missing = series.isna().to_numpy().copy()
    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
        blank = series.astype("string").str.strip() == ""
        missing |= blank.fillna(True).to_numpy(dtype=bool)
    return missing


def data_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The files of `folder` matching any glob pattern, sorted by name; an error if there is none."""
    files = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    if not files:
        raise DataError(f"no {' or '.join(patterns)} files in the folder", file=str(folder))
    return files


def benchmark_from_name(name: str) -> str:
    """A benchmark name from a file name: lower case, without extensions and a train/test/val suffix.

    >>> benchmark_from_name("gsm8k-test.json"), benchmark_from_name("MATH_prealgebra.json")
    ('gsm8k', 'math_prealgebra')
    """
    stem = file_stem(name).lower()
    return re.sub(r"[_-](train|test|val|valid|dev)$", "", stem)


_EXTENSIONS = (".gz", ".xz", ".bz2", ".zip", ".tar", ".tgz", ".csv", ".tsv", ".json", ".jsonl", ".ndjson",
               ".parquet")


def file_stem(name: str) -> str:
    """A file name without its data and compression extensions (dots inside the name are kept).

    >>> file_stem("model_outputs_Mixtral-8x7B-v0.1_5shots.zip"), file_stem("a/combine.csv.gz")
    ('model_outputs_Mixtral-8x7B-v0.1_5shots', 'combine')
    """
    stem = Path(name).name
    while stem.lower().endswith(_EXTENSIONS):
        stem = stem[: stem.rindex(".")]
    return stem


def build_table(records: pd.DataFrame, *, source: str, report: ImportReport, queries: pd.DataFrame | None = None,
                models: pd.DataFrame | None = None, repeats: str = "vote") -> ResponseTable:
    """`ResponseTable.from_records` with ids as plain Python strings (object dtype).

    pandas' Arrow-backed string `isin` converts its argument element by element, which takes
    seconds on the id columns of a few hundred thousand records; object columns hash instead.
    """
    records = records.assign(**{c: records[c].astype(object) for c in ("model", "query", "benchmark", "text")
                                if c in records.columns})
    if queries is not None:
        queries = queries.assign(**{c: queries[c].astype(object) for c in ("query", "benchmark")})
    return ResponseTable.from_records(records, queries=queries, models=models, source=source, report=report,
                                      repeats=repeats)


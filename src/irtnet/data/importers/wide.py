"""Wide matrix: one row per model, one column per item (a models x items CSV, or TSV for a .tsv name, optionally
compressed).

With a header (default) the first column holds the model ids and the header the item ids. Without
one (`header=False`, e.g. psn-irt/combine.csv, 12 x 41,871) every column is an item: models are
`model_<i>` and items `item_<j>`, 0-based in file order (psn-irt's `student_abilities.csv` and
`item_parameters.csv` use the same order). An empty cell means "not observed": it is counted in the
report and never read as 0 (text such as NaN is an error naming the cell). Cells are 0/1 (`binary`)
or scores in [0, 1] (`fraction`, or `auto`). Every item gets the benchmark
`default_benchmark` (default: the file name without extensions) and query id `query_prefix + item`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from irtnet.data.importers._csv import check_shape, field_name, no_field_limit
from irtnet.data.importers._source import build_table, file_stem, read_content, skip
from irtnet.data.records import make_records, note_case_twins
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError


def import_wide(path: str | Path, header: bool = True, default_benchmark: str | None = None,
                outcome_kind: Literal["binary", "fraction", "auto"] = "auto",
                query_prefix: str = "") -> ResponseTable:
    """Models x items matrix CSV (first column model id, header = item ids; or header=False)."""
    file = str(path)
    if default_benchmark is not None and not default_benchmark.strip():
        raise ConfigError("default_benchmark is empty: give a name, or leave it out (None) for the file name")
    report = ImportReport(source=file)
    models, items, cells = read_matrix(file, header)
    values = cell_values(cells, items, file)
    _check_range(values, items, outcome_kind, file)
    observed = ~np.isnan(values)
    if not observed.any():
        raise DataError("no observed cells (the matrix is empty)", file=file)
    silent = np.flatnonzero(~observed.any(axis=1))
    if silent.size:
        raise DataError(f"model {models[silent[0]]!r} has no records (every cell of its row is empty)",
                        file=file, row=int(silent[0]) + 1)
    skip(report, "empty cells (not observed)", int((~observed).sum()))
    skip(report, "items without any observed cell (left out of the table)", int((~observed.any(axis=0)).sum()))
    rows, cols = np.nonzero(observed)
    frame = pd.DataFrame({"model": models[rows], "query": items[cols], "outcome": values[rows, cols],
                          "_row": rows + 1})
    records = make_records(frame, file=file, model="model", query="query", outcome="outcome",
                           outcome_kind=outcome_kind)
    benchmark = default_benchmark or file_stem(file.split("::")[-1])
    if not default_benchmark:
        report.notes.append(f"every item is in benchmark {benchmark!r} (the file name)")
    records["benchmark"] = benchmark
    records["query"] = query_prefix + records["query"]
    return note_case_twins(build_table(records, source=file, report=report))


def read_matrix(file: str, header: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model ids [n_models], item ids [n_items], cell strings [n_models, n_items]) of a CSV matrix.

    Every row must have the header's (or first row's) number of cells and the file must not end right
    after a comma (`check_shape`): a truncated matrix is an error, never a row of "not observed" cells.
    """
    content, name = read_content(file)
    sep = _separator(name, file)
    check_shape(content, file, sep=sep, header=header)
    with no_field_limit():
        try:
            rows = [r for r in csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=sep) if r]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"not a readable CSV file ({exc})", file=file) from exc
    if header:
        if len(rows) < 2:
            raise DataError("no records (the matrix has no model rows)", file=file)
        head, rows = rows[0], rows[1:]
    elif not rows:
        raise DataError("no records (the file is empty)", file=file)
    width = len(head) if header else len(rows[0])
    for i, row in enumerate(rows, start=1):  # check_shape skips whitespace-only lines; this does not
        if len(row) != width:
            names = head if header else []
            field = field_name(names, min(len(row), width))
            raise DataError(f"row has {len(row)} cells, expected {width}", file=file, row=i, field=field)
    cells = np.array(rows, dtype=object)
    if not header:
        return (np.array([f"model_{i}" for i in range(len(rows))], dtype=object),
                np.array([f"item_{j}" for j in range(width)], dtype=object), cells)
    if width < 2:
        raise DataError("a wide matrix needs a model id column and at least one item column", file=file)
    return _model_ids(cells[:, 0], head[0], file), _item_ids(head[1:], file), cells[:, 1:]


def _separator(name: str, file: str) -> str:
    """A tab for a .tsv matrix, else a comma; a JSON or Parquet file is no matrix (read as CSV, its bytes would
    give a misleading error, or a one-column "matrix")."""
    suffix = Path(name).suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson", ".parquet"):
        raise DataError(f"the wide format reads a CSV or TSV matrix, not a {suffix} file (for records, one per "
                        "(model, query), use the long format)", file=file)
    return "\t" if suffix == ".tsv" else ","


def _model_ids(ids: np.ndarray, field: str, file: str) -> np.ndarray:
    ids = np.array([str(i).strip() for i in ids], dtype=object)
    seen: set[str] = set()
    for i, mid in enumerate(ids, start=1):
        if mid == "":
            raise DataError("missing model id", file=file, row=i, field=field)
        if mid in seen:
            raise DataError(f"model {mid!r} has two rows", file=file, row=i, field=field)
        seen.add(mid)
    return ids


def _item_ids(header: list[str], file: str) -> np.ndarray:
    """The header's item ids; an empty or repeated id would merge or lose a column, so it is an error."""
    ids = np.array([h.strip() for h in header], dtype=object)
    seen: set[str] = set()
    for j, item in enumerate(ids, start=2):
        if item == "" or item in seen:
            what = "empty item id in the header" if item == "" else f"item id {item!r} names two columns"
            raise DataError(f"{what} (column {j})", file=file, row="header", field=item or f"column {j}")
        seen.add(item)
    return ids


def cell_values(cells: np.ndarray, items: np.ndarray, file: str) -> np.ndarray:
    """Float matrix of the cells, NaN where empty; a cell that is not a number is an error naming it."""
    stripped = np.char.strip(cells.astype(str))
    empty = stripped == ""
    flat = pd.to_numeric(pd.Series(stripped.ravel(), dtype=object), errors="coerce")
    values = flat.to_numpy(dtype=np.float64, na_value=np.nan).reshape(cells.shape).copy()
    bad = np.isnan(values) & ~empty
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(f"not a number (got {cells[i, j]!r})", file=file, row=i + 1, field=str(items[j]))
    values[empty] = np.nan
    return values


def _check_range(values: np.ndarray, items: np.ndarray, kind: str, file: str) -> None:
    """Binary cells must be 0 or 1 and scores must lie in [0, 1]; the error names the cell."""
    observed = ~np.isnan(values)
    if kind == "binary":
        bad, what = observed & ~np.isin(values, (0.0, 1.0)), "label is not 0 or 1"
    else:
        bad, what = observed & ((values < 0) | (values > 1)), "score outside [0, 1]"
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(f"{what} (got {values[i, j]:g}; {int(bad.sum())} such cells)", file=file,
                        row=i + 1, field=str(items[j]))

"""Wide matrix: one row per model, one column per item (a models x items CSV).

With a header (default) the first column holds the model ids and the header the item ids. Without
one (`header=False`, e.g. psn-irt/combine.csv, 12 x 41,871) every column is an item: models are
`model_<i>` and items `item_<j>`, 0-based in file order (psn-irt's `student_abilities.csv` and
`item_parameters.csv` use the same order). An empty cell means "not observed": it is counted in the
report and never read as 0. Every item gets the benchmark `default_benchmark` (default: the file
name without extensions) and query id `query_prefix + item id`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from irtnet.data.importers._source import missing_values, read_content, read_frame, skip
from irtnet.data.records import make_records, require_rows
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import DataError


def import_wide(path: str | Path, header: bool = True, default_benchmark: str | None = None,
                outcome_kind: Literal["binary", "fraction", "auto"] = "auto",
                query_prefix: str = "") -> ResponseTable:
    """Models x items matrix CSV (first column model id, header = item ids; or header=False)."""
    file = str(path)
    report = ImportReport(source=file)
    matrix = _read_matrix(file, header)
    values = _cell_values(matrix, file)
    _check_range(values, matrix, outcome_kind, file)
    observed = ~np.isnan(values)
    skip(report, "empty cells (not observed)", int((~observed).sum()))
    rows, cols = np.nonzero(observed)
    items = matrix.columns.to_numpy(dtype=object)
    frame = pd.DataFrame({
        "model": matrix.index.to_numpy(dtype=object)[rows],
        "query": items[cols],
        "outcome": values[rows, cols],
        "_row": rows + 1,
    })
    if frame.empty:
        raise DataError("no observed cells (the matrix is empty)", file=file)
    records = make_records(frame, file=file, model="model", query="query", outcome="outcome",
                           outcome_kind=outcome_kind)
    benchmark = default_benchmark or Path(file).name.split(".")[0]
    if not default_benchmark:
        report.notes.append(f"every item is in benchmark {benchmark!r} (the file name)")
    records["benchmark"] = benchmark
    records["query"] = query_prefix + records["query"]
    return ResponseTable.from_records(records, source=file, report=report)


def _read_matrix(file: str, header: bool) -> pd.DataFrame:
    """The matrix as a string frame indexed by model id, columns = item ids."""
    if header:
        frame = read_frame(file).drop(columns="_row")
        require_rows(frame, file)
        if frame.shape[1] < 2:
            raise DataError("a wide matrix needs a model id column and at least one item column", file=file)
        ids = frame.iloc[:, 0]
        bad = missing_values(ids)
        if bad.any():
            raise DataError("missing model id", file=file, row=int(np.flatnonzero(bad)[0]) + 1,
                            field=str(frame.columns[0]))
        if ids.duplicated().any():
            raise DataError(f"model {ids[ids.duplicated()].iloc[0]!r} has two rows", file=file,
                            row=int(np.flatnonzero(ids.duplicated().to_numpy())[0]) + 1, field=str(frame.columns[0]))
        return frame.iloc[:, 1:].set_axis(ids.astype(str).str.strip().to_numpy(), axis=0)
    content, _ = read_content(file)
    if not content.strip():
        raise DataError("no records (the file is empty)", file=file)
    frame = pd.read_csv(io.BytesIO(content), header=None, dtype=str, keep_default_na=False, na_values=[""])
    frame.index = [f"model_{i}" for i in range(len(frame))]
    frame.columns = [f"item_{j}" for j in range(frame.shape[1])]
    return frame


def _cell_values(matrix: pd.DataFrame, file: str) -> np.ndarray:
    """Float matrix [n_models, n_items], NaN where the cell is empty; text that is not a number is an error."""
    raw = matrix.to_numpy(dtype=object)
    empty = pd.isna(raw) | np.isin(raw, ["", "NA", "nan", "NaN"])
    flat = pd.to_numeric(pd.Series(raw.ravel()), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    values = flat.reshape(raw.shape)
    bad = np.isnan(values) & ~empty
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(f"not a number (got {raw[i, j]!r})", file=file, row=i + 1, field=str(matrix.columns[j]))
    values[empty] = np.nan
    return values


def _check_range(values: np.ndarray, matrix: pd.DataFrame, kind: str, file: str) -> None:
    """Binary cells must be 0 or 1 and scores must lie in [0, 1]; the error names the cell."""
    observed = ~np.isnan(values)
    if kind == "binary":
        bad, what = observed & ~np.isin(values, (0.0, 1.0)), "label is not 0 or 1"
    else:
        bad, what = observed & ((values < 0) | (values > 1)), "score outside [0, 1]"
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(f"{what} (got {values[i, j]:g}; {int(bad.sum())} such cells)", file=file,
                        row=i + 1, field=str(matrix.columns[j]))

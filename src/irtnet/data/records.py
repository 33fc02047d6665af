"""Turn raw outcome columns into validated response records, with errors that say where.

A *record* frame has one row per observation: `model`, `query`, `n_correct`, `n_trials` and optionally
`cost`, `benchmark`, `text`, plus `_row`, the label used in error messages: a 1-based data row number of the
source file (header excluded), a record's 1-based position in a JSON list, or for JSON Lines the line of the
file, which messages call "line N" (`row_where`). Outcomes come in three forms, all stored as counts:

- binary 0/1 (also true/false or yes/no, in any letter case): n_correct in {0, 1}, n_trials = 1;
- a fraction in [0, 1] (a soft score): n_correct = fraction, n_trials = 1;
- k of n samples correct: n_correct = k, n_trials = n.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from irtnet.errors import DataError

RECORD_COLUMNS = ("model", "query", "n_correct", "n_trials")
OPTIONAL_RECORD_COLUMNS = ("cost", "benchmark", "text")
INTERNAL_COLUMNS = ("_row",)  # never named in a message about the source's columns
_TRUE = {"1", "1.0", "true", "yes"}  # compared in lower case
_FALSE = {"0", "0.0", "false", "no"}
_NON_FINITE = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}  # compared in lower case
NOT_MISSING = "NaN or infinite, which is not a missing value: only an empty cell or a null is"


def row_labels(frame: pd.DataFrame) -> np.ndarray:
    """The `_row` labels of `frame`, or 1-based positions where it has none."""
    if "_row" in frame.columns:
        return frame["_row"].to_numpy()
    return np.arange(1, len(frame) + 1)


def row_where(file: str | None, row: Any) -> dict[str, Any]:
    """DataError's keyword naming record `row` (its `_row` label) of the source `file`: {"line": row} for JSON
    Lines (.jsonl or .ndjson, compressed or not), whose records are labelled by their line in the file
    (`_source.parse_jsonl`, blank lines counted), else {"row": row} (a CSV data row, header excluded; an item of a
    JSON list; a Parquet row)."""
    name = str(file or "").lower()
    for suffix in (".gz", ".xz", ".bz2"):
        name = name.removesuffix(suffix)
    return {"line": row} if name.endswith((".jsonl", ".ndjson")) else {"row": row}


def row_noun(file: str | None) -> str:
    """How messages call a record of `file`: "line" for JSON Lines (`row_where`), else "row"."""
    return next(iter(row_where(file, None)))


def shown(value: Any) -> str:
    """A cell as a message shows it: a plain Python repr (never `np.int64(2)`), NaN, infinities and null by name."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else f"{'-' if value < 0 else ''}infinity"
    return repr(value)


def fail_at(mask: np.ndarray, frame: pd.DataFrame, file: str, field: str, what: str, show: bool = True) -> None:
    """Raise DataError for the first row of `mask`, naming its row and field and (if `show`) its value."""
    if mask.any():
        pos = int(np.flatnonzero(mask)[0])
        count = f"{int(mask.sum())} such {row_noun(file)}{'s' if mask.sum() > 1 else ''}"
        got = f"got {shown(frame[field].iloc[pos]) if field in frame.columns else None}; " if show else ""
        raise DataError(f"{what} ({got}{count})", file=file, **row_where(file, row_labels(frame)[pos]), field=field)


def non_finite_text(values: pd.Series) -> np.ndarray:
    """Text cells that spell a NaN or an infinity ("NaN", "nan", "Infinity", "-inf", ...)."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    return values.astype("string").str.strip().str.lower().isin(_NON_FINITE).to_numpy(dtype=bool)


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...], file: str) -> None:
    """Raise DataError naming every required column that `frame` lacks (and the source columns it has)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = [str(c) for c in frame.columns if c not in INTERNAL_COLUMNS]
        raise DataError(
            f"missing required column{'s' if len(missing) > 1 else ''} {missing}; found {found[:20]}",
            file=file, field=missing[0],
        )


def require_rows(frame: pd.DataFrame, file: str) -> None:
    if len(frame) == 0:
        raise DataError("no records (the input is empty)", file=file)


def parse_ids(frame: pd.DataFrame, field: str, file: str) -> pd.Series:
    """Ids as stripped strings; missing or empty ids are an error naming the row."""
    values = frame[field]
    missing = values.isna().to_numpy()
    fail_at(missing, frame, file, field, "missing id: the cell is empty or null", show=False)
    if values.dtype == object:  # JSON sources: an id must be a string or a number, not a list or an object
        kind = values.map(lambda v: 1 if isinstance(v, (list, dict, tuple)) else 2 if isinstance(v, bool) else 0)
        fail_at((kind == 1).to_numpy(dtype=bool), frame, file, field,
                "an id must be a string or a number, not a list or an object")
        fail_at((kind == 2).to_numpy(dtype=bool), frame, file, field, _BOOL_ID)
    fail_at(np.full(len(values), pd.api.types.is_bool_dtype(values.dtype)), frame, file, field, _BOOL_ID)
    out = values.astype(str).str.strip()
    fail_at((out == "").to_numpy(), frame, file, field, "empty id")
    return out


_BOOL_ID = "an id must be a string or a number, not true/false (it would become the text 'True' or 'False')"


def is_bool(values: pd.Series) -> np.ndarray:
    """Cells that are booleans (a bool column, or JSON true/false among other values)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.notna().to_numpy(dtype=bool)
    if values.dtype == object:
        return values.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    return np.zeros(len(values), dtype=bool)


def refuse_bool(frame: pd.DataFrame, field: str, file: str, what: str) -> None:
    """A true/false where `what` (a count, a cost) is expected is an error naming the row: read as 1/0 it would be
    a guess."""
    fail_at(is_bool(frame[field]), frame, file, field, f"true/false is not {what}")


def parse_number(frame: pd.DataFrame, field: str, file: str) -> np.ndarray:
    """A numeric column as float64; unparseable, missing or NaN values are an error naming the row."""
    raw = frame[field]
    num = pd.to_numeric(raw, errors="coerce")
    bad_parse = num.isna().to_numpy() & ~raw.isna().to_numpy()
    if bad_parse.any():
        fail_at(bad_parse & non_finite_text(raw), frame, file, field, f"not a number but {NOT_MISSING}")
        fail_at(bad_parse, frame, file, field, "not a number")
    values = num.to_numpy(dtype=np.float64, na_value=np.nan)
    fail_at(~np.isfinite(values), frame, file, field, "missing, NaN or infinite value")
    return values


def parse_binary(frame: pd.DataFrame, field: str, file: str) -> np.ndarray:
    """A 0/1 (or true/false, yes/no in any letter case) column as float64 in {0, 1}."""
    raw = frame[field]
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = parse_number(frame, field, file)
    else:
        text = raw.astype("string").str.strip().str.lower()
        fail_at(raw.isna().to_numpy(), frame, file, field, "missing label: the cell is empty or null", show=False)
        bad = ~text.isin(_TRUE | _FALSE).to_numpy()
        if bad.any():
            fail_at(bad & non_finite_text(raw), frame, file, field, f"label is not 0/1 but {NOT_MISSING}")
            fail_at(bad, frame, file, field, "label is not 0/1, true/false or yes/no")
        values = text.isin(_TRUE).to_numpy(dtype=np.float64)
    fail_at(~np.isin(values, (0.0, 1.0)), frame, file, field, "label is not 0 or 1")
    return values


def parse_fraction(frame: pd.DataFrame, field: str, file: str) -> np.ndarray:
    """A score column that must lie in [0, 1]."""
    values = parse_number(frame, field, file)
    fail_at((values < 0) | (values > 1), frame, file, field, "score outside [0, 1]")
    return values


def parse_counts(frame: pd.DataFrame, k_field: str, n_field: str, file: str) -> tuple[np.ndarray, np.ndarray]:
    """k-of-n columns: integers with n >= 1 and 0 <= k <= n (true/false is no count)."""
    refuse_bool(frame, k_field, file, "a count")
    refuse_bool(frame, n_field, file, "a count")
    k = parse_number(frame, k_field, file)
    n = parse_number(frame, n_field, file)
    fail_at(k != np.round(k), frame, file, k_field, "count is not an integer")
    fail_at(n != np.round(n), frame, file, n_field, "count is not an integer")
    fail_at(n < 1, frame, file, n_field, "number of trials must be at least 1")
    fail_at((k < 0) | (k > n), frame, file, k_field, "correct count outside [0, n_trials]")
    return k, n


def parse_cost(frame: pd.DataFrame, field: str, file: str) -> np.ndarray:
    refuse_bool(frame, field, file, "a cost")
    values = parse_number(frame, field, file)
    fail_at(values < 0, frame, file, field, "negative cost")
    return values


def make_records(
    frame: pd.DataFrame,
    *,
    file: str,
    model: str,
    query: str,
    outcome: str | None = None,
    outcome_kind: str = "auto",
    n_correct: str | None = None,
    n_trials: str | None = None,
    benchmark: str | None = None,
    text: str | None = None,
    cost: str | None = None,
) -> pd.DataFrame:
    """Validate a source frame and return a record frame (see module docstring).

    `outcome_kind` is "binary", "fraction", "auto" (binary if every value is 0/1, else fraction) or
    "counts" (then `n_correct` and `n_trials` name the k and n columns).
    """
    require_rows(frame, file)
    needed = [model, query] + [c for c in (outcome, n_correct, n_trials, benchmark, text, cost) if c]
    require_columns(frame, needed, file)
    out = pd.DataFrame({"model": parse_ids(frame, model, file), "query": parse_ids(frame, query, file)})
    if outcome_kind == "counts":
        if not (n_correct and n_trials):
            raise DataError("outcome kind 'counts' needs both n_correct and n_trials columns", file=file)
        out["n_correct"], out["n_trials"] = parse_counts(frame, n_correct, n_trials, file)
    else:
        if outcome is None:
            raise DataError(f"outcome kind {outcome_kind!r} needs an outcome column", file=file)
        out["n_correct"] = outcome_values(frame, outcome, outcome_kind, file)
        out["n_trials"] = 1.0
    if benchmark:
        out["benchmark"] = parse_ids(frame, benchmark, file)
    if text:
        out["text"] = frame[text].astype("string").to_numpy(dtype=object, na_value=None)
    if cost:
        out["cost"] = parse_cost(frame, cost, file)
    out["_row"] = row_labels(frame)
    return out.reset_index(drop=True)


def outcome_values(frame: pd.DataFrame, field: str, kind: str, file: str) -> np.ndarray:
    if kind == "binary":
        return parse_binary(frame, field, file)
    if kind == "fraction":
        return parse_fraction(frame, field, file)
    if kind == "auto":
        raw = frame[field]
        if pd.api.types.is_bool_dtype(raw.dtype):
            return raw.to_numpy(dtype=np.float64)
        numeric = pd.to_numeric(raw, errors="coerce")
        if numeric.notna().sum() == raw.notna().sum():
            return parse_fraction(frame, field, file)
        return parse_binary(frame, field, file)
    raise DataError(f"unknown outcome kind {kind!r}: use binary, fraction, counts or auto", field=field)


STORED_COLUMNS = ("model", "query", "benchmark", "label", "n_correct", "n_trials")


def require_ids(frame: pd.DataFrame, field: str, file: str) -> None:
    """`parse_ids`'s refusals (a missing or blank id names its row) without rewriting the column: a categorical
    column is checked on its categories, so a dictionary-encoded Parquet column costs one pass over its codes."""
    values = frame[field]
    fail_at(values.isna().to_numpy(), frame, file, field, "missing id: the cell is empty or null", show=False)
    fail_at(blank_cells(values), frame, file, field, "empty id")


def check_stored_records(frame: pd.DataFrame, file: str) -> dict[str, np.ndarray]:
    """Refuse a stored response table's damaged rows (`ResponseTable.read_parquet`) with the importers' checks.

    Ids present and not blank; counts finite with n_trials a whole number >= 1 and 0 <= n_correct <= n_trials
    (n_correct may be fractional: a soft score, or the sum of merged repeats); label 0 or 1, and not one the counts
    rule out; a stored score, where present, equal to n_correct / n_trials; cost finite and not negative. Each
    refusal is a DataError naming the row and field. Returns the parsed numeric columns (label, n_correct, n_trials as float64) for the reader to
    keep, so that a column stored as text ("1", "true") is read as the importers read it.
    """
    require_rows(frame, file)
    require_columns(frame, list(STORED_COLUMNS), file)
    for field in ("model", "query"):
        require_ids(frame, field, file)
    k, n = parse_number(frame, "n_correct", file), parse_number(frame, "n_trials", file)
    fail_at(n != np.round(n), frame, file, "n_trials", "count is not an integer")
    fail_at(n < 1, frame, file, "n_trials", "number of trials must be at least 1")
    fail_at((k < 0) | (k > n), frame, file, "n_correct", "correct count outside [0, n_trials]")
    label = parse_binary(frame, "label", file)  # the voted label: not derivable from summed counts, so only 0 or 1
    if "score" in frame.columns:
        score = parse_fraction(frame, "score", file)
        fail_at(np.abs(score - k / n) > 1e-6, frame, file, "score", "score is not n_correct / n_trials")
    _check_label_counts(frame, label, k, n, file)
    if "cost" in frame.columns:
        parse_cost(frame, "cost", file)
    duplicated = frame.duplicated(["model", "query"]).to_numpy()
    if duplicated.any():
        pos = int(np.flatnonzero(duplicated)[0])
        model, query = frame["model"].iloc[pos], frame["query"].iloc[pos]
        first = int(np.flatnonzero(((frame["model"] == model) & (frame["query"] == query)).to_numpy())[0])
        noun, rows = row_noun(file), row_labels(frame)
        raise DataError(f"repeated (model, query) pair: model {model!r}, query {query!r} (first at {noun} "
                        f"{rows[first]}); a response table holds one row per pair, so the file is damaged: "
                        "re-import its source (importers merge repeated records by majority vote)",
                        file=file, **row_where(file, rows[pos]))
    return {"label": label, "n_correct": k, "n_trials": n}


def blank_cells(values: pd.Series) -> np.ndarray:
    """Cells of an id or text column that hold only white space (a dictionary-encoded column: checked on its
    categories, one pass over its codes)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        blank = np.asarray(values.cat.categories.astype(str).str.strip() == "", dtype=bool)
        codes = values.cat.codes.to_numpy()
        return blank[codes] & (codes >= 0) if blank.any() else np.zeros(len(values), dtype=bool)
    return (values.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)


def _check_label_counts(frame: pd.DataFrame, label: np.ndarray, k: np.ndarray, n: np.ndarray, file: str) -> None:
    """A DataError naming the first row of a stored table whose voted label the counts rule out: each record's
    label is n_correct / n_trials >= 0.5 and a pair's the majority of its records', so a pair whose every trial
    was correct has label 1, one whose every trial failed label 0, and a single trial its own label (the file
    was damaged or its labels edited by hand)."""
    implied = np.where(k == n, 1.0, np.where(k == 0, 0.0, np.where(n == 1, (k >= 0.5).astype(np.float64), label)))
    bad = label != implied
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(f"the label contradicts the counts: label {int(label[pos])} with {k[pos]:g} of {n[pos]:g} "
                        f"trials correct (which give label {int(implied[pos])}; {int(bad.sum())} such "
                        f"{row_noun(file)}{'s' if bad.sum() > 1 else ''}); the file is damaged or was edited: "
                        "re-import its source", file=file, **row_where(file, row_labels(frame)[pos]), field="label")


def note_case_twins(table: Any) -> Any:
    """Note (in a `ResponseTable`'s `report.notes`) model, query and benchmark ids that differ only in letter case
    (`GPT-4` and `gpt-4`, `MMLU` and `mmlu`): they stay apart, since ids are case-sensitive, but they are often one
    model, item or benchmark spelled two ways (and a benchmark held out by one name would keep the other's queries
    in training). Returns the table."""
    for kind, plural, ids in (("model", "models", table.models["model"]),
                              ("query", "queries", table.queries["query"]),
                              ("benchmark", "benchmarks", pd.Series(table.benchmark_vocab.to_list(), dtype=object))):
        folded = pd.Series(ids.astype(str).to_numpy(dtype=object)).str.casefold()
        twins = folded.duplicated(keep=False).to_numpy()
        if twins.any():
            first = folded[twins].iloc[0]
            example = [str(i) for i, f in zip(ids, folded) if f == first]
            groups = int(folded[twins].nunique())
            table.report.notes.append(
                f"{kind} ids {' and '.join(repr(e) for e in example[:3])} differ only in letter case ({groups} such "
                f"group{'s' if groups > 1 else ''}): kept as different {plural}; if they are one, give them one id in "
                "the source")
    return table

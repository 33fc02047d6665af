"""Generic long format: one row per (model, query) observation, with a column mapping.

Reads CSV, TSV, JSON (a list of records, or the list under `records_key`), JSONL and Parquet,
optionally compressed (.gz/.xz/.bz2) or as a member of an archive (`ARCHIVE::MEMBER`, see
`_source`). A `ColumnMap` says which column is what and how the outcome becomes counts:

- `binary`: 0/1 or true/false; `fraction`: a score in [0, 1]; `auto`: a fraction when every value is a
  number (0/1 included), else binary (true/false text);
- `counts`: k of n, from an `n_correct` column, or from the outcome fraction times `n_trials`;
- `outcome_scale` divides the outcome first (100 for percentages); `threshold` turns a continuous
  score into 0/1 (`score >= threshold`).

Rows with a missing outcome (an empty cell, a null) are skipped and counted, never read as 0; a model
left without any row is an error. A CSV row that lacks fields (a truncated file) is an error, not a
missing outcome (see `_source`). Rows of `exclude_models` are skipped and counted per model. A (model, query)
pair given on several rows is merged (counts summed, label by majority vote, reported with the number of
disagreeing pairs); a tie (as many rows say 1 as 0) is an error naming the pair and its rows.
`repeats="error"` refuses any repeated pair instead, naming the pair and its rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from irtnet._io import unique_keys
from irtnet.data.importers._source import build_table, file_stem, missing_values, read_frame, skip
from irtnet.data.records import (NOT_MISSING, fail_at, make_records, non_finite_text, note_case_twins, parse_ids,
                                  require_columns, require_rows, row_where)
from irtnet.data.table import ImportReport, ResponseTable, refuse_tied_votes
from irtnet.errors import ConfigError, DataError

_TOL = 1e-6


class ColumnMap(BaseModel):
    """Which source column is what, and how the outcome is read (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "model"
    query: str = "query"
    outcome: str | None = "label"
    outcome_kind: Literal["binary", "fraction", "counts", "auto"] = "auto"
    n_correct: str | None = None
    n_trials: str | int | None = None
    outcome_scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    threshold: float | None = Field(None, allow_inf_nan=False)
    benchmark: str | None = None
    default_benchmark: str | None = None
    text: str | None = None
    cost: str | None = None
    query_prefix: str = ""
    records_key: str | None = None
    exclude_models: list[str] = Field(default_factory=list)
    texts_file: str | None = None
    texts_query: str = "query"
    texts_text: str = "text"
    repeats: Literal["vote", "error"] = "vote"

    @field_validator("model", "query", "outcome", "n_correct", "n_trials", "benchmark", "default_benchmark", "text",
                     "cost", "records_key", "texts_file", "texts_query", "texts_text")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        """An empty name is an error, never read as "not given" (leave the option out, or none, for that)."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give a name, or leave the option out")
        if value == "_row":  # the frames' own row-number column (`_source.read_frame`) would replace the source's
            raise ValueError("'_row' is the name irtnet gives its row numbers: rename that column in the source")
        return value

    @field_validator("n_trials", "outcome_scale", "threshold", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        """true/false is no number (pydantic would read it as 1 or 0)."""
        if isinstance(value, bool):
            raise ValueError("is true/false, not a number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ColumnMap:
        if self.outcome_kind == "counts":
            if self.n_trials is None or (self.n_correct is None and self.outcome is None):
                raise ValueError("outcome_kind 'counts' needs n_trials and either n_correct or outcome")
            if self.threshold is not None:
                raise ValueError("threshold does not apply to outcome_kind 'counts'")
        elif self.n_correct is not None or self.n_trials is not None:
            raise ValueError("n_correct and n_trials only apply to outcome_kind 'counts'")
        elif self.outcome is None:
            raise ValueError(f"outcome_kind {self.outcome_kind!r} needs an outcome column")
        if isinstance(self.n_trials, int) and self.n_trials < 1:
            raise ValueError("n_trials must be at least 1")
        if self.texts_file and self.text:
            raise ValueError("give either a text column or a texts_file, not both")
        self._one_role_per_column()
        return self

    def _one_role_per_column(self) -> None:
        """A source column read in two roles (`model=query`) is an error naming both; a query's text may be its id."""
        first: dict[str, str] = {}
        for role, column in self._roles().items():
            other = first.setdefault(column, role)
            if other != role and {other, role} != {"query", "text"}:
                raise ValueError(f"column {column!r} is mapped to two roles, {other} and {role} "
                                 f"({self._given(other)}, {self._given(role)}); map each role to its own column")

    def _roles(self) -> dict[str, str]:
        """Role -> the source column read in it (only the roles this mapping reads)."""
        outcome_role = "n_correct" if self.outcome_kind == "counts" and self.n_correct else "outcome"
        roles = {"model": self.model, "query": self.query, outcome_role: self.outcome_field}
        if isinstance(self.n_trials, str):
            roles["n_trials"] = self.n_trials
        roles.update({r: c for r, c in (("benchmark", self.benchmark), ("text", self.text), ("cost", self.cost)) if c})
        return roles

    def _given(self, role: str) -> str:
        """`option role=column`, or `role=column by default` for a field the mapping did not set."""
        pair = f"{role}={getattr(self, role)}"
        return f"option {pair}" if role in self.model_fields_set else f"{pair} by default"

    @property
    def outcome_field(self) -> str:
        """The column whose missing cells mean "no observation"."""
        return self.n_correct if self.outcome_kind == "counts" and self.n_correct else str(self.outcome)


def column_map(mapping: ColumnMap | dict[str, Any] | str | Path | None = None, **fields: Any) -> ColumnMap:
    """A `ColumnMap` from a map, a dict or a JSON file path, with `fields` overriding it (a key given twice in the
    file is a DataError naming it, never read as its last value)."""
    if isinstance(mapping, ColumnMap):
        base = mapping.model_dump(exclude_unset=True)
    elif isinstance(mapping, (str, Path)):
        try:
            base = json.loads(Path(mapping).read_text(), object_pairs_hook=unique_keys(str(mapping)))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the column mapping {str(mapping)!r}: {exc}") from exc
    else:
        base = dict(mapping or {})
    try:
        return ColumnMap.model_validate({**base, **{k: v for k, v in fields.items() if v is not None}})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'mapping'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid column mapping: {problems}") from exc


def import_long(path: str | Path, mapping: ColumnMap | dict[str, Any] | str | Path | None = None,
                **fields: Any) -> ResponseTable:
    """Generic long CSV / CSV.GZ / JSON / JSONL / Parquet (or ARCHIVE::MEMBER) with a column mapping."""
    cmap = column_map(mapping, **fields)
    report = ImportReport(source=str(path))
    outcome = {c for c in (cmap.outcome, cmap.n_correct, cmap.n_trials) if isinstance(c, str)}
    ids = [c for c in (cmap.model, cmap.query, cmap.benchmark) if c]
    frame = read_frame(path, cmap.records_key, report, nan_text=outcome, id_columns=ids)
    records = frame_to_records(frame, cmap, file=str(path), report=report)
    if cmap.repeats == "vote":
        refuse_tied_votes(records, str(path))
    return note_case_twins(build_table(records, source=str(path), report=report, repeats=cmap.repeats))


def frame_to_records(frame: pd.DataFrame, cmap: ColumnMap, *, file: str,
                     report: ImportReport) -> pd.DataFrame:
    """Validate a source frame under `cmap` and return records (see `irtnet.data.records`)."""
    require_rows(frame, file)
    if "_row" not in frame.columns:
        frame = frame.assign(_row=np.arange(1, len(frame) + 1))
    needed = [cmap.model, cmap.query, cmap.outcome_field]
    needed += [c for c in (cmap.benchmark, cmap.text, cmap.cost) if c]
    needed += [cmap.n_trials] if isinstance(cmap.n_trials, str) else []
    require_columns(frame, needed, file)
    frame = _drop_excluded(frame, cmap, file, report)
    frame = _drop_missing(frame, cmap, file, report)
    work, kind, k_col, n_col = _outcome_columns(frame, cmap, file)
    if cmap.benchmark and cmap.default_benchmark:
        work[cmap.benchmark] = work[cmap.benchmark].where(~missing_values(work[cmap.benchmark]),
                                                          cmap.default_benchmark)
    if cmap.text and cmap.text != cmap.query:  # the query column as the text: the ids' rules (a number is its id)
        work[cmap.text] = _text_column(work, cmap.text, file)
    outcome = None if kind == "counts" else cmap.outcome
    records = make_records(work, file=file, model=cmap.model, query=cmap.query, outcome=outcome,
                           outcome_kind=kind, n_correct=k_col, n_trials=n_col,
                           benchmark=cmap.benchmark, text=cmap.text, cost=cmap.cost)
    _note_unread(frame.columns, cmap, file, report)
    if not cmap.benchmark:
        records["benchmark"] = cmap.default_benchmark or _file_benchmark(file)
    if cmap.texts_file:
        records["text"] = _join_texts(records["query"], cmap, report)
    if cmap.query_prefix:
        records["query"] = cmap.query_prefix + records["query"]
    return records


def _drop_excluded(frame: pd.DataFrame, cmap: ColumnMap, file: str, report: ImportReport) -> pd.DataFrame:
    if not cmap.exclude_models:
        return frame
    models = frame[cmap.model].astype("string").str.strip()
    for name in cmap.exclude_models:
        count = int((models == name).sum())
        skip(report, f"records of excluded model {name!r}", count)
        if not count:
            report.notes.append(f"excluded model {name!r} does not occur in the source")
    kept = frame[~models.isin(cmap.exclude_models).fillna(False).to_numpy(dtype=bool)]
    if kept.empty:
        raise DataError("no records left after excluding models", file=file, field=cmap.model)
    return kept


def _drop_missing(frame: pd.DataFrame, cmap: ColumnMap, file: str, report: ImportReport) -> pd.DataFrame:
    """Drop (and count) rows whose outcome is empty; a model left with no row at all is an error."""
    field = cmap.outcome_field
    missing = missing_values(frame[field])
    if not missing.any():
        return frame
    if missing.all():
        raise DataError(f"no records with an outcome (all {len(frame)} are empty)", file=file, field=field)
    models = frame[cmap.model].to_numpy(dtype=object)
    all_missing = pd.Series(missing).groupby(models).all()
    if all_missing.any():
        name = all_missing.index[all_missing.to_numpy()][0]
        pos = int(np.flatnonzero(models == name)[0])
        raise DataError(f"model {name!r} has no records: the outcome of every one of its rows is empty",
                        file=file, **row_where(file, frame["_row"].iloc[pos]), field=field)
    skip(report, f"missing outcome ('{field}' empty): not observed", int(missing.sum()))
    unanswered = pd.Series(missing).groupby(frame[cmap.query].to_numpy(dtype=object)).all()
    skip(report, f"queries whose every row has an empty '{field}' (left out of the table)", int(unanswered.sum()))
    return frame[~missing]


def _text_column(frame: pd.DataFrame, field: str, file: str) -> np.ndarray:
    """The text column as strings, None where missing; a blank text (empty or whitespace only) is no text, as an
    empty CSV cell is. A value that is not a string (a JSON number, list, object or true/false; a numeric Parquet
    column) is an error naming its row: its Python spelling would become the query's text."""
    raw = frame[field]
    missing = missing_values(raw)
    text = raw.to_numpy(dtype=object, na_value=None)
    if not pd.api.types.is_string_dtype(raw.dtype) or raw.dtype == object:
        fail_at(~missing & ~np.fromiter((isinstance(v, str) for v in text), bool, len(text)), frame, file, field,
                "a text must be a string")
    out = text.copy()
    out[missing] = None
    return out


def _numeric(frame: pd.DataFrame, field: str, file: str) -> np.ndarray:
    """A column as floats; a value that is not a number is an error naming its row."""
    raw = frame[field]
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.to_numpy(dtype=np.float64)
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    fail_at(np.isinf(num), frame, file, field, "infinite: not a finite number")
    bad = np.isnan(num)
    if bad.any():
        fail_at(bad & non_finite_text(raw), frame, file, field, f"not a number but {NOT_MISSING}")
        fail_at(bad, frame, file, field, "not a number")
    return num


def _outcome_columns(frame: pd.DataFrame, cmap: ColumnMap,
                     file: str) -> tuple[pd.DataFrame, str, str | None, str | None]:
    """Apply scale, threshold and count derivation; return (frame, kind, k column, n column)."""
    work = frame.copy()
    if cmap.outcome_kind != "counts":
        if cmap.outcome_scale != 1 or cmap.threshold is not None:
            values = _numeric(work, str(cmap.outcome), file) / cmap.outcome_scale
            if cmap.threshold is not None:
                work[cmap.outcome] = (values >= cmap.threshold).astype(np.float64)
                return work, "binary", None, None
            work[cmap.outcome] = values
        return work, cmap.outcome_kind, None, None
    n_col = cmap.n_trials if isinstance(cmap.n_trials, str) else "n_trials"
    if isinstance(cmap.n_trials, int):
        work[n_col] = float(cmap.n_trials)
    if cmap.n_correct:
        return work, "counts", cmap.n_correct, n_col
    k_col = str(cmap.outcome)
    k = _numeric(work, k_col, file) / cmap.outcome_scale * _numeric(work, n_col, file)
    off = np.abs(k - np.round(k)) > _TOL
    if off.any():
        pos = int(np.flatnonzero(off)[0])
        raise DataError(f"outcome x n_trials is not a whole number of successes (got {k[pos]:g}; "
                        f"check outcome_scale and n_trials)", file=file, **row_where(file, work["_row"].iloc[pos]),
                        field=k_col)
    work[k_col] = np.round(k)
    return work, "counts", k_col, n_col


def _file_benchmark(file: str) -> str:
    """The benchmark of every row when neither a benchmark column nor default_benchmark is given: the file name."""
    return file_stem(file.split("::")[-1])


def _note_unread(columns: pd.Index, cmap: ColumnMap, file: str, report: ImportReport) -> None:
    """Note each source column named like an optional role (benchmark, text, cost) that the mapping leaves unread
    (a column is never read by its name alone, which would be a guess, nor passed over in silence), and the
    benchmark every row gets when none is mapped."""
    used = set(cmap._roles().values())
    unread = [r for r in ("benchmark", "text", "cost") if r in columns and getattr(cmap, r) is None and r not in used]
    named = f"{cmap.default_benchmark!r}, the default_benchmark" if cmap.default_benchmark else \
        f"{_file_benchmark(file)!r}, the file name"
    effects = {"benchmark": f"every query is in benchmark {named}",
               "text": "the texts come from texts_file" if cmap.texts_file else "no query has a text",
               "cost": "no response has a cost"}
    if not cmap.benchmark and not cmap.default_benchmark and "benchmark" not in unread:
        report.notes.append(f"no benchmark column or default_benchmark: {effects['benchmark']}")
    for role in unread:
        report.notes.append(f"the file's column {role!r} is not mapped, so {effects[role]}: give the option "
                            f"{role}={role} (-O {role}={role}) to read it")


def _join_texts(query_ids: pd.Series, cmap: ColumnMap, report: ImportReport) -> np.ndarray:
    """Text per record from the separate texts file (source query id -> text); None where absent.

    An empty id or text in the texts file, or a texts file that names no query of the table, is an error.
    """
    file = str(cmap.texts_file)
    texts = read_frame(file, None, report, id_columns=[cmap.texts_query])
    require_rows(texts, file)
    require_columns(texts, [cmap.texts_query, cmap.texts_text], file)
    ids = parse_ids(texts, cmap.texts_query, file)
    if ids.duplicated().any():
        raise DataError(f"query id {ids[ids.duplicated()].iloc[0]!r} appears twice in the texts file",
                        file=file, **row_where(file, int(texts["_row"][ids.duplicated()].iloc[0])),
                        field=cmap.texts_query)
    fail_at(missing_values(texts[cmap.texts_text]), texts, file, cmap.texts_text,
            "empty text: the cell is empty or null", show=False)
    out = query_ids.map(dict(zip(ids, texts[cmap.texts_text].astype(object)))).astype(object)
    if out.isna().all():
        hint = "; ids are matched before query_prefix" if cmap.query_prefix else ""
        raise DataError(f"none of its {len(ids)} query ids is a query of the table (its first: {ids.iloc[0]!r}; "
                        f"the table's first: {query_ids.iloc[0]!r}{hint})", file=file, field=cmap.texts_query)
    unmatched = query_ids[out.isna()].nunique()
    if unmatched:
        report.notes.append(f"{unmatched} queries have no text in the texts file (text left empty)")
    unused = ~ids.isin(set(query_ids))
    if unused.any():
        report.notes.append(f"{int(unused.sum())} query ids of the texts file are no query of the table, their texts "
                            f"unused (the first: {ids[unused].iloc[0]!r}; a query without records is not imported)")
    return out.where(out.notna(), None).to_numpy(dtype=object)

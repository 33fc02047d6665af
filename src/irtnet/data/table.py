"""`ResponseTable`: evaluation logs in long form, validated, with explicit id vocabularies.

Three frames:

- `responses`: one row per observed (model, query) pair: `model`, `query` (categoricals whose
  categories are the model and query vocabularies), `label` (0/1 after majority vote), `score`
  (n_correct / n_trials in [0, 1]), `n_correct`, `n_trials` and, where the source has it, `cost`.
  Rows are sorted by (query, model), so the responses of one query are contiguous.
- `queries`: one row per query: `query`, `benchmark` (its group), `text` (None where unknown).
- `models`: one row per model: `model` plus any metadata (`family`, `input_price`, ...).

On disk it is one Parquet file in plain long form (text and benchmark repeated per row, dictionary
encoded); the model metadata and the import report travel in the file's key-value metadata.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from irtnet._io import atomic_path
from irtnet.data.records import (
    RECORD_COLUMNS, blank_cells, check_stored_records, require_columns, row_labels, row_noun, row_where,
)
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError

FORMAT_VERSION = 1
_META_KEY = b"irtnet"


@dataclass
class ImportReport:
    """What an import did besides copying: merged repeats, skipped records (by reason), notes."""

    source: str = ""
    n_records: int = 0
    n_repeated_pairs: int = 0
    n_conflicting_pairs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def reduce_repeats(records: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Reduce repeated (model, query) records to one row each.

    The label is the majority vote of the records' own labels (n_correct / n_trials >= 0.5), ties
    going to correct (the IrtNet paper's rule); the counts are summed so the k-of-n form survives;
    cost is averaged. Returns (reduced records, number of repeated pairs, number of those whose
    records disagreed).
    """
    rec_label = _record_labels(records)
    keys = ["model", "query"]
    dup = records.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        out = records.copy()
        out["label"] = rec_label.astype(np.int8)
        return out, 0, 0
    work = records.assign(_vote=rec_label)
    agg: dict[str, tuple[str, str]] = {
        "n_correct": ("n_correct", "sum"), "n_trials": ("n_trials", "sum"),
        "_votes": ("_vote", "sum"), "_count": ("_vote", "size"), "_row": ("_row", "first"),
    }
    if "cost" in records.columns:
        agg["cost"] = ("cost", "mean")
    grouped = work.groupby(keys, sort=False, observed=True).agg(**agg).reset_index()
    grouped["label"] = (2 * grouped["_votes"] >= grouped["_count"]).astype(np.int8)
    repeated = grouped["_count"] > 1
    conflicting = repeated & (grouped["_votes"] > 0) & (grouped["_votes"] < grouped["_count"])
    return grouped.drop(columns=["_votes", "_count"]), int(repeated.sum()), int(conflicting.sum())


def _record_labels(records: pd.DataFrame) -> pd.Series:
    """Each record's own 0/1 label (int64): n_correct / n_trials >= 0.5, or the label it already carries."""
    if "label" in records.columns:  # records that already carry a (voted) label keep it
        return records["label"].astype(np.int64)
    return (records["n_correct"] / records["n_trials"] >= 0.5).astype(np.int64)


def refuse_tied_votes(records: pd.DataFrame, file: str) -> None:
    """Raise DataError for the first repeated (model, query) pair with as many records labelled 1 as 0.

    `reduce_repeats` would give such a pair label 1; a source that should be voted uses this to refuse it,
    naming the pair and the rows of each side. A majority with dissent is not refused.
    """
    dup = records.duplicated(["model", "query"], keep=False).to_numpy()
    if not dup.any():
        return
    repeated = records[dup].assign(_vote=_record_labels(records)[dup].to_numpy())
    votes = repeated.groupby(["model", "query"], sort=False, observed=True)["_vote"].agg(["sum", "size"])
    tied = votes.index[(2 * votes["sum"] == votes["size"]).to_numpy()]
    if len(tied):
        model, query = tied[0]
        pair = repeated[((repeated["model"] == model) & (repeated["query"] == query)).to_numpy()]
        rows, label = row_labels(pair), pair["_vote"].to_numpy()
        raise DataError(f"the repeated records of model {model!r}, query {query!r} tie (label 1 at "
                        f"{_row_list(rows[label == 1], file)}, label 0 at {_row_list(rows[label == 0], file)}): the "
                        "majority vote has no winner; correct the source or keep one record of the pair", file=file)


def _row_list(rows: np.ndarray, file: str) -> str:
    """`row 3` or `rows 1, 4, 9` (the first five, then `and N more`); `line`/`lines` for JSON Lines (`row_noun`)."""
    listed = ", ".join(str(r) for r in rows[:5].tolist())
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return f"{row_noun(file)}{'s' if len(rows) > 1 else ''} {listed}{more}"


def _query_frame(records: pd.DataFrame, queries: pd.DataFrame | None, file: str) -> pd.DataFrame:
    """One row per query (query, benchmark, text), checking that every query has exactly one of each."""
    if queries is None:
        require_columns(records, ["benchmark"], file)
        cols = ["query", "benchmark"] + (["text"] if "text" in records.columns else [])
        queries = records[cols + ["_row"]]
    else:
        require_columns(queries, ["query", "benchmark"], file)
        queries = queries.copy()
        if "_row" not in queries.columns:
            queries["_row"] = np.arange(1, len(queries) + 1)
    if "text" not in queries.columns:
        queries = queries.assign(text=None)
    _check_consistent(queries, "benchmark", file)
    _check_consistent(queries, "text", file)
    out = queries.drop_duplicates("query")[["query", "benchmark", "text"]]
    bad = out["benchmark"].isna() | (out["benchmark"].astype(str).str.strip() == "")
    if bad.any():
        raise DataError(f"query {out['query'][bad].iloc[0]!r} has no benchmark", file=file, field="benchmark")
    out = out.assign(query=out["query"].astype(str), benchmark=out["benchmark"].astype(str))
    text = out["text"].astype(object).where(out["text"].notna(), None)
    return out.assign(text=text).sort_values("query").reset_index(drop=True)


_NONE = "\0<none>"


def _check_consistent(frame: pd.DataFrame, column: str, file: str) -> None:
    """Two different values of `column` for the same query id is an id collision; a value on some of a query's
    rows and none on others is an error saying which row has none."""
    values = frame[["query", column]].astype(object).fillna(_NONE)
    distinct = values.drop_duplicates()
    dup = distinct["query"].duplicated(keep=False)
    if not dup.any():
        return
    qid = distinct["query"][dup].iloc[0]
    mine = (frame["query"] == qid).to_numpy()
    found, rows = values[column].to_numpy(dtype=object)[mine], row_labels(frame)[mine].tolist()
    first, other = 0, int(np.flatnonzero(found != found[0])[0])  # the first row whose value differs from the first
    noun = row_noun(file)  # lines of a JSON Lines file, else rows
    if _NONE in (found[first], found[other]):
        given, empty = (first, other) if found[other] == _NONE else (other, first)
        raise DataError(f"query id {qid!r} has a {column} on {noun} {rows[given]} but none on {noun} {rows[empty]}: "
                        f"give the query its {column} on every record (or on none)",
                        file=file, **row_where(file, rows[empty]), field=column)
    raise DataError(
        f"query id {qid!r} collides: it has two different {column} values ({noun}s {[rows[first], rows[other]]}); "
        "give the queries distinct ids (e.g. prefix them with their benchmark)",
        file=file, **row_where(file, rows[first]), field=column,
    )


class ResponseTable:
    """Validated evaluation logs; build with `from_records`, `read_parquet` or an importer."""

    def __init__(self, responses: pd.DataFrame, queries: pd.DataFrame, models: pd.DataFrame,
                 report: ImportReport | None = None) -> None:
        self.responses, self.queries, self.models = responses, queries, models
        self.report = report or ImportReport()
        self.model_vocab = Vocab("model", models["model"])
        self.query_vocab = Vocab("query", queries["query"])
        self.benchmark_vocab = Vocab("benchmark", sorted(queries["benchmark"].unique()))

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_records(
        cls,
        records: pd.DataFrame,
        *,
        queries: pd.DataFrame | None = None,
        models: pd.DataFrame | None = None,
        source: str = "<records>",
        repeats: str = "vote",
        report: ImportReport | None = None,
    ) -> ResponseTable:
        """Build a table from validated records (see `irtnet.data.records`).

        `queries` (query, benchmark, text) may come separately; otherwise the records carry
        `benchmark` (and optionally `text`). `models` may list every model with metadata; a listed
        model without records is an error. `repeats="vote"` reduces repeated pairs by majority vote
        and reports them; `repeats="error"` refuses them.
        """
        if len(records) == 0:
            raise DataError("no records (the input is empty)", file=source)
        require_columns(records, list(RECORD_COLUMNS), source)
        if "_row" not in records.columns:
            records = records.assign(_row=np.arange(1, len(records) + 1))
        report = report or ImportReport(source=source)
        report.n_records = len(records)
        qframe = _query_frame(records, queries, source)
        unknown = ~records["query"].isin(qframe["query"])
        if unknown.any():
            pos = int(np.flatnonzero(unknown.to_numpy())[0])
            raise DataError(f"query {records['query'].iloc[pos]!r} is not in the query list",
                            file=source, **row_where(source, records["_row"].iloc[pos]), field="query")
        # unique ids: pandas 3's Arrow-string `isin` converts its argument one value at a time in Python
        answered = qframe["query"].isin(pd.unique(records["query"].to_numpy(dtype=object)))
        unused = (~answered).sum()
        if unused:
            report.skipped["queries listed without any response"] = int(unused)
            qframe = qframe[answered.to_numpy()].reset_index(drop=True)
        if repeats not in ("vote", "error"):
            raise ConfigError(f"repeats must be 'vote' or 'error', got {repeats!r}")
        if repeats == "error" and records.duplicated(["model", "query"]).any():
            pos = int(np.flatnonzero(records.duplicated(["model", "query"]).to_numpy())[0])
            model, query = records["model"].iloc[pos], records["query"].iloc[pos]
            first = records["_row"].iloc[int(np.flatnonzero(((records["model"] == model)
                                                              & (records["query"] == query)).to_numpy())[0])]
            at = row_where(source, records["_row"].iloc[pos])
            raise DataError(f"repeated (model, query) record: model {model!r}, query {query!r} (first at "
                            f"{next(iter(at))} {first}); import with repeats='vote' (the default) to merge them by "
                            "majority vote",
                            file=source, **at)
        reduced, n_rep, n_conf = reduce_repeats(records)
        report.n_repeated_pairs, report.n_conflicting_pairs = n_rep, n_conf
        mframe = _model_frame(reduced, models, source)
        return cls(_response_frame(reduced, qframe, mframe), qframe, mframe, report)

    # ---------------------------------------------------------------- views
    @property
    def n_models(self) -> int:
        return len(self.model_vocab)

    @property
    def n_queries(self) -> int:
        return len(self.query_vocab)

    @property
    def has_cost(self) -> bool:
        return "cost" in self.responses.columns

    @property
    def has_text(self) -> bool:
        return bool(self.queries["text"].notna().all())

    def model_index(self) -> np.ndarray:
        """Model position of each response row (int64, shape [n_responses])."""
        return self.responses["model"].cat.codes.to_numpy(dtype=np.int64)

    def query_index(self) -> np.ndarray:
        """Query position of each response row (int64, shape [n_responses])."""
        return self.responses["query"].cat.codes.to_numpy(dtype=np.int64)

    def benchmarks_of(self, query_ids: Any) -> np.ndarray:
        """Benchmark name of each given query id (strict)."""
        return self.queries["benchmark"].to_numpy(dtype=object)[self.query_vocab.index(query_ids)]

    def texts_of(self, query_ids: Any) -> list[str | None]:
        return self.queries["text"].to_numpy(dtype=object)[self.query_vocab.index(query_ids)].tolist()

    def select(self, queries: Any = None, models: Any = None) -> ResponseTable:
        """The sub-table of the given query and/or model ids (strict about unknown ids)."""
        mask = np.ones(len(self.responses), dtype=bool)
        if queries is not None:
            keep = np.zeros(self.n_queries, dtype=bool)
            keep[self.query_vocab.index(list(queries))] = True
            mask &= keep[self.query_index()]
        if models is not None:
            keep = np.zeros(self.n_models, dtype=bool)
            keep[self.model_vocab.index(list(models))] = True
            mask &= keep[self.model_index()]
        if not mask.any():
            raise DataError("the selection contains no responses", field="queries/models")
        resp = self.responses[mask]
        used_q = resp["query"].astype(str).unique()
        used_m = resp["model"].astype(str).unique()
        qframe = self.queries[self.queries["query"].isin(used_q)].reset_index(drop=True)
        mframe = self.models[self.models["model"].isin(used_m)].reset_index(drop=True)
        records = resp.assign(model=resp["model"].astype(str), query=resp["query"].astype(str))
        return ResponseTable(_response_frame(records, qframe, mframe), qframe, mframe, self.report)

    def label_matrix(self, query_ids: Any = None, model_ids: Any = None, value: str = "label") -> np.ndarray:
        """Dense [n_queries, n_models] float array of `value` with NaN where unobserved."""
        qv = Vocab("query", query_ids) if query_ids is not None else self.query_vocab
        mv = Vocab("model", model_ids) if model_ids is not None else self.model_vocab
        q_of_row = qv._index.get_indexer(self.responses["query"].astype(str))
        m_of_row = mv._index.get_indexer(self.responses["model"].astype(str))
        keep = (q_of_row >= 0) & (m_of_row >= 0)
        out = np.full((len(qv), len(mv)), np.nan)
        out[q_of_row[keep], m_of_row[keep]] = self.responses[value].to_numpy(dtype=np.float64)[keep]
        return out

    def __repr__(self) -> str:
        return (f"ResponseTable(models={self.n_models}, queries={self.n_queries}, "
                f"benchmarks={len(self.benchmark_vocab)}, responses={len(self.responses)})")

    # ---------------------------------------------------------------- persistence
    def to_parquet(self, path: str | Path) -> None:
        """Write the table as one long-form Parquet file, atomically.

        Temporary files of earlier writes of this same path that a killed process left behind (over an
        hour old) are removed first (`irtnet._io.atomic_path`); no other file is touched.
        """
        path = Path(path)
        q = self.query_index()
        cols = {
            "model": self.responses["model"].astype(str).to_numpy(dtype=object),
            "query": self.responses["query"].astype(str).to_numpy(dtype=object),
            "benchmark": self.queries["benchmark"].to_numpy(dtype=object)[q],
            "text": self.queries["text"].to_numpy(dtype=object)[q],
        }
        table = pa.table({
            **{k: pa.array(v, type=pa.string()).dictionary_encode() for k, v in cols.items()},
            **{c: pa.array(self.responses[c].to_numpy()) for c in _NUMERIC if c in self.responses.columns},
        })
        meta = {"format_version": FORMAT_VERSION, "report": asdict(self.report),
                "models": json.loads(self.models.to_json(orient="records"))}
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    @classmethod
    def read_parquet(cls, path: str | Path) -> ResponseTable:
        """Read a table written by `to_parquet`, refusing a damaged one.

        A table file is input like any other: its rows get the importers' checks (`check_stored_records`: ids,
        counts, label, score, cost, one row per pair) and its metadata `_table_meta`'s, each a DataError naming
        the file (and the row and field). The checks are vectorised (ids on their dictionary's categories).
        """
        path = Path(path)
        table = _read_arrow(path, pq.read_table)
        meta = _table_meta(table.schema, path)
        _check_text_columns(table.schema, str(path))
        frame = table.to_pandas()
        frame = frame.assign(**check_stored_records(frame, str(path)))
        if "text" in frame.columns:  # a blank text is no text, as the importers read it
            frame["text"] = frame["text"].mask(blank_cells(frame["text"]))
        for c in ("model", "query", "benchmark", "text"):
            if c in frame.columns:
                frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
        records = frame.assign(_row=np.arange(1, len(frame) + 1))
        models = pd.DataFrame(meta["models"]) if meta["models"] else None
        # repeated pairs were refused above, in words for a stored table; "vote" has nothing left to merge
        table = cls.from_records(records, models=models, source=str(path), repeats="vote")
        table.report = meta["report"]
        return table

    @staticmethod
    def check_file(path: str | Path) -> None:
        """Refuse what `read_parquet` would refuse before the rows: a missing file, one that is not Parquet, or
        one without irtnet's metadata of a supported version (DataError naming it); only the footer is read."""
        _table_meta(_read_arrow(Path(path), pq.read_schema), Path(path))


def _read_arrow(path: Path, reader: Callable[[Path], Any]) -> Any:
    """`reader(path)` (the Parquet table or its schema); a missing or unreadable file is a DataError."""
    if not path.exists():
        raise DataError("no such file", file=str(path))
    if path.is_dir():  # pyarrow would read it as a dataset of its Parquet files, not a table irtnet wrote
        raise DataError("is a folder, not a response table file (.parquet, as `irtnet data import` writes)",
                        file=str(path))
    try:
        return reader(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", file=str(path)) from exc


def _table_meta(schema: pa.Schema, path: Path) -> dict[str, Any]:
    """The irtnet metadata of a table file's schema, of the supported format version, with `models` (a list of
    objects) and `report` (an `ImportReport`); damaged metadata is a DataError naming the file."""
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise DataError("not an irtnet response table (no irtnet metadata); import it with "
                        "`irtnet data import long` first", file=str(path))
    try:
        meta = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise DataError(f"damaged irtnet metadata: not JSON ({exc})", file=str(path)) from exc
    if not isinstance(meta, dict):
        raise DataError(f"damaged irtnet metadata: a JSON {type(meta).__name__}, not an object", file=str(path))
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"unsupported table format version {meta.get('format_version')}", file=str(path))
    models, report = meta.get("models"), meta.get("report")
    if not isinstance(models, list) or not all(isinstance(m, dict) and "model" in m for m in models):
        raise DataError("damaged irtnet metadata: 'models' is not a list of objects with a 'model'", file=str(path))
    try:
        meta["report"] = ImportReport(**report)
    except TypeError as exc:  # not an object, or unknown keys
        raise DataError(f"damaged irtnet metadata: 'report' is not an import report ({exc})", file=str(path)) from exc
    types = {f: type(v) for f, v in asdict(ImportReport()).items()}
    for f, v in vars(meta["report"]).items():
        if not isinstance(v, types[f]) or isinstance(v, bool):
            raise DataError(f"damaged irtnet metadata: report field {f!r} is not a {types[f].__name__}", file=str(path))
    return meta


def _check_text_columns(schema: pa.Schema, file: str) -> None:
    """The id and text columns of a table file hold text (plain or dictionary-encoded), not numbers or lists."""
    for name in ("model", "query", "benchmark", "text"):
        if name not in schema.names:
            continue
        kind = schema.field(name).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise DataError(f"the column holds {kind}, not text", file=file, field=name)


_NUMERIC = ("label", "score", "n_correct", "n_trials", "cost")


def _model_frame(records: pd.DataFrame, models: pd.DataFrame | None, file: str) -> pd.DataFrame:
    present = sorted(records["model"].unique())
    if models is None:
        return pd.DataFrame({"model": present})
    require_columns(models, ["model"], file)
    models = models.assign(model=models["model"].astype(str))
    if models["model"].duplicated().any():
        raise DataError(f"model {models['model'][models['model'].duplicated()].iloc[0]!r} is listed twice",
                        file=file, field="model")
    silent = sorted(set(models["model"]) - set(present))
    if silent:
        raise DataError(f"model {silent[0]!r} has no records ({len(silent)} listed model(s) without any)",
                        file=file, field="model")
    extra = pd.DataFrame({"model": [m for m in present if m not in set(models["model"])]})
    return pd.concat([models, extra], ignore_index=True).sort_values("model").reset_index(drop=True)


def _response_frame(records: pd.DataFrame, queries: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "model": pd.Categorical(records["model"], categories=models["model"]),
        "query": pd.Categorical(records["query"], categories=queries["query"]),
        "label": records["label"].to_numpy(dtype=np.int8),
        "n_correct": records["n_correct"].to_numpy(dtype=np.float32),
        "n_trials": records["n_trials"].to_numpy(dtype=np.float32),
    })
    out["score"] = out["n_correct"] / out["n_trials"]
    if "cost" in records.columns:
        out["cost"] = records["cost"].to_numpy(dtype=np.float64)
    order = np.lexsort((out["model"].cat.codes.to_numpy(), out["query"].cat.codes.to_numpy()))
    return out.iloc[order].reset_index(drop=True)[
        ["model", "query", "label", "score", "n_correct", "n_trials"] + (["cost"] if "cost" in out else [])
    ]

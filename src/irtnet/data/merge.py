"""Merge response tables from several sources into one, keeping where every response came from.

**Where provenance lives.** A `ResponseTable` keeps per-model metadata in its `models` frame, and that
frame travels whole through `to_parquet` / `read_parquet` (as JSON in the file's key-value metadata);
extra per-query or per-response columns do not survive. So provenance is a `models` column,
`provenance`: per model, a JSON list of entries, one per (source, benchmark) the model's responses came
from, each with the keys of `FIELDS`:

    {"source": file, "tool": "lighteval", "tool_version": "0.13.0", "benchmark": "anli:r1|0",
     "task_version": "0", "task_hash": "72b7003df17fd7c3"}

(values None where the source does not say). Importers that know these facts fill the column with
`provenance_models`; for a table without it, `provenance_of` falls back to one entry per (model,
benchmark) with the table's own source and nothing else known.

**Merging** (`merge_tables`) is strict by default:

- the same benchmark under two different task versions or hashes (in different sources) is an error
  naming both sources; `versions="rename"` keeps them apart instead, as `<benchmark>@<tag>` with
  query ids `<query>@<tag>` (tag `v<task_version>`, `h<first 8 hex of task_hash>`, or both
  joined by `-`);
- the same (model, query) in two sources with different labels is an error naming both sources;
  `labels="counts"` combines every repeated pair as k of n (counts summed, label by majority vote with
  ties to correct, as `ResponseTable.from_records` does). With `labels="error"` a pair repeated with the
  same label is kept once (the first source's record) and counted in the report;
- a query with different texts in different sources (e.g. each model's chat template) keeps the first
  source's text, noted; a query with two benchmarks is an error;
- a per-response cost survives only when every source has one;
- a model's metadata (a `models` column other than provenance, e.g. `release_date`) with two different values
  in two sources is an error naming the model, the column, both values and both sources; a value missing in
  one source takes the other's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from irtnet.data.formats import LABELS, VERSIONS  # defined there for the CLI's help (no pandas); still importable here
from irtnet._io import brief
from irtnet.data.records import note_case_twins
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError

__all__ = ["FIELDS", "PROVENANCE", "check_merge_options", "entry", "merge_tables", "provenance_models",
           "provenance_of"]

PROVENANCE = "provenance"
FIELDS = ("source", "tool", "tool_version", "benchmark", "task_version", "task_hash")


# ---------------------------------------------------------------- provenance entries
def entry(source: str, benchmark: str, tool: str | None = None, tool_version: Any = None,
          task_version: Any = None, task_hash: Any = None) -> dict[str, str | None]:
    """One provenance entry (every value a string or None)."""
    values = (source, tool, tool_version, benchmark, task_version, task_hash)
    return {k: None if v is None or v == "" else str(v) for k, v in zip(FIELDS, values)}


def provenance_models(entries: Mapping[str, Iterable[Mapping[str, Any]]]) -> pd.DataFrame:
    """A `models` frame (`model`, `provenance` as a JSON list) from model -> provenance entries."""
    rows = []
    for model, items in sorted(entries.items()):
        unique = {json.dumps({k: item.get(k) for k in FIELDS}, sort_keys=True): None for item in items}
        rows.append({"model": model, PROVENANCE: json.dumps([json.loads(u) for u in unique])})
    return pd.DataFrame(rows, columns=["model", PROVENANCE])


def provenance_of(table: ResponseTable, source: str | None = None) -> list[dict[str, Any]]:
    """Flat provenance entries (with `model`) of a table; a fallback entry per (model, benchmark) without one.

    The fallback's source is `table.report.source`, else `source` (e.g. the Parquet file it was read from).
    """
    stored = _stored_entries(table, source or table.report.source)
    resp = table.responses
    bench = table.benchmarks_of(resp["query"].astype(str))
    pairs = pd.DataFrame({"model": resp["model"].astype(str).to_numpy(), "benchmark": bench}).drop_duplicates()
    fallback_source = table.report.source or source or "<unknown>"
    out: list[dict[str, Any]] = []
    for model, group in pairs.groupby("model", sort=True):
        known = stored.get(str(model), [])
        covered = {e.get("benchmark") for e in known}
        out += [{"model": str(model), **e} for e in known]
        out += [{"model": str(model), **entry(fallback_source, b)} for b in sorted(group["benchmark"])
                if b not in covered]
    return out


def _stored_entries(table: ResponseTable, file: str) -> dict[str, list[dict[str, Any]]]:
    """model -> its provenance entries, from the `models` column; a value that is not a JSON list of objects is a
    DataError naming `file` (the table's), the model and the field."""
    if PROVENANCE not in table.models.columns:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for model, raw in zip(table.models["model"].astype(str), table.models[PROVENANCE]):
        if isinstance(raw, str) and raw:
            try:
                items = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"model {model!r}: provenance is not valid JSON ({exc})",
                                file=file, field=PROVENANCE) from exc
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise DataError(f"model {model!r}: provenance is not a JSON list of objects (got {brief(raw, 60)})",
                                file=file, field=PROVENANCE)
            out[model] = [{k: item.get(k) for k in FIELDS} for item in items]
    return out


# ---------------------------------------------------------------- merge
def merge_tables(tables: Sequence[ResponseTable], sources: Sequence[str] | None = None, *,
                 versions: str = "error", labels: str = "error") -> ResponseTable:
    """Merge response tables into one (see the module docstring for the rules and options).

    `sources` names each table in messages (default: its report's source). Returns a new table whose
    `models` frame carries every source's provenance and whose report lists what was combined.
    """
    check_merge_options(versions, labels)
    if len(tables) < 2:
        raise ConfigError(f"merge needs at least two tables, got {len(tables)}")
    names = list(sources) if sources is not None else [t.report.source or f"table {i + 1}"
                                                        for i, t in enumerate(tables)]
    if len(names) != len(tables):
        raise ConfigError(f"{len(tables)} tables but {len(names)} source names")
    report = ImportReport(source="merge of " + ", ".join(names))
    entries = [provenance_of(t, n) for t, n in zip(tables, names)]
    tags = _version_tags(entries, names, rename=versions == "rename", report=report)
    records = pd.concat([_records(t, i, tags.get(i, {})) for i, t in enumerate(tables)], ignore_index=True)
    records = _drop_partial_cost(records, tables, report)
    records = _resolve_labels(records, names, labels, report)
    queries = _queries(records, names, report)
    models = _models(tables, entries, tags, names)
    merged = ResponseTable.from_records(records.drop(columns=["_src", "benchmark", "text"]), queries=queries,
                                        models=models, source=report.source, report=report)
    merged.report.notes.append(f"merged {len(tables)} tables: {merged.n_models} models x {merged.n_queries} "
                               "queries; provenance per model in the models column 'provenance'")
    return note_case_twins(merged)


def check_merge_options(versions: str, labels: str) -> None:
    """ConfigError naming the option unless `versions` is one of VERSIONS and `labels` one of LABELS (the CLI calls
    it before reading any table)."""
    if versions not in VERSIONS:
        raise ConfigError(f"versions must be one of {', '.join(VERSIONS)}, got {versions!r}")
    if labels not in LABELS:
        raise ConfigError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}")


def _signature(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return item.get("task_version"), item.get("task_hash")


def _differ(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> bool:
    """Two task signatures differ when a part both know differs (an unknown part never conflicts)."""
    return any(x is not None and y is not None and x != y for x, y in zip(a, b))


def _tag(sig: tuple[str | None, str | None]) -> str:
    """`v<version>`, `h<hash[:8]>` or both (`v1-h72b7003d`): whatever the source states."""
    version, digest = sig
    return "-".join(p for p in (f"v{version}" if version is not None else "",
                                f"h{str(digest)[:8]}" if digest is not None else "") if p)


def _version_tags(entries: list[list[dict[str, Any]]], names: list[str], *, rename: bool,
                  report: ImportReport) -> dict[int, dict[str, str]]:
    """table index -> {benchmark: tag} for benchmarks whose task versions conflict across tables."""
    seen: dict[str, list[tuple[int, tuple[str | None, str | None]]]] = {}
    bare: dict[str, set[int]] = {}  # benchmark -> tables holding it with no version or hash recorded
    for i, items in enumerate(entries):
        for item in items:
            sig = _signature(item)
            if sig == (None, None):
                bare.setdefault(item["benchmark"], set()).add(i)
            elif (i, sig) not in seen.setdefault(item["benchmark"], []):
                seen[item["benchmark"]].append((i, sig))
    tags: dict[int, dict[str, str]] = {}
    for bench, found in seen.items():
        clash = [(a, b) for a in found for b in found if a[0] < b[0] and _differ(a[1], b[1])]
        if not clash:
            continue
        (i, sig_i), (j, sig_j) = clash[0]
        if not rename:
            raise DataError(f"benchmark {bench!r} has two task versions: {_show(sig_i)} in {names[i]} and "
                            f"{_show(sig_j)} in {names[j]}; they are different tasks, so they are not merged "
                            "(re-run one, or keep them apart with --versions rename)", field="benchmark")
        for k, sig in found:
            tags.setdefault(k, {})[bench] = _tag(sig)
        untagged = sorted(bare.get(bench, set()) - {k for k, _ in found})
        report.notes.append(f"benchmark {bench!r} has several task versions; kept apart as "
                            + ", ".join(f"{bench}@{_tag(sig)} ({names[k]})" for k, sig in found)
                            + "".join(f", and {bench!r} itself ({names[k]}: no task version recorded)"
                                      for k in untagged))
    return tags


def _show(sig: tuple[str | None, str | None]) -> str:
    version, digest = sig
    return ", ".join(p for p in (f"version {version}" if version is not None else "",
                                 f"hash {digest}" if digest is not None else "") if p)


def _records(table: ResponseTable, index: int, tags: Mapping[str, str]) -> pd.DataFrame:
    resp = table.responses
    query = resp["query"].astype(str).to_numpy(dtype=object)
    bench = table.benchmarks_of(query).astype(object)
    text = np.asarray(table.texts_of(query), dtype=object)
    if tags:
        tag = pd.Series(bench).map(tags).to_numpy(dtype=object)
        renamed = pd.notna(tag)
        query = np.where(renamed, [f"{q}@{t}" for q, t in zip(query, tag)], query)
        bench = np.where(renamed, [f"{b}@{t}" for b, t in zip(bench, tag)], bench)
    out = pd.DataFrame({"model": resp["model"].astype(str).to_numpy(dtype=object), "query": query,
                        "label": resp["label"].to_numpy(dtype=np.int64),
                        "n_correct": resp["n_correct"].to_numpy(dtype=np.float64),
                        "n_trials": resp["n_trials"].to_numpy(dtype=np.float64),
                        "benchmark": bench, "text": text, "_src": index})
    if "cost" in resp.columns:
        out["cost"] = resp["cost"].to_numpy(dtype=np.float64)
    return out.assign(_row=np.arange(1, len(out) + 1))


def _drop_partial_cost(records: pd.DataFrame, tables: Sequence[ResponseTable], report: ImportReport) -> pd.DataFrame:
    if "cost" in records.columns and not all(t.has_cost for t in tables):
        report.notes.append("cost dropped: not every source has a per-response cost")
        return records.drop(columns=["cost"])
    return records


def _resolve_labels(records: pd.DataFrame, names: list[str], labels: str, report: ImportReport) -> pd.DataFrame:
    """Check (model, query) pairs present in several sources; keep once, error, or keep all (counts)."""
    dup = records.duplicated(["model", "query"], keep=False).to_numpy()
    if not dup.any():
        return records
    group = records[dup]
    if labels == "counts":
        report.notes.append(f"{group[['model', 'query']].drop_duplicates().shape[0]} (model, query) pairs are in "
                            "several sources: combined as k of n (counts summed, label by majority vote)")
        return records
    votes = group.groupby(["model", "query"], sort=False)["label"].nunique()
    if (votes > 1).any():
        model, query = votes.index[(votes > 1).to_numpy()][0]
        rows = group[(group["model"] == model) & (group["query"] == query)]
        first, other = rows.iloc[0], rows[rows["label"] != rows.iloc[0]["label"]].iloc[0]
        raise DataError(f"model {model!r}, query {query!r}: label {first['label']} in {names[first['_src']]} but "
                        f"{other['label']} in {names[other['_src']]} ({int((votes > 1).sum())} such pairs); pass "
                        "--labels counts to combine repeated pairs as k of n", field="label")
    repeated = records.duplicated(["model", "query"], keep="first").to_numpy()
    report.skipped["records of a (model, query) pair already in an earlier source, with the same label"] = int(
        repeated.sum())
    return records[~repeated].reset_index(drop=True)


def _queries(records: pd.DataFrame, names: list[str], report: ImportReport) -> pd.DataFrame:
    """One (query, benchmark, text) row per query: a benchmark clash is an error, a text clash keeps the first."""
    pairs = records[["query", "benchmark", "_src"]].drop_duplicates(["query", "benchmark"])
    clash = pairs["query"].duplicated(keep=False).to_numpy()
    if clash.any():
        rows = pairs[clash].sort_values("query")
        a, b = rows.iloc[0], rows.iloc[1]
        why = ("the two names differ only in letter case: spell the benchmark one way in both sources"
               if str(a["benchmark"]).casefold() == str(b["benchmark"]).casefold()
               else "two different items share an id")
        raise DataError(f"query {a['query']!r} is in benchmark {a['benchmark']!r} in {names[a['_src']]} but "
                        f"{b['benchmark']!r} in {names[b['_src']]}: {why}", field="query")
    texts = records[records["text"].notna()].drop_duplicates(["query", "text"])
    differing = int(texts["query"].duplicated().sum())
    if differing:
        report.notes.append(f"{differing} queries have different texts in different sources (e.g. a model's chat "
                            "template): the first source's text is kept")
    first_text = texts.drop_duplicates("query").set_index("query")["text"]
    out = records.drop_duplicates("query")[["query", "benchmark"]].reset_index(drop=True)
    text = out["query"].map(first_text)
    return out.assign(text=text.astype(object).where(text.notna(), None))


def _models(tables: Sequence[ResponseTable], entries: list[list[dict[str, Any]]],
            tags: Mapping[int, Mapping[str, str]], names: list[str]) -> pd.DataFrame:
    """The models frames of all tables with every source's provenance; two different values are an error."""
    per_model: dict[str, list[dict[str, Any]]] = {}
    for i, items in enumerate(entries):
        for item in items:
            renamed = dict(item)
            if item["benchmark"] in tags.get(i, {}):
                renamed["benchmark"] = f"{item['benchmark']}@{tags[i][item['benchmark']]}"
            per_model.setdefault(item["model"], []).append(renamed)
    meta = pd.concat([t.models.drop(columns=[PROVENANCE], errors="ignore").assign(_src=i)
                      for i, t in enumerate(tables)], ignore_index=True)
    meta = meta.assign(model=meta["model"].astype(str))
    for column in meta.columns.drop(["model", "_src"]):
        present = meta.loc[_present(meta[column]), ["model", column, "_src"]]
        known = present[~present.assign(**{column: present[column].map(_comparable)}).duplicated(["model", column])]
        clash = known[known["model"].duplicated(keep=False)]
        if len(clash):
            a, b = clash.sort_values(["model", "_src"], kind="stable").head(2).to_dict("records")  # one model's
            raise DataError(f"model {a['model']!r}: {column} is {a[column]!r} in {names[a['_src']]} but "
                            f"{b[column]!r} in {names[b['_src']]} ({clash['model'].nunique()} such models); "
                            "the tables disagree about the model, so they are not merged",
                            file=names[b["_src"]], field=column)
    meta = meta.drop(columns=["_src"]).groupby("model", sort=True).first().reset_index()
    return meta.merge(provenance_models(per_model), on="model", how="left")


def _present(values: pd.Series) -> np.ndarray:
    """Cells that hold a value (a list or an object counts as one, even an empty one; None and NaN do not)."""
    return np.array([isinstance(v, (list, dict)) or not pd.isna(v) for v in values], dtype=bool)


def _comparable(value: Any) -> Any:
    """A metadata value as a hashable key: a list or an object (e.g. a model's `tags`) as its sorted JSON, so two
    equal ones are one value and two different ones a conflict, never a crash."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value

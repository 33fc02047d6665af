"""Importers: one small function per source family, each `import_<x>(path, **options) -> ResponseTable`.

`IMPORTERS` is a plain registry (format name -> function); `import_table(format, path, **options)`
looks the format up and calls it. Each importer's docstring states its mapping and outcome rule; its
first line is the one-line description that `irtnet data formats` prints. Everything an importer
deliberately skips is counted in `table.report.skipped` (reason -> count) and explained in
`table.report.notes`; missing labels stay missing, never 0.

`parse_options(format, ["key=value", ...])` turns command-line options into the types the importer
declares (lists are comma-separated or a JSON list), so the CLI and a script call the same function.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from irtnet._io import unique_keys
from irtnet.data.formats import AUTO  # defined there, beside FORMATS (IMPORTERS' keys), for the CLI's help
from irtnet.data.importers._source import split_source
from irtnet.data.importers.cruxeval import import_cruxeval
from irtnet.data.importers.detect import detect_format
from irtnet.data.importers.eee import import_eee
from irtnet.data.importers.embedllm import import_embedllm
from irtnet.data.importers.helm import import_helm
from irtnet.data.importers.inspect_logs import import_inspect
from irtnet.data.importers.lighteval import import_lighteval
from irtnet.data.importers.livecodebench import import_livecodebench
from irtnet.data.importers.llmrouter import import_llmrouter
from irtnet.data.importers.lm_eval import import_lm_eval
from irtnet.data.importers.long import ColumnMap, column_map, import_long
from irtnet.data.importers.mmlu_pro import import_mmlu_pro
from irtnet.data.importers.open_llm_leaderboard import import_open_llm_leaderboard
from irtnet.data.importers.opencompass import import_opencompass
from irtnet.data.importers.routerbench import import_routerbench
from irtnet.data.importers.routerdc import import_routerdc
from irtnet.data.importers.swebench import import_swebench
from irtnet.data.importers.wide import import_wide
from irtnet.data.importers.zeroeval import import_zeroeval
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError

# A new format also goes into irtnet.data.formats.FORMATS (the CLI lists the formats without importing these).
IMPORTERS: dict[str, Callable[..., ResponseTable]] = {
    "lighteval": import_lighteval,
    "open-llm-leaderboard": import_open_llm_leaderboard,
    "eee": import_eee,
    "opencompass": import_opencompass,
    "embedllm": import_embedllm,
    "long": import_long,
    "wide": import_wide,
    "routerdc": import_routerdc,
    "llmrouter": import_llmrouter,
    "routerbench": import_routerbench,
    "mmlu-pro": import_mmlu_pro,
    "zeroeval": import_zeroeval,
    "cruxeval": import_cruxeval,
    "swebench": import_swebench,
    "livecodebench": import_livecodebench,
    "lm-eval": import_lm_eval,
    "inspect": import_inspect,
    "helm": import_helm,
}

__all__ = ["AUTO", "IMPORTERS", "REQUIRED", "ColumnMap", "column_map", "describe", "detect_format", "import_table",
           "options_of", "parse_options"]

REQUIRED = inspect.Parameter.empty  # the "default" of an option without one, in `options_of`
_UnionType = type(int | str)


def import_table(format: str, path: str | Path, **options: Any) -> ResponseTable:
    """Import `path` with the importer registered as `format` (`"auto"`: the one `detect_format` names)."""
    if format == AUTO:
        detected = detect_format(path)
        try:
            table = import_table(detected, path, **options)
        except DataError as exc:  # say which reader failed: the user named none
            raise DataError(f"{exc.reason} (read as {detected}, the format detected from the files; name the "
                            "format to read them as another)", file=exc.file, row=exc.row, field=exc.field,
                            line=exc.line) from exc
        table.report.notes.insert(0, f"format detected from the files: {detected}")
        return table
    importer = _lookup(format)
    _check_options(format, options)
    table = importer(path, **options)
    _note_shared_texts(table)
    return table


def _note_shared_texts(table: ResponseTable) -> None:
    """Note query ids that share their text with another id: a text-only model cannot tell them apart, and a
    split by query may put one in training and its twin in test."""
    texts = table.queries["text"].dropna()
    shared = texts[texts.duplicated(keep=False)]
    if len(shared):
        first = table.queries.loc[shared.index[shared == shared.iloc[0]], "query"].tolist()
        table.report.notes.append(
            f"{len(shared)} queries share their text with another query id ({shared.nunique()} distinct texts; e.g. "
            f"{', '.join(map(repr, first[:3]))}): a model that reads only the text cannot tell them apart, and a split "
            "by query may put one in training and its twin in test")


def check_import(format: str, path: str | Path, options: Mapping[str, Any]) -> None:
    """Refuse, before a record is read, what `import_table` would: an unknown format or an option it does not
    take (ConfigError; a detected format's options are checked once it is known), a source that does not exist
    (DataError naming it)."""
    if format != AUTO:
        _check_options(format, options)
    if not split_source(path)[0].exists():
        raise DataError("no such file or folder", file=str(path))


def _check_options(format: str, options: Mapping[str, Any]) -> None:
    accepted = options_of(format)
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ConfigError(f"format {format!r} takes no option {unknown[0]!r} "
                          f"(its options: {', '.join(accepted) or 'none'})")


def options_of(format: str) -> dict[str, Any]:
    """Option name -> default value of a format (for `long`: `mapping` plus every `ColumnMap` field)."""
    params = list(inspect.signature(_lookup(format)).parameters.values())[1:]
    out = {p.name: p.default for p in params if p.kind is not p.VAR_KEYWORD}
    if format == "long":
        out.update({name: f.get_default(call_default_factory=True) for name, f in ColumnMap.model_fields.items()})
    return out


def parse_options(format: str, pairs: Iterable[str]) -> dict[str, Any]:
    """`["key=value", ...]` -> {key: value typed as the importer declares}; ConfigError on a bad pair."""
    types = _option_types(format)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"option {pair!r} is not key=value (e.g. --option splits=train,test)")
        if key not in types:
            raise ConfigError(f"format {format!r} takes no option {key!r} "
                              f"(its options: {', '.join(types) or 'none'})")
        out[key] = _coerce(key, types[key], text)
    return out


def describe(format: str) -> str:
    """The one-line description of a format (its importer's docstring, first line)."""
    return (inspect.getdoc(_lookup(format)) or "").splitlines()[0]


def _lookup(format: str) -> Callable[..., ResponseTable]:
    if format not in IMPORTERS:
        raise ConfigError(f"unknown format {format!r}; known formats: {', '.join(IMPORTERS)} (or {AUTO}: detect it)")
    return IMPORTERS[format]


def _option_types(format: str) -> dict[str, Any]:
    hints = typing.get_type_hints(_lookup(format))
    types = {name: hints.get(name, str) for name in options_of(format)}
    if format == "long":
        types.update({name: f.annotation for name, f in ColumnMap.model_fields.items()})
    return types


def _coerce(key: str, annotation: Any, text: str) -> Any:
    """One option string as `annotation`: sequences from "a,b" or a JSON list, whole numbers as int; `none` (or
    `null`) clears an optional one, and an empty value for it is an error, never read as "not given"."""
    value: Any = text
    try:
        if _accepts(annotation, (list, tuple)):
            value = json.loads(text, object_pairs_hook=unique_keys(None)) if text.lstrip().startswith("[") else [
                part.strip() for part in text.split(",") if part.strip()]
        elif _accepts(annotation, (int,)) and re.fullmatch(r"[+-]?\d+", text.strip()):
            value = int(text)
        elif _accepts(annotation, (type(None),)) and text.strip().lower() in ("none", "null"):
            value = None
        elif _accepts(annotation, (type(None),)) and not text.strip():
            raise ConfigError(f"option {key}= is empty: give a value, or {key}=none to leave it unset")
        return TypeAdapter(annotation).validate_python(value)
    except (ValidationError, json.JSONDecodeError, DataError) as exc:  # DataError: a key given twice
        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else getattr(exc, "reason", str(exc))
        raise ConfigError(f"option {key}={text!r}: {why}") from None


def _accepts(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether `annotation` (possibly a union) includes one of `kinds` (list[str] counts as list)."""
    is_union = typing.get_origin(annotation) in (typing.Union, _UnionType)
    members = typing.get_args(annotation) if is_union else (annotation,)
    return any((typing.get_origin(m) or m) in kinds for m in members)


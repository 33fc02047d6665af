"""Importers: one small function per source family, each `import_<x>(path, **options) -> ResponseTable`.

`IMPORTERS` is a plain registry (format name -> function); `import_table(format, path, **options)`
looks the format up and calls it. Each importer's docstring states its mapping and outcome rule; its
first line is the one-line description that `irtnet data formats` prints. Everything an importer
deliberately skips is counted in `table.report.skipped` (reason -> count) and explained in
`table.report.notes`; missing labels stay missing, never 0.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irtnet.data.importers.cruxeval import import_cruxeval
from irtnet.data.importers.embedllm import import_embedllm
from irtnet.data.importers.livecodebench import import_livecodebench
from irtnet.data.importers.llmrouter import import_llmrouter
from irtnet.data.importers.long import ColumnMap, column_map, import_long
from irtnet.data.importers.mmlu_pro import import_mmlu_pro
from irtnet.data.importers.routerbench import import_routerbench
from irtnet.data.importers.routerdc import import_routerdc
from irtnet.data.importers.swebench import import_swebench
from irtnet.data.importers.wide import import_wide
from irtnet.data.importers.zeroeval import import_zeroeval
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError

IMPORTERS: dict[str, Callable[..., ResponseTable]] = {
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
}

__all__ = ["IMPORTERS", "ColumnMap", "column_map", "describe", "import_table", "options_of"]


def import_table(format: str, path: str | Path, **options: Any) -> ResponseTable:
    """Import `path` with the importer registered as `format`, passing `options` to it."""
    importer = _lookup(format)
    accepted = options_of(format)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(importer).parameters.values())
    unknown = [k for k in options if k not in accepted]
    if unknown and not takes_any:
        raise ConfigError(f"format {format!r} takes no option {unknown[0]!r} "
                          f"(its options: {', '.join(accepted) or 'none'})")
    return importer(path, **options)


def options_of(format: str) -> list[str]:
    """The option names a format accepts (for `long`, also every `ColumnMap` field)."""
    params = list(inspect.signature(_lookup(format)).parameters.values())[1:]
    names = [p.name for p in params if p.kind is not p.VAR_KEYWORD]
    return names + list(ColumnMap.model_fields) if format == "long" else names


def describe(format: str) -> str:
    """The one-line description of a format (its importer's docstring, first line)."""
    return (inspect.getdoc(_lookup(format)) or "").splitlines()[0]


def _lookup(format: str) -> Callable[..., ResponseTable]:
    if format not in IMPORTERS:
        raise ConfigError(f"unknown format {format!r}; known formats: {', '.join(IMPORTERS)}")
    return IMPORTERS[format]

"""A comparison's data (`irtnet.api.compare`): its datasets, the splits every model shares, and their records.

- datasets: `load_dataset` reads a `DatasetSpec`'s table and what identifies it (the record in datasets/);
  `check_source` refuses an unreadable source before anything is computed.
- splits: `draws` lists the (seed, fold) of every split of a setting, `split_spec` what defines one (part of
  every cell key), `draw_split` draws it with its record for splits/ (`split_file` names that file), and
  `make_split_data` cuts a prepared `Dataset` into the `SplitData` one cell is fitted and scored on.
- records: `remove_stale_records` removes the datasets/ and splits/ records of an earlier run that a spec no
  longer gives.

The cells, their cache and the loop over them are `irtnet.api.compare`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.api.compare_spec import CompareSpec, DatasetSpec, Setting, settings_of
from irtnet.api.data import make_split, split_datasets
from irtnet.config import DataConfig
from irtnet.data.dataset import Dataset
from irtnet.data.importers import check_import
from irtnet.data.pair_split import split_by_pair
from irtnet.data.provenance import file_sha256, imported_table, provenance, table_fingerprint
from irtnet.data.splits import QuerySplit, check_training_part, kfold_query_splits, pair_subset
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError


# ------------------------------------------------------------------------------------------ datasets
def load_dataset(ds: DatasetSpec) -> tuple[ResponseTable, dict[str, Any]]:
    """The table of a dataset spec and what identifies it: fingerprint, sizes, source provenance."""
    if ds.table is not None:
        table = ResponseTable.read_parquet(ds.table)
        origin = table.report.source if table.report.source and Path(table.report.source).exists() else ds.table
        source = {"table": ds.table, "resolved_path": str(Path(ds.table).resolve()),
                  "table_sha256": file_sha256(ds.table)}
    else:
        table, origin = imported_table(ds.format, ds.path, ds.options), ds.path
        source = {"format": ds.format, "path": ds.path, "resolved_path": str(Path(ds.path).resolve()),
                  "options": ds.options}
    info = {"name": ds.name, **source, "routing_mode": ds.routing_mode, "fingerprint": table_fingerprint(table),
            "n_models": table.n_models, "n_queries": table.n_queries, "n_pairs": len(table.responses),
            "has_text": table.has_text, "benchmarks": table.benchmark_vocab.to_list(), "provenance": provenance(origin)}
    return table, info


def check_source(ds: DatasetSpec) -> None:
    """Refuse, before anything is computed, a dataset whose source cannot be read (`ResponseTable.check_file`
    for a `table`, `check_import` for an import): ConfigError naming the dataset."""
    try:
        if ds.table is not None:
            ResponseTable.check_file(ds.table)
        else:
            check_import(str(ds.format), str(ds.path), ds.options)
    except (ConfigError, DataError) as exc:
        raise ConfigError(f"dataset {ds.name!r}: {exc}") from None


# ------------------------------------------------------------------------------------------ splits
@dataclass
class SplitData:
    """One dataset, setting and seed: train/val/test, the split record, the routing mode to use."""

    train: Dataset
    val: Dataset | None
    test: Dataset
    record: dict[str, Any]
    routing_mode: str


def routing_mode(spec: CompareSpec, dataset: DatasetSpec, setting: Setting) -> str:
    """'observed' in the pair setting (a test query has a few labelled models only); else the dataset's
    mode or the comparison's."""
    return "observed" if setting == "pair" else dataset.routing_mode or spec.routing_mode


def split_spec(spec: CompareSpec, setting: Setting, seed: int, fold: int | None = None) -> dict[str, Any]:
    """What defines a split (part of every cell key)."""
    if setting == "pair":
        return {"kind": "pair", "fractions": list(spec.fractions), "seed": seed}
    if fold is not None:
        return {"kind": "kfold", "k": spec.folds, "fold": fold, "val_fraction": spec.fractions[1], "seed": seed,
                "stratify": spec.stratify}
    return {"kind": "query", "fractions": list(spec.fractions), "seed": seed, "stratify": spec.stratify}


def draws(spec: CompareSpec, setting: Setting) -> list[tuple[int, int | None]]:
    """(seed, fold) of every split of a setting: K folds per seed under cross-fitting (query settings)."""
    if spec.folds and setting != "pair":
        return [(seed, fold) for seed in spec.seeds for fold in range(spec.folds)]
    return [(seed, None) for seed in spec.seeds]


#: One drawn split: the query split (or, in the pair setting, each response row's part: 0 train, 1 validation,
#: 2 test) and its record for splits/.
Drawn = tuple[QuerySplit | np.ndarray, dict[str, Any]]


def draw_split(table: ResponseTable, setting: Setting, seed: int, spec: CompareSpec, fold: int | None = None) -> Drawn:
    """The split of `table` for one setting, seed and fold, and its record: the ids depend on the table, seed,
    fractions and fold only (never on an encoder), so the record is written whether or not a cell is computed."""
    if fold is not None:
        split = kfold_query_splits(table, spec.folds, seed, spec.fractions[1], spec.stratify)[fold]
    elif setting == "pair":
        part = split_by_pair(table, spec.fractions, seed)
        counts = {name: int((part == i).sum()) for i, name in enumerate(("train", "val", "test"))}
        return part, {**split_spec(spec, setting, seed), "pairs": counts}
    else:
        split = make_split(table, DataConfig(table="-", fractions=spec.fractions, seed=seed, stratify=spec.stratify))
    return split, {**split_spec(spec, setting, seed, fold), "train": split.train, "val": split.val, "test": split.test}


def make_split_data(data: Dataset, setting: Setting, seed: int, spec: CompareSpec, mode: str,
                    fold: int | None = None, drawn: Drawn | None = None) -> SplitData:
    """The split of `data` for one setting, seed and fold: the same for every model of the comparison (`drawn`:
    `draw_split` of `data.table`, where it is drawn already)."""
    split, record = drawn if drawn is not None else draw_split(data.table, setting, seed, spec, fold)
    if isinstance(split, np.ndarray):
        train, val, test = (pair_subset(data, split == i) for i in range(3))
        check_training_part(train.table, validation=None if val is None else val.table, test=test.table)
        return SplitData(train, val, test, record, mode)
    train, val, test = split_datasets(data, split)
    return SplitData(train, val, test, record, mode)


# ------------------------------------------------------------------------------------------ records
#: The names of the files `run_comparison` writes in datasets/ and splits/ (`DatasetSpec.name` is a `FileName`).
_DATASET_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.json")
_SPLIT_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*-(query|pair)-seed-?[0-9]+(-fold[0-9]+)?\.json")


def remove_stale_records(spec: CompareSpec, out: Path) -> None:
    """Remove the datasets/ and splits/ records of an earlier run into `out` that `spec` gives no more (a dataset
    renamed or dropped, fewer seeds or folds, a setting no entry has now), so that neither folder shows an old
    record beside the new ones. Only files of the names these folders' writers give are touched. Every split
    record the spec still names is this run's: one is written for every draw of the spec (`draw_split`), whether its
    cells are computed or read from the cache, and removed where the draw fails (`Comparison.dataset_cells`)."""
    keep = {"datasets": {f"{ds.name}.json" for ds in spec.datasets},
            "splits": {split_file(ds.name, setting, seed, fold) for ds in spec.datasets
                       for setting in ("query", "pair") if any(setting in settings_of(m) for m in spec.models)
                       for seed, fold in draws(spec, setting)}}
    for folder, pattern in (("datasets", _DATASET_FILE), ("splits", _SPLIT_FILE)):
        for old in (out / folder).iterdir() if (out / folder).is_dir() else ():
            if old.name not in keep[folder] and pattern.fullmatch(old.name) and old.is_file():
                old.unlink()


def split_file(dataset: str, setting: str, seed: int, fold: int | None) -> str:
    """The name of the split record of one draw in splits/."""
    return f"{dataset}-{setting}-seed{seed}" + ("" if fold is None else f"-fold{fold}") + ".json"

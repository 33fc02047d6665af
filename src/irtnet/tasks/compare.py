"""Compare predictors over datasets and seeds: identical splits, the one evaluator, cached cells.

A comparison is a `CompareSpec`: datasets (a response-table Parquet file, or an import spec: format,
path and options, so any format `irtnet.data.importers` knows runs without code changes), model entries
(a label, a registry name and its parameters; variants of one model are entries with other parameters)
and seeds. For each dataset and seed one split is drawn and shared by every model. Each (dataset,
setting, seed, model) is a *cell*: fitted on the training part (validation part for early stopping),
scored on the test part by `irtnet.tasks.evaluate.evaluate`, and stored as `<cells>/<key>.json`
(`cells` defaults to OUT/cells; runs that name the same folder share their results).
The key hashes all a result depends on: the table's content fingerprint (not its name), the split
kind, fractions and seed, the registry name with its fully resolved parameters (IrtNet presets are
expanded, so a changed preset is a new key), the encoder, the routing mode and the package version. A
rerun computes only the cells it lacks. A cell that raises is reported, with its error, in the table
and never cached, so it is tried again on the next run; one failing variant never stops the others.

Two settings:

- "query": split by query with `api.make_split` (test queries unseen in training). The main table.
- "pair": split by (model, query) pairs; every test query keeps training pairs of other models. Item-seen
  predictors (`item_seen = True`: free per-item parameters, they cannot score an unseen query) are
  scored here only; in the query table they read "n/a". Other entries join the pair table when their
  `settings` list it. Routing there picks among each test query's labelled models (mode "observed").

Routing mode "complete" (the default) scores only queries with every model labelled; a dataset whose
benchmarks have different model sets (ZeroEval pooled) has none, so its spec sets "observed".

Everything is written under the run directory OUT: datasets/<name>.json (fingerprint, sizes, source
files' sha256 and SOURCE.md commit), splits/, cells/ and results.json (spec, run record, every cell).
`irtnet.reporting.results` turns the cells into the tables (mean and std over seeds).
"""

from __future__ import annotations

import inspect
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import irtnet
from irtnet import api
from irtnet._io import write_json
from irtnet.config import DataConfig, deep_update
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import DEFAULT_ENCODER
from irtnet.data.provenance import file_sha256, imported_table, provenance, sha256_text, table_fingerprint
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError
from irtnet.predictors import REGISTRY, IrtNet
from irtnet.tasks.evaluate import evaluate

Setting = Literal["query", "pair"]


# --------------------------------------------------------------------------------------------- spec
class DatasetSpec(BaseModel):
    """A Parquet table (`table`) or an import spec (`format`, `path`, `options`) under a `name`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    table: str | None = None
    format: str | None = None
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    routing_mode: Literal["complete", "observed"] | None = Field(
        None, description="override of the comparison's routing mode (e.g. 'observed' where no query has "
                          "every model labelled)")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.table is None) == (self.format is None or self.path is None):
            raise ValueError(f"dataset {self.name!r}: give either `table` or both `format` and `path`")
        return self


class ModelSpec(BaseModel):
    """One row of the comparison: `name` (its label), registry `model` (default: `name`), `params`.

    For IrtNet, `preset` names the base architecture and `params.config` (a dict) overrides parts of it;
    `params.train` overrides training settings (seed, threads and progress are set per run).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    model: str | None = None
    preset: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    encoder: str | None = Field(None, description="query encoder (default: the comparison's)")
    settings: list[Setting] | None = Field(None, description="default: pair if item-seen, else query")

    @property
    def registry_name(self) -> str:
        return self.model or self.name


class CompareSpec(BaseModel):
    """Datasets x models x seeds, with the split and evaluation settings shared by every cell."""

    model_config = ConfigDict(extra="forbid")

    title: str = "comparison"
    description: str = ""
    out: str | None = None
    cells: str | None = Field(None, description="folder of cached cells (default OUT/cells); runs sharing it "
                                                "share results")
    datasets: list[DatasetSpec]
    models: list[ModelSpec]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    stratify: bool = True
    encoder: str = DEFAULT_ENCODER
    routing_mode: Literal["complete", "observed"] = "complete"
    threads: int = Field(1, ge=1)
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="registry name -> params merged over every entry of that model")

    @model_validator(mode="after")
    def _check(self) -> CompareSpec:
        for kind, names in (("dataset", [d.name for d in self.datasets]), ("model", [m.name for m in self.models])):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{kind} names must be unique; repeated: {sorted(dup)}")
        if not self.datasets or not self.models or not self.seeds:
            raise ValueError("a comparison needs at least one dataset, one model and one seed")
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise ValueError(f"fractions must be non-negative and sum to 1, got {self.fractions}")
        return self


def load_spec(raw: dict[str, Any]) -> CompareSpec:
    """A validated spec from a dict (TOML/JSON file content merged with flags)."""
    try:
        return CompareSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid comparison spec: {_brief(exc)}") from exc


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors())


def settings_of(entry: ModelSpec) -> list[Setting]:
    if entry.settings is not None:
        return list(entry.settings)
    return ["pair"] if getattr(REGISTRY.get(entry.registry_name), "item_seen", False) else ["query"]


# --------------------------------------------------------------------------------------- parameters
def resolve_params(entry: ModelSpec, spec: CompareSpec, seed: int) -> dict[str, Any]:
    """The complete constructor parameters of `entry` for one seed (what the cache key hashes).

    Defaults are filled in from the constructor's signature; a `seed`/`random_state` parameter
    follows the run seed unless given. IrtNet's preset is expanded into a full config.
    """
    name = entry.registry_name
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
    cls = REGISTRY[name]
    params = deep_update(entry.params, spec.overrides.get(name, {}))
    if issubclass(cls, IrtNet):
        return _irtnet_params(entry, params, spec, seed)
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.name in ("seed", "random_state") and p.name not in params:
            params[p.name] = seed
        elif p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) \
                and p.name not in params:
            params[p.name] = p.default
    if entry.preset is not None:
        raise ConfigError(f"{entry.name}: `preset` is an IrtNet option; {name!r} takes params only")
    return params


def _irtnet_params(entry: ModelSpec, params: dict[str, Any], spec: CompareSpec, seed: int) -> dict[str, Any]:
    from irtnet.predictors.irtnet import resolve_config
    from irtnet.training.trainer import TrainConfig

    config = params.get("config")
    if isinstance(config, str) and entry.preset is not None:
        raise ConfigError(f"{entry.name}: give the preset once (`preset` or a string `params.config`)")
    preset = config if isinstance(config, str) else entry.preset or "paper"
    override = config if isinstance(config, dict) else {}
    base = resolve_config(preset)
    try:
        full = type(base).model_validate(deep_update(base.model_dump(), override))
        train = TrainConfig.model_validate({"seed": seed, "threads": spec.threads, **params.get("train", {}),
                                            "progress": False})
    except ValidationError as exc:
        raise ConfigError(f"{entry.name}: invalid IrtNet parameters: {_brief(exc)}") from exc
    extra = sorted(set(params) - {"config", "train"})
    if extra:
        raise ConfigError(f"{entry.name}: IrtNet takes `config` and `train`, not {extra}")
    return {"config": full.model_dump(), "train": train.model_dump()}


def cell_key(fingerprint: str, split: dict[str, Any], model: str, params: dict[str, Any], encoder: str,
             routing_mode: str) -> str:
    """The cache key of one cell: 24 hex digits of sha256 over everything its result depends on."""
    payload = {"table": fingerprint, "split": split, "model": model, "params": params, "encoder": encoder,
               "routing_mode": routing_mode, "version": irtnet.__version__}
    return sha256_text(json.dumps(payload, sort_keys=True, default=_jsonable))[:24]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return repr(obj)


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


# ------------------------------------------------------------------------------------------ splits
def split_by_pair(table: ResponseTable, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """Part of each response row: 0 train, 1 validation, 2 test, drawn over (model, query) pairs.

    Pairs are ordered by (query, model) id before shuffling, so the split depends on the seed only. A
    query left without any training pair has all its pairs moved to training (it could not be scored).
    """
    resp = table.responses
    order = np.lexsort((resp["model"].astype(str).to_numpy(), resp["query"].astype(str).to_numpy()))
    perm = order[np.random.default_rng(seed).permutation(len(order))]
    n_train, n_val = int(round(fractions[0] * len(perm))), int(round(fractions[1] * len(perm)))
    part = np.full(len(perm), 2, dtype=np.int8)
    part[perm[:n_train]], part[perm[n_train:n_train + n_val]] = 0, 1
    q = table.query_index()
    has_train = np.zeros(table.n_queries, dtype=bool)
    has_train[q[part == 0]] = True
    part[~has_train[q]] = 0
    return part


def pair_subset(data: Dataset, rows: np.ndarray) -> Dataset | None:
    """The dataset of the response rows `rows` (bool [n_responses]); None when it is empty."""
    if not rows.any():
        return None
    resp = data.table.responses[rows]
    records = resp.assign(model=resp["model"].astype(str).astype(object),
                          query=resp["query"].astype(str).astype(object)).drop(columns="score")
    queries = data.table.queries[data.table.queries["query"].isin(set(records["query"]))]
    models = data.table.models[data.table.models["model"].isin(set(records["model"]))]
    table = ResponseTable.from_records(records, queries=queries, models=models, source="<pair split>",
                                       repeats="error")
    return Dataset(table, data.queries.take(data.table.query_vocab.index(table.query_vocab.ids)))


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


def split_spec(spec: CompareSpec, setting: Setting, seed: int) -> dict[str, Any]:
    """What defines a split (part of every cell key)."""
    if setting == "pair":
        return {"kind": "pair", "fractions": list(spec.fractions), "seed": seed}
    return {"kind": "query", "fractions": list(spec.fractions), "seed": seed, "stratify": spec.stratify}


def make_split_data(data: Dataset, setting: Setting, seed: int, spec: CompareSpec, mode: str) -> SplitData:
    """The split of `data` for one setting and seed: the same for every model of the comparison."""
    if setting == "pair":
        part = split_by_pair(data.table, spec.fractions, seed)
        counts = {name: int((part == i).sum()) for i, name in enumerate(("train", "val", "test"))}
        return SplitData(pair_subset(data, part == 0), pair_subset(data, part == 1), pair_subset(data, part == 2),
                         {**split_spec(spec, setting, seed), "pairs": counts}, mode)
    split = api.make_split(data.table, DataConfig(table="-", fractions=spec.fractions, seed=seed,
                                                  stratify=spec.stratify))
    train, val, test = api.split_datasets(data, split)
    record = {**split_spec(spec, setting, seed), "train": split.train, "val": split.val, "test": split.test}
    return SplitData(train, val, test, record, mode)


# ------------------------------------------------------------------------------------------- cells
@dataclass
class Cell:
    """One (dataset, setting, seed, model): status "ok", "error", "n/a" (item-seen in the query
    setting) or "pending" (left out by a filter and not in the cache)."""

    dataset: str
    setting: str
    seed: int
    label: str
    model: str
    status: str = "error"
    key: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    fit_seconds: float = 0.0
    eval_seconds: float = 0.0
    cached: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_cell(entry: ModelSpec, params: dict[str, Any], split: SplitData) -> tuple[dict[str, Any], float, float]:
    """Fit `entry` on the split's training part, evaluate it on the test part: (result, fit s, eval s)."""
    predictor = api.build_predictor(entry.registry_name, params)
    start = time.perf_counter()
    predictor.fit(split.train, split.val)
    fitted = time.perf_counter()
    result = evaluate(predictor, split.train, split.test, split.routing_mode)
    trained = getattr(predictor, "result_", None)  # trainers' history: epochs run and the one kept
    if trained is not None and getattr(trained, "history", None):
        result.info.update(epochs_run=len(trained.history), best_epoch=getattr(trained, "best_epoch", None))
    return result.to_dict(), fitted - start, time.perf_counter() - fitted


@dataclass
class Comparison:
    """Every cell of a run and the datasets' identities (`irtnet.reporting.results` makes the tables)."""

    spec: CompareSpec
    datasets: dict[str, dict[str, Any]]
    cells: list[Cell]
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.model_dump(), "version": irtnet.__version__, "run": self.run,
                "datasets": self.datasets, "cells": [c.to_dict() for c in self.cells]}


@dataclass
class _Runner:
    """The loop over datasets, settings, seeds and models, with the cell cache under `out/cells`."""

    spec: CompareSpec
    out: Path
    force: bool = False
    only_datasets: set[str] | None = None
    only_models: set[str] | None = None
    log: Callable[[Cell], None] | None = None
    progress: bool = False

    @property
    def cells_dir(self) -> Path:
        return Path(self.spec.cells) if self.spec.cells else self.out / "cells"

    def dataset_cells(self, ds: DatasetSpec, table: ResponseTable, fingerprint: str) -> list[Cell]:
        prepared: dict[str, Dataset] = {}
        cells = []
        for setting in ("query", "pair"):
            entries = [m for m in self.spec.models if setting in settings_of(m)]
            if not entries:
                continue
            for seed in self.spec.seeds:
                splits: dict[str, SplitData] = {}

                def split_for(encoder: str, setting: Setting = setting, seed: int = seed) -> SplitData:
                    if encoder not in prepared:
                        prepared[encoder] = api.prepare(table, encoder, progress=self.progress)
                    if encoder not in splits:  # the same ids for every encoder; only the vectors differ
                        splits[encoder] = make_split_data(prepared[encoder], setting, seed, self.spec,
                                                          routing_mode(self.spec, ds, setting))
                        path = self.out / "splits" / f"{ds.name}-{setting}-seed{seed}.json"
                        write_json(path, splits[encoder].record)
                    return splits[encoder]

                for entry in self.spec.models:
                    if entry in entries:
                        cells.append(self.cell(ds, setting, seed, entry, fingerprint, split_for))
                    elif setting == "query":
                        cells.append(Cell(ds.name, setting, seed, entry.name, entry.registry_name, "n/a",
                                          error="item-seen: scored in the pair table only"))
                    if self.log and entry in entries:
                        self.log(cells[-1])
        return cells

    def cell(self, ds: DatasetSpec, setting: Setting, seed: int, entry: ModelSpec, fingerprint: str,
             split_for: Callable[[str], SplitData]) -> Cell:
        cell = Cell(ds.name, setting, seed, entry.name, entry.registry_name)
        encoder = entry.encoder or self.spec.encoder
        try:
            cell.params = resolve_params(entry, self.spec, seed)
            record = split_spec(self.spec, setting, seed)
            mode = routing_mode(self.spec, ds, setting)
            cell.key = cell_key(fingerprint, record, entry.registry_name, cell.params, encoder, mode)
            path = self.cells_dir / f"{cell.key}.json"
            if path.exists() and not self.force:
                stored = json.loads(path.read_text())
                cell.result, cell.fit_seconds, cell.eval_seconds = (stored["result"], stored["fit_seconds"],
                                                                    stored["eval_seconds"])
                cell.status, cell.cached = "ok", True
            elif (self.only_datasets is None or ds.name in self.only_datasets) and \
                    (self.only_models is None or entry.name in self.only_models):
                cell.result, cell.fit_seconds, cell.eval_seconds = run_cell(entry, cell.params, split_for(encoder))
                cell.status = "ok"
                write_json(path, {**cell.to_dict(), "encoder": encoder, "split": record,
                                  "version": irtnet.__version__})
            else:
                cell.status, cell.error = "pending", "not run yet (left out by a filter)"
        except Exception as exc:  # noqa: BLE001 - one failing variant must not stop the comparison
            cell.status, cell.error = "error", f"{type(exc).__name__}: {exc}"
            cell.result = {"traceback": traceback.format_exc(limit=-3)}
        return cell


def run_comparison(spec: CompareSpec, out: str | Path, *, force: bool = False,
                   only_datasets: set[str] | None = None, only_models: set[str] | None = None,
                   log: Callable[[Cell], None] | None = None, progress: bool = False,
                   meta: dict[str, Any] | None = None) -> Comparison:
    """Run every cell of `spec` that `out/cells` lacks (all with `force`); write datasets/, splits/,
    cells/ and results.json under `out`, and return the comparison.

    `only_datasets` / `only_models` (names) restrict what is computed; cells outside them are still read
    from the cache, and shown as pending where absent, so results.json always covers the whole spec.
    `meta` (e.g. the command line) is stored under "run" in results.json.
    """
    import torch

    out, start = Path(out), time.perf_counter()
    torch.set_num_threads(spec.threads)
    runner = _Runner(spec, out, force, only_datasets, only_models, log, progress)
    cells, infos = [], {}
    for ds in spec.datasets:
        table, infos[ds.name] = load_dataset(ds)
        write_json(out / "datasets" / f"{ds.name}.json", infos[ds.name])
        cells += runner.dataset_cells(ds, table, infos[ds.name]["fingerprint"])
    counts = {s: sum(c.status == s for c in cells) for s in ("ok", "error", "n/a", "pending")}
    run = {**(meta or {}), "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": time.perf_counter() - start,
           "cells": counts, "computed": sum(c.status == "ok" and not c.cached for c in cells),
           "from_cache": sum(c.cached for c in cells)}
    result = Comparison(spec, infos, cells, run)
    write_json(out / "results.json", result.to_dict())
    return result

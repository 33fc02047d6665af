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
expanded, so a changed preset is a new key), the encoder, the routing mode and a fingerprint of the package's source code. A
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

What lives where: this module holds the cells (`Cell`, `run_cell`, the cell cache), the loop over them and
`run_comparison`; `irtnet.api.compare_data` the datasets, the splits every model shares and the datasets/ and
splits/ records; `irtnet.api.compare_spec` the spec, its checks and the cell key; `irtnet.api.compare_stats`
the paired statistics.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import atomic_path, clear_stale_temps, json_text, write_json, write_together
from irtnet._version import __version__, computing_parts, source_fingerprint
from irtnet.api.compare_data import (
    Drawn,
    SplitData,
    check_source,
    draw_split,
    draws,
    load_dataset,
    make_split_data,
    remove_stale_records,
    routing_mode,
    split_file,
    split_spec,
)
from irtnet.api.compare_spec import (
    CompareEntry,
    CompareSpec,
    DatasetSpec,
    Setting,
    cell_key,
    check_encoders,
    check_entry,
    check_folders,
    check_settings,
    entry_spec,
    load_spec,
    reads_text,
    settings_of,
)
from irtnet.api.compare_stats import has_predictions, paired_tables
from irtnet.api.data import prepare
from irtnet.data.dataset import Dataset
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError
from irtnet.predictors.spec import ModelSpec, build_predictor
from irtnet.tasks.evaluate import evaluate, score_matrix, stored_result
from irtnet.training.threads import torch_threads

__all__ = ["CompareEntry", "CompareSpec", "Comparison", "DatasetSpec", "load_spec", "run_comparison"]


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
    fold: int | None = None
    key: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    fit_seconds: float = 0.0
    eval_seconds: float = 0.0
    cached: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_cell(model: ModelSpec, split: SplitData, hidden: bool = False) -> tuple[dict[str, Any], float, float, Any]:
    """Fit `model` on the split's training part and evaluate it on the test part: (results, fit s, eval s,
    predictions). With `hidden`, it is also evaluated with the test queries' benchmark names hidden (the text
    only setting): results {"known": ..., "text": ...}; predictions {setting: [Q, M] scores}."""
    predictor = build_predictor(model)
    start = time.perf_counter()
    predictor.fit(split.train, split.val)
    fitted = time.perf_counter()
    tests = {"known": split.test}
    if hidden:
        tests["text"] = Dataset(split.test.table, split.test.queries.without_groups())
    results, scores = {}, {}
    for setting, test in tests.items():
        scores[setting] = score_matrix(predictor, test)
        result = evaluate(predictor, split.train, test, split.routing_mode, scores=scores[setting])
        trained = getattr(predictor, "result_", None)  # trainers' history: epochs run and the one kept
        if trained is not None and getattr(trained, "history", None):
            result.info.update(epochs_run=len(trained.history), best_epoch=getattr(trained, "best_epoch", None))
        if hasattr(predictor, "answer_paths"):
            paths = predictor.answer_paths(test.queries)
            result.info["paths"] = {p: paths.count(p) for p in sorted(set(paths))}
        results[setting] = result.to_dict()
    return results, fitted - start, time.perf_counter() - fitted, scores


def read_cached_cell(path: Path, settings: list[str]) -> dict[str, Any] | None:
    """A cached cell's document, or None where there is none or it cannot be used (unreadable JSON, a missing
    setting's results or timings, no readable predictions file beside it, `compare_stats.has_predictions`): such
    a cell is computed again and overwritten.
    A result without a figure or size the tables read (`_usable_result`: a damaged or hand-edited file) is no cell
    either: served from the cache, it was written into results.json, which `irtnet results` then refused as damaged
    on every rerun. Its results' figures are as a fresh cell's: a null (how a NaN is written) is NaN again
    (`stored_result`); cells written before that, with bare NaN tokens, read as they are."""
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        usable = (all(_usable_result(stored["results"][k]) for k in settings)
                  and all(_number(stored[k], null=False) for k in ("fit_seconds", "eval_seconds")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    scores = tuple(f"scores_{k}" for k in settings)
    if not (usable and has_predictions(path.with_suffix(".npz"), scores)):
        return None
    stored["results"] = {k: stored_result(r) if isinstance(r, dict) else r for k, r in stored["results"].items()}
    return stored


def _number(value: Any, null: bool = True) -> bool:
    """A figure as a cell file holds it: a number (not a bool), or null (a NaN) where `null`."""
    return (value is None and null) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _figures(holder: Any, keys: tuple[str, ...]) -> bool:
    return isinstance(holder, dict) and all(k in holder and _number(holder[k]) for k in keys)


def _usable_result(result: Any) -> bool:
    """Whether one setting's stored result has what the tables read (`reporting.result_cells` checks the same in
    results.json): the routing figures with their mode and references, the test sizes and the correctness
    figures (null for a router without probabilities), overall and per benchmark."""
    if not isinstance(result, dict) or "correctness" not in result:
        return False
    routing, info, corr = result.get("routing"), result.get("info"), result["correctness"]
    if not (_figures(routing, ("micro", "macro", "gap_closed", "n_queries", "n_excluded"))
            and isinstance(routing.get("mode"), str) and isinstance(routing.get("references"), dict)
            and all(_figures(r, ("micro", "macro")) for r in routing["references"].values())):
        return False
    sizes = ("n_test_queries", "n_test_pairs")
    if not (isinstance(info, dict) and all(_number(info.get(k), null=False) for k in sizes)
            and all(_number(info.get(k)) for k in ("n_models", "epochs_run"))):
        return False
    return corr is None or (isinstance(corr, dict)
                            and _figures(corr.get("overall"), ("accuracy", "auc", "log_loss", "brier", "ece"))
                            and isinstance(corr.get("per_benchmark"), dict)
                            and all(_figures(b, ("accuracy", "base_rate")) for b in corr["per_benchmark"].values()))


def save_predictions(path: Path, test: Dataset, scores: dict[str, np.ndarray]) -> None:
    """The test scores of a cell ([Q, M] per setting), its labels (NaN: unlabelled) and their query and model
    ids, for paired statistics."""
    arrays = {f"scores_{k}": v.astype(np.float32) for k, v in scores.items()}
    arrays.update(labels=test.table.label_matrix().astype(np.float32),
                  queries=np.asarray(test.table.query_vocab.ids, dtype=str),
                  models=np.asarray(test.table.model_vocab.ids, dtype=str))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


@dataclass
class Comparison:
    """Every cell of a run and the datasets' identities (`irtnet.reporting.results` makes the tables)."""

    spec: CompareSpec
    datasets: dict[str, dict[str, Any]]
    cells: list[Cell]
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.model_dump(), "version": __version__, "code": source_fingerprint(), "run": self.run,
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
        if self.spec.folds and self.spec.folds > table.n_queries:  # refused once, not once per fold and entry
            raise ConfigError(f"dataset {ds.name!r}: folds = {self.spec.folds} is more than its {table.n_queries} "
                              f"queries; use at most {table.n_queries}")
        prepared: dict[str, Dataset] = {}
        cells = []
        for setting in ("query", "pair"):
            entries = [m for m in self.spec.models if setting in settings_of(m)]
            if not entries:
                continue
            for seed, fold in draws(self.spec, setting):
                splits: dict[str, SplitData] = {}
                # written for every draw of the spec, its cells cached or not: splits/ is the one record of its ids
                record = self.out / "splits" / split_file(ds.name, setting, seed, fold)
                try:
                    drawn: Drawn | Exception = draw_split(table, setting, seed, self.spec, fold)
                    write_json(record, drawn[1])
                except Exception as exc:  # noqa: BLE001 - e.g. an empty part: each cell computed says so, as before
                    drawn = exc
                    record.unlink(missing_ok=True)  # no draw, no record: never an earlier run's beside this run's

                def split_for(encoder: str, setting: Setting = setting, seed: int = seed, fold: int | None = fold,
                              drawn: Drawn | Exception = drawn) -> SplitData:
                    if isinstance(drawn, Exception):
                        raise drawn
                    if encoder not in prepared:
                        prepared[encoder] = prepare(table, encoder, progress=self.progress)
                    if encoder not in splits:  # the same ids for every encoder; only the vectors differ
                        splits[encoder] = make_split_data(prepared[encoder], setting, seed, self.spec,
                                                          routing_mode(self.spec, ds, setting), fold, drawn)
                    return splits[encoder]

                for entry in self.spec.models:
                    if entry in entries and not table.has_text and reads_text(entry):
                        names = ("query", "text") if setting == "query" else (setting,)
                        new = [Cell(ds.name, s, seed, entry.name, entry.registry_name, "n/a", fold=fold,
                                    error=f"{ds.name} has no query texts; {entry.registry_name} reads them")
                               for s in names]
                    elif entry in entries:
                        new = self.cell(ds, setting, seed, fold, entry, fingerprint, split_for)
                    elif setting == "query":
                        new = [Cell(ds.name, s, seed, entry.name, entry.registry_name, "n/a", fold=fold,
                                    error="item-seen: scored in the pair table only") for s in ("query", "text")]
                    else:
                        continue
                    cells += new
                    if self.log and entry in entries:
                        for c in new:
                            self.log(c)
        return cells

    def cell(self, ds: DatasetSpec, setting: Setting, seed: int, fold: int | None, entry: CompareEntry,
             fingerprint: str, split_for: Callable[[str], SplitData]) -> list[Cell]:
        """The cell of `entry` (and, in the query setting, its text-only twin: the same fit, names hidden)."""
        names = ("query", "text") if setting == "query" else (setting,)
        cells = [Cell(ds.name, s, seed, entry.name, entry.registry_name, fold=fold) for s in names]
        encoder = entry.encoder or self.spec.encoder
        try:
            model = entry_spec(entry, self.spec, seed)
            record = split_spec(self.spec, setting, seed, fold)
            key = cell_key(fingerprint, record, model, encoder, routing_mode(self.spec, ds, setting))
            path = self.cells_dir / f"{key}.json"
            for c in cells:
                c.params, c.key = model.params, key
            stored = None if self.force else read_cached_cell(path, [_KEYS[c.setting] for c in cells])
            if stored is not None:
                for c in cells:
                    c.result, c.fit_seconds, c.eval_seconds = (stored["results"][_KEYS[c.setting]],
                                                               stored["fit_seconds"], stored["eval_seconds"])
                    c.status, c.cached = "ok", True
            elif (self.only_datasets is None or ds.name in self.only_datasets) and \
                    (self.only_models is None or entry.name in self.only_models):
                split = split_for(encoder)
                results, fit_s, eval_s, scores = run_cell(model, split, hidden=setting == "query")
                save_predictions(self.cells_dir / f"{key}.npz", split.test, scores)
                for c in cells:
                    c.result, c.fit_seconds, c.eval_seconds, c.status = results[_KEYS[c.setting]], fit_s, eval_s, "ok"
                write_json(path, {"dataset": ds.name, "setting": setting, "seed": seed, "fold": fold,
                                  "label": entry.name, "model": entry.registry_name, "params": model.params,
                                  "results": results, "fit_seconds": fit_s, "eval_seconds": eval_s,
                                  "encoder": encoder, "split": record, "version": __version__,
                                  "code": source_fingerprint(*computing_parts())})
            else:
                for c in cells:
                    c.status, c.error = "pending", "not run yet (left out by a filter)"
        except Exception as exc:  # noqa: BLE001 - one failing variant must not stop the comparison
            for c in cells:
                c.status, c.error = "error", f"{type(exc).__name__}: {exc}"
                c.result = {"traceback": traceback.format_exc(limit=-3)}
        return cells


#: The result of each table setting inside a cell file: "query" and "pair" are scored with names known.
_KEYS = {"query": "known", "pair": "known", "text": "text"}


def run_comparison(spec: CompareSpec, out: str | Path, *, force: bool = False,
                   only_datasets: set[str] | None = None, only_models: set[str] | None = None,
                   log: Callable[[Cell], None] | None = None, progress: bool = False,
                   meta: dict[str, Any] | None = None) -> Comparison:
    """Run every cell of `spec` that `out/cells` lacks (all with `force`); write datasets/, splits/,
    cells/ and results.json under `out` (the datasets/ and splits/ records of an earlier run that `spec` no
    longer gives are removed: `compare_data.remove_stale_records`), and return the comparison.

    `only_datasets` / `only_models` (names) restrict what is computed; cells outside them are still read
    from the cache, and shown as pending where absent, so results.json always covers the whole spec.
    `meta` (e.g. the command line) is stored under "run" in results.json. stats.json holds the paired
    bootstrap of the focus entry against every other (`irtnet.api.compare_stats`).
    """
    out, start = Path(out), time.perf_counter()
    for option, given, names in (("--only-datasets", only_datasets, [d.name for d in spec.datasets]),
                                 ("--only-models", only_models, [m.name for m in spec.models])):
        unknown = sorted(set(given or ()) - set(names))
        if unknown:
            raise ConfigError(f"{option}: {', '.join(map(repr, unknown))} not in the spec; its names: "
                              f"{', '.join(names)}")
    check_settings(spec)  # an unknown registry name, an item-seen model in the query setting
    for entry in spec.models:  # then everything a cell would build, and every source it would read
        check_entry(entry, spec)
    check_encoders(spec, only_models)
    for ds in spec.datasets:
        check_source(ds)
    runner = _Runner(spec, out, force, only_datasets, only_models, log, progress)
    check_folders(spec, out, runner.cells_dir)  # before any cell is fitted, not when its result is saved
    clear_stale_temps(runner.cells_dir)  # what a killed run left half-written (writes go through atomic_path)
    cells, infos = [], {}
    with torch_threads(spec.threads):
        for ds in spec.datasets:
            try:
                table, infos[ds.name] = load_dataset(ds)
            except ConfigError as exc:  # e.g. an unknown format or option: say which dataset of the spec
                raise ConfigError(f"dataset {ds.name!r}: {exc}") from None
            write_json(out / "datasets" / f"{ds.name}.json", infos[ds.name])
            cells += runner.dataset_cells(ds, table, infos[ds.name]["fingerprint"])
    if not cells:  # never replace a run's results.json with one that holds nothing (it would not read back)
        raise ConfigError("the spec gives no cell to compute: no dataset, setting, model entry and draw")
    counts = {s: sum(c.status == s for c in cells) for s in ("ok", "error", "n/a", "pending")}
    run = {**(meta or {}), "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": time.perf_counter() - start,
           "cells": counts, "computed": sum(c.status == "ok" and not c.cached for c in cells),
           "from_cache": sum(c.cached for c in cells)}
    result = Comparison(spec, infos, cells, run)
    doc = result.to_dict()
    stats = paired_tables(doc, runner.cells_dir)  # before either file changes: a crash leaves both as they were
    # both written before either is replaced (a kill while writing loses neither), never old verdicts beside new results
    write_together([(out / "results.json", json_text(doc)), (out / "stats.json", json_text(stats))],
                   stale=out / "stats.json")
    remove_stale_records(spec, out)
    return result

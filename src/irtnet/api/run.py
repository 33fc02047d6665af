"""A run directory, whole or absent: `RunSpec` says what to train, `train_run` trains it, `Run` reads it.

    RUN/
      run.json       format, run id, table path and fingerprint, sha256 of every file below
      config.json    the fully resolved RunSpec: every seed, the preset expanded, every default spelt out
      split.json     the query split
      model/         the checkpoint (its metrics carry the run id)
      history.json   one row per training epoch (models trained epoch by epoch)

`train_run` writes everything into a hidden sibling folder and renames it into place when training ends, so
an interrupted or failed run leaves the directory as it was. An existing run is replaced only with
`overwrite=True`, and stays intact until the new one is complete; a file, or a folder that is not a run, is never
replaced, and a place where the run could not be written is refused before the training (`api.run_output`).
Data-parallel training (under torchrun, or `nproc` local processes; see `irtnet.training.distributed`) trains on
every rank and writes from rank 0 only. `Run.open` checks that every file is the one the run wrote (so a split
and a model from different trainings are never paired) and that the table still has the content it was trained on.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from irtnet._io import read_json, recover_dir, write_json
from irtnet._version import __version__
from irtnet.api.data import as_path, load_table, make_split, prepare, split_datasets, split_kind
from irtnet.api.run_output import RUN_PARTS, check_writable, refuse_current_folder, refuse_to_replace, staging
from irtnet.config import DataConfig, deep_update, expect, name_list
from irtnet.data.dataset import Dataset
from irtnet.data.pair_split import PairSplit, load_split
from irtnet.data.provenance import file_sha256, table_fingerprint
from irtnet.data.splits import QuerySplit
from irtnet.data.table import ResponseTable
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.predictors.base import Router
from irtnet.predictors.checkpoint import load_predictor, read_json_object, save_predictor
from irtnet.predictors.spec import ModelSpec, brief, build_predictor, registered, resolve_spec
from irtnet.tasks.evaluate import EvaluationResult, evaluate, score_matrix
from irtnet.tasks.routing import scorable
from irtnet.tasks.stats import routing_disagreement
from irtnet.training import distributed
from irtnet.training.device import resolve_device
from irtnet.training.memory import reuse_freed_memory
from irtnet.training.threads import MAX_THREADS, torch_threads

RUN_FORMAT, RUN_FORMAT_VERSION = "irtnet-run", 1
#: Baselines evaluated beside every trained model by `evaluate_run`: the base rates, and two text-only
#: references (the benchmark inferred from the text, the nearest training queries) for the names-hidden setting.
REFERENCE_BASELINES = ("model-benchmark-mean", "inferred-benchmark-rate", "knn", "model-mean")
#: How routing treats missing labels (`tasks.routing.scorable`): only fully labelled queries, or each query's
#: labelled models.
ROUTING_MODES = ("complete", "observed")


class RunSpec(BaseModel):
    """A training run: the data and its split, the model, and torch's thread count while fitting."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig
    model: ModelSpec = Field(default_factory=ModelSpec)
    threads: int | None = Field(None, ge=1, le=MAX_THREADS, description="torch threads while fitting (None: "
                                "torch's default)")

    @field_validator("threads", mode="before")
    @classmethod
    def _whole_threads(cls, value: Any) -> Any:
        """A bool or a string is not a thread count (`threads = true` in a TOML file is not 1 thread)."""
        if isinstance(value, (bool, str)):
            raise ValueError(f"must be a whole number of at least 1 (or left out), got {type(value).__name__} "
                             f"{value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, raw: Any) -> Any:
        """Config files of irtnet 0.1 said `model = "NAME"` and `params = {config = PRESET-or-dict, ...}`."""
        if not isinstance(raw, dict) or not isinstance(raw.get("model"), str):
            return raw
        raw = dict(raw)
        params = dict(raw.pop("params", None) or {})
        model: dict[str, Any] = {"model": raw["model"], "params": params}
        if isinstance(params.get("config"), str):
            model["preset"] = params.pop("config")
        raw["model"] = model
        return raw


def resolve_run(spec: RunSpec | dict[str, Any]) -> RunSpec:
    """`spec` with the model resolved (`resolve_spec`), the split kind chosen and the table path made absolute.

    A model with free per-item parameters (classical IRT) can score only queries it saw in training, so its
    runs split by (model, query) pair; asking it for a query split is an error."""
    spec = as_run_spec(spec)
    item_seen = getattr(registered(spec.model.model), "item_seen", False)
    kind = split_kind(spec.data, "pair" if item_seen else "query")
    if item_seen and kind != "pair":
        raise ConfigError(f"{spec.model.model!r} has free per-item parameters and cannot score queries it never "
                          f"saw; it needs a pair split (--split-by pair), not a {kind} split")
    data = spec.data.model_copy(update={"table": str(Path(spec.data.table).resolve()), "split": kind})
    return spec.model_copy(update={"data": data, "model": resolve_spec(spec.model)})


def as_run_spec(spec: RunSpec | dict[str, Any]) -> RunSpec:
    """`spec`, or a dict of settings validated as one (`run_spec`); anything else is a ConfigError."""
    if isinstance(spec, dict):
        return run_spec(spec)
    return expect(spec, RunSpec, "spec", "a RunSpec (api.run_spec_from) or a dict of its settings")


def run_spec(raw: dict[str, Any]) -> RunSpec:
    """A RunSpec from merged settings (ConfigError naming the bad field)."""
    expect(raw, dict, "raw", "a dict of run settings ({'data': {...}, 'model': {...}})")
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid run configuration: {brief(exc)}") from exc


# ---------------------------------------------------------------------------------------------- reading
@dataclass
class Run:
    """An opened, verified run directory. `spec` is resolved; the table, split and model load on demand."""

    path: Path
    spec: RunSpec
    manifest: dict[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """The run at `path`, after checking that its files are the ones its training wrote."""
        path = as_path(path, "the run directory")
        manifest = _read_manifest(path)
        for name, digest in manifest["files"].items():
            if not (path / name).is_file():
                raise CheckpointError(f"{path}: the run is incomplete ({name} is missing)")
            if file_sha256(path / name) != digest:
                raise CheckpointError(f"{path / name}: changed since the run was written (sha256 differs from "
                                      f"run.json); the split and the model may no longer belong together")
        raw = read_json_object(path / "config.json")
        try:
            spec = run_spec(raw)
        except ConfigError as exc:  # a run of another irtnet version, or an edited one: say which file
            raise CheckpointError(f"{path / 'config.json'}: {exc}") from None
        return cls(path, spec, manifest)

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    def table(self) -> ResponseTable:
        """The run's table, refused if its content changed since training."""
        if "table" not in self._cache:
            where = Path(self.spec.data.table)
            if not where.exists():
                raise DataError(f"the table this run was trained on is missing (moved or deleted?); put it back "
                                f"there, unchanged (the run names it in {self.path / 'config.json'}, data.table)",
                                file=str(where))
            table = load_table(where)
            found, expected = table_fingerprint(table), self.manifest["table"]["fingerprint"]
            if found != expected:
                raise DataError(f"the table changed since this run was trained (fingerprint {found[:12]} != "
                                f"{expected[:12]}); retrain the run", file=self.spec.data.table)
            self._cache["table"] = table
        return self._cache["table"]

    def split(self) -> QuerySplit | PairSplit:
        return load_split(self.path / "split.json")

    @property
    def routing_mode(self) -> str:
        """'observed' for a pair split (a test query has a few labelled models), else 'complete'."""
        return "observed" if self.spec.data.split == "pair" else "complete"

    def predictor(self) -> Router:
        """The run's fitted model; a checkpoint of another model than config.json names is refused."""
        if "predictor" not in self._cache:
            self._cache["predictor"] = load_predictor(self.path / "model", expect=self._same_kind)
        return self._cache["predictor"]

    def _same_kind(self, kind: str) -> None:
        """A checkpoint of another model than config.json names is refused (before its weights are read)."""
        if kind != self.spec.model.model:
            raise CheckpointError(f"{self.path / 'model'}: holds a {kind!r} model, but the run's config.json "
                                  f"names {self.spec.model.model!r}; the run was edited or damaged: retrain it")

    def datasets(self, progress: bool = False) -> tuple[Dataset, Dataset | None, Dataset]:
        """(train, validation or None, test) of the run's split, embedded with the run's encoder."""
        return split_datasets(prepare(self.table(), self.spec.data.encoder, progress=progress), self.split())

    def write_json(self, name: str, obj: Any) -> Path:
        """Write a result file into the run directory (atomically); returns its path."""
        write_json(self.path / name, obj)
        return self.path / name


def is_run_dir(path: str | Path) -> bool:
    """A run directory, or what is left of one without its run.json (`Run.open` then says what is wrong rather
    than the folder being taken for a checkpoint); a checkpoint directory is not."""
    path = as_path(path, "the run directory")
    if (path / "run.json").is_file():
        return True
    return not (path / "checkpoint.json").is_file() and any((path / name).exists() for name in RUN_PARTS)


def _read_manifest(path: Path) -> dict[str, Any]:
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path}: not a directory (a file); give a run directory written by `irtnet train`")
    if not path.is_dir() and not recover_dir(path):
        raise CheckpointError(f"{path}: no such run directory")
    if not (path / "run.json").is_file():
        raise CheckpointError(f"{path}: {_without_manifest(path)}")
    manifest = read_json_object(path / "run.json")
    if manifest.get("format") != RUN_FORMAT or manifest.get("format_version") != RUN_FORMAT_VERSION:
        raise CheckpointError(f"{path / 'run.json'}: unsupported run format {manifest.get('format')!r} "
                              f"version {manifest.get('format_version')!r}")
    for key, kind in (("run_id", str), ("files", dict), ("table", dict)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{path / 'run.json'}: field {key!r} is missing or not a {kind.__name__}")
    if not isinstance(manifest["table"].get("fingerprint"), str):
        raise CheckpointError(f"{path / 'run.json'}: field 'table.fingerprint' is missing")
    unlisted = [name for name in _LISTED if name not in manifest["files"]]
    if unlisted:  # training lists every file it writes; one left out would be read unchecked
        raise CheckpointError(f"{path / 'run.json'}: field 'files' does not list {unlisted[0]} (training lists every "
                              "file of a run with its sha256); the run was edited or damaged: retrain it")
    return manifest


#: Files every run has, each listed in its run.json with its sha256 (`_write_run` lists all it writes).
_LISTED = ("config.json", "split.json", "model/checkpoint.json")


def _without_manifest(path: Path) -> str:
    """Why the folder `path`, which has no run.json, cannot be opened as a run."""
    if _written_by_0_1(path):
        return "a run written by irtnet 0.1 (no run.json): retrain it with this version"
    if any((path / name).exists() for name in RUN_PARTS):
        return "the run directory lacks run.json (an interrupted or damaged run): retrain it"
    return "not a run directory (no run.json)"


def _written_by_0_1(path: Path) -> bool:
    """irtnet 0.1 wrote no run.json, and its config.json named the model as a string (`RunSpec._legacy`)."""
    try:
        config = read_json(path / "config.json", dict)
    except DataError:
        return False
    return isinstance(config.get("model"), str)


# ---------------------------------------------------------------------------------------------- writing
def train_run(spec: RunSpec | dict[str, Any], out: str | Path, *, overwrite: bool = False, progress: bool = True,
              reuse_memory: bool = False, nproc: int = 1) -> Run | None:
    """Train the model `spec` describes on its split and write the run directory `out` whole (see the module
    docstring). Returns the opened run. `reuse_memory` keeps freed heap blocks between training steps (faster
    on glibc; it leaves glibc's dynamic mmap threshold off for the rest of the process, so only a caller that
    owns its process, such as the CLI, should ask for it).

    Data-parallel: `nproc` > 1 trains in that many local processes (gloo on the CPU, nccl on CUDA) and returns
    the run rank 0 wrote; launched by torchrun (RANK/WORLD_SIZE set), every process calls `train_run`, rank 0
    writes and returns the run, the others return None."""
    out = as_path(out, "out (the run directory to write)")
    spec = resolve_run(spec)
    distributed.check_nproc(nproc, train_device(spec))  # 1 too: nproc=0 does not train in one process
    refuse_current_folder(out)
    recover_dir(out)  # a run that an interrupted overwrite left aside is put back before anything is decided
    refuse_to_replace(out, overwrite)
    check_writable(out)  # before the training, not after it
    device = train_device(spec)
    resolve_device(device)  # a GPU asked for where there is none: refused before the data is read
    if nproc > 1:
        distributed.spawn(_train_rank, nproc, (spec, out, overwrite, progress, reuse_memory), device=device)
        return Run.open(out)
    progress = progress and distributed.env_rank() == 0
    table = load_table(spec.data.table)
    fingerprint = table_fingerprint(table)
    split = make_split(table, spec.data)
    train, val, _ = split_datasets(prepare(table, spec.data.encoder, progress=progress), split)
    predictor = build_predictor(spec.model)
    with distributed.process_group(device) as shard, torch_threads(spec.threads), reuse_freed_memory(reuse_memory):
        predictor.fit(train, val)
    if shard is not None and shard.rank != 0:
        return None
    return _write_run(spec, out, overwrite, predictor, split, fingerprint)


def train_device(spec: RunSpec) -> str:
    """The device the (resolved) spec trains on: IrtNet's `train.device`, the CPU for every other model."""
    train = spec.model.params.get("train")
    return train.get("device", "cpu") if isinstance(train, dict) else "cpu"


def _train_rank(spec: RunSpec, out: Path, overwrite: bool, progress: bool, reuse_memory: bool) -> None:
    """One process of `train_run(..., nproc=N)` (module level: `distributed.spawn` pickles it by name)."""
    train_run(spec, out, overwrite=overwrite, progress=progress, reuse_memory=reuse_memory)


def _write_run(spec: RunSpec, out: Path, overwrite: bool, predictor: Router, split: QuerySplit | PairSplit,
               fingerprint: str) -> Run:
    run_id = uuid.uuid4().hex
    with staging(out, overwrite) as tmp:
        write_json(tmp / "config.json", spec.model_dump(mode="json"))
        split.save(tmp / "split.json")
        trained = getattr(predictor, "result_", None)
        save_predictor(predictor, tmp / "model", metrics={"val": getattr(trained, "best", {}), "run_id": run_id})
        if getattr(trained, "history", None):
            write_json(tmp / "history.json", trained.history)
        files = {str(p.relative_to(tmp)): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        write_json(tmp / "run.json", {
            "format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "run_id": run_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "irtnet_version": __version__,
            "table": {"path": spec.data.table, "fingerprint": fingerprint}, "files": files})
    return Run.open(out)


# -------------------------------------------------------------------------------------------- evaluating
def check_routing_mode(mode: str | None) -> None:
    """Refuse a routing mode that is not one of `ROUTING_MODES` (None: the run's own), as scoring would, but
    before the work (the message is `tasks.routing.scorable`'s)."""
    if mode is not None and mode not in ROUTING_MODES:
        raise ConfigError(f"unknown routing mode {mode!r}: use 'complete' or 'observed'")


def evaluate_run(run_dir: str | Path | Run, baselines: Sequence[str] = REFERENCE_BASELINES,
                 routing_mode: str | None = None, progress: bool = False) -> list[EvaluationResult]:
    """Score a run's model on its test split, beside reference baselines fitted once on its training split
    (its validation split for their own choices) with the run's seed, in two settings (`info["setting"]`):
    "benchmark known" (the test queries carry their benchmark names) and "text only" (the names hidden,
    `Queries.without_groups()`: what a raw query gives). Routing counts only queries with every model labelled
    ("complete"), or, by default for a pair split, routes among each query's labelled models ("observed").

    A baseline that cannot serve a setting (it raises DataError: a text baseline on a table without text) is
    left out of that setting, and the run model's result there says why (`info["skipped"]`, name -> reason);
    the run's model must serve the "benchmark known" setting. Where the model says which path answers each
    query (`answer_paths`), its results count them (`info["paths"]`). Writes evaluation.json in the run
    directory (a JSON list of result dicts) and returns the results: the "benchmark known" ones first, then
    the "text only" ones, the run's model first within each. `run_dir` may be a `Run` opened already. An
    unknown `routing_mode` is refused before any work (`check_routing_mode`)."""
    check_routing_mode(routing_mode)
    baselines = name_list(baselines, "baselines")  # one string would be read as its letters
    run = run_dir if isinstance(run_dir, Run) else Run.open(run_dir)
    routing_mode = run.routing_mode if routing_mode is None else routing_mode
    train, val, test = run.datasets(progress=progress)
    model = run.predictor()
    fitted, unfit = [], {}
    for name in baselines:
        try:
            # the same information as the run's model: its validation split for their choices
            fitted.append(build_predictor(ModelSpec(model=name, seed=run.spec.model.seed)).fit(train, val))
        except DataError as exc:  # e.g. it needs query vectors and the table has no text
            unfit[name] = f"cannot be fitted on this run's training data: {exc}"
    settings = {"benchmark known": test, "text only": Dataset(test.table, test.queries.without_groups())}
    results: list[EvaluationResult] = []
    for setting, data in settings.items():
        skipped, own, others = dict(unfit), None, []
        own_scores, other_scores = None, {}
        for predictor in [model, *fitted]:
            try:
                scores = score_matrix(predictor, data)
                result = evaluate(predictor, train, data, routing_mode, scores=scores)
            except DataError as exc:
                if predictor is model and setting == "benchmark known":
                    raise
                skipped[predictor.name] = f"cannot serve the {setting!r} setting: {exc}"
                continue
            result.info["setting"] = setting
            if predictor is model:
                own, own_scores = result, scores
            else:
                others.append(result)
                other_scores[predictor.name if predictor.name != model.name else f"{model.name} (reference)"] = scores
        if own is not None:
            own.info["skipped"] = skipped
            own.info["routed_differently"] = _disagreements(data, own_scores, other_scores, routing_mode)
            paths = getattr(model, "answer_paths", None)
            if paths is not None:
                counts = Counter(paths(data.queries))
                own.info["paths"] = {path: counts[path] for path in sorted(counts)}
        else:  # the run's model cannot serve this setting: its "benchmark known" result says why
            results[0].info.setdefault("skipped_settings", {})[setting] = skipped
        results += ([own] if own is not None else []) + others
    run.write_json("evaluation.json", [r.to_dict() for r in results])
    return results


def _disagreements(data: Dataset, own: Any, others: dict[str, Any], routing_mode: str) -> dict[str, Any]:
    """Per other predictor (name -> its test scores), where it and the run's model (`own`, its scores) route a
    test query to different models (`tasks.stats.routing_disagreement`): the only queries where their routing
    accuracies can differ."""
    labels = data.table.label_matrix()
    mask = None if routing_mode == "complete" else scorable(labels, routing_mode)[0]
    return {name: routing_disagreement(labels, own, theirs, mask) for name, theirs in others.items()}


def _check_holdout_names(names: list[Any]) -> None:
    """The benchmarks to hold out as given (before the table is read): an empty name, or one given twice, is a
    ConfigError naming the option (never read as "no benchmark held out", nor as one)."""
    for i, name in enumerate(names):
        if not (isinstance(name, str) and name.strip()):
            raise ConfigError(f"--holdout-benchmark: name {i + 1} of {len(names)} is empty ({name!r}): name a "
                              "benchmark of the table, or leave the option out")
        if name in names[:i]:
            raise ConfigError(f"--holdout-benchmark: {name!r} is given twice; name each benchmark once")


def run_spec_from(table: str | Path, file: dict[str, Any] | None = None, *, model: str | None = None,
                  preset: str | None = None, encoder: str | None = None,
                  fractions: tuple[float, float, float] | None = None,
                  holdout_benchmark: str | Sequence[str] | None = None,
                  split_by: str | None = None, seed: int | None = None, epochs: int | None = None,
                  lr: float | None = None,
                  groups: bool | None = None, threads: int | None = None, progress: bool | None = None,
                  device: str | None = None, bf16: bool | None = None) -> RunSpec:
    """A RunSpec from a config file's settings (`file`, may be None) and command-line flags: defaults in code,
    the file overrides them, the flags override that. `seed` seeds both the split and the model. A flag that
    does not apply to the model is an error. A missing table, or one that is not an irtnet table, is a DataError
    naming it here, not when training starts (`ResponseTable.check_file`: only its footer is read)."""
    from irtnet.predictors.spec import model_spec_from

    data = {"table": str(as_path(table, "the table")), "encoder": encoder, "fractions": fractions, "seed": seed,
            "split": split_by}
    held = [holdout_benchmark] if isinstance(holdout_benchmark, str) else list(holdout_benchmark or [])
    if held:
        if split_by not in (None, "benchmark"):
            raise ConfigError(f"--holdout-benchmark makes a benchmark split; it conflicts with --split-by {split_by}")
        _check_holdout_names(held)
        data.update(split="benchmark", holdout_benchmark=held[0] if len(held) == 1 else held)
    spec = run_spec(deep_update(file or {}, {"data": data, "threads": threads}))
    chosen = model_spec_from(spec.model, model=model, preset=preset, seed=seed, epochs=epochs, lr=lr, groups=groups,
                             progress=progress, device=device, bf16=bf16,
                             base_names_model="model" in spec.model_fields_set)
    out = spec.model_copy(update={"model": chosen})
    resolve_device(train_device(out))  # a GPU asked for where there is none: refused before the table is read
    ResponseTable.check_file(Path(table))
    return out

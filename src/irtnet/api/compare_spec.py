"""What a comparison is (`CompareSpec`: datasets, model entries, seeds, split settings), how each entry is
resolved for a seed (`entry_spec`, through the one resolver `irtnet.predictors.spec.resolve_spec`), the checks
that refuse a bad entry or encoder before any data is read (`check_entry`, `check_encoders`) and the cache key
of a cell. The runner is `irtnet.api.compare`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt,
                      ValidationError, field_validator, model_validator)

from irtnet._io import FILE_NAME, check_file_target
from irtnet._version import computing_parts, source_fingerprint
from irtnet.config import MAX_SEED, deep_update, validate_fractions
from irtnet.data.embeddings import DEFAULT_ENCODER, load_encoder, resolve_offline
from irtnet.data.provenance import sha256_text
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.spec import ModelSpec, brief, build_predictor, registered, resolve_spec
from irtnet.training.threads import MAX_THREADS

Setting = Literal["query", "pair"]




def _not_blank(name: str) -> str:
    if not name.strip():
        raise ValueError(f"a name must not be empty or blank, got {name!r}")
    if name != name.strip():  # " x " prints as "x" in every table: two entries the reader could not tell apart
        raise ValueError(f"a model entry's name must not start or end with a space, got {name!r}")
    if "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise ValueError(f"a model entry's name is a label: any printable characters but '/' and '\\', not "
                         f"starting with '.'; got {name!r}")
    return name


def _file_name(name: str) -> str:
    if not FILE_NAME.fullmatch(name):
        raise ValueError(f"a dataset name is part of file names: use letters, digits, '.', '_' and '-' only, "
                         f"starting with a letter or digit; got {name!r}")
    return name


def _given(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError(f"must not be empty, blank or start or end with a space (leave it out for the default), "
                         f"got {value!r}")
    return value


def _given_path(value: str) -> str:
    if not value.strip():  # Path("") is the current folder
        raise ValueError(f"a path must not be empty or blank (leave it out for the default), got {value!r}")
    return value


#: The label of a model entry (table rows): not empty or blank, no path separator or control character.
Name = Annotated[str, AfterValidator(_not_blank)]
#: A name or path that is given (registry name, preset, encoder, file): "" was read as not given (the default).
Given = Annotated[str, AfterValidator(_given)]
#: A path that is given: not empty or blank.
GivenPath = Annotated[str, AfterValidator(_given_path)]
#: The name of a dataset, which names its files (datasets/, splits/, tables/): one safe path component.
FileName = Annotated[str, AfterValidator(_file_name)]


# --------------------------------------------------------------------------------------------- spec
class DatasetSpec(BaseModel):
    """A Parquet table (`table`) or an import spec (`format`, `path`, `options`) under a `name`."""

    model_config = ConfigDict(extra="forbid")

    name: FileName
    table: GivenPath | None = None
    format: Given | None = None
    path: GivenPath | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    routing_mode: Literal["complete", "observed"] | None = Field(
        None, description="override of the comparison's routing mode (e.g. 'observed' where no query has "
                          "every model labelled)")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.table is None) == (self.format is None or self.path is None):
            raise ValueError(f"dataset {self.name!r}: give either `table` or both `format` and `path`")
        if self.table is not None and self.options:
            raise ValueError(f"dataset {self.name!r}: `options` apply to imported datasets (`format` and `path`) "
                             "only; a `table` is read as it is")
        return self


class CompareEntry(BaseModel):
    """One row of the comparison: `name` (its label), registry `model` (default: `name`), `preset` and
    `params` as in `irtnet.predictors.spec.ModelSpec` (the seed is each cell's)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    model: Given | None = None
    preset: Given | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    encoder: Given | None = Field(None, description="query encoder (default: the comparison's)")
    settings: list[Setting] | None = Field(None, description="default: pair if item-seen, else query")

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: list[Setting] | None) -> list[Setting] | None:
        if value is not None and not value:
            raise ValueError("an empty list computes nothing: name 'query', 'pair' or both, or leave `settings` out "
                             "(pair if the model is item-seen, else query)")
        if value is not None and len(set(value)) < len(value):
            raise ValueError(f"a setting is repeated: {value}")
        return value

    @property
    def registry_name(self) -> str:
        return self.model or self.name


class CompareSpec(BaseModel):
    """Datasets x models x seeds, with the split and evaluation settings shared by every cell."""

    model_config = ConfigDict(extra="forbid")

    title: str = "comparison"
    description: str = ""
    out: GivenPath | None = None
    cells: GivenPath | None = Field(None, description="folder of cached cells (default OUT/cells); runs sharing it "
                                                "share results")
    datasets: list[DatasetSpec]
    models: list[CompareEntry]
    seeds: list[StrictInt] = Field(default_factory=lambda: [0, 1, 2])
    folds: StrictInt | None = Field(None, ge=2, description="K-fold cross-fitting over queries (every query tested "
                                    "once; validation carved from the training folds) for each seed; None: one "
                                    "split per seed with `fractions`")
    fractions: tuple[StrictFloat, StrictFloat, StrictFloat] = (0.8, 0.1, 0.1)
    focus: str | None = Field(None, description="the entry compared with every other by paired bootstrap "
                              "(default: the first entry)")
    n_boot: StrictInt = Field(2000, ge=100, description="bootstrap resamples of queries for the paired intervals")
    stratify: StrictBool = True
    encoder: Given = DEFAULT_ENCODER
    routing_mode: Literal["complete", "observed"] = "complete"
    threads: StrictInt = Field(1, ge=1, le=MAX_THREADS, description="torch threads while fitting each cell")
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="registry name -> params merged over every entry of that model")

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        return validate_fractions(value, need_test=True)

    @model_validator(mode="after")
    def _check(self) -> CompareSpec:
        for kind, names in (("dataset", [d.name for d in self.datasets]), ("model", [m.name for m in self.models])):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"{kind} names must be unique; repeated: {sorted(dup)}")
        if not self.datasets or not self.models or not self.seeds:
            raise ValueError("a comparison needs at least one dataset, one model and one seed")
        if any(s < 0 or s > MAX_SEED for s in self.seeds):
            raise ValueError(f"seeds must be whole numbers in [0, {MAX_SEED}], got {self.seeds}")
        repeated = sorted({s for s in self.seeds if self.seeds.count(s) > 1})
        if repeated:
            raise ValueError(f"seeds must be distinct (a repeated seed repeats its cells); repeated: {repeated}")
        if self.focus is not None and self.focus not in {m.name for m in self.models}:
            raise ValueError(f"focus {self.focus!r} is not one of the model entries")
        models = list(dict.fromkeys(m.registry_name for m in self.models))
        stray = [name for name in self.overrides if name not in models]
        if stray:
            raise ValueError(f"overrides: no entry's model is {' or '.join(map(repr, stray))} "
                             f"(the entries' models: {', '.join(models)})")
        return self


def load_spec(raw: dict[str, Any]) -> CompareSpec:
    """A validated spec from a dict (TOML/JSON file content merged with flags)."""
    try:
        return CompareSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid comparison spec: {brief(exc)}") from exc


def settings_of(entry: CompareEntry) -> list[Setting]:
    if entry.settings is not None:
        return list(entry.settings)
    return ["pair"] if getattr(registered(entry.registry_name), "item_seen", False) else ["query"]


def check_settings(spec: CompareSpec) -> None:
    """Refuse, before any dataset is loaded, an entry whose model is unknown, and an item-seen model (a free
    parameter per query: it cannot score an unseen query) that `settings` puts in the query setting. The
    ConfigError names the entry and the field (`models.<i>.settings`)."""
    for i, entry in enumerate(spec.models):
        try:
            seen = getattr(registered(entry.registry_name), "item_seen", False)
        except ConfigError as exc:
            raise ConfigError(f"model entry {entry.name!r}: {exc}") from None
        if seen and "query" in settings_of(entry):
            raise ConfigError(f"models.{i}.settings: model entry {entry.name!r}: {entry.registry_name} is item-seen "
                              "(a parameter per query), so it cannot score the query setting's unseen test queries; "
                              "use settings = [\"pair\"]")


def check_folders(spec: CompareSpec, out: Path, cells: Path) -> None:
    """Refuse, before any cell is fitted, a run directory or cell folder that cannot be written: a path that
    is a file, lies under a file, or is a folder without write permission (DataError naming the field)."""
    for field, folder in (("out", out), ("cells", cells)):
        try:
            check_file_target(folder / "results.json")
        except DataError as exc:
            raise DataError(f"{folder}: not a folder that can be written ({exc.reason})", field=field) from None
        above = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if above is not None and not os.access(above, os.W_OK | os.X_OK):
            raise DataError(f"{above}: no permission to write there", field=field)


def reads_text(entry: CompareEntry) -> bool:
    """Whether the entry's model reads the queries' text embeddings (so a table without texts is n/a for it)."""
    return bool(getattr(registered(entry.registry_name), "reads_text", False))


# --------------------------------------------------------------------------------------- parameters
def entry_params(entry: CompareEntry, spec: CompareSpec) -> dict[str, Any]:
    """The entry's `params` with the spec's `overrides` of its model merged over them."""
    return deep_update(entry.params, spec.overrides.get(entry.registry_name, {}))


def entry_spec(entry: CompareEntry, spec: CompareSpec, seed: int) -> ModelSpec:
    """The resolved model of `entry` for one seed (what the cache key hashes); ConfigError names the entry."""
    params = entry_params(entry, spec)
    try:
        return resolve_spec(ModelSpec(model=entry.registry_name, preset=entry.preset, params=params, seed=seed))
    except ConfigError as exc:
        raise ConfigError(f"{entry.name}: {exc}") from exc


def check_entry(entry: CompareEntry, spec: CompareSpec) -> None:
    """Build (not fit) `entry`'s model for every seed, as its cells will, so that a bad preset, parameter or
    override is refused before any data is read. The ConfigError names the entry and the field at fault: the
    first of `preset`, `params` and `overrides.<model>` whose addition makes the build fail."""
    if _build_error(entry, entry_params(entry, spec), spec.seeds) is None:
        return
    stages = (("preset" if entry.preset is not None else "model", {}), ("params", entry.params),
              (f"overrides.{entry.registry_name}", entry_params(entry, spec)))
    for name, params in stages:
        error = _build_error(entry, params, spec.seeds)
        if error is not None:
            raise ConfigError(f"model entry {entry.name!r}: {name}: {error}")


def _build_error(entry: CompareEntry, params: dict[str, Any], seeds: list[int]) -> ConfigError | None:
    """The error building `entry`'s model (its preset, these params) raises for one of `seeds`; None if none."""
    try:
        for seed in seeds:
            build_predictor(ModelSpec(model=entry.registry_name, preset=entry.preset, params=params, seed=seed))
    except ConfigError as exc:
        return exc
    return None


def check_encoders(spec: CompareSpec, only_models: set[str] | None = None) -> None:
    """Refuse an encoder that cannot be loaded without a download (`resolve_offline`; `hashing-<dim>` needs no
    files): an entry's own `encoder` names the entry, the spec's `encoder` is checked where an entry uses it.
    Only the entries that will be computed are checked (`only_models`: their names; None: every entry)."""
    computed = [e for e in spec.models if only_models is None or e.name in only_models]
    for entry in computed:
        if entry.encoder is not None:
            try:
                check_encoder(entry.encoder)
            except ConfigError as exc:
                raise ConfigError(f"model entry {entry.name!r}: encoder: {exc}") from None
    if any(entry.encoder is None for entry in computed):
        try:
            check_encoder(spec.encoder)
        except ConfigError as exc:
            raise ConfigError(f"encoder: {exc}") from None


def check_encoder(name: str) -> None:
    """ConfigError unless the encoder `name` is available here: a hashing encoder (made at once, no files) or a
    sentence-transformers model packaged, in a local folder or in the Hugging Face cache (found, not loaded)."""
    if name.startswith("hashing-"):
        load_encoder(name)
    else:
        resolve_offline(name)


def cell_key(fingerprint: str, split: dict[str, Any], model: ModelSpec, encoder: str, routing_mode: str) -> str:
    """The cache key of one cell: 24 hex digits of sha256 over everything its result depends on, the source
    code of the package included (so that a code change never serves a result the old code computed; the
    layers that only present results, `_version.PRESENTATION`, are left out)."""
    payload = {"table": fingerprint, "split": split, "model": model.model_dump(mode="json"), "encoder": encoder,
               "routing_mode": routing_mode, "code": source_fingerprint(*computing_parts())}
    return sha256_text(json.dumps(payload, sort_keys=True, default=_jsonable))[:24]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return repr(obj)



"""Evaluating estimation and data efficiency (docs/estimation.md, "Evaluating estimation"): each function builds
its models from `ModelSpec`s (the seeds and defaults `resolve_spec` gives), prepares the table, runs the
protocol of `irtnet.tasks.estimation_protocol` / `irtnet.tasks.data_efficiency`, records the settings and,
with `out`, writes the result's JSON atomically. `evaluate_estimation` with `out` also keeps each finished draw in
`draws_folder(out)`, and `data_efficiency` each finished step in `steps_folder(out)`; a rerun with the same
settings reads them instead of training again."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from irtnet._io import json_text, write_together
from irtnet.api.data import load_table
from irtnet.api.experiments import factory, prepared, real_number, whole_number, whole_numbers
from irtnet.config import MAX_SEED, check_fractions
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.spec import ModelSpec, apply_flags, registered, resolve_spec
from irtnet.tasks.estimate import RESERVED_BENCHMARKS
from irtnet.training.threads import torch_threads

#: What renders the files written beside a result's JSON: (path, content) pairs from the result's document.
Beside = Callable[[dict[str, Any]], list[tuple[Path, bytes | str]]]

#: The protocol's settings, and the smaller ones of `quick` (a smoke run: one draw, two N, fewer draws).
FULL = {"ns": (10, 25, 50, 100, 200), "draws": 3, "routing_ns": (50, 100), "n_draws": 1000, "n_boot": 2000}
QUICK = {"ns": (10, 50), "draws": 1, "routing_ns": (50,), "n_draws": 300, "n_boot": 500}


def _pick(value: Any, key: str, quick: bool) -> Any:
    return value if value is not None else (QUICK if quick else FULL)[key]


def draws_folder(out: str | Path) -> Path:
    """Where `evaluate_estimation` keeps the finished draws of the run written to `out`: `<out minus its suffix>.draws`
    beside it (estimation.json: estimation.draws/)."""
    return Path(out).with_suffix(".draws")


def evaluate_estimation(table: str | Path, model: ModelSpec, encoder: str, *, ns: Sequence[int] | None = None,
                        draws: int | None = None, held_out_share: float = 1 / 3, methods: Sequence[str] | None = None,
                        routing_ns: Sequence[int] | None = None, retrain: bool = True, retrain_epochs: int | None = None,
                        level: float = 0.9, n_draws: int | None = None, n_boot: int | None = None, quick: bool = False,
                        replay_folds: int = 0, prior_strength: float | None = 1.0, replay_weight: str = "auto",
                        threads: int | None = None,
                        out: str | Path | None = None, beside: Beside | None = None,
                        progress: Callable[[str], None] | None = None) -> Any:
    """UniRoute's protocol for a held-out model's per-benchmark accuracy from N answers: `model` (an IrtNet)
    beside the estimation baselines, and (with `retrain`) the checkpoint with the held-out models added
    against retraining with them and against HierShrink as a router (`retrain_epochs`: the retrained model's
    epochs, default the same as `model`'s). `replay_folds` > 1: the interval's replay runs on auxiliary networks
    trained without the replayed models (`tasks/model_split.py`), one per fold of the known models;
    `prior_strength` scales the new models' ability prior (None: chosen per draw and N on the known models);
    `replay_weight` how irtnet's interval fits the replayed residuals' weight (`estimate_replay.REPLAY_WEIGHTS`).
    Settings left None take `FULL`'s values, or `QUICK`'s with `quick`. With `out`, each finished draw is kept in
    `draws_folder(out)`, keyed on the table, the encoder, both models' resolved specs, the protocol's settings and
    the code, and a rerun reads the draws it finds there (`run` says how many). Returns an `EstimationEvaluation`."""
    from irtnet.tasks.estimation_draws import DrawCache
    from irtnet.tasks.estimation_protocol import evaluate_estimation as run
    from irtnet.tasks.estimation_settings import check_settings
    from irtnet.tasks.estimation_summary import METHODS

    if not hasattr(registered(model.model), "query_parameters"):
        raise ConfigError(f"estimation needs an IRT model with query parameters (irtnet), not {model.model!r}")
    _check_numbers(ns=ns, routing_ns=routing_ns, draws=draws, n_draws=n_draws, n_boot=n_boot,
                   retrain_epochs=retrain_epochs, replay_folds=replay_folds, held_out_share=held_out_share,
                   level=level, methods=methods)
    again_spec = apply_flags(model, epochs=retrain_epochs) if retrain_epochs else model
    if methods is not None and "retrain" in methods and not retrain:
        raise ConfigError("the method 'retrain' contradicts --no-retrain: drop one of them")
    chosen = list(methods) if methods is not None else [m for m in METHODS if retrain or m != "retrain"]
    if routing_ns is not None and not (retrain and "retrain" in chosen):
        raise ConfigError("--routing-ns has no effect " + ("with --no-retrain" if not retrain else "without the "
                          "method 'retrain'") + ": it sets the N of the retrain method and the routing comparison")
    ns, draws = list(_pick(ns, "ns", quick)), _pick(draws, "draws", quick)
    routing_ns = list(_pick(routing_ns, "routing_ns", quick))
    check_settings(ns, draws, held_out_share, chosen, retrain, routing_ns, level, replay_folds, replay_weight,
                   prior_strength)  # before the table is read and embedded (minutes), not after
    refuse_summary_names(table)
    cache = None if out is None else DrawCache(draws_folder(out), {
        "encoder": encoder, "model": resolve_spec(model).model_dump(mode="json"),
        "retrain_model": resolve_spec(again_spec).model_dump(mode="json") if retrain else None})
    with torch_threads(threads):
        result = run(prepared(table, encoder), factory(model), ns=ns,
                     draws=draws, held_out_share=held_out_share, seed=model.seed,
                     methods=chosen, retrain=factory(again_spec) if retrain else None,
                     routing_ns=routing_ns, level=level,
                     n_draws=_pick(n_draws, "n_draws", quick), n_boot=_pick(n_boot, "n_boot", quick),
                     replay_folds=replay_folds, prior_strength=prior_strength, replay_weight=replay_weight,
                     cache=cache, progress=progress)
    result.settings.update(table=str(table), encoder=encoder, model=resolve_spec(model).model_dump(mode="json"),
                           quick=quick, retrain_epochs=retrain_epochs)
    if out is not None:
        write_with(out, result.to_dict(), beside)
    return result


def _check_numbers(methods: Sequence[str] | None, **given: Any) -> None:
    """The protocol's numeric settings that were given (not None), each named in its ConfigError, before the table
    is read or anything trained: the numbers of answers (`ns`, `routing_ns`: lists of whole numbers; 10.5 was read
    as 10, True as 1), `draws`, `n_draws` and `n_boot` (whole numbers of at least 1: the interval's draws and the
    bootstrap's resamples were checked only by the protocol's last steps, after every draw was trained; a float
    draw count crashed in `range`), `retrain_epochs` (at least 1),
    `replay_folds` (a whole number; 0 or at least 2 is `check_settings`'), `held_out_share` and `level` (numbers;
    their ranges are `check_settings`'), and `methods` (a list of names, not one string read letter by letter)."""
    for name in ("ns", "routing_ns"):  # their ranges are `check_settings'`
        if given[name] is not None:
            whole_numbers(given[name], name, None)
    for name, least in (("draws", 1), ("n_draws", 1), ("n_boot", 1), ("retrain_epochs", 1), ("replay_folds", 0)):
        if given[name] is not None:
            whole_number(given[name], name, least)
    for name in ("held_out_share", "level"):
        real_number(given[name], name)
    if isinstance(methods, (str, bytes)):
        raise ConfigError(f"methods must be a list of method names, got the string {methods!r}")




def refuse_summary_names(table: str | Path) -> None:
    """A DataError naming the table file where a benchmark is named as a row over every benchmark
    (`tasks.estimate.RESERVED_BENCHMARKS`): its rows and the aggregate rows would share the name in the summary
    (two "all" rows per method and N, which the figures and the Markdown summary would mix). The table is read
    here, before it is embedded (minutes), and again by `prepared`: a read takes a second at most."""
    names = set(load_table(table).benchmark_vocab.to_list())
    taken = [n for n in RESERVED_BENCHMARKS if n in names]
    if taken:
        raise DataError(f"a benchmark is named {taken[0]!r}, the name of the summary's row over every benchmark, so "
                        "the two could not be told apart: rename the benchmark in the table", file=str(table),
                        field="benchmark")


def write_with(out: str | Path, doc: dict[str, Any], beside: Beside | None) -> None:
    """The result `doc` as JSON in `out`, and the files `beside` renders from it (figures, a summary), as one change
    (`write_together`): an interruption leaves the old files, or the new ones, never new figures beside an old
    result; `out` goes last, missing for the microseconds between the renames, never old."""
    write_together([*(beside(doc) if beside else []), (out, json_text(doc))], stale=out)


def _names(specs: Sequence[ModelSpec]) -> list[str]:
    """A name per spec: its model, with its preset (then its position) where that is not unique."""
    base = [s.model if [t.model for t in specs].count(s.model) == 1 else f"{s.model}-{s.preset or 'default'}"
            for s in specs]
    return [b if base.count(b) == 1 else f"{b}-{i}" for i, b in enumerate(base)]


def data_efficiency(table: str | Path, specs: Sequence[ModelSpec], encoder: str, *,
                    fractions: Sequence[float] | None = None, split: tuple[float, float, float] = (0.8, 0.1, 0.1),
                    seed: int = 0, threads: int | None = None, out: str | Path | None = None,
                    beside: Beside | None = None, progress: Callable[[str], None] | None = None) -> Any:
    """Correctness against the share of training queries (nested, stratified; both settings) for every spec,
    each built with `seed`. With `out`, each predictor's points at each fraction are kept in `steps_folder(out)`
    as they finish, keyed on the table, the encoder, the models' resolved specs, the split and the code, and a
    rerun reads them (`run` says how many). Returns a `DataEfficiency`."""
    from irtnet.tasks.data_efficiency import FRACTIONS, data_efficiency_curve
    from irtnet.tasks.step_cache import StepCache, steps_folder

    if not specs:
        raise ConfigError("no models to train: give at least one model spec")
    fractions = _check_curve(specs, fractions, split, seed)
    specs = [s.model_copy(update={"seed": seed}) for s in specs]
    factories = dict(zip(_names(specs), (factory(s) for s in specs)))
    models = {n: resolve_spec(s).model_dump(mode="json") for n, s in zip(factories, specs)}
    cache = None if out is None else StepCache(steps_folder(out), {"encoder": encoder, "models": models})
    with torch_threads(threads):
        shares = FRACTIONS if fractions is None else fractions  # an empty list is refused, never the default
        result = data_efficiency_curve(prepared(table, encoder), factories, shares, seed, split, progress, cache)
    result.settings.update(table=str(table), encoder=encoder, models=models)
    if out is not None:
        write_with(out, result.to_dict(), beside)
    return result


def _check_curve(specs: Sequence[ModelSpec], fractions: Sequence[float] | None, split: Any, seed: Any
                 ) -> list[float] | None:
    """`data_efficiency`'s settings, before the table is read and embedded: `fractions` None (the default ones) or
    a non-empty list of distinct numbers in (0, 1] (an empty one was read as the default, a repeated one dropped),
    `split` three fractions with a positive test part, `seed` a whole number of at least 0 that no spec contradicts
    (a spec's own seed was overwritten without a word)."""
    if fractions is not None:
        if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Sequence) or not len(fractions):
            raise ConfigError(f"fractions: give a non-empty list of training shares in (0, 1], or leave it out for the "
                              f"default ones, got {fractions!r}")
        values = [real_number(f, f"fractions[{i}]") for i, f in enumerate(fractions)]
        bad = next((f for f in values if not (math.isfinite(f) and 0 < f <= 1)), None)
        if bad is not None:
            raise ConfigError(f"fractions: training shares must lie in (0, 1], got {bad}")
        repeated = next((f for i, f in enumerate(values) if f in values[:i]), None)
        if repeated is not None:
            raise ConfigError(f"fractions: {repeated:g} is given twice; give each share once")
    if check_fractions(split)[2] == 0:
        raise ConfigError(f"split: the test fraction must be positive (every point is scored on the test part), "
                          f"got {list(split)}")
    whole_number(seed, "seed", 0, MAX_SEED)
    for spec in specs:
        if "seed" in spec.model_fields_set and spec.seed != seed:
            raise ConfigError(f"model {spec.model!r}: its spec's seed {spec.seed} contradicts seed = {seed}; every "
                              "model of the curve is built with `seed`: give the same, or leave the spec's out")
    return None if fractions is None else list(fractions)

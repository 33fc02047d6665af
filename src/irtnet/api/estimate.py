"""`irtnet estimate`: a new model's accuracy on every benchmark of a run, from its answers on a few items, with
predictive intervals, how many more answers a target width needs, and where a router would now send queries
(docs/estimation.md). The pure cores are in `irtnet.tasks.estimate`; this opens the run, reads the answers
and puts them together (the item pool and the readers of the answers and pool files are in
`irtnet.api.estimate_inputs`).

The pool of items is the run's whole table (train, validation and test queries), embedded with the run's
encoder and passed through the frozen query network once. A checkpoint without its run has no table: give it
a pool file (text and benchmark per item, optionally an id); a text it gives twice is refused, naming both
places, unless each of the two has its own id (`_refuse_repeated_texts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.api.data import as_path, prepare, split_datasets
from irtnet.api.estimate_inputs import ItemPool, PoolItem, model_groups, pool_items, read_pool_answers
from irtnet.api.experiments import real_number, whole_number
from irtnet.api.inputs import _TEXT_FIELDS, _load_records, where, where_text
from irtnet.api.run import Run, is_run_dir
from irtnet.api.texts import load, text_queries
from irtnet.config import MAX_SEED
from irtnet.data.splits import QuerySplit
from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.predictors.base import Router
from irtnet.predictors.spec import build_predictor
from irtnet.tasks.estimate import (RESERVED_BENCHMARKS, BenchmarkEstimate, check_prior_strength, check_replay_weight,
                                   estimate_accuracy, laplace_posterior)
from irtnet.tasks.item_refit import CHOICE_ANSWERS, Held, ItemRefit, refit_for_new_models
from irtnet.tasks.model_split import FoldNetwork, check_replay_folds, fold_networks, replay_on_folds
from irtnet.tasks.estimate_plan import answers_for_width, check_plan, RoutingRow, plan_items, routing_profile
from irtnet.tasks.onboard import suggest_queries


def _irt_model(checkpoint: str | Path) -> Router:
    predictor = load(checkpoint)
    if not hasattr(predictor, "query_parameters") or not hasattr(predictor, "abilities_"):
        raise ConfigError(f"{predictor.name} has no IRT query parameters; estimation needs an IrtNet checkpoint")
    return predictor


def _text_pool(predictor: Router, path: Path) -> ItemPool:
    ids, texts, groups = pool_items(path)
    _refuse_repeated_texts(texts, path)  # before the texts are encoded
    a, b = predictor.query_parameters(text_queries(predictor, texts, model_groups(predictor, groups)))
    return ItemPool(ids, np.asarray(groups, dtype=object), texts, np.asarray(a, np.float64), np.asarray(b, np.float64),
                    None, str(path))


def _refuse_repeated_texts(texts: list[str], path: Path) -> None:
    """A text given twice in a pool file is a DataError naming both places, unless both give their own `id`: a
    repeat would be planned and counted as a second item (asked twice, weighing twice in its benchmark's
    accuracy). Two items that share a text on purpose (as a run's table may hold) each give an id, by which
    they are answered (`estimate_inputs._check_text_row`)."""
    first: dict[str, int] = {}
    repeats = []
    for i, text in enumerate(texts):
        if first.setdefault(text, i) != i:
            repeats.append((first[text], i))
    rows = _load_records(path) if repeats else []  # read again only to say where
    for j, i in repeats:
        if not (_has_id(rows[j]) and _has_id(rows[i])):
            field = next(k for k in _TEXT_FIELDS if k in rows[i])
            raise DataError(f"this text is given twice, in {where_text(where(rows[j], j))} and here: a text is one "
                            "item, which a repeat would plan and count twice; remove the repeat, or give each its own "
                            "'id' if they are distinct items", file=str(path), **where(rows[i], i), field=field)


def _has_id(row: dict[str, Any]) -> bool:
    """Whether a pool file's record gives its own `id` (not the `pool-N` an item without one gets)."""
    return row.get("id") not in (None, "")


def open_pool(checkpoint_or_run: str | Path, pool: str | Path | None = None) -> tuple[Router, ItemPool]:
    """(the model, its item pool): a run's whole table, or the items of `pool` (a texts file with a benchmark
    per item) for a checkpoint."""
    if pool is not None:
        predictor = _irt_model(checkpoint_or_run)
        return predictor, _text_pool(predictor, Path(pool))
    if not is_run_dir(checkpoint_or_run):
        raise ConfigError(f"{checkpoint_or_run} is not a run directory, so it has no table of items to estimate "
                          "over; pass the run directory, or a pool file (text and benchmark per item) with the "
                          "checkpoint")
    run = Run.open(checkpoint_or_run)
    _check_benchmark_names(run)
    predictor = _irt_model(checkpoint_or_run)
    data = prepare(run.table(), run.spec.data.encoder)
    a, b = predictor.query_parameters(data.queries)
    texts = [t if isinstance(t, str) else None for t in run.table().texts_of(list(data.queries.ids))]
    known = run.table().label_matrix(model_ids=list(predictor.models_.ids))
    return predictor, ItemPool(list(data.queries.ids), np.asarray(data.queries.groups, dtype=object), texts,
                               np.asarray(a, np.float64), np.asarray(b, np.float64), known, str(run.spec.data.table),
                               run)


def _check_benchmark_names(run: Run) -> None:
    """A benchmark of the run's table named as the estimate's overall row is refused here, naming the table file,
    not later by the estimate (`tasks.estimate`), which has no file to name (`estimate_inputs.pool_items` does
    the same for a pool file)."""
    taken = [n for n in RESERVED_BENCHMARKS if n in set(run.table().queries["benchmark"].tolist())]
    if taken:
        raise DataError(f"{taken[0]!r} is the name of a row over every benchmark, not a benchmark name; rename the "
                        "benchmark and retrain the run", file=str(run.spec.data.table), field="benchmark")


# ------------------------------------------------------------------------------------------- estimates
@dataclass
class EstimateResult:
    """Per-benchmark estimates with predictive intervals, the overall (item-weighted) accuracy over them with its
    interval, the answers needed for `target_width` (where asked; None: more than were checked), the routing
    profile and the fitted ability."""

    benchmarks: list[BenchmarkEstimate]
    overall: BenchmarkEstimate
    routing: list[RoutingRow]
    theta: list[float]
    n_answers: int
    level: float
    target_width: float | None = None
    more_needed: dict[str, int | None] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "estimate", "n_answers": self.n_answers, "level": self.level,
                "target_width": self.target_width, "benchmarks": [e.to_dict() for e in self.benchmarks],
                "overall": self.overall.to_dict(),
                "more_needed": self.more_needed, "routing": [r.to_dict() for r in self.routing],
                "theta": self.theta, "settings": self.settings}


@dataclass
class _Settings:
    level: float = 0.9
    target_width: float | None = None
    prior_strength: float | None = 1.0  # None: chosen on the known models (item_refit.choose_strength)
    n_draws: int = 2000
    max_k: int = 1000
    seed: int = 0
    replay_folds: int = 0
    replay_weight: str = "auto"  # estimate_replay.REPLAY_WEIGHTS


def _held_queries(predictor: Router, pool: ItemPool) -> Held | None:
    """The run's validation queries (text items, known models' labels) on which `auto` scores the prior strength,
    as the protocol does: queries the network never trained on. None for a pool file, a pair split or a
    per-item model (those score it on the pool's unanswered items)."""
    if pool.run is None or pool.known_labels is None or getattr(predictor, "item_seen", False):
        return None
    split = pool.run.split()
    if not isinstance(split, QuerySplit) or not split.val:
        return None
    val = set(split.val)
    rows = np.array([i for i, q in enumerate(pool.ids) if q in val], dtype=np.int64)
    return (pool.a[rows], pool.b[rows], pool.known_labels[rows]) if len(rows) else None


def _refit(predictor: Router, pool: ItemPool, strength: float | None, seed: int, at: Sequence[int] = ()) -> ItemRefit:
    """The items and the new model's prior, chosen on the known models at `CHOICE_ANSWERS` answers; with
    strength None the prior's strength is chosen too, at each number of answers in `at` (`ItemRefit.priors`),
    on the run's validation queries where it has them."""
    held = _held_queries(predictor, pool) if strength is None else None
    fit = refit_for_new_models(pool.a, pool.b, pool.groups, pool.known_labels, predictor.abilities_,
                               predictor.abilities_, CHOICE_ANSWERS, strength, seed, held=held,
                               strength_at=at if strength is None else ())
    if strength is None and not fit.record["strength_chosen"]:  # it kept 1: never estimated as if chosen
        known = 0 if pool.known_labels is None else pool.known_labels.shape[1]
        raise ConfigError(f"--prior-strength auto chooses the strength on the known models' answers, which needs "
                          f"at least 4 known models with labels, and the run has {known}; give a number (1, the "
                          "default: the known models' spread)")
    return fit


def _strength_at(record: dict[str, Any], n: int) -> float:
    """The ability prior's strength a new model with n answers runs under (`_refit`'s record)."""
    return float(record.get("strength_at", {}).get(str(int(n)), record["prior_strength"]))


def _estimate(predictor: Router, pool: ItemPool, positions: np.ndarray, labels: np.ndarray,
              s: _Settings, fit: ItemRefit | None = None) -> EstimateResult:
    """The estimate from these answers; `fit` (the rounds': `_refit` once for every count) is refitted only
    where it holds no strength chosen at this number of answers."""
    n = len(labels)
    if fit is None or (s.prior_strength is None and str(n) not in fit.record.get("strength_at", {})):
        fit = _refit(predictor, pool, s.prior_strength, s.seed, (n,))
    (prior, replay_priors), replay = fit.priors(n), fit.replay
    if s.replay_folds:
        replay, replay_priors = _model_split(predictor, pool, fit.record, s, _strength_at(fit.record, n))
    a, b = fit.a, fit.b
    args = (a, b, pool.groups, positions, labels, prior)
    *estimates, overall = estimate_accuracy(
        *args, level=s.level, n_draws=s.n_draws, seed=s.seed, overall=True,
        known_labels=pool.known_labels,  # the run's table: misfit correction
        known_theta=None if pool.known_labels is None else predictor.abilities_,
        replay_items=replay, replay_priors=replay_priors, replay_weight=s.replay_weight)
    need = (answers_for_width(*args, s.target_width, s.level, max_k=s.max_k, current=[*estimates, overall],
                              overall=True) if s.target_width is not None else None)
    theta, _ = laplace_posterior(a, b, positions, labels, prior)
    p_known = irt_probability(predictor.abilities_, a, b)
    routing = routing_profile(irt_probability(theta, a, b), p_known, pool.groups, predictor.models_.ids)
    settings = {"pool": pool.source, "n_pool": len(pool.ids), "prior_strength": _strength_at(fit.record, n),
                "n_draws": s.n_draws, "max_k": s.max_k, "seed": s.seed,
                "interval": "predictive interval of the realised accuracy over every item of the benchmark",
                "overall": "item-weighted accuracy over every benchmark; its interval from each known model's "
                           "replayed errors summed over the benchmarks where the run's known models replay, else "
                           "from the draws (docs/estimation.md, step 6)",
                "misfit_correction": pool.known_labels is not None, "item_refit": fit.record,
                "replay_folds": s.replay_folds, "replay_weight": s.replay_weight,
                "routing": "uncalibrated IRT probabilities; routed share = items where the new model has the "
                           "highest P(correct)"}
    return EstimateResult(estimates, overall, routing, theta.tolist(), len(labels), s.level, s.target_width, need,
                          settings)


def _model_split(predictor: Router, pool: ItemPool, record: dict[str, Any], s: _Settings,
                 strength: float) -> tuple[list[Any], list[Any]]:
    """The known models' replay on networks trained without them (`tasks/model_split.py`): one per fold of the
    run's models, trained once per pool on the run's own split and spec; answered texts added to the pool
    keep the checkpoint's items there (they have no known labels, so no replay reads them)."""
    if pool.run is None or pool.known_labels is None:
        raise ConfigError("--replay-folds trains networks on the run's table; give the run directory, not a "
                          "checkpoint with a pool file")
    n_known = len(predictor.models_)
    if s.replay_folds > n_known:
        raise ConfigError(f"--replay-folds {s.replay_folds}: the run knows {n_known} models, so at most {n_known} "
                          "folds (each fold leaves out at least one model)")
    if pool.folds is None:
        run = pool.run
        data = prepare(run.table(), run.spec.data.encoder)
        train, val, _ = split_datasets(data, run.split())
        pool.folds = fold_networks(lambda: build_predictor(run.spec.model), train, val, data.queries,
                                   list(predictor.models_.ids), s.replay_folds, s.seed)
    nets = [FoldNetwork(n.cols, n.others, np.vstack([n.a, pool.a[len(n.b):]]),
                        np.concatenate([n.b, pool.b[len(n.b):]]), n.theta) for n in pool.folds]
    return replay_on_folds(nets, pool.known_labels, record["prior_sd"], record["prior_kind"], strength)


def _strength(prior_strength: Any) -> float | None:
    """The ability prior's strength: 'auto' (as on the command line) is None, chosen on the known models."""
    if isinstance(prior_strength, str) and prior_strength.strip().lower() == "auto":
        return None
    check_prior_strength(prior_strength)
    return prior_strength


def _check(level: Any, target_width: Any, replay_folds: Any = 0, replay_weight: str = "auto",
           prior_strength: Any = 1.0, n_draws: Any = 2000, seed: Any = 0, max_k: Any = None) -> float | None:
    """ConfigError naming the first bad option, before the run is opened; the prior strength ('auto': None)."""
    strength = _strength(prior_strength)
    check_replay_folds(whole_number(replay_folds, "replay_folds", 0))
    check_replay_weight(replay_weight)
    if not 0 < real_number(level, "level") < 1:
        raise ConfigError(f"--level must lie strictly between 0 and 1, got {level}")
    if target_width is not None and not 0 < real_number(target_width, "target_width") <= 1:
        raise ConfigError(f"--target-width must lie in (0, 1], got {target_width}")
    whole_number(n_draws, "n_draws", 1)
    whole_number(seed, "seed", 0, MAX_SEED)
    if max_k is not None:
        whole_number(max_k, "max_k", 1)
        if target_width is None:
            raise ConfigError("max_k bounds the answers counted for target_width; give target_width, or leave out "
                              "max_k")
    return strength


def _check_pool(pool: Any, replay_weight: str, strength: float | None = 1.0) -> None:
    """A pool file has no known models' labels, so no correction runs and no prior strength is chosen: a replay
    weight other than 'auto', and a prior strength 'auto' (None), are refused."""
    if pool is not None and replay_weight != "auto":
        raise ConfigError(f"replay_weight {replay_weight!r}: with a pool file there are no known models' labels, so no "
                          "correction runs; leave it out, or give the run directory without a pool")
    if pool is not None and strength is None:
        raise ConfigError("--prior-strength auto chooses the strength on the known models' answers, and with a pool "
                          "file there are none; give a number (1, the default), or the run directory without a pool")


def estimate_model(checkpoint_or_run: str | Path, answers_file: str | Path, level: float = 0.9,
                   target_width: float | None = None, pool: str | Path | None = None,
                   prior_strength: float | None = 1.0,
                   n_draws: int = 2000, max_k: int | None = None, seed: int = 0, replay_folds: int = 0,
                   replay_weight: str = "auto") -> EstimateResult:
    """A new model's accuracy on each benchmark of the run's items from its answers in `answers_file`;
    `replay_folds` > 1 replays the known models for the intervals on networks trained without them;
    `replay_weight` how the residual correction's weight is fitted on them (`estimate.estimate_accuracy`);
    `max_k` (with `target_width`; default 1000) the most answers counted for it; `prior_strength` a number or
    'auto' (None: chosen on the known models)."""
    strength = _check(level, target_width, replay_folds, replay_weight, prior_strength, n_draws, seed, max_k)
    answers_file = as_path(answers_file, "answers_file")
    _check_pool(pool, replay_weight, strength)
    predictor, items = open_pool(checkpoint_or_run, pool)
    positions, labels = read_pool_answers(answers_file, items, predictor)
    result = _estimate(predictor, items, positions, labels,
                       _Settings(level, target_width, strength, n_draws, 1000 if max_k is None else max_k, seed,
                                 replay_folds, replay_weight))
    result.settings.update(run=str(checkpoint_or_run), answers=str(answers_file))
    return result


def plan(checkpoint_or_run: str | Path, n: int, strategy: str = "adaptive", seed: int = 0,
         pool: str | Path | None = None, prior_strength: float | None = 1.0) -> list[PoolItem]:
    """The n items a new model should answer first (`tasks.estimate.plan_items`), in the order to ask them."""
    strength = _strength(prior_strength)
    _check_pool(pool, "auto", strength)
    whole_number(seed, "seed", 0, MAX_SEED)
    check_plan(1, 1, strategy)  # the strategy, and n a whole number, before the run is opened
    whole_number(n, "n", 1)
    predictor, items = open_pool(checkpoint_or_run, pool)
    check_plan(n, len(items.ids), strategy)  # before the refit, which reads n
    fit = _refit(predictor, items, strength, seed, (n,))  # as estimate does with n answers
    picks = plan_items(fit.a, fit.b, items.groups, n, strategy, fit.priors(n)[0], seed, items.known_labels)
    return [items.item(i) for i in picks]


def _labels_of(got: Any, n: int) -> list[float]:
    """`ask`'s outcomes of n items: a list (or tuple, or array) of n numbers in [0, 1]."""
    if not isinstance(got, (list, tuple, np.ndarray)) or len(got) != n:
        raise DataError(f"ask must return a list of {n} outcomes (numbers in [0, 1]), one per item asked; got "
                        f"{got!r}", field="answer")
    if any(isinstance(y, bool) or not isinstance(y, (int, float, np.integer, np.floating)) or not 0 <= y <= 1
           for y in got):  # also refuses NaN
        raise DataError(f"ask must return numbers in [0, 1] (not strings or bools), got {list(got)!r}", field="answer")
    return [float(y) for y in got]


def estimate_rounds(checkpoint_or_run: str | Path, ask: Callable[[list[PoolItem]], Sequence[float]],
                    rounds: int = 5, per_round: int = 10, level: float = 0.9, target_width: float | None = None,
                    answers_file: str | Path | None = None, pool: str | Path | None = None,
                    prior_strength: float | None = 1.0, n_draws: int = 2000, seed: int = 0,
                    replay_folds: int = 0, replay_weight: str = "auto") -> Iterator[EstimateResult]:
    """The interactive loop: each round choose `per_round` items (greedy D-optimal at the current ability,
    given the items already answered), get their outcomes from `ask(items)` and yield the updated estimate.
    Starts from the answers of `answers_file` where given; stops early when the pool is exhausted. Each result's
    settings hold its `round` (0: the estimate from `answers_file` alone, yielded only when they leave no item
    to ask) and, where the pool ran short, a `note` saying so."""
    strength = _check(level, target_width, replay_folds, replay_weight, prior_strength, n_draws, seed)
    if not callable(ask):
        raise ConfigError(f"ask must be a function of the items to ask, returning their outcomes; got {ask!r}")
    whole_number(rounds, "rounds", 1)
    whole_number(per_round, "per_round", 1)
    answers_file = None if answers_file is None else as_path(answers_file, "answers_file")
    _check_pool(pool, replay_weight, strength)
    predictor, items = open_pool(checkpoint_or_run, pool)
    positions, labels = (read_pool_answers(answers_file, items, predictor) if answers_file
                         else (np.zeros(0, np.int64), np.zeros(0)))
    counts = [len(labels) + k * per_round for k in range(rounds + 1)]  # answers before and after each round
    fit = _refit(predictor, items, strength, seed, counts)  # the items and priors the estimates run on
    settings = _Settings(level, target_width, strength, n_draws, seed=seed, replay_folds=replay_folds,
                         replay_weight=replay_weight)
    n_pool = len(items.ids)
    if len(labels) == n_pool:  # nothing to ask: the estimate from the answers given, said so
        result = _estimate(predictor, items, positions, labels, settings, fit)
        result.settings.update(run=str(checkpoint_or_run), round=0, note=f"no item left to ask: the {len(labels)} "
                               "answers given cover every item of the pool")
        yield result
        return
    for r in range(1, rounds + 1):
        free = np.setdiff1d(np.arange(n_pool), positions)
        prior = fit.priors(len(labels))[0]
        theta, _ = laplace_posterior(fit.a, fit.b, positions, labels, prior)
        picks = free[suggest_queries(fit.a[free], fit.b[free], theta, prior, fit.a[positions],
                                     fit.b[positions], per_round)]
        got = _labels_of(ask([items.item(int(i)) for i in picks]), len(picks))
        positions, labels = np.concatenate([positions, picks]), np.concatenate([labels, got])
        result = _estimate(predictor, items, positions, labels, settings, fit)
        result.settings.update(run=str(checkpoint_or_run), round=r)
        if len(labels) == n_pool and (r < rounds or len(picks) < per_round):
            result.settings["note"] = (
                f"round {r} asked the last {len(picks)} items of the pool"
                + (f" (fewer than per_round {per_round})" if len(picks) < per_round else "")
                + (f"; no item is left to ask, so the rounds end after round {r} of {rounds}" if r < rounds else ""))
        yield result
        if len(labels) == n_pool:
            return

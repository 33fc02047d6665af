"""Evaluating estimation (docs/estimation.md, "Evaluating estimation"): UniRoute's new-model protocol for a
held-out model's accuracy on every benchmark from N of its answers, irtnet beside the baselines of
`irtnet.tasks.estimation_baselines`.

For each draw (seed + draw): hold out a share of the models (`held_out_models`), split the queries
(`split_by_query`, stratified by benchmark) and train `make_predictor()` on the known models' labels of the
train part (validated on the val part; the test part is kept for routing). The pool is the train part. A
held-out model's pool is its labelled pool items; its true accuracy on a benchmark is its mean label there.
For each held-out model and N, each method picks N items of that pool its own way, reads their labels and
estimates every benchmark:

    irtnet-random|adaptive|balanced|anchor  estimate.estimate_accuracy on the checkpoint's a, b (refitted on
                                            the known models' answers: item_refit.py, unless item_refit=False),
                                            misfit-corrected with the known models' pool labels and abilities;
                                            items at random or from estimate.plan_items(adaptive|balanced|anchor)
    mean-random, mean-stratified            the sample mean with a Wilson interval
    anchor, p-irt, gp-irt                   tinyBenchmarks on its correctness anchor points
    hiershrink                              cluster rates shrunk to the model's mean, random items (clusters of
                                            the texts, or of the known models' answers on a text-free table)
    retrain                                 (N in routing_ns, given `retrain`) a model retrained with every
                                            held-out model's N random answers added: observed + predicted

Random items are one seeded order per (draw, model), so mean-random, hiershrink, irtnet-random and retrain
see the same answers and N = 10 is a prefix of N = 25. Scores per (method, N), per benchmark and "all":
absolute and signed error, Spearman correlation over the held-out models of estimated against true accuracy
(per draw, then averaged; "all" ranks the item-weighted overall accuracy), the share of (model, benchmark)
cells whose interval holds the truth and the mean width; on "all" also the error of that overall accuracy.
Paired: each irtnet method's absolute error minus each baseline's on the same (draw, model, benchmark) cells,
and on the same (draw, model) overall accuracies, a bootstrap over (draw, model) units, and a win / tie / loss
verdict (`stats.verdict`); the cells and these summaries are in `estimation_summary`. Routing at N in
routing_ns: the checkpoint with the held-out models added (`onboard.with_new_model`, theta from the random N
answers) against the retrained model and against HierShrink as a router (the `cluster-rate` baseline, fitted on
the same answers), on the test queries (`estimation_routing.routing_rows`). Given a `DrawCache`, each finished
draw is saved and a rerun reads it instead of computing it again (`estimation_draws`).

What lives where: this module runs the draws (`evaluate_estimation`); `estimation_settings` checks the protocol's
settings (`check_settings`), holds what a draw depends on (`DrawSettings`) and writes the settings record;
`estimation_summary` scores the cells, `estimation_routing` the routing rows, `estimation_draws` the draw cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from irtnet._io import clear_stale_temps
from irtnet.data.provenance import table_fingerprint
from irtnet.data.splits import held_out_models, pair_subset, split_by_query
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.baselines.text_rates import ClusterRate
from irtnet.tasks import estimation_baselines as eb
from irtnet.tasks.estimate import OVERALL, estimate_accuracy
from irtnet.tasks.estimate_plan import plan_items
from irtnet.tasks.estimation_draws import DrawCache, DrawResult, draw_path, load_draw, save_draw
from irtnet.tasks.estimation_routing import routing_rows
from irtnet.tasks.estimation_settings import DrawSettings, check_settings, settings_record
from irtnet.tasks.estimation_summary import IRTNET, METHODS, EstimationCell, paired_errors, summarise
from irtnet.tasks.item_refit import CHOICE_ANSWERS, refit_for_new_models
from irtnet.tasks.model_split import fold_networks, fold_priors, replay_on_folds
from irtnet.tasks.onboard import Prior, fit_theta, with_new_model


@dataclass
class EstimationEvaluation:
    """Every cell, their summary per (method, n, benchmark), the paired verdicts, routing rows and settings; `run`:
    this invocation's draws, computed and read from the draw cache (the rest is the same either way)."""

    cells: list[EstimationCell]
    summary: list[dict[str, Any]]
    paired: list[dict[str, Any]]
    routing: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "estimation", "settings": self.settings, "summary": self.summary, "paired": self.paired,
                "routing": self.routing, "cells": [asdict(c) for c in self.cells], "run": self.run}


@dataclass
class _Pool:
    """One held-out model's pool (its labelled pool items) and what every method reads of it."""

    a: np.ndarray
    b: np.ndarray
    groups: np.ndarray
    y: np.ndarray
    known: np.ndarray
    clusters: np.ndarray | None
    irt: eb.ClassicalIrt | None
    order: np.ndarray  # the seeded random order of its items
    replay: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None  # cross-fitted items per known half


@dataclass
class _Draw:
    """What one draw shares: the checkpoint, its prior, the pool's parameters and labels, the baselines' fits."""

    index: int
    predictor: Any
    prior: Prior
    a: np.ndarray
    b: np.ndarray
    groups: np.ndarray
    known: np.ndarray
    new: np.ndarray
    new_models: list[str]
    clusters: np.ndarray | None
    irt: eb.ClassicalIrt | None
    bias2: dict[str, float]
    variance: dict[str, float]
    plans: dict[tuple[str, int, bytes], np.ndarray] = field(default_factory=dict)
    known_theta: np.ndarray | None = None  # the checkpoint's abilities of the known models, in `known`'s order
    refit: dict[str, Any] = field(default_factory=dict)  # the item prior chosen on the known models, its scores
    replay: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None  # per known group: (a, b, columns) to replay it on
    replay_priors: list[Prior] | None = None  # each known model's prior built without it (item_refit.py)
    at: dict[int, tuple[Prior, list[Prior]]] = field(default_factory=dict)  # priors per N (ItemRefit.at)
    replay_weight: str = "auto"  # how the estimates fit replay's lambda (estimate_replay.REPLAY_WEIGHTS)

    def priors(self, n: int) -> tuple[Prior, list[Prior] | None]:
        """(the new model's prior, the replay's priors) at n answers."""
        return self.at.get(int(n), (self.prior, self.replay_priors))


# --------------------------------------------------------------------------------------- one draw
def _prepare_draw(index: int, predictor: Any, pool: Any, known_ids: Sequence[str], new_ids: Sequence[str],
                  methods: Sequence[str], irt_dim: int, seed: int, item_refit: bool = True,
                  strength: float | None = 1.0, val: Any = None, strength_at: Sequence[int] = ()) -> _Draw:
    if not hasattr(predictor, "query_parameters"):
        raise ConfigError(f"{predictor.name} has no IRT query parameters; the protocol needs an IrtNet model")
    a, b = (np.asarray(x, np.float64) for x in predictor.query_parameters(pool.queries))
    groups = pool.table.queries["benchmark"].astype(str).to_numpy(dtype=object)
    known, new = pool.table.label_matrix(model_ids=list(known_ids)), pool.table.label_matrix(model_ids=list(new_ids))
    clusters = None
    if "hiershrink" in methods:
        clusters = (eb.text_clusters(pool.queries.vectors, seed=seed) if pool.queries.vectors is not None
                    else eb.response_clusters(known, seed=seed))  # a text-free table: the known models' answers
    irt, bias2, variance = None, {}, eb.item_variance(known, groups)
    if any(m in methods for m in ("p-irt", "gp-irt")):
        irt = eb.fit_classical_irt(known, irt_dim, seed)
        if "gp-irt" in methods and known.shape[1] >= 3:
            bias2 = eb.irt_bias(known, groups, irt_dim, seed)
    ids = {m: i for i, m in enumerate(predictor.models_.ids)}
    theta = predictor.abilities_[[ids[m] for m in known_ids]] if all(m in ids for m in known_ids) else None
    held = None
    if strength is None and val is not None and not getattr(predictor, "item_seen", False):
        # the strength is scored on queries the network never trained on (a per-item model has no items for them)
        held = (*(np.asarray(x, np.float64) for x in predictor.query_parameters(val.queries)),
                val.table.label_matrix(model_ids=list(known_ids)))
    fit = refit_for_new_models(a, b, groups, known if item_refit else None, theta, predictor.abilities_,
                               n_answers=CHOICE_ANSWERS, strength=strength, seed=seed, held=held,
                               strength_at=strength_at)
    return _Draw(index, predictor, fit.prior, fit.a, fit.b, groups, known, new, list(new_ids),
                 clusters, irt, bias2, variance, known_theta=theta, refit=fit.record, replay=fit.replay,
                 replay_priors=fit.replay_priors, at=fit.at)


def _pool_of(ctx: _Draw, j: int, seed: int) -> tuple[np.ndarray, _Pool]:
    items = np.flatnonzero(~np.isnan(ctx.new[:, j]))
    return items, _Pool(ctx.a[items], ctx.b[items], ctx.groups[items], ctx.new[items, j], ctx.known[items],
                        None if ctx.clusters is None else ctx.clusters[items],
                        None if ctx.irt is None else ctx.irt.take(items),
                        eb.random_items(len(items), len(items), [seed, ctx.index, j]),
                        None if ctx.replay is None else [(ra[items], rb[items], cols) for ra, rb, cols in ctx.replay])


def _plan(ctx: _Draw, pool: _Pool, items: np.ndarray, strategy: str, n: int, seed: int) -> np.ndarray:
    """plan_items' choice (label-free, so shared by held-out models with the same pool)."""
    key = (strategy, n, np.packbits(np.isin(np.arange(len(ctx.b)), items)).tobytes())
    if key not in ctx.plans:
        ctx.plans[key] = np.asarray(plan_items(pool.a, pool.b, pool.groups, n, strategy, ctx.priors(n)[0], seed,
                                               pool.known if strategy == "anchor" else None), np.int64)
    return ctx.plans[key]


def _tiny(ctx: _Draw, pool: _Pool, items: np.ndarray, n: int, seed: int) -> dict[str, list[Any]]:
    key = ("anchor-points", n, np.packbits(np.isin(np.arange(len(ctx.b)), items)).tobytes())
    if key not in ctx.plans:
        ap = eb.anchor_points(pool.known, pool.groups, n, seed)
        ctx.plans[key] = np.vstack([ap.items, ap.weights])
    idx, w = ctx.plans[key][0].astype(np.int64), ctx.plans[key][1]
    first = eb.anchor_estimate(idx, pool.y[idx], pool.groups, weights=w)
    out: dict[str, list[Any]] = {"anchor": first}
    if pool.irt is not None:
        out["p-irt"] = eb.pirt_estimate(idx, pool.y[idx], pool.groups, irt=pool.irt)
        out["gp-irt"] = eb.gpirt_estimate(first, out["p-irt"], ctx.bias2, ctx.variance)
    return out


def _estimates(method: str, ctx: _Draw, pool: _Pool, items: np.ndarray, n: int, j: int, level: float,
               n_draws: int, seed: int, tiny: dict[str, list[Any]]) -> list[Any]:
    rand = pool.order[:n]
    if method in IRTNET:
        idx = rand if IRTNET[method] == "random" else _plan(ctx, pool, items, IRTNET[method], n, seed)
        prior, replay_priors = ctx.priors(n)
        return estimate_accuracy(pool.a, pool.b, pool.groups, idx, pool.y[idx], prior, level, n_draws, seed,
                                 known_labels=pool.known, known_theta=ctx.known_theta, replay_items=pool.replay,
                                 replay_priors=replay_priors, replay_weight=ctx.replay_weight, overall=True)
    if method == "mean-random":
        return eb.mean_estimate(rand, pool.y[rand], pool.groups, level=level)
    if method == "mean-stratified":
        idx = eb.stratified_items(pool.groups, n, [seed, ctx.index, j])
        return eb.mean_estimate(idx, pool.y[idx], pool.groups, level=level)
    if method == "hiershrink":
        return eb.hiershrink_estimate(rand, pool.y[rand], pool.groups, pool.known, clusters=pool.clusters)
    if not tiny:
        tiny.update(_tiny(ctx, pool, items, n, seed))
    return tiny[method]


def _cells(ctx: _Draw, model: str, method: str, n: int, estimates: Sequence[Any], pool: _Pool) -> list[EstimationCell]:
    truth = {g: float(pool.y[pool.groups == g].mean()) for g in set(pool.groups.tolist())}
    truth[OVERALL] = float(pool.y.mean())  # every item of the pool: the item-weighted accuracy
    return [EstimationCell(ctx.index, model, method, int(n), e.benchmark, e.n_items, e.n_answered, e.estimate,
                           e.lower, e.upper, truth[e.benchmark]) for e in estimates]


def _model_cells(ctx: _Draw, j: int, ns: Sequence[int], methods: Sequence[str], level: float, n_draws: int,
                 seed: int) -> list[EstimationCell]:
    items, pool = _pool_of(ctx, j, seed)
    out = []
    for n in (n for n in ns if n <= len(items)):
        tiny: dict[str, list[Any]] = {}
        for method in (m for m in methods if m != "retrain"):
            est = _estimates(method, ctx, pool, items, n, j, level, n_draws, seed, tiny)
            out += _cells(ctx, ctx.new_models[j], method, n, est, pool)
    return out


# --------------------------------------------------------------------------------- retrain, routing
def _retrain_cells(ctx: _Draw, model: Any, pool_data: Any, n: int, seed: int) -> list[EstimationCell]:
    prob = model.predict_proba(pool_data.queries, ctx.new_models)  # [Q_pool, M_new], the draw's pool order
    out = []
    for j, name in enumerate(ctx.new_models):
        items, pool = _pool_of(ctx, j, seed)
        if n <= len(items):
            idx = pool.order[:n]
            out += _cells(ctx, name, "retrain", n, eb.plugin_estimate(idx, pool.y[idx], pool.groups, prob[items, j]), pool)
    return out


def _added(ctx: _Draw, n: int, seed: int) -> Any:
    """The checkpoint with every held-out model added, theta fitted from its first n random answers."""
    predictor = ctx.predictor
    for j, name in enumerate(ctx.new_models):
        _, pool = _pool_of(ctx, j, seed)
        idx = pool.order[:n]
        prior = ctx.priors(n)[0]
        theta = fit_theta(pool.a[idx], pool.b[idx], pool.y[idx], prior.mean, prior.precision)
        predictor = with_new_model(predictor, name, theta)
    return predictor


def _routing_inputs(data: Any, split: Any, ctx: _Draw, routers: dict[str, Any], n: int, seed: int,
                    all_models: Sequence[str]) -> dict[str, np.ndarray]:
    """Test labels, irtnet with the held-out models added and each other router's probabilities [Q, M]."""
    test = data.select(split.test)
    out = {"y": test.table.label_matrix(model_ids=list(all_models))}
    for key, predictor in (("irtnet-added", _added(ctx, n, seed)), *routers.items()):
        out[key] = predictor.predict_proba(test.queries, list(all_models))
    out["new"] = np.isin(np.asarray(all_models, dtype=object), ctx.new_models)
    return out


# ------------------------------------------------------------------------------------------ protocol
def _run_draw(d: int, data: Any, s: DrawSettings, make_predictor: Callable[[], Any], retrain: Callable[[], Any] | None,
              msplit: Any, qsplit: Any, all_models: Sequence[str], say: Callable[[str], None]) -> DrawResult:
    """One draw on its model split `msplit` and query split `qsplit`: train, estimate every held-out model,
    retrain and collect the routing inputs."""
    say(f"draw {d}: training on {len(msplit.train_models)} models, holding out {len(msplit.test_models)}")
    val = data.select(qsplit.val, msplit.train_models) if qsplit.val else None
    train = data.select(qsplit.train, msplit.train_models)
    predictor = make_predictor().fit(train, val)
    pool_data = data.select(qsplit.train)
    ctx = _prepare_draw(d, predictor, pool_data, msplit.train_models, msplit.test_models, s.methods, s.irt_dim,
                        s.seed, s.item_refit, strength=s.prior_strength, val=val,
                        strength_at=(*s.ns, *s.routing_ns) if s.prior_strength is None else ())
    ctx.replay_weight = s.replay_weight
    if s.replay_folds:
        nets = fold_networks(make_predictor, train, val, pool_data.queries, msplit.train_models, s.replay_folds,
                             s.seed + d, lambda m: say(f"draw {d}: {m}"))
        ctx.replay, ctx.replay_priors = replay_on_folds(nets, ctx.known, ctx.refit["prior_sd"],
                                                        ctx.refit["prior_kind"], ctx.refit["prior_strength"])
        ctx.at = {n: (prior, fold_priors(nets, ctx.known.shape[1], ctx.refit["prior_kind"],
                                         ctx.refit["strength_at"][str(n)])) for n, (prior, _) in ctx.at.items()}
    out = DrawResult([], {}, ctx.refit, bool(getattr(predictor, "item_seen", False)))
    for j, name in enumerate(ctx.new_models):
        say(f"draw {d}: estimating {name}")
        n_answered = int((~np.isnan(ctx.new[:, j])).sum())
        if any(n > n_answered for n in s.ns):  # no N-answer draw from fewer items: said, not silently dropped
            say(f"draw {d}: {name} answered {n_answered} pool items; skipped N = "
                f"{', '.join(str(n) for n in s.ns if n > n_answered)}")
        short = [str(n) for n in s.routing_ns if n > n_answered] if retrain and "retrain" in s.methods else []
        if short:  # routing adds every held-out model: this one with all it has
            say(f"draw {d}: {name} enters routing (added and retrained) with its {n_answered} answers at "
                f"N = {', '.join(short)}")
        out.cells += _model_cells(ctx, j, s.ns, s.methods, s.level, s.n_draws, s.seed)
    if retrain is None or "retrain" not in s.methods:
        return out
    for n in (n for n in s.routing_ns if qsplit.test):
        say(f"draw {d}: retraining with {n} answers of each held-out model")
        answered = _with_answers(data, qsplit.train, msplit.train_models, ctx, n, s.seed)
        retrained = retrain().fit(answered, val)
        out.cells += _retrain_cells(ctx, retrained, pool_data, n, s.seed)
        if not getattr(retrained, "item_seen", False):  # free per-item parameters: no unseen test queries
            routers = {"retrain": retrained}
            if answered.queries.vectors is not None:  # HierShrink's router: the cluster base rate, same answers
                routers["hiershrink"] = ClusterRate(seed=s.seed).fit(answered, val)
            out.routing[n] = _routing_inputs(data, qsplit, ctx, routers, n, s.seed, all_models)
    return out


def evaluate_estimation(data: Any, make_predictor: Callable[[], Any], ns: Sequence[int] = (10, 25, 50, 100, 200),
                        draws: int = 3, held_out_share: float = 1 / 3, seed: int = 0,
                        methods: Sequence[str] = METHODS, retrain: Callable[[], Any] | None = None,
                        routing_ns: Sequence[int] = (50, 100), fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                        level: float = 0.9, n_draws: int = 1000, n_boot: int = 2000, irt_dim: int = 2,
                        item_refit: bool = True, replay_folds: int = 0, prior_strength: float | None = 1.0,
                        replay_weight: str = "auto", cache: DrawCache | None = None,
                        progress: Callable[[str], None] | None = None) -> EstimationEvaluation:
    """The protocol of the module docstring on a Dataset; `retrain` (a factory) adds the retrain method and the
    routing comparison at `routing_ns`; `prior_strength` scales the new models' ability prior (its precision;
    `onboard.population_prior`) for their estimates and for adding them to the checkpoint (None: chosen per draw
    and per N on the known models, `item_refit.choose_strength`, or 1 where there are too few); `replay_folds` > 1
    replays the known models on auxiliary networks trained without them (`model_split.fold_networks`), 0
    on the checkpoint's own items; `replay_weight` is irtnet's estimates' (`estimate.estimate_accuracy`).
    With `cache`, each finished draw is saved in its folder and a draw found there is read instead of computed
    (`estimation_draws`; its context must name what `make_predictor`, `retrain` and the vectors depend on).
    Returns every cell, the summaries, the paired verdicts and, under `run`, how many draws were computed and read."""
    check_settings(ns, draws, held_out_share, methods, retrain is not None, routing_ns, level, replay_folds,
                   replay_weight, prior_strength)  # before any training
    all_models = list(data.table.model_vocab.ids)
    if len(all_models) < 3:
        raise DataError(f"the protocol needs at least 3 models (known and held out), got {len(all_models)}",
                        field="models")
    n_test = min(len(all_models) - 2, max(1, round(held_out_share * len(all_models))))
    if replay_folds > len(all_models) - n_test:  # model_folds would use fewer than asked, and the record say more
        raise ConfigError(f"replay_folds: {replay_folds} folds of the {len(all_models) - n_test} known models of a "
                          f"draw; use at most {len(all_models) - n_test} (or 0: replay on the checkpoint)")
    s = DrawSettings(tuple(int(n) for n in ns), held_out_share, seed, tuple(methods), retrain is not None,
                     tuple(int(n) for n in routing_ns), tuple(fractions), level, n_draws, irt_dim, item_refit,
                     replay_folds, prior_strength, replay_weight)
    say = progress or (lambda _m: None)
    if cache is not None:
        clear_stale_temps(cache.folder)  # what a killed run left half-written (saves go through atomic_path)
    table = "" if cache is None else table_fingerprint(data.table)
    cells: list[EstimationCell] = []
    routing: dict[int, list[dict[str, np.ndarray]]] = {}
    refits: list[dict[str, Any]] = []
    item_seen, read = False, 0
    for d in range(draws):
        msplit = held_out_models(data.table, n_test=n_test, seed=seed + d)
        qsplit = split_by_query(data.table, fractions, seed + d)
        if min(ns) > len(qsplit.train):  # refused before training: no N fits the pool
            raise DataError(f"every N asked ({list(ns)}) is more than the {len(qsplit.train)} items of the pool "
                            "(the split's train queries): use smaller numbers of answers", field="ns")
        if retrain is not None and "retrain" in methods and max(routing_ns) > len(qsplit.train):
            raise DataError(f"{max(routing_ns)} answers (routing_ns) is more than the {len(qsplit.train)} items of "
                            "the pool (the split's train queries): no held-out model has answered as many; use "
                            "smaller numbers", field="routing_ns")
        path = None if cache is None else draw_path(cache, table, asdict(s), d)
        done = None if path is None else load_draw(path)
        if done is None:
            done = _run_draw(d, data, s, make_predictor, retrain, msplit, qsplit, all_models, say)
            if path is not None:
                save_draw(path, done)
        else:
            read += 1
            say(f"draw {d}: read from {path}")
            if any(m != "retrain" for m in s.methods):  # as when it was computed: never silently left out
                _say_skipped(d, done, msplit.test_models, s.ns, say)
        cells += done.cells
        refits.append(done.refit)
        item_seen = done.item_seen
        for n, inputs in done.routing.items():
            routing.setdefault(n, []).append(inputs)
    if not cells:
        raise DataError(f"no held-out model answered as many pool items as any N asked ({list(ns)}): use smaller "
                        "numbers of answers", field="ns")
    settings = settings_record(s, draws, n_test, n_boot, refits, item_seen)
    run = {"draws_computed": draws - read, "draws_from_cache": read,
           "draw_cache": None if cache is None else str(cache.folder)}
    return EstimationEvaluation(cells, summarise(cells), paired_errors(cells, n_boot, seed),
                                routing_rows(routing, n_boot, seed), settings, run)


def _say_skipped(d: int, done: DrawResult, models: Sequence[str], ns: Sequence[int], say: Callable[[str], None]
                 ) -> None:
    """For a draw read from the cache, the N each held-out model had too few pool answers for (`_run_draw` says
    so when it computes the draw): the N without any of its cells (retrain's are at the routing N)."""
    scored = {(c.model, c.n) for c in done.cells if c.method != "retrain"}
    for name in models:
        skipped = [str(n) for n in ns if (name, n) not in scored]
        if skipped:
            say(f"draw {d}: {name} answered fewer pool items than N; skipped N = {', '.join(skipped)}")


def _with_answers(data: Any, pool_ids: Sequence[str], known_ids: Sequence[str], ctx: _Draw, n: int, seed: int) -> Any:
    """The known models' pool labels plus each held-out model's first n random pool answers."""
    model_of = data.table.responses["model"].astype(str).to_numpy(dtype=object)
    query_of = data.table.responses["query"].astype(str).to_numpy(dtype=object)
    keep = np.isin(model_of, list(known_ids)) & np.isin(query_of, list(pool_ids))
    pool_queries = np.asarray(data.select(pool_ids).table.query_vocab.ids, dtype=object)
    for j, name in enumerate(ctx.new_models):
        items, pool = _pool_of(ctx, j, seed)
        keep |= (model_of == name) & np.isin(query_of, pool_queries[items[pool.order[:n]]])
    return pair_subset(data, keep)

"""The experiment protocols behind the task commands, above the pure task functions: each builds its models
from `ModelSpec`s (so every seed and default is the one `resolve_spec` gives), runs the protocol and returns a
result object that the CLI prints and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import write_json
from irtnet.api.data import load_table, prepare
from irtnet.api.inputs import read_answers, read_texts, read_texts_and_ids, refuse_other_benchmark
from irtnet.api.run import Run, is_run_dir
from irtnet.api.routing_policies import has_probabilities
from irtnet.api.texts import check_one_benchmark, load, text_queries
from irtnet.data.dataset import Dataset
from irtnet.config import name_list
from irtnet.errors import ConfigError, DataError, UnusedOptionError
from irtnet.predictors.base import Predictor, Router
from irtnet.predictors.spec import ModelSpec, build_predictor, registered, resolve_spec
from irtnet.training.threads import torch_threads


def factory(spec: ModelSpec) -> Callable[[], Router]:
    """A function that builds a fresh model as `spec` says (resolved once, here, so errors come early)."""
    full = resolve_spec(spec)
    return lambda: build_predictor(full)


def text_baselines(exclude: Sequence[str] = ("irtnet",)) -> list[str]:
    """Registered predictors that can score an unseen query (not item-seen), except `exclude`."""
    from irtnet.predictors import REGISTRY

    return [n for n, c in REGISTRY.items() if issubclass(c, Predictor) and not c.item_seen and n not in exclude]


def prepared(table: str | Path, encoder: str) -> Dataset:
    return prepare(load_table(table), encoder)


# ------------------------------------------------------------------------------------------- settings
def whole_number(value: Any, name: str, minimum: int | None = 1, maximum: int | None = None) -> int:
    """`value` as an int: a whole number (not a bool, not 2.0) of at least `minimum` (None: any; the range is the
    caller's check) and at most `maximum` (None: any); else a ConfigError naming the setting `name`. Protocol
    settings are checked with it before any table is read or model trained."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (minimum is not None
                                                                               and value < minimum):
        least = "" if minimum is None else f" of at least {minimum}"
        raise ConfigError(f"{name} must be a whole number{least}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value!r}")
    return int(value)


def whole_numbers(values: Any, name: str, minimum: int | None = 1) -> list[int]:
    """Each of `values` (a list, not one number or a string) a `whole_number`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(f"{name} must be a list of whole numbers, got {values!r}")
    return [whole_number(v, f"{name}[{i}]", minimum) for i, v in enumerate(values)]


def real_number(value: Any, name: str) -> float:
    """`value` as a float: a number (not a bool, not a string); its range is the caller's check."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------------- benchmarks
def predict_benchmark(checkpoint: str | Path, texts_file: str | Path, benchmark: str | None = None
                      ) -> tuple[int, list[tuple[str, float]], list[str | None]]:
    """(number of texts, every known model ranked by predicted accuracy on the texts of `texts_file`, the
    benchmark each text was read under: None for a text of a new benchmark). The benchmark of each text is the
    file's own `benchmark` field where it has one, else `benchmark` when given; `benchmark` where the file gives
    another is a DataError naming the file, the record and both names, and an empty one a ConfigError."""
    from irtnet.tasks.benchmark import predict_benchmark as predict

    predictor, queries, names, _ = _benchmark_queries(checkpoint, texts_file, benchmark)
    return len(names), predict(predictor, queries), names


@dataclass
class AnchoredBenchmark:
    """Every known model's estimated accuracy on a new benchmark's texts, from some of them answered by the known
    models (`tasks.anchors.anchored_accuracies`), ranked, with its `level` predictive interval
    (`tasks.anchors.anchored_interval`); how many items each model answered; the logit shift applied to the
    predictions."""

    n_queries: int
    ranked: list[tuple[str, float]]
    benchmarks: list[str | None]
    answered: dict[str, int]
    n_items_answered: int
    shift: float
    intervals: dict[str, tuple[float, float]]
    level: float
    rule: str  # the share rule of the shift (`tasks.anchors.ANCHOR_SHIFTS`)


def anchored_benchmark(checkpoint: str | Path, texts_file: str | Path, answers_file: str | Path,
                       benchmark: str | None = None, level: float = 0.9, shift: str | None = None
                       ) -> AnchoredBenchmark:
    """`predict_benchmark` with the known models' answers on some of the texts (`answers_file`: `model`, `id` of a
    text, `correct`; `inputs.read_anchor_answers`): each model's accuracy over every text is its answers where it
    gave them and elsewhere the predictions moved by the share of the benchmark's level shift that the answered
    items support and by the model's own shrunk residual, with a `level` predictive interval (docs/method.md
    section 2.4, the anchor setting; `shift` the rule of that share, `tasks.anchors.ANCHOR_SHIFTS`). `level` outside
    (0, 1) or an unknown `shift` is a ConfigError, before anything is read."""
    from irtnet.api.inputs import read_anchor_answers
    from irtnet.tasks.anchors import (DEFAULT_SHIFT, anchored_accuracies, anchored_interval, check_level,
                                      check_shift)

    check_level(level)
    shift = DEFAULT_SHIFT if shift is None else shift
    check_shift(shift)
    predictor, queries, names, ids = _benchmark_queries(checkpoint, texts_file, benchmark)
    models = predictor.models_.to_list()
    labels = read_anchor_answers(answers_file, ids, models)
    prob = predictor.predict_proba(queries, models)
    rows = np.flatnonzero((~np.isnan(labels)).any(axis=1))
    every = np.ones(labels.shape, bool)
    acc, applied = anchored_accuracies(prob, labels, rows, shift, counted=every)
    lower, upper = anchored_interval(prob, labels, rows, shift, counted=every, level=level)
    order = np.argsort(-acc, kind="stable")
    answered = (~np.isnan(labels)).sum(axis=0)
    return AnchoredBenchmark(len(names), [(models[i], float(acc[i])) for i in order], names,
                             {m: int(n) for m, n in zip(models, answered)}, len(rows), float(applied),
                             {models[i]: (float(lower[i]), float(upper[i])) for i in order}, float(level), shift)


def _benchmark_queries(checkpoint: str | Path, texts_file: str | Path, benchmark: str | None
                       ) -> tuple[Router, Any, list[str | None], list[str | None]]:
    """(the checkpoint's model, the texts as its queries, the benchmark each was read under: None for new, the
    file's id of each: None where it gives none)."""
    check_one_benchmark(None, benchmark)
    predictor = load(checkpoint)
    if not has_probabilities(predictor):
        raise ConfigError(f"{type(predictor).__name__} gives routing scores, not probabilities: an accuracy needs a "
                          "model that predicts the chance of a right answer")
    texts, benches, ids = read_texts_and_ids(texts_file)
    refuse_other_benchmark(texts_file, benches, benchmark)
    check_one_benchmark(predictor, benchmark)  # an error about the argument, not about the file
    names = [benchmark if given is None else given for given in benches]
    return predictor, text_queries(predictor, texts, names, texts_file), names, ids


def evaluate_benchmarks(table: str | Path, model: ModelSpec, encoder: str, baselines: Sequence[str] | None = None,
                        benchmarks: Sequence[str] | None = None, k: int = 3, threads: int | None = None,
                        progress: Callable[[str], None] | None = None, anchors: Sequence[int] = (),
                        out: str | Path | None = None, anchor_draws: int = 10, anchor_shift: str | None = None) -> Any:
    """Leave one benchmark out with `model` beside `baselines` (default: every text predictor); every model is
    built with the same seed. `anchors`: numbers of the held-out benchmark's items every model answered, for
    the anchor setting's curve (`tasks.benchmark`), over `anchor_draws` draws of those items, with the level shift
    `anchor_shift` ("chosen", "cautious" or "whole", `tasks.anchors.ANCHOR_SHIFTS`; None: the first). With `out`,
    the result is written there and each finished fold is kept in `steps_folder(out)`, keyed on the table, the
    encoder, the models' resolved specs, the settings and the code, so a rerun reads the folds an interrupted run
    finished."""
    from irtnet.tasks.anchors import DEFAULT_SHIFT
    from irtnet.tasks.benchmark import check_anchor_options
    from irtnet.tasks.benchmark import evaluate_benchmarks as run
    from irtnet.tasks.step_cache import StepCache, steps_folder

    anchor_shift = DEFAULT_SHIFT if anchor_shift is None else anchor_shift
    check_anchor_options(anchor_draws, anchor_shift)  # before the table is read and encoded
    whole_number(k, "--k")  # its upper bound (the table's models) is the task's; 2.5 was read as a top-2.5
    anchors = whole_numbers(anchors, "--anchors", None)  # 12.7 was recorded and run as 12; the range is the task's
    baselines, benchmarks = name_list(baselines, "baselines"), name_list(benchmarks, "benchmarks")
    names = baselines if baselines is not None else text_baselines((model.model,))
    specs = {model.model: model, **{n: ModelSpec(model=n, seed=model.seed) for n in names}}
    factories = {name: factory(spec) for name, spec in specs.items()}
    cache = None if out is None else StepCache(steps_folder(out), {
        "encoder": encoder, "models": {n: resolve_spec(s).model_dump(mode="json") for n, s in specs.items()}})
    with torch_threads(threads):
        result = run(prepared(table, encoder), factories, benchmarks, k, seed=model.seed, progress=progress,
                     anchors=anchors, cache=cache, anchor_draws=anchor_draws, anchor_shift=anchor_shift)
    result.settings.update(table=str(table), encoder=encoder, model=resolve_spec(model).model_dump(mode="json"))
    if out is not None:
        write_json(out, result.to_dict())
    return result


# ------------------------------------------------------------------------------------------- onboarding
def onboard(checkpoint: str | Path, answers_file: str | Path, name: str = "new-model", prior_strength: float = 1.0,
            pool: str | Path | None = None, suggest: int | None = None, save: str | Path | None = None
            ) -> dict[str, Any]:
    """Fit a new model's ability from its answers with the query network frozen; its rank among the known
    models on those queries; optionally the `suggest` (default 10) most informative texts of `pool` that it has not
    answered, and a checkpoint with the model added at `save`. The answers file is read as `inputs.read_answers`
    says: a text answered twice is one answer, a `model` or other unknown field an error. Every option is checked
    before the work: `suggest` without `pool`, a blank `name` or a `save` path that cannot be replaced are errors."""
    from irtnet.numeric import irt_probability
    from irtnet.predictors.checkpoint import refuse_to_replace, save_predictor
    from irtnet.tasks.onboard import fit_theta, population_prior, suggest_queries, with_new_model

    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ConfigError(f"--name: {name!r} is not a model name (a non-empty name without spaces around it)")
    if suggest is not None and pool is None:
        raise ConfigError("--suggest needs --pool (the texts to choose the next queries from)")
    if suggest is not None:
        whole_number(suggest, "--suggest")
    _check_strength(prior_strength)
    if save:
        refuse_to_replace(Path(save))
    predictor = load(checkpoint)
    if not hasattr(predictor, "query_parameters"):
        raise ConfigError(f"{predictor.name} has no IRT query parameters; onboarding needs an IrtNet checkpoint")
    if name in predictor.models_:  # it would be ranked against itself, as one more model
        raise ConfigError(f"model {name!r} is already known; choose another name (--name)")
    # a run's query ids (its split's): a `query` that is one is an answer of `irtnet estimate`, not a text
    ids = _split_query_ids(Run.open(checkpoint)) if is_run_dir(Path(checkpoint)) else ()
    texts, labels, benches = read_answers(answers_file, ids)
    a, b = predictor.query_parameters(text_queries(predictor, texts, benches, answers_file))
    prior = population_prior(predictor.abilities_, prior_strength)
    theta = fit_theta(a, b, labels, prior.mean, prior.precision)
    known_p = irt_probability(predictor.abilities_, a, b).mean(axis=0)
    new_p = float(irt_probability(theta[None], a, b).mean())
    doc: dict[str, Any] = {"model": name, "n_answers": len(labels), "observed_accuracy": float(labels.mean()),
                           "predicted_accuracy": new_p, "theta": theta.tolist(),
                           "rank": int((known_p > new_p).sum()) + 1, "n_models": len(predictor.models_) + 1}
    if pool:
        pool_texts, pool_benches = read_texts(pool)
        pa, pb = predictor.query_parameters(text_queries(predictor, pool_texts, pool_benches, pool))
        # a text already answered, or given twice in the pool, is never suggested (again)
        seen, open_ = set(texts), np.zeros(len(pool_texts), bool)
        for i, t in enumerate(pool_texts):
            open_[i] = t not in seen
            seen.add(t)
        doc["n_pool_unanswered"] = int(open_.sum())
        n = 10 if suggest is None else suggest
        doc["suggested"] = [pool_texts[i] for i in suggest_queries(pa, pb, theta, prior, a, b, n, candidates=open_)]
    if save:
        save_predictor(with_new_model(predictor, name, theta), save, metrics={"onboarded": {name: len(labels)}})
        doc["saved"] = str(save)
    return doc


def _check_strength(strength: Any) -> None:
    """The new models' ability-prior strength: a number in `estimate.PRIOR_STRENGTH_RANGE` (0, a negative one or NaN
    made the prior's precision no precision, and the fit a nonsense or a crash)."""
    from irtnet.tasks.estimate import check_prior_strength

    if strength is None:
        raise ConfigError("--prior-strength: give a number (the strength of the new model's ability prior)")
    try:
        check_prior_strength(strength)
    except ConfigError as exc:
        raise ConfigError(f"--prior-strength: {exc}") from None


def _split_query_ids(run: Run) -> set[str]:
    """The query ids of a run's split (its table's), from split.json: a query split's parts or a pair split's."""
    split = run.split()
    parts = [*split.train, *split.val, *split.test]
    return {p[1] if isinstance(p, tuple) else p for p in parts}


def evaluate_onboarding(table: str | Path, model: ModelSpec, encoder: str, *, n_test: int | None = None,
                        models: Sequence[str] | None = None, ks: Sequence[int] = (10, 25, 50, 100, 200),
                        strategies: Sequence[str] = ("d-optimal", "random"), n_random: int | None = None,
                        prior_strength: float = 1.0, prior_kind: str = "isotropic", retrain_epochs: int = 0,
                        threads: int | None = None, progress: Callable[[str], None] | None = None) -> Any:
    """Hold out models (`n_test`, default 5, drawn with the seed, or `models`), train `model` on the rest, onboard
    each held-out one from K answers (every strategy), optionally beside retraining with the K answers included
    (`retrain_epochs` > 0). `n_random`: draws of the random strategies (None: 3), refused where none runs. Every
    option is checked before the table is read; a K above a held-out model's pool answers is said and left out
    (`tasks.onboard.onboarding_experiment`)."""
    from irtnet.predictors.spec import apply_flags
    from irtnet.tasks.onboard import onboarding_experiment, parse_strategy, refuse_repeated

    if not hasattr(registered(model.model), "query_parameters"):
        raise ConfigError(f"onboarding needs an IRT model with query parameters (irtnet), not {model.model!r}")
    ks = whole_numbers(ks, "--ks", None)  # 10.5 was run and recorded as K = 10
    if not ks or any(k < 1 for k in ks):
        raise ConfigError(f"--ks: numbers of answers must be given and at least 1, got {list(ks)}")
    for name, value in (("--n-test", n_test), ("--n-random", n_random)):
        if value is not None:
            whole_number(value, name)
    whole_number(retrain_epochs, "--retrain-epochs", 0)
    _check_strength(prior_strength)
    if not strategies:
        raise ConfigError("--strategies is empty: name at least one (d-optimal, fisher, random, each optionally "
                          "-balanced)")
    strategies, models = name_list(strategies, "strategies"), name_list(models, "models")
    refuse_repeated(strategies, ks)  # before the table is read and encoded
    random_runs = any(parse_strategy(strategy)[0] == "random" for strategy in strategies)
    if not random_runs:
        if n_random is not None:
            raise UnusedOptionError(f"--n-random is read only by the random strategies (random, random-balanced), "
                                    f"and --strategies {','.join(strategies)} runs none: leave out --n-random")
    elif n_random is not None and n_random < 1:
        raise ConfigError(f"--n-random must be at least 1, got {n_random}")
    if prior_kind not in ("isotropic", "population"):
        raise ConfigError(f"unknown prior kind {prior_kind!r}: use 'isotropic' or 'population'")
    if models is not None and (not models or len(set(models)) < len(models)):
        raise ConfigError(f"--models: name each model to hold out once, got {list(models)}")
    if models is not None and n_test is not None:
        raise ConfigError("--n-test has no effect with --models (the models named are held out); give one of them")
    retrain = factory(apply_flags(model, epochs=retrain_epochs)) if retrain_epochs else None
    with torch_threads(threads):
        result = onboarding_experiment(prepared(table, encoder), factory(model), 5 if n_test is None else n_test,
                                       list(ks), strategies, 3 if n_random is None else n_random,
                                       seed=model.seed, retrain=retrain, prior_strength=prior_strength,
                                       prior_kind=prior_kind, models=models, progress=progress)
    result.settings.update(table=str(table), encoder=encoder, model=resolve_spec(model).model_dump(mode="json"),
                           retrain_epochs=retrain_epochs)
    if not random_runs:
        result.settings.pop("n_random", None)  # no random strategy ran: no draws to record
    return result


# ------------------------------------------------------------------------------------------------- cost
def test_costs(test: Dataset, train: Dataset, table: Any, prices: str | Path | None, output_tokens: float,
               tokens_given: bool = False) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(realised cost [Q, M], decision cost or None, description) of the test queries. A price file (`prices`)
    that holds no prices, or none for a model, is a DataError/ConfigError naming it; `tokens_given` (output tokens
    chosen by the caller) where the costs are the table's realised ones, or prices without a per-token output
    part, which read none, is an UnusedOptionError."""
    from irtnet.tasks.prices import (
        cost_matrix, load_prices, prices_from_models, refuse_unread_output_tokens, require_prices, token_counts,
    )

    models = list(test.table.model_vocab.ids)
    if prices is None and test.table.has_cost:
        cost = test.table.label_matrix(value="cost")
        train_cost = train.table.label_matrix(model_ids=models, value="cost")
        decide = np.nanmean(train_cost, axis=0)  # each model's mean training cost per query
        if tokens_given:
            raise UnusedOptionError("--output-tokens is read only with token prices, and the costs here are the "
                                    "table's cost column (realised): leave it out, or pass --prices FILE")
        return cost, decide, "table cost column (realised); decisions use each model's mean training cost"
    price = load_prices(prices) if prices else prices_from_models(table.models)
    if prices and not price:
        raise DataError("the price file holds no prices: give each model of the run's table one, e.g. "
                        '{"model-a": {"per_query": 0.002}}', file=str(prices))
    if not price:
        raise ConfigError("no costs: the table has no cost column or model prices; pass --prices FILE")
    source = str(prices) if prices else "the table's model metadata"
    require_prices(price, models, source, "price every model of the run's table")
    if tokens_given:
        refuse_unread_output_tokens(price, source)
    tokens = token_counts(test.table.queries["text"].tolist())
    cost = cost_matrix(price, models, tokens, output_tokens, source)
    return cost, None, (f"prices from {prices or 'table model metadata'}; input tokens = ceil(chars / 4), "
                        f"output tokens = {output_tokens:g}")


def _check_cost_baselines(names: Sequence[str]) -> None:
    """Each baseline of `cost_routing_run` a registered model that can score the run's test queries (unseen in
    training: a classical IRT model, with free per-item parameters, cannot), before the run's data are read."""
    for name in names:
        try:
            kind = registered(name)
        except ConfigError as exc:
            raise ConfigError(f"--baselines: {exc}") from None
        if getattr(kind, "item_seen", False):
            raise ConfigError(f"--baselines: {name!r} has free per-item parameters and cannot score the run's test "
                              "queries, which no model saw in training; name a text model (e.g. model-benchmark-mean "
                              "or knn)")


def cost_routing_run(run_dir: str | Path, prices: str | Path | None = None, output_tokens: float | None = None,
                     baselines: Sequence[str] = ("model-benchmark-mean",)) -> dict[str, Any]:
    """The cost evaluation of a run's model on its complete test queries, beside `baselines` fitted on its
    training split with the run's seed. `output_tokens` (per answer, for token prices; None: the default 256) must
    be a finite number >= 0 (`check_output_tokens`), and is refused where no token price reads it."""
    from irtnet.tasks.cost import evaluate_cost
    from irtnet.tasks.evaluate import score_matrix, training_accuracies
    from irtnet.tasks.prices import DEFAULT_OUTPUT_TOKENS, check_output_tokens

    given = output_tokens is not None
    baselines = name_list(baselines, "baselines") or []
    output_tokens = check_output_tokens(DEFAULT_OUTPUT_TOKENS if output_tokens is None else output_tokens)
    _check_cost_baselines(baselines)

    run = Run.open(run_dir)
    if run.spec.data.split == "pair":
        raise ConfigError(f"{run_dir} is split by (model, query) pair: a test query has a few labelled models "
                          "only, so no accuracy-cost curve can be drawn over all models; use a query split")
    train, _, test = run.datasets()
    complete = ~np.isnan(test.table.label_matrix()).any(axis=1)
    test = test.select(np.asarray(test.table.query_vocab.ids, dtype=object)[complete].tolist())
    models = list(test.table.model_vocab.ids)
    cost, decide, source = test_costs(test, train, run.table(), prices, output_tokens, given)
    own = run.spec.model.model  # curves are keyed by name: a baseline of the same kind (the default
    own = f"{own} (this run)" if own in baselines else own  # model-benchmark-mean on such a run) must not replace it
    probs = {own: score_matrix(run.predictor(), test)}
    for name in baselines:
        baseline = build_predictor(ModelSpec(model=name, seed=run.spec.model.seed)).fit(train)
        probs[name] = score_matrix(baseline, test)
    model_acc, _ = training_accuracies(train, tuple(models))
    result = evaluate_cost(probs, test.table.label_matrix(), cost, models, model_acc, decision_cost=decide)
    result.settings = {"run": str(run_dir), "cost_source": source, "n_queries": test.table.n_queries,
                       "n_dropped_incomplete": int((~complete).sum()), "output_tokens": output_tokens}
    return result.to_dict()

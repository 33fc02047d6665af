"""New query texts in, predictions and routing decisions out (what `irtnet route`, the service and a user's
script call): embed with the model's own encoder, check the benchmark names, score, rank, or choose one model
per text against price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.api.inputs import record_where
from irtnet.api.run import Run, is_run_dir
from irtnet.data.dataset import Queries
from irtnet.data.embeddings import canonical_name, embed_texts, flush_all
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import Predictor, Router
from irtnet.predictors.checkpoint import load_predictor


def load(path: str | Path) -> Router:
    """A model from a checkpoint directory or a run directory (verified, then its `model/`)."""
    path = Path(path)
    return Run.open(path).predictor() if is_run_dir(path) else load_predictor(path)


def known_benchmarks(predictor: Router) -> list[str] | None:
    """The benchmark names the model reads (None: it reads none)."""
    groups = getattr(predictor, "groups_", None)
    return None if groups is None else groups.to_list()


def check_benchmarks(predictor: Router, benchmarks: Sequence[str | None], source: str | Path | None = None) -> None:
    """An unknown benchmark name is an error listing the known ones, never silently treated as unknown.
    `source`: the texts or answers file the names come from, one per record; the error then names it and where
    the first bad name is."""
    given = sorted({b for b in benchmarks if b is not None})
    if not given:
        return
    known = known_benchmarks(predictor)
    if known is None:
        _refuse(f"this {predictor.name} model reads no benchmark names; leave the benchmark out "
                f"(given: {', '.join(given)})", benchmarks, set(), source)
    unknown = [b for b in given if b not in set(known)]
    if unknown:
        _refuse(f"unknown benchmark {', '.join(map(repr, unknown))}; the model knows: "
                f"{', '.join(known)}. Leave it out for a query of another or unknown benchmark", benchmarks,
                set(known), source)


def _refuse(message: str, benchmarks: Sequence[str | None], known: set[str], source: str | Path | None) -> None:
    """ConfigError, or where the names come from the texts or answers file `source`, a DataError naming it and
    where the first bad name is (its line in a .jsonl or .txt file, blank lines counted: `inputs.record_where`)."""
    if source is None:
        raise ConfigError(message)
    first = next(i for i, b in enumerate(benchmarks) if b is not None and b not in known)
    raise DataError(message, file=str(source), **record_where(source, first), field="benchmark")


def text_queries(predictor: Router, texts: Sequence[str],
                 benchmarks: str | Sequence[str | None] | None = None, source: str | Path | None = None) -> Queries:
    """New query texts embedded with the model's own encoder (loaded once per process, through the shared
    embedding cache); `benchmarks`: one name for all, one per text (None where unknown), or None; `source`: the
    file they were read from (named by errors)."""
    encoder = getattr(predictor, "encoder_", None)
    if not encoder:
        raise ConfigError(f"{predictor.name} has no text encoder; it cannot score new query texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"query text {i + 1} is empty: give a non-empty text", field="text")
    if isinstance(benchmarks, str):
        benchmarks = [benchmarks] * len(texts)
    if benchmarks is not None and len(benchmarks) != len(texts):
        raise ConfigError(f"{len(benchmarks)} benchmark names for {len(texts)} texts")
    check_benchmarks(predictor, benchmarks or [], source)
    groups = list(benchmarks) if benchmarks is not None and any(b is not None for b in benchmarks) else None
    # the process's one encoder and cache index; new vectors go to the cache's write buffer, so a service
    # answering one text per request writes a shard per FLUSH_ROWS texts, not one per request
    vectors = embed_texts(list(texts), encoder, buffered=True)
    return Queries(tuple(f"text-{i}" for i in range(len(texts))), vectors,
                   None if groups is None else np.asarray(groups, dtype=object), canonical_name(encoder),
                   np.asarray(list(texts), dtype=object))


def predict_texts(predictor: Predictor, texts: Sequence[str], benchmark: str | Sequence[str | None] | None = None,
                  models: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(model names, [n_texts, n_models] probabilities of a correct answer) for new query texts."""
    if not isinstance(predictor, Predictor):
        raise ConfigError(f"{predictor.name} is a router without probabilities; use rank_models")
    names = list(models) if models is not None else predictor.models_.to_list()
    return names, predictor.predict_proba(text_queries(predictor, texts, benchmark), names)


def answer_paths(predictor: Router, texts: Sequence[str],
                 benchmark: str | Sequence[str | None] | None = None) -> list[str]:
    """Which path answers each text: "benchmark" (its name, known to the model), "text+inferred-benchmark"
    (the text, with the model's benchmark classifier standing in for the missing name) or "text"."""
    queries = text_queries(predictor, texts, benchmark)
    paths = getattr(predictor, "answer_paths", None)
    return paths(queries) if paths else ["text"] * len(texts)


def rank_models(predictor: Router, texts: Sequence[str], benchmark: str | Sequence[str | None] | None = None,
                top: int | None = None, models: Sequence[str] | None = None) -> list[list[tuple[str, float]]]:
    """For each text, the models ranked by score (a predictor's: its probability of a correct answer)."""
    if top is not None and top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    names = list(models) if models is not None else predictor.models_.to_list()
    scores = predictor.scores(text_queries(predictor, texts, benchmark), names)
    return [[(names[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top]] for row in scores]


def check_candidates(predictor: Router, candidates: Sequence[str] | None) -> list[str]:
    """The models to choose among: `candidates` (each a model of the checkpoint, named once) or, when None,
    every model of the checkpoint."""
    known = predictor.models_.to_list()
    if candidates is None:
        return known
    empty = [i + 1 for i, m in enumerate(candidates) if not (isinstance(m, str) and m.strip())]
    if empty:
        raise ConfigError(f"candidate model name {empty[0]} of {len(candidates)} is empty "
                          f"({', '.join(map(repr, candidates))}); name each model, separated by commas")
    names = list(dict.fromkeys(candidates))
    if len(names) < len(candidates):
        twice = [m for m in names if list(candidates).count(m) > 1]
        raise ConfigError(f"candidate model(s) named more than once: {', '.join(map(repr, twice))}; name each once")
    unknown = [m for m in names if m not in set(known)]
    if unknown:
        raise ConfigError(f"unknown candidate model(s) {', '.join(map(repr, unknown))}; "
                          f"the checkpoint's models: {', '.join(known)}")
    if not names:
        raise ConfigError("candidates is empty: name at least one model")
    return names


# ----------------------------------------------------------------------------------- cost-aware routing
def resolve_prices(checkpoint: str | Path, prices: str | Path | None) -> tuple[dict[str, Any], str]:
    """Per-model prices from a price file, a response table (.parquet: model prices in its metadata, else each
    model's mean `cost` per query) or, by default, the run's own table."""
    from irtnet.api.data import load_table
    from irtnet.tasks.prices import load_prices, parse_price, prices_from_models

    if prices is not None and Path(prices).suffix.lower() != ".parquet":
        return load_prices(prices), str(prices)
    if prices is None:
        if not is_run_dir(checkpoint):
            raise ConfigError("cost-aware routing needs prices: pass --prices (a JSON/CSV price file or a table)")
        prices = Run.open(checkpoint).spec.data.table
    table = load_table(prices)
    found = prices_from_models(table.models, str(prices))
    if found:
        return found, f"model prices of {prices}"
    if table.has_cost:
        mean = table.responses.groupby("model", observed=True)["cost"].mean()  # NaN: no cost for that model
        return ({str(m): parse_price(str(m), float(c), f"{prices} (cost column)") for m, c in mean.items()
                 if not math.isnan(c)}, f"mean cost per query in {prices}")
    raise ConfigError(f"{prices} has neither model prices nor a cost column; pass --prices FILE")


@dataclass
class CostDecisions:
    """One chosen model per text: its probability and cost, the rule and where the prices came from."""

    texts: list[str]
    models: list[str]
    chosen: list[int]
    prob: np.ndarray
    cost: np.ndarray
    rule: str
    source: str

    @property
    def expected_accuracy(self) -> float:
        return float(self.prob[np.arange(len(self.chosen)), self.chosen].mean())

    @property
    def mean_cost(self) -> float:
        return float(self.cost[np.arange(len(self.chosen)), self.chosen].mean())


def cost_route_texts(checkpoint: str | Path, texts: Sequence[str], benchmark: str | None = None,
                     prices: str | Path | None = None, cost_weight: float | None = None,
                     budget: float | None = None, output_tokens: float | None = None,
                     candidates: Sequence[str] | None = None) -> CostDecisions:
    """Choose one model per text by P - cost_weight * cost, or the best total P within a mean budget, among
    `candidates` (default: every model of the checkpoint), each of which needs a price; `output_tokens` per answer
    for token prices (None: `DEFAULT_OUTPUT_TOKENS`)."""
    from irtnet.tasks.cost import route_budget
    from irtnet.tasks.prices import (
        DEFAULT_OUTPUT_TOKENS, check_output_tokens, cost_matrix, is_finite_number, require_prices, token_counts,
    )
    from irtnet.tasks.routing import route as route_by_value

    if (cost_weight is None) == (budget is None):
        raise ConfigError("give exactly one of --cost-weight and --budget")
    if cost_weight is not None and not (is_finite_number(cost_weight) and cost_weight >= 0):
        raise ConfigError(f"--cost-weight must be a finite non-negative number, got {cost_weight!r}")
    if budget is not None and not (is_finite_number(budget) and budget > 0):
        raise ConfigError(f"--budget must be a finite positive number, got {budget!r}")
    output_tokens = DEFAULT_OUTPUT_TOKENS if output_tokens is None else output_tokens
    check_output_tokens(output_tokens)
    predictor = load(checkpoint)
    names = check_candidates(predictor, candidates)
    price, source = resolve_prices(checkpoint, prices)
    require_prices(price, names, source, "price them (--prices FILE), or choose among priced models only with "
                   "--candidates (Python: candidates=)")
    _, prob = predict_texts(predictor, texts, benchmark, names)
    cost = cost_matrix(price, names, token_counts(texts), output_tokens, source)
    choice = route_by_value(prob, cost, cost_weight) if budget is None else route_budget(prob, cost, budget)
    rule = f"P - {cost_weight:g} x cost" if budget is None else f"best total P with mean cost <= {budget:g}"
    return CostDecisions(list(texts), names, [int(c) for c in choice], prob, cost, rule, source)


def flush_caches() -> None:
    """Write the embedding vectors this process holds in memory to the cache (a server's shutdown hook)."""
    flush_all()

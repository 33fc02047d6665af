"""New query texts in, predictions and routing decisions out (what `irtnet route`, the service and a user's
script call): embed with the model's own encoder, check the benchmark names, score, rank, or choose one model
per text against price.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.api.data import as_path
from irtnet.api.inputs import record_where
from irtnet.api.run import Run, is_run_dir
from irtnet.config import expect
from irtnet.data.dataset import Queries
from irtnet.data.embeddings import canonical_name, embed_texts, flush_all
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import Predictor, Router
from irtnet.predictors.checkpoint import load_predictor


def load(path: str | Path) -> Router:
    """A model from a checkpoint directory or a run directory (verified, then its `model/`)."""
    path = as_path(path, "the model path (a run or checkpoint directory)")
    return Run.open(path).predictor() if is_run_dir(path) else load_predictor(path)


def as_model(predictor: Router | str | Path) -> Router:
    """`predictor` (a Router), or the model of the run or checkpoint directory it names (`load`); anything else
    (None, a dict) is a ConfigError naming the parameter."""
    if isinstance(predictor, (str, os.PathLike)):
        return load(predictor)
    return expect(predictor, Router, "predictor", "a model (api.load(path)) or the path of a run or checkpoint "
                                                  "directory")


def known_benchmarks(predictor: Router | str | Path) -> list[str] | None:
    """The benchmark names the model reads (None: it reads none)."""
    predictor = as_model(predictor)
    groups = getattr(predictor, "groups_", None)
    return None if groups is None else groups.to_list()


def check_benchmarks(predictor: Router, benchmarks: Sequence[str | None], source: str | Path | None = None) -> None:
    """An unknown benchmark name is an error listing the known ones, never silently treated as unknown.
    `source`: the texts or answers file the names come from, one per record; the error then names it and where
    the first bad name is."""
    predictor = as_model(predictor)
    if isinstance(benchmarks, (str, bytes)) or not isinstance(benchmarks, Sequence):
        raise ConfigError(f"benchmarks must be a list of names (None where unknown), got {type(benchmarks).__name__}")
    odd = [b for b in benchmarks if b is not None and not isinstance(b, str)]
    if odd:
        _refuse(f"a benchmark name must be text, or None where unknown; got {odd[0]!r}", benchmarks,
                {b for b in benchmarks if isinstance(b, str)}, source)
    given = sorted({b for b in benchmarks if b is not None})
    if not given:
        return
    known = known_benchmarks(predictor)
    if known is None:
        _refuse(f"this {predictor.name} model reads no benchmark names; leave the benchmark out "
                f"(given: {', '.join(map(repr, given))})", benchmarks, set(), source)
    unknown = [b for b in given if b not in set(known)]
    if unknown:
        _refuse(f"unknown benchmark {', '.join(map(repr, unknown))}; the model knows: "
                f"{', '.join(known)}. Leave it out for a query of another or unknown benchmark", benchmarks,
                set(known), source)


def check_one_benchmark(predictor: Router | None, benchmark: Any) -> None:
    """The one benchmark name given for every text (the `benchmark` argument, `--benchmark` of the CLI): a blank
    name, or with `predictor` a name it does not know, is a ConfigError naming the argument (not a file)."""
    if benchmark is None:
        return
    if not (isinstance(benchmark, str) and benchmark.strip()):
        raise ConfigError(f"{BENCHMARK_ARG}: {benchmark!r} is not a benchmark name: give one the model knows, or "
                          "leave it out (the file's benchmarks, where given, else new: text only)")
    if predictor is not None:
        try:
            check_benchmarks(predictor, [benchmark])
        except ConfigError as exc:
            raise ConfigError(f"{BENCHMARK_ARG} {benchmark!r}: {exc}") from None


BENCHMARK_ARG = "benchmark (--benchmark)"  # how an error names the argument: the API's name, the CLI's option


def _refuse(message: str, benchmarks: Sequence[str | None], known: set[str], source: str | Path | None) -> None:
    """ConfigError, or where the names come from the texts or answers file `source`, a DataError naming it and
    where the first bad name is (its line in a .jsonl or .txt file, blank lines counted: `inputs.record_where`)."""
    if source is None:
        raise ConfigError(message)
    first = next(i for i, b in enumerate(benchmarks) if b is not None and (not isinstance(b, str) or b not in known))
    raise DataError(message, file=str(source), **record_where(source, first), field="benchmark")


def check_texts(texts: Sequence[str]) -> None:
    """A non-empty list (or other sequence) of texts; one string alone is refused, never split into its
    characters."""
    if isinstance(texts, (str, bytes)):
        raise ConfigError(f"give a list of texts, not one string ({texts[:40]!r}): e.g. [text]")
    if not isinstance(texts, Sequence) and not hasattr(texts, "__array__"):
        raise ConfigError(f"give a list of texts, got {type(texts).__name__}")
    if not len(texts):  # nothing to rank, predict or route (a mean cost of no texts is undefined)
        raise ConfigError("no query texts: give at least one")


def text_queries(predictor: Router, texts: Sequence[str],
                 benchmarks: str | Sequence[str | None] | None = None, source: str | Path | None = None) -> Queries:
    """New query texts embedded with the model's own encoder (loaded once per process, through the shared
    embedding cache); `benchmarks`: one name for all, one per text (None where unknown), or None; `source`: the
    file they were read from (named by errors)."""
    predictor = as_model(predictor)
    encoder = getattr(predictor, "encoder_", None)
    if not encoder:
        raise ConfigError(f"{predictor.name} has no text encoder; it cannot score new query texts")
    check_texts(texts)
    for i, text in enumerate(texts):
        if text is not None and not isinstance(text, str):
            raise DataError(f"query text {i + 1} is not text but {type(text).__name__} {text!r}", field="text")
        if not (text and text.strip()):
            raise DataError(f"query text {i + 1} is empty: give a non-empty text", field="text")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: bytes that were not UTF-8 (argv), or "\\ud800"
            raise DataError(f"query text {i + 1} is not valid Unicode (character {exc.start + 1} is "
                            f"{text[exc.start]!r}, a lone surrogate: bytes that are not UTF-8?); give UTF-8 text",
                            field="text") from None
    if isinstance(benchmarks, str):
        benchmarks = [benchmarks] * len(texts)
    elif benchmarks is not None and not isinstance(benchmarks, Sequence):
        raise ConfigError(f"benchmark must be one name, a list of names (one per text) or None, "
                          f"got {type(benchmarks).__name__} {benchmarks!r}")
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


def predict_texts(predictor: Predictor | str | Path, texts: Sequence[str],
                  benchmark: str | Sequence[str | None] | None = None,
                  models: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(model names, [n_texts, n_models] probabilities of a correct answer) for new query texts; `predictor`: a
    model, or the path of a run or checkpoint directory."""
    predictor = as_model(predictor)
    if not isinstance(predictor, Predictor):
        raise ConfigError(f"{predictor.name} is a router without probabilities; use rank_models")
    names = check_candidates(predictor, models, noun="model", option="models")
    return names, predictor.predict_proba(text_queries(predictor, texts, benchmark), names)


def answer_paths(predictor: Router | str | Path, texts: Sequence[str],
                 benchmark: str | Sequence[str | None] | None = None) -> list[str]:
    """Which path answers each text: "benchmark" (its name, known to the model), "text+inferred-benchmark"
    (the text, with the model's benchmark classifier standing in for the missing name) or "text"."""
    predictor = as_model(predictor)
    queries = text_queries(predictor, texts, benchmark)
    paths = getattr(predictor, "answer_paths", None)
    return paths(queries) if paths else ["text"] * len(texts)


def rank_models(predictor: Router | str | Path, texts: Sequence[str],
                benchmark: str | Sequence[str | None] | None = None,
                top: int | None = None, models: Sequence[str] | None = None) -> list[list[tuple[str, float]]]:
    """For each text, the models ranked by score (a predictor's: its probability of a correct answer);
    `predictor`: a model, or the path of a run or checkpoint directory."""
    predictor = as_model(predictor)
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1):
        raise ConfigError(f"top must be a whole number of at least 1 (or None: every model), got {top!r}")
    names = check_candidates(predictor, models, noun="model", option="models")
    scores = predictor.scores(text_queries(predictor, texts, benchmark), names)
    return [[(names[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top]] for row in scores]


def check_candidates(predictor: Router, candidates: Sequence[str] | None, *, noun: str = "candidate model",
                     option: str = "candidates") -> list[str]:
    """The models to choose among: `candidates` (each a model of the checkpoint, named once) or, when None,
    every model of the checkpoint. `noun`, `option`: what messages call a name and the list (`predict_texts`'s
    `models=`: "model", "models")."""
    known = as_model(predictor).models_.to_list()
    if candidates is None:
        return known
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence):
        raise ConfigError(f"{option} must be a list of model names, got {type(candidates).__name__} {candidates!r}")
    empty = [i + 1 for i, m in enumerate(candidates) if not (isinstance(m, str) and m.strip())]
    if empty:
        hint = ", separated by commas" if option == "candidates" else ""
        raise ConfigError(f"{noun} name {empty[0]} of {len(candidates)} is empty "
                          f"({', '.join(map(repr, candidates))}); name each model{hint}")
    names = list(dict.fromkeys(candidates))
    if len(names) < len(candidates):
        twice = [m for m in names if list(candidates).count(m) > 1]
        raise ConfigError(f"{noun}(s) named more than once: {', '.join(map(repr, twice))}; name each once")
    unknown = [m for m in names if m not in set(known)]
    if unknown:
        raise ConfigError(f"unknown {noun}(s) {', '.join(map(repr, unknown))}; "
                          f"the checkpoint's models: {', '.join(known)}")
    if not names:
        raise ConfigError(f"{option} is empty: name at least one model")
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
        run = Run.open(checkpoint)  # the run's own table, refused where it changed since training
        prices, table = run.spec.data.table, run.table()
    else:
        table = load_table(prices)
    found = prices_from_models(table.models, str(prices))
    if found:
        return found, f"model prices of {prices}"
    if table.has_cost:
        costs = table.responses.groupby("model", observed=True)["cost"]
        rows, priced = costs.size(), costs.count()
        partial = [str(m) for m in rows.index if 0 < priced[m] < rows[m]]
        if partial:  # the table readers refuse a missing cost; a mean of some rows would price what was not run
            m = partial[0]
            raise DataError(f"model {m!r} has a cost on {priced[m]} of its {rows[m]} rows ({len(partial)} such "
                            "model(s)); a table's costs price its models only where every row has one",
                            file=str(prices), field="cost")
        mean = costs.mean()  # NaN: no cost for that model
        return ({str(m): parse_price(str(m), float(c), f"{prices} (cost column)") for m, c in mean.items()
                 if not math.isnan(c)}, f"mean cost per query in {prices}")
    raise ConfigError(f"{prices} has neither model prices nor a cost column; pass --prices FILE")


@dataclass
class CostDecisions:
    """One chosen model per text: its probability and cost, the rule, where the prices came from and which path
    answered each text (`answer_paths`)."""

    texts: list[str]
    models: list[str]
    chosen: list[int]
    prob: np.ndarray
    cost: np.ndarray
    rule: str
    source: str
    paths: list[str] = field(default_factory=list)

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
    """Choose one model per text by P - cost_weight * cost, or within a mean budget (`route_budget`: P - L x cost
    at the least L within it, leftover budget spent greedily; not always the best total P), among
    `candidates` (default: every model of the checkpoint), each of which needs a price; `output_tokens` per answer
    for token prices (None: `DEFAULT_OUTPUT_TOKENS`), refused where no price has a per-token output part."""
    from irtnet.tasks.cost import route_budget
    from irtnet.tasks.prices import (
        DEFAULT_OUTPUT_TOKENS, check_output_tokens, cost_matrix, is_finite_number, refuse_unread_output_tokens,
        require_prices, token_counts,
    )
    from irtnet.tasks.routing import route as route_by_value

    check_texts(texts)
    if (cost_weight is None) == (budget is None):
        raise ConfigError("give exactly one of --cost-weight and --budget")
    if cost_weight is not None and not (is_finite_number(cost_weight) and cost_weight >= 0):
        raise ConfigError(f"--cost-weight must be a finite non-negative number, got {cost_weight!r}")
    if budget is not None and not (is_finite_number(budget) and budget >= 0):  # 0: only free models, if any
        raise ConfigError(f"--budget must be a finite non-negative number, got {budget!r}")
    given, output_tokens = output_tokens is not None, DEFAULT_OUTPUT_TOKENS if output_tokens is None else output_tokens
    check_output_tokens(output_tokens)
    predictor = load(checkpoint)
    names = check_candidates(predictor, candidates)
    price, source = resolve_prices(checkpoint, prices)
    require_prices(price, names, source, "price them (--prices FILE), or choose among priced models only with "
                   "--candidates (Python: candidates=)")
    if given:
        refuse_unread_output_tokens(price, source)
    _, prob = predict_texts(predictor, texts, benchmark, names)
    cost = cost_matrix(price, names, token_counts(texts), output_tokens, source)
    choice = route_by_value(prob, cost, cost_weight) if budget is None else route_budget(prob, cost, budget)
    rule = (f"P - {cost_weight:g} x cost" if budget is None else f"mean cost <= {budget:g}: P - L x cost at the "
            "least L within it, leftover spent greedily (may fall short of the best total P)")
    return CostDecisions(list(texts), names, [int(c) for c in choice], prob, cost, rule, source,
                         answer_paths(predictor, texts, benchmark))


def flush_caches() -> None:
    """Write the embedding vectors this process holds in memory to the cache (a server's shutdown hook)."""
    flush_all()

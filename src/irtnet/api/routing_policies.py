"""Route new query texts with a policy (max_p, utility, p_min, cost_cap: irtnet.tasks.policies) over a
checkpoint's models and their prices, and name policies as router models ("irtnet:p_min=0.8") for the
OpenAI-compatible service and `irtnet calibrate`.

    book = load_price_book("runs/x", "prices.json")
    [d] = route_texts(model, ["What is 2 + 2?"], Policy.parse("p_min=0.8"), book)
    d.model, d.p_correct, d.cost, d.fallback
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.api.texts import (
    as_model, check_candidates, check_one_benchmark, load, resolve_prices, text_queries,
)
from irtnet.errors import ConfigError, IrtnetError, UnusedOptionError
from irtnet.predictors.base import Predictor, Router
from irtnet.tasks.prices import (
    DEFAULT_OUTPUT_TOKENS, check_output_tokens, cost_matrix, refuse_unread_output_tokens, require_prices, token_counts,
)
from irtnet.config import expect, plain_number
from irtnet.tasks.policies import Calibration, Policy, Target, calibrate, choose, number_text

ROUTER_NAME = "irtnet"
_ROUTELLM = re.compile(r"router-irtnet-(.+)")


def router_model(policy: Policy) -> str:
    """The `model` string that asks the service for `policy`: "irtnet:p_min=0.8" (every digit the value needs to
    parse back to it)."""
    return f"{ROUTER_NAME}:{policy.spec}"


def parse_router_model(name: str, default: Policy) -> Policy | None:
    """The policy a router model name asks for: "irtnet" (the server's default), "irtnet:<policy>" or RouteLLM's
    "router-irtnet-<p_min>"; None when `name` is no router name. A malformed policy is a ConfigError naming the
    parameter (the caller names the model)."""
    expect(name, str, "name", "a model name (str), e.g. 'irtnet:p_min=0.8'")
    expect(default, Policy, "default", "the Policy that a bare 'irtnet' asks for, e.g. Policy('max_p')")
    if name == ROUTER_NAME:
        return default
    if name.startswith(ROUTER_NAME + ":"):
        return Policy.parse(name[len(ROUTER_NAME) + 1:])
    match = _ROUTELLM.fullmatch(name)
    if match:
        return Policy("p_min", plain_number(match.group(1), "p_min"))
    return None


# ----------------------------------------------------------------------------------------------- prices
@dataclass
class PriceBook:
    """Per-model prices and where they came from; `prices` None with `source` saying why there are none."""

    prices: dict[str, Any] | None
    source: str
    output_tokens: float = DEFAULT_OUTPUT_TOKENS


def load_price_book(checkpoint: str | Path, prices: str | Path | None,
                    output_tokens: float | None = None) -> PriceBook:
    """Prices from a given file (its errors raise), else from the run's own table where it has them (their
    absence is no error: policies that need cost then say what is missing). `output_tokens` per answer for token
    prices (None: `DEFAULT_OUTPUT_TOKENS`); given where no prices are found, or none has a per-token output part,
    it would have no effect: an UnusedOptionError (`refuse_unread_output_tokens`)."""
    given = output_tokens is not None
    output_tokens = check_output_tokens(DEFAULT_OUTPUT_TOKENS if output_tokens is None else output_tokens)
    if prices is not None:
        found, source = resolve_prices(checkpoint, prices)
    else:
        try:
            found, source = resolve_prices(checkpoint, None)
        except (IrtnetError, OSError) as exc:
            if given:  # no prices: nothing would read it
                raise UnusedOptionError(f"--output-tokens has no effect without prices ({exc}); leave it out, or "
                                        "pass --prices FILE") from None
            return PriceBook(None, str(exc), output_tokens)
    if given:
        refuse_unread_output_tokens(found, source)
    return PriceBook(found, source, output_tokens)


# ----------------------------------------------------------------------------------------------- routing
@dataclass
class Ranked:
    """One candidate of a query: its score (a predictor's: P), P (None for a router without probabilities)
    and expected cost (None without prices)."""

    model: str
    score: float
    p_correct: float | None
    cost: float | None


@dataclass
class Decision:
    """The model a policy chose for one text, with the ranking it chose from; `fallback` says why the policy's
    rule could not be met (None when it was)."""

    model: str
    p_correct: float | None
    cost: float | None
    ranking: list[Ranked]
    policy: str
    path: str
    fallback: str | None = None


def has_probabilities(predictor: Router) -> bool:
    return isinstance(predictor, Predictor)


def candidate_models(predictor: Router, policy: Policy, book: PriceBook | None,
                     candidates: Sequence[str] | None = None) -> list[str]:
    """The models to choose among: `candidates` (checked) or every model; where the policy needs cost, each
    of them needs a price (a ConfigError lists those without one: nothing is left out quietly)."""
    names = check_candidates(predictor, candidates)
    if policy.needs_cost:
        prices, source = _needed_prices(policy, book)
        require_prices(prices, names, source, f"policy {policy.kind} needs a price for every candidate: price "
                       "them (--prices FILE), or name the models to choose among (a request's `candidates`, "
                       "`irtnet calibrate --candidates`, Python: candidates=)")
    return names


def check_policy(predictor: Router, policy: Policy, book: PriceBook | None,
                 candidates: Sequence[str] | None = None) -> list[str]:
    """The models `policy` chooses among; a ConfigError saying what is missing when it cannot run (a policy
    beyond max_p on a router without probabilities, or without the prices it needs)."""
    if policy.needs_cost and not has_probabilities(predictor):
        raise ConfigError(f"this {predictor.name} checkpoint ranks models without probabilities of a correct "
                          f"answer; it serves policy max_p only (asked: {policy.spec})")
    return candidate_models(predictor, policy, book, candidates)


def _needed_prices(policy: Policy, book: PriceBook | None) -> tuple[dict[str, Any], str]:
    if book is None or book.prices is None:
        reason = book.source if book is not None else "pass --prices (a JSON/CSV price file or a table)"
        raise ConfigError(f"policy {policy.kind} needs model prices, and none are loaded: {reason}")
    return book.prices, book.source


def score_texts(predictor: Router, texts: Sequence[str], names: Sequence[str], book: PriceBook | None,
                benchmark: str | Sequence[str | None] | None = None, source: str | Path | None = None
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str]]:
    """(scores [Q, M], probabilities [Q, M] or None, cost [Q, M] or None, answer path per text) of `names`;
    the texts are embedded once. `source`: the file the per-text benchmark names come from (named by errors)."""
    queries = text_queries(predictor, texts, benchmark, source)
    if has_probabilities(predictor):
        prob = predictor.predict_proba(queries, list(names))
        scores = prob
    else:
        prob, scores = None, predictor.scores(queries, list(names))
    paths = getattr(predictor, "answer_paths", None)
    return scores, prob, _priced_costs(book, names, texts), (paths(queries) if paths else ["text"] * len(texts))


def _priced_costs(book: PriceBook | None, names: Sequence[str], texts: Sequence[str]) -> np.ndarray | None:
    """[Q, M] cost of `names` on the texts where the book prices them, NaN for a model it does not price (max_p
    routes without prices, and still says a priced model's cost); None without prices or with none priced. The
    cost policies price every candidate (`candidate_models`), so no NaN reaches their choice."""
    if book is None or book.prices is None:
        return None
    priced = [j for j, m in enumerate(names) if m in book.prices]
    if not priced:
        return None
    cost = np.full((len(texts), len(names)), np.nan)
    cost[:, priced] = cost_matrix(book.prices, [names[j] for j in priced], token_counts(texts), book.output_tokens,
                                  book.source)
    return cost


def route_texts(predictor: Router | str | Path, texts: Sequence[str], policy: Policy | str,
                book: PriceBook | None = None, candidates: Sequence[str] | None = None,
                benchmark: str | Sequence[str | None] | None = None) -> list[Decision]:
    """One decision per text under `policy`. A router without probabilities (RouterDC) serves max_p only,
    choosing by its score. `predictor`: a model, or the path of a run or checkpoint directory; `policy`: a Policy
    or its text ("p_min=0.8")."""
    predictor = as_model(predictor)
    policy = as_policy(policy)
    expect(book, (PriceBook, type(None)), "book", "a PriceBook (load_price_book(run, prices)) or None")
    names = check_policy(predictor, policy, book, candidates)
    scores, prob, cost, paths = score_texts(predictor, texts, names, book, benchmark)
    choice, fallback = choose(policy, scores, cost)
    why = _fallback_reason(policy)
    return [_decision(names, scores[q], None if prob is None else prob[q], None if cost is None else cost[q],
                      int(choice[q]), policy, paths[q], why if fallback[q] else None) for q in range(len(texts))]


def as_policy(policy: Policy | str) -> Policy:
    """`policy`, or the Policy its text names ("max_p", "p_min=0.8"); anything else is a ConfigError naming it."""
    if isinstance(policy, str):
        return Policy.parse(policy)
    return expect(policy, Policy, "policy", "a Policy or its text, e.g. 'p_min=0.8'")


def _fallback_reason(policy: Policy) -> str | None:
    if policy.kind == "p_min":
        return f"no candidate reaches P >= {number_text(policy.value)}; chose the most likely model instead"
    if policy.kind == "cost_cap":
        return f"no candidate costs <= {number_text(policy.value)}; chose the cheapest model instead"
    return None  # max_p and utility always meet their rule


def _decision(names: Sequence[str], score: np.ndarray, prob: np.ndarray | None, cost: np.ndarray | None,
              chosen: int, policy: Policy, path: str, fallback: str | None) -> Decision:
    order = np.argsort(-score, kind="stable")
    ranking = [Ranked(names[i], float(score[i]), None if prob is None else float(prob[i]), _cost_of(cost, i))
               for i in order]
    return Decision(names[chosen], None if prob is None else float(prob[chosen]), _cost_of(cost, chosen), ranking,
                    policy.spec, path, fallback)


def _cost_of(cost: np.ndarray | None, i: int) -> float | None:
    """Model i's cost on a query, None where it has no price."""
    return None if cost is None or np.isnan(cost[i]) else float(cost[i])


# ----------------------------------------------------------------------------------------------- calibration
@dataclass
class CalibrationReport:
    """A calibrated policy on the user's own queries: what it achieves and the router model name to ask for."""

    calibration: Calibration
    model: str
    models: list[str]
    n_texts: int
    price_source: str

    def to_dict(self) -> dict[str, Any]:
        cal = self.calibration
        return {"policy": cal.policy.spec, "model": self.model, "target": asdict(cal.target),
                "reached": cal.reached, "achieved": asdict(cal.outcome), "models": self.models,
                "n_texts": self.n_texts, "prices": self.price_source}


_PLACEHOLDER = {"p_min": 0.5, "utility": 0.0, "cost_cap": 0.0}


def calibration_goal(policy: str, target: str | Target, benchmark: Any = None) -> Target:
    """The target of a calibration of `policy` (a policy with a parameter), checked with the one benchmark name for
    every text (`benchmark` when it is a string: not blank) before any file is read or model loaded."""
    if policy not in _PLACEHOLDER:
        raise ConfigError(f"calibrate needs a policy with a parameter: p_min, utility or cost_cap (got {policy!r})")
    if isinstance(benchmark, str):
        check_one_benchmark(None, benchmark)
    return Target.parse(target) if isinstance(target, str) else expect(
        target, Target, "target", "a Target or its text: 'share:MODEL=0.3', 'cost=0.002' or 'p=0.8'")


def calibrate_texts(checkpoint: str | Path, texts: Sequence[str], policy: str, target: str | Target,
                    prices: str | Path | None = None, benchmark: str | Sequence[str | None] | None = None,
                    candidates: Sequence[str] | None = None, output_tokens: float | None = None,
                    source: str | Path | None = None) -> CalibrationReport:
    """The `policy` parameter (p_min, utility or cost_cap) that hits `target` ("share:MODEL=0.3", "cost=0.002",
    "p=0.8") on a sample of query texts (irtnet.tasks.policies.calibrate). `source`: the file the texts and
    their benchmark names were read from; an unknown name is then an error naming it, the row and the field.
    `output_tokens`: as `load_price_book` reads it (None: the default; given with prices that have no per-token
    output part, an error)."""
    goal = calibration_goal(policy, target, benchmark)
    if not texts:
        raise ConfigError("calibrate needs at least one query text")
    predictor = load(checkpoint)
    if not has_probabilities(predictor):
        raise ConfigError(f"this {predictor.name} checkpoint has no probabilities of a correct answer; "
                          "only max_p routing is possible, with nothing to calibrate")
    if isinstance(benchmark, str):  # one name for every text: an error names the argument, as predict-benchmark's
        check_one_benchmark(predictor, benchmark)
    book = load_price_book(checkpoint, prices, output_tokens)
    names = candidate_models(predictor, Policy(policy, _PLACEHOLDER[policy]), book, candidates)
    _, prob, cost, _ = score_texts(predictor, texts, names, book, benchmark, source)
    cal = calibrate(policy, goal, prob, cost, names)
    return CalibrationReport(cal, router_model(cal.policy), names, len(texts), book.source)

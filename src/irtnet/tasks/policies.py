"""Routing policies over predicted correctness and price, and their calibration on a sample of queries.

Every policy reads prob [Q, M] (probability that each model answers each query correctly) and, where it
needs one, cost [Q, M] (the expected price of each model on each query), and gives one model per query:

- ``max_p``: the most likely correct model (no prices needed);
- ``utility=lam``: argmax P - lam * cost (`irtnet.tasks.routing.route`);
- ``p_min=p``: the cheapest model with P >= p; where none reaches p, the most likely model (a fallback);
- ``cost_cap=c``: the most likely model among those costing <= c; where none does, the cheapest (a fallback).

Ties: ``p_min`` prefers the likelier of equally cheap models, the others take the first model in order.

Calibration (RouteLLM's threshold calibration, for N models): on a sample of the user's own queries, choose
the policy parameter that hits a target: a share of queries sent to one model, a mean cost per query, or a
mean P. Mean P and mean cost are monotone in each parameter (both rise with p_min and cost_cap, both fall with
lam: per query the chosen model only moves one way), so those targets are found by bisection over every
parameter value at which some choice changes; a share is not monotone for a middle model, so it is matched
on a grid of those values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from irtnet.config import plain_number
from irtnet.errors import ConfigError
from irtnet.tasks.cost import lambda_grid
from irtnet.tasks.routing import route

POLICIES = ("max_p", "utility", "p_min", "cost_cap")
#: Largest parameter grid a share target is matched on; bisection uses every breakpoint.
MAX_SHARE_GRID = 512
#: Breakpoints of the utility policy computed exactly up to this many (query, model pair) values.
MAX_UTILITY_BREAKPOINTS = 2_000_000
@dataclass(frozen=True)
class Policy:
    """A routing policy and its parameter (None for max_p)."""

    kind: str
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            raise ConfigError(f"unknown policy {self.kind!r}: use one of {', '.join(POLICIES)}")
        if (self.kind == "max_p") != (self.value is None):
            raise ConfigError("max_p takes no value" if self.kind == "max_p"
                              else f"policy {self.kind} needs a value, e.g. {self.kind}={_EXAMPLE[self.kind]}")
        if self.value is not None:
            _check_value(self.kind, self.value)

    @property
    def needs_cost(self) -> bool:
        return self.kind != "max_p"

    @property
    def spec(self) -> str:
        """The policy as written, naming this very value: "max_p", "p_min=0.8", "p_min=0.80000013" (6 significant
        digits where they are the same number, else its shortest exact form), so it parses back to this policy."""
        return self.kind if self.value is None else f"{self.kind}={number_text(self.value)}"

    @classmethod
    def parse(cls, text: str) -> Policy:
        """"max_p", "p_min=0.8", "utility=0.5" or "cost_cap=0.01"; a ConfigError naming the parameter (the caller
        names where the text came from)."""
        kind, sep, raw = text.strip().partition("=")
        if not sep:
            return cls(kind.strip())
        return cls(kind.strip(), plain_number(raw, kind.strip()))


_EXAMPLE = {"utility": "0.5", "p_min": "0.8", "cost_cap": "0.01"}


def number_text(value: float) -> str:
    """`value` to 6 significant digits where that is the same number, else its shortest exact form."""
    short = f"{float(value):.6g}"
    return short if float(short) == float(value) else repr(float(value))


def _check_value(kind: str, value: float) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"policy {kind} needs a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"policy {kind} needs a finite value, got {value}")
    if kind == "p_min" and not 0 <= value <= 1:
        raise ConfigError(f"p_min must be in [0, 1], got {value:g}")
    if kind in ("utility", "cost_cap") and value < 0:
        raise ConfigError(f"{kind} must be non-negative, got {value:g}")


# ------------------------------------------------------------------------------------------- choices
def most_likely(prob: np.ndarray) -> np.ndarray:
    """[Q] index of the most likely correct model of each query (prob [Q, M])."""
    return np.argmax(prob, axis=1)


def _cheapest_of(prob: np.ndarray, cost: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """[Q] the cheapest allowed model, the likelier one among equally cheap ones (rows with none: arbitrary)."""
    masked = np.where(allowed, cost, np.inf)
    cheapest = masked == masked.min(axis=1, keepdims=True)
    return np.argmax(np.where(allowed & cheapest, prob, -np.inf), axis=1)


def cheapest_likely(prob: np.ndarray, cost: np.ndarray, p_min: float) -> tuple[np.ndarray, np.ndarray]:
    """([Q] the cheapest model with P >= p_min, [Q] bool: none reached it, so the most likely model instead)."""
    allowed = prob >= p_min
    fallback = ~allowed.any(axis=1)
    return np.where(fallback, most_likely(prob), _cheapest_of(prob, cost, allowed)), fallback


def best_under_cap(prob: np.ndarray, cost: np.ndarray, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """([Q] the most likely model costing <= cap, [Q] bool: none did, so the cheapest model instead)."""
    allowed = cost <= cap
    fallback = ~allowed.any(axis=1)
    best = np.argmax(np.where(allowed, prob, -np.inf), axis=1)
    return np.where(fallback, _cheapest_of(prob, cost, np.ones_like(allowed)), best), fallback


def choose(policy: Policy, prob: np.ndarray, cost: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """([Q] chosen model index, [Q] bool fallback) of `policy` on prob [Q, M] and cost [Q, M] (or [M])."""
    if policy.kind == "max_p":
        return most_likely(prob), np.zeros(len(prob), bool)
    if cost is None:
        raise ConfigError(f"policy {policy.kind} needs model prices")
    cost = np.broadcast_to(cost, prob.shape)
    if policy.kind == "utility":
        return route(prob, cost, float(policy.value)), np.zeros(len(prob), bool)
    if policy.kind == "p_min":
        return cheapest_likely(prob, cost, float(policy.value))
    return best_under_cap(prob, cost, float(policy.value))


# ------------------------------------------------------------------------------------------- outcome
@dataclass
class Outcome:
    """What a policy does on a sample: mean P and cost of the chosen models, the share of queries per model and
    the share answered by the fallback."""

    mean_p: float
    mean_cost: float
    shares: dict[str, float]
    fallback: float


def outcome(choice: np.ndarray, fallback: np.ndarray, prob: np.ndarray, cost: np.ndarray,
            models: Sequence[str]) -> Outcome:
    rows = np.arange(len(choice))
    counts = np.bincount(choice, minlength=len(models)) / max(len(choice), 1)
    return Outcome(float(prob[rows, choice].mean()), float(np.broadcast_to(cost, prob.shape)[rows, choice].mean()),
                   {m: float(c) for m, c in zip(models, counts)}, float(fallback.mean()))


# ------------------------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Target:
    """A calibration target: kind "share" (of queries sent to `model`), "cost" (mean per query) or "p" (mean P)."""

    kind: str
    value: float
    model: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("share", "cost", "p"):
            raise ConfigError(f"unknown target kind {self.kind!r}: use share (with a model), cost or p")
        if (self.kind == "share") != (isinstance(self.model, str) and bool(self.model)):
            raise ConfigError("a share target names its model (share:MODEL=0.3), and only a share target does")
        if isinstance(self.value, (bool, np.bool_)) or not isinstance(self.value, numbers.Real) \
                or not math.isfinite(self.value):
            raise ConfigError(f"a {self.kind} target needs a finite number, got {self.value!r}")
        if self.kind in ("share", "p") and not 0 <= self.value <= 1:
            raise ConfigError(f"a {self.kind} target must be in [0, 1], got {self.value:g}")
        if self.kind == "cost" and self.value < 0:
            raise ConfigError(f"a cost target must be non-negative, got {self.value:g}")

    @classmethod
    def parse(cls, text: str) -> Target:
        """"share:MODEL=0.3", "cost=0.002" or "p=0.8"."""
        head, sep, raw = text.strip().rpartition("=")
        if not sep:
            raise ConfigError(f"target {text!r}: use share:MODEL=0.3, cost=0.002 or p=0.8")
        try:
            value = plain_number(raw, "the target's value")
        except ConfigError as exc:
            raise ConfigError(f"target {text!r}: {exc}; use share:MODEL=0.3, cost=0.002 or p=0.8") from None
        if head.startswith("share:") and head[6:]:
            return cls("share", value, head[6:])
        if head in ("cost", "p"):
            return cls(head, value)
        raise ConfigError(f"target {text!r}: use share:MODEL=0.3, cost=0.002 or p=0.8")

    def achieved(self, out: Outcome) -> float:
        if self.kind == "share":
            return out.shares[str(self.model)]
        return out.mean_cost if self.kind == "cost" else out.mean_p


@dataclass
class Calibration:
    """The chosen policy, what it achieves on the sample, and whether it reaches the target (a share target is
    matched as closely as the sample allows; `reached` then says whether it is within 1 / n_queries)."""

    policy: Policy
    target: Target
    outcome: Outcome
    reached: bool
    grid_size: int = 0  # distinct settings on the sample (one per interval of constant choices)


def _midpoints(values: np.ndarray, low: float, high: float) -> np.ndarray:
    u = np.unique(values[np.isfinite(values)])
    return np.unique(np.concatenate([[low], (u[:-1] + u[1:]) / 2, [high]]))


def parameter_grid(kind: str, prob: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Ascending parameter values, one inside each interval where the policy's choices are constant."""
    if kind == "p_min":
        return _midpoints(prob, 0.0, 1.0)
    if kind == "cost_cap":
        c = np.broadcast_to(cost, prob.shape)
        return _midpoints(c, float(c.min()) / 2, float(c.max()) * 1.5)
    if kind == "utility":
        lam = _utility_breakpoints(prob, np.broadcast_to(cost, prob.shape))
        return _midpoints(lam, 0.0, 2 * float(lam.max(initial=0.5)))  # beyond the last: always the cheapest
    raise ConfigError(f"policy {kind} has no parameter to calibrate; use p_min, utility or cost_cap")


def _utility_breakpoints(prob: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Every positive lam at which some query is indifferent between two models (P_i - P_j) / (c_i - c_j)."""
    q, m = prob.shape
    if q * m * (m - 1) // 2 > MAX_UTILITY_BREAKPOINTS:
        return lambda_grid(prob, cost, 400)[1:]
    i, j = np.triu_indices(m, k=1)
    dp, dc = prob[:, i] - prob[:, j], cost[:, i] - cost[:, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(dc != 0, dp / dc, np.nan)
    return lam[lam > 0]


def _first_true(n: int, pred: Callable[[int], bool]) -> int:
    """Smallest i in [0, n) with pred(i), for pred false...true along i (n if none)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pred(mid) else (mid + 1, hi)
    return lo


def _rounded(kind: str, value: float, same: Callable[[float], bool]) -> Policy:
    """The policy at `value` rounded to 6 significant digits, or to more where that rounding would cross a value
    at which some query's choice changes (`same` says whether a value chooses as `value` does)."""
    for digits in range(6, 18):
        short = float(f"{value:.{digits}g}")
        short = min(short, 1.0) if kind == "p_min" else max(short, 0.0)
        if same(short):
            return Policy(kind, short)
    return Policy(kind, float(value))


def calibrate(kind: str, target: Target, prob: np.ndarray, cost: np.ndarray,
              models: Sequence[str]) -> Calibration:
    """The `kind` policy (p_min, utility or cost_cap) whose outcome on the sample prob/cost [Q, M] hits `target`.

    Mean P target: the cheapest setting whose mean P reaches it. Mean cost target: the likeliest setting whose
    mean cost stays within it. Share target: the setting whose share of `target.model` is closest (ties: the
    cheaper). An unreachable target gives the nearest extreme setting, with `reached` False.
    """
    if target.kind == "share" and target.model not in models:
        raise ConfigError(f"share target names {target.model!r}, not one of the routed models: {', '.join(models)}")
    cost = np.broadcast_to(cost, prob.shape)
    grid = parameter_grid(kind, prob, cost)

    def run(value: float) -> Outcome:
        return outcome(*choose(Policy(kind, float(value)), prob, cost), prob, cost, models)

    # rounding slack: 1e-12 of the target's own scale (a cost's: its unit, whatever it is; a P's or share's: 1)
    slack = 1e-12 * (max(target.value, float(cost.max(initial=0.0))) if target.kind == "cost" else 1.0)
    value = (_share_search(grid, target, run) if target.kind == "share"
             else _bisect(kind, grid, target, run, slack))
    chosen = choose(Policy(kind, float(value)), prob, cost)
    policy = _rounded(kind, value, lambda v: all(np.array_equal(x, y) for x, y in
                                                 zip(choose(Policy(kind, v), prob, cost), chosen)))
    out = run(policy.value)
    got = target.achieved(out)
    tol = 1.0 / len(prob) if target.kind == "share" else slack
    reached = {"share": abs(got - target.value) <= tol + 1e-12, "cost": got <= target.value + tol,
               "p": got >= target.value - tol}[target.kind]
    return Calibration(policy, target, out, bool(reached), len(grid))


def _bisect(kind: str, grid: np.ndarray, target: Target, run: Callable[[float], Outcome],
            slack: float = 1e-12) -> float:
    """A monotone target: the boundary setting by bisection over the grid (see `calibrate`); `slack`: how far
    from the target rounding may leave a setting that reaches it."""
    rising = kind != "utility"  # mean P and mean cost rise along the grid for p_min and cost_cap

    def ok(i: int) -> bool:
        got = target.achieved(run(float(grid[i])))
        return got >= target.value - slack if target.kind == "p" else got <= target.value + slack

    if (target.kind == "p") == rising:  # ok goes false -> true: take the first true
        i = _first_true(len(grid), ok)
        return float(grid[min(i, len(grid) - 1)])
    i = _first_true(len(grid), lambda k: not ok(k)) - 1  # ok goes true -> false: take the last true
    return float(grid[max(i, 0)])


def _share_search(grid: np.ndarray, target: Target, run: Callable[[float], Outcome]) -> float:
    """A share target: the grid setting whose share is closest, the cheaper one among equally close."""
    if len(grid) > MAX_SHARE_GRID:
        grid = grid[np.unique(np.linspace(0, len(grid) - 1, MAX_SHARE_GRID).round().astype(int))]
    outs = [run(float(v)) for v in grid]
    best = min(range(len(grid)), key=lambda i: (round(abs(target.achieved(outs[i]) - target.value), 12),
                                                outs[i].mean_cost))
    return float(grid[best])

"""Cost-aware routing (docs/method.md section 2.3): trade predicted correctness against price.

Prices, price files and per-query costs are in `irtnet.tasks.prices`.

Routing: `route(prob, cost, lam)` picks argmax P - lam * cost (irtnet.tasks.routing.route);
`route_budget` routes within a mean per-query budget (Lagrangian bisection on lam, then a greedy fill of the
leftover budget by gain per extra cost: the LP relaxation's solution rounded at the queries it would split,
so its total expected correctness can fall short of the best the budget allows; the budget is never
exceeded). `sweep` traces the accuracy-cost curve over lam; `curve_area` is the area
under its upper (non-decreasing) envelope on the normalised cost axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from irtnet.errors import ConfigError, DataError
from irtnet.tasks.routing import picked, route


# ------------------------------------------------------------------------------------------- allocation
#: Relative slack of a budget comparison: a mean cost within floating-point rounding of the budget fits it.
BUDGET_SLACK = 1e-12


def route_budget(prob: np.ndarray, cost: np.ndarray, budget: float, iters: int = 60) -> np.ndarray:
    """Choices [Q] with mean chosen cost <= `budget` and a large sum of prob [Q, M]: not always the largest (an
    LP relaxation rounded at the queries it would split; exact when the unconstrained best fits the budget, and
    for a single query, where it is the likeliest model within the budget).

    Bisection finds the smallest lam whose choices fit the budget, then leftover budget upgrades queries
    to their lam -> 0 side choice in order of gain per extra cost, and what is still left upgrades queries to the
    likeliest model it pays for. Costs are read relative to the dearest one, so the rule is the same in any
    currency unit (a cost of 1e-15 per query is routed as one of 1). Raises if even the cheapest choice per
    query exceeds the budget; the mean chosen cost never exceeds it by more than a relative `BUDGET_SLACK`.
    """
    prob = np.asarray(prob, dtype=np.float64)
    cost = np.broadcast_to(np.asarray(cost, dtype=np.float64), prob.shape)
    rows = np.arange(len(prob))
    cheapest = _cheapest(prob, cost)
    floor = float(cost[rows, cheapest].mean()) if len(prob) else 0.0
    if not floor <= budget * (1 + BUDGET_SLACK):
        raise ConfigError(f"budget {budget:g} per query is below the cheapest routing's mean cost {floor:g}")
    scale = float(cost.max(initial=0.0))
    if scale == 0.0:  # every model is free
        return np.argmax(prob, axis=1)
    cost, limit = cost / scale, budget / scale * (1 + BUDGET_SLACK)

    def fits(choice: np.ndarray) -> bool:
        return bool(cost[rows, choice].mean() <= limit)

    free = route(prob, cost, 0.0)
    if fits(free):
        return free
    lo, hi = 0.0, 1.0
    while not fits(route(prob, cost, hi)):
        hi *= 2
        if hi > 1e12:  # no probability gap pays for a cost gap this small: the cheapest routing fits
            return cheapest
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if fits(route(prob, cost, mid)) else (mid, hi)
    choice, upper = route(prob, cost, hi), route(prob, cost, lo)
    extra = cost[rows, upper] - cost[rows, choice]
    gain = prob[rows, upper] - prob[rows, choice]
    left = limit * len(prob) - cost[rows, choice].sum()
    for q in np.argsort(-(gain / np.where(extra > 0, extra, np.inf)), kind="stable"):
        if gain[q] <= 0 or extra[q] > left:
            continue
        choice[q], left = upper[q], left - extra[q]
    return _fill(prob, cost, choice, left)


def _cheapest(prob: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """[Q] the cheapest model of each query, the likeliest among equally cheap ones."""
    low = cost == cost.min(axis=1, keepdims=True)
    return np.argmax(np.where(low, prob, -np.inf), axis=1)


def _fill(prob: np.ndarray, cost: np.ndarray, choice: np.ndarray, left: float) -> np.ndarray:
    """Spend the budget `left` over (total cost units) on upgrades to a likelier model, in order of the best gain
    per extra cost a query offers, each to the likeliest model that the budget still left pays for."""
    rows = np.arange(len(prob))
    gain = prob - prob[rows, choice][:, None]
    extra = cost - cost[rows, choice][:, None]
    useful = (gain > 0) & (extra <= left)
    if not useful.any():
        return choice
    ratio = np.where(extra > 0, gain / np.where(extra > 0, extra, 1.0), np.inf)  # a free upgrade: first
    best = np.where(useful, ratio, -np.inf).max(axis=1)
    for q in np.argsort(-best, kind="stable"):
        if best[q] == -np.inf:
            break
        ok = (gain[q] > 0) & (extra[q] <= left)
        if not ok.any():
            continue
        top = np.flatnonzero(ok & (prob[q] == prob[q][ok].max()))
        j = int(top[np.argmin(cost[q, top])])
        choice[q], left = j, left - max(float(extra[q, j]), 0.0)
    return choice


@dataclass
class CurvePoint:
    """One routing operating point: its lam (or budget, on a budget curve), mean realised cost per query,
    accuracy against the labels and expected accuracy (mean chosen probability)."""

    lam: float
    cost: float
    accuracy: float
    expected: float


@dataclass
class CostCurve:
    """The accuracy-cost curve of one router and its summary figures; `kind` "lambda" (argmax P - lam
    cost) or "budget" (best expected accuracy within a mean budget; `lam` holds the budget)."""

    router: str
    points: list[CurvePoint]
    area: float = float("nan")
    match_cost: float | None = None
    match_lam: float | None = None
    kind: str = "lambda"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lambda_grid(prob: np.ndarray, cost: np.ndarray, n: int = 40) -> np.ndarray:
    """0 and `n` geometric lam values from where choices start to change to where all are the cheapest."""
    cost = np.broadcast_to(cost, prob.shape)
    gaps = np.diff(np.sort(cost, axis=1), axis=1)
    positive = gaps[gaps > 0]
    if not len(positive):
        return np.zeros(1)
    hi = float(np.ptp(prob) / positive.min()) * 2 + 1e-12  # beyond it no probability gap pays any extra cost
    lo = hi * 1e-6
    return np.concatenate([[0.0], np.geomspace(lo, hi, n)])


def sweep(prob: np.ndarray, cost: np.ndarray, labels: np.ndarray, lams: Sequence[float] | None = None,
          router: str = "router", decision_cost: np.ndarray | None = None) -> CostCurve:
    """Route at each lam; mean realised cost, accuracy against `labels` [Q, M] and expected accuracy.

    `decision_cost` ([M] or [Q, M]) is the cost the router believes when choosing (default: `cost`, the
    realised cost that is reported), e.g. each model's mean training cost where realised costs vary.
    """
    cost = np.broadcast_to(cost, prob.shape)
    decide = cost if decision_cost is None else np.broadcast_to(decision_cost, prob.shape)
    rows = np.arange(len(prob))
    lams = lambda_grid(prob, decide) if lams is None else np.asarray(lams, float)
    points = []
    for lam in lams:
        choice = route(prob, decide, float(lam))
        points.append(CurvePoint(float(lam), float(cost[rows, choice].mean()), float(picked(labels, choice).mean()),
                                 float(prob[rows, choice].mean())))
    return CostCurve(router, points)


def budget_sweep(prob: np.ndarray, cost: np.ndarray, labels: np.ndarray, budgets: Sequence[float],
                 router: str = "router", decision_cost: np.ndarray | None = None) -> CostCurve:
    """`route_budget` at each mean budget (planned on `decision_cost`, default `cost`); see `sweep`."""
    cost = np.broadcast_to(cost, prob.shape)
    decide = cost if decision_cost is None else np.broadcast_to(decision_cost, prob.shape)
    rows = np.arange(len(prob))
    floor = decide[rows, np.argmin(decide, axis=1)].mean()
    points = []
    for budget in budgets:
        choice = route_budget(prob, decide, max(float(budget), floor))
        points.append(CurvePoint(float(budget), float(cost[rows, choice].mean()), float(picked(labels, choice).mean()),
                                 float(prob[rows, choice].mean())))
    return CostCurve(router, points, kind="budget")


def frontier(costs: np.ndarray, accs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper non-decreasing envelope: the best accuracy reachable at each cost or less (sorted by cost)."""
    order = np.argsort(costs, kind="stable")
    return costs[order], np.maximum.accumulate(accs[order])


def curve_area(costs: np.ndarray, accs: np.ndarray, cost_range: tuple[float, float]) -> float:
    """Area under the envelope over `cost_range` mapped to [0, 1], flat beyond its ends (left of its first
    point it holds nothing: accuracy 0 until the first reachable cost). A router that reaches accuracy A
    at the lowest cost scores A."""
    lo, hi = cost_range
    if hi <= lo:
        return float("nan")
    c, a = frontier(np.asarray(costs, float), np.asarray(accs, float))
    x = np.clip((np.concatenate([c, [hi]]) - lo) / (hi - lo), 0, 1)
    y = np.concatenate([a, [a[-1]]])
    return float(np.sum(np.diff(x) * y[:-1]))  # step function: accuracy holds until the next point


def match_point(curve: CostCurve, target: float) -> tuple[float | None, float | None]:
    """(cost, lam) of the cheapest swept point whose accuracy reaches `target` (None if none does)."""
    ok = [p for p in curve.points if p.accuracy >= target - 1e-12]
    if not ok:
        return None, None
    best = min(ok, key=lambda p: p.cost)
    return best.cost, best.lam


@dataclass
class CostEvaluation:
    """Accuracy-cost curves of routers beside every single model and the cost-aware oracle."""

    curves: list[CostCurve]
    single_models: dict[str, dict[str, float]]
    best_single: str
    oracle: dict[str, float]
    cost_range: tuple[float, float]
    single_area: float = float("nan")
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "cost-routing", "settings": self.settings, "best_single": self.best_single,
                "single_area": self.single_area,
                "single_models": self.single_models, "oracle": self.oracle, "cost_range": list(self.cost_range),
                "curves": [c.to_dict() for c in self.curves]}


def evaluate_cost(probs: Mapping[str, np.ndarray], labels: np.ndarray, cost: np.ndarray, models: Sequence[str],
                  train_accuracy: np.ndarray, n_lambdas: int = 40,
                  decision_cost: np.ndarray | None = None) -> CostEvaluation:
    """Sweep each router's probabilities [Q, M] against complete 0/1 `labels` [Q, M] and `cost` ([M] or
    [Q, M]); `train_accuracy` [M] names the best single model (chosen on training data, never on test).
    `decision_cost`: see `sweep`.

    Each router gets a lambda curve and a budget curve (budgets geometric over the single models' cost
    range). Areas share one cost axis: from the cheapest single model's mean cost to the dearest's. `single_area`
    is the same area for the single models alone (always one model, whichever is best at each cost).
    """
    if np.isnan(labels).any():
        raise DataError("cost routing is scored on fully labelled queries only; drop incomplete ones first",
                        field="labels")
    cost = np.broadcast_to(cost, labels.shape)
    singles = {m: {"cost": float(cost[:, j].mean()), "accuracy": float(labels[:, j].mean())}
               for j, m in enumerate(models)}
    best = models[int(np.argmax(train_accuracy))]
    correct_cost = np.where(labels > 0.5, cost, np.inf).min(axis=1)
    oracle_cost = np.where(np.isfinite(correct_cost), correct_cost, cost.min(axis=1))
    oracle = {"cost": float(oracle_cost.mean()), "accuracy": float((labels > 0.5).any(axis=1).mean())}
    cost_range = (min(s["cost"] for s in singles.values()), max(s["cost"] for s in singles.values()))
    budgets = _budgets(cost_range, n_lambdas // 2)
    curves = []
    for name, prob in probs.items():
        decide = cost if decision_cost is None else decision_cost
        curve = sweep(prob, cost, labels, lambda_grid(prob, np.broadcast_to(decide, labels.shape), n_lambdas), name,
                      decision_cost)
        curves += [curve, budget_sweep(prob, cost, labels, budgets, name, decision_cost)]
    for curve in curves:
        curve.area = curve_area(np.array([p.cost for p in curve.points]), np.array([p.accuracy for p in curve.points]),
                                cost_range)
        curve.match_cost, curve.match_lam = match_point(curve, singles[best]["accuracy"])
    single_area = curve_area(np.array([s["cost"] for s in singles.values()]),
                             np.array([s["accuracy"] for s in singles.values()]), cost_range)
    return CostEvaluation(curves, singles, best, oracle, cost_range, single_area)


def _budgets(cost_range: tuple[float, float], n: int) -> np.ndarray:
    """`n` mean budgets per query, geometric from the cheapest single model's mean cost (at least 1e-12, where the
    dearest's is above it; a free cheapest: a millionth of the dearest's) to the dearest's; where every model is
    free, the one budget 0 (no geometric sequence starts or ends at 0)."""
    lo, hi = cost_range
    if hi <= 0:
        return np.zeros(1)
    start = max(lo, 1e-12) if hi > 1e-12 else (lo if lo > 0 else hi * 1e-6)
    return np.geomspace(start, hi, max(n, 1))

"""Cost-aware routing (docs/method.md section 2.3): trade predicted correctness against price.

Prices: per (model, query) from a table's `cost` column, or per model from a price file or the table's
model metadata, either per query or per input/output token with token counts:

- JSON: {model: number} (per query) or {model: {"per_query": x}} or {model: {"input_per_1k": x,
  "output_per_1k": y}} (per 1,000 tokens) or {model: {"input_price": x, "output_price": y}} (per million
  tokens: the LLMRouter `default_llm.json` convention, whose descriptions quote "$ per million tokens").
- CSV: a `model` column plus `per_query`, or `input_per_1k`/`output_per_1k`, or `input_price`/`output_price`.

Each model is priced once, in one form, with every amount of the form given (0 where free) as a finite
number >= 0; anything else (NaN, infinity, a negative or boolean price, a repeated model, an empty model
name, a file that is not UTF-8) is a DataError naming the file and the model or row. Routing needs a price
for every model it chooses among (`require_prices`): an unpriced model is an error, never left out quietly.

Token counts: input tokens are estimated from the query text as ceil(characters / 4) (the usual rule of
thumb for English with GPT-style tokenisers; no tokeniser of the priced models is available here), and
output tokens are a fixed assumed number per answer (default 256) because the data hold no answers.
Where input and output prices are equal, the models' relative costs per query do not depend on either.

Routing: `route(prob, cost, lam)` picks argmax P - lam * cost (irtnet.tasks.routing.route);
`route_budget` gives the best expected correctness under a mean per-query budget (Lagrangian bisection on
lam, then a greedy fill of the leftover budget by gain per extra cost: the LP relaxation's solution up to
the queries it would split). `sweep` traces the accuracy-cost curve over lam; `curve_area` is the area
under its upper (non-decreasing) envelope on the normalised cost axis.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import unique_keys
from irtnet.errors import ConfigError, DataError
from irtnet.tasks.routing import picked, route

#: Assumed output tokens per answer where the data has none.
DEFAULT_OUTPUT_TOKENS = 256
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Price:
    """One model's price: per query plus per 1,000 input and output tokens (any may be zero)."""

    per_query: float = 0.0
    input_per_1k: float = 0.0
    output_per_1k: float = 0.0

    def cost(self, input_tokens: np.ndarray, output_tokens: np.ndarray | float) -> np.ndarray:
        return self.per_query + (self.input_per_1k * input_tokens + self.output_per_1k * output_tokens) / 1000.0


_FORMS = (("per_query",), ("input_per_1k", "output_per_1k"), ("input_price", "output_price"))


def is_finite_number(value: Any) -> bool:
    """A real number (not a boolean) that is neither NaN nor infinite."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def check_output_tokens(output_tokens: Any) -> float:
    """The assumed output tokens per answer, refused unless a finite number >= 0."""
    if not (is_finite_number(output_tokens) and output_tokens >= 0):
        raise ConfigError(f"--output-tokens must be a finite non-negative number, got {output_tokens!r}")
    return float(output_tokens)


def _amount(model: str, key: str | None, value: Any, source: str) -> float:
    """One price: a finite number >= 0 (a numeric string, as CSV cells are, is read as one)."""
    what = f"price of {model!r}" + (f" ({key})" if key else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str)):
        raise DataError(f"{what} must be a number, got {value!r}", file=source, field=model)
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise DataError(f"{what} is not a number: {value!r}", file=source, field=model) from exc
    if not math.isfinite(number) or number < 0:
        raise DataError(f"{what} must be a finite number >= 0, got {value!r}", file=source, field=model)
    return number


def parse_price(model: str, value: Any, source: str) -> Price:
    """One model's price from a number (per query) or an object in one of the forms of the module docstring;
    a DataError naming `source` and the model unless every amount is a finite number >= 0."""
    if not isinstance(value, Mapping):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise DataError(f"price of {model!r} must be a number or an object, got {value!r}", file=source,
                            field=model)
        return Price(per_query=_amount(model, None, value, source))
    forms = [form for form in _FORMS if any(k in value for k in form)]
    if not forms:
        raise DataError(f"price of {model!r} has none of per_query, input_per_1k/output_per_1k, "
                        "input_price/output_price", file=source, field=model)
    if len(forms) > 1:
        given = ", ".join(k for form in forms for k in form if k in value)
        raise DataError(f"price of {model!r} is given in more than one form ({given}); give one", file=source,
                        field=model)
    form = forms[0]
    absent = [k for k in form if k not in value]
    if absent:
        raise DataError(f"price of {model!r} gives {' and '.join(k for k in form if k in value)} without "
                        f"{' and '.join(absent)} (write 0 where it is free)", file=source, field=model)
    amounts = [_amount(model, k, value[k], source) for k in form]
    if form == ("per_query",):
        return Price(per_query=amounts[0])
    if form == ("input_per_1k", "output_per_1k"):
        return Price(0.0, amounts[0], amounts[1])
    return Price(0.0, amounts[0] / 1000, amounts[1] / 1000)  # per million tokens


def _read_text(path: Path) -> str:
    """The price file as text: a DataError naming it when it cannot be read or is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the price file ({exc.strerror or exc})", file=str(path)) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason}); "
                        "save the price file as UTF-8", file=str(path)) from exc


def _csv_prices(text: str, source: str) -> dict[str, dict[str, str]]:
    """model -> its non-empty cells; data rows are numbered from 1 after the header, blank lines not counted (as
    the importers number a CSV's rows)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: dict[str, dict[str, str]] = {}
    first: dict[str, int] = {}
    number, header = 0, None
    try:
        header = next(reader, None)
        if header is None or "model" not in header:
            raise DataError("a price CSV needs a 'model' column and at least one row", file=source, field="model")
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # a blank line
            number += 1
            if len(cells) > len(header):
                raise DataError(f"{len(cells)} cells for {len(header)} columns", file=source, row=number)
            row = dict(zip(header, cells))
            model = row.get("model", "")
            if not model.strip():
                raise DataError("empty model name", file=source, row=number, field="model")
            if model in first:
                raise DataError(f"model {model!r} has a second row (the first is row {first[model]}); give each "
                                "model one row", file=source, row=number, field=model)
            first[model] = number
            out[model] = {k: v for k, v in row.items() if k != "model" and v != ""}
    except csv.Error as exc:  # in the header, or in the data row after the last one read
        where = {"row": number + 1} if header is not None else {"field": "header"}
        raise DataError(f"not a readable CSV file ({exc})", file=source, **where) from exc
    if not out:
        raise DataError("a price CSV needs a 'model' column and at least one row", file=source, field="model")
    return out


def load_prices(path: str | Path) -> dict[str, Price]:
    """Prices per model from a JSON or CSV price file (see the module docstring); a DataError naming the file
    (and the model or row) for anything that is not one finite price >= 0 per model."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such price file", file=str(path))
    text = _read_text(path)
    if path.suffix.lower() == ".csv":
        raw: Any = _csv_prices(text, str(path))
    else:
        try:
            raw = json.loads(text, object_pairs_hook=unique_keys(str(path)))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"not valid JSON ({exc})", file=str(path)) from exc
        if not isinstance(raw, dict):
            raise DataError("expected an object: model -> price", file=str(path))
        empty = [m for m in raw if not m.strip()]
        if empty:
            raise DataError("a model name is empty", file=str(path), field="model")
    return {str(m): parse_price(str(m), v, str(path)) for m, v in raw.items()}


def prices_from_models(models: Any, source: str = "<table models>") -> dict[str, Price]:
    """Prices from a table's model metadata (`per_query`, or `input_price`/`output_price` per million tokens)."""
    cols = set(models.columns)
    out = {}
    for row in models.to_dict("records"):
        value = {k: row[k] for k in ("per_query", "input_price", "output_price")
                 if k in cols and row[k] is not None and not (isinstance(row[k], float) and math.isnan(row[k]))}
        if value:
            out[str(row["model"])] = parse_price(str(row["model"]), value, source)
    return out


def require_prices(prices: Mapping[str, Price], models: Sequence[str], source: str, how: str) -> None:
    """A ConfigError listing the models without a price in `prices` (from `source`), and `how` to proceed;
    nothing when every one of `models` has a price."""
    missing = [m for m in models if m not in prices]
    if not missing:
        return
    shown = ", ".join(map(repr, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
    unused = [m for m in prices if m not in set(models)]
    also = (f" (it prices {', '.join(map(repr, unused[:5]))}{' ...' if len(unused) > 5 else ''}, which are not "
            "among them: a misspelt name?)") if unused else ""
    raise ConfigError(f"{source} has no price for {len(missing)} of the {len(models)} model(s) to choose among: "
                      f"{shown}{also}; {how}")


def token_counts(texts: Sequence[str | None]) -> np.ndarray:
    """Estimated input tokens of each text: ceil(characters / 4) ([n] float)."""
    return np.array([math.ceil(len(t or "") / CHARS_PER_TOKEN) for t in texts], dtype=np.float64)


def cost_matrix(prices: Mapping[str, Price], models: Sequence[str], input_tokens: np.ndarray,
                output_tokens: float = DEFAULT_OUTPUT_TOKENS) -> np.ndarray:
    """[Q, M] cost of each model on each query from per-model prices and [Q] input token counts."""
    missing = [m for m in models if m not in prices]
    if missing:
        raise DataError(f"no price for model(s) {missing[:5]} ({len(missing)} missing)", field="prices")
    return np.stack([prices[m].cost(input_tokens, output_tokens) for m in models], axis=1)


# ------------------------------------------------------------------------------------------- allocation
def route_budget(prob: np.ndarray, cost: np.ndarray, budget: float, iters: int = 60) -> np.ndarray:
    """Choices [Q] maximising the sum of prob [Q, M] subject to mean chosen cost <= `budget`.

    Bisection finds the smallest lam whose choices fit the budget, then leftover budget upgrades queries
    to their lam -> 0 side choice in order of gain per extra cost. Raises if even the cheapest choice
    per query exceeds the budget.
    """
    cost = np.broadcast_to(cost, prob.shape)
    rows = np.arange(len(prob))
    cheapest = np.argmin(cost + 1e-12 * -prob, axis=1)
    if cost[rows, cheapest].mean() > budget + 1e-12:
        raise ConfigError(f"budget {budget:g} per query is below the cheapest routing's mean cost "
                          f"{cost[rows, cheapest].mean():g}")
    free = route(prob, cost, 0.0)
    if cost[rows, free].mean() <= budget:
        return free
    lo, hi = 0.0, 1.0
    while cost[rows, route(prob, cost, hi)].mean() > budget:
        hi *= 2
        if hi > 1e12:
            return cheapest
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if cost[rows, route(prob, cost, mid)].mean() <= budget else (mid, hi)
    choice, upper = route(prob, cost, hi), route(prob, cost, lo)
    extra = cost[rows, upper] - cost[rows, choice]
    gain = prob[rows, upper] - prob[rows, choice]
    left = budget * len(prob) - cost[rows, choice].sum()
    for q in np.argsort(-(gain / np.where(extra > 0, extra, np.inf))):
        if gain[q] <= 0 or extra[q] > left:
            continue
        choice[q], left = upper[q], left - extra[q]
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
    curves = []
    for name, prob in probs.items():
        decide = cost if decision_cost is None else decision_cost
        curve = sweep(prob, cost, labels, lambda_grid(prob, np.broadcast_to(decide, labels.shape), n_lambdas), name,
                      decision_cost)
        budgets = np.geomspace(max(cost_range[0], 1e-12), cost_range[1], n_lambdas // 2)
        curves += [curve, budget_sweep(prob, cost, labels, budgets, name, decision_cost)]
    for curve in curves:
        curve.area = curve_area(np.array([p.cost for p in curve.points]), np.array([p.accuracy for p in curve.points]),
                                cost_range)
        curve.match_cost, curve.match_lam = match_point(curve, singles[best]["accuracy"])
    single_area = curve_area(np.array([s["cost"] for s in singles.values()]),
                             np.array([s["accuracy"] for s in singles.values()]), cost_range)
    return CostEvaluation(curves, singles, best, oracle, cost_range, single_area)

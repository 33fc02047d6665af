"""Model prices and per-query costs for cost-aware routing (`irtnet.tasks.cost`, docs/method.md section 2.3).

Prices: per (model, query) from a table's `cost` column, or per model from a price file or the table's
model metadata, either per query or per input/output token with token counts:

- JSON: {model: number} (per query) or {model: {"per_query": x}} or {model: {"input_per_1k": x,
  "output_per_1k": y}} (per 1,000 tokens) or {model: {"input_price": x, "output_price": y}} (per million
  tokens: the LLMRouter `default_llm.json` convention, whose descriptions quote "$ per million tokens").
  LLMRouter's descriptive keys (`model`, `service`, `size`, `feature`) may stand beside the prices and are not
  read; any other key (a misspelt `output_per1k`) is an error listing the keys that are read.
- CSV: a `model` column plus `per_query`, or `input_per_1k`/`output_per_1k`, or `input_price`/`output_price`
  (the descriptive columns may stand beside them). Any other column, a column name used twice and a row with
  more or fewer cells than the header are errors naming the file, the row and the column.

Each model is priced once, in one form, with every amount of the form given (0 where free) as a finite
number >= 0 and at most `MAX_COST`; anything else (NaN, infinity, a negative or boolean price, a repeated model,
an empty model name, a file that is not UTF-8) is a DataError naming the file and the model or row. Routing needs
a price for every model it chooses among (`require_prices`): an unpriced model is an error, never left out
quietly. A cost per query above `MAX_COST` (a token price times a huge --output-tokens) is an error naming the
model (`cost_matrix`), never an overflow to infinity.

Token counts: input tokens are estimated from the query text as ceil(characters / 4) (the usual rule of
thumb for English with GPT-style tokenisers; no tokeniser of the priced models is available here), and
output tokens are a fixed assumed number per answer (default 256) because the data hold no answers.
Where input and output prices are equal, the models' relative costs per query do not depend on either.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import unique_keys
from irtnet.data.importers._csv import check_row_width, refuse_repeated_columns
from irtnet.errors import ConfigError, DataError, UnusedOptionError

#: Assumed output tokens per answer where the data has none.
DEFAULT_OUTPUT_TOKENS = 256
CHARS_PER_TOKEN = 4
#: The largest price amount, and cost per query, irtnet computes with: far above any real price, and far enough
#: below the largest float that sums over queries and products with a cost weight stay finite.
MAX_COST = 1e15


@dataclass(frozen=True)
class Price:
    """One model's price: per query plus per 1,000 input and output tokens (any may be zero)."""

    per_query: float = 0.0
    input_per_1k: float = 0.0
    output_per_1k: float = 0.0

    def cost(self, input_tokens: np.ndarray, output_tokens: np.ndarray | float) -> np.ndarray:
        return self.per_query + (self.input_per_1k * input_tokens + self.output_per_1k * output_tokens) / 1000.0


_FORMS = (("per_query",), ("input_per_1k", "output_per_1k"), ("input_price", "output_price"))
_PRICE_KEYS = tuple(k for form in _FORMS for k in form)
#: What LLMRouter's `default_llm.json` says about each model beside its prices: allowed, not read.
_DESCRIPTIVE = ("model", "service", "size", "feature")
_READS = ("per_query, or input_per_1k and output_per_1k, or input_price and output_price (LLMRouter's "
          "descriptive model, service, size and feature may stand beside them, unread)")


def is_finite_number(value: Any) -> bool:
    """A real number (not a boolean) that is neither NaN nor infinite."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def check_output_tokens(output_tokens: Any) -> float:
    """The assumed output tokens per answer, refused unless a finite number >= 0."""
    if not (is_finite_number(output_tokens) and output_tokens >= 0):
        raise ConfigError(f"--output-tokens must be a finite non-negative number, got {output_tokens!r}")
    return float(output_tokens)


def refuse_unread_output_tokens(prices: Mapping[str, Price], source: str) -> None:
    """Output tokens given explicitly (--output-tokens) where no price of `prices` (from `source`) has a per-token
    output part (each is per query, or its output price is 0) would have no effect: an UnusedOptionError."""
    if not any(p.output_per_1k > 0 for p in prices.values()):
        raise UnusedOptionError(f"--output-tokens has no effect: the prices ({source}) have no per-token output "
                                "price (each is per query, or its output price is 0); leave out --output-tokens, "
                                "or give output-token prices (output_per_1k or output_price)")


def _amount(model: str, key: str | None, value: Any, source: str) -> float:
    """One price: a finite number in [0, MAX_COST] (a numeric string, as CSV cells are, is read as one)."""
    what = f"price of {model!r}" + (f" ({key})" if key else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str)):
        raise DataError(f"{what} must be a number, got {value!r}", file=source, field=model)
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise DataError(f"{what} is not a number: {value!r}", file=source, field=model) from exc
    if not math.isfinite(number) or number < 0:
        raise DataError(f"{what} must be a finite number >= 0, got {value!r}", file=source, field=model)
    if number > MAX_COST:
        raise DataError(f"{what} is {value!r}, above the largest price irtnet computes with ({MAX_COST:g}): costs "
                        "that large overflow to infinity in sums; give the price in a larger unit", file=source,
                        field=model)
    return number


def _unknown_keys(model: str, value: Mapping[str, Any], source: str) -> None:
    """A key of a price object that is neither a price nor LLMRouter's description is an error, never ignored."""
    unknown = [k for k in value if k not in _PRICE_KEYS and k not in _DESCRIPTIVE]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), _PRICE_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(f"price of {model!r} has unknown key(s) {', '.join(map(repr, unknown))}{hint}; a price "
                        f"object reads {_READS}", file=source, field=model)


def parse_price(model: str, value: Any, source: str) -> Price:
    """One model's price from a number (per query) or an object in one of the forms of the module docstring;
    a DataError naming `source` and the model unless every amount is a finite number >= 0."""
    if not isinstance(value, Mapping):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise DataError(f"price of {model!r} must be a number or an object, got {value!r}", file=source,
                            field=model)
        return Price(per_query=_amount(model, None, value, source))
    _unknown_keys(model, value, source)
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


def _check_header(header: list[str] | None, source: str) -> list[str]:
    """A price CSV's header: a `model` column, every other column a price or LLMRouter's description, none twice."""
    if header is None or "model" not in header:
        raise DataError("a price CSV needs a 'model' column and at least one row", file=source, field="model")
    refuse_repeated_columns(header, source)
    unknown = [c for c in header if c not in ("model", *_PRICE_KEYS, *_DESCRIPTIVE)]
    if unknown:
        raise DataError(f"unknown column(s) {', '.join(map(repr, unknown))}; a price CSV has a 'model' column and "
                        f"{_READS}", file=source, field=unknown[0])
    return header


def _csv_prices(text: str, source: str) -> dict[str, dict[str, str]]:
    """model -> its non-empty cells; data rows are numbered from 1 after the header, blank lines not counted (as
    the importers number a CSV's rows)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: dict[str, dict[str, str]] = {}
    first: dict[str, int] = {}
    number, header = 0, None
    try:
        header = _check_header(next(reader, None), source)
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # a blank line
            number += 1
            check_row_width(cells, header, source, number)
            row = dict(zip(header, cells))
            model = row["model"]
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
    if path.is_dir():
        raise DataError("is a folder, not a price file: give a JSON or CSV price file", file=str(path))
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
                output_tokens: float = DEFAULT_OUTPUT_TOKENS, source: str | None = None) -> np.ndarray:
    """[Q, M] cost of each model on each query from per-model prices and [Q] input token counts; a cost above
    `MAX_COST` (or one that overflows) is a DataError naming the model and `source`, the prices' file."""
    missing = [m for m in models if m not in prices]
    if missing:
        raise DataError(f"no price for model(s) {missing[:5]} ({len(missing)} missing)", field="prices")
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, never a RuntimeWarning and an inf
        cost = np.stack([prices[m].cost(input_tokens, output_tokens) for m in models], axis=1)
    bad = ~(cost <= MAX_COST)
    if bad.any():
        q, j = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(cost, nan=np.inf), -np.inf)), cost.shape)
        p = prices[models[j]]
        raise DataError(f"model {models[j]!r} would cost {cost[q, j]:g} on a query of {input_tokens[q]:g} input "
                        f"tokens and {output_tokens:g} output tokens (per query {p.per_query:g}, per 1,000 tokens "
                        f"{p.input_per_1k:g} in, {p.output_per_1k:g} out), above the largest cost per query irtnet "
                        f"computes with ({MAX_COST:g}); lower its prices or --output-tokens", file=source,
                        field=models[j])
    return cost

"""Readable tables (rich for the terminal, Markdown for files) of evaluation results."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.table import Table

from irtnet.tasks.evaluate import EvaluationResult

CORRECTNESS_COLUMNS = ("accuracy", "auc", "log_loss", "brier", "ece")


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def correctness_rows(results: Sequence[EvaluationResult]) -> list[list[str]]:
    rows = []
    for r in results:
        if r.correctness is None:
            continue
        o = r.correctness["overall"]
        rows.append([r.predictor, str(o["n"])] + [_fmt(o[c]) for c in CORRECTNESS_COLUMNS])
    return rows


def per_benchmark_rows(results: Sequence[EvaluationResult], metric: str = "accuracy") -> tuple[list[str], list[list[str]]]:
    """Rows: benchmark, base rate, then `metric` for each predictor."""
    scored = [r for r in results if r.correctness is not None]
    if not scored:
        return [], []
    benches = list(scored[0].correctness["per_benchmark"])
    header = ["benchmark", "pairs", "base rate"] + [r.predictor for r in scored]
    rows = []
    for b in benches:
        first = scored[0].correctness["per_benchmark"][b]
        rows.append([b, str(first["n"]), _fmt(first["base_rate"], 3)]
                    + [_fmt(r.correctness["per_benchmark"][b][metric]) for r in scored])
    return header, rows


def routing_rows(results: Sequence[EvaluationResult]) -> list[list[str]]:
    """Routers first, then the label-only references of the first result."""
    rows = [[r.predictor, _fmt(r.routing.micro), _fmt(r.routing.macro), _fmt(r.routing.gap_closed, 3)]
            for r in results]
    if results:
        for name, ref in results[0].routing.references.items():
            rows.append([f"({name.replace('_', ' ')})", _fmt(ref["micro"]), _fmt(ref["macro"]), ""])
    return rows


def _rich(title: str, header: Sequence[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def rich_tables(results: Sequence[EvaluationResult]) -> list[Table]:
    """Correctness, per-benchmark accuracy and AUC, and routing tables."""
    tables = []
    c_rows = correctness_rows(results)
    if c_rows:
        n = results[0].info.get("n_test_pairs", "")
        tables.append(_rich(f"Correctness prediction ({n} test pairs)",
                            ["predictor", "pairs", *CORRECTNESS_COLUMNS], c_rows))
        for metric in ("accuracy", "auc"):
            header, rows = per_benchmark_rows(results, metric)
            tables.append(_rich(f"Per-benchmark {metric}", header, rows))
    r0 = results[0].routing
    tables.append(_rich(
        f"Routing accuracy ({r0.n_queries} test queries, mode '{r0.mode}', {r0.n_excluded} excluded)",
        ["router", "micro", "macro", "gap closed"], routing_rows(results)))
    return tables


def _md(header: Sequence[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(results: Sequence[EvaluationResult]) -> str:
    """The same tables as Markdown."""
    parts = []
    c_rows = correctness_rows(results)
    if c_rows:
        parts += ["### Correctness", _md(["predictor", "pairs", *CORRECTNESS_COLUMNS], c_rows)]
        header, rows = per_benchmark_rows(results, "accuracy")
        parts += ["### Per-benchmark accuracy", _md(header, rows)]
    r0 = results[0].routing
    parts += [f"### Routing ({r0.n_queries} queries, mode '{r0.mode}', {r0.n_excluded} excluded)",
              _md(["router", "micro", "macro", "gap closed"], routing_rows(results))]
    return "\n\n".join(parts) + "\n"

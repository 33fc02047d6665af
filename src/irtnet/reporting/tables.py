"""Readable tables (rich for the terminal, Markdown for files) of evaluation results."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from irtnet.tasks.evaluate import EvaluationResult
from irtnet.tasks.routing import references_no_result

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


def routing_caveat(result: EvaluationResult) -> str | None:
    """Why `result`'s routing accuracy is no result (`tasks.routing.routing_no_result`), or None."""
    return references_no_result(result.routing.references, result.info.get("n_models"))


#: How each evaluation setting (`info["setting"]`, written by `irtnet.api.evaluate_run`) is titled.
SETTING_TITLES = {"benchmark known": "benchmark known", "text only": "text only: names hidden"}


def setting_title(setting: str | None) -> str | None:
    """The title of an evaluation setting (None for results written before settings existed)."""
    return None if setting is None else SETTING_TITLES.get(setting, setting)


def by_setting(results: Sequence[EvaluationResult]) -> list[tuple[str | None, list[EvaluationResult]]]:
    """The results grouped by `info["setting"]`, settings in order of first appearance (None: no setting)."""
    groups: dict[str | None, list[EvaluationResult]] = {}
    for r in results:
        groups.setdefault(r.info.get("setting"), []).append(r)
    return list(groups.items())


def setting_notes(results: Sequence[EvaluationResult]) -> list[str]:
    """One setting's notes from its results' info: the answer paths of a model that reports them, the
    predictors skipped in this setting (and why), and settings the run's model could not serve; first, where
    routing accuracy is no result on these labels (one model, or every model with the same label), why."""
    caveat = routing_caveat(results[0]) if results else None
    notes = [f"routing: {caveat}"] if caveat else []
    for r in results:
        if r.info.get("paths"):
            counts = ", ".join(f"{path} {n}" for path, n in r.info["paths"].items())
            notes.append(f"{r.predictor} answered by path: {counts}")
        differ = {name: d for name, d in (r.info.get("routed_differently") or {}).items() if d.get("share") is not None}
        if differ:
            notes.append(f"routed differently from {r.predictor} (share of queries; {r.predictor}'s / the other's "
                         "mean score there, where alone routing can differ): " + ", ".join(
                             f"{name} {d['share']:.1%}" + (f" ({d['a']:.3f} / {d['b']:.3f})" if d["n_differ"] else "")
                             for name, d in differ.items()))
        for name, why in (r.info.get("skipped") or {}).items():
            notes.append(f"{name} left out: {why}")
        for setting, skipped in (r.info.get("skipped_settings") or {}).items():
            notes += [f"{name} left out of the {setting!r} setting: {why}" for name, why in skipped.items()]
    return notes


def _rich(title: str, header: Sequence[str], rows: list[list[str]], caption: str | None = None) -> Table:
    """Every string as `Text`: model and benchmark names ("[bold]x", "a[/b]") are shown as given, never read as
    Rich markup, whatever console prints the table."""
    table = Table(title=Text(title), title_justify="left", caption=None if caption is None else Text(caption),
                  caption_justify="left")
    for i, h in enumerate(header):
        table.add_column(Text(h), justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    return table


def rich_tables(results: Sequence[EvaluationResult]) -> list[Table]:
    """Per setting (`info["setting"]`; results without one as a single untitled group): correctness,
    per-benchmark accuracy and AUC, and routing tables, the setting's notes under its routing table."""
    tables = []
    for setting, group in by_setting(results):
        label = setting_title(setting)
        tables += _rich_group(group, f"{label}; " if label else "", f" ({label})" if label else "")
    return tables


def _rich_group(results: Sequence[EvaluationResult], lead: str, suffix: str) -> list[Table]:
    tables = []
    c_rows = correctness_rows(results)
    if c_rows:
        n = results[0].info.get("n_test_pairs", "")
        tables.append(_rich(f"Correctness prediction ({lead}{n} test pairs)",
                            ["predictor", "pairs", *CORRECTNESS_COLUMNS], c_rows))
        for metric in ("accuracy", "auc"):
            header, rows = per_benchmark_rows(results, metric)
            tables.append(_rich(f"Per-benchmark {metric}{suffix}", header, rows))
    r0 = results[0].routing
    notes = setting_notes(results)
    tables.append(_rich(
        f"Routing accuracy ({lead}{r0.n_queries} test queries, mode '{r0.mode}', {r0.n_excluded} excluded)",
        ["router", "micro", "macro", "gap closed"], routing_rows(results), "\n".join(notes) or None))
    return tables


def _md(header: Sequence[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(results: Sequence[EvaluationResult]) -> str:
    """The same tables as Markdown, per setting."""
    parts = []
    for setting, group in by_setting(results):
        label = setting_title(setting)
        parts += _md_group(group, f"{label}; " if label else "", f" ({label})" if label else "")
    return "\n\n".join(parts) + "\n"


def _md_group(results: Sequence[EvaluationResult], lead: str, suffix: str) -> list[str]:
    parts = []
    c_rows = correctness_rows(results)
    if c_rows:
        parts += [f"### Correctness{suffix}", _md(["predictor", "pairs", *CORRECTNESS_COLUMNS], c_rows)]
        header, rows = per_benchmark_rows(results, "accuracy")
        parts += [f"### Per-benchmark accuracy{suffix}", _md(header, rows)]
    r0 = results[0].routing
    parts += [f"### Routing ({lead}{r0.n_queries} queries, mode '{r0.mode}', {r0.n_excluded} excluded)",
              _md(["router", "micro", "macro", "gap closed"], routing_rows(results))]
    parts += [f"*{note}*" for note in setting_notes(results)]
    return parts

"""Terminal views (rich tables and lines) of what the API returns: rankings, cost decisions, task summaries and
comparison cells. The CLI prints these; it computes nothing itself. Every string in a table (titles, headers,
cells: names of models, benchmarks, files) is a `Text`, never read as Rich markup, whatever console prints it;
the lines escape theirs."""

from __future__ import annotations

import math
from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from irtnet.reporting.tables import _fmt


def _table(title: str, columns: list[str], left: tuple[str, ...] = ()) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(Text(col), justify="left" if col in left or (not left and i == 0) else "right")
    return table


def _add(table: Table, *cells: str) -> None:
    """A row of plain text (a name such as "[bold]x" or "a[/b]" shown as given)."""
    table.add_row(*(Text(str(c)) for c in cells))


def ranking_table(text: str, ranked: list[tuple[str, float]], path: str | None = None) -> Table:
    title = f"{text[:70]!r}" + (f" (answered from: {path})" if path else "")
    table = _table(title, ["rank", "model", "P(correct)"], left=("model",))
    for i, (name, p) in enumerate(ranked, 1):
        _add(table, str(i), name, f"{p:.3f}")
    return table


def cost_decisions_table(d: Any) -> Table:
    """The table of an `irtnet.api.CostDecisions`."""
    table = _table(f"Cost-aware routing ({d.rule}; prices: {d.source})", ["query", "model", "P(correct)", "cost"],
                   left=("query", "model"))
    for i, j in enumerate(d.chosen):
        _add(table, d.texts[i][:50], d.models[j], f"{d.prob[i, j]:.3f}", f"{d.cost[i, j]:.3g}")
    return table


def predicted_accuracy_table(title: str, ranked: list[tuple[str, float]],
                             intervals: dict[str, tuple[float, float]] | None = None, level: float = 0.9) -> Table:
    """Models ranked by predicted accuracy; with `intervals`, each one's `level` interval beside it."""
    extra = [] if intervals is None else [f"{level:.0%} interval"]
    table = _table(title, ["rank", "model", "predicted accuracy", *extra], left=("model",))
    for i, (name, acc) in enumerate(ranked, 1):
        _add(table, str(i), name, f"{acc:.3f}",
             *([] if intervals is None else ["{:.3f} - {:.3f}".format(*intervals[name])]))
    return table


def summary_table(summary: dict[str, dict[str, float]], title: str) -> Table:
    """One row per predictor, one column per metric (except fold counts)."""
    keys = [k for k in next(iter(summary.values())) if k != "n_folds"]
    table = _table(title, ["predictor", *keys])
    for name, row in summary.items():
        _add(table, name, *[_fmt(row[key], 3) for key in keys])
    return table


def onboarding_table(rows: list[dict[str, Any]]) -> Table:
    cols = ["auc", "log_loss", "accuracy", "model_auc", "benchmark_mae"]
    table = _table("New models from K answers (held-out models, unseen queries)", ["method", "K", *cols])
    for row in rows:
        _add(table, row["method"], "all" if row["k"] < 0 else str(row["k"]), *[_fmt(row[c], 4) for c in cols])
    return table


def onboard_lines(doc: dict[str, Any]) -> list[str]:
    """What `irtnet.api.experiments.onboard` found, as lines."""
    answers = f"{doc['n_answers']} answer{'' if doc['n_answers'] == 1 else 's'}"
    lines = [f"{doc['model']}: fitted from {answers} (observed accuracy "
             f"{doc['observed_accuracy']:.3f}, predicted {doc['predicted_accuracy']:.3f} on them); rank "
             f"{doc['rank']} of {doc['n_models']} by predicted accuracy on these queries"]
    if doc.get("suggested"):
        lines += ["ask next:", *[f"  {t[:100]!r}" for t in doc["suggested"]]]
    if doc.get("saved"):
        lines.append(f"wrote checkpoint {doc['saved']} with {doc['model']} added")
    return lines


def cost_lines(result: dict[str, Any]) -> list[str]:
    """The accuracy-cost evaluation of a run, as lines."""
    best = result["best_single"]
    single = result["single_models"][best]
    oracle = result["oracle"]
    lines = [f"best single model on training: {best} (test accuracy {_fmt(single['accuracy'], 4)}, mean cost "
             f"{single['cost']:.6g}); oracle {_fmt(oracle['accuracy'], 4)} at {oracle['cost']:.6g}; "
             f"single-model frontier area {_fmt(result['single_area'], 4)}"]
    for c in result["curves"]:
        match = "never matches it" if c["match_cost"] is None else f"matches it at cost {c['match_cost']:.6g} (" + (
            f"{c['match_cost'] / single['cost']:.1%} of its cost)" if single["cost"] > 0 else "it is free)")
        lines.append(f"{c['router']} ({c['kind']}): area {_fmt(c['area'], 4)}; {_best_point(c['points'])}; {match}")
    return lines


def _best_point(points: list[dict[str, Any]]) -> str:
    """A curve's most accurate point among those whose accuracy is defined ("n/a" where none is): NaN never
    wins, nor hides a better point after it."""
    defined = [p for p in points if _defined(p["accuracy"])]
    if not defined:
        return "best accuracy n/a"
    top = max(defined, key=lambda p: p["accuracy"])
    return f"best accuracy {top['accuracy']:.4f} at cost {top['cost']:.6g}"


def _defined(value: Any) -> bool:
    """Whether a figure is a number (not None, not NaN)."""
    return value is not None and not math.isnan(value)


def _signed(value: Any) -> str:
    """A difference with its sign and three decimals, "n/a" where it is undefined (never "+nan")."""
    return f"{value:+.3f}" if _defined(value) else "n/a"


def cell_line(cell: Any) -> str:
    """One comparison cell: where (its fold under cross-fitting), and its figures ("-" where undefined) or its
    error."""
    fold = "" if cell.fold is None else f" fold {cell.fold}"
    where = escape(f"{cell.dataset} {cell.setting} seed {cell.seed}{fold} {cell.label}")  # a line of Rich markup
    if cell.status != "ok":
        return f"{where}: [red]{escape(str(cell.status))}[/] {escape((cell.error or '').splitlines()[0][:200])}"
    corr, rout = cell.result["correctness"], cell.result["routing"]
    acc = f"acc {_fmt(corr['overall']['accuracy'])} auc {_fmt(corr['overall']['auc'])} " if corr else ""
    source = "cached" if cell.cached else f"fit {cell.fit_seconds:.1f}s"
    return f"{where}: {source} {acc}routing {_fmt(rout['micro'])}"


def comparison_table(t: dict[str, Any]) -> Table:
    """A compact terminal view of one aggregated comparison table (the Markdown files have everything)."""
    from irtnet.reporting.results import fmt

    seeds, folds = t["seeds"], t.get("folds") or []
    over = f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}" + (
        f", {len(folds)} folds" if folds else "")
    table = _table(f"{t['dataset']} ({t['setting']} split, {over})",
                   ["model", "accuracy", "AUC", "log loss", "routing micro", "gap closed"])
    for r in t["rows"]:
        if r.get("routing") is None:
            _add(table, r["label"], r["status"], "", "", "", "")
            continue
        c = r.get("correctness") or {}
        _add(table, r["label"], fmt(c.get("accuracy"), 3), fmt(c.get("auc"), 3), fmt(c.get("log_loss"), 3),
                      fmt(r["routing"]["micro"], 3), fmt(r["routing"]["gap_closed"], 3))
    for name, ref in t["references"].items():
        _add(table, f"({name})", "", "", "", fmt(ref["micro"], 3), "")
    if t.get("routing_caveat"):
        table.caption, table.caption_justify = Text(f"routing: {t['routing_caveat']}"), "left"
    return table


def paired_table(rows: list[dict[str, Any]]) -> Table:
    """Absolute error of one entry minus each other's per number of answered items, with the bootstrap interval
    and the verdict (`tasks.benchmark.paired_errors`)."""
    draws = max((r.get("n_draws", 1) for r in rows), default=1)
    over = f"models and {draws} anchor draws crossed, with items answered" if draws > 1 else "models"
    table = _table(f"{rows[0]['a']} minus each entry: absolute error (95% interval, bootstrap over {over}; "
                   "lower wins)", ["items answered", "against", "difference", "interval", "verdict"],
                   left=("against", "verdict"))
    for r in rows:
        interval = f"[{r['lo']:+.3f}, {r['hi']:+.3f}]" if _defined(r["lo"]) and _defined(r["hi"]) else "n/a"
        _add(table, str(r["n"]), r["b"], _signed(r["diff"]), interval,
                      r["verdict"] + (f" ({r['reason']})" if r.get("reason") else ""))
    return table

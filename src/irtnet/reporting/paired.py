"""Markdown of a comparison's paired statistics (`irtnet.api.compare_stats`): for each other entry, the focus
entry's difference on each metric with its 95% paired bootstrap interval and the verdict (win, tie, loss)."""

from __future__ import annotations

from typing import Any

_NAMES = {"auc": "AUC", "log_loss": "log loss", "routing": "routing", "ece": "ECE"}


def md_cell(text: object) -> str:
    """`text` as one cell of a Markdown table: a '|' escaped and a line break shown as '\\n', so that a name
    holding either (a model entry's label may hold '|'; a benchmark's name comes from the data) stays in its cell
    instead of splitting the row into more columns than the header has."""
    return str(text).replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")


def _cell(m: dict[str, Any] | None) -> str:
    if m is None:
        return "-"
    if m["verdict"] == "n/a":  # no interval to show: say why (`tasks.stats._no_comparison`), not "+nan [+nan, +nan]"
        return f"**n/a** ({m.get('reason') or 'undefined on these test labels'})"
    return f"{m['diff']:+.4f} [{m['lo']:+.4f}, {m['hi']:+.4f}] **{m['verdict']}**"


def paired_markdown(p: dict[str, Any]) -> str:
    """The table of one (dataset, setting)."""
    if p.get("unavailable"):
        return f"**Paired differences, {p['focus']} minus each entry**: n/a ({p['unavailable']})"
    metrics = [k for k in _NAMES if any(k in r["metrics"] for r in p["rows"].values())]
    has_disagreement = any("routing_disagreement" in r for r in p["rows"].values())
    head = ["against", *[_NAMES[m] for m in metrics]] + ["routed differently"] * has_disagreement
    lines = [f"**Paired differences, {p['focus']} minus each entry** (95% bootstrap interval over "
             f"{p['n_queries']:,} test queries, {p['units']} split(s); a win or loss only when the interval "
             "excludes 0; lower is better for log loss and ECE"
             + ("; routed differently: the share of routed queries the two send to different models, and "
                f"{p['focus']}'s / the entry's mean score on those, the only queries where their routing accuracy "
                "can differ" if has_disagreement else "") + ")", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for label, row in p["rows"].items():
        extra = [_disagreement(row.get("routing_disagreement"))] * has_disagreement
        lines.append("| " + " | ".join([md_cell(label), *[_cell(row["metrics"].get(m)) for m in metrics], *extra])
                     + " |")
    best = p.get("best_other", {})
    if best:
        routing_best = p["rows"].get(best["routing"]["entry"], {}) if "routing" in best else {}
        extra = [_disagreement(routing_best.get("routing_disagreement"))] * has_disagreement  # against routing's best
        lines.append("| " + " | ".join(["**best other**", *[f"{md_cell(best[m]['entry'])}: {_cell(best[m])}"
                                                           if m in best else "-" for m in metrics], *extra]) + " |")
    if p.get("left_out"):
        lines += ["", f"Left out, missing predictions on a split {p['focus']} was tested on (so neither compared nor "
                      f"a candidate for the best other entry): {left_out_text(p)}"]
    return "\n".join(lines)


#: Marks a verdict row whose best other entry was picked with an entry left out (`left_out_notes`).
LEFT_OUT_MARK = "†"


def left_out_text(p: dict[str, Any]) -> str:
    """'knn (seed 1), random (seed 0 fold 1, seed 1 fold 0)': the entries of a stats table's `left_out` (none in a
    stats.json written before it was recorded) with the splits each lacks."""
    return ", ".join(f"{label} ({', '.join(splits)})" for label, splits in (p.get("left_out") or {}).items())


def left_out_notes(tables: list[dict[str, Any]], settings: dict[str, str]) -> list[str]:
    """The notes under a verdict table, one per (dataset, setting) with entries left out (its row marked with
    `LEFT_OUT_MARK`): its best other entry is the best of the rest only. Empty where none was left out."""
    notes = [f"{LEFT_OUT_MARK} {p['dataset']}, {settings.get(p['setting'], p['setting'])}: the best other entry is "
             f"picked among the entries compared; left out, missing predictions on a split {p['focus']} was tested "
             f"on: {left_out_text(p)}" for p in tables if p.get("left_out")]
    return ["", *notes] if notes else []


def _disagreement(d: dict[str, Any] | None) -> str:
    """'<share>: <focus there> / <other there>' of `tasks.stats.routing_disagreement`'s result."""
    if not d or d.get("share") is None:
        return "-"
    if not d["n_differ"]:
        return "0%"
    return f"{d['share']:.1%}: {d['a']:.3f} / {d['b']:.3f}"


def verdict_summary(tables: list[dict[str, Any]]) -> str:
    """One line per (dataset, setting): the focus entry against the best other entry on each metric."""
    if not tables:
        return ""
    focus = tables[0]["focus"]
    setting = {"query": "benchmark known", "text": "text only"}
    head = ["dataset", "setting", *[_NAMES[m] for m in _NAMES], md_cell(f"{focus} ECE, pooled")]
    lines = [f"**{focus} against the best other entry** (per metric, the entry with the best point estimate; "
             "difference and 95% paired bootstrap interval; win or loss only when it excludes 0; the last column "
             f"is {focus}'s own ECE over the pooled test queries, each tested once; the tables below give the mean "
             "of each fold's ECE, which also counts how far each fold's share of correct answers drifts from the "
             "table's)", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(_NAMES) + 1)) + "|"]
    for p in tables:
        best = p.get("best_other", {})
        cells = [f"{md_cell(best[m]['entry'])}: {_cell(best[m])}" if m in best else "-" for m in _NAMES]
        cells.append(f"{best['ece']['a']:.4f}" if "ece" in best else "-")
        if p.get("unavailable"):
            cells = [md_cell(f"n/a ({p['unavailable']})")] + [""] * len(_NAMES)
        name = setting.get(p["setting"], p["setting"]) + (f" {LEFT_OUT_MARK}" if p.get("left_out") else "")
        lines.append("| " + " | ".join([md_cell(p["dataset"]), name, *cells]) + " |")
    return "\n".join(lines + left_out_notes(tables, setting))

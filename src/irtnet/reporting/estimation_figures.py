"""Figures and markdown of the estimation evaluation and the data-efficiency curve (matplotlib's Agg canvas).

Each function reads the result's JSON dict (`EstimationEvaluation.to_dict()` / `DataEfficiency.to_dict()`, or
the file they were written to), so a report can be redrawn from the file alone. `estimation_files` and
`efficiency_files` render PNG figures and a markdown summary for beside the JSON file, which the API writes
with the JSON as one change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from irtnet._io import check_file_target
from irtnet.errors import DataError
from irtnet.reporting.figures import _colors, _figure, plain, png_bytes

_IRTNET = "irtnet-"


def _overall(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["summary"] if r["benchmark"] == "all"]


def _series(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """{method: (ns, values)} of `metric`, finite values only, ns ascending."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in sorted(rows, key=lambda r: (r["method"], r["n"])):
        value = r.get(metric)
        if value is not None and math.isfinite(value):
            ns, vs = out.setdefault(r["method"], ([], []))
            ns.append(r["n"])
            vs.append(value)
    return out


def _palette(doc: dict[str, Any]) -> dict[str, Any]:
    """One colour per method of the whole result (irtnet's first), the same in every panel."""
    from matplotlib import colormaps

    methods = sorted({r["method"] for r in doc["summary"]}, key=lambda m: (not m.startswith(_IRTNET), m))
    colors = [colormaps["tab10"](i) for i in range(10)] + ["black"] + _colors(20)
    return dict(zip(methods, colors))


def _lines(ax: Any, series: dict[str, tuple[list[int], list[float]]], palette: dict[str, Any]) -> None:
    for method, (ns, vs) in sorted(series.items(), key=lambda kv: list(palette).index(kv[0])):
        irtnet = method.startswith(_IRTNET)
        ax.plot(ns, vs, "-" if irtnet else "--", marker="o" if irtnet else "s", ms=3, color=palette[method],
                label=plain(method))
    ax.set_xscale("log")
    ax.set_xlabel("answers per held-out model (N)")
    if series:
        ax.legend(fontsize=7, loc="best")


def error_curves(doc: dict[str, Any]) -> Figure:
    """Mean absolute error of the estimated per-benchmark accuracy against N, one line per method (irtnet solid)."""
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    _lines(ax, _series(_overall(doc), "abs_error"), _palette(doc))
    ax.set_ylabel("mean |estimated - true accuracy|")
    ax.set_title("Per-benchmark accuracy of held-out models from N answers")
    return fig


def coverage_curves(doc: dict[str, Any]) -> Figure:
    """Interval coverage (left, the nominal level dotted) and mean width (right) against N, for methods with
    an interval."""
    fig = _figure(9.0, 3.8)
    left, right = fig.subplots(1, 2)
    palette = _palette(doc)
    _lines(left, _series(_overall(doc), "coverage"), palette)
    left.axhline(doc["settings"].get("level", 0.9), color="grey", ls=":", lw=1)
    left.set_ylabel("coverage (share of intervals with the truth)")
    left.set_ylim(0, 1.02)
    _lines(right, _series(_overall(doc), "width"), palette)
    right.set_ylabel("mean interval width")
    fig.suptitle("Interval coverage and width")
    return fig


def efficiency_curves(doc: dict[str, Any]) -> Figure:
    """AUC (left) and accuracy (right) against the share of training queries, solid with the benchmark
    known, dashed text only."""
    fig = _figure(9.0, 3.8)
    axes = fig.subplots(1, 2)
    names = sorted({p["predictor"] for p in doc["points"]})
    for ax, metric in zip(axes, ("auc", "accuracy")):
        for name, color in zip(names, _colors(len(names))):
            for setting, style in (("benchmark known", "-"), ("text only", "--")):
                pts = sorted((p["fraction"], p[metric]) for p in doc["points"]
                             if p["predictor"] == name and p["setting"] == setting)
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", ms=3, color=color, label=plain(f"{name} ({setting})"))
        ax.set_xscale("log")
        ax.set_xlabel("share of training queries")
        ax.set_ylabel(metric)
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle("Data efficiency (test queries fixed)")
    return fig


# ------------------------------------------------------------------------------------------ markdown
def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def counted(n: Any, noun: str) -> str:
    """"1 draw", "3 draws" ("? draws" where a file lacks the count)."""
    return f"{'?' if n is None else n} {noun}{'' if n == 1 else 's'}"


def _metric_table(rows: Sequence[dict[str, Any]], metric: str) -> list[str]:
    ns = sorted({r["n"] for r in rows})
    cells = {(r["method"], r["n"]): r.get(metric) for r in rows}  # files older than a metric lack it
    methods = sorted({r["method"] for r in rows}, key=lambda m: (not m.startswith(_IRTNET), m))
    out = ["| method | " + " | ".join(f"N={n}" for n in ns) + " |", "|---" * (len(ns) + 1) + "|"]
    out += [f"| {m} | " + " | ".join(_fmt(cells.get((m, n))) for n in ns) + " |" for m in methods]
    return out


def _paired_table(rows: Sequence[dict[str, Any]], better: str) -> list[str]:
    out = [f"| A | B | N | metric | A | B | A - B [95% interval] | verdict for A ({better}) |", "|---" * 8 + "|"]
    for r in rows:
        out.append(f"| {r['a_method']} | {r['b_method']} | {r['n']} | {r['metric']} | {_fmt(r['a'])} | {_fmt(r['b'])} "
                   f"| {_fmt(r['diff'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}] | {_verdict(r)} |")
    return out


def _verdict(row: dict[str, Any]) -> str:
    """A paired row's verdict, with its reason where it has one (an "n/a": why nothing could be compared)."""
    return row["verdict"] + (f" ({row['reason']})" if row.get("reason") else "")


def estimation_markdown(doc: dict[str, Any], paired: bool = True) -> str:
    """The summary over all benchmarks per (method, N), the paired verdicts (unless `paired` is False) and the
    routing comparison."""
    s, rows = doc["settings"], _overall(doc)
    lines = ["## Estimating held-out models' per-benchmark accuracy", "",
             (f"{counted(s.get('draws'), 'draw')}, {counted(s.get('n_held_out'), 'held-out model')} each, table "
              f"`{s.get('table', '?')}`, "
              f"intervals at level {s.get('level')}; pool: {s.get('pool', '')}."), ""]
    for metric, title in (("abs_error", "Mean absolute error per benchmark (lower is better)"),
                          ("overall_abs_error", "Mean absolute error of the overall accuracy, item-weighted over the "
                           "benchmarks (lower is better)"),
                          ("spearman", "Spearman correlation over held-out models (overall accuracy)"),
                          ("coverage", "Interval coverage"), ("width", "Mean interval width"),
                          ("overall_coverage", "Coverage of the overall accuracy's own interval (irtnet)"),
                          ("overall_width", "Mean width of the overall accuracy's interval (irtnet)")):
        if any(metric in r for r in rows):
            lines += [f"### {title}", "", *_metric_table(rows, metric), ""]
    if paired:
        lines += ["### Paired: irtnet minus each baseline, same (draw, model, benchmark) cells (abs_error) or "
                  "(draw, model) overall accuracies (overall_abs_error)", "",
                  *_paired_table(doc["paired"], "lower error wins"), ""]
    if doc.get("routing"):
        lines += ["### Routing on test queries: held-out models added to the checkpoint vs retraining and "
                  "HierShrink (intervals resample draws, then queries within each)", "",
                  *_paired_table(doc["routing"], "routing, auc: higher wins; log_loss: lower wins"), ""]
    return "\n".join(lines)


def efficiency_markdown(doc: dict[str, Any]) -> str:
    """One row per (predictor, setting, fraction), with the test pairs it was scored on; a note names the test
    models a point left out (no training label at that share), whose pairs it could not score."""
    lines = ["## Data efficiency", "", "| predictor | setting | fraction | training queries | test pairs | accuracy | "
             "AUC | log loss |", "|---" * 8 + "|"]
    points = sorted(doc["points"], key=lambda p: (p["predictor"], p["setting"], p["fraction"]))
    for p in points:
        lines.append(f"| {p['predictor']} | {p['setting']} | {p['fraction']:g} | {p['n_train_queries']} | "
                     f"{p['n_test_pairs']} | {_fmt(p['accuracy'])} | {_fmt(p['auc'])} | {_fmt(p['log_loss'])} |")
    left = {(p["predictor"], p["fraction"]): p["models_left_out"] for p in points if p.get("models_left_out")}
    if left:
        lines += ["", "Test models without a training label at a share are left out of its point (their pairs are "
                  "not scored, so the point's test pairs differ): "
                  + "; ".join(f"{name} at {f:g}: {', '.join(models)}" for (name, f), models in left.items()) + "."]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- writing
def estimation_outputs(json_path: str | Path) -> list[Path]:
    """What `estimation_files` renders beside `json_path`, checked before the work (`check_outputs`)."""
    base = Path(json_path)
    return check_outputs(base, [base.with_name(f"{base.stem}-error.png"), base.with_name(f"{base.stem}-coverage.png"),
                                base.with_suffix(".md")])


def efficiency_outputs(json_path: str | Path) -> list[Path]:
    """What `efficiency_files` renders beside `json_path`, checked before the work (`check_outputs`)."""
    base = Path(json_path)
    return check_outputs(base, [base.with_suffix(".png"), base.with_suffix(".md")])


def check_outputs(json_path: Path, twins: list[Path]) -> list[Path]:
    """`twins`, the files written beside `json_path`: one that is `json_path` itself (an -o ending in .md or .png)
    would overwrite the JSON result, and one that is a folder cannot be written; either is a DataError naming it,
    raised before the work (`_io.check_file_target`)."""
    check_file_target(json_path)
    for twin in twins:
        if twin == json_path:
            raise DataError(f"is also the name of the {twin.suffix} written beside the JSON result, which would "
                            "overwrite it: give the JSON file's name (e.g. result.json), or pass --no-figures",
                            file=str(json_path))
        check_file_target(twin)
    return twins


def estimation_files(doc: dict[str, Any], json_path: str | Path) -> list[tuple[Path, bytes | str]]:
    """(path, content) of `<stem>-error.png`, `<stem>-coverage.png` and `<stem>.md` beside `json_path`, for
    `api.estimation.evaluate_estimation(beside=...)` to write with the JSON as one change."""
    error, coverage, md = estimation_outputs(json_path)
    return [(error, png_bytes(error_curves(doc))), (coverage, png_bytes(coverage_curves(doc))),
            (md, estimation_markdown(doc))]


def efficiency_files(doc: dict[str, Any], json_path: str | Path) -> list[tuple[Path, bytes | str]]:
    """(path, content) of `<stem>.png` and `<stem>.md` beside `json_path` (`api.estimation.data_efficiency`)."""
    png, md = efficiency_outputs(json_path)
    return [(png, png_bytes(efficiency_curves(doc))), (md, efficiency_markdown(doc))]

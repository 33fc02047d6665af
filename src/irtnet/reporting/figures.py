"""Figures of the task results, drawn with matplotlib's Agg canvas (no display, no global pyplot state).

Each function takes plain arrays or result objects and returns a `matplotlib.figure.Figure`; `png_bytes`
renders one to PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure(width: float = 6.0, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plain(text: object) -> str:
    """`text` (a name from the data: a model, benchmark, query or router) as matplotlib draws it literally: a pair
    of '$' would start its math markup (mathtext), which draws the name wrongly or fails the whole figure on what
    it cannot parse ('price $\\alpha$' drawn as a Greek letter, '$\\x$' a ValueError)."""
    return str(text).replace("$", r"\$")


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def difficulty_scatter(difficulty: np.ndarray, accuracy: np.ndarray, groups: np.ndarray, label: str = "b_q",
                       title: str = "") -> Figure:
    """Predicted difficulty against empirical query accuracy, one colour per benchmark."""
    fig = _figure()
    ax = fig.add_subplot()
    names = sorted(set(np.asarray(groups).tolist()))
    for name, color in zip(names, _colors(len(names))):
        sel = (np.asarray(groups) == name) & np.isfinite(accuracy)
        jitter = (np.random.default_rng(0).random(sel.sum()) - 0.5) * 0.02
        ax.scatter(difficulty[sel], accuracy[sel] + jitter, s=6, alpha=0.4, color=color, label=plain(name))
    ax.set_xlabel(f"predicted difficulty {label}")
    ax.set_ylabel("empirical accuracy (mean over models)")
    ax.set_title(plain(title) if title else "Difficulty vs empirical accuracy")
    if len(names) <= 15:
        ax.legend(fontsize=7, markerscale=2, loc="best")
    return fig


def profile_heatmap(benchmarks: Sequence[str], models: Sequence[str], values: np.ndarray,
                    title: str = "Predicted accuracy per benchmark") -> Figure:
    """values [G, M] as a heatmap: rows benchmarks, columns models."""
    fig = _figure(max(6.0, 0.28 * len(models) + 2), max(3.0, 0.3 * len(benchmarks) + 1.8))
    ax = fig.add_subplot()
    im = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(benchmarks)), [plain(b) for b in benchmarks], fontsize=7)
    ax.set_xticks(range(len(models)), [plain(m.split("/")[-1][:28]) for m in models], rotation=90, fontsize=6)
    if values.size <= 400:
        for (g, m), v in np.ndenumerate(values):
            ax.text(m, g, f"{v:.2f}", ha="center", va="center", fontsize=5, color="w" if v < 0.6 else "k")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    return fig


def ability_map(coords: np.ndarray, names: Sequence[str], families: Sequence[str], explained: np.ndarray) -> Figure:
    """PCA coordinates [M, 2] of the abilities, coloured by family."""
    fig = _figure(6.5, 5.0)
    ax = fig.add_subplot()
    fams = sorted(set(families))
    for fam, color in zip(fams, _colors(len(fams))):
        sel = np.array([f == fam for f in families])
        ax.scatter(coords[sel, 0], coords[sel, 1], color=color, label=plain(fam), s=30)
    if len(names) <= 40:
        for (x, y), name in zip(coords, names):
            ax.annotate(plain(name.split("/")[-1][:22]), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title("Ability vectors (PCA; gauge-dependent)")
    ax.legend(fontsize=7, loc="best")
    return fig


def item_curves(grid: np.ndarray, prob: np.ndarray, t_models: np.ndarray, titles: Sequence[str],
                labels: np.ndarray | None = None) -> Figure:
    """One panel per query: its ICC along a_q and the models' projected abilities (filled = answered
    correctly, hollow = wrong, grey = unlabelled)."""
    n = len(prob)
    cols = min(2, n)
    rows = (n + cols - 1) // cols
    fig = _figure(5.5 * cols, 3.2 * rows)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(grid, prob[i], color="k")
        y_m = np.interp(t_models[i], grid, prob[i])
        lab = None if labels is None else labels[i]
        for t, y, j in zip(t_models[i], y_m, range(len(y_m))):
            v = np.nan if lab is None else lab[j]
            face = "grey" if np.isnan(v) else ("tab:green" if v > 0.5 else "none")
            ax.scatter([t], [y], s=18, facecolors=face, edgecolors="tab:green" if not np.isnan(v) else "grey")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(plain(titles[i]), fontsize=8)
        ax.set_xlabel("ability along a_q / ||a_q||", fontsize=7)
        ax.set_ylabel("P(correct)", fontsize=7)
    return fig


def discrimination_hist(norms: np.ndarray) -> Figure:
    fig = _figure(5.0, 3.0)
    ax = fig.add_subplot()
    ax.hist(norms, bins=50, color="tab:blue")
    ax.set_xlabel("discrimination ||a_q||")
    ax.set_ylabel("queries")
    ax.set_title("Distribution of query discrimination")
    return fig


def benchmark_prediction(folds: Sequence[dict[str, Any]], predictors: Sequence[str]) -> Figure:
    """Predicted vs true accuracy of every (held-out benchmark, model), one panel per predictor."""
    fig = _figure(4.2 * len(predictors), 4.0)
    names = [f["benchmark"] for f in folds]
    colors = dict(zip(names, _colors(len(names))))
    for i, pred in enumerate(predictors):
        ax = fig.add_subplot(1, len(predictors), i + 1)
        for f in folds:
            ax.scatter(f["true"], f["predicted"][pred], s=14, color=colors[f["benchmark"]], label=plain(f["benchmark"]))
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(plain(pred), fontsize=9)
        ax.set_xlabel("true accuracy")
        ax.set_ylabel("predicted accuracy")
        if i == 0 and len(names) <= 15:
            ax.legend(fontsize=6, loc="upper left")
    return fig


def onboarding_curves(rows: Sequence[dict[str, Any]], metric: str = "log_loss") -> Figure:
    """`metric` against K for each onboarding method; K-free references as horizontal lines."""
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    methods = sorted({r["method"] for r in rows})
    for method, color in zip(methods, _colors(len(methods))):
        pts = sorted((r["k"], r[metric]) for r in rows if r["method"] == method)
        if method in ("prior", "all-pool"):
            ax.axhline(pts[0][1], color=color, ls=":", label=plain(method))
        else:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color, label=plain(method))
    ax.set_xscale("log")
    ax.set_xlabel("labelled queries K")
    ax.set_ylabel(metric)
    ax.set_title(f"New model from K answers: {metric}")
    ax.legend(fontsize=7)
    return fig


def cost_curves(result: dict[str, Any]) -> Figure:
    """Accuracy against mean cost per query: each router's sweep, single models, the cost-aware oracle."""
    fig = _figure(6.5, 4.5)
    ax = fig.add_subplot()
    routers = sorted({c["router"] for c in result["curves"]})
    colors = dict(zip(routers, _colors(len(routers))))
    for curve in result["curves"]:
        color = colors[curve["router"]]
        pts = sorted((p["cost"], p["accuracy"]) for p in curve["points"])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if curve["kind"] == "lambda" else "",
                ls="-" if curve["kind"] == "lambda" else "--", color=color,
                label=plain(f"{curve['router']}, {curve['kind']} (area {_area(curve['area'])})"))
    for name, s in result["single_models"].items():
        best = name == result["best_single"]
        ax.scatter([s["cost"]], [s["accuracy"]], marker="*" if best else "x", s=60 if best else 25, color="k")
        ax.annotate(plain(name.split("/")[-1][:18]), (s["cost"], s["accuracy"]), fontsize=6, xytext=(2, -6),
                    textcoords="offset points")
    ax.scatter([result["oracle"]["cost"]], [result["oracle"]["accuracy"]], marker="D", color="tab:red",
               label="oracle (cheapest correct)")
    ax.set_xscale("symlog", linthresh=_linthresh(result["cost_range"][0]))
    ax.set_xlabel("mean cost per query")
    ax.set_ylabel("routing accuracy")
    ax.set_title("Accuracy-cost curve (x: single models, *: best on training)")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _area(area: float | None) -> str:
    """A curve's area for its legend: three decimals, or "n/a" where it is undefined (NaN or None)."""
    return "n/a" if area is None or np.isnan(area) else f"{area:.3f}"


def _linthresh(cheapest: float | None) -> float:
    """The symlog axis' linear range: up to the cheapest single model's mean cost, at least 1e-9 (a free model),
    and 1e-9 where that cost is undefined (a NaN threshold would give the axis NaN ticks)."""
    return 1e-9 if cheapest is None or not np.isfinite(cheapest) else max(float(cheapest), 1e-9)

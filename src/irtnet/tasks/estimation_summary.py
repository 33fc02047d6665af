"""The cells of the estimation protocol (`estimation_protocol`) and their summaries: per (method, N) and per
benchmark or "all", the errors, rank correlation and interval coverage (`summarise`), and each irtnet method
against each baseline, paired over (draw, model) units (`paired_errors`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from irtnet.tasks.estimate import OVERALL
from irtnet.tasks.stats import unit_interval, verdict

IRTNET = {"irtnet-random": "random", "irtnet-adaptive": "adaptive", "irtnet-balanced": "balanced",
          "irtnet-anchor": "anchor"}
BASELINES = ("mean-random", "mean-stratified", "anchor", "p-irt", "gp-irt", "hiershrink", "retrain")
METHODS = (*IRTNET, *BASELINES)


@dataclass(frozen=True)
class EstimationCell:
    """One method's estimate of one held-out model's accuracy on one benchmark (or, as `estimate.OVERALL`, over
    all its items) from n answers."""

    draw: int
    model: str
    method: str
    n: int
    benchmark: str
    n_items: int
    n_answered: int
    estimate: float
    lower: float
    upper: float
    truth: float


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(sps.spearmanr(x, y)[0])


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if values.notna().any() else float("nan")


def overall_accuracy(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (draw, model) of cells `frame`: the item-weighted accuracy over every benchmark it was scored on,
    estimated ("estimate") and true ("truth"); columns draw, model, estimate, truth."""
    w = frame.assign(e=frame["estimate"] * frame["n_items"], t=frame["truth"] * frame["n_items"])
    acc = w.groupby(["draw", "model"])[["e", "t", "n_items"]].sum()
    return pd.DataFrame({"estimate": acc["e"] / acc["n_items"], "truth": acc["t"] / acc["n_items"]}).reset_index()


def _summary_row(frame: pd.DataFrame, overall: bool) -> dict[str, Any]:
    err = frame["estimate"] - frame["truth"]
    has = frame["lower"].notna() & frame["upper"].notna()
    inside = (frame["lower"] <= frame["truth"]) & (frame["truth"] <= frame["upper"])
    extra = {}
    if overall:  # per (draw, model): the item-weighted accuracy over every benchmark
        acc = overall_accuracy(frame)
        rho = [_spearman(g["estimate"].to_numpy(), g["truth"].to_numpy()) for _, g in acc.groupby("draw")]
        extra = {"overall_abs_error": _mean((acc["estimate"] - acc["truth"]).abs()),
                 "overall_bias": _mean(acc["estimate"] - acc["truth"])}
    else:
        rho = [_spearman(g["estimate"].to_numpy(), g["truth"].to_numpy()) for _, g in frame.groupby("draw")]
    return {"n_cells": len(frame), "abs_error": _mean(err.abs()), "bias": _mean(err),
            "spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
            "coverage": _mean(inside[has].astype(float)), "width": _mean((frame["upper"] - frame["lower"])[has]),
            **extra}


def _frames(cells: Sequence[EstimationCell]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the per-benchmark cells, the OVERALL cells: a method's own estimate of the overall accuracy)."""
    frame = pd.DataFrame([asdict(c) for c in cells])
    whole = frame["benchmark"] == OVERALL
    return frame[~whole], frame[whole]


def summarise(cells: Sequence[EstimationCell]) -> list[dict[str, Any]]:
    """Rows {method, n, benchmark ("all" or a name), n_cells, abs_error, bias, spearman, coverage, width}; the
    "all" rows also hold overall_abs_error and overall_bias, the error of each held-out model's item-weighted
    accuracy over all its benchmarks (`overall_accuracy`), averaged over (draw, model), and, for a method that
    gives that overall accuracy an interval of its own (OVERALL cells: irtnet's), overall_coverage and
    overall_width."""
    if not cells:
        return []
    frame, whole = _frames(cells)
    rows = []
    for (method, n), group in frame.groupby(["method", "n"], sort=True):
        own = whole[(whole["method"] == method) & (whole["n"] == n)]
        extra = {}
        if len(own):
            inside = (own["lower"] <= own["truth"]) & (own["truth"] <= own["upper"])
            extra = {"overall_coverage": _mean(inside.astype(float)), "overall_width": _mean(own["upper"] - own["lower"])}
        rows.append({"method": method, "n": int(n), "benchmark": "all", **_summary_row(group, True), **extra})
        for bench, sub in group.groupby("benchmark", sort=True):
            rows.append({"method": method, "n": int(n), "benchmark": bench, **_summary_row(sub, False)})
    return rows


def paired_errors(cells: Sequence[EstimationCell], n_boot: int = 2000, seed: int = 0,
                  level: float = 0.95) -> list[dict[str, Any]]:
    """Each irtnet method's absolute error minus each baseline's per n, with a percentile bootstrap interval
    over (draw, model) units and the verdict: metric "abs_error" over the same (draw, model, benchmark) cells,
    "overall_abs_error" over the same (draw, model) units' item-weighted overall accuracy."""
    if not cells:
        return []
    frame, _ = _frames(cells)
    per_cell = frame.assign(err=(frame["estimate"] - frame["truth"]).abs()).pivot_table(
        index=["n", "draw", "model", "benchmark"], columns="method", values="err")
    overall = pd.concat([overall_accuracy(g).assign(method=method, n=n)
                         for (method, n), g in frame.groupby(["method", "n"])])
    per_model = overall.assign(err=(overall["estimate"] - overall["truth"]).abs()).pivot_table(
        index=["n", "draw", "model"], columns="method", values="err")
    rows = []
    for a in (m for m in IRTNET if m in per_cell):
        for b in (m for m in BASELINES if m in per_cell):
            for metric, table in (("abs_error", per_cell), ("overall_abs_error", per_model)):
                rows += _paired_rows(table[[a, b]].dropna(), metric, a, b, n_boot, seed, level)
    return rows


def _paired_rows(table: pd.DataFrame, metric: str, a: str, b: str, n_boot: int, seed: int,
                 level: float) -> list[dict[str, Any]]:
    """One row per n of `table` (columns a, b; index n, draw, model[, benchmark]): a - b over (draw, model) units."""
    rows = []
    for n, sub in table.groupby(level="n"):
        codes, uniq = sub.index.droplevel([x for x in sub.index.names if x not in ("draw", "model")]).factorize()
        diff = (sub[a] - sub[b]).to_numpy()
        lo, hi = unit_interval(codes, diff, n_boot, seed, level)
        rows.append({"n": int(n), "metric": metric, "a_method": a, "b_method": b, "a": float(sub[a].mean()),
                     "b": float(sub[b].mean()), "diff": float(diff.mean()), "lo": float(lo), "hi": float(hi),
                     "verdict": verdict(float(lo), float(hi), higher_is_better=False),
                     "n_cells": len(diff), "n_units": len(uniq)})
    return rows

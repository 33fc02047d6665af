"""Two estimation runs of the same protocol, paired cell by cell: did a setting change the intervals?

    python scripts/estimation_runs_paired.py NEW.json OLD.json [--method irtnet-random] [--n-boot 2000]

Both files are `irtnet evaluate-estimation` outputs with the same draws, models and N (for example with and
without `--replay-folds`). The cells of `--method` present in both (same draw, held-out model, benchmark and N)
are paired; per N it prints each run's coverage of its interval, mean width, mean absolute error and mean
absolute error of the overall accuracy (item-weighted over the benchmarks), and NEW minus OLD with a 95%
bootstrap interval over (draw, model) units (a model's benchmarks move together).

Measured on RouterBench (docs/estimation.md, "Intervals"): `--replay-folds 7` against the checkpoint's own
items widens the intervals by +0.006 [+0.001, +0.011] at N = 100 and moves coverage from 0.78 to 0.82
(+0.042 [+0.000, +0.083]).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from irtnet.tasks.estimate import OVERALL
from irtnet.tasks.estimation_summary import overall_accuracy
from irtnet.tasks.stats import unit_interval

KEYS = ["draw", "model", "benchmark", "n"]
FIGURES = {"coverage": "covered", "width": "width", "abs error": "abs_error", "overall abs error": "overall_error"}


def cells(path: str, method: str) -> pd.DataFrame:
    """The method's cells, with per cell: covered, width, abs_error, and overall_error (the error of the model's
    item-weighted overall accuracy at that (draw, N), `estimation_summary.overall_accuracy`, on its first
    benchmark's row only, NaN on the others, so each (draw, model) counts once)."""
    frame = pd.DataFrame(json.load(open(path))["cells"])
    frame = frame[(frame["method"] == method) & (frame["benchmark"] != OVERALL)].copy()
    if frame.empty:
        raise SystemExit(f"{path}: no cells of method {method!r}")
    frame["covered"] = ((frame["lower"] <= frame["truth"]) & (frame["truth"] <= frame["upper"])).astype(float)
    frame["width"] = frame["upper"] - frame["lower"]
    frame["abs_error"] = (frame["estimate"] - frame["truth"]).abs()
    overall = pd.concat([overall_accuracy(g).assign(n=n) for n, g in frame.groupby("n")])
    overall["overall_error"] = (overall["estimate"] - overall["truth"]).abs()
    first = frame.groupby(["draw", "model", "n"])["benchmark"].transform("min") == frame["benchmark"]
    frame = frame.merge(overall[["draw", "model", "n", "overall_error"]], on=["draw", "model", "n"], how="left")
    frame.loc[~first.to_numpy(), "overall_error"] = np.nan
    return frame.set_index(KEYS)[list(FIGURES.values())]


def paired(new: pd.DataFrame, old: pd.DataFrame, n_boot: int, seed: int) -> list[str]:
    both = new.add_suffix(" new").join(old.add_suffix(" old"), how="inner")
    lines = []
    for n, group in both.groupby(level="n"):
        units = group.groupby(level=["draw", "model"]).ngroup().to_numpy()
        n_units = units.max() + 1
        parts = [f"N = {n} ({len(group)} cells, {n_units} units):"]
        for label, col in FIGURES.items():
            diff = (group[f"{col} new"] - group[f"{col} old"]).to_numpy()
            has = ~np.isnan(diff)  # the overall error: one row per (draw, model)
            lo, hi = unit_interval(units[has], diff[has], n_boot, seed)
            parts.append(f"{label} {group[f'{col} new'].mean():.3f} vs {group[f'{col} old'].mean():.3f}, "
                         f"{diff[has].mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")
        lines.append(" ".join(parts[:1]) + "\n  " + "\n  ".join(parts[1:]))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("new")
    ap.add_argument("old")
    ap.add_argument("--method", default="irtnet-random")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("\n".join(paired(cells(args.new, args.method), cells(args.old, args.method), args.n_boot, args.seed)))


if __name__ == "__main__":
    main()

"""Why does routing accuracy tie? Where irtnet and another router choose different models, who is right? A probe
on a comparison's cached test predictions; nothing is fitted.

    python scripts/routing_disagreement.py runs/compare/text-only-cells [--against inferred-benchmark-rate]

Two routers can only differ in routing accuracy on the queries where they send the query to different models
(`irtnet compare` puts the share and the two mean scores in stats.json: `tasks.stats.routing_disagreement`;
this probe adds an interval on those queries).
For every dataset whose cells share one code fingerprint (the most common one in the folder, as
`cells_blend_probe.newest_cells` picks them: a run still filling the cache is not yet it), the
folds' test queries are stacked (each query is tested once) and routed by irtnet and by each other entry
(argmax of the predicted probability among the query's labelled models; "complete" mode, queries with every
model labelled, except zeroeval's "observed" mode, as `irtnet compare` scores them). Printed, per dataset and
setting (benchmark known: the names given; text only: hidden), one markdown row per other entry: the routed
queries, the share where the two choose differently, each one's mean score on those queries, and irtnet minus
the other there with a 95% percentile bootstrap interval over those queries (a win or a loss only when it
excludes 0). The overall routing difference is that share times that difference.

`--against E` prints only entry E. Measured on configs/text-only.toml's and configs/unseen-long.toml's cells:
docs/method.md section 4, "Why routing ties".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.tasks.routing import route
from irtnet.tasks.stats import routing_disagreement, verdict

from cells_blend_probe import OBSERVED, newest_cells  # scripts/cells_blend_probe.py

SETTINGS = {"benchmark known": "scores_known", "text only": "scores_text"}


def bootstrap_mean(d: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of the mean of d."""
    if len(d) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(n_boot)])
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def disagreement(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, mask: np.ndarray, n_boot: int
                 ) -> dict[str, Any]:
    """`tasks.stats.routing_disagreement` (routed queries, share routed differently, each router's mean score
    there) with A - B there and its interval. y [Q, M] scores (NaN unlabelled), p_a, p_b [Q, M], mask [Q]."""
    d = routing_disagreement(y, p_a, p_b, mask)
    seen, rows = ~np.isnan(y), np.arange(len(y))
    ca, cb = route(np.where(seen, p_a, 0.0), allowed=seen), route(np.where(seen, p_b, 0.0), allowed=seen)
    differ = mask & seen.any(1) & (ca != cb)
    lo, hi = bootstrap_mean(y[rows, ca][differ] - y[rows, cb][differ], n_boot)
    nan = float("nan")
    a, b = (nan, nan) if d["a"] is None else (d["a"], d["b"])
    return {"routed": d["n_routed"], "differ": d["n_differ"], "share": d["share"], "a": a, "b": b,
            "diff": a - b, "lo": lo, "hi": hi}


def report(dataset: str, folds: list[dict[str, dict[str, np.ndarray]]], against: str | None, n_boot: int) -> None:
    entries = sorted(set.intersection(*(set(f) for f in folds)) - {"irtnet", "irtnet-paper"})
    if against is not None and against not in entries:
        raise SystemExit(f"{dataset}: no entry {against!r} in every fold; entries: {', '.join(entries)}")
    for f in folds:
        assert all((f[e]["queries"] == f["irtnet"]["queries"]).all() for e in entries), "queries differ"
    y = np.vstack([f["irtnet"]["labels"] for f in folds])
    seen = ~np.isnan(y)
    mask = seen.any(1) if dataset in OBSERVED else seen.all(1)
    for setting, key in SETTINGS.items():
        p_irt = np.vstack([f["irtnet"][key] for f in folds])
        for e in entries if against is None else [against]:
            r = disagreement(y, p_irt, np.vstack([f[e][key] for f in folds]), mask, n_boot)
            if not r["routed"]:
                print(f"| {dataset} | {setting} | {e} | 0 | - | - | - | - | - |", flush=True)
                continue
            overall = r["share"] * r["diff"] if r["differ"] else 0.0
            print(f"| {dataset} | {setting} | {e} | {r['routed']} | {r['share']:.1%} | {r['a']:.3f} | {r['b']:.3f} "
                  f"| {r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}] {verdict(r['lo'], r['hi'], True)} "
                  f"| {overall:+.4f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", nargs="+", type=Path, help="cell cache folders of `irtnet compare`")
    ap.add_argument("--against", default=None, help="one entry to pair irtnet with (default: every entry)")
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    cells = newest_cells(args.cells)
    print("| dataset | setting | other router | routed queries | routed differently | irtnet there | other there "
          "| irtnet - other there [95%] | overall effect |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|")
    for dataset in sorted({d for d, _ in cells}):
        folds = [cells[k] for k in sorted(k for k in cells if k[0] == dataset)]
        if all("irtnet" in f for f in folds):
            report(dataset, folds, args.against, args.n_boot)


if __name__ == "__main__":
    main()

"""One table across data sets from `irtnet evaluate-estimation` results: per table, at each N, every method's
mean absolute error per benchmark (and the 90% interval's coverage for irtnet and the sample mean) and of the
overall accuracy (item-weighted over the benchmarks), irtnet-random's paired verdicts against every baseline on
both, then the routing comparison with retraining and with HierShrink. The summaries and verdicts are computed
again from each file's cells (`estimation_summary.summarise` and `paired_errors`, with the run's seed and
bootstrap size), so files written before a metric existed show it too.

    python scripts/estimation_table.py runs/estimation/*/estimation.json --ns 50,100
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from irtnet._io import nan_for_null
from irtnet.tasks.estimation_summary import EstimationCell, paired_errors, summarise

FOCUS = "irtnet-random"


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--ns", default="50,100")
    args = ap.parse_args(argv)
    ns = [int(n) for n in args.ns.split(",")]
    docs = {p.parent.name: _recomputed(nan_for_null(json.loads(p.read_text()))) for p in args.results}  # null: NaN
    methods = sorted({r["method"] for d in docs.values() for r in d["summary"]},
                     key=lambda m: (not m.startswith("irtnet"), m))
    for n in ns:
        for metric, what in (("abs_error", "mean absolute error per benchmark (coverage of the 90% interval)"),
                             ("overall_abs_error", "mean absolute error of the overall accuracy (coverage of its own 90% "
                              "interval, where the method gives one)")):
            print(f"\n**N = {n}: {what}**\n")
            _header(docs)
            for m in methods:
                rows = [next((r for r in d["summary"] if r["method"] == m and r["n"] == n and r["benchmark"] == "all"),
                             None) for d in docs.values()]
                print(f"| {m} | " + " | ".join(_summary_cell(r, metric) for r in rows) + " |")
            print(f"\n**N = {n}: {FOCUS} minus each baseline, {metric}, paired over the same "
                  f"{'cells' if metric == 'abs_error' else '(draw, model) units'} (lower error wins)**\n")
            _header(docs, "baseline")
            for b in (m for m in methods if not m.startswith("irtnet")):
                cells = []
                for d in docs.values():
                    r = next((r for r in d["paired"] if r["a_method"] == FOCUS and r["b_method"] == b
                              and r["n"] == n and r["metric"] == metric), None)
                    cells.append("-" if r is None else f"{r['verdict']} {r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]")
                print(f"| {b} | " + " | ".join(cells) + " |")
    print("\n**Routing on test queries: the checkpoint with the held-out models added minus the other router "
          "(retrained with them, or HierShrink); intervals resample " + _resampled(docs) + "**\n")
    print("| table | N | against | metric | added | other | difference [95% interval] | verdict |")
    print("|---|---:|---|---|---:|---:|---|---|")
    for name, d in docs.items():
        for r in sorted(d.get("routing", []), key=lambda r: (r["n"], r.get("b_method", "retrain") != "retrain")):
            print(f"| {name} | {r['n']} | {r.get('b_method', 'retrain')} | {r['metric']} | {_f(r['a'], 4)} | "
                  f"{_f(r['b'], 4)} | {_f(r['diff'], 4)} [{_f(r['lo'], 4)}, {_f(r['hi'], 4)}] | {r['verdict']} |")
    print("\n**Priors chosen on the known models, per draw (ability prior kind, item refit sd; 0 = the text's "
          "parameters; the ability prior's strength, * where it was given, not chosen)**\n")
    for name, d in docs.items():
        refit = d["settings"].get("item_refit", {})
        print(f"- {name}: " + "; ".join(_prior(x) for x in refit.get("per_draw", [])) if refit
              else f"- {name}: (no refit recorded)")


def _recomputed(doc: dict) -> dict:
    """`doc` with its summary and paired verdicts computed again from its cells by the current code."""
    cells = [EstimationCell(**c) for c in doc["cells"]]
    settings = doc.get("settings", {})
    return {**doc, "summary": summarise(cells),
            "paired": paired_errors(cells, settings.get("n_boot", 2000), settings.get("seed", 0))}


def _header(docs: dict, first: str = "method") -> None:
    print(f"| {first} | " + " | ".join(docs) + " |")
    print("|---" * (len(docs) + 1) + "|")


def _summary_cell(row: dict | None, metric: str) -> str:
    if row is None:
        return "-"
    cov = row.get("coverage" if metric == "abs_error" else "overall_coverage", float("nan"))
    return _f(row[metric]) + ("" if math.isnan(cov) else f" ({cov:.2f})")


def _prior(x: dict) -> str:
    strength = x.get("prior_strength", 1.0)  # files before the strength was chosen: fixed at 1
    at = x.get("strength_at")  # chosen again at each N: "N:strength" pairs
    per_n = f" (at N {', '.join(f'{n}:{s:g}' for n, s in at.items())})" if at else ""
    return (f"{x.get('prior_kind', 'isotropic')} {x.get('prior_sd')} "
            f"x{strength:g}{'' if x.get('strength_chosen') else '*'}{per_n}")


def _resampled(docs: dict) -> str:
    ways = {r.get("resampled", "queries pooled over the draws") for d in docs.values() for r in d.get("routing", [])}
    return "; ".join(sorted(ways)) or "-"


if __name__ == "__main__":
    main()

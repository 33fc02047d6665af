"""Print the anchor setting's tables from `irtnet evaluate-benchmarks` outputs (docs/estimation.md), per file:
each entry's mean absolute error (Spearman in brackets) at each number of answered items, the first entry minus
each other one (paired, as the run's `paired`), and the 90% intervals' coverage and width (the first entry's
predictive interval beside the plain anchor mean's Wilson interval).

    python scripts/anchor_tables.py runs/bench/cruxeval.json runs/bench/zeroeval.json runs/bench/mmlu-pro.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MEAN = "anchor-mean"


def num(value: float | None, sign: bool = False) -> str:
    return "-" if value is None else (f"{value:+.3f}" if sign else f"{value:.3f}")


def errors(doc: dict) -> list[str]:
    names = [*doc["settings"]["predictors"], MEAN]
    rows = [("0", doc["summary"]), *doc.get("anchored", {}).items()]
    out = ["| items answered | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for n, per in rows:
        cells = [f"{num(per[m]['mae'])} ({per[m]['spearman']:.2f})" if m in per else "-" for m in names]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


def paired(doc: dict) -> list[str]:
    first, others = doc["settings"]["predictors"][0], [*doc["settings"]["predictors"][1:], MEAN]
    out = ["| items answered | " + " | ".join(f"{first} minus {b}" for b in others) + " |",
           "|---:|" + "---|" * len(others)]
    by = {(str(r["n"]), r["b"]): r for r in doc.get("paired", [])}
    for n in sorted({n for n, _ in by}, key=int):
        cells = []
        for b in others:
            r = by.get((n, b))
            cells.append("-" if r is None else f"{r['verdict']} {num(r['diff'], True)} [{num(r['lo'], True)}, "
                                                f"{num(r['hi'], True)}]")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


def intervals(doc: dict) -> list[str]:
    first = doc["settings"]["predictors"][0]
    out = [f"| items answered | {first}: coverage | width | Wilson on the answers: coverage | width |",
           "|---:|---:|---:|---:|---:|"]
    for n, per in doc.get("anchored", {}).items():
        a, w = per[first], per[MEAN]
        out.append(f"| {n} | {num(a.get('coverage'))} | {num(a.get('width'))} | {num(w.get('coverage'))} | "
                   f"{num(w.get('width'))} |")
    return out


def main(paths: list[str]) -> None:
    for path in paths:
        doc = json.loads(Path(path).read_text())
        print(f"## {Path(path).stem} ({len(doc['folds'])} held-out benchmarks)\n")
        for table in (errors(doc), paired(doc), intervals(doc)):
            print("\n".join(table) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

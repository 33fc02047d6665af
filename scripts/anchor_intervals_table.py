"""Print the anchor setting's interval coverage and width from `irtnet evaluate-benchmarks` outputs, one column
per file: irtnet's predictive interval beside the plain anchor mean's Wilson interval (and each one's MAE).

    python scripts/anchor_intervals_table.py runs/bench/cruxeval.json runs/bench/zeroeval.json ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(row: dict, key: str) -> str:
    value = row.get(key)
    return "-" if value is None else f"{value:.3f}"


def main(paths: list[str]) -> None:
    docs = {Path(p).stem: json.loads(Path(p).read_text()) for p in paths}
    print("| items answered | " + " | ".join(docs) + " |")
    print("|---:|" + "---|" * len(docs))
    ns = sorted({n for d in docs.values() for n in d.get("anchored", {})}, key=int)
    for n in ns:
        cells = []
        for doc in docs.values():
            per = doc.get("anchored", {}).get(n)
            if not per:
                cells.append("-")
                continue
            first = doc["settings"]["predictors"][0]
            mine, plain = per[first], per["anchor-mean"]
            cells.append(f"{cell(mine, 'coverage')}, width {cell(mine, 'width')} (Wilson {cell(plain, 'coverage')}, "
                         f"width {cell(plain, 'width')})")
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

"""One entry of a comparison against itself at another code version: the paired effect of a change.

    python scripts/paired_versions.py runs/compare/text-only-cells --list
    python scripts/paired_versions.py runs/compare/text-only-cells --new NEWCODE --old OLDCODE \
        [--label irtnet] [--observed zeroeval]

`irtnet compare` keeps every cell it computed in its cell folder, keyed by (among others) a fingerprint of
the package source (`code` in each cell's JSON). Two code versions of the same entry scored on the same splits
(same table, seeds and folds) can therefore be compared query by query: per dataset and setting (benchmark
known, text only), the folds' test queries are concatenated and the new version minus the old one gets the
same 95% paired bootstrap over queries as the comparison's own tables (`irtnet.api.compare_stats`). `--list`
shows each code version's cells of the entry per dataset, with the time of the newest. Code fingerprints may
be given by a unique prefix.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path


from irtnet.api.compare_stats import SETTINGS, compare_entries, stored_units

def cells_of(folder: Path, label: str) -> dict[str, dict[str, list[dict]]]:
    """dataset -> code -> the cells of the entry named `label` split by query (as `stored_units` reads them)."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for meta in folder.glob("*.json"):
        cell = json.loads(meta.read_text())
        if cell.get("label") == label and cell.get("setting") == "query" and meta.with_suffix(".npz").exists():
            out[cell["dataset"]][cell["code"]].append({"key": meta.stem, "status": "ok", "seed": cell["seed"],
                                                       "fold": cell["fold"], "mtime": meta.stat().st_mtime})
    return out


def pick(codes: dict[str, list], prefix: str, dataset: str) -> str:
    hits = [c for c in codes if c.startswith(prefix)]
    if len(hits) != 1:
        raise SystemExit(f"{dataset}: code prefix {prefix!r} matches {len(hits)} versions: {sorted(codes)}")
    return hits[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", type=Path)
    ap.add_argument("--label", default="irtnet", help="the entry's name in the comparison configs")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--new")
    ap.add_argument("--old")
    ap.add_argument("--observed", default="zeroeval", help="datasets routed in 'observed' mode (comma-separated)")
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    found = cells_of(args.cells, args.label)
    if args.list or not (args.new and args.old):
        for ds, codes in sorted(found.items()):
            for code, cells in codes.items():
                when = datetime.fromtimestamp(max(c["mtime"] for c in cells), timezone.utc)
                print(f"{ds:16} {code}  {len(cells)} cells, newest {when:%Y-%m-%d %H:%M}")
        return
    observed = set(args.observed.split(","))
    print(f"{args.label}: new code {args.new} minus old code {args.old}; 95% paired bootstrap over queries\n")
    print("| dataset | setting | AUC | log loss | routing | ECE |\n|---|---|---|---|---|---|")
    for ds, codes in sorted(found.items()):
        if not any(c.startswith(args.new) for c in codes) or not any(c.startswith(args.old) for c in codes):
            continue
        new_cells, old_cells = (codes[pick(codes, p, ds)] for p in (args.new, args.old))
        for setting in SETTINGS:
            new, old = (stored_units(c, args.cells, setting) for c in (new_cells, old_cells))
            keys = sorted(set(new) & set(old), key=lambda k: (k[0], k[1] if k[1] is not None else -1))
            res = compare_entries(new, old, keys, setting, "observed" if ds in observed else "complete",
                                  args.n_boot, True)["metrics"]
            cells = [f"{m['diff']:+.4f} [{m['lo']:+.4f}, {m['hi']:+.4f}] {m['verdict']}" for m in
                     (res[k] for k in ("auc", "log_loss", "routing", "ece"))]
            print(f"| {ds} ({len(keys)} folds) | {'benchmark known' if setting == 'query' else 'text only'} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

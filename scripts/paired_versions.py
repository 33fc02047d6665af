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

import numpy as np

from irtnet.api.compare_stats import SETTINGS, compare_entries

_SCORES = ("labels", "queries", "models", "scores_known", "scores_text")


def cells_of(folder: Path, label: str) -> dict[str, dict[str, dict[tuple, Path]]]:
    """dataset -> code -> (seed, fold) -> the cell's .npz path, for the entry named `label` split by query."""
    out: dict[str, dict[str, dict[tuple, Path]]] = defaultdict(lambda: defaultdict(dict))
    for meta in folder.glob("*.json"):
        cell = json.loads(meta.read_text())
        npz = meta.with_suffix(".npz")
        if cell.get("label") == label and cell.get("setting") == "query" and npz.exists():
            out[cell["dataset"]][cell["code"]][(cell["seed"], cell["fold"])] = npz
    return out


def pick(codes: dict[str, dict], prefix: str, dataset: str) -> str:
    hits = [c for c in codes if c.startswith(prefix)]
    if len(hits) != 1:
        raise SystemExit(f"{dataset}: code prefix {prefix!r} matches {len(hits)} versions: {sorted(codes)}")
    return hits[0]


def units(paths: dict[tuple, Path]) -> dict[tuple, dict[str, np.ndarray]]:
    out = {}
    for key, path in paths.items():
        with np.load(path) as f:
            scores = {k: f[k] for k in _SCORES}
        out[key] = scores
    return out


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
            for code, paths in codes.items():
                when = max(p.stat().st_mtime for p in paths.values())
                print(f"{ds:16} {code}  {len(paths)} cells, newest {datetime.fromtimestamp(when, timezone.utc):%Y-%m-%d %H:%M}")
        return
    observed = set(args.observed.split(","))
    print(f"{args.label}: new code {args.new} minus old code {args.old}; 95% paired bootstrap over queries\n")
    print("| dataset | setting | AUC | log loss | routing | ECE |\n|---|---|---|---|---|---|")
    for ds, codes in sorted(found.items()):
        if not any(c.startswith(args.new) for c in codes) or not any(c.startswith(args.old) for c in codes):
            continue
        new, old = (units(codes[pick(codes, p, ds)]) for p in (args.new, args.old))
        keys = sorted(set(new) & set(old), key=lambda k: (k[0], k[1] if k[1] is not None else -1))
        for setting in SETTINGS:
            res = compare_entries(new, old, keys, setting, "observed" if ds in observed else "complete",
                                  args.n_boot, True)["metrics"]
            cells = [f"{m['diff']:+.4f} [{m['lo']:+.4f}, {m['hi']:+.4f}] {m['verdict']}" for m in
                     (res[k] for k in ("auc", "log_loss", "routing", "ece"))]
            print(f"| {ds} ({len(keys)} folds) | {'benchmark known' if setting == 'query' else 'text only'} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

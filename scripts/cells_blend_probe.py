"""Would an untuned blend of irtnet with another entry route better, text only? A probe on a comparison's cached
test predictions, not a feature: nothing is fitted.

    python scripts/cells_blend_probe.py runs/compare/text-only-cells [--n-boot 1000]

Each cell of `irtnet compare` keeps its test queries' probabilities (`scores_text`: benchmark names hidden) and
labels. For every dataset whose cells share one code fingerprint (the newest, the one with most cells), the
folds' test queries are stacked (each query is tested once) and, for each other entry E, the equal-weight mean
of irtnet's and E's probabilities routes each query to its argmax model. Printed per dataset: every entry's
routing accuracy, then each blend's, with its paired 95% bootstrap interval over queries against the best
single entry other than irtnet (routing as `irtnet compare` scores it: "complete" mode, queries with every model
labelled, except zeroeval's "observed" mode).

Measured on the cells of configs/text-only.toml and configs/unseen-long.toml (one cache folder) at code 844f2764 (2026-12-02, AMD
EPYC, seconds): no blend wins routing on more than one of the six datasets with texts. mmlu-pro: irtnet+knn
+.0037 [+.0004, +.0073] and irtnet+cluster-rate +.0039 [+.0008, +.0071] against the inferred-benchmark rate
(wins); llmrouter: every blend ties or loses (irtnet+embedllm-mf -.0067 [-.0122, -.0017]); routerdc7: blends
with knn, embedllm-mf and cluster-rate lose (-.003 to -.006); zeroeval, cruxeval and routerbench: ties, except
zeroeval's blends with the two mean rates (-.0088 [-.0151, -.0028]) and cruxeval's irtnet+cluster-rate (-.0112
[-.0208, -.0025]), losses. 23 s. Choosing one blend from these after seeing them would be a
choice made on test data, so none entered the model.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from irtnet.tasks.stats import paired_bootstrap

OBSERVED = {"zeroeval"}  # routing_mode = "observed" in configs/text-only.toml


def newest_cells(folders: list[Path]) -> dict[tuple[str, int], dict[str, dict[str, np.ndarray]]]:
    """{(dataset, fold): {entry: arrays}} of the split-by-query cells at the most common code fingerprint."""
    meta = [(f, json.loads(f.read_text())) for folder in folders for f in sorted(folder.glob("*.json"))]
    if not meta:
        raise SystemExit(f"no cells in {[str(f) for f in folders]}")
    code = collections.Counter(d["code"] for _, d in meta).most_common(1)[0][0]
    cells: dict = collections.defaultdict(dict)
    for f, d in meta:
        if d["code"] == code and d["setting"] == "query":
            with np.load(f.with_suffix(".npz"), allow_pickle=True) as z:
                cells[(d["dataset"], d["fold"])][d["label"]] = {k: z[k] for k in z.files}
    print(f"code {code[:8]}: {sum(len(v) for v in cells.values())} cells")
    return cells


def probe(dataset: str, folds: list[dict[str, dict[str, np.ndarray]]], n_boot: int) -> None:
    entries = sorted(set.intersection(*(set(f) for f in folds)) - {"irtnet-paper"})
    for f in folds:
        assert all((f[e]["queries"] == f["irtnet"]["queries"]).all() for e in entries), "queries differ"
    y = np.vstack([f["irtnet"]["labels"] for f in folds])
    prob = {e: np.vstack([f[e]["scores_text"] for f in folds]) for e in entries}
    seen = ~np.isnan(y)
    mask = seen.any(1) if dataset in OBSERVED else seen.all(1)

    def routing(p: np.ndarray) -> float:
        chosen = np.where(seen, p, -np.inf).argmax(1)
        return float(y[np.arange(len(y)), chosen][mask].mean())

    acc = {e: routing(p) for e, p in prob.items()}
    print(f"\n{dataset} ({int(mask.sum())} routed queries): "
          + ", ".join(f"{e} {a:.4f}" for e, a in sorted(acc.items(), key=lambda t: -t[1])))
    others = [e for e in entries if e != "irtnet"]
    best = max(others, key=acc.get)
    for e in others:
        blend = (prob["irtnet"] + prob[e]) / 2
        r = paired_bootstrap(y, blend, prob[best], n_boot, 0, routing_mask=mask, metrics=("routing",))
        m = r["metrics"]["routing"]
        print(f"  irtnet+{e:24s} {routing(blend):.4f}; minus {best}: {m['diff']:+.4f} [{m['lo']:+.4f}, "
              f"{m['hi']:+.4f}] {m['verdict']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", nargs="+", type=Path, help="cell cache folders of `irtnet compare`")
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    cells = newest_cells(args.cells)
    for dataset in sorted({d for d, _ in cells}):
        folds = [cells[k] for k in sorted(k for k in cells if k[0] == dataset)]
        if all("irtnet" in f for f in folds):
            probe(dataset, folds, args.n_boot)


if __name__ == "__main__":
    main()

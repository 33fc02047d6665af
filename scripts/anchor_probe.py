"""Pair the anchor setting's shift rules (tasks/anchors.py, `ANCHOR_SHIFTS`) on the same fitted probabilities.

Each benchmark of TABLE is held out in turn (as `irtnet evaluate-benchmarks` does: seed 0, validation 0.1), irtnet
(`--preset`, default `default`) is fitted once on the rest and its text-only probabilities on the held-out
benchmark are kept in `--cache` (an .npz per benchmark). Then, for n in --ns and --draws draws of the anchor items
(`anchors.anchor_order`, the protocol's own), each model's accuracy on the whole benchmark is estimated by
`anchored_accuracies` under the default rule and under each of --rules (with the share of its 90% intervals,
`anchored_interval`, that hold the truth), and the absolute errors are paired over
(benchmark, model, draw) cells, resampling models and draws crossed (`stats.crossed_interval`; a model's
errors on the held-out benchmarks move together, as `evaluate-benchmarks`' paired intervals take them). The default rule's errors are those of `evaluate-benchmarks`' irtnet entry.

    python scripts/anchor_probe.py runs/tables/cruxeval.parquet --cache runs/anchor-probe/cruxeval
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from irtnet import api
from irtnet.data.dataset import Dataset
from irtnet.predictors.spec import ModelSpec, build_predictor
from irtnet.tasks import anchors as A
from irtnet.tasks.benchmark import held_out_fold, true_accuracies
from irtnet.tasks.evaluate import score_matrix
from irtnet.tasks.stats import crossed_interval


def fold_probs(data: Dataset, benchmark: str, preset: str, cache: Path) -> dict[str, np.ndarray]:
    """{prob [Q, M], labels [Q, M], true [M], models [M]} of `benchmark` held out as `evaluate-benchmarks` holds it
    out (`benchmark.held_out_fold`; the fit read from `cache` when there)."""
    file = cache / f"{benchmark.replace('/', '_')}.npz"
    _, train, val, test, hidden = held_out_fold(data, benchmark, 0.1, 0)
    models = np.array(test.table.model_vocab.ids, dtype=object)
    if file.is_file():
        return {**dict(np.load(file)), "models": models}
    model = build_predictor(ModelSpec(model="irtnet", preset=preset, seed=0)).fit(train, val)
    out = {"prob": score_matrix(model, hidden), "labels": test.table.label_matrix(), "true": true_accuracies(test)}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, **out)
    return {**out, "models": models}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--ns", default="5,10,25,50")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--rules", default="cautious,whole", help="rules to pair against the default")
    ap.add_argument("--benchmarks", default=None, help="comma-separated benchmarks to hold out (default all)")
    args = ap.parse_args()
    table = api.load_table(args.table)
    data = api.prepare(table, args.encoder)
    benchmarks = args.benchmarks.split(",") if args.benchmarks else sorted(set(table.queries["benchmark"]))
    folds = {b: fold_probs(data, b, args.preset, args.cache) for b in benchmarks}
    names: dict[str, int] = {}  # model -> unit index, shared by every n
    for n in map(int, args.ns.split(",")):
        errors = {rule: [] for rule in (A.DEFAULT_SHIFT, *args.rules.split(","))}  # [benchmark][draw, model]
        covered = {rule: [] for rule in errors}  # the 90% interval holds the truth, per (draw, model)
        units = []  # each cell's model: a model's errors on the held-out benchmarks move together
        for b, f in folds.items():
            if n >= len(f["labels"]):
                continue
            units.append(np.array([names.setdefault(m, len(names)) for m in f["models"]]))
            orders = [A.anchor_order(len(f["labels"]), b, 0, r) for r in range(args.draws)]
            for rule, cells in errors.items():
                acc = np.stack([A.anchored_accuracies(f["prob"], f["labels"], o[:n], rule)[0] for o in orders])
                cells.append(np.abs(acc - f["true"]))
                bounds = [A.anchored_interval(f["prob"], f["labels"], o[:n], rule) for o in orders]
                covered[rule] += [((lo <= f["true"]) & (f["true"] <= hi)).ravel() for lo, hi in bounds]
        base = np.concatenate(errors[A.DEFAULT_SHIFT], axis=1)
        line = f"n={n}: {A.DEFAULT_SHIFT} {base.mean():.4f} (coverage {np.mean(np.concatenate(covered[A.DEFAULT_SHIFT])):.2f})"
        for rule in list(errors)[1:]:
            diff = np.concatenate(errors[rule], axis=1) - base  # [draws, (benchmark, model) cells]
            draws = np.indices(diff.shape)[0]
            models = np.broadcast_to(np.concatenate(units), diff.shape)
            lo, hi = crossed_interval(models.ravel(), draws.ravel(), diff.ravel())
            verdict = "win" if hi < 0 else "loss" if lo > 0 else "tie"
            line += (f"; {rule} {base.mean() + diff.mean():.4f} (coverage {np.mean(np.concatenate(covered[rule])):.2f}), "
                     f"{diff.mean():+.4f} [{lo:+.4f}, {hi:+.4f}] {verdict}")
        print(line)

if __name__ == "__main__":
    main()

"""Pool `unseen_benchmark_probe.py --save` runs of one table over seeds: per-seed differences and pooled intervals.

    for s in 0 1 2; do
        python scripts/unseen_benchmark_probe.py T --k 16 --seed $s --save runs/unseen-probe/T-s$s.npz
    done
    python scripts/unseen_probe_seeds.py runs/unseen-probe/T-s*.npz [--base text_ngrams=0]

Each saved run holds the same held-out queries (the groups are those of seed 0) scored by models trained on
another train/validation cut and seed. Printed, for every entry against `--base`: each seed's difference on
every metric (the spread the query bootstrap of one run does not show), then a paired bootstrap over the
seeds' runs stacked, resampling queries and then a query's seed replicates (`paired_bootstrap(clusters=...)`),
and, with at least five benchmarks, resampling benchmarks and then rows within them. The count printed with
the pooled intervals is of rows (queries times seeds).
"""

from __future__ import annotations

import argparse

import numpy as np

from irtnet.tasks.stats import paired_bootstrap, query_contributions

from _probe import METRICS, MIN_CLUSTERS, print_paired  # scripts/_probe.py


def load_runs(paths: list[str]) -> list[dict[str, np.ndarray]]:
    """The saved runs, checked to hold the same queries, labels and entries."""
    runs = [dict(np.load(p, allow_pickle=False)) for p in paths]
    for path, run in zip(paths[1:], runs[1:]):
        same = (run.keys() == runs[0].keys() and run["y"].shape == runs[0]["y"].shape
                and np.array_equal(run["y"], runs[0]["y"], equal_nan=True)
                and np.array_equal(run["benchmark"], runs[0]["benchmark"]))
        if not same:
            raise SystemExit(f"{path}: not the same held-out queries, labels and entries as {paths[0]}")
    return runs


def point_differences(y: np.ndarray, run: dict[str, np.ndarray], name: str,
                      base: str) -> list[tuple[str, float]]:
    """Each metric of `name` minus `base` on all of one run's queries (no resampling)."""
    every = np.ones((1, len(y)))
    a, b = (query_contributions(y, run[e], run["mask"]).metrics(every, METRICS) for e in (name, base))
    return [(m, float(a[m][0] - b[m][0])) for m in METRICS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help=".npz files written by unseen_benchmark_probe.py --save")
    ap.add_argument("--base", default="text_ngrams=0")
    args = ap.parse_args()
    runs = load_runs(args.runs)
    entries = [k for k in runs[0] if k.startswith("text_ngrams=") and k != args.base]
    y0, n = runs[0]["y"], len(runs)
    y, mask = np.vstack([y0] * n), np.concatenate([runs[0]["mask"]] * n)
    bench = np.unique(runs[0]["benchmark"], return_inverse=True)[1]
    for name in entries:
        print(f"\n{name} minus {args.base}, {n} seeds:")
        for path, run in zip(args.runs, runs):
            print(f"  {path}: " + ", ".join(f"{m} {d:+.4f}" for m, d in point_differences(y0, run, name, args.base)))
        ours = np.vstack([run[name] for run in runs])
        base = np.vstack([run[args.base] for run in runs])
        queries = np.tile(np.arange(len(y0)), n)
        print_paired("  pooled, resampling queries, then seeds within each",
                     paired_bootstrap(y, ours, base, 2000, 0, routing_mask=mask, clusters=queries, metrics=METRICS))
        if bench.max() + 1 >= MIN_CLUSTERS:
            print_paired(f"  pooled, resampling the {bench.max() + 1} benchmarks, then rows within each",
                         paired_bootstrap(y, ours, base, 2000, 0, routing_mask=mask, clusters=np.tile(bench, n),
                                          metrics=METRICS))


if __name__ == "__main__":
    main()

"""Two `irtnet evaluate-benchmarks` runs of the same folds and anchor draws, paired: did a setting change the
anchor setting's errors?

    python scripts/anchor_runs_paired.py NEW.json OLD.json [--entry irtnet] [--n-boot 2000]

Both files must hold the same held-out benchmarks, models, anchor numbers and draws (for example `--anchor-shift
chosen` against `--anchor-shift whole`). Per number of anchor items it prints the entry's mean absolute error in
each run (each (benchmark, model) cell's error averaged over the draws, then over cells) and NEW minus OLD with a
95% bootstrap interval over models (a model's benchmarks move together) and draws crossed (`paired_errors`), with
the verdict (lower error wins).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from irtnet.tasks.benchmark import _fold_from_record, paired_errors


def folds(path: str) -> list:
    doc = json.load(open(path))
    out = [_fold_from_record(f) for f in doc["folds"]]
    if any(f is None for f in out):
        raise SystemExit(f"{path}: a fold of another shape (not written by this version's evaluate-benchmarks)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new")
    parser.add_argument("old")
    parser.add_argument("--entry", default="irtnet")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args()
    new, old = folds(args.new), folds(args.old)
    if [(f.benchmark, f.models, sorted(f.anchored)) for f in new] != [(f.benchmark, f.models, sorted(f.anchored))
                                                                       for f in old]:
        raise SystemExit("the two runs hold different benchmarks, models or anchor numbers")
    paired = []
    for a, b in zip(new, old):  # the old run's entry beside the new one's, in the new run's folds
        for n, preds in b.anchored_predicted.items():
            if np.shape(preds[args.entry]) != np.shape(a.anchored_predicted[n][args.entry]):
                raise SystemExit(f"{a.benchmark}, n = {n}: the runs drew different numbers of anchor draws")
            a.anchored_predicted[n] = {args.entry: a.anchored_predicted[n][args.entry], "old": preds[args.entry]}
        a.predicted = {args.entry: a.predicted[args.entry], "old": b.predicted[args.entry]}
        paired.append(a)
    print(f"{args.entry}: {args.new} minus {args.old} (absolute error of accuracy; lower wins)")
    print("| items answered | new | old | new minus old | verdict |")
    print("|---:|---:|---:|---|---|")
    for row in paired_errors(paired, args.entry, n_boot=args.n_boot):
        n = str(row["n"])
        mae = [np.mean([np.nanmean(np.abs(np.asarray(f.predicted[e] if n == "0" else f.anchored_predicted[n][e])
                                          - np.asarray(f.true))) for f in paired]) for e in (args.entry, "old")]
        print(f"| {n} | {mae[0]:.3f} | {mae[1]:.3f} | {row['diff']:+.4f} [{row['lo']:+.4f}, {row['hi']:+.4f}] | "
              f"{row['verdict']} |")


if __name__ == "__main__":
    main()

"""How low does a plain IRT plug-in estimate of per-benchmark accuracy from N answers go, with the best items?

    python scripts/estimation_floor.py runs/tables/cruxeval.parquet runs/tables/zeroeval.parquet --dims 1,2,3

Item parameters are fitted on EVERY model's answers to every item, the evaluated model's own included (so
they are better than any method that has not seen that model can have): the unidimensional 2PL by
`fit_2pl_newton`, MIRT-2PL of higher dimension by `fit_irt`. Then for each model and each of `--reps`
repetitions: N of its answered items at random, its ability by MAP (prior N(0, I)) on those N answers with
the item parameters held fixed, and each benchmark's estimate = (its answered items' labels + the predicted
probabilities of the rest) / the benchmark's items, against the model's true mean label there. Printed: the
mean absolute error over (repetition, model, benchmark) cells per (dimension, N), beside the plain mean of
the benchmark's answered items (0.5 where none was answered). It is an optimistic reference for the plug-in
estimator of a 1- or 2-dimensional IRT model, not a bound on every estimator: one that also corrects the
plug-in by the answered items' residuals (irtnet's misfit correction) can go below it. Issue 14 asks for
0.02 at N = 100.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.special import expit

from irtnet.api.data import load_table
from irtnet.predictors.baselines import fit_2pl_newton, fit_irt
from irtnet.tasks.onboard import fit_theta


def item_parameters(labels: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    qi, mi = np.nonzero(~np.isnan(labels))
    n_items, n_models = labels.shape
    if dim == 1:
        fit = fit_2pl_newton(mi, qi, labels[qi, mi], n_models, n_items)
    else:
        fit = fit_irt(mi, qi, labels[qi, mi], n_models, n_items, kind="2pl", dim=dim, max_iter=500)
    return fit.a, fit.b


def floor(labels: np.ndarray, groups: np.ndarray, a: np.ndarray, b: np.ndarray, n: int, reps: int,
          seed: int) -> tuple[float, float]:
    """(IRT floor MAE, plain-mean MAE) over (repetition, model, benchmark) cells."""
    rng = np.random.default_rng(seed)
    zero, identity = np.zeros(a.shape[1]), np.eye(a.shape[1])  # the ability prior N(0, I)
    irt, plain = [], []
    for _ in range(reps):
        for m in range(labels.shape[1]):
            items = np.flatnonzero(~np.isnan(labels[:, m]))
            idx = rng.choice(items, min(n, len(items)), replace=False)
            p = expit(a @ fit_theta(a[idx], b[idx], labels[idx, m], zero, identity) - b)
            for g in np.unique(groups[items]):
                gi = items[groups[items] == g]
                seen = np.isin(gi, idx)
                truth = labels[gi, m].mean()
                irt.append(abs((labels[gi[seen], m].sum() + p[gi[~seen]].sum()) / len(gi) - truth))
                plain.append(abs((labels[gi[seen], m].mean() if seen.any() else 0.5) - truth))
    return float(np.mean(irt)), float(np.mean(plain))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tables", nargs="+", help="response tables (.parquet, from `irtnet data import`)")
    ap.add_argument("--ns", default="25,50,100,200")
    ap.add_argument("--dims", default="1")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print("| table | models | benchmarks | dim | N | IRT floor MAE | plain mean MAE |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for path in args.tables:
        table = load_table(path)
        labels = table.label_matrix()
        groups = table.queries["benchmark"].astype(str).to_numpy()
        for dim in (int(d) for d in args.dims.split(",")):
            a, b = item_parameters(labels, dim)
            for n in (int(v) for v in args.ns.split(",")):
                irt, plain = floor(labels, groups, a, b, n, args.reps, args.seed)
                print(f"| {path} | {labels.shape[1]} | {len(np.unique(groups))} | {dim} | {n} | {irt:.4f} | {plain:.4f} |",
                      flush=True)


if __name__ == "__main__":
    main()

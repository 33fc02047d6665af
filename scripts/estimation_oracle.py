"""How far below 0.02 can a per-benchmark estimate from N answers go when the model's other accuracies are known?

    python scripts/estimation_oracle.py runs/tables/mmlu-pro.parquet runs/tables/zeroeval.parquet [--n 100]

A reference for issue 14's target (per-benchmark error at most 0.02 from N = 100 answers in total), not an
estimator anyone can run: each model in turn plays the new model, and two oracles are told things about it that
no method sees.

- `overall`: its exact accuracy over every item of the table. Each benchmark's accuracy is predicted by a least
  squares line through the other models (benchmark accuracy on overall accuracy).
- `others`: its exact accuracy on every *other* benchmark. Each benchmark's accuracy is predicted by a ridge
  regression on the other benchmarks' accuracies, over the other models (standardised; sklearn's `RidgeCV`, the
  penalty chosen by leave-one-out over those models from 0.1 to 100).

Each prediction is used alone, and combined with N of the model's answers at random (`--reps` draws): a normal
prior at the prediction, with the variance of the regression's leave-one-out errors over the other models, and
the answered items' mean on the benchmark with binomial variance; the benchmark's estimate is its answered
labels plus the posterior mean for the rest, over its items. The truth is the model's mean label over the
benchmark's items. Printed per table: the mean absolute error over (draw, model, benchmark) cells of each,
beside the plain mean of the N answers. The oracles know far more about the model than N answers can tell,
but they are not a bound: they ignore which items were answered (how hard they are), and irtnet beats them on
ZeroEval. Where a table has many benchmarks, and so few answers on each, they show how much of a benchmark's
accuracy the rest of the model's profile leaves unexplained.

Measured on the project's 2-core AMD EPYC (N = 100, 5 draws, 13 s for the five tables): docs/estimation.md, "Three
draws on five tables", beside the IRT reference of scripts/estimation_floor.py.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from irtnet.api.data import load_table

PENALTIES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def accuracies(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """[M, G] mean label of each model on each benchmark's items it answered (NaN where it answered none of
    them), and the benchmarks' names."""
    names = sorted(set(groups.tolist()))
    seen = ~np.isnan(labels)
    sums = np.array([np.nansum(labels[groups == g], axis=0) for g in names]).T
    counts = np.array([seen[groups == g].sum(axis=0) for g in names]).T
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0), names


def ridge_loo(x: np.ndarray, y: np.ndarray, penalties: tuple[float, ...]) -> tuple[float, float, Any]:
    """sklearn's `RidgeCV` of y on standardised x, the penalty chosen by its efficient leave-one-out error:
    (that error's mean square, the fitted model, the standardisation as a function)."""
    from sklearn.linear_model import RidgeCV

    mu, sd = x.mean(0), x.std(0) + 1e-12
    fit = RidgeCV(alphas=np.array(penalties), store_cv_results=True).fit((x - mu) / sd, y)
    loo = float(fit.cv_results_[:, list(penalties).index(fit.alpha_)].mean())
    return loo, fit, lambda v: (v - mu) / sd


def predict(acc: np.ndarray, overall: np.ndarray, m: int, g: int, kind: str) -> tuple[float, float] | None:
    """(prediction of model m's accuracy on benchmark g, variance of its leave-one-out errors) from the other
    models with an accuracy on g (and, for `others`, on every other benchmark model m has one on); None where
    fewer than 5 such models, or no such benchmark, are left."""
    if kind == "overall":
        cols = np.zeros(0, dtype=int)
    else:
        cols = np.array([c for c in range(acc.shape[1]) if c != g and not np.isnan(acc[m, c])], dtype=int)
        if not len(cols):
            return None
    rest = np.array([r for r in range(len(acc)) if r != m and not np.isnan(acc[r, g])
                     and not np.isnan(acc[r, cols]).any()], dtype=int)
    if len(rest) < 5:
        return None
    if kind == "overall":
        x, x_new, penalties = overall[rest, None], overall[m:m + 1], (1e-9,)  # least squares
    else:
        x, x_new, penalties = acc[np.ix_(rest, cols)], acc[m, cols], PENALTIES
    loo, fit, scale = ridge_loo(x, acc[rest, g], penalties)
    return float(fit.predict(scale(x_new)[None])[0]), loo


def combine(prior: float, var: float, answered: np.ndarray, n_items: int) -> float:
    """The benchmark's estimate: its answered labels plus, for the rest, the posterior mean of a normal prior
    (prior, var) updated by the answered mean with binomial variance."""
    k = len(answered)
    if k == 0:
        return prior
    v = min(max(prior, 0.02), 0.98)
    v = v * (1 - v)
    post = (prior / var + answered.sum() / v) / (1 / var + k / v)
    return float((answered.sum() + (n_items - k) * np.clip(post, 0, 1)) / n_items)


def table_errors(labels: np.ndarray, groups: np.ndarray, n: int, reps: int, seed: int) -> dict[str, float]:
    acc, names = accuracies(labels, groups)
    overall = np.nanmean(labels, axis=0)
    preds = {kind: {(m, g): predict(acc, overall, m, g, kind) for m in range(len(acc)) for g in range(len(names))}
             for kind in ("overall", "others") if kind == "overall" or len(names) > 1}
    errors: dict[str, list[float]] = {}
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        for m in range(labels.shape[1]):
            items = np.flatnonzero(~np.isnan(labels[:, m]))
            idx = set(rng.choice(items, min(n, len(items)), replace=False).tolist())
            for g, name in enumerate(names):
                gi = items[groups[items] == name]
                if not len(gi) or any(p[(m, g)] is None for p in preds.values()):
                    continue  # the model did not answer g, or too few others did: no cell
                seen = labels[[i for i in gi if i in idx], m]
                truth = acc[m, g]
                errors.setdefault("plain mean of the answers", []).append(
                    abs((seen.mean() if len(seen) else overall[m]) - truth))
                for kind, p in preds.items():
                    prior, var = p[(m, g)]
                    errors.setdefault(f"{kind} (no answers)", []).append(abs(prior - truth))
                    errors.setdefault(f"{kind} + {n} answers", []).append(
                        abs(combine(prior, max(var, 1e-6), seen, len(gi)) - truth))
    return {k: float(np.mean(v)) for k, v in errors.items()} | {"cells": len(errors.get("plain mean of the answers", []))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tables", nargs="+", help="response tables (.parquet, from `irtnet data import`)")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for path in args.tables:
        table = load_table(path)
        labels = table.label_matrix()
        groups = table.queries["benchmark"].astype(str).to_numpy()
        errs = table_errors(labels, groups, args.n, args.reps, args.seed)
        print(f"\n{path}: {labels.shape[1]} models, {len(set(groups.tolist()))} benchmarks, {labels.shape[0]} items")
        cells = errs.pop("cells")
        for k, v in errs.items():
            print(f"  {k:32s} MAE {v:.4f}  ({cells:.0f} cells)", flush=True)


if __name__ == "__main__":
    main()

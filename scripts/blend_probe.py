"""Would stacking irtnet's text path with another model's help? A probe, not a feature.

    python scripts/blend_probe.py runs/tables/cruxeval.parquet [--others embedllm-mf,knn] [--folds 5]

The table is cross-fitted over queries as `configs/text-only.toml` does (`kfold_query_splits`, 5 folds, seed 0,
validation carved from the training folds); the first `--folds` folds are used. On each, the `default` preset
and each of `--others` (registry names, default parameters, seed 0) are trained on the training part, and
every validation and test query is scored text only (`without_groups`). For each other model the blend is

    logit P' = (1 - w) logit P_irtnet + w logit P_other,   w in {0, 0.1, ..., 0.8}

with w chosen on the validation pairs' log loss (w = 0 is in the grid, so "irtnet alone" can win). Printed per
fold: the chosen w; pooled over the folds' test queries: AUC, log loss, routing accuracy and ECE of each blend
against irtnet and against each other model, with the paired bootstrap 95% interval (`stats.paired_bootstrap`).

Measured on CRUXEval, 5 folds (1,600 test queries), the project's 2-core AMD EPYC, 4 minutes: validation chose
w = 0.8, 0.1, 0, 0.8 and 0.3 for EmbedLLM's factorisation and w = 0 for KNN on every fold; the blend with the factorisation
against the factorisation alone: AUC +0.0017 [-0.0001, +0.0034], log loss -0.0008 [-0.0021, +0.0004], routing
+0.0012 [-0.0137, +0.0164] (ties); against irtnet alone: log loss -0.0013 [-0.0023, -0.0001] (a win), AUC
+0.0012 [-0.0003, +0.0027] and routing -0.0062 [-0.0168, +0.0038] (ties). On llmrouter's first fold (`--folds 1`)
validation chose w = 0 for both. No tie became a win against the best other text-only predictor, so it is not in the model.
"""

from __future__ import annotations

import numpy as np

from irtnet import api
from irtnet.data.splits import kfold_query_splits
from irtnet.metrics import log_loss
from irtnet.numeric import logit, sigmoid
from irtnet.tasks.stats import paired_bootstrap

from _probe import load, print_paired, table_parser  # scripts/_probe.py

WEIGHTS = np.round(np.arange(0, 0.81, 0.1), 2)
METRICS = ("auc", "log_loss", "routing", "ece")


def text_logits(name: str, train, val, test, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(validation, test) text-only logits [Q, M] of `name` ("irtnet": the default preset) fitted on train."""
    spec = api.ModelSpec(preset="default", seed=0) if name == "irtnet" else api.ModelSpec(model=name, seed=0)
    est = api.build_predictor(api.resolve_spec(spec)).fit(train, val)
    return tuple(logit(np.clip(est.predict_proba(d.queries.without_groups(), models), 1e-6, 1 - 1e-6))
                 for d in (val, test))


def chosen_weight(z_irt: np.ndarray, z_other: np.ndarray, y: np.ndarray) -> float:
    """The w of WEIGHTS with the lowest validation log loss (the first of equal ones)."""
    seen = ~np.isnan(y)
    losses = [log_loss(sigmoid((1 - w) * z_irt + w * z_other)[seen], y[seen]) for w in WEIGHTS]
    return float(WEIGHTS[int(np.argmin(losses))])


def main() -> None:
    ap = table_parser(__doc__, folds=5)
    ap.add_argument("--others", default="embedllm-mf,knn")
    args = ap.parse_args()
    others = args.others.split(",")
    table, data = load(args)
    probs: dict[str, list[np.ndarray]] = {k: [] for k in ["irtnet", *others, *(f"blend-{o}" for o in others)]}
    labels = []
    for split in kfold_query_splits(table, 5, 0, 0.1, True)[:args.folds]:
        train, val, test = api.split_datasets(data, split)
        models = list(train.table.model_vocab.ids)
        z = {name: text_logits(name, train, val, test, models) for name in ["irtnet", *others]}
        for name, (_, z_test) in z.items():
            probs[name].append(sigmoid(z_test))
        y_val = val.table.label_matrix(model_ids=models)
        for o in others:
            w = chosen_weight(z["irtnet"][0], z[o][0], y_val)
            print(f"fold {split.params['fold']}: blend with {o}: w = {w}", flush=True)
            probs[f"blend-{o}"].append(sigmoid((1 - w) * z["irtnet"][1] + w * z[o][1]))
        labels.append(test.table.label_matrix(model_ids=models))
    y = np.vstack(labels)
    for o in others:
        for ref in ["irtnet", *others]:
            res = paired_bootstrap(y, np.vstack(probs[f"blend-{o}"]), np.vstack(probs[ref]), 2000, 0, metrics=METRICS)
            print_paired(f"blend-{o} minus {ref}", res)


if __name__ == "__main__":
    main()

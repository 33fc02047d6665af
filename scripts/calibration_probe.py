"""How close is irtnet's text-only calibration to what a calibration could reach? A probe, not a feature.

    python scripts/calibration_probe.py runs/tables/cruxeval.parquet [--targets score,label] [--folds 5]

The table is cross-fitted over queries as `configs/text-only.toml` does (`kfold_query_splits`, 5 folds, seed 0,
validation carved from the training folds). On each fold the `default` preset is trained with each training
target of `--targets` (TrainConfig.target: "score", the default, fits fractional scores such as pass rates
with the binomial likelihood; "label" fits the 0/1 majority label that the evaluator scores). Every test query
is scored text only (`without_groups`) and its logits recalibrated four ways, each fitted on the fold's
validation pairs against their 0/1 labels except the last:

- `none`, `temperature`, `platt`: the post-hoc calibrations `numeric.choose_calibration` chooses from;
- `chosen`: what the model ships (its own `_fit_calibration`, chosen by 2-fold cross-validation on validation);
- `test-platt`: Platt scaling fitted on the test pairs themselves, a floor no honest calibration reaches.

Printed per fold and as the mean over folds (the figure docs/results.md reports): ECE (10 bins) and log loss
against the 0/1 labels; with two targets, the paired bootstrap over pooled test queries of the second target's
shipped predictions minus the first's.

Measured on the project's 2-core AMD EPYC (mean ECE over the 5 folds; none / temperature / platt / chosen /
test-platt), with `--targets score`:

    cruxeval      .0263 / .0251 / .0224 / .0263 / .0110   (Platt scale fitted on validation 1.18-1.33)
    llmrouter     .0195 / .0214 / .0191 / .0195 / .0143
    zeroeval      .0156 / .0156 / .0188 / .0156 / .0109
    routerbench   .0133 / .0145 / .0167 / .0133 / .0086   (runs/unseen/routerbench.parquet)

So the shipped choice ("none" on every fold of these four tables) is the best or near the best of the three on
all but CRUXEval, where the network is underconfident against the 0/1 label (Platt scale > 1 on every fold).
Even there, Platt fitted on the 128 validation queries of a fold (10% of the other folds) reaches only .0224,
against the .0110 a test-fitted Platt would give: the validation set is too small to learn the correction. On
CRUXEval 30% of the scores are fractional pass rates, and training on the 0/1 label (`--targets score,label`)
moves the shipped ECE from .0263 to .0231 and changes log loss by -.0013 [-.0021, -.0004] (a win), AUC by +.0004
[-.0004, +.0012] and routing by -.0037 [-.0152, +.0065] (ties), all text only. One table is not enough to change
the default target, so it stays "score".

With the default's 16 n-gram features (2026-12-02, commit 9b6142c, `--targets score,label`, 2 min): score
.0215 / .0244 / .0266 / .0215 / .0095, label .0187 / .0245 / .0273 / .0187 / .0092 (the same order); label
minus score, text only: log loss -.0007 [-.0019, +.0006], AUC +.0003, routing -.0088 [-.0213, +.0027], all
ties. Recalibrating on validation no longer helps, and no choice is made on these test queries.

Before them, both together (2026-12-02, `--targets label`, 7 min): trained on the label, then recalibrated against the label
on validation, the mean ECE over the 5 folds is .0231 / .0246 / .0217 / .0231 / .0104 (none / temperature /
platt / chosen / test-platt; per fold, platt .0194 / .0148 / .0149 / .0347 / .0246). Still above .02, and the
folds disagree (fold 3: .0388 uncalibrated): on 320 test queries a fold's ECE moves by about .01 with the draw
of queries. irtnet's text-only log loss is +.0004 [-.0015, +.0022] against EmbedLLM's factorisation on CRUXEval
(docs/results.md); shifted by the label target's -.0013 that interval would still hold zero (an extrapolation,
not a comparison run).
"""

from __future__ import annotations

import numpy as np

from irtnet import api
from irtnet.data.splits import kfold_query_splits
from irtnet.metrics import ece, log_loss
from irtnet.numeric import fit_platt, fit_temperature, logit, sigmoid
from irtnet.predictors.irtnet import identity_calibration
from irtnet.tasks.stats import paired_bootstrap

from _probe import load, print_paired, table_parser  # scripts/_probe.py

KINDS = ("none", "temperature", "platt", "chosen", "test-platt")


def recalibrated(z_val: np.ndarray, y_val: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
                 chosen: np.ndarray) -> dict[str, np.ndarray]:
    """Test probabilities of each kind of KINDS; z: uncalibrated logits of the labelled pairs (flat)."""
    a, b = fit_platt(z_val, y_val)
    at, bt = fit_platt(z_test, y_test)
    return {"none": sigmoid(z_test), "temperature": sigmoid(z_test / fit_temperature(z_val, y_val)),
            "platt": sigmoid(a * z_test + b), "chosen": chosen, "test-platt": sigmoid(at * z_test + bt)}


def fold_scores(est, val, test, models: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, str]:
    """({kind: test probabilities of the labelled pairs}, shipped [Q, M] probabilities, labels [Q, M], kind)."""
    y_val, y_test = val.table.label_matrix(model_ids=models), test.table.label_matrix(model_ids=models)
    shipped = est.predict_proba(test.queries.without_groups(), models)
    kind = est.calibration_["text"]["kind"]
    est.calibration_ = identity_calibration()
    z_val, z_test = (logit(np.clip(est.predict_proba(d.queries.without_groups(), models), 1e-7, 1 - 1e-7))
                     for d in (val, test))
    seen_v, seen_t = ~np.isnan(y_val), ~np.isnan(y_test)
    probs = recalibrated(z_val[seen_v], y_val[seen_v], z_test[seen_t], y_test[seen_t], shipped[seen_t])
    return probs, shipped, y_test, kind


def main() -> None:
    ap = table_parser(__doc__, folds=5)
    ap.add_argument("--targets", default="score")
    args = ap.parse_args()
    targets = args.targets.split(",")
    table, data = load(args)
    figures = {t: {k: [] for k in KINDS} for t in targets}
    shipped: dict[str, list[np.ndarray]] = {t: [] for t in targets}
    labels: list[np.ndarray] = []
    for split in kfold_query_splits(table, 5, 0, 0.1, True)[:args.folds]:
        train, val, test = api.split_datasets(data, split)
        models = list(train.table.model_vocab.ids)
        for target in targets:
            spec = api.ModelSpec(preset="default", seed=0, params={"train": {"target": target}})
            est = api.build_predictor(api.resolve_spec(spec)).fit(train, val)
            probs, full, y, kind = fold_scores(est, val, test, models)
            shipped[target].append(full)
            y_seen = y[~np.isnan(y)]
            cells = []
            for name, p in probs.items():
                figures[target][name].append((ece(p, y_seen), log_loss(p, y_seen)))
                cells.append(f"{name} {figures[target][name][-1][0]:.4f}/{figures[target][name][-1][1]:.4f}")
            print(f"fold {split.params['fold']} target {target} (shipped: {kind}) ECE/log loss: " + ", ".join(cells),
                  flush=True)
        labels.append(y)
    for target in targets:
        print(f"\nmean over folds, target {target}:")
        for name, rows in figures[target].items():
            print(f"  {name:12s} ECE {np.mean([r[0] for r in rows]):.4f}  log loss {np.mean([r[1] for r in rows]):.4f}")
    if len(targets) > 1:
        first, second = targets[0], targets[1]
        res = paired_bootstrap(np.vstack(labels), np.vstack(shipped[second]), np.vstack(shipped[first]), 2000, 0,
                               metrics=("auc", "log_loss", "routing"))
        print_paired(f"target {second} minus target {first}, shipped text-only predictions", res)


if __name__ == "__main__":
    main()

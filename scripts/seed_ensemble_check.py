"""Does averaging seeds help the `default` preset? One network per seed against the mean of K seeds.

    python scripts/seed_ensemble_check.py runs/tables/cruxeval.parquet --folds 5 --seeds 5
    python scripts/seed_ensemble_check.py runs/tables/llmrouter.parquet --folds 2 --seeds 3

The table is cross-fitted over queries (`kfold_query_splits`, 5 folds, seed 0, validation carved from the
training folds); the first `--folds` folds are used. On each, the `default` preset with one network
(`members=1`) is trained with seeds 0..K-1 on the training part (validation for early stopping and
calibration), and the test queries are scored with their benchmark names (benchmark known) and without
(text only) by seed 0 alone and by the mean of the K seeds' logits (what `members=K` computes); EmbedLLM's
factorisation is the text-only reference. Printed: AUC, log loss and ECE of each, averaged over the folds
(labels are the table's scores, read as correct above 0.5).
"""

from __future__ import annotations

import argparse

import numpy as np

from irtnet import api
from irtnet.data.splits import kfold_query_splits
from irtnet.metrics import auc, ece, log_loss
from irtnet.numeric import logit, sigmoid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    args = ap.parse_args()
    table = api.load_table(args.table)
    data = api.prepare(table, args.encoder)
    scores: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for split in kfold_query_splits(table, 5, 0, 0.1, True)[:args.folds]:
        train, val, test = api.split_datasets(data, split)
        labels = test.table.label_matrix(value="score")
        seen = ~np.isnan(labels)
        y, models = labels[seen], test.table.model_vocab.ids

        def score(name: str, setting: str, p: np.ndarray) -> None:
            scores.setdefault((setting, name), []).append((auc(p, (y > .5).astype(float)), log_loss(p, y),
                                                           ece(p, (y > .5).astype(float))))

        logits = {"benchmark known": [], "text only": []}
        for seed in range(args.seeds):
            spec = api.ModelSpec(preset="default", seed=seed, params={"config": {"members": 1}})
            est = api.build_predictor(api.resolve_spec(spec)).fit(train, val)
            logits["benchmark known"].append(logit(est.predict_proba(test.queries, models)[seen]))
            logits["text only"].append(logit(est.predict_proba(test.queries.without_groups(), models)[seen]))
        for setting, per_seed in logits.items():
            score("seed 0", setting, sigmoid(per_seed[0]))
            score(f"mean of {args.seeds} seeds", setting, sigmoid(np.mean(per_seed, axis=0)))
        mf = api.build_predictor(api.resolve_spec(api.ModelSpec(model="embedllm-mf", seed=0))).fit(train, val)
        score("embedllm-mf", "text only", mf.predict_proba(test.queries.without_groups(), models)[seen])
        print(f"fold {split.params['fold']} done", flush=True)
    print(f"\n{args.table}: {args.folds} fold(s), mean over folds\n\n| setting | predictor | AUC | log loss | ECE |\n"
          "|---|---|---:|---:|---:|")
    for (setting, name), rows in scores.items():
        a, ll, e = np.mean(rows, axis=0)
        print(f"| {setting} | {name} | {a:.4f} | {ll:.4f} | {e:.4f} |")


if __name__ == "__main__":
    main()

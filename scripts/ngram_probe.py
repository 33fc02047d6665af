"""Does irtnet predict better when it also reads the text's character n-grams (`config.text_ngrams`)? A probe.

    python scripts/ngram_probe.py runs/tables/cruxeval.parquet [--k 64] [--folds 5]

The table is cross-fitted over queries as `configs/text-only.toml` does (`kfold_query_splits`, 5 folds, seed
0, validation carved from the training folds); `--folds N` runs the first N. On each fold the `default` preset
is trained twice, as it is and with `params.config.text_ngrams = K` (the text's hashed character 3-5-gram
TF-IDF projected on the training texts' top K singular vectors, beside the MiniLM vector:
`irtnet/predictors/ngram_projection.py`), and both score the fold's test queries with their benchmark names
hidden (text only) and given (benchmark known). Printed: the paired bootstrap over the pooled test queries of
the n-gram model minus the default, AUC, log loss and routing accuracy, per setting.

Measured on the project's 2-core AMD EPYC: docs/method.md, "The text's character n-grams".
"""

from __future__ import annotations

import time

import numpy as np

from irtnet import api
from irtnet.data.splits import kfold_query_splits
from irtnet.tasks.stats import paired_bootstrap

from _probe import load, print_paired, table_parser  # scripts/_probe.py


def main() -> None:
    ap = table_parser(__doc__, folds=5)
    ap.add_argument("--k", type=int, default=64)
    args = ap.parse_args()
    table, data = load(args)
    entries = {"default": {}, f"text_ngrams={args.k}": {"config": {"text_ngrams": args.k}}}
    probs: dict[str, dict[str, list[np.ndarray]]] = {s: {e: [] for e in entries} for s in ("text only", "benchmark known")}
    labels = []
    for split in kfold_query_splits(table, 5, 0, 0.1, True)[:args.folds]:
        start = time.time()
        train, val, test = api.split_datasets(data, split)
        models = list(train.table.model_vocab.ids)
        for name, params in entries.items():
            spec = api.resolve_spec(api.ModelSpec(preset="default", seed=0, params=params))
            est = api.build_predictor(spec).fit(train, val)
            probs["text only"][name].append(est.predict_proba(test.queries.without_groups(), models))
            probs["benchmark known"][name].append(est.predict_proba(test.queries, models))
        labels.append(test.table.label_matrix(model_ids=models))
        print(f"fold {split.params['fold']}: {time.time() - start:.0f} s", flush=True)
    y = np.vstack(labels)
    old, new = entries
    for setting, by_entry in probs.items():
        res = paired_bootstrap(y, np.vstack(by_entry[new]), np.vstack(by_entry[old]), 2000, 0,
                               metrics=("auc", "log_loss", "routing"))
        print_paired(f"{args.table}, {setting}: {new} minus {old}, {len(labels)} fold(s)", res)


if __name__ == "__main__":
    main()

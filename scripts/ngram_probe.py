"""Does irtnet predict better when it also reads the text's character n-grams (`config.text_ngrams`)? A probe.

    python scripts/ngram_probe.py runs/tables/cruxeval.parquet [--k 64|auto] [--base 0|16] [--folds 5]

The table is cross-fitted over queries as `configs/text-only.toml` does (`kfold_query_splits`, 5 folds, seed
0, validation carved from the training folds); `--folds N` runs the first N. On each fold the `default` preset
is trained twice, with `params.config.text_ngrams = 0` (`--base`: the sentence vector alone, the default's
input until it took K = 16) and with `params.config.text_ngrams = K` (the text's hashed character 3-5-gram
TF-IDF projected on the training texts' top K singular vectors, beside the MiniLM vector:
`irtnet/predictors/ngram_projection.py`), and both score the fold's test queries with their benchmark names
hidden (text only) and given (benchmark known), and the fold's validation queries (carved from its training
folds, the data a choice may be made on) text only. `--k auto` is `text_ngrams = "auto"`, the width chosen
on each fold's validation queries (so its validation row is not a held-out figure). Printed: the paired bootstrap over the pooled test queries of
the K model minus the base model, AUC, log loss, routing accuracy and ECE, per setting.

With `--cells runs/compare/text-only-cells --dataset NAME`, the n-gram model is also paired against every
other entry of that comparison on the same folds, from the test predictions its cells keep (the baselines do
not change with irtnet's code; their queries are checked to be the fold's). Routing as `irtnet compare` scores
it: queries with every model labelled ("complete"), or, for zeroeval, each query among its labelled models.

Measured on the project's 2-core AMD EPYC: docs/method.md, "The text's character n-grams".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from irtnet import api
from irtnet.data.splits import kfold_query_splits
from irtnet.tasks.stats import paired_bootstrap

from _probe import load, print_paired, table_parser  # scripts/_probe.py
from cells_blend_probe import OBSERVED, newest_cells  # scripts/cells_blend_probe.py


def _width(value: str) -> int | str:
    return value if value == "auto" else int(value)


def main() -> None:
    ap = table_parser(__doc__, folds=5)
    ap.add_argument("--k", type=_width, default=64, help="a width, or auto (chosen on each fold's validation)")
    ap.add_argument("--base", type=_width, default=0, help="the n-gram width paired against (0: the embedding alone)")
    add_pairing_arguments(ap)
    args = ap.parse_args()
    run(args, {f"text_ngrams={k}": {"config": {"text_ngrams": k}} for k in (args.base, args.k)})


def add_pairing_arguments(ap) -> None:
    """The options every default-against-variant probe shares: the comparison cells and routing mode."""
    ap.add_argument("--cells", type=Path, default=None, help="a comparison's cell cache, to pair against its entries")
    ap.add_argument("--dataset", default=None, help="the table's dataset name in that comparison")
    ap.add_argument("--routing", choices=("complete", "observed"), default=None,
                    help="route the queries every model answered (complete), or each query among its labelled "
                         "models (observed); default: as the comparison routes --dataset (observed for zeroeval)")


def run(args, entries: dict[str, dict]) -> None:
    """Cross-fit the `default` preset with each of two `params` (base first, variant second) and print the
    variant's paired bootstrap against the base and against every entry of `args.cells`, per setting."""
    cached = newest_cells([args.cells]) if args.cells else {}
    others: dict[str, dict[str, list[np.ndarray]]] = {}
    table, data = load(args)
    settings = ("text only", "benchmark known", "validation, text only")
    probs: dict[str, dict[str, list[np.ndarray]]] = {s: {e: [] for e in entries} for s in settings}
    labels, val_labels = [], []
    for split in kfold_query_splits(table, 5, 0, 0.1, True)[:args.folds]:
        start = time.time()
        train, val, test = api.split_datasets(data, split)
        models = list(train.table.model_vocab.ids)
        for name, params in entries.items():
            spec = api.resolve_spec(api.ModelSpec(preset="default", seed=0, params=params))
            est = api.build_predictor(spec).fit(train, val)
            if getattr(est, "ngrams_choice_", None) is not None:
                print(f"  {name}: chose {est.ngrams_choice_['chosen']} (text-only validation log loss "
                      f"{est.ngrams_choice_['validation_log_loss']})", flush=True)
            probs["text only"][name].append(est.predict_proba(test.queries.without_groups(), models))
            probs["benchmark known"][name].append(est.predict_proba(test.queries, models))
            probs["validation, text only"][name].append(est.predict_proba(val.queries.without_groups(), models))
        labels.append(test.table.label_matrix(model_ids=models))
        val_labels.append(val.table.label_matrix(model_ids=models))
        for entry, arrays in cached.get((args.dataset, split.params["fold"]), {}).items():
            same = (list(arrays["queries"]) == list(test.queries.ids) and list(arrays["models"]) == models
                    and np.array_equal(arrays["labels"], labels[-1], equal_nan=True))
            if not same:
                print(f"  cell {entry}: other queries, models or labels than this fold; left out")
            elif entry != "irtnet":
                for setting, key in (("text only", "scores_text"), ("benchmark known", "scores_known")):
                    others.setdefault(setting, {}).setdefault(entry, []).append(arrays[key])
        print(f"fold {split.params['fold']}: {time.time() - start:.0f} s", flush=True)
    old, new = entries
    for setting, by_entry in probs.items():
        y = np.vstack(val_labels if setting.startswith("validation") else labels)
        seen = ~np.isnan(y)
        observed = args.routing == "observed" or (args.routing is None and args.dataset in OBSERVED)
        mask = seen.any(1) if observed else seen.all(1)
        ours = np.vstack(by_entry[new])
        against = {old: by_entry[old]} | {e: p for e, p in others.get(setting, {}).items() if len(p) == len(labels)}
        for name, theirs in against.items():
            res = paired_bootstrap(y, ours, np.vstack(theirs), 2000, 0, routing_mask=mask,
                                   metrics=("auc", "log_loss", "routing", "ece"))
            print_paired(f"{args.table}, {setting}: {new} minus {name}, {len(labels)} fold(s)", res)


if __name__ == "__main__":
    main()

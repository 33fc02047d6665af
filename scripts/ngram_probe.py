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

from _probe import add_pairing_arguments, run_variants, table_parser  # scripts/_probe.py


def _width(value: str) -> int | str:
    return value if value == "auto" else int(value)


def main() -> None:
    ap = table_parser(__doc__, folds=5)
    ap.add_argument("--k", type=_width, default=64, help="a width, or auto (chosen on each fold's validation)")
    ap.add_argument("--base", type=_width, default=0, help="the n-gram width paired against (0: the embedding alone)")
    add_pairing_arguments(ap)
    args = ap.parse_args()
    if args.base == args.k:
        raise SystemExit(f"--k and --base are both {args.k}: nothing to compare")
    run_variants(args, {f"text_ngrams={k}": {"config": {"text_ngrams": k}} for k in (args.base, args.k)})


if __name__ == "__main__":
    main()

"""Does a change of the `default` preset's parameters help? The same cross-fitted probe as `ngram_probe.py`, for
any parameters.

    python scripts/params_probe.py runs/tables/mmlu-pro.parquet --variant '{"config": {"rank_weight": 0.3}}' \\
        [--base '{}'] [--cells runs/compare/text-only-cells --dataset mmlu-pro] [--folds 5]

`--base` and `--variant` are `params` of an irtnet model spec (JSON; `{}` is the default preset as shipped).
On each of the folds of `configs/text-only.toml` (`kfold_query_splits`, 5 folds, seed 0, validation carved from
the training folds) both are trained and score the test queries text only and benchmark known, and the
validation queries text only. Printed: the variant minus the base, and minus every other entry of the
comparison's cells where `--cells` is given, each as a paired bootstrap over the pooled queries (AUC, log loss,
routing accuracy, ECE). What each change measured: docs/method.md.
"""

from __future__ import annotations

import json

from _probe import add_pairing_arguments, run_variants, table_parser  # scripts/_probe.py


def main() -> None:
    ap = table_parser(__doc__, folds=5)
    ap.add_argument("--base", type=json.loads, default={}, help="params of the base spec, JSON (default: {})")
    ap.add_argument("--variant", type=json.loads, required=True, help="params of the variant spec, JSON")
    add_pairing_arguments(ap)
    args = ap.parse_args()
    if args.base == args.variant:
        raise SystemExit("--base and --variant are the same parameters")
    run_variants(args, {f"base {json.dumps(args.base)}": args.base, f"variant {json.dumps(args.variant)}": args.variant})


if __name__ == "__main__":
    main()

"""Does a setting of irtnet hold up on benchmarks it never trained on? A probe (leave benchmarks out).

    python scripts/unseen_benchmark_probe.py runs/tables/llmrouter.parquet --k 16,64 [--groups 5]

The table's benchmarks are dealt into G groups (`--groups`, default min(5, number of benchmarks);
`data.splits.benchmark_groups`, seed 0). For each group, every query of its benchmarks is a test query, and
the other benchmarks' queries are cut 0.9 / 0.1 into training and validation
(`data.splits.leave_benchmarks_out`). On each such split the `default` preset is trained with
`params.config.text_ngrams = 0` (`--base`) and with `params.config.text_ngrams = K` for each K of `--k`, and
every model scores the held-out benchmarks' queries from their text alone (their names are unknown to it),
for the models that have training answers in every split. Printed: per K, the paired bootstrap over the
pooled test queries (each tested once) of the K model minus the base model, AUC, log loss, routing accuracy
and ECE, and the routing accuracy per benchmark. (`--folds` is not used here: every group is held out once.)
With at least five benchmarks, the same comparison is printed again with a bootstrap that resamples the
benchmarks, then the queries within each (`paired_bootstrap(clusters=...)`): its interval holds the spread
between held-out benchmarks, which the query bootstrap does not. `--seed` (default 0) redraws the
train/validation cut and the models' seed (the groups stay); `--save` keeps the probabilities for
`scripts/unseen_probe_seeds.py`, which pools seeds.
Routing as `irtnet compare` scores it: queries with every model labelled, or, for a table whose name
starts with "zeroeval", each query among its labelled models.

This is the out-of-distribution check that in-distribution validation cannot make: the benchmark
classifier's posterior and the network's inputs meet a kind of query absent from training, as RouterDC's
out-of-distribution files do (docs/method.md section 1.2).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from irtnet import api
from irtnet.data.splits import benchmark_groups, leave_benchmarks_out
from irtnet.tasks.stats import paired_bootstrap, routing_contributions

from _probe import METRICS, MIN_CLUSTERS, load, print_paired, table_parser  # scripts/_probe.py


def main() -> None:
    ap = table_parser(__doc__, folds=0)
    ap.add_argument("--k", default="16,64", help="comma-separated n-gram widths to pair against --base")
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--base", type=int, default=0, help="the n-gram width paired against (0: the embedding alone)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the train/validation cut and of the models "
                                                       "(the groups stay those of seed 0)")
    ap.add_argument("--save", help="write the labels, benchmarks, routing mask and every entry's probabilities "
                                   "here (.npz), to score again without training")
    args = ap.parse_args()
    table, data = load(args)
    names = table.benchmark_vocab.to_list()
    groups = benchmark_groups(names, min(args.groups, len(names)))
    widths = [args.base] + [int(k) for k in args.k.split(",")]
    entries = {f"text_ngrams={k}": {"config": {"text_ngrams": k}} for k in widths}
    probs: dict[str, list[np.ndarray]] = {e: [] for e in entries}
    labels, benchmark_of = [], []
    parts = [api.split_datasets(data, leave_benchmarks_out(table, group, seed=args.seed)) for group in groups]
    trained = [set(train.table.model_vocab.ids) for train, _, _ in parts]
    models = [m for m in table.model_vocab.ids if all(m in s for s in trained)]  # scored on every split
    for group, (train, val, test) in zip(groups, parts):
        start = time.time()
        for name, params in entries.items():
            spec = api.resolve_spec(api.ModelSpec(preset="default", seed=args.seed, params=params))
            est = api.build_predictor(spec).fit(train, val)
            probs[name].append(est.predict_proba(test.queries.without_groups(), models))
        labels.append(test.table.label_matrix(model_ids=models))
        bench = test.table.queries.set_index("query").loc[list(test.queries.ids), "benchmark"]
        benchmark_of.append(bench.to_numpy(dtype=object))
        print(f"held out {group}: {len(test.queries.ids)} queries, {time.time() - start:.0f} s", flush=True)
    y, bench = np.vstack(labels), np.concatenate(benchmark_of)
    seen = ~np.isnan(y)
    mask = seen.any(1) if Path(args.table).stem.startswith("zeroeval") else seen.all(1)
    base = np.vstack(probs[f"text_ngrams={args.base}"])
    if args.save:
        np.savez_compressed(args.save, y=y, benchmark=bench.astype(str), mask=mask,
                            **{name: np.vstack(p) for name, p in probs.items()})
    codes = np.unique(bench, return_inverse=True)[1]
    for name in list(entries)[1:]:
        ours = np.vstack(probs[name])
        res = paired_bootstrap(y, ours, base, 2000, 0, routing_mask=mask, metrics=METRICS)
        print_paired(f"{args.table}, unseen benchmarks, text only: {name} minus text_ngrams={args.base}", res)
        hits = {n: routing_contributions(y, p, mask) for n, p in ((name, ours), ("base", base))}
        for b in names:
            rows = bench == b
            counted = hits["base"][1][rows].sum()
            if counted:
                acc = {n: hit[rows].sum() / counted for n, (hit, _) in hits.items()}
                print(f"    routing on {b} ({counted:.0f} queries): {acc[name]:.4f} vs {acc['base']:.4f}")
        if len(names) >= MIN_CLUSTERS:  # the spread over benchmarks, which the query bootstrap does not hold
            res = paired_bootstrap(y, ours, base, 2000, 0, routing_mask=mask, clusters=codes, metrics=METRICS)
            print_paired(f"  the same, resampling the {len(names)} benchmarks, then queries within each", res)


if __name__ == "__main__":
    main()

"""RouterDC's own protocol on routerdc/datasets/split2_model7, text only, beside RouterDC's published table.

Train on the five tasks' `*_train.json` files, test in distribution on their `*_test.json` files and out of
distribution on MATH_prealgebra, mbpp and ceval (docs/method.md section 8 of the brief; RouterDC, NeurIPS
2024). Each test query is routed from its text alone (benchmark names hidden) to one of the 7 models; its score
is the chosen model's score: multiple choice binarised by score > 0, GSM8K, HumanEval and MBPP by their
fractional score (the importer's `score`). A test question also present in the training files is left out of
the test set and counted. Validation (early stopping, the classifier's C, the text path's temperature) is 10%
of the training queries, stratified by benchmark; test data is never used for a choice.

    .venv/bin/python scripts/routerdc_protocol.py [--shared ../shared] [--seeds 0,1,2] [--ngrams 64|auto | --variant JSON] [--json out.json]

Prints one row per test benchmark: irtnet (default preset), the text-only references fitted on the same data,
the best single model on training data and the oracle, with RouterDC's published accuracy where it has one.
`--ngrams K` adds the entry `irtnet-variant`: the default preset with `config.text_ngrams = K` (the text's
character n-gram features, docs/method.md section 1.2; the default reads K = 16, and `--ngrams 0` is the
sentence vector alone); `--variant JSON` adds it with any parameters (an irtnet model spec's `params`, e.g.
'{"config": {"linear_skip": false}}'). Either prints per benchmark the paired difference irtnet-variant minus
irtnet with a 95% bootstrap interval over the test queries (each query's score averaged over the seeds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from irtnet import api
from irtnet.data.dataset import Dataset
from irtnet.data.importers._source import build_table
from irtnet.data.importers.routerdc import file_records
from irtnet.data.splits import split_by_query
from irtnet.data.table import ImportReport
from irtnet.predictors.spec import ModelSpec, build_predictor
from irtnet.tasks.evaluate import score_matrix
from irtnet.tasks.stats import unit_interval, verdict

TRAIN = ["gsm8k-train.json", "humaneval_train.json", "arc_challenge_train.json", "cmmlu_train.json",
         "mmlu_train.json"]
TEST_ID = ["gsm8k-test.json", "humaneval_test.json", "arc_challenge_test.json", "cmmlu_test.json", "mmlu_test.json"]
TEST_OOD = ["MATH_prealgebra.json", "mbpp.json", "ceval.json"]
#: RouterDC's published routing accuracy (%), NeurIPS 2024, Table 1 and 2 (as quoted in the project's brief).
PUBLISHED = {"mmlu": 61.07, "gsm8k": 70.32, "arc_challenge": 58.52, "humaneval": 51.02}
VARIANT = "irtnet-variant"  # the entry of --ngrams or --variant
ENTRIES = {"irtnet": ModelSpec(), "inferred-benchmark-rate": ModelSpec(model="inferred-benchmark-rate"),
           "knn": ModelSpec(model="knn"), "cluster-rate": ModelSpec(model="cluster-rate")}


def table_of(folder: Path, names: list[str]):
    report = ImportReport(source=str(folder))
    records = pd.concat([file_records(folder / n, report) for n in names], ignore_index=True)
    return build_table(records, source=str(folder), report=report)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--json", default=None)
    variant = ap.add_mutually_exclusive_group()
    variant.add_argument("--ngrams", type=lambda v: v if v == "auto" else int(v), default=None,
                         help="also run the default preset with text_ngrams = K (0: the sentence vector alone; "
                              "auto: chosen on each seed's validation queries)")
    variant.add_argument("--variant", type=json.loads, default=None,
                         help="also run the default preset with these params (JSON, as an irtnet model spec's "
                              "`params`), e.g. '{\"config\": {\"linear_skip\": false}}'")
    args = ap.parse_args()
    entries = dict(ENTRIES)
    params = {"config": {"text_ngrams": args.ngrams}} if args.ngrams is not None else args.variant
    if params is not None:
        entries = {"irtnet": ENTRIES["irtnet"], VARIANT: ModelSpec(params=params)} | entries
    folder = Path(args.shared) / "data" / "routerdc" / "datasets" / "split2_model7"
    train_t, test_t = table_of(folder, TRAIN), table_of(folder, TEST_ID + TEST_OOD)
    seen = set(train_t.query_vocab.ids)
    keep = [q for q in test_t.query_vocab.ids if q not in seen]
    print(f"train: {train_t}; test: {test_t}; {test_t.n_queries - len(keep)} test questions also in training "
          "left out")
    train_all = api.prepare(train_t, args.encoder)
    test = api.prepare(test_t, args.encoder).select(keep)
    hidden = Dataset(test.table, test.queries.without_groups())
    models = list(test.table.model_vocab.ids)
    score = test.table.label_matrix(model_ids=models, value="score")
    bench = test.table.queries["benchmark"].to_numpy(dtype=object)
    train_score = train_all.table.label_matrix(model_ids=models, value="score")
    best_single = int(np.nanargmax(np.nanmean(train_score, axis=0)))
    rows: dict[str, dict[str, list[float]]] = {}
    per_query: dict[str, list[np.ndarray]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        # no test part: the test files are the test set (api.make_split refuses an empty test part)
        split = split_by_query(train_t, (0.9, 0.1, 0.0), seed)
        train, val = train_all.select(split.train), train_all.select(split.val)
        for name, spec in entries.items():
            model = build_predictor(spec.model_copy(update={"seed": seed})).fit(train, val)
            if getattr(model, "ngrams_choice_", None) is not None:
                print(f"seed {seed}: {name} chose text_ngrams = {model.ngrams_choice_['chosen']} "
                      f"(validation log loss {model.ngrams_choice_['validation_log_loss']})", flush=True)
            choice = score_matrix(model, hidden).argmax(axis=1)
            got = score[np.arange(len(choice)), choice]
            per_query.setdefault(name, []).append(got)
            for b in sorted(set(bench)):
                rows.setdefault(name, {}).setdefault(b, []).append(float(np.nanmean(got[bench == b])))
            print(f"seed {seed}: {name} done", flush=True)
    refs = {"best single (training)": score[:, best_single], "oracle": np.nanmax(score, axis=1)}
    header = ["benchmark", *entries, *refs, "RouterDC (published)"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    out = {}
    for b in sorted(set(bench)):
        vals = [np.mean(rows[n][b]) * 100 for n in entries] + [float(np.nanmean(r[bench == b])) * 100
                                                            for r in refs.values()]
        out[b] = dict(zip(header[1:], vals)) | {"RouterDC (published)": PUBLISHED.get(b)}
        pub = f"{PUBLISHED[b]:.2f}" if b in PUBLISHED else "-"
        print("| " + " | ".join([b, *[f"{v:.2f}" for v in vals], pub]) + " |")
    if params is not None:
        print(f"\n{VARIANT}: the default preset with {json.dumps(params)}")
        print_paired(per_query, bench)
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "per_benchmark": out}, indent=2))


def print_paired(per_query: dict[str, list[np.ndarray]], bench: np.ndarray) -> None:
    """Per benchmark: the variant minus irtnet, routing accuracy in points, with a 95% bootstrap interval
    over the benchmark's test queries (each query's chosen score averaged over the seeds)."""
    diff = np.mean(per_query[VARIANT], axis=0) - np.mean(per_query["irtnet"], axis=0)
    print(f"{VARIANT} minus irtnet, routing accuracy (points), 95% bootstrap over queries:")
    for b in sorted(set(bench)):
        d = diff[(bench == b) & np.isfinite(diff)]
        lo, hi = unit_interval(np.arange(len(d)), d)
        print(f"  {b}: {100 * d.mean():+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] {verdict(lo, hi, True)} "
              f"({len(d)} queries)")


if __name__ == "__main__":
    main()

"""How well does the text path's benchmark classifier name a query's benchmark, from the embedding alone and
from the embedding plus the text's character n-grams?

    python scripts/benchmark_classifier_check.py runs/tables/llmrouter.parquet runs/tables/mmlu-pro.parquet

Per table: one query split 0.8/0.1/0.1 (seed 0, stratified by benchmark, `split_by_query`), all-MiniLM-L6-v2
vectors, every candidate of `choose_classifier` fitted on the training part and scored on the validation part
(the choice is made there), then the chosen classifier, the best embedding-only one and the best n-gram one
scored on the test part: accuracy and log loss of P(benchmark | text).
"""

from __future__ import annotations

import argparse

import numpy as np

from irtnet.api.data import load_table, prepare
from irtnet.data.splits import split_by_query
from irtnet.predictors.benchmark_classifier import (
    BenchmarkClassifier, TextFeatures, choose_classifier, log_loss_and_accuracy,
)


def check(path: str, encoder: str) -> None:
    table = load_table(path)
    data = prepare(table, encoder)
    split = split_by_query(table, (0.8, 0.1, 0.1), seed=0)
    parts = [data.select(ids) for ids in (split.train, split.val, split.test)]
    names = table.benchmark_vocab
    x, y, t = zip(*[(np.asarray(p.queries.vectors, np.float64), np.asarray(names.index(list(p.queries.groups))),
                     list(p.queries.texts)) for p in parts])
    clf, info = choose_classifier(x[0], y[0], len(names), x[1], y[1], 0, t[0], t[1])
    print(f"{path}: {len(names)} benchmarks, {len(y[0])} training / {len(y[1])} validation / {len(y[2])} test "
          "queries")
    for row in info["tried"]:
        print(f"  validation  C={row['C']:<5} n-grams={row['ngrams']!s:<5}  log loss {row['val_log_loss']:.3f}"
              f"  accuracy {row['val_accuracy']:.3f}")
    tried = info["tried"]
    features = TextFeatures.fit(t[0])
    for label, use_ngrams in (("embedding alone", False), ("embedding + n-grams", True)):
        best = min((r for r in tried if r["ngrams"] == use_ngrams), key=lambda r: r["val_log_loss"])
        fitted = BenchmarkClassifier.fit(x[0], y[0], len(names), best["C"], 0, 300, t[0] if use_ngrams else None,
                                         features if use_ngrams else None)
        loss, acc = log_loss_and_accuracy(fitted, x[2], y[2], t[2] if use_ngrams else None)
        print(f"  test  {label:<20} (C={best['C']})  accuracy {acc:.3f}  log loss {loss:.3f}")
    chosen = tried[info["chosen"]]
    print(f"  chosen on validation: C={chosen['C']}, n-grams {chosen['ngrams']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+")
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    args = parser.parse_args()
    for path in args.tables:
        check(path, args.encoder)


if __name__ == "__main__":
    main()

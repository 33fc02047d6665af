"""What the probe scripts (`*_probe.py`) share: their table arguments, how they print a paired bootstrap, and the
cross-fitted default-against-variant loop of `ngram_probe.py` and `params_probe.py`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from irtnet import api
from irtnet.data.splits import kfold_query_splits
from irtnet.tasks.stats import paired_bootstrap

from cells_blend_probe import OBSERVED, newest_cells  # scripts/cells_blend_probe.py

METRICS = ("auc", "log_loss", "routing", "ece")  # what the held-out-benchmark probes pair
MIN_CLUSTERS = 5  # fewer benchmarks than this: no interval resampling benchmarks is printed


def table_parser(doc: str, folds: int) -> argparse.ArgumentParser:
    """A parser with the table, the number of cross-fitting folds to use and the encoder."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--folds", type=int, default=folds)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    return ap


def load(args: argparse.Namespace) -> tuple[Any, Any]:
    """(the table, its embedded Dataset)."""
    table = api.load_table(args.table)
    return table, api.prepare(table, args.encoder)


def print_paired(title: str, res: dict[str, Any]) -> None:
    """`stats.paired_bootstrap`'s result under a title: per metric A vs B, A - B [interval] and the verdict."""
    print(f"\n{title} ({res['n_queries']} queries):")
    for name, m in res["metrics"].items():
        print(f"  {name:8s} {m['a']:.4f} vs {m['b']:.4f}: {m['diff']:+.4f} [{m['lo']:+.4f}, {m['hi']:+.4f}] "
              f"{m['verdict']}")


def add_pairing_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every default-against-variant probe shares: the comparison cells and routing mode."""
    ap.add_argument("--cells", type=Path, default=None, help="a comparison's cell cache, to pair against its entries")
    ap.add_argument("--dataset", default=None, help="the table's dataset name in that comparison")
    ap.add_argument("--routing", choices=("complete", "observed"), default=None,
                    help="route the queries every model answered (complete), or each query among its labelled "
                         "models (observed); default: as the comparison routes --dataset (observed for zeroeval)")


def run_variants(args: argparse.Namespace, entries: dict[str, dict]) -> None:
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

"""What the probe scripts (`*_probe.py`) share: their table arguments and how they print a paired bootstrap."""

from __future__ import annotations

import argparse
from typing import Any

from irtnet import api

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

"""Run every benchmark in turn (what `make bench` runs) and print their tables.

    python bench/run_all.py                 # the README figures (15 min 54 s on two quiet cores: bench/README.md)
    python bench/run_all.py --quick         # reduced sizes, a few minutes
    python bench/run_all.py --threads 1     # passed on to every script

Sizes: the full run uses each script's defaults (EmbedLLM's shape for training: 112 models x 30,000
queries); --quick shrinks them so the run stays short. Time per epoch is linear in the number of labels,
so ratios between implementations do not depend on the size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "train_speed.py": [],
    "inference_speed.py": [],
    "irt_fit.py": [],
    "scaling.py": [],
    "cli_startup.py": [],
    "classifier_choice.py": [],
    "item_refit.py": [],
}
QUICK = {
    "train_speed.py": ["--queries", "3000", "--ref-batches", "3"],
    "inference_speed.py": ["--queries", "2000", "--ref-queries", "20", "--texts", "200", "--latency-reps", "30"],
    "irt_fit.py": ["--shapes", "112x300"],
    "scaling.py": ["--queries", "1000,10000,100000", "--max-batches", "5"],
    "cli_startup.py": ["--reps", "3"],
    "classifier_choice.py": ["--quick"],
    "item_refit.py": ["--shapes", "300x8x12,1600x68x102", "--repeats", "1"],
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced sizes")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads for every script")
    p.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(FULL))
    args = p.parse_args(argv)
    plan = QUICK if args.quick else FULL
    scripts = args.only.split(",") if args.only else list(plan)
    failed = 0
    for script in scripts:
        extra = plan[script] + (["--threads", str(args.threads)] if args.threads else [])
        print(f"\n$ python bench/{script} {' '.join(extra)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / script), *extra])
        print(f"({script}: {time.perf_counter() - t0:.0f}s, exit {rc})", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up time of the command line: how long `irtnet --help` and an argument error take, beside references.

    python bench/cli_startup.py [--reps 5]

Each case is a fresh interpreter (`subprocess.run`), timed from start to exit; the table gives the median and
the fastest of `--reps` runs. The references are the floor any Python command pays (`python -c pass`) and what a
command that loads a model pays before its first line of work (`import torch`, and `import irtnet.api`, which
brings torch, scikit-learn, scipy and pandas). The irtnet cases need none of those: the command modules import
them inside the commands that use them (tests/unit/test_cli_startup.py checks that importing the CLI loads none).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_line, table  # noqa: E402

PY = sys.executable
CASES = {
    "python -c pass (reference)": ([PY, "-c", "pass"], 0),
    "import torch (reference)": ([PY, "-c", "import torch"], 0),
    "import irtnet.api (reference)": ([PY, "-c", "import irtnet.api"], 0),
    "irtnet --help": ([PY, "-m", "irtnet.cli.main", "--help"], 0),
    "irtnet train --help": ([PY, "-m", "irtnet.cli.main", "train", "--help"], 0),
    "irtnet data import --help": ([PY, "-m", "irtnet.cli.main", "data", "import", "--help"], 0),
    "irtnet route (missing argument: exit 2)": ([PY, "-m", "irtnet.cli.main", "route"], 2),
}


def timed(cmd: list[str], expect: int) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(cmd[1:])} exited {done.returncode}, expected {expect}:\n{done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="runs per case")
    ap.add_argument("--threads", type=int, default=None, help="accepted for run_all.py; unused")
    args = ap.parse_args(argv)
    print("# Command-line start-up, seconds from start to exit (fresh interpreter each run)")
    print(machine_line())
    rows = []
    for name, (cmd, expect) in CASES.items():
        times = [timed(cmd, expect) for _ in range(max(args.reps, 1))]
        rows.append({"case": name, "median": f"{statistics.median(times):.2f}", "fastest": f"{min(times):.2f}",
                     "runs": str(len(times))})
    print()
    print(table(rows, [("case", "case"), ("median", "median s"), ("fastest", "fastest s"), ("runs", "runs")]))


if __name__ == "__main__":
    main()

"""Shared plumbing of the benchmark scripts: one subprocess per measured case, peak memory, tables.

Every script runs as a driver that starts itself again once per case (`--case NAME` plus the driver's own
flags), so each case's peak resident memory (`ru_maxrss`) is its own and not the high-water mark of an
earlier case. The child prints one line `BENCH_RESULT {json}`; the driver collects them into a table.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

TAG = "BENCH_RESULT "


# ----------------------------------------------------------------------------- memory
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Restart the peak-memory count from the current resident size (Linux: /proc/self/clear_refs "5",
    which resets both VmHWM and ru_maxrss). False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_mb() -> float:
    """Resident memory now, MiB (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# ----------------------------------------------------------------------------- cases in subprocesses
def emit(result: dict, case: str | None = None) -> None:
    """Print the result line a driver reads (a child's last act), labelled with its `case` where given."""
    if case is not None:
        result["case"] = case
    result.setdefault("peak_rss_mb", peak_rss_mb())
    print(TAG + json.dumps(result), flush=True)


def run_case(script: str | Path, argv: Sequence[str], case: str, timeout: float | None = None) -> dict:
    """Run `script argv --case case` in a fresh interpreter and return its result dict.

    A failed case gives {"case": case, "error": ...} instead of stopping the whole benchmark.
    """
    cmd = [sys.executable, str(script), *argv, "--case", case]
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "error": f"timed out after {timeout:.0f}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(TAG)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"case": case, "error": f"rc={proc.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1][len(TAG):])
    result.setdefault("case", case)
    result["wall_s"] = time.perf_counter() - t0
    return result


def run_cases(script: str | Path, argv: Sequence[str], cases: Sequence[str], timeout: float | None = None,
              log: Callable[[str], None] | None = None) -> list[dict]:
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    out = []
    for case in cases:
        log(f"  running case {case} ...")
        res = run_case(script, argv, case, timeout)
        if "error" in res:
            log(f"  case {case} FAILED: {res['error']}")
        out.append(res)
    return out


def selected_cases(text: str, known: Sequence[str]) -> list[str]:
    """The comma-separated case names of `--cases`, each checked against `known`."""
    cases = [c for c in text.split(",") if c]
    unknown = set(cases) - set(known)
    if unknown:
        raise SystemExit(f"unknown cases {sorted(unknown)}; choose from {list(known)}")
    return cases


def strip_case(argv: Sequence[str], drop: Sequence[str] = ()) -> list[str]:
    """The driver's own flags minus --case, --cases and the flags in `drop` (each with its value)."""
    names = ("--case", "--cases", *drop)
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in names:
            skip = True
            continue
        if a.startswith(tuple(n + "=" for n in names)):
            continue
        out.append(a)
    return out


# ----------------------------------------------------------------------------- torch and machine
def setup_torch(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def machine_line(threads: int | None = None) -> str:
    """One line that says on what, with how many torch threads and under which load the figures were taken."""
    import torch

    threads = threads or torch.get_num_threads()

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()
    return (f"machine: {cpu}, {os.cpu_count()} logical CPUs, load average {load[0]:.2f}/{load[1]:.2f}/"
            f"{load[2]:.2f} (1/5/15 min); torch {torch.__version__}, {threads} intra-op threads; "
            f"python {platform.python_version()}")


class Timer:
    """Accumulating timer: `with t: ...` adds the block's wall-clock seconds to t.total and the CPU seconds of
    this process (all its threads) to t.cpu. On a machine shared with other work the CPU time is the steadier
    measure of the work done; the wall time is what a user waits."""

    def __init__(self) -> None:
        self.total = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._t0, self._c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.total += time.perf_counter() - self._t0
        self.cpu += time.process_time() - self._c0


# ----------------------------------------------------------------------------- tables
def fmt(value, digits: int = 3) -> str:
    """Numbers with `digits` significant figures, thousands separators for large ones; '-' for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (abs(value) >= 10 ** digits):
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table of `rows`; `columns` = (key, header) pairs."""
    cells = [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, (_, h) in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.rjust(w) if i else v.ljust(w)  # noqa: E731
                                          for i, (v, w) in enumerate(zip(vals, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line([h for _, h in columns]), sep, *(line(c) for c in cells)])


def errors(rows: Sequence[dict]) -> str:
    bad = [f"- case {r['case']}: {r['error']}" for r in rows if "error" in r]
    return ("\nfailed cases:\n" + "\n".join(bad)) if bad else ""


def exit_code(rows: Sequence[dict]) -> int:
    """1 when any case failed (so `run_all.py` and CI see it), else 0."""
    return 1 if any("error" in r for r in rows) else 0

"""The item refit of `irtnet estimate` (`tasks.item_refit.refit_items`): one BLAS thread against the process's.

    python bench/item_refit.py                         # three shapes, 3 repeats each
    python bench/item_refit.py --shapes 1600x68x102 --repeats 5

`refit_items` refits every pool item's (a, b) by Newton's method on the known models' labels: per step, Q
small systems built and solved at once (`np.linalg.solve`), of size M (the known models) where M < d + 1, else
d + 1. It runs them with one BLAS thread (`blas_threads=1`, the default). Two references run beside it: the same
call with `blas_threads=None`, the BLAS threads the process has (OpenBLAS: one per core), and `direct`, the
(d + 1)-sized systems whatever M (the refit before 2026-12-03). All sides take the same seeded inputs and must
return the same parameters (the largest difference from ours is printed). Shapes are `QxMxd` (pool items x known
models x ability dimension): the estimation demo's size, CRUXEval's under the default preset (1,600 items,
68 models, a 3-seed ensemble of 32 + 2 dimensions), MMLU-Pro's (12,032 items, 29 models, 32 + 14) and
llmrouter's half of the known models that `irtnet estimate` refits on (5,989 items, 5 models, 3 x (32 + 14)).

Times are the median over `--repeats` runs of each side, the sides alternating (ours first on odd repeats),
wall and CPU seconds of the process. On a machine with other work running, the CPU seconds show what
threads that wait on each other burn. Nothing else is measured here; `--threads` sets torch's threads
(unused by the refit; accepted like every script's) and `--cases` picks among `ours`, `reference` and `direct`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_line, setup_torch  # noqa: E402

CASES = {"ours": 1, "reference": None, "direct": 1}  # blas_threads of each side


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="300x8x12,1600x68x102,12032x29x46,5989x5x138", help="comma-separated QxMxd")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--timeout", type=float, default=None, help="accepted for run_all; each side runs to the end")
    return p.parse_args(argv)


def inputs(q: int, m: int, d: int, seed: int) -> tuple[np.ndarray, ...]:
    """(a [q, d], b [q], labels [q, m] with 10% unlabelled, theta [m, d]) from a planted 2PL."""
    rng = np.random.default_rng(seed)
    a, b, theta = rng.normal(0, 0.3, (q, d)), rng.normal(0, 1, q), rng.normal(0, 1, (m, d))
    labels = (rng.random((q, m)) < 1 / (1 + np.exp(-(a @ theta.T - b[:, None])))).astype(np.float64)
    labels[rng.random((q, m)) < 0.1] = np.nan
    return a, b, labels, theta


def timed(case: str, args: tuple[np.ndarray, ...]) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s, the refitted [a | b]) of one call; `direct` solves the (d + 1)-sized systems even where
    there are fewer known models (the refit before the models-sized step)."""
    from irtnet.tasks import item_refit

    models_step = item_refit._step_in_models
    if case == "direct":
        item_refit._step_in_models = item_refit._step_in_parameters
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        a, b = item_refit.refit_items(*args, prior_sd=1.0, blas_threads=CASES[case])
        return time.perf_counter() - wall, time.process_time() - cpu, np.column_stack([a, b])
    finally:
        item_refit._step_in_models = models_step


def measure(shape: str, cases: list[str], repeats: int, seed: int) -> list[str]:
    """Markdown rows of one shape: each case's median wall and CPU seconds, and the reference over ours."""
    q, m, d = (int(v) for v in shape.lower().split("x"))
    args = inputs(q, m, d, seed)
    times: dict[str, list[tuple[float, float]]] = {c: [] for c in cases}
    out: dict[str, np.ndarray] = {}
    for r in range(repeats):
        for case in cases if r % 2 == 0 else cases[::-1]:
            wall, cpu, out[case] = timed(case, args)
            times[case].append((wall, cpu))
    med = {c: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for c, v in times.items()}
    diff = max(float(np.abs(out[cases[0]] - out[c]).max()) for c in cases)
    rows = []
    for case in cases:
        wall, cpu = med[case]
        ratio = f"{wall / med['ours'][0]:.1f}x" if "ours" in med else "-"
        rows.append(f"| {shape} | {case} | {wall:.3f} | {cpu:.3f} | {ratio} | {diff:.1e} |")
    return rows


def main(argv=None) -> int:
    args = parse(argv)
    setup_torch(args.threads)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown or not cases:
        raise SystemExit(f"--cases: unknown {unknown}; choose from {sorted(CASES)}")
    from threadpoolctl import threadpool_info

    import irtnet.tasks.item_refit  # noqa: F401 - loads every BLAS the refit uses (numpy's, scipy's)

    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
                     if i["user_api"] == "blas")
    print(machine_line())
    print(f"BLAS libraries loaded: {blas}; median of {args.repeats} repeats, sides alternating\n")
    print("| shape QxMxd | case | wall s | CPU s | wall vs ours | largest difference |")
    print("|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        for row in measure(shape, cases, args.repeats, args.seed):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

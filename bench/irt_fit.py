"""Classical 2PL: irtnet's `fit_2pl_newton` and `fit_2pl` against girth and mirt on the same synthetic matrix.

    python bench/irt_fit.py                                   # shapes 112x1000 and 1000x200 (models x items)
    python bench/irt_fit.py --shapes 112x30000 --cases ours   # EmbedLLM's full shape, ours only
    python bench/irt_fit.py --shapes 112x36000,1000x100000 --timeout 300   # large shapes, 5 min per case

Truth: theta ~ N(0, 1), girth-style difficulty beta ~ N(0, 1), discrimination a ~ U(0.5, 2); responses
from girth's own generator `create_synthetic_irt_dichotomous` (P = sigmoid(a (theta - beta))), so neither
side fits data made by its own code. irtnet's 2PL is written P = sigmoid(a theta - b), so its difficulty
in girth's form is beta = b / a; the table reports recovery of a, beta and theta as Pearson correlations
with the truth (invariant to the scale each method fixes).

Each case runs in its own subprocess per shape and is timed after one warm-up fit on an 8 x 30 matrix
(imports, compilation), so the figures are the fit alone. Cases:
  newton      irtnet.predictors.baselines.fit_2pl_newton: MAP (theta, beta ~ N(0, 1), log a ~ N(0, 1)) by
              blockwise Fisher scoring on the dense items x models matrix, exact steps along the gauge.
  ours        irtnet.predictors.baselines.irt.fit_2pl: MAP by full-batch L-BFGS on the observed pairs.
  girth-mml   girth.twopl_mml (marginal ML over a N(0,1) ability distribution; its own ability estimates).
  girth-jml   girth.twopl_jml (joint ML; it returns item parameters only) + girth.ability_map for theta.
  mirt        PyPI `mirt` (Rust-backed EM, marginal ML over N(0,1) with 21 Gauss-Hermite points):
              mirt.fit_mirt(y, model="2PL", compute_standard_errors=False) + mirt.fscores(..., "EAP") for theta.
              Its 2PL is P = sigmoid(a (theta - b)), girth's form, so its difficulty is compared as is.
              Optional: not a project dependency (`pip install mirt`); skipped with a line when not importable.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (emit, errors, exit_code, machine_line, run_cases, selected_cases,  # noqa: E402
                      setup_torch, strip_case, table)

ALL_CASES = ("newton", "ours", "girth-mml", "girth-jml", "mirt")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="112x1000,1000x200", help="comma-separated MODELSxITEMS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cases", default=",".join(ALL_CASES))
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("--shape", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def truth(n_models: int, n_items: int, seed: int):
    """(theta [M], a [Q], beta [Q], responses [Q, M] in {0, 1}) from girth's generator."""
    from girth.synthetic import create_synthetic_irt_dichotomous

    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, n_models)
    a = rng.uniform(0.5, 2.0, n_items)
    beta = rng.normal(0, 1, n_items)
    y = create_synthetic_irt_dichotomous(beta, a, theta, seed=seed + 1)
    return theta, a, beta, np.asarray(y, dtype=np.int64)


def fit_ours(y: np.ndarray):
    from irtnet.predictors.baselines.irt import fit_2pl

    n_items, n_models = y.shape
    item_idx, model_idx = np.indices(y.shape).reshape(2, -1)
    theta, a, b = fit_2pl(model_idx, item_idx, y.reshape(-1).astype(np.float64), n_models, n_items)
    return theta, a, b / a


def fit_newton(y: np.ndarray):
    from irtnet.predictors.baselines import fit_2pl_newton

    n_items, n_models = y.shape
    item_idx, model_idx = np.indices(y.shape).reshape(2, -1)
    fit = fit_2pl_newton(model_idx, item_idx, y.reshape(-1).astype(np.float64), n_models, n_items)
    a = fit.a[:, 0]
    return fit.theta[:, 0], a, fit.b / a


def fit_girth_mml(y: np.ndarray):
    import girth

    est = girth.twopl_mml(y)
    return est["Ability"], est["Discrimination"], est["Difficulty"]


def fit_girth_jml(y: np.ndarray):
    import girth

    est = girth.twopl_jml(y)  # returns item parameters only
    a, beta = est["Discrimination"], est["Difficulty"]
    return girth.ability_map(y, beta, a), a, beta


def fit_mirt(y: np.ndarray):
    import mirt

    data = np.ascontiguousarray(y.T)  # mirt wants persons x items; here persons are the models
    res = mirt.fit_mirt(data, model="2PL", compute_standard_errors=False)
    params = res.model.parameters
    a, beta = np.ravel(params["discrimination"]), np.ravel(params["difficulty"])  # P = sigmoid(a (theta - b))
    theta = np.ravel(mirt.fscores(res, data, method="EAP").theta)
    return theta, a, beta


def mirt_version() -> str | None:
    """mirt's version, or None when it is not importable (the case is then skipped)."""
    try:
        import mirt
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return str(getattr(mirt, "__version__", "?"))


FITS = {"newton": fit_newton, "ours": fit_ours, "girth-mml": fit_girth_mml, "girth-jml": fit_girth_jml, "mirt": fit_mirt}


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def run_case(args) -> dict:
    setup_torch(args.threads)
    n_models, n_items = (int(v) for v in args.shape.split("x"))
    theta, a, beta, y = truth(n_models, n_items, args.seed)
    FITS[args.case](truth(8, 30, args.seed + 7)[3])  # warm-up: imports and first-call costs, every case alike
    t0, c0 = time.perf_counter(), time.process_time()
    est_theta, est_a, est_beta = FITS[args.case](y)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"shape": args.shape, "seconds": seconds, "cpu_s": cpu, "r_a": _corr(est_a, a),
            "r_beta": _corr(est_beta, beta), "r_theta": _corr(np.asarray(est_theta, float), theta)}


def main(argv=None) -> int | None:
    args = parse(argv)
    if args.case:
        emit(run_case(args), args.case)
        return
    cases = selected_cases(args.cases, ALL_CASES)
    print("# Classical 2PL fit: irtnet fit_2pl_newton and fit_2pl vs girth and mirt, same synthetic matrix (dense)")
    print(machine_line(args.threads))
    mirt_ver = mirt_version() if "mirt" in cases else None
    if "mirt" in cases and mirt_ver is None:
        print("mirt: not importable, skipping the mirt rows (optional; `pip install mirt` to include them)")
        cases = [c for c in cases if c != "mirt"]
    elif mirt_ver:
        print(f"mirt {mirt_ver}: fit_mirt(model='2PL', compute_standard_errors=False) + fscores(method='EAP')")
    rows = []
    base = strip_case(sys.argv[1:] if argv is None else argv, drop=("--shapes",))
    for shape in args.shapes.split(","):
        rows += [dict(r, shape=shape) for r in run_cases(__file__, [*base, "--shape", shape], cases, args.timeout)]
    print()
    print(table(rows, [("shape", "models x items"), ("case", "method"), ("seconds", "fit s"), ("cpu_s", "CPU s"),
                       ("r_a", "r(a)"), ("r_beta", "r(difficulty)"), ("r_theta", "r(theta)"),
                       ("peak_rss_mb", "peak RSS MiB")]))
    print("r = Pearson correlation with the planted truth; difficulty in girth's form beta (irtnet: b / a); "
          "girth-jml's time includes girth.ability_map for theta; mirt's includes fscores (EAP) for theta." + errors(rows))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

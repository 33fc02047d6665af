"""Routing on the test queries once held-out models are added (docs/estimation.md): the checkpoint with the
new models added (`onboard.with_new_model`, theta from N random answers) against the model retrained with
their answers and against HierShrink as a router (`predictors.baselines.text_rates.ClusterRate`, per (model,
text cluster) rates shrunk with HierShrink's 24 pseudo-answers, fitted on the same answers).

Routing accuracy counts every model on the queries every model answered ("complete"); where no query is
complete (a pooled table whose models answered different benchmarks), each query among its labelled models
("observed"), and the row says which. AUC and log loss are scored on the held-out models' pairs only. Draws are
pooled and compared with `stats.paired_bootstrap`, whose resamples draw the draws with replacement and then
queries within each (a 95% interval that holds the spread between draws, and a win / tie / loss). A metric
with nothing to score (e.g. held-out models that answered no test query: no pair for AUC and log loss) is still
a row, NaN with verdict "n/a" and its reason, never left out.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np

from irtnet.errors import DataError
from irtnet.tasks.routing import scorable
from irtnet.tasks.stats import paired_bootstrap

OTHERS = ("retrain", "hiershrink")


def routing_rows(parts: dict[int, list[dict[str, np.ndarray]]], n_boot: int = 2000, seed: int = 0
                 ) -> list[dict[str, Any]]:
    """Per N (the keys of `parts`), one row per (other router, metric): irtnet-added minus it, pooled over the
    draws (`parts[n]`: per draw {"y" [Q, M], "irtnet-added" [Q, M], "retrain"?, "hiershrink"? [Q, M],
    "new" [M] bool}), with the paired bootstrap interval and verdict. A metric no router can differ on (no
    labelled pair to score, `stats._no_comparison`) is a row with NaN figures, verdict "n/a" and its "reason",
    never left out; any other error of the comparison is a DataError naming N and the router."""
    rows = []
    for n, draws in sorted(parts.items()):
        rows += _rows_at(n, draws, n_boot, seed)
    return rows


def _rows_at(n: int, draws: list[dict[str, np.ndarray]], n_boot: int, seed: int) -> list[dict[str, Any]]:
    """`routing_rows`' rows of one N: routing on every model's labels, AUC and log loss on the held-out models'."""
    y = np.vstack([d["y"] for d in draws])
    pa = np.vstack([d["irtnet-added"] for d in draws])
    masked = np.vstack([np.where(d["new"][None, :], d["y"], np.nan) for d in draws])
    mode = "complete" if scorable(y, "complete")[0].any() else "observed"  # no query answered by every model
    mask = None if mode == "complete" else scorable(y, mode)[0]
    clusters = np.concatenate([np.full(len(d["y"]), i) for i, d in enumerate(draws)])
    rows = []
    for other, (metrics, labels, whose) in product((b for b in OTHERS if all(b in d for d in draws)),
                                                   ((("routing",), y, "test"), (("auc", "log_loss"), masked,
                                                                                 "held-out models' test"))):
        pb = np.vstack([d[other] for d in draws])
        if not (~np.isnan(labels)).any():
            res = _undefined(len(labels), metrics, f"no labelled {whose} pair to score on")
        else:
            try:
                res = paired_bootstrap(labels, pa, pb, n_boot, seed, routing_mask=mask, metrics=metrics,
                                       clusters=clusters)
            except DataError as e:  # never a row left out quietly: say which comparison failed
                raise DataError(f"routing with the held-out models added, N = {n}, irtnet-added against {other}: "
                                f"{e.reason}", field=e.field) from e
        for name, m in res["metrics"].items():
            rows.append({"n": n, "metric": name, "a_method": "irtnet-added", "b_method": other,
                         "a": m["a"], "b": m["b"], "diff": m["diff"], "lo": m["lo"], "hi": m["hi"],
                         "verdict": m["verdict"], "n_queries": res["n_queries"], "n_draws": len(draws),
                         "resampled": "draws, then queries within each",
                         **({"reason": m["reason"]} if m.get("reason") else {}),
                         **({"routing_mode": mode} if name == "routing" else {})})
    return rows


def _undefined(n_queries: int, metrics: tuple[str, ...], reason: str) -> dict[str, Any]:
    """`paired_bootstrap`'s answer where there is nothing to score: every metric NaN, verdict "n/a", with why."""
    nan = float("nan")
    return {"n_queries": n_queries, "metrics": {m: {"a": nan, "b": nan, "diff": nan, "lo": nan, "hi": nan,
                                                    "verdict": "n/a", "reason": reason} for m in metrics}}

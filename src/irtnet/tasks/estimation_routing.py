"""Routing on the test queries once held-out models are added (docs/estimation.md): the checkpoint with the
new models added (`onboard.with_new_model`, theta from N random answers) against the model retrained with
their answers and against HierShrink as a router (`predictors.baselines.text_rates.ClusterRate`, per (model,
text cluster) rates shrunk with HierShrink's 24 pseudo-answers, fitted on the same answers).

Routing accuracy counts every model on the queries every model answered ("complete"); where no query is
complete (a pooled table whose models answered different benchmarks), each query among its labelled models
("observed"), and the row says which. AUC and log loss are scored on the held-out models' pairs only. Draws are
pooled and compared with `stats.paired_bootstrap`, whose resamples draw the draws with replacement and then
queries within each (a 95% interval that holds the spread between draws, and a win / tie / loss).
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
    "new" [M] bool}), with the paired bootstrap interval and verdict."""
    rows = []
    for n, draws in sorted(parts.items()):
        y = np.vstack([d["y"] for d in draws])
        pa = np.vstack([d["irtnet-added"] for d in draws])
        masked = np.vstack([np.where(d["new"][None, :], d["y"], np.nan) for d in draws])
        mode = "complete" if scorable(y, "complete")[0].any() else "observed"  # no query answered by every model
        mask = None if mode == "complete" else scorable(y, mode)[0]
        clusters = np.concatenate([np.full(len(d["y"]), i) for i, d in enumerate(draws)])
        for other, (metrics, labels) in product((b for b in OTHERS if all(b in d for d in draws)),
                                                ((("routing",), y), (("auc", "log_loss"), masked))):
            pb = np.vstack([d[other] for d in draws])
            try:
                res = paired_bootstrap(labels, pa, pb, n_boot, seed, routing_mask=mask, metrics=metrics,
                                       clusters=clusters)
            except DataError:
                continue
            for name, m in res["metrics"].items():
                rows.append({"n": n, "metric": name, "a_method": "irtnet-added", "b_method": other,
                             "a": m["a"], "b": m["b"], "diff": m["diff"], "lo": m["lo"], "hi": m["hi"],
                             "verdict": m["verdict"], "n_queries": res["n_queries"], "n_draws": len(draws),
                             "resampled": "draws, then queries within each",
                             **({"routing_mode": mode} if name == "routing" else {})})
    return rows

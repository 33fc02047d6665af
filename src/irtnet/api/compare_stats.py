"""Paired statistics of a comparison: the focus entry (irtnet) against every other entry, per dataset and
setting, from the test predictions each cell stored (`<cells>/<key>.npz`).

Every entry of a (dataset, setting) was scored on the same test queries (the same split for every model), so
the differences are paired: queries are resampled with replacement, the same resample for both sides
(`irtnet.tasks.stats.paired_bootstrap`), and a difference counts as a win or a loss only when its 95% interval
excludes zero. Under K-fold cross-fitting each query is tested exactly once, so the folds' test sets are
concatenated into one set of queries; with several seeds (or several single splits), each (seed, query) is one
unit of resampling, which counts a query once per seed.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.tasks.routing import scorable
from irtnet.tasks.stats import HIGHER_IS_BETTER, paired_bootstrap, routing_disagreement

SETTINGS = ("query", "text")
METRICS = ("auc", "log_loss", "routing", "ece")
_SCORES = {"query": "scores_known", "text": "scores_text"}


def stored_units(cells: list[dict[str, Any]], cells_dir: Path, setting: str) -> dict[tuple[int, Any], dict[str, Any]]:
    """(seed, fold) -> the stored predictions of one entry's ok cells (each a dict with its cell file's `key`,
    `status`, `seed` and `fold`) in `setting`."""
    out = {}
    for c in cells:
        stored = read_predictions(cells_dir / f"{c['key']}.npz", (_SCORES[setting],)) if c["status"] == "ok" else None
        if stored is not None:
            out[(c["seed"], c.get("fold"))] = stored
    return out


def has_predictions(path: Path, scores: tuple[str, ...]) -> bool:
    """Whether `path` is a readable predictions archive listing every array `read_predictions` takes; only its zip
    directory is read (a truncated file has none), the arrays are left for the statistics to decompress once."""
    try:
        with np.load(path) as f:
            return {"labels", "queries", "models", *scores} <= set(f.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def read_predictions(path: Path, scores: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """A cell's stored predictions (labels, query and model ids and the `scores` arrays), or None where the
    file is missing or damaged (truncated, not a zip, an array missing): as a damaged cell .json, it counts
    as absent, and the cell is computed again."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            return {k: f[k] for k in ("labels", "queries", "models", *scores)}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None


def _stack(units: dict, keys: list, setting: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([units[k]["labels"] for k in keys]).astype(np.float64),
            np.concatenate([units[k][_SCORES[setting]] for k in keys]).astype(np.float64))


def _as_probability(scores: np.ndarray) -> np.ndarray:
    """Scores of a router without probabilities, squeezed into (0, 1) row by row keeping their order (only
    routing is compared for such a router)."""
    lo, hi = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    return 0.01 + 0.98 * (scores - lo) / np.where(hi > lo, hi - lo, 1.0)


def compare_entries(focus: dict, other: dict, keys: list, setting: str, mode: str, n_boot: int,
                    probabilities: bool) -> dict[str, Any]:
    """The paired bootstrap of `focus` minus `other` on the units `keys`."""
    for k in keys:
        same = (np.array_equal(focus[k]["queries"], other[k]["queries"])
                and np.array_equal(focus[k]["models"], other[k]["models"]))
        if not same:
            raise ValueError(f"split {k}: the two entries were scored on different queries or models")
    y, p_a = _stack(focus, keys, setting)
    _, p_b = _stack(other, keys, setting)
    metrics = METRICS if probabilities else ("routing",)
    if not probabilities:
        p_a, p_b = _as_probability(p_a), _as_probability(p_b)
    mask = None if mode == "complete" else scorable(y, mode)[0]
    out = paired_bootstrap(y, p_a, p_b, n_boot=n_boot, seed=0, routing_mask=mask, metrics=metrics)
    return out | {"routing_disagreement": routing_disagreement(y, p_a, p_b, mask)}


def paired_tables(results: dict[str, Any], cells_dir: str | Path) -> list[dict[str, Any]]:
    """One table per (dataset, setting): the focus entry against every other scored entry, and against the
    best other entry per metric (best by point estimate).

    Every comparison of a table is on the same units (the splits the focus entry was scored on), so the rows,
    and the point estimates the best other entry is picked by, measure the same test queries. An entry without
    predictions on one of those splits (a failed, pending or absent cell) is therefore not compared on a subset:
    it is left out of the rows and of the best-other pick, and named with those splits in `left_out`
    ({entry: ['seed 1', ...]}), which the Markdown prints beside the verdicts."""
    spec, cells_dir = results["spec"], Path(cells_dir)
    focus = spec.get("focus") or spec["models"][0]["name"]
    tables = []
    for ds in spec["datasets"]:
        mode = ds.get("routing_mode") or spec["routing_mode"]
        for setting in SETTINGS:
            sub = [c for c in results["cells"] if c["dataset"] == ds["name"] and c["setting"] == setting]
            mine = stored_units([c for c in sub if c["label"] == focus], cells_dir, setting)
            if not mine:
                reason = _not_applicable([c for c in sub if c["label"] == focus])
                if reason:  # e.g. a table without query texts: the verdict row says why there is none
                    tables.append({"dataset": ds["name"], "setting": setting, "focus": focus, "units": 0,
                                   "n_queries": 0, "rows": {}, "best_other": {}, "unavailable": reason})
                continue
            keys = sorted(mine, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
            rows, left_out = {}, {}
            for entry in spec["models"]:
                label = entry["name"]
                if label == focus:
                    continue
                cells = [c for c in sub if c["label"] == label]
                theirs = stored_units(cells, cells_dir, setting)
                if not all(k in theirs for k in keys):  # named in left_out unless "n/a" there by design
                    missing = _missing_splits(cells, theirs, keys)
                    if missing:
                        left_out[label] = missing
                    continue
                # the correctness metrics need probabilities on both sides: a focus router without them has
                # scores of any range, which are no probabilities for the other entry's to be compared with
                probs = _has_probabilities(sub, focus) and _has_probabilities(sub, label)
                rows[label] = compare_entries(mine, theirs, keys, setting, mode, spec.get("n_boot", 2000), probs)
            tables.append({"dataset": ds["name"], "setting": setting, "focus": focus, "units": len(keys),
                           "n_queries": sum(len(mine[k]["queries"]) for k in keys), "rows": rows,
                           "best_other": _best_other(rows), "left_out": left_out})
    return tables


def _missing_splits(cells: list[dict[str, Any]], stored: dict[tuple[int, Any], Any], keys: list) -> list[str]:
    """The splits of `keys` (the focus entry's) that an entry has no stored predictions on ('seed 1',
    'seed 0 fold 2'): its cell failed, is pending, or is absent. A split where the entry is "n/a" by design (an
    item-seen model in the query setting, a text reader on a table without texts) is none: such an entry is no
    candidate there, and the tables say so."""
    na = {(c["seed"], c.get("fold")) for c in cells if c["status"] == "n/a"}
    return [split_name(k) for k in keys if k not in stored and k not in na]


def split_name(key: tuple[int, Any]) -> str:
    """'seed 0', or 'seed 0 fold 1' under cross-fitting: a (seed, fold) unit as the tables name it."""
    seed, fold = key
    return f"seed {seed}" if fold is None else f"seed {seed} fold {fold}"


def _has_probabilities(cells: list[dict[str, Any]], label: str) -> bool:
    """Whether the scored cells of entry `label` give probabilities (correctness figures), not only scores."""
    return all(c["result"].get("correctness") is not None for c in cells if c["label"] == label and c["status"] == "ok")


def _not_applicable(cells: list[dict[str, Any]]) -> str | None:
    """The reason when every one of the focus entry's cells is "n/a", else None."""
    if cells and all(c["status"] == "n/a" for c in cells):
        return str(cells[0].get("error") or "n/a")
    return None


#: A verdict for the focus entry, from the least to the most favourable to it.
_FAVOUR = {"loss": 0, "n/a": 1, "tie": 1, "win": 2}


def _best_other(rows: dict[str, Any]) -> dict[str, Any]:
    """Per metric: the other entry with the best point estimate, and the focus entry's verdict against it.
    Entries tied on the best estimate (routing accuracy often is: a count of queries) are the best alike, so the
    pick is the one the focus fares worst against (a loss before a tie before a win; then the spec's order): a
    win is never claimed over a best entry that the focus does not beat. A NaN estimate is never the best beside a
    number; where every estimate is NaN the row says so (the first such entry, its difference NaN, its verdict
    n/a), not nothing."""
    out = {}
    for metric in METRICS:
        have = {label: r["metrics"][metric] for label, r in rows.items() if metric in r["metrics"]}
        finite = [v["b"] for v in have.values() if not math.isnan(v["b"])]
        if not have:
            continue
        best = (max if HIGHER_IS_BETTER[metric] else min)(finite) if finite else math.nan
        tied = [label for label, v in have.items() if v["b"] == best] or list(have)
        pick = min(tied, key=lambda label: _FAVOUR.get(have[label]["verdict"], 1))
        out[metric] = {"entry": pick, **have[pick]}
    return out

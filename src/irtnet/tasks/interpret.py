"""Interpretation of a fitted IRT model (docs/method.md section 2.6): what its parameters say.

- `difficulty_correlation`: predicted difficulty b_q, the normalised difficulty b_q / ||a_q|| (the
  multidimensional IRT "MDIFF": where along a_q's direction the success probability is one half) and the
  predicted mean accuracy, each against the empirical accuracy of the query (mean label over its labelled
  models), at query level and at benchmark level (benchmark means). Use unseen (test) queries: on training
  queries the correlation is inflated by fitting.
- `ability_profile`: predicted accuracy of each model on each benchmark ([G, M] mean probability).
- `ability_map`: a 2-D PCA of the ability vectors. Gauge: a . theta is unchanged by theta -> A theta,
  a -> A^-T a, so distances and directions of theta are those of the gauge the training's weight decay
  fixed; clusters are meaningful only relative to each other within one fitted model.
- `model_families`: the models' `family` metadata if present, else a name heuristic (`family_of`).
- `item_curves`: item characteristic curves along each query's own direction a_q / ||a_q||:
  P(t) = sigmoid(||a_q|| t - b_q) with t = theta . a_q / ||a_q|| the model's ability projected on it.
- `discrimination_ranking`: the queries with the largest and smallest ||a_q||.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from irtnet.numeric import sigmoid

#: Family keywords searched in lower-cased model names (first match wins; longer names first where one
#: contains another, e.g. "mixtral" before "mistral", "codegemma" before "gemma", "codellama"/"code-llama").
FAMILY_KEYWORDS = ("gpt", "claude", "gemini", "codegemma", "gemma", "code-llama", "codellama", "llama",
                   "mixtral", "mistral", "qwen", "deepseek", "yi", "phi", "command", "falcon", "wizardlm",
                   "zephyr", "dolphin", "metamath", "vicuna", "olmo", "internlm", "glm", "baichuan", "grok",
                   "nemotron", "starcoder", "granite", "jamba", "dbrx", "hermes", "solar", "chatqa")


def family_of(name: str) -> str:
    """A model's family from its name: the first `FAMILY_KEYWORDS` entry found as a word-ish token in the
    lower-cased name without its organisation prefix ("meta-llama/Meta-Llama-3-8B" -> "llama"); else the
    name's first alphabetic token ("foo-7b" -> "foo")."""
    base = name.lower().split("/")[-1]
    tokens = set(re.split(r"[^a-z]+", base))
    for key in FAMILY_KEYWORDS:
        if ("-" in key and key in base) or key in tokens or any(t.startswith(key) for t in tokens if len(key) > 3):
            return key.replace("-", "")
    first = re.match(r"[a-z]+", base)
    return first.group(0) if first else base


def model_families(models: Any) -> list[str]:
    """Family of each row of a table's `models` frame: its `family` column where set, else `family_of`."""
    names = models["model"].astype(str).tolist()
    if "family" in models.columns:
        fam = models["family"].tolist()
        return [str(f) if isinstance(f, str) and f else family_of(n) for f, n in zip(fam, names)]
    return [family_of(n) for n in names]


def _corr(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": int(len(x)), "pearson": float("nan"), "spearman": float("nan")}
    return {"n": int(len(x)), "pearson": float(stats.pearsonr(x, y)[0]), "spearman": float(stats.spearmanr(x, y)[0])}


def empirical_accuracy(labels: np.ndarray, min_models: int = 3) -> np.ndarray:
    """Mean label of each query over its labelled models [Q]; NaN with fewer than `min_models` labels."""
    n = (~np.isnan(labels)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        acc = np.nanmean(np.where(n[:, None] > 0, labels, 0.0), axis=1)
    return np.where(n >= min_models, acc, np.nan)


def difficulty_correlation(a: np.ndarray, b: np.ndarray, prob: np.ndarray, labels: np.ndarray,
                           groups: np.ndarray, min_models: int = 3) -> dict[str, Any]:
    """Correlations of b [Q], b/||a|| and -mean prob [Q, M] with empirical query accuracy (labels [Q, M]),
    per query and per benchmark (means over each benchmark's queries). Difficulty should correlate
    negatively with accuracy; the predicted mean accuracy positively."""
    acc = empirical_accuracy(labels, min_models)
    measures = {"b": b, "b_over_norm_a": b / np.maximum(np.linalg.norm(a, axis=1), 1e-12),
                "predicted_accuracy": np.nanmean(np.where(np.isnan(labels), np.nan, prob), axis=1)}
    out: dict[str, Any] = {"query": {k: _corr(v, acc) for k, v in measures.items()}}
    names = sorted(set(np.asarray(groups).tolist()))
    bench = {k: np.array([np.nanmean(v[groups == g]) for g in names]) for k, v in measures.items()}
    bench_acc = np.array([np.nanmean(np.where(np.isnan(labels[groups == g]), np.nan, labels[groups == g]))
                          for g in names])
    out["benchmark"] = {k: _corr(v, bench_acc) for k, v in bench.items()}
    out["benchmarks"] = {str(g): {"accuracy": float(bench_acc[i]), "mean_b": float(bench["b"][i])}
                         for i, g in enumerate(names)}
    return out


def ability_profile(prob: np.ndarray, groups: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(benchmark names, [G, M] mean predicted probability per benchmark and model)."""
    names = sorted(set(np.asarray(groups).tolist()))
    return [str(g) for g in names], np.stack([prob[np.asarray(groups) == g].mean(axis=0) for g in names])


@dataclass
class AbilityMap:
    """2-D PCA coordinates [M, 2] of the ability vectors and the variance share of each axis."""

    coords: np.ndarray
    explained: np.ndarray


def ability_map(theta: np.ndarray) -> AbilityMap:
    """Principal-component projection of the abilities [M, d] (centred; no scaling, see the gauge note)."""
    x = np.asarray(theta, np.float64) - np.asarray(theta, np.float64).mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, len(s))
    coords = np.zeros((len(x), 2))
    coords[:, :k] = x @ vt[:k].T
    var = s ** 2
    explained = np.zeros(2)
    explained[:k] = var[:k] / var.sum() if var.sum() > 0 else 0.0
    return AbilityMap(coords, explained)


def item_curves(a: np.ndarray, b: np.ndarray, theta: np.ndarray, grid: np.ndarray | None = None,
                scale: np.ndarray | None = None, shift: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ICCs along each query's direction: (t grid [T], P [n, T], model positions t_m [n, M]).

    a [n, d], b [n] are the chosen queries' parameters, theta [M, d] the models' abilities; `scale`, `shift` [n]
    the calibration the model applies to each query's logit (P = sigmoid(scale * logit + shift); default none).
    """
    norm = np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    t_models = theta @ (a / norm[:, None]).T  # [M, n]
    if grid is None:
        span = max(np.abs(t_models).max(), np.abs(b / norm).max()) * 1.3 + 1e-6
        grid = np.linspace(-span, span, 121)
    scale = np.ones(len(b)) if scale is None else np.asarray(scale, np.float64)
    shift = np.zeros(len(b)) if shift is None else np.asarray(shift, np.float64)
    p = sigmoid(scale[:, None] * (norm[:, None] * grid[None, :] - b[:, None]) + shift[:, None])
    return grid, p, t_models.T


def discrimination_ranking(a: np.ndarray, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the n most discriminating queries, of the n least), by ||a_q||."""
    order = np.argsort(-np.linalg.norm(a, axis=1), kind="stable")
    return order[:n], order[::-1][:n]


def choose_icc_queries(a: np.ndarray, b: np.ndarray, n: int = 4) -> list[int]:
    """Queries worth drawing: most and least discriminating, easiest and hardest (by b/||a||), distinct."""
    norm = np.linalg.norm(a, axis=1)
    mdiff = b / np.maximum(norm, 1e-12)
    picks: list[int] = []
    for i in (np.argmax(norm), np.argmin(norm), np.argmin(mdiff), np.argmax(mdiff)):
        if int(i) not in picks:
            picks.append(int(i))
    return picks[:n]


def query_table(ids: Sequence[str], texts: Sequence[str | None], groups: Sequence[str], a: np.ndarray,
                b: np.ndarray, positions: Sequence[int], width: int = 160) -> list[dict[str, Any]]:
    """Rows (id, benchmark, ||a||, b, text excerpt) of the queries at `positions`."""
    norm = np.linalg.norm(a, axis=1)
    return [{"query": ids[i], "benchmark": str(groups[i]), "norm_a": float(norm[i]), "b": float(b[i]),
             "text": (texts[i] or "")[:width]} for i in positions]

"""A seeded synthetic generator with a known multidimensional IRT ground truth.

    x_q   = mu_benchmark(q) + noise                      query features, [Q, F]
    a_q   = softplus(x_q W_a + 0.5)                      discrimination, [Q, d] (positive)
    b_q   = x_q w_b + offset_benchmark(q)                difficulty, [Q]
    theta = family centre + noise                        ability, [M, d]
    y     ~ Bernoulli(sigmoid(a_q . theta_m - b_q))

a and b are functions of the features, so a model that reads the features (or the generated texts,
which spell the features out in words) can recover them. This is the built-in default data set of
`irtnet demo` and the planted structure of the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irtnet.data.embeddings import QueryEmbeddings
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError
from irtnet.numeric import irt_probability

BENCHMARK_NAMES = ("algebra", "biology", "coding", "history", "law", "physics", "poetry", "chemistry",
                   "geography", "logic", "medicine", "music")
_TOPIC_WORDS = {
    "algebra": "equation variable solve polynomial factor", "biology": "cell gene protein organism enzyme",
    "coding": "function loop array compile recursion", "history": "empire war treaty dynasty revolution",
    "law": "contract court statute plaintiff liability", "physics": "force energy momentum field particle",
    "poetry": "verse rhyme meter stanza sonnet", "chemistry": "molecule reaction acid bond catalyst",
    "geography": "river mountain climate border continent", "logic": "premise inference valid proof clause",
    "medicine": "diagnosis symptom dose patient therapy", "music": "chord melody tempo harmony scale",
}
#: The most (model, query) pairs `check_size` and `make_synthetic` allow by default (`irtnet demo` checks it
#: through `check_size`): the demo, generation to routing, peaked at 1.1 GB for 40 x 25,000 (about 1 KB a pair
#: over a 0.2 GB base), so about 2 GB at the limit.
MAX_CELLS = 2_000_000
_FEATURE_WORDS = ("red orange yellow green blue indigo violet black white grey silver golden amber "
                  "coral ivory olive azure crimson scarlet teal navy maroon beige khaki lilac ochre "
                  "sepia umber cyan magenta jade ruby onyx pearl topaz opal garnet copper bronze "
                  "cobalt emerald lemon lime mint peach plum rose sand slate snow steel tan wine").split()


@dataclass
class SyntheticData:
    """The generated table plus the planted truth, all addressed by the table's vocabularies."""

    table: ResponseTable
    features: QueryEmbeddings
    theta: np.ndarray      # [n_models, dim], rows in table.model_vocab order
    a: np.ndarray          # [n_queries, dim], rows in table.query_vocab order
    b: np.ndarray          # [n_queries]
    prob: np.ndarray       # [n_queries, n_models] true probabilities


def _features(rng: np.random.Generator, n_queries: int, n_benchmarks: int, feature_dim: int):
    bench = rng.integers(0, n_benchmarks, size=n_queries)
    centres = rng.normal(0, 1.5, size=(n_benchmarks, feature_dim))
    return bench, centres[bench] + rng.normal(0, 1, size=(n_queries, feature_dim))


def _item_parameters(rng: np.random.Generator, x: np.ndarray, bench: np.ndarray, dim: int, n_benchmarks: int):
    f = x.shape[1]
    w_a = rng.normal(0, 1 / np.sqrt(f), size=(f, dim))
    w_b = rng.normal(0, 1.2 / np.sqrt(f), size=f)
    offset = rng.normal(0, 1.0, size=n_benchmarks)
    a = np.logaddexp(0, x @ w_a + 0.5)
    return a, x @ w_b + offset[bench]


def _texts(rng: np.random.Generator, x: np.ndarray, bench_names: list[str]) -> list[str]:
    """Each feature's sign and size spelled as repeated colour words, after the benchmark's topic words."""
    f = x.shape[1]
    pos, neg = _FEATURE_WORDS[:f], _FEATURE_WORDS[f: 2 * f]
    out = []
    for row, name in zip(x, bench_names):
        words = _TOPIC_WORDS[name].split()
        for j, v in enumerate(row):
            words += [pos[j] if v > 0 else neg[j]] * int(min(4, round(abs(v))))
        rng.shuffle(words)
        out.append(f"{name} question: " + " ".join(words))
    return out


def check_size(n_models: int, n_queries: int, max_cells: int = MAX_CELLS, *,
               names: tuple[str, str] = ("n_models", "n_queries")) -> None:
    """ConfigError unless both sizes are positive integers and n_models x n_queries <= `max_cells`; `names`: how
    the message calls the two sizes (the CLI passes its option names)."""
    _check_positive(dict(zip(names, (n_models, n_queries))))
    if n_models * n_queries > max_cells:
        raise ConfigError(f"{names[0]} x {names[1]} = {n_models} x {n_queries} = {n_models * n_queries:,} (model, "
                          f"query) pairs, above the limit of {max_cells:,} (every pair is held in memory, about 1 KB "
                          "each): ask for fewer models or queries")


def _check_positive(sizes: dict[str, int]) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def make_synthetic(
    n_models: int = 30,
    n_queries: int = 2000,
    n_benchmarks: int = 4,
    dim: int = 3,
    feature_dim: int = 16,
    n_families: int = 3,
    density: float = 1.0,
    text: bool = True,
    seed: int = 0,
    max_cells: int | None = MAX_CELLS,
) -> SyntheticData:
    """Generate a response table from a planted multidimensional 2PL model (see module docstring).

    `density` is the share of (model, query) pairs observed; every query keeps at least one label.
    Texts need `feature_dim` <= 24 (one pair of colour words per feature). Every size must be a positive
    integer (ConfigError naming it). n_models x n_queries above `max_cells` (default `MAX_CELLS`; None: no
    limit) is a ConfigError (`check_size`), not a MemoryError after trying to allocate it.
    """
    _check_positive({"n_models": n_models, "n_queries": n_queries, "dim": dim, "feature_dim": feature_dim,
                     "n_families": n_families})
    if max_cells is not None:
        _check_positive({"max_cells": max_cells})
        check_size(n_models, n_queries, max_cells)
    if not 1 <= n_benchmarks <= len(BENCHMARK_NAMES):
        raise ConfigError(f"n_benchmarks must be in 1..{len(BENCHMARK_NAMES)}")
    if text and feature_dim > len(_FEATURE_WORDS) // 2:
        raise ConfigError(f"texts need feature_dim <= {len(_FEATURE_WORDS) // 2}")
    if not 0 < density <= 1:
        raise ConfigError("density must be in (0, 1]")
    rng = np.random.default_rng(seed)
    bench, x = _features(rng, n_queries, n_benchmarks, feature_dim)
    a, b = _item_parameters(rng, x, bench, dim, n_benchmarks)
    family = rng.integers(0, n_families, size=n_models)
    theta = rng.normal(0, 1.0, size=(n_families, dim))[family] + rng.normal(0, 0.6, size=(n_models, dim))
    # centre the difficulties so the average logit is 0: a base rate near one half, whatever the seed
    b = b + float((a @ theta.T).mean() - b.mean())
    prob = irt_probability(theta, a, b)
    labels = (rng.random(prob.shape) < prob).astype(np.int8)
    observed = rng.random(prob.shape) < density
    observed[np.arange(n_queries), rng.integers(0, n_models, size=n_queries)] = True
    observed[rng.integers(0, n_queries, size=n_models), np.arange(n_models)] = True

    model_ids = [f"family{family[m]}-model{m:03d}" for m in range(n_models)]
    query_ids = [f"q{q:06d}" for q in range(n_queries)]
    names = [BENCHMARK_NAMES[k] for k in bench]
    qi, mi = np.nonzero(observed)
    records = pd.DataFrame({
        "model": np.asarray(model_ids, dtype=object)[mi], "query": np.asarray(query_ids, dtype=object)[qi],
        "n_correct": labels[qi, mi].astype(np.float64), "n_trials": 1.0,
    })
    queries = pd.DataFrame({"query": query_ids, "benchmark": names,
                            "text": _texts(rng, x, names) if text else None})
    models = pd.DataFrame({"model": model_ids, "family": [f"family{f}" for f in family]})
    report = ImportReport(source=f"synthetic(seed={seed})", notes=["generated by irtnet.data.synthetic"])
    table = ResponseTable.from_records(records, queries=queries, models=models, source=report.source, report=report)
    # The table sorts ids; ids were generated in sorted order, so truth rows already line up.
    assert table.model_vocab.ids == tuple(sorted(model_ids)) and table.query_vocab.ids == tuple(query_ids)
    m_order = np.argsort(model_ids)
    features = QueryEmbeddings(Vocab("query", query_ids), x.astype(np.float32), "synthetic-features")
    return SyntheticData(table, features, theta[m_order], a, b, prob[:, m_order])

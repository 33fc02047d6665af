"""Benchmark data: response sets of a given shape as the trainer's query-major `LabelArrays`.

- `planted_arrays`: fast and memory-lean (no pandas, no dense models x queries matrix unless the data is
  dense): unit-norm random "embeddings", a planted low-dimensional 2PL truth, labels drawn only for the
  observed pairs. Used for every timing because it scales to 1M queries x 1000 models.
- `synthetic_arrays`: the project's own generator (`make_synthetic`, feature_dim = embedding dim) through
  the real `ResponseTable` -> `Dataset` -> `build_arrays` path. Slower to build (about a minute for
  112 x 30k on a 2-core machine) and it holds a dense [Q, M] probability matrix; the training it feeds costs
  the same.
"""

from __future__ import annotations

import numpy as np
import torch

from irtnet.training.batching import LabelArrays


def _embeddings(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    for s in range(0, n, 1 << 16):  # sentence encoders give unit vectors; chunks keep temporaries small
        x[s:s + (1 << 16)] /= np.linalg.norm(x[s:s + (1 << 16)], axis=1, keepdims=True)
    return x


def _observed_pairs(rng: np.random.Generator, n_models: int, n_queries: int, density: float):
    """Sorted (query, model) codes of the observed pairs; every query keeps at least one label."""
    if density >= 0.5:  # draw a mask query by query block (never the whole [Q, M] at once for big Q)
        parts = []
        for s in range(0, n_queries, 65536):
            q = min(65536, n_queries - s)
            keep = rng.random((q, n_models)) < density
            keep[np.arange(q), rng.integers(0, n_models, q)] = True
            parts.append(np.flatnonzero(keep) + s * n_models)
        codes = np.concatenate(parts)
    else:  # sample with replacement and deduplicate: no mask of size Q x M
        n_draw = int(round(density * n_models * n_queries))
        one_each = np.arange(n_queries, dtype=np.int64) * n_models + rng.integers(0, n_models, n_queries)
        codes = np.unique(np.concatenate([one_each, rng.integers(0, n_models * n_queries, n_draw, dtype=np.int64)]))
    return codes // n_models, codes % n_models


def planted_arrays(n_models: int, n_queries: int, d_in: int = 384, density: float = 1.0, true_dim: int = 8,
                   seed: int = 0) -> LabelArrays:
    """Labels of `density` of all (model, query) pairs, in the query-major CSR layout the trainer uses."""
    rng = np.random.default_rng(seed)
    x = _embeddings(rng, n_queries, d_in)
    w_a = rng.normal(0, 1.0, size=(d_in, true_dim)).astype(np.float32)
    a = np.logaddexp(0, x @ w_a).astype(np.float32)                 # [Q, k] positive discriminations
    b = x @ rng.normal(0, 2.0, size=d_in).astype(np.float32)        # [Q]
    theta = rng.normal(0, 1.0, size=(n_models, true_dim)).astype(np.float32)
    if density >= 1.0:
        q = np.repeat(np.arange(n_queries), n_models)
        m = np.tile(np.arange(n_models), n_queries)
    else:
        q, m = _observed_pairs(rng, n_models, n_queries, density)
    y = np.empty(len(q), dtype=np.float32)
    for s in range(0, len(q), 1 << 22):  # chunks bound the [P, k] temporaries
        qs, ms = q[s:s + (1 << 22)], m[s:s + (1 << 22)]
        logit = np.einsum("pk,pk->p", a[qs], theta[ms]) - b[qs]
        y[s:s + len(qs)] = rng.random(len(qs)) < 1 / (1 + np.exp(-logit))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(q, minlength=n_queries))]).astype(np.int64)
    return LabelArrays(x=torch.from_numpy(x), groups=None, indptr=indptr, model=torch.from_numpy(m.astype(np.int64)),
                       target=torch.from_numpy(y), weight=torch.ones(len(y)), label=torch.from_numpy(y.copy()))


def synthetic_arrays(n_models: int, n_queries: int, d_in: int = 384, density: float = 1.0,
                     seed: int = 0) -> LabelArrays:
    """The same shape through `make_synthetic` and the real `build_arrays` path."""
    from irtnet.data.dataset import Dataset
    from irtnet.data.synthetic import make_synthetic
    from irtnet.training.batching import build_arrays

    s = make_synthetic(n_models=n_models, n_queries=n_queries, n_benchmarks=10, dim=8, feature_dim=d_in,
                       density=density, text=False, seed=seed)
    data = Dataset.from_table(s.table, s.features)
    return build_arrays(data, s.table.model_vocab, None, target="label")


def make_arrays(kind: str, n_models: int, n_queries: int, d_in: int, density: float, seed: int) -> LabelArrays:
    if kind == "planted":
        return planted_arrays(n_models, n_queries, d_in, density, seed=seed)
    if kind == "synthetic":
        return synthetic_arrays(n_models, n_queries, d_in, density, seed=seed)
    raise ValueError(f"unknown data kind {kind!r}: use 'planted' or 'synthetic'")


def pair_arrays(arrays: LabelArrays) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The same labels as flat (query, model, target) columns, as the pair-by-pair reference reads them."""
    q = torch.from_numpy(np.repeat(np.arange(arrays.n_queries), np.diff(arrays.indptr)))
    return q, arrays.model, arrays.target

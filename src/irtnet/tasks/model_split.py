"""Replay items the replayed models never trained: the known models split into folds, one auxiliary network per
fold trained without that fold's models.

A new model's interval gets its width from replaying the known models through its design
(`estimate.replay_errors`). On the checkpoint's own items that replay is optimistic: the known models' answers on
the pool trained the item network, so its items fit them better than they fit a model it never saw.
`model_split_replay` removes that part: for each fold k of the known models it trains `make_predictor()` on the
other known models only, reads the pool's items from that auxiliary network (refitted on the other models'
answers with the same item prior sd as the checkpoint's items, `item_refit.refit_items`), and replays fold k's
models on them, each under the ability prior built from the auxiliary network's abilities (the fold's own models
are not among them). The result plugs into `estimate.estimate_accuracy(replay_items=..., replay_priors=...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from irtnet.errors import ConfigError
from irtnet.tasks.item_refit import refit_items
from irtnet.tasks.onboard import Prior, population_prior


def model_folds(n_models: int, folds: int, seed: int) -> list[np.ndarray]:
    """A seeded partition of range(n_models) into min(folds, n_models) folds of near-equal size, each sorted."""
    if folds < 2:
        raise ConfigError(f"a model split needs at least 2 folds, got {folds}")
    if n_models < 3:
        raise ConfigError(f"a model split needs at least 3 known models, got {n_models}")
    order = np.random.default_rng(seed).permutation(n_models)
    return [np.sort(f) for f in np.array_split(order, min(folds, n_models))]


def model_split_replay(make_predictor: Callable[[], Any], train: Any, val: Any | None, pool_queries: Any,
                       known_ids: Sequence[str], known_labels: np.ndarray, folds: int, prior_sd: float,
                       prior_kind: str, strength: float = 1.0, seed: int = 0,
                       progress: Callable[[str], None] | None = None,
                       ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[Prior]]:
    """(replay items [(a [Q, d], b [Q], columns of known_labels)], one replay prior per known model) from one
    auxiliary network per fold of the known models (module docstring).

    train, val: Datasets of the checkpoint's training (and validation) queries, with at least the known models;
    pool_queries: the pool's Queries, in known_labels' row order; known_labels [Q, M] in known_ids' order."""
    labels = np.asarray(known_labels, np.float64)
    known_ids = list(known_ids)
    if labels.shape[1] != len(known_ids):
        raise ConfigError(f"{labels.shape[1]} label columns for {len(known_ids)} known models")
    replay: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    priors: list[Prior | None] = [None] * len(known_ids)
    for k, cols in enumerate(model_folds(len(known_ids), folds, seed)):
        others = np.setdiff1d(np.arange(len(known_ids)), cols)
        names = [known_ids[c] for c in others]
        if progress:
            progress(f"replay fold {k}: training without {', '.join(known_ids[c] for c in cols)}")
        aux = make_predictor().fit(train.select(model_ids=names), None if val is None else val.select(model_ids=names))
        a, b = (np.asarray(x, np.float64) for x in aux.query_parameters(pool_queries))
        position = {m: i for i, m in enumerate(aux.models_.ids)}
        theta = np.asarray(aux.abilities_, np.float64)[[position[m] for m in names]]
        a, b = refit_items(a, b, labels[:, others], theta, prior_sd)
        replay.append((a, b, cols))
        prior = population_prior(theta, strength, prior_kind)
        for c in cols:
            priors[c] = prior
    return replay, [p for p in priors if p is not None]

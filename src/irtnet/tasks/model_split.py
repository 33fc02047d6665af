"""Replay items the replayed models never trained: the known models split into folds, one auxiliary network per
fold trained without that fold's models.

A new model's interval gets its width from replaying the known models through its design
(`estimate.replay_errors`). On the checkpoint's own items that replay is optimistic: the known models' answers on
the pool trained the item network, so its items fit them better than they fit a model it never saw.
The functions here remove that part: for each fold k of the known models it trains `make_predictor()` on the
other known models only, reads the pool's items from that auxiliary network (refitted on the other models'
answers with the same item prior sd as the checkpoint's items, `item_refit.refit_items`), and replays fold k's
models on them, each under the ability prior built from the auxiliary network's abilities (the fold's own models
are not among them). The result plugs into `estimate.estimate_accuracy(replay_items=..., replay_priors=...)`.
`fold_networks` trains the networks (once per draw, or once per `irtnet estimate` command for every round),
`replay_on_folds` refits their items at the chosen item prior sd, and `fold_priors` builds the replay's priors
at a strength (one per number of answers, where the strength is chosen at each).

Measured on RouterBench (7 known models, docs/estimation.md "Intervals"): a small part of the intervals'
shortfall, +0.006 in width at N = 100; it is off by default (`replay_folds=0`) as it costs K trainings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from irtnet.errors import ConfigError
from irtnet.tasks.item_refit import refit_items
from irtnet.tasks.onboard import Prior, population_prior


def check_replay_folds(folds: int) -> None:
    """ConfigError unless `folds` is 0 (replay on the checkpoint itself) or at least 2 (checked before any
    training, as `model_folds` is reached only after the checkpoint's)."""
    if folds == 1 or folds < 0:
        raise ConfigError(f"replay folds must be 0 (replay on the checkpoint) or at least 2, got {folds}")


def model_folds(n_models: int, folds: int, seed: int) -> list[np.ndarray]:
    """A seeded partition of range(n_models) into min(folds, n_models) folds of near-equal size, each sorted."""
    if folds < 2:
        raise ConfigError(f"a model split needs at least 2 folds, got {folds}")
    if n_models < 3:
        raise ConfigError(f"a model split needs at least 3 known models, got {n_models}")
    order = np.random.default_rng(seed).permutation(n_models)
    return [np.sort(f) for f in np.array_split(order, min(folds, n_models))]


@dataclass
class FoldNetwork:
    """One auxiliary network's view of the pool: the fold's columns of the known models (replayed on it), the
    other columns (it was trained on them), its items a [Q, d], b [Q] and those models' abilities [M - |fold|, d]."""

    cols: np.ndarray
    others: np.ndarray
    a: np.ndarray
    b: np.ndarray
    theta: np.ndarray


def fold_networks(make_predictor: Callable[[], Any], train: Any, val: Any | None, pool_queries: Any,
                  known_ids: Sequence[str], folds: int, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> list[FoldNetwork]:
    """One network per fold of the known models (`model_folds`), each `make_predictor()` fitted on `train` (and
    `val`: Datasets with at least the known models) without that fold's models, and read on `pool_queries`."""
    known_ids = list(known_ids)
    out = []
    for k, cols in enumerate(model_folds(len(known_ids), folds, seed)):
        others = np.setdiff1d(np.arange(len(known_ids)), cols)
        names = [known_ids[c] for c in others]
        if progress:
            progress(f"replay fold {k}: training without {', '.join(known_ids[c] for c in cols)}")
        aux = make_predictor().fit(train.select(model_ids=names), None if val is None else val.select(model_ids=names))
        a, b = (np.asarray(x, np.float64) for x in aux.query_parameters(pool_queries))
        position = {m: i for i, m in enumerate(aux.models_.ids)}
        theta = np.asarray(aux.abilities_, np.float64)[[position[m] for m in names]]
        out.append(FoldNetwork(cols, others, a, b, theta))
    return out


def replay_on_folds(nets: Sequence[FoldNetwork], known_labels: np.ndarray, prior_sd: float, prior_kind: str,
                    strength: float = 1.0) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[Prior]]:
    """(replay items [(a, b, columns)], one prior per known model): each network's items refitted on the models
    it was trained on (`item_refit.refit_items`, prior sd `prior_sd`; known_labels [Q, M] on the networks'
    Q items), and its fold's models under the prior of its abilities (`fold_priors`)."""
    labels = np.asarray(known_labels, np.float64)
    replay = [(*refit_items(net.a, net.b, labels[:, net.others], net.theta, prior_sd), net.cols) for net in nets]
    return replay, fold_priors(nets, labels.shape[1], prior_kind, strength)


def fold_priors(nets: Sequence[FoldNetwork], n_known: int, prior_kind: str, strength: float = 1.0) -> list[Prior]:
    """One prior per known model (of `n_known`): its fold network's abilities' population prior."""
    priors: list[Prior | None] = [None] * n_known
    for net in nets:
        prior = population_prior(net.theta, strength, prior_kind)
        for c in net.cols:
            priors[c] = prior
    missing = [c for c, p in enumerate(priors) if p is None]
    if missing:
        raise ConfigError(f"no fold holds known model column(s) {missing}")
    return priors  # type: ignore[return-value]  # every entry set, as just checked

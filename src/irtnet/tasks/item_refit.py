"""Item parameters refined on the known models' answers, for estimating a new model's accuracy.

The checkpoint predicts each item's (a_q, b_q) from its text. Where the known models answered the pool's
items, each item's parameters are refitted by MAP with those models' abilities held fixed and a Gaussian
prior centred on the text prediction:

    (a_q, b_q) = argmax  sum_m log P(y_qm | sigmoid(a . theta_m - b))  -  |(a, b) - (a_q, b_q)_text|^2 / (2 s^2)

s = 0 keeps the text's parameters; a large s approaches a free per-item fit (tinyBenchmarks' IRT, which
these known models' answers alone determine). `choose_priors` picks s, together with the kind of the new
model's ability prior, on the known models themselves (the held-out models are never looked at): the known
models are split in two halves; each half's items are refitted on the other half's answers, and the other
half plays new models answering `n_answers` random items; the pair with the lowest mean absolute error of the
plug-in per-benchmark accuracy wins (the first of equal ones). Then, at that pair, `choose_strength` picks the
strength of the new model's ability prior (the scale of its precision) on the same halves: each pseudo-new model's
ability is fitted from its `n_answers` random answers and scored by the log loss of its answers to `held`
queries the network never trained on (the protocol's validation queries, with the text's items, as routing reads
test queries), or, without them, of its pool items it did not answer (biased toward weak priors where the
network fitted those models' pool answers); the lowest mean wins (1, the known models' own spread, first among
equal ones). The strength is chosen only where asked (`strength=None`, `--prior-strength auto`); by
default it is 1. `irtnet estimate` and the estimation protocol make the item prior's choices at `CHOICE_ANSWERS`
answers through `refit_for_new_models`, the one entry point; the strength, where chosen, is chosen again at each
number of answers a new model brings (`strength_at`: the stand-ins answer that many items), as the prior's
weight against the answers is what changes with their number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from irtnet.errors import ConfigError, DataError
from irtnet.tasks.onboard import Prior, fit_theta, population_prior

ITEM_PRIOR_GRID = (0.0, 0.3, 1.0, 3.0)  # prior standard deviations s tried by `choose_priors`
PRIOR_KINDS = ("isotropic", "population")  # ability priors tried by `choose_priors`
STRENGTH_GRID = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 2.0)  # ability prior strengths tried by `choose_strength`, 1 first
#: The number of answers the item prior and the ability prior's kind are chosen at, in `irtnet estimate` and the
#: estimation protocol alike: fixed, so that choice depends on the checkpoint and the pool, not on how many answers
#: a new model brought (chosen at each N instead, the planned items' error at N = 50 rose on ZeroEval,
#: docs/estimation.md). Only a chosen strength follows N (`refit_for_new_models(strength_at=...)`).
CHOICE_ANSWERS = 100
NEWTON_STEPS = 15


def refit_items(a: np.ndarray, b: np.ndarray, known_labels: np.ndarray, known_theta: np.ndarray,
                prior_sd: float, blas_threads: int | None = 1) -> tuple[np.ndarray, np.ndarray]:
    """(a [Q, d], b [Q]) refitted on known_labels [Q, M] (NaN = unanswered) at abilities known_theta [M, d].

    `blas_threads`: the BLAS threads the Q small Newton systems run with (None: as the process has them). One
    is the default: threads inside each small solve only contend (bench/item_refit.py measures both)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    labels, theta = np.asarray(known_labels, np.float64), np.asarray(known_theta, np.float64)
    if labels.shape != (len(b), len(theta)) or theta.shape[1:] != a.shape[1:]:
        raise DataError(f"known labels {labels.shape} and abilities {theta.shape} do not match items {a.shape}",
                        field="known_labels")
    if prior_sd <= 0:
        return a, b
    d = a.shape[1]
    x = np.hstack([theta, -np.ones((len(theta), 1))])            # [M, d + 1]
    w0 = np.hstack([a, b[:, None]])                              # [Q, d + 1]
    w, mask, y = w0.copy(), ~np.isnan(labels), np.nan_to_num(labels)
    c = 1.0 / prior_sd ** 2
    step = _step_in_models if len(theta) < d + 1 else _step_in_parameters
    with threadpool_limits(blas_threads, user_api="blas"):
        for _ in range(NEWTON_STEPS):                            # the log posterior is concave: plain Newton
            p = expit(w @ x.T)
            grad = ((y - p) * mask) @ x - c * (w - w0)
            w = w + step(grad, p * (1 - p) * mask, x, c)
    return w[:, :d], w[:, d]


def _step_in_parameters(grad: np.ndarray, weights: np.ndarray, x: np.ndarray, c: float) -> np.ndarray:
    """Newton steps H^-1 g [Q, d + 1] with H = x^T diag(weights_q) x + c I: one (d + 1)-sized system per item."""
    hess = np.matmul(x.T[None] * weights[:, None, :], x) + c * np.eye(x.shape[1])  # [Q, d + 1, d + 1]
    return np.linalg.solve(hess, grad[..., None])[..., 0]


def _step_in_models(grad: np.ndarray, weights: np.ndarray, x: np.ndarray, c: float) -> np.ndarray:
    """The same steps through one M-sized system per item, for fewer known models M than parameters d + 1
    (Woodbury, with S = diag(sqrt(weights_q)): H^-1 g = (g - x^T S (c I + S x x^T S)^-1 S x g) / c). A 3-seed
    ensemble on a table of 14 benchmarks has d + 1 = 139 parameters per item and llmrouter's halves 4-5 models:
    [Q, 139, 139] systems (900 MB a step on 6,000 items) become [Q, 5, 5]."""
    s = np.sqrt(weights)                                                          # [Q, M]
    inner = s[:, :, None] * (x @ x.T)[None] * s[:, None, :] + c * np.eye(len(x))  # [Q, M, M]
    z = np.linalg.solve(inner, ((grad @ x.T) * s)[..., None])[..., 0]
    return (grad - (z * s) @ x) / c


def _plug_in_error(a, b, groups, labels, theta_mean, precision, n_answers: int, rng) -> list[float]:
    """Absolute errors of observed + predicted per-benchmark accuracy for each column of labels [Q, M']."""
    errors = []
    for m in range(labels.shape[1]):
        items = np.flatnonzero(~np.isnan(labels[:, m]))
        if len(items) <= n_answers:
            continue
        idx = rng.choice(items, n_answers, replace=False)
        p = expit(a @ fit_theta(a[idx], b[idx], labels[idx, m], theta_mean, precision) - b)
        answered = np.zeros(len(b), bool)
        answered[idx] = True
        for g in np.unique(groups[items]):
            gi = items[groups[items] == g]
            est = np.where(answered[gi], labels[gi, m], p[gi]).mean()
            errors.append(abs(est - labels[gi, m].mean()))
    return errors


Held = tuple[np.ndarray, np.ndarray, np.ndarray]  # (a [Qv, d], b [Qv], labels [Qv, M]) of held-out queries


def _unanswered_log_loss(a, b, labels, theta_mean, precision, n_answers: int, rng,
                         held: Held | None = None) -> tuple[float, int]:
    """(summed log loss, count) of each column of labels [Q, M'] on its labelled items it did not answer, its
    ability fitted from `n_answers` random labelled items (the draws of `_plug_in_error`'s rng order); with
    `held` (its labels' columns those of `labels`), on those queries instead of the unanswered pool items."""
    total, count = 0.0, 0
    for m in range(labels.shape[1]):
        items = np.flatnonzero(~np.isnan(labels[:, m]))
        if len(items) <= n_answers:
            continue
        idx = rng.choice(items, n_answers, replace=False)
        theta = fit_theta(a[idx], b[idx], labels[idx, m], theta_mean, precision)
        if held is None:
            ta, tb, ty = (x[np.setdiff1d(items, idx)] for x in (a, b, labels[:, m]))
        else:
            keep = ~np.isnan(held[2][:, m])
            ta, tb, ty = held[0][keep], held[1][keep], held[2][keep, m]
        z = ta @ theta - tb
        total += float(np.sum(np.logaddexp(0.0, z) - ty * z))  # -log P(y) under sigmoid(z)
        count += len(ty)
    return total, count


def _halves(n_models: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n_models)
    return order[: n_models // 2], order[n_models // 2:]


Halves = tuple[np.ndarray, np.ndarray]
Refits = dict[tuple[float, int], tuple[np.ndarray, np.ndarray]]


def _refits(a, b, labels, theta, grid: Sequence[float], seed: int) -> tuple[Refits, Halves]:
    """({(s, half): items refitted on that half at prior sd s}, the halves) of the two-fold cross-fit."""
    halves = _halves(labels.shape[1], seed)
    return {(float(s), h): refit_items(a, b, labels[:, fit], theta[fit], s)
            for s in grid for h, fit in enumerate(halves)}, halves


def _scores(groups, labels, theta, refits: Refits, halves: Halves, n_answers: int, kinds: Sequence[str],
            grid: Sequence[float], strength: float, seed: int) -> dict[str, float]:
    """{"kind s": mean absolute error} of the cross-fit's plug-in estimates from `n_answers` answers."""
    n = max(1, min(int(n_answers), labels.shape[0] // 2))
    scores: dict[str, float] = {}
    for kind in kinds:
        priors = [population_prior(theta[fit], strength, kind) for fit in halves]
        for s in grid:
            errors: list[float] = []
            for h, test_half in enumerate(halves[::-1]):  # items and prior from half h, tested on the other
                ra, rb = refits[(float(s), h)]
                errors += _plug_in_error(ra, rb, groups, labels[:, test_half], priors[h].mean, priors[h].precision,
                                         n, np.random.default_rng(seed))
            scores[f"{kind} {float(s)}"] = float(np.mean(errors)) if errors else float("inf")
    return scores


def choose_priors(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], known_labels: np.ndarray,
                  known_theta: np.ndarray, n_answers: int = 100, kinds: Sequence[str] = PRIOR_KINDS,
                  grid: Sequence[float] = ITEM_PRIOR_GRID, strength: float = 1.0,
                  seed: int = 0) -> tuple[str, float, dict[str, float]]:
    """(ability prior kind, item prior sd s, {"kind s": mean absolute error}) chosen together by two-fold
    cross-fitting over the known models (module docstring), each half's ability prior built from the other
    half's abilities (`onboard.population_prior(..., kind)`). "population" (the abilities' own covariance)
    lets a few answers move the many dimensions of an ability together, "isotropic" keeps them apart; which
    serves a table better is an empirical matter, hence the choice. Fewer than 4 known models:
    (kinds[0], 0.0, {})."""
    labels, theta = np.asarray(known_labels, np.float64), np.asarray(known_theta, np.float64)
    if labels.shape[1] < 4:
        return kinds[0], 0.0, {}
    refits, halves = _refits(a, b, labels, theta, grid, seed)
    scores = _scores(np.asarray(groups, dtype=object), labels, theta, refits, halves, n_answers, kinds, grid,
                     strength, seed)
    return (*_best(scores), scores)


def choose_strength(labels: np.ndarray, theta: np.ndarray, refits: Refits, halves: Halves, kind: str, sd: float,
                    n_answers: int, grid: Sequence[float] = STRENGTH_GRID, seed: int = 0, held: Held | None = None
                    ) -> tuple[float, dict[str, float]]:
    """(strength, {strength: mean log loss}) of the new model's ability prior, on `_refits`' halves at the
    chosen (kind, sd): each half's prior, at each strength, from the other half's abilities (module docstring);
    scored on the unanswered pool items, or on `held` queries (columns: the known models) where given."""
    n = max(1, min(int(n_answers), labels.shape[0] // 2))
    scores: dict[str, float] = {}
    for strength in grid:
        total, count = 0.0, 0
        for h, (fit, test_half) in enumerate(zip(halves, halves[::-1])):
            prior = population_prior(theta[fit], strength, kind)
            ra, rb = refits[(float(sd), h)]
            part = None if held is None else (held[0], held[1], held[2][:, test_half])
            t, c = _unanswered_log_loss(ra, rb, labels[:, test_half], prior.mean, prior.precision, n,
                                        np.random.default_rng(seed), part)
            total, count = total + t, count + c
        scores[str(float(strength))] = total / count if count else float("inf")
    best = min(scores, key=lambda k: (scores[k], list(scores).index(k)))
    return float(best), scores


def _best(scores: dict[str, float]) -> tuple[str, float]:
    best = min(scores, key=lambda k: (scores[k], list(scores).index(k)))
    kind, s = best.split(" ")
    return kind, float(s)


@dataclass
class ItemRefit:
    """What a new model's estimate runs on: the items (a [Q, d], b [Q]), the ability prior, the cross-fitted
    items to replay the known models on (None when the text's items were kept), the record of the choice,
    and each known model's own prior for the replay (None without known models' labels)."""

    a: np.ndarray
    b: np.ndarray
    prior: Prior
    replay: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None
    record: dict[str, Any]
    replay_priors: list[Prior] | None = None
    at: dict[int, tuple[Prior, list[Prior]]] = field(default_factory=dict)  # per number of answers (strength_at)

    def priors(self, n: int) -> tuple[Prior, list[Prior] | None]:
        """(the new model's prior, the replay's priors) for a new model with n answers."""
        return self.at.get(int(n), (self.prior, self.replay_priors))


def leave_one_out_priors(theta: np.ndarray, strength: float = 1.0, kind: str = "isotropic") -> list[Prior]:
    """Per known model m (a row of theta [M, d]), the ability prior built from the other models' abilities:
    a replayed known model must not sit in its own prior, as a new model does not (with few known models, the
    population covariance of all of them holds each one's direction, and its replay would look too good)."""
    return [population_prior(np.delete(theta, m, axis=0), strength, kind) for m in range(len(theta))]


def refit_for_new_models(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], known_labels: np.ndarray | None,
                         known_theta: np.ndarray | None, abilities: np.ndarray, n_answers: int = CHOICE_ANSWERS,
                         strength: float | None = 1.0, seed: int = 0, held: Held | None = None,
                         strength_at: Sequence[int] = ()) -> ItemRefit:
    """Choose the item prior sd and the ability prior's kind at `n_answers` answers (`choose_priors`' criterion,
    at strength 1 when `strength` is None), then, with `strength` None, the ability prior's strength
    (`choose_strength`, on `held` queries where given) at `n_answers` and again at each number of answers in
    `strength_at` (`ItemRefit.priors(n)`); refit the items on every known model and keep each half's
    cross-fitted items for the replay (the cross-fit's own refits), and each known model's leave-one-out prior
    (`leave_one_out_priors`) for the replay. `abilities` [M, d]: every model of the checkpoint, for the prior.
    Without known labels or abilities, or with fewer than 4 known models: the text's items and the isotropic
    prior, at strength 1 where none is given."""
    if strength is not None and not strength > 0:
        raise ConfigError(f"the ability prior's strength must be positive, got {strength}")
    chosen, given, n = strength is None, 1.0 if strength is None else float(strength), int(n_answers)
    if known_labels is None or known_theta is None or np.asarray(known_labels).shape[1] < 4:
        loo = leave_one_out_priors(np.asarray(known_theta, np.float64), given) if (
            known_theta is not None and len(known_theta) >= 3) else None
        return ItemRefit(a, b, population_prior(abilities, given), None,
                         {"n_answers": n, "prior_kind": PRIOR_KINDS[0], "prior_sd": 0.0, "scores": {},
                          "prior_strength": given, "strength_chosen": False, "strength_scores": {},
                          "strength_scored_on": None}, loo)
    labels, theta = np.asarray(known_labels, np.float64), np.asarray(known_theta, np.float64)
    refits, halves = _refits(a, b, labels, theta, ITEM_PRIOR_GRID, seed)
    scores = _scores(np.asarray(groups, dtype=object), labels, theta, refits, halves, n, PRIOR_KINDS,
                     ITEM_PRIOR_GRID, given, seed)
    kind, sd = _best(scores)
    if chosen:
        given, strength_scores = choose_strength(labels, theta, refits, halves, kind, sd, n, seed=seed, held=held)
    else:
        strength_scores = {}
    replay = [(*refits[(sd, h)], halves[1 - h]) for h in (0, 1)] if sd > 0 else None
    record = {"n_answers": n, "prior_kind": kind, "prior_sd": sd, "scores": scores, "prior_strength": given,
              "strength_chosen": chosen, "strength_scores": strength_scores,
              "strength_scored_on": None if not chosen else "pool items" if held is None else "held-out queries"}
    at = {}
    if chosen and strength_at:  # the strength chosen again at each number of answers a new model may bring
        record["strength_at"] = {}
        for k in sorted({int(x) for x in strength_at}):
            s_k, _ = choose_strength(labels, theta, refits, halves, kind, sd, k, seed=seed, held=held)
            record["strength_at"][str(k)] = s_k
            at[k] = (population_prior(abilities, s_k, kind), leave_one_out_priors(theta, s_k, kind))
    return ItemRefit(*refit_items(a, b, labels, theta, sd), population_prior(abilities, given, kind), replay, record,
                     leave_one_out_priors(theta, given, kind), at)

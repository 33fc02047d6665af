"""A new model from few labels (docs/method.md section 2.5): fit its ability vector with the query network frozen.

With a_q, b_q fixed, theta_new is a maximum a posteriori logistic regression on features a_q with offset -b_q
under a Gaussian prior centred on the mean ability of the known models:

    minimise  sum_i w_i * BCE(a_i . theta - b_i, y_i) + 1/2 (theta - mu)^T P (theta - mu)

which is strictly convex (P positive definite), solved by damped Newton steps (`fit_theta`). The default prior is
isotropic with the known abilities' mean per-dimension variance (P = I / var), i.e. "a small L2 pull toward the
mean theta" whose scale matches the population; `prior_strength` multiplies P.

Queries to ask are chosen sequentially (computerised adaptive testing):

- "d-optimal": maximise the determinant gain of the posterior precision H (Fisher information plus prior),
  det(H + w a a^T) / det(H) = 1 + w a^T H^-1 a with w = p(1 - p) at the current theta. Unlike plain maximum
  information it does not ask about directions already well measured. H^-1 and the candidates' a^T H^-1 a are
  kept up to date by Sherman-Morrison rank-one updates (O(N d) per step); the weight of an asked query is fixed
  at the value it had when it was asked.
- "fisher": maximise the scalar Fisher information p(1 - p) ||a||^2 at the current theta; "random": a seeded order.

Both adaptive orders are prefixes of one sequence, so one run to the largest K gives every smaller K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from irtnet.data.splits import held_out_models, pair_subset, split_by_query
from irtnet.errors import ConfigError, DataError
from irtnet.metrics import auc, correctness_metrics, log_loss
from irtnet.numeric import irt_probability
from irtnet.predictors.irtnet_members import with_member_abilities

STRATEGIES = ("d-optimal", "fisher", "random")
#: The k of the "all-pool" reference row: every pool answer of each model (their number varies by model).
ALL = -1


def _objective(theta: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, w: np.ndarray,
               mu: np.ndarray, prec: np.ndarray) -> float:
    z = a @ theta - b
    diff = theta - mu
    return float(np.sum(w * (np.logaddexp(0.0, z) - y * z)) + 0.5 * diff @ prec @ diff)


def fit_theta(a: np.ndarray, b: np.ndarray, y: np.ndarray, prior_mean: np.ndarray, prior_precision: np.ndarray,
              weight: np.ndarray | None = None, theta0: np.ndarray | None = None, max_iter: int = 100,
              tol: float = 1e-9) -> np.ndarray:
    """MAP ability of one model from its answers (see module docstring).

    a [K, d], b [K], y [K] in [0, 1] (soft labels allowed), prior_mean [d], prior_precision [d, d]
    (positive definite), weight [K] (default 1). Returns theta [d]. With K = 0 the answer is the prior mean."""
    a, b, y = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(y, np.float64)
    mu, prec = np.asarray(prior_mean, np.float64), np.asarray(prior_precision, np.float64)
    if a.ndim != 2 or a.shape[0] != len(b) or len(b) != len(y) or a.shape[1] != len(mu):
        raise DataError(f"shapes do not match: a {a.shape}, b {b.shape}, y {y.shape}, prior mean {mu.shape}",
                        field="answers")
    w = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
    theta = mu.copy() if theta0 is None else np.asarray(theta0, np.float64).copy()
    f = _objective(theta, a, b, y, w, mu, prec)
    for _ in range(max_iter):
        p = irt_probability(theta, a, b)
        grad = a.T @ (w * (p - y)) + prec @ (theta - mu)
        hess = (a * (w * p * (1 - p))[:, None]).T @ a + prec
        step = np.linalg.solve(hess, grad)
        decrement = float(grad @ step)
        if decrement / 2 <= tol:
            break
        t = 1.0
        while t > 1e-10:  # backtracking (Armijo) keeps every step a descent step
            new = theta - t * step
            f_new = _objective(new, a, b, y, w, mu, prec)
            if f_new <= f - 0.25 * t * decrement:
                break
            t *= 0.5
        theta, f = new, f_new
    return theta


@dataclass(frozen=True)
class Prior:
    """Gaussian prior on a new model's ability: mean [d] and precision [d, d]."""

    mean: np.ndarray
    precision: np.ndarray


def population_prior(abilities: np.ndarray, strength: float = 1.0, kind: str = "isotropic", ridge: float = 1e-3
                     ) -> Prior:
    """A prior from the known models' abilities [M, d] (`strength`: a positive finite number). "isotropic": P =
    strength * I / v with v the mean per-dimension variance of the abilities; "population": P = strength * (Cov +
    ridge * v * I)^-1, the abilities' own covariance (shrunk), which keeps a new model near the span of the known
    ones."""
    theta = np.asarray(abilities, np.float64)
    if theta.ndim != 2 or len(theta) < 2:
        got = len(theta) if theta.ndim == 2 else "no"
        raise DataError(f"a new model is placed among the known ones, and the checkpoint knows {got} model"
                        f"{'' if got == 1 else 's'}: the prior of its ability needs at least two known models "
                        "(train on a table with two models or more)", field="models")
    if not 0 < strength < np.inf:  # NaN and inf too: a precision of NaN or inf fits every ability as NaN
        raise ConfigError(f"prior strength must be positive and finite, got {strength}")
    d = theta.shape[1]
    v = float(theta.var(axis=0).mean()) or 1.0
    if kind == "isotropic":
        return Prior(theta.mean(axis=0), strength * np.eye(d) / v)
    if kind == "population":
        cov = np.cov(theta, rowvar=False).reshape(d, d) + ridge * v * np.eye(d)
        return Prior(theta.mean(axis=0), strength * np.linalg.inv(cov))
    raise ConfigError(f"unknown prior kind {kind!r}: use 'isotropic' or 'population'")


def fisher_weight(a: np.ndarray, b: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """p (1 - p) of each query [N] at ability theta."""
    p = irt_probability(theta, a, b)
    return p * (1 - p)


@dataclass
class OnboardPath:
    """Asked query positions in order, and the fitted ability after each requested number of answers."""

    order: list[int]
    thetas: dict[int, np.ndarray] = field(default_factory=dict)


def parse_strategy(strategy: str) -> tuple[str, bool]:
    base, balanced = (strategy[: -len("-balanced")], True) if strategy.endswith("-balanced") else (strategy, False)
    if base not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}, each optionally "
                          "with '-balanced' (content balancing over benchmarks)")
    return base, balanced


def _deficit_group(groups: np.ndarray, free: np.ndarray, share: dict[Any, float], asked: dict[Any, int],
                   step: int) -> np.ndarray:
    """Candidates of the benchmark furthest below its pool share after `step` picks (content balancing)."""
    open_groups = [g for g in share if (free & (groups == g)).any()]
    g = max(open_groups, key=lambda g: (share[g] * step - asked[g], share[g]))
    return free & (groups == g)


def _rank_one_update(h_inv: np.ndarray, quad: np.ndarray, a: np.ndarray, u: np.ndarray) -> None:
    """Sherman-Morrison, in place: the posterior precision gains u u^T (u = sqrt(w_i) a_i); H^-1 [d, d] and
    every candidate's a^T H^-1 a (`quad` [N]) follow."""
    v = h_inv @ u
    denom = 1.0 + u @ v
    quad -= (a @ v) ** 2 / denom
    h_inv -= np.outer(v, v) / denom


def onboard_sequence(a: np.ndarray, b: np.ndarray, answer: Callable[[int], float], prior: Prior, ks: Sequence[int],
                     strategy: str = "d-optimal", seed: int = 0, candidates: np.ndarray | None = None,
                     groups: np.ndarray | None = None) -> OnboardPath:
    """Ask up to max(ks) queries one at a time and fit theta after each K in `ks`. a [N, d], b [N]: the pool's
    query parameters; `answer(i)` returns the new model's label of pool query i; `candidates` [N] bool limits which
    may be asked (default all). Adaptive strategies refit theta after every answer (warm-started Newton). A
    strategy name ending in "-balanced" (needs `groups` [N], the benchmark of each pool query) first picks the
    benchmark furthest below its share of the candidates, then the best query within it (CAT content balancing;
    for "random": stratified sampling)."""
    base, balanced = parse_strategy(strategy)
    if balanced and groups is None:
        raise ConfigError(f"strategy {strategy!r} needs the benchmark of each pool query (groups)")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    free = np.ones(len(b), bool) if candidates is None else np.asarray(candidates, bool).copy()
    k_max = min(max(ks), int(free.sum()))
    targets = sorted({min(k, k_max) for k in ks})
    rng = np.random.default_rng(seed)
    if balanced:
        groups = np.asarray(groups, dtype=object)
        names, counts = np.unique(groups[free], return_counts=True)
        share, asked = dict(zip(names.tolist(), counts / counts.sum())), dict.fromkeys(names.tolist(), 0)
    perm = rng.permutation(np.flatnonzero(free))  # the plain random order (the retrain reference's too)
    path, labels, theta = OnboardPath([]), [], prior.mean.copy()
    h_inv = np.linalg.inv(prior.precision)
    quad = np.einsum("nd,de,ne->n", a, h_inv, a) if base == "d-optimal" else np.einsum("nd,nd->n", a, a)
    for step in range(1, k_max + 1):
        allowed = _deficit_group(groups, free, share, asked, step) if balanced else free
        if base == "random":
            i = int(rng.choice(np.flatnonzero(allowed))) if balanced else int(perm[step - 1])
        else:
            w = fisher_weight(a, b, theta)
            i = int(np.argmax(np.where(allowed, w * quad, -np.inf)))
            if base == "d-optimal":
                _rank_one_update(h_inv, quad, a, np.sqrt(w[i]) * a[i])
        free[i] = False
        if balanced:
            asked[groups[i]] += 1
        path.order.append(i)
        labels.append(answer(i))
        if base != "random" or step in targets:
            idx = path.order
            theta = fit_theta(a[idx], b[idx], np.array(labels), prior.mean, prior.precision,
                              theta0=None if base == "random" else theta)
        if step in targets:
            path.thetas[step] = theta.copy()
    return path


def suggest_queries(a: np.ndarray, b: np.ndarray, theta: np.ndarray, prior: Prior, asked_a: np.ndarray,
                    asked_b: np.ndarray, n: int = 10, strategy: str = "d-optimal", candidates: np.ndarray | None = None
                    ) -> list[int]:
    """The next `n` pool queries to ask a model whose current ability estimate is `theta`, given the
    parameters of the queries it has already answered (greedy D-optimal or Fisher order, no answers needed:
    each pick's weight is taken at the current theta); `candidates` [N] bool limits which may be picked (default
    all), so fewer than `n` come back where fewer are open."""
    h_inv = np.linalg.inv(prior.precision + (asked_a * fisher_weight(asked_a, asked_b, theta)[:, None]).T @ asked_a)
    w = fisher_weight(a, b, theta)
    quad = np.einsum("nd,de,ne->n", a, h_inv, a) if strategy == "d-optimal" else np.einsum("nd,nd->n", a, a)
    free = np.ones(len(b), bool) if candidates is None else np.asarray(candidates, bool).copy()
    picks = []
    for _ in range(min(n, int(free.sum()))):
        i = int(np.argmax(np.where(free, w * quad, -np.inf)))
        picks.append(i)
        free[i] = False
        if strategy == "d-optimal":
            _rank_one_update(h_inv, quad, a, np.sqrt(w[i]) * a[i])
    return picks


class IrtParameters(Protocol):
    """What onboarding needs of a fitted model: frozen query parameters and the known abilities."""

    abilities_: np.ndarray

    def query_parameters(self, queries: Any) -> tuple[np.ndarray, np.ndarray]: ...


# ---------------------------------------------------------------------------------------------- evaluation
@dataclass
class OnboardingEvaluation:
    """Rows of (method, k, metrics) over the held-out models' evaluation pairs, and the settings."""

    rows: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": "onboarding", "settings": self.settings, "rows": self.rows}

    def table(self, metric: str) -> dict[str, dict[int, float]]:
        """{method: {k: metric}} (random strategies averaged over seeds)."""
        out: dict[str, dict[int, float]] = {}
        for row in self.rows:
            out.setdefault(row["method"], {})[row["k"]] = row[metric]
        return out


def score_predictions(prob: list[np.ndarray], label: list[np.ndarray], groups: list[np.ndarray]) -> dict[str, float]:
    """Pooled correctness metrics over every held-out model's evaluation pairs, the mean per-model AUC,
    the MAE of predicted per-benchmark accuracies over (model, benchmark) cells, and each model's log loss."""
    out = correctness_metrics(np.concatenate(prob), np.concatenate(label))
    per_auc = [auc(p, y) for p, y in zip(prob, label)]
    out["model_auc"] = float(np.nanmean(per_auc)) if np.isfinite(per_auc).any() else float("nan")
    errors = [abs(p[g == k].mean() - y[g == k].mean()) for p, y, g in zip(prob, label, groups) for k in set(g.tolist())]
    out["benchmark_mae"] = float(np.mean(errors))
    out["per_model_log_loss"] = [log_loss(p, y) for p, y in zip(prob, label)]  # for paired comparisons
    return out


def _answer_means(y: np.ndarray, g_pool: np.ndarray, g_test: np.ndarray, by_benchmark: bool) -> np.ndarray:
    """The K answers' smoothed accuracy (Laplace), per benchmark shrunk to it by one pseudo-label."""
    overall = (y.sum() + 1.0) / (len(y) + 2.0)
    if not by_benchmark:
        return np.full(len(g_test), overall)
    out = np.empty(len(g_test))
    for k in set(g_test.tolist()):
        sel = g_pool == k
        out[g_test == k] = (y[sel].sum() + overall) / (sel.sum() + 1.0)
    return out


def evaluate_onboarding(model: IrtParameters, pool: Any, test: Any, ks: Sequence[int] = (10, 25, 50, 100, 200),
                        strategies: Sequence[str] = STRATEGIES, n_random: int = 3, prior_strength: float = 1.0,
                        prior_kind: str = "isotropic", progress: Callable[[str], None] | None = None,
                        seed: int = 0) -> OnboardingEvaluation:
    """Onboard each new model of `pool` (Dataset: the new models' labels on the askable queries) from K answers and
    score its predictions on `test` (Dataset: the same models on other queries). Methods: each strategy (named once;
    random averaged over `n_random` seeds), the prior mean alone (K = 0), theta from every pool answer (the frozen
    network's ceiling), and two label-only references from the random K answers: their mean ("answer-mean") and
    per-benchmark means ("answer-benchmark-mean")."""
    refuse_repeated(strategies, ks)
    prior = population_prior(model.abilities_, prior_strength, prior_kind)
    a_pool, b_pool = (np.asarray(x, np.float64) for x in model.query_parameters(pool.queries))
    a_test, b_test = (np.asarray(x, np.float64) for x in model.query_parameters(test.queries))
    y_pool, y_test = pool.table.label_matrix(), test.table.label_matrix()
    g_pool, g_test = (part.table.queries["benchmark"].to_numpy(dtype=object) for part in (pool, test))
    new_models = test.table.model_vocab.ids
    pool_col = pool.table.model_vocab.index(list(new_models))
    preds: dict[tuple[str, int], list[np.ndarray]] = {}
    labels, groups = [], []
    draws = range(seed, seed + n_random)  # the random strategy's seeds follow the experiment's
    runs = [(s, d) for s in strategies for d in (draws if s.startswith("random") else [seed])]
    for j, name in enumerate(new_models):
        if progress:
            progress(name)
        ys, yt = y_pool[:, pool_col[j]], y_test[:, j]
        obs_t = ~np.isnan(yt)
        labels.append(yt[obs_t])
        groups.append(g_test[obs_t])
        add = lambda method, k, prob: preds.setdefault((method, k), []).append(prob)  # noqa: E731
        add("prior", 0, irt_probability(prior.mean, a_test[obs_t], b_test[obs_t]))
        obs_p = np.flatnonzero(~np.isnan(ys))
        theta_all = fit_theta(a_pool[obs_p], b_pool[obs_p], ys[obs_p], prior.mean, prior.precision)
        add("all-pool", ALL, irt_probability(theta_all, a_test[obs_t], b_test[obs_t]))
        for strategy, draw in runs:
            path = onboard_sequence(a_pool, b_pool, lambda i: float(ys[i]), prior, ks, strategy, draw,
                                    candidates=~np.isnan(ys), groups=g_pool)
            for k, theta in path.thetas.items():
                add(f"{strategy}#{draw}", k, irt_probability(theta, a_test[obs_t], b_test[obs_t]))
                if strategy == "random" and draw == seed:  # the same K answers as the retrain reference
                    asked = np.array(path.order[:k])
                    for by, label in ((False, "answer-mean"), (True, "answer-benchmark-mean")):
                        add(label, k, _answer_means(ys[asked], g_pool[asked], g_test[obs_t], by))
    rows = _rows(preds, labels, groups, len(new_models))
    settings = {"ks": list(ks), "strategies": list(strategies), "n_random": n_random, "prior_kind": prior_kind,
                "prior_strength": prior_strength, "new_models": list(new_models),
                "n_pool_queries": pool.table.n_queries, "n_test_queries": test.table.n_queries}
    return OnboardingEvaluation(rows, settings)


def _usable_ks(data: Any, msplit: Any, qsplit: Any, ks: Sequence[int], seed: int) -> tuple[list[int], list[int], int]:
    """(the Ks every held-out model can answer from its pool, the others, the fewest pool answers), before training:
    fewer than two models to train on (the prior is their spread), a held-out model without a pool or a test
    answer (never left out quietly) or no usable K is an error; a larger K is said, never capped silently."""
    for part, ids in (("test", qsplit.test), ("pool", qsplit.train)):
        counts = (~np.isnan(data.table.label_matrix(ids, msplit.test_models))).sum(axis=0)
        if not counts.all():
            bad = ", ".join(repr(m) for m, c in zip(msplit.test_models, counts) if not c)
            raise DataError(f"held-out model(s) {bad} answered none of the {len(ids)} {part} queries (split with "
                            f"seed {seed}): hold out models that answered more queries", field="models")
    least, skipped = int(counts.min()), [int(k) for k in ks if k > counts.min()]
    if len(skipped) == len(ks):
        raise DataError(f"every K asked ({', '.join(map(str, skipped))}) is more than the {least} pool queries a "
                        "held-out model answered: use smaller numbers of answers", field="ks")
    n, kept = data.table.n_models, len(msplit.train_models)
    if kept < 2:
        raise ConfigError(f"holding out {n - kept} of the table's {n} models leaves {kept} to train on; a new model's "
                          f"ability prior needs at least two known models: hold out at most {n - 2}")
    return [int(k) for k in ks if k <= least], skipped, least


def refuse_repeated(strategies: Sequence[str], ks: Sequence[int]) -> None:
    """A strategy or a K named twice is refused naming the option: its rows would count twice or be dropped."""
    for option, what, values in (("--strategies", "strategy", list(strategies)), ("--ks", "K", list(ks))):
        if twice := sorted({v for v in values if values.count(v) > 1}):
            raise ConfigError(f"{option}: {', '.join(map(repr, twice))} given twice; name each {what} once")


def _rows(preds: dict[tuple[str, int], list[np.ndarray]], labels: list[np.ndarray], groups: list[np.ndarray],
          n_models: int) -> list[dict[str, Any]]:
    """Score every (method, k) that all models reached; average random seeds into one 'random' row."""
    scored: dict[tuple[str, int], list[dict[str, float]]] = {}
    for (method, k), probs in preds.items():
        if len(probs) != n_models:  # a model whose pool is smaller than k stops early: k is not comparable
            continue
        scored.setdefault((method.split("#")[0], k), []).append(score_predictions(probs, labels, groups))
    rows = []
    for (method, k), runs in sorted(scored.items(), key=lambda item: (item[0][0], item[0][1])):
        row = {"method": method, "k": k, "n_runs": len(runs)}
        row.update({key: np.mean([r[key] for r in runs], axis=0).tolist() for key in runs[0]})
        rows.append(row)
    return rows


def retrain_reference(make: Callable[[], Any], data: Any, train_models: Sequence[str], new_models: Sequence[str],
                      pool_ids: Sequence[str], val_ids: Sequence[str], test_ids: Sequence[str],
                      ks: Sequence[int], seed: int = 0) -> list[dict[str, Any]]:
    """Retrain from scratch with each new model's first K random pool answers (the same K answers as the
    "random" strategy's seed `seed`) added to the known models' pool labels; score on the test queries."""
    from irtnet.tasks.evaluate import score_matrix

    model_of, query_of = (data.table.responses[c].astype(str).to_numpy(dtype=object) for c in ("model", "query"))
    known = np.isin(model_of, list(train_models)) & np.isin(query_of, list(pool_ids))
    pool = data.select(pool_ids, new_models)
    y_pool = pool.table.label_matrix()
    test = data.select(test_ids, new_models)
    y_test = test.table.label_matrix()
    g_test = test.table.queries["benchmark"].to_numpy(dtype=object)
    val = data.select(val_ids, train_models) if val_ids else None
    rows = []
    for k in ks:
        keep = known.copy()
        for j, name in enumerate(pool.table.model_vocab.ids):
            free = ~np.isnan(y_pool[:, j])
            asked = np.random.default_rng(seed).permutation(np.flatnonzero(free))[:k]
            keep |= (model_of == name) & np.isin(query_of, np.asarray(pool.table.query_vocab.ids, dtype=object)[asked])
        prob = score_matrix(make().fit(pair_subset(data, keep), val), test)
        obs = [~np.isnan(y_test[:, j]) for j in range(test.table.n_models)]
        scores = score_predictions([prob[o, j] for j, o in enumerate(obs)], [y_test[o, j] for j, o in enumerate(obs)],
                                   [g_test[o] for o in obs])
        rows.append({"method": "retrain", "k": int(k), "n_runs": 1, **scores})
    return rows


def onboarding_experiment(data: Any, make: Callable[[], Any], n_test: int, ks: Sequence[int] = (10, 25, 50, 100, 200),
                          strategies: Sequence[str] = STRATEGIES, n_random: int = 3, fractions=(0.7, 0.1, 0.2),
                          seed: int = 0, retrain: Callable[[], Any] | None = None, prior_strength: float = 1.0,
                          prior_kind: str = "isotropic", models: Sequence[str] | None = None,
                          progress: Callable[[str], None] | None = None) -> OnboardingEvaluation:
    """The full protocol on one Dataset: hold out models (`n_test` drawn with `seed`, or `models`), split the
    queries into pool / validation / test, train `make()` on the known models' pool labels (validated on their
    validation labels), onboard each new model from its pool answers and score it on the test queries. `retrain`
    (a factory, e.g. with fewer epochs) adds the retrain-with-K-answers reference; bad settings fail before it."""
    refuse_repeated(strategies, ks)
    msplit = held_out_models(data.table, n_test=None if models else n_test, models=list(models) if models else None,
                             seed=seed)
    qsplit = split_by_query(data.table, tuple(fractions), seed)
    ks, skipped, least = _usable_ks(data, msplit, qsplit, ks, seed)
    if progress and skipped:
        progress(f"skipped K = {', '.join(map(str, skipped))}: more than the {least} pool queries a held-out model "
                 "answered")
    train = data.select(qsplit.train, msplit.train_models)
    val = data.select(qsplit.val, msplit.train_models) if qsplit.val else None
    if progress:
        progress(f"training on {len(msplit.train_models)} models, {train.table.n_queries} pool queries")
    model = make().fit(train, val)
    pool = data.select(qsplit.train, msplit.test_models)
    test = data.select(qsplit.test, msplit.test_models)
    result = evaluate_onboarding(model, pool, test, ks, strategies, n_random, prior_strength, prior_kind, progress,
                                 seed=seed)
    if retrain is not None:
        if progress:
            progress("retraining with K answers of the new models")
        result.rows += retrain_reference(retrain, data, msplit.train_models, msplit.test_models, qsplit.train,
                                         qsplit.val, qsplit.test, ks, seed)
    result.settings.update(seed=seed, fractions=list(fractions), train_models=list(msplit.train_models),
                           retrain=retrain is not None, ks_skipped=skipped,
                           protocol="pool = train split queries (network trained on the known models' labels of them);"
                                    " new models answer K pool queries; scored on the test split queries")
    return result


def with_new_model(predictor: Any, name: str, theta: np.ndarray) -> Any:
    """A copy of a fitted IRT predictor (state with a "models" list and a "theta" [M, d] array, such as
    IrtNet) with model `name` of ability `theta` appended; the query network is unchanged. `theta` is in the
    predictor's `abilities_` form: [d], or [K*d] for an IrtNet seed ensemble of K members (state "members")."""
    meta, arrays = predictor.get_state()
    if "models" not in meta or "theta" not in arrays:
        raise ConfigError(f"{predictor.name} does not store abilities as 'theta'; cannot add a model to it")
    if name in meta["models"]:
        raise ConfigError(f"model {name!r} is already known; choose another name")
    n_members = int(meta.get("members", 1))
    expected = (arrays["theta"].shape[1] * n_members,)
    if np.shape(theta) != expected:
        raise DataError(f"theta has shape {np.shape(theta)}, expected {expected}", field="theta")
    meta = {**meta, "models": [*meta["models"], name]}
    return type(predictor).from_state(meta, with_member_abilities(arrays, n_members, np.asarray(theta)))

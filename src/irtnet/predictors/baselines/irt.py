"""Classical IRT with free per-item parameters: 1PL, 2PL and multidimensional 2PL (item-seen only).

    P(m answers q) = sigmoid(a_q . theta_m - b_q)          (slope-intercept form, as everywhere in irtnet)

- `irt-1pl`: theta_m in R, one discrimination a shared by every item (Rasch with a free ability scale).
- `irt-2pl`: theta_m in R, a_q = exp(alpha_q) > 0 per item.
- `mirt-2pl`: theta_m in R^d, a_q in R^d unconstrained (exploratory compensatory MIRT; the rotation
  theta -> R theta, a -> R a is not identified, only a . theta is).

Fitting is maximum a posteriori (regularised maximum likelihood) on the observed pairs only: each pair
gathers its own theta, a and b, so no models x queries matrix is ever built. Priors: theta ~ N(0, 1),
b ~ N(0, b_std^2), log a ~ N(0, a_std^2) (1PL/2PL) or a ~ N(0, a_std^2) (MIRT); they also pick the gauge
(the location shared by theta and b, the scale shared by theta and a), so compare difficulties across fits
by rank or after aligning, and for MIRT through the gauge-free effective difficulty b - a . mean(theta). Optimiser: full-batch L-BFGS with strong Wolfe line search in float64.
Outcomes may be fractional (target "score", weighted by trials: the binomial likelihood) or 0/1.

These models have a parameter per query, so they predict only queries seen in `fit` (`item_seen = True`);
any other query raises `UnseenQueryError`. They are for parameter recovery, interpretation and item-seen
evaluation (held-out pairs of known queries), not for new queries: use `linear-mirt` or `irtnet` there.

Against girth (which uses P = sigmoid(a (theta - b))): girth's difficulty is b / a in this form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.predictors.base import Predictor, register
from irtnet.predictors.baselines._common import get_params
from irtnet.predictors.baselines.irt_fit import IrtFit, check_options, check_pairs
from irtnet.predictors.baselines.irt_newton import fit_2pl_newton
from irtnet.predictors.state import check_params, check_shapes, check_vocab, tensor_mismatch


class UnseenQueryError(DataError):
    """A query an item-seen model (free per-item parameters) never saw in training."""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _init(model_idx, item_idx, y, w, n_models, n_items, dim, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start at the one-dimensional Rasch moment estimates; extra MIRT dimensions start small and random."""
    def rate(idx: np.ndarray, n: int) -> np.ndarray:  # smoothed weighted mean outcome
        return (np.bincount(idx, w * y, n) + 0.5) / (np.bincount(idx, w, n) + 1.0)

    ability = _logit(rate(model_idx, n_models))
    ability = (ability - ability.mean()) / (ability.std() + 1e-6)
    theta = np.concatenate([ability[:, None], rng.normal(0, 0.1, (n_models, dim - 1))], axis=1)
    a = np.concatenate([np.ones((n_items, 1)), rng.normal(0, 0.1, (n_items, dim - 1))], axis=1)
    return theta, a, -_logit(rate(item_idx, n_items))


def fit_irt(model_idx: np.ndarray, item_idx: np.ndarray, y: np.ndarray, n_models: int, n_items: int, *,
            kind: str = "2pl", dim: int = 1, weight: np.ndarray | None = None, a_std: float = 1.0,
            b_std: float = 3.0, max_iter: int = 1000, tol: float = 1e-7, seed: int = 0) -> IrtFit:
    """Fit a 1PL ("1pl", dim 1), 2PL ("2pl", dim 1) or MIRT-2PL ("2pl", dim > 1) by MAP on observed pairs.

    model_idx, item_idx [P] int: the pair's model and item; y [P] outcomes in [0, 1]; weight [P]
    (default 1; finite, >= 0, not all 0). Items or models without a pair keep their prior mode. A bad pair or
    outcome is a DataError, a bad option (a_std, b_std, tol: finite > 0; max_iter >= 1) a ConfigError. The
    objective is (weighted NLL + 0.5 * sum of squared prior z-scores) / total weight. Deterministic given `seed`
    (which only draws the starting values of MIRT's extra dimensions).
    """
    whole = isinstance(dim, (int, np.integer)) and not isinstance(dim, bool)
    if kind not in ("1pl", "2pl") or not whole or dim < 1 or (kind == "1pl" and dim != 1):
        raise ConfigError(f"unsupported IRT model kind={kind!r} dim={dim}: use '1pl' (dim 1) or '2pl'")
    check_options("fit_irt", a_std=a_std, b_std=b_std, max_iter=max_iter, tol=tol)
    model_idx, item_idx, y, w = check_pairs("fit_irt", model_idx, item_idx, y, weight, n_models, n_items)
    theta0, a0, b0 = _init(model_idx, item_idx, y, w, n_models, n_items, dim, np.random.default_rng(seed))
    t = lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True)  # noqa: E731
    theta, b = t(theta0), t(b0)
    # 1pl: one log-discrimination; 2pl dim 1: one per item (a = exp > 0); mirt: free vectors
    a_raw = t(np.zeros(1) if kind == "1pl" else np.zeros(n_items) if dim == 1 else a0)

    def a_of() -> torch.Tensor:
        if dim > 1:
            return a_raw
        return torch.exp(a_raw).expand(n_items)[:, None] if kind == "1pl" else torch.exp(a_raw)[:, None]

    mi, qi = torch.as_tensor(model_idx), torch.as_tensor(item_idx)
    yt, wt = torch.as_tensor(y), torch.as_tensor(w)
    total = float(w.sum())

    def objective() -> torch.Tensor:
        logit = (a_of()[qi] * theta[mi]).sum(-1) - b[qi]
        nll = (torch.nn.functional.binary_cross_entropy_with_logits(logit, yt, reduction="none") * wt).sum()
        prior = (theta ** 2).sum() + (b ** 2).sum() / b_std ** 2 + (a_raw ** 2).sum() / a_std ** 2
        return (nll + 0.5 * prior) / total

    opt = torch.optim.LBFGS([theta, a_raw, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=tol * 1e-3, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = int(opt.state[theta].get("n_iter", 0))  # L-BFGS keeps its state under the first parameter
    with torch.no_grad():
        loss = float(objective())
        a = a_of().detach().numpy().copy()
    return IrtFit(theta.detach().numpy().copy(), a, b.detach().numpy().copy(), loss, n_iter, n_iter < max_iter)


def fit_2pl(model_idx: np.ndarray, item_idx: np.ndarray, y: np.ndarray, n_models: int, n_items: int,
            **options: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unidimensional 2PL by MAP on observed pairs -> (theta [M], a [Q] > 0, b [Q]) with
    P = sigmoid(a_q theta_m - b_q). `options` go to `fit_irt` (weight, a_std, b_std, max_iter, tol)."""
    fit = fit_irt(model_idx, item_idx, y, n_models, n_items, kind="2pl", dim=1, **options)
    return fit.theta[:, 0], fit.a[:, 0], fit.b


class ItemIRT(Predictor):
    """Shell of the item-seen IRT predictors. Hyperparameters: `a_std`, `b_std` (prior standard deviations
    of log a - of a for MIRT - and of b), `max_iter`, `tol` (L-BFGS), `target` ("score": fractional
    outcomes weighted by trials; "label": 0/1). Learned state: `models_`, `items_` (the training query
    vocabulary), `abilities_` [M, d], `discrimination_` [Q, d], `difficulty_` [Q], `fit_info_`."""

    item_seen: ClassVar[bool] = True
    kind: ClassVar[str] = "2pl"
    #: Checked when the spec is resolved (`baselines.params`).
    param_bounds: ClassVar[dict[str, dict[str, Any]]] = {
        "a_std": {"gt": 0}, "b_std": {"gt": 0}, "max_iter": {"ge": 1}, "tol": {"gt": 0},
        "target": {"choices": ("score", "label")},
        "solver": {"choices": ("lbfgs", "newton")}, "dim": {"ge": 1}}

    def __init__(self, a_std: float = 1.0, b_std: float = 3.0, max_iter: int = 1000, tol: float = 1e-7,
                 target: str = "score") -> None:
        self.a_std, self.b_std, self.max_iter, self.tol, self.target = a_std, b_std, max_iter, tol, target

    def _dim(self) -> int:
        return 1

    def _seed(self) -> int:
        return 0

    def fit(self, train: Dataset, val: Dataset | None = None) -> ItemIRT:
        if self.target not in ("score", "label"):
            raise ConfigError(f"unknown training target {self.target!r}: use 'score' or 'label'")
        table = train.table
        self.models_, self.items_ = table.model_vocab, table.query_vocab
        resp = table.responses
        y = resp[self.target].to_numpy(np.float64)
        w = resp["n_trials"].to_numpy(np.float64) if self.target == "score" else None
        fit = self._fit_pairs(table.model_index(), table.query_index(), y, w, table.n_models, table.n_queries)
        self.abilities_, self.discrimination_, self.difficulty_ = fit.theta, fit.a, fit.b
        self.fit_info_ = {"loss": fit.loss, "n_iter": fit.n_iter, "converged": fit.converged}
        return self

    def _fit_pairs(self, model_idx, item_idx, y, w, n_models: int, n_items: int) -> IrtFit:
        return fit_irt(model_idx, item_idx, y, n_models, n_items, kind=self.kind, dim=self._dim(), weight=w,
                       a_std=self.a_std, b_std=self.b_std, max_iter=self.max_iter, tol=self.tol, seed=self._seed())

    def _item_positions(self, queries: Queries) -> np.ndarray:
        self._check_fitted()
        pos = self.items_._index.get_indexer(np.asarray(queries.ids, dtype=object))
        if (pos < 0).any():
            unseen = np.asarray(queries.ids, dtype=object)[pos < 0]
            raise UnseenQueryError(
                f"{self.name} has free per-item parameters and predicts only queries seen in training; "
                f"{len(unseen)} of {len(pos)} queries are unseen (first: {unseen[:3].tolist()}). "
                "Evaluate it on held-out pairs of training queries, or use a text model "
                "(linear-mirt, irtnet) for new queries", field="queries")
        return pos

    def query_parameters(self, queries: Queries) -> tuple[np.ndarray, np.ndarray]:
        """Discrimination a [n, d] and difficulty b [n] of each (seen) query."""
        pos = self._item_positions(queries)
        return self.discrimination_[pos], self.difficulty_[pos]

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        a, b = self.query_parameters(queries)
        return irt_probability(self.abilities_[m], a, b)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"params": get_params(self), "models": self.models_.to_list(), "items": self.items_.to_list(),
                "fit_info": self.fit_info_}
        return meta, {"theta": self.abilities_, "a": self.discrimination_, "b": self.difficulty_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ItemIRT:
        self = cls(**check_params(cls, meta["params"]))
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        self.items_ = Vocab("query", check_vocab(meta, "items"))
        m, q = len(self.models_), len(self.items_)
        check_shapes(arrays, {"theta": (m, None), "a": (q, None), "b": (q,)})
        if arrays["theta"].shape[1] != arrays["a"].shape[1]:
            raise tensor_mismatch(f"tensors 'theta' {list(arrays['theta'].shape)} and 'a' {list(arrays['a'].shape)} "
                                  "differ in dimension")
        self.abilities_, self.discrimination_, self.difficulty_ = arrays["theta"], arrays["a"], arrays["b"]
        self.fit_info_ = meta.get("fit_info", {})
        return self


@register("irt-1pl")
class IRT1PL(ItemIRT):
    """1PL: theta_m in R, one discrimination shared by every item, b_q per item (see `ItemIRT`)."""

    kind = "1pl"


@register("irt-2pl")
class IRT2PL(ItemIRT):
    """2PL: theta_m in R, a_q > 0 and b_q per item (see `ItemIRT`). `solver`: "lbfgs" (`fit_irt`, prior
    N(0, b_std^2) on b) or "newton" (`irt_newton.fit_2pl_newton`, blockwise Fisher scoring on a dense
    items x models matrix, many times faster on dense data; there `b_std` is the prior's standard deviation
    of the difficulty on the ability scale, beta = b / a, and `tol` a relative decrease of the objective)."""

    kind = "2pl"

    def __init__(self, a_std: float = 1.0, b_std: float = 3.0, max_iter: int = 1000, tol: float = 1e-7,
                 target: str = "score", solver: str = "lbfgs") -> None:
        super().__init__(a_std, b_std, max_iter, tol, target)
        self.solver = solver

    def _fit_pairs(self, model_idx, item_idx, y, w, n_models: int, n_items: int) -> IrtFit:
        if self.solver == "lbfgs":
            return super()._fit_pairs(model_idx, item_idx, y, w, n_models, n_items)
        if self.solver != "newton":
            raise ConfigError(f"unknown solver {self.solver!r}: use 'lbfgs' or 'newton'")
        return fit_2pl_newton(model_idx, item_idx, y, n_models, n_items, weight=w, a_std=self.a_std,
                              beta_std=self.b_std, max_iter=self.max_iter, tol=self.tol)


@register("mirt-2pl")
class MIRT2PL(ItemIRT):
    """Multidimensional 2PL: theta_m, a_q in R^dim, b_q per item (see `ItemIRT`). `dim`: the ability
    dimension; `seed`: draws the starting values of the dimensions beyond the first."""

    kind = "2pl"

    def __init__(self, dim: int = 3, a_std: float = 1.0, b_std: float = 3.0, max_iter: int = 1000,
                 tol: float = 1e-7, target: str = "score", seed: int = 0) -> None:
        super().__init__(a_std, b_std, max_iter, tol, target)
        self.dim, self.seed = dim, seed

    def _dim(self) -> int:
        return self.dim

    def _seed(self) -> int:
        return self.seed

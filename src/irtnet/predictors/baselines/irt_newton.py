"""Unidimensional 2PL by blockwise Fisher scoring: the fast classical fit, for dense or nearly dense data.

    P(m answers q) = sigmoid(a_q (theta_m - beta_q)),   a_q = exp(u_q) > 0   (returned as b_q = a_q beta_q)

Maximum a posteriori with u_q ~ N(0, a_std^2) and beta_q ~ N(0, beta_std^2) (beta is the difficulty on the
ability scale, girth's and mirt's form) and theta_m ~ N(0, 1). Each sweep takes one Fisher-scoring step for
every item (a 2 x 2 system in (u_q, beta_q), closed form) and then one for every model (a scalar), each
with fresh probabilities, and then restores the gauge: abilities are standardised (mean 0, standard deviation
1) with a and beta transformed so that every logit is unchanged. Without that last step the scale shared by
theta and a, fixed only by the weak prior on theta, drifts slowly and the fit needs ten times the sweeps.

The pairs become a dense [items, models] matrix (a weighted mean outcome and a total weight per cell; an
unobserved cell has weight 0, so a missing answer is never a wrong one); items are processed in blocks of
about `BLOCK_CELLS` cells, so the working memory beyond that matrix is bounded. One sweep costs a few
passes over the matrix; a dozen or so sweeps converge. `fit_irt` (L-BFGS on the pairs) remains the general
fitter: any dimension, 1PL, and data far too sparse for a dense matrix.
"""

from __future__ import annotations

import numpy as np
import torch

from irtnet.errors import ConfigError
from irtnet.predictors.baselines.irt_fit import IrtFit, check_options, check_pairs

BLOCK_CELLS = 1 << 22          # item-block size in matrix cells (4M: 16 MiB per float32 temporary)
MAX_CELLS = 1 << 31            # the dense matrix's limit; sparser or larger data: `fit_irt`
_STEP_LIMIT = (1.0, 2.0, 2.0)  # the largest single step in log a, beta and theta (keeps early sweeps sane)
HALVINGS = 8                   # step halvings an item may need before it stays put for the sweep


def _dense(model_idx, item_idx, y, w, n_models: int, n_items: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[Q, M] weighted mean outcome and total weight (None when every cell holds exactly one unit weight)."""
    cell = item_idx * n_models + model_idx
    n_cells = n_items * n_models
    if len(cell) == n_cells and (w == 1).all() and (np.bincount(cell, minlength=n_cells) == 1).all():
        out = np.empty(n_cells, np.float32)
        out[cell] = y
        return torch.from_numpy(out.reshape(n_items, n_models)), None
    total = np.bincount(cell, w, n_cells)
    mean = np.bincount(cell, w * y, n_cells) / np.maximum(total, 1e-300)
    return (torch.from_numpy(mean.astype(np.float32).reshape(n_items, n_models)),
            torch.from_numpy(total.astype(np.float32).reshape(n_items, n_models)))


def _blocks(n_items: int, n_models: int) -> list[slice]:
    rows = max(1, BLOCK_CELLS // max(n_models, 1))
    return [slice(s, min(s + rows, n_items)) for s in range(0, n_items, rows)]


def _residuals(y, wt, th, u, beta):
    """D = theta - beta, R = weight (y - p), W = weight p (1 - p) for one item block."""
    d = th[None, :] - beta[:, None]
    p = torch.sigmoid(u.exp()[:, None] * d)
    r, v = y - p, p * (1 - p)
    if wt is not None:
        r, v = r * wt, v * wt
    return d, r, v


def _item_nll(y, wt, th, u, beta, a_var: float, b_var: float) -> torch.Tensor:
    """Each item's negative log posterior (its cells' weighted NLL + its priors) for one item block."""
    logit = u.exp()[:, None] * (th[None, :] - beta[:, None])
    cell = torch.nn.functional.softplus(logit) - y * logit
    nll = (cell if wt is None else cell * wt).sum(1)
    return nll + 0.5 * (u * u / a_var + beta * beta / b_var)


def _item_step(y, wt, th, u, beta, a_var: float, b_var: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """A Fisher-scoring step (du, dbeta) for each item of one block, halved (up to `HALVINGS` times) for
    the items whose negative log posterior it would raise (far-off items otherwise swing back and forth),
    and the block's negative log posterior before the step."""
    d, r, v = _residuals(y, wt, th, u, beta)
    a = u.exp()
    g_u = a * (r * d).sum(1) - u / a_var
    g_b = -a * r.sum(1) - beta / b_var
    a2 = a * a
    i_uu = a2 * (v * d * d).sum(1) + 1 / a_var
    i_bb = a2 * v.sum(1) + 1 / b_var
    i_ub = -a2 * (v * d).sum(1)
    det = i_uu * i_bb - i_ub * i_ub
    du = ((i_bb * g_u - i_ub * g_b) / det).clamp(-_STEP_LIMIT[0], _STEP_LIMIT[0])
    db = ((i_uu * g_b - i_ub * g_u) / det).clamp(-_STEP_LIMIT[1], _STEP_LIMIT[1])
    before = _item_nll(y, wt, th, u, beta, a_var, b_var)
    worse = torch.arange(len(u))
    for _ in range(HALVINGS):
        sub = (y[worse], None if wt is None else wt[worse])
        after = _item_nll(*sub, th, u[worse] + du[worse], beta[worse] + db[worse], a_var, b_var)
        worse = worse[after > before[worse]]
        if len(worse) == 0:
            break
        du[worse] *= 0.5
        db[worse] *= 0.5
    else:
        du[worse], db[worse] = 0.0, 0.0
    return du, db, float(before.double().sum())


def _objective(y, wt, th, u, beta, blocks, a_var: float, b_var: float) -> float:
    nll = 0.0
    for s in blocks:
        logit = u[s].exp()[:, None] * (th[None, :] - beta[s, None])
        cell = torch.nn.functional.binary_cross_entropy_with_logits(logit, y[s], reduction="none")
        nll += float((cell if wt is None else cell * wt[s]).double().sum())
    prior = float((th.double() ** 2).sum() + (u.double() ** 2).sum() / a_var + (beta.double() ** 2).sum() / b_var)
    return nll + 0.5 * prior


def _gauge_step(th, u, beta, a_var: float, b_var: float):
    """Minimise the log posterior exactly along the two directions that leave every logit unchanged: a shift
    (theta + c, beta + c) and a scale (s theta, a / s, s beta). The likelihood is flat along them, so only the
    priors decide, and the item and model steps alone would creep along them for hundreds of sweeps."""
    th64, u64, b64 = th.double(), u.double(), beta.double()
    c = -(th64.sum() + b64.sum() / b_var) / (len(th64) + len(b64) / b_var)
    th64, b64 = th64 + c, b64 + c
    spread, t = float((th64 ** 2).sum() + (b64 ** 2).sum() / b_var), 0.0   # t = log s
    u_sum, n_items = float(u64.sum()), len(u64)
    for _ in range(20):  # Newton on a smooth convex function of one variable
        grad = np.exp(2 * t) * spread - (u_sum - n_items * t) / a_var
        step = grad / (2 * np.exp(2 * t) * spread + n_items / a_var)
        t -= float(np.clip(step, -1.0, 1.0))
        if abs(step) < 1e-12:
            break
    s = float(np.exp(t))
    return (th64 * s).float(), (u64 - t).float(), (b64 * s).float()


def _start(y, wt, n_models: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised logit of each model's mean outcome; minus the logit of each item's mean outcome."""
    ones = torch.ones_like(y) if wt is None else wt
    rate_m = ((y * ones).sum(0) + 0.5) / (ones.sum(0) + 1)
    rate_q = ((y * ones).sum(1) + 0.5) / (ones.sum(1) + 1)
    th = torch.logit(rate_m.double())
    th = (th - th.mean()) / th.std() if n_models > 1 and th.std() > 1e-6 else th - th.mean()
    return th.float(), -torch.logit(rate_q.double()).float()


def fit_2pl_newton(model_idx, item_idx, y, n_models: int, n_items: int, *, weight=None, a_std: float = 1.0,
                   beta_std: float = 1.0, max_iter: int = 100, tol: float = 1e-7) -> IrtFit:
    """MAP 2PL by blockwise Fisher scoring -> `IrtFit` with theta [M, 1], a [Q, 1] and b = a * beta [Q].

    model_idx, item_idx [P] int, y [P] outcomes in [0, 1], weight [P] (default 1; repeated pairs add up).
    Stops when a sweep lowered the negative log posterior by no more than `tol` of itself (`converged`;
    the float32 cells resolve about 1e-9 of it) or after `max_iter` sweeps.
    `loss` is (weighted NLL + 0.5 * sum of squared prior z-scores) / total weight, as in `fit_irt`.
    """
    check_options("fit_2pl_newton", a_std=a_std, beta_std=beta_std, max_iter=max_iter, tol=tol)
    model_idx, item_idx, y, w = check_pairs("fit_2pl_newton", model_idx, item_idx, y, weight, n_models, n_items)
    if n_items * n_models > MAX_CELLS:
        raise ConfigError(f"{n_items:,} items x {n_models:,} models is beyond the dense fit's {MAX_CELLS:,} "
                          "cells; use fit_irt (L-BFGS on the observed pairs)")
    ym, wt = _dense(model_idx, item_idx, y, w, n_models, n_items)
    a_var, b_var = a_std ** 2, beta_std ** 2
    blocks = _blocks(n_items, n_models)
    th, beta = _start(ym, wt, n_models)
    u = torch.zeros(n_items)
    converged, sweep, previous = False, 0, float("inf")
    for sweep in range(1, max_iter + 1):
        current = 0.5 * float((th.double() ** 2).sum())  # the log posterior's negative as this sweep starts
        for s in blocks:
            du, db, block_nlp = _item_step(ym[s], None if wt is None else wt[s], th, u[s], beta[s], a_var, b_var)
            u[s] += du
            beta[s] += db
            current += block_nlp
        if previous - current <= tol * abs(current):
            converged = True
            break
        previous = current
        g_t, i_t = -th.double(), torch.ones(n_models, dtype=torch.float64)
        for s in blocks:
            _, r, v = _residuals(ym[s], None if wt is None else wt[s], th, u[s], beta[s])
            a = u[s].exp()
            g_t += (a @ r).double()
            i_t += (a * a @ v).double()
        th += (g_t / i_t).clamp(-_STEP_LIMIT[2], _STEP_LIMIT[2]).float()
        th, u, beta = _gauge_step(th, u, beta, a_var, b_var)
    loss = _objective(ym, wt, th, u, beta, blocks, a_var, b_var) / float(w.sum())
    a = u.double().exp().numpy()
    return IrtFit(th.double().numpy()[:, None], a[:, None], a * beta.double().numpy(), loss, sweep, converged)

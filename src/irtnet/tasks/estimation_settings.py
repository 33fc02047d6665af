"""The settings of the estimation protocol (`irtnet.tasks.estimation_protocol`): their checks, what one draw
depends on, and the record of them in the result.

- `check_settings`: ConfigError naming the first setting out of range, before the table is read or any training.
- `DrawSettings`: what one draw's result depends on besides the data, the models and the code (the draw cache
  key's settings, `estimation_draws.draw_path`).
- `settings_record`: the settings as the result's `settings` record (`EstimationEvaluation.settings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from irtnet.errors import ConfigError
from irtnet.tasks.estimate import _check_level, check_prior_strength, check_replay_weight
from irtnet.tasks.estimation_summary import METHODS
from irtnet.tasks.item_refit import CHOICE_ANSWERS
from irtnet.tasks.model_split import check_replay_folds


def check_settings(ns: Sequence[int], draws: int, held_out_share: float, methods: Sequence[str],
                   retrain: bool = False, routing_ns: Sequence[int] = (), level: float = 0.9, replay_folds: int = 0,
                   replay_weight: str = "auto", prior_strength: float | None = 1.0) -> None:
    """ConfigError naming the first of the protocol's settings that is out of range, before the table is read
    (`api.estimation` calls it before embedding the table) and before any training."""
    _check_settings(ns, draws, held_out_share, methods)
    if retrain and "retrain" in methods and (not routing_ns or any(int(n) < 1 for n in routing_ns)):
        raise ConfigError(f"routing_ns: numbers of answers must be given and at least 1, got {list(routing_ns)}")
    _check_level(level)
    check_replay_folds(replay_folds)
    check_replay_weight(replay_weight)
    check_prior_strength(prior_strength)


def _check_settings(ns: Sequence[int], draws: int, held_out_share: float, methods: Sequence[str]) -> None:
    if not ns or any(int(n) < 1 for n in ns):
        raise ConfigError(f"numbers of answers must be at least 1, got {list(ns)}")
    for name, values in (("ns", [int(n) for n in ns]), ("methods", list(methods))):
        repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
        if repeated is not None:  # each (method, N) would be scored twice: its cells, and their weight, doubled
            raise ConfigError(f"{name}: {repeated!r} is given twice; give each once")
    if draws < 1:
        raise ConfigError(f"draws must be at least 1, got {draws}")
    if not 0 < held_out_share < 1:
        raise ConfigError(f"held_out_share must lie strictly between 0 and 1, got {held_out_share}")
    if not methods:
        raise ConfigError(f"no estimation method given; choose from {list(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown estimation method {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"choose from {list(METHODS)}")


@dataclass(frozen=True)
class DrawSettings:
    """What one draw's result depends on besides the data, the models and the code (its cache key's settings)."""

    ns: tuple[int, ...]
    held_out_share: float
    seed: int
    methods: tuple[str, ...]
    retrain: bool
    routing_ns: tuple[int, ...]
    fractions: tuple[float, float, float]
    level: float
    n_draws: int
    irt_dim: int
    item_refit: bool
    replay_folds: int
    prior_strength: float | None
    replay_weight: str


def settings_record(s: DrawSettings, draws: int, n_held_out: int, n_boot: int, refits: list[dict[str, Any]],
                    item_seen: bool) -> dict[str, Any]:
    """The protocol's settings as the result records them: `s`, the number of draws and held-out models, the
    bootstrap's size, each draw's item refit (`refits`) and how the baselines and the pool are defined. The routing
    N are left out where nothing was routed (no `retrain`, or an item-seen model)."""
    return {"ns": list(s.ns), "draws": draws, "held_out_share": s.held_out_share, "n_held_out": n_held_out,
            "seed": s.seed, "methods": list(s.methods),
            "routing_ns": list(s.routing_ns) if s.retrain and not item_seen else [],
            "replay_folds": s.replay_folds, "replay_weight": s.replay_weight, "fractions": list(s.fractions),
            "prior_strength": "chosen per draw and N (item_refit.per_draw)" if s.prior_strength is None
            else s.prior_strength,
            "level": s.level, "n_draws": s.n_draws, "n_boot": n_boot, "irt_dim": s.irt_dim,
            "p_irt": f"classical MIRT-2PL (dim {s.irt_dim}, free item parameters, MAP) fitted on the known models",
            "gp_irt_lambda": "b^2 / (b^2 + s^2 / n_g): b^2 split-half IRT bias on known models, s^2 item variance",
            "pool": "the query split's train part; truth = the held-out model's mean label on a benchmark's pool items",
            "item_refit": {"on": s.item_refit, "per_draw": refits,
                           "what": "irtnet's pool items refitted on the known models' answers; the items' prior "
                                   "sd and the ability prior's kind (then, unless given, its strength) chosen at "
                                   f"{CHOICE_ANSWERS} answers by two-fold cross-fitting over the known models "
                                   "(tasks/item_refit.py)"}}

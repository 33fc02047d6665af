"""The state one server holds: the loaded checkpoint, its prices and upstreams, the default policy, and the
decisions it made (remembered and logged)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from irtnet import api
from irtnet.errors import ConfigError
from irtnet.serve.feedback import DecisionLog, DecisionStore, query_hash
from irtnet.serve.limits import Limits
from irtnet.serve.upstreams import Upstream, load_upstreams
from irtnet.training.device import resolve_device


@dataclass
class ServeConfig:
    """Everything `irtnet serve` sets beside the checkpoint; defaults are the safe ones (no log, no token)."""

    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    policy: str = "max_p"
    prices: str | Path | None = None
    upstreams: str | Path | None = None
    log: str | Path | None = None
    log_text: bool = False
    max_decisions: int = 100_000
    output_tokens: float | None = None  # None: 256 (`api.load_price_book`); given, it needs an output-token price
    device: str = "cpu"


def _default_policy(text: str) -> api.Policy:
    """The --policy of model "irtnet"; a ConfigError naming the option when it is malformed."""
    try:
        return api.Policy.parse(text)
    except ConfigError as exc:
        raise ConfigError(f"--policy {text!r}: {exc}") from None


@dataclass
class Recorded:
    """A decision with its id, as remembered and logged."""

    decision_id: str
    decision: api.Decision


class Service:
    """One checkpoint served: routing decisions recorded in the store and the log."""

    def __init__(self, checkpoint: str | Path, config: ServeConfig,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config, self.transport = config, transport
        device = resolve_device(config.device)  # "cuda" without CUDA stops the server here, not every request
        self.predictor = api.load(checkpoint)
        if hasattr(self.predictor, "device"):  # IrtNet scores on this device (checkpoints load on any)
            self.predictor.device = str(device)
        self.models: list[str] = self.predictor.models_.to_list()
        self.book = api.load_price_book(checkpoint, config.prices, config.output_tokens)
        self.default_policy = _default_policy(config.policy)
        api.check_policy(self.predictor, self.default_policy, self.book)  # fail at start-up, not per request
        self.upstreams: dict[str, Upstream] = load_upstreams(config.upstreams, self.models) if config.upstreams else {}
        self.store = DecisionStore(config.max_decisions)
        self.log = DecisionLog(config.log)
        # a log that takes no line stops the server here (ConfigError, the log closed), not every request
        self.log.start({"event": "start", "checkpoint": str(Path(checkpoint).resolve()),
                        "predictor": self.predictor.name, "models": self.models,
                        "policy": self.default_policy.spec, "prices": self.book.source, "time": time.time()})

    @property
    def probabilities(self) -> bool:
        return api.has_probabilities(self.predictor)

    def decide(self, texts: Sequence[str], policy: api.Policy, candidates: Sequence[str] | None = None,
               benchmark: str | None = None, endpoint: str = "/v1/route") -> list[Recorded]:
        """Route `texts` under `policy`, remembering and logging each decision."""
        decisions = api.route_texts(self.predictor, texts, policy, self.book, candidates, benchmark)
        out = [Recorded(uuid.uuid4().hex, decision) for decision in decisions]
        # every line of the request in one write, or none (503): a failed request leaves no decision behind
        self.log.append_all([self._log_line(rec, text, endpoint) for rec, text in zip(out, texts)], sync=False)
        for rec, text in zip(out, texts):  # remembered once logged, not before
            self.store.put(rec.decision_id, {"model": rec.decision.model, "query_hash": query_hash(text)})
        return out

    def _log_line(self, rec: Recorded, text: str, endpoint: str) -> dict[str, Any]:
        d = rec.decision
        line = {"event": "decision", "id": rec.decision_id, "model": d.model, "policy": d.policy,
                "p_correct": d.p_correct, "cost": d.cost, "path": d.path, "fallback": d.fallback,
                "query_hash": query_hash(text), "candidates": [r.model for r in d.ranking], "endpoint": endpoint,
                "time": time.time()}
        if self.config.log_text:
            line["text"] = text
        return line

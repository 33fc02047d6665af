"""An irtnet routing strategy for LiteLLM's Router (needs the `litellm` extra: `pip install irtnet[litellm]`).

Each request goes to the deployment of the asked model group whose irtnet model the checkpoint's policy chooses
for the last user message (irtnet.api.route_texts among the deployments the group has):

    router = litellm.Router(model_list=[
        {"model_name": "auto", "litellm_params": {"model": "openai/gpt-4o"}, "model_info": {"id": "gpt-4o"}},
        {"model_name": "auto", "litellm_params": {"model": "openai/gpt-4o-mini"}},
    ])
    IrtnetRoutingStrategy("runs/x", "p_min=0.8", prices="prices.json").attach(router)
    router.completion(model="auto", messages=[{"role": "user", "content": "What is 2 + 2?"}])

A deployment is the irtnet model named by `mapping` (keyed by its `model_info.id` or its `litellm_params.model`),
else by its `model_info.id`, its `litellm_params.model`, or that model without its provider prefix ("openai/").
Deployments that name no model of the checkpoint are never chosen; a `mapping` key that is no deployment's id or
model is an error when the strategy is attached to its router (or made with one). A model group holds one deployment
per irtnet model: where two deployments of one group stand for the same irtnet model, only the first listed is ever
chosen (the strategy picks a model, not a copy of it: no load balancing between them). litellm is imported here,
and only here: the rest of irtnet never needs it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from irtnet import api
from irtnet._io import brief, is_unicode
from irtnet.api.routing_policies import as_policy
from irtnet.errors import ConfigError, DataError

try:
    from litellm.router import CustomRoutingStrategyBase
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError("irtnet.integrations.litellm_strategy needs litellm: pip install 'irtnet[litellm]'") from exc

__all__ = ["IrtnetRoutingStrategy", "request_text"]


def request_text(messages: Sequence[Mapping[str, Any]] | None, input: str | Sequence[Any] | None = None) -> str:
    """The text to route on: the last user message (its "text" parts where the content is a list, as the irtnet
    service reads it), else an embedding request's `input`. Messages without a user message are a DataError, as
    the service's 422: a system prompt or an assistant turn is not the query to route. Content that is neither a
    string nor a list of parts (an object, a number) is a DataError, never routed on as its repr."""
    if messages:
        users = [m for m in messages if m.get("role") == "user"]
        if not users:
            roles = sorted({str(m.get("role")) for m in messages})
            raise DataError(f"the messages hold no user message to route on (roles: {', '.join(roles)})")
        return _content_text(users[-1].get("content"))
    if isinstance(input, str):
        return input
    if input:
        odd = next((i for i, x in enumerate(input) if not isinstance(x, str)), None)
        if odd is not None:  # token ids or an object: no text to route on, never left out of it
            raise DataError(f"input item {odd} to route on is {type(input[odd]).__name__} "
                            f"{brief(input[odd], 60, count=True)}: give the input as text (a string or strings)")
        return "\n".join(input)
    return ""


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        return "\n".join(t for t in map(_part_text, range(len(content)), content) if t)
    raise DataError(f"the message content to route on is {type(content).__name__} {brief(content, 60, count=True)}: "
                    "give a string or a list of content parts ({'type': 'text', 'text': ...})")


def _part_text(j: int, part: Any) -> str | None:
    """A content part's text: only a "text" part has one (an image part's caption is no query text, as the
    irtnet service reads it); a part without its type, of no kind a part has, or a "text" part without a string
    text is a DataError (the service's 422), never guessed to be text nor left out of it."""
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        raise DataError(f"content part {j} of the message to route on is {type(part).__name__} "
                        f"{brief(part, 60, count=True)}: give an object such as {{'type': 'text', 'text': ...}}")
    if part.get("type") is None:
        raise DataError(f"content part {j} of the message to route on has no type: give every content part a type "
                        "('text', 'image_url', ...)")
    if part["type"] != "text":
        return None
    if not isinstance(part.get("text"), str):
        raise DataError(f"content part {j} of the message to route on is of type 'text' and its text is "
                        f"{brief(part.get('text'), 60, count=True)}: give its text as a string")
    return part["text"]


class IrtnetRoutingStrategy(CustomRoutingStrategyBase):
    """Routes a LiteLLM model group's requests with an irtnet checkpoint (a run or checkpoint directory) and a
    policy ("max_p", "p_min=0.8", "utility=0.5", "cost_cap=0.01"; those beyond max_p need `prices`)."""

    def __init__(self, checkpoint: str | Path, policy: str = "max_p", *, router: Any = None,
                 mapping: Mapping[str, str] | None = None, prices: str | Path | None = None,
                 benchmark: str | None = None) -> None:
        self.policy = as_policy(policy)
        self.predictor = api.load(checkpoint)
        if benchmark is not None:  # a misspelt name: refused here, not on every request
            api.check_benchmarks(self.predictor, [benchmark])
        self.book = api.load_price_book(checkpoint, prices)
        if self.policy.needs_cost:  # a policy that cannot run is refused here, as `irtnet serve` does at start-up,
            # not on every request; each deployment's model needs its price only when it is a candidate
            priced = [m for m in self.predictor.models_.to_list() if m in (self.book.prices or {})]
            api.check_policy(self.predictor, self.policy, self.book, priced or None)
        self.mapping = dict(mapping or {})
        self.benchmark = benchmark
        self.known = set(self.predictor.models_.to_list())
        unknown = sorted(set(self.mapping.values()) - self.known)
        if unknown:
            raise ConfigError(f"mapping names model(s) the checkpoint does not have: {', '.join(map(repr, unknown))}")
        self.router = None
        self.last_decision: api.Decision | None = None
        self._lock = threading.Lock()
        if router is not None:
            self.attach(router)

    def attach(self, router: Any) -> IrtnetRoutingStrategy:
        """Make this strategy `router`'s (litellm.Router.set_custom_routing_strategy); returns self. A `mapping` key
        that names none of the router's deployments (by `model_info.id` or `litellm_params.model`) is an error."""
        names = [k for d in router.model_list for k in ((d.get("model_info") or {}).get("id"),
                                                        (d.get("litellm_params") or {}).get("model")) if k]
        unused = sorted(set(self.mapping) - set(names))
        if unused:
            raise ConfigError(f"mapping key(s) {', '.join(map(repr, unused))} name no deployment of the router; its "
                              f"deployments' ids and models: {', '.join(map(repr, dict.fromkeys(names))) or '(none)'}")
        self.router = router
        router.set_custom_routing_strategy(self)
        return self

    # --------------------------------------------------------------------------------------------- mapping
    def irtnet_model(self, deployment: Mapping[str, Any]) -> str | None:
        """The checkpoint's model a deployment stands for, or None."""
        info = deployment.get("model_info") or {}
        params = deployment.get("litellm_params") or {}
        keys = [k for k in (info.get("id"), params.get("model")) if k]
        for key in keys:
            if key in self.mapping:
                return self.mapping[key]
        for key in keys:
            if key in self.known:
                return key
        bare = str(params.get("model") or "").split("/", 1)[-1]
        return bare if bare in self.known else None

    def deployments(self, model: str) -> list[dict[str, Any]]:
        """The router's deployments of model group `model` (or, where no group has that name, those whose
        `litellm_params.model` is `model`)."""
        if self.router is None:
            raise ConfigError("IrtnetRoutingStrategy is not attached to a router: call .attach(router)")
        listed = list(self.router.model_list)
        group = [d for d in listed if d.get("model_name") == model]
        return group or [d for d in listed if (d.get("litellm_params") or {}).get("model") == model]

    # --------------------------------------------------------------------------------------------- choice
    def choose(self, model: str, messages: Sequence[Mapping[str, Any]] | None = None,
               input: str | Sequence[Any] | None = None, specific_deployment: bool | None = False) -> dict[str, Any]:
        """The deployment for one request."""
        if specific_deployment:
            for d in self.router.model_list if self.router is not None else ():
                if model in ((d.get("model_info") or {}).get("id"), (d.get("litellm_params") or {}).get("model")):
                    return d
        candidates = self.deployments(model)
        if not candidates:
            raise ConfigError(f"the router has no deployment of model {model!r}")
        by_name: dict[str, dict[str, Any]] = {}
        for d in candidates:
            name = self.irtnet_model(d)
            if name is not None:
                by_name.setdefault(name, d)
        if not by_name:
            shown = ", ".join(repr((d.get("litellm_params") or {}).get("model")) for d in candidates)
            raise ConfigError(f"no deployment of {model!r} ({shown}) names a model of the irtnet checkpoint; pass "
                              "mapping={deployment id or litellm model: irtnet model}")
        text = request_text(messages, input)
        # named here: route_texts would blame a 'text' field the request does not have
        if not text.strip():
            raise DataError(f"the request to {model!r} has no text to route on: its last user message (or input) "
                            "is empty or has no text parts")
        if not is_unicode(text):
            raise DataError(f"the request to {model!r} holds a lone surrogate (an unpaired UTF-16 escape) in its last "
                            "user message (or input); send valid Unicode")
        with self._lock:
            [decision] = api.route_texts(self.predictor, [text], self.policy, self.book, candidates=list(by_name),
                                         benchmark=self.benchmark)
        self.last_decision = decision
        return by_name[decision.model]

    def get_available_deployment(self, model: str, messages: list[dict[str, str]] | None = None,
                                 input: str | list | None = None, specific_deployment: bool | None = False,
                                 request_kwargs: dict | None = None) -> dict[str, Any]:
        return self.choose(model, messages, input, specific_deployment)

    async def async_get_available_deployment(self, model: str, messages: list[dict[str, str]] | None = None,
                                             input: str | list | None = None,
                                             specific_deployment: bool | None = False,
                                             request_kwargs: dict | None = None) -> dict[str, Any]:
        # scoring runs torch: off the event loop, like the irtnet service does
        return await asyncio.to_thread(self.choose, model, messages, input, specific_deployment)

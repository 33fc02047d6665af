"""What a request asks to route: the policy (from /v1/route's `policy` or a chat request's `model`) and the
text (the last user message of a conversation)."""

from __future__ import annotations

from collections.abc import Sequence

from irtnet import api
from irtnet.errors import IrtnetError
from irtnet.serve.errors import ApiError
from irtnet.serve.schemas import ChatMessage


def policy_of(text: str | None, default: api.Policy) -> api.Policy:
    """/v1/route's `policy`: None (the server's default), "p_min=0.8", or a router model name ("irtnet:utility=0.5",
    "router-irtnet-0.8")."""
    if text is None:
        return default
    try:
        return api.parse_router_model(text, default) or api.Policy.parse(text)
    except IrtnetError as exc:
        raise ApiError(422, f"policy {text!r}: {exc}") from None


def model_policy(model: str, default: api.Policy, models: Sequence[str]) -> tuple[api.Policy, list[str] | None]:
    """(policy, candidates forced by the name) of a chat request's `model`: a router name, or one of the
    checkpoint's models (sent to that model, still scored and logged). Anything else is a 404."""
    try:
        policy = api.parse_router_model(model, default)
    except IrtnetError as exc:
        raise ApiError(422, f"model {model!r}: {exc}") from None
    if policy is not None:
        return policy, None
    if model in set(models):
        return api.Policy("max_p"), [model]
    raise ApiError(404, f"unknown model {model!r}: use 'irtnet' (the server's default policy), 'irtnet:max_p', "
                        "'irtnet:p_min=0.8', 'irtnet:utility=0.5', 'irtnet:cost_cap=0.01', 'router-irtnet-0.8' "
                        "or one of the models listed by GET /v1/models")


def message_text(message: ChatMessage) -> str:
    """A message's text: its content string, or its text parts joined by newlines."""
    if isinstance(message.content, str):
        return message.content
    parts = [p.text for p in message.content or [] if p.type == "text" and isinstance(p.text, str)]
    return "\n".join(parts)


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The text the conversation is routed on: its last user message."""
    for message in reversed(messages):
        if message.role == "user":
            text = message_text(message)
            if not text.strip():
                raise ApiError(422, "the last user message has no text to route on (content is empty or has no "
                                    "text parts)")
            return text
    raise ApiError(422, "messages hold no user message to route on")

"""Request and response bodies of the service (docs/serving.md describes every field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


# ------------------------------------------------------------------------------------------- /predict, /route
class PredictRequest(BaseModel):
    texts: list[str] = Field(min_length=1)
    models: list[str] | None = None
    benchmark: str | None = None


class RouteRequest(PredictRequest):
    top: int = Field(3, ge=1)


# ------------------------------------------------------------------------------------------- messages
class ContentPart(BaseModel):
    """One part of a message's content; only "text" parts are read for routing, the rest pass through."""

    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[ContentPart] | None = None


# ------------------------------------------------------------------------------------------- /v1/route
class V1RouteRequest(BaseModel):
    """Exactly one of `messages` (routed on the last user message), `prompt` or `texts` (one decision each)."""

    model_config = ConfigDict(extra="forbid")
    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    texts: list[str] | None = Field(None, min_length=1)
    candidates: list[str] | None = None
    policy: str | None = None
    benchmark: str | None = None

    @model_validator(mode="after")
    def _one_input(self) -> V1RouteRequest:
        given = [k for k in ("messages", "prompt", "texts") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of messages, prompt, texts (got {', '.join(given) or 'none'})")
        return self


class RankedOut(BaseModel):
    model: str
    score: float
    p_correct: float | None
    cost: float | None


class DecisionOut(BaseModel):
    decision_id: str
    model: str
    p_correct: float | None
    cost: float | None
    policy: str
    path: str
    fallback: str | None
    ranking: list[RankedOut]


class V1RouteResponse(DecisionOut):
    """The first (for `messages` or `prompt`, the only) decision at the top level; all of them in `decisions`."""

    object: Literal["irtnet.route"] = "irtnet.route"
    prices: str | None
    decisions: list[DecisionOut]


# ------------------------------------------------------------------------------------------- /v1/chat/completions
class ChatRequest(BaseModel):
    """The OpenAI chat request; fields irtnet does not read are forwarded as sent. `candidates` and `benchmark`
    are irtnet's own (send them with the client's extra_body) and are not forwarded."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    candidates: list[str] | None = None
    benchmark: str | None = None


# ------------------------------------------------------------------------------------------- /v1/feedback
class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision_id: str = Field(min_length=1, max_length=128)
    correct: float = Field(ge=0, le=1, description="1 (true) correct, 0 (false) wrong, or a score in between")


class FeedbackResponse(BaseModel):
    status: Literal["recorded"] = "recorded"
    decision_id: str
    model: str


# ------------------------------------------------------------------------------------------- /v1/models
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]

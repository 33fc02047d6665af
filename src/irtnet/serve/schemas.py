"""Request and response bodies of the service (docs/serving.md describes every field)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic_core import PydanticCustomError


def no_duplicates(names: list[str] | None, what: str) -> list[str] | None:
    """`names` unchanged, or a validation error naming each entry given more than once."""
    if names is None:
        return None
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise PydanticCustomError("duplicate", "{what} named more than once: {names}; name each once",
                                  {"what": what, "names": ", ".join(map(repr, twice))})
    return names


# ------------------------------------------------------------------------------------------- /predict, /route
class PredictRequest(BaseModel):
    """Strict: unknown fields are refused and no value is coerced (`"top": "3"`, `true` or `2.0` is a 422)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(min_length=1)
    models: list[str] | None = Field(None, min_length=1, description="omitted: every model; never empty")
    benchmark: str | None = None

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, models: list[str] | None) -> list[str] | None:
        return no_duplicates(models, "model(s)")


class RouteRequest(PredictRequest):
    top: int = Field(3, ge=1, description="at most the number of models ranked (a 422 beyond); omitted: 3, or "
                                          "every model ranked when fewer")


# ------------------------------------------------------------------------------------------- messages
class ContentPart(BaseModel):
    """One part of a message's content; only "text" parts are read for routing, the rest pass through. A part
    needs its `type` (never guessed to be text) and a "text" part its `text`; the request refuses one without,
    naming its place."""

    model_config = ConfigDict(extra="allow")
    type: str | None = None
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[ContentPart] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _content_kind(cls, value: Any) -> Any:
        # one message naming what content may be, not one per member of the union ("content.str: ...; content.list")
        if value is not None and not isinstance(value, (str, list)):
            raise PydanticCustomError("content_type", "give a string, a list of content parts or null, not {kind}",
                                      {"kind": _json_kind(value)})
        for j, part in enumerate(value if isinstance(value, list) else []):
            _check_part_kinds(j, part)
        return value


def _check_part_kinds(j: int, part: Any) -> None:
    """One message naming content part `j` that is no object, or whose `type` or `text` is no string (null
    aside): else each member of the union would add its own ("content.str: ...; content.list[ContentPart]...")."""
    if not isinstance(part, dict):
        raise PydanticCustomError("part_kind", 'content part {j} must be an object such as {"type": "text", '
                                               '"text": "..."}, not {kind}',
                                  {"j": j, "kind": _json_kind(part)})
    for key in ("type", "text"):
        if part.get(key) is not None and not isinstance(part[key], str):
            raise PydanticCustomError("part_field", "content part {j}'s {key} must be a string, not {kind}",
                                      {"j": j, "key": key, "kind": _json_kind(part[key])})


def check_parts(messages: list[ChatMessage] | None) -> None:
    """A validation error naming the first content part without a `type` (messages[i].content[j].type), or of
    type "text" without its `text` (messages[i].content[j].text)."""
    for i, message in enumerate(messages or []):
        for j, part in enumerate(message.content if isinstance(message.content, list) else []):
            if part.type is None:
                raise PydanticCustomError("part_type", "messages[{i}].content[{j}].type is missing: give every "
                                                       "content part a type ('text', 'image_url', ...)",
                                          {"i": i, "j": j})
            if part.type == "text" and part.text is None:
                raise PydanticCustomError("part_text", "messages[{i}].content[{j}].text is missing: a part of "
                                                       "type 'text' needs its text (a string)", {"i": i, "j": j})


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

    @field_validator("candidates")
    @classmethod
    def _distinct_candidates(cls, candidates: list[str] | None) -> list[str] | None:
        return no_duplicates(candidates, "candidate model(s)")

    @model_validator(mode="after")
    def _one_input(self) -> V1RouteRequest:
        given = [k for k in ("messages", "prompt", "texts") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of messages, prompt, texts (got {', '.join(given) or 'none'})")
        return self

    @model_validator(mode="after")
    def _checked_parts(self) -> V1RouteRequest:
        check_parts(self.messages)
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
    stream: StrictBool = False  # a JSON true/false (null: false, as OpenAI reads it): "true" or 1 is a 422
    candidates: list[str] | None = None
    benchmark: str | None = None
    # forwarded as sent, but checked first: a value every upstream refuses is a 422 here, before a decision is
    # made and logged, not a 502 relaying the upstream's refusal (null: the upstream's default)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, ge=0, le=1)

    @field_validator("stream", mode="before")
    @classmethod
    def _null_stream(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("max_tokens", "max_completion_tokens", "n", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # a JSON whole number; 100.0 is one (Python's json writes a float so), "100", true or 1.5 are not
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise PydanticCustomError("int_type", "Input should be a valid integer")  # pydantic's own words

    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _json_number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise PydanticCustomError("number_type", "give a JSON number, not {kind}", {"kind": _json_kind(value)})
        return value

    @field_validator("candidates")
    @classmethod
    def _distinct_candidates(cls, candidates: list[str] | None) -> list[str] | None:
        return no_duplicates(candidates, "candidate model(s)")

    @model_validator(mode="after")
    def _checked_parts(self) -> ChatRequest:
        check_parts(self.messages)
        return self

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> ChatRequest:
        """`stream_options` without `stream: true` is refused by OpenAI and vLLM alike: a 422 here, before a
        decision is made and logged, not a 502 relaying the upstream's refusal."""
        if (self.model_extra or {}).get("stream_options") is not None and not self.stream:
            raise PydanticCustomError("stream_options", "stream_options is only taken with stream: true (upstreams "
                                                        "refuse it otherwise); set stream to true or leave "
                                                        "stream_options out")
        return self


# ------------------------------------------------------------------------------------------- /v1/feedback
class FeedbackRequest(BaseModel):
    """`correct` is a JSON boolean or number (true = 1, false = 0); a string such as "1" is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
    decision_id: str = Field(min_length=1, max_length=128)
    correct: float = Field(ge=0, le=1, description="true (1) correct, false (0) wrong, or a score in between")

    @field_validator("correct", mode="before")
    @classmethod
    def _boolean_or_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, (int, float)):
            raise PydanticCustomError("correct_type", "give true, false or a number in [0, 1], not {kind}",
                                      {"kind": _json_kind(value)})
        return value


def _json_kind(value: Any) -> str:
    names = {str: "a string", type(None): "null", list: "a list", dict: "an object", bool: "a boolean",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


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

"""What the service accepts: a bearer token when one is set, a bounded body of valid JSON (no NaN, Infinity or
lone surrogates, which Python's json module would let through to a 500 later, and no object that gives a key
twice, of which it would silently keep the last), and bounded query texts.

`Guard` is plain ASGI middleware: it reads the body once (at most `max_body_bytes`), checks it and hands the
same bytes on, so the endpoints behind it never see an oversized or malformed body.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from irtnet._io import is_unicode, unique_keys
from irtnet.errors import ConfigError, DataError
from irtnet.serve.errors import ApiError, error_response

#: Paths answered without the bearer token: liveness and the API description.
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})


@dataclass(frozen=True)
class Limits:
    """Request limits; a body over `max_body_bytes`, or texts over the count or length limit, answer 413."""

    max_body_bytes: int = 1_000_000
    max_texts: int = 256
    max_text_chars: int = 32_000


def check_token(token: str | None) -> None:
    """Refuse (ConfigError) a bearer token that no request could carry: whitespace at an end (a trailing newline
    from a secrets file), a control character or a non-ASCII character, which a header cannot hold (HTTP clients
    such as httpx and the openai client send ASCII headers only), so its requests would be 401s."""
    if token and (token != token.strip() or not token.isprintable()):
        raise ConfigError("--token (IRTNET_TOKEN) has whitespace at an end (a trailing newline?) or a control "
                          "character: no Authorization header can carry it, so every request would be refused; "
                          "set the token alone")
    if token and not token.isascii():
        raise ConfigError("--token (IRTNET_TOKEN) holds a non-ASCII character: the openai client (httpx) cannot "
                          "send it in a header and other clients encode it in ways that do not match, so requests "
                          "would be refused; use an ASCII token (letters, digits and punctuation)")


def check_texts(texts: Sequence[str], limits: Limits, field: str = "texts") -> None:
    """Raise ApiError for too many (413), too long (413), empty (422) or non-Unicode (422) texts."""
    if len(texts) > limits.max_texts:
        raise ApiError(413, f"{len(texts)} {field} in one request; the server takes at most {limits.max_texts} "
                            "(--max-texts)")
    for i, text in enumerate(texts):
        where = f"{field}[{i}]" if len(texts) > 1 or field == "texts" else field
        if not text.strip():
            raise ApiError(422, f"{where} is empty: give a non-empty query text")
        if len(text) > limits.max_text_chars:
            raise ApiError(413, f"{where} has {len(text)} characters; the server takes at most "
                                f"{limits.max_text_chars} (--max-text-chars)")
        if not is_unicode(text):
            raise ApiError(422, f"{where} holds a lone surrogate (an unpaired UTF-16 escape); send valid Unicode")


# ------------------------------------------------------------------------------------------- JSON body
class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


class JsonProblem(ValueError):
    """Why some bytes are no acceptable JSON document; `advice` says what the sender should do instead."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.advice = advice


def load_json(body: bytes | str, what: str = "the body", unique: bool = False) -> Any:
    """The JSON document in `body` (called `what` in messages); JsonProblem when it is invalid, not UTF-8, nested
    too deeply, or holds NaN, Infinity or a lone surrogate (which Python's json module lets through); with
    `unique`, also when an object gives a key twice (which Python's json module reads as its last value)."""
    try:
        doc = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float,
                         object_pairs_hook=unique_keys(None) if unique else None)
    except _NonFinite as exc:
        raise JsonProblem(f"{what} holds the non-finite number {exc}: JSON has no NaN or Infinity",
                          "send a finite number (or null where allowed)") from None
    except DataError as exc:  # unique_keys: a key given twice (its field)
        raise JsonProblem(f"{what} gives the key {exc.field!r} twice in one object", "give each key once") \
            from None
    except RecursionError:
        raise JsonProblem(f"{what} is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError, and ints beyond Python's digit limit
        raise JsonProblem(f"{what} is not valid JSON ({exc})") from None
    bad = _surrogate_path(doc)
    if bad is not None:
        raise JsonProblem(f"the string at {bad} holds a lone surrogate (an unpaired UTF-16 escape)",
                          "send valid Unicode")
    return doc


def json_problem(body: bytes) -> str | None:
    """Why the request `body` is no acceptable JSON document (a key given twice in one object included), with
    advice (None: it is one)."""
    try:
        load_json(body, unique=True)
    except JsonProblem as exc:
        return f"{exc}; {exc.advice}" if exc.advice else str(exc)
    return None


def _surrogate_path(doc: Any) -> str | None:
    """JSON path of the first string (value or key) that is not valid Unicode; walked without recursion."""
    stack: list[tuple[str, Any]] = [("$", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str) and not is_unicode(node):
            return path
        if isinstance(node, dict):
            for key, value in node.items():
                if not is_unicode(key):
                    return f"{path} (a key)"
                stack.append((f"{path}.{key}", value))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", value) for i, value in enumerate(node))
    return None


# ------------------------------------------------------------------------------------------- middleware
def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


class Guard:
    """ASGI middleware: bearer token (when set), body size limit and JSON sanity, answered as JSON errors."""

    def __init__(self, app: ASGIApp, limits: Limits, token: str | None = None) -> None:
        self.app, self.limits, self.token = app, limits, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token and scope["path"] not in OPEN_PATHS and not self._authorized(scope):
            await error_response(401, "missing or wrong bearer token: send the header 'Authorization: Bearer "
                                      "<token>' (the server's --token or IRTNET_TOKEN)",
                                 headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body, problem = await self._read(scope, receive)
        if problem is not None:
            await error_response(*problem)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _authorized(self, scope: Scope) -> bool:
        given = _header(scope, b"authorization") or b""
        scheme, _, token = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), str(self.token).encode())

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, tuple[int, str] | None]:
        limit = self.limits.max_body_bytes
        too_big = (413, f"request body over {limit} bytes (the server's --max-body-bytes)")
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return b"", too_big
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", (400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", too_big
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or b"application/json").decode("latin-1").lower()
        if body and "json" in content_type:
            problem = json_problem(body)
            if problem is not None:
                return body, (422, problem)
        return body, None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the already-read body once, then the client's own messages (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

"""Where each routed model is answered: an OpenAI-compatible base URL per model and the NAME of the environment
variable holding its key (never the key itself), from a TOML or JSON file:

    [models."gpt-4o-mini"]
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"     # optional: no Authorization header without it
    model = "gpt-4o-mini-2024-07-18"   # optional: the name the upstream knows (default: the model's own)
    timeout = 120                      # optional: seconds

Requests go out with httpx, one client per request (so the service holds no connection state between
requests); `transport` lets tests answer them in-process.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from irtnet._io import brief, unique_keys
from irtnet.errors import ConfigError, DataError
from irtnet.serve.errors import ApiError
from irtnet.serve.limits import JsonProblem, load_json

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Upstream:
    """One model's OpenAI-compatible endpoint; `api_key` read from its environment variable at start-up."""

    model: str
    base_url: str
    upstream_model: str
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def load_upstreams(path: str | Path, known: Sequence[str]) -> dict[str, Upstream]:
    """model -> Upstream from a TOML or JSON file ({"models": {name: {...}}}); every name must be one of `known`
    and every named key variable must be set."""
    path = Path(path)
    raw = _read(path)
    beside = sorted(set(raw) - {"models"}) if "models" in raw else []
    if beside:  # a misspelt [modles."x"] beside [models."y"] would leave model x without its upstream, quietly
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(map(repr, beside))} beside 'models'; put "
                          "every model's table under 'models'")
    table = raw.get("models", raw)
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: expected a 'models' table of model -> {{base_url, api_key_env}}")
    unknown = [m for m in table if m not in set(known)]
    if unknown:
        raise ConfigError(f"{path}: model(s) {', '.join(map(repr, unknown))} are not in the checkpoint "
                          f"(its models: {', '.join(known)})")
    return {str(m): _upstream(path, str(m), spec) for m, spec in table.items()}


def _read(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"--upstreams {path}: is a directory; give the TOML or JSON file of the upstreams")
    if not path.is_file():
        raise ConfigError(f"no such upstream config file: {path}")
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        raw = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique_keys(str(path)))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'} ({exc})") \
            from None
    except DataError as exc:  # unique_keys: a key given twice (TOML refuses one itself)
        raise ConfigError(f"{path}: {exc.reason}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected an object with a 'models' table")
    return raw


def _upstream(path: Path, model: str, spec: Any) -> Upstream:
    where = f"{path}, model {model!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table with base_url and api_key_env")
    extra = sorted(set(spec) - {"base_url", "api_key_env", "model", "timeout"})
    if extra:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(extra)} (a key goes in an environment variable "
                          "named by api_key_env, never in the file)")
    base_url = spec.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: base_url must be an http(s) URL, got {base_url!r}")
    problem = _url_problem(base_url)
    if problem:  # else every request to the model would fail (a 502), or go to a URL other than the one meant
        raise ConfigError(f"{where}: base_url {brief(base_url, count=True)} {problem}; give the API's base URL, e.g. "
                          "'http://localhost:8001/v1'")
    timeout = spec.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (_finite(timeout) and timeout > 0):
        raise ConfigError(f"{where}: timeout must be a positive number of seconds, got {brief(timeout)}")
    name = model if spec.get("model") is None else spec["model"]  # JSON null: left out
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: model must be the name the upstream knows (a non-empty string), got {name!r}; "
                          "leave it out to send the model's own name")
    return Upstream(model, base_url, name, _key(where, spec.get("api_key_env")), float(timeout))


def _url_problem(base_url: str) -> str | None:
    """What keeps `base_url` from being one that "/chat/completions" can be added to, or None."""
    if any(ch.isspace() for ch in base_url):
        return "holds whitespace"
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        return f"is no valid URL ({exc})"
    if not url.host:
        return "names no host"
    if url.port is not None and not 0 < url.port < 65536:
        return f"has port {url.port}, beyond 1-65535"
    if url.query or url.fragment or "?" in base_url or "#" in base_url:  # a bare '?' or '#' too: httpx drops it
        return "has a query or fragment ('?...' or '#...'), after which '/chat/completions' cannot be added"
    return None


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # a JSON integer beyond float range
        return False


def _key(where: str, env: Any) -> str | None:
    if env is None:
        return None
    if not isinstance(env, str) or not env:
        raise ConfigError(f"{where}: api_key_env must name an environment variable, got {env!r}")
    key = os.environ.get(env)
    if not key:
        raise ConfigError(f"{where}: the environment variable {env} (its key) is not set")
    if key != key.strip() or not key.isascii() or not key.isprintable():
        # httpx would refuse the header on every request, and its error quotes the header: the key itself
        raise ConfigError(f"{where}: the environment variable {env} holds a key with whitespace at an end (a "
                          "trailing newline?), a control character or a non-ASCII character, which no HTTP header "
                          "can carry; set it to the key alone")
    return key


# ------------------------------------------------------------------------------------------- forwarding
def _upstream_error(up: Upstream, status: int | None, detail: str, resp: httpx.Response | None = None) -> ApiError:
    """A 502 naming the upstream, what it answered (`upstream_status`) and why; its Retry-After (a 429's or a
    503's) passed on, so that a client waits as the upstream asked instead of retrying at once."""
    said = f"answered HTTP {status}" if status is not None else "could not be reached"
    retry = resp.headers.get("retry-after") if resp is not None else None
    return ApiError(502, f"upstream of {up.model} ({up.base_url}) {said}: {detail}",
                    headers={"Retry-After": retry} if retry else None, upstream_status=status)


def _snippet(body: bytes) -> str:
    """An upstream body in brief: its OpenAI error message ({"error": {"message": ...}} or {"error": "..."}),
    else its start as text; JSON that cannot be read (nested too deeply, NaN, ...) also says why."""
    text = body[:500].decode("utf-8", "replace").strip()
    try:
        doc = load_json(body, "the body")
    except JsonProblem as exc:  # plain text or HTML is shown as it is
        return f"{text[:100]} ({exc})" if text.startswith(("{", "[")) else text or "(empty body)"
    err = doc.get("error") if isinstance(doc, dict) else None
    message = err.get("message") if isinstance(err, dict) else err
    return message[:500] if isinstance(message, str) and message.strip() else text or "(empty body)"


async def complete(up: Upstream, payload: dict[str, Any],
                   transport: httpx.AsyncBaseTransport | None = None) -> dict[str, Any]:
    """The upstream's JSON answer to a non-streamed chat request; any failure (an answer that is no JSON object,
    or holds NaN, Infinity or a lone surrogate) is a 502 ApiError."""
    try:
        async with httpx.AsyncClient(transport=transport, timeout=up.timeout) as client:
            resp = await client.post(up.url, json=payload, headers=up.headers())
    except httpx.HTTPError as exc:
        raise _upstream_error(up, None, f"{type(exc).__name__}: {exc}") from None
    if resp.status_code >= 400:
        raise _upstream_error(up, resp.status_code, _snippet(resp.content), resp)
    try:
        body = load_json(resp.content, "the answer")
    except JsonProblem as exc:
        raise _upstream_error(up, resp.status_code, str(exc)) from None
    if not isinstance(body, dict):
        raise _upstream_error(up, resp.status_code, "the answer is not a JSON object")
    return body


async def open_stream(up: Upstream, payload: dict[str, Any],
                      transport: httpx.AsyncBaseTransport | None = None) -> tuple[httpx.AsyncClient, httpx.Response]:
    """(client, response) of a streamed chat request whose status is already known good and whose answer is a
    stream of server-sent events; the caller closes both. A failure before the first byte, or an answer of any
    other content type (plain JSON, say), is a 502 ApiError."""
    client = httpx.AsyncClient(transport=transport, timeout=up.timeout)
    try:
        req = client.build_request("POST", up.url, json=payload, headers=up.headers())
        resp = await client.send(req, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise _upstream_error(up, None, f"{type(exc).__name__}: {exc}") from None
    if resp.status_code >= 400:
        raise _upstream_error(up, resp.status_code, _snippet(await _drain(client, resp)), resp)
    content_type = resp.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "text/event-stream":
        raise _upstream_error(up, resp.status_code, f"it did not stream: asked for stream: true, it answered "
                                                    f"{content_type or 'no content type'} instead of "
                                                    f"text/event-stream ({_snippet(await _drain(client, resp))})")
    return client, resp


async def _drain(client: httpx.AsyncClient, resp: httpx.Response) -> bytes:
    """The rest of `resp`'s body, with `resp` and its `client` closed."""
    body = await resp.aread()
    await resp.aclose()
    await client.aclose()
    return body


async def relay_events(up: Upstream, client: httpx.AsyncClient, resp: httpx.Response,
                       model: str) -> AsyncIterator[bytes]:
    """The upstream's server-sent events line by line, each chunk's `model` set to the routed model; a failure
    mid-stream ends it with an error event (the status line has gone out already)."""
    try:
        async for line in _event_lines(resp):
            yield (_renamed(line, model) + "\n").encode("utf-8")
    except httpx.HTTPError as exc:
        err = _upstream_error(up, None, f"stream broke: {type(exc).__name__}: {exc}")
        yield f"data: {json.dumps({'error': {'message': err.message, 'type': 'upstream_error'}})}\n\n".encode()
    finally:
        await resp.aclose()
        await client.aclose()


_LINE_END = re.compile(rb"\r\n|\r|\n")


async def _event_lines(resp: httpx.Response) -> AsyncIterator[str]:
    """The lines of an event stream, split where server-sent events end a line (CR, LF or CRLF) and nowhere else:
    httpx's aiter_lines also splits at U+2028, U+2029 and U+0085, which a JSON string may hold as they are, and
    so would cut a chunk in two. Each byte is scanned once: a long line arriving in many chunks is joined once."""
    parts: list[bytes] = []  # the line so far, its bytes joined (and decoded) only when it ends
    after_cr = False  # the last chunk ended in CR: an LF opening the next one is that CRLF's, not an empty line
    async for chunk in resp.aiter_bytes():
        if not chunk:
            continue
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        *ended, rest = _LINE_END.split(chunk)
        for piece in ended:
            yield (b"".join(parts) + piece).decode("utf-8", "replace")
            parts = []
        if rest:
            parts.append(rest)
    if parts:
        yield b"".join(parts).decode("utf-8", "replace")


def _renamed(line: str, model: str) -> str:
    if not line.startswith("data:"):
        return line
    data = line[5:].strip()
    if data == "[DONE]":
        return line
    try:
        chunk = load_json(data, "the chunk")
    except JsonProblem:  # passed on as sent, never re-encoded into something the client cannot read
        return line
    if isinstance(chunk, dict) and "model" in chunk:
        chunk["model"] = model
        return "data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
    return line

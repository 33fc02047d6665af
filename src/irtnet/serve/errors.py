"""Every error the service answers is JSON with one clear message, in a shape both FastAPI clients and OpenAI
clients read: {"detail": message, "error": {"message": message, "type": kind, "code": status, ...}}."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from irtnet.errors import IrtnetError

_KINDS = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          405: "invalid_request_error", 409: "conflict_error", 413: "request_too_large", 422: "invalid_request_error",
          500: "server_error", 501: "not_implemented", 502: "upstream_error", 503: "unavailable"}


class ApiError(Exception):
    """An error answered with `status` and `message` (plus any `extra` fields in the error object, and `headers`
    on the response: an upstream's Retry-After, the decision's x-irtnet-* headers)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra, self.headers = status, message, extra, dict(headers or {})


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"detail": message, "error": {"message": message, "type": _KINDS.get(status, "error"), "code": status,
                                         **extra}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, message, **extra), status_code=status, headers=headers)


#: What is wrong with the body as a whole (the error's loc is just "body"), by Pydantic's error type.
_BODY_ERRORS = {"missing": "the request body is empty: send a JSON object (Content-Type: application/json)",
                "model_attributes_type": "the request body is not a JSON object: send one (Content-Type: "
                                         "application/json)"}


def validation_message(exc: RequestValidationError) -> str:
    """Pydantic's errors as one line: "texts: List should have at least 1 item; top: ..."."""
    parts = []
    for err in exc.errors():
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") in _BODY_ERRORS:
            parts.append(_BODY_ERRORS[err["type"]])
            continue
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        msg = f"{err.get('msg', 'invalid')}{_got(err)}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def _got(err: dict[str, Any]) -> str:
    """ " (got -1)": the value refused, as JSON spells it, where it is one short scalar (a list or an object is
    named by its place alone; a missing field has none)."""
    value = err.get("input")
    if err.get("type") == "missing" or not (value is None or isinstance(value, (str, int, float))):
        return ""
    text = json.dumps(value, ensure_ascii=False)
    return f" (got {text if len(text) <= 40 else text[:30] + f'...({len(text)} characters)'})"


def install_handlers(app: FastAPI) -> None:
    """Map ApiError, irtnet's own errors (422), HTTP errors, validation errors and anything else to JSON."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, headers=exc.headers or None, **exc.extra)

    @app.exception_handler(IrtnetError)
    async def _irtnet(_: Request, exc: IrtnetError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")

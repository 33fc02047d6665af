"""POST /v1/chat/completions: OpenAI's chat API, routed. The request's `model` names the router and its policy
("irtnet", "irtnet:p_min=0.8", "irtnet:utility=0.5", "router-irtnet-0.8"); the last user message picks the
model; the request goes on to that model's upstream as sent (its `model` renamed to the upstream's), and the
answer comes back with `model` set to the routed model, the decision in the x-irtnet-* headers and, when not
streamed, in an `irtnet` field.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from irtnet.api.texts import check_candidates
from irtnet.serve.errors import ApiError
from irtnet.serve.limits import check_texts
from irtnet.serve.policies import last_user_text, model_policy
from irtnet.serve.schemas import ChatRequest
from irtnet.serve.service import Recorded, Service
from irtnet.serve.upstreams import complete, open_stream, relay_events

#: irtnet's own request fields, read here and never forwarded.
OWN_FIELDS = ("candidates", "benchmark")


def decision_headers(rec: Recorded) -> dict[str, str]:
    d = rec.decision
    headers = {"x-irtnet-model": quote(d.model, safe="/:@-._~+="), "x-irtnet-decision-id": rec.decision_id,
               "x-irtnet-policy": d.policy}
    if d.p_correct is not None:
        headers["x-irtnet-p-correct"] = f"{d.p_correct:.6f}"
    return headers


def decision_field(rec: Recorded) -> dict[str, Any]:
    d = rec.decision
    return {"decision_id": rec.decision_id, "model": d.model, "p_correct": d.p_correct, "cost": d.cost,
            "policy": d.policy, "path": d.path, "fallback": d.fallback}


def forwarded(body: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The request as its upstream gets it: as sent, less irtnet's own fields and a `stream` of null (read as
    false, the default, so left out for upstreams that would refuse it), its `model` the upstream's name."""
    payload = {k: v for k, v in body.items() if k not in OWN_FIELDS and not (k == "stream" and v is None)}
    payload["model"] = upstream_model
    return payload


def _candidates(service: Service, asked: list[str] | None, forced: list[str] | None) -> list[str] | None:
    """Who may be chosen: a model named directly (which must then be among the request's candidates, if any),
    else the request's candidates, else (with upstreams configured) the models that have one, else every model
    (a choice without an upstream is then a 501)."""
    if forced is not None:
        if asked is not None:
            _check_named_among(service, forced[0], asked)
        return forced
    if asked is not None:
        return asked
    if service.upstreams:
        return [m for m in service.models if m in service.upstreams]
    return None


def _check_named_among(service: Service, model: str, candidates: list[str]) -> None:
    """Refuse (422) unknown candidates, and a `model` named directly that is not among `candidates`."""
    check_candidates(service.predictor, candidates)
    if model not in candidates:
        raise ApiError(422, f"model {model!r} is not among candidates {', '.join(map(repr, candidates))}: a "
                            "checkpoint model named as model is the only choice; name it among the candidates too, "
                            "leave candidates out, or set model to 'irtnet' to choose among them")


async def _route(service: Service, req: ChatRequest) -> Recorded:
    policy, forced = model_policy(req.model, service.default_policy, service.models)
    text = last_user_text(req.messages)
    check_texts([text], service.config.limits, "the last user message")
    candidates = _candidates(service, req.candidates, forced)
    [rec] = await run_in_threadpool(service.decide, [text], policy, candidates, req.benchmark, "/v1/chat/completions")
    return rec


def chat_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest, request: Request) -> JSONResponse | StreamingResponse:
        """Route the conversation on its last user message and answer it with the chosen model."""
        service: Service = request.app.state.service
        rec = await _route(service, req)
        upstream = service.upstreams.get(rec.decision.model)
        if upstream is None:
            raise ApiError(501, f"the router chose {rec.decision.model!r}, which has no upstream configured "
                                "(--upstreams FILE); POST /v1/route gives the decision without forwarding",
                           decision_id=rec.decision_id, routed_model=rec.decision.model)
        payload = forwarded(json.loads(await request.body()), upstream.upstream_model)
        headers = decision_headers(rec)
        try:
            if req.stream:
                client, resp = await open_stream(upstream, payload, service.transport)
                return StreamingResponse(relay_events(upstream, client, resp, rec.decision.model),
                                         media_type="text/event-stream", headers=headers)
            body = await complete(upstream, payload, service.transport)
        except ApiError as exc:  # the decision is logged and takes feedback: its 502 names it, as the 501 does
            exc.extra.update(decision_id=rec.decision_id, routed_model=rec.decision.model)
            exc.headers = {**headers, **exc.headers}  # the x-irtnet-* headers of a forwarded answer too
            raise
        body["model"] = rec.decision.model
        body["irtnet"] = decision_field(rec)
        return JSONResponse(body, headers=headers)

    return router

"""A small HTTP service over a checkpoint: predict correctness, route new query texts, and serve as an
OpenAI-compatible router (docs/serving.md).

    irtnet serve CHECKPOINT --prices prices.json --upstreams upstreams.toml --log decisions.jsonl
    POST /predict              {"texts": [...], "models": [...]?, "benchmark": str?} -> probabilities per model, paths
    POST /route                {"texts": [...], "top": 3, "models": [...]?}          -> ranked models per text
    POST /v1/route             {messages | prompt | texts, candidates?, policy?}     -> the decision
    POST /v1/chat/completions  OpenAI's chat request, model "irtnet[:policy]"        -> the routed model's answer
    POST /v1/feedback          {"decision_id": ..., "correct": true}                 -> appended to the log
    GET  /v1/models, GET /models, GET /health

The app holds one loaded predictor. Every error is JSON with a message: bad requests 422, oversized ones 413.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from irtnet import api
from irtnet._version import __version__
from irtnet.serve.errors import ApiError, install_handlers
from irtnet.serve.feedback import feedback_router
from irtnet.serve.limits import Guard, check_texts, check_token
from irtnet.serve.openai_compat import chat_router
from irtnet.serve.routing import route_router
from irtnet.serve.schemas import PredictRequest, RouteRequest
from irtnet.serve.service import ServeConfig, Service


def create_app(checkpoint: str | Path, config: ServeConfig | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The FastAPI app serving the predictor saved at `checkpoint` (checkpoint or run directory); `transport`
    answers upstream requests in-process (tests)."""
    config = config or ServeConfig()
    check_token(config.token)
    service = Service(checkpoint, config, transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.log.close()
        api.flush_caches()  # vectors encoded since the last shard write; uvicorn's SIGTERM skips exit hooks

    app = FastAPI(title="irtnet", version=__version__, lifespan=lifespan,
                  description="Predict which LLM answers a query correctly, and route to it.")
    app.state.service = service
    install_handlers(app)
    app.add_middleware(Guard, limits=config.limits, token=config.token)
    app.include_router(_legacy_router())
    for router in (route_router(), chat_router(), feedback_router()):
        app.include_router(router)
    return app


def _legacy_router() -> APIRouter:
    # the service is read from the app, as the other routers do: a closure over it would keep it (its predictor
    # and its log's descriptor) alive in FastAPI's module-level cache of endpoint functions after the app is gone
    router = APIRouter()

    @router.get("/health")
    def health(request: Request) -> dict:
        service: Service = request.app.state.service
        return {"status": "ok", "predictor": service.predictor.name, "models": len(service.models),
                "probabilities": service.probabilities, "prices": service.book.prices is not None,
                "upstreams": len(service.upstreams), "policy": service.default_policy.spec}

    @router.get("/models")
    def models(request: Request) -> dict:
        service: Service = request.app.state.service
        return {"models": service.models, "encoder": getattr(service.predictor, "encoder_", None)}

    @router.post("/predict")
    async def predict(req: PredictRequest, request: Request) -> dict:
        service: Service = request.app.state.service
        check_texts(req.texts, service.config.limits)
        names, prob, paths = await run_in_threadpool(_predict, service.predictor, req)
        return {"models": names, "probabilities": prob.tolist(), "paths": paths}

    @router.post("/route")
    async def route(req: RouteRequest, request: Request) -> dict:
        service: Service = request.app.state.service
        check_texts(req.texts, service.config.limits)
        top = _top(req, len(req.models) if req.models is not None else len(service.models))
        ranked, paths = await run_in_threadpool(_rank, service.predictor, req, top)
        probs = service.probabilities  # a router without probabilities (RouterDC) ranks by a score that is no P
        return {"routes": [{"text": t, "path": path, "ranked": [{"model": m, "score": s,
                                                                 "p_correct": s if probs else None} for m, s in r]}
                           for t, r, path in zip(req.texts, ranked, paths)]}

    return router


def _top(req: RouteRequest, n_ranked: int) -> int:
    """How many models /route lists per text: the request's `top`, refused (422) beyond the `n_ranked` models
    it ranks, as other oversized values are refused rather than cut; omitted, the default or all when fewer."""
    if "top" not in req.model_fields_set:
        return min(req.top, n_ranked)
    if req.top > n_ranked:
        what = "the request's models" if req.models is not None else "the checkpoint's models"
        raise ApiError(422, f"top {req.top} is more than the {n_ranked} model(s) ranked ({what}); ask for at most "
                            f"{n_ranked}")
    return req.top


def _predict(predictor: Any, req: PredictRequest) -> tuple[list[str], Any, list[str]]:
    """(models, probabilities, the path that answered each text), as /route says each text's path."""
    names, prob = api.predict_texts(predictor, req.texts, req.benchmark, req.models)
    return names, prob, api.answer_paths(predictor, req.texts, req.benchmark)


def _rank(predictor: Any, req: RouteRequest, top: int) -> tuple[list, list[str]]:
    ranked = api.rank_models(predictor, req.texts, benchmark=req.benchmark, top=top, models=req.models)
    return ranked, api.answer_paths(predictor, req.texts, req.benchmark)

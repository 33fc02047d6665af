"""POST /v1/route (the decision alone, no provider key needed), GET /v1/models (OpenAI's list format) and GET
/v1/models/{model} (one card, as OpenAI's retrieve answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from irtnet import api
from irtnet.serve.limits import check_texts
from irtnet.serve.policies import last_user_text, model_policy, policy_of
from irtnet.serve.schemas import DecisionOut, ModelCard, ModelList, RankedOut, V1RouteRequest, V1RouteResponse
from irtnet.serve.service import Recorded, Service


def decision_out(rec: Recorded) -> DecisionOut:
    d = rec.decision
    return DecisionOut(decision_id=rec.decision_id, model=d.model, p_correct=d.p_correct, cost=d.cost,
                       policy=d.policy, path=d.path, fallback=d.fallback,
                       ranking=[RankedOut(model=r.model, score=r.score, p_correct=r.p_correct, cost=r.cost)
                                for r in d.ranking])


def route_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/route", response_model=V1RouteResponse)
    async def route(req: V1RouteRequest, request: Request) -> V1RouteResponse:
        """Choose a model for `messages` (its last user message), `prompt` or each of `texts` under `policy`."""
        service = request.app.state.service
        if req.texts is not None:
            texts, field = req.texts, "texts"
        else:
            texts = [last_user_text(req.messages) if req.messages is not None else str(req.prompt)]
            field = "messages" if req.messages is not None else "prompt"
        check_texts(texts, service.config.limits, field)
        policy = policy_of(req.policy, service.default_policy)
        recs = await run_in_threadpool(service.decide, texts, policy, req.candidates, req.benchmark, "/v1/route")
        out = [decision_out(r) for r in recs]
        return V1RouteResponse(**out[0].model_dump(), prices=service.book.source, decisions=out)

    @router.get("/v1/models", response_model=ModelList)
    def models(request: Request) -> ModelList:
        """The router names (any "irtnet:<policy>" works too) and the checkpoint's models."""
        service = request.app.state.service
        routers = dict.fromkeys(["irtnet", "irtnet:max_p", api.router_model(service.default_policy)])
        cards = [ModelCard(id=name, owned_by="irtnet") for name in routers]
        return ModelList(data=cards + [_model_card(service, m) for m in service.models])

    @router.get("/v1/models/{model_id:path}", response_model=ModelCard)
    def model(model_id: str, request: Request) -> ModelCard:
        """One model's card (OpenAI's retrieve): a checkpoint model, or a router name ("irtnet", any
        "irtnet:<policy>"); a malformed policy, or one this server cannot run (no prices), is a 422 and any other
        name a 404, each naming it."""
        service = request.app.state.service
        if model_id in service.models:
            return _model_card(service, model_id)
        policy, _ = model_policy(model_id, service.default_policy, service.models)
        api.check_policy(service.predictor, policy, service.book)  # a name a request could not use: 422, saying why
        return ModelCard(id=model_id, owned_by="irtnet")

    return router


def _model_card(service: Service, model: str) -> ModelCard:
    """A checkpoint model's card: owned by "upstream" where one answers it, else by "irtnet-checkpoint"."""
    return ModelCard(id=model, owned_by="upstream" if model in service.upstreams else "irtnet-checkpoint")

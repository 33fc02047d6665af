"""A small HTTP service over a checkpoint: predict correctness and route new query texts.

    irtnet serve CHECKPOINT --port 8000
    POST /predict {"texts": [...], "models": [...]?, "benchmark": str?} -> probabilities per model
    POST /route   {"texts": [...], "top": 3, "models": [...]?}          -> ranked models per text
    GET  /models, GET /health

The app holds one loaded predictor; the encoder is loaded once, on the first request that needs it.
Unknown model ids and bad requests are answered with 422 and the reason.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from irtnet import api
from irtnet._version import __version__
from irtnet.errors import IrtnetError


class PredictRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=10_000)
    models: list[str] | None = None
    benchmark: str | None = None


class RouteRequest(PredictRequest):
    top: int = Field(3, ge=1)


def create_app(checkpoint: str | Path) -> FastAPI:
    """The FastAPI app serving the predictor saved at `checkpoint` (checkpoint or run directory)."""
    predictor = api.load(checkpoint)
    app = FastAPI(title="irtnet", version=__version__,
                  description="Predict which LLM answers a query correctly, and route to it.")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "predictor": predictor.name, "models": len(predictor.models_)}

    @app.get("/models")
    def models() -> dict:
        return {"models": predictor.models_.to_list(), "encoder": getattr(predictor, "encoder_", None)}

    @app.post("/predict")
    def predict(req: PredictRequest) -> dict:
        names, prob = _call(lambda: api.predict_texts(predictor, req.texts, req.benchmark, req.models))
        return {"models": names, "probabilities": prob.tolist()}

    @app.post("/route")
    def route(req: RouteRequest) -> dict:
        ranked = _call(lambda: api.rank_models(predictor, req.texts, benchmark=req.benchmark,
                                               top=req.top, models=req.models))
        paths = _call(lambda: api.answer_paths(predictor, req.texts, req.benchmark))
        return {"routes": [{"text": t, "path": path, "ranked": [{"model": m, "p_correct": p} for m, p in r]}
                           for t, r, path in zip(req.texts, ranked, paths)]}

    return app


def _call(fn):
    try:
        return fn()
    except IrtnetError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None

"""The LiteLLM routing strategy (the `litellm` extra), with LiteLLM's mock responses: no network, no keys."""

from __future__ import annotations

import asyncio
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the remote price map on import
litellm = pytest.importorskip("litellm")

from irtnet import api  # noqa: E402
from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.errors import ConfigError  # noqa: E402
from irtnet.integrations.litellm_strategy import IrtnetRoutingStrategy, request_text  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402

TEXTS = ["algebra question: solve x + 2 = 5", "history question: who won the battle?", "code: reverse a list",
         "physics question: what is the speed of light", "poetry: a haiku about rain"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    table = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    model = IrtNet("small", {"epochs": 1, "progress": False}).fit(data)
    path = save_predictor(model, tmp_path_factory.mktemp("litellm") / "m")
    return path, model.models_.to_list()


def _router(names):
    a, b = names[0], names[1]
    return litellm.Router(model_list=[
        # by model_info.id
        {"model_name": "auto", "model_info": {"id": a},
         "litellm_params": {"model": "openai/fake-a", "api_key": "x", "mock_response": f"from {a}"}},
        # by litellm_params.model without its provider prefix
        {"model_name": "auto",
         "litellm_params": {"model": f"openai/{b}", "api_key": "x", "mock_response": f"from {b}"}},
        # names no model of the checkpoint: never chosen
        {"model_name": "auto", "litellm_params": {"model": "openai/other", "api_key": "x", "mock_response": "other"}},
    ])


def _expected(path, names, text):
    predictor = api.load(path)
    [d] = api.route_texts(predictor, [text], api.Policy.parse("max_p"), None, candidates=names[:2])
    return d.model


def test_completion_goes_where_irtnet_routes(checkpoint):
    path, names = checkpoint
    router = _router(names)
    strategy = IrtnetRoutingStrategy(path, "max_p").attach(router)
    for text in TEXTS:
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
        reply = router.completion(model="auto", messages=messages)
        want = _expected(path, names, text)
        assert reply.choices[0].message.content == f"from {want}"
        assert strategy.last_decision.model == want
        assert {r.model for r in strategy.last_decision.ranking} == set(names[:2])


def test_acompletion_goes_where_irtnet_routes(checkpoint):
    path, names = checkpoint
    router = _router(names)
    IrtnetRoutingStrategy(path, router=router)

    async def ask_all():
        return [await router.acompletion(model="auto", messages=[{"role": "user", "content": t}]) for t in TEXTS]

    for text, reply in zip(TEXTS, asyncio.run(ask_all())):
        assert reply.choices[0].message.content == f"from {_expected(path, names, text)}"


def test_mapping_and_errors(checkpoint):
    path, names = checkpoint
    router = _router(names)
    strategy = IrtnetRoutingStrategy(path, mapping={"openai/other": names[2]}).attach(router)
    deployment = strategy.get_available_deployment("auto", [{"role": "user", "content": TEXTS[0]}])
    predictor = api.load(path)
    [d] = api.route_texts(predictor, [TEXTS[0]], api.Policy("max_p"), None, candidates=names[:3])
    assert strategy.irtnet_model(deployment) == d.model
    with pytest.raises(ConfigError, match="does not have"):
        IrtnetRoutingStrategy(path, mapping={"x": "no-such-model"})
    with pytest.raises(ConfigError, match="no deployment of 'auto'"):
        lone = litellm.Router(model_list=[{"model_name": "auto", "litellm_params": {"model": "openai/zzz",
                                                                                  "mock_response": "z"}}])
        IrtnetRoutingStrategy(path, router=lone).get_available_deployment("auto", [{"role": "user", "content": "q"}])
    with pytest.raises(ConfigError, match="needs model prices"):
        IrtnetRoutingStrategy(path, "p_min=0.8", router=router).get_available_deployment(
            "auto", [{"role": "user", "content": "q"}])


def test_request_text():
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}},
             {"type": "text", "text": "b"}]
    assert request_text([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]) == "x"
    assert request_text([{"role": "user", "content": parts}]) == "a\nb"
    assert request_text(None, "emb") == "emb" and request_text(None, ["p", "q"]) == "p\nq" and request_text(None) == ""


def test_messages_without_a_user_message_are_refused_as_the_service_refuses_them():
    """A system prompt or an assistant turn was routed on as if it were the query (the service answers 422)."""
    from irtnet.errors import DataError

    with pytest.raises(DataError, match=r"^the messages hold no user message to route on \(roles: assistant, "
                                        r"system\)$"):
        request_text([{"role": "system", "content": "be brief"}, {"role": "assistant", "content": "hello"}])
    assert request_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "q"

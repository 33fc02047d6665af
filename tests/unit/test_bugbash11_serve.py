"""Serving-layer bugs found in bug bash 11: each test failed before its fix.

/predict did not say which path answered each text (/route and /v1/route do); a content part of the wrong kind
(a string, a number, a `text` that is no string) was one message per member of the union ("content.str: ...;
content.list[ContentPart]..."); `stream_options` without `stream: true` was routed, logged and forwarded, to
come back as the upstream's refusal (a 502); a 502 from the upstream did not name the decision it had logged
(the 501 does); GET /v1/models/{model}, OpenAI's retrieve, was a bare "Not Found"."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402
from irtnet.serve.app import create_app  # noqa: E402
from irtnet.serve.service import ServeConfig  # noqa: E402

TEXT = "biology question: grey red enzyme cell"
USER = [{"role": "user", "content": TEXT}]
KEY_ENV = "IRTNET_BB11_UPSTREAM_KEY"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(path, model names) of a small IrtNet that knows its benchmarks' names and infers them from texts."""
    table = make_synthetic(n_models=3, n_queries=80, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))
    model = IrtNet({"dim": 4, "use_groups": True, "infer_groups": True},
                   {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    return save_predictor(model, tmp_path_factory.mktemp("bb11") / "m"), model.models_.to_list()


class Upstream:
    """Every model answered in-process: with `status` (an error) or an echo of the model asked for."""

    def __init__(self, status: int = 200) -> None:
        self.status, self.requests = status, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if self.status >= 400:
            headers = {"Retry-After": "7"} if self.status == 429 else None
            return httpx.Response(self.status, json={"error": {"message": "the upstream is down"}}, headers=headers)
        model = self.requests[-1]["model"]
        return httpx.Response(200, json={"id": "c1", "object": "chat.completion", "model": model, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})


def _chat(checkpoint, tmp_path, monkeypatch, status: int = 200) -> tuple[TestClient, Upstream]:
    monkeypatch.setenv(KEY_ENV, "sk-test")
    path = tmp_path / "upstreams.toml"
    path.write_text("".join(f'[models."{m}"]\nbase_url = "http://up.test/v1"\napi_key_env = "{KEY_ENV}"\n'
                            for m in checkpoint[1]))
    fake = Upstream(status)
    config = ServeConfig(upstreams=path, log=tmp_path / "log.jsonl")
    return TestClient(create_app(checkpoint[0], config, transport=httpx.MockTransport(fake))), fake


def _refused(r, status: int, *said: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert all(s in detail for s in said), detail
    return detail


# ------------------------------------------------------------------------------------------- /predict
def test_predict_says_the_path_that_answered_each_text(checkpoint):
    """/predict gave probabilities without saying whether the benchmark's name or the text answered them."""
    c = TestClient(create_app(checkpoint[0]))
    texts = [TEXT, "algebra question: x + 2 = 5"]
    got = c.post("/predict", json={"texts": texts}).json()
    routed = c.post("/route", json={"texts": texts}).json()["routes"]
    assert got["paths"] == [r["path"] for r in routed] == ["text+inferred-benchmark"] * 2
    named = c.post("/predict", json={"texts": texts, "benchmark": "biology"}).json()
    assert named["paths"] == ["benchmark", "benchmark"] and len(named["probabilities"]) == 2


# ------------------------------------------------------------------------------------------- content parts
@pytest.mark.parametrize(("content", "said"), [
    ([5], "content part 0 must be an object such as"),
    (["hi"], "content part 0 must be an object such as"),
    ([{"type": "text", "text": "a"}, None], "content part 1 must be an object such as"),
    ([{"type": 5, "text": "x"}], "content part 0's type must be a string, not a number"),
    ([{"type": "text", "text": 5}], "content part 0's text must be a string, not a number"),
    ([{"type": "text", "text": {"a": 1}}], "content part 0's text must be a string, not an object"),
])
@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
def test_a_content_part_of_the_wrong_kind_is_one_message_naming_it(checkpoint, path, content, said):
    """It was "messages.0.content.str: Input should be a valid string; messages.0.content.list[ContentPart].0...":
    a message for the string the content is not meant to be, beside the one about its part."""
    c = TestClient(create_app(checkpoint[0]))
    body = {"messages": [{"role": "user", "content": content}], **({"model": "irtnet"} if "chat" in path else {})}
    detail = _refused(c.post(path, json=body), 422, f"messages.0.content: {said}")
    assert "content.str" not in detail and "ContentPart" not in detail and ";" not in detail


# ------------------------------------------------------------------------------------------- /v1/chat/completions
def test_stream_options_without_stream_is_422_before_routing(checkpoint, tmp_path, monkeypatch):
    """It was routed, logged and forwarded, and OpenAI (or vLLM) refused it: a 502 and a decision for nothing."""
    c, fake = _chat(checkpoint, tmp_path, monkeypatch)
    for stream in ({}, {"stream": False}, {"stream": None}):
        r = c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, **stream,
                                                 "stream_options": {"include_usage": True}})
        _refused(r, 422, "stream_options is only taken with stream: true")
    assert fake.requests == [] and len(c.app.state.service.store) == 0
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, "stream_options": None})
    assert r.status_code == 200, r.text


def test_stream_options_with_stream_are_forwarded(checkpoint, tmp_path, monkeypatch):
    c, fake = _chat(checkpoint, tmp_path, monkeypatch)
    c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, "stream": True,
                                         "stream_options": {"include_usage": True}})
    assert fake.requests[-1]["stream_options"] == {"include_usage": True} and fake.requests[-1]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_error_names_the_decision_it_logged(checkpoint, tmp_path, monkeypatch, stream):
    """The decision was logged (and took feedback) but the 502 did not say which one it was."""
    c, _ = _chat(checkpoint, tmp_path, monkeypatch, status=500)
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, "stream": stream})
    _refused(r, 502, "answered HTTP 500", "the upstream is down")
    err = r.json()["error"]
    logged = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()][-1]
    assert err["upstream_status"] == 500 and err["decision_id"] == logged["id"]
    assert err["routed_model"] == logged["model"] in checkpoint[1]


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_429_passes_on_its_retry_after_and_the_decision_headers(checkpoint, tmp_path, monkeypatch,
                                                                             stream):
    """An upstream's 429 came back as a 502 without its Retry-After (a client retried at once), and without the
    x-irtnet-* headers a forwarded answer carries."""
    c, _ = _chat(checkpoint, tmp_path, monkeypatch, status=429)
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, "stream": stream})
    _refused(r, 502, "answered HTTP 429")
    assert r.headers["retry-after"] == "7" and r.headers["x-irtnet-decision-id"] == r.json()["error"]["decision_id"]
    (tmp_path / "b").mkdir()
    r = _chat(checkpoint, tmp_path / "b", monkeypatch, status=500)[0].post(
        "/v1/chat/completions", json={"model": "irtnet", "messages": USER})
    assert "retry-after" not in r.headers and r.headers["x-irtnet-model"] == r.json()["error"]["routed_model"]


# ------------------------------------------------------------------------------------------- /v1/models/{model}
def test_a_model_card_is_retrieved_by_name(checkpoint, tmp_path, monkeypatch):
    """OpenAI's client.models.retrieve(...) was a bare 404 "Not Found", for the router itself too."""
    c, _ = _chat(checkpoint, tmp_path, monkeypatch)
    listed = {card["id"]: card for card in c.get("/v1/models").json()["data"]}
    for name, card in listed.items():
        assert c.get(f"/v1/models/{name}").json() == card
    # a policy this server cannot run (it has no prices) is no model a request could use: a 422 saying why
    _refused(c.get("/v1/models/irtnet:p_min=0.8"), 422, "policy p_min needs model prices", "--prices")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({m: 0.001 for m in checkpoint[1]}))
    priced = TestClient(create_app(checkpoint[0], ServeConfig(prices=prices)))
    assert priced.get("/v1/models/irtnet:p_min=0.8").json() == {"id": "irtnet:p_min=0.8", "object": "model",
                                                                "created": 0, "owned_by": "irtnet"}
    _refused(c.get("/v1/models/gpt-5"), 404, "unknown model 'gpt-5'", "GET /v1/models")
    _refused(c.get("/v1/models/org/gpt-5"), 404, "unknown model 'org/gpt-5'")
    _refused(c.get("/v1/models/irtnet:p_max=1"), 422, "model 'irtnet:p_max=1'", "unknown policy")

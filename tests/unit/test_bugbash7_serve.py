"""Serving-layer bugs found in bug bash 7: each test failed before its fix.

A /v1/route request of several texts whose log write failed midway left its first decisions in the log (and
remembered) while answering 503 "nothing was recorded"; chat values every upstream refuses (max_tokens -1, n 0)
were routed, logged and forwarded, to come back as a 502; validation errors did not say the value refused, and
message content of another kind was two messages, one per member of a union; a 409 called two different labels
both "correct=0.3"; a non-ASCII token and an upstream base_url no request can use were taken at start-up; the
LiteLLM strategy took a policy it could never run, routed on the repr of content that is no text and on an image
part's caption, and blamed a lone surrogate on a 'text' field it does not have."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.errors import ConfigError, DataError  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402
from irtnet.serve import feedback as fb  # noqa: E402
from irtnet.serve.app import create_app  # noqa: E402
from irtnet.serve.service import ServeConfig  # noqa: E402
from irtnet.serve.upstreams import load_upstreams  # noqa: E402

TEXT = "biology question: grey red enzyme cell"
USER = [{"role": "user", "content": TEXT}]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(path, model names) of a small IrtNet."""
    table = make_synthetic(n_models=3, n_queries=80, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))
    model = IrtNet({"dim": 4}, {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    return save_predictor(model, tmp_path_factory.mktemp("bb7") / "m"), model.models_.to_list()


def _log(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _refused(r, status: int, *said: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert all(s in detail for s in said), detail
    return detail


# ------------------------------------------------------------------------------------------- the decision log
def test_a_route_of_several_texts_whose_log_fails_midway_leaves_no_decision(checkpoint, tmp_path, monkeypatch):
    """The second text's line failed after the first was written: the 503 said "nothing was recorded", yet the
    first decision stayed in the log and in memory (it took feedback), so a retry logged it twice."""
    log = tmp_path / "log.jsonl"
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=log)))
    texts = ["algebra question: x + 2 = 5", "history question: who won the war"]
    second = hashlib.sha256(texts[1].encode()).hexdigest().encode()
    write = os.write

    def failing(fd, data):
        if second in bytes(data):
            raise OSError(28, "No space left on device")
        return write(fd, data)

    before = log.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(fb.os, "write", failing)
        r = c.post("/v1/route", json={"texts": texts})
    _refused(r, 503, "could not write to the decision log", "nothing was recorded")
    assert log.read_bytes() == before
    assert len(c.app.state.service.store) == 0
    r = c.post("/v1/route", json={"texts": texts})  # the retry records both, once
    assert r.status_code == 200, r.text
    assert [line["id"] for line in _log(log) if line["event"] == "decision"] == \
        [d["decision_id"] for d in r.json()["decisions"]]


# ------------------------------------------------------------------------------------------- feedback labels
def test_a_conflicting_label_is_told_apart_from_the_recorded_one(checkpoint, tmp_path):
    """0.30000000000000004 then 0.3 was a 409 saying "correct=0.3; correct=0.3 contradicts it"."""
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=tmp_path / "log.jsonl")))
    decision = c.post("/v1/route", json={"prompt": TEXT}).json()["decision_id"]
    assert c.post("/v1/feedback", json={"decision_id": decision, "correct": 0.1 + 0.2}).status_code == 200
    _refused(c.post("/v1/feedback", json={"decision_id": decision, "correct": 0.3}), 409,
             "correct=0.30000000000000004;", "correct=0.3 contradicts")
    _refused(c.post("/v1/feedback", json={"decision_id": decision, "correct": 1}), 409,
             "correct=0.30000000000000004;", "correct=1 contradicts")


def test_a_negative_zero_label_is_logged_as_zero(checkpoint, tmp_path):
    """-0.0 was logged as the label "-0.0" and a later conflict called it "correct=-0"."""
    log = tmp_path / "log.jsonl"
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=log)))
    decision = c.post("/v1/route", json={"prompt": TEXT}).json()["decision_id"]
    assert c.post("/v1/feedback", json={"decision_id": decision, "correct": -0.0}).status_code == 200
    assert '"correct":0.0' in log.read_text() and '"correct":-0.0' not in log.read_text()
    assert c.post("/v1/feedback", json={"decision_id": decision, "correct": 0}).status_code == 200
    _refused(c.post("/v1/feedback", json={"decision_id": decision, "correct": 1}), 409, "feedback correct=0;")


# ------------------------------------------------------------------------------------------- validation messages
@pytest.mark.parametrize(("path", "body", "said"), [
    ("/route", {"texts": ["a"], "top": 0}, "top: Input should be greater than or equal to 1 (got 0)"),
    ("/route", {"texts": ["a"], "top": "3"}, 'top: Input should be a valid integer (got "3")'),
    ("/v1/feedback", {"decision_id": "x", "correct": 2}, "correct: Input should be less than or equal to 1 (got 2)"),
    ("/v1/feedback", {"decision_id": "x", "correct": "1"}, 'not a string (got "1")'),
    ("/v1/route", {"prompt": 5}, "prompt: Input should be a valid string (got 5)"),
])
def test_a_refused_value_is_named_in_the_message(checkpoint, tmp_path, path, body, said):
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=tmp_path / "log.jsonl")))
    _refused(c.post(path, json=body), 422, said)


@pytest.mark.parametrize(("content", "said"), [(5, "not a number (got 5)"), ({"text": "x"}, "not an object"),
                                               (True, "not a boolean (got true)")])
@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
def test_message_content_of_another_kind_is_one_message_naming_it(checkpoint, path, content, said):
    """It was one message per member of the union: "messages.0.content.str: Input should be a valid string;
    messages.0.content.list[ContentPart]: Input should be a valid list"."""
    c = TestClient(create_app(checkpoint[0]))
    body = {"messages": [{"role": "user", "content": content}], **({"model": "irtnet"} if "chat" in path else {})}
    detail = _refused(c.post(path, json=body), 422, "messages.0.content: give a string, a list of content parts or "
                                                    f"null, {said}")
    assert "content.str" not in detail


def test_a_long_refused_value_is_shown_in_brief(checkpoint):
    c = TestClient(create_app(checkpoint[0]))
    detail = _refused(c.post("/v1/route", json={"prompt": 10 ** 200}), 422, "prompt:", "(201 characters)")
    assert len(detail) < 200


# ------------------------------------------------------------------------------------------- chat values
class Upstream:
    """An OpenAI-compatible endpoint in-process that records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.sent.append(body)
        return httpx.Response(200, json={"id": "c", "object": "chat.completion", "model": body["model"],
                                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]})


@pytest.fixture
def chat(checkpoint, tmp_path):
    """(client, fake upstream, log path) of a server whose every model has an upstream."""
    path = tmp_path / "upstreams.json"
    path.write_text(json.dumps({"models": {m: {"base_url": "http://up.test/v1"} for m in checkpoint[1]}}))
    upstream, log = Upstream(), tmp_path / "log.jsonl"
    app = create_app(checkpoint[0], ServeConfig(upstreams=path, log=log), transport=httpx.MockTransport(upstream))
    return TestClient(app), upstream, log


@pytest.mark.parametrize(("field", "value", "said"), [
    ("max_tokens", -1, "max_tokens: Input should be greater than or equal to 1 (got -1)"),
    ("max_tokens", 0, "max_tokens: Input should be greater than or equal to 1 (got 0)"),
    ("max_tokens", 2.5, "max_tokens: Input should be a valid integer (got 2.5)"),
    ("max_tokens", "100", 'max_tokens: Input should be a valid integer (got "100")'),
    ("max_tokens", True, "max_tokens: Input should be a valid integer (got true)"),
    ("max_completion_tokens", -5, "max_completion_tokens: Input should be greater than or equal to 1 (got -5)"),
    ("n", 0, "n: Input should be greater than or equal to 1 (got 0)"),
    ("temperature", -0.5, "temperature: Input should be greater than or equal to 0 (got -0.5)"),
    ("temperature", "0.7", 'temperature: give a JSON number, not a string (got "0.7")'),
    ("temperature", True, "temperature: give a JSON number, not a boolean (got true)"),
    ("top_p", 1.5, "top_p: Input should be less than or equal to 1 (got 1.5)"),
])
def test_chat_values_every_upstream_refuses_are_422_before_routing(chat, field, value, said):
    """They were routed, logged as a decision and forwarded, to come back as a 502 relaying the refusal."""
    c, upstream, log = chat
    before = log.read_bytes()
    _refused(c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, field: value}), 422, said)
    assert upstream.sent == [] and log.read_bytes() == before


@pytest.mark.parametrize(("field", "value"), [("max_tokens", 1), ("max_tokens", None), ("n", 2),
                                              ("temperature", 0), ("temperature", 1.3), ("top_p", 1),
                                              ("max_completion_tokens", 4096), ("max_tokens", 100.0)])
def test_chat_values_in_range_are_forwarded_as_sent(chat, field, value):
    c, upstream, _ = chat
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "messages": USER, field: value})
    assert r.status_code == 200, r.text
    assert field in upstream.sent[-1] and upstream.sent[-1][field] == value
    assert type(upstream.sent[-1][field]) is type(value)  # 0 stays 0, never 0.0


# ------------------------------------------------------------------------------------------- start-up
@pytest.mark.parametrize("token", ["tökén", "key€", "пароль"])
def test_a_non_ascii_token_stops_the_server(checkpoint, token):
    """The server started, and the openai client could not send the token (httpx refuses a non-ASCII header)."""
    with pytest.raises(ConfigError, match=r"^--token \(IRTNET_TOKEN\) holds a non-ASCII character"):
        create_app(checkpoint[0], ServeConfig(token=token))


@pytest.mark.parametrize(("url", "said"), [
    ("http://", "names no host"), ("https:///v1", "names no host"),
    ("http://up.test/v1?api-version=1", "has a query or fragment"), ("http://up.test/v1#x", "has a query or fragment"),
    ("http://up test/v1", "holds whitespace"), ("http://up.test/v1\n", "holds whitespace"),
    ("http://up.test:99999/v1", "has port 99999, beyond 1-65535"),
    ("http://up.test/v1?", "has a query or fragment"), ("http://up.test/v1#", "has a query or fragment"),
])
def test_an_upstream_base_url_no_request_can_use_stops_the_server(checkpoint, tmp_path, url, said):
    """Each was taken, and every request to the model failed (a 502) or went to another URL than meant."""
    path = tmp_path / "upstreams.json"
    path.write_text(json.dumps({"models": {checkpoint[1][0]: {"base_url": url}}}))
    with pytest.raises(ConfigError, match=f"model '{checkpoint[1][0]}': base_url .*{said}"):
        load_upstreams(path, checkpoint[1])


def test_a_usable_base_url_is_taken(checkpoint, tmp_path):
    path = tmp_path / "upstreams.json"
    urls = ["http://localhost:8001/v1", "https://api.openai.com/v1/", "http://[::1]:8000/v1"]
    path.write_text(json.dumps({"models": {m: {"base_url": u} for m, u in zip(checkpoint[1], urls)}}))
    assert [u.url for u in load_upstreams(path, checkpoint[1]).values()] == \
        ["http://localhost:8001/v1/chat/completions", "https://api.openai.com/v1/chat/completions",
         "http://[::1]:8000/v1/chat/completions"]


# ------------------------------------------------------------------------------------------- LiteLLM
@pytest.fixture(scope="module")
def strategy(checkpoint):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the remote price map on import
    litellm = pytest.importorskip("litellm")
    from irtnet.integrations.litellm_strategy import IrtnetRoutingStrategy

    router = litellm.Router(model_list=[{"model_name": "auto", "litellm_params": {"model": f"openai/{m}",
                                                                                "api_key": "x", "mock_response": m}}
                                        for m in checkpoint[1]])
    return IrtnetRoutingStrategy(checkpoint[0], router=router), IrtnetRoutingStrategy


@pytest.mark.parametrize("policy", ["p_min=0.8", "utility=0.5", "cost_cap=0.01"])
def test_litellm_a_policy_that_cannot_run_is_refused_when_made(checkpoint, strategy, policy):
    """It was made, and every request then failed with the same ConfigError (`irtnet serve` refuses at start-up)."""
    _, made = strategy
    with pytest.raises(ConfigError, match="needs model prices, and none are loaded"):
        made(checkpoint[0], policy)


def test_litellm_a_policy_needs_prices_only_for_the_models_it_can_choose(checkpoint, strategy, tmp_path):
    _, made = strategy
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({checkpoint[1][0]: 0.001}))  # one model priced: deployments of it can be routed
    assert made(checkpoint[0], "p_min=0.8", prices=prices).policy.spec == "p_min=0.8"


@pytest.mark.parametrize(("content", "said"), [({"text": TEXT}, "is dict {'text': "), (5, "is int 5"),
                                               (b"bytes", "is bytes b'bytes'")])
def test_litellm_content_that_is_no_text_is_refused_not_routed_on_its_repr(strategy, content, said):
    """{"text": ...} was routed on the string "{'text': ...}", the number 5 on "5"."""
    s, _ = strategy
    with pytest.raises(DataError, match=f"the message content to route on {said}"):
        s.get_available_deployment("auto", [{"role": "user", "content": content}])


def test_litellm_routes_on_text_parts_only_as_the_service_does(strategy):
    """An image part's `text` (a caption) was routed on; the service reads only parts of type "text"."""
    from irtnet.integrations.litellm_strategy import request_text

    s, _ = strategy
    image = [{"type": "image_url", "image_url": {"url": "http://x/y.png"}, "text": "a caption"}]
    assert request_text([{"role": "user", "content": image + [{"type": "text", "text": "q"}]}]) == "q"
    with pytest.raises(DataError, match="has no text to route on"):
        s.get_available_deployment("auto", [{"role": "user", "content": image}])
    with pytest.raises(DataError, match="content part 1 of the message to route on has no type"):
        s.get_available_deployment("auto", [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                          {"text": "b"}]}])


def test_litellm_a_lone_surrogate_is_blamed_on_the_request(strategy):
    """It was "field 'text': query text 1 is not valid Unicode": a LiteLLM request has no field 'text'."""
    s, _ = strategy
    with pytest.raises(DataError, match="^the request to 'auto' holds a lone surrogate"):
        s.get_available_deployment("auto", [{"role": "user", "content": "hi \ud800 there"}])

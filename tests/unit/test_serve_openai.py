"""The OpenAI-compatible routing service: /v1/route, /v1/chat/completions (forwarded to a fake upstream),
/v1/models, /v1/feedback, and one end-to-end run with uvicorn and the official `openai` client."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.baselines.routerdc import RouterDC  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402
from irtnet.serve.app import create_app  # noqa: E402
from irtnet.serve.feedback import DecisionStore  # noqa: E402
from irtnet.serve.service import ServeConfig  # noqa: E402

TEXTS = ["biology question: grey red enzyme cell", "history question: silver indigo war king"]
KEY_ENV = "IRTNET_TEST_UPSTREAM_KEY"


@pytest.fixture(scope="module")
def data():
    table = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    return Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory):
    cfg = {"dim": 4, "use_groups": True, "infer_groups": True,
           "moe": {"n_experts": 2, "top_k": 1, "hidden": 16, "out": 8}}
    model = IrtNet(cfg, {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    return save_predictor(model, tmp_path_factory.mktemp("ck") / "m"), model.models_.to_list()


@pytest.fixture(scope="module")
def prices(checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("pr") / "prices.json"
    path.write_text(json.dumps({m: 0.001 * 2 ** i for i, m in enumerate(checkpoint[1])}))
    return path


@pytest.fixture
def upstreams(checkpoint, tmp_path, monkeypatch):
    """Every model answered by the fake upstream (as "up-<model>"), the last one by a failing host."""
    monkeypatch.setenv(KEY_ENV, "sk-test")
    models = checkpoint[1]
    lines = []
    for i, m in enumerate(models):
        host = "broken.test" if i == len(models) - 1 else "up.test"
        lines += [f'[models."{m}"]', f'base_url = "http://{host}/v1"', f'api_key_env = "{KEY_ENV}"',
                  f'model = "up-{m}"', ""]
    path = tmp_path / "upstreams.toml"
    path.write_text("\n".join(lines))
    return path


class FakeUpstream:
    """An OpenAI-compatible chat endpoint in-process: echoes the model it was asked for, streamed or not."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "broken.test":
            return httpx.Response(429, json={"error": {"message": "rate limited, slow down"}})
        body = json.loads(request.content)
        text = f"answer from {body['model']}"
        if body.get("stream"):
            return httpx.Response(200, content=sse_chunks(body["model"], text),
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=completion(body["model"], text))

    @property
    def last(self) -> dict:
        return json.loads(self.requests[-1].content)


def completion(model: str, text: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}


def sse_chunks(model: str, text: str) -> bytes:
    events = []
    for i, word in enumerate(text.split(" ")):
        delta = {"content": (" " if i else "") + word, **({"role": "assistant"} if i == 0 else {})}
        events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"


@pytest.fixture
def client(checkpoint, prices, tmp_path):
    return TestClient(create_app(checkpoint[0], ServeConfig(prices=prices, log=tmp_path / "log.jsonl")))


@pytest.fixture
def chat(checkpoint, prices, upstreams, tmp_path):
    fake = FakeUpstream()
    config = ServeConfig(prices=prices, upstreams=upstreams, log=tmp_path / "log.jsonl")
    return TestClient(create_app(checkpoint[0], config, transport=httpx.MockTransport(fake))), fake


# ------------------------------------------------------------------------------------------------ /v1/route
def test_route_gives_the_decision_its_ranking_path_and_id(client, checkpoint):
    r = client.post("/v1/route", json={"prompt": TEXTS[0]})
    assert r.status_code == 200, r.text
    d = r.json()
    ps = [x["p_correct"] for x in d["ranking"]]
    assert ps == sorted(ps, reverse=True) and {x["model"] for x in d["ranking"]} == set(checkpoint[1])
    assert d["model"] == d["ranking"][0]["model"] and d["p_correct"] == ps[0] and d["policy"] == "max_p"
    assert d["cost"] == pytest.approx(0.001 * 2 ** checkpoint[1].index(d["model"]))
    assert d["path"] == "text+inferred-benchmark" and len(d["decision_id"]) == 32 and d["fallback"] is None
    assert d["decisions"][0]["decision_id"] == d["decision_id"] and "prices.json" in d["prices"]
    known = client.post("/v1/route", json={"prompt": TEXTS[0], "benchmark": "biology"}).json()
    assert known["path"] == "benchmark"


def test_route_reads_the_last_user_message_and_its_text_parts(client):
    messages = [{"role": "user", "content": "history question: war"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "biology question:"},
                                             {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                                             {"type": "text", "text": "grey red enzyme cell"}]}]
    by_messages = client.post("/v1/route", json={"messages": messages}).json()
    by_prompt = client.post("/v1/route", json={"prompt": "biology question:\ngrey red enzyme cell"}).json()
    assert by_messages["ranking"] == by_prompt["ranking"]
    r = client.post("/v1/route", json={"messages": [{"role": "system", "content": "be brief"}]})
    assert r.status_code == 422 and "no user message" in r.json()["detail"]


def test_route_texts_gives_one_decision_each_and_needs_one_input(client):
    d = client.post("/v1/route", json={"texts": TEXTS}).json()
    assert len(d["decisions"]) == 2 and len({x["decision_id"] for x in d["decisions"]}) == 2
    r = client.post("/v1/route", json={"texts": TEXTS, "prompt": "x"})
    assert r.status_code == 422 and "exactly one of messages, prompt, texts" in r.json()["detail"]


def _ranking(client, policy: str, text: str = TEXTS[0], **extra) -> dict:
    r = client.post("/v1/route", json={"prompt": text, "policy": policy, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def test_each_policy_follows_its_rule(client):
    base = _ranking(client, "max_p")
    rank = {x["model"]: x for x in base["ranking"]}
    assert _ranking(client, "utility=0")["model"] == base["model"]
    cheapest = min(rank, key=lambda m: rank[m]["cost"])
    assert _ranking(client, "utility=1000000")["model"] == cheapest
    p_min = sorted(x["p_correct"] for x in base["ranking"])[1]  # two models reach it
    chosen = _ranking(client, f"p_min={p_min}")
    eligible = [m for m in rank if rank[m]["p_correct"] >= p_min]
    assert chosen["model"] == min(eligible, key=lambda m: rank[m]["cost"]) and chosen["policy"] == f"p_min={float(p_min)!r}"
    sure = _ranking(client, "p_min=1")
    assert sure["model"] == base["model"] and "most likely" in sure["fallback"]
    cap = sorted(x["cost"] for x in base["ranking"])[2]
    capped = _ranking(client, f"irtnet:cost_cap={cap}")
    under = [m for m in rank if rank[m]["cost"] <= cap]
    assert capped["model"] == max(under, key=lambda m: rank[m]["p_correct"]) and capped["fallback"] is None
    broke = _ranking(client, "cost_cap=0.00001")
    assert broke["model"] == cheapest and "cheapest" in broke["fallback"]
    assert _ranking(client, "router-irtnet-1")["policy"] == "p_min=1"


def test_candidates_restrict_the_choice(client, checkpoint):
    two = checkpoint[1][:2]
    d = _ranking(client, "max_p", candidates=two)
    assert d["model"] in two and [x["model"] for x in d["ranking"]] != [] and len(d["ranking"]) == 2
    r = client.post("/v1/route", json={"prompt": TEXTS[0], "candidates": ["nope"]})
    assert r.status_code == 422 and "'nope'" in r.json()["detail"] and checkpoint[1][0] in r.json()["detail"]


def test_duplicate_candidates_are_refused_by_name(chat, checkpoint):
    c, _ = chat
    a, b = checkpoint[1][:2]
    for path, body in (("/v1/route", {"prompt": TEXTS[0]}),
                       ("/v1/chat/completions", {"model": "irtnet", "messages": [{"role": "user", "content": "hi"}]})):
        r = c.post(path, json={**body, "candidates": [a, b, a]})
        assert r.status_code == 422 and "candidates" in r.json()["detail"] and repr(a) in r.json()["detail"], r.text
        assert repr(b) not in r.json()["detail"]


def test_chat_stream_is_a_json_boolean(chat):
    c, _ = chat
    body = {"model": "irtnet", "messages": [{"role": "user", "content": "hi"}]}
    for value in ("true", 1, "yes"):
        r = c.post("/v1/chat/completions", json={**body, "stream": value})
        assert r.status_code == 422 and "stream" in r.json()["detail"], r.text


def test_a_cost_policy_without_prices_says_what_is_missing(checkpoint):
    c = TestClient(create_app(checkpoint[0]))
    assert c.post("/v1/route", json={"prompt": TEXTS[0]}).json()["cost"] is None
    for policy in ("p_min=0.5", "utility=0.1", "cost_cap=0.01"):
        r = c.post("/v1/route", json={"prompt": TEXTS[0], "policy": policy})
        assert r.status_code == 422 and "needs model prices" in r.json()["detail"] and "--prices" in r.json()["detail"]
    r = c.post("/v1/route", json={"prompt": TEXTS[0], "policy": "p_min=7"})
    assert r.status_code == 422 and "p_min must be in [0, 1]" in r.json()["detail"]


def test_models_list_routers_and_checkpoint_models(chat, checkpoint):
    c, _ = chat
    body = c.get("/v1/models").json()
    ids = [m["id"] for m in body["data"]]
    assert body["object"] == "list" and ids[:2] == ["irtnet", "irtnet:max_p"] and ids[-4:] == checkpoint[1]
    assert all(m["object"] == "model" for m in body["data"])
    health = c.get("/health").json()
    assert health["status"] == "ok" and health["upstreams"] == 4 and health["prices"] is True


# ------------------------------------------------------------------------------------------------ chat
def test_chat_is_forwarded_to_the_routed_model(chat, checkpoint):
    c, fake = chat
    req = {"model": "irtnet", "messages": [{"role": "user", "content": TEXTS[0]}], "temperature": 0.2,
           "candidates": checkpoint[1][:3]}
    r = c.post("/v1/chat/completions", json=req)
    assert r.status_code == 200, r.text
    body, routed = r.json(), r.headers["x-irtnet-model"]
    assert routed in checkpoint[1][:3] and body["model"] == routed == body["irtnet"]["model"]
    assert body["choices"][0]["message"]["content"] == f"answer from up-{routed}"
    assert r.headers["x-irtnet-decision-id"] == body["irtnet"]["decision_id"]
    assert float(r.headers["x-irtnet-p-correct"]) == pytest.approx(body["irtnet"]["p_correct"], abs=1e-6)
    sent = fake.last
    assert sent["model"] == f"up-{routed}" and sent["temperature"] == 0.2 and "candidates" not in sent
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-test"
    assert str(fake.requests[-1].url) == "http://up.test/v1/chat/completions"


def test_chat_streams_events_renamed_to_the_routed_model(chat, checkpoint):
    c, _ = chat
    req = {"model": checkpoint[1][1], "stream": True, "messages": [{"role": "user", "content": TEXTS[1]}]}
    with c.stream("POST", "/v1/chat/completions", json=req) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-irtnet-model"] == checkpoint[1][1]
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[5:]) for line in lines[:-1]]
    assert {ch["model"] for ch in chunks} == {checkpoint[1][1]}
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
    assert text == f"answer from up-{checkpoint[1][1]}"


def test_chat_model_names(chat, checkpoint):
    c, _ = chat
    msg = [{"role": "user", "content": TEXTS[0]}]
    for name, policy in (("irtnet:p_min=0.8", "p_min=0.8"), ("router-irtnet-0.8", "p_min=0.8"),
                         ("irtnet:utility=0.5", "utility=0.5"), ("irtnet:max_p", "max_p"), ("irtnet", "max_p")):
        r = c.post("/v1/chat/completions", json={"model": name, "messages": msg, "candidates": checkpoint[1][:3]})
        assert r.status_code == 200 and r.headers["x-irtnet-policy"] == policy, (name, r.text)
    r = c.post("/v1/chat/completions", json={"model": "gpt-5", "messages": msg})
    assert r.status_code == 404 and "unknown model 'gpt-5'" in r.json()["error"]["message"]
    r = c.post("/v1/chat/completions", json={"model": "irtnet:p_min=2", "messages": msg})
    assert r.status_code == 422 and "p_min must be in [0, 1]" in r.json()["detail"]


def test_chat_without_an_upstream_is_501_pointing_to_v1_route(client):
    r = client.post("/v1/chat/completions", json={"model": "irtnet", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 501 and "/v1/route" in r.json()["detail"]
    assert r.json()["error"]["decision_id"]


def test_upstream_errors_are_502_with_the_upstream_status(chat, checkpoint):
    c, _ = chat
    broken = checkpoint[1][-1]
    for stream in (False, True):
        r = c.post("/v1/chat/completions", json={"model": broken, "stream": stream,
                                                 "messages": [{"role": "user", "content": TEXTS[0]}]})
        assert r.status_code == 502 and r.json()["error"]["upstream_status"] == 429
        assert "rate limited" in r.json()["detail"] and "HTTP 429" in r.json()["detail"]


def test_an_unreachable_upstream_is_502(checkpoint, prices, upstreams):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    c = TestClient(create_app(checkpoint[0], ServeConfig(prices=prices, upstreams=upstreams),
                              transport=httpx.MockTransport(refuse)))
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "messages": [{"role": "user", "content": "x y"}]})
    assert r.status_code == 502 and r.json()["error"]["upstream_status"] is None
    assert "could not be reached" in r.json()["detail"]


def test_upstream_config_errors_name_the_problem(checkpoint, tmp_path, monkeypatch):
    from irtnet.errors import ConfigError

    monkeypatch.delenv(KEY_ENV, raising=False)
    bad = tmp_path / "u.json"
    bad.write_text(json.dumps({"models": {checkpoint[1][0]: {"base_url": "http://x/v1", "api_key_env": KEY_ENV}}}))
    with pytest.raises(ConfigError, match=f"the environment variable {KEY_ENV} .* is not set"):
        create_app(checkpoint[0], ServeConfig(upstreams=bad))
    bad.write_text(json.dumps({"models": {"gpt-x": {"base_url": "http://x/v1"}}}))
    with pytest.raises(ConfigError, match="'gpt-x' are not in the checkpoint"):
        create_app(checkpoint[0], ServeConfig(upstreams=bad))
    bad.write_text(json.dumps({"models": {checkpoint[1][0]: {"base_url": "http://x/v1", "api_key": "sk-1"}}}))
    with pytest.raises(ConfigError, match="unknown field.*api_key"):
        create_app(checkpoint[0], ServeConfig(upstreams=bad))


def test_output_tokens_with_per_query_prices_stops_the_server_at_start_up(checkpoint, prices):
    from irtnet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--output-tokens has no effect: the prices \(.*prices.json\) have "
                                                r"no per-token output price"):
        create_app(checkpoint[0], ServeConfig(prices=prices, output_tokens=100))
    create_app(checkpoint[0], ServeConfig(prices=prices))  # not given: the default, read by no price, is fine


# ------------------------------------------------------------------------------------------------ feedback
def _log(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_feedback_is_appended_to_the_durable_log(client, tmp_path):
    d = client.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    r = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": True})
    assert r.status_code == 200 and r.json() == {"status": "recorded", "decision_id": d["decision_id"],
                                                 "model": d["model"]}
    start, decision, feedback = _log(tmp_path / "log.jsonl")
    assert start["event"] == "start" and len(start["models"]) == 4
    digest = hashlib.sha256(TEXTS[0].encode()).hexdigest()
    assert decision["event"] == "decision" and decision["id"] == d["decision_id"] and "text" not in decision
    assert decision["query_hash"] == digest and decision["model"] == d["model"]
    assert feedback == {**feedback, "event": "feedback", "decision_id": d["decision_id"], "correct": 1.0,
                        "model": d["model"], "query_hash": digest}
    r = client.post("/v1/feedback", json={"decision_id": "f" * 32, "correct": 0})
    assert r.status_code == 404 and "unknown decision id" in r.json()["detail"]
    assert client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 2}).status_code == 422


def test_contradicting_feedback_is_409_and_the_same_label_again_is_idempotent(client, tmp_path):
    d = client.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    first = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 1})
    assert first.status_code == 200
    r = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 0})
    assert r.status_code == 409 and d["decision_id"] in r.json()["detail"], r.text
    assert r.json()["error"]["code"] == 409
    assert client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 0.5}).status_code == 409
    for same in (1, True, 1.0):  # the same label again: answered as before, not logged twice
        again = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": same})
        assert again.status_code == 200 and again.json() == first.json()
    labels = [x["correct"] for x in _log(tmp_path / "log.jsonl") if x["event"] == "feedback"]
    assert labels == [1.0]


@pytest.mark.parametrize("correct", ["1", "true", None, [1], {"v": 1}])
def test_feedback_correct_is_a_json_boolean_or_number_not_coerced(client, tmp_path, correct):
    d = client.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    r = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": correct})
    assert r.status_code == 422 and "correct" in r.json()["detail"], r.text
    assert not [x for x in _log(tmp_path / "log.jsonl") if x["event"] == "feedback"]


@pytest.mark.parametrize(("correct", "logged"), [(True, 1.0), (False, 0.0), (1, 1.0), (0, 0.0), (0.25, 0.25)])
def test_feedback_takes_booleans_integers_and_scores(client, tmp_path, correct, logged):
    d = client.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    assert client.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": correct}).status_code == 200
    assert [x["correct"] for x in _log(tmp_path / "log.jsonl") if x["event"] == "feedback"] == [logged]


def test_a_restarted_server_does_not_reload_decisions_so_old_ids_take_no_feedback(checkpoint, tmp_path):
    log = tmp_path / "r.jsonl"
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=log)))
    d = c.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    assert c.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 1}).status_code == 200
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=log)))  # a restart on the same log
    r = c.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 0})
    assert r.status_code == 404 and "unknown decision id" in r.json()["detail"]
    assert [x["correct"] for x in _log(log) if x["event"] == "feedback"] == [1.0]


def test_the_log_holds_query_text_only_when_asked(checkpoint, tmp_path):
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=tmp_path / "t.jsonl", log_text=True)))
    c.post("/v1/route", json={"texts": TEXTS})
    assert [x["text"] for x in _log(tmp_path / "t.jsonl")[1:]] == TEXTS


def test_feedback_without_a_log_is_503(checkpoint):
    c = TestClient(create_app(checkpoint[0]))
    d = c.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    r = c.post("/v1/feedback", json={"decision_id": d["decision_id"], "correct": 1})
    assert r.status_code == 503 and "--log" in r.json()["detail"]


def test_the_log_syncs_feedback_lines_and_mends_a_cut_line(tmp_path, monkeypatch):
    from irtnet.serve import feedback as fb

    synced = []
    monkeypatch.setattr(fb.os, "fsync", synced.append)
    path = tmp_path / "l.jsonl"
    path.write_text('{"event":"decision"}\n{"event":"feedb')  # a crash mid-line
    log = fb.DecisionLog(path)
    log.append({"event": "decision", "id": "a"}, sync=False)
    assert not synced
    log.append({"event": "feedback", "decision_id": "a"})
    assert len(synced) == 1
    lines = path.read_text().splitlines()
    assert lines[1] == '{"event":"feedb' and json.loads(lines[2])["id"] == "a" and json.loads(lines[3])
    log.close()


def test_decisions_are_remembered_up_to_a_bound():
    store = DecisionStore(2)
    for i in range(3):
        store.put(str(i), {"model": "m"})
    assert len(store) == 2 and store.get("0") is None and store.get("2") == {"model": "m"}


# ------------------------------------------------------------------------------------------------ RouterDC
def test_a_router_without_probabilities_serves_route_only(data, tmp_path):
    path = save_predictor(RouterDC(epochs=1, hidden=8, dim=4, batch_size=32).fit(data), tmp_path / "dc")
    c = TestClient(create_app(path))
    d = c.post("/v1/route", json={"prompt": TEXTS[0]}).json()
    assert d["p_correct"] is None and d["model"] == d["ranking"][0]["model"] and d["ranking"][0]["score"] <= 1
    r = c.post("/v1/route", json={"prompt": TEXTS[0], "policy": "p_min=0.5"})
    assert r.status_code == 422 and "max_p only" in r.json()["detail"]
    r = c.post("/predict", json={"texts": TEXTS})
    assert r.status_code == 422 and "without probabilities" in r.json()["detail"]


# ------------------------------------------------------------------------------------------------ end to end
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_upstream_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        text = f"answer from {body['model']} to {body['messages'][-1]['content']}"
        if request.headers.get("authorization") != "Bearer sk-test":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        if body.get("stream"):
            return Response(sse_chunks(body["model"], text), media_type="text/event-stream")
        return completion(body["model"], text)

    return app


def _start(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    return server, thread


def test_the_openai_client_routes_through_irtnet(checkpoint, prices, tmp_path, monkeypatch):
    openai = pytest.importorskip("openai")
    monkeypatch.setenv(KEY_ENV, "sk-test")
    up_port, port = _free_port(), _free_port()
    cfg = tmp_path / "up.toml"
    cfg.write_text("".join(f'[models."{m}"]\nbase_url = "http://127.0.0.1:{up_port}/v1"\napi_key_env = "{KEY_ENV}"\n'
                           for m in checkpoint[1]))
    app = create_app(checkpoint[0], ServeConfig(prices=prices, upstreams=cfg, token="tok", log=tmp_path / "l.jsonl"))
    servers = [_start(_fake_upstream_app(), up_port), _start(app, port)]
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="tok", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="irtnet:p_min=0.3", messages=[{"role": "user", "content": TEXTS[0]}])
        reply, routed = raw.parse(), raw.headers["x-irtnet-model"]
        assert routed in checkpoint[1] and reply.model == routed
        assert reply.choices[0].message.content == f"answer from {routed} to {TEXTS[0]}"
        assert 0 < float(raw.headers["x-irtnet-p-correct"]) < 1 and raw.headers["x-irtnet-decision-id"]
        stream = client.chat.completions.create(model="router-irtnet-0.3", stream=True,
                                                messages=[{"role": "user", "content": TEXTS[0]}])
        chunks = list(stream)
        assert {ch.model for ch in chunks} == {routed}
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == f"answer from {routed} to {TEXTS[0]}"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0
                          ).chat.completions.create(model="irtnet", messages=[{"role": "user", "content": "x"}])
    finally:
        for server, thread in servers:
            server.should_exit = True
            thread.join(timeout=10)


# ------------------------------------------------------------------------------------------------ review fixes
def _answering(checkpoint, prices, upstreams, content: bytes, content_type: str) -> TestClient:
    """A server whose every upstream answers `content` (status 200, `content_type`), streamed or not."""
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": content_type})

    config = ServeConfig(prices=prices, upstreams=upstreams)
    return TestClient(create_app(checkpoint[0], config, transport=httpx.MockTransport(answer)))


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_an_upstream_answer_holding_a_non_finite_number_is_502_not_500(checkpoint, prices, upstreams, number):
    c = _answering(checkpoint, prices, upstreams, f'{{"choices": [], "x": {number}}}'.encode(), "application/json")
    model = checkpoint[1][0]
    r = c.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 502, r.text
    assert f"upstream of {model} (http://up.test/v1) answered HTTP 200: the answer holds the non-finite number " \
           f"{number}" in r.json()["detail"] and r.json()["error"]["upstream_status"] == 200


def test_an_upstream_that_does_not_stream_when_asked_is_502(checkpoint, prices, upstreams):
    answer = json.dumps(completion("up-x", "not streamed")).encode()
    c = _answering(checkpoint, prices, upstreams, answer, "application/json")
    model = checkpoint[1][0]
    r = c.post("/v1/chat/completions", json={"model": model, "stream": True,
                                             "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 502, r.text
    assert f"upstream of {model} (http://up.test/v1) answered HTTP 200: it did not stream" in r.json()["detail"]
    assert "application/json" in r.json()["detail"] and "text/event-stream" in r.json()["detail"]


def test_a_streamed_chunk_holding_a_lone_surrogate_is_passed_on_as_sent(checkpoint, prices, upstreams):
    chunk = 'data: {"model": "up-x", "choices": [{"delta": {"content": "\\ud800"}}]}'
    c = _answering(checkpoint, prices, upstreams, f"{chunk}\n\ndata: [DONE]\n\n".encode(), "text/event-stream")
    req = {"model": checkpoint[1][0], "stream": True, "messages": [{"role": "user", "content": TEXTS[0]}]}
    with c.stream("POST", "/v1/chat/completions", json=req) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert lines == [chunk, "data: [DONE]"]


def test_a_named_model_outside_the_candidates_is_refused(chat, checkpoint):
    c, fake = chat
    a, b = checkpoint[1][:2]
    msg = [{"role": "user", "content": TEXTS[0]}]
    r = c.post("/v1/chat/completions", json={"model": a, "candidates": [b], "messages": msg})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"model {a!r} is not among candidates {b!r}") and not fake.requests
    for candidates in ([a], [b, a]):  # the named model is among the candidates: it answers
        r = c.post("/v1/chat/completions", json={"model": a, "candidates": candidates, "messages": msg})
        assert r.status_code == 200 and r.headers["x-irtnet-model"] == a, r.text
    r = c.post("/v1/chat/completions", json={"model": a, "candidates": [a, "nope"], "messages": msg})
    assert r.status_code == 422 and "unknown candidate model(s) 'nope'" in r.json()["detail"], r.text


@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
def test_a_content_part_without_a_type_is_refused_by_its_place(chat, path):
    c, fake = chat
    messages = [{"role": "user", "content": "history question: war"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "biology question"}]}]
    body = {"messages": messages, **({"model": "irtnet"} if path.endswith("completions") else {})}
    r = c.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("messages[1].content[1].type is missing") and not fake.requests


# ------------------------------------------------------------------------------------------------ bug bash fixes
def _deep(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def test_a_deeply_nested_upstream_error_body_is_502_not_500(checkpoint, prices, upstreams):
    def too_deep(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, content=_deep(), headers={"content-type": "application/json"})

    c = TestClient(create_app(checkpoint[0], ServeConfig(prices=prices, upstreams=upstreams),
                              transport=httpx.MockTransport(too_deep)))
    model = checkpoint[1][0]
    for stream in (False, True):
        r = c.post("/v1/chat/completions", json={"model": model, "stream": stream,
                                                 "messages": [{"role": "user", "content": TEXTS[0]}]})
        assert r.status_code == 502 and r.json()["error"]["upstream_status"] == 429, r.text
        assert f"upstream of {model} (http://up.test/v1) answered HTTP 429: [[[" in r.json()["detail"]
        assert "the body is nested too deeply" in r.json()["detail"]


def test_a_deeply_nested_answer_to_a_streamed_request_is_502_saying_it_did_not_stream(checkpoint, prices,
                                                                                       upstreams):
    c = _answering(checkpoint, prices, upstreams, _deep(), "application/json")
    r = c.post("/v1/chat/completions", json={"model": checkpoint[1][0], "stream": True,
                                             "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 502, r.text
    assert "it did not stream" in r.json()["detail"] and "the body is nested too deeply" in r.json()["detail"]


@pytest.mark.parametrize(("body", "said"), [
    ({"error": {"message": "slow down"}}, "slow down"), ({"error": "quota gone"}, "quota gone"),
    ({"error": {"message": 5}}, '{"error": {"message": 5}}'), ({"error": [[[1]]]}, '{"error": [[[1]]]}')])
def test_an_upstream_error_says_its_message_or_shows_its_body(checkpoint, prices, upstreams, body, said):
    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=json.dumps(body).encode(), headers={"content-type": "application/json"})

    c = TestClient(create_app(checkpoint[0], ServeConfig(prices=prices, upstreams=upstreams),
                              transport=httpx.MockTransport(failing)))
    r = c.post("/v1/chat/completions", json={"model": checkpoint[1][0], "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 502 and r.json()["detail"].endswith(f"answered HTTP 400: {said}"), r.text


@pytest.mark.parametrize(("name", "said"), [
    ("router-irtnet-2", "p_min must be in [0, 1], got 2"), ("router-irtnet--0.5", "p_min must be in [0, 1], got -0.5"),
    ("router-irtnet-nan", "p_min 'nan' is not a finite number"),
    ("router-irtnet-inf", "p_min 'inf' is not a finite number"),
    ("router-irtnet-1e999", "p_min '1e999' is not a finite number"),
    ("router-irtnet-x", "p_min 'x' is not a plain decimal number")])
def test_a_routellm_name_out_of_range_or_not_finite_says_so(chat, name, said):
    c, fake = chat
    r = c.post("/v1/chat/completions", json={"model": name, "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 422 and r.json()["detail"].startswith(f"model {name!r}: {said}"), r.text
    assert "needs a number" not in r.json()["detail"] and not fake.requests
    r = c.post("/v1/route", json={"prompt": TEXTS[0], "policy": name})
    assert r.status_code == 422 and r.json()["detail"].startswith(f"policy {name!r}: {said}"), r.text


@pytest.mark.parametrize("raw", ["0_5", "0.8_0", "1_0", "٠.٨", "0.８", "0x1", " ", "", "1e", ".", "+-1", "−0.5"])
def test_policy_numbers_are_plain_decimals(chat, raw):
    c, fake = chat
    for policy in (f"p_min={raw}", f"irtnet:p_min={raw}"):
        r = c.post("/v1/route", json={"prompt": TEXTS[0], "policy": policy})
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith(f"policy {policy!r}: p_min {raw.strip()!r} is not a plain decimal number")
    r = c.post("/v1/chat/completions", json={"model": f"irtnet:utility={raw}",
                                             "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 422 and "utility" in r.json()["detail"] and "plain decimal" in r.json()["detail"], r.text
    assert not fake.requests


@pytest.mark.parametrize(("policy", "spec"), [("p_min=0.5", "p_min=0.5"), ("p_min=+.5", "p_min=0.5"),
                                              ("p_min = 5e-1 ", "p_min=0.5"), ("utility=1E+0", "utility=1"),
                                              ("cost_cap=2.", "cost_cap=2"), ("router-irtnet-1", "p_min=1")])
def test_plain_decimal_policy_numbers_are_read(client, policy, spec):
    assert _ranking(client, policy)["policy"] == spec


def test_the_default_policy_number_is_read_strictly_at_start_up(checkpoint, prices):
    from irtnet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--policy 'p_min=0_5': p_min '0_5' is not a plain decimal number"):
        create_app(checkpoint[0], ServeConfig(prices=prices, policy="p_min=0_5"))


@pytest.mark.parametrize("part", [{"type": "text"}, {"type": "text", "text": None}])
@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions"])
def test_a_text_part_without_its_text_is_refused_by_its_place(chat, path, part):
    c, fake = chat
    messages = [{"role": "user", "content": [part, {"type": "text", "text": "hello"}]}]
    body = {"messages": messages, **({"model": "irtnet"} if path.endswith("completions") else {})}
    r = c.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("messages[0].content[0].text is missing") and not fake.requests


def test_chat_stream_null_is_false_and_not_forwarded(chat):
    c, fake = chat
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "stream": None,
                                             "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
    assert r.json()["irtnet"]["decision_id"] and "stream" not in fake.last
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "stream": False,
                                             "messages": [{"role": "user", "content": TEXTS[0]}]})
    assert r.status_code == 200 and fake.last["stream"] is False  # a given false goes on as sent

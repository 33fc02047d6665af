"""What the service refuses, and how: oversized bodies and texts (413), malformed JSON, NaN, lone surrogates,
empty texts and unknown benchmarks (422), missing tokens (401), each as JSON with a message; and where
`irtnet serve` refuses to listen."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from irtnet.cli.main import app as cli  # noqa: E402
from irtnet.cli.serve import check_bind, is_loopback  # noqa: E402
from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.errors import ConfigError  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402
from irtnet.serve.app import create_app  # noqa: E402
from irtnet.serve.limits import Limits, json_problem  # noqa: E402
from irtnet.serve.service import ServeConfig  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    table = make_synthetic(n_models=3, n_queries=80, n_benchmarks=2, dim=2, feature_dim=6, seed=1).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))
    cfg = {"dim": 4, "use_groups": True, "moe": {"n_experts": 2, "top_k": 1, "hidden": 16, "out": 8}}
    model = IrtNet(cfg, {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    return save_predictor(model, tmp_path_factory.mktemp("lim") / "m")


@pytest.fixture(scope="module")
def client(checkpoint):
    limits = Limits(max_body_bytes=20_000, max_texts=4, max_text_chars=500)
    return TestClient(create_app(checkpoint, ServeConfig(limits=limits)))


def _error(r, status: int, match: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert match in body["detail"] and body["error"]["message"] == body["detail"]
    assert body["error"]["code"] == status


def _raw(client, path: str, text: str, **kw):
    return client.post(path, content=text.encode(), headers={"content-type": "application/json"}, **kw)


@pytest.mark.parametrize("path", ["/v1/route", "/predict", "/route"])
def test_limits_on_texts(client, path):
    _error(client.post(path, json={"texts": ["a b"] * 5}), 413, "5 texts in one request; the server takes at most 4")
    _error(client.post(path, json={"texts": ["x" * 501]}), 413, "texts[0] has 501 characters")
    _error(client.post(path, json={"texts": ["ok", "  "]}), 422, "texts[1] is empty")


def test_limits_on_prompts_and_messages(client):
    _error(client.post("/v1/route", json={"prompt": ""}), 422, "prompt is empty")
    _error(client.post("/v1/route", json={"messages": [{"role": "user", "content": "y" * 600}]}), 413,
           "has 600 characters")
    _error(client.post("/v1/chat/completions", json={"model": "irtnet", "messages": [{"role": "user", "content": ""}]}),
           422, "no text to route on")


def test_an_oversized_body_is_413_declared_or_streamed(client):
    big = json.dumps({"texts": ["word " * 90] * 50})
    _error(_raw(client, "/v1/route", big), 413, "request body over 20000 bytes")

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(30):
            yield b" " * 1000

    r = client.post("/v1/route", content=chunks(), headers={"content-type": "application/json"})
    _error(r, 413, "request body over 20000 bytes")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422_not_500(client, number):
    _error(_raw(client, "/route", f'{{"texts": ["a b"], "top": {number}}}'), 422, "non-finite number")
    _error(_raw(client, "/v1/feedback", f'{{"decision_id": "x", "correct": {number}}}'), 422, "non-finite number")


def test_lone_surrogates_and_bad_json_are_422(client):
    _error(_raw(client, "/v1/route", '{"texts": ["ok", "bad \\ud800 text"]}'), 422, "$.texts[1] holds a lone surrogate")
    _error(_raw(client, "/v1/route", '{"prompt": "x"'), 422, "not valid JSON")
    _error(_raw(client, "/v1/route", "[" * 5000 + "]" * 5000), 422, "nested too deeply")
    r = client.post("/v1/route", content=b'{"prompt": "\xff\xfe"}', headers={"content-type": "application/json"})
    _error(r, 422, "not valid UTF-8")
    assert json_problem(b'{"a": ["\\ud83d\\ude00"]}') is None  # a surrogate pair is a valid character


@pytest.mark.parametrize("path,body,key", [
    ("/v1/route", '{"prompt": "a b", "prompt": "c d"}', "prompt"),
    ("/route", '{"texts": ["a b"], "top": 1, "texts": ["c d"]}', "texts"),
    ("/predict", '{"texts": ["a b"], "options": {"x": 1, "x": 2}}', "x"),
    ("/v1/feedback", '{"decision_id": "x", "correct": 1, "correct": 0}', "correct"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "a", "content": "b"}]}', "content"),
])
def test_a_key_given_twice_is_422_naming_it(client, path, body, key):
    """Python's json (and so FastAPI) would keep the last value of a repeated key silently."""
    r = _raw(client, path, body)
    _error(r, 422, f"the body gives the key '{key}' twice in one object; give each key once")
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert json_problem(b'{"a": {"k": 1}, "b": {"k": 2}}') is None  # the same key in two objects is fine


def test_schema_errors_are_one_readable_message(client):
    _error(client.post("/route", json={"texts": []}), 422, "texts: List should have at least 1 item")
    _error(client.post("/v1/route", json={"prompt": "x", "policy_": 1}), 422, "policy_: Extra inputs")


def test_benchmarks_are_checked_against_the_checkpoint(client):
    r = client.post("/v1/route", json={"prompt": "a question", "benchmark": "astrology"})
    _error(r, 422, "unknown benchmark 'astrology'; the model knows: ")
    assert "biology" in r.json()["detail"] or "history" in r.json()["detail"]
    _error(client.post("/predict", json={"texts": ["q"], "benchmark": "astrology"}), 422, "unknown benchmark")


def test_a_token_is_required_when_set(checkpoint):
    c = TestClient(create_app(checkpoint, ServeConfig(token="s3cret")))
    _error(c.post("/v1/route", json={"prompt": "a b"}), 401, "missing or wrong bearer token")
    assert c.post("/v1/route", json={"prompt": "a b"}).headers["www-authenticate"] == "Bearer"
    _error(c.get("/v1/models", headers={"Authorization": "Bearer nope"}), 401, "bearer token")
    assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.post("/v1/route", json={"prompt": "a b"}, headers={"Authorization": "bearer s3cret"}).status_code == 200
    assert c.get("/health").status_code == 200  # liveness stays open


def test_serve_binds_beyond_loopback_only_with_a_token_or_insecure(checkpoint):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.9")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org") and not is_loopback("10.0.0.1")
    check_bind("127.0.0.1", None, False)
    check_bind("0.0.0.0", "tok", False)
    check_bind("0.0.0.0", None, True)
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without a token"):
        check_bind("0.0.0.0", None, False)
    result = CliRunner().invoke(cli, ["serve", str(checkpoint), "--host", "0.0.0.0"], env={"IRTNET_TOKEN": ""})
    assert result.exit_code == 2 and "refusing to listen" in result.output


def test_a_default_policy_that_cannot_run_stops_the_server(checkpoint):
    with pytest.raises(ConfigError, match="policy p_min needs model prices"):
        create_app(checkpoint, ServeConfig(policy="p_min=0.8"))
    with pytest.raises(ConfigError, match="unknown policy 'best'"):
        create_app(checkpoint, ServeConfig(policy="best"))


def test_serve_on_cuda_without_cuda_stops_at_start_up(checkpoint, monkeypatch):
    import uvicorn

    from irtnet.training import device

    monkeypatch.setattr(device, "cuda_available", lambda: False)
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(a))
    with pytest.raises(ConfigError, match="CUDA is not available"):
        create_app(checkpoint, ServeConfig(device="cuda"))
    result = CliRunner().invoke(cli, ["serve", str(checkpoint), "--device", "cuda"], env={"IRTNET_TOKEN": ""})
    assert result.exit_code == 2 and "error: CUDA is not available" in result.output and not started
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        create_app(checkpoint, ServeConfig(device="gpu"))


@pytest.mark.parametrize("path", ["/v1/route", "/v1/chat/completions", "/v1/feedback", "/predict", "/route"])
def test_an_empty_or_non_object_body_says_so(client, path):
    for headers in ({}, {"content-type": "application/json"}):
        _error(client.post(path, content=b"", headers=headers), 422, "the request body is empty: send a JSON object")
    for body in ("null", "[1]", '"x"'):
        _error(_raw(client, path, body), 422, "the request body is not a JSON object")


@pytest.mark.parametrize("where", ["folder", "uncreatable"])
def test_a_log_path_that_cannot_be_a_log_stops_the_server_naming_it(checkpoint, tmp_path, monkeypatch, where):
    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(a))
    if where == "folder":
        log, said = tmp_path, f"error: --log {tmp_path}: is a directory"
    else:
        (tmp_path / "file").write_text("x")  # a folder cannot be made under a file
        log, said = tmp_path / "file" / "sub" / "d.jsonl", f"error: --log {tmp_path / 'file' / 'sub' / 'd.jsonl'}: "
    with pytest.raises(ConfigError, match="^--log "):
        create_app(checkpoint, ServeConfig(log=log))
    result = CliRunner().invoke(cli, ["serve", str(checkpoint), "--log", str(log)], env={"IRTNET_TOKEN": ""})
    assert result.exit_code == 2 and result.output.startswith(said) and not started, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output

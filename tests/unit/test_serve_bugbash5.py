"""Serving-layer bugs found in bug bash 5: each test failed before its fix.

A full disk must not leave half a feedback record in the log nor a 500; upstream keys and bearer tokens that no
header can carry stop the server at start-up (never leaking a key into an error); upstream files are read
strictly; streamed chunks reach the client whole; /route does not call a RouterDC score a probability."""

from __future__ import annotations

import errno
import gc
import json
import os
import re

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from irtnet.cli.main import app as cli  # noqa: E402
from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.errors import ConfigError, DataError  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.baselines.routerdc import RouterDC  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402
from irtnet.serve import feedback as fb  # noqa: E402
from irtnet.serve.app import create_app  # noqa: E402
from irtnet.serve.errors import ApiError  # noqa: E402
from irtnet.serve.service import ServeConfig  # noqa: E402
from irtnet.serve.upstreams import load_upstreams  # noqa: E402

KEY_ENV = "IRTNET_BUGBASH5_KEY"
USER = [{"role": "user", "content": "biology question: grey red enzyme cell"}]


@pytest.fixture(scope="module")
def data():
    table = make_synthetic(n_models=3, n_queries=80, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table
    return Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory):
    """(path, model names) of a small IrtNet."""
    model = IrtNet({"dim": 4}, {"epochs": 1, "progress": False, "seed": 0}).fit(data)
    return save_predictor(model, tmp_path_factory.mktemp("bb5") / "m"), model.models_.to_list()


def _log(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _upstreams(path, models, **spec) -> str:
    """An upstream file answering every model at http://up.test/v1, each with `spec`'s extra fields."""
    doc = {"models": {m: {"base_url": "http://up.test/v1", **spec} for m in models}}
    path.write_text(json.dumps(doc))
    return path


def _error(r, status: int, match: str) -> str:
    assert r.status_code == status, r.text
    assert match in r.json()["detail"], r.json()["detail"]
    return r.json()["detail"]


# ------------------------------------------------------------------------------------------- the decision log
def _no_space(*_):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_feedback_that_cannot_reach_the_disk_is_503_and_leaves_no_line(checkpoint, tmp_path, monkeypatch):
    """It was a 500 whose line stayed in the log: the retry with another label was then accepted too, and the
    log held two contradicting labels for one decision."""
    log = tmp_path / "log.jsonl"
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=log)))
    decision = c.post("/v1/route", json={"prompt": "algebra question: x + 2 = 5"}).json()["decision_id"]
    before = log.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(fb.os, "fsync", _no_space)
        r = c.post("/v1/feedback", json={"decision_id": decision, "correct": True})
    _error(r, 503, "could not write to the decision log")
    assert "No space left on device" in r.json()["detail"] and "nothing was recorded" in r.json()["detail"]
    assert log.read_bytes() == before  # the line written before fsync failed is taken back
    assert c.post("/v1/feedback", json={"decision_id": decision, "correct": False}).status_code == 200
    labels = [line["correct"] for line in _log(log) if line["event"] == "feedback"]
    assert labels == [0.0]


def test_a_decision_that_cannot_be_logged_is_503_and_not_remembered(checkpoint, tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    c = TestClient(create_app(checkpoint[0], ServeConfig(log=log)))
    before = log.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(fb.os, "write", _no_space)
        r = c.post("/v1/route", json={"prompt": "algebra question: x + 2 = 5"})
    _error(r, 503, "could not write to the decision log")
    assert log.read_bytes() == before and len(c.app.state.service.store) == 0


def _open_on(path) -> int:
    """How many of this process's descriptors are open on `path` (Linux: /proc/self/fd)."""
    fds = "/proc/self/fd"
    if not os.path.isdir(fds):
        pytest.skip("no /proc/self/fd here")
    links = []
    for fd in os.listdir(fds):
        try:
            links.append(os.readlink(os.path.join(fds, fd)))
        except OSError:  # the descriptor listdir itself used, closed since
            pass
    return links.count(str(path))


def test_a_log_that_takes_no_line_stops_the_server_at_start_up(checkpoint):
    """/dev/full opens but refuses every write (a full disk): that was an OSError traceback. At start-up there is
    no request to send again, and the descriptor is not left open."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    before = _open_on("/dev/full")
    with pytest.raises(ConfigError) as exc:
        create_app(checkpoint[0], ServeConfig(log="/dev/full"))
    # was: "--log /dev/full: could not write to the decision log /dev/full (...); nothing was recorded: send the
    # request again later", and the descriptor stayed open
    assert str(exc.value) == ("--log /dev/full: could not write to the decision log (No space left on device) at "
                              "start-up; give a --log that can be written to")
    assert _open_on("/dev/full") == before


def test_a_log_never_closed_closes_its_descriptor_when_collected(checkpoint, tmp_path):
    """Every app whose lifespan never ran (a TestClient without `with`) left its log's descriptor open."""
    path = tmp_path / "log.jsonl"
    logs = [fb.DecisionLog(path) for _ in range(5)]
    clients = [TestClient(create_app(checkpoint[0], ServeConfig(log=path))) for _ in range(2)]
    assert _open_on(path) == 7
    del logs, clients
    gc.collect()
    assert _open_on(path) == 0  # was: 7
    log = fb.DecisionLog(path)
    log.close()
    log.close()  # a second close, and then the collection, close nothing else
    del log
    gc.collect()
    assert _open_on(path) == 0


def test_a_log_whose_cut_line_cannot_be_closed_is_refused_and_not_left_open(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"event":"start"}\n{"event":"deci')  # a line cut short by a crash
    monkeypatch.setattr(fb, "_write_all", _no_space)
    with pytest.raises(ConfigError, match=r"^--log .*log.jsonl: cannot open the decision log for appending "
                                          r"\(No space left on device\)$"):
        fb.DecisionLog(path)
    assert _open_on(path) == 0  # was: 1


def test_a_line_for_a_closed_log_is_refused_not_dropped(tmp_path):
    """A feedback arriving while the server shut down was answered "recorded" and written nowhere."""
    log = fb.DecisionLog(tmp_path / "log.jsonl")
    log.close()
    with pytest.raises(ApiError, match="the decision log is closed") as exc:
        log.append({"event": "feedback", "decision_id": "a", "correct": 1.0})
    assert exc.value.status == 503 and (tmp_path / "log.jsonl").read_text() == ""


# ------------------------------------------------------------------------------------------- keys and tokens
@pytest.mark.parametrize("key", ["sk-secret-123\n", " sk-secret-123", "sk-secret-\x07123", "sk-sécret-123"])
def test_an_upstream_key_no_header_can_carry_stops_the_server_without_showing_it(checkpoint, tmp_path,
                                                                                   monkeypatch, key):
    """A trailing newline (a secret mounted from a file) made every chat request a 502 that quoted the header,
    key and all, to the client ("Illegal header value b'Bearer sk-...\\n'"); a non-ASCII key was a 500."""
    monkeypatch.setenv(KEY_ENV, key)
    path = _upstreams(tmp_path / "up.json", checkpoint[1][:1], api_key_env=KEY_ENV)
    with pytest.raises(ConfigError, match=f"the environment variable {KEY_ENV} holds a key with whitespace at an "
                                          "end") as exc:
        load_upstreams(path, checkpoint[1])
    assert "secret" not in str(exc.value)


@pytest.mark.parametrize("token", ["s3cret\n", " s3cret", "s3\tcret"])
def test_a_token_no_header_can_carry_stops_the_server(checkpoint, token):
    """Every request was a 401 'missing or wrong bearer token', whatever the client sent."""
    with pytest.raises(ConfigError, match=r"^--token \(IRTNET_TOKEN\) has whitespace at an end"):
        create_app(checkpoint[0], ServeConfig(token=token))
    result = CliRunner().invoke(cli, ["serve", str(checkpoint[0])], env={"IRTNET_TOKEN": token})
    assert result.exit_code == 2 and "error: --token (IRTNET_TOKEN) has whitespace" in result.output, result.output


# ------------------------------------------------------------------------------------------- upstream files
def test_a_key_beside_models_in_the_upstream_file_is_refused(checkpoint, tmp_path):
    """A misspelt table beside 'models' was dropped without a word: its model then had no upstream (a 501)."""
    a, b = checkpoint[1][:2]
    path = tmp_path / "up.json"
    doc = {"models": {a: {"base_url": "http://a/v1"}}, "modles": {b: {"base_url": "http://b/v1"}}}
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) 'modles' beside 'models'"):
        load_upstreams(path, checkpoint[1])


@pytest.mark.parametrize("name", ["", "  ", 7, ["m"]])
def test_an_upstream_model_name_is_a_non_empty_string_never_replaced(checkpoint, tmp_path, name):
    """`model = ""` was silently replaced by the model's own name, and `model = 7` sent as "7"."""
    path = _upstreams(tmp_path / "up.json", checkpoint[1][:1], model=name)
    with pytest.raises(ConfigError, match="model must be the name the upstream knows"):
        load_upstreams(path, checkpoint[1])


def test_a_huge_integer_timeout_is_a_config_error_not_an_overflow(checkpoint, tmp_path):
    path = tmp_path / "up.json"
    path.write_text('{"models": {"%s": {"base_url": "http://a/v1", "timeout": 1%s}}}' % (checkpoint[1][0], "0" * 400))
    with pytest.raises(ConfigError, match="timeout must be a positive number of seconds, got 1000"):
        load_upstreams(path, checkpoint[1])


def test_an_upstream_path_that_is_a_folder_says_so(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_upstreams(tmp_path, checkpoint[1])


# ------------------------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_streamed_chunk_holding_a_unicode_line_separator_arrives_whole(checkpoint, tmp_path, separator):
    """httpx's aiter_lines splits at U+2028, U+2029 and U+0085 too, which JSON strings hold as they are: the chunk
    reached the client in two pieces (a JSON error in the openai client) and kept the upstream's model name."""
    from openai._streaming import SSEDecoder

    content = f"line one{separator}line two"

    def upstream(request: httpx.Request) -> httpx.Response:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
                 "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
        body = f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\ndata: [DONE]\r\n\r\n".encode()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    path = _upstreams(tmp_path / "up.json", checkpoint[1])
    c = TestClient(create_app(checkpoint[0], ServeConfig(upstreams=path), transport=httpx.MockTransport(upstream)))
    r = c.post("/v1/chat/completions", json={"model": "irtnet", "stream": True, "messages": USER})
    assert r.status_code == 200, r.text
    events = [e.data for e in SSEDecoder().iter_bytes(iter([r.content]))]
    assert len(events) == 2 and events[1] == "[DONE]", events
    chunk = json.loads(events[0])
    assert chunk["choices"][0]["delta"]["content"] == content
    assert chunk["model"] == r.headers["x-irtnet-model"]


class _Chunked:
    """A response whose body arrives in the given byte chunks."""

    def __init__(self, chunks):
        self.chunks = chunks

    async def aiter_bytes(self):
        for chunk in self.chunks:
            yield chunk


def _event_lines(chunks) -> list[str]:
    import asyncio

    from irtnet.serve.upstreams import _event_lines as lines

    async def read():
        return [line async for line in lines(_Chunked(chunks))]

    return asyncio.run(read())


def test_event_lines_join_chunks_and_split_only_at_cr_lf_and_crlf():
    text = "data: é\u2028x\r\n\r\ndata: b\rdata: c\n\ndata: [DONE]".encode()
    want = ["data: é\u2028x", "", "data: b", "data: c", "", "data: [DONE]"]
    assert _event_lines([text]) == want
    assert _event_lines([text[i:i + 1] for i in range(len(text))]) == want  # CR and LF, é's bytes apart


@pytest.mark.parametrize("chunks, want", [
    ([b"data: x\r"], ["data: x"]),  # a CR ending the stream ends its last line, and adds none
    ([b"data: x", b"\r"], ["data: x"]),
    ([b"data: x\r", b"", b"\n", b"\n"], ["data: x", ""]),  # the LF of a CRLF split over chunks (one empty between)
    ([b"data: x\n", b"\r"], ["data: x", ""]),  # here the CR ends an empty line of its own, as an LF would
    ([b"data: x\n", b"\n"], ["data: x", ""]),
], ids=["cr", "cr-apart", "crlf-apart", "lf-cr", "lf-lf"])
def test_event_lines_at_a_cr_ending_the_stream(chunks, want):
    assert _event_lines(chunks) == want


def test_event_lines_scan_each_byte_once(monkeypatch):
    """A long line arriving in many chunks was joined and split again whole at every chunk (quadratic)."""
    from irtnet.serve import upstreams

    scanned = []

    class Counting:
        def split(self, data):
            scanned.append(len(data))
            return re.split(rb"\r\n|\r|\n", data)

    monkeypatch.setattr(upstreams, "_LINE_END", Counting())
    line = b"data: " + b"x" * 4000
    assert _event_lines([line[i:i + 1] for i in range(len(line))] + [b"\r\n", b"data: y"]) == \
        [line.decode(), "data: y"]
    assert sum(scanned) <= len(line) + 9  # was: about len(line) ** 2 / 2


# ------------------------------------------------------------------------------------------- /route
def test_route_does_not_call_a_routerdc_score_a_probability(data, tmp_path):
    """A RouterDC checkpoint has no probabilities (its /v1/route gives p_correct null, /predict is a 422), yet
    /route reported its score as `p_correct`."""
    path = save_predictor(RouterDC(epochs=1, hidden=8, dim=4, batch_size=32).fit(data), tmp_path / "dc")
    c = TestClient(create_app(path))
    ranked = c.post("/route", json={"texts": ["algebra question: x"], "top": 2}).json()["routes"][0]["ranked"]
    v1 = c.post("/v1/route", json={"prompt": "algebra question: x"}).json()["ranking"]
    assert [r["p_correct"] for r in ranked] == [None, None]
    assert [(r["model"], r["score"]) for r in ranked] == [(r["model"], r["score"]) for r in v1[:2]]


def test_route_gives_an_irtnet_score_as_its_probability(checkpoint):
    c = TestClient(create_app(checkpoint[0]))
    ranked = c.post("/route", json={"texts": ["algebra question: x"]}).json()["routes"][0]["ranked"]
    assert all(r["p_correct"] == r["score"] and 0 <= r["score"] <= 1 for r in ranked)


# ------------------------------------------------------------------------------------------- CLI options
@pytest.mark.parametrize("command", ["serve", "calibrate"])
def test_output_tokens_nan_is_not_called_negative(checkpoint, tmp_path, command):
    """`--output-tokens nan` was refused as 'must be non-negative', which NaN is not."""
    (tmp_path / "q.txt").write_text("algebra question: x\n")
    args = [command, str(checkpoint[0]), "--output-tokens", "nan"]
    if command == "calibrate":
        args += ["--texts", str(tmp_path / "q.txt"), "--target", "p=0.5"]
    result = CliRunner().invoke(cli, args, env={"IRTNET_TOKEN": ""})
    assert result.exit_code == 2 and "error: --output-tokens must be a finite non-negative number, got nan" in \
        result.output, result.output


# ------------------------------------------------------------------------------------------- LiteLLM
def test_litellm_a_request_without_text_says_so_and_odd_parts_are_refused(checkpoint):
    """An image-only message was refused as "field 'text': query text 1 is empty" (no such field in a LiteLLM
    request), and a text part whose text is no string was a TypeError, then skipped; it is refused, as the service
    refuses it (422)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the remote price map on import
    litellm = pytest.importorskip("litellm")
    from irtnet.integrations.litellm_strategy import IrtnetRoutingStrategy, request_text

    path, names = checkpoint
    router = litellm.Router(model_list=[{"model_name": "auto", "litellm_params": {"model": f"openai/{m}",
                                                                                "api_key": "x", "mock_response": m}}
                                        for m in names])
    strategy = IrtnetRoutingStrategy(path, router=router)
    image_only = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]
    with pytest.raises(DataError, match="the request to 'auto' has no text to route on"):
        strategy.get_available_deployment("auto", image_only)
    for odd in ({"type": "text", "text": 5}, {"type": "text", "text": None}, 7, None):  # refused, as the service does
        with pytest.raises(DataError, match="content part 0 of the message to route on"):
            request_text([{"role": "user", "content": [odd, {"type": "text", "text": "a"}]}])
    with pytest.raises(DataError, match="input item 1 to route on is int"):  # token ids are no text
        request_text(None, ["a", 5])
    image = {"type": "image_url", "image_url": {"url": "http://x/y.png"}}
    assert request_text([{"role": "user", "content": [image, {"type": "text", "text": "a"}]}]) == "a"

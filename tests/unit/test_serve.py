"""The HTTP service, through FastAPI's test client."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from irtnet.data.dataset import Dataset  # noqa: E402
from irtnet.data.embeddings import embed_queries  # noqa: E402
from irtnet.data.synthetic import make_synthetic  # noqa: E402
from irtnet.predictors import IrtNet  # noqa: E402
from irtnet.predictors.checkpoint import save_predictor  # noqa: E402
from irtnet.serve.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    table = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    model = IrtNet("small", {"epochs": 1, "progress": False}).fit(data)
    path = save_predictor(model, tmp_path_factory.mktemp("srv") / "m")
    return TestClient(create_app(path)), model


def test_route_and_predict(client):
    c, model = client
    assert c.get("/health").json()["models"] == 4
    names = c.get("/models").json()["models"]
    r = c.post("/route", json={"texts": ["algebra question: x", "history question: y"], "top": 2}).json()
    assert len(r["routes"]) == 2 and len(r["routes"][0]["ranked"]) == 2
    p = c.post("/predict", json={"texts": ["algebra question: x"], "models": names[:2]}).json()
    assert p["models"] == names[:2] and len(p["probabilities"][0]) == 2
    ranked = r["routes"][0]["ranked"]
    assert ranked[0]["p_correct"] >= ranked[1]["p_correct"]


def test_bad_requests_say_why(client):
    c, _ = client
    r = c.post("/predict", json={"texts": ["x"], "models": ["nope"]})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    assert c.post("/route", json={"texts": []}).status_code == 422


def _refused(r, *names: str) -> str:
    """A 422 whose message names every one of `names`."""
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert all(n in detail for n in names), detail
    return detail


@pytest.mark.parametrize("path", ["/predict", "/route"])
def test_unknown_fields_are_refused_by_name(client, path):
    c, _ = client
    _refused(c.post(path, json={"texts": ["a"], "modles": ["m"]}), "modles", "Extra inputs")


@pytest.mark.parametrize("top", ["3", True, 2.0, 2.5])
def test_top_is_a_json_integer_not_coerced(client, top):
    c, _ = client
    _refused(c.post("/route", json={"texts": ["a"], "top": top}), "top")


@pytest.mark.parametrize("path", ["/predict", "/route"])
@pytest.mark.parametrize(("body", "field"), [({"texts": "a"}, "texts"), ({"texts": ["a"], "models": "m"}, "models"),
                                             ({"texts": ["a"], "benchmark": 1}, "benchmark"),
                                             ({"texts": ["a"], "benchmark": True}, "benchmark")])
def test_other_fields_are_not_coerced(client, path, body, field):
    c, _ = client
    _refused(c.post(path, json=body), field)


@pytest.mark.parametrize("path", ["/predict", "/route"])
def test_an_empty_model_list_is_refused_and_omitting_it_means_all(client, path):
    c, _ = client
    _refused(c.post(path, json={"texts": ["a"], "models": []}), "models")
    names = c.get("/models").json()["models"]
    r = c.post(path, json={"texts": ["a"], "top": len(names)} if path == "/route" else {"texts": ["a"]})
    assert r.status_code == 200, r.text
    got = r.json()["models"] if path == "/predict" else [x["model"] for x in r.json()["routes"][0]["ranked"]]
    assert sorted(got) == sorted(names)


@pytest.mark.parametrize("path", ["/predict", "/route"])
def test_duplicate_models_are_refused_by_name(client, path):
    c, _ = client
    names = c.get("/models").json()["models"]
    detail = _refused(c.post(path, json={"texts": ["a"], "models": [names[1], names[0], names[1]]}), "models",
                      repr(names[1]))
    assert repr(names[0]) not in detail


@pytest.mark.parametrize("top", [10**24, 5])
def test_top_beyond_the_models_ranked_is_refused(client, top):
    c, _ = client
    detail = _refused(c.post("/route", json={"texts": ["a"], "top": top}), f"top {top}", "4 model(s)")
    names = c.get("/models").json()["models"]
    _refused(c.post("/route", json={"texts": ["a"], "top": 3, "models": names[:2]}), "top 3", "2 model(s)")
    assert "at most" in detail


def test_top_defaults_to_three_or_every_model_ranked_when_fewer(client):
    c, _ = client
    names = c.get("/models").json()["models"]
    assert len(c.post("/route", json={"texts": ["a"]}).json()["routes"][0]["ranked"]) == 3
    r = c.post("/route", json={"texts": ["a"], "models": names[:2]})
    assert r.status_code == 200 and len(r.json()["routes"][0]["ranked"]) == 2, r.text

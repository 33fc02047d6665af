"""Written files respect the umask; temporary files vanish on failure and stale ones are cleared."""

from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest

from irtnet._io import atomic_dir, atomic_path, clear_stale_temps, current_umask, write_json
from irtnet.data import embeddings
from irtnet.data.embeddings import EmbeddingCache, text_key
from irtnet.data.synthetic import make_synthetic


@pytest.fixture
def umask():
    """Set a umask for one test and restore the previous one (it is process-wide)."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                      (0o002, 0o664, 0o775)])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    assert current_umask() == mask
    with atomic_path(tmp_path / "a.bin") as tmp:
        tmp.write_bytes(b"x")
    write_json(tmp_path / "b.json", {"a": 1})
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "inner.txt").write_text("x")
    make_synthetic(n_models=2, n_queries=4, n_benchmarks=1, dim=1, feature_dim=2).table.to_parquet(
        tmp_path / "t.parquet")
    EmbeddingCache("fake", root=tmp_path).put([text_key("x")], np.ones((1, 2), np.float32))
    shard = next((tmp_path / "embeddings" / "fake").glob("shard-*.safetensors"))
    for path in (tmp_path / "a.bin", tmp_path / "b.json", tmp_path / "run" / "inner.txt",
                 tmp_path / "t.parquet", shard):
        assert _mode(path) == file_mode, path
    assert _mode(tmp_path / "run") == dir_mode
    assert current_umask() == mask  # reading it changed nothing


def test_temporary_files_are_removed_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir(tmp_path / "run") as tmp:
            (tmp / "x").write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writing_over_a_folder_or_under_a_file_is_a_data_error_naming_the_path(tmp_path):
    from irtnet.errors import DataError

    (tmp_path / "out.json").mkdir()
    with pytest.raises(DataError, match="out.json: is a folder"):
        write_json(tmp_path / "out.json", {"a": 1})
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="a folder on its path is a file"):
        write_json(tmp_path / "file" / "out.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out.json"]  # nothing left behind


def _aged(path, hours: float):
    path.write_bytes(b"left by a killed writer")
    then = time.time() - hours * 3600
    os.utime(path, (then, then))
    return path


def test_stale_temporaries_of_the_output_path_are_cleared_and_fresh_ones_kept(tmp_path):
    old = _aged(tmp_path / ".t.parquet.abc123.tmp", 2)
    fresh = _aged(tmp_path / ".t.parquet.def456.tmp", 0.1)  # a live writer may still use it
    other = _aged(tmp_path / ".other.parquet.ghi789.tmp", 2)  # not this output's: not touched
    make_synthetic(n_models=2, n_queries=4, n_benchmarks=1, dim=1, feature_dim=2).table.to_parquet(
        tmp_path / "t.parquet")
    assert not old.exists() and fresh.exists() and other.exists()
    assert (tmp_path / "t.parquet").exists()


def test_stale_temporaries_in_the_embedding_cache_are_cleared_and_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(embeddings, "_INDEXES", {})
    folder = tmp_path / "embeddings" / "fake"
    folder.mkdir(parents=True)
    old = _aged(folder / ".shard-1.safetensors.x.tmp", 2)
    fresh = _aged(folder / ".shard-2.safetensors.y.tmp", 0.5)
    old_dir = folder / ".run.z.tmp"
    old_dir.mkdir()
    os.utime(old_dir, (time.time() - 7200, time.time() - 7200))
    assert EmbeddingCache("fake", root=tmp_path).get([text_key("x")]) == {}
    assert not old.exists() and not old_dir.exists() and fresh.exists()


def test_clear_stale_temps_takes_an_age_and_a_pattern(tmp_path):
    a = _aged(tmp_path / ".a.tmp", 0.5)
    b = _aged(tmp_path / "b.tmp", 5)  # not a hidden temporary sibling: never matched by default
    assert clear_stale_temps(tmp_path) == 0
    assert clear_stale_temps(tmp_path, max_age_s=600) == 1 and not a.exists() and b.exists()
    assert clear_stale_temps(tmp_path / "missing") == 0

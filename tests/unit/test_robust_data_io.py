"""Written files respect the umask; temporary files vanish on failure and stale ones are cleared."""

from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest

from irtnet._io import atomic_dir, atomic_path, clear_stale_temps, current_umask, write_json, write_together
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


def test_every_write_clears_its_own_paths_stale_temporaries(tmp_path):
    """A file or folder write (a report, a plan, a checkpoint) sweeps what a killed write of the same path left."""
    old_file, fresh = _aged(tmp_path / ".r.json.a1.tmp", 2), _aged(tmp_path / ".r.json.b2.tmp", 0.1)
    other = _aged(tmp_path / ".s.json.c3.tmp", 2)
    write_json(tmp_path / "r.json", {"a": 1})
    assert not old_file.exists() and fresh.exists() and other.exists()
    old_dir = tmp_path / ".ckpt.d4.tmp"
    old_dir.mkdir()
    (old_dir / "weights").write_text("a whole checkpoint")
    os.utime(old_dir, (time.time() - 7200, time.time() - 7200))
    with atomic_dir(tmp_path / "ckpt") as tmp:
        (tmp / "v").write_text("new")
    assert not old_dir.exists() and (tmp_path / "ckpt" / "v").read_text() == "new" and other.exists()


def test_files_written_together_change_together(tmp_path, monkeypatch):
    """compare's results.json and stats.json: an interruption while either is written leaves both old ones; once
    written, both are new; the stale one is never old beside the other's new content."""
    from pathlib import Path

    results, stats = tmp_path / "results.json", tmp_path / "stats.json"
    results.write_text("old results")
    stats.write_text("old stats")
    real, calls = Path.write_bytes, []

    def interrupted(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_together([(results, "new results"), (stats, "new stats")], stale=stats)
    monkeypatch.undo()
    assert (results.read_text(), stats.read_text()) == ("old results", "old stats")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "stats.json"]  # no temporary left
    order = []
    monkeypatch.setattr(os, "replace", lambda a, b, real=os.replace: (order.append(Path(b).name), real(a, b)))
    write_together([(results, "new results"), (stats, b"new stats")], stale=stats)
    assert order == ["results.json", "stats.json"]
    assert (results.read_text(), stats.read_text()) == ("new results", "new stats")


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


def _killed_mid_swap(path) -> None:
    """Run, in another process, an `atomic_dir` write over `path` that is killed between its two renames (the
    old folder moved aside, the new one not yet in place), as SIGKILL would."""
    import subprocess
    import sys

    script = ("import os, sys\nfrom irtnet import _io\n"
              "_io.os.rename = lambda *a: os._exit(9)\n"
              "with _io.atomic_dir(sys.argv[1]) as tmp:\n    (tmp / 'v').write_text('new')\n")
    assert subprocess.run([sys.executable, "-c", script, str(path)]).returncode == 9


def test_a_folder_left_aside_by_a_killed_write_is_put_back(tmp_path):
    from irtnet._io import recover_dir

    path = tmp_path / "ck[1]"  # glob's special characters in the name
    with atomic_dir(path) as tmp:
        (tmp / "v").write_text("old")
    _killed_mid_swap(path)
    assert not path.exists() and len(list(tmp_path.glob(".ck*.old-*"))) == 1
    assert recover_dir(path) and (path / "v").read_text() == "old" and not list(tmp_path.glob(".ck*.old-*"))
    assert not recover_dir(path)  # nothing to do where the folder is there
    live = tmp_path / f".other.old-{os.getpid()}-00000000"  # a swap in progress (its writer runs): left alone
    live.mkdir()
    assert not recover_dir(tmp_path / "other") and live.is_dir()
    _killed_mid_swap(path)
    with atomic_dir(path) as tmp:  # the next write puts the old one back first, then replaces it
        (tmp / "v").write_text("newer")
    assert (path / "v").read_text() == "newer" and not list(tmp_path.glob(".ck*.old-*"))


def test_a_checkpoint_and_a_run_left_aside_are_found_again(tmp_path):
    import subprocess
    import sys

    from irtnet.api.run import Run
    from irtnet.data.dataset import Dataset
    from irtnet.predictors import ModelMean
    from irtnet.predictors.checkpoint import load_predictor, save_predictor

    synth = make_synthetic(n_models=3, n_queries=30, n_benchmarks=1, dim=1, feature_dim=2, seed=0)
    save_predictor(ModelMean().fit(Dataset.from_table(synth.table, synth.features)), tmp_path / "ck")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(tmp_path / "ck", tmp_path / f".ck.old-{int(dead.stdout)}-0a1b2c3d")
    assert load_predictor(tmp_path / "ck").name == "model-mean" and (tmp_path / "ck").is_dir()
    (tmp_path / "run").mkdir()
    os.rename(tmp_path / "run", tmp_path / f".run.old-{int(dead.stdout)}-0a1b2c3d")
    with pytest.raises(Exception, match="no run.json"):  # found again, then judged as what it is
        Run.open(tmp_path / "run")
    assert (tmp_path / "run").is_dir()

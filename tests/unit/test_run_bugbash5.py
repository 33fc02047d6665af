"""Bug bash of training runs and checkpoints: `--overwrite` deleting a folder that is no run, an output path that
cannot be written found only after training, checkpoint tensors of an integer dtype loading silently, a run's
config.json or table that this version cannot use named in one line, and settings that are not numbers (threads,
an infinite weight decay) or an empty encoder name accepted."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tomllib

import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from irtnet import api
from irtnet.api.run import Run, RunSpec, resolve_run, run_spec, run_spec_from, train_run
from irtnet.config import DataConfig
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.predictors.checkpoint import load_predictor
from irtnet.predictors.spec import ModelSpec
from cli_checks import one_line_error

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bugbash5") / "t.parquet"
    make_synthetic(n_models=4, n_queries=160, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


def _spec(table_path, encoder: str = "hashing-32") -> RunSpec:
    return RunSpec(data=DataConfig(table=str(table_path), encoder=encoder),
                   model=ModelSpec(preset="small", params={"train": {"epochs": 1, "progress": False}}), threads=1)


@pytest.fixture(scope="module")
def run_path(tmp_path_factory, table_path):
    return train_run(_spec(table_path), tmp_path_factory.mktemp("bugbash5-run") / "run", progress=False).path


@pytest.fixture
def no_training(monkeypatch):
    """A training that starts fails the test: the refusal must come before it."""
    def refuse(*_, **__):
        raise AssertionError("training started")
    monkeypatch.setattr("irtnet.api.run.build_predictor", refuse)


def test_overwrite_never_replaces_a_folder_that_is_not_a_run_or_a_file(tmp_path, table_path, no_training):
    """`irtnet train -o PROJECT --overwrite` deleted PROJECT and all it held; `-o FILE --overwrite` replaced the
    file by the run (and left it aside as `.FILE.old-*`)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("keep me")
    (project / "config.json").write_text("{}")  # one name a run holds too does not make it a run
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="is a folder that is not a run directory, and writing the run there "
                                              r"would delete all it holds; give a new path \(--overwrite replaces"):
            train_run(_spec(table_path), project, overwrite=overwrite, progress=False)
        with pytest.raises(ConfigError, match="exists and is not a folder; give a new path for the run directory"):
            train_run(_spec(table_path), table_path, overwrite=overwrite, progress=False)
    assert (project / "notes.txt").read_text() == "keep me"
    configs = tmp_path / "configs"  # only the config file being read: `--config configs/config.json -o configs`
    configs.mkdir()
    (configs / "config.json").write_text('{"threads": 1}')
    with pytest.raises(ConfigError, match="is a folder that is not a run directory"):
        train_run(_spec(table_path), configs, overwrite=True, progress=False)
    assert (configs / "config.json").read_text() == '{"threads": 1}'
    assert sorted(p.name for p in table_path.parent.iterdir()) == ["t.parquet"]
    out = one_line_error("train", table_path, "-o", project, "--encoder", "hashing-32", "--overwrite")
    assert f"error: {project}: is a folder that is not a run directory" in out


def test_an_empty_folder_is_written_into_and_a_run_replaced_only_with_overwrite(tmp_path, table_path, run_path):
    empty = tmp_path / "empty"
    empty.mkdir()  # e.g. made by a job scheduler: no run to keep
    assert Run.open(train_run(_spec(table_path), empty, progress=False).path).run_id
    copy = shutil.copytree(run_path, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"run exists; pass --overwrite \(overwrite=True\) to replace it"):
        train_run(_spec(table_path), copy, progress=False)
    assert train_run(_spec(table_path), copy, overwrite=True, progress=False).run_id != Run.open(run_path).run_id


def test_an_output_path_that_cannot_be_written_is_refused_before_training(tmp_path, table_path, no_training):
    """A parent that is a file (or a name too long) was found when the run was written, after the training: an
    OSError traceback, and the training lost."""
    with pytest.raises(ConfigError, match=f"cannot write the run directory here: {table_path} is a file"):
        train_run(_spec(table_path), table_path / "run", progress=False)
    with pytest.raises(ConfigError, match=r"cannot write the run directory here \(File name too long\)"):
        train_run(_spec(table_path), tmp_path / ("r" * 250), progress=False)
    out = one_line_error("train", table_path, "-o", table_path / "sub" / "run", "--encoder", "hashing-32")
    assert f"{table_path} is a file, not a folder" in out


@pytest.mark.parametrize("dtype", ["int64", "bool", "uint8"])
def test_a_checkpoint_tensor_of_an_integer_dtype_is_refused(run_path, tmp_path, dtype):
    """A tensor cast to int or bool (a hand-edited or foreign checkpoint) loaded silently, its weights truncated."""
    ckpt = shutil.copytree(run_path / "model", tmp_path / "ckpt")
    arrays = load_file(str(ckpt / "weights.safetensors"))
    arrays["theta"] = arrays["theta"].astype(dtype)
    save_file(arrays, str(ckpt / "weights.safetensors"))
    with pytest.raises(CheckpointError, match=rf"weights\.safetensors: tensor 'theta' has dtype {dtype}, not a "
                                              "floating-point type") as info:
        load_predictor(ckpt)
    assert str(ckpt) in str(info.value) and "\n" not in str(info.value)


def test_a_run_config_this_version_cannot_read_is_named(run_path, tmp_path):
    """A run whose config.json has a setting this version does not know said "invalid run configuration: ..."
    without naming the file."""
    run = shutil.copytree(run_path, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["data"]["new_option"] = 1
    (run / "config.json").write_text(json.dumps(config))
    manifest = json.loads((run / "run.json").read_text())
    manifest["files"]["config.json"] = hashlib.sha256((run / "config.json").read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="config.json: invalid run configuration: data.new_option: Extra"):
        Run.open(run)
    assert f"error: {run / 'config.json'}: invalid run configuration" in one_line_error("route", run, "a question")


def test_a_run_whose_table_moved_says_so_before_scoring(tmp_path, table_path):
    """The table of a run moved away: "TABLE: no such file", a file the user never named in this command, and
    `irtnet evaluate` said it was scoring first."""
    moved = shutil.copy(table_path, tmp_path / "t.parquet")
    run = train_run(_spec(moved), tmp_path / "run", progress=False).path
    (tmp_path / "t.parquet").rename(tmp_path / "elsewhere.parquet")
    with pytest.raises(DataError, match="the table this run was trained on is missing"):
        Run.open(run).table()
    out = one_line_error("evaluate", run)
    assert (f"error: {moved}: the table this run was trained on is missing (moved or deleted?); put it back there, "
            f"unchanged (the run names it in {run / 'config.json'}, data.table)") in out
    assert "scoring" not in out
    assert "the table this run was trained on is missing" in one_line_error("route", run, "q", "--cost-weight", 1)


@pytest.mark.parametrize("value", [True, "2", False])
def test_threads_must_be_a_number_not_a_bool_or_a_string(table_path, value):
    """`threads = true` in a config file ran on one thread; `threads = "2"` on two."""
    with pytest.raises(ConfigError, match=r"threads: must be a whole number of at least 1 \(or left out\), got "
                                          f"{type(value).__name__}"):
        run_spec({"data": {"table": str(table_path)}, "threads": value})
    assert run_spec({"data": {"table": str(table_path)}, "threads": 2}).threads == 2


@pytest.mark.parametrize("text", ["weight_decay = inf", "weight_decay = 1e999"])
def test_a_non_finite_weight_decay_is_refused(table_path, text):
    """An infinite weight decay was accepted, and training then "diverged: lower the learning rate"."""
    file = tomllib.loads(f"[model.params.train]\n{text}")
    with pytest.raises(ConfigError, match="weight_decay: Input should be"):
        resolve_run(run_spec_from(table_path, file))
    assert math.isinf(tomllib.loads("x = inf")["x"])  # TOML reads it as a number: only the check refuses it


@pytest.mark.parametrize("encoder", ["", "   "])
def test_an_empty_encoder_name_is_refused(table_path, tmp_path, encoder, no_training):
    """An empty encoder name was read as the current folder, a local sentence-transformers model."""
    with pytest.raises(ConfigError, match=r"the encoder name is empty \('\s*'\): give an encoder"):
        api.prepare(table_path, encoder)
    with pytest.raises(ConfigError, match="the encoder name is empty"):
        train_run(_spec(table_path, encoder=encoder), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def _rehash(run, name):
    manifest = json.loads((run / "run.json").read_text())
    manifest["files"][name] = hashlib.sha256((run / name).read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(manifest))


def test_a_run_json_that_lists_no_files_is_refused(run_path, tmp_path):
    """With "files": {} no part of the run was checked against its sha256."""
    run = shutil.copytree(run_path, tmp_path / "run")
    manifest = json.loads((run / "run.json").read_text())
    del manifest["files"]["split.json"]
    (run / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="run.json: field 'files' does not list split.json"):
        Run.open(run)


def test_a_run_whose_config_names_another_model_than_its_checkpoint_is_refused(run_path, tmp_path):
    """config.json naming knn beside an irtnet checkpoint loaded, and the run was described as a knn run."""
    run = shutil.copytree(run_path, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["model"] = {"model": "knn", "preset": None, "params": {}, "seed": 0}
    (run / "config.json").write_text(json.dumps(config))
    _rehash(run, "config.json")
    with pytest.raises(CheckpointError, match="holds a 'irtnet' model, but the run's config.json names 'knn'"):
        Run.open(run).predictor()


def test_a_baseline_of_the_run_s_own_kind_keeps_both_curves(run_path, tmp_path):
    """Curves are keyed by the router's name: an `irtnet` baseline on an irtnet run replaced the run's own curves
    (and `model-benchmark-mean`, the default baseline, on a model-benchmark-mean run)."""
    from irtnet.api.experiments import cost_routing_run

    prices = tmp_path / "p.json"
    prices.write_text(json.dumps({m: float(i + 1) for i, m in enumerate(Run.open(run_path).predictor().models_.ids)}))
    result = cost_routing_run(run_path, prices=prices, baselines=["irtnet"])
    assert {c["router"] for c in result["curves"]} == {"irtnet (this run)", "irtnet"}

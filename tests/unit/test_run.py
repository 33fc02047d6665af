"""One door: the model spec and its one resolver, run directories written whole or not at all and verified
when opened, and the one-line errors of `irtnet train / evaluate / route` on bad input."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from irtnet import api
from irtnet.api.run import Run, RunSpec, run_spec_from, train_run
from irtnet.config import DataConfig
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.predictors.spec import ModelSpec, resolve_spec
from irtnet.reporting.tables import markdown as to_markdown

runner = CliRunner()
SMALL = {"train": {"epochs": 2, "progress": False}}


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "t.parquet"
    make_synthetic(n_models=5, n_queries=240, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


def _spec(table_path, data_seed: int = 0, **model) -> RunSpec:
    model = {"preset": "small", "params": SMALL, **model}
    return RunSpec(data=DataConfig(table=str(table_path), encoder="hashing-32", seed=data_seed),
                   model=ModelSpec(**model), threads=1)


# ------------------------------------------------------------------------------------------------ spec
def test_one_resolver_fills_every_value_and_is_idempotent():
    full = resolve_spec(ModelSpec(params={"config": {"dim": 4}}, seed=3))
    assert full.preset == "default" and full.params["config"]["dim"] == 4
    assert full.params["config"]["use_groups"] is True and full.params["train"]["seed"] == 3
    assert resolve_spec(full) == full
    mf = resolve_spec(ModelSpec(model="embedllm-mf", seed=7))
    assert mf.params["seed"] == 7 and mf.params["dim"] == 232


@pytest.mark.parametrize("spec, message", [
    (ModelSpec(model="knn", preset="small"), "preset is an IrtNet option"),
    (ModelSpec(model="knn", params={"kk": 3}), "'knn' has no parameter 'kk'; its parameters: k,"),
    (ModelSpec(model="random", params={"seed": 1}, seed=2), "two seeds"),
    (ModelSpec(params={"train": {"epochs": 0}}), "train.epochs|epochs: Input should be greater"),
    (ModelSpec(params={"train": {"lr": -1}}), "lr: Input should be greater than 0"),
    (ModelSpec(preset="nope"), "unknown IrtNet preset 'nope'"),
    (ModelSpec(model="nope"), "unknown model 'nope'"),
    (ModelSpec(params={"extra": {}}), "unknown: extra"),
])
def test_bad_specs_are_refused_with_the_field_named(spec, message):
    with pytest.raises(ConfigError, match=message):
        resolve_spec(spec)


def test_flags_over_a_file_keep_the_files_overrides(table_path):
    legacy = {"model": "irtnet", "params": {"config": {"dim": 5}}}  # irtnet 0.1's format, no preset named
    spec = run_spec_from(table_path, legacy, seed=4)
    full = resolve_spec(spec.model)
    assert full.preset == "default" and full.params["config"]["dim"] == 5  # not the paper network
    spec = run_spec_from(table_path, legacy, preset="small", epochs=3)
    full = resolve_spec(spec.model)
    assert full.params["config"]["dim"] == 5 and full.params["config"]["moe"]["n_experts"] == 4
    assert full.params["train"]["epochs"] == 3
    with pytest.raises(ConfigError, match="--epochs does not apply to 'knn'"):
        run_spec_from(table_path, None, model="knn", epochs=3)
    with pytest.raises(ConfigError, match="--groups does not apply to 'embedllm-mf'"):
        run_spec_from(table_path, None, model="embedllm-mf", groups=True)
    with pytest.raises(ConfigError, match="conflicts with the config file's model 'irtnet'"):
        run_spec_from(table_path, legacy, model="knn")


# ------------------------------------------------------------------------------------------------- runs
def test_a_run_records_the_resolved_spec_and_verifies_itself(tmp_path, table_path):
    run = train_run(_spec(table_path, seed=3), tmp_path / "run", progress=False)
    config = json.loads((run.path / "config.json").read_text())
    assert config["model"]["preset"] == "small" and config["model"]["seed"] == 3
    assert config["model"]["params"]["train"]["seed"] == 3 and config["model"]["params"]["config"]["use_groups"] is False
    assert config["data"]["seed"] == 0 and config["threads"] == 1
    opened = Run.open(run.path)
    assert opened.run_id == run.run_id and opened.predictor().name == "irtnet"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_an_existing_run_is_refused_then_replaced_only_when_asked(tmp_path, table_path):
    first = train_run(_spec(table_path), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        train_run(_spec(table_path, seed=1), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="epochs"):  # a failing retrain leaves the old run whole
        train_run(_spec(table_path, params={"train": {"epochs": 0}}), tmp_path / "run", overwrite=True)
    assert Run.open(tmp_path / "run").run_id == first.run_id
    second = train_run(_spec(table_path, seed=1), tmp_path / "run", overwrite=True, progress=False)
    assert Run.open(tmp_path / "run").run_id == second.run_id != first.run_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_split_or_model_from_another_run_is_never_paired(tmp_path, table_path):
    a = train_run(_spec(table_path), tmp_path / "a", progress=False)
    b = train_run(_spec(table_path, data_seed=1, seed=1), tmp_path / "b", progress=False)
    b_split = json.loads((b.path / "split.json").read_text())
    shutil.copy(b.path / "split.json", a.path / "split.json")
    assert json.loads((a.path / "split.json").read_text()) == b_split
    with pytest.raises(CheckpointError, match=r"split.json: changed since the run was written"):
        api.evaluate_run(a.path)
    shutil.rmtree(b.path / "model")
    shutil.copytree(a.path / "model", b.path / "model")  # a's model, b's split
    with pytest.raises(CheckpointError, match="changed since the run was written"):
        api.load(b.path)
    (tmp_path / "c").mkdir()
    with pytest.raises(CheckpointError, match="not a run directory"):
        Run.open(tmp_path / "c")


def test_a_changed_table_is_refused(tmp_path):
    path = tmp_path / "t.parquet"
    synth = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    synth.to_parquet(path)
    run = train_run(_spec(path), tmp_path / "run", progress=False)
    flipped = 1 - synth.responses.loc[0, "label"]  # a label and its counts changed together: a valid table
    synth.responses.loc[0, ["label", "n_correct", "n_trials", "score"]] = [flipped, float(flipped), 1.0, float(flipped)]
    synth.to_parquet(path)
    with pytest.raises(DataError, match="table changed since this run was trained"):
        api.evaluate_run(run.path)


# -------------------------------------------------------------------------------------------- evaluation
SETTINGS = ["benchmark known", "text only"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A default-preset run on three benchmarks whose texts name them, evaluated: (run path, results)."""
    root = tmp_path_factory.mktemp("evaluated")
    make_synthetic(n_models=5, n_queries=400, n_benchmarks=3, dim=2, feature_dim=6, seed=0).table.to_parquet(
        root / "t.parquet")
    spec = RunSpec(data=DataConfig(table=str(root / "t.parquet"), encoder="hashing-64", seed=0),
                   model=ModelSpec(params=SMALL), threads=1)
    run = train_run(spec, root / "run", progress=False)
    return run.path, api.evaluate_run(run.path)


def _by(results, setting):
    return {r.predictor: r for r in results if r.info["setting"] == setting}


def test_evaluation_scores_every_predictor_with_names_known_and_hidden(evaluated):
    path, results = evaluated
    names = ["irtnet", *api.REFERENCE_BASELINES]
    assert [(r.info["setting"], r.predictor) for r in results] == [(s, n) for s in SETTINGS for n in names]
    written = json.loads((path / "evaluation.json").read_text())
    assert isinstance(written, list) and [(e["info"]["setting"], e["predictor"]) for e in written] == [
        (r.info["setting"], r.predictor) for r in results]
    known, hidden = _by(results, "benchmark known"), _by(results, "text only")
    n = known["irtnet"].info["n_test_queries"]
    # the default preset answers by the benchmark's name when it is given, by the text and the inferred
    # benchmark when it is hidden; nothing was skipped
    assert known["irtnet"].info["paths"] == {"benchmark": n}
    assert hidden["irtnet"].info["paths"] == {"text+inferred-benchmark": n}
    assert known["irtnet"].info["skipped"] == {} == hidden["irtnet"].info["skipped"]
    # where the model and each reference route differently, and who is right there: the whole routing difference
    for by_name in (known, hidden):
        differ = by_name["irtnet"].info["routed_differently"]
        assert set(differ) == set(api.REFERENCE_BASELINES)
        for name, d in differ.items():
            assert d["n_routed"] == by_name["irtnet"].routing.n_queries
            gap = by_name["irtnet"].routing.micro - by_name[name].routing.micro
            assert math.isclose(gap, d["share"] * (d["a"] - d["b"]) if d["n_differ"] else 0.0, abs_tol=1e-12)
    assert any(d["n_differ"] for d in hidden["irtnet"].info["routed_differently"].values())
    assert "routed differently from irtnet" in to_markdown(results)


def test_with_names_hidden_the_benchmark_base_rate_is_the_model_mean_and_the_text_recovers_it(evaluated):
    _, results = evaluated
    known, hidden = _by(results, "benchmark known"), _by(results, "text only")
    auc = {name: r.correctness["overall"]["auc"] for name, r in hidden.items()}
    # model-benchmark-mean has nothing but the model mean without names: exactly model-mean
    assert hidden["model-benchmark-mean"].correctness == hidden["model-mean"].correctness
    assert hidden["model-benchmark-mean"].routing.to_dict() == hidden["model-mean"].routing.to_dict()
    # the benchmark inferred from the text brings the benchmark base rate back
    assert auc["inferred-benchmark-rate"] > auc["model-mean"] + 0.02
    assert known["model-benchmark-mean"].correctness["overall"]["auc"] > auc["model-benchmark-mean"]
    # text baselines read no names: the same figures in both settings
    assert known["knn"].correctness == hidden["knn"].correctness


def test_a_baseline_that_cannot_serve_a_setting_is_left_out_and_says_why(tmp_path):
    make_synthetic(n_models=4, n_queries=160, n_benchmarks=2, dim=2, feature_dim=6, text=False,
                   seed=0).table.to_parquet(tmp_path / "t.parquet")
    spec = RunSpec(data=DataConfig(table=str(tmp_path / "t.parquet"), encoder="hashing-32", seed=0),
                   model=ModelSpec(model="model-benchmark-mean"), threads=1)
    run = train_run(spec, tmp_path / "run", progress=False)
    results = api.evaluate_run(run.path)  # text baselines on a table without text: no crash
    assert [(r.info["setting"], r.predictor) for r in results] == [
        (s, n) for s in SETTINGS for n in ("model-benchmark-mean", "model-benchmark-mean", "model-mean")]
    for own in (results[0], results[3]):
        assert set(own.info["skipped"]) == {"inferred-benchmark-rate", "knn"}
        assert all("needs query embeddings" in why for why in own.info["skipped"].values())
        assert "paths" not in own.info
    written = json.loads((run.path / "evaluation.json").read_text())
    assert set(written[0]["info"]["skipped"]) == {"inferred-benchmark-rate", "knn"}


QUICK = {"irtnet": {"preset": "small", "params": SMALL}, "routerdc": {"params": {"epochs": 2}},
         "embedllm-mf": {"params": {"epochs": 2}}, "linear-mirt": {"params": {"epochs": 2}}}


def _registered() -> list[str]:
    from irtnet.predictors import REGISTRY

    return sorted(REGISTRY)


@pytest.mark.parametrize("model", _registered())
def test_every_registered_model_trains_and_evaluates_as_a_run(tmp_path, table_path, model):
    result = _cli("train", table_path, "-o", tmp_path / "run", "--model", model, "--encoder", "hashing-32",
                  "--quiet", *(["--config", _model_file(tmp_path, model)] if model in QUICK else []))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    item_seen = model.startswith(("irt-", "mirt-"))
    assert config["data"]["split"] == ("pair" if item_seen else "query")
    result = _cli("evaluate", tmp_path / "run")
    assert result.exit_code == 0, result.output
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert evaluation[0]["predictor"] == model and 0 <= evaluation[0]["routing"]["micro"] <= 1
    own = [e for e in evaluation if e["predictor"] == model and "skipped" in e["info"]]
    assert [e["info"]["setting"] for e in own] == SETTINGS  # every model serves both settings


def _model_file(tmp_path, model: str):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"model": {"model": model, **QUICK[model]}}))
    return path


def test_a_classical_irt_model_refuses_a_query_split(tmp_path, table_path):
    with pytest.raises(ConfigError, match="free per-item parameters.*pair split"):
        train_run(RunSpec(data=DataConfig(table=str(table_path), encoder="hashing-32", split="query"),
                          model=ModelSpec(model="irt-2pl")), tmp_path / "run")


# -------------------------------------------------------------------------------------------------- CLI
def _cli(*args):
    from irtnet.cli.main import app

    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, table_path):
    out = tmp_path_factory.mktemp("cli-run") / "run"
    result = _cli("train", table_path, "-o", out, "--encoder", "hashing-32", "--epochs", "2", "--quiet",
                  "--threads", "1")
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "epochs: Input should be greater than or equal to 1"),
    (["--lr", "-1"], "lr: Input should be greater than 0"),
    (["--model", "knn", "--epochs", "3"], "--epochs does not apply to 'knn'"),
    (["--model", "knn", "--preset", "small"], "preset is an IrtNet option"),
])
def test_train_refuses_bad_flags_in_one_line(tmp_path, table_path, args, message):
    result = _cli("train", table_path, "-o", tmp_path / "r", "--encoder", "hashing-32", *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_train_into_an_existing_run_needs_overwrite(cli_run, table_path):
    result = _cli("train", table_path, "-o", cli_run, "--encoder", "hashing-32", "--epochs", "1", "--quiet")
    assert result.exit_code == 2 and "--overwrite" in result.output


@pytest.mark.parametrize("args, message", [
    (["--top", "0"], "must be above 0"),
    (["--benchmark", "no-such-bench"], "unknown benchmark 'no-such-bench'; the model knows:"),
    (["--cost-weight", "-1"], "--cost-weight must be a finite non-negative number"),
    (["--cost-weight", "inf"], "--cost-weight must be a finite non-negative number, got inf"),
    (["--budget", "inf"], "--budget must be a finite non-negative number, got inf"),
])
def test_route_refuses_bad_options(cli_run, args, message):
    result = _cli("route", cli_run, "a question", *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def _error(result) -> str:
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def test_a_run_without_run_json_is_called_damaged_and_only_an_old_run_old(cli_run, tmp_path):
    run = shutil.copytree(cli_run, tmp_path / "run")
    (run / "run.json").unlink()  # model/checkpoint.json is still there
    damaged = f"error: {run}: the run directory lacks run.json (an interrupted or damaged run): retrain it"
    for args in (["report", run, "-o", tmp_path / "r.html"], ["evaluate", run], ["route", run, "a question"]):
        out = _error(_cli(*args))
        assert damaged in out and "checkpoint.json" not in out and "0.1" not in out and "scoring" not in out, args
    old = tmp_path / "old"  # irtnet 0.1: config.json naming the model as a string, no run.json
    shutil.copytree(cli_run / "model", old / "model")
    (old / "config.json").write_text(json.dumps({"data": {"table": "t.parquet"}, "model": "irtnet", "params": {}}))
    out = _error(_cli("evaluate", old))
    assert f"error: {old}: a run written by irtnet 0.1 (no run.json): retrain it with this version" in out
    assert "scoring" not in out
    out = _error(_cli("evaluate", tmp_path / "nowhere"))
    assert f"error: {tmp_path / 'nowhere'}: no such run directory" in out and "scoring" not in out


def test_evaluate_refuses_a_file_and_an_unknown_routing_mode_before_scoring(cli_run, tmp_path):
    file = tmp_path / "table.csv"
    file.write_text("model,query,label\n")
    out = _error(_cli("evaluate", file))
    assert (f"error: {file}: not a directory (a file); give a run directory written by `irtnet train`" in out
            and "no such" not in out and "scoring" not in out)
    for mode in ("foo", ""):
        out = _error(_cli("evaluate", cli_run, "--routing-mode", mode))
        assert f"error: unknown routing mode {mode!r}: use 'complete' or 'observed'" in out and "scoring" not in out
    out = _error(_cli("evaluate", cli_run, "--markdown", tmp_path))
    assert f"error: {tmp_path}: is a folder" in out and "scoring" not in out
    with pytest.raises(ConfigError, match="unknown routing mode 'foo'"):  # checked before the run is even opened
        api.evaluate_run(tmp_path / "nowhere", routing_mode="foo")


def test_a_killed_training_leaves_the_existing_run_whole(tmp_path, table_path):
    """kill -9 in the middle of `irtnet train --overwrite`: the old run is still the one that opens."""
    import os
    import signal
    import subprocess
    import sys
    import time

    first = train_run(_spec(table_path), tmp_path / "run", progress=False)
    code = ("import sys; from irtnet.cli.main import app; sys.argv = ['irtnet'] + sys.argv[1:]; app()")
    proc = subprocess.Popen([sys.executable, "-c", code, "train", str(table_path), "-o", str(tmp_path / "run"),
                             "--overwrite", "--preset", "small", "--encoder", "hashing-32", "--epochs", "100000",
                             "--split", "0.9,0,0.1", "--quiet"],  # no validation: no early stop, it trains on
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)  # long enough to be training (imports take a few seconds)
    assert proc.poll() is None, "the training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert Run.open(tmp_path / "run").run_id == first.run_id
    api.evaluate_run(tmp_path / "run")  # still whole: its split and its model belong together


def test_a_training_sweeps_the_staging_folders_a_killed_training_left(tmp_path, table_path):
    """A staging folder (`.<run>.*.tmp`) that a kill left behind is removed by the next training into that path
    once it is an hour old; a fresh one (another training's, in progress) and other runs' are kept."""
    import os

    stale, fresh, other = (tmp_path / ".run.dead.tmp", tmp_path / ".run.live.tmp", tmp_path / ".other.dead.tmp")
    for folder in (stale, fresh, other):
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "weights.safetensors").write_bytes(b"half")
    for folder in (stale, other):
        os.utime(folder, (0, 0))
    train_run(_spec(table_path), tmp_path / "run", progress=False)
    assert not stale.exists() and fresh.exists() and other.exists()

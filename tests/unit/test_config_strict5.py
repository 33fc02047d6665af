"""Config bugs: a run's own config.json could not be trained again with `--seed` ("two seeds", as it spells out
`params.train.seed`), `--preset` on it recorded the new preset over the old preset's spelt-out network, and
`DataConfig` / `ModelSpec.seed` coerced bools, strings and floats (`seed = true` read as 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet.api.run import RunSpec, resolve_run, run_spec, run_spec_from
from irtnet.cli.main import app
from irtnet.config import DataConfig, read_config_file
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors.spec import ModelSpec, model_spec_from, resolve_spec

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
runner = CliRunner()


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("strict5") / "t.parquet"
    make_synthetic(n_models=4, n_queries=60, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


def _run_config(tmp_path: Path, table_path: Path, **model) -> dict:
    """The config.json a run of `model` writes: its resolved RunSpec, as JSON (`api.run._write_run`)."""
    spec = resolve_run(RunSpec(data=DataConfig(table=str(table_path), encoder="hashing-32"), model=ModelSpec(**model)))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(spec.model_dump(mode="json")))
    return read_config_file(path)


# ------------------------------------------------------------------------------------- 1. --seed on a run
@pytest.mark.parametrize(("model", "where"), [({"preset": "small"}, ("train", "seed")),
                                              ({"model": "random"}, ("seed",))])
def test_a_run_config_trains_again_with_another_seed(tmp_path, table_path, model, where):
    """`irtnet train --config RUN/config.json --seed 5` said "two seeds: params.train.seed = 0 and seed = 5"."""
    file = _run_config(tmp_path, table_path, **model)
    spec = resolve_run(run_spec_from(table_path, file, seed=5))
    recorded = spec.model.params
    for key in where:
        recorded = recorded[key]
    assert (spec.model.seed, recorded, spec.data.seed) == (5, 5, 5)
    assert resolve_run(run_spec_from(table_path, file)).model.seed == 0  # without the flag: the run's own seed


def test_a_task_command_takes_a_run_config_with_its_seed(tmp_path, table_path):
    """The task commands always pass their --seed (0 by default): a run of seed 3 was refused the same way."""
    file = _run_config(tmp_path, table_path, preset="small", seed=3)
    full = resolve_spec(model_spec_from(file["model"], seed=0))
    assert full.seed == 0 and full.params["train"]["seed"] == 0


def test_the_cli_retrains_a_run_with_the_seed_given(tmp_path, table_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--encoder", "hashing-32", "--quiet"]
    assert runner.invoke(app, ["train", str(table_path), "-o", str(first), "--model", "random", *common]).exit_code == 0
    result = runner.invoke(app, ["train", str(table_path), "-o", str(second), "--config", str(first / "config.json"),
                                 "--seed", "5", *common])
    assert result.exit_code == 0, result.output
    written = json.loads((second / "config.json").read_text())
    assert (written["model"]["seed"], written["model"]["params"]["seed"], written["data"]["seed"]) == (5, 5, 5)


def test_a_file_whose_own_seeds_disagree_is_still_refused(table_path):
    file = {"model": {"preset": "small", "params": {"train": {"seed": 3}}}}
    with pytest.raises(ConfigError, match=r"two seeds: params.train.seed = 3 and seed = 0; give the seed once"):
        resolve_run(run_spec_from(table_path, file))  # no --seed: the params' seed against the default 0
    for seed in (None, 5):
        with pytest.raises(ConfigError, match=r"two seeds: params.train.seed = 3 and seed = 1; give the seed once"):
            resolve_spec(model_spec_from({"params": {"train": {"seed": 3}}, "seed": 1}, seed=seed))
        with pytest.raises(ConfigError, match=r"two seeds for 'random': params.seed = 1 and seed = 2"):
            resolve_spec(model_spec_from({"model": "random", "params": {"seed": 1}, "seed": 2}, seed=seed))


@pytest.mark.parametrize(("file", "where"), [({"params": {"train": {"seed": 3}}}, ("train", "seed")),
                                             ({"model": "random", "params": {"seed": 3}}, ("seed",))])
@pytest.mark.parametrize("seed", [3, 5])
def test_a_seed_in_the_params_takes_the_flag_when_the_file_gives_no_seed(file, where, seed):
    """`{"params": {"train": {"seed": 3}}}` with --seed 3 said "two seeds: params.train.seed = 3 and seed = 0",
    a seed 0 nobody wrote: the flag's seed applies everywhere."""
    full = resolve_spec(model_spec_from(file, seed=seed))
    recorded = full.params
    for key in where:
        recorded = recorded[key]
    assert (full.seed, recorded) == (seed, seed)


# ----------------------------------------------------------------------------------- 2. --preset on a run
def test_a_preset_given_on_a_run_config_is_the_network_trained(tmp_path, table_path):
    """`--preset default` on a small run's config.json recorded preset "default" and trained small's network
    (dim 8), spelt out in the file. The new preset applies; the run's own overrides (group_dim) are kept."""
    file = _run_config(tmp_path, table_path, preset="small", params={"config": {"group_dim": 4}})
    config = resolve_run(run_spec_from(table_path, file, preset="default")).model.params["config"]
    assert config == {**PRESETS["default"].model_dump(), "group_dim": 4}
    same = resolve_run(run_spec_from(table_path, file, preset="small")).model.params["config"]
    assert same == {**PRESETS["small"].model_dump(), "group_dim": 4}


def test_a_hand_written_partial_config_keeps_every_value_over_a_new_preset(table_path):
    """Values written by hand are overrides, even where they equal the file's preset's (dim 8 is small's)."""
    file = {"model": {"preset": "small", "params": {"config": {"dim": 8}}}}
    spec = resolve_run(run_spec_from(table_path, file, preset="default"))
    assert spec.model.preset == "default" and spec.model.params["config"]["dim"] == 8
    assert spec.model.params["config"]["moe"] == PRESETS["default"].moe.model_dump()


def test_a_run_config_written_before_a_field_was_added_takes_a_new_preset(tmp_path, table_path):
    """A run's config.json without `rank_weight` (written before it was added) counted as hand-written: `--preset
    default` on a small run recorded default and kept small's dim 8, moe and the rest."""
    file = _run_config(tmp_path, table_path, preset="small", params={"config": {"group_dim": 4}})
    del file["model"]["params"]["config"]["rank_weight"]
    config = resolve_run(run_spec_from(table_path, file, preset="default")).model.params["config"]
    assert config == {**PRESETS["default"].model_dump(), "group_dim": 4}


def test_the_shipped_model_config_still_loads():
    file = read_config_file(CONFIGS / "models" / "sentence-vector-only.toml")
    full = resolve_spec(model_spec_from(file, preset="small", seed=2))
    assert full.params["config"]["text_ngrams"] == 0 and full.params["config"]["dim"] == PRESETS["small"].dim


# ------------------------------------------------------------------------------------ 3. strict settings
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": True}, "seed: Input should be a valid integer"),
    ({"seed": "3"}, "seed: Input should be a valid integer"),
    ({"seed": 3.0}, "seed: Input should be a valid integer"),
    ({"stratify": "no"}, "stratify: Input should be a valid boolean"),
    ({"stratify": 0}, "stratify: Input should be a valid boolean"),
    ({"fractions": [True, False, False]}, r"fractions\.0: Input should be a valid number"),
    ({"fractions": ["0.8", "0.1", "0.1"]}, r"fractions\.0: Input should be a valid number"),
])
def test_data_config_is_strict(kwargs, message):
    with pytest.raises(ConfigError, match=f"invalid DataConfig: {message}"):
        DataConfig(table="t.parquet", **kwargs)
    with pytest.raises(ConfigError, match=f"invalid run configuration: data.{message}"):
        run_spec({"data": {"table": "t.parquet", **kwargs}})


def test_data_config_still_takes_lists_ints_and_numpy_numbers():
    config = DataConfig(table="t.parquet", fractions=[1, 0, 0], seed=np.int64(3), holdout_benchmark=("a", "b"))
    assert (config.fractions, config.seed, config.holdout_benchmark) == ((1.0, 0.0, 0.0), 3, ["a", "b"])
    assert type(config.seed) is int
    assert DataConfig(table="t.parquet", fractions=(np.float32(0.5), 0.25, 0.25)).fractions == (0.5, 0.25, 0.25)
    assert run_spec({"data": {"table": "t", "fractions": [0.8, 0.2, 0], "stratify": False}}).data.stratify is False


def test_data_config_takes_a_numpy_array_of_fractions_but_not_of_booleans():
    """`fractions=np.array([.8, .1, .1])` said "Input should be a valid tuple" (accepted before)."""
    config = DataConfig(table="t", fractions=np.array([0.8, 0.1, 0.1]))
    assert config.fractions == (0.8, 0.1, 0.1) and all(type(f) is float for f in config.fractions)
    assert DataConfig(table="t", fractions=np.array([1, 0, 0])).fractions == (1.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match=r"fractions\.0: Input should be a valid number"):
        DataConfig(table="t", fractions=np.array([True, False, False]))


@pytest.mark.parametrize("seed", [True, 2.0, "2"])
def test_a_model_seed_must_be_a_whole_number(seed):
    with pytest.raises(ConfigError, match="invalid ModelSpec: seed: Input should be a valid integer"):
        ModelSpec(seed=seed)
    with pytest.raises(ConfigError, match="invalid model settings: seed: Input should be a valid integer"):
        model_spec_from({"seed": seed})
    assert ModelSpec(seed=np.int64(2)).seed == 2


def test_a_task_command_without_seed_keeps_the_config_files_seed(tmp_path):
    """--seed defaulted to 0 on the task commands, so a --config file's `seed = 3` was silently replaced by 0."""
    from irtnet.cli.tasks import _model

    path = tmp_path / "m.toml"
    path.write_text('model = "irtnet"\nseed = 3\n')
    assert _model(path, "irtnet", None, None, None, None, None).seed == 3
    assert _model(path, "irtnet", None, 5, None, None, None).seed == 5
    assert _model(None, "irtnet", None, None, None, None, None).seed == 0


def test_no_task_command_fills_in_a_seed_that_would_replace_the_files():
    import inspect

    from irtnet.cli import estimation, tasks

    commands = [tasks.evaluate_benchmarks, tasks.evaluate_onboarding, estimation.evaluate_estimation,
                estimation.data_efficiency]
    assert all(inspect.signature(c).parameters["seed"].default is None for c in commands)


def test_a_task_command_without_model_keeps_the_config_files_model(tmp_path):
    """--model defaulted to irtnet on the task commands, so a --config file naming knn was refused as a conflict."""
    import inspect

    from irtnet.cli import estimation, tasks
    from irtnet.cli.tasks import _model

    path = tmp_path / "m.toml"
    path.write_text('model = "knn"\n')
    assert _model(path, None, None, None, None, None, None).model == "knn"
    assert _model(None, None, None, None, None, None, None).model == "irtnet"
    commands = [tasks.evaluate_benchmarks, tasks.evaluate_onboarding, estimation.evaluate_estimation,
                estimation.data_efficiency]
    assert all(inspect.signature(c).parameters["model"].default is None for c in commands)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**63, 2**64])
def test_a_model_seed_outside_what_numpy_torch_and_sklearn_accept_is_refused(seed):
    """A seed above 2**64 - 1 loaded, then failed every torch-seeded fit with an overflow; above 2**32 - 1 every
    scikit-learn one (KMeans, the benchmark classifier) after embedding; a negative one numpy's generator."""
    from irtnet.errors import ConfigError
    from irtnet.predictors.spec import ModelSpec

    with pytest.raises(ConfigError, match="seed"):
        ModelSpec(seed=seed)
    assert ModelSpec(seed=2**32 - 1).seed == 2**32 - 1


def test_seeds_above_what_scikit_learn_accepts_are_refused_where_given():
    """A comparison's seeds and the estimate's were checked only for >= 0: 2**32 loaded, then failed in a KMeans
    (estimate --plan --strategy anchor) or blamed an entry's `model` stage."""
    from irtnet.api.compare_spec import load_spec
    from irtnet.api.estimate import _check
    from irtnet.errors import ConfigError

    spec = {"datasets": [{"name": "d", "table": "t.parquet"}], "models": [{"name": "m", "model": "model-mean"}],
            "seeds": [0, 2**32]}
    with pytest.raises(ConfigError, match=r"seeds must be whole numbers in \[0, 4294967295\]"):
        load_spec(spec)
    with pytest.raises(ConfigError, match="seed must be at most 4294967295"):
        _check(level=0.9, target_width=None, n_draws=10, seed=2**32, max_k=None, replay_folds=0,
               replay_weight="auto", prior_strength="auto")


@pytest.mark.parametrize("command", [["train", "t.parquet", "-o", "out"], ["evaluate-benchmarks", "t.parquet"],
                                     ["demo"], ["estimate", "run", "--plan", "5"]])
def test_every_seed_option_names_its_bound(command):
    """--seed above 2**32-1 was refused by the model spec, naming its field instead of the option."""
    from typer.testing import CliRunner

    from irtnet.cli.main import app

    result = CliRunner().invoke(app, [*command, "--seed", "4294967296"])
    assert result.exit_code == 2 and "--seed" in result.output and "4294967295" in result.output, result.output

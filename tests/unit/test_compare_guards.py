"""`irtnet compare` refuses before any write or fit what would fail later (empty or repeated settings, names that
are not one safe path component, bad baseline parameters, an item-seen model in the query setting, a cell folder
that cannot be written, an unwritable --markdown, empty list options), counts failed cells and exits 2 on them,
and recomputes a cell whose predictions file is damaged."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from irtnet.api.compare import load_spec, run_comparison
from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.spec import ModelSpec, build_predictor, resolve_spec

# the fake models of the comparison's own tests, and their autouse registration
from test_compare import FITS, _fake_models  # noqa: E402,F401

@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "syn.parquet"
    make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


def _raw(table_path, models, name="syn", **kw):
    return {"datasets": [{"name": name, "table": str(table_path)}], "models": models, "seeds": [0],
            "encoder": "hashing-16", **kw}


def _cli(*args):
    return CliRunner().invoke(app, ["compare", *map(str, args)])


# 1 ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "message"), [([], "models.0.settings: an empty list computes nothing"),
                                                   (["query", "query"], "models.0.settings: a setting is repeated")])
def test_empty_or_repeated_settings_are_refused_and_a_good_run_is_kept(tmp_path, table_path, settings, message):
    out = tmp_path / "run"
    run_comparison(load_spec(_raw(table_path, [{"name": "counting"}])), out)
    before = (out / "results.json").read_text()
    with pytest.raises(ConfigError, match=message):
        load_spec(_raw(table_path, [{"name": "counting", "settings": settings}]))
    res = _cli("-d", table_path, "-m", json.dumps({"name": "counting", "settings": settings}), "--seeds", 0,
               "--encoder", "hashing-16", "-o", out)
    assert res.exit_code == 2 and "models.0.settings" in res.output
    assert (out / "results.json").read_text() == before


# 2 ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../escaped", "a/b", "..", ".hidden", "a b", ""])
def test_a_dataset_name_must_be_one_safe_path_component(tmp_path, table_path, name):
    with pytest.raises(ConfigError, match="datasets.0.name"):
        load_spec(_raw(table_path, [{"name": "counting"}], name=name))
    if name:  # (an empty NAME= on the command line takes the file's stem)
        res = _cli("-d", f"{name}={table_path}", "-m", "counting", "--seeds", 0, "-o", tmp_path / "o" / "run")
        assert res.exit_code == 2 and "datasets.0.name" in res.output and not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["a/b", "../x", "a\\b", ".."])
def test_a_model_entry_name_has_no_path_separator(table_path, name):
    with pytest.raises(ConfigError, match="models.0.name: a model entry's name is a label"):
        load_spec(_raw(table_path, [{"name": name, "model": "model-mean"}]))
    load_spec(_raw(table_path, [{"name": "sparse MoE (top 2 of 8), d = 8", "model": "model-mean"}]))  # a label


# 3 ---------------------------------------------------------------------------------------------------------
def test_failed_cells_are_counted_and_exit_2(tmp_path, table_path):
    res = _cli("-d", table_path, "-m", "exploding", "-m", "counting", "--seeds", "0,1", "--encoder", "hashing-16",
               "-o", tmp_path / "run", "--quiet")
    assert res.exit_code == 2, res.output
    assert "(4 cells computed, 0 from the cache, 4 failed)" in res.output
    assert "4 cell(s) failed" in res.output and "results.json" in res.output
    ok = _cli("-d", table_path, "-m", "counting", "--seeds", 0, "--encoder", "hashing-16", "-o", tmp_path / "ok",
              "--quiet")
    assert ok.exit_code == 0 and "0 failed" in ok.output


@pytest.mark.parametrize("value", ["x", 0, -3, 1.5, math.nan, True])
def test_bad_baseline_params_are_refused_at_resolve_time(tmp_path, table_path, value):
    with pytest.raises(ConfigError, match="params.k"):
        resolve_spec(ModelSpec(model="knn", params={"k": value}))
    with pytest.raises(ConfigError, match="model entry 'knn'.*params.k"):
        run_comparison(load_spec(_raw(tmp_path / "absent.parquet", [{"name": "knn", "params": {"k": value}}])),
                       tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("model", "params", "message"), [
    ("model-mean", {"prior_strength": math.nan}, "params.prior_strength: Input should be a finite number"),
    ("model-mean", {"prior_strength": -1}, "params.prior_strength"),
    ("knn", {"target": "neither"}, "params.target: Input should be 'score' or 'label'"),
    ("irt-2pl", {"solver": "nope"}, "params.solver"),
    ("embedllm-mf", {"epochs": 0}, "params.epochs"),
    ("routerdc", {"top_k": "3"}, "params.top_k"),
    ("cluster-rate", {"n_clusters": 2.0}, "params.n_clusters"),
])
def test_every_baseline_checks_its_declared_types_and_ranges(model, params, message):
    with pytest.raises(ConfigError, match=message):
        resolve_spec(ModelSpec(model=model, params=params))
    assert resolve_spec(ModelSpec(model="knn", params={"k": 3, "prior_strength": 2})).params["prior_strength"] == 2


def test_a_negative_seed_is_refused_for_every_model():
    with pytest.raises(ConfigError, match="seed"):
        build_predictor(ModelSpec(model="knn", seed=-1))


@pytest.mark.parametrize("model", ["seen-only", "irt-1pl"])
def test_an_item_seen_model_in_the_query_setting_is_refused_up_front(tmp_path, table_path, model):
    spec = load_spec(_raw(table_path, [{"name": "counting"}, {"name": "x", "model": model,
                                                              "settings": ["pair", "query"]}]))
    with pytest.raises(ConfigError, match="models.1.settings: model entry 'x'.*item-seen"):
        run_comparison(spec, tmp_path / "run")
    assert not FITS and not (tmp_path / "run").exists()


def test_a_cells_folder_that_is_a_file_is_refused_before_any_fit(tmp_path, table_path):
    (tmp_path / "afile").write_text("x")
    spec = load_spec(_raw(table_path, [{"name": "counting"}], cells=str(tmp_path / "afile")))
    with pytest.raises(DataError, match="field 'cells'"):
        run_comparison(spec, tmp_path / "run")
    assert not FITS and not (tmp_path / "run").exists()


# 13 --------------------------------------------------------------------------------------------------------
def test_a_truncated_cell_npz_is_computed_again(tmp_path, table_path):
    spec = load_spec(_raw(table_path, [{"name": "counting"}, {"name": "model-mean"}]))
    run_comparison(spec, tmp_path / "run")
    npz = sorted((tmp_path / "run" / "cells").glob("*.npz"))
    npz[0].write_bytes(npz[0].read_bytes()[:100])
    FITS.clear()
    result = run_comparison(spec, tmp_path / "run")
    assert result.run["computed"] == 2 and result.run["from_cache"] == 2  # a query cell and its text twin each
    assert all(c.status == "ok" for c in result.cells)


def test_an_unwritable_markdown_path_is_refused_before_the_work(tmp_path, table_path):
    (tmp_path / "afile").write_text("x")
    res = _cli("-d", table_path, "-m", "counting", "--seeds", 0, "--encoder", "hashing-16", "-o", tmp_path / "run",
               "--markdown", tmp_path / "afile" / "x.md")
    assert res.exit_code == 2 and "afile" in res.output
    assert not FITS and not (tmp_path / "run").exists()


@pytest.mark.parametrize("option", [["--seeds", "0,,1"], ["--seeds", ""], ["--only-datasets", ","],
                                    ["--only-datasets="], ["--only-models="], ["--only-models", "counting,"]])
def test_empty_list_items_are_refused(tmp_path, table_path, option):
    res = CliRunner().invoke(app, ["compare", "-d", str(table_path), "-m", "counting", "--encoder", "hashing-16",
                                   "-o", str(tmp_path / "run"), *option])
    assert res.exit_code == 2 and "an empty item" in res.output, res.output
    assert not FITS and not (tmp_path / "run").exists()

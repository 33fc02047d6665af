"""`--config` of the task commands: a bare model spec, or the [model] table of a train run config."""

from __future__ import annotations

from pathlib import Path

import pytest

from irtnet.cli.tasks import _model, model_settings
from irtnet.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_a_bare_model_spec_is_read_as_it_is():
    raw = {"model": "irtnet", "preset": "small", "params": {"config": {"text_ngrams": 0}}}
    assert model_settings(raw, Path("m.toml")) is raw


def test_a_train_config_gives_its_model_table():
    raw = {"model": {"model": "irtnet", "preset": "small"}}
    assert model_settings(raw, Path("run.toml")) == {"model": "irtnet", "preset": "small"}


def test_a_train_config_with_data_is_refused_by_name():
    raw = {"model": {"model": "irtnet"}, "data": {"table": "t.parquet"}, "threads": 2}
    with pytest.raises(ConfigError, match=r"run\.toml.*\['data', 'threads'\]"):
        model_settings(raw, Path("run.toml"))


def test_the_shipped_sentence_vector_config_turns_the_ngrams_off(tmp_path):
    from irtnet import api

    default = api.resolve_spec(_model(None, "irtnet", None, 0, None, None, None))
    plain = api.resolve_spec(_model(ROOT / "configs" / "models" / "sentence-vector-only.toml", "irtnet", None, 0, None, None,
                                    None))
    assert default.params["config"]["text_ngrams"] == 16
    assert plain.params["config"]["text_ngrams"] == 0
    assert {k: v for k, v in plain.params["config"].items() if k != "text_ngrams"} == \
        {k: v for k, v in default.params["config"].items() if k != "text_ngrams"}

    train_style = tmp_path / "run.toml"
    train_style.write_text('[model]\nmodel = "irtnet"\npreset = "default"\n\n[model.params.config]\ntext_ngrams = 0\n')
    assert api.resolve_spec(_model(train_style, "irtnet", None, 0, None, None, None)) == plain

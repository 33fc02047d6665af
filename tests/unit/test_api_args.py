"""The Python API refuses bad arguments with irtnet's own errors, never splitting a string into characters or
letting pathlib's, pydantic's or numpy's exceptions through."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from irtnet import api
from irtnet.config import DataConfig
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def model():
    table = make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    return api.build_predictor(api.ModelSpec(model="irtnet", preset="small",
                                             params={"train": {"epochs": 1, "progress": False}})).fit(data)


TEXTS = ["algebra question: x", "history question: y"]


@pytest.mark.parametrize("call", [
    lambda p: api.predict_texts(p, "hello"),
    lambda p: api.rank_models(p, "hello"),
    lambda p: api.answer_paths(p, "hello"),
    lambda p: api.route_texts(p, "hello", api.Policy("max_p")),
    lambda p: api.text_queries(p, b"hello"),
    lambda p: api.cost_route_texts("no-such-run", "hello", prices="p.json", cost_weight=1.0),
])
def test_one_string_is_refused_where_a_list_of_texts_is_expected(model, call):
    with pytest.raises(ConfigError, match="give a list of texts, not one string"):
        call(model)


def test_a_list_of_texts_still_works_and_a_non_text_item_is_named(model):
    names, prob = api.predict_texts(model, TEXTS)
    assert prob.shape == (2, 4) and len(names) == 4
    assert api.predict_texts(model, np.array(TEXTS, dtype=object))[1].shape == (2, 4)
    with pytest.raises(DataError, match="query text 2 is not text but int 5"):
        api.predict_texts(model, ["a question", 5])
    with pytest.raises(ConfigError, match="give a list of texts, got int"):
        api.predict_texts(model, 5)


@pytest.mark.parametrize(("benchmark", "message"), [
    ([math.nan, None], "a benchmark name must be text, or None where unknown; got nan"),
    ([None, 3], "a benchmark name must be text, or None where unknown; got 3"),
    (5, "benchmark must be one name, a list of names"),
])
def test_a_benchmark_that_is_not_a_name_is_a_config_error(model, benchmark, message):
    with pytest.raises(ConfigError, match=message):
        api.predict_texts(model, TEXTS, benchmark=benchmark)


def test_check_benchmarks_refuses_non_names_and_names_the_file_row():
    from irtnet.data.vocab import Vocab
    from irtnet.predictors.base import Router

    class Named(Router):  # never fitted or scored here
        name, groups_ = "named", Vocab("benchmark", ["gsm8k", "math"])
        fit = scores = None

    with pytest.raises(ConfigError, match="got nan"):
        api.check_benchmarks(Named(), [math.nan])
    with pytest.raises(ConfigError, match="benchmarks must be a list of names"):
        api.check_benchmarks(Named(), "gsm8k")
    with pytest.raises(DataError, match=r"pool.txt, row 2, field 'benchmark': a benchmark name must be text") as err:
        api.check_benchmarks(Named(), ["math", math.nan], "pool.txt")
    assert err.value.row == 2


@pytest.mark.parametrize("top", [math.nan, "2", 1.5, True, 0, -1])
def test_rank_models_top_must_be_a_whole_number_of_at_least_one(model, top):
    with pytest.raises(ConfigError, match="top must be a whole number of at least 1"):
        api.rank_models(model, TEXTS, top=top)


def test_rank_models_top_accepts_numpy_integers(model):
    assert len(api.rank_models(model, TEXTS, top=np.int64(2))[0]) == 2


@pytest.mark.parametrize("fn", [api.predict_texts, api.rank_models])
def test_the_models_list_is_checked_like_candidates(model, fn):
    m = model.models_.to_list()[0]
    with pytest.raises(ConfigError, match="models is empty: name at least one model"):
        fn(model, TEXTS, models=[])
    with pytest.raises(ConfigError, match=f"model\\(s\\) named more than once: '{m}'"):
        fn(model, TEXTS, models=[m, m])
    with pytest.raises(ConfigError, match="models must be a list of model names, got str"):
        fn(model, TEXTS, models=m)
    with pytest.raises(ConfigError, match="unknown model\\(s\\) 'nope'"):
        fn(model, TEXTS, models=["nope"])
    names, prob = api.predict_texts(model, TEXTS, models=[m])
    assert names == [m] and prob.shape == (2, 1)


def test_candidates_messages_are_unchanged(model):
    with pytest.raises(ConfigError, match="candidates is empty: name at least one model"):
        api.route_texts(model, TEXTS, api.Policy("max_p"), candidates=[])
    with pytest.raises(ConfigError, match="candidate model name 1 of 1 is empty .*separated by commas"):
        api.route_texts(model, TEXTS, api.Policy("max_p"), candidates=[""])


@pytest.mark.parametrize("call", [
    lambda: api.load(None), lambda: api.load(5), lambda: api.load_table(None), lambda: api.load_table(3.0),
    lambda: api.is_run_dir(None), lambda: api.Run.open(None), lambda: api.load(""),
])
def test_a_path_that_is_not_a_path_is_a_config_error(call):
    with pytest.raises(ConfigError, match="must be a path|is empty: give a path"):
        call()


def test_is_run_dir_still_takes_str_and_path(tmp_path):
    assert api.is_run_dir(str(tmp_path)) is False and api.is_run_dir(Path(tmp_path)) is False


def test_make_split_refuses_what_is_not_a_table_or_a_config():
    table = make_synthetic(n_models=3, n_queries=40, n_benchmarks=2, dim=2, feature_dim=4, seed=0).table
    with pytest.raises(ConfigError, match="make_split needs a ResponseTable"):
        api.make_split(None, DataConfig(table="-"))
    with pytest.raises(ConfigError, match="make_split needs a DataConfig"):
        api.make_split(table, {"table": "-"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fractions": (0.5, 0.5, 0.5)}, "invalid DataConfig: fractions: split fractions must be"),
    ({"seed": "x"}, "invalid DataConfig: seed: Input should be a valid integer"),
    ({"bogus": 1}, "invalid DataConfig: bogus: Extra inputs are not permitted"),
])
def test_data_config_construction_raises_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(table="t.parquet", **kwargs)


def test_a_nested_data_config_keeps_its_field_path():
    with pytest.raises(ConfigError, match=r"invalid run configuration: data\.fractions: split fractions"):
        api.run_spec({"data": {"table": "t.parquet", "fractions": [0.5, 0.5, 0.5]}})
    assert DataConfig(table="t.parquet", seed=3).seed == 3


def test_run_spec_from_refuses_a_missing_or_foreign_table_early(tmp_path):
    with pytest.raises(DataError, match="nope.parquet: no such file") as err:
        api.run_spec_from(tmp_path / "nope.parquet")
    assert err.value.file == str(tmp_path / "nope.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        api.run_spec_from(tmp_path / "junk.parquet")
    with pytest.raises(ConfigError, match="the table must be a path"):
        api.run_spec_from(None)

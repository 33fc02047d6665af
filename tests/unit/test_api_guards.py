"""The Python API's entry points refuse a wrong kind of argument (None, a dict or a path where an object is
expected) with irtnet's own errors naming the parameter, accept a path or a dict where that is natural, and never
ignore a setting (a held-out benchmark beside a split kind that does not read it)."""

from __future__ import annotations

import pytest

import irtnet
from irtnet import api
from irtnet.config import DataConfig, expect
from irtnet.data.synthetic import MAX_CELLS, make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.spec import ModelSpec, resolve_spec

SMALL = {"train": {"epochs": 1, "progress": False}}


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("guards") / "t.parquet"
    make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def run_path(table_path, tmp_path_factory, one_torch_thread):
    spec = api.RunSpec(data=DataConfig(table=str(table_path), encoder="hashing-32"),
                       model=ModelSpec(preset="small", params=SMALL), threads=1)
    return api.train_run(spec, tmp_path_factory.mktemp("guards-run") / "run", progress=False).path


# ------------------------------------------------------------------------------------------- the helper
def test_expect_names_the_parameter_and_the_type():
    assert expect(3, int, "n", "a whole number") == 3
    with pytest.raises(ConfigError, match=r"^n: expected a whole number, got NoneType None$"):
        expect(None, int, "n", "a whole number")
    with pytest.raises(ConfigError, match=r"got str 'x{76}\.\.\.$"):
        expect("x" * 200, int, "n", "a whole number")


# ------------------------------------------------------------------------------------ held-out benchmark
def test_a_holdout_benchmark_without_a_split_kind_makes_a_benchmark_split(table_path):
    table = api.load_table(table_path)
    split = api.make_split(table, DataConfig(table="-", holdout_benchmark="algebra"))
    held = set(table.queries.loc[table.queries["benchmark"] == "algebra", "query"])
    assert set(split.test) == held and not held & set(split.train)
    with pytest.raises(DataError, match="unknown benchmark 'chem'"):
        api.make_split(table, DataConfig(table="-", holdout_benchmark="chem"))


def test_a_benchmark_split_records_the_fractions_it_uses_and_refuses_a_test_fraction(table_path):
    """Without fractions a benchmark split is 0.9 / 0.1 / 0, as on the command line (the default 0.1 test share
    would be unused, and recorded as if it were); a test fraction given is refused, not dropped."""
    table = api.load_table(table_path)
    assert DataConfig(table="-", holdout_benchmark="algebra").fractions == (0.9, 0.1, 0.0)
    assert DataConfig(table="-", split="query").fractions == (0.8, 0.1, 0.1)
    api.make_split(table, DataConfig(table="-", holdout_benchmark="algebra", fractions=(0.8, 0.2, 0)))
    with pytest.raises(ConfigError, match="fractions 0.8,0.1,0.1 with held-out benchmarks.*test fraction must be 0"):
        api.make_split(table, DataConfig(table="-", holdout_benchmark="algebra", fractions=(0.8, 0.1, 0.1)))


@pytest.mark.parametrize("kind", ["query", "pair"])
def test_a_holdout_benchmark_beside_another_split_kind_is_refused(table_path, kind):
    table = api.load_table(table_path)
    with pytest.raises(ConfigError, match=f"makes a benchmark split; it conflicts with split '{kind}'"):
        api.make_split(table, DataConfig(table="-", split=kind, holdout_benchmark="algebra"))


def test_resolve_run_reads_a_holdout_benchmark_as_a_benchmark_split(table_path):
    spec = api.RunSpec(data=DataConfig(table=str(table_path), holdout_benchmark="algebra"), model=ModelSpec())
    assert api.resolve_run(spec).data.split == "benchmark"
    irt = api.RunSpec(data=DataConfig(table=str(table_path), holdout_benchmark="algebra"),
                      model=ModelSpec(model="irt-2pl"))
    with pytest.raises(ConfigError, match="needs a pair split"):
        api.resolve_run(irt)


def test_a_negative_split_seed_is_refused():
    with pytest.raises(ConfigError, match="invalid DataConfig: seed: Input should be greater than or equal to 0"):
        DataConfig(table="-", seed=-1)


# ------------------------------------------------------------------------------------------ model / path
@pytest.mark.parametrize("fn", [api.rank_models, api.predict_texts, api.answer_paths])
def test_text_functions_take_a_run_path(run_path, fn):
    by_path, by_model = fn(str(run_path), ["algebra question: x"]), fn(api.load(run_path), ["algebra question: x"])
    assert repr(by_path) == repr(by_model)


@pytest.mark.parametrize("call", [
    lambda: api.rank_models(None, ["a"]),
    lambda: api.predict_texts(None, ["a"]),
    lambda: api.answer_paths(3, ["a"]),
    lambda: api.known_benchmarks(None),
    lambda: api.check_benchmarks(None, ["x"]),
    lambda: api.text_queries({}, ["a"]),
    lambda: api.route_texts(None, ["a"], api.Policy("max_p")),
])
def test_what_is_not_a_model_is_a_config_error(call):
    with pytest.raises(ConfigError, match="predictor: expected a model .* or the path of a run or checkpoint"):
        call()


def test_prepare_takes_a_table_or_its_path(table_path):
    data = api.prepare(str(table_path), encoder="hashing-32")
    assert data.table.n_queries == 120
    for bad in (None, 5, {"table": "t"}):
        with pytest.raises(ConfigError, match="table: expected a ResponseTable .* or the path of a .parquet table"):
            api.prepare(bad)


def test_build_predictor_and_resolve_spec_take_a_spec_or_a_dict():
    assert type(api.build_predictor({"model": "knn"})).__name__ == "KNN"
    assert resolve_spec({"model": "knn"}) == resolve_spec(ModelSpec(model="knn"))
    with pytest.raises(ConfigError, match="invalid ModelSpec: bogus: Extra inputs are not permitted"):
        api.build_predictor({"model": "knn", "bogus": 1})
    for call in (lambda: api.build_predictor(None), lambda: resolve_spec(None), lambda: api.build_predictor("knn")):
        with pytest.raises(ConfigError, match="spec: expected a ModelSpec or a dict of its fields"):
            call()


def test_train_run_takes_a_spec_or_a_dict(table_path, tmp_path):
    with pytest.raises(ConfigError, match="spec: expected a RunSpec .* or a dict of its settings, got NoneType"):
        api.train_run(None, tmp_path / "x")
    with pytest.raises(ConfigError, match="spec: expected a RunSpec"):
        api.resolve_run("run.json")
    with pytest.raises(ConfigError, match="raw: expected a dict of run settings"):
        api.run_spec(None)
    with pytest.raises(ConfigError, match="out .*must be a path"):
        api.train_run({"data": {"table": str(table_path)}}, None)
    raw = {"data": {"table": str(table_path), "encoder": "hashing-32"}, "model": {"model": "knn"}}
    assert api.resolve_run(raw).data.split == "query"
    with pytest.raises(ConfigError, match="invalid run configuration: data.bogus"):
        api.train_run({"data": {"table": str(table_path), "bogus": 1}}, tmp_path / "x")


def test_save_predictor_refuses_what_is_not_a_model_or_a_path(run_path, tmp_path):
    with pytest.raises(ConfigError, match="predictor: expected a fitted model"):
        irtnet.save_predictor(None, tmp_path / "ck")
    with pytest.raises(ConfigError, match="path: expected the checkpoint folder to write"):
        irtnet.save_predictor(api.load(run_path), None)
    assert not (tmp_path / "ck").exists()


def test_parse_router_model_refuses_a_name_or_default_of_the_wrong_type():
    with pytest.raises(ConfigError, match="name: expected a model name"):
        api.parse_router_model(None, api.Policy("max_p"))
    with pytest.raises(ConfigError, match="default: expected the Policy"):
        api.parse_router_model("irtnet", None)
    assert api.parse_router_model("irtnet", api.Policy("max_p")) == api.Policy("max_p")
    assert api.parse_router_model("gpt-4", api.Policy("max_p")) is None


def test_evaluate_names_the_argument_that_is_not_a_model_or_a_dataset(run_path):
    run = api.Run.open(run_path)
    train, _, test = run.datasets()
    with pytest.raises(ConfigError, match="router: expected a fitted model"):
        irtnet.evaluate(None, None, None)
    with pytest.raises(ConfigError, match="train: expected a Dataset"):
        irtnet.evaluate(run.predictor(), None, test)
    with pytest.raises(ConfigError, match="test: expected a Dataset"):
        irtnet.evaluate(run.predictor(), train, "test")


# --------------------------------------------------------------------------------------------- synthetic
def test_make_synthetic_refuses_a_size_above_the_limit_before_allocating():
    with pytest.raises(ConfigError, match="100000 x 100000 = 10,000,000,000 .* above the limit of 2,000,000"):
        make_synthetic(n_models=100_000, n_queries=100_000)
    assert MAX_CELLS == 2_000_000
    with pytest.raises(ConfigError, match="above the limit of 10"):
        make_synthetic(n_models=4, n_queries=5, max_cells=10)
    with pytest.raises(ConfigError, match="max_cells must be a positive integer"):
        make_synthetic(n_models=4, n_queries=5, max_cells=0)
    assert make_synthetic(n_models=4, n_queries=5, max_cells=None, text=False).table.n_queries == 5


def test_evaluate_run_refuses_one_string_for_its_list_of_baselines(run_path):
    with pytest.raises(ConfigError, match=r"^baselines must be a list of names, not one string: pass \['knn'\]$"):
        api.evaluate_run(run_path, baselines="knn")

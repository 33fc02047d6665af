"""Bug bash 8, the predictors layer: model specs, the baselines and the config reader. Each test failed before
its fix (its docstring says how)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irtnet.config import check_fractions, read_config_file
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import QueryEmbeddings
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.base import NotFittedError
from irtnet.predictors.baselines import (
    ClusterRate, EmbedLLMMF, LinearMIRT, ModelBenchmarkMean, ModelMean, RouterDC, fit_2pl_newton, fit_irt,
)
from irtnet.predictors.baselines.knn import knn_mean
from irtnet.predictors.spec import resolve_spec

PAIRS = (np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]))   # (model_idx, item_idx) of two models x two items
Y = np.array([1.0, 0.0, 1.0, 1.0])


def _toy(vectors: np.ndarray, outcomes: dict[str, list[float]]) -> Dataset:
    """A dense toy dataset: query i has vector i (benchmark "b") and outcome outcomes[model][i]."""
    ids = [f"q{i}" for i in range(len(vectors))]
    records = pd.DataFrame([{"model": m, "query": q, "n_correct": y, "n_trials": 1.0, "benchmark": "b"}
                            for m, ys in outcomes.items() for q, y in zip(ids, ys)])
    return Dataset.from_table(ResponseTable.from_records(records),
                              QueryEmbeddings(Vocab("query", ids), np.asarray(vectors, np.float32), "toy"))


# ------------------------------------------------------------------------------ fit_irt / fit_2pl_newton inputs
@pytest.mark.parametrize("fitter", [fit_irt, fit_2pl_newton])
@pytest.mark.parametrize("change, error, message", [
    ({"y": np.array([2.0, 0.0, 1.0, 1.0])}, DataError, r"outcomes y must be finite and lie in \[0, 1\]"),
    ({"y": np.array([np.nan, 0.0, 1.0, 1.0])}, DataError, r"outcomes y must be finite"),
    ({"weight": np.zeros(4)}, DataError, r"weights must be finite and non-negative, and not all 0"),
    ({"weight": -np.ones(4)}, DataError, r"weights must be finite and non-negative"),
    ({"a_std": 0.0}, ConfigError, r"a_std must be a finite number > 0, got 0.0"),
    ({"a_std": float("inf")}, ConfigError, r"a_std must be a finite number > 0, got inf"),
    ({"max_iter": 0}, ConfigError, r"max_iter must be a whole number of at least 1, got 0"),
    ({"tol": float("nan")}, ConfigError, r"tol must be a finite number > 0, got nan"),
    ({"model_idx": np.array([0, 1.7, 0, 1])}, DataError, r"model_idx must hold whole numbers, got \[1.7\]"),
    ({"y": Y[:, None]}, DataError, r"y must be one-dimensional, got shape \[4, 1\]"),
])
def test_the_irt_fitters_refuse_bad_pairs_and_options_naming_them(fitter, change, error, message):
    """fit_irt returned theta = NaN for all of these (outcomes outside [0, 1], zero or negative weights, a zero
    prior scale) or silently truncated 1.7 to model 1; fit_2pl_newton raised ZeroDivisionError on zero weights,
    returned NaN for an infinite prior scale, a numpy ValueError for 2-d outcomes."""
    args = {"model_idx": PAIRS[0], "item_idx": PAIRS[1], "y": Y, **change}
    options = {k: v for k, v in args.items() if k not in ("model_idx", "item_idx", "y")}
    with pytest.raises(error, match=message):
        fitter(args["model_idx"], args["item_idx"], args["y"], 2, 2, **options)


def test_fit_irt_refuses_a_prior_scale_of_zero_for_b_and_a_fractional_dimension():
    """b_std = 0 gave NaN parameters; dim = 2.0 a numpy TypeError ("'float' object cannot be interpreted as an
    integer")."""
    with pytest.raises(ConfigError, match=r"b_std must be a finite number > 0"):
        fit_irt(*PAIRS, Y, 2, 2, b_std=0.0)
    with pytest.raises(ConfigError, match=r"unsupported IRT model kind='2pl' dim=2.0"):
        fit_irt(*PAIRS, Y, 2, 2, dim=2.0)


def test_the_irt_fitters_still_fit_good_pairs():
    fit = fit_irt(*PAIRS, Y, 2, 2, weight=np.array([1.0, 2.0, 0.0, 1.0]))
    assert np.isfinite(fit.theta).all() and fit.theta[0, 0] > fit.theta[1, 0]
    newton = fit_2pl_newton(PAIRS[0].astype(float), PAIRS[1], Y, 2, 2)  # whole numbers as floats are fine
    assert np.isfinite(newton.theta).all() and newton.theta[0, 0] > newton.theta[1, 0]


# ------------------------------------------------------------------------------------------------ KNN ties
def test_knn_ties_at_the_edge_of_the_candidate_pool_go_to_the_training_query_listed_first():
    """The docstring's rule "ties in similarity go to the training query listed first" held only inside the
    candidate pool: `np.argpartition` kept any of the rows tied at its edge (with 50 identical training vectors
    and k = 5 the neighbours were not rows 0-4)."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(5, 200))
        k = int(rng.integers(1, n))
        sim = rng.choice([0.1, 0.5, 0.9], size=(2, n)).astype(np.float32)
        rows = np.arange(n, dtype=np.float64)[:, None]  # the outcome is the row number: the sum says which rows
        total, count = knn_mean(sim, rows, k, k)
        expected = [sum(sorted(range(n), key=lambda j: (-s[j], j))[:k]) for s in sim]
        np.testing.assert_array_equal(total[:, 0], expected)
        assert (count == k).all()


def test_knn_with_every_training_vector_the_same_uses_the_first_k_rows():
    sim = np.ones((1, 50), np.float32)
    total, count = knn_mean(sim, np.arange(50, dtype=np.float64)[:, None], 5, 5)
    assert (total[0, 0], count[0, 0]) == (0 + 1 + 2 + 3 + 4, 5)


# --------------------------------------------------------------------------------- cluster-rate's centroids
def test_cluster_rate_with_fewer_distinct_vectors_than_clusters_keeps_its_rates():
    """Two distinct training vectors, 20 clusters (the default 32 capped by the 40 queries): k-means repeated the
    two centroids, and the soft assignment (default temperature 0.02) spread each query's weight over all 20, 18
    of them empty (the model mean): m0, right on every "alpha" query, got 0.47 there instead of 1."""
    vectors = np.array([[1.0, 0.0], [0.0, 1.0]] * 20)
    data = _toy(vectors, {"m0": [1.0, 0.0] * 20, "m1": [0.0, 1.0] * 20})
    model = ClusterRate(prior_strength=0.0).fit(data)
    assert model.n_clusters_ == 2 and model.centroids_.shape == (2, 2)
    np.testing.assert_allclose(model.predict_proba(data.queries.take([0, 1])), [[1.0, 0.0], [0.0, 1.0]], atol=1e-9)
    hard = ClusterRate(n_clusters=8, temperature=0.0, prior_strength=0.0).fit(data)
    np.testing.assert_allclose(hard.predict_proba(data.queries.take([0, 1])), [[1.0, 0.0], [0.0, 1.0]])


# ------------------------------------------------------------------------ network baselines' validation data
NETS = [EmbedLLMMF(dim=2, epochs=1), LinearMIRT(dim=2, epochs=1), RouterDC(hidden=4, dim=2, epochs=1)]


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_validation_data_of_another_embedding_or_models_is_a_data_error_before_training(net, one_torch_thread):
    """Validation vectors of another dimension gave torch's "mat1 and mat2 shapes cannot be multiplied (10x3 and
    2x2)" at the first validation; a validation model never trained "unknown model id: 'm9'" without saying
    where it came from."""
    rng = np.random.default_rng(0)
    train = _toy(rng.normal(size=(12, 2)), {"m0": [1.0, 0.0] * 6, "m1": [0.0, 1.0] * 6})
    other_dim = _toy(rng.normal(size=(4, 3)), {"m0": [1.0, 0.0] * 2})
    with pytest.raises(DataError, match=r"the validation data: query vectors have dimension 3, \S+ expects 2"):
        net.fit(train, other_dim)
    other_model = _toy(rng.normal(size=(4, 2)), {"m0": [1.0, 0.0] * 2, "m9": [0.0, 1.0] * 2})
    with pytest.raises(DataError, match=r"the validation data has 1 model\(s\) without a training label .*'m9'"):
        net.fit(train, other_model)
    assert net.fit(train, _toy(rng.normal(size=(4, 2)), {"m1": [1.0, 0.0] * 2})).scores(train.queries).shape == (12, 2)


# ------------------------------------------------------------------------------------------- model specs
@pytest.mark.parametrize("params, message", [
    ({"config": 0}, r"`params.config` must be a table of overrides, got int 0"),
    ({"config": []}, r"`params.config` must be a table of overrides, got list \[\]"),
    ({"config": False}, r"`params.config` must be a table of overrides, got bool False"),
    ({"train": ""}, r"`params.train` must be a table of overrides, got str ''"),
    ({"config": {"dim": None}}, r"params.config.dim is null: give a value, or leave it out to keep the preset's"),
    ({"config": {"moe": {"top_k": None}}}, r"params.config.moe.top_k is null"),
])
def test_irtnet_overrides_that_are_not_tables_or_hold_null_are_refused(params, message):
    """A falsy `params.config` / `params.train` (0, [], false, "") was read as no overrides, and a null in
    `params.config` (JSON) was dropped by the merge, the preset's value silently kept (dim 32 trained)."""
    with pytest.raises(ConfigError, match=message):
        resolve_spec({"model": "irtnet", "params": params})


def test_irtnet_overrides_given_as_null_or_left_out_are_none():
    full = resolve_spec({"model": "irtnet", "params": {"config": None, "train": None}})
    assert full == resolve_spec({"model": "irtnet"}) == resolve_spec(full)


@pytest.mark.parametrize("spec, where", [
    ({"model": "random", "seed": 1, "params": {"seed": True}}, "params.seed"),
    ({"model": "mirt-2pl", "seed": 3, "params": {"seed": 3.0}}, "params.seed"),
    ({"model": "irtnet", "seed": 1, "params": {"train": {"seed": True}}}, "params.train.seed"),
])
def test_a_seed_in_the_params_that_is_not_a_whole_number_is_refused(spec, where):
    """`params.seed = true` with `seed = 1` was taken as the same seed (True == 1) and silently replaced."""
    with pytest.raises(ConfigError, match=rf"{where}: a seed is a whole number, got (bool|float)"):
        resolve_spec(spec)


def test_a_numpy_seed_in_the_params_equal_to_the_seed_is_still_the_seed():
    assert resolve_spec({"model": "random", "seed": 3, "params": {"seed": np.int64(3)}}).params["seed"] == 3


def test_numpy_numbers_in_a_baselines_params_are_read_as_the_python_numbers_they_hold():
    """`k = np.int64(5)` (a value from a numpy grid) was refused ("Input should be a valid integer") where IrtNet's
    config takes it, and `prior_strength = np.float32(0.5)` was kept as numpy: writing the run's config.json
    after training failed with PydanticSerializationError ("Unable to serialize unknown type")."""
    full = resolve_spec({"model": "knn", "params": {"k": np.int64(5), "prior_strength": np.float32(0.5)}})
    dumped = full.model_dump(mode="json")["params"]
    assert dumped == full.params and (dumped["k"], dumped["prior_strength"]) == (5, 0.5)
    assert type(full.params["k"]) is int and type(full.params["prior_strength"]) is float
    with pytest.raises(ConfigError, match=r"'knn' params.k: Input should be a valid integer, got True"):
        resolve_spec({"model": "knn", "params": {"k": np.bool_(True)}})


@pytest.mark.parametrize("spread", [0.0, 1e-15])
def test_a_random_predictor_spread_that_ties_the_models_is_refused(spread):
    """`random` with spread 0 gave every model exactly 0.5, so routing on it picked the first model for every query
    (200 of 200), reported as the random pick."""
    with pytest.raises(ConfigError, match=r"'random' params.spread: .* greater than or equal to 0.000000001"):
        resolve_spec({"model": "random", "params": {"spread": spread}})
    assert resolve_spec({"model": "random", "params": {"spread": 1e-9}}).params["spread"] == 1e-9


# ----------------------------------------------------------------------------------- unfitted simple baselines
@pytest.mark.parametrize("cls", [ModelMean, ModelBenchmarkMean])
def test_saving_an_unfitted_mean_baseline_says_it_is_not_fitted(cls):
    """get_state raised AttributeError ("'ModelMean' object has no attribute 'models_'")."""
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        cls().get_state()


# ------------------------------------------------------------------------------------------------ config files
def test_a_config_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path):
    """A UTF-16 (or Latin-1) file raised UnicodeDecodeError, a traceback from the CLI."""
    path = tmp_path / "run.json"
    path.write_bytes('{"seed": 1}'.encode("utf-16"))
    with pytest.raises(ConfigError, match=r"run.json: not a UTF-8 text file"):
        read_config_file(path)


def test_a_config_file_with_a_byte_order_mark_or_an_upper_case_toml_suffix_is_read(tmp_path):
    """A .TOML file was parsed as JSON ("not valid JSON ...; TOML in a file named .toml"), and a UTF-8 byte-order
    mark (Notepad's) made a TOML file "Invalid statement" and a JSON file "Unexpected UTF-8 BOM"."""
    upper = tmp_path / "run.TOML"
    upper.write_text("seed = 1\n")
    assert read_config_file(upper) == {"seed": 1}
    for name, text in (("bom.toml", "seed = 2\n"), ("bom.json", '{"seed": 2}')):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert read_config_file(tmp_path / name) == {"seed": 2}


def test_split_fractions_given_as_one_string_are_refused():
    """check_fractions("100") iterated the string's characters and returned (1.0, 0.0, 0.0)."""
    with pytest.raises(ConfigError, match=r"three numbers \(train, val, test\), got '100'"):
        check_fractions("100")

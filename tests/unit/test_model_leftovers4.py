"""Leftovers of the model bug bash: IrtNet's parameters typed strictly, the report's interpretation numbers equal
to the model's own (calibrated) predictions, Rich tables that show names holding markup as given, the budget rule
said as it is, the LiteLLM strategy's unused mapping keys, prices from a cost column on some rows only, and
checkpoints with a NaN or infinite number in their state."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from rich.console import Console

from irtnet import api
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.spec import ModelSpec, resolve_spec
from irtnet.reporting import html as H
from irtnet.tasks import interpret as I

CALIBRATION = {"benchmark": {"kind": "platt", "scale": 0.6, "shift": 0.4},
               "text": {"kind": "temperature", "scale": 0.5, "shift": 0.0}}


def _table():
    return make_synthetic(n_models=3, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=3).table


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """(a small IrtNet that reads benchmark names, with a text path and a calibration on both paths; its data;
    its checkpoint folder, which also holds prices.json)."""
    root = tmp_path_factory.mktemp("leftovers4")
    table = _table()
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    config = PRESETS["small"].model_copy(update={"use_groups": True, "infer_groups": True})
    model = IrtNet(config, {"epochs": 2, "progress": False, "seed": 0}).fit(data)
    model.calibration_ = {k: dict(v) for k, v in CALIBRATION.items()}  # as a fit on validation queries leaves it
    path = save_predictor(model, root / "m")
    (root / "prices.json").write_text(json.dumps({m: 0.001 * 3 ** i for i, m in enumerate(model.models_.to_list())}))
    return model, data, path


# -------------------------------------------------------------------------------------------- 1. strict types
@pytest.mark.parametrize("params, field", [
    ({"train": {"epochs": True}}, "epochs"),
    ({"train": {"lr": "0.01"}}, "lr"),
    ({"train": {"batch_pairs": 2048.0}}, "batch_pairs"),
    ({"config": {"dim": "8"}}, "dim"),
    ({"config": {"input_noise": True}}, "input_noise"),
    ({"config": {"moe": {"hidden": True}}}, "moe.hidden"),
    ({"config": {"use_groups": 1}}, "use_groups"),
])
def test_a_bool_or_a_string_is_not_a_number_in_irtnet_parameters(params, field):
    """`epochs = true` trained 1 epoch and `dim = "8"` was accepted: pydantic's lax mode converted them."""
    with pytest.raises(ConfigError, match=rf"invalid IrtNet parameters: {field}: Input should be a valid"):
        resolve_spec(ModelSpec(preset="small", params=params))


def test_a_toml_int_is_still_a_valid_float():
    full = resolve_spec(ModelSpec(preset="small", params={"train": {"lr": 1, "weight_decay": 0},
                                                          "config": {"input_noise": 0, "moe": {"dropout": 0}}}))
    assert full.params["train"]["lr"] == 1.0 and full.params["config"]["input_noise"] == 0.0


# -------------------------------------------------------------------------------- 2. the report's probabilities
def test_the_reports_ability_profile_is_the_models_own_calibrated_prediction(fitted):
    """The profile was irt_probability(theta, a, b): the network before its calibration, up to 0.30 away from
    predict_proba on a default-preset run."""
    model, data, _ = fitted
    report = H.Report("r")
    H.interpretation_section(report, model, data, ["f"] * len(data.table.model_vocab.ids), "all queries")
    [fig] = [f for s in H.to_json(report)["sections"] for f in s["figures"] if f["name"] == "ability_profile"]
    models = fig["data"]["models"]
    prob = model.predict_proba(data.queries, models)
    groups = data.table.queries["benchmark"].to_numpy(dtype=object)
    want = np.stack([prob[groups == g].mean(axis=0) for g in fig["data"]["benchmarks"]])
    assert np.allclose(np.asarray(fig["data"]["values"]), want, atol=1e-6, rtol=0)


def test_item_curves_carry_the_calibration_of_the_path_that_answers(fitted):
    model, data, _ = fitted
    a, b = (np.asarray(x, np.float64) for x in model.query_parameters(data.queries))
    theta = np.asarray(model.abilities_, np.float64)
    scale, shift = model.logit_calibration(data.queries)
    assert np.allclose(scale, 0.6) and np.allclose(shift, 0.4)  # names known: the benchmark path
    picks = I.choose_icc_queries(a, b)
    for q in picks:  # each curve, read at a model's position on it, is that model's predict_proba
        _, _, t_m = I.item_curves(a[[q]], b[[q]], theta, scale=scale[[q]], shift=shift[[q]])
        _, p_at, _ = I.item_curves(a[[q]], b[[q]], theta, grid=t_m[0], scale=scale[[q]], shift=shift[[q]])
        assert np.allclose(p_at[0], model.predict_proba(data.queries.take([q]))[0], atol=1e-6)
    hidden = data.queries.without_groups()  # names hidden: the classifier's mixture, which has no IRT curve
    assert model.answer_paths(hidden)[0] == "text+inferred-benchmark"
    assert np.isnan(model.logit_calibration(hidden)[0]).all() and np.isnan(model.logit_calibration(hidden)[1]).all()


# ------------------------------------------------------------------------------------------- 3. Rich markup
def _rendered(table) -> str:
    console = Console(record=True, width=200, markup=True)
    console.print(table)
    return console.export_text()


def test_rich_tables_show_names_holding_markup_as_given():
    """"a[/b]" was a MarkupError traceback and "[bold]x" was shown as "x", for any console that reads markup."""
    from irtnet.reporting.console import ranking_table, summary_table
    from irtnet.reporting.tables import rich_tables
    from irtnet.tasks.evaluate import EvaluationResult
    from irtnet.tasks.routing import routing_result

    labels = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    groups = np.array(["[bold]g"] * 3, dtype=object)
    acc = np.nanmean(labels, axis=0)
    names = ["[bold]x", "a[/b]"]
    routing = routing_result(np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.6]]), labels, groups, names, acc,
                             {"[bold]g": acc})
    text = "".join(_rendered(t) for t in rich_tables([EvaluationResult("a[/b]", None, routing, {"n_models": 2}),
                                                      EvaluationResult("[bold]x", None, routing, {"n_models": 2})]))
    assert "a[/b]" in text and "[bold]x" in text
    text = _rendered(ranking_table("[i]q", [("[bold]x", 0.5), ("a[/b]", 0.4)]))
    assert "a[/b]" in text and "[bold]x" in text and "[i]q" in text
    text = _rendered(summary_table({"a[/b]": {"mae": 0.1, "n_folds": 1}}, "[red]t"))
    assert "a[/b]" in text and "[red]t" in text


# ------------------------------------------------------------------------------------------- 4. budget rule
def test_the_budget_rule_does_not_claim_the_best_total_p(fitted):
    """route_budget is an LP relaxation rounded at the queries it would split; its text said "best total P"."""
    model, data, path = fitted
    texts = list(data.table.queries["text"].head(5))
    decisions = api.cost_route_texts(path, texts, prices=path.parent / "prices.json", budget=0.01)
    assert "may fall short of the best total P" in decisions.rule
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md"), encoding="utf-8").read()
    assert "`--budget B` the best total P" not in " ".join(readme.split())


# ----------------------------------------------------------------------------------------- 5. LiteLLM mapping
def test_a_litellm_mapping_key_that_names_no_deployment_is_refused(fitted):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    from irtnet.integrations.litellm_strategy import IrtnetRoutingStrategy

    model, _, path = fitted
    names = model.models_.to_list()
    router = litellm.Router(model_list=[
        {"model_name": "auto", "model_info": {"id": "dep-a"},
         "litellm_params": {"model": "openai/fake-a", "api_key": "x", "mock_response": "a"}},
    ])
    with pytest.raises(ConfigError, match=r"mapping key\(s\) 'openai/typo' name no deployment of the router; "
                                          r"its deployments' ids and models: 'dep-a', 'openai/fake-a'"):
        IrtnetRoutingStrategy(path, mapping={"openai/typo": names[0]}, router=router)
    strategy = IrtnetRoutingStrategy(path, mapping={"openai/typo": names[0]})  # no router yet: checked on attach
    with pytest.raises(ConfigError, match="'openai/typo' name no deployment"):
        strategy.attach(router)
    assert IrtnetRoutingStrategy(path, mapping={"dep-a": names[0]}, router=router).router is router


# ------------------------------------------------------------------------------------ 6. a partial cost column
def test_prices_from_a_cost_column_on_some_rows_only_are_refused(fitted, monkeypatch, tmp_path):
    """A model with costs on some of its rows was priced from those rows alone, with no word."""
    import irtnet.api.data as data_api
    from irtnet.api.texts import resolve_prices

    _, data, path = fitted
    table = _table()
    responses = table.responses.copy()
    cost = np.full(len(responses), 0.01)
    first = str(responses["model"].iloc[0])
    rows = np.flatnonzero((responses["model"].astype(str) == first).to_numpy())
    cost[rows[:3]] = np.nan  # the table readers refuse this; a table made in Python can hold it
    table.responses = responses.assign(cost=cost)
    monkeypatch.setattr(data_api, "load_table", lambda p: table)
    with pytest.raises(DataError, match=rf"field 'cost': model '{first}' has a cost on {len(rows) - 3} of its "
                                        rf"{len(rows)} rows \(1 such model\(s\)\)"):
        resolve_prices(path, tmp_path / "t.parquet")
    table.responses = responses.assign(cost=0.01)  # complete: the mean cost per query, as before
    prices, source = resolve_prices(path, tmp_path / "t.parquet")
    assert source.startswith("mean cost per query") and len(prices) == 3


# --------------------------------------------------------------------------------- 7. non-finite state numbers
@pytest.mark.parametrize("field, literal", [("temperature", "1e999"), ("C", "NaN"), ("temperature", "-Infinity")])
def test_a_checkpoint_with_a_non_finite_state_number_is_refused(fitted, tmp_path, field, literal):
    _, _, path = fitted
    copy = tmp_path / "m"
    shutil.copytree(path, copy)
    doc = json.loads((copy / "checkpoint.json").read_text())
    doc["state"]["text_path"][field] = "__VALUE__"
    (copy / "checkpoint.json").write_text(json.dumps(doc).replace('"__VALUE__"', literal))
    with pytest.raises(CheckpointError, match=rf"checkpoint.json: state.text_path.{field} is .*, not a finite number"):
        load_predictor(copy)
    assert load_predictor(path).calibration_["benchmark"]["scale"] == 0.6  # the untouched one loads


def test_a_nan_in_the_fits_records_still_loads(fitted, tmp_path):
    """Before strict JSON, a checkpoint's history held a bare NaN where a validation AUC was undefined (labels of
    one class): a record, never read as a number, so such a checkpoint still loads (a review found it refused)."""
    _, _, path = fitted
    copy = tmp_path / "m"
    shutil.copytree(path, copy)
    doc = json.loads((copy / "checkpoint.json").read_text())
    doc["state"]["history"] = [{"epoch": 1, "val_auc": "__VALUE__"}]
    (copy / "checkpoint.json").write_text(json.dumps(doc).replace('"__VALUE__"', "NaN"))
    load_predictor(copy)


def test_numpy_numbers_from_a_grid_are_the_numbers_they_hold_and_a_numpy_bool_is_still_refused():
    """Strict settings refused np.int64(8) (a value from a numpy grid of a sweep); it is read as 8, and np.True_
    as True, which is still not a number of epochs."""
    from pydantic import ValidationError

    from irtnet.models.irtnet import IrtNetConfig
    from irtnet.training.trainer import TrainConfig

    config = IrtNetConfig(dim=np.int64(8), moe={"n_experts": np.int64(4), "top_k": 2})
    assert config.dim == 8 and type(config.dim) is int and config.moe.n_experts == 4
    assert TrainConfig(epochs=np.int64(3), lr=np.float32(0.5)).lr == 0.5
    with pytest.raises(ValidationError, match="epochs"):
        TrainConfig(epochs=np.bool_(True))

"""Cost-aware routing: prices, token costs, budget allocation, the lambda sweep and its summary figures."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from irtnet.errors import ConfigError, DataError
from irtnet.tasks.cost import curve_area, evaluate_cost, lambda_grid, match_point, route_budget, sweep
from irtnet.tasks.prices import Price, cost_matrix, load_prices, prices_from_models, require_prices, token_counts


@pytest.fixture()
def problem():
    rng = np.random.default_rng(0)
    prob = rng.random((300, 4))
    prob[:, 3] = np.clip(prob[:, 3] + 0.3, 0, 1)          # the dear model is the best
    cost = np.array([0.1, 0.2, 0.5, 2.0])
    labels = (rng.random(prob.shape) < prob).astype(float)
    return prob, cost, labels


def test_price_files_in_every_form(tmp_path):
    doc = {"a": 0.5, "b": {"per_query": 1.0}, "c": {"input_per_1k": 2.0, "output_per_1k": 4.0},
           "d": {"input_price": 1000.0, "output_price": 3000.0, "size": "7B"}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    prices = load_prices(tmp_path / "p.json")
    assert prices["a"] == Price(per_query=0.5) and prices["b"] == Price(per_query=1.0)
    assert prices["c"] == Price(0, 2.0, 4.0) and prices["d"] == Price(0, 1.0, 3.0)  # per million -> per 1k
    np.testing.assert_allclose(prices["c"].cost(np.array([500.0]), 1000), [1.0 + 4.0])
    pd.DataFrame({"model": ["a", "b"], "input_per_1k": [1, 2], "output_per_1k": [1, 2]}).to_csv(tmp_path / "p.csv",
                                                                                                  index=False)
    assert load_prices(tmp_path / "p.csv")["b"] == Price(0, 2.0, 2.0)


def test_price_file_errors(tmp_path):
    with pytest.raises(DataError, match="no such price file"):
        load_prices(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"a": {"size": "7B"}}))
    with pytest.raises(DataError, match="has none of per_query"):
        load_prices(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected an object"):
        load_prices(tmp_path / "list.json")
    with pytest.raises(DataError, match=r"no price for model\(s\) \['z'\]"):
        cost_matrix({"a": Price(1.0)}, ["a", "z"], np.ones(2))


@pytest.mark.parametrize("name, text", [
    ("neg.json", '{"ok": 1, "m": -5}'),
    ("nan.json", '{"ok": 1, "m": NaN}'),
    ("inf.json", '{"ok": 1, "m": Infinity}'),
    ("huge.json", '{"ok": 1, "m": 1e400}'),
    ("nanstr.json", '{"ok": 1, "m": {"per_query": "nan"}}'),
    ("bool.json", '{"ok": 1, "m": true}'),
    ("boolkey.json", '{"ok": 1, "m": {"per_query": true}}'),
    ("null.json", '{"ok": 1, "m": {"input_price": null, "output_price": 1}}'),
    ("negtoken.json", '{"ok": 1, "m": {"input_per_1k": 1, "output_per_1k": -1}}'),
    ("half.json", '{"ok": 1, "m": {"input_per_1k": 1}}'),
    ("mixed.json", '{"ok": 1, "m": {"per_query": 1, "input_price": 2, "output_price": 2}}'),
    ("nan.csv", "model,per_query\nok,1\nm,nan\n"),
    ("inf.csv", "model,per_query\nok,1\nm,inf\n"),
    ("neg.csv", "model,per_query\nok,1\nm,-0.5\n"),
    ("half.csv", "model,input_per_1k,output_per_1k\nok,1,1\nm,1,\n"),
])
def test_a_price_must_be_one_finite_non_negative_number_per_amount(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError) as err:
        load_prices(tmp_path / name)
    assert err.value.file == str(tmp_path / name) and err.value.field == "m", str(err.value)
    assert "'m'" in str(err.value) and name in str(err.value)


def test_a_price_file_names_each_model_once(tmp_path):
    (tmp_path / "dup.csv").write_text("model,per_query\na,1\nb,2\na,3\n")
    with pytest.raises(DataError, match=r"model 'a' has a second row \(the first is row 1\)") as err:
        load_prices(tmp_path / "dup.csv")
    assert err.value.file == str(tmp_path / "dup.csv") and err.value.row == 3 and err.value.field == "a"
    (tmp_path / "dup.json").write_text('{"a": 1, "b": 2, "a": 3}')
    with pytest.raises(DataError, match="'a' appears twice") as err:
        load_prices(tmp_path / "dup.json")
    assert err.value.file == str(tmp_path / "dup.json") and err.value.field == "a"


def test_a_price_csv_numbers_its_data_rows_blank_lines_not_counted(tmp_path):
    """As the importers number a CSV's rows: the first data row is row 1, a blank line is no row."""
    (tmp_path / "gaps.csv").write_text("model,per_query\n\na,1\n\n\n ,2\n")
    with pytest.raises(DataError, match=r"gaps.csv, row 2, field 'model': empty model name") as err:
        load_prices(tmp_path / "gaps.csv")
    assert err.value.row == 2
    (tmp_path / "dup.csv").write_text("model,per_query\na,1\n\nb,2\na,3\n")
    with pytest.raises(DataError, match=r"dup.csv, row 3, field 'a': model 'a' has a second row \(the first is "
                                        r"row 1\)"):
        load_prices(tmp_path / "dup.csv")


def test_a_price_csv_row_without_a_model_name_or_with_extra_cells_is_named(tmp_path):
    (tmp_path / "empty.csv").write_text("model,per_query\na,1\n ,2\n")
    with pytest.raises(DataError, match="empty model name") as err:
        load_prices(tmp_path / "empty.csv")
    assert err.value.file == str(tmp_path / "empty.csv") and err.value.row == 2
    (tmp_path / "wide.csv").write_text("model,per_query\na,1,2\n")
    with pytest.raises(DataError, match="the row has 3 fields, the header only 2") as err:
        load_prices(tmp_path / "wide.csv")
    assert err.value.row == 1 and err.value.field == "column 3"
    (tmp_path / "quote.csv").write_text('model,per_query\n\nb,2\n\n"a,1\n')
    with pytest.raises(DataError, match="not a readable CSV file") as err:
        load_prices(tmp_path / "quote.csv")
    assert err.value.row == 2  # the second data row, the blank lines not counted
    (tmp_path / "empty.json").write_text('{"": 1}')
    with pytest.raises(DataError, match="a model name is empty"):
        load_prices(tmp_path / "empty.json")


def test_a_price_csv_row_with_fewer_cells_than_the_header_is_named_never_read_as_free(tmp_path):
    (tmp_path / "short.csv").write_text("model,input_per_1k,output_per_1k\na,1,2\n\nb,1\n")
    with pytest.raises(DataError, match=r"short.csv, row 2, field 'output_per_1k': the row has 2 fields, the header "
                                        r"3: missing 'output_per_1k'") as err:
        load_prices(tmp_path / "short.csv")
    assert (err.value.file, err.value.row) == (str(tmp_path / "short.csv"), 2)


def test_a_price_csv_column_used_twice_or_unknown_is_refused(tmp_path):
    (tmp_path / "twice.csv").write_text("model,per_query,per_query\na,1,0.001\n")
    with pytest.raises(DataError, match=r"twice.csv, field 'per_query': the column name 'per_query' is used twice "
                                        r"\(columns 2 and 3\)"):
        load_prices(tmp_path / "twice.csv")
    (tmp_path / "note.csv").write_text("model,per_query,note\na,1,cheap\n")
    with pytest.raises(DataError, match=r"note.csv, field 'note': unknown column\(s\) 'note'; a price CSV has a "
                                        r"'model' column and per_query, or input_per_1k and output_per_1k"):
        load_prices(tmp_path / "note.csv")
    (tmp_path / "described.csv").write_text("model,input_price,output_price,size,service\na,1000,2000,7B,x\n")
    assert load_prices(tmp_path / "described.csv") == {"a": Price(0, 1.0, 2.0)}  # LLMRouter's description: unread


def test_a_price_object_with_an_unknown_key_is_refused_listing_the_keys_read(tmp_path):
    (tmp_path / "typo.json").write_text(json.dumps({"a": {"per_query": 0.001, "output_per1k": 5}, "b": 0.002}))
    with pytest.raises(DataError, match=r"typo.json, field 'a': price of 'a' has unknown key\(s\) 'output_per1k' "
                                        r"\(did you mean 'output_per_1k'\?\); a price object reads per_query, or "
                                        r"input_per_1k and output_per_1k, or input_price and output_price") as err:
        load_prices(tmp_path / "typo.json")
    assert err.value.field == "a"
    llmrouter = {"a": {"size": "7B", "feature": "text", "input_price": 0.2, "output_price": 0.2,
                       "model": "org/a", "service": "NVIDIA"}}  # a default_llm.json entry, as it is
    (tmp_path / "llm.json").write_text(json.dumps(llmrouter))
    assert load_prices(tmp_path / "llm.json") == {"a": Price(0, 0.0002, 0.0002)}


def test_a_price_or_a_cost_too_large_to_compute_with_is_an_error_never_infinity(tmp_path):
    (tmp_path / "huge.json").write_text('{"ok": 1, "m": {"input_per_1k": 1e308, "output_per_1k": 1e308}}')
    with pytest.raises(DataError, match=r"huge.json, field 'm': price of 'm' \(input_per_1k\) is 1e\+308, above "
                                        r"the largest price irtnet computes with \(1e\+15\)"):
        load_prices(tmp_path / "huge.json")
    prices = {"a": Price(0.5), "m": Price(0.0, 1.0, 2.0)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way
        with pytest.raises(DataError, match=r"p.json, field 'm': model 'm' would cost 2e\+297 on a query of 1 input "
                                            r"tokens and 1e\+300 output tokens \(per query 0, per 1,000 tokens 1 in, 2 "
                                            r"out\), above the largest cost per query irtnet computes with \(1e\+15\); "
                                            r"lower its prices or --output-tokens"):
            cost_matrix(prices, ["a", "m"], np.array([1.0, 3.0]), output_tokens=1e300, source="p.json")
        with pytest.raises(DataError, match=r"field 'm': model 'm' would cost inf"):  # overflowed: never returned
            cost_matrix(prices, ["a", "m"], np.array([1.0, 3.0]), output_tokens=1e308)
    cost = cost_matrix(prices, ["a", "m"], np.array([1.0, 3.0]), output_tokens=0)
    np.testing.assert_allclose(cost, [[0.5, 0.001], [0.5, 0.003]])


def test_a_price_file_that_is_not_utf8_is_a_data_error_naming_it(tmp_path):
    (tmp_path / "latin1.csv").write_bytes("model,per_query\nmodèle,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text: byte 0xe8 at offset 19") as err:
        load_prices(tmp_path / "latin1.csv")
    assert err.value.file == str(tmp_path / "latin1.csv")
    (tmp_path / "latin1.json").write_bytes('{"modèle": 1}'.encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text: byte 0xe8 at offset 5") as err:
        load_prices(tmp_path / "latin1.json")
    assert err.value.file == str(tmp_path / "latin1.json")
    (tmp_path / "bom.csv").write_bytes("\ufeffmodel,per_query\na,0.5\n".encode("utf-8"))  # Excel's UTF-8 is fine
    assert load_prices(tmp_path / "bom.csv") == {"a": Price(per_query=0.5)}


def test_table_prices_are_checked_too():
    models = pd.DataFrame({"model": ["m1", "m2"], "input_price": [0.2, -1.0], "output_price": [0.2, 0.9]})
    with pytest.raises(DataError, match="'m2' \\(input_price\\) must be a finite number >= 0") as err:
        prices_from_models(models, "t.parquet")
    assert err.value.file == "t.parquet" and err.value.field == "m2"


def test_require_prices_lists_every_unpriced_model_and_says_how_to_go_on():
    prices = {"a": Price(1.0), "b ": Price(2.0)}
    require_prices(prices, ["a"], "p.json", "price them")
    with pytest.raises(ConfigError) as err:
        require_prices(prices, ["a", "b", "c"], "p.json", "price them")
    message = str(err.value)
    assert message.startswith("p.json has no price for 2 of the 3 model(s) to choose among: 'b', 'c'")
    assert "'b '" in message and message.endswith("; price them")  # the file's own names beside them


def test_token_costs_and_table_prices():
    tokens = token_counts(["abcd", "abcde", None])
    np.testing.assert_array_equal(tokens, [1, 2, 0])
    models = pd.DataFrame({"model": ["m1", "m2"], "input_price": [0.2, 0.9], "output_price": [0.2, 0.9]})
    prices = prices_from_models(models)
    cost = cost_matrix(prices, ["m1", "m2"], np.array([1000.0, 0.0]), output_tokens=0)
    np.testing.assert_allclose(cost, [[0.2e-3, 0.9e-3], [0, 0]])


def test_sweep_is_monotone_in_lambda(problem):
    prob, cost, labels = problem
    curve = sweep(prob, cost, labels, lambda_grid(prob, cost))
    costs = [p.cost for p in curve.points]
    expected = [p.expected for p in curve.points]
    assert all(np.diff(costs) <= 1e-12) and all(np.diff(expected) <= 1e-12)
    assert curve.points[0].lam == 0 and costs[0] > costs[-1]
    assert costs[-1] == pytest.approx(0.1)  # the largest lambda routes everything to the cheapest model


def test_route_budget_respects_and_uses_the_budget(problem):
    prob, cost, _ = problem
    rows = np.arange(len(prob))
    values = []
    for budget in (0.1, 0.3, 0.6, 1.0, 5.0):
        choice = route_budget(prob, cost, budget)
        assert cost[choice].mean() <= budget + 1e-9
        values.append(prob[rows, choice].sum())
    assert all(np.diff(values) >= -1e-9) and values[-1] == pytest.approx(prob.max(axis=1).sum())
    # it is at least as good as the best lambda routing that fits the same budget
    lam_best = max(p.expected for p in sweep(prob, cost, prob, lambda_grid(prob, cost, 200)).points
                   if p.cost <= 0.6 + 1e-12)
    assert prob[rows, route_budget(prob, cost, 0.6)].mean() >= lam_best - 1e-9
    with pytest.raises(ConfigError, match="below the cheapest routing"):
        route_budget(prob, cost, 0.05)


def test_curve_area_and_match_point():
    # envelope: 0.5 from cost 0 to 1, then 0.8 from 1 to 2 -> normalised area 0.65
    assert curve_area(np.array([0.0, 1.0, 1.5]), np.array([0.5, 0.8, 0.7]), (0.0, 2.0)) == pytest.approx(0.65)
    assert np.isnan(curve_area(np.array([1.0]), np.array([1.0]), (1.0, 1.0)))
    from irtnet.tasks.cost import CostCurve, CurvePoint

    curve = CostCurve("r", [CurvePoint(0, 2.0, 0.9, 0.9), CurvePoint(1, 1.0, 0.8, 0.8), CurvePoint(2, 0.5, 0.6, 0.6)])
    assert match_point(curve, 0.75) == (1.0, 1) and match_point(curve, 0.95) == (None, None)


def test_evaluate_cost_summary(problem):
    prob, cost, labels = problem
    train_acc = np.array([0.1, 0.2, 0.3, 0.9])
    result = evaluate_cost({"truth": prob, "flat": np.full_like(prob, 0.5)}, labels, cost, ["a", "b", "c", "d"],
                           train_acc)
    assert result.best_single == "d" and result.cost_range == pytest.approx((0.1, 2.0))
    truth = result.curves[0]
    assert truth.area > result.single_area  # routing on the truth beats any single model along the cost axis
    assert truth.match_cost is not None and truth.match_cost < 2.0
    assert result.oracle["accuracy"] >= max(s["accuracy"] for s in result.single_models.values())
    doc = result.to_dict()
    assert doc["task"] == "cost-routing" and [c["kind"] for c in doc["curves"]] == ["lambda", "budget"] * 2
    budget = result.curves[1]
    assert budget.router == "truth" and all(p.cost <= p.lam + 1e-9 for p in budget.points if p.lam >= 0.1)
    assert budget.area >= truth.area - 0.02  # planning under a budget is at least about as good as a lambda
    with pytest.raises(DataError, match="fully labelled"):
        evaluate_cost({"t": prob}, np.where(labels > 0, np.nan, labels), cost, list("abcd"), train_acc)

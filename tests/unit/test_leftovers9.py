"""Leftovers of bug bashes 10 and 11, each failing before its fix."""

from __future__ import annotations

import json

import pytest

from cli_checks import tiny_run_folder


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tiny_run_folder(tmp_path_factory.mktemp("left9"))


def test_max_p_says_the_cost_of_each_priced_model_where_some_have_no_price(root, tmp_path):
    """With prices for some models only, max_p (which needs none) said cost null for every model, the priced
    ones and the chosen one included."""
    from irtnet import api

    predictor = api.load(root / "run")
    models = predictor.models_.to_list()
    prices = tmp_path / "partial.json"
    prices.write_text(json.dumps({models[0]: 0.002, models[1]: 0.004}))
    book = api.load_price_book(root / "run", prices)
    [decision] = api.route_texts(predictor, ["what is 2 + 2?"], api.Policy.parse("max_p"), book)
    costs = {r.model: r.cost for r in decision.ranking}
    assert costs[models[0]] == pytest.approx(0.002) and costs[models[1]] == pytest.approx(0.004)
    assert costs[models[2]] is None and costs[models[3]] is None
    assert decision.cost == costs[decision.model]
    with pytest.raises(Exception, match="price"):  # a cost policy still needs every candidate priced
        api.route_texts(predictor, ["what is 2 + 2?"], api.Policy.parse("utility=1"), book)

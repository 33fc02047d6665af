"""The text-only path of the default preset: where a query comes without its benchmark name, the prediction
averages the predictions under each known benchmark, weighted by a text classifier's posterior, calibrated on
validation queries with their names hidden; the path that answered is named. The networks here read the embedding
alone (`text_ngrams` 0, set outright), so that the classifier's posterior is what the text path adds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from irtnet.errors import CheckpointError
from irtnet.metrics import auc
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.spec import ModelSpec, build_predictor

TRAIN = {"epochs": 8, "lr": 3e-3}


@pytest.fixture(scope="module")
def data(one_torch_thread, synthetic_splits):
    return synthetic_splits("hashing-128", n_models=10, n_queries=900, n_benchmarks=4, dim=2, feature_dim=16,
                            seed=1)


@pytest.fixture(scope="module")
def models(data):
    train, val, _ = data
    # the network reads no n-grams (config.text_ngrams off, whatever the default preset says): the blind model
    # sees the embedding alone, and the comparison is the classifier's posterior against the unknown slot
    config = lambda infer: {"infer_groups": infer, "text_ngrams": 0}
    fit = lambda infer: build_predictor(ModelSpec(params={"config": config(infer), "train": TRAIN})).fit(train, val)
    return fit(True), fit(False)


def _auc(model, test, hide: bool) -> float:
    queries = test.queries.without_groups() if hide else test.queries
    y = test.table.label_matrix()
    seen = ~np.isnan(y)
    return auc(model.predict_proba(queries)[seen], y[seen])


def test_the_text_path_recovers_most_of_what_the_name_gives(models, data):
    with_text, without = models
    test = data[2]
    assert with_text.classifier_ is not None and without.classifier_ is None
    known, text, blind = _auc(with_text, test, False), _auc(with_text, test, True), _auc(without, test, True)
    # the classifier's posterior beats the unknown slot, and comes close to the name itself
    assert text > blind + 0.01 and text > known - 0.01, (known, text, blind)
    np.testing.assert_allclose(with_text.predict_proba(test.queries), without.predict_proba(test.queries),
                               atol=1e-12)  # with names given, the text path is not used at all
    for path in ("benchmark", "text"):  # each path's calibration was chosen on validation, among known kinds
        cal = with_text.calibration_[path]
        assert cal["kind"] in ("none", "temperature", "platt") and 0.05 <= cal["scale"] <= 20
        assert cal["cv_log_loss"][cal["kind"]] <= cal["cv_log_loss"]["none"]


def test_the_path_is_named_and_survives_a_checkpoint(models, data, tmp_path):
    model, test = models[0], data[2]
    hidden = test.queries.without_groups()
    assert set(model.answer_paths(test.queries)) == {"benchmark"}
    assert set(model.answer_paths(hidden)) == {"text+inferred-benchmark"}
    assert set(models[1].answer_paths(hidden)) == {"text"}
    back = load_predictor(save_predictor(model, tmp_path / "m"))
    np.testing.assert_array_equal(back.predict_proba(hidden), model.predict_proba(hidden))
    doc = json.loads((tmp_path / "m" / "checkpoint.json").read_text())
    assert doc["state"]["calibration"]["text"]["scale"] == pytest.approx(model.calibration_["text"]["scale"])
    assert back.calibration_ == model.calibration_


def test_a_checkpoint_of_0_2_0_with_a_text_temperature_still_loads(models, tmp_path):
    model = models[0]
    path = save_predictor(model, tmp_path / "m")
    doc = json.loads((path / "checkpoint.json").read_text())
    del doc["state"]["calibration"]  # as 0.2.0 wrote it: a temperature on the text path only
    doc["state"]["text_path"]["temperature"] = 2.0
    (path / "checkpoint.json").write_text(json.dumps(doc))
    back = load_predictor(path)
    assert back.calibration_["text"] == {"kind": "temperature", "scale": 0.5, "shift": 0.0}
    assert back.calibration_["benchmark"]["kind"] == "none"
    doc["state"]["calibration"] = {"benchmark": {"scale": -1.0, "shift": 0.0}, "text": {"scale": 1.0, "shift": 0}}
    (path / "checkpoint.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"state.calibration.benchmark needs a positive 'scale'"):
        load_predictor(path)


def test_a_checkpoint_without_its_classifier_is_refused(models, tmp_path):
    from safetensors.numpy import load_file, save_file

    path = save_predictor(models[0], tmp_path / "m")
    arrays = load_file(str(path / "weights.safetensors"))
    arrays.pop("benchmark_classifier.coef")
    save_file(arrays, str(path / "weights.safetensors"))
    with pytest.raises(CheckpointError, match="no benchmark classifier"):
        load_predictor(path)

"""The step cache of the long evaluations (`tasks/step_cache.py`): leave-one-benchmark-out keeps each finished
fold and data efficiency each (predictor, fraction), so an interrupted run loses none and a rerun reads them and
gives the same result; a damaged step is computed again, a changed setting or table reads none; an undefined
figure (NaN) is written as null and read back as NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet._io import nan_for_null
from irtnet.cli.main import app
from irtnet.data.dataset import Dataset
from irtnet.data.synthetic import make_synthetic
from irtnet.predictors import ModelMean, Predictor
from irtnet.tasks.benchmark import evaluate_benchmarks
from irtnet.tasks.data_efficiency import data_efficiency_curve
from irtnet.tasks.step_cache import StepCache, load_step, save_step, step_path


class Flat(Predictor):
    """The same probability for every pair: the predicted accuracies are all equal, so their correlation with the
    truth is undefined (NaN) in every fold."""

    name = "flat"

    def fit(self, train, val=None):
        self.models_ = train.table.model_vocab
        return self

    def predict_proba(self, queries, models=None):
        return np.full((len(queries), len(self._model_positions(models))), 0.5)


class Counting:
    """A factory that counts its fits and raises on the `fail_at`-th (1-based), like an interrupted run."""

    def __init__(self, make, fail_at: int | None = None) -> None:
        self.make, self.fail_at, self.calls = make, fail_at, 0

    def __call__(self):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return self.make()


@pytest.fixture(scope="module")
def data():
    synth = make_synthetic(n_models=6, n_queries=300, n_benchmarks=3, dim=2, feature_dim=6, seed=4)
    return Dataset.from_table(synth.table, synth.features)


def _without_run(doc: dict) -> str:
    return json.dumps({k: v for k, v in doc.items() if k != "run"}, sort_keys=True)  # NaN == NaN as text


def test_leave_one_benchmark_out_resumes_after_an_interruption_and_gives_the_same_result(data, tmp_path):
    cache = StepCache(tmp_path / "lobo.steps", {"models": "flat, model-mean"})
    whole = evaluate_benchmarks(data, {"flat": Flat, "model-mean": ModelMean}, anchors=(5,))
    assert math.isnan(whole.folds[0].metrics["flat"]["pearson"])  # an undefined figure, to round-trip
    flat = Counting(Flat, fail_at=2)  # the second benchmark is interrupted
    with pytest.raises(KeyboardInterrupt):
        evaluate_benchmarks(data, {"flat": flat, "model-mean": ModelMean}, anchors=(5,), cache=cache)
    (saved,) = cache.folder.glob("*.json")  # the first fold, and only it
    assert saved.name.startswith("algebra-") and "null" in saved.read_text() and "NaN" not in saved.read_text()
    flat = Counting(Flat)
    resumed = evaluate_benchmarks(data, {"flat": flat, "model-mean": ModelMean}, anchors=(5,), cache=cache)
    assert flat.calls == 2 and resumed.run == {"folds_computed": 2, "folds_from_cache": 1,
                                               "step_cache": str(cache.folder)}
    assert _without_run(resumed.to_dict()) == _without_run(whole.to_dict())
    assert math.isnan(resumed.folds[0].metrics["flat"]["pearson"])  # null read back as NaN

    flat = Counting(Flat)
    again = evaluate_benchmarks(data, {"flat": flat, "model-mean": ModelMean}, anchors=(5,), cache=cache)
    assert flat.calls == 0 and again.run["folds_from_cache"] == 3
    assert _without_run(again.to_dict()) == _without_run(whole.to_dict())

    saved.write_text('{"benchmark": "alge')  # cut short: computed again and overwritten
    flat = Counting(Flat)
    evaluate_benchmarks(data, {"flat": flat, "model-mean": ModelMean}, anchors=(5,), cache=cache)
    assert flat.calls == 1 and load_step(saved) is not None

    flat = Counting(Flat)  # another setting, or another table: nothing read
    evaluate_benchmarks(data, {"flat": flat, "model-mean": ModelMean}, anchors=(10,), cache=cache)
    assert flat.calls == 3
    other = data.select(model_ids=list(data.table.model_vocab.ids)[:5])
    flat = Counting(Flat)
    evaluate_benchmarks(other, {"flat": flat, "model-mean": ModelMean}, anchors=(5,), cache=cache)
    assert flat.calls == 3


def test_data_efficiency_resumes_per_predictor_and_fraction(data, tmp_path):
    cache = StepCache(tmp_path / "eff.steps", {"models": "flat, model-mean"})
    whole = data_efficiency_curve(data, {"flat": Flat, "model-mean": ModelMean}, fractions=(0.5, 1.0))
    flat = Counting(Flat, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        data_efficiency_curve(data, {"flat": flat, "model-mean": ModelMean}, fractions=(0.5, 1.0), cache=cache)
    assert len(list(cache.folder.glob("*.json"))) == 2  # flat and model-mean at 0.5
    flat = Counting(Flat)
    resumed = data_efficiency_curve(data, {"flat": flat, "model-mean": ModelMean}, fractions=(0.5, 1.0),
                                    cache=cache)
    assert flat.calls == 1 and resumed.run["steps_from_cache"] == 2 and resumed.run["steps_computed"] == 2
    assert _without_run(resumed.to_dict()) == _without_run(whole.to_dict())
    assert resumed.curve("model-mean") == whole.curve("model-mean")


def test_a_step_record_round_trips_nan_as_null(tmp_path):
    path = step_path(StepCache(tmp_path), "a/b c", {"x": 1})
    assert path.parent == tmp_path and path.name.startswith("a_b_c-")
    save_step(path, {"m": {"auc": float("nan"), "n": 3}, "xs": [1.0, float("inf")]})
    assert json.loads(path.read_text()) == {"m": {"auc": None, "n": 3}, "xs": [1.0, None]}
    back = nan_for_null(load_step(path))
    assert math.isnan(back["m"]["auc"]) and back["m"]["n"] == 3 and back["xs"][0] == 1.0 and math.isnan(back["xs"][1])
    assert step_path(StepCache(tmp_path), "a", {"x": 2}) != step_path(StepCache(tmp_path), "a", {"x": 1})
    assert step_path(StepCache(tmp_path, {"t": 1}), "a", {"x": 1}) != path


def test_cli_evaluate_benchmarks_keeps_its_folds_and_a_rerun_reads_them(tmp_path):
    make_synthetic(n_models=5, n_queries=200, n_benchmarks=2, dim=2, feature_dim=6, seed=2).table.to_parquet(
        tmp_path / "t.parquet")
    out = tmp_path / "lobo.json"
    args = ["evaluate-benchmarks", str(tmp_path / "t.parquet"), "-o", str(out), "--encoder", "hashing-32",
            "--model", "model-mean", "--baselines", "knn", "--anchors", "5"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert len(list((tmp_path / "lobo.steps").glob("*.json"))) == 2
    doc = json.loads(out.read_text())
    assert doc["run"]["folds_computed"] == 2 and doc["run"]["folds_from_cache"] == 0
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "2 of 2 folds read from" in " ".join(again.output.split())
    assert _without_run(json.loads(out.read_text())) == _without_run(doc)


def test_data_efficiency_names_the_test_models_a_point_left_out(data):
    from irtnet.data.vocab import Vocab
    from irtnet.reporting.estimation_figures import efficiency_markdown

    class Partial(Flat):  # knows every model but the last, as a small share of sparse data may
        def fit(self, train, val=None):
            self.models_ = Vocab("model", list(train.table.model_vocab.ids)[:-1])
            return self

    curve = data_efficiency_curve(data, {"partial": Partial, "model-mean": ModelMean}, fractions=(1.0,))
    last = list(data.table.model_vocab.ids)[-1]
    points = {p.predictor: p for p in curve.points if p.setting == "text only"}
    assert points["partial"].models_left_out == [last] and points["model-mean"].models_left_out == []
    assert points["partial"].n_test_pairs < points["model-mean"].n_test_pairs
    text = efficiency_markdown(json.loads(json.dumps(curve.to_dict())))
    assert f"partial at 1: {last}." in text and "| test pairs |" in text

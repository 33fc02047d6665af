"""Bug bash 10 of the tasks and their reports: routing rows of `evaluate-estimation` left out without a word, a pool
file's repeated texts planned as two items, repeated Ks of onboarding run twice, and undefined figures of the
report and the terminal printed as "nan", "+nan" or hiding a defined one. Each test failed before its fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from estimate_fixtures import train_tiny_run
from irtnet.errors import ConfigError, DataError

NAN = float("nan")


# --------------------------------------------------------------------- routing with held-out models added
def _draw(rng: np.random.Generator, new_answered: bool = True) -> dict[str, np.ndarray]:
    """One draw's routing inputs (`estimation_routing.routing_rows`): 40 test queries, 2 known and 2 held-out
    models; without `new_answered` the held-out models answered none of the test queries."""
    y = (rng.random((40, 4)) < 0.5).astype(float)
    if not new_answered:
        y[:, 2:] = np.nan
    good = np.where(np.isnan(y), 0.5, 0.2 + 0.6 * np.nan_to_num(y))
    return {"y": y, "irtnet-added": good, "retrain": 1 - good, "new": np.array([False, False, True, True])}


def test_routing_metrics_with_nothing_to_score_are_n_a_rows_with_their_reason_not_left_out():
    """Held-out models without a test answer: AUC and log loss on their pairs raised a DataError that was caught
    and the rows dropped, so the table showed routing alone and never said why."""
    from irtnet.tasks.estimation_routing import routing_rows

    rng = np.random.default_rng(0)
    rows = {r["metric"]: r for r in routing_rows({50: [_draw(rng, False), _draw(rng, False)]}, n_boot=50)}
    assert set(rows) == {"routing", "auc", "log_loss"}
    assert rows["routing"]["verdict"] == "win"  # routing still scores on the known models' labels
    for metric in ("auc", "log_loss"):
        row = rows[metric]
        assert row["verdict"] == "n/a" and row["reason"] == "no labelled held-out models' test pair to score on"
        assert all(math.isnan(row[k]) for k in ("a", "b", "diff", "lo", "hi"))
        assert row["n_draws"] == 2 and row["n_queries"] == 80


def test_a_routing_comparison_that_fails_is_an_error_naming_n_and_the_router():
    """A router whose probabilities are not probabilities (NaN on a labelled pair) had its rows dropped."""
    from irtnet.tasks.estimation_routing import routing_rows

    rng = np.random.default_rng(1)
    draws = [_draw(rng), _draw(rng)]
    draws[1]["retrain"][0, 0] = NAN
    with pytest.raises(DataError, match=r"field 'p_b': routing with the held-out models added, N = 25, "
                                        r"irtnet-added against retrain: probabilities must be finite"):
        routing_rows({25: draws}, n_boot=20)


def test_a_routing_row_keeps_the_reason_of_its_n_a_and_the_reports_show_it():
    """`paired_bootstrap`'s reason for an "n/a" (every held-out label the same: AUC undefined) was not copied into
    the row, so the Markdown and HTML showed a bare "n/a"."""
    from irtnet.reporting import html as H
    from irtnet.reporting.estimation_figures import estimation_markdown
    from irtnet.tasks.estimation_routing import routing_rows

    rng = np.random.default_rng(2)
    draws = [_draw(rng), _draw(rng)]
    for d in draws:
        d["y"][:, 2:] = 1.0
    rows = routing_rows({50: draws}, n_boot=50)
    auc = next(r for r in rows if r["metric"] == "auc")
    assert auc["verdict"] == "n/a" and auc["reason"] == "every labelled test pair has the same label: AUC is undefined"
    doc = {"settings": {"draws": 2, "n_held_out": 2, "level": 0.9}, "summary": [], "paired": [], "routing": rows}
    assert "| n/a (every labelled test pair has the same label: AUC is undefined) |" in estimation_markdown(doc)
    rep = H.Report("r")
    H.estimation_section(rep, {**doc, "summary": [{"method": "irtnet-random", "n": 50, "benchmark": "all",
                                                   "abs_error": 0.1}]})
    assert "<td>n/a (every labelled test pair has the same label: AUC is undefined)</td>" in H.render(rep)


# --------------------------------------------------------------------------- a pool file's repeated texts
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("bugbash10"))


@pytest.mark.parametrize("name, content, where", [
    ("pool.csv", "text,benchmark\nsame question,algebra\nother,biology\nsame question,algebra\n",
     "pool.csv, row 3, field 'text': this text is given twice, in row 1 and here"),
    ("pool.jsonl", '{"question": "same question", "benchmark": "algebra"}\n\n'
                   '{"question": "same question", "benchmark": "biology"}\n',
     "pool.jsonl, line 3, field 'question': this text is given twice, in line 1 and here"),
    ("pool.json", '[{"id": "a", "text": "same question", "benchmark": "algebra"},'
                  ' {"text": "same question", "benchmark": "algebra"}]',
     "pool.json, row 2, field 'text': this text is given twice, in row 1 and here"),
], ids=["csv", "jsonl-two-benchmarks", "json-one-id"])
def test_a_pool_file_refuses_a_repeated_text_naming_both_places_before_encoding(run_dir, tmp_path, monkeypatch,
                                                                                name, content, where):
    """Two rows of one text were two items: both planned (the model asked the same question twice) and both
    counted in the estimate."""
    import irtnet.api.estimate as api

    pool = tmp_path / name
    pool.write_text(content)

    def never(*args, **kw):
        raise AssertionError("the pool's texts were encoded before the pool was checked")

    monkeypatch.setattr(api, "text_queries", never)
    with pytest.raises(DataError, match=where + ": a text is one item"):
        api.plan(run_dir / "model", 2, pool=pool)


def test_two_pool_items_that_share_a_text_each_with_its_own_id_stay_two_items(run_dir, tmp_path):
    """Items that share a text on purpose (each with its id, answered by id) are still taken, as a run's table
    may hold them."""
    from irtnet.api.estimate import open_pool

    pool = tmp_path / "pool.csv"
    pool.write_text("id,text,benchmark\na,same question,algebra\nb,same question,algebra\nc,other,biology\n")
    assert open_pool(run_dir / "model", pool)[1].ids == ["a", "b", "c"]


# ---------------------------------------------------------------------------------- onboarding's repeated Ks
@pytest.fixture(scope="module")
def synth():
    from irtnet.data.synthetic import make_synthetic

    return make_synthetic(n_models=12, n_queries=300, n_benchmarks=2, dim=2, feature_dim=4, seed=1)


def _never(*args, **kw):
    raise AssertionError("trained before the settings were checked")


def test_onboarding_refuses_a_repeated_k_before_training(synth):
    """ks=(10, 10) through the Python API (the CLI refuses it) was run: K = 10 recorded twice in the settings and
    the retrain reference trained and reported twice."""
    from irtnet.data.dataset import Dataset
    from irtnet.tasks.onboard import onboarding_experiment

    data = Dataset.from_table(synth.table, synth.features)
    with pytest.raises(ConfigError, match="--ks: 10 given twice; name each K once"):
        onboarding_experiment(data, _never, 2, ks=(10, 25, 10), strategies=("random",), n_random=1, retrain=_never)


def test_evaluate_onboarding_of_the_tasks_refuses_a_repeated_k(synth):
    from irtnet.data.dataset import Dataset
    from irtnet.tasks.onboard import evaluate_onboarding

    data = Dataset.from_table(synth.table, synth.features)
    models, ids = synth.table.model_vocab.ids, synth.table.query_vocab.ids
    pool, test = data.select(ids[:200], models[8:]), data.select(ids[200:], models[8:])
    with pytest.raises(ConfigError, match="--ks: 10 given twice"):
        evaluate_onboarding(None, pool, test, ks=(10, 10), strategies=("random",), n_random=1)


def test_the_api_refuses_a_repeated_k(synth, tmp_path, monkeypatch):
    import irtnet.api.experiments as experiments
    from irtnet.api import ModelSpec

    synth.table.to_parquet(tmp_path / "t.parquet")
    monkeypatch.setattr(experiments, "factory", lambda spec: _never)
    with pytest.raises(ConfigError, match="--ks: 10 given twice"):
        experiments.evaluate_onboarding(tmp_path / "t.parquet", ModelSpec(model="irtnet"), "hashing-64", ks=[10, 10],
                                        n_test=2, strategies=["random"], n_random=1)


# ---------------------------------------------------------------------------------------------- the report
def _estimation_doc(draws: int, held_out: int) -> dict:
    return {"settings": {"draws": draws, "n_held_out": held_out, "level": 0.9, "table": "t.parquet"},
            "summary": [{"method": "irtnet-random", "n": 10, "benchmark": "all", "abs_error": 0.1}],
            "paired": [], "routing": []}


@pytest.mark.parametrize("draws, held_out, text", [
    (1, 1, "1 draw, 1 held-out model each, table t.parquet"),
    (3, 5, "3 draws, 5 held-out models each, table t.parquet"),
    (None, None, "? draws, ? held-out models each"),
])
def test_the_estimation_section_counts_draws_and_models_in_words(draws, held_out, text):
    """It said "1 draw(s) of 1 held-out models"."""
    from irtnet.reporting import html as H

    rep = H.Report("r")
    H.estimation_section(rep, _estimation_doc(draws, held_out))
    assert rep.sections[0].paragraphs[0].startswith(text) and "(s)" not in rep.sections[0].paragraphs[0]


def _cost_doc(first_accuracy: float = NAN, area: float = NAN) -> dict:
    """A cost-routing result as read back from a file whose nulls are NaN: a curve and a single model whose
    first accuracy is undefined."""
    return {"settings": {"cost_source": "t"}, "best_single": "a", "single_area": NAN,
            "single_models": {"a": {"cost": 1.0, "accuracy": NAN}, "b": {"cost": 2.0, "accuracy": 0.4}},
            "oracle": {"cost": 1.0, "accuracy": 0.9}, "cost_range": [1.0, 2.0],
            "curves": [{"router": "r", "kind": "lambda", "area": area, "match_cost": None,
                        "points": [{"cost": 1.0, "accuracy": first_accuracy}, {"cost": 2.0, "accuracy": 0.7}]}]}


def test_the_cost_section_takes_the_best_defined_accuracy_not_a_nan_that_comes_first():
    """max() over [nan, 0.7] is nan (Python keeps the first where nothing compares greater): the best accuracy of
    a curve or of the single models was "-" although one was defined."""
    from irtnet.reporting import html as H

    rep = H.Report("r")
    H.cost_section(rep, _cost_doc())
    rows = rep.sections[0].tables[0].rows
    assert rows[0][2] == 0.7 and rows[1][2] == 0.4
    assert math.isnan(H.defined_max([NAN, None])) and H.defined_max([0.2, NAN, 0.5]) == 0.5


def test_the_cost_figure_says_n_a_for_an_undefined_area_and_keeps_a_finite_axis():
    """The legend read "area nan", and an undefined cheapest cost gave the symlog axis a NaN linear range."""
    from irtnet.reporting.figures import cost_curves, png_bytes

    doc = _cost_doc(0.5)
    doc["cost_range"] = [NAN, 2.0]
    fig = cost_curves(doc)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][0] == "r, lambda (area n/a)"
    assert fig.axes[0].xaxis.get_transform().linthresh == 1e-9
    assert png_bytes(fig)[:4] == b"\x89PNG"
    doc["curves"][0]["area"] = 0.25
    assert "r, lambda (area 0.250)" in [t.get_text() for t in cost_curves(doc).axes[0].get_legend().get_texts()]


# -------------------------------------------------------------------------------------------- the terminal
def _printed(renderable) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_an_undefined_paired_difference_prints_n_a_not_plus_nan():
    from irtnet.reporting.console import paired_table

    rows = [{"n": 0, "a": "irtnet", "b": "knn", "diff": NAN, "lo": NAN, "hi": NAN, "verdict": "n/a",
             "reason": "one model"},
            {"n": 5, "a": "irtnet", "b": "mean", "diff": -0.02, "lo": -0.05, "hi": NAN, "verdict": "n/a"},
            {"n": 10, "a": "irtnet", "b": "mean", "diff": -0.02, "lo": -0.05, "hi": 0.01, "verdict": "tie"}]
    text = _printed(paired_table(rows))
    assert "nan" not in text.lower()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert any("0 │ knn │ n/a │ n/a │ n/a (one model)" in line for line in lines), text
    assert any("5 │ mean │ -0.020 │ n/a │ n/a" in line for line in lines), text
    assert any("10 │ mean │ -0.020 │ [-0.050, +0.010] │ tie" in line for line in lines), text


def test_cost_lines_take_the_best_defined_point():
    from irtnet.reporting.console import cost_lines

    doc = _cost_doc(NAN, 0.3)
    doc["single_models"]["a"]["accuracy"] = 0.6
    assert "best accuracy 0.7000 at cost 2" in cost_lines(doc)[1]
    for p in doc["curves"][0]["points"]:
        p["accuracy"] = NAN
    assert "best accuracy n/a;" in cost_lines(doc)[1]


def test_the_api_refuses_a_repeated_k_before_the_table_is_read(tmp_path):
    """`api.evaluate_onboarding(ks=(10, 10))` read and encoded the table before the task refused the repeat."""
    from irtnet.api.experiments import evaluate_onboarding
    from irtnet.predictors.spec import ModelSpec

    missing = tmp_path / "no-such-table.parquet"  # never read: the repeat is refused first
    with pytest.raises(ConfigError, match=r"^--ks: 10 given twice"):
        evaluate_onboarding(missing, ModelSpec(model="irtnet", preset="small"), "hashing-32", ks=(10, 10))


def test_cost_lines_say_an_undefined_accuracy_without_nan():
    """The first line of `cost_lines` printed "test accuracy nan" for a best single model without one."""
    from irtnet.reporting.console import cost_lines

    nan = float("nan")
    result = {"best_single": "m1", "single_models": {"m1": {"accuracy": nan, "cost": 0.5}},
              "oracle": {"accuracy": nan, "cost": 0.1}, "single_area": nan, "curves": []}
    line = cost_lines(result)[0]
    assert "nan" not in line and "test accuracy -" in line, line

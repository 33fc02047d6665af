"""Bug bash 9 of estimation (`irtnet estimate`, `evaluate-estimation`, `data-efficiency`): each test failed before
its fix."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from estimate_fixtures import train_tiny_run
from irtnet.errors import ConfigError, DataError

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("bugbash9"))


def _invoke(*args, **kw):
    from irtnet.cli.main import app

    return runner.invoke(app, [str(a) for a in args], **kw)


def _plan_answers(run_dir, tmp_path, n: int, name: str = "answers.jsonl"):
    """The run's first n planned items answered 1, 0, 1, ... (a plan's own lines with `correct` added)."""
    from irtnet.api import plan

    items = plan(run_dir, n)
    path = tmp_path / name
    path.write_text("".join(json.dumps({**i.to_dict(), "correct": k % 2}) + "\n" for k, i in enumerate(items)))
    return path


# ------------------------------------------------------------------------------------------ the printed table
def test_one_answer_is_not_pluralised_and_a_level_is_not_rounded_to_100_percent(run_dir, tmp_path):
    """One answer printed "from 1 answers"; --level 0.995 printed a "100% interval" (and 0.999 too): the level
    was rounded to a whole percent."""
    answers = _plan_answers(run_dir, tmp_path, 1)
    result = _invoke("estimate", run_dir, "--answers", answers, "--level", 0.995)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "Estimated accuracy from 1 answer (" in printed
    assert "99.5% interval" in printed and "100% interval" not in printed
    result = _invoke("estimate", run_dir, "--answers", _plan_answers(run_dir, tmp_path, 2, "two.jsonl"))
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "Estimated accuracy from 2 answers (" in printed and "90% interval" in printed


# -------------------------------------------------------------------------------------- interactive Ctrl-C
def test_ctrl_c_while_a_round_is_estimated_keeps_the_last_complete_rounds_estimate(run_dir, tmp_path, monkeypatch):
    """Ctrl-C after a round's answers were typed, while its estimate was computed (seconds), went past the
    rounds' handler: the generic "interrupted" line, exit 130, and the estimate of the round before, complete and
    printed, was not written to --json, against docs/estimation.md ("Ctrl-C (exit 130) mid-round keeps the last
    complete round's estimate (written to --json)")."""
    import irtnet.api.estimate as api

    real, calls = api._estimate, []

    def interrupted_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(api, "_estimate", interrupted_second)
    out = tmp_path / "e.json"
    result = _invoke("estimate", run_dir, "--interactive", "--rounds", 3, "--per-round", 2, "--json", out,
                     input="y\nn\ny\ny\n")
    assert result.exit_code == 130, result.output
    printed = " ".join(result.output.split())
    assert "interrupted after round 1 of 3: 2 answer(s) typed in round 2 discarded" in printed
    assert json.loads(out.read_text())["n_answers"] == 2 and json.loads(out.read_text())["settings"]["round"] == 1


def test_ctrl_c_before_any_round_is_complete_writes_nothing(run_dir, tmp_path, monkeypatch):
    import irtnet.api.estimate as api

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "_estimate", interrupted)
    out = tmp_path / "e.json"
    result = _invoke("estimate", run_dir, "--interactive", "--rounds", 2, "--per-round", 2, "--json", out,
                     input="y\nn\n")
    assert result.exit_code == 130, result.output
    printed = " ".join(result.output.split())
    assert "no round was complete, so there is no estimate" in printed and not out.exists()


# -------------------------------------------------------------------------------------- the prior's strength
def test_a_given_prior_strength_with_a_pool_file_is_not_called_the_default(run_dir, tmp_path):
    """With a pool file (no known models' labels), --prior-strength 0.5 was printed "at strength 0.5 (default)"."""
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": f"p{i}", "text": f"algebra question: factor {i} solve",
                                        "benchmark": "algebra"}) + "\n" for i in range(8)))
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"query": "p0", "correct": 1}\n{"query": "p1", "correct": 0}\n')
    result = _invoke("estimate", run_dir / "model", "--pool", pool, "--answers", answers, "--prior-strength", 0.5)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "at strength 0.5 (given)" in printed and "(default)" not in printed


def test_prior_strength_auto_with_a_pool_file_is_refused_not_read_as_1(run_dir, tmp_path):
    """`auto` chooses the strength on the known models' answers; a pool file has none, and the estimate ran at
    strength 1, printed as "(default)", as if auto had not been asked."""
    from irtnet.api import estimate_model

    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"text": f"algebra question: factor {i} solve", "benchmark": "algebra"})
                            + "\n" for i in range(8)))
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"query": "pool-1", "correct": 1}\n')
    result = _invoke("estimate", run_dir / "model", "--pool", pool, "--answers", answers, "--prior-strength", "auto")
    assert result.exit_code == 2, result.output
    printed = " ".join(result.output.split())
    assert "--prior-strength auto" in printed and "pool" in printed and "Traceback" not in printed
    with pytest.raises(ConfigError, match="auto"):
        estimate_model(run_dir / "model", answers, pool=pool, prior_strength="auto")


def test_prior_strength_auto_with_too_few_known_models_is_refused_not_read_as_1():
    """With fewer than 4 known models `refit_for_new_models` cannot choose the strength and keeps 1; `irtnet
    estimate --prior-strength auto` then estimated at 1 without a word."""
    from irtnet.api.estimate import _refit
    from irtnet.api.estimate_inputs import ItemPool

    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 0.3, (40, 2)), rng.normal(0, 1, 40)
    theta = rng.normal(0, 1, (3, 2))
    known = (rng.random((40, 3)) < 0.5).astype(float)
    pool = ItemPool([f"q{i}" for i in range(40)], np.array(["x"] * 40, dtype=object), [None] * 40, a, b, known, "t")
    predictor = SimpleNamespace(abilities_=theta, item_seen=False)
    assert _refit(predictor, pool, 1.0, 0).record["prior_strength"] == 1.0  # a given strength runs as before
    with pytest.raises(ConfigError, match="at least 4"):
        _refit(predictor, pool, None, 0, (10,))


# ------------------------------------------------------------------------------------------------ baselines
@pytest.mark.parametrize("level", [0.9, 0.5, 0.99])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
def test_wilsons_interval_of_all_correct_answers_holds_their_mean(n, level):
    """All n answers right: Wilson's upper bound is 1 exactly, but at n = 1, level 0.9 it came out as
    0.9999999999999999, so the mean-random / mean-stratified interval left out its own estimate, 1.0 (and a
    benchmark answered in full, whose truth is that 1.0, counted as not covered)."""
    from irtnet.tasks.estimation_baselines import mean_estimate, wilson_interval

    assert wilson_interval(n, n, level)[1] == 1.0 and wilson_interval(0, n, level)[0] == 0.0
    (row,) = mean_estimate(np.arange(n), np.ones(n), ["x"] * n, level=level)
    assert row.lower <= row.estimate == 1.0 <= row.upper


# ---------------------------------------------------------------------------------------------- data efficiency
@pytest.fixture(scope="module")
def small_data():
    from irtnet.api.data import prepare
    from irtnet.data.synthetic import make_synthetic

    return prepare(make_synthetic(n_models=4, n_queries=60, n_benchmarks=2, dim=2, feature_dim=8, seed=0).table,
                   "hashing-64")


def _never(*_args, **_kw):
    raise AssertionError("trained before the shares were checked")


@pytest.mark.parametrize("fractions, message", [
    ((0.005, 0.5, 1.0), "0.005 of the 48 training queries"),       # 0.24 queries: was trained on 1, shown at 0.005
    ((0.01, 0.5, 1.0), "0.01 of the 48 training queries"),         # 0.48: rounded to none, trained on 1
    ((0.02, 0.03, 1.0), "0.02 and 0.03 both train on 1"),          # one training set, two points
    ((0.5, 0.51, 1.0), "0.5 and 0.51 both train on 24"),
])
def test_shares_that_give_no_query_or_the_same_queries_are_refused_before_training(small_data, fractions, message):
    """A share below one training query was trained on 1 query and plotted at the share asked; two shares that
    round to the same number of queries trained the same set twice, shown as two points of the curve."""
    from irtnet.tasks.data_efficiency import data_efficiency_curve

    with pytest.raises(DataError, match=message):
        data_efficiency_curve(small_data, {"never": _never}, fractions=fractions)


# --------------------------------------------------------------------------------------------- the summary
def test_the_summary_counts_one_draw_and_one_held_out_model_in_the_singular():
    """A table of 3 models holds out 1 per draw: the summary said "1 draw(s), 1 held-out models each"."""
    from irtnet.reporting.estimation_figures import estimation_markdown

    doc = {"settings": {"draws": 1, "n_held_out": 1, "level": 0.9, "table": "t.parquet"}, "summary": [], "paired": []}
    assert "1 draw, 1 held-out model each, table `t.parquet`" in estimation_markdown(doc)
    doc["settings"].update(draws=3, n_held_out=2)
    assert "3 draws, 2 held-out models each" in estimation_markdown(doc)


def test_ctrl_c_while_an_item_is_shown_counts_the_answers_typed_before_it(monkeypatch):
    """Ctrl-C while the next item's text was printed (not at the prompt) left `ask_terminal` as a bare
    KeyboardInterrupt, without the round's typed answers counted."""
    from irtnet.api.estimate_inputs import PoolItem
    from irtnet.cli import estimate as cli

    shown = []

    def show(*args, **kw):
        shown.append(args)
        if len(shown) == 3:  # the second item's header
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.console, "print", show)
    monkeypatch.setattr("builtins.input", lambda: "y")
    with pytest.raises(cli.InputEnded) as ended:
        cli.ask_terminal([PoolItem("q1", "algebra", "a"), PoolItem("q2", "algebra", "b")])
    assert ended.value.interrupted and ended.value.typed == 1


# ---------------------------------------------------------------------------------------- evaluate-estimation
def test_an_n_skipped_for_too_few_answers_is_said_again_when_the_draw_is_read_from_the_cache(small_data, tmp_path):
    """N = 500, above every held-out model's pool answers, was said skipped when the draw was computed, but a rerun
    that read the draw from the cache said nothing: the result holds N = 10 only, without a word about N = 500."""
    from irtnet.api.experiments import factory
    from irtnet.predictors.spec import ModelSpec
    from irtnet.tasks.estimation_draws import DrawCache
    from irtnet.tasks.estimation_protocol import evaluate_estimation

    make = factory(ModelSpec(preset="small", params={"train": {"epochs": 1, "progress": False}}))
    cache = DrawCache(tmp_path / "e.draws", {"model": "small"})
    for run in range(2):
        said: list[str] = []
        result = evaluate_estimation(small_data, make, ns=(10, 500), draws=1, methods=["mean-random"], n_draws=50,
                                     n_boot=20, cache=cache, progress=said.append)
        assert {c.n for c in result.cells} == {10} and result.run["draws_from_cache"] == run
        assert sum("skipped N = 500" in m for m in said) == 1, said  # the one held-out model of 4

"""Bug bash of `irtnet estimate` and `irtnet evaluate-estimation`: each test failed before its fix."""

from __future__ import annotations


import numpy as np
import pytest
from typer.testing import CliRunner

from estimate_fixtures import train_tiny_run
from irtnet.errors import ConfigError, DataError
from irtnet.tasks.estimate import OVERALL, estimate_accuracy
from irtnet.tasks.onboard import Prior

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("bugbash5"))


def _invoke(*args, **kw):
    from irtnet.cli.main import app

    return runner.invoke(app, [str(a) for a in args], **kw)


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


# ------------------------------------------------------------------------ the interval holds the estimate
def test_the_interval_holds_the_estimate_when_few_items_are_unanswered():
    """One unanswered item with P(correct) near 1: the draws' 5% quantile is already 1.0, and the estimate, an
    expectation (0.9985), was left outside its own interval (1.000 - 1.000), on the benchmark's row and the
    overall one, in the plain and in the drawn corrected estimates."""
    a, b = np.ones((40, 1)), np.r_[np.zeros(19), -4.0, np.zeros(20)]
    groups = ["x"] * 20 + ["y"] * 20
    answered = [*range(19), *range(20, 39)]
    y = np.ones(len(answered))
    prior = Prior(np.zeros(1), np.eye(1))
    known = (np.random.default_rng(0).random((40, 8)) < 0.6).astype(float)
    for kw in ({}, {"known_labels": known, "misfit_method": "in-sample"}):
        rows = estimate_accuracy(a, b, groups, answered, y, prior, n_draws=2000, seed=0, overall=True, **kw)
        assert [r.benchmark for r in rows] == ["x", "y", OVERALL]
        for r in rows:
            assert r.lower <= r.estimate <= r.upper, (kw.keys(), r)
            assert 0.9 < r.lower  # the point held, not the interval stretched to anything


# ------------------------------------------------------------------------------------- answers files
def test_a_new_text_answered_under_two_benchmarks_is_refused_not_counted_twice(run_dir, tmp_path):
    """A text not in the pool joins it as one item; given under two benchmarks it joined twice, one item of each,
    and the file's two answers were estimated as two items."""
    from irtnet.api import estimate_model

    path = tmp_path / "answers.jsonl"
    path.write_text('{"text": "a brand new question", "benchmark": "algebra", "correct": 1}\n\n'
                    '{"text": "a brand new question", "benchmark": "biology", "correct": 1}\n')
    with pytest.raises(DataError, match=r"answers.jsonl, line 3, field 'benchmark': this text was given in line 1 "
                                        r"as an item of benchmark 'algebra', and here as one of 'biology'"):
        estimate_model(run_dir, path)
    assert "line 3, field 'benchmark'" in _one_line(_invoke("estimate", run_dir, "--answers", path))
    path.write_text('{"text": "a brand new question", "benchmark": "algebra", "correct": 1}\n'
                    '{"text": "a brand new question", "benchmark": "algebra", "correct": 1}\n')
    result = estimate_model(run_dir, path)  # the same item repeated with its label: one answer, one new item
    assert result.n_answers == 1 and result.overall.n_items == 301


def test_an_answers_row_whose_text_is_not_a_string_is_refused_not_ignored(run_dir, tmp_path):
    """Beside an id, a text that is not a string was dropped unseen (a row's text must be its item's own); alone,
    it was reported as a row giving no item at all."""
    from irtnet.api import estimate_model

    path = tmp_path / "answers.jsonl"
    for line in ('{"query": "q000001", "text": 5, "correct": 1}',
                 '{"text": ["a"], "benchmark": "algebra", "correct": 1}'):
        path.write_text(line + "\n")
        with pytest.raises(DataError, match=r"answers.jsonl, line 1, field 'text': .* is not a text"):
            estimate_model(run_dir, path)
    path.write_text('{"query": "q000001", "text": null, "benchmark": null, "correct": 1}\n')  # null: not given
    assert estimate_model(run_dir, path).n_answers == 1


@pytest.mark.parametrize("reserved", [OVERALL, "all"])  # "all": the routing profile's last row
def test_a_pool_file_benchmark_named_as_the_overall_row_is_refused_naming_its_row(run_dir, tmp_path, reserved):
    """It was planned from, then refused by the estimate with a message that named neither the file nor the row."""
    import re

    from irtnet.api import plan

    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"text": "algebra question: solve x", "benchmark": "algebra"}\n'
                    f'{{"text": "biology question: cell", "benchmark": "{reserved}"}}\n')
    message = (rf"pool.jsonl, line 2, field 'benchmark': {re.escape(repr(reserved))} is the name of a row over every "
               "benchmark")
    with pytest.raises(DataError, match=message):
        plan(run_dir / "model", 1, pool=pool)
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"id": "pool-1", "correct": 1}\n')
    assert "pool.jsonl, line 2, field 'benchmark'" in _one_line(
        _invoke("estimate", run_dir / "model", "--pool", pool, "--answers", answers))


# ------------------------------------------------------------------------------------ what is printed
def test_items_and_names_with_brackets_are_shown_as_they_are_not_read_as_markup(run_dir, tmp_path):
    """A prompt with "[/INST]" stopped `--plan` and `--interactive` with a Rich MarkupError traceback, and "[i]"
    in a text or an id vanished from the printed table."""
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "q[/]", "text": "[INST] algebra question: solve x [/INST]", "benchmark": "algebra"}\n'
                    '{"id": "q[i]", "text": "biology question: arr[i] cell", "benchmark": "biology"}\n')
    result = _invoke("estimate", run_dir / "model", "--pool", pool, "--plan", 2, "-o", tmp_path / "plan.jsonl")
    assert result.exit_code == 0, result.output
    for shown in ("[INST] algebra question: solve x [/INST]", "arr[i] cell", "q[/]", "q[i]"):
        assert shown in result.output
    assert len((tmp_path / "plan.jsonl").read_text().splitlines()) == 2
    result = _invoke("estimate", run_dir / "model", "--pool", pool, "--interactive", "--rounds", 1, "--per-round", 2,
                     input="y\nn\n")
    assert result.exit_code == 0, result.output
    assert "q[/]" in result.output and "q[i]" in result.output and "Estimated accuracy from 2 answers" in " ".join(
        result.output.split())


# ------------------------------------------------------------------------------------ evaluate-estimation
@pytest.mark.parametrize("kw, message", [
    ({"level": 1.5}, "level must lie strictly between 0 and 1"),
    ({"replay_weight": "pooledd"}, "unknown replay_weight 'pooledd'"),
    ({"replay_folds": 1}, "replay folds must be 0"),
    ({"ns": [10, 0]}, "numbers of answers must be at least 1"),
    ({"held_out_share": 1.0}, "held_out_share must lie strictly between 0 and 1"),
    ({"methods": ["mean-random", "nope"]}, "unknown estimation method 'nope'"),
    ({"methods": ["mean-random", "anchor", "mean-random"]}, "methods: 'mean-random' is given twice"),
    ({"ns": [10, 25, 10]}, "ns: 10 is given twice"),
    ({"routing_ns": [0]}, "routing_ns: numbers of answers must be given and at least 1"),
])
def test_evaluate_estimation_refuses_bad_settings_before_reading_the_table(monkeypatch, tmp_path, kw, message):
    """They were checked by the protocol, after the whole table was read and embedded (minutes with a sentence
    encoder); a method or an N given twice was scored twice, its cells doubled in the summary."""
    import irtnet.api.estimation as api
    from irtnet.predictors.spec import ModelSpec

    def never(*_args, **_kw):
        raise AssertionError("the table was read before the settings were checked")

    monkeypatch.setattr(api, "prepared", never)
    with pytest.raises(ConfigError, match=message):
        api.evaluate_estimation(tmp_path / "missing.parquet", ModelSpec(model="irtnet"), "hashing-64", **kw)


def test_the_protocol_refuses_a_method_or_n_given_twice():
    from irtnet.tasks.estimation_protocol import evaluate_estimation

    for kw, message in [({"methods": ["irtnet-random", "irtnet-random"]}, "methods: 'irtnet-random' is given twice"),
                        ({"ns": (10, 10)}, "ns: 10 is given twice")]:
        with pytest.raises(ConfigError, match=message):
            evaluate_estimation(None, lambda: None, **kw)

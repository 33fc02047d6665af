"""`irtnet estimate`: per-benchmark accuracy of a new model from few answers, its interval, the answers a target
width needs, the plans of items to run, and the command line on a tiny run."""

from __future__ import annotations

import json
import re
from itertools import islice

import numpy as np
import pytest
from typer.testing import CliRunner

from estimate_fixtures import planted_misfit, train_tiny_run
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.numeric import irt_probability
from irtnet.tasks.estimate import OVERALL, benchmark_misfit, estimate_accuracy, laplace_posterior
from irtnet.tasks.estimate_replay import _replayed
from irtnet.tasks.estimate_plan import answers_for_width, greedy_picks, equal_quotas, plan_items, proportional_quotas, routing_profile
from irtnet.tasks.onboard import Prior, population_prior, suggest_queries

runner = CliRunner()
KNOWN = 30  # models 0..29 are known; 30..39 play new models


@pytest.fixture(scope="module")
def synth():
    s = make_synthetic(n_models=40, n_queries=600, n_benchmarks=4, dim=3, feature_dim=8, seed=1)
    return s, s.table.queries["benchmark"].to_numpy(dtype=object), population_prior(s.theta[:KNOWN])


def _answers(s, m, seed, n=100):
    """A realised 0/1 outcome of model m on every item, and n random items answered."""
    rng = np.random.default_rng(seed)
    y_all = (rng.random(len(s.b)) < s.prob[:, m]).astype(float)
    return y_all, rng.choice(len(s.b), n, replace=False)


def test_estimates_from_100_answers_recover_the_true_accuracies_and_the_interval_covers(synth):
    s, groups, prior = synth
    covered, error, prior_error = [], [], []
    p_prior = irt_probability(prior.mean, s.a, s.b)
    for rep in range(100):
        m = KNOWN + rep % 10
        y_all, asked = _answers(s, m, rep)
        for e in estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=400, seed=rep):
            truth = y_all[groups == e.benchmark].mean()  # the realised accuracy over every item
            covered.append(e.lower <= truth <= e.upper)
            error.append(abs(e.estimate - truth))
            prior_error.append(abs(p_prior[groups == e.benchmark].mean() - truth))
            assert e.lower <= e.estimate <= e.upper and e.n_items == (groups == e.benchmark).sum()
    assert 0.80 <= np.mean(covered) <= 0.98
    assert np.mean(error) < 0.05  # measured 0.035
    assert np.mean(prior_error) > 2 * 0.05  # ignoring the answers (the prior mean) fails it: measured 0.25


def test_every_item_answered_gives_the_observed_accuracy_exactly(synth):
    s, groups, prior = synth
    y_all, _ = _answers(s, KNOWN, 0)
    out = estimate_accuracy(s.a, s.b, groups, np.arange(len(s.b)), y_all, prior, n_draws=50)
    for e in out:
        truth = y_all[groups == e.benchmark].mean()
        assert e.estimate == pytest.approx(truth) and e.lower == pytest.approx(truth) == e.upper
        assert e.n_answered == e.n_items


def test_the_interval_is_pinned_under_a_seed_and_narrows_with_more_answers(synth):
    s, groups, prior = synth
    y_all, _ = _answers(s, KNOWN + 1, 3)
    order = np.random.default_rng(0).permutation(len(s.b))
    width = [np.mean([e.width for e in estimate_accuracy(s.a, s.b, groups, order[:k], y_all[order[:k]], prior,
                                                         n_draws=300)]) for k in (10, 100, 400)]
    assert width[0] > width[1] > width[2]
    again = [estimate_accuracy(s.a, s.b, groups, order[:50], y_all[order[:50]], prior, n_draws=300, seed=7)
             for _ in range(2)]
    assert again[0] == again[1]


def test_laplace_covariance_is_the_inverse_hessian(synth):
    s, _, prior = synth
    y_all, asked = _answers(s, KNOWN, 1)
    theta, cov = laplace_posterior(s.a, s.b, asked, y_all[asked], prior)
    p = irt_probability(theta, s.a[asked], s.b[asked])
    hess = (s.a[asked] * (p * (1 - p))[:, None]).T @ s.a[asked] + prior.precision
    np.testing.assert_allclose(cov @ hess, np.eye(3), atol=1e-8)


def test_answers_for_width_falls_as_the_target_widens(synth):
    s, groups, prior = synth
    y_all, asked = _answers(s, KNOWN + 2, 0)
    current = estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=300)
    needs = [answers_for_width(s.a, s.b, groups, asked, y_all[asked], prior, w, current=current)
             for w in (0.03, 0.06, 0.12, 0.5)]
    big = len(s.b) + 1
    for bench in needs[0]:
        ks = [big if n[bench] is None else n[bench] for n in needs]
        assert ks == sorted(ks, reverse=True)
    assert any(k > 0 for k in needs[0].values() if k is not None)
    assert all(k == 0 for k in needs[-1].values())  # already narrower than 0.5
    assert all(k is None for k in answers_for_width(s.a, s.b, groups, asked, y_all[asked], prior, 0.001,
                                                    max_k=5).values())


def test_answers_for_width_gives_the_overall_row_its_own_count(synth):
    s, groups, prior = synth
    y_all, asked = _answers(s, KNOWN + 2, 0)
    *per, overall = estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=300, overall=True)
    assert overall.benchmark == OVERALL
    widths = (overall.width * 0.5, overall.width * 0.8, overall.width * 1.01)
    needs = [answers_for_width(s.a, s.b, groups, asked, y_all[asked], prior, w, current=[*per, overall],
                               overall=True) for w in widths]
    assert all(set(n) == set(np.unique(groups)) | {OVERALL} for n in needs)
    ks = [len(s.b) + 1 if n[OVERALL] is None else n[OVERALL] for n in needs]
    assert ks[0] >= ks[1] > 0 and ks[2] == 0  # the shown interval is already narrower than the last target
    plain = answers_for_width(s.a, s.b, groups, asked, y_all[asked], prior, widths[1], current=per)
    assert {g: k for g, k in needs[1].items() if g != OVERALL} == plain  # the benchmarks' counts are unchanged


def test_answering_the_counted_items_narrows_the_overall_interval_to_about_the_target(synth):
    s, groups, prior = synth
    y_all, asked = _answers(s, KNOWN + 4, 3)
    *per, overall = estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=400, overall=True)
    target = 0.7 * overall.width
    k = answers_for_width(s.a, s.b, groups, asked, y_all[asked], prior, target, current=[*per, overall],
                          overall=True)[OVERALL]
    assert k is not None and k > 0
    free = np.ones(len(s.b), bool)
    free[asked] = False
    theta, cov = laplace_posterior(s.a, s.b, asked, y_all[asked], prior)
    more = [i for i, _ in islice(greedy_picks(s.a, s.b, theta, cov, free), k)]
    now = np.concatenate([asked, more])  # the k items it counted, answered
    *_, after = estimate_accuracy(s.a, s.b, groups, now, y_all[now], prior, n_draws=400, overall=True)
    assert after.width <= 1.15 * target < overall.width  # projected, so about the target, not exactly


def test_greedy_picks_follow_suggest_queries(synth):
    s, _, prior = synth
    lazy = greedy_picks(s.a, s.b, prior.mean, np.linalg.inv(prior.precision), np.ones(len(s.b), bool))
    picks = [i for i, _ in zip((i for i, _ in lazy), range(8))]
    assert picks == suggest_queries(s.a, s.b, prior.mean, prior, s.a[:0], s.b[:0], 8)


@pytest.mark.parametrize("strategy", ["adaptive", "balanced", "anchor"])
def test_plans_give_n_distinct_items(synth, strategy):
    s, groups, prior = synth
    known = (np.random.default_rng(0).random(s.prob[:, :KNOWN].shape) < s.prob[:, :KNOWN]).astype(float)
    picks = plan_items(s.a, s.b, groups, 42, strategy, prior, seed=0, known_labels=known)
    assert len(picks) == 42 == len(set(picks)) and all(0 <= i < len(s.b) for i in picks)
    names, counts = np.unique(groups[picks], return_counts=True)
    sizes = np.array([(groups == g).sum() for g in names])
    if strategy == "balanced":
        assert counts.max() - counts.min() <= 1 and len(names) == 4
        assert max(np.unique(groups[picks[:8]], return_counts=True)[1]) == 2  # any prefix stays balanced
    if strategy == "anchor":
        np.testing.assert_array_equal(counts, proportional_quotas(sizes, 42))
    if strategy == "adaptive":
        assert picks == suggest_queries(s.a, s.b, prior.mean, prior, s.a[:0], s.b[:0], 42)


def test_quotas():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(equal_quotas(np.array([2, 50, 50]), 20, rng), [2, 9, 9])
    assert sorted(equal_quotas(np.array([10, 10, 10]), 4, rng)) == [1, 1, 2]
    np.testing.assert_array_equal(proportional_quotas(np.array([100, 300, 600]), 10), [1, 3, 6])
    assert proportional_quotas(np.array([5, 5, 5]), 4).sum() == 4


def test_plan_errors(synth):
    s, groups, prior = synth
    with pytest.raises(ConfigError, match="anchor strategy needs the known models' labels"):
        plan_items(s.a, s.b, groups, 10, "anchor", prior)
    with pytest.raises(ConfigError, match="unknown plan strategy 'greedy'"):
        plan_items(s.a, s.b, groups, 10, "greedy", prior)
    with pytest.raises(ConfigError, match="cannot plan 601 items from a pool of 600"):
        plan_items(s.a, s.b, groups, 601, "adaptive", prior)
    with pytest.raises(DataError, match="known labels have shape"):
        plan_items(s.a, s.b, groups, 10, "anchor", prior, known_labels=np.zeros((3, 2)))


# ------------------------------------------------------------------------------------ misfit correction
@pytest.fixture(scope="module")
def misfit_case(synth):
    """Planted misfit (`estimate_fixtures.planted_misfit`): labels from the true a, b; the estimator is given a, b
    moved per benchmark, as a frozen network that does not fit some benchmarks."""
    s, groups, _ = synth
    return planted_misfit(s, groups, KNOWN, 0.6, 5)


def _scores(s, groups, a, b, prior, n, reps, **kw):
    covered, error = [], []
    for rep in range(reps):
        y_all, asked = _answers(s, KNOWN + rep % 10, rep, n)
        for e in estimate_accuracy(a, b, groups, asked, y_all[asked], prior, n_draws=400, seed=rep, **kw):
            truth = y_all[groups == e.benchmark].mean()
            covered.append(e.lower <= truth <= e.upper)
            error.append(abs(e.estimate - truth))
    return np.mean(covered), np.mean(error)


@pytest.mark.parametrize("method", ["replay", "in-sample", "split-half"])
def test_planted_misfit_the_corrected_intervals_cover_where_the_plain_ones_do_not(synth, misfit_case, method):
    s, groups, _ = synth
    a_est, b_est, known, theta, prior = misfit_case
    plain = _scores(s, groups, a_est, b_est, prior, 100, 60)
    fixed = _scores(s, groups, a_est, b_est, prior, 100, 60, known_labels=known, known_theta=theta,
                    misfit_method=method)
    assert plain[0] < 0.82  # measured 0.78: the misfit is outside the plain interval
    assert 0.84 <= fixed[0] <= 0.97  # measured 0.87 (replay), 0.89 (in-sample, split-half)
    assert fixed[1] < plain[1] - 0.008  # measured 0.046 against 0.061
    # the true a, b keep their coverage and accuracy with the correction on (misfit then only widens a little)
    s_known = (np.random.default_rng(3).random(s.prob[:, :KNOWN].shape) < s.prob[:, :KNOWN]).astype(float)
    true = _scores(s, groups, s.a, s.b, population_prior(s.theta[:KNOWN]), 100, 40, known_labels=s_known,
                   known_theta=s.theta[:KNOWN])
    assert 0.85 <= true[0] <= 0.99 and true[1] < 0.045


def test_misfit_is_measured_on_the_known_models(synth, misfit_case):
    s, groups, _ = synth
    a_est, b_est, known, theta, prior = misfit_case
    wrong = benchmark_misfit(a_est, b_est, groups, known, theta)
    right = benchmark_misfit(s.a, s.b, groups, known, s.theta[:KNOWN])
    assert set(wrong) == set(right) == set(groups.tolist())
    assert max(wrong.values()) > 5 * max(right.values())
    assert all(v >= 1e-4 for v in right.values())
    refit = benchmark_misfit(a_est, b_est, groups, known, prior=prior)  # abilities fitted here, as given
    assert refit == pytest.approx(wrong, rel=0.3)  # the same up to the prior the abilities were fitted under
    split = benchmark_misfit(a_est, b_est, groups, known, prior=prior, method="split-half")  # cross-fitted
    split_right = benchmark_misfit(s.a, s.b, groups, known, prior=population_prior(s.theta[:KNOWN]),
                                   method="split-half")
    assert max(split.values()) > 5 * max(split_right.values())
    assert max(split, key=split.get) == max(wrong, key=wrong.get)  # the same benchmark fits worst
    missing = known.copy()
    missing[groups == groups[0]] = np.nan  # no known model has labels on one benchmark: the others' mean
    out = benchmark_misfit(a_est, b_est, groups, missing, theta)
    others = [v for g, v in out.items() if g != groups[0]]
    assert out[groups[0]] == pytest.approx(np.mean(others))


def test_corrected_every_item_answered_gives_the_observed_accuracy_exactly(synth, misfit_case):
    s, groups, _ = synth
    a_est, b_est, known, theta, prior = misfit_case
    y_all, _ = _answers(s, KNOWN, 0)
    for combine in ("residual", "mean"):
        out = estimate_accuracy(a_est, b_est, groups, np.arange(len(s.b)), y_all, prior, n_draws=50,
                                known_labels=known, known_theta=theta, combine=combine)
        for e in out:
            truth = y_all[groups == e.benchmark].mean()
            assert e.estimate == pytest.approx(truth) and e.lower == pytest.approx(truth) == e.upper


def test_corrected_estimate_moves_toward_the_sample_mean_as_answers_grow(synth, misfit_case):
    s, groups, _ = synth
    a_est, b_est, known, theta, prior = misfit_case
    gap = {k: [] for k in (25, 100, 400)}
    for rep in range(10):
        y_all, _ = _answers(s, KNOWN + rep, rep)
        order = np.random.default_rng(rep).permutation(len(s.b))
        for k in gap:
            asked = order[:k]
            for e in estimate_accuracy(a_est, b_est, groups, asked, y_all[asked], prior, n_draws=50,
                                       known_labels=known, known_theta=theta):
                mine = asked[groups[asked] == e.benchmark]
                gap[k].append(abs(e.estimate - y_all[mine].mean()))
    assert np.mean(gap[25]) > np.mean(gap[100]) > np.mean(gap[400])
    assert np.mean(gap[400]) < 0.03


def test_the_weights_run_from_the_plugin_to_the_sample_mean(synth):
    s, groups, prior = synth
    y_all, asked = _answers(s, KNOWN + 4, 2, n=120)
    plain = estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=200)
    names = sorted(set(groups.tolist()))
    tiny = estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=200,
                             misfit={g: 1e-12 for g in names})  # no misfit: the plug-in estimate
    assert [e.estimate for e in tiny] == pytest.approx([e.estimate for e in plain], abs=1e-6)
    huge = estimate_accuracy(s.a, s.b, groups, asked, y_all[asked], prior, n_draws=200, combine="mean",
                             misfit={g: 1e6 for g in names})  # misfit beyond doubt: the sample mean
    for e in huge:
        assert e.estimate == pytest.approx(y_all[asked[groups[asked] == e.benchmark]].mean(), abs=1e-4)
    wide = estimate_accuracy(s.a, s.b, groups, asked[groups[asked] != names[0]], y_all[asked[groups[asked] != names[0]]],
                             prior, n_draws=400, misfit={g: 0.01 for g in names})
    narrow = estimate_accuracy(s.a, s.b, groups, asked[groups[asked] != names[0]],
                               y_all[asked[groups[asked] != names[0]]], prior, n_draws=400)
    assert wide[0].n_answered == 0 and wide[0].estimate == pytest.approx(narrow[0].estimate)
    assert wide[0].width > narrow[0].width + 0.1  # no answers there: the plug-in, misfit sd 0.1 added


def test_replay_weight_minimises_the_known_models_squared_error():
    rng = np.random.default_rng(0)
    d = rng.normal(0, 0.05, 200)
    e = -0.6 * d + rng.normal(0, 0.01, 200)  # the residual explains 60% of the plug-in's error
    lam, mse = _replayed(e, d)
    assert lam == pytest.approx(0.6, abs=0.05)
    grid = [np.mean((e + x * d) ** 2) for x in np.linspace(0, 1, 101)]
    assert mse == pytest.approx(min(grid), rel=1e-2)
    assert _replayed(e, -d)[0] == 0.0 and _replayed(e, np.zeros(200)) == (0.0, pytest.approx(np.mean(e ** 2)))
    assert _replayed(-2 * d, d)[0] == 1.0  # clipped to [0, 1]


def test_bad_known_inputs_are_refused(synth):
    s, groups, prior = synth
    with pytest.raises(DataError, match="known labels have shape"):
        estimate_accuracy(s.a, s.b, groups, [1], [1], prior, known_labels=np.zeros((5, 3)))
    with pytest.raises(DataError, match="known abilities have shape"):
        estimate_accuracy(s.a, s.b, groups, [1], [1], prior, known_labels=np.zeros((600, 3)),
                          known_theta=np.zeros((4, 3)))
    with pytest.raises(ConfigError, match="unknown combine 'median'"):
        estimate_accuracy(s.a, s.b, groups, [1], [1], prior, misfit={}, combine="median")
    with pytest.raises(ConfigError, match="unknown misfit method 'oracle'"):
        estimate_accuracy(s.a, s.b, groups, [1], [1], prior, known_labels=np.zeros((600, 3)), misfit_method="oracle")
    with pytest.raises(ConfigError, match="needs the known models' abilities or a prior"):
        benchmark_misfit(s.a, s.b, groups, np.zeros((600, 3)))


def test_bad_answers_are_refused(synth):
    s, groups, prior = synth
    with pytest.raises(DataError, match="an item is answered twice"):
        estimate_accuracy(s.a, s.b, groups, [1, 1], [0, 1], prior)
    with pytest.raises(DataError, match=r"outcomes must be numbers in \[0, 1\]"):
        estimate_accuracy(s.a, s.b, groups, [1, 2], [0, np.nan], prior)
    with pytest.raises(DataError, match=r"answered positions must lie in 0..599"):
        estimate_accuracy(s.a, s.b, groups, [600], [1], prior)
    with pytest.raises(DataError, match="2 answered items but 1 outcomes"):
        estimate_accuracy(s.a, s.b, groups, [1, 2], [1], prior)
    with pytest.raises(ConfigError, match="level must lie strictly between 0 and 1"):
        estimate_accuracy(s.a, s.b, groups, [1], [1], prior, level=1.0)
    with pytest.raises(ConfigError, match=r"target width must lie in \(0, 1\]"):
        answers_for_width(s.a, s.b, groups, [1], [1], prior, 0.0)


def test_answers_files_with_two_label_fields_or_ragged_csv_rows_are_refused(tmp_path):
    from irtnet.api.inputs import read_answers

    both = tmp_path / "both.jsonl"
    both.write_text('{"text": "a", "correct": 1}\n{"text": "b", "label": 0, "correct": 1}\n')
    with pytest.raises(DataError, match=r"both.jsonl, line 2, field 'correct': two label fields \('label' and "
                                        r"'correct'\)"):
        read_answers(both)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,correct\nq a,1\nq b,1,0\n")
    with pytest.raises(DataError, match=r"ragged.csv, row 2, field 'column 3': the row has 3 fields") as err:
        read_answers(ragged)
    assert (err.value.row, err.value.field) == (2, "column 3") and "cannot read" not in str(err.value)
    good = tmp_path / "good.csv"
    good.write_text("text,correct\nq a,1\nq b,0\n")
    texts, labels, _ = read_answers(good)
    assert texts == ["q a", "q b"] and labels.tolist() == [1.0, 0.0]


def test_texts_and_answers_files_with_two_text_fields_or_a_column_name_used_twice_are_refused(tmp_path):
    """As two label fields are: never one of the two values read and the other ignored."""
    from irtnet.api.inputs import read_answers, read_texts

    both = tmp_path / "both.jsonl"
    both.write_text('{"text": "solve x"}\n{"text": "solve x", "prompt": "history of rome"}\n')
    with pytest.raises(DataError, match=r"both.jsonl, line 2, field 'prompt': two text fields \('text' and "
                                        r"'prompt'\); give the text in one of them"):
        read_texts(both)
    columns = tmp_path / "columns.csv"  # a second text column, even empty, is a second text field
    columns.write_text("text,question,correct\nsolve x,,1\n")
    with pytest.raises(DataError, match=r"columns.csv, row 1, field 'question': two text fields"):
        read_answers(columns)
    for name, header, message in [("t.csv", "text,text", "the column name 'text' is used twice (columns 1 and 2)"),
                                  ("a.csv", "text,correct,correct",
                                   "the column name 'correct' is used twice (columns 2 and 3)")]:
        (tmp_path / name).write_text(f"{header}\nsolve x,1,0\n" if name == "a.csv" else f"{header}\nsolve x,b\n")
        with pytest.raises(DataError, match=re.escape(f"{name}, field '{header.split(',')[-1]}': {message}")):
            (read_answers if name == "a.csv" else read_texts)(tmp_path / name)
    one = tmp_path / "one.jsonl"
    one.write_text('{"prompt": "solve x"}\n{"question": "name a gas"}\n')
    assert read_texts(one)[0] == ["solve x", "name a gas"]  # any one text field per record


def test_a_texts_file_refuses_an_unknown_field_naming_the_file_row_and_field(tmp_path):
    """A misspelt `benchmark` would route the text as one of no benchmark: an error, never ignored."""
    from irtnet.api.inputs import read_texts

    for name, content, message in [
        ("t.jsonl", '{"text": "a", "benchmark": "mmlu"}\n\n{"text": "b", "benchmrk": "mmlu"}\n',
         "t.jsonl, line 3, field 'benchmrk': unknown field(s) 'benchmrk'; a texts file reads a text ('text', "
         "'query', 'question' or 'prompt'), optionally its 'benchmark' and an item 'id'"),
        ("t.json", json.dumps([{"prompt": "a", "note": "x"}]), "t.json, row 1, field 'note': unknown field(s)"),
        ("t.csv", "text,benchmrk\na,mmlu\n", "t.csv, field 'benchmrk': unknown column(s) 'benchmrk'; a texts"),
        ("t.csv", "text,correct\na,1\n", "t.csv, field 'correct': unknown column(s) 'correct'"),
    ]:
        (tmp_path / name).write_text(content)
        with pytest.raises(DataError, match=re.escape(message)):
            read_texts(tmp_path / name)
    plan = tmp_path / "plan.jsonl"  # a plan's lines (id, benchmark, text), as a pool file's, are a texts file
    plan.write_text('{"id": "q1", "benchmark": "mmlu", "text": "a"}\n{"id": 2, "text": "b"}\n')
    assert read_texts(plan) == (["a", "b"], ["mmlu", None])


def test_routing_profile_counts_where_the_new_model_wins():
    p_known = np.array([[0.5, 0.6], [0.5, 0.6], [0.9, 0.1], [0.2, 0.3]])
    rows = routing_profile(np.array([0.7, 0.1, 0.5, 0.4]), p_known, ["x", "x", "y", "y"], ["m1", "m2"])
    assert [r.benchmark for r in rows] == ["x", "y", "all"]
    x, y, overall = rows
    assert x.best_known == "m2" and x.best_known_p == pytest.approx(0.6) and x.routed_share == 0.5 and x.rank == 3
    assert y.routed_share == 0.5 and y.new_p == pytest.approx(0.45) and y.rank == 2 and y.best_known == "m1"
    assert overall.routed_share == 0.5 and overall.n_items == 4 and overall.n_models == 3


# ------------------------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("estimate"))


def _invoke(*args):
    from irtnet.cli.main import app

    return runner.invoke(app, ["estimate", *map(str, args)])


def test_cli_plan_then_estimate(run_dir, tmp_path):
    result = _invoke(run_dir, "--plan", 12, "--strategy", "balanced", "-o", tmp_path / "items.jsonl")
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert len(items) == 12 == len({i["id"] for i in items}) and set(items[0]) == {"id", "benchmark", "text"}
    answers = tmp_path / "answers.jsonl"  # the plan's own lines with the outcome added
    answers.write_text("".join(json.dumps({**i, "correct": k % 2}) + "\n" for k, i in enumerate(items)))
    result = _invoke(run_dir, "--answers", answers, "--target-width", 0.3, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())  # titles may wrap
    assert "Estimated accuracy from 12 answers" in printed and "best known model" in printed
    doc = json.loads((tmp_path / "e.json").read_text())
    refit = doc["settings"]["item_refit"]  # the priors, chosen on the run's known models at 100 answers
    assert refit["n_answers"] == 100 and refit["prior_strength"] == doc["settings"]["prior_strength"] == 1.0
    assert not refit["strength_chosen"] and refit["scores"]  # the strength is 1 unless asked to choose it
    assert f"{refit['prior_kind']} at strength 1 (given)" in printed
    assert [b["n_answered"] for b in doc["benchmarks"]] == [6, 6]
    assert sum(b["n_items"] for b in doc["benchmarks"]) == 300  # the pool: every query of the run's table
    whole = doc["overall"]  # the item-weighted accuracy over both benchmarks, in the table's last row too
    assert (whole["n_items"], whole["n_answered"]) == (300, 12) and whole["lower"] <= whole["estimate"] <= whole["upper"]
    assert whole["estimate"] == pytest.approx(sum(b["estimate"] * b["n_items"] for b in doc["benchmarks"]) / 300)
    assert f"overall │ {whole['estimate']:.3f}" in printed
    assert set(doc["more_needed"]) == {b["benchmark"] for b in doc["benchmarks"]} | {whole["benchmark"]}
    k = doc["more_needed"][whole["benchmark"]]  # the overall row's count, in its last column
    assert f"overall │ {whole['estimate']:.3f} │ {whole['lower']:.3f} - {whole['upper']:.3f} │ 12 / 300 │ " \
        f"{'> ' + str(doc['settings']['max_k']) if k is None else k}" in printed
    assert doc["routing"][-1]["benchmark"] == "all" and doc["routing"][-1]["n_models"] == 7


def test_cli_text_answers_and_anchor_plan(run_dir, tmp_path):
    from irtnet.api import Run

    queries = Run.open(run_dir).table().queries
    answers = tmp_path / "answers.csv"
    rows = ["text,benchmark,correct"] + [f"\"{t}\",{b},1" for t, b in zip(queries["text"][:5], queries["benchmark"][:5])]
    answers.write_text("\n".join(rows + ["\"algebra question: a brand new text\",algebra,0"]) + "\n")
    result = _invoke(run_dir, "--answers", answers, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["n_answers"] == 6 and sum(b["n_items"] for b in doc["benchmarks"]) == 301  # the new text joins
    result = _invoke(run_dir, "--plan", 5, "--strategy", "anchor")
    assert result.exit_code == 0 and "5 items to run" in result.output, result.output


def test_cli_interactive_rounds(run_dir):
    result = runner.invoke(__import__("irtnet.cli.main", fromlist=["app"]).app,
                           ["estimate", str(run_dir), "--interactive", "--rounds", "2", "--per-round", "2"],
                           input="y\nmaybe\nn\n1\n0\n")
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "after round 2" in printed and "Estimated accuracy from 4 answers" in printed
    assert "answer y, n, 1, 0" in result.output  # "maybe" is asked again


@pytest.mark.parametrize("content, suffix, message", [
    ("", ".jsonl", "answers.jsonl: no answers"),
    ('{"query": "nope", "correct": 1}\n', ".jsonl", "line 1, field 'query': unknown query id 'nope'"),
    ('{"query": "q000001", "correct": 1}\n{"query": "q000001", "correct": 0}\n', ".jsonl",
     "line 2, field 'correct': item 'q000001' was answered in line 1 with 1 and here with 0"),
    ("query,correct\nq000001,1.5\n", ".csv", "row 1, field 'correct': '1.5' is not in [0, 1]"),
    ("query,correct\nq000001,nan\n", ".csv", "row 1, field 'correct': 'nan' is not in [0, 1]"),
    ('{"text": "some text", "correct": 1}\n', ".jsonl", "line 1, field 'benchmark': an item given as text needs"),
    ('{"correct": 1}\n', ".jsonl", "line 1, field 'query': no item"),
    ("query,label\nq000001,1\nq000001,0\n", ".csv", "row 2, field 'label': item 'q000001' was answered"),
    ('text,benchmark,correct\n"a new text",nosuchbench,1\n', ".csv",
     "row 1, field 'benchmark': unknown benchmark 'nosuchbench'"),
    ("query,correct\nq000001,1\n", ".txt", "answers.txt: an answers file is .csv, .jsonl or .json"),
])
def test_bad_answer_files_name_file_row_and_field(run_dir, tmp_path, content, suffix, message):
    from irtnet.api import estimate_model

    path = tmp_path / f"answers{suffix}"
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        estimate_model(run_dir, path)
    result = _invoke(run_dir, "--answers", path)
    assert result.exit_code == 2 and "answers" in result.output


def test_bad_paths_and_options_are_one_line_errors(run_dir, tmp_path):
    (tmp_path / "folder.csv").mkdir()
    answers = tmp_path / "a.csv"
    answers.write_text("query,correct\nq000001,1\n")
    strength = "prior strength must lie from 1e-06 to 1e+06"
    for args, message in [(["--answers", tmp_path / "folder.csv"], "folder.csv: is a folder, not a file"),
                          (["--answers", answers, "--prior-strength", "inf"], strength),
                          (["--answers", answers, "--prior-strength", "1e-300"], strength),
                          (["--answers", answers, "--json", tmp_path / "folder.csv"], "folder.csv: is a folder"),
                          (["--plan", 2, "-o", tmp_path / "folder.csv"], "folder.csv: is a folder"),
                          (["--answers", answers, "--seed=-1"], "--seed")]:
        result = _invoke(run_dir, *args)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (args, result.output)


def test_cli_refuses_mixed_or_missing_modes(run_dir, tmp_path):
    result = _invoke(run_dir)
    assert result.exit_code == 2 and "give --answers FILE, --plan N or --interactive" in result.output
    result = _invoke(run_dir, "--plan", 3, "--interactive")
    assert result.exit_code == 2 and "--plan chooses items to run" in result.output
    result = _invoke(run_dir / "model", "--plan", 3)
    assert result.exit_code == 2 and "not a run directory" in " ".join(result.output.split())


def test_the_pooled_replay_weight_fits_every_benchmark_with_enough_replayed_models():
    from irtnet.tasks.estimate_replay import MIN_REPLAYED, _pooled_weight

    rng = np.random.default_rng(0)
    d1, d2 = rng.normal(0, 1, 7), rng.normal(0, 1, 7)
    replay = {"x": (-0.2 * d1, d1), "y": (-0.8 * d2, d2), "few": (-5 * np.ones(MIN_REPLAYED - 1),
                                                                    np.ones(MIN_REPLAYED - 1))}
    lam = _pooled_weight(replay)
    assert lam == pytest.approx(_replayed(np.r_[-0.2 * d1, -0.8 * d2], np.r_[d1, d2])[0])  # "few" left out
    assert 0.2 < lam < 0.8 and _pooled_weight({"few": replay["few"]}) is None
    assert _replayed(-0.2 * d1, d1, lam) == (lam, pytest.approx(np.mean((lam - 0.2) ** 2 * d1 ** 2)))
    with pytest.raises(ConfigError, match="replay_weight"):
        estimate_accuracy(np.ones((3, 1)), np.zeros(3), ["g"] * 3, [0], [1.0], Prior(np.zeros(1), np.eye(1)),
                          replay_weight="median")


def test_auto_keeps_the_pooled_weight_unless_per_benchmark_weights_predict_clearly_better():
    """`choose_replay_weight` leaves each replayed model out in turn: benchmarks whose true weights differ (0 and 1)
    over 30 models choose per-benchmark weights; one shared weight, or only 7 noisy models, keep the pooled one."""
    from irtnet.tasks.estimate_replay import MIN_REPLAYED, _loo_losses, choose_replay_weight

    rng = np.random.default_rng(0)

    def replay(slopes, m, noise):
        out = {}
        for g, lam in slopes.items():
            d = rng.normal(0, 0.05, m)
            out[g] = (-lam * d + rng.normal(0, noise, m), d, np.arange(m))
        return out

    shares = {"x": 1.0, "y": 1.0, "z": 1.0}
    assert choose_replay_weight(replay({"x": 0.0, "y": 1.0}, 30, 0.005), shares) == "per-benchmark"
    assert choose_replay_weight(replay({"x": 0.5, "y": 0.5, "z": 0.5}, 30, 0.005), shares) == "pooled"
    assert choose_replay_weight(replay({"x": 0.3, "y": 0.7}, 7, 0.03), shares) == "pooled"
    one = replay({"x": 0.0}, 30, 0.005)
    few = {"y": tuple(v[:MIN_REPLAYED - 1] for v in replay({"y": 1.0}, 30, 0.005)["y"])}
    assert choose_replay_weight({**one, **few}, shares) == "per-benchmark"  # one benchmark replayed: one weight
    # leave one model out, by hand: row 0's weight is fitted on rows 1 and 2 (the same group, other models)
    e, d = np.array([-0.1, -0.2, -0.1, 0.3]), np.array([0.2, 0.2, 0.4, 0.1])
    loss = _loo_losses(e, d, np.array([1.0, 1.0, 1.0, 4.0]), np.array([0, 0, 0, 1]), np.array([0, 1, 2, 3]))
    lam0 = -(e[1] * d[1] + e[2] * d[2]) / (d[1] ** 2 + d[2] ** 2)
    assert loss[0] == pytest.approx((e[0] + lam0 * d[0]) ** 2)
    assert loss[3] == pytest.approx(4 * e[3] ** 2)  # alone in its group: no other model, weight 0
    e, d, w = rng.normal(size=(3, 60))  # models repeated within groups: every row of the model is left out
    group, model = rng.integers(0, 4, 60), rng.integers(0, 9, 60)
    for i, got in enumerate(_loo_losses(e, d, w, group, model)):
        rows = (group == group[i]) & (model != model[i])
        assert got == pytest.approx(w[i] * (e[i] + _replayed(e[rows], d[rows])[0] * d[i]) ** 2)


def test_estimates_say_which_correction_made_them(synth, misfit_case):
    s, groups, _ = synth
    a, b, known, theta, prior = misfit_case
    answered = np.arange(0, len(b), 7)
    y = _answers(s, KNOWN, 0)[0][answered]
    args = (a, b, groups, answered, y, prior)
    assert {e.correction for e in estimate_accuracy(*args, overall=True)} == {None}  # no known labels: plain IRT
    for weight in ("pooled", "per-benchmark"):
        got = estimate_accuracy(*args, known_labels=known, known_theta=theta, replay_weight=weight, overall=True)
        assert {e.correction for e in got} == {f"replay, {weight} weight"}  # the overall row's too
        assert got[-1].to_dict()["correction"] == f"replay, {weight} weight"
    auto = estimate_accuracy(*args, known_labels=known, known_theta=theta, overall=True)  # default "auto"
    assert auto[-1].correction in ("replay, pooled weight", "replay, per-benchmark weight")
    inside = estimate_accuracy(*args, known_labels=known, known_theta=theta, misfit_method="in-sample")
    assert {e.correction for e in inside} == {"in-sample"}


def test_the_replay_interval_allows_for_the_fitted_weight_at_an_extreme_residual():
    """Regression through the origin on 7 replayed models: a new model whose residual d0 lies far outside
    theirs needs the prediction variance's factor 1 + d0^2 / sum d^2 (`_leverage`) to keep 90% coverage."""
    from scipy.stats import t as student_t

    from irtnet.tasks.estimate_replay import _leverage

    assert _leverage(0.0, np.array([0.1, -0.2])) == 1.0 and _leverage(0.3, np.zeros(3)) == 1.0
    assert _leverage(0.3, np.array([0.1, -0.2])) == pytest.approx(1 + 0.09 / 0.05)
    rng, m, d0, q = np.random.default_rng(1), 7, 3.0, student_t.ppf(0.95, 6)
    hits = {True: [], False: []}
    for _ in range(4000):
        d = rng.normal(0, 1, m)
        e, e0 = -0.5 * d + rng.normal(0, 1, m), -0.5 * d0 + rng.normal(0, 1)
        lam, mse = _replayed(e, d)
        for lev in hits:
            half = q * np.sqrt(mse * m / (m - 1) * (_leverage(d0, d) if lev else 1.0))
            hits[lev].append(abs(e0 + lam * d0) <= half)
    assert 0.88 <= np.mean(hits[True]) <= 0.96  # measured 0.93 (the weight clipped to [0, 1] errs a little less)
    assert np.mean(hits[False]) < 0.85  # measured 0.78: the fitted weight's error left out


def test_cli_replay_folds_trains_without_each_fold_and_keeps_the_estimates(run_dir, tmp_path):
    from irtnet.api import Run

    queries = Run.open(run_dir).table().queries
    answers = tmp_path / "answers.csv"
    rows = ["text,benchmark,correct"] + [f"\"{t}\",{b},{k % 2}" for k, (t, b) in
                                          enumerate(zip(queries["text"][:40], queries["benchmark"][:40]))]
    answers.write_text("\n".join(rows + ["\"algebra question: a brand new text\",algebra,0"]) + "\n")
    docs = {}
    for folds in (0, 3):
        result = _invoke(run_dir, "--answers", answers, "--replay-folds", folds, "--json", tmp_path / f"e{folds}.json")
        assert result.exit_code == 0, result.output
        docs[folds] = json.loads((tmp_path / f"e{folds}.json").read_text())
    assert docs[3]["settings"]["replay_folds"] == 3 and docs[0]["settings"]["replay_folds"] == 0
    same, split = docs[0]["benchmarks"], docs[3]["benchmarks"]
    assert [b["n_items"] for b in split] == [b["n_items"] for b in same] and sum(b["n_items"] for b in split) == 301
    for old, new in zip(same, split):  # the replay moves the weight and the width, not the items or answers
        assert new["n_answered"] == old["n_answered"] and 0 <= new["lower"] <= new["estimate"] <= new["upper"] <= 1
    assert [(b["lower"], b["upper"]) for b in split] != [(b["lower"], b["upper"]) for b in same]
    result = _invoke(run_dir, "--answers", answers, "--replay-folds", 1)
    assert result.exit_code != 0 and "replay folds must be 0" in result.output


def test_more_replay_folds_than_known_models_are_refused(run_dir, tmp_path):
    answers = tmp_path / "a.csv"
    answers.write_text("query,correct\nq000001,1\n")
    result = _invoke(run_dir, "--answers", answers, "--replay-folds", 7)  # the run knows 6 models
    assert result.exit_code == 2 and "--replay-folds 7: the run knows 6 models, so at most 6 folds" in result.output


def test_an_answers_row_must_not_contradict_its_own_item(run_dir, tmp_path):
    from irtnet.api import Run
    from irtnet.api.estimate import estimate_model

    queries = Run.open(run_dir).table().queries.set_index("query")
    text, bench = queries.loc["q000001", "text"], queries.loc["q000001", "benchmark"]
    other = next(b for b in queries["benchmark"].unique() if b != bench)
    cases = [  # (rows, the error's line, field and message)
        ([{"query": "q000001", "benchmark": other, "correct": 1}], "line 1, field 'benchmark': query 'q000001' is an "
         f"item of benchmark '{bench}', but the row says '{other}'"),
        ([{"query": "q000001", "text": "not its text", "correct": 1}],
         "line 1, field 'text': the row's text is not the text of query 'q000001'"),
        ([{"query": "q000001", "id": "q000002", "correct": 1}],
         "line 1, field 'id': two item ids ('query' 'q000001' and 'id' 'q000002')"),
        ([{"text": text, "benchmark": other, "correct": 1}],  # a known text under another benchmark: not a new item
         f"line 1, field 'benchmark': this text is an item of benchmark '{bench}'"),
        ([{"text": "a brand new text", "benchmark": bench, "correct": 1},
          {"text": "a brand new text", "benchmark": bench, "correct": 0}],
         f"line 2, field 'correct': the item of text 'a brand new text' ({bench}) was answered in line 1 with 1"),
    ]
    for k, (rows, message) in enumerate(cases):
        path = tmp_path / f"answers{k}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with pytest.raises(DataError, match=re.escape(message)):
            estimate_model(run_dir, path)
    ok = tmp_path / "ok.jsonl"  # a plan's own line, with the item's id, text and benchmark: accepted
    ok.write_text(json.dumps({"query": "q000001", "id": "q000001", "text": text, "benchmark": bench, "correct": 1}) + "\n")
    assert estimate_model(run_dir, ok).n_answers == 1


def test_an_answers_or_pool_jsonl_file_with_blank_lines_names_the_lines_of_the_file(run_dir, tmp_path):
    from irtnet.api.estimate import estimate_model, open_pool

    answers = tmp_path / "answers.jsonl"
    answers.write_text('\n{"query": "q000001", "correct": 1}\n\n{"query": "q000001", "correct": 0}\n')
    with pytest.raises(DataError, match=re.escape("answers.jsonl, line 4, field 'correct': item 'q000001' was "
                                                  "answered in line 2 with 1 and here with 0")):
        estimate_model(run_dir, answers)
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"text": "a question", "benchmark": "algebra"}\n\n{"text": "another question"}\n')
    with pytest.raises(DataError, match=r"pool.jsonl, line 3, field 'benchmark': no benchmark"):
        open_pool(run_dir / "model", pool)


def test_replay_folds_needs_the_run_not_a_pool_file(run_dir, tmp_path):
    from irtnet.api.estimate import estimate_model

    pool = tmp_path / "pool.csv"
    pool.write_text("text,benchmark\n\"algebra question one\",algebra\n\"biology question two\",biology\n")
    answers = tmp_path / "answers.csv"
    answers.write_text("text,benchmark,correct\n\"algebra question one\",algebra,1\n")
    assert len(estimate_model(run_dir / "model", answers, pool=pool).benchmarks) == 2
    with pytest.raises(ConfigError, match="--replay-folds trains networks on the run's table"):
        estimate_model(run_dir / "model", answers, pool=pool, replay_folds=2)


def test_auto_strength_is_scored_on_the_runs_validation_queries(run_dir, tmp_path):
    """`--prior-strength auto` chooses the new model's prior strength as the protocol does: on the known models'
    answers to the run's validation queries (which the network never trained on), not on its pool items."""
    from irtnet.api import Run
    from irtnet.api.estimate import _held_queries, open_pool
    from irtnet.tasks.item_refit import CHOICE_ANSWERS, STRENGTH_GRID, refit_for_new_models

    predictor, pool = open_pool(run_dir)
    a, b, labels = _held_queries(predictor, pool)
    val = Run.open(run_dir).split().val
    rows = sorted(pool.ids.index(q) for q in val)  # in the pool's order
    assert len(b) == len(val) > 0 and np.array_equal(a, pool.a[rows])
    np.testing.assert_array_equal(labels, pool.known_labels[rows])
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"query": q, "correct": k % 2}) + "\n" for k, q in enumerate(pool.ids[:20])))
    result = _invoke(run_dir, "--answers", answers, "--prior-strength", "auto", "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "e.json").read_text())["settings"]
    refit = settings["item_refit"]
    assert refit["strength_chosen"] and refit["strength_scored_on"] == "held-out queries"
    assert refit["prior_strength"] in STRENGTH_GRID and len(refit["strength_scores"]) == len(STRENGTH_GRID)
    assert set(refit["strength_at"]) == {"20"} and settings["prior_strength"] == refit["strength_at"]["20"]  # at N
    assert "scored on their validation queries" in " ".join(result.output.split())
    on_pool = refit_for_new_models(pool.a, pool.b, pool.groups, pool.known_labels, predictor.abilities_,
                                   predictor.abilities_, CHOICE_ANSWERS, None, 0).record
    assert on_pool["strength_scored_on"] == "pool items" and on_pool["strength_scores"] != refit["strength_scores"]
    result = runner.invoke(__import__("irtnet.cli.main", fromlist=["app"]).app,  # the rounds choose it too
                           ["estimate", str(run_dir), "--interactive", "--rounds", "2", "--per-round", "2",
                            "--prior-strength", "auto"], input="y\nn\n1\n0\n")
    assert result.exit_code == 0 and "after round 2" in result.output, result.output
    assert " ".join(result.output.split()).count("scored on their validation queries") == 2
    for bad, message in (("0", "prior strength must lie from 1e-06 to 1e+06"), ("nan", "prior strength must lie from 1e-06 to 1e+06"), ("strong", "--prior-strength: expected a number")):
        result = _invoke(run_dir, "--answers", answers, "--prior-strength", bad)
        assert result.exit_code == 2 and message in result.output


def test_cli_replay_weight_is_recorded_and_moves_the_correction(run_dir, tmp_path):
    from irtnet.api import Run

    queries = Run.open(run_dir).table().queries
    answers = tmp_path / "answers.csv"
    rows = ["text,benchmark,correct"] + [f"\"{t}\",{b},{k % 3 > 0:d}" for k, (t, b) in
                                          enumerate(zip(queries["text"][:30], queries["benchmark"][:30]))]
    answers.write_text("\n".join(rows) + "\n")
    docs = {}
    for weight in ("per-benchmark", "pooled"):
        result = _invoke(run_dir, "--answers", answers, "--replay-weight", weight, "--json", tmp_path / f"{weight}.json")
        assert result.exit_code == 0, result.output
        docs[weight] = json.loads((tmp_path / f"{weight}.json").read_text())
        assert docs[weight]["settings"]["replay_weight"] == weight
        assert (f"Correction by the known models: replay, {weight} weight (--replay-weight {weight})"
                in " ".join(result.output.split()))
    one, pooled = docs["per-benchmark"]["benchmarks"], docs["pooled"]["benchmarks"]
    assert [b["n_answered"] for b in one] == [b["n_answered"] for b in pooled]
    assert [b["estimate"] for b in one] != [b["estimate"] for b in pooled]  # two benchmarks: their slopes differ
    result = _invoke(run_dir, "--answers", answers, "--replay-weight", "median")
    assert result.exit_code != 0 and "unknown replay_weight 'median'" in " ".join(result.output.split())


@pytest.mark.parametrize("method", ["replay", "in-sample"])
def test_the_overall_row_weights_the_benchmarks_by_items_and_its_interval_covers(synth, misfit_case, method):
    """The overall accuracy over every benchmark: the item-weighted mean of the benchmarks' estimates, with an
    interval that covers the realised overall share about 90% of the time under the planted misfit and is
    narrower than adding the benchmarks' weighted half-widths (their errors do not all move together)."""
    from irtnet.tasks.estimate import OVERALL

    s, groups, _ = synth
    a_est, b_est, known, theta, prior = misfit_case
    covered, width, summed = [], [], []
    for rep in range(60):
        y_all, asked = _answers(s, KNOWN + rep % 10, rep, 100)
        kw = dict(n_draws=400, seed=rep, known_labels=known, known_theta=theta, misfit_method=method)
        *per, whole = estimate_accuracy(a_est, b_est, groups, asked, y_all[asked], prior, overall=True, **kw)
        assert per == estimate_accuracy(a_est, b_est, groups, asked, y_all[asked], prior, **kw)
        sizes = np.array([e.n_items for e in per])
        assert (whole.benchmark, whole.n_items, whole.n_answered) == (OVERALL, len(groups), 100)
        assert whole.estimate == pytest.approx(np.dot([e.estimate for e in per], sizes) / sizes.sum())
        assert whole.lower <= whole.estimate <= whole.upper
        covered.append(whole.lower <= y_all.mean() <= whole.upper)
        width.append(whole.width)
        summed.append(np.dot([e.width for e in per], sizes) / sizes.sum())
    assert 0.84 <= np.mean(covered) <= 0.99  # measured 0.88 (replay), 0.87 (in-sample)
    assert np.mean(width) < 0.8 * np.mean(summed)  # measured 0.108 against 0.184, 0.097 against 0.172


def test_the_replayed_overall_interval_sums_each_models_errors_over_the_benchmarks():
    from scipy.stats import t as student_t

    from irtnet.tasks.estimate_replay import ReplayedBenchmark, replay_overall

    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(0, 0.05, 8), rng.normal(0, 0.03, 6)
    x = ReplayedBenchmark(0.5, 0.1, e1, np.arange(8), float(np.mean(e1 ** 2)), 1.0)
    y = ReplayedBenchmark(0.5, 0.1, e2, np.array([7, 6, 5, 4, 3, 2]), float(np.mean(e2 ** 2)), 1.0)
    err = 60 / 200 * e1[[2, 3, 4, 5, 6, 7]] + 40 / 200 * e2[::-1]  # the models replayed on both, aligned
    expected = student_t.ppf(0.95, 5) * np.sqrt(np.mean(err ** 2) * 6 / 5)
    assert replay_overall([(x, 60), (y, 40)], 200, 0.9) == pytest.approx(expected)
    few = ReplayedBenchmark(0.5, 0.1, e2[:4], np.arange(4), 0.0, 1.0)
    assert replay_overall([(x, 60), (few, 40)], 200, 0.9) is None  # fewer than MIN_REPLAYED on both
    for reserved in ("(all benchmarks)", "all"):  # the overall row's name, and the routing profile's last row's
        with pytest.raises(DataError, match="a row over every benchmark"):
            estimate_accuracy(np.ones((2, 1)), np.zeros(2), [reserved, "b"], [0], [1.0],
                              Prior(np.zeros(1), np.eye(1)), overall=True)


# ------------------------------------------------------------------------------- answers and pool files, options
@pytest.mark.parametrize("content, suffix, message", [
    ("model,query,correct\nm9,q000001,1\nm8,q000002,0\n", ".csv",
     "answers.csv, field 'model': a 'model' column (it names 2: 'm8', 'm9'): an answers file holds the answers of "
     "one new model"),
    ('{"query": "q000001", "correct": 1}\n{"query": "q000002", "correct": 1, "model": "m9"}\n', ".jsonl",
     "answers.jsonl, line 2, field 'model': a 'model' field (it names 1: 'm9')"),
    ("query,correct,extra_typo\nq000001,1,x\n", ".csv",
     "answers.csv, field 'extra_typo': unknown column(s) 'extra_typo'; an answers file reads 'query' or 'id'"),
    ('[{"query": "q000001", "correct": 1, "note": "x"}]', ".json",
     "answers.json, row 1, field 'note': unknown field(s) 'note'; an answers file reads"),
    ("query,query,correct\nq000001,q000002,1\n", ".csv",
     "answers.csv, field 'query': the column name 'query' is used twice (columns 1 and 2)"),
    ('{"query": 1.5, "correct": 1}\n', ".jsonl", "line 1, field 'query': 1.5 is not an item id"),
])
def test_an_answers_file_is_one_new_models_and_every_field_is_read(run_dir, tmp_path, content, suffix, message):
    from irtnet.api import estimate_model

    path = tmp_path / f"answers{suffix}"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        estimate_model(run_dir, path)
    result = _invoke(run_dir, "--answers", path)
    assert result.exit_code == 2 and message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_a_pool_file_refuses_an_id_given_twice_naming_both_lines(run_dir, tmp_path):
    from irtnet.api.estimate import open_pool

    for lines, message in [
        ([{"id": "x", "text": "an algebra question", "benchmark": "algebra"},
          {"id": "x", "text": "a biology question", "benchmark": "biology"}],
         "pool.jsonl, line 2, field 'id': the id 'x' is given twice, in line 1 and here"),
        ([{"id": "pool-2", "text": "an algebra question", "benchmark": "algebra"},
          {"text": "a biology question", "benchmark": "biology"}],
         "the id 'pool-2' is given twice, in line 1 and here (an item without an id is pool-N"),
        ([{"id": ["x"], "text": "an algebra question", "benchmark": "algebra"}],
         "line 1, field 'id': ['x'] is not an item id"),
    ]:
        pool = tmp_path / "pool.jsonl"
        pool.write_text("".join(json.dumps(line) + "\n" for line in lines))
        with pytest.raises(DataError, match=re.escape(message)):
            open_pool(run_dir / "model", pool)
        result = _invoke(run_dir / "model", "--plan", 1, "--pool", pool)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    pool.write_text('{"id": 0, "text": "an algebra question", "benchmark": "algebra"}\n'
                    '{"text": "a biology question", "benchmark": "biology"}\n')
    assert open_pool(run_dir / "model", pool)[1].ids == ["0", "pool-2"]  # an id 0 is an id, not "none given"


def test_a_pool_file_refuses_an_unknown_field_naming_it(run_dir, tmp_path):
    from irtnet.api.estimate import open_pool

    for name, content, message in [
        ("pool.jsonl", '{"text": "an algebra question", "benchmark": "algebra"}\n'
                       '{"text": "a biology question", "benchmark": "biology", "idd": "x"}\n',
         "pool.jsonl, line 2, field 'idd': unknown field(s) 'idd'; a pool file reads a text ('text', 'query', "
         "'question' or 'prompt'), its 'benchmark' and optionally an item 'id'"),
        ("pool.csv", "text,benchmark,correct\nan algebra question,algebra,1\n",
         "pool.csv, field 'correct': unknown column(s) 'correct'; a pool file reads"),
    ]:
        pool = tmp_path / name
        pool.write_text(content)
        with pytest.raises(DataError, match=re.escape(message)):
            open_pool(run_dir / "model", pool)
        result = _invoke(run_dir / "model", "--plan", 1, "--pool", pool)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_an_answer_by_a_text_that_is_two_pool_items_is_refused(run_dir, tmp_path):
    from irtnet.api.estimate import estimate_model

    pool = tmp_path / "pool.csv"
    pool.write_text("id,text,benchmark\na,same question,algebra\nb,same question,algebra\nc,other,biology\n")
    answers = tmp_path / "answers.csv"
    answers.write_text("text,benchmark,correct\nsame question,algebra,1\n")
    with pytest.raises(DataError, match=re.escape("answers.csv, row 1, field 'text': this text is 2 items of "
                                                  "benchmark 'algebra' in") + ".*ids 'a', 'b'.*give the item's id"):
        estimate_model(run_dir / "model", answers, pool=pool)
    answers.write_text("query,correct\nb,1\n")
    assert estimate_model(run_dir / "model", answers, pool=pool).n_answers == 1


@pytest.mark.parametrize("args, message", [
    (["--answers", "{a}", "-o", "{tmp}/x.jsonl"],
     "--out is read only with --plan N (choosing items to run): give --plan, or leave out --out"),
    (["--answers", "{a}", "--strategy", "anchor"], "--strategy is read only with --plan N"),
    (["--plan", 2, "--json", "{tmp}/e.json"], "--json is read only when estimating (--answers or --interactive)"),
    (["--plan", 2, "--level", 0.8, "--replay-folds", 0],
     "--level and --replay-folds are read only when estimating"),
    (["--answers", "{a}", "--rounds", 2], "--rounds is read only with --interactive"),
])
def test_an_option_of_another_mode_is_refused_by_name(run_dir, tmp_path, args, message):
    answers = tmp_path / "a.csv"
    answers.write_text("query,correct\nq000001,1\n")
    result = _invoke(run_dir, *[str(a).format(a=answers, tmp=tmp_path) for a in args])
    assert result.exit_code == 2 and f"error: {message}" in " ".join(result.output.split()), result.output
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "e.json").exists()


def test_output_paths_are_checked_before_the_work(run_dir, tmp_path):
    answers = tmp_path / "a.csv"
    answers.write_text("query,correct\nq000001,1\n")
    (tmp_path / "file").write_text("")
    for args, message in [(["--plan", 2, "-o", tmp_path], f"{tmp_path}: is a folder"),
                          (["--plan", 2, "-o", tmp_path / "file" / "p.jsonl"], "a folder on its path is a file"),
                          (["--answers", answers, "--json", tmp_path], f"{tmp_path}: is a folder")]:
        result = _invoke(run_dir, *args)
        printed = " ".join(result.output.split())
        assert result.exit_code == 2 and message in printed, (args, result.output)
        assert "items to run" not in printed and "Estimated accuracy" not in printed  # nothing printed first


# ------------------------------------------------------------------- interactive ends, API parameter checks
def _all_answers(run_dir, path):
    from irtnet.api import Run

    ids = list(Run.open(run_dir).table().queries["query"])
    path.write_text("".join(json.dumps({"query": q, "correct": k % 2}) + "\n" for k, q in enumerate(ids)))
    return len(ids)


def test_interactive_with_answers_covering_the_pool_shows_and_writes_their_estimate(run_dir, tmp_path):
    n = _all_answers(run_dir, tmp_path / "all.jsonl")
    result = runner.invoke(__import__("irtnet.cli.main", fromlist=["app"]).app,
                           ["estimate", str(run_dir), "--interactive", "--answers", str(tmp_path / "all.jsonl"),
                            "--rounds", "2", "--per-round", "3", "--json", str(tmp_path / "e.json")], input="y\n" * 9)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert f"Estimated accuracy from {n} answers" in printed and "no item left to ask" in printed
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["n_answers"] == n and doc["settings"]["round"] == 0


def test_interactive_input_ending_mid_round_keeps_the_last_complete_round(run_dir, tmp_path):
    app = __import__("irtnet.cli.main", fromlist=["app"]).app
    args = ["estimate", str(run_dir), "--interactive", "--rounds", "3", "--per-round", "2", "--json",
            str(tmp_path / "e.json")]
    result = runner.invoke(app, args, input="y\nn\ny\n")  # round 1, then one answer of round 2 and EOF
    assert result.exit_code == 2, result.output
    printed = " ".join(result.output.split())
    assert "input ended after round 1 of 3: 1 answer(s) typed in round 2 discarded" in printed
    assert json.loads((tmp_path / "e.json").read_text())["n_answers"] == 2
    result = runner.invoke(app, args[:-2], input="y\n")  # EOF in round 1: no estimate to keep
    assert result.exit_code == 2 and "no round was complete" in " ".join(result.output.split()), result.output


def test_interactive_ctrl_c_keeps_the_last_complete_round(run_dir, tmp_path, monkeypatch):
    typed = iter(["y", "n", "y"])

    def fake_input(*_):
        try:
            return next(typed)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr("builtins.input", fake_input)
    result = runner.invoke(__import__("irtnet.cli.main", fromlist=["app"]).app,
                           ["estimate", str(run_dir), "--interactive", "--rounds", "3", "--per-round", "2", "--json",
                            str(tmp_path / "e.json")])
    assert result.exit_code == 130, result.output
    assert "interrupted after round 1 of 3" in " ".join(result.output.split())
    assert json.loads((tmp_path / "e.json").read_text())["n_answers"] == 2


def test_interactive_says_when_the_pool_runs_out_before_the_rounds(run_dir):
    result = runner.invoke(__import__("irtnet.cli.main", fromlist=["app"]).app,
                           ["estimate", str(run_dir), "--interactive", "--rounds", "3", "--per-round", "200"],
                           input="y\n" * 300, terminal_width=1000)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "round 2 asked the last 100 items of the pool (fewer than per_round 200); no item is left to ask, so " \
           "the rounds end after round 2 of 3" in printed


@pytest.mark.parametrize("kw, name", [
    ({"level": "0.9"}, "level"), ({"level": None}, "level"), ({"level": True}, "level"),
    ({"target_width": "0.1"}, "target_width"), ({"prior_strength": "high"}, "prior strength"),
    ({"prior_strength": True}, "prior strength"), ({"n_draws": 2.5}, "n_draws"), ({"n_draws": True}, "n_draws"),
    ({"seed": -1}, "seed"), ({"seed": "a"}, "seed"), ({"replay_folds": 2.5}, "replay_folds"),
    ({"max_k": -1, "target_width": 0.2}, "max_k"), ({"max_k": 0, "target_width": 0.2}, "max_k"),
    ({"max_k": 5}, "max_k"), ({"answers_file": None}, "answers_file"),
])
def test_estimate_model_refuses_bad_parameters_by_name(tmp_path, kw, name):
    from irtnet.api.estimate import estimate_model

    kw = {"answers_file": tmp_path / "a.jsonl", **kw}
    with pytest.raises(ConfigError, match=name):
        estimate_model(tmp_path / "no-run", **kw)  # refused before the run is opened


@pytest.mark.parametrize("kw, name", [({"seed": -1}, "seed"), ({"n": 2.5}, "n must"), ({"prior_strength": "x"},
                                                                                        "prior strength")])
def test_plan_refuses_bad_parameters_by_name(tmp_path, kw, name):
    from irtnet.api.estimate import plan

    with pytest.raises(ConfigError, match=name):
        plan(tmp_path / "no-run", **{"n": 3, **kw})


def test_the_api_reads_prior_strength_auto_as_the_command_line_does():
    from irtnet.api.estimate import _strength

    assert _strength("auto") is None and _strength(" AUTO ") is None and _strength(None) is None
    assert _strength(2.0) == 2.0


@pytest.mark.parametrize("kw, error, name", [
    ({"ask": None}, ConfigError, "ask must be a function"), ({"per_round": 1.5}, ConfigError, "per_round"),
    ({"rounds": True}, ConfigError, "rounds"), ({"ask": lambda items: None}, DataError, "ask must return a list"),
    ({"ask": lambda items: ["y"] * len(items)}, DataError, "ask must return numbers"),
    ({"ask": lambda items: [1.0]}, DataError, "ask must return a list of 2"),
])
def test_estimate_rounds_refuses_bad_parameters_and_answers_by_name(run_dir, kw, error, name):
    from irtnet.api.estimate import estimate_rounds

    with pytest.raises(error, match=name):
        next(estimate_rounds(run_dir, **{"ask": lambda items: [1.0] * len(items), "per_round": 2, **kw}))


def test_options_that_have_no_effect_are_refused(run_dir, tmp_path):
    from irtnet.api.estimate import estimate_model

    result = _invoke(run_dir, "--plan", 4, "--strategy", "anchor", "--prior-strength", "0.01")
    assert result.exit_code == 2 and "the anchor plan" in " ".join(result.output.split()), result.output
    pool = tmp_path / "pool.csv"
    pool.write_text("text,benchmark\n\"algebra question one\",algebra\n\"biology question two\",biology\n")
    answers = tmp_path / "answers.csv"
    answers.write_text("text,benchmark,correct\n\"algebra question one\",algebra,1\n")
    result = _invoke(run_dir / "model", "--answers", answers, "--pool", pool, "--replay-weight", "per-benchmark")
    assert result.exit_code == 2 and "no correction runs" in " ".join(result.output.split()), result.output
    with pytest.raises(ConfigError, match="replay_weight 'pooled': with a pool file"):
        estimate_model(run_dir / "model", answers, pool=pool, replay_weight="pooled")

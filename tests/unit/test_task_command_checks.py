"""Options and inputs of `onboard`, `evaluate-benchmarks`, `evaluate-onboarding` and `evaluate-estimation` that are
refused (before any training) or said, never silently taken: bug bash 2, items 7, 9, 10 and 11."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic

runner = CliRunner()
COMMON = ["--encoder", "hashing-64", "--preset", "small", "--epochs", "1", "--threads", "1"]


def _run(args):
    return runner.invoke(app, [str(a) for a in args])


def _refused(args, message):
    result = _run(args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and "training" not in result.output
    return result


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks")
    synth = make_synthetic(n_models=6, n_queries=240, n_benchmarks=3, dim=2, feature_dim=6, seed=0)
    synth.table.to_parquet(root / "t.parquet")
    texts = synth.table.queries["text"].tolist()
    (root / "bench.txt").write_text(synth.table.benchmark_vocab.to_list()[0])
    root.joinpath("texts").mkdir()
    pd.DataFrame({"text": texts[:20], "label": [i % 2 for i in range(20)]}).to_csv(root / "ans.csv", index=False)
    pd.DataFrame({"text": texts[:25]}).to_csv(root / "pool.csv", index=False)  # 20 answered, 5 not
    result = _run(["train", root / "t.parquet", "-o", root / "run", "--preset", "small", "--encoder", "hashing-64",
                   "--epochs", "1", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return root


# ------------------------------------------------------------------------------------------- 7. onboard
def test_onboard_refuses_a_model_column_and_unknown_columns(root, tmp_path):
    ans = pd.read_csv(root / "ans.csv")
    ans.assign(model=["m0"] * 10 + ["m1"] * 10).to_csv(tmp_path / "two.csv", index=False)
    _refused(["onboard", root / "run", tmp_path / "two.csv"], "a 'model' column (it names 2: 'm0', 'm1')")
    ans.assign(extra=1).to_csv(tmp_path / "extra.csv", index=False)
    _refused(["onboard", root / "run", tmp_path / "extra.csv"], "unknown column(s) 'extra'")


def test_onboard_counts_a_repeated_answer_once_and_refuses_two_labels(root, tmp_path):
    ans = pd.read_csv(root / "ans.csv")
    pd.concat([ans, ans.iloc[:1]]).to_csv(tmp_path / "dup.csv", index=False)
    result = _run(["onboard", root / "run", tmp_path / "dup.csv", "--json", tmp_path / "o.json"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o.json").read_text())["n_answers"] == 20
    flipped = ans.iloc[:1].assign(label=1 - ans.label.iloc[0])
    pd.concat([ans, flipped]).to_csv(tmp_path / "conflict.csv", index=False)
    _refused(["onboard", root / "run", tmp_path / "conflict.csv"], "row 21, field 'label': the text")
    _refused(["onboard", root / "run", tmp_path / "conflict.csv"], "was answered in row 1 with")


@pytest.mark.parametrize("name", ["", " ", " new"])
def test_onboard_refuses_a_blank_name_before_writing(root, tmp_path, name):
    _refused(["onboard", root / "run", root / "ans.csv", "--name", name, "--save", tmp_path / "ck"],
             f"--name: {name!r} is not a model name")
    assert not (tmp_path / "ck").exists()


def test_onboard_checks_the_json_path_before_saving_the_checkpoint(root, tmp_path):
    _refused(["onboard", root / "run", root / "ans.csv", "--save", tmp_path / "ck", "--json", root / "texts"],
             "is a folder")
    assert not (tmp_path / "ck").exists()


def test_onboard_suggests_unanswered_texts_only_and_says_when_fewer(root, tmp_path):
    _refused(["onboard", root / "run", root / "ans.csv", "--suggest", "5"], "--suggest needs --pool")
    result = _run(["onboard", root / "run", root / "ans.csv", "--pool", root / "pool.csv", "--suggest", "1000",
                   "--json", tmp_path / "o.json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "o.json").read_text())
    answered = set(pd.read_csv(root / "ans.csv").text)
    assert len(doc["suggested"]) == 5 and not answered & set(doc["suggested"])
    assert "suggested 5, not 1000: the pool has 5 texts not answered" in " ".join(result.output.split())



def test_onboard_refuses_an_answers_file_of_the_runs_query_ids(root, tmp_path):
    """`irtnet estimate`'s answers give a query id in `query`; onboard reads a text there, so an id of the run's
    table is refused (bug bash 2, S4), never fitted as the text "q000178"."""
    ids = list(pd.read_parquet(root / "t.parquet", columns=["query"])["query"].unique()[:3])
    lines = "".join(json.dumps({"query": q, "label": i % 2}) + "\n" for i, q in enumerate(ids))
    (tmp_path / "ids.jsonl").write_text(lines)
    _refused(["onboard", root / "run", tmp_path / "ids.jsonl"],
             f"ids.jsonl, line 1, field 'query': {ids[0]!r} is a query id of the run's table, not a text: onboard "
             "reads the text of each answered query")
    _refused(["onboard", root / "run", tmp_path / "ids.jsonl"], "use `irtnet estimate RUN --answers FILE`")


@pytest.fixture(scope="module")
def groups_run(root):
    """A run whose model reads benchmark names."""
    result = _run(["train", root / "t.parquet", "-o", root / "groups_run", "--preset", "small", "--encoder",
                   "hashing-64", "--epochs", "1", "--quiet", "--threads", "1", "--groups"])
    assert result.exit_code == 0, result.output
    return root / "groups_run"


def test_predict_benchmark_refuses_a_benchmark_other_than_the_files(root, groups_run, tmp_path):
    """--benchmark names the benchmark of the texts the file gives none; one the file gives otherwise is refused
    (bug bash 2, S5), never overridden; the JSON says which benchmarks the texts were read under."""
    table = pd.read_parquet(root / "t.parquet")
    first, other = sorted(table["benchmark"].unique())[:2]
    texts = table.drop_duplicates("query")["text"].tolist()[:3]
    rows = [{"text": texts[0], "benchmark": first}, {"text": texts[1]}, {"text": texts[2], "benchmark": first}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _refused(["predict-benchmark", groups_run, tmp_path / "t.jsonl", "--benchmark", other],
             f"t.jsonl, line 1, field 'benchmark': the file gives benchmark {first!r} and the benchmark argument "
             f"(--benchmark) gives {other!r}")
    _refused(["predict-benchmark", groups_run, tmp_path / "t.jsonl", "--benchmark", ""],
             "benchmark (--benchmark): '' is not a benchmark name")
    result = _run(["predict-benchmark", groups_run, tmp_path / "t.jsonl", "--benchmark", first, "--json",
                   tmp_path / "agree.json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "agree.json").read_text())
    assert doc["benchmarks"] == {first: 3} and doc["n_text_only"] == 0
    result = _run(["predict-benchmark", groups_run, tmp_path / "t.jsonl", "--json", tmp_path / "own.json"])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "own.json").read_text())
    assert doc["benchmarks"] == {first: 2} and doc["n_text_only"] == 1


# ------------------------------------------------------------------------------- 9. evaluate-benchmarks
@pytest.mark.parametrize("args, message", [
    (["--benchmarks", "algebra,algebra"], "--benchmarks: 'algebra' given twice"),
    (["--benchmarks", ""], "--benchmarks is empty"),
    (["--k", "6"], "--k: top-k recovery needs k from 1 to one less than the 6 models"),
    (["--anchors", "1000"], "--anchors: every number of anchor items (1000) is at least the"),
], ids=["repeated", "empty", "k", "anchors"])
def test_evaluate_benchmarks_refuses_before_training(root, tmp_path, args, message):
    _refused(["evaluate-benchmarks", root / "t.parquet", "-o", tmp_path / "b.json", "--baselines", "model-mean",
              *args, *COMMON], message)


def test_evaluate_benchmarks_says_which_anchors_it_skipped(root, tmp_path):
    result = _run(["evaluate-benchmarks", root / "t.parquet", "-o", tmp_path / "b.json", "--baselines",
                   "model-mean", "--benchmarks", (root / "bench.txt").read_text(), "--anchors", "5,1000", *COMMON])
    assert result.exit_code == 0, result.output
    assert "skipped --anchors 1000: not fewer than the" in " ".join(result.output.split())
    settings = json.loads((tmp_path / "b.json").read_text())["settings"]
    assert settings["anchors"] == [5] and list(settings["anchors_skipped"]) == ["1000"]


# ------------------------------------------------------------------------------- 10. evaluate-onboarding
@pytest.mark.parametrize("args, message", [
    (["--ks", ""], "--ks '': an empty item"),
    (["--strategies", ""], "--strategies is empty"),
    (["--strategies", "nope"], "unknown strategy 'nope'"),
    (["--prior-kind", "x"], "unknown prior kind 'x'"),
    (["--models", "m0", "--n-test", "2"], "--n-test has no effect with --models"),
    (["--models", ""], "--models: name each model to hold out once"),
    (["--ks", "1000"], "every K asked (1000) is more than the"),
], ids=["ks-empty", "strategies-empty", "strategy-unknown", "prior-kind", "n-test-with-models", "models-empty",
        "ks-too-large"])
def test_evaluate_onboarding_refuses_before_training(root, tmp_path, args, message):
    _refused(["evaluate-onboarding", root / "t.parquet", "-o", tmp_path / "o.json", "--n-random", "1", *args,
              *COMMON], message)


def test_evaluate_onboarding_says_which_ks_it_skipped(root, tmp_path):
    result = _run(["evaluate-onboarding", root / "t.parquet", "-o", tmp_path / "o.json", "--n-test", "2", "--ks",
                   "5,1000", "--strategies", "random", "--n-random", "1", *COMMON])
    assert result.exit_code == 0, result.output
    assert "skipped K = 1000: more than the" in " ".join(result.output.split())
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["settings"]["ks"] == [5] and doc["settings"]["ks_skipped"] == [1000]
    assert {r["k"] for r in doc["rows"] if r["method"] == "random"} == {5}



def test_evaluate_onboarding_refuses_n_random_where_no_random_strategy_runs(root, tmp_path):
    _refused(["evaluate-onboarding", root / "t.parquet", "-o", tmp_path / "o.json", "--strategies",
              "d-optimal,fisher-balanced", "--n-random", "2", *COMMON],
             "--n-random is read only by the random strategies (random, random-balanced), and --strategies "
             "d-optimal,fisher-balanced runs none: leave out --n-random")


def test_evaluate_onboarding_records_n_random_only_where_a_random_strategy_ran(monkeypatch):
    import irtnet.api.experiments as api
    import irtnet.tasks.onboard as onboard
    from irtnet.api import ModelSpec

    seen = []

    def fake(data, make, n_test, ks, strategies, n_random, **kw):
        seen.append(n_random)
        return SimpleNamespace(settings={"n_random": n_random}, rows=[])

    monkeypatch.setattr(api, "prepared", lambda table, encoder: None)
    monkeypatch.setattr(onboard, "onboarding_experiment", fake)
    spec = ModelSpec(model="irtnet")
    assert "n_random" not in api.evaluate_onboarding("t.parquet", spec, "hashing-64", strategies=["d-optimal"]).settings
    assert api.evaluate_onboarding("t.parquet", spec, "hashing-64", strategies=["random-balanced"]).settings == {
        "n_random": 3, "table": "t.parquet", "encoder": "hashing-64",
        "model": api.resolve_spec(spec).model_dump(mode="json"), "retrain_epochs": 0}
    assert seen == [3, 3]


@pytest.mark.parametrize("call, what", [
    (lambda api, spec: api.evaluate_benchmarks("t.parquet", spec, "hashing-64", baselines="knn"), "baselines"),
    (lambda api, spec: api.evaluate_benchmarks("t.parquet", spec, "hashing-64", benchmarks="math"), "benchmarks"),
    (lambda api, spec: api.evaluate_onboarding("t.parquet", spec, "hashing-64", strategies="random"), "strategies"),
    (lambda api, spec: api.evaluate_onboarding("t.parquet", spec, "hashing-64", models="m0"), "models"),
    (lambda api, spec: api.cost_routing_run("no-run", baselines="knn"), "baselines"),
], ids=["benchmarks-baselines", "benchmarks", "strategies", "models", "cost-baselines"])
def test_one_string_where_a_list_of_names_is_expected_is_refused(call, what):
    import irtnet.api.experiments as api
    from irtnet.api import ModelSpec
    from irtnet.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"{what} must be a list of names, not one string: pass \['"):
        call(api, ModelSpec(model="irtnet"))


# ------------------------------------------------------------------------------- 11. evaluate-estimation
@pytest.mark.parametrize("args, message", [
    (["--routing-ns", "1000"], "1000 answers (routing_ns) is more than the"),
    (["--no-retrain", "--routing-ns", "0"], "--routing-ns has no effect with --no-retrain"),
    (["--methods", "mean-random", "--routing-ns", "50"], "--routing-ns has no effect without the method 'retrain'"),
    (["--replay-folds", "100"], "replay_folds: 100 folds of the 4 known models"),
    (["--methods", ""], "no estimation method given"),
    (["--methods", "retrain", "--no-retrain"], "the method 'retrain' contradicts --no-retrain"),
], ids=["routing-ns-pool", "routing-ns-no-retrain", "routing-ns-no-method", "replay-folds", "methods-empty",
        "retrain-contradiction"])
def test_evaluate_estimation_refuses_before_training(root, tmp_path, args, message):
    _refused(["evaluate-estimation", root / "t.parquet", "-o", tmp_path / "e.json", "--quick", "--no-figures", *args,
              *COMMON], message)


def test_evaluate_estimation_without_retrain_leaves_the_method_out(monkeypatch):
    import irtnet.api.estimation as api
    import irtnet.tasks.estimation_protocol as protocol
    from irtnet.api import ModelSpec

    seen = {}

    class Stop(Exception):
        pass

    def fake(data, make, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(api, "prepared", lambda table, encoder: None)
    monkeypatch.setattr(api, "refuse_summary_names", lambda table: None)  # no table file behind "t.parquet"
    monkeypatch.setattr(protocol, "evaluate_estimation", fake)
    with pytest.raises(Stop):
        api.evaluate_estimation("t.parquet", ModelSpec(model="irtnet"), "hashing-64", retrain=False)
    assert "retrain" not in seen["methods"] and seen["retrain"] is None


def test_onboard_refuses_the_name_of_a_known_model_even_without_save(root):
    known = json.loads((root / "run" / "model" / "checkpoint.json").read_text())["state"]["models"][0]
    _refused(["onboard", root / "run", root / "ans.csv", "--name", known],
             f"model {known!r} is already known; choose another name (--name)")


def test_onboard_says_answer_for_one_answer(root, tmp_path):
    pd.read_csv(root / "ans.csv").head(1).to_csv(tmp_path / "one.csv", index=False)
    result = _run(["onboard", root / "run", tmp_path / "one.csv"])
    assert result.exit_code == 0 and "fitted from 1 answer (" in result.output, result.output

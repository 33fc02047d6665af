"""Command lines a user could type that read the wrong thing, destroyed a file, or failed after the work: an empty
path read as the current folder, an output path that is a file of the run or one of the command's own inputs, a
run directory that is the current folder, an unwritable or overlong output path, `demo` and `serve` options
taken as something else, and held-out benchmark names refused without naming the option. Each is one line
`error: ...` and exit code 2, before the work, and nothing is written."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from cli_checks import SMALL, one_line_error as _error, tiny_run_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A folder with a table t.parquet, a tiny run `run` trained on it, prices.json, q.txt and ans.jsonl."""
    root = tiny_run_folder(tmp_path_factory.mktemp("bb9"))
    (root / "q.txt").write_text("what is 2 + 2?\nwho wrote Hamlet?\n")
    (root / "ans.jsonl").write_text('{"text": "what is 2 + 2?", "label": 1}\n{"text": "who wrote it?", "label": 0}\n')
    return root


def _run_copy(root, tmp_path):
    """A copy of the module's run (a test that might damage it works on its own)."""
    shutil.copytree(root / "run", tmp_path / "run")
    return tmp_path / "run"


def _run_still_opens(run) -> None:
    from irtnet import api

    api.Run.open(run).predictor()


# ------------------------------------------------------------------------------------ an empty path argument
@pytest.mark.parametrize("args, name", [
    (["evaluate", ""], "RUN"),
    (["route", "", "a question"], "CHECKPOINT"),
    (["predict-benchmark", "", "{root}/q.txt"], "CHECKPOINT"),
    (["evaluate-cost", ""], "RUN"),
    (["report", "", "-o", "{tmp}/r.html"], "CHECKPOINT"),
    (["route", "{run}", "a question", "--cost-weight", "1", "--prices", ""], "--prices"),
    (["calibrate", "{run}", "--texts", "", "--target", "p=0.5"], "--texts"),
    (["predict-benchmark", "{run}", "{root}/q.txt", "--answers", ""], "--answers"),
])
def test_an_empty_path_is_refused_never_read_as_the_current_folder(root, tmp_path, monkeypatch, args, name):
    """Typer made "" Path("."): run from inside a run directory, `irtnet evaluate ""` scored the current folder."""
    run = _run_copy(root, tmp_path)
    monkeypatch.chdir(run)  # the current folder is a run: "" must not stand for it
    args = [a.format(root=root, tmp=tmp_path, run=run) for a in args]
    assert f"error: {name} is empty ('')" in _error(*args)
    assert not (run / "evaluation.json").exists() and not (run / "cost_routing.json").exists()


def test_an_empty_table_or_run_directory_of_train_is_refused(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: a run could be written into it
    assert "error: TABLE is empty" in _error("train", "", "-o", "r", *SMALL)
    assert "error: --out is empty" in _error("train", root / "t.parquet", "-o", "", *SMALL)
    assert "error: --config is empty" in _error("train", root / "t.parquet", "-o", "r", "--config", "", *SMALL)
    assert "error: --out is empty" in _error("demo", "-o", "", "--models", "3", "--queries", "40")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- outputs that clobber inputs
@pytest.mark.parametrize("args, target", [
    (["evaluate", "{run}", "--markdown", "{run}/run.json"], "run.json"),
    (["predict-benchmark", "{run}", "{root}/q.txt", "--json", "{run}/config.json"], "config.json"),
    (["onboard", "{run}", "{root}/ans.jsonl", "--json", "{run}/model/checkpoint.json"], "model/checkpoint.json"),
    (["evaluate-cost", "{run}", "--prices", "{root}/prices.json", "-o", "{run}/split.json"], "split.json"),
    (["report", "{run}", "-o", "{run}/config"], "config.json"),
])
def test_an_output_file_of_the_run_itself_is_refused(root, tmp_path, args, target):
    """Writing over a run's own file (run.json, config.json, its checkpoint) broke the run for good."""
    run = _run_copy(root, tmp_path)
    before = (run / target).read_bytes()
    message = _error(*[a.format(root=root, run=run) for a in args])
    assert "is a file of the run directory" in message or "is a file of the checkpoint" in message, message
    assert (run / target).read_bytes() == before
    _run_still_opens(run)


def test_an_output_file_that_is_an_input_of_the_command_is_refused(root, tmp_path):
    """`evaluate-onboarding T.parquet -o T.parquet` wrote its JSON over the table after all its work."""
    shutil.copy(root / "t.parquet", tmp_path / "t.parquet")
    table, before = tmp_path / "t.parquet", (tmp_path / "t.parquet").read_bytes()
    for command in (["evaluate-onboarding", "--n-test", "1"], ["evaluate-benchmarks"]):
        message = _error(*command, table, "-o", table, *SMALL)
        assert f"{table}: is the command's input (TABLE): give another path to write" in message, message
    assert table.read_bytes() == before
    texts = tmp_path / "q.txt"
    shutil.copy(root / "q.txt", texts)
    assert "is the command's input (TEXTS_FILE)" in _error("predict-benchmark", root / "run", texts, "--json", texts)
    assert "is the command's input (--texts)" in _error("calibrate", root / "run", "--texts", texts, "--target",
                                                        "p=0.5", "--json", texts)
    assert texts.read_text() == (root / "q.txt").read_text()
    run = _run_copy(root, tmp_path)  # trained on root/t.parquet: evaluate's Markdown must not replace it
    before = (root / "t.parquet").read_bytes()
    assert "is the command's input (the run's table)" in _error("evaluate", run, "--markdown", root / "t.parquet")
    assert (root / "t.parquet").read_bytes() == before


def test_an_output_file_that_cannot_be_written_is_refused_before_the_work(root):
    """A folder that takes no new file (here /proc) was found only when the result was written, after the work."""
    message = _error("predict-benchmark", root / "run", root / "q.txt", "--json", "/proc/x.json")
    assert "/proc/x.json: cannot write here" in message and "Predicted accuracy" not in message


@pytest.mark.parametrize("command", [["route", "{long}", "a question"],
                                     ["predict-benchmark", "{run}", "{root}/q.txt", "--json", "{long}.json"],
                                     ["train", "{root}/t.parquet", "-o", "{long}", *SMALL]])
def test_a_file_name_too_long_is_one_line_not_a_traceback(root, command):
    long = "x" * 300
    message = _error(*[a.format(root=root, run=root / "run", long=long) for a in command])
    assert "File name too long" in message and long in message


# ------------------------------------------------------------------------------------ train into the current folder
@pytest.mark.parametrize("out", [".", "..", "run/.."])
def test_train_into_the_current_folder_is_refused_before_training(root, tmp_path, monkeypatch, out):
    """`irtnet train T -o . --overwrite` inside a run trained, then failed with a traceback (an empty name)."""
    run = _run_copy(root, tmp_path)
    monkeypatch.chdir(run)
    message = _error("train", root / "t.parquet", "-o", out, "--overwrite", *SMALL)
    assert "is the current folder or holds it" in message, message
    _run_still_opens(run)


# ------------------------------------------------------------------------------------------- demo
def test_demo_refuses_an_empty_encoder_never_taking_the_default(tmp_path):
    """`--encoder ""` was read as "not given", and the demo ran with the packaged MiniLM."""
    message = _error("demo", "-o", tmp_path / "d", "--encoder", "", "--models", "3", "--queries", "40", "--epochs",
                     "1", "--preset", "small")
    assert "--encoder is empty" in message
    assert not (tmp_path / "d").exists()


def test_demo_checks_its_folder_and_split_before_writing(root, tmp_path):
    """A file as OUT, or too few queries for the split, failed after printing step 1 and writing the table."""
    flags = ["--models", "3", "--epochs", "1", "--preset", "small", "--encoder", "hashing-32"]
    message = _error("demo", "-o", root / "t.parquet", "--queries", "40", *flags)
    assert "synthetic evaluation logs" not in message and "a folder on its path is a file" in message, message
    message = _error("demo", "-o", tmp_path / "d", "--queries", "10", *flags)
    assert "synthetic evaluation logs" not in message and "leaves no validation queries" in message, message
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------------------------------- serve
@pytest.mark.parametrize("host", ["", "  "])
def test_serve_refuses_an_empty_host_never_listening_everywhere(root, monkeypatch, host):
    """`--host ""` reached uvicorn, which listens on every interface for an empty host."""
    import uvicorn

    called = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: called.append(k))
    message = _error("serve", root / "run", "--host", host, "--token", "secret")
    assert "--host is empty" in message and not called


def test_serve_refuses_a_decision_log_that_is_a_file_of_the_run(root, tmp_path, monkeypatch):
    """`--log RUN/run.json` appended each decision to the run's manifest, and the run no longer opened."""
    import uvicorn

    called = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: called.append(k))
    run = _run_copy(root, tmp_path)
    message = _error("serve", run, "--log", run / "run.json")
    assert "is a file of the run directory" in message and not called
    _run_still_opens(run)


# ------------------------------------------------------------------------------------------- evaluate-cost
@pytest.mark.parametrize("name, said", [
    ("nope", "--baselines: unknown model 'nope'; known: "),
    ("irt-2pl", "--baselines: 'irt-2pl' has free per-item parameters and cannot score the run's test queries"),
])
def test_evaluate_cost_refuses_a_baseline_that_cannot_run_before_the_work(root, tmp_path, monkeypatch, name, said):
    """An unknown baseline was found after the run's data were read, a classical IRT one after it was fitted (with a
    message about a field 'queries')."""
    import irtnet.api.run as run_module

    run = _run_copy(root, tmp_path)
    monkeypatch.setattr(run_module.Run, "datasets", lambda *a, **k: pytest.fail("the data were read first"))
    assert said in _error("evaluate-cost", run, "--prices", root / "prices.json", "--baselines", name)
    assert not (run / "cost_routing.json").exists()


# ------------------------------------------------------------------------------- held-out benchmark names
def test_an_empty_or_repeated_held_out_benchmark_names_the_option(root, tmp_path):
    table = root / "t.parquet"
    message = _error("train", table, "-o", tmp_path / "r", "--holdout-benchmark", "", *SMALL)
    assert "--holdout-benchmark: name 1 of 1 is empty" in message, message
    message = _error("train", table, "-o", tmp_path / "r", "--holdout-benchmark", "algebra", "--holdout-benchmark",
                     "algebra", *SMALL)
    assert "--holdout-benchmark: 'algebra' is given twice" in message, message
    assert not (tmp_path / "r").exists()

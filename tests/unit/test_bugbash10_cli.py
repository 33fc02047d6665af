"""Command lines that read the wrong thing, destroyed a file or named no option: an empty path of `estimate`,
`evaluate-estimation`, `data-efficiency`, `compare`, `results` and `irtnet data` read as the current folder (and
`compare -o ""` wrote a comparison into it), `evaluate-cost -o` onto the run's own table, `train_run(nproc=0)`
training in one process, and a thread count refused without naming --threads (after the data was read)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.errors import ConfigError
from cli_checks import one_line_error as _error, tiny_run_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A folder with a table t.parquet, a tiny run `run` trained on it and prices.json."""
    return tiny_run_folder(tmp_path_factory.mktemp("bb10"))


# ------------------------------------------------------------------------------------ an empty path argument
@pytest.mark.parametrize("args, name", [
    (["estimate", "", "--plan", "3"], "RUN"),
    (["estimate", "{run}", "--answers", ""], "--answers"),
    (["estimate", "{run}", "--plan", "3", "--pool", ""], "--pool"),
    (["evaluate-estimation", "", "-o", "{tmp}/e.json"], "TABLE"),
    (["data-efficiency", "", "-o", "{tmp}/d.json"], "TABLE"),
    (["compare", "--config", "", "-d", "{root}/t.parquet", "-m", "model-benchmark-mean", "-o", "{tmp}/c"],
     "--config"),
    (["results", "", "--summary"], "RUNS"),
    (["results", "{run}", "", "--summary"], "RUNS"),
    (["data", "import", "long", "", "-o", "{tmp}/i.parquet"], "PATH"),
    (["data", "merge", "", "{root}/t.parquet", "-o", "{tmp}/m.parquet"], "TABLES"),
    (["data", "summary", ""], "TABLE"),
    (["data", "encode", "", "--encoder", "hashing-8"], "PATH"),
])
def test_an_empty_path_is_refused_never_read_as_the_current_folder(root, tmp_path, monkeypatch, args, name):
    """Typer made "" Path("."): `irtnet data summary ""` read the current folder, `results ""` its run."""
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    monkeypatch.chdir(run)  # the current folder is a run: "" must not stand for it
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.format(root=root, tmp=tmp_path, run=run) for a in args]
    assert f"error: {name} is empty ('')" in _error(*args)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_compare_into_an_empty_out_is_refused_never_written_into_the_current_folder(root, tmp_path, monkeypatch):
    """`compare -o ""` wrote results.json, cells/, tables/ ... into the current folder."""
    monkeypatch.chdir(tmp_path)
    printed = _error("compare", "-d", root / "t.parquet", "-m", "model-benchmark-mean", "-o", "", "--seeds", "0")
    assert "error: --out is empty ('')" in printed
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- evaluate-cost
@pytest.mark.parametrize("spelling", ["{table}", "{root}/./t.parquet"])
def test_evaluate_cost_refuses_to_write_over_the_runs_table(root, tmp_path, spelling):
    """`evaluate-cost RUN -o TABLE` replaced the table the run was trained on with the cost JSON: the run could
    not be opened again."""
    table = tmp_path / "t.parquet"
    shutil.copy(root / "t.parquet", table)
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["table"] == str(root / "t.parquet")  # the run reads the module's table
    target = spelling.format(table=root / "t.parquet", root=root)
    before = (root / "t.parquet").read_bytes()
    printed = _error("evaluate-cost", run, "--prices", root / "prices.json", "-o", target)
    assert "is the command's input (the run's table): give another path to write" in printed
    assert (root / "t.parquet").read_bytes() == before and not (run / "cost_routing.json").exists()


# --------------------------------------------------------------------------------------------------- nproc
@pytest.mark.parametrize("nproc", [0, -1, 1.5, True, "2"])
def test_train_run_refuses_an_nproc_that_is_no_number_of_processes(root, tmp_path, nproc):
    """With nproc <= 1 the value went unchecked: `train_run(spec, out, nproc=0)` trained in one process."""
    from irtnet import api

    spec = api.run_spec_from(root / "t.parquet", None, preset="small", encoder="hashing-32", epochs=1, threads=1)
    with pytest.raises(ConfigError, match=r"--nproc must be at least 1 \(nproc: a whole number of processes\)"):
        api.train_run(spec, tmp_path / "r", nproc=nproc, progress=False)
    assert not (tmp_path / "r").exists()


def test_one_process_under_torchrun_passes_the_nproc_check(monkeypatch):
    """Every process torchrun (or `spawn`) launched calls `train_run` with nproc 1: not refused as --nproc."""
    from irtnet.training import distributed

    for name, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    distributed.check_nproc(1, "cpu")
    with pytest.raises(ConfigError, match="under torchrun"):
        distributed.check_nproc(2, "cpu")


# ------------------------------------------------------------------------------------------------- threads
def _option_error(*args) -> str:
    """Run `irtnet ARGS`: a usage error (exit code 2, no traceback); its text, the box and wrapping removed."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("command", [
    ["train", "{tmp}/no.parquet", "-o", "{tmp}/r"],
    ["compare", "-d", "{tmp}/no.parquet", "-m", "model-benchmark-mean", "-o", "{tmp}/c"],
    ["evaluate-benchmarks", "{tmp}/no.parquet", "-o", "{tmp}/b.json"],
    ["evaluate-onboarding", "{tmp}/no.parquet", "-o", "{tmp}/o.json"],
    ["evaluate-estimation", "{tmp}/no.parquet", "-o", "{tmp}/e.json"],
    ["data-efficiency", "{tmp}/no.parquet", "-o", "{tmp}/d.json"],
    ["serve", "{tmp}/no-run"],
])
@pytest.mark.parametrize("threads", ["0", "-2", "5000"])
def test_a_thread_count_out_of_range_is_refused_naming_threads(tmp_path, command, threads):
    """The task commands refused --threads 0 from inside the training ("the number of threads must be a positive
    integer"), train and compare as the config field "threads", 5000 after the data was read (and serve set 5000
    torch threads): now each names --threads while the arguments are parsed."""
    printed = _option_error(*[a.format(tmp=tmp_path) for a in command], "--threads", threads)
    assert f"Invalid value for '--threads': the number of threads must be from 1 to 4096, got {threads}" in printed
    assert "no.parquet" not in printed and "no-run" not in printed  # refused before any path is read
    assert list(tmp_path.iterdir()) == []


def test_threads_of_a_train_config_are_bounded_as_the_option(root, tmp_path):
    """`threads = 5000` in a run config was refused only once the training began, naming no field."""
    (tmp_path / "c.toml").write_text("threads = 5000\n")
    printed = _error("train", root / "t.parquet", "-o", tmp_path / "r", "--config", tmp_path / "c.toml")
    assert "threads: Input should be less than or equal to 4096" in printed
    assert not (tmp_path / "r").exists()


def test_the_threads_check_loads_no_heavy_library():
    """--threads is checked while the arguments are parsed: an error there starts without torch (as
    tests/unit/test_cli_startup.py asks of every argument error)."""
    code = ("import sys; from typer.testing import CliRunner; from irtnet.cli.main import app; "
            "r = CliRunner().invoke(app, ['train', 'x.parquet', '-o', 'y', '--threads', '0']); "
            "print(r.exit_code, sorted(m for m in ('torch', 'sklearn', 'scipy', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr

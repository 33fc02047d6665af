"""Leftovers of bug bash 5: an output path typed with a trailing '/' (a folder) is refused, not written as a file
of that name; a run's own table with a benchmark named as the estimate's overall row is refused naming the table
file. Each test failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_checks import one_line_error
from irtnet._io import check_file_target, write_json
from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError
from irtnet.tasks.estimate import OVERALL

runner = CliRunner()


# ------------------------------------------------------------------------------- 1. a folder's path as output
@pytest.mark.parametrize("args, option", [
    (["estimate", "RUN", "--answers", "a.csv", "--json", "OUT"], "--json"),
    (["estimate", "RUN", "--plan", "3", "-o", "OUT"], "--out"),
    (["evaluate-estimation", "t.parquet", "-o", "OUT"], "--out"),
    (["data-efficiency", "t.parquet", "--out", "OUT"], "--out"),
    (["data", "import", "auto", "logs", "-o", "OUT"], "--out"),
    (["data", "merge", "a.parquet", "b.parquet", "-o", "OUT"], "--out"),
    (["evaluate", "RUN", "--markdown", "OUT"], "--markdown"),
    (["compare", "--markdown", "OUT"], "--markdown"),
    (["results", "RUN", "--output", "OUT"], "--output"),
    (["predict-benchmark", "RUN", "t.txt", "--json", "OUT"], "--json"),
    (["evaluate-benchmarks", "t.parquet", "-o", "OUT"], "--out"),
    (["onboard", "RUN", "a.csv", "--json", "OUT"], "--json"),
    (["evaluate-onboarding", "t.parquet", "-o", "OUT"], "--out"),
    (["evaluate-cost", "RUN", "-o", "OUT"], "--out"),
    (["report", "RUN", "-o", "OUT"], "--out"),
    (["calibrate", "RUN", "q.txt", "0.5", "--json", "OUT"], "--json"),
    (["serve", "RUN", "--log", "OUT"], "--log"),
])
@pytest.mark.parametrize("ending", ["/", "/."])
def test_an_output_path_ending_in_a_slash_is_refused_not_written_as_a_file(tmp_path, args, option, ending):
    """Path("out/") is Path("out"): the option was read as the file `out`, and written as one after the work."""
    out = f"{tmp_path / 'out'}{ending}"
    printed = one_line_error(*[out if a == "OUT" else tmp_path / a if a == "RUN" else a for a in args])
    assert printed == f"error: {option} {out!r}: names a folder, not a file: give the path of a file to write"
    assert not (tmp_path / "out").exists()


def test_the_python_writers_refuse_a_text_that_names_a_folder(tmp_path):
    from irtnet._io import names_a_folder

    assert [names_a_folder(p) for p in ("out/", "out/.", "..", "out", "a/b.json", Path("out/"))] == [
        True, True, True, False, False, False]
    with pytest.raises(DataError, match=r"out/: names a folder, not a file: give the path of a file to write"):
        write_json(f"{tmp_path / 'out'}/", {"a": 1})
    with pytest.raises(DataError, match="names a folder"):
        check_file_target(f"{tmp_path / 'new'}/")
    assert not (tmp_path / "out").exists() and not (tmp_path / "new").exists()
    (tmp_path / "there").mkdir()
    with pytest.raises(DataError, match="there: is a folder"):  # an existing folder: the message as before
        check_file_target(f"{tmp_path / 'there'}/")


def test_the_help_shows_an_output_option_as_a_path():
    result = runner.invoke(app, ["estimate", "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0 and not any("--json" in line and "<Path>" in line for line in result.output.splitlines())
    assert any("--json" in line and "<path>" in line for line in result.output.splitlines()), result.output


# ----------------------------------------------------------------- 2. a run's benchmark named as the overall row
@pytest.fixture(scope="module")
def overall_named_run(tmp_path_factory):
    """A tiny run whose table names one benchmark OVERALL; its output folder given with a trailing '/' (a run
    directory is a folder: the slash is as good as none there)."""
    root = tmp_path_factory.mktemp("leftovers5")
    table = make_synthetic(n_models=6, n_queries=300, n_benchmarks=2, dim=2, feature_dim=8, seed=0).table
    queries = table.queries.assign(benchmark=table.queries["benchmark"].replace("algebra", OVERALL))
    ResponseTable(table.responses, queries, table.models).to_parquet(root / "t.parquet")
    result = runner.invoke(app, ["train", str(root / "t.parquet"), "-o", f"{root / 'run'}/", "--preset", "small",
                                 "--encoder", "hashing-64", "--epochs", "1", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert (root / "run" / "run.json").is_file()
    return root / "run"


def test_a_run_table_benchmark_named_as_the_overall_row_is_refused_naming_the_table(overall_named_run, tmp_path):
    """It was refused by the estimate, after the pool was built, with a message naming neither file nor field's
    source: "field 'benchmark': a benchmark is named '(all benchmarks)' ..."."""
    from irtnet.api.estimate import open_pool

    message = (r"t.parquet, field 'benchmark': '\(all benchmarks\)' is the name of a row over every benchmark, not a "
               r"benchmark name; rename the benchmark and retrain the run")
    with pytest.raises(DataError, match=message):
        open_pool(overall_named_run)
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"query": "q000001", "correct": 1}\n')
    printed = one_line_error("estimate", overall_named_run, "--answers", answers)
    assert f"{overall_named_run.parent / 't.parquet'}, field 'benchmark'" in printed

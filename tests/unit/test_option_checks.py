"""Bad option values refused up front with one clear line: demo sizes and epochs (nothing written), the long
importer's non-finite threshold / outcome_scale and empty names, its notes on columns named like a role but not
mapped, a query's text missing on one row, `train --split` (empty; with held-out benchmarks), config file kinds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet.config import check_holdout_fractions, read_config_file
from irtnet.data.importers import parse_options
from irtnet.data.importers.long import import_long
from irtnet.data.synthetic import MAX_CELLS, check_size, make_synthetic
from irtnet.errors import ConfigError, DataError

runner = CliRunner()
CSV = "model,query,label,benchmark,text\nm1,q1,1,b,hello\nm2,q1,0,b,hello\nm1,q2,0,b,world\nm2,q2,1,b,world\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _main():
    from irtnet.cli.main import app  # imports torch: only for the tests that run a command

    return app


def _one_line_error(result, *parts):
    """Exit code 2 and one line `error: ...` holding every part; no traceback."""
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in result.output and len(errors) == 1, result.output
    assert all(p in errors[0] for p in parts), errors[0]


# --------------------------------------------------------------------------------------- synthetic, demo
@pytest.mark.parametrize("sizes,message", [
    ({"n_models": 0}, "n_models must be a positive integer, got 0"),
    ({"n_queries": -2}, "n_queries must be a positive integer, got -2"),
    ({"dim": 0}, "dim must be a positive integer, got 0"),
    ({"n_models": 2.5}, "n_models must be a positive integer, got 2.5"),
])
def test_make_synthetic_refuses_sizes_that_are_not_positive_integers(sizes, message):
    with pytest.raises(ConfigError, match=message):
        make_synthetic(**sizes)


def test_check_size_names_the_options_and_the_limit():
    check_size(40, 3000)
    check_size(1, MAX_CELLS)
    with pytest.raises(ConfigError, match=r"--models x --queries = 3 x 100000000 = 300,000,000 .*limit of "
                                          r"2,000,000"):
        check_size(3, 100_000_000, names=("--models", "--queries"))
    with pytest.raises(ConfigError, match="--queries must be a positive integer, got 0"):
        check_size(3, 0, names=("--models", "--queries"))


@pytest.mark.parametrize("args,parts", [
    (["--models", "0"], ["--models must be a positive integer, got 0"]),
    (["--queries", "0"], ["--queries must be a positive integer, got 0"]),
    (["--models", "-2"], ["--models must be a positive integer, got -2"]),
    (["--queries", "100000000"], ["--models x --queries", "300,000,000", "limit of 2,000,000"]),
    (["--epochs", "0"], ["invalid IrtNet parameters: epochs"]),
    (["--encoder", "hashing-0"], ["hashing-0"]),
    (["--preset", "nope"], ["unknown IrtNet preset 'nope'"]),
])
def test_demo_refuses_bad_options_before_writing_anything(tmp_path, args, parts):
    out = tmp_path / "demo"
    result = runner.invoke(_main(), ["demo", "-o", str(out), "--models", "3", "--queries", "100", "--epochs", "1",
                                     "--encoder", "hashing-8", "--preset", "small", *args])
    _one_line_error(result, *parts)
    assert not out.exists()


def test_a_failed_demo_rerun_puts_the_earlier_table_back(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "table.parquet").write_bytes(b"the earlier demo's table")
    # 3 queries pass the option checks but leave the split without validation queries, inside training
    result = runner.invoke(_main(), ["demo", "-o", str(out), "--models", "3", "--queries", "3", "--epochs", "1",
                                     "--encoder", "hashing-8", "--preset", "small"])
    _one_line_error(result, "leaves no validation queries")
    assert (out / "table.parquet").read_bytes() == b"the earlier demo's table"
    assert sorted(p.name for p in out.iterdir()) == ["table.parquet"]
    fresh = tmp_path / "new" / "demo"
    result = runner.invoke(_main(), ["demo", "-o", str(fresh), "--models", "3", "--queries", "3", "--epochs", "1",
                                     "--encoder", "hashing-8", "--preset", "small"])
    assert result.exit_code == 2 and not (tmp_path / "new").exists()


def test_demo_into_a_file_says_so_in_one_line(tmp_path):
    (tmp_path / "afile").write_text("mine")
    result = runner.invoke(_main(), ["demo", "-o", str(tmp_path / "afile"), "--models", "3", "--queries", "100",
                                     "--epochs", "1", "--encoder", "hashing-8", "--preset", "small"])
    _one_line_error(result, "table.parquet: cannot write here: a folder on its path is a file")
    assert (tmp_path / "afile").read_text() == "mine"


# ------------------------------------------------------------------------------------------ long import
@pytest.mark.parametrize("option", [{"threshold": float("nan")}, {"threshold": float("inf")},
                                    {"threshold": float("-inf")}, {"outcome_scale": float("inf")},
                                    {"outcome_scale": float("nan")}])
def test_long_refuses_a_non_finite_threshold_or_scale(tmp_path, option):
    with pytest.raises(ConfigError, match=rf"{next(iter(option))}: Input should be a finite number"):
        import_long(_write(tmp_path, "ok.csv", CSV), **option)


@pytest.mark.parametrize("pair", ["threshold=nan", "threshold=inf", "outcome_scale=inf", "outcome_scale=-inf"])
def test_the_import_command_refuses_a_non_finite_threshold_or_scale(tmp_path, pair):
    from irtnet.cli.data import app

    out = tmp_path / "x.parquet"
    result = runner.invoke(app, ["import", "long", str(_write(tmp_path, "ok.csv", CSV)), "-o", str(out), "-O", pair])
    _one_line_error(result, f"{pair.split('=')[0]}: Input should be a finite number")
    assert not out.exists()


def test_an_empty_option_value_is_refused_not_read_as_not_given(tmp_path):
    with pytest.raises(ConfigError, match=r"option default_benchmark= is empty: give a value, or "
                                          r"default_benchmark=none to leave it unset"):
        parse_options("long", ["default_benchmark="])
    with pytest.raises(ConfigError, match="option benchmark= is empty"):
        parse_options("long", ["benchmark=  "])
    assert parse_options("long", ["default_benchmark=none"]) == {"default_benchmark": None}
    for field in ("default_benchmark", "benchmark", "text"):
        with pytest.raises(ConfigError, match=rf"invalid column mapping: {field}: .*is empty"):
            import_long(_write(tmp_path, "ok.csv", CSV), **{field: ""})


def test_long_notes_columns_named_like_a_role_but_not_mapped(tmp_path):
    path = _write(tmp_path, "ok.csv", "model,query,label,benchmark,text,cost\nm1,q1,1,b,hello,0.1\n"
                  "m2,q1,0,b,hello,0.2\nm1,q2,0,b,world,0.1\nm2,q2,1,b,world,0.2\n")
    notes = import_long(path).report.notes
    assert any("column 'benchmark' is not mapped, so every query is in benchmark 'ok', the file name: give the "
               "option benchmark=benchmark (-O benchmark=benchmark) to read it" in n for n in notes), notes
    assert any("column 'text' is not mapped, so no query has a text: give the option text=text" in n for n in notes)
    assert any("column 'cost' is not mapped, so no response has a cost" in n for n in notes)
    assert not any("no benchmark column" in n for n in notes)  # there is one: it is not mapped
    named = import_long(path, default_benchmark="mine").report.notes
    assert any("so every query is in benchmark 'mine', the default_benchmark" in n for n in named), named
    mapped = import_long(path, benchmark="benchmark", text="text", cost="cost")
    assert not any("not mapped" in n for n in mapped.report.notes)
    assert mapped.benchmark_vocab.ids == ("b",) and mapped.has_text
    plain = import_long(_write(tmp_path, "plain.csv", "model,query,label\nm1,q1,1\nm2,q1,0\n")).report.notes
    assert any("no benchmark column or default_benchmark: every query is in benchmark 'plain', the file name" in n
               for n in plain), plain


def test_a_query_with_text_on_one_row_only_says_which_row_has_none(tmp_path):
    csv = _write(tmp_path, "t.csv", "model,query,label,benchmark,text\nm1,q1,1,b,hello\nm2,q1,0,b,\n")
    with pytest.raises(DataError, match=r"t.csv, row 2, field 'text': query id 'q1' has a text on row 1 but none "
                                        r"on row 2"):
        import_long(csv, benchmark="benchmark", text="text")
    lines = [{"model": "m1", "query": "q1", "label": 1}, {"model": "m2", "query": "q2", "label": 1, "text": "b"},
             {"model": "m2", "query": "q1", "label": 0, "text": "a"}]
    jsonl = _write(tmp_path, "t.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(DataError, match=r"t.jsonl, line 1, field 'text': query id 'q1' has a text on line 3 but "
                                        r"none on line 1"):
        import_long(jsonl, text="text", default_benchmark="b")
    two = _write(tmp_path, "two.csv", "model,query,label,text\nm1,q1,1,hi\nm2,q1,0,hi\nm3,q1,1,bye\n")
    with pytest.raises(DataError, match=r"two different text values \(rows \[1, 3\]\)"):  # the rows that differ
        import_long(two, text="text", default_benchmark="b")


# -------------------------------------------------------------------------------- train --split, config
def test_holdout_fractions_must_leave_the_test_part_to_the_held_out_benchmarks():
    check_holdout_fractions((0.7, 0.3, 0.0))
    with pytest.raises(ConfigError, match=r"--split 0.5,0.2,0.3 with held-out benchmarks .*the test fraction must "
                                          r"be 0: give --split TRAIN,VAL,0 \(e.g. 0.8,0.2,0\)"):
        check_holdout_fractions((0.5, 0.2, 0.3))


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "t.parquet"
    make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=8, seed=1).table.to_parquet(path)
    return path


def _train(table, out, *args):
    return runner.invoke(_main(), ["train", str(table), "-o", str(out), "--preset", "small", "--encoder", "hashing-16",
                                   "--epochs", "1", "--quiet", "--threads", "1", *args])


@pytest.mark.parametrize("args,parts", [
    (["--split", ""], ["--split is empty"]),
    (["--split", " "], ["--split is empty"]),
    (["--split", "a,b,c"], ["--split 'a' is not a plain decimal number", "expected three comma-separated numbers"]),
    (["--holdout-benchmark", "algebra", "--split", "0.5,0.2,0.3"],
     ["--split 0.5,0.2,0.3 with held-out benchmarks", "the test fraction must be 0"]),
])
def test_train_refuses_an_empty_split_and_test_fractions_with_held_out_benchmarks(table, tmp_path, args, parts):
    result = _train(table, tmp_path / "run", *args)
    _one_line_error(result, *parts)
    assert not (tmp_path / "run").exists()


def test_a_config_file_benchmark_split_refuses_a_split_test_fraction_too(table, tmp_path):
    config = _write(tmp_path, "c.json", json.dumps({"data": {"split": "benchmark", "holdout_benchmark": "algebra"}}))
    _one_line_error(_train(table, tmp_path / "run", "--config", str(config), "--split", "0.8,0.1,0.1"),
                    "the test fraction must be 0")


def test_train_with_held_out_benchmarks_takes_the_validation_share_of_split(table, tmp_path):
    result = _train(table, tmp_path / "run", "--holdout-benchmark", "algebra", "--split", "0.7,0.3,0")
    assert result.exit_code == 0, result.output
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["params"]["val_fraction"] == 0.3
    assert 0.2 < len(split["val"]) / (len(split["train"]) + len(split["val"])) < 0.4


def test_config_files_are_json_or_toml_and_the_message_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"c9.yaml: a YAML file; only JSON and TOML config files are read"):
        read_config_file(_write(tmp_path, "c9.yaml", "threads: 1\n"))
    with pytest.raises(ConfigError, match=r"c9.yml: a YAML file"):
        read_config_file(_write(tmp_path, "c9.yml", "threads: 1\n"))
    with pytest.raises(ConfigError, match=r"c.cfg: not valid JSON .*only JSON and TOML config files are read, TOML "
                                          r"in a file named .toml"):
        read_config_file(_write(tmp_path, "c.cfg", "threads = 1\n"))
    assert read_config_file(_write(tmp_path, "c.toml", "threads = 1\n")) == {"threads": 1}
    result = runner.invoke(_main(), ["train", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "r"), "--config",
                                     str(tmp_path / "c9.yaml")])
    _one_line_error(result, "c9.yaml: a YAML file; only JSON and TOML config files are read")


def test_ctrl_c_is_one_line_and_exit_code_130_not_a_silent_exit():
    import typer

    from irtnet.cli.common import INTERRUPTED, friendly_errors

    tiny = typer.Typer()

    @tiny.command()
    @friendly_errors
    def work() -> None:
        raise KeyboardInterrupt

    result = runner.invoke(tiny, [])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert " ".join(result.output.split()) == " ".join(INTERRUPTED.split())
    assert INTERRUPTED.startswith("interrupted: no file was left half-written")


@pytest.mark.parametrize("command", ["evaluate-benchmarks", "evaluate-onboarding", "evaluate-estimation",
                                     "data-efficiency"])
def test_help_keeps_bracketed_words_that_rich_would_read_as_markup(command):
    from irtnet.cli.main import app

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "config with only a [model] table" in result.output

"""The importer registry, option parsing and the `irtnet data` commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet.cli.data import app  # the `irtnet data` sub-app; cli.main would import torch
from irtnet.data.importers import IMPORTERS, describe, options_of, parse_options
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError

runner = CliRunner()
CSV = "system,item,correct\na,q1,1\na,q2,\nb,q1,0\nb,q2,1\n"


def test_every_format_has_a_description_and_known_options():
    for name in IMPORTERS:
        assert describe(name) and isinstance(options_of(name), dict)
    assert options_of("llmrouter") == {"splits": ("train", "test")}
    assert {"mapping", "model", "exclude_models", "n_trials"} <= set(options_of("long"))


@pytest.mark.parametrize("format,pairs,expected", [
    ("llmrouter", ["splits=train"], {"splits": ["train"]}),
    ("zeroeval", ["benchmarks=crux,gsm", "texts=false"], {"benchmarks": ["crux", "gsm"], "texts": False}),
    ("cruxeval", ["temperature=0.2"], {"temperature": 0.2}),
    ("swebench", ["exclude_models=[\"A, B\", \"C\"]"], {"exclude_models": ["A, B", "C"]}),
    ("swebench", ["exclude_models="], {"exclude_models": []}),
    ("long", ["n_trials=10", "outcome_scale=100", "cost=usd"],
     {"n_trials": 10, "outcome_scale": 100.0, "cost": "usd"}),
    ("long", ["n_trials=samples", "threshold=none"], {"n_trials": "samples", "threshold": None}),
])
def test_options_are_typed_as_the_importer_declares(format, pairs, expected):
    assert parse_options(format, pairs) == expected


@pytest.mark.parametrize("format,pairs,message", [
    ("llmrouter", ["splits"], r"option 'splits' is not key=value"),
    ("llmrouter", ["split=train"], r"format 'llmrouter' takes no option 'split' \(its options: splits\)"),
    ("cruxeval", ["temperature=hot"], r"option temperature='hot': Input should be a valid number"),
    ("mmlu-pro", ["group=subject"], r"option group='subject': Input should be 'category' or 'src'"),
    ("nope", [], r"unknown format 'nope'; known formats: .*embedllm, long, .*lm-eval, inspect, helm"),
])
def test_bad_options_are_config_errors(format, pairs, message):
    with pytest.raises(ConfigError, match=message):
        parse_options(format, pairs)


def test_import_then_summary_through_the_cli(tmp_path):
    (tmp_path / "s.csv").write_text(CSV)
    out = tmp_path / "t.parquet"
    result = runner.invoke(app, ["import", "long", str(tmp_path / "s.csv"), "-o", str(out), "-O", "model=system",
                                 "-O", "query=item", "--option", "outcome=correct", "-O", "default_benchmark=b"])
    assert result.exit_code == 0, result.output
    assert "2 models x 2 queries" in result.output
    assert "skipped 1: missing outcome ('correct' empty): not observed" in result.output
    assert ResponseTable.read_parquet(out).n_models == 2
    shown = runner.invoke(app, ["summary", str(out)])
    assert shown.exit_code == 0 and "per model" in shown.output and "0.500" in shown.output
    data = json.loads(runner.invoke(app, ["summary", str(out), "--json"]).output)
    assert (data["models"], data["queries"], data["responses"], data["positives"]) == (2, 2, 3, 2)
    assert data["report"]["skipped"] == {"missing outcome ('correct' empty): not observed": 1}


@pytest.mark.parametrize("args,message", [
    (["import", "long", "{dir}/s.csv", "-o", "{dir}/t.parquet"],
     "missing required columns ['model', 'query', 'label']"),
    (["import", "long", "{dir}/s.csv", "-o", "{dir}/t.parquet", "-O", "bogus=1"], "takes no option 'bogus'"),
    (["import", "long", "{dir}/s.csv", "-o", "{dir}/t.parquet", "-O", "model=item", "-O", "query=item"],
     "column 'item' is mapped to two roles, model and query (option model=item, option query=item)"),
    (["import", "wide", "{dir}/none.csv", "-o", "{dir}/t.parquet"], "none.csv: no such file"),
    (["summary", "{dir}/s.csv"], "not a readable Parquet file"),
])
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    (tmp_path / "s.csv").write_text(CSV)
    result = runner.invoke(app, [a.format(dir=tmp_path) for a in args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())  # rich wraps long lines
    assert "Traceback" not in result.output


def test_formats_and_help_texts_show_examples():
    listed = runner.invoke(app, ["formats"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in IMPORTERS) and "splits=train,test" in listed.output
    helped = runner.invoke(app, ["import", "--help"])
    assert helped.exit_code == 0 and "irtnet data import routerbench" in helped.output

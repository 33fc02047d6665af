"""Format detection (`detect_format`, `import_table("auto")`) and merging response tables with provenance."""

from __future__ import annotations

import gzip
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet.cli.data import app
from irtnet.data.importers import import_table
from irtnet.data.importers.detect import detect_format
from irtnet.data.merge import entry, merge_tables, provenance_models, provenance_of
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError

TS = "2026-01-21T03-44-18.458309"
runner = CliRunner()


# ---------------------------------------------------------------- shapes of each format
def _lm_eval(root):
    folder = root / "org__model"
    folder.mkdir(parents=True)
    (folder / f"results_{TS}.json").write_text(json.dumps({"results": {"asdiv": {}}, "configs": {}, "n-samples": {}}))
    (folder / f"samples_asdiv_{TS}.jsonl").write_text(json.dumps({"doc_id": 0, "doc": {}, "acc": 1}) + "\n")
    return root


def _inspect(root):
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"version": 2, "status": "success", "eval": {"task": "t"},
                                               "samples": []}))
    with zipfile.ZipFile(root / "run.eval", "w") as zf:
        zf.writestr("header.json", "{}")
    return root


def _helm(root):
    run = root / "mmlu-subject=philosophy,model=gpt2"
    run.mkdir(parents=True)
    for name, data in (("run_spec.json", {"name": "mmlu"}), ("scenario_state.json", {"request_states": []}),
                       ("per_instance_stats.json", []), ("stats.json", []), ("scenario.json", {})):
        (run / name).write_text(json.dumps(data))
    return root


def _lighteval(root):
    details = root / "details" / "org" / "m" / TS
    details.mkdir(parents=True)
    pd.DataFrame({"doc": [{"id": "1", "query": "q", "task_name": "t|0"}], "metric": [{"acc": 1}]}).to_parquet(
        details / f"details_t|0_{TS}.parquet")
    (root / "results" / "org" / "m").mkdir(parents=True)
    (root / "results" / "org" / "m" / f"results_{TS}.json").write_text(json.dumps({"config_general": {}}))
    return root


def _oll(root):
    folder = root / "org__m"
    folder.mkdir(parents=True)
    (folder / f"samples_leaderboard_bbh_navigate_{TS}.jsonl").write_text(json.dumps({"doc_id": 0, "acc_norm": 1}))
    (folder / f"results_{TS}.json").write_text(json.dumps({"results": {}, "configs": {}}))
    return root


def _eee(root):
    root.mkdir(parents=True)
    (root / "u_samples.jsonl").write_text(json.dumps({"schema_version": "0.3.0", "evaluation_id": "e",
                                                      "sample_id": "1"}) + "\n")
    (root / "u.json").write_text(json.dumps({"schema_version": "0.3.0", "evaluation_results": []}))
    return root


def _opencompass(root):
    for part in ("results", "predictions"):
        (root / "20240101_000000" / part / "m").mkdir(parents=True)
        (root / "20240101_000000" / part / "m" / "gsm8k.json").write_text("{}")
    (root / "20240101_000000" / "summary").mkdir()
    (root / "20240101_000000" / "summary" / "report.csv").write_text("dataset,m\ngsm8k,50\n")
    return root


def _embedllm(root):
    root.mkdir(parents=True)
    with gzip.open(root / "train.csv.gz", "wt") as handle:
        handle.write("model_id,prompt_id,prompt,label,category\n")
    return root


@pytest.mark.parametrize("write,expected", [
    (_lm_eval, "lm-eval"), (_inspect, "inspect"), (_helm, "helm"), (_lighteval, "lighteval"),
    (_oll, "open-llm-leaderboard"), (_eee, "eee"), (_opencompass, "opencompass"), (_embedllm, "embedllm"),
])
def test_detect_format_of_each_folder_shape(tmp_path, write, expected):
    root = write(tmp_path / "logs")
    assert detect_format(root) == expected
    # files that alone say nothing (HELM's stats.json, OpenCompass's summary) or are another tool's
    # (the lm-eval results file beside Open LLM Leaderboard samples) are left out
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("stats.json", "scenario.json",
                                                                                "report.csv")
                   and not (expected == "open-llm-leaderboard" and p.name.startswith("results_")))
    assert {detect_format(f) for f in files} == {expected}


@pytest.mark.parametrize("name,expected", [
    ("model_outputs_gpt-4o_5shots.zip", "mmlu-pro"), ("cruxeval_leaderboard_scored.csv.gz", "cruxeval"),
    ("swebench_verified_bash_only_scored.csv.gz", "swebench"), ("zeroeval_gsm_scored.csv.gz", "zeroeval"),
    ("lcb_leaderboard_performances.tar.xz", "livecodebench"), (f"samples_leaderboard_ifeval_{TS}.parquet",
                                                              "open-llm-leaderboard"),
])
def test_detect_format_by_file_name(tmp_path, name, expected):
    (tmp_path / name).write_bytes(b"")
    assert detect_format(tmp_path / name) == expected


def test_detect_format_says_what_it_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"cannot detect the format of .*notes.txt': the file matches none of the "
                                          r"shapes looked for \(lm-eval: samples_<task>_<timestamp>.jsonl"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match=r"no file in the folder matches any of the shapes looked for .*name the format instead"):
        detect_format(tmp_path)
    with pytest.raises(ConfigError, match="no such file or folder"):
        detect_format(tmp_path / "absent")


def test_detect_format_refuses_a_mix(tmp_path):
    _lm_eval(tmp_path / "a")
    _inspect(tmp_path / "b")
    with pytest.raises(ConfigError, match=r"holds logs of several formats: inspect \(2 files, .*; lm-eval \(2 files"):
        detect_format(tmp_path)


def test_import_auto_detects_and_says_so(tmp_path):
    root = _lighteval(tmp_path / "logs")
    table = import_table("auto", root)
    assert table.report.notes[0] == "format detected from the files: lighteval" and table.n_queries == 1
    out = tmp_path / "t.parquet"
    result = runner.invoke(app, ["import", "auto", str(root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "detected format: lighteval" in result.output and ResponseTable.read_parquet(out).n_models == 1


# ---------------------------------------------------------------- merge
def _table(labels, *, bench="anli", version=None, digest=None, source="a.jsonl", text="Q", cost=None):
    """A table of {model: [label per query]} over queries bench/0.. with provenance."""
    rows = [{"model": m, "query": f"{bench}/{i}", "n_correct": float(v), "n_trials": 1.0, "benchmark": bench,
             "text": f"{text}{i}", **({"cost": cost} if cost is not None else {})}
            for m, values in labels.items() for i, v in enumerate(values)]
    models = provenance_models({m: [entry(source, bench, "lighteval", "0.13", version, digest)] for m in labels})
    return ResponseTable.from_records(pd.DataFrame(rows), models=models, source=source)


def test_merge_keeps_models_and_provenance(tmp_path):
    merged = merge_tables([_table({"a": [1, 0]}, version=1, source="A"), _table({"b": [0, 1]}, version=1,
                                                                                 source="B", text="other")])
    np.testing.assert_array_equal(merged.label_matrix(), [[1, 0], [0, 1]])
    assert [(p["model"], p["source"], p["task_version"]) for p in provenance_of(merged)] == [("a", "A", "1"),
                                                                                              ("b", "B", "1")]
    assert merged.texts_of(["anli/0"]) == ["Q0"] and any("different texts" in n for n in merged.report.notes)
    merged.to_parquet(tmp_path / "m.parquet")
    assert provenance_of(ResponseTable.read_parquet(tmp_path / "m.parquet")) == provenance_of(merged)


def test_merge_refuses_two_task_versions_unless_renamed():
    a, b = _table({"a": [1, 0]}, version=0, source="A"), _table({"b": [1, 1]}, version=1, source="B")
    with pytest.raises(DataError, match=r"benchmark 'anli' has two task versions: version 0 in A and version 1 in B; "
                                        r"they are different tasks"):
        merge_tables([a, b])
    merged = merge_tables([a, b], versions="rename")
    assert merged.benchmark_vocab.ids == ("anli@v0", "anli@v1") and "anli/0@v1" in merged.query_vocab.ids
    assert {p["benchmark"] for p in provenance_of(merged)} == {"anli@v0", "anli@v1"}
    hashed = merge_tables([_table({"a": [1]}, digest="aaaaaaaaaa"), _table({"b": [1]}, digest="bbbbbbbbbb")],
                          ["A", "B"], versions="rename")
    assert hashed.benchmark_vocab.ids == ("anli@haaaaaaaa", "anli@hbbbbbbbb")
    assert merge_tables([_table({"a": [1]}, version=0), _table({"b": [1]})]).n_models == 2  # unknown: no clash


def test_merge_label_conflicts_error_or_combine_as_counts():
    a, b = _table({"m": [1, 0]}, source="A"), _table({"m": [0, 0]}, source="B")
    with pytest.raises(DataError, match=r"model 'm', query 'anli/0': label 1 in A but 0 in B \(1 such pairs\); "
                                        r"pass --labels counts"):
        merge_tables([a, b])
    counts = merge_tables([a, b], labels="counts")
    assert counts.label_matrix(value="n_trials").ravel().tolist() == [2, 2]
    assert counts.label_matrix(value="n_correct").ravel().tolist() == [1, 0]
    assert counts.label_matrix().ravel().tolist() == [1, 0]  # a 1-1 tie goes to correct
    same = merge_tables([a, _table({"m": [1, 0]}, source="C")])
    assert same.report.skipped == {"records of a (model, query) pair already in an earlier source, with the same "
                                   "label": 2} and same.label_matrix(value="n_trials").ravel().tolist() == [1, 1]


def test_merge_errors_and_options():
    with pytest.raises(DataError, match=r"query 'anli/0' is in benchmark 'anli' in A but 'x' in B"):
        merge_tables([_table({"a": [1]}), _rebench()], ["A", "B"])
    with pytest.raises(ConfigError, match="labels must be one of error, counts, got 'vote'"):
        merge_tables([_table({"a": [1]}), _table({"b": [1]})], labels="vote")
    with pytest.raises(ConfigError, match="merge needs at least two tables"):
        merge_tables([_table({"a": [1]})])
    cost = merge_tables([_table({"a": [1]}, cost=0.5), _table({"b": [1]})])
    assert not cost.has_cost and "cost dropped" in cost.report.notes[0]


def _rebench():
    """Query id 'anli/0' in benchmark 'x' (an id collision with `_table`'s)."""
    rows = pd.DataFrame({"model": ["b"], "query": ["anli/0"], "n_correct": [1.0], "n_trials": [1.0],
                         "benchmark": ["x"]})
    return ResponseTable.from_records(rows, source="B")


def test_a_table_without_provenance_gets_its_source(tmp_path):
    plain = ResponseTable.from_records(pd.DataFrame({"model": ["z"], "query": ["q"], "n_correct": [1.0],
                                                     "n_trials": [1.0], "benchmark": ["b"]}), source="plain.csv")
    assert provenance_of(plain) == [{"model": "z", "source": "plain.csv", "tool": None, "tool_version": None,
                                     "benchmark": "b", "task_version": None, "task_hash": None}]


def test_merge_command(tmp_path):
    paths = []
    for name, labels in (("a", {"m": [1, 0]}), ("b", {"m": [0, 0]})):
        _table(labels, source=name).to_parquet(tmp_path / f"{name}.parquet")
        paths.append(str(tmp_path / f"{name}.parquet"))
    out = tmp_path / "merged.parquet"
    failed = runner.invoke(app, ["merge", *paths, "-o", str(out)])
    assert failed.exit_code == 2 and "pass --labels counts" in " ".join(failed.output.split())
    done = runner.invoke(app, ["merge", *paths, "-o", str(out), "--labels", "counts"])
    assert done.exit_code == 0, done.output
    assert "merged 2 tables: 1 models x 2 queries" in done.output
    assert ResponseTable.read_parquet(out).label_matrix(value="n_trials").ravel().tolist() == [2, 2]

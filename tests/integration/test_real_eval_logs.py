"""The lm-eval, Inspect and HELM importers on the real logs in ../shared/data/eval-logs (skipped where absent).

Every import goes through `parse_options` + `import_table`, the path `irtnet data import` takes. The expected
per-model figures are read from the logs' own summaries by plain JSON code here, independently of the
importers: lm-eval's `results[task]["<metric>,<filter>"]`, Inspect's `results.scores[].metrics.accuracy`
(where the log still holds every sample it counts) and HELM's `stats.json` per split. Where a file was
trimmed (EEE removed samples), the figure from the samples themselves is pinned from SOURCE.md instead.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from irtnet.data.importers import import_table, parse_options
from irtnet.data.table import ResponseTable

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def logs(shared_data: Path) -> Path:
    folder = shared_data / "eval-logs"
    if not folder.is_dir():
        pytest.skip(f"real evaluation logs {folder} are absent (see ../shared/data/eval-logs/SOURCE.md)")
    return folder


def _import(folder: Path, format: str, *options: str) -> ResponseTable:
    return import_table(format, folder, **parse_options(format, options))


def _means(table: ResponseTable) -> pd.Series:
    """Mean score per (model, benchmark)."""
    resp = table.responses
    return resp.assign(model=resp["model"].astype(str), benchmark=table.benchmarks_of(resp["query"].astype(str))
                       ).groupby(["model", "benchmark"])["score"].mean()


def _provenance(table: ResponseTable, model: str) -> list[dict]:
    return json.loads(table.models.set_index("model").loc[model, "provenance"])


# ---------------------------------------------------------------- lm-eval
@pytest.fixture(scope="module")
def lm_eval(logs):
    return _import(logs / "lm-eval", "lm-eval")


def test_lm_eval_shape_and_skips(lm_eval):
    assert (lm_eval.n_models, lm_eval.n_queries, len(lm_eval.benchmark_vocab)) == (3, 20 * 3 + 10 + 50, 5)
    assert lm_eval.has_text and len(lm_eval.responses) == 120
    # MasakhaNER logs span F1 only (a corpus-level aggregate): no per-item score, so gemma-2b is left out
    assert lm_eval.report.skipped == {
        "lm-eval sample rows of tasks without a per-item score (corpus-level metrics only)": 185}
    assert "google/gemma-2b" not in lm_eval.model_vocab.ids
    assert any("math_rephrased_full but no samples file" in n for n in lm_eval.report.notes)


def test_lm_eval_accuracies_equal_the_results_files(lm_eval, logs):
    means, compared = _means(lm_eval), 0
    for file in sorted((logs / "lm-eval").glob("*/results_*.json")):
        data = json.loads(file.read_text())
        for task, row in data["results"].items():
            key = next((f"{m},none" for m in ("acc", "exact_match") if f"{m},none" in row), None)
            if (data["model_name"], task) in means.index and key:
                assert means[(data["model_name"], task)] == pytest.approx(row[key], abs=1e-6), (file, task)
                compared += 1
    assert compared == 5  # belief 0.45, desire 0.60, intention 0.20, asdiv 0.92, math 0.0 (10 of its 5000 docs)
    assert means[("Qwen/Qwen3-8B", "negotiationtom_desire")] == pytest.approx(0.60)


def test_lm_eval_provenance_and_text(lm_eval):
    entries = _provenance(lm_eval, "Qwen/Qwen3-8B")
    assert {(e["benchmark"], e["tool_version"], e["task_version"]) for e in entries} == {
        (f"negotiationtom_{t}", "0.4.13.dev0", "0") for t in ("belief", "desire", "intention")}
    assert _provenance(lm_eval, "meta-llama/Meta-Llama-3-8B-Instruct")[0]["tool_version"] is None  # 2024 file
    asdiv = lm_eval.queries[lm_eval.queries["benchmark"] == "asdiv"]
    assert asdiv["text"].str.contains("\nQuestion:").all()  # {{body}}\nQuestion:{{question}}, no 8-shot prompt


# ---------------------------------------------------------------- Inspect
@pytest.fixture(scope="module")
def inspect_table(logs):
    return _import(logs / "inspect", "inspect")


def _inspect_logs(folder: Path) -> list[dict]:
    """Each log's header and samples, read with zipfile + json only."""
    out = []
    for file in sorted(folder.iterdir()):
        if file.suffix == ".eval":
            with zipfile.ZipFile(file) as zf:
                log = json.loads(zf.read("header.json"))
                log["samples"] = [json.loads(zf.read(n)) for n in zf.namelist() if n.startswith("samples/")]
        else:
            log = json.loads(file.read_text())
        out.append(log)
    return out


def test_inspect_shape_and_skips(inspect_table):
    assert (inspect_table.n_models, inspect_table.n_queries, len(inspect_table.benchmark_vocab)) == (8, 12, 6)
    assert inspect_table.report.skipped == {
        "Inspect samples with an error and no score (not observed)": 1,  # cvebench
        "Inspect logs without samples (header only)": 1,  # data_with_llm_scoring.json
        "Inspect logs of a run already read (same run_id and task_id)": 1}  # log_formats.json = log_formats.eval
    streaming = inspect_table.responses[inspect_table.responses["model"] == "azureai/Meta-Llama-3-1-405B-Instruct-jqf"]
    assert streaming["n_correct"].tolist() == [1, 2] and streaming["n_trials"].tolist() == [2, 2]  # 2 epochs


def test_inspect_accuracies_equal_the_logs(inspect_table, logs):
    means, compared = _means(inspect_table), 0
    for log in _inspect_logs(logs / "inspect"):
        samples, results = log.get("samples") or [], log.get("results") or {}
        if samples and results.get("total_samples") == len(samples):
            stated = results["scores"][0]["metrics"]["accuracy"]["value"]
            assert means[(log["eval"]["model"], log["eval"]["task"])] == pytest.approx(stated), log["eval"]["task"]
            compared += 1
    assert compared == 9  # every log with its samples but cyse2 and cvebench (trimmed by EEE)
    # trimmed logs: the one kept sample's score (SOURCE.md), not the stated 0.381 over 2,340 samples
    assert means[("mistral/mistral-large-latest", "inspect_evals/cyse2_vulnerability_exploit")] == pytest.approx(0.65)
    assert means[("ollama/qwen2.5:0.5b", "inspect_evals/arc_easy")] == pytest.approx(1 / 3)
    assert _provenance(inspect_table, "openai/azure/gpt-4o-mini")[0]["tool_version"] == "0.3.108"


# ---------------------------------------------------------------- HELM
@pytest.fixture(scope="module")
def helm(logs):
    return _import(logs / "helm", "helm")


def _helm_stated(run: Path, metric: str) -> dict[str, float]:
    """split -> the run's stats.json mean of `metric` (rows without a perturbation)."""
    return {s["name"]["split"]: s["mean"] for s in json.loads((run / "stats.json").read_text())
            if s["name"]["name"] == metric and "perturbation" not in s["name"]}


def _helm_splits(run: Path) -> dict[str, str]:
    """instance id -> split, from per_instance_stats.json."""
    return {r["instance_id"]: r["stats"][0]["name"]["split"]
            for r in json.loads((run / "per_instance_stats.json").read_text())}


@pytest.mark.parametrize("metric", ["exact_match", "f1_score"])
def test_helm_per_split_accuracies_equal_stats_json(logs, metric):
    table = _import(logs / "helm", "helm", f"metric={metric}")
    queries = table.responses["query"].astype(str)
    score = dict(zip(zip(table.benchmarks_of(queries), queries.str.rsplit("/", n=1).str[1]), table.responses["score"]))
    compared = 0
    for run in sorted((logs / "helm").iterdir()):
        bench = json.loads((run / "run_spec.json").read_text())["name"].split(":")[0]
        if bench not in table.benchmark_vocab.ids:
            continue  # mmlu logs no f1_score
        for split, stated in _helm_stated(run, metric).items():
            mine = [score[(bench, i)] for i, s in _helm_splits(run).items() if s == split]
            assert sum(mine) / len(mine) == pytest.approx(stated, abs=1e-6), (run.name, split)
            compared += 1
    assert compared == (4 if metric == "exact_match" else 2)  # test and valid of each run that logs the metric


def test_helm_shape_text_and_provenance(helm):
    assert (helm.n_models, helm.n_queries, len(helm.benchmark_vocab)) == (1, 15, 2) and helm.has_text
    assert helm.benchmark_vocab.ids == ("mmlu", "narrative_qa") and helm.report.skipped == {}
    q = "mmlu:subject=philosophy,method=multiple_choice_joint/id147"
    assert helm.texts_of([q])[0].startswith("What does the notion of “meaning in life” refer to?\nA. external meaning")
    assert helm.responses["score"].mean() == pytest.approx(1 / 15)  # 1 of 10 mmlu instances, 0 of 5 narrative_qa
    assert {e["tool"] for e in _provenance(helm, "openai/gpt2")} == {"helm"}


def test_a_harness_table_survives_parquet_with_its_provenance(lm_eval, tmp_path):
    lm_eval.to_parquet(tmp_path / "t.parquet")
    back = ResponseTable.read_parquet(tmp_path / "t.parquet")
    assert back.model_vocab.ids == lm_eval.model_vocab.ids
    assert _provenance(back, "Qwen/Qwen3-8B") == _provenance(lm_eval, "Qwen/Qwen3-8B")

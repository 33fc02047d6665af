"""Each importer run once on the real data in ../shared/data (skipped where it is absent).

Every import goes through `parse_options` + `import_table`, the path `irtnet data import` takes, with the
options docs/data-formats.md gives. The expected figures come from each folder's SOURCE.md, or from the
reference file it names (ZeroEval's `*.summary.json` inside the tar, CRUXEval's `leaderboard_data.csv`,
SWE-bench's `leaderboards.json` "resolved" %). Where SOURCE.md gives none (routerdc split2_model7,
LiveCodeBench), the figures were computed once from the raw JSON with plain Python under the documented
rule, independently of the importers. Each table is imported once per module.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from irtnet.data.importers import import_table, parse_options
from irtnet.data.summary import summarize
from irtnet.data.table import ResponseTable

pytestmark = pytest.mark.shared_data
TIMES: dict[str, float] = {}


def _import(shared: Path, format: str, folder: str, *options: str) -> ResponseTable:
    start = time.perf_counter()
    table = import_table(format, shared / folder, **parse_options(format, options))
    TIMES[f"{format} {folder} {' '.join(options)}".strip()] = time.perf_counter() - start
    return table


def _by(table: ResponseTable, value: str = "label", benchmark: bool = False) -> pd.Series:
    """Mean `value` per model, or per (benchmark, model)."""
    resp = table.responses.assign(model=table.responses["model"].astype(str))
    keys = ["model"]
    if benchmark:
        resp = resp.assign(benchmark=table.benchmarks_of(resp["query"].astype(str)))
        keys = ["benchmark", "model"]
    return resp.groupby(keys)[value].mean()


def _check(series: pd.Series, expected: dict, decimals: int = 3) -> None:
    """Each expected figure equals the computed one rounded to the figure's `decimals`."""
    got = {k: float(series.loc[k]) for k in expected}
    assert got == pytest.approx(expected, abs=0.5 * 10**-decimals + 1e-6)  # + float32 scores' rounding


def _shape(table: ResponseTable) -> tuple[int, int, int]:
    return table.n_models, table.n_queries, len(table.benchmark_vocab)


# ---------------------------------------------------------------- MMLU-Pro (the largest: ~10-15 s)
@pytest.fixture(scope="module")
def mmlu(shared_data):
    return _import(shared_data, "mmlu-pro", "mmlu-pro-outputs")


def test_mmlu_pro(mmlu):
    assert _shape(mmlu) == (29, 12_032, 14) and mmlu.has_text
    assert summarize(mmlu).queries_answered_by_all == 10_326
    assert mmlu.report.skipped == {"list items that are not records (stray strings)": 43}
    counts = mmlu.responses.groupby("model", observed=True).size()
    assert (counts["DeepSeek-Coder-V2"], counts["gemini-1.5-flash-002"], counts["gemini-1.5-pro-002"]) == (
        10_351, 12_012, 12_020)
    _check(_by(mmlu), {"DeepSeek-Coder-V2": 0.636, "Llama-2-7b-hf": 0.183, "Meta-Llama-3_1-70B-Instruct": 0.628,
                       "Mixtral-8x7B-v0.1": 0.399, "gemini-1.5-pro-002": 0.702, "mathstral-7B": 0.420})


# ---------------------------------------------------------------- RouterDC
@pytest.fixture(scope="module")
def split2(shared_data):
    return _import(shared_data, "routerdc", "routerdc/datasets/split2_model7")


def test_routerdc_split2_model7(split2):
    # 20,600 rows; 34 questions repeat within a benchmark (mmlu_test 8, arc 2 across train/test, ...)
    assert _shape(split2) == (7, 20_566, 10) and split2.has_text
    assert split2.report.n_repeated_pairs == 34 * 7 and len(split2.responses) == 7 * 20_566
    math = "math_prealgebra"
    _check(_by(split2, benchmark=True), {(math, "mistralai/Mistral-7B-v0.1"): 0.248,
                                         (math, "meta-math/MetaMath-Mistral-7B"): 0.3915,
                                         (math, "cognitivecomputations/dolphin-2.9-llama3-8b"): 0.3972},
           decimals=4)
    _check(_by(split2, "score", benchmark=True), {("gsm8k", "meta-math/MetaMath-Mistral-7B"): 0.7514,
                                                  ("gsm8k", "mistralai/Mistral-7B-v0.1"): 0.3681}, decimals=4)


def test_routerbench_zs_keeps_costs(shared_data):
    table = _import(shared_data, "routerbench", "routerdc/datasets/routerbench_zs")
    assert _shape(table) == (11, 3_164, 3) and table.has_cost and table.has_text  # 3,178 rows, 14 ids twice
    assert table.report.skipped == {"empty model labels (not observed)": 154}
    assert (table.responses["cost"] > 0).all()
    arc_test = _import(shared_data, "routerbench", "routerdc/datasets/routerbench_zs/arc_challenge_test.csv")
    _check(_by(arc_test), {"gpt-4-1106-preview": 0.957, "claude-v1": 0.920, "zero-one-ai/Yi-34B-Chat": 0.918,
                           "mistralai/mixtral-8x7b-chat": 0.863, "WizardLM/WizardLM-13B-V1.2": 0.649})


# ---------------------------------------------------------------- LLMRouter
def test_llmrouter_dcrouter(shared_data):
    table = _import(shared_data, "llmrouter", "llmrouter-dcrouter")
    assert _shape(table) == (9, 5_989, 14) and table.has_text  # 6,108 questions, 119 in both splits
    assert table.report.n_repeated_pairs == 119 * 9
    assert table.models["input_price"].notna().all()
    train = _import(shared_data, "llmrouter", "llmrouter-dcrouter", "splits=train")
    assert _shape(train) == (9, 5_608, 14)
    tasks = train.queries["benchmark"].value_counts()
    assert (tasks["math"], tasks["gpqa"], tasks["human_eval"], tasks["commongen"]) == (504, 448, 164, 150)
    _check(_by(train, "score"), {"codegemma-7b": 0.303, "gemma-2-9b-it": 0.535, "llama-3.1-8b-instruct": 0.561,
                                 "llama-3.1-nemotron-51b-instruct": 0.621, "llama3-chatqa-1.5-8b": 0.175,
                                 "qwen2.5-7b-instruct": 0.520})


# ---------------------------------------------------------------- ZeroEval, CRUXEval
def test_zeroeval(shared_data):
    table = _import(shared_data, "zeroeval", "zeroeval")
    assert _shape(table) == (60, 800 + 1_319 + 721, 3) and table.has_text
    per_bench = table.responses.assign(b=table.benchmarks_of(table.responses["query"].astype(str)))
    assert per_bench.groupby("b")["model"].nunique().to_dict() == {"crux": 51, "gsm": 44, "math-l5": 43}
    _check(_by(table, benchmark=True), {  # the Acc column of result_dirs/<b>.summary.json
        ("crux", "o1-preview-2024-09-12"): 0.9588, ("crux", "gpt-4o-2024-08-06"): 0.8700,
        ("gsm", "claude-3-5-sonnet-20241022"): 0.9666, ("gsm", "gpt-4o-2024-08-06"): 0.9621,
        ("math-l5", "o1-mini-2024-09-12"): 0.8932, ("math-l5", "gemini-1.5-pro-exp-0827"): 0.6810,
    }, decimals=4)


def test_cruxeval_leaderboard(shared_data):
    table = _import(shared_data, "cruxeval", "cruxeval-leaderboard")
    assert _shape(table) == (68, 1_600, 2) and table.has_text and len(table.responses) == 107_200
    _check(_by(table, "score", benchmark=True), {  # i@1 / o@1 of leaderboard_data.csv
        ("cruxeval-input", "phi-1_temp0.2"): 0.131, ("cruxeval-output", "phi-1_temp0.2"): 0.217,
        ("cruxeval-input", "codellama-7b_temp0.2"): 0.359, ("cruxeval-output", "codellama-7b_temp0.2"): 0.342,
        ("cruxeval-input", "gpt-4-0613_temp0.2"): 0.698, ("cruxeval-output", "gpt-4-0613_temp0.2"): 0.687,
    })


# ---------------------------------------------------------------- no text: LiveCodeBench, SWE-bench
def test_livecodebench(shared_data):
    table = _import(shared_data, "livecodebench", "livecodebench")
    assert _shape(table) == (45, 400, 3) and not table.has_text
    assert table.models["release_date"].notna().all()
    _check(_by(table, "score"), {"GPT-4-Turbo-2024-04-09": 0.43525, "Claude-3-Opus": 0.35375,
                                 "DSCoder-33b-Ins": 0.30275, "OC-DS-1.3B": 0.0505}, decimals=5)


def test_swebench_bash_only_and_its_generic_mapping(shared_data):
    table = _import(shared_data, "swebench", "swebench-bash-only")
    assert _shape(table) == (24, 500, 1) and table.has_cost and not table.has_text
    assert table.report.skipped == {"records of excluded model 'Claude 3.7 Sonnet (20250219)'": 500}
    _check(_by(table), {"Claude 4.5 Opus medium (20251101)": 0.744, "Gemini 3 Pro Preview (2025-11-18)": 0.742,
                        "o3 (2025-04-16)": 0.584, "Kimi K2 Instruct": 0.438, "Qwen2.5-Coder 32B Instruct": 0.090})
    generic = _import(shared_data, "long", "swebench-bash-only/swebench_verified_bash_only_scored.csv.gz",
                      "model=system", "query=instance_id", "outcome=resolved", "outcome_kind=binary",
                      "cost=cost_usd", "default_benchmark=swe-bench-verified",
                      "exclude_models=Claude 3.7 Sonnet (20250219)")
    assert generic.responses.equals(table.responses)


def test_import_times_are_printed(mmlu):
    """Print the measured import seconds (`pytest -s` shows them); a figure, not a check: speed is measured by the
    benchmark scripts, never asserted by a timed test (on a busy machine this took over a minute)."""
    for name, seconds in sorted(TIMES.items()):
        print(f"{seconds:6.1f} s  {name}")
    assert TIMES and all(seconds > 0 for seconds in TIMES.values())

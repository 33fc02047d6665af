"""The lighteval and OpenCompass importers, format detection and merging on the real logs in
../shared/data/eval-logs (skipped where that folder is absent).

Expected figures come from the logs themselves (lighteval's results JSON) and from eval-logs/SOURCE.md
(NegotiationToM accuracies 0.45 / 0.60 / 0.20; the OpenCompass run is a subjective judge run).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irtnet.data.importers import import_table, parse_options
from irtnet.data.importers.detect import detect_format
from irtnet.data.merge import merge_tables, provenance_of
from irtnet.errors import ConfigError, DataError

pytestmark = pytest.mark.shared_data
FORMATS = {"lm-eval": "lm-eval", "inspect": "inspect", "helm": "helm", "lighteval": "lighteval",
           "opencompass": "opencompass"}


@pytest.fixture(scope="module")
def logs(shared_data: Path) -> Path:
    path = shared_data / "eval-logs"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the real evaluation-log files of eval-logs/SOURCE.md)")
    return path


def test_lighteval_matches_its_results_file(logs):
    table = import_table("lighteval", logs / "lighteval", **parse_options("lighteval", []))
    assert (table.n_models, table.n_queries, len(table.benchmark_vocab)) == (1, 4, 2)
    assert table.model_vocab.ids == ("eee-smoke/dummy-model",) and table.has_text
    results = json.loads(next((logs / "lighteval" / "results").rglob("results_*.json")).read_text())["results"]
    stated = {"anli:r1|0": results["anli:r1|0"]["acc"], "squad_v2|0": results["squad_v2|0"]["em"]}
    resp = table.responses.assign(benchmark=table.benchmarks_of(table.responses["query"].astype(str)))
    assert resp.groupby("benchmark")["label"].mean().to_dict() == pytest.approx(stated)
    assert sorted(table.query_vocab.ids) == ["anli:r1|0/507", "anli:r1|0/776", "squad_v2|0/3506", "squad_v2|0/5230"]
    versions = {p["benchmark"]: (p["task_version"], p["task_hash"]) for p in provenance_of(table)}
    assert versions == {"anli:r1|0": ("0", "72b7003df17fd7c3"), "squad_v2|0": ("1", "2b9b3fc409da0190")}


def test_opencompass_subjective_run_is_refused(logs):
    with pytest.raises(DataError, match=r"results/baichuan2-7b-chat-hf_qwen-7b-chat-hf/COREV2_6A_.json: this is a "
                                        r"subjective \(judge\) run, not a correctness log"):
        import_table("opencompass", logs / "opencompass")
    with pytest.raises(DataError, match=r"comparing the answers of 'baichuan2-7b-chat-hf' and 'qwen-7b-chat-hf'"):
        import_table("auto", logs / "opencompass" / "20231208_194351")


def test_detect_format_on_every_real_folder_and_file(logs):
    for folder, expected in FORMATS.items():
        assert detect_format(logs / folder) == expected, folder
        for child in sorted((logs / folder).iterdir()):
            assert detect_format(child) == expected, child
    for file in sorted((logs / "lm-eval").rglob("*.json*")) + sorted((logs / "lighteval").rglob("*.*")):
        assert detect_format(file) == ("lighteval" if "lighteval" in file.parts else "lm-eval"), file
    with pytest.raises(ConfigError, match=r"holds logs of several formats: helm .*lighteval .*opencompass"):
        detect_format(logs)


def test_merge_real_tables_keeps_both_sources(logs):
    lighteval = import_table("auto", logs / "lighteval")
    negotiation = import_table("open-llm-leaderboard", logs / "lm-eval" / "Qwen__Qwen3-8B")
    resp = negotiation.responses.assign(benchmark=negotiation.benchmarks_of(negotiation.responses["query"].astype(str)))
    assert resp.groupby("benchmark")["label"].mean().to_dict() == pytest.approx(
        {"negotiationtom_belief": 0.45, "negotiationtom_desire": 0.60, "negotiationtom_intention": 0.20})
    merged = merge_tables([lighteval, negotiation])
    assert (merged.n_models, merged.n_queries) == (2, 64)
    assert {p["tool"] for p in provenance_of(merged)} == {"lighteval", "lm-eval"}

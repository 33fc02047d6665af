"""ZeroEval, CRUXEval, SWE-bench and LiveCodeBench scored files (thin wrappers over the long importer)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from irtnet.data.importers import import_table
from irtnet.data.importers.cruxeval import import_cruxeval
from irtnet.data.importers.livecodebench import import_livecodebench
from irtnet.data.importers.swebench import import_swebench
from irtnet.data.importers.zeroeval import import_zeroeval
from irtnet.errors import ConfigError, DataError


def _gz(path, text):
    path.write_bytes(gzip.compress(text.encode()))
    return path


def _tar(path, members):
    with tarfile.open(path, "w:xz") as tar:
        for name, data in members.items():
            raw = json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


# ---------------------------------------------------------------- zeroeval
def _zeroeval(tmp_path, gsm="model,item_id,parsed,correct\na,g0,1,1\nb,g0,1,0\na,g1,0,0\n"):
    _gz(tmp_path / "zeroeval_crux_scored.csv.gz",
        "model,item_id,parsed,correct,correct_literal_eval\na,crux-test-#0,1,0,1\nb,crux-test-#0,1,1,1\n")
    _gz(tmp_path / "zeroeval_gsm_scored.csv.gz", gsm)
    _gz(tmp_path / "zeroeval_math-l5_scored.csv.gz", "model,item_id,parsed,correct\na,0,1,1\n")
    _tar(tmp_path / "zeroeval_result_dirs_crux_gsm_math-l5.tar.xz", {
        "result_dirs/crux/a.json": [{"id": "crux-test-#0", "question": "f(1) == ?"}],
        "result_dirs/gsm/a.json": [{"id": "g0", "question": "2+2?"}, {"id": "g1", "question": "3+3?"}],
        "result_dirs/math-l5/a.json": [{"id": "0", "problem": "x^2=4"}],
        "result_dirs/gsm.summary.json": [{"Model": "a", "Acc": "50.0"}],
    })
    return tmp_path


def test_zeroeval_prefixes_ids_with_the_benchmark_and_streams_texts(tmp_path):
    t = import_zeroeval(_zeroeval(tmp_path))
    assert t.query_vocab.ids == ("crux/crux-test-#0", "gsm/g0", "gsm/g1", "math-l5/0")
    assert t.texts_of(["gsm/g1", "math-l5/0"]) == ["3+3?", "x^2=4"]
    assert any("gsm: b has 1 of 2 items" in n for n in t.report.notes)
    lenient = import_zeroeval(tmp_path, benchmarks=["crux"], crux_outcome="correct_literal_eval", texts=False)
    assert lenient.responses["label"].tolist() == [1, 1] and not lenient.has_text


@pytest.mark.parametrize("gsm,message", [
    ("model,item_id,parsed\na,g0,1\n", r"zeroeval_gsm_scored.csv.gz, field 'correct': missing required column"),
    ("model,item_id,parsed,correct\na,g0,1,1\nb,g0,1,2\n", r"gsm_scored.csv.gz, row 2, field 'correct': label is"),
    ("", r"zeroeval_gsm_scored.csv.gz: no records \(the file is empty\)"),
])
def test_bad_zeroeval_input_names_file_row_and_field(tmp_path, gsm, message):
    with pytest.raises(DataError, match=message):
        import_zeroeval(_zeroeval(tmp_path, gsm=gsm), texts=False)


def test_zeroeval_unknown_benchmark_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"option benchmarks: unknown \['mmlu'\]"):
        import_zeroeval(tmp_path, benchmarks=["mmlu"])


# ---------------------------------------------------------------- cruxeval
CRUX_HEAD = "config,model,cot,temperature,task,item_id,n_samples,n_correct\n"
CRUX = (CRUX_HEAD + "x_temp0.2_input,x,0,0.2,input,sample_0,10,7\nx_temp0.2_output,x,0,0.2,output,sample_0,10,3\n"
        "x_temp0.8_input,x,0,0.8,input,sample_0,10,5\n")


def _crux(tmp_path, scored=CRUX):
    _gz(tmp_path / "cruxeval_leaderboard_scored.csv.gz", scored)
    (tmp_path / "cruxeval.jsonl").write_text(json.dumps({"id": "sample_0", "code": "def f(x): return x",
                                                         "input": "1", "output": "1"}) + "\n")
    return tmp_path


def test_cruxeval_counts_tasks_as_benchmarks_and_code_as_text(tmp_path):
    t = import_cruxeval(_crux(tmp_path))
    assert t.model_vocab.ids == ("x_temp0.2", "x_temp0.8")
    r = t.responses.set_index(["model", "query"])
    assert tuple(r.loc[("x_temp0.2", "cruxeval-input/sample_0"), ["n_correct", "n_trials", "label"]]) == (7, 10, 1)
    assert r.loc[("x_temp0.2", "cruxeval-output/sample_0"), "label"] == 0
    assert t.texts_of(["cruxeval-input/sample_0"]) == ["def f(x): return x\nassert f(??) == 1"]
    low = import_cruxeval(tmp_path, temperature=0.2)
    assert low.n_models == 1 and low.report.skipped == {"records of configs at a temperature other than 0.2": 1}


@pytest.mark.parametrize("scored,message", [
    (CRUX.replace("n_samples", "samples"), r"field 'n_samples': missing required column \['n_samples'\]"),
    (CRUX_HEAD + "x_temp0.2_input,x,0,0.2,input,sample_0,10,11\n",
     r"scored.csv.gz, row 1, field 'n_correct': correct count outside \[0, n_trials\]"),
    (CRUX_HEAD + "x_temp0.2_input,x,0,0.2,input,sample_0,10,NaN\n", r"row 1, field 'n_correct': not a number"),
    ("", r"cruxeval_leaderboard_scored.csv.gz: no records \(the file is empty\)"),
])
def test_bad_cruxeval_input_names_file_row_and_field(tmp_path, scored, message):
    with pytest.raises(DataError, match=message):
        import_cruxeval(_crux(tmp_path, scored))


# ---------------------------------------------------------------- swebench
SWE = ("system,instance_id,resolved,cost_usd,api_calls\nA,django-1,1,0.5,3\nA,django-2,0,0.25,4\n"
       "B,django-1,0,1.0,9\nClaude 3.7 Sonnet (20250219),django-1,0,0.1,1\n")


def test_swebench_keeps_cost_and_counts_the_excluded_system(tmp_path):
    t = import_swebench(_gz(tmp_path / "swebench_verified_bash_only_scored.csv.gz", SWE).parent)
    assert t.model_vocab.ids == ("A", "B") and t.has_cost and not t.has_text
    assert t.responses["cost"].tolist() == [0.5, 1.0, 0.25]
    assert t.report.skipped == {"records of excluded model 'Claude 3.7 Sonnet (20250219)'": 1}
    assert import_swebench(tmp_path, exclude_models=[]).n_models == 3


@pytest.mark.parametrize("text,message", [
    (SWE.replace("resolved", "ok"), r"s.csv.gz, field 'resolved': missing required column"),
    (SWE.replace("A,django-2,0", "A,django-2,3"), r"s.csv.gz, row 2, field 'resolved': label is not 0/1"),
    (SWE.replace("0.25", "-1"), r"s.csv.gz, row 2, field 'cost_usd': negative cost"),
    ("", r"s.csv.gz: no records \(the file is empty\)"),
])
def test_bad_swebench_input_names_file_row_and_field(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        import_swebench(_gz(tmp_path / "s.csv.gz", text))


# ---------------------------------------------------------------- livecodebench
def _lcb(tmp_path, performances, name="performances_generation_x.json"):
    models = [{"model_name": "org/A", "model_repr": "A", "model_style": "OpenAI", "release_date": 1704067200000,
               "link": "u"}, {"model_repr": "Z", "model_style": "x"}]
    return _tar(tmp_path / "lcb_leaderboard_performances.tar.xz", {name: {"performances": performances,
                                                                         "models": models}})


def _perf(model, qid, p, difficulty="easy"):
    return {"question_id": qid, "model": model, "date": 0, "difficulty": difficulty, "platform": "leetcode",
            "pass@1": p}


def test_livecodebench_pass_at_1_is_k_of_10_with_model_metadata(tmp_path):
    _lcb(tmp_path, [_perf("A", "1", 30), _perf("B", "1", 60), _perf("A", "2", 100, "hard")])
    t = import_livecodebench(tmp_path, member="performances_generation_x.json")
    assert t.responses["n_correct"].tolist() == [3, 6, 10] and t.responses["label"].tolist() == [0, 1, 1]
    assert t.benchmark_vocab.ids == ("easy", "hard")
    assert t.query_vocab.ids == ("livecodebench/1", "livecodebench/2")
    assert t.models.set_index("model").loc["A", "release_date"] == "2024-01-01"
    assert any("1 listed models have no performances" in n for n in t.report.notes)


@pytest.mark.parametrize("performances,message", [
    ([{"question_id": "1", "model": "A", "difficulty": "easy"}], r"field 'pass@1': missing required column"),
    ([_perf("A", "1", 35)], r"x.json, row 1, field 'pass@1': outcome x n_trials is not a whole number"),
    ([_perf("A", "1", 120)], r"x.json, row 1, field 'pass@1': correct count outside \[0, n_trials\]"),
    ([], r"x.json, field 'performances': no records \(the performances list is empty\)"),
])
def test_bad_livecodebench_input_names_file_row_and_field(tmp_path, performances, message):
    _lcb(tmp_path, performances, name="x.json")
    with pytest.raises(DataError, match=message):
        import_livecodebench(tmp_path, member="x.json")


def test_the_wrapper_equals_the_generic_importer_with_its_documented_mapping(tmp_path):
    path = _gz(tmp_path / "swebench_verified_bash_only_scored.csv.gz", SWE)
    wrapped = import_swebench(path)
    generic = import_table("long", path, model="system", query="instance_id", outcome="resolved",
                           outcome_kind="binary", cost="cost_usd", default_benchmark="swe-bench-verified",
                           exclude_models=["Claude 3.7 Sonnet (20250219)"])
    assert generic.responses.equals(wrapped.responses) and generic.queries.equals(wrapped.queries)

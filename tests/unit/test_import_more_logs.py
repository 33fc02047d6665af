"""The lighteval, Open LLM Leaderboard, Every Eval Ever and OpenCompass importers, on tiny files in each shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irtnet.data.importers import import_table
from irtnet.data.importers.eee import import_eee
from irtnet.data.importers.lighteval import import_lighteval
from irtnet.data.importers.open_llm_leaderboard import import_open_llm_leaderboard
from irtnet.data.importers.opencompass import import_opencompass
from irtnet.data.merge import provenance_of
from irtnet.errors import DataError

TS, OLD = "2026-08-10T17-22-11.385681", "2025-01-01T00-00-00.000001"


# ---------------------------------------------------------------- lighteval
def _details(root, model, task, rows, ts=TS, name=None):
    folder = root / "details" / model / ts
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({
        "doc": [{"id": r[0], "query": f"Q{r[0]}?", "task_name": task, "gold_index": 0} for r in rows],
        "metric": [r[1] for r in rows],
        "model_response": [{"text": ["x"]} for _ in rows]})
    frame.to_parquet(folder / (name or f"details_{task}_{ts}.parquet"))


def _results(root, model, ts=TS, **tasks):
    folder = root / "results" / model
    folder.mkdir(parents=True, exist_ok=True)
    data = {"config_general": {"model_name": model, "lighteval_sha": "abc123"},
            "results": {t: v[0] for t, v in tasks.items()},
            "config_tasks": {t: {"version": v[1]} for t, v in tasks.items()},
            "summary_tasks": {t: {"hashes": {"hash_examples": v[2]}} for t, v in tasks.items()}}
    (folder / f"results_{ts}.json").write_text(json.dumps(data))


@pytest.fixture
def lighteval_dir(tmp_path):
    root = tmp_path / "lighteval"
    for model, acc in (("org/a", [1, 0]), ("org/b", [1, 1])):
        _details(root, model, "anli:r1|0", [("7", {"f1": 0.5, "acc": acc[0]}), ("9", {"f1": 0.25, "acc": acc[1]})])
        _results(root, model, **{"anli:r1|0": ({"acc": float(np.mean(acc))}, 0, "h0")})
    _details(root, "org/a", "anli:r1|0", [("7", {"acc": 0}), ("9", {"acc": 0})], ts=OLD)  # an older run
    return root


def test_lighteval_reads_every_model_and_the_latest_run(lighteval_dir):
    t = import_table("lighteval", lighteval_dir)
    assert t.model_vocab.ids == ("org/a", "org/b") and t.query_vocab.ids == ("anli:r1|0/7", "anli:r1|0/9")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 1]])
    assert t.texts_of(["anli:r1|0/7"]) == ["Q7?"] and t.benchmark_vocab.ids == ("anli:r1|0",)
    assert t.report.skipped == {"details files of an older run of the same model and task (the latest run is kept)": 1}
    assert "metric 'acc'" in t.report.notes[0] and "as the results file states" in t.report.notes[0]
    prov = provenance_of(t)
    assert prov[0] == {"model": "org/a", "source": prov[0]["source"], "tool": "lighteval", "tool_version": "abc123",
                       "benchmark": "anli:r1|0", "task_version": "0", "task_hash": "h0"}


def test_lighteval_metric_option_reads_a_fraction(lighteval_dir):
    t = import_lighteval(lighteval_dir, metric="f1")
    assert t.responses["score"].tolist() == [0.5, 0.5, 0.25, 0.25]


def test_lighteval_old_layout_and_underscored_file_names(tmp_path):
    folder = tmp_path / "details" / "m" / TS
    folder.mkdir(parents=True)
    pd.DataFrame({"example": ["Is it?", "Or not?"], "full_prompt": ["P1", "P2"],
                  "metrics": [json.dumps({"acc_norm": 1}), json.dumps({"acc_norm": 0})]}).to_parquet(
        folder / f"details_leaderboard_arc_challenge_25_{TS}.parquet")
    t = import_lighteval(tmp_path)
    assert t.benchmark_vocab.ids == ("leaderboard_arc_challenge_25",) and sorted(t.responses["label"]) == [0, 1]
    assert sorted(t.queries["text"]) == ["Is it?", "Or not?"]


def test_lighteval_skips_a_task_without_a_binary_metric_and_says_so(lighteval_dir):
    _details(lighteval_dir, "org/a", "squad|0", [("1", {"f1": 0.3})])
    t = import_lighteval(lighteval_dir)
    assert t.report.skipped["records of tasks without a 0/1-valued metric"] == 1
    assert any("task 'squad|0' has no 0/1-valued metric (its metrics: f1)" in n for n in t.report.notes)


@pytest.mark.parametrize("rows,name,message", [
    ([("1", {"acc": 1}), ("", {"acc": 0})], None, r"details_t\|0_.*\.parquet, row 2, field 'doc.id': missing doc id"),
    ([("1", {"acc": 1}), ("2", {"acc": 3})], None, r"row 2, field 'metric.acc': score 3 outside \[0, 1\]"),
    ([("1", {"acc": "1"}), ("2", {"acc": "0"})], None, r"row 1, field 'metric.acc': score '1' is a str, not a number"),
    ([("1", {"acc": 1}), ("1", {"acc": 0})], None,
     r"details_t\|0_.*\.parquet, row 2, field 'doc.id': doc id '1' appears twice \(rows 1 and 2\)"),
    ([("1", {"acc": 1})], "details_t.parquet", r"details_t.parquet: not a lighteval details file name"),
])
def test_bad_lighteval_input(tmp_path, rows, name, message):
    _details(tmp_path, "m", "t|0", rows, name=name)
    with pytest.raises(DataError, match=message):
        import_lighteval(tmp_path, metric="acc")


def _details_arrow(root, task, metrics):
    """A details file written by pyarrow from Python values, so that a NaN stays a NaN (pandas would write a null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / "details" / "m" / TS
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"doc": {"id": str(i + 1), "query": f"Q{i}", "task_name": task}, "metric": m}
            for i, m in enumerate(metrics)]
    pq.write_table(pa.Table.from_pylist(rows), folder / f"details_{task}_{TS}.parquet")


@pytest.mark.parametrize("metric", [None, "acc"])
@pytest.mark.parametrize("bad,message", [
    (2.0, r"score 2.0 outside \[0, 1\]"),
    (float("nan"), r"score NaN is not a number in \[0, 1\] \(NaN is never read as missing\)"),
])
def test_lighteval_a_bad_metric_value_is_an_error_with_or_without_the_option(tmp_path, metric, bad, message):
    _details_arrow(tmp_path, "t|0", [{"acc": bad}, {"acc": 0.0}])
    with pytest.raises(DataError, match=rf"details_t\|0_.*\.parquet, row 1, field 'metric.acc': {message}"):
        import_lighteval(tmp_path, metric=metric)


def test_lighteval_old_layout_reads_nan_and_text_in_metrics_as_errors(tmp_path):
    folder = tmp_path / "details" / "m" / TS
    folder.mkdir(parents=True)
    for name, bad in (("a", "NaN"), ("b", '"1"')):
        pd.DataFrame({"example": ["Is it?", "Or not?"], "metrics": ['{"acc": 1}', f'{{"acc": {bad}}}']}).to_parquet(
            folder / f"details_{name}_{TS}.parquet")
        with pytest.raises(DataError, match=rf"details_{name}_.*\.parquet, row 2, field 'metric.acc': score"):
            import_lighteval(folder / f"details_{name}_{TS}.parquet")


def test_lighteval_a_null_metric_value_is_not_observed(tmp_path):
    _details_arrow(tmp_path, "t|0", [{"acc": None}, {"acc": 1.0}])
    t = import_lighteval(tmp_path)
    assert t.query_vocab.ids == ("t|0/2",)
    assert t.report.skipped == {"records without a value of the chosen metric ('metric.acc' is null): not observed": 1}


def test_lighteval_a_details_file_without_rows_is_an_error(lighteval_dir):
    _details(lighteval_dir, "org/a", "squad|0", [])
    with pytest.raises(DataError, match=r"details_squad\|0_.*\.parquet: holds no items \(the details file has no"):
        import_lighteval(lighteval_dir)


def test_lighteval_without_any_usable_metric_is_an_error(tmp_path):
    _details(tmp_path, "m", "t|0", [("1", {"f1": 0.3})])
    with pytest.raises(DataError, match=r"no task has a 0/1-valued metric \(skipped: \{'records of tasks"):
        import_lighteval(tmp_path)


# ---------------------------------------------------------------- Open LLM Leaderboard
def _sample(doc_id, acc_norm, acc=None, prompt=None, **extra):
    row = {"doc_id": doc_id, "doc": {"input": f"q{doc_id}"}, "target": "A",
           "arguments": {"gen_args_0": {"arg_0": prompt or f"prompt {doc_id}", "arg_1": " A"}},
           "resps": [[["-1.0", "False"]]], "filtered_resps": [["-1.0", "False"]], "doc_hash": f"h{doc_id}",
           "acc_norm": acc_norm, **extra}
    if acc is not None:
        row["acc"] = acc
    return row


def _oll(root, model, task, rows, ts=TS, suffix=".jsonl"):
    folder = root / model
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{ts}{suffix}"
    if suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_oll_reads_models_tasks_and_prefers_acc_norm(tmp_path):
    _oll(tmp_path, "org__m1", "leaderboard_bbh_navigate", [_sample(0, 1.0, 0.0), _sample(1, 0.0, 1.0)])
    _oll(tmp_path, "org__m2", "leaderboard_bbh_navigate", [_sample(0, 0.0, 0.0), _sample(1, 1.0, 1.0)],
         suffix=".parquet")
    _oll(tmp_path, "org__m2", "leaderboard_gpqa_main", [_sample(0, True)], suffix=".json")  # JSON Lines in .json
    (tmp_path / "org__m1" / "notes.txt").write_text("ignored")
    t = import_table("open-llm-leaderboard", tmp_path)
    assert t.model_vocab.ids == ("org/m1", "org/m2")
    assert t.query_vocab.ids == ("leaderboard_bbh_navigate/h0", "leaderboard_bbh_navigate/h1",
                                 "leaderboard_gpqa_main/h0")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 0], [0, 1], [np.nan, 1]])
    assert t.texts_of(["leaderboard_bbh_navigate/h1"]) == ["prompt 1"]
    assert "leaderboard_bbh_navigate = acc_norm" in t.report.notes[0]


def test_oll_results_file_names_the_model_and_gives_provenance(tmp_path):
    _oll(tmp_path, "org__m1", "leaderboard_musr", [_sample(0, 1.0, prompt="<chat>p0"), _sample(1, 0.0)])
    _oll(tmp_path, "org__m1", "leaderboard_musr", [_sample(0, 0.0)], ts=OLD)
    _oll(tmp_path, "other__x", "leaderboard_musr", [_sample(0, 1.0, prompt="p0")])
    (tmp_path / "org__m1" / f"results_{TS}.json").write_text(json.dumps({
        "model_name": "Org/M-1", "lm_eval_version": "0.4.3", "versions": {"leaderboard_musr": 1.0},
        "task_hashes": {"leaderboard_musr": "abc"}}))
    t = import_open_llm_leaderboard(tmp_path)
    assert t.model_vocab.ids == ("Org/M-1", "other/x")
    assert t.report.skipped == {"samples files of an older run of the same model and task (the latest run is kept)": 1}
    assert t.texts_of(["leaderboard_musr/h0"]) == ["<chat>p0"]  # the first model in sorted order
    assert any("different prompt texts" in n for n in t.report.notes)
    first = provenance_of(t)[0]
    assert (first["tool"], first["tool_version"], first["task_version"], first["task_hash"]) == (
        "lm-eval", "0.4.3", "1.0", "abc")


def test_oll_filters_metric_option_and_model_option(tmp_path):
    rows = [_sample(0, 1.0, filter="strict"), _sample(0, 0.0, filter="flexible"), _sample(1, 1.0, filter="strict")]
    path = _oll(tmp_path, "m", "leaderboard_math_hard", rows)
    with pytest.raises(DataError, match=r"rows of several filters \['strict', 'flexible'\]: choose one with filter"):
        import_open_llm_leaderboard(path)
    t = import_open_llm_leaderboard(path, filter="strict", model="mine")
    assert t.model_vocab.ids == ("mine",) and t.report.skipped == {"rows of other filters than the one chosen": 1}
    with pytest.raises(DataError, match=r"no task has metric 'exact_match'"):
        import_open_llm_leaderboard(path, filter="strict", metric="exact_match")


@pytest.mark.parametrize("rows,message", [
    ([_sample(0, 1.0), _sample(0, 0.0)], r"line 2, field 'doc_id': doc_id '0' appears twice"),
    ([_sample(7, 1.0), {"doc": {}}], r"line 2, field 'doc_id': missing doc_id"),
    ([{"doc": {}, "acc": 1}], r"field 'doc_id': missing required column \['doc_id'\]"),
    ([_sample(0, 1.0, 1.0), _sample(1, 2.0, 0.0)], r"line 2, field 'acc_norm'"),  # not a skip to acc
    ([_sample(0, 1.0), _sample(1, "yes")], r"line 2, field 'acc_norm'"),
    ([_sample(0, 1.0), _sample(1, float("nan"))], r"line 2, field 'acc_norm': not a number but NaN"),  # not missing
])
def test_bad_oll_input(tmp_path, rows, message):
    path = _oll(tmp_path, "m", "leaderboard_ifeval", rows)
    with pytest.raises(DataError, match=message):
        import_open_llm_leaderboard(path)


def test_oll_keys_items_by_doc_hash_else_doc_id(tmp_path):
    rows = [{k: v for k, v in _sample(i, 1.0).items() if k != "doc_hash"} for i in (0, 1)]
    t = import_open_llm_leaderboard(_oll(tmp_path, "m", "leaderboard_ifeval", rows))
    assert t.query_vocab.ids == ("leaderboard_ifeval/0", "leaderboard_ifeval/1")
    assert any("no doc_hash on every row: items keyed by doc_id" in n for n in t.report.notes)
    clash = _oll(tmp_path, "m", "leaderboard_musr", [_sample(0, 1.0), {**_sample(1, 1.0), "doc_hash": "h0"}])
    with pytest.raises(DataError, match=r"line 2, field 'doc_hash': doc_hash 'h0' appears twice \(docs \['0', '1'\]\)"):
        import_open_llm_leaderboard(clash)


def test_oll_file_name_must_carry_task_and_timestamp(tmp_path):
    (tmp_path / "samples.jsonl").write_text(json.dumps(_sample(0, 1.0)))
    with pytest.raises(DataError, match=r"samples.jsonl: not a samples file name: expected samples_<task>_<timestamp>"):
        import_open_llm_leaderboard(tmp_path / "samples.jsonl")


# ---------------------------------------------------------------- Every Eval Ever
def _eee(model, sample, score, result="exact_match", name="gsm8k", **extra):
    record = {"schema_version": "0.3.0", "evaluation_id": "e1", "model_id": model, "evaluation_name": name,
              "sample_id": str(sample), "interaction_type": "single_turn",
              "input": {"raw": f"raw {sample}", "formatted": f"<chat>{sample}", "reference": ["1"]},
              "output": {"raw": ["1"]}, "answer_attribution": [],
              "evaluation": {"score": score, "is_correct": score == 1.0}, **extra}
    if result is not None:
        record["evaluation_result_id"] = result
    return record


def _write_eee(folder, records, stem="2b6e3c2a-1111-4222-8333-444455556666", aggregate=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}_samples.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    if aggregate:
        (folder / f"{stem}.json").write_text(json.dumps({
            "schema_version": "0.3.0", "eval_library": {"name": "lm_eval", "version": "0.4.9"},
            "evaluation_results": [{"evaluation_result_id": "exact_match", "metric_config": {"lower_is_better": False}},
                                   {"evaluation_result_id": "loss", "metric_config": {"lower_is_better": True}}]}))
    return folder / f"{stem}_samples.jsonl"


def test_eee_keeps_one_binary_result_per_evaluation(tmp_path):
    records = [_eee("m1", 0, 0.0, "loss"), _eee("m1", 0, 1.0), _eee("m1", 0, 0.4, "f1"), _eee("m1", 1, 0.0),
               _eee("m2", 0, 1.0), _eee("m2", 1, 1.0), _eee("m2", 2, 0.0, None),  # lm-eval's placeholder record
               _eee("m2", 2, 1.0, error="timeout")]
    _write_eee(tmp_path / "data" / "gsm8k", records)
    t = import_table("eee", tmp_path)
    assert t.model_vocab.ids == ("m1", "m2") and t.query_vocab.ids == ("gsm8k/0", "gsm8k/1")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [0, 1]])
    assert t.report.skipped == {"records with an error (not observed)": 1,
                                "records without evaluation_result_id (not tied to a result; may hold a placeholder "
                                "score)": 1,
                                "records of other results than the one chosen per evaluation": 2}
    assert t.texts_of(["gsm8k/0"]) == ["raw 0"]
    assert provenance_of(t)[0]["tool"] == "lm_eval" and provenance_of(t)[0]["tool_version"] == "0.4.9"


def test_eee_options_metric_outcome_text_and_unattributed(tmp_path):
    path = _write_eee(tmp_path, [_eee("m", 0, 0.4, "f1"), _eee("m", 1, 0.6, "f1"), _eee("m", 2, 0.0, None)],
                      aggregate=False)
    t = import_eee(path, metric="f1", text="formatted")
    assert t.responses["score"].tolist() == pytest.approx([0.4, 0.6]) and t.texts_of(["gsm8k/0"]) == ["<chat>0"]
    assert provenance_of(t)[0]["tool"] == "every-eval-ever"
    assert import_eee(path, metric="f1", outcome="is_correct").responses["label"].tolist() == [0, 0]
    assert import_eee(path, unattributed=True).query_vocab.ids == ("gsm8k/2",)


@pytest.mark.parametrize("records,kwargs,message", [
    ([_eee("m", 0, 1.0), {**_eee("m", 1, 1.0), "evaluation": {"is_correct": True}}], {},
     r"_samples.jsonl, line 2, field 'evaluation.score': missing required field"),
    ([_eee("m", 0, 1.0), "not a record"], {}, r"line 2: a record must be a JSON object, got str"),
    ([_eee("m", 0, 1.5, "f1")], {"metric": "f1"}, r"line 1, field 'evaluation.score': score outside \[0, 1\]"),
    ([_eee("m", 0, 0.5, "f1")], {}, r"no records left to import"),
])
def test_bad_eee_input(tmp_path, records, kwargs, message):
    path = _write_eee(tmp_path, records, aggregate=False)
    with pytest.raises(DataError, match=message):
        import_eee(path, **kwargs)


# ---------------------------------------------------------------- OpenCompass
def _oc_run(root, model, dataset, details, prompts=None):
    (root / "results" / model).mkdir(parents=True, exist_ok=True)
    (root / "results" / model / f"{dataset}.json").write_text(json.dumps(details))
    if prompts is not None:
        (root / "predictions" / model).mkdir(parents=True, exist_ok=True)
        (root / "predictions" / model / f"{dataset}.json").write_text(json.dumps(
            {str(i): {"origin_prompt": p, "prediction": "x", "gold": "y"} for i, p in enumerate(prompts)}))


def test_opencompass_objective_details(tmp_path):
    run = tmp_path / "20240101_000000"
    _oc_run(run, "m1", "gsm8k", {"accuracy": 50.0, "details": [{"pred": "1", "answer": "1", "correct": True},
                                                              {"pred": "2", "answer": "3", "correct": False}]},
            prompts=["Q0", [{"role": "HUMAN", "prompt": "Q1"}]])
    _oc_run(run, "m2", "gsm8k", {"details": {"0": {"is_correct": 0}, "1": {"is_correct": 1}, "type": "GEN"}})
    _oc_run(run, "m2", "math", {"details": [{"example_abbr": "algebra_3", "correct": [True, False, True],
                                             "prompt": "Solve"}, {"example_abbr": "algebra_4", "correct": None}]})
    t = import_table("opencompass", tmp_path)
    assert t.query_vocab.ids == ("gsm8k/0", "gsm8k/1", "math/algebra_3")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 0], [0, 1], [np.nan, 1]])
    assert t.texts_of(["gsm8k/0", "gsm8k/1", "math/algebra_3"]) == ["Q0", "Q1", "Solve"]
    assert t.label_matrix(value="n_trials")[2, 1] == 3 and t.label_matrix(value="n_correct")[2, 1] == 2
    assert t.report.skipped == {"details entries whose correctness is null (not observed)": 1}


SUBJECTIVE = {"0": {"origin_prompt": "judge this", "prediction": "选择：A",
                    "gold": "{'answer1': 'a-chat', 'answer2': 'b-chat', 'capability': 'x'}"}}


def test_opencompass_refuses_a_subjective_run_naming_the_file(tmp_path):
    _oc_run(tmp_path, "a-chat_b-chat", "COREV2_6A_", SUBJECTIVE)
    with pytest.raises(DataError, match=r"results/a-chat_b-chat/COREV2_6A_.json: this is a subjective \(judge\) run, "
                                        r"not a correctness log: .* comparing the answers of 'a-chat' and 'b-chat'"):
        import_opencompass(tmp_path)


def test_opencompass_skips_refused_files_when_others_import(tmp_path):
    _oc_run(tmp_path, "a-chat_b-chat", "COREV2_6A_", SUBJECTIVE)
    _oc_run(tmp_path, "m", "mmlu", {"accuracy": 70.0})
    _oc_run(tmp_path, "m", "gsm8k", {"details": [{"correct": True}]})
    t = import_opencompass(tmp_path)
    assert t.n_queries == 1 and t.report.skipped == {"results files without per-item correctness (see the notes)": 2}
    assert any("mmlu.json: no per-item `details` (only the aggregate metrics ['accuracy'])" in n for n in t.report.notes)


@pytest.mark.parametrize("details,message", [
    ({"details": [{"correct": True}, {"pred": "x"}]},
     r"gsm8k.json, row 2, field 'details': details entry has none of the fields \['correct', 'is_correct', "),
    ({"details": [{"correct": "yes"}]}, r"gsm8k.json, row 1, field 'correct': correctness must be true/false or 0/1"),
    ({"details": [{"correct": True}, {"correct": True}, {"correct": 2}]}, r"gsm8k.json, row 3, field 'correct'"),
    ({"details": {"0": {"correct": True}, "2": {"correct": 2}}}, r"gsm8k.json, row 3, field 'correct'"),  # key 2: row 3
    ({"details": {"0": {"correct": True}, "x": {"correct": False}}},
     r"gsm8k.json, field 'details.x': a details key 'x' that is not an item's position"),
    ({"details": [{"correct": True}, "oops"]}, r"gsm8k.json, row 2, field 'details': a details entry is a str"),
    ({"details": [{"correct": True, "example_abbr": "a_0"}, {"correct": False, "example_abbr": "a_0"}]},
     r"gsm8k.json, row 2, field 'example_abbr': the item 'gsm8k/a_0' appears twice \(rows 1 and 2\)"),
    ({"details": []}, r"gsm8k.json, field 'details': holds no items"),
    ({"details": {"type": "GEN"}}, r"gsm8k.json, field 'details': holds no items"),
    ({"details": {"0": {"correct": True}, "type": {"correct": True}}},
     r"gsm8k.json, field 'details.type': a details key 'type' that is not an item's position"),
    ({"details": {"1": {"correct": True}, "01": {"correct": True}}},
     r"gsm8k.json, field 'details.01': the details keys '1' and '01' name one position"),
    ({"error": "No predictions found."}, r"gsm8k.json: OpenCompass recorded an error"),
    ({"details": [{"correct": True}, {"correct": []}]},
     r"gsm8k.json, row 2, field 'correct': correctness is an empty list"),
])
def test_bad_opencompass_input(tmp_path, details, message):
    _oc_run(tmp_path, "m", "gsm8k", details)
    with pytest.raises(DataError, match=message):
        import_opencompass(tmp_path)

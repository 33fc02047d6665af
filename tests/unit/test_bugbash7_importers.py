"""Bug bash 7 of the log importers: damaged and edge-case logs built in tmp_path in the shape of the real ones.

Each test fails on the code before the fix (a traceback, a value guessed or counted twice, or a misleading message)
and checks the clear error (file, line/row/sample, field, the bad value) or the corrected result.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from irtnet.data.importers import import_table
from irtnet.data.importers.detect import detect_format
from irtnet.data.importers.eee import import_eee
from irtnet.data.importers.helm import import_helm
from irtnet.data.importers.inspect_logs import import_inspect
from irtnet.data.importers.lm_eval import import_lm_eval
from irtnet.data.importers.open_llm_leaderboard import import_open_llm_leaderboard
from irtnet.errors import ConfigError, DataError

TS = "2026-01-02T03-04-05.123456"


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------- lm-eval
def _lm_row(doc_id, question, **extra):
    """A sample row as lm-eval 0.4 writes it (`--log_samples`), scored by `acc`."""
    row = {"doc_id": doc_id, "doc": {"question": question}, "target": "0",
           "arguments": {"gen_args_0": {"arg_0": question, "arg_1": " A"}}, "resps": [[["-1.0", "False"]]],
           "filtered_resps": [["-1.0", "False"]], "filter": "none", "metrics": ["acc"],
           "doc_hash": hashlib.sha256(question.encode()).hexdigest(), "acc": 1.0}
    row.update(extra)
    return row


def _lm_folder(root, rows=None, **results):
    folder = root / "org__m"
    folder.mkdir(parents=True, exist_ok=True)
    data = {"results": {"t": {"alias": "t", "acc,none": 1.0}}, "configs": {"t": {"doc_to_text": "{{question}}"}},
            "n-samples": {"t": {"original": 2, "effective": 2}}, "model_name": "org/m", "lm_eval_version": "0.4.9"}
    data.update(results)
    (folder / f"results_{TS}.json").write_text(json.dumps(data))
    _jsonl(folder / f"samples_t_{TS}.jsonl", rows or [_lm_row(0, "q0"), _lm_row(1, "q1")])
    return root


@pytest.mark.parametrize("results,message", [
    ({"results": {"t": ["acc", 1.0]}}, r"results_.*\.json, field 'results\.t': the results of task 't' are "
                                       r"\['acc', 1\.0\], not an object of figures"),
    ({"configs": {"t": {"filter_list": 5}}}, r"results_.*\.json, field 'configs\.t\.filter_list': filter_list 5 is "
                                             r"not a list"),
    ({"model_name": ["org/m"]}, r"results_.*\.json, field 'model_name': model_name \['org/m'\] is not text"),
])
def test_lm_eval_a_damaged_results_file_is_an_error_naming_the_field_not_a_traceback(tmp_path, results, message):
    with pytest.raises(DataError, match=message):
        import_lm_eval(_lm_folder(tmp_path, **results))


def test_lm_eval_a_metric_list_that_is_not_a_list_is_an_error(tmp_path):
    rows = [_lm_row(0, "q0", metrics=None), _lm_row(1, "q1", metrics=None)]  # older rows: metric_list decides
    with pytest.raises(DataError, match=r"field 'configs\.t\.metric_list': metric_list 'acc' is not a list"):
        import_lm_eval(_lm_folder(tmp_path, rows, configs={"t": {"metric_list": "acc"}}))


@pytest.mark.parametrize("field,value,message", [
    ("doc_hash", ["ab12"], r"doc_hash \['ab12'\] is not a string"),  # was: TypeError unhashable type
    ("doc_hash", 7, r"doc_hash 7 is not a string"),
    ("filter", ["strict-match"], r"filter \['strict-match'\] is not a string"),  # was: kept as the filter "['...']"
    ("filter", None, r"filter None is not a string"),
    ("metrics", 5, r"metrics 5 is not a list of metric names"),  # was: TypeError
    ("metrics", "acc", r"metrics 'acc' is not a list of metric names"),  # was: read as the names 'a', 'c', 'c'
    ("metrics", [{"acc": 1}], r"metrics \[\{'acc': 1\}\] is not a list of metric names"),
])
def test_lm_eval_a_sample_row_field_of_the_wrong_type_is_an_error_naming_the_line(tmp_path, field, value, message):
    rows = [_lm_row(0, "q0"), _lm_row(1, "q1", **{field: value})]
    with pytest.raises(DataError, match=rf"samples_t_.*\.jsonl, line 2, field '{field}': {message}"):
        import_lm_eval(_lm_folder(tmp_path, rows), key="doc_id")


# ---------------------------------------------------------------- Inspect
def _inspect_sample(sid, value, epoch=1):
    return {"id": sid, "epoch": epoch, "input": f"question {sid}?", "target": "A",
            "scores": {"match": {"value": value}}}


def _inspect_log(path, samples):
    path.write_text(json.dumps({
        "version": 2, "status": "success",
        "eval": {"task": "arc", "model": "openai/gpt-x", "run_id": "r1", "task_id": "t1",
                 "scorers": [{"name": "match"}]},
        "results": {"total_samples": len(samples)}, "samples": samples}))
    return path


def test_inspect_epoch_1_and_1_0_are_one_epoch_so_the_sample_is_given_twice_not_two_trials(tmp_path):
    log = _inspect_log(tmp_path / "log.json", [_inspect_sample(1, "C", 1), _inspect_sample(1, "I", 1.0)])
    with pytest.raises(DataError, match=r"log\.json, row 2, field 'id': sample id 1 epoch 1 appears twice"):
        import_inspect(log)  # was: imported as 1 of 2 trials


@pytest.mark.parametrize("epoch", [None, "1", [1], 1.5, 0, True])
def test_inspect_an_epoch_that_is_not_a_positive_integer_is_an_error_naming_the_sample(tmp_path, epoch):
    log = _inspect_log(tmp_path / "log.json", [_inspect_sample(1, "C", 1), _inspect_sample(2, "I", epoch)])
    with pytest.raises(DataError, match=rf"log\.json, row 2, field 'epoch': epoch {re.escape(repr(epoch))} is not a "
                                        r"positive integer"):
        import_inspect(log)


def test_inspect_two_epochs_are_still_two_trials(tmp_path):
    log = _inspect_log(tmp_path / "log.json", [_inspect_sample(1, "C", 1), _inspect_sample(1, "I", 2.0)])
    t = import_inspect(log)
    assert t.responses["n_correct"].tolist() == [1] and t.responses["n_trials"].tolist() == [2]


# ---------------------------------------------------------------- HELM
def _helm_stat(name, mean, split="test"):
    return {"name": {"name": name, "split": split}, "count": 1, "sum": mean, "sum_squared": mean, "min": mean,
            "max": mean, "mean": mean}


def _helm_run(root, rows, state=None, name="mmlu:subject=philosophy,method=multiple_choice_joint,model=openai_gpt2"):
    """A run folder as HELM writes it, with `rows` as its per_instance_stats.json."""
    folder = root / name.replace(":", "-")
    folder.mkdir(parents=True)
    states = [{"instance": {"id": "id0", "input": {"text": "Q?"}, "split": "test"}, "train_trial_index": 0,
               "output_mapping": {"A": "yes", "B": "no"}}]
    files = {"run_spec.json": {"name": name, "adapter_spec": {"model": "openai/gpt2"}},
             "per_instance_stats.json": rows, "scenario_state.json": {"request_states": states} if state is None
             else state, "stats.json": [_helm_stat("exact_match", 1.0)]}
    for file, data in files.items():
        (folder / file).write_text(json.dumps(data))
    return folder


def _helm_row(iid="id0", trial=0, *stats):
    return {"instance_id": iid, "train_trial_index": trial, "stats": list(stats) or [_helm_stat("exact_match", 1.0)]}


@pytest.mark.parametrize("trial", ["0", None, [0], -1, 0.5])
def test_helm_a_train_trial_index_that_is_not_an_integer_is_an_error_naming_the_row(tmp_path, trial):
    _helm_run(tmp_path, [_helm_row("id0", 0), _helm_row("id1", trial)])  # was: "0" a second trial, [0] TypeError
    with pytest.raises(DataError, match=rf"per_instance_stats\.json, row 2, field 'train_trial_index': "
                                        rf"train_trial_index {re.escape(repr(trial))} is not an integer >= 0"):
        import_helm(tmp_path)


def test_helm_one_stat_given_twice_with_different_means_is_an_error_not_the_first(tmp_path):
    _helm_run(tmp_path, [_helm_row("id0", 0, _helm_stat("exact_match", 1.0), _helm_stat("exact_match", 0.0))])
    with pytest.raises(DataError, match=r"per_instance_stats\.json, row 1, field 'stats\.exact_match': instance id0 "
                                        r"gives the stat 'exact_match' twice, with means 1\.0 and 0\.0"):
        import_helm(tmp_path)


def test_helm_one_stat_given_twice_with_one_mean_and_a_float_trial_index_import(tmp_path):
    _helm_run(tmp_path, [_helm_row("id0", 0.0, _helm_stat("exact_match", 1.0), _helm_stat("exact_match", 1.0))])
    assert import_helm(tmp_path).responses["n_correct"].tolist() == [1.0]


@pytest.mark.parametrize("state,got", [({"request_states": 5}, "request_states 5"), ([], "a list"),
                                       ({"request_states": {"id0": {}}}, "request_states {'id0': {}}")])
def test_helm_a_scenario_state_without_a_request_states_list_is_an_error(tmp_path, state, got):
    _helm_run(tmp_path, [_helm_row()], state=state)  # was: TypeError for 5, no text without a word for the others
    with pytest.raises(DataError, match=rf"scenario_state\.json, field 'request_states': expected an object with a "
                                        rf"request_states list, got {re.escape(got)}"):
        import_helm(tmp_path)


def test_helm_an_instance_id_that_is_a_list_in_the_scenario_state_is_not_a_traceback(tmp_path):
    state = {"request_states": [{"instance": {"id": ["id0"], "input": {"text": "Q?"}}},
                                {"instance": {"id": "id0", "input": {"text": "Q?"}}}]}
    _helm_run(tmp_path, [_helm_row()], state=state)  # was: TypeError unhashable type: 'list'
    assert import_helm(tmp_path, choices=False).texts_of(
        ["mmlu:subject=philosophy,method=multiple_choice_joint/id0"]) == ["Q?"]


def test_helm_a_run_name_without_a_scenario_is_an_error_naming_run_spec(tmp_path):
    _helm_run(tmp_path, [_helm_row()], name=":subject=x,model=openai_gpt2")
    with pytest.raises(DataError, match=r"run_spec\.json, field 'name': the run name ':subject=x,model=openai_gpt2' "
                                        r"has no scenario before ':'"):
        import_helm(tmp_path)  # was: "query ':subject=x/id0' has no benchmark", naming the folder only


# ---------------------------------------------------------------- Every Eval Ever
def _eee(sample, score, result="exact_match", **extra):
    """A record of EEE's instance_level_eval schema 0.3.0 (as its lm-eval converter writes one)."""
    record = {"schema_version": "0.3.0", "evaluation_id": "e1", "model_id": "org/m", "evaluation_name": "gsm8k",
              "evaluation_result_id": result, "sample_id": str(sample), "interaction_type": "single_turn",
              "input": {"raw": f"raw {sample}", "reference": ["1"]}, "output": {"raw": ["1"]},
              "answer_attribution": [], "evaluation": {"score": score, "is_correct": score == 1.0}}
    for key, value in extra.items():
        parent, _, child = key.partition(".")
        record[parent] = {**record.get(parent, {}), child: value} if child else value
    return record


def _eee_file(folder, records, aggregate=None, stem="2b6e3c2a-1111-4222-8333-444455556666"):
    folder.mkdir(parents=True, exist_ok=True)
    _jsonl(folder / f"{stem}_samples.jsonl", records)
    if aggregate is not None:
        (folder / f"{stem}.json").write_text(json.dumps(aggregate))
    return folder / f"{stem}_samples.jsonl"


@pytest.mark.parametrize("field,value,message", [
    ("evaluation_name", ["gsm8k"], r"evaluation_name \['gsm8k'\] is not text"),  # was: TypeError unhashable
    ("evaluation_result_id", ["acc"], r"evaluation_result_id \['acc'\] is not text or an integer"),  # was: TypeError
    ("sample_id", ["0"], r"sample_id \['0'\] is not text or an integer"),  # was: the query "gsm8k/['0']"
    ("sample_id", True, r"sample_id True is not text or an integer"),  # was: the query "gsm8k/True"
    ("evaluation.score", "1", r"evaluation.score '1' is not a number"),  # was: skipped as "no 0/1-valued result"
    ("evaluation.is_correct", "true", r"evaluation.is_correct 'true' is not true or false"),
    ("input.raw", ["raw 1"], r"input.raw \['raw 1'\] is not text"),
    ("metadata.epoch", [1], r"metadata.epoch \[1\] is not text or an integer"),
])
def test_eee_a_field_of_the_wrong_type_is_an_error_naming_the_line(tmp_path, field, value, message):
    path = _eee_file(tmp_path, [_eee(0, 1.0), _eee(1, 0.0, **{field: value})])
    with pytest.raises(DataError, match=rf"_samples\.jsonl, line 2, field '{re.escape(field)}': {message}"):
        import_eee(path)


def test_eee_a_text_score_is_an_error_also_with_the_metric_option(tmp_path):
    path = _eee_file(tmp_path, [_eee(0, "0.5", "f1")])  # was: read as the fraction 0.5
    with pytest.raises(DataError, match=r"line 1, field 'evaluation.score': evaluation.score '0.5' is not a number"):
        import_eee(path, metric="f1")


def test_eee_an_integer_result_id_is_its_text_not_an_empty_import(tmp_path):
    path = _eee_file(tmp_path, [_eee(0, 1.0, 5), _eee(1, 0.0, 5)])  # was: "no records (the input is empty)"
    t = import_eee(path)
    assert t.responses["label"].tolist() == [1, 0] and "reads result '5'" in " ".join(t.report.notes)


def test_eee_epoch_1_and_1_0_are_one_epoch_so_the_record_is_given_twice_not_a_second_trial(tmp_path):
    path = _eee_file(tmp_path, [_eee(0, 1.0, **{"metadata.epoch": 1}), _eee(0, 0.0, **{"metadata.epoch": 1.0})])
    with pytest.raises(DataError, match=r"line 2, field 'sample_id': sample_id '0' of model 'org/m' is given twice "
                                        r"for epoch 1 \(first on line 1\)"):
        import_eee(path)  # was: imported as 1 of 2 trials


@pytest.mark.parametrize("aggregate,got", [({"evaluation_results": 5}, "evaluation_results 5"), ([1], "a list")])
def test_eee_a_damaged_aggregate_file_is_an_error_naming_it(tmp_path, aggregate, got):
    path = _eee_file(tmp_path, [_eee(0, 1.0)], aggregate)  # was: TypeError for 5, silently ignored for a list
    with pytest.raises(DataError, match=rf"444455556666\.json, field 'evaluation_results': not an EEE aggregate file: "
                                        rf"expected an object with an evaluation_results list, got {got}"):
        import_eee(path)


def test_eee_given_its_aggregate_json_says_to_give_the_samples_file(tmp_path):
    _eee_file(tmp_path, [_eee(0, 1.0)], {"schema_version": "0.3.0", "evaluation_results": []})
    aggregate = tmp_path / "2b6e3c2a-1111-4222-8333-444455556666.json"
    with pytest.raises(DataError, match=r"444455556666\.json: a \.json file is not EEE instance-level records .* give "
                                        r"2b6e3c2a-1111-4222-8333-444455556666_samples\.jsonl beside it"):
        import_table("auto", aggregate)  # detected as eee; was: "line 1: not valid JSON" or "missing model_id"


# ---------------------------------------------------------------- Open LLM Leaderboard
def _oll_file(root, rows, suffix=".jsonl", results=None):
    folder = root / "org__m"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_leaderboard_bbh_navigate_{TS}{suffix}"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) if suffix == ".jsonl" else json.dumps(rows, indent=1))
    if results is not None:
        (folder / f"results_{TS}.json").write_text(json.dumps(results))
    return path


def _oll_row(n, acc_norm=1.0, **extra):
    row = _lm_row(n, f"q{n}", metrics=["acc_norm"], acc_norm=acc_norm)
    del row["acc"]
    row.update(extra)
    return row


@pytest.mark.parametrize("value", ["1", "0.5", "true"])
def test_oll_a_score_written_as_text_is_an_error_not_a_number(tmp_path, value):
    path = _oll_file(tmp_path, [_oll_row(0), _oll_row(1, value)])  # was: "1" and "0.5" read as numbers
    with pytest.raises(DataError, match=rf"line 2, field 'acc_norm': score '{value}' is text, not a number"):
        import_open_llm_leaderboard(path)


@pytest.mark.parametrize("field,value,message", [
    ("doc_id", True, r"doc_id True is not an integer"),  # was: the item "True"
    ("doc_id", [1], r"doc_id \[1\] is not an integer"),
    ("doc_id", 1.5, r"doc_id 1\.5 is not an integer"),
    ("doc_id", "abc", r"doc_id 'abc' is not an integer"),  # was: the item "t/abc", against the docs
    ("doc_hash", ["ab"], r"doc_hash \['ab'\] is not a string"),  # was: the item "['ab']"
    ("doc_hash", 12, r"doc_hash 12 is not a string"),
    ("filter", ["none"], r"filter \['none'\] is not a string"),  # was: TypeError unhashable type
])
def test_oll_an_id_or_filter_of_the_wrong_type_is_an_error_naming_the_line(tmp_path, field, value, message):
    path = _oll_file(tmp_path, [_oll_row(0), _oll_row(1, **{field: value})])
    with pytest.raises(DataError, match=rf"line 2, field '{field}': {message}"):
        import_open_llm_leaderboard(path)


def test_oll_a_model_name_that_is_not_text_is_an_error_naming_the_results_file(tmp_path):
    path = _oll_file(tmp_path, [_oll_row(0)], results={"model_name": ["org/m"]})  # was: the model "['org/m']"
    with pytest.raises(DataError, match=r"results_.*\.json, field 'model_name': model_name \['org/m'\] is not text"):
        import_open_llm_leaderboard(path)
    assert import_open_llm_leaderboard(path, model="org/m").model_vocab.ids == ("org/m",)


def test_oll_a_cut_off_json_list_is_reported_as_json_not_as_line_1_of_json_lines(tmp_path):
    path = _oll_file(tmp_path, [_oll_row(0), _oll_row(1)], suffix=".json")
    path.write_text(path.read_text()[:-40])
    with pytest.raises(DataError, match=r"samples_leaderboard_.*\.json: not a valid JSON list of samples "
                                        r"\(.*line \d+ column"):
        import_open_llm_leaderboard(path)  # was: "line 1: not valid JSON (Expecting value: line 1 column 2)"
    assert import_open_llm_leaderboard(_oll_file(tmp_path / "ok", [_oll_row(0)], suffix=".json")).n_queries == 1


# ---------------------------------------------------------------- JSON nested too deeply; auto-detection
def test_json_nested_too_deeply_is_a_data_error_not_a_recursion_error(tmp_path):
    deep = tmp_path / "log.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match=r"log\.json: not valid JSON"):
        import_inspect(deep)  # was: RecursionError
    with pytest.raises(ConfigError, match=r"cannot detect the format of .*log\.json"):
        detect_format(deep)  # was: RecursionError


def test_auto_on_a_lighteval_results_file_says_to_give_the_details(tmp_path):
    results = tmp_path / f"results_{TS}.json"
    results.write_text(json.dumps({"config_general": {"model_name": "org/m"}, "results": {}}))
    with pytest.raises(DataError, match=r"results_.*\.json: not a lighteval details file: give a "
                                        r"details_<task>_<timestamp>\.parquet file or the output folder"):
        import_table("auto", results)  # was: "not a lighteval details file name"

"""lm-evaluation-harness, Inspect AI and HELM log importers, on small files the tests write in each shape."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import zipfile

import numpy as np
import pytest

from irtnet.data.importers import import_table, parse_options
from irtnet.data.importers.helm import import_helm
from irtnet.data.importers.inspect_logs import import_inspect
from irtnet.data.importers.lm_eval import import_lm_eval
from irtnet.errors import ConfigError, DataError

TS = "2026-01-02T03-04-05.123456"


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------- lm-eval
def _doc_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _row(doc_id, question, filt="none", old=False, **scores):
    row = {"doc_id": doc_id, "doc": {"question": question}, "target": "0",
           "arguments": {"gen_args_0": {"arg_0": f"<chat>{question}</chat>", "arg_1": " A"}}, **scores}
    if not old:
        row.update(filter=filt, metrics=list(scores), doc_hash=_doc_hash(question))
    return row


def _lm_run(root, model, tasks, stated=None, ts=TS, name=True, configs=None):
    """A model folder: results_<ts>.json stating `stated` and one samples file per task."""
    folder = root / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    results = {"results": {t: {"alias": t, **(stated or {}).get(t, {})} for t in tasks},
               "configs": configs or {t: {"doc_to_text": "Q: {{question}}\nA:"} for t in tasks},
               "versions": {t: 1.0 for t in tasks}, "task_hashes": {t: "ab" * 32 for t in tasks},
               "n-samples": {t: {"original": 100, "effective": len(rows)} for t, rows in tasks.items()},
               "lm_eval_version": "0.4.9", "config": {"model": "hf", "model_args": f"pretrained={model},dtype=bf16"}}
    if name:
        results["model_name"] = model
    (folder / f"results_{ts}.json").write_text(json.dumps(results))
    for task, rows in tasks.items():
        _jsonl(folder / f"samples_{task}_{ts}.jsonl", rows)
    return folder


def _two_models(tmp_path):
    mc = {"a": [_row(0, "q0", acc=1.0, acc_norm=0.0), _row(1, "q1", acc=0.0, acc_norm=1.0)],
          "b": [_row(0, "q0", acc=1.0, acc_norm=1.0), _row(1, "q1", acc=1.0, acc_norm=1.0)]}
    gen = {"a": [_row(0, "g0", exact_match=1.0)], "b": [_row(0, "g0", exact_match=0.0)]}
    for model in ("a", "b"):
        acc = sum(r["acc"] for r in mc[model]) / 2
        _lm_run(tmp_path, f"org/{model}", {"mc": mc[model], "gen": gen[model]},
                stated={"mc": {"acc,none": acc}, "gen": {"exact_match,none": gen[model][0]["exact_match"]}})
    return tmp_path


def test_lm_eval_reads_many_models_and_tasks_from_one_folder(tmp_path):
    t = import_lm_eval(_two_models(tmp_path))
    h = _doc_hash
    assert t.model_vocab.ids == ("org/a", "org/b")
    assert t.query_vocab.ids == (f"gen/{h('g0')}", f"mc/{h('q0')}", f"mc/{h('q1')}")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 0], [1, 1], [0, 1]])
    assert t.benchmarks_of([f"mc/{h('q1')}"]).tolist() == ["mc"]
    assert t.texts_of([f"mc/{h('q1')}"]) == ["Q: q1\nA:"]  # doc_to_text rendered, not the chat prompt
    assert "lm-eval: the mean score of 4 of 4 (model, task) pairs equals the figure its log states" in t.report.notes
    assert "lm-eval scores read (metric,filter): gen: exact_match,none; mc: acc,none" in t.report.notes
    entries = json.loads(t.models.set_index("model").loc["org/a", "provenance"])
    assert {(e["benchmark"], e["tool"], e["tool_version"], e["task_version"], e["task_hash"]) for e in entries} == {
        ("gen", "lm-eval", "0.4.9", "1.0", "ab" * 32), ("mc", "lm-eval", "0.4.9", "1.0", "ab" * 32)}


def test_lm_eval_acc_norm_when_asked_and_a_wrong_stated_figure_is_noted(tmp_path):
    t = import_lm_eval(_two_models(tmp_path), metric="acc_norm,exact_match")
    np.testing.assert_array_equal(t.label_matrix(), [[1, 0], [0, 1], [1, 1]])
    # the results files state acc and exact_match only, so acc_norm is not compared
    assert "lm-eval: the mean score of 2 of 2 (model, task) pairs equals the figure its log states" in t.report.notes
    strict = import_lm_eval(tmp_path, filter="strict-match")
    assert any(n.endswith("task 'mc' logs no filter 'strict-match'; its only filter 'none' was kept")
               for n in strict.report.notes)
    skipped = import_lm_eval(tmp_path, metric="acc_norm")
    assert skipped.report.skipped == {"lm-eval sample rows of tasks that log none of the asked metrics": 2}
    assert skipped.n_queries == 2


def test_lm_eval_keeps_one_filter_per_task(tmp_path):
    rows = [_row(d, f"g{d}", filt, exact_match=float(v)) for d, (s, f) in enumerate([(1, 0), (0, 1)])
            for filt, v in (("strict-match", s), ("flexible-extract", f))]
    configs = {"gsm": {"doc_to_text": "{{question}}", "filter_list": [{"name": "strict-match"},
                                                                       {"name": "flexible-extract"}]}}
    _lm_run(tmp_path, "org/a", {"gsm": rows}, configs=configs)
    t = import_lm_eval(tmp_path)
    ids = [f"gsm/{_doc_hash('g0')}", f"gsm/{_doc_hash('g1')}"]
    assert t.label_matrix(query_ids=ids).ravel().tolist() == [1, 0]
    assert t.report.skipped == {"lm-eval sample rows of another filter (one filter kept per task)": 2}
    assert any("kept filter 'strict-match' (2 of 4 rows)" in n for n in t.report.notes)
    flexible = import_table("lm-eval", tmp_path, **parse_options("lm-eval", ["filter=flexible-extract"]))
    assert flexible.label_matrix(query_ids=ids).ravel().tolist() == [0, 1]
    with pytest.raises(ConfigError, match=r"task 'gsm' logs filters \['strict-match', 'flexible-extract'\], "
                                          r"not 'nope'; choose one of them"):
        import_lm_eval(tmp_path, filter="nope")


def test_lm_eval_older_files_key_by_doc_id_and_take_the_metric_from_the_config(tmp_path):
    rows = [_row(0, "x", old=True, acc=1), _row(1, "y", old=True, acc=0)]
    _lm_run(tmp_path, "org/old", {"asdiv": rows}, stated={"asdiv": {"acc,none": 0.5}},
            configs={"asdiv": {"doc_to_text": "{{body}}", "metric_list": [{"metric": "acc"}]}})
    t = import_lm_eval(tmp_path)
    assert t.query_vocab.ids == ("asdiv/0", "asdiv/1") and t.responses["label"].tolist() == [1, 0]
    assert t.texts_of(["asdiv/0"]) == ["x"]  # template field absent from the doc: the doc's question
    assert "lm-eval task 'asdiv': some rows lack doc_hash; its items are keyed by doc_id" in t.report.notes
    with pytest.raises(DataError, match=r"jsonl, line 1, field 'doc_hash': no doc_hash .* use key=doc_id"):
        import_lm_eval(tmp_path, key="doc_hash")


def test_lm_eval_text_options_and_fraction_scores(tmp_path):
    _lm_run(tmp_path, "org/a", {"t": [_row(0, "q0", f1=0.25), _row(1, "q1", f1=1.0)]})
    t = import_lm_eval(tmp_path, text="prompt")
    assert sorted(t.responses["score"].tolist()) == [0.25, 1.0] and t.responses["n_trials"].tolist() == [1, 1]
    assert sorted(t.queries["text"]) == ["<chat>q0</chat>", "<chat>q1</chat>"]
    assert import_lm_eval(tmp_path, text="none").queries["text"].isna().all()


def test_lm_eval_corpus_level_metrics_are_skipped_and_a_model_name_falls_back_to_model_args(tmp_path):
    _lm_run(tmp_path, "org/ner", {"ner": [_row(0, "n0", f1=["gold", ["pred"]])]})
    with pytest.raises(DataError, match=r"no scored items to import \(skipped: \{'lm-eval sample rows of tasks "
                                        r"without a per-item score \(corpus-level metrics only\)': 1\}\)"):
        import_lm_eval(tmp_path)
    _lm_run(tmp_path, "org/x", {"t": [_row(0, "q0", acc=1.0)]}, ts="2026-02-02T03-04-05.1", name=False)
    t = import_lm_eval(tmp_path)
    assert t.model_vocab.ids == ("org/x",) and any("the model is config.model_args pretrained=org/x" in n
                                                   for n in t.report.notes)


def _write_and_expect(tmp_path, mutate, message):
    folder = _lm_run(tmp_path, "org/a", {"t": [_row(0, "q0", acc=1.0), _row(1, "q1", acc=0.0)]})
    mutate(folder)
    with pytest.raises(DataError, match=message):
        import_lm_eval(tmp_path)


SAMPLES = f"samples_t_{TS}.jsonl"


@pytest.mark.parametrize("mutate,message", [
    (lambda f: (f / SAMPLES).write_text((f / SAMPLES).read_text()[:-20]),
     rf"{SAMPLES}, line 2: not valid JSON"),
    (lambda f: _jsonl(f / SAMPLES, [_row(0, "q0", acc=1.0), {**_row(1, "q1", acc=0.0), "acc": None}]),
     rf"{SAMPLES}, line 2, field 'acc': score None is a NoneType, not a number"),
    (lambda f: _jsonl(f / SAMPLES, [_row(0, "q0", acc=1.0), {k: v for k, v in _row(1, "q1", acc=0.0).items()
                                                              if k != "acc"}]),
     rf"{SAMPLES}, line 2, field 'acc': the sample has no 'acc' score"),
    (lambda f: _jsonl(f / SAMPLES, [_row(0, "q0", acc=1.0), _row(1, "q1", acc=2.0)]),
     rf"{SAMPLES}, line 2, field 'acc': score 2.0 outside \[0, 1\]"),
    (lambda f: _jsonl(f / SAMPLES, [_row(0, "q0", acc=1.0), {"doc": {}, "acc": 1.0}]),
     rf"{SAMPLES}, line 2, field 'doc_id': missing or non-integer doc_id"),
    (lambda f: _jsonl(f / SAMPLES, [_row(0, "q0", acc=1.0), _row(0, "q1", acc=1.0)]),
     rf"{SAMPLES}, line 2, field 'doc_id': doc_id 0 appears twice for filter 'none' \(first on line 1\)"),
    (lambda f: (f / SAMPLES).unlink(),
     r"results_2026-01-02T03-04-05.123456.json: no samples_<task>_2026-01-02T03-04-05.123456.jsonl next to it"),
    (lambda f: (f / f"results_{TS}.json").rename(f / "results_2026-09-09T00-00-00.1.json"),
     rf"{SAMPLES}: no results_{TS}.json with the same timestamp next to it, so the model is unknown"),
])
def test_lm_eval_bad_input_names_file_line_and_field(tmp_path, mutate, message):
    _write_and_expect(tmp_path, mutate, message)


@pytest.mark.parametrize("bad", ["1", "yes", "0.5", "NaN", float("nan")])
@pytest.mark.parametrize("metric", [None, "acc"])
def test_lm_eval_one_bad_score_is_an_error_not_a_skipped_task(tmp_path, bad, metric):
    """A string (even "1") or NaN among numbers: the task is per-item, so the value is an error, with or without
    the metric option, never a reason to drop the task as corpus-level."""
    rows = [_row(0, "q0", acc=1.0), _row(1, "q1", acc=bad), _row(2, "q2", acc=0.0)]
    _lm_run(tmp_path, "org/a", {"t": rows})
    shown = "NaN is not a number" if not isinstance(bad, str) else f"{bad!r} is a str, not a number"
    with pytest.raises(DataError, match=rf"{SAMPLES}, line 2, field 'acc': score {re.escape(shown)}"):
        import_lm_eval(tmp_path, metric=metric)


def test_lm_eval_a_task_of_string_scores_only_is_an_error_not_corpus_level(tmp_path):
    _lm_run(tmp_path, "org/a", {"t": [_row(0, "q0", acc="1"), _row(1, "q1", acc="0")]})
    with pytest.raises(DataError, match=rf"{SAMPLES}, line 1, field 'acc': score '1' is a str"):
        import_lm_eval(tmp_path)


def test_lm_eval_doc_hash_and_doc_id_must_agree_across_models(tmp_path):
    _lm_run(tmp_path, "org/a", {"t": [_row(0, "q0", acc=1.0), _row(1, "q1", acc=0.0)]})
    _lm_run(tmp_path, "org/b", {"t": [_row(0, "q1", acc=1.0), _row(1, "q0", acc=0.0)]})
    with pytest.raises(DataError, match=r"org__b/samples_t_.*jsonl, line 1, field 'doc_hash': doc_hash \w+ is paired "
                                        r"with 1 in .*org__a/samples_t_.*jsonl line 2 but with 0 here"):
        import_lm_eval(tmp_path)
    by_content = import_lm_eval(tmp_path, key="doc_hash")
    np.testing.assert_array_equal(by_content.label_matrix(query_ids=[f"t/{_doc_hash('q0')}", f"t/{_doc_hash('q1')}"]),
                                  [[1, 0], [0, 1]])


# ---------------------------------------------------------------- Inspect
def _sample(sid, value=None, epoch=1, scorer="match", error=None, **extra):
    scores = {} if value is None else ({scorer: {"value": value}} if not isinstance(value, list)
                                       else {name: {"value": v} for name, v in value})
    return {"id": sid, "epoch": epoch, "input": f"question {sid}?", "target": "A", "scores": scores,
            **({"error": {"message": error}} if error else {}), **extra}


def _log(model, task, samples, scorers=("match",), accuracy=None, run_id=None, version="0.3.100"):
    log = {"version": 2, "status": "success",
           "eval": {"task": task, "model": model, "run_id": run_id or f"run-{model}-{task}", "task_id": "t1",
                    "task_version": 3, "packages": {"inspect_ai": version},
                    "scorers": [{"name": s} for s in scorers]},
           "results": {"total_samples": len(samples or []), "scores": [
               {"name": s, "scorer": s, "metrics": {"accuracy": {"name": "accuracy", "value": accuracy}}}
               for s in scorers] if accuracy is not None else []}}
    return {**log, "samples": samples} if samples is not None else log


def _write_json(path, log):
    path.write_text(json.dumps(log))
    return path


def _write_eval(path, log):
    with zipfile.ZipFile(path, "w") as zf:
        for s in reversed(log.get("samples") or []):  # members out of order, as Inspect writes them
            zf.writestr(f"samples/{s['id']}_epoch_{s['epoch']}.json", json.dumps(s))
        zf.writestr("header.json", json.dumps({k: v for k, v in log.items() if k != "samples"}))
    return path


def test_inspect_folder_of_json_and_eval_logs_with_epochs_as_counts(tmp_path):
    _write_json(tmp_path / "a.json", _log("openai/gpt-x", "arc", [_sample(1, "C"), _sample(2, "I")], accuracy=0.5))
    _write_eval(tmp_path / "b.eval", _log("anthropic/c", "arc", [_sample(1, "C", 1), _sample(1, "I", 2),
                                                                   _sample(2, "C", 1), _sample(2, "C", 2)],
                                          accuracy=0.75))
    _write_json(tmp_path / "logs.json", {"b.eval": {"status": "success"}})
    t = import_inspect(tmp_path)
    assert t.model_vocab.ids == ("anthropic/c", "openai/gpt-x") and t.query_vocab.ids == ("arc/1", "arc/2")
    r = t.responses
    assert r["n_correct"].tolist() == [1, 1, 2, 0] and r["n_trials"].tolist() == [2, 1, 2, 1]
    np.testing.assert_array_equal(t.label_matrix(), [[1, 1], [1, 0]])  # 1 of 2 epochs: a tie goes to correct
    assert t.report.skipped == {"JSON files that are not Inspect logs": 1}
    assert "inspect: the mean score of 2 of 2 (model, task) pairs equals the figure its log states" in t.report.notes
    assert t.texts_of(["arc/1"]) == ["question 1?"]
    entries = json.loads(t.models.set_index("model").loc["anthropic/c", "provenance"])
    assert [(e["tool"], e["tool_version"], e["task_version"]) for e in entries] == [("inspect", "0.3.100", "3")]


def test_inspect_several_scorers_partial_and_no_answer(tmp_path):
    samples = [_sample(1, [("match", "P"), ("judge", "C")]), _sample(2, [("match", "N"), ("judge", "I")])]
    path = _write_json(tmp_path / "log.json", _log("m", "qa", samples, scorers=("match", "judge")))
    t = import_inspect(path)
    assert t.responses["score"].tolist() == [0.5, 0.0] and t.responses["label"].tolist() == [1, 0]
    assert f"{path}: scorers ['match', 'judge']; kept the first, 'match'" in t.report.notes
    assert import_inspect(path, scorer="judge").responses["label"].tolist() == [1, 0]
    skipped = import_inspect(path, no_answer="skip")
    assert skipped.query_vocab.ids == ("qa/1",)
    assert skipped.report.skipped == {"Inspect samples scored N (no answer), skipped as not observed": 1}
    with pytest.raises(DataError, match=r"no scored items to import \(skipped: \{'Inspect logs without the asked "
                                        r"scorer': 1\}\)"):
        import_inspect(path, scorer="nope")


def test_inspect_numeric_and_dict_scores_and_message_inputs(tmp_path):
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Pick one."}]}]
    samples = [_sample(1, 0.65, scorer="s", choices=["red", "blue"]),
               _sample(2, {"acc": 1, "f1": 0.5}, scorer="s", input=messages)]
    t = import_inspect(_write_json(tmp_path / "log.json", _log("m", "t", samples, scorers=("s",))))
    assert t.responses["score"].tolist() == pytest.approx([0.65, 1.0])
    assert "dict scores: kept key 'acc' of ['acc', 'f1'] (choose with score_key)" in t.report.notes
    assert t.texts_of(["t/1", "t/2"]) == ["question 1?\nA) red\nB) blue", "Be brief.\n\nPick one."]
    assert import_inspect(tmp_path / "log.json", score_key="f1", choices=False).responses["score"].tolist() == \
        pytest.approx([0.65, 0.5])


def test_inspect_errored_header_only_and_repeated_runs_are_skipped_and_counted(tmp_path):
    log = _log("m", "t", [_sample(1, "C"), _sample(2, None, error="sandbox failed")])
    _write_json(tmp_path / "run.json", log)
    _write_eval(tmp_path / "run.eval", log)  # the same run in the other container
    _write_json(tmp_path / "header.json", _log("m2", "t", None))
    t = import_inspect(tmp_path)
    assert t.query_vocab.ids == ("t/1",) and t.model_vocab.ids == ("m",)
    assert t.report.skipped == {"Inspect samples with an error and no score (not observed)": 1,
                                "Inspect logs without samples (header only)": 1,
                                "Inspect logs of a run already read (same run_id and task_id)": 1}


@pytest.mark.parametrize("name,log,message", [
    ("log.json", _log("m", "t", [_sample(1, 7.5)]),
     r"log.json, row sample id 1 epoch 1, field 'scores.match.value': score 7.5 outside \[0, 1\]"),
    ("log.eval", _log("m", "t", [_sample(1, "C"), _sample(2, None)]),
     r"log.eval::samples/2_epoch_1.json, row sample id 2 epoch 1, field 'scores.match': no score from 'match'"),
    ("log.json", _log("m", "t", [_sample(1, "maybe")]),
     r"log.json, row sample id 1 epoch 1, field 'scores.match.value': score 'maybe' is not a number"),
    ("log.json", {"eval": {"task": "t"}, "samples": [_sample(1, "C")]}, r"log.json, field 'eval.model': no eval.model"),
    ("log.json", _log("m", "t", None), r"log.json: no scored items to import"),
    ("log.json", _log("m", "t", [_sample(1, "C"), _sample(1, "I")]),
     r"log.json, row 2, field 'id': sample id 1 epoch 1 appears twice \(samples 1 and 2\)"),
    ("log.json", _log("m", "t", [_sample(1, "C"), _sample(1.0, "I")]),  # 1.0 is id 1, as "1" is
     r"log.json, row 2, field 'id': sample id 1 epoch 1 appears twice \(samples 1 and 2\)"),
    ("log.json", _log("m", "t", [_sample(1, "C"), _sample([2], "I")]),
     r"log.json, row 2, field 'id': a sample id is a string or an integer \(got list \[2\]\)"),
    ("log.json", _log("m", "t", [_sample({"a": 1}, "C")]), r"log.json, row 1, field 'id': .*\(got dict"),
    ("log.json", _log("m", "t", [_sample(1.5, "C")]), r"log.json, row 1, field 'id': .*\(got float 1.5\)"),
    ("log.json", _log("m", "t", [_sample(True, "C")]), r"log.json, row 1, field 'id': .*\(got bool True\)"),
    ("log.eval", _log("m", "t", [_sample([2], "C")]), r"log.eval::samples/\[2\]_epoch_1.json, field 'id': .*got list"),
    ("log.json", _log("m", "t", [_sample(1, "C"), _sample(2, "C"), "oops"]),
     r"log.json, row 3, field 'samples': a sample is a str, not an object"),
    ("log.json", {**_log("m", "t", None), "samples": {"a": 1}},
     r"log.json, field 'samples': samples is a dict, not a list of samples"),
    ("log.json", _log("m", "t", [{**_sample(1, "C"), "scores": ["C"]}]),
     r"log.json, row 1, field 'scores': scores is a list, not an object"),
    ("log.json", _log("m", "t", [_sample(1, float("nan"))]),
     r"field 'scores.match.value': score NaN is not a number in \[0, 1\] \(NaN is never read as missing\)"),
])
def test_inspect_bad_input_names_file_sample_and_field(tmp_path, name, log, message):
    path = (_write_eval if name.endswith(".eval") else _write_json)(tmp_path / name, log)
    with pytest.raises(DataError, match=message):
        import_inspect(path)


def test_inspect_integral_float_id_is_the_integer_and_text_scores_are_read_as_inspect_reads_them(tmp_path):
    samples = [_sample(1.0, "yes"), _sample(2, " 0.25 "), _sample("3", "False")]
    t = import_inspect(_write_json(tmp_path / "log.json", _log("m", "t", samples)))
    assert t.query_vocab.ids == ("t/1", "t/2", "t/3") and t.responses["score"].tolist() == [1.0, 0.25, 0.0]


def test_inspect_truncated_files(tmp_path):
    whole = _write_json(tmp_path / "a.json", _log("m", "t", [_sample(1, "C")]))
    whole.write_text(whole.read_text()[:-5])
    with pytest.raises(DataError, match=r"a.json: not valid JSON"):
        import_inspect(whole)
    cut = _write_eval(tmp_path / "b.eval", _log("m", "t", [_sample(1, "C")]))
    cut.write_bytes(cut.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"b.eval: not a readable .eval \(zip\) file"):
        import_inspect(cut)


# ---------------------------------------------------------------- HELM
def _stat(name, mean, split="test", **extra):
    return {"name": {"name": name, "split": split, **extra}, "count": 1, "sum": mean, "mean": mean}


def _helm_run(root, model, subject, outcomes, splits=None, perturbed=(), trials=1, stated=None):
    """A run folder: instance i has exact_match outcomes[i] (per trial: a list)."""
    name = f"mmlu:subject={subject},method=multiple_choice_joint,model={model.replace('/', '_')}"
    folder = root / name.replace(":", "-")
    folder.mkdir(parents=True)
    spec = {"name": name, "adapter_spec": {"model": model, "model_deployment": f"hf/{model}"}}
    rows, states = [], []
    for i, outcome in enumerate(outcomes):
        split = (splits or {}).get(i, "test")
        for trial, value in enumerate(outcome if isinstance(outcome, list) else [outcome] * trials):
            rows.append({"instance_id": f"id{i}", "train_trial_index": trial,
                         "stats": [_stat("num_references", 4, split), _stat("exact_match", value, split),
                                   _stat("exact_match", 0.0, split, perturbation={"name": "robustness"})]})
        states.append({"instance": {"id": f"id{i}", "input": {"text": f"{subject} q{i}?"}, "split": split},
                       "train_trial_index": 0, "output_mapping": {"A": "yes", "B": "no"}})
    rows += [{"instance_id": f"id{i}", "train_trial_index": 0, "perturbation": {"name": "typos"},
              "stats": [_stat("exact_match", 1.0)]} for i in perturbed]
    for file, data in (("run_spec.json", spec), ("per_instance_stats.json", rows),
                       ("scenario_state.json", {"request_states": states}),
                       ("stats.json", [_stat("exact_match", v, s) for s, v in (stated or {}).items()])):
        (folder / file).write_text(json.dumps(data))
    return folder


def test_helm_runs_of_two_models_and_subjects_with_perturbations_skipped(tmp_path):
    _helm_run(tmp_path, "openai/gpt2", "philosophy", [1.0, 0.0], perturbed=[0], stated={"test": 0.5})
    _helm_run(tmp_path, "openai/gpt2", "law", [0.0], splits={0: "valid"})
    _helm_run(tmp_path, "meta/llama", "philosophy", [1.0, 1.0], stated={"test": 0.25})
    t = import_helm(tmp_path)
    q = "mmlu:subject=philosophy,method=multiple_choice_joint"
    assert t.model_vocab.ids == ("meta/llama", "openai/gpt2")
    assert t.query_vocab.ids == ("mmlu:subject=law,method=multiple_choice_joint/id0", f"{q}/id0", f"{q}/id1")
    assert t.benchmark_vocab.ids == ("mmlu",)
    np.testing.assert_array_equal(t.label_matrix(), [[np.nan, 0], [1, 1], [1, 0]])
    assert t.texts_of([f"{q}/id1"]) == ["philosophy q1?\nA. yes\nB. no"]
    assert t.report.skipped == {"HELM rows of perturbed instances (robustness/fairness variants)": 1}
    assert "helm: the mean score of 1 of 2 (model, task, split) triples equals the figure its log states" in t.report.notes
    assert f"helm: meta/llama {q} (test): mean over the imported items 1.0000, the log states exact_match (test) " \
           "= 0.2500" in t.report.notes
    assert import_helm(tmp_path, splits=["test"]).report.skipped["HELM instances of splits not asked for"] == 1
    assert json.loads(t.models.set_index("model").loc["meta/llama", "provenance"])[0]["tool"] == "helm"


def test_helm_train_trials_become_counts_and_a_fractional_metric(tmp_path):
    folder = _helm_run(tmp_path, "m/x", "art", [[1.0, 0.0, 1.0], [0.4]])
    t = import_helm(folder)
    assert t.responses["n_correct"].tolist() == pytest.approx([2, 0.4])
    assert t.responses["n_trials"].tolist() == [3, 1]
    assert import_helm(folder, choices=False).texts_of(["mmlu:subject=art,method=multiple_choice_joint/id0"]) == \
        ["art q0?"]


@pytest.mark.parametrize("mutate,message", [
    (lambda f: (f / "per_instance_stats.json").unlink(),
     r"per_instance_stats.json: missing: a HELM run folder needs run_spec.json and per_instance_stats.json"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps([
        {"instance_id": "id0", "stats": [_stat("exact_match", 1.0)]}, {"instance_id": "id1", "stats": []}])),
     r"per_instance_stats.json, row 2, field 'stats.exact_match': instance id1 has no 'exact_match' stat"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps([
        {"instance_id": "id0", "stats": [_stat("exact_match", 1.5)]}])),
     r"per_instance_stats.json, row 1, field 'stats.exact_match.mean': score 1.5 outside \[0, 1\]"),
    (lambda f: (f / "run_spec.json").write_text(json.dumps({"name": "mmlu:model=x", "adapter_spec": {}})),
     r"run_spec.json, field 'adapter_spec.model': no model"),
    (lambda f: (f / "per_instance_stats.json").write_text("[{\"instance_id\": \"id0\", \"sta"),
     r"per_instance_stats.json: not valid JSON"),
    (lambda f: (f / "per_instance_stats.json").write_text("[]"),
     r"per_instance_stats.json: holds no items \(an empty list\)"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps([
        {"instance_id": "id0", "stats": [_stat("exact_match", 1.0)]}, {"instance_id": 5, "stats": []}])),
     r"per_instance_stats.json, row 2, field 'instance_id': the instance_id is not a string \(got int 5\)"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps([{"instance_id": ["id0"], "stats": []}])),
     r"per_instance_stats.json, row 1, field 'instance_id': the instance_id is not a string \(got list"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps([{"stats": []}])),
     r"per_instance_stats.json, row 1, field 'instance_id': a row without an instance_id"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps(["id0"])),
     r"per_instance_stats.json, row 1: a row is a str, not an object"),
    (lambda f: (f / "per_instance_stats.json").write_text(json.dumps([
        {"instance_id": "id0", "stats": [_stat("exact_match", "1")]}])),
     r"per_instance_stats.json, row 1, field 'stats.exact_match.mean': score '1' is a str, not a number"),
])
def test_helm_bad_input_names_file_row_and_field(tmp_path, mutate, message):
    folder = _helm_run(tmp_path, "m/x", "art", [1.0])
    mutate(folder)
    with pytest.raises(DataError, match=message):
        import_helm(tmp_path)


def test_helm_an_empty_run_beside_a_good_one_is_an_error_not_a_skip(tmp_path):
    _helm_run(tmp_path, "m/x", "art", [1.0])
    empty = _helm_run(tmp_path, "m/x", "law", [1.0])
    (empty / "per_instance_stats.json").write_text("[]")
    with pytest.raises(DataError, match=r"subject=law.*per_instance_stats.json: holds no items"):
        import_helm(tmp_path)


def test_inspect_own_reader_is_opt_in_and_needs_the_package(tmp_path):
    path = _write_json(tmp_path / "log.json", _log("m", "t", [_sample(1, "C")]))
    if importlib.util.find_spec("inspect_ai") is not None:
        pytest.skip("inspect_ai is installed here, so reader='inspect' is allowed")
    with pytest.raises(ConfigError, match=r"reader='inspect' needs the inspect_ai package"):
        import_inspect(path, reader="inspect")

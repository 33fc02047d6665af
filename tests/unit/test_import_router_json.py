"""RouterDC and LLMRouter JSON ({question, scores}), on small files the tests write."""

from __future__ import annotations

import json

import pytest

from irtnet.data.importers._source import text_id
from irtnet.data.importers.llmrouter import import_llmrouter
from irtnet.data.importers.routerdc import import_routerdc
from irtnet.errors import ConfigError, DataError


def _items(*rows):
    return [{"question": q, "scores": dict(zip(("m1", "m2"), s))} for q, s in rows]


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_routerdc_outcome_rule_per_benchmark(tmp_path):
    _write_json(tmp_path / "mmlu_train.json", _items(("Q1\nA. x", (0.31, 0.0))))
    _write_json(tmp_path / "mmlu_test.json", _items(("Q1\nA. x", (0.4, 0.0)), ("Q2", (0.0, 0.9))))
    _write_json(tmp_path / "gsm8k-test.json", _items(("G1", (0.3, 1.0))))
    _write_json(tmp_path / "humaneval_test.json", _items(("H1", (0.25, 0.5))))
    t = import_routerdc(tmp_path)
    assert t.benchmark_vocab.ids == ("gsm8k", "humaneval", "mmlu")
    r = t.responses.set_index(["model", "query"])
    q1, g1, h1 = text_id("mmlu", "Q1\nA. x"), text_id("gsm8k", "G1"), text_id("humaneval", "H1")
    assert r.loc[("m1", q1), "label"] == 1 and r.loc[("m1", q1), "n_trials"] == 2  # mc: score > 0, in 2 files
    assert tuple(r.loc[("m1", g1), ["n_correct", "n_trials", "label"]]) == (3, 10, 0)  # gsm8k: k of 10
    assert r.loc[("m1", h1), "score"] == pytest.approx(0.25) and r.loc[("m2", h1), "label"] == 1
    assert t.report.n_repeated_pairs == 2  # Q1 is in both mmlu files: one query, voted
    assert t.texts_of([q1]) == ["Q1\nA. x"]


@pytest.mark.parametrize("data,message", [
    ([{"question": "Q"}], r"mmlu.json, row 1, field 'scores': missing scores"),
    ([{"scores": {"m1": 1}}], r"mmlu.json, row 1, field 'question': missing or empty question"),
    (_items(("Q", (1.5, 0))), r"mmlu.json, row 1, field 'scores': score of model 'm1' is not a number in \[0, 1"),
    (_items(("Q", (None, 0))), r"mmlu.json, row 1, field 'scores': score of model 'm1' is not a number"),
    ([], r"mmlu.json: no records \(the input is empty\)"),
    ({"question": "Q"}, r"mmlu.json: expected a JSON list of records, got dict"),
])
def test_bad_routerdc_input_names_file_row_and_field(tmp_path, data, message):
    with pytest.raises(DataError, match=message):
        import_routerdc(_write_json(tmp_path / "mmlu.json", data))


def test_routerdc_sampled_score_must_be_a_whole_number_of_samples_and_empty_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"gsm8k-test.json, row 1, field 'scores': score 0.35 is not a whole"):
        import_routerdc(_write_json(tmp_path / "gsm8k-test.json", _items(("G", (0.35, 0)))))
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(DataError, match=r"empty.json: not valid JSON"):
        import_routerdc(tmp_path / "empty.json")


# ---------------------------------------------------------------- llmrouter
def _llmrouter(tmp_path, train, test=(), queries=None):
    data = tmp_path / "data"
    _write_json(data / "dcrouter_preprocessed" / "train.json", train)
    _write_json(data / "dcrouter_preprocessed" / "test.json", list(test))
    rows = queries or [("mmlu", "Q1"), ("mmlu", "Q2"), ("openbook_qa", "Q2"), ("gsm8k", "G\u00851")]
    qfile = data / "example_data" / "query_data" / "default_query_train.jsonl"
    qfile.parent.mkdir(parents=True, exist_ok=True)
    qfile.write_text("\n".join(json.dumps({"task_name": t, "query": q}) for t, q in rows))
    _write_json(data / "example_data" / "llm_candidates" / "default_llm.json",
                {"m1": {"input_price": 0.1, "output_price": 0.2, "size": "7B", "model": "org/m1"},
                 "m2": {"input_price": 0.3}, "m3": {"input_price": 9}})
    return tmp_path


def test_llmrouter_joins_tasks_resolves_ambiguity_and_keeps_prices(tmp_path):
    train = _items(("Q1", (1, 0)), ("Q2", (0.5, 1)), ("Q9", (1, 1)))
    train.append({"question": "G\u00851", "scores": "{'m1': 0.0, 'm2': 1.0}"})  # a dict repr, and U+0085
    t = import_llmrouter(_llmrouter(tmp_path, train, _items(("Q1", (1, 1)))))
    assert t.benchmarks_of([text_id("mmlu", "Q2"), text_id("gsm8k", "G\u00851")]).tolist() == ["mmlu", "gsm8k"]
    assert t.report.skipped == {"questions found in no query_data file (no task)": 1}
    assert any("1 questions match two tasks" in n for n in t.report.notes)
    assert any("m3" in n and "no scores" in n for n in t.report.notes)
    assert t.report.n_repeated_pairs == 2  # Q1 in train and test: one query per model, voted
    assert t.models.set_index("model").loc["m1", "input_price"] == 0.1
    assert t.responses.set_index(["model", "query"]).loc[("m1", text_id("mmlu", "Q2")), "score"] == 0.5


@pytest.mark.parametrize("train,message", [
    (_items(("Q1", (1.5, 0))), r"train.json, row 1, field 'score': score outside \[0, 1\]"),
    (_items(("Q1", (float("nan"), 0))), r"train.json, row 1, field 'score': missing, NaN or infinite"),
    ([{"question": "Q1"}], r"train.json, row 1, field 'scores': missing scores"),
    ([{"question": "Q1", "scores": "{'m1': "}], r"train.json, row 1, field 'scores': scores is not a dict"),
    ([], r"train.json: no records \(the file is empty\)"),
])
def test_bad_llmrouter_input_names_file_row_and_field(tmp_path, train, message):
    with pytest.raises(DataError, match=message):
        import_llmrouter(_llmrouter(tmp_path, train), splits=["train"])


def test_llmrouter_query_file_without_task_and_unknown_split(tmp_path):
    root = _llmrouter(tmp_path, _items(("Q1", (1, 0))))
    (root / "data" / "example_data" / "query_data" / "x.jsonl").write_text('{"query": "Q1"}\n')
    with pytest.raises(DataError, match=r"x.jsonl, line 1: expected an object with query and task_name"):
        import_llmrouter(root)
    with pytest.raises(ConfigError, match="option splits must name some of train, test"):
        import_llmrouter(root, splits=["dev"])

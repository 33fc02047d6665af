"""RouterBench-style CSV (per-model labels and costs) and MMLU-Pro output zips, on files the tests write."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest

from irtnet.data.importers.mmlu_pro import import_mmlu_pro
from irtnet.data.importers.routerbench import import_routerbench
from irtnet.errors import ConfigError, DataError


def _routerbench(**over):
    frame = pd.DataFrame({
        "": [0, 1, 2], "sample_id": ["arc.1", "arc.2", "arc.2"],
        "prompt": ["['Q1', 'A. x']", "['Q2 v1']", "['Q2 v2']"], "eval_name": "arc",
        "m1": ["1.0", "0.0", ""], "m2": ["1", "", "1"],
        "m1|total_cost": [0.5, 0.25, None], "m2|total_cost": [0.01, None, 0.02],
        "m1|model_response": ["a", "b", "c"], "oracle_model_to_route_to": ["m2", "m1", "m2"],
    })
    for key, value in over.items():
        frame[key] = value
    return frame


def test_routerbench_labels_costs_texts_and_two_prompt_versions(tmp_path):
    _routerbench().to_csv(tmp_path / "arc_test.csv", index=False)
    t = import_routerbench(tmp_path / "arc_test.csv")
    assert t.model_vocab.ids == ("m1", "m2") and t.query_vocab.ids == ("arc.1", "arc.2")
    r = t.responses.set_index(["model", "query"])
    assert r.loc[("m1", "arc.2"), "label"] == 0 and r.loc[("m2", "arc.2"), "cost"] == 0.02
    assert r.loc[("m1", "arc.1"), "cost"] == 0.5 and t.has_cost
    assert t.texts_of(["arc.1"]) == ["Q1\n\nA. x"]
    assert t.report.skipped == {"empty model labels (not observed)": 2}
    assert any("1 sample_ids have two or more prompt versions" in n for n in t.report.notes)


@pytest.mark.parametrize("over,message", [
    ({"m1": ["1", "2", "0"]}, r"rb.csv, row 2, field 'm1': label is not 0/1, true/false or yes/no \(got '2'"),
    ({"m1": ["1", "NaN", "0"]}, r"rb.csv, row 2, field 'm1': label is not 0/1.*got 'NaN'"),
    ({"m1|total_cost": [0.5, None, 1]}, r"rb.csv, row 2, field 'm1\|total_cost': missing, NaN or infinite"),
    ({"m2": ["", "", ""]}, r"rb.csv, field 'm2': model 'm2' has no records"),
])
def test_bad_routerbench_input_names_file_row_and_field(tmp_path, over, message):
    _routerbench(**over).to_csv(tmp_path / "rb.csv", index=False)
    with pytest.raises(DataError, match=message):
        import_routerbench(tmp_path / "rb.csv")


def test_routerbench_missing_column_empty_file_and_colliding_benchmark(tmp_path):
    _routerbench().drop(columns="eval_name").to_csv(tmp_path / "rb.csv", index=False)
    with pytest.raises(DataError, match=r"rb.csv, field 'eval_name': missing required column \['eval_name'\]"):
        import_routerbench(tmp_path / "rb.csv")
    (tmp_path / "rb.csv").write_text("")
    with pytest.raises(DataError, match=r"rb.csv: no records \(the file is empty\)"):
        import_routerbench(tmp_path / "rb.csv")
    _routerbench(eval_name=["arc", "arc", "mbpp"]).to_csv(tmp_path / "rb.csv", index=False)
    with pytest.raises(DataError, match=r"rb.csv, row 3, field 'eval_name': sample_id 'arc.2' has two different"):
        import_routerbench(tmp_path / "rb.csv")


# ---------------------------------------------------------------- mmlu-pro
def _record(qid, pred, answer="B", category="math", src="ori_mmlu-algebra", question="What?"):
    return {"question_id": qid, "question": question, "options": ["1", "2"], "answer": answer, "answer_index": 1,
            "category": category, "src": src, "cot_content": "", "generated_text": "...", "pred": pred}


def _zip(folder, model, records):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model_outputs_{model}_5shots.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"model_outputs_{model}_5shots.json", json.dumps(records))
    return path


def test_mmlu_pro_pred_equals_answer_null_is_wrong_stray_items_counted(tmp_path):
    _zip(tmp_path / "eval_results", "Mixtral-8x7B-v0.1", [_record(1, "B"), _record(2, None), "stray"])
    _zip(tmp_path / "eval_results", "gemma-7b", [_record(1, "A"), _record(2, "B", category="law", src="stemez-x")])
    t = import_mmlu_pro(tmp_path)
    assert t.model_vocab.ids == ("Mixtral-8x7B-v0.1", "gemma-7b")
    assert t.label_matrix().tolist() == [[1, 0], [0, 1]]
    assert t.report.skipped == {"list items that are not records (stray strings)": 1}
    assert t.texts_of(["mmlu-pro/1"]) == ["What?\nA. 1\nB. 2"]
    assert t.benchmarks_of(["mmlu-pro/2"]).tolist() == ["math"]  # a tie: the first file in name order wins
    assert any("1 questions differ" in n for n in t.report.notes)
    assert import_mmlu_pro(tmp_path, group="src").benchmark_vocab.ids == ("ori_mmlu",)


@pytest.mark.parametrize("records,message", [
    ([_record(1, "B"), {"question_id": 2, "pred": "A"}], r"m.zip, row 2, field 'question': record lacks"),
    ([_record(1, "B"), _record(2, "A", answer=None)], r"m.zip, row 2, field 'answer': missing answer"),
    ([_record(1, "B"), {**_record(2, "A"), "options": "oops"}], r"m.zip, row 2, field 'options': options is not"),
    ([], r"m.zip: no records \(the input is empty\)"),
])
def test_bad_mmlu_pro_input_names_file_row_and_field(tmp_path, records, message):
    path = _zip(tmp_path, "m", records).rename(tmp_path / "m.zip")
    with pytest.raises(DataError, match=message):
        import_mmlu_pro(path)


def test_mmlu_pro_colliding_model_names_empty_zip_and_bad_group(tmp_path):
    _zip(tmp_path / "a", "x", [_record(1, "B")])
    _zip(tmp_path / "b", "x", [_record(1, "A")])
    with pytest.raises(DataError, match=r"field 'model': model 'x' also comes from .*keep one file per model"):
        import_mmlu_pro(tmp_path)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    with pytest.raises(DataError, match=r"empty.zip: the zip holds 0 files"):
        import_mmlu_pro(tmp_path / "empty.zip")
    with pytest.raises(ConfigError, match="option group must be 'category' or 'src'"):
        import_mmlu_pro(tmp_path, group="subject")

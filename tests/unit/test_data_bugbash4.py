"""Bug bash 4 of the data layer: damaged harness logs that crashed, were read as missing, or were merged silently.

Each test writes a small synthetic log to tmp_path and fails on the code before the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from irtnet.data.importers.eee import import_eee
from irtnet.data.importers.helm import import_helm
from irtnet.data.importers.lighteval import import_lighteval
from irtnet.data.importers.lm_eval import import_lm_eval
from irtnet.data.importers.open_llm_leaderboard import import_open_llm_leaderboard
from irtnet.data.importers.opencompass import import_opencompass
from irtnet.data.merge import merge_tables
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError

TS = "2024-08-21T03-44-09.494230"


# ---------------------------------------------------------------- lm-eval
def _lm_run(root: Path, rows: list[dict], results: dict | None = None) -> Path:
    folder = root / "org__model"
    folder.mkdir(parents=True)
    data = {"results": {"t": {"acc,none": 0.5}}, "configs": {"t": {}}, "model_name": "org/model"}
    data.update(results or {})
    (folder / f"results_{TS}.json").write_text(json.dumps(data))
    (folder / f"samples_t_{TS}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def _lm_row(doc_id, acc, **extra):
    return {"doc_id": doc_id, "doc": {"question": f"Q{doc_id}"}, "doc_hash": f"h{doc_id}", "filter": "none",
            "metrics": ["acc"], "acc": acc, **extra}


def test_lm_eval_a_config_that_is_not_an_object_is_a_data_error_not_a_crash(tmp_path):
    # was: AttributeError 'str' object has no attribute 'get' (a traceback)
    root = _lm_run(tmp_path, [_lm_row(0, 1), _lm_row(1, 0)], results={"model_name": "", "config": "oops"})
    with pytest.raises(DataError, match="no model name") as err:
        import_lm_eval(root)
    assert err.value.file.endswith(f"results_{TS}.json")


def test_lm_eval_a_boolean_doc_id_is_refused_as_not_an_integer(tmp_path):
    # was: True accepted as doc id 1, then "doc_id True appears twice" (True == 1), or an item id "True"
    root = _lm_run(tmp_path, [_lm_row(0, 1), _lm_row(True, 0)])
    with pytest.raises(DataError, match="non-integer doc_id") as err:
        import_lm_eval(root)
    assert err.value.line == 2 and err.value.field == "doc_id"


def test_lm_eval_a_metric_null_on_every_row_skips_its_task_saying_so_and_a_single_null_is_an_error(tmp_path):
    """lm-eval's `bypass` metric logs null on every row of a task that has no per-item score: that task is skipped,
    counted and said, the folder's other tasks imported (a review found the whole import aborted on it); a null
    among numbers is an error naming the line."""
    root = _lm_run(tmp_path / "all", [_lm_row(0, None), _lm_row(1, None)])
    with pytest.raises(DataError, match="no scored items") as err:
        import_lm_eval(root)
    assert "null on every row" in str(err.value)
    root = _lm_run(tmp_path / "one", [_lm_row(0, 1), _lm_row(1, None)])
    with pytest.raises(DataError, match="not a number") as err:
        import_lm_eval(root)
    assert err.value.line == 2 and err.value.field == "acc"


def test_lm_eval_corpus_level_metrics_are_still_skipped_and_counted(tmp_path):
    rows = [dict(_lm_row(i, None), metrics=["f1"], f1=[["a"], ["b"]]) for i in range(2)]
    for row in rows:
        del row["acc"]
    rows.append(dict(rows[0], doc_id=2, doc_hash="h2", f1=None))
    root = _lm_run(tmp_path, rows)
    with pytest.raises(DataError, match="no scored items") as err:
        import_lm_eval(root)
    assert "corpus-level" in str(err.value)


# ---------------------------------------------------------------- HELM
def _helm_run(root: Path, spec=None, stats=None, per_instance=None, state=None) -> Path:
    folder = root / "run"
    folder.mkdir(parents=True)
    iid = "id1"
    row = {"instance_id": iid, "train_trial_index": 0,
           "stats": [{"name": {"name": "exact_match", "split": "test"}, "count": 1, "sum": 1, "mean": 1.0}]}
    default_state = {"request_states": [{"instance": {"id": iid, "input": {"text": "Q?"}, "split": "test"}}]}
    files = {"run_spec.json": spec if spec is not None else {"name": "mmlu:subject=x,model=m",
                                                              "adapter_spec": {"model": "m"}},
             "per_instance_stats.json": per_instance if per_instance is not None else [row],
             "scenario_state.json": state if state is not None else default_state}
    if stats is not None:
        files["stats.json"] = stats
    for name, data in files.items():
        (folder / name).write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("spec", [{"name": "mmlu", "adapter_spec": "m"}, {"name": "mmlu", "adapter_spec": ["m"]}])
def test_helm_an_adapter_spec_that_is_not_an_object_is_a_data_error(tmp_path, spec):
    # was: AttributeError (a traceback)
    with pytest.raises(DataError, match="no model") as err:
        import_helm(_helm_run(tmp_path, spec=spec))
    assert err.value.field == "adapter_spec.model"


def test_helm_stats_that_are_not_a_list_are_a_data_error(tmp_path):
    # was: TypeError 'int' object is not iterable
    bad = [{"instance_id": "id1", "train_trial_index": 0, "stats": 5}]
    with pytest.raises(DataError, match="stats is a int") as err:
        import_helm(_helm_run(tmp_path, per_instance=bad))
    assert err.value.row == 1 and err.value.field == "stats"


def test_helm_a_stats_json_that_is_not_a_list_is_a_data_error(tmp_path):
    # was: TypeError 'int' object is not iterable
    with pytest.raises(DataError, match="expected a JSON list") as err:
        import_helm(_helm_run(tmp_path, stats=5))
    assert err.value.file.endswith("stats.json")


def test_helm_an_instance_input_that_is_not_an_object_leaves_the_query_without_text(tmp_path):
    # was: AttributeError 'str' object has no attribute 'get'
    state = {"request_states": [{"instance": {"id": "id1", "input": "Q?", "split": "test"}}]}
    table = import_helm(_helm_run(tmp_path, state=state))
    assert table.queries["text"].isna().all()
    assert any("no text" in n for n in table.report.notes)


@pytest.mark.shared_data
def test_helm_real_runs_still_import(shared_data: Path):
    folder = shared_data / "eval-logs" / "helm"
    if not folder.is_dir():
        pytest.skip(f"real HELM logs {folder} are absent (see ../shared/data/eval-logs/SOURCE.md)")
    table = import_helm(folder)
    assert (table.n_models, table.n_queries) == (1, 15)


# ---------------------------------------------------------------- lighteval (older layout)
def test_lighteval_old_layout_rows_without_text_are_an_error_not_one_merged_item(tmp_path):
    # was: every null `example` hashed as sha1("None"): two different items merged into one by majority vote
    folder = tmp_path / "details" / "org" / "model" / TS
    folder.mkdir(parents=True)
    pd.DataFrame({"example": [None, None], "full_prompt": ["p", "q"],
                  "metrics": [json.dumps({"acc": 1}), json.dumps({"acc": 0})]}).to_parquet(
        folder / f"details_t|0_{TS}.parquet")
    with pytest.raises(DataError, match="no text to key the item") as err:
        import_lighteval(tmp_path)
    assert err.value.row == 1 and err.value.field == "example"


# ---------------------------------------------------------------- Open LLM Leaderboard
def _oll(root: Path, values: list) -> Path:
    folder = root / "org__model"
    folder.mkdir(parents=True)
    rows = [{"doc_id": i, "doc_hash": f"h{i}", "arguments": {"gen_args_0": {"arg_0": f"p{i}"}}, "filter": "none",
             "metrics": ["score_x"], "score_x": v} for i, v in enumerate(values)]
    text = "\n".join(json.dumps(r) for r in rows).replace('"NaN"', "NaN")
    (folder / f"samples_leaderboard_t_{TS}.jsonl").write_text(text + "\n")
    return root


def test_open_llm_leaderboard_a_nan_in_an_unnamed_metric_is_an_error_not_missing(tmp_path):
    # was: the NaN row counted as "not observed" and the other rows imported
    with pytest.raises(DataError, match="NaN or infinite") as err:
        import_open_llm_leaderboard(_oll(tmp_path, [1, 0, "NaN"]))
    assert err.value.line == 3 and err.value.field == "score_x"


def test_open_llm_leaderboard_a_null_in_an_unnamed_metric_is_still_not_observed(tmp_path):
    table = import_open_llm_leaderboard(_oll(tmp_path, [1, 0, None]))
    assert table.n_queries == 2
    assert sum(table.report.skipped.values()) == 1


# ---------------------------------------------------------------- OpenCompass
@pytest.mark.parametrize("ident", [" ", "", ["a"], True])
def test_opencompass_a_blank_or_odd_example_abbr_is_an_error(tmp_path, ident):
    # was: " " became the query id "ds/" (a list its repr), silently
    results = tmp_path / "results" / "m1"
    results.mkdir(parents=True)
    (tmp_path / "predictions" / "m1").mkdir(parents=True)
    details = [{"correct": True, "example_abbr": ident}, {"correct": False, "example_abbr": "b"}]
    (results / "ds.json").write_text(json.dumps({"accuracy": 50.0, "details": details}))
    with pytest.raises(DataError, match="empty or not text") as err:
        import_opencompass(tmp_path)
    assert err.value.row == 1 and err.value.field == "example_abbr"


# ---------------------------------------------------------------- merge: model metadata
def _meta_table(source: str, **meta) -> ResponseTable:
    rows = pd.DataFrame({"model": ["m"], "query": [f"{source}/0"], "n_correct": [1.0], "n_trials": [1.0],
                         "benchmark": [source]})
    return ResponseTable.from_records(rows, models=pd.DataFrame([{"model": "m", **meta}]), source=source)


def test_merge_refuses_two_values_of_one_models_column_and_fills_a_missing_one():
    # was: the first table's release_date kept, the other dropped, no note
    a, b = _meta_table("A", release_date="2024-01-01"), _meta_table("B", release_date="2024-06-01")
    with pytest.raises(DataError, match=r"model 'm': release_date is '2024-01-01' in A but '2024-06-01' in B") as err:
        merge_tables([a, b])
    assert err.value.field == "release_date"
    filled = merge_tables([_meta_table("A", release_date=None, family="x"), _meta_table("B", release_date="2024-06-01",
                                                                                        family="x")])
    assert filled.models.set_index("model").loc["m", ["release_date", "family"]].tolist() == ["2024-06-01", "x"]


# ---------------------------------------------------------------- lm-eval: two runs of one (model, task)
def _lm_two_runs(root: Path) -> Path:
    folder = root / "org__model"
    folder.mkdir(parents=True)
    old, new = "2024-08-20T03-44-09.494230", TS
    for stamp, tasks in ((old, {"t": [0, 0], "u": [1, 1]}), (new, {"t": [1, 0]})):
        data = {"results": {t: {"acc,none": 0.5} for t in tasks}, "configs": {t: {} for t in tasks},
                "model_name": "org/model"}
        (folder / f"results_{stamp}.json").write_text(json.dumps(data))
        for task, values in tasks.items():
            rows = [_lm_row(i, v) for i, v in enumerate(values)]
            (folder / f"samples_{task}_{stamp}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_lm_eval_keeps_the_latest_run_of_a_model_and_task(tmp_path):
    # was: both runs of task t summed into 1 of 2 / 0 of 2 trials and reported only as repeated pairs
    table = import_lm_eval(_lm_two_runs(tmp_path))
    resp = table.responses.set_index("query")
    assert resp.loc[["t/h0", "t/h1"], "n_trials"].tolist() == [1.0, 1.0]
    assert resp.loc[["t/h0", "t/h1"], "label"].tolist() == [1, 0]  # the latest run's labels
    assert resp.loc[["u/h0", "u/h1"], "label"].tolist() == [1, 1]  # a task only in the older run is kept
    assert table.report.n_repeated_pairs == 0
    assert sum(n for why, n in table.report.skipped.items() if "older run" in why) == 1
    assert any("samples_t_2024-08-20" in n and "older run" in n and "2 sample rows" in n for n in table.report.notes)


# ---------------------------------------------------------------- EEE: one sample scored several times
def _eee_rec(sample, score, **extra):
    return {"schema_version": "0.3.0", "evaluation_id": "e1", "model_id": "m", "evaluation_name": "b",
            "sample_id": str(sample), "evaluation_result_id": "acc", "input": {"raw": f"q{sample}"},
            "evaluation": {"score": score, "is_correct": score == 1}, **extra}


def _eee_file(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "x_samples.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_eee_a_sample_scored_several_times_is_its_trials_not_a_vote(tmp_path):
    # was: the records majority-voted, a 0.2 / 0.6 tie read as correct (label 1, 0.8 of 2)
    records = [_eee_rec(1, 1), _eee_rec(1, 0), _eee_rec(1, 1), _eee_rec(2, 0.2), _eee_rec(2, 0.6), _eee_rec(3, 0)]
    table = import_eee(_eee_file(tmp_path, records), metric="acc")
    resp = table.responses.set_index("query")
    assert resp.loc["b/1", ["n_correct", "n_trials", "label"]].tolist() == [2, 3, 1]  # k of n
    assert resp.loc["b/2", ["n_correct", "n_trials", "label"]].tolist() == pytest.approx([0.4, 1, 0])  # the mean
    assert resp.loc["b/3", ["n_correct", "n_trials"]].tolist() == [0, 1]
    assert table.report.n_repeated_pairs == 0
    assert any("2 samples are scored several times" in n for n in table.report.notes)


def test_eee_one_sample_twice_in_one_epoch_is_an_error(tmp_path):
    records = [_eee_rec(1, 1, metadata={"epoch": 1}), _eee_rec(1, 0, metadata={"epoch": 2}),
               _eee_rec(1, 0, metadata={"epoch": 1})]
    with pytest.raises(DataError, match=r"sample_id '1' of model 'm' is given twice for epoch 1 \(first on line 1\)") \
            as err:
        import_eee(_eee_file(tmp_path, records))
    assert err.value.line == 3 and err.value.field == "sample_id"
    slashed = [dict(r, evaluation_name="mmlu/algebra") for r in records]  # the id, not the rest of the query
    with pytest.raises(DataError, match=r"sample_id '1' of model 'm' is given twice"):
        import_eee(_eee_file(tmp_path, slashed))


# ---------------------------------------------------------------- Open LLM Leaderboard: filter option
def test_open_llm_leaderboard_a_filter_option_for_rows_without_filter_is_an_error(tmp_path):
    # was: the option silently ignored
    root = _oll(tmp_path, [1, 0])
    file = next(root.rglob("*.jsonl"))
    file.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "filter"}) + "\n"
                            for line in file.read_text().splitlines()))
    with pytest.raises(DataError, match=r"option filter='strict-match' given, but the rows have no 'filter'") as err:
        import_open_llm_leaderboard(root, filter="strict-match")
    assert err.value.file == str(file) and err.value.field == "filter"
    assert import_open_llm_leaderboard(root).n_queries == 2


# ---------------------------------------------------------------- lighteval: model name
def _le_run(root: Path, folder: str, stamp: str, model_name, acc: list[int]) -> None:
    details = root / "details" / folder / stamp
    details.mkdir(parents=True)
    pd.DataFrame({"doc": [{"id": str(i), "query": f"q{i}", "task_name": "t|0"} for i in range(len(acc))],
                  "metric": [{"acc": a} for a in acc]}).to_parquet(details / f"details_t|0_{stamp}.parquet")
    (root / "results" / folder).mkdir(parents=True)
    (root / "results" / folder / f"results_{stamp}.json").write_text(
        json.dumps({"config_general": {"model_name": model_name}}))


def test_lighteval_a_model_name_that_is_not_text_is_an_error(tmp_path):
    # was: the model imported as "['a']"
    _le_run(tmp_path, "org/m", TS, ["a"], [1, 0])
    with pytest.raises(DataError, match=r"model_name is a list \(\['a'\]\)") as err:
        import_lighteval(tmp_path)
    assert err.value.file.endswith(f"results_{TS}.json") and err.value.field == "config_general.model_name"


def test_lighteval_keeps_the_latest_run_of_the_model_name_its_records_take(tmp_path):
    # was: two folders naming one model were both read and their records voted together (2 trials each)
    _le_run(tmp_path, "org/old-copy", "2024-08-20T03-44-09.494230", "org/m", [0, 0])
    _le_run(tmp_path, "org/m", TS, "org/m", [1, 0])
    table = import_lighteval(tmp_path)
    assert table.model_vocab.ids == ("org/m",) and table.report.n_repeated_pairs == 0
    assert table.responses.sort_values("query")[["n_trials", "label"]].values.tolist() == [[1, 1], [1, 0]]
    assert sum(n for why, n in table.report.skipped.items() if "older run" in why) == 1

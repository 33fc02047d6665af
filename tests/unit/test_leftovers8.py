"""Leftovers of earlier stops: numeric query ids of a JSON source keep their own spelling (one `1.0` turned every
integer id of the column into its float spelling, and made `1` and `1.0` one query); the one benchmark name given
for every text is named as the argument of the Python API and the option of the CLI; a checkpoint's record of
its n-gram width choice is checked on load; a run whose config names another model is refused before the
checkpoint's weights are read."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet import api
from irtnet.api.experiments import predict_benchmark
from irtnet.api.run import Run, RunSpec, train_run
from irtnet.cli.main import app
from irtnet.config import DataConfig
from irtnet.data.importers.long import import_long
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.predictors.checkpoint import load_predictor
from irtnet.predictors.spec import ModelSpec

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()

_MAP = {"model": "model", "query": "query", "outcome": "correct", "default_benchmark": "b"}


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_float_query_id_among_integer_ids_keeps_every_id_as_written(tmp_path):
    rows = [{"model": "a", "query": 1, "correct": 1}, {"model": "a", "query": 2, "correct": 0},
            {"model": "b", "query": 1.0, "correct": 1}, {"model": "b", "query": 2, "correct": 1}]
    table = import_long(_jsonl(tmp_path / "t.jsonl", rows), _MAP)
    assert sorted(table.queries["query"]) == ["1", "1.0", "2"]  # was ['1.0', '2.0']: "1" and "1.0" one query
    assert set(table.responses.query("model == 'b'")["query"]) == {"1.0", "2"}


def test_a_json_list_with_mixed_number_ids_and_a_texts_file_matched_on_them(tmp_path):
    rows = [{"model": m, "query": q, "correct": 1} for m in ("a", "b") for q in (7, 8)]
    rows[0]["query"] = 7.5
    (tmp_path / "t.json").write_text(json.dumps(rows))
    texts = _jsonl(tmp_path / "texts.jsonl", [{"id": 7.5, "text": "seven and a half"}, {"id": 8, "text": "eight"},
                                              {"id": 7, "text": "seven"}])
    table = import_long(tmp_path / "t.json", {**_MAP, "texts_file": str(texts), "texts_query": "id",
                                              "texts_text": "text"})
    assert dict(zip(table.queries["query"], table.queries["text"])) == {"7": "seven", "7.5": "seven and a half",
                                                                        "8": "eight"}


def test_integer_ids_alone_are_unchanged_and_a_csv_keeps_its_text(tmp_path):
    rows = [{"model": "a", "query": q, "correct": q % 2} for q in (10, 11)]
    assert sorted(import_long(_jsonl(tmp_path / "t.jsonl", rows), _MAP).queries["query"]) == ["10", "11"]
    pd.DataFrame({"model": ["a", "a"], "query": ["1", "1.0"], "correct": [1, 0]}).to_csv(tmp_path / "t.csv",
                                                                                            index=False)
    assert sorted(import_long(tmp_path / "t.csv", _MAP).queries["query"]) == ["1", "1.0"]


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("leftovers8")
    make_synthetic(n_models=3, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=1).table.to_parquet(
        root / "t.parquet")
    spec = RunSpec(data=DataConfig(table=str(root / "t.parquet"), encoder="hashing-32"),
                   model=ModelSpec(preset="default", params={"train": {"epochs": 1, "progress": False}}), threads=1)
    return train_run(spec, root / "run", progress=False).path


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_benchmark_argument_is_named_as_the_argument_in_the_api(run_path, blank):
    with pytest.raises(ConfigError, match=r"^benchmark \(--benchmark\): '.*' is not a benchmark name: give one the "
                                          r"model knows, or leave it out"):
        api.calibrate_texts(run_path, ["a text"], "p_min", "p=0.5", benchmark=blank)
    texts = _jsonl(run_path.parent / "texts.jsonl", [{"text": "a text"}])
    with pytest.raises(ConfigError, match=r"^benchmark \(--benchmark\): "):
        predict_benchmark(run_path, texts, benchmark=blank)


def test_an_unknown_benchmark_argument_lists_the_known_names(run_path):
    with pytest.raises(ConfigError, match=r"^benchmark \(--benchmark\) 'nosuch': unknown benchmark 'nosuch'; the "
                                          r"model knows: "):
        api.calibrate_texts(run_path, ["a text"], "p_min", "p=0.5", benchmark="nosuch")
    texts = run_path.parent / "texts.txt"
    texts.write_text("a text\n")
    out = runner.invoke(app, ["calibrate", str(run_path), "--texts", str(texts), "--policy", "p_min", "--target",
                              "p=0.5", "--benchmark", "nosuch"])
    assert out.exit_code != 0 and "benchmark (--benchmark) 'nosuch': unknown benchmark" in out.output


def _checkpoint_with(run_path, tmp_path, edit):
    model = shutil.copytree(run_path / "model", tmp_path / "model")
    doc = json.loads((model / "checkpoint.json").read_text())
    edit(doc["state"])
    (model / "checkpoint.json").write_text(json.dumps(doc))
    return model


def _choice(**changes):  # the default preset's width is 16
    record = {"chosen": 16, "rule": "text-only validation log loss, two standard errors",
              "validation_log_loss": {"0": 0.62, "16": 0.61}}
    return {**record, **changes}


@pytest.mark.parametrize(("record", "message"), [
    ("x", r"text_ngrams_choice must be an object \(or null\), got str 'x'"),
    (_choice(chosen=0), r"text_ngrams_choice.chosen is 0, but state.config.text_ngrams is 16"),
    (_choice(chosen=-1), r"text_ngrams_choice.chosen must be a width \(an integer, 0 or more\), got int -1"),
    (_choice(chosen=True), r"text_ngrams_choice.chosen must be a width"),
    (_choice(rule=None), r"text_ngrams_choice.rule must be text, got NoneType None"),
    (_choice(validation_log_loss={"0": 0.6}), r"validation_log_loss must be an object of finite numbers, one per "
                                              r"width tried \(the chosen 16 among them\)"),
    (_choice(validation_log_loss={"0": "low"}), r"validation_log_loss must be an object of finite numbers"),
    ({**_choice(), "extra": 1}, r"text_ngrams_choice has an unknown key 'extra'"),
])
def test_a_damaged_ngram_choice_record_is_refused_on_load(run_path, tmp_path, record, message):
    def edit(state):
        state["text_ngrams_choice"] = record

    with pytest.raises(CheckpointError, match=message):
        load_predictor(_checkpoint_with(run_path, tmp_path, edit))


def test_a_sound_ngram_choice_record_loads_and_is_kept(run_path, tmp_path):
    def edit(state):
        state["text_ngrams_choice"] = _choice()

    assert load_predictor(_checkpoint_with(run_path, tmp_path, edit)).ngrams_choice_ == _choice()


def test_a_run_naming_another_model_is_refused_before_its_weights_are_read(run_path, tmp_path, monkeypatch):
    run = shutil.copytree(run_path, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["model"] = {"model": "knn", "preset": None, "params": {}, "seed": 0}
    (run / "config.json").write_text(json.dumps(config))
    manifest = json.loads((run / "run.json").read_text())
    manifest["files"]["config.json"] = hashlib.sha256((run / "config.json").read_bytes()).hexdigest()
    (run / "run.json").write_text(json.dumps(manifest))

    def no_weights(*_, **__):
        raise AssertionError("the weights were read")

    monkeypatch.setattr("irtnet.predictors.checkpoint.read_weights", no_weights)
    with pytest.raises(CheckpointError, match="holds a 'irtnet' model, but the run's config.json names 'knn'"):
        Run.open(run).predictor()


def test_one_brief_shows_a_value_in_messages():
    from irtnet._io import brief

    assert brief("abc") == "'abc'"
    assert brief("x" * 100) == "'" + "x" * 36 + "..." and len(brief("x" * 100)) == 40
    assert brief("x" * 100, 60, count=True) == "'" + "x" * 56 + "...(102 characters)"
    assert brief([1, 2]) == "[1, 2]"


# ---------------------------------------------------------------- left by bug bash 8's data helper


def test_held_out_models_refuses_a_count_that_is_no_whole_number_and_an_empty_or_repeated_list():
    from irtnet.data.splits import held_out_models

    table = make_synthetic(n_models=4, n_queries=20, n_benchmarks=1, dim=2, feature_dim=4, seed=0).table
    for n_test in (True, 2.5, "2"):  # True counted as 1 model; 2.5 ended in a TypeError of numpy
        with pytest.raises(ConfigError, match=r"n_test must be a whole number between 1 and 3, got "):
            held_out_models(table, n_test=n_test)
    with pytest.raises(ConfigError, match=r"no model to hold out \(the list is empty\)"):
        held_out_models(table, models=[])  # was a split without a test model
    first = table.model_vocab.ids[0]
    with pytest.raises(ConfigError, match=rf"models: '{first}' is named twice"):
        held_out_models(table, models=[first, first])
    assert len(held_out_models(table, n_test=2).test_models) == 2


def test_a_text_file_with_lines_ended_by_cr_alone_is_refused_naming_the_line(tmp_path):
    from irtnet.data.encode_pool import read_texts

    path = tmp_path / "mac.txt"
    path.write_bytes(b"first text\rsecond text\r")  # was one text holding both, with their line ends
    with pytest.raises(DataError, match=r"mac.txt, line 1: a carriage return \(CR\) inside the line"):
        read_texts(path)
    with pytest.raises(DataError, match=r"mac.txt, line 1: a carriage return \(CR\) inside the line"):
        read_text_file(path)
    path.write_bytes(b"first text\r\nsecond text\r\n")  # Windows line ends stay fine
    assert read_texts(path) == (["first text", "second text"], 0)


def read_text_file(path):
    from irtnet.api.inputs import read_texts as api_read_texts

    return api_read_texts(path)


def test_a_damaged_cached_import_is_imported_again_not_an_error(tmp_path, caplog, monkeypatch):
    from irtnet.data.embeddings import cache_dir
    from irtnet.data.provenance import imported_table

    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path / "cache"))  # this test's cached tables only

    rows = [{"model": m, "query": f"q{i}", "correct": (i + j) % 2} for j, m in enumerate("ab") for i in range(4)]
    source = _jsonl(tmp_path / "t.jsonl", rows)
    first = imported_table("long", source, _MAP)
    [cached] = (cache_dir() / "tables").glob("long-*.parquet")
    cached.write_bytes(cached.read_bytes()[:100])  # cut short
    with caplog.at_level("WARNING", logger="irtnet.data.provenance"):
        again = imported_table("long", source, _MAP)
    assert "is damaged" in caplog.text and "importing" in caplog.text
    assert again.label_matrix().tolist() == first.label_matrix().tolist()


def test_merging_versions_apart_names_a_table_that_records_no_version():
    from irtnet.data.merge import entry, merge_tables, provenance_models
    from irtnet.data.table import ResponseTable

    def table(model, version, source):
        rows = [{"model": model, "query": f"anli/{i}", "n_correct": 1.0, "n_trials": 1.0, "benchmark": "anli",
                 "text": f"Q{i}"} for i in range(2)]
        models = provenance_models({model: [entry(source, "anli", "lighteval", "0.13", version, None)]})
        return ResponseTable.from_records(pd.DataFrame(rows), models=models, source=source)

    merged = merge_tables([table("a", 0, "A"), table("b", 1, "B"), table("c", None, "C")], versions="rename")
    assert set(merged.benchmark_vocab.ids) == {"anli", "anli@v0", "anli@v1"}
    assert any("and 'anli' itself (C: no task version recorded)" in note for note in merged.report.notes)


# ---------------------------------------------------------------- left by bug bash 8's predictors helper


def test_one_string_as_the_models_is_refused_not_read_as_its_characters(run_path):
    model = api.load(run_path)
    queries = api.text_queries(model, ["a text"])
    first = model.models_.ids[0]
    with pytest.raises(ConfigError, match=rf"models must be a list of model ids, not one string \('{first}'\)"):
        model.predict_proba(queries, first)  # was "unknown model ids" of each of its characters
    assert model.predict_proba(queries, [first]).shape == (1, 1)


def test_a_params_seed_that_is_no_whole_number_is_refused_even_where_the_seed_flag_replaces_it():
    from irtnet.predictors.spec import model_spec_from

    with pytest.raises(ConfigError, match=r"params.random_state: a seed is a whole number, got bool True"):
        model_spec_from({"model": "embedllm-mf", "params": {"random_state": True}}, seed=3)
    with pytest.raises(ConfigError, match=r"params.train.seed: a seed is a whole number, got float 1.5"):
        model_spec_from({"model": "irtnet", "params": {"train": {"seed": 1.5}}}, seed=3)
    assert model_spec_from({"model": "irtnet", "params": {"train": {"seed": 1}}}, seed=3).params["train"]["seed"] == 3


@pytest.mark.parametrize("ngrams", [["3", 5], [5, 3], [0, 2], [3], "35", None, [True, 5]])
def test_a_damaged_ngram_length_pair_is_refused_on_load(run_path, tmp_path, ngrams):
    def edit(state):
        state["text_ngrams"]["ngrams"] = ngrams

    with pytest.raises(CheckpointError, match=r"state.text_ngrams.ngrams must be two n-gram lengths \[low, high\]"):
        load_predictor(_checkpoint_with(run_path, tmp_path, edit))


def test_a_baseline_checkpoint_holding_a_parameter_out_of_its_declared_range_is_refused(tmp_path):
    from irtnet.data.dataset import Dataset
    from irtnet.data.embeddings import embed_queries
    from irtnet.predictors.checkpoint import save_predictor
    from irtnet.predictors.spec import build_predictor

    table = make_synthetic(n_models=3, n_queries=40, n_benchmarks=1, dim=2, feature_dim=4, seed=0).table
    data = Dataset.from_table(table, embed_queries(table, "hashing-32", use_cache=False))
    path = save_predictor(build_predictor(ModelSpec(model="knn")).fit(data), tmp_path / "knn")
    doc = json.loads((path / "checkpoint.json").read_text())
    doc["state"]["params"]["k"] = 0  # was loaded, and predicted from no neighbour
    (path / "checkpoint.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"state.params.k must be as KNN declares it \(.*greater than or "
                                              r"equal to 1.*\), got int 0"):
        load_predictor(path)

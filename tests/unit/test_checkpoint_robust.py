"""Broken checkpoints: a real saved checkpoint of every registered model, then ~30 ways of breaking it.

Each broken variant must be refused by `load_predictor` with a `CheckpointError` whose one-line message
names the checkpoint and the key, tensor or field that is wrong - never a KeyError, a RuntimeError from
torch, a pydantic ValidationError or, worse, a model that loads and predicts NaN.
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
from safetensors.numpy import load_file, save_file

from irtnet.data.dataset import Dataset
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError
from irtnet.models.irtnet import PRESETS
from irtnet.predictors import REGISTRY
from irtnet.predictors.checkpoint import load_predictor, load_router, save_predictor, save_router

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_SMALL = PRESETS["small"].model_dump()
#: Tiny, fast settings for every registered model: a model registered without an entry here fails
#: `test_every_registered_model_has_a_fixture`, so each new model gets its checkpoint checked too.
PARAMS: dict[str, dict[str, Any]] = {
    "irtnet": {"config": {**_SMALL, "use_groups": True},
               "train": {"epochs": 2, "batch_pairs": 256, "progress": False, "threads": 1}},
    "model-mean": {}, "model-benchmark-mean": {}, "random": {"seed": 1},
    "embedllm-mf": {"dim": 4, "epochs": 2}, "knn": {"k": 3}, "linear-mirt": {"dim": 2, "epochs": 2},
    "irt-1pl": {"max_iter": 50}, "irt-2pl": {"max_iter": 50}, "mirt-2pl": {"dim": 2, "max_iter": 50},
    "routerdc": {"epochs": 2, "hidden": 8, "dim": 4, "batch_size": 16},
    "cluster-rate": {"n_clusters": 4}, "inferred-benchmark-rate": {},
}


def _own_models() -> list[str]:
    """Registered names of irtnet's own models (a test may register a throwaway one elsewhere)."""
    import irtnet.predictors  # noqa: F401

    return sorted(n for n, cls in REGISTRY.items() if cls.__module__.startswith("irtnet."))




@pytest.fixture(scope="module")
def data():
    # sparse (70 % of pairs observed): KNN's stored outcome matrix then holds NaN, which is legitimate there
    synth = make_synthetic(n_models=6, n_queries=90, n_benchmarks=2, dim=2, feature_dim=8, density=0.7, seed=0)
    full = Dataset.from_table(synth.table, synth.features)
    split = split_by_query(synth.table, (0.6, 0.2, 0.2), seed=0)
    return full.select(split.train), full.select(split.val)


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (checkpoint directory, the fitted model's scores on the training queries)."""
    train, val = data
    root = tmp_path_factory.mktemp("checkpoints")
    out = {}
    for name in _own_models():
        model = REGISTRY[name](**PARAMS[name]).fit(train, val)
        out[name] = (save_router(model, root / name), model.scores(train.queries))
    return out


def test_every_registered_model_has_a_fixture():
    missing = sorted(set(_own_models()) - set(PARAMS))
    assert not missing, f"registered models without checkpoint fixtures in this file: {missing}"


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_a_saved_model_loads_and_scores_the_same(name, saved, data):
    path, scores = saved[name]
    loaded = load_predictor(path)
    assert type(loaded) is REGISTRY[name]
    np.testing.assert_array_equal(loaded.scores(data[0].queries), scores)


def test_saving_never_replaces_a_folder_that_is_not_a_checkpoint(data, tmp_path):
    model = REGISTRY["model-mean"]().fit(*data)
    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "keep.txt").write_text("a run's file")
    (runs / "run.json").write_text("{}")
    (tmp_path / "file").write_text("x")
    for path, what in ((runs, "is a run directory"), (runs / "a", "is a folder that is not a checkpoint"),
                       (tmp_path / "file", "exists and is not a folder")):
        with pytest.raises(CheckpointError, match=re.escape(f"{path}: {what}")):
            save_predictor(model, path)
    save_predictor(model, runs / "model")  # a run's own checkpoint (run.json beside it) is refused too
    with pytest.raises(CheckpointError, match=re.escape(f"{runs / 'model'}: is the checkpoint of the run {runs}")):
        save_predictor(model, runs / "model")
    assert (runs / "a" / "keep.txt").read_text() == "a run's file"  # nothing was touched
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "new", tmp_path / "empty"):  # the last: a checkpoint, replaced
        save_predictor(model, path)
        assert type(load_predictor(path)) is REGISTRY["model-mean"]


def test_routerdc_saves_and_loads_like_a_predictor(saved, data, tmp_path):
    path, scores = saved["routerdc"]
    router = load_router(path)
    assert not hasattr(router, "predict_proba")  # a router, not a predictor
    np.testing.assert_array_equal(router.scores(data[0].queries), scores)
    again = save_predictor(router, tmp_path / "again")  # the same functions under either name
    np.testing.assert_array_equal(load_predictor(again).scores(data[0].queries), scores)
    assert router.history_ == load_router(again).history_ and router.best_epoch_ >= 1


# ---------------------------------------------------------------- the mutations
Doc = dict[str, Any]
Arrays = dict[str, np.ndarray]
#: A mutation changes (doc, arrays) in place and returns the `match` pattern the error must name, or None
#: where it does not apply to this kind of checkpoint.
Mutation = Callable[[Doc, Arrays, str], "str | None"]


def _float_tensor(arrays: Arrays, kind: str) -> str | None:
    """The largest float tensor that must be finite (KNN's outcome matrix may hold NaN: skipped)."""
    allowed = REGISTRY[kind].nan_arrays
    names = [k for k in arrays if k not in allowed and np.issubdtype(arrays[k].dtype, np.floating)]
    return min(names, key=lambda k: (-arrays[k].size, k)) if names else None


def _drop_state_key(key: str) -> Mutation:
    def mutate(doc, arrays, kind):
        if key not in doc["state"]:
            return None
        del doc["state"][key]
        return rf"checkpoint\.json: state has no key '{key}'"
    return mutate


def _set_state_key(key: str, value: Any, match: str) -> Mutation:
    def mutate(doc, arrays, kind):
        if key not in doc["state"]:
            return None
        doc["state"][key] = value
        return match
    return mutate


def _set_nested(key: str, field: str, value: Any, match: str, add: bool = False) -> Mutation:
    def mutate(doc, arrays, kind):
        if not isinstance(doc["state"].get(key), dict) or (field not in doc["state"][key] and not add):
            return None
        doc["state"][key][field] = value
        return match
    return mutate


def _del_doc(key):
    def mutate(doc, arrays, kind):
        del doc[key]
        return rf"missing key '{key}'"
    return mutate


def _extra_model(doc, arrays, kind):
    if kind == "random":  # no array depends on the number of models: a longer list is a valid checkpoint
        return None
    doc["state"]["models"] = [*doc["state"]["models"], "zz-extra-model"]
    return r"weights\.safetensors: tensor '\w[\w.]*' has shape \[.*\], the checkpoint's state needs"


def _drop_tensor(doc, arrays, kind):
    if not arrays:
        return None
    name = sorted(arrays)[-1]
    del arrays[name]
    return rf"no tensor '{name}'"


def _extra_tensor(doc, arrays, kind):
    arrays["surplus"] = np.zeros(3, np.float32)
    return r"weights\.safetensors: unexpected tensor 'surplus'"


def _poison(value: float, count: int) -> Mutation:
    def mutate(doc, arrays, kind):
        name = _float_tensor(arrays, kind)
        if name is None:
            return None
        flat = arrays[name].copy().reshape(-1)
        flat[:count] = value
        arrays[name] = flat.reshape(arrays[name].shape)
        return rf"weights\.safetensors: tensor '{name}' has {count} non-finite values"
    return mutate


def _inf_in_nan_array(doc, arrays, kind):
    allowed = [k for k in REGISTRY[kind].nan_arrays if k in arrays]
    if not allowed:
        return None
    arrays[allowed[0]] = np.where(np.isnan(arrays[allowed[0]]), np.inf, arrays[allowed[0]])
    return rf"tensor '{allowed[0]}' has \d+ infinite values"


def _reshape_tensor(doc, arrays, kind):
    name = _float_tensor(arrays, kind)
    if name is None:
        return None
    arrays[name] = np.concatenate([arrays[name].reshape(-1), np.zeros(1, arrays[name].dtype)])
    return rf"weights\.safetensors: tensor '{name}' has shape"


def _bad_param(doc, arrays, kind):
    params = doc["state"].get("params")
    if not params:
        return None
    key = sorted(params)[0]
    params[key] = "not-a-number" if not isinstance(params[key], str) else 12
    return rf"state\.params\.{key} must be"


def _unknown_param(doc, arrays, kind):
    if "params" not in doc["state"]:
        return None
    doc["state"]["params"]["bogus_setting"] = 1
    return r"unknown parameter 'bogus_setting'"


def _irtnet_only(mutate: Callable[[Doc], str]) -> Mutation:
    return lambda doc, arrays, kind: mutate(doc) if kind == "irtnet" else None


def _groups_without_use_groups(doc):
    doc["state"]["config"]["use_groups"] = False
    return r"state\.groups must be null when config\.use_groups is False"


MUTATIONS: dict[str, Mutation] = {
    "no-state": _del_doc("state"),
    "no-kind": _del_doc("kind"),
    "state-not-object": lambda doc, arrays, kind: doc.update(state=[1, 2]) or r"key 'state' must be an object",
    "kind-not-string": lambda doc, arrays, kind: doc.update(kind=7) or r"key 'kind' must be a string",
    "unknown-kind": lambda doc, arrays, kind: doc.update(kind="no-such-model") or r"unknown model kind 'no-such-model'",
    "no-models": _drop_state_key("models"),
    "no-encoder": _drop_state_key("encoder"),
    "no-params": _drop_state_key("params"),
    "no-config": _drop_state_key("config"),
    "models-not-list": _set_state_key("models", "abc", r"state\.models must be a non-empty list of non-empty strings"),
    "models-numbers": _set_state_key("models", [1, 2], r"state\.models must be a non-empty list"),
    "models-repeated": lambda doc, arrays, kind: doc["state"].update(models=[doc["state"]["models"][0]] * 2
                                                                     + doc["state"]["models"][2:]) or r"state\.models lists '.+' twice",
    "vocab-longer-than-weights": _extra_model,
    "encoder-not-object": _set_state_key("encoder", "hashing-256", r"state\.encoder must be an object"),
    "encoder-name-not-string": _set_nested("encoder", "name", ["hub/model"], r"state\.encoder\.name must be a string"),
    "encoder-dim-not-int": _set_nested("encoder", "dim", "8", r"state\.encoder\.dim must be a positive integer"),
    "history-not-list": _set_state_key("history", {"epoch": 1}, r"state\.history must be list"),
    "param-wrong-type": _bad_param,
    "param-unknown": _unknown_param,
    "config-invalid-field": _set_nested("config", "dim", -1, r"invalid IrtNet config: state\.config\.dim: Input should be"),
    "config-extra-field": _set_nested("config", "bogus", 1, r"state\.config\.bogus: Extra inputs", add=True),
    "train-config-invalid": _set_nested("train_config", "lr", "fast", r"state\.train_config\.lr:"),
    "groups-mismatch": _irtnet_only(_groups_without_use_groups),
    "tensor-missing": _drop_tensor,
    "tensor-extra": _extra_tensor,
    "tensor-nan": _poison(np.nan, 3),
    "tensor-inf": _poison(np.inf, 1),
    "inf-where-nan-is-allowed": _inf_in_nan_array,
    "tensor-wrong-shape": _reshape_tensor,
}


def _broken_copy(src: Path, dst: Path, mutate: Mutation, kind: str) -> str | None:
    shutil.copytree(src, dst)
    doc = json.loads((dst / "checkpoint.json").read_text())
    arrays = dict(load_file(str(dst / "weights.safetensors")))
    match = mutate(doc, arrays, kind)
    if match is not None:
        (dst / "checkpoint.json").write_text(json.dumps(doc))
        save_file(arrays, str(dst / "weights.safetensors"))
    return match


def _refused(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        load_predictor(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message  # it names the checkpoint
    return info.value


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_broken_checkpoint_is_refused_with_a_one_line_error_naming_the_key(mutation, saved, tmp_path):
    applied = []
    for kind, (path, _) in saved.items():
        broken = tmp_path / kind
        match = _broken_copy(path, broken, MUTATIONS[mutation], kind)
        if match is None:
            continue
        try:
            _refused(broken, match)
        except BaseException as exc:  # say which model's checkpoint got through, and how
            raise AssertionError(f"{kind}: {type(exc).__name__}: {exc}") from None
        applied.append(kind)
    assert applied, f"mutation {mutation!r} applied to no checkpoint"


@pytest.mark.parametrize("damage,match", [
    ("no-json", r"not a checkpoint directory \(no checkpoint\.json\)"),
    ("corrupt-json", r"checkpoint\.json: not valid JSON"),
    ("json-list", r"checkpoint\.json: expected a JSON object, got a JSON list"),
    ("format-version", r"unsupported checkpoint format 'irtnet-checkpoint' version 99"),
    ("no-weights", r"no weights\.safetensors"),
    ("truncated-weights", r"weights\.safetensors: unreadable"),
])
def test_damaged_files_are_refused(damage, match, saved, tmp_path):
    path = tmp_path / "ckpt"
    shutil.copytree(saved["irtnet"][0], path)
    doc_path, weights = path / "checkpoint.json", path / "weights.safetensors"
    if damage == "no-json":
        doc_path.unlink()
    elif damage == "corrupt-json":
        doc_path.write_text('{"format": "irtnet-checkpoint", ')
    elif damage == "json-list":
        doc_path.write_text("[1, 2, 3]")
    elif damage == "format-version":
        doc_path.write_text(json.dumps({**json.loads(doc_path.read_text()), "format_version": 99}))
    elif damage == "no-weights":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:50])
    _refused(path, match)


def test_nan_in_knn_outcomes_is_legitimate(saved):
    path, _ = saved["knn"]
    assert np.isnan(load_file(str(path / "weights.safetensors"))["targets"]).any()  # the fixture covers it
    assert load_predictor(path).name == "knn"


def test_a_missing_folder_is_named_as_missing(tmp_path):
    from irtnet.errors import CheckpointError
    from irtnet.predictors.checkpoint import load_predictor

    with pytest.raises(CheckpointError, match="no such file or folder"):
        load_predictor(tmp_path / "never-written")

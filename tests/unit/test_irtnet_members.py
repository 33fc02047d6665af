"""IrtNet's seed ensemble (`config.members`): the mean of the members' logits, its exact IRT form, the
"auto" rule, checkpoints, and one member being the single network it always was."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from irtnet.data.dataset import Dataset
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError
from irtnet.models.irtnet import AUTO_MEMBERS, AUTO_MEMBERS_BELOW, PRESETS, IrtNetConfig, IrtNetModule, resolve_members
from irtnet.numeric import sigmoid
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.irtnet import resolve_config
from irtnet.predictors.state import StateError
from irtnet.training.batching import build_arrays, group_indices
from irtnet.training.trainer import TrainConfig, train

TRAIN = {"epochs": 3, "lr": 1e-2, "batch_pairs": 1024, "progress": False, "threads": 1, "seed": 5}
# the small network with benchmark names (and benchmark-specific abilities), uncalibrated; members not named
CONFIG = {**PRESETS["small"].model_dump(exclude={"members"}), "use_groups": True, "input_noise": 0.0}


@pytest.fixture(scope="module")
def parts(one_torch_thread):
    synth = make_synthetic(n_models=8, n_queries=300, n_benchmarks=2, dim=2, feature_dim=8, seed=4)
    data = Dataset.from_table(synth.table, synth.features)
    split = split_by_query(synth.table, (0.7, 0.15, 0.15), seed=0)
    return data.select(split.train), data.select(split.val), data.select(split.test)


@pytest.fixture(scope="module")
def three(parts):
    train_d, val_d, _ = parts
    return IrtNet({**CONFIG, "members": 3}, TRAIN).fit(train_d, val_d)


@pytest.fixture(scope="module")
def one(parts):
    train_d, val_d, _ = parts
    return IrtNet({**CONFIG, "members": 1}, TRAIN).fit(train_d, val_d)


def _member_logits(est: IrtNet, queries) -> list[np.ndarray]:
    """Each member's own forward on `queries` (all models), computed from `est.members_` directly."""
    x = torch.as_tensor(queries.vectors, dtype=torch.float32)
    groups = group_indices(queries.groups, est.groups_)
    with torch.no_grad():
        return [net.eval()(x, groups).logits.double().numpy() for net in est.members_]


def test_predictions_are_the_sigmoid_of_the_members_mean_logit(three, parts):
    _, _, test_d = parts
    assert len(three.members_) == 3 and three.module_ is three.members_[0]
    assert len(three.member_results_) == 3 and three.result_ is three.member_results_[0]
    for queries in (test_d.queries, test_d.queries.without_groups()):  # the benchmark path and the text path
        logits = _member_logits(three, queries)
        assert not np.allclose(logits[0], logits[1])  # the members are different networks (seeds 5, 6, 7)
        np.testing.assert_allclose(three.predict_proba(queries), sigmoid(np.mean(logits, axis=0)), rtol=0, atol=1e-12)


def test_query_parameters_and_abilities_are_the_ensembles_exact_irt_form(three, parts):
    _, _, test_d = parts
    a, b = three.query_parameters(test_d.queries, batch_size=7)
    theta = three.abilities_
    d = three.module_.theta.shape[1]
    assert a.shape == (len(test_d.queries), 3 * d) and b.shape == (len(test_d.queries),)
    assert theta.shape == (len(three.models_), 3 * d)
    np.testing.assert_allclose(sigmoid(a.astype(np.float64) @ theta.T.astype(np.float64) - b[:, None]),
                               three.predict_proba(test_d.queries), rtol=0, atol=1e-5)
    a0, b0 = three.query_parameters(test_d.queries.take(slice(0, 0)))
    assert a0.shape == (0, 3 * d) and b0.shape == (0,)


def test_one_member_is_the_single_network_as_before(one, three, parts):
    train_d, val_d, test_d = parts
    assert len(one.members_) == 1 and one.members_ == [one.module_]
    cfg, tcfg = resolve_config(CONFIG), TrainConfig.model_validate(TRAIN)  # the single-network code path
    with torch.random.fork_rng():
        torch.manual_seed(tcfg.seed)
        net = IrtNetModule(cfg, one.d_in_, len(one.models_), len(one.groups_))
        train(net, build_arrays(train_d, one.models_, one.groups_, tcfg.target),
              build_arrays(val_d, one.models_, one.groups_, tcfg.target), len(one.models_), tcfg)
    x = torch.as_tensor(test_d.queries.vectors, dtype=torch.float32)
    groups = group_indices(test_d.queries.groups, one.groups_)
    with torch.no_grad():
        expected = sigmoid(net.eval()(x, groups).logits.double().numpy())
        a, b, _ = net.query_params(x, groups)
    np.testing.assert_array_equal(one.predict_proba(test_d.queries), expected)
    got_a, got_b = one.query_parameters(test_d.queries)
    np.testing.assert_array_equal(got_a, a.numpy())
    np.testing.assert_array_equal(got_b, b.numpy())
    np.testing.assert_array_equal(one.abilities_, net.theta.detach().numpy())
    for key, value in one.module_.state_dict().items():  # member 0 of an ensemble is that same network
        assert torch.equal(three.members_[0].state_dict()[key], value), key
    default = IrtNet(CONFIG, TRAIN).fit(train_d, val_d)  # a config that does not name members: one
    np.testing.assert_array_equal(default.predict_proba(test_d.queries), expected)


def test_auto_is_three_members_below_5000_training_queries_else_one(parts):
    assert (AUTO_MEMBERS, AUTO_MEMBERS_BELOW) == (3, 5000)
    assert resolve_members("auto", 0) == resolve_members("auto", 4999) == 3
    assert resolve_members("auto", 5000) == resolve_members("auto", 10**6) == 1
    assert resolve_members(2, 10**6) == 2 and resolve_members(1, 10) == 1
    assert PRESETS["default"].members == "auto"
    assert all(cfg.members == 1 for name, cfg in PRESETS.items() if name != "default")
    train_d, _, _ = parts
    est = IrtNet({**CONFIG, "members": "auto"}, {**TRAIN, "epochs": 1}).fit(train_d)
    assert len(est.members_) == 3 and est.get_state()[0]["members"] == 3
    assert est.get_state()[0]["config"]["members"] == "auto"


@pytest.mark.parametrize("members", [0, -1, "three", None])
def test_invalid_member_counts_are_refused(members):
    with pytest.raises(ValidationError, match="members"):
        IrtNetConfig(members=members)
    with pytest.raises(ValidationError, match="members"):
        resolve_config({**CONFIG, "members": members})


def test_checkpoint_round_trip_keeps_every_member(three, parts, tmp_path):
    _, _, test_d = parts
    save_predictor(three, tmp_path / "m")
    state = json.loads((tmp_path / "m" / "checkpoint.json").read_text())["state"]
    assert state["members"] == 3 and len(state["member_best_epochs"]) == 3
    loaded = load_predictor(tmp_path / "m")
    assert len(loaded.members_) == 3 and loaded.module_ is loaded.members_[0]
    assert [r.best_epoch for r in loaded.member_results_] == state["member_best_epochs"]
    np.testing.assert_array_equal(loaded.predict_proba(test_d.queries), three.predict_proba(test_d.queries))
    np.testing.assert_array_equal(loaded.abilities_, three.abilities_)
    _, arrays = three.get_state()
    assert "theta" in arrays and "member1.theta" in arrays and "member2.theta" in arrays
    assert "member3.theta" not in arrays


def test_a_missing_or_stray_member_tensor_is_named(three):
    meta, arrays = three.get_state()
    for drop in ("member2.theta", "member1.to_a.weight", "theta"):
        with pytest.raises(StateError, match=f"no tensor '{drop}'"):
            IrtNet.from_state(meta, {k: v for k, v in arrays.items() if k != drop})
    with pytest.raises(StateError, match="unexpected tensor 'member3.theta'"):
        IrtNet.from_state(meta, {**arrays, "member3.theta": arrays["theta"]})
    with pytest.raises(StateError, match="unexpected tensor 'member1[.]"):  # members: 1 with 3 members' weights
        IrtNet.from_state({**meta, "members": 1, "member_best_epochs": [0]}, arrays)
    for bad in (0, -2, "3", 2.0, True, None):
        with pytest.raises(StateError, match="state.members"):
            IrtNet.from_state({**meta, "members": bad}, arrays)
    with pytest.raises(StateError, match="state.member_best_epochs"):
        IrtNet.from_state({**meta, "member_best_epochs": [1, 2]}, arrays)


def test_a_checkpoint_file_with_a_member_tensor_removed_fails_naming_it(three, tmp_path):
    from safetensors.numpy import load_file, save_file

    save_predictor(three, tmp_path / "m")
    weights = tmp_path / "m" / "weights.safetensors"
    arrays = load_file(str(weights))
    del arrays["member1.theta"]
    save_file(arrays, str(weights))
    with pytest.raises(CheckpointError, match="no tensor 'member1.theta'"):
        load_predictor(tmp_path / "m")


def test_an_old_single_network_state_loads_as_one_member(one, parts):
    _, _, test_d = parts
    meta, arrays = one.get_state()
    assert meta["members"] == 1 and not any(k.startswith("member") for k in arrays)
    old = {k: v for k, v in meta.items() if k not in ("members", "member_best_epochs")}
    loaded = IrtNet.from_state(old, arrays)
    assert len(loaded.members_) == 1 and loaded.members_ == [loaded.module_]
    assert [r.best_epoch for r in loaded.member_results_] == [meta["best_epoch"]]
    np.testing.assert_array_equal(loaded.predict_proba(test_d.queries), one.predict_proba(test_d.queries))


def test_a_new_model_joins_every_member(three, parts):
    from irtnet.tasks.onboard import with_new_model

    _, _, test_d = parts
    theta = np.linspace(-1, 1, three.abilities_.shape[1]).astype(np.float32)  # the ensemble's form, [3 * d]
    bigger = with_new_model(three, "newcomer", theta)
    assert len(bigger.members_) == 3 and bigger.models_.to_list()[-1] == "newcomer"
    np.testing.assert_allclose(bigger.abilities_[-1], theta, rtol=0, atol=1e-6)
    np.testing.assert_allclose(bigger.predict_proba(test_d.queries, three.models_.to_list()),
                               three.predict_proba(test_d.queries), rtol=0, atol=1e-12)
    a, b = bigger.query_parameters(test_d.queries)
    np.testing.assert_allclose(bigger.predict_proba(test_d.queries, ["newcomer"])[:, 0],
                               sigmoid(a.astype(np.float64) @ theta - b), rtol=0, atol=1e-5)

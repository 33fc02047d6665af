"""Bug bash 9, the training and model layers: odd settings and degenerate data are refused with a message that
names the problem (never a traceback from inside torch or numpy, nor a misleading "lower the learning rate"),
and the metrics say undefined (NaN) or refuse their input, never a misleading number."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from irtnet import metrics, numeric
from irtnet.data.dataset import Dataset
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.models.irtnet import PRESETS, IrtNetConfig, IrtNetModule
from irtnet.models.moe import MoEConfig
from irtnet.training import device as device_mod
from irtnet.training.batching import LabelArrays, build_arrays
from irtnet.training.device import resolve_device
from irtnet.training.threads import torch_threads
from irtnet.training.trainer import TrainConfig, train

FAST = {"epochs": 3, "lr": 3e-3, "batch_pairs": 256, "progress": False, "threads": 1}


@pytest.fixture(scope="module")
def parts():
    s = make_synthetic(n_models=4, n_queries=60, n_benchmarks=2, dim=2, feature_dim=4, seed=0)
    data = Dataset.from_table(s.table, s.features)
    split = split_by_query(s.table, (0.6, 0.2, 0.2), seed=0)
    train_d, val_d = data.select(split.train), data.select(split.val)
    models = train_d.table.model_vocab
    return build_arrays(train_d, models, None), build_arrays(val_d, models, None), len(models)


def _fit(arrays: LabelArrays, val: LabelArrays | None, n_models: int, **settings):
    torch.manual_seed(0)
    module = IrtNetModule(PRESETS["small"], arrays.x.shape[1], n_models)
    return train(module, arrays, val, n_models, TrainConfig(**{**FAST, **settings}))


def _no_labels(arrays: LabelArrays, keep_queries: bool) -> LabelArrays:
    """`arrays` without a label (its queries kept, or none either)."""
    q = arrays.n_queries if keep_queries else 0
    return dataclasses.replace(arrays, x=arrays.x[:q], indptr=np.zeros(q + 1, dtype=np.int64),
                               groups=None, cluster=None, model=arrays.model[:0], target=arrays.target[:0],
                               weight=arrays.weight[:0], label=arrays.label[:0])


# ------------------------------------------------------------------------------------------------ the trainer
@pytest.mark.parametrize("keep_queries", [True, False])
def test_a_validation_set_without_labels_is_named_not_called_a_divergence(parts, keep_queries):
    arrays, val, m = parts
    with pytest.raises(ConfigError, match="validation set has no labelled pairs") as err:
        _fit(arrays, _no_labels(val, keep_queries), m)
    assert "learning rate" not in str(err.value)


@pytest.mark.parametrize("keep_queries", [True, False])
def test_training_data_without_labels_is_refused_not_trained_on_as_a_zero_loss(parts, keep_queries):
    arrays, val, m = parts
    with pytest.raises(ConfigError, match="training set has no labelled pairs"):
        _fit(_no_labels(arrays, keep_queries), val, m)


def test_selecting_on_an_auc_that_is_undefined_is_refused_not_an_early_stop(parts):
    """Every validation label the same: AUC is undefined at every epoch; before, training stopped after
    `early_stopping_patience` epochs of 10, keeping the last weights with `best` empty, and said nothing."""
    arrays, val, m = parts
    one_class = dataclasses.replace(val, label=torch.ones_like(val.label), target=torch.ones_like(val.target))
    with pytest.raises(ConfigError, match="select_metric 'auc' is undefined.*every validation label is the same"):
        _fit(arrays, one_class, m, select_metric="auc", epochs=10, early_stopping_patience=2)
    result = _fit(arrays, one_class, m, select_metric="log_loss", epochs=2)  # a defined figure still selects
    assert result.best_epoch >= 1 and math.isnan(result.best["auc"])


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_a_seed_out_of_range_is_refused_by_the_config(seed):
    with pytest.raises(ValidationError, match="seed"):
        TrainConfig(seed=seed)


def test_the_largest_accepted_seed_trains(parts):
    arrays, _, m = parts
    assert _fit(arrays, None, m, seed=2**64 - 1, epochs=1).best_epoch == 1


@pytest.mark.parametrize("cls,field", [
    (IrtNetConfig, "input_noise"), (IrtNetConfig, "theta_init_std"), (IrtNetConfig, "align_weight"),
    (IrtNetConfig, "align_query_weight"), (IrtNetConfig, "align_temperature"), (IrtNetConfig, "rank_weight"),
    (MoEConfig, "balance_gamma")])
def test_an_infinite_network_setting_is_refused(cls, field):
    """`input_noise = inf` (valid TOML) made every input NaN and training stopped with "lower the learning rate"."""
    with pytest.raises(ValidationError, match=field):
        cls(**{field: math.inf})


# ------------------------------------------------------------------------------------------------ devices and threads
def test_a_cuda_index_beyond_the_gpus_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="cuda:9.*2 GPUs"):
        resolve_device("cuda:9")


def test_a_numpy_integer_thread_count_is_a_thread_count():
    before = torch.get_num_threads()
    with torch_threads(np.int64(1)) as n:
        assert n == 1
    assert torch.get_num_threads() == before
    for bad in (np.int64(0), True, 1.0):
        with pytest.raises(ConfigError, match="positive integer"):
            with torch_threads(bad):
                pass


# ------------------------------------------------------------------------------------------------ metrics
EMPTY = np.zeros(0)
P, Y = np.array([0.2, 0.8, 0.6, 0.4]), np.array([0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.auc, metrics.log_loss, metrics.brier, metrics.ece])
def test_every_metric_of_no_pairs_is_undefined_without_a_warning(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(fn(EMPTY, EMPTY))  # ece was 0.0: a perfect calibration of nothing


def test_correctness_metrics_of_no_pairs_are_all_undefined():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = metrics.correctness_metrics(EMPTY, EMPTY)
    assert out["n"] == 0 and all(math.isnan(v) for k, v in out.items() if k != "n")


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.auc, metrics.log_loss, metrics.brier, metrics.ece])
@pytest.mark.parametrize("prob,label", [(P[:, None], Y), (P, Y[:1]), (P, Y[:3])])
def test_every_metric_refuses_arrays_of_different_shapes(fn, prob, label):
    """log_loss([n, 1], [n]) broadcast to [n, n] and log_loss(p, y[:1]) scored every p against one label."""
    with pytest.raises(ValueError, match="shape"):
        fn(prob, label)


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.auc, metrics.log_loss, metrics.brier, metrics.ece])
def test_a_nan_probability_makes_every_metric_undefined(fn):
    """ece dropped the NaN row (its bin index was a huge negative number) and accuracy counted it as a 0."""
    assert math.isnan(fn(np.array([np.nan, 0.8, 0.6, 0.4]), Y))


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.auc, metrics.log_loss, metrics.brier, metrics.ece])
@pytest.mark.parametrize("bad", [1.5, -0.2, np.inf])
def test_a_probability_outside_0_1_is_refused(fn, bad):
    """ece dropped a row with a probability below 0 and log_loss clipped 1.5 to 1 - 1e-7."""
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\]"):
        fn(np.array([bad, 0.8, 0.6, 0.4]), Y)


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.auc, metrics.log_loss, metrics.brier, metrics.ece])
@pytest.mark.parametrize("bad", [np.nan, 2.0, -1.0])
def test_a_label_outside_0_1_is_refused(fn, bad):
    """A NaN label counted as wrong in accuracy; AUC of labels {0, 2} failed inside scikit-learn."""
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        fn(P, np.array([bad, 1.0, 1.0, 0.0]))


def test_auc_refuses_fractional_labels_by_name():
    with pytest.raises(ValueError, match="AUC needs 0/1 labels"):
        metrics.auc(P, np.array([0.5, 1.0, 1.0, 0.0]))


def test_metrics_take_lists_and_keep_their_values_on_valid_input():
    assert metrics.log_loss([0.2, 0.8], [0, 1]) == pytest.approx(-math.log(0.8))
    assert metrics.accuracy([0.2, 0.8], [0, 1]) == 1.0
    assert metrics.brier([0.2, 0.8], [0, 1]) == pytest.approx(0.04)
    assert metrics.ece([0.2, 0.8], [0, 1]) == pytest.approx(0.2)
    assert metrics.auc([0.2, 0.8], [0, 1]) == 1.0
    assert metrics.log_loss(np.array([0.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(-math.log(1e-7))


@pytest.mark.parametrize("n_bins", [0, -1, True])
def test_ece_refuses_a_bin_count_that_is_not_a_positive_integer(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        metrics.ece(P, Y, n_bins)


# ------------------------------------------------------------------------------------------------ numeric
Z = np.array([-2.0, -1.0, 0.5, 1.0, 3.0])
T = np.array([0.0, 0.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("fit", [numeric.fit_temperature, numeric.fit_platt])
def test_calibration_fits_refuse_nan_logits(fit):
    """fit_temperature gave 0.49 and fit_platt (1, 0) for logits with a NaN, as if fitted."""
    with pytest.raises(ValueError, match="finite"):
        fit(np.array([np.nan, -1.0, 0.5, 1.0, 3.0]), T)


@pytest.mark.parametrize("fit", [numeric.fit_temperature, numeric.fit_platt])
def test_calibration_fits_refuse_targets_of_another_length(fit):
    """One target broadcast against every logit: a fitted temperature of 20 from nothing."""
    with pytest.raises(ValueError, match="length"):
        fit(Z, T[:1])


def test_calibration_fits_refuse_targets_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        numeric.fit_temperature(Z, np.array([0.0, 2.0, 5.0, 1.0, 1.0]))


def test_choose_calibration_refuses_groups_of_another_length():
    with pytest.raises(ValueError, match="length"):
        numeric.choose_calibration(Z, T, np.array([0, 1]))


def test_keep_unless_beaten_refuses_nothing_to_choose_from():
    with pytest.raises(ValueError, match="at least one"):
        numeric.keep_unless_beaten({})


@pytest.mark.parametrize("name", [1, None, 0.0])
def test_a_device_that_is_not_a_name_is_refused_by_name(name):
    """resolve_device(1) (torch's GPU index) failed with "'int' object has no attribute 'partition'"."""
    with pytest.raises(ConfigError, match="device must be a name"):
        resolve_device(name)


@pytest.mark.parametrize("threads", [10**6, 2**40])
def test_a_thread_count_no_machine_has_is_refused_before_torch_starts_the_threads(threads):
    """10**6 made torch start a million threads (the process hangs); 2**40 failed inside torch ("Overflow")."""
    before = torch.get_num_threads()
    with pytest.raises(ConfigError, match="at most 4096"):
        with torch_threads(threads):
            pass
    with pytest.raises(ValidationError, match="threads"):
        TrainConfig(threads=threads)
    assert torch.get_num_threads() == before

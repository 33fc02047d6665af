"""Devices: the CPU path is the loop it always was, "auto" falls back to the CPU, "cuda" without a GPU is
refused with a clear message, checkpoints hold CPU tensors; where CUDA exists (`-m cuda`), training and
prediction on the GPU agree with the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from typer.testing import CliRunner

from irtnet.data.dataset import Dataset
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError
from irtnet.models.irtnet import PRESETS, IrtNetModule
from irtnet.predictors import IrtNet
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.spec import ModelSpec, apply_flags
from irtnet.training import device as device_mod
from irtnet.training.batching import batches, build_arrays, queries_per_batch
from irtnet.training.device import resolve_device, to_device
from irtnet.training.threads import torch_threads
from irtnet.training.trainer import TrainConfig, as_trainable, make_optimizer, train

FAST = {"epochs": 3, "lr": 3e-3, "batch_pairs": 256, "progress": False, "threads": 1}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")


@pytest.fixture(scope="module")
def data():
    s = make_synthetic(n_models=6, n_queries=160, n_benchmarks=2, dim=2, feature_dim=8, seed=2)
    return Dataset.from_table(s.table, s.features)


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without a GPU, whatever it has."""
    monkeypatch.setattr(device_mod, "cuda_available", lambda: False)


def _arrays(data):
    return build_arrays(data, data.table.model_vocab, None, "score")


# ------------------------------------------------------------------------------------------------ the CPU
def test_the_cpu_path_is_the_plain_training_loop(data):
    """device="cpu" trains exactly (bitwise) as the loop written out by hand: batches, loss, step, balancing."""
    arrays, cfg = _arrays(data), TrainConfig(**FAST, device="cpu")
    torch.manual_seed(0)
    ours = IrtNetModule(PRESETS["small"], arrays.x.shape[1], 6)
    by_hand = IrtNetModule(PRESETS["small"], arrays.x.shape[1], 6)
    by_hand.load_state_dict(ours.state_dict())
    state = torch.random.get_rng_state()
    train(ours, arrays, None, 6, cfg)
    torch.random.set_rng_state(state)  # the forward's dropout and noise draw the same numbers
    trainable, generator = as_trainable(by_hand), torch.Generator().manual_seed(cfg.seed)
    optimizer = make_optimizer(trainable.parameters(), cfg)
    with torch_threads(cfg.threads):
        for _ in range(cfg.epochs):
            trainable.train()
            for batch in batches(arrays, queries_per_batch(arrays, cfg.batch_pairs), generator):
                step = trainable.batch_loss(batch, 6)
                optimizer.zero_grad(set_to_none=True)
                step.objective.backward()
                optimizer.step()
                trainable.after_step(step.output)
    assert torch.count_nonzero(by_hand.moe.bias) > 0  # the balancing bias moved
    for key, value in by_hand.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


def test_auto_is_the_cpu_without_a_gpu_and_gives_the_same_model(data, no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    cpu = IrtNet("small", {**FAST, "device": "cpu"}).fit(data)
    auto = IrtNet("small", {**FAST, "device": "auto"}).fit(data)
    np.testing.assert_array_equal(auto.predict_proba(data.queries), cpu.predict_proba(data.queries))
    np.testing.assert_array_equal(cpu.predict_proba(data.queries, device="auto"), cpu.predict_proba(data.queries))


def test_auto_and_cuda_name_the_gpu_where_torch_sees_one(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_available", lambda: True)  # resolving creates no CUDA context
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="unknown device 'cpu:0'"):
        resolve_device("cpu:0")


def test_cuda_without_a_gpu_is_refused_clearly(data, no_gpu):
    with pytest.raises(ConfigError, match="CUDA is not available .*use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        IrtNet("small", {**FAST, "device": "cuda"}).fit(data)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        train(IrtNetModule(PRESETS["small"], 8, 6), _arrays(data), None, 6, TrainConfig(**FAST, device="cuda"))
    fitted = IrtNet("small", FAST).fit(data)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        fitted.predict_proba(data.queries, device="cuda")


def test_bad_device_settings_are_refused():
    with pytest.raises(ValidationError, match="amp_bf16 .* needs device cuda or auto"):
        TrainConfig(device="cpu", amp_bf16=True)
    with pytest.raises(ValidationError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="--device and --bf16 apply to IrtNet only; 'knn' trains on the CPU"):
        apply_flags(ModelSpec(model="knn"), device="cuda")
    assert apply_flags(ModelSpec(), device="auto", bf16=True).params["train"] == {"device": "auto", "amp_bf16": True}


def test_the_cli_refuses_cuda_without_a_gpu_before_reading_data(tmp_path, no_gpu):
    from irtnet.cli.main import app

    result = CliRunner().invoke(app, ["train", str(tmp_path / "absent.parquet"), "-o", str(tmp_path / "run"),
                                      "--preset", "small", "--device", "cuda", "--quiet"])
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output and not (tmp_path / "run").exists()


def test_to_device_on_the_cpu_moves_nothing(data):
    batch = next(batches(_arrays(data), 10))
    assert to_device(batch, torch.device("cpu")) is batch


def test_checkpoints_hold_cpu_arrays_and_load_anywhere(data, tmp_path):
    fitted = IrtNet("small", FAST).fit(data)
    _, arrays = fitted.get_state()
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    loaded = load_predictor(save_predictor(fitted, tmp_path / "ckpt"))
    assert loaded.device == "cpu" and loaded.module_.theta.device.type == "cpu"
    loaded.device = "auto"  # the setting a service would give it: the GPU where there is one
    np.testing.assert_allclose(loaded.predict_proba(data.queries), fitted.predict_proba(data.queries),
                               rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------------- CUDA
def _quiet_fit(data, device: str, **train_over) -> IrtNet:
    """No random draws inside the forward (input noise, dropout) and no discrete routing (all 4 experts), so a
    CPU and a GPU run see the same numbers up to float rounding."""
    moe = PRESETS["small"].moe.model_copy(update={"dropout": 0.0, "top_k": 4})
    return IrtNet(PRESETS["small"].model_copy(update={"input_noise": 0.0, "moe": moe}),
                  {**FAST, "device": device, **train_over}).fit(data)


@pytest.mark.cuda
@needs_cuda
def test_training_and_prediction_on_cuda_equal_the_cpu(data, tmp_path):
    cpu, gpu = _quiet_fit(data, "cpu"), _quiet_fit(data, "cuda")
    assert gpu.module_.theta.device.type == "cpu"  # trained on the GPU, handed back on the CPU
    for a, b in zip(cpu.result_.history, gpu.result_.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
    expected = cpu.predict_proba(data.queries)
    np.testing.assert_allclose(gpu.predict_proba(data.queries), expected, rtol=0, atol=2e-3)
    np.testing.assert_allclose(cpu.predict_proba(data.queries, device="cuda"), expected, rtol=0, atol=1e-5)
    a_cpu, b_cpu = cpu.query_parameters(data.queries)
    a_gpu, b_gpu = cpu.query_parameters(data.queries, device="cuda")
    np.testing.assert_allclose(a_gpu, a_cpu, rtol=0, atol=1e-5)
    np.testing.assert_allclose(b_gpu, b_cpu, rtol=0, atol=1e-5)
    loaded = load_predictor(save_predictor(gpu, tmp_path / "ckpt"))  # saved from a GPU run, loaded on the CPU
    np.testing.assert_array_equal(loaded.predict_proba(data.queries, device="cpu"),
                                  gpu.predict_proba(data.queries, device="cpu"))


@pytest.mark.cuda
@needs_cuda
def test_bf16_autocast_trains_close_to_float32(data):
    full, half = _quiet_fit(data, "cuda"), _quiet_fit(data, "cuda", amp_bf16=True)
    assert all(np.isfinite(r["train_loss"]) for r in half.result_.history)
    np.testing.assert_allclose(half.predict_proba(data.queries), full.predict_proba(data.queries), rtol=0, atol=0.05)


@pytest.mark.cuda
@needs_cuda
def test_auto_is_cuda_where_there_is_a_gpu():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.cuda
@needs_cuda
def test_auxiliary_terms_compute_on_the_inputs_device():
    from irtnet.models.alignment import query_model_alignment, query_model_ranking, query_query_alignment

    g = torch.Generator().manual_seed(0)
    a, theta = torch.randn(4, 3, generator=g), torch.randn(5, 3, generator=g)
    q, m = torch.arange(4).repeat_interleave(5), torch.arange(5).repeat(4)
    target, logits = torch.rand(20, generator=g).round(), torch.randn(20, generator=g)
    cluster = torch.tensor([0, 0, 1, 1])
    cpu = [query_model_alignment(a, theta, q, m, target), query_query_alignment(a, cluster),
           query_model_ranking(logits, q, target, 4)]
    dev = [t.cuda() for t in (a, theta, q, m, target, logits, cluster)]
    a, theta, q, m, target, logits, cluster = dev
    gpu = [query_model_alignment(a, theta, q, m, target), query_query_alignment(a, cluster),
           query_model_ranking(logits, q, target, 4), query_model_ranking(logits.bfloat16(), q, target, 4)]
    for c, d in zip(cpu + cpu[-1:], gpu):
        assert d.device.type == "cuda" and d.dtype == torch.float32
        torch.testing.assert_close(d.cpu(), c, rtol=1e-2, atol=1e-2)

"""Data-parallel training on two CPU processes (gloo on loopback) equals one process on the same global batches.

Equality is well defined because nothing random happens inside the forward: the network is the sparse
"small" preset (2 of 4 experts, so the load-balancing bias moves) with its dropout and input noise set to 0.
The initial weights and the batch order come from the same seed in every process. What remains is float
summation order (a gradient summed over two slices instead of one batch), hence a tolerance relative to each
tensor's scale: max |w_2proc - w_1proc| <= 1e-5 max |w_1proc| (an element near 0 has no useful relative error).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from irtnet.data.dataset import Dataset
from irtnet.data.synthetic import make_synthetic
from irtnet.models.irtnet import PRESETS, IrtNetModule
from irtnet.training import distributed
from irtnet.training.batching import Batch, batches, build_arrays
from irtnet.training.trainer import TrainConfig, train

#: 101 training queries in batches of 20: the last global batch has one query, so rank 1's slice is empty.
N_TRAIN, N_VAL, BATCH = 101, 60, 20
CONFIG = PRESETS["small"].model_copy(update={"input_noise": 0.0,
                                             "moe": PRESETS["small"].moe.model_copy(update={"dropout": 0.0})})
TRAIN = TrainConfig(epochs=3, batch_queries=BATCH, lr=3e-3, early_stopping_patience=10, threads=1)


def _arrays():
    """(training, validation) arrays: the first N_TRAIN queries of a synthetic set and the N_VAL after them."""
    s = make_synthetic(n_models=6, n_queries=N_TRAIN + N_VAL, n_benchmarks=2, dim=2, feature_dim=8, seed=1)
    data, ids = Dataset.from_table(s.table, s.features), s.table.query_vocab.ids
    return tuple(build_arrays(data.select(part), data.table.model_vocab, None, "score")
                 for part in (ids[:N_TRAIN], ids[N_TRAIN:]))


def _fit() -> dict:
    """Train from seed 0 (data-parallel inside a process group); the weights and the history."""
    train_arrays, val_arrays = _arrays()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = IrtNetModule(CONFIG, train_arrays.x.shape[1], 6)
        result = train(module, train_arrays, val_arrays, 6, TRAIN)
    return {"state": module.state_dict(), "history": result.history, "best_epoch": result.best_epoch}


def _rank_main(out: str) -> None:
    """One process of the data-parallel run (module level, so the spawned processes can import it)."""
    with distributed.process_group("cpu") as shard:
        assert shard is not None and shard.world == 2
        torch.save(_fit(), Path(out) / f"rank{shard.rank}.pt")


@pytest.fixture(scope="module")
def single():
    return _fit()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory, single):
    out = tmp_path_factory.mktemp("ddp")
    distributed.spawn(_rank_main, 2, (str(out),))
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def test_two_processes_train_the_same_model_as_one(single, ranks):
    for result in ranks:
        assert result["best_epoch"] == single["best_epoch"] == TRAIN.epochs  # the last weights: all epochs count
        for key, value in single["state"].items():
            assert (result["state"][key] - value).abs().max() <= 1e-5 * value.abs().max(), key
    assert torch.count_nonzero(single["state"]["moe.bias"]) > 0  # the balancing moved: the load was summed
    assert torch.equal(ranks[0]["state"]["moe.bias"], single["state"]["moe.bias"])


def test_the_loss_curve_and_validation_figures_are_the_same(single, ranks):
    for result in ranks:
        assert len(result["history"]) == len(single["history"]) == TRAIN.epochs
        for ours, theirs in zip(result["history"], single["history"]):
            for key in ("train_loss", "val_log_loss", "val_auc", "lr"):
                assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key
    assert ranks[0]["history"][-1]["val_log_loss"] == ranks[1]["history"][-1]["val_log_loss"]  # rank 0 decided


def _batch(n_queries: int) -> Batch:
    return next(batches(_arrays()[0], n_queries))


def test_slices_of_a_batch_cover_it_once():
    batch = _batch(7)
    parts = [distributed.shard_batch(batch, distributed.Shard(r, 3)) for r in range(3)]
    assert [len(p.x) for p in parts] == [2, 2, 3]
    torch.testing.assert_close(torch.cat([p.x for p in parts]), batch.x)
    torch.testing.assert_close(torch.cat([p.target for p in parts]), batch.target)
    np.testing.assert_array_equal(torch.cat([p.q_local + lo for p, lo in zip(parts, (0, 2, 4))]), batch.q_local)
    empty = distributed.shard_batch(_batch(1), distributed.Shard(0, 2))
    assert len(empty.x) == 0 and len(empty.model) == 0


def test_outside_a_process_group_nothing_is_distributed():
    assert distributed.current() is None
    t = torch.ones(3)
    assert distributed.all_reduce_sum(t) is t and distributed.on_main(lambda: 5) == 5


def test_irtnet_train_nproc_writes_one_run_from_rank_0(tmp_path):
    """`irtnet train --nproc 2` end to end: two processes train, rank 0 alone writes the run directory, and
    the model equals the one-process run's."""
    from typer.testing import CliRunner

    from irtnet.api.run import Run
    from irtnet.cli.main import app

    table = tmp_path / "t.parquet"
    make_synthetic(n_models=5, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(table)
    config = tmp_path / "quiet.json"  # the small preset without the forward's random draws
    config.write_text('{"model": {"preset": "small", "params": {"config": {"input_noise": 0.0, "moe": {"dropout": 0.0}},'
                      ' "train": {"batch_queries": 16}}}}')
    runs = {}
    for nproc in (1, 2):
        result = CliRunner().invoke(app, ["train", str(table), "-o", str(tmp_path / f"run{nproc}"), "--config",
                                          str(config), "--encoder", "hashing-32", "--epochs", "2", "--threads", "1",
                                          "--nproc", str(nproc), "--quiet"])
        assert result.exit_code == 0, result.output
        runs[nproc] = Run.open(tmp_path / f"run{nproc}")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run")) == ["run1", "run2"]
    one, two = (runs[n].predictor() for n in (1, 2))
    for key, value in one.module_.state_dict().items():
        assert (two.module_.state_dict()[key] - value).abs().max() <= 1e-5 * value.abs().max(), key
    for a, b in zip(one.result_.history, two.result_.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)


def test_nproc_is_checked_against_the_launch(monkeypatch):
    from irtnet.errors import ConfigError

    with pytest.raises(ConfigError, match="--nproc must be at least 1"):
        distributed.check_nproc(0, "cpu")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="under torchrun .* leave it out"):
        distributed.check_nproc(2, "cpu")

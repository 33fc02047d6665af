"""Training, recovery of a planted truth, checkpoints and the evaluator, on small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from irtnet.data.dataset import Dataset
from irtnet.data.splits import split_by_query
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import CheckpointError, DataError, UnknownIdError
from irtnet.models.irt import weighted_bce
from irtnet.models.irtnet import PRESETS, IrtNetModule
from irtnet.predictors import IrtNet, ModelMean
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.tasks.evaluate import evaluate
from irtnet.training.batching import build_arrays
from irtnet.training.trainer import TrainConfig, train

FAST = {"epochs": 25, "lr": 3e-3, "batch_pairs": 1024, "progress": False, "threads": 1}


@pytest.fixture(scope="module")
def synth():
    return make_synthetic(n_models=16, n_queries=1200, n_benchmarks=3, dim=2, feature_dim=8, seed=3)


@pytest.fixture(scope="module")
def parts(synth):
    data = Dataset.from_table(synth.table, synth.features)
    split = split_by_query(synth.table, (0.7, 0.15, 0.15), seed=0)
    return data, data.select(split.train), data.select(split.val), data.select(split.test)


@pytest.fixture(scope="module")
def fitted(parts):
    _, train_d, val_d, _ = parts
    return IrtNet("small", FAST).fit(train_d, val_d)


def _recovery(model: IrtNet, synth, data: Dataset) -> tuple[float, float]:
    """Spearman of (query difficulty, model ability) orderings against the planted truth.

    Difficulty of a query = its mean probability over models; ability of a model = its mean over queries
    (identifiable quantities, unlike raw b and theta which are defined up to a shift).
    """
    pred = model.predict_proba(data.queries, data.table.model_vocab.ids)
    rows = synth.table.query_vocab.index(data.table.query_vocab.ids)
    true = synth.prob[rows]
    return (spearmanr(pred.mean(1), true.mean(1)).statistic, spearmanr(pred.mean(0), true.mean(0)).statistic)


def test_fitted_model_recovers_planted_difficulty_and_ability(fitted, parts, synth):
    _, train_d, _, test_d = parts
    difficulty, ability = _recovery(fitted, synth, test_d)  # on queries never seen in training
    assert difficulty > 0.85 and ability > 0.85
    untrained = IrtNet("small", {**FAST, "epochs": 1, "lr": 1e-9}).fit(train_d)
    u_diff, u_abil = _recovery(untrained, synth, test_d)
    assert u_diff < 0.6 and u_abil < 0.6
    # and the fitted model is close to the best achievable AUC (the true probabilities)
    labels = test_d.table.label_matrix()
    obs = ~np.isnan(labels)
    from irtnet.metrics import auc

    rows = synth.table.query_vocab.index(test_d.table.query_vocab.ids)
    best = auc(synth.prob[rows][obs], labels[obs])
    ours = auc(fitted.predict_proba(test_d.queries)[obs], labels[obs])
    assert ours > best - 0.03


def test_training_keeps_history_and_restores_the_best_epoch(fitted, parts):
    result = fitted.result_
    assert len(result.history) >= 2 and {"train_loss", "val_log_loss", "val_auc", "lr"} <= set(result.history[0])
    best_row = result.history[result.best_epoch - 1]
    assert best_row["val_log_loss"] == min(r["val_log_loss"] for r in result.history)
    # the weights held now are the best epoch's, not the last one's
    _, _, val_d, _ = parts
    arrays = build_arrays(val_d, fitted.models_, None, "score")
    from irtnet.training.trainer import evaluate_arrays

    now = evaluate_arrays(fitted.module_, arrays, len(fitted.models_))
    assert now["log_loss"] == pytest.approx(best_row["val_log_loss"], rel=1e-5)


def test_early_stopping_stops_and_best_state_is_a_copy(parts):
    _, train_d, val_d, _ = parts
    model = IrtNet("small", {**FAST, "epochs": 60, "lr": 3e-2, "early_stopping_patience": 2}).fit(train_d, val_d)
    assert len(model.result_.history) < 60
    assert model.result_.best_epoch <= len(model.result_.history) - 2


def test_same_seed_same_model_different_seed_different_model(parts):
    _, train_d, val_d, test_d = parts
    cfg = {**FAST, "epochs": 2}
    p1 = IrtNet("small", cfg).fit(train_d, val_d).predict_proba(test_d.queries)
    p2 = IrtNet("small", cfg).fit(train_d, val_d).predict_proba(test_d.queries)
    p3 = IrtNet("small", {**cfg, "seed": 1}).fit(train_d, val_d).predict_proba(test_d.queries)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(p1, p3)


def test_trainer_handles_sparse_data_and_counts(synth):
    sparse = make_synthetic(n_models=12, n_queries=400, n_benchmarks=2, dim=2, feature_dim=8, density=0.2, seed=1)
    data = Dataset.from_table(sparse.table, sparse.features)
    model = IrtNet("small", {**FAST, "epochs": 3}).fit(data)
    assert model.predict_proba(data.queries).shape == (400, 12)
    assert np.isfinite(model.result_.history[-1]["train_loss"])


def test_checkpoint_round_trip_gives_identical_predictions(fitted, parts, tmp_path):
    _, _, _, test_d = parts
    path = save_predictor(fitted, tmp_path / "ckpt", metrics={"val": fitted.result_.best})
    assert {p.name for p in path.iterdir()} == {"checkpoint.json", "weights.safetensors"}
    loaded = load_predictor(path)
    np.testing.assert_array_equal(loaded.predict_proba(test_d.queries), fitted.predict_proba(test_d.queries))
    assert loaded.models_.ids == fitted.models_.ids and loaded.encoder_ == fitted.encoder_
    with pytest.raises(UnknownIdError, match="unknown model id: 'nope'"):
        loaded.predict_proba(test_d.queries, ["nope"])
    (path / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="checkpoint.json: not valid JSON"):
        load_predictor(path)


def test_predictions_come_from_the_networks_own_forward(fitted, parts, monkeypatch):
    from irtnet.numeric import irt_probability

    _, _, _, test_d = parts
    some = list(fitted.models_.ids[::3])
    expected = fitted.predict_proba(test_d.queries, some)
    calls = []
    forward = type(fitted.module_).forward

    def spy(module, x, groups=None, pairs=None, models=None):
        calls.append((module.training, torch.is_grad_enabled(), len(x), None if models is None else models.tolist()))
        return forward(module, x, groups, pairs, models)

    monkeypatch.setattr(type(fitted.module_), "forward", spy)
    batched = fitted.predict_proba(test_d.queries, some, batch_size=50)
    n = test_d.table.n_queries
    assert calls == [(False, False, min(50, n - s), fitted.models_.index(some).tolist()) for s in range(0, n, 50)]
    np.testing.assert_allclose(batched, expected, rtol=0, atol=1e-7)
    # the numpy response function on the network's query parameters gives the same probabilities
    a, b = fitted.query_parameters(test_d.queries)
    np.testing.assert_allclose(irt_probability(fitted.abilities_[fitted.models_.index(some)], a, b), expected,
                               rtol=0, atol=1e-6)


def test_evaluator_scores_irtnet_beside_the_base_rate(fitted, parts):
    _, train_d, _, test_d = parts
    ours = evaluate(fitted, train_d, test_d)
    base = evaluate(ModelMean().fit(train_d), train_d, test_d)
    assert ours.correctness["overall"]["auc"] > base.correctness["overall"]["auc"] + 0.05
    r = ours.routing
    assert r.references["oracle"]["micro"] >= r.micro >= r.references["random"]["micro"]
    assert set(ours.correctness["per_benchmark"]) == set(test_d.table.benchmark_vocab.ids)


def test_missing_labels_never_count_as_wrong():
    from irtnet.tasks.routing import routing_result

    labels = np.array([[1.0, np.nan], [0.0, 1.0], [np.nan, np.nan]])
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.5, 0.5]])
    groups = np.array(["x", "x", "y"], dtype=object)
    acc = np.array([0.5, 0.5])
    complete = routing_result(scores, labels, groups, ["m0", "m1"], acc, {"x": acc, "y": acc}, mode="complete")
    assert complete.n_queries == 1 and complete.n_excluded == 2 and complete.micro == 1.0
    observed = routing_result(scores, labels, groups, ["m0", "m1"], acc, {"x": acc, "y": acc}, mode="observed")
    assert observed.n_queries == 2 and observed.micro == 1.0  # query 0 may only pick its labelled model


def _pairs_only(module, batch, n_models):
    """batch_logits forced onto the sparse path (gather over the observed pairs)."""
    out = module(batch.x, batch.groups, pairs=(batch.q_local, batch.model))
    return out.logits, out


def test_dense_and_sparse_batches_train_identically():
    synth = make_synthetic(n_models=6, n_queries=60, n_benchmarks=2, dim=2, feature_dim=8, seed=2)
    data = Dataset.from_table(synth.table, synth.features)
    from irtnet.training import trainer as tr

    arrays = build_arrays(data, synth.table.model_vocab, None, "score")
    nets = []
    for force_pairs in (False, True):
        torch.manual_seed(0)
        net = IrtNetModule(PRESETS["small"].model_copy(update={"input_noise": 0.0}), 8, 6)
        net.moe.experts.p = net.moe.shared.p = 0.0
        original = tr.batch_logits
        if force_pairs:
            tr.batch_logits = _pairs_only
        try:
            train(net, arrays, None, 6, TrainConfig(epochs=2, lr=1e-2, batch_pairs=60, progress=False))
        finally:
            tr.batch_logits = original
        nets.append(net)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


_FAULTS_PER_STEP = """
import resource, torch
from irtnet.training.memory import probe_mmap_threshold, reuse_freed_memory
torch.set_num_threads(1)
w = torch.nn.Parameter(torch.randn(2000, 2500))  # 20 MB: its gradient is freed and allocated again every step
opt = torch.optim.Adam([w], fused=True)
x = torch.randn(8, 2000)
def faults(steps=9, warmup=5):
    # the median minor page faults of one step after warm-up (the median: the heap grows now and then)
    counts = []
    for i in range(warmup + steps):
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        opt.zero_grad(set_to_none=True)
        (x @ w).square().sum().backward()
        opt.step()
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
    return sorted(counts[warmup:])[steps // 2]
before = probe_mmap_threshold()
with reuse_freed_memory() as active:
    with reuse_freed_memory():  # a nested block (train() inside a benchmark's own) keeps the outer one's setting
        pass
    inside = faults()
print(active, inside, before, probe_mmap_threshold())
"""


def test_reuse_freed_memory_stops_per_step_page_faults_and_restores_glibc():
    """Minor page faults of a training step (the median after warm-up), inside the block and after it.

    In a fresh interpreter, so the heap's history (which the rest of the test session shapes) is the same
    on every run.
    """
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _FAULTS_PER_STEP], capture_output=True, text=True, check=True)
    active, inside, before, after = out.stdout.split()
    if active != "True":
        pytest.skip("glibc's mallopt is not available on this platform")
    # inside, the freed gradient block is reused: no new pages; after the block, the mmap threshold found
    # before it is in force again (whether later blocks then reuse the heap depends on its layout)
    assert float(inside) < 50
    assert before == after != "None"
    from irtnet.training.memory import reuse_freed_memory

    with reuse_freed_memory(enabled=False) as active:
        assert not active


# ---------------------------------------------------------------- torch threads: set for a block, then restored
def test_torch_threads_sets_the_count_for_the_block_and_restores_it():
    from irtnet.errors import ConfigError
    from irtnet.training.threads import torch_threads

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other) as inside:
        assert inside == other == torch.get_num_threads()
        with torch_threads(None) as unchanged:  # None leaves the count alone
            assert unchanged == other
    assert torch.get_num_threads() == before
    with pytest.raises(ZeroDivisionError), torch_threads(other):
        1 / 0
    assert torch.get_num_threads() == before  # restored on an exception too
    with pytest.raises(ConfigError, match="positive integer"), torch_threads(0):
        pass
    assert torch.get_num_threads() == before


class _Failing(torch.nn.Module):
    """A trainable module whose first step fails (to check that train() still restores the thread count)."""

    plateau_metric = None

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def batch_loss(self, batch, n_models):
        raise RuntimeError("boom")

    def validate(self, arrays, n_models):
        return {}


def test_train_restores_the_thread_count_even_when_training_fails(parts):
    _, train_d, _, _ = parts
    arrays = build_arrays(train_d, train_d.table.model_vocab, None, "score")
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        train(_Failing(), arrays, None, train_d.table.n_models,
              TrainConfig(epochs=1, progress=False, threads=1 if before != 1 else 2))
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------- the trainer's protocol
class _Counting(torch.nn.Module):
    """A `TrainableModule` with its own loss and figure: the mean logit of a bias, pushed towards the target."""

    plateau_metric = None

    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))
        self.steps = 0

    def batch_loss(self, batch, n_models):
        from irtnet.training.trainer import StepLoss

        loss = weighted_bce(self.bias.expand(len(batch.target)), batch.target, batch.weight)
        return StepLoss(loss, loss.detach(), output="seen")

    def validate(self, arrays, n_models):
        return {"routing": float(torch.sigmoid(self.bias.detach()))}  # a figure where higher is better

    def after_step(self, output):
        assert output == "seen"
        self.steps += 1


def test_any_trainable_module_trains_through_the_one_loop(parts):
    from irtnet.errors import ConfigError
    from irtnet.training.trainer import TrainableModule, as_trainable

    _, train_d, val_d, _ = parts
    arrays = build_arrays(train_d, train_d.table.model_vocab, None, "score")
    val = build_arrays(val_d, train_d.table.model_vocab, None, "score")
    module = _Counting()
    assert isinstance(module, TrainableModule) and as_trainable(module) is module
    cfg = TrainConfig(epochs=3, lr=0.1, batch_queries=100, optimizer="adamw", select_metric="routing",
                      progress=False, threads=1)
    result = train(module, arrays, val, train_d.table.n_models, cfg)
    assert module.steps == 3 * -(-train_d.table.n_queries // 100)  # after_step once per batch of 100 queries
    assert [row["lr"] for row in result.history] == [0.1] * 3  # no plateau figure named: the rate stays
    assert result.best == {"routing": result.history[result.best_epoch - 1]["val_routing"]}
    with pytest.raises(ConfigError, match="select_metric 'log_loss' is not a validation figure"):
        train(_Counting(), arrays, val, train_d.table.n_models, cfg.model_copy(update={"select_metric": "log_loss"}))
    # a network that only gives logits is wrapped in the likelihood objective
    net = IrtNetModule(PRESETS["small"], 8, train_d.table.n_models)
    assert not isinstance(net, TrainableModule) and isinstance(as_trainable(net), TrainableModule)


class _Diverging(_Counting):
    """A `TrainableModule` whose loss is NaN from the first batch, as after weights overflowed."""

    def batch_loss(self, batch, n_models):
        from irtnet.training.trainer import StepLoss

        loss = super().batch_loss(batch, n_models).objective * float("nan")
        return StepLoss(loss, loss.detach(), output="seen")


class _NanWhenJudged(torch.nn.Module):
    """A logits network whose predictions are NaN in eval mode, as when an epoch's last step left NaN weights."""

    def __init__(self, n_models: int) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))
        self.n_models = n_models

    def forward(self, x, groups, pairs=None):
        from types import SimpleNamespace

        logits = self.bias.expand(len(x), self.n_models) if pairs is None else self.bias.expand(len(pairs[0]))
        return SimpleNamespace(logits=logits if self.training else logits * float("nan"))


def test_training_that_diverges_is_a_clear_error_naming_the_epoch(parts):
    from pydantic import ValidationError

    from irtnet.errors import ConfigError

    _, train_d, val_d, _ = parts
    n_models, cfg = train_d.table.n_models, TrainConfig(epochs=2, progress=False, threads=1)
    arrays = build_arrays(train_d, train_d.table.model_vocab, None, "score")
    val = build_arrays(val_d, train_d.table.model_vocab, None, "score")
    with pytest.raises(ConfigError, match=r"^training diverged at epoch 1: the training loss is NaN; lower the "
                                          r"learning rate \(--lr\)$"):
        train(_Diverging(), arrays, None, n_models, cfg)
    with pytest.raises(ConfigError, match=r"^training diverged at epoch 1: the validation log loss is NaN; lower "
                                          r"the learning rate \(--lr\)$"):  # not AUC's ValueError on NaN
        train(_NanWhenJudged(n_models), arrays, val, n_models, cfg)
    for lr in (float("inf"), float("nan")):
        with pytest.raises(ValidationError, match="finite number"):
            TrainConfig(lr=lr)


# ---------------------------------------------------------------- the data the trainer sees: pair subsets, fractions
def test_pair_subset_keeps_the_labels_of_repeated_k_of_n_records():
    import pandas as pd

    from irtnet.data.embeddings import QueryEmbeddings
    from irtnet.data.splits import pair_subset
    from irtnet.data.table import ResponseTable
    from irtnet.data.vocab import Vocab

    # (a, q1) has three records: 3 of 4, 0 of 1, 0 of 1. The vote over records is 1 of 3 -> label 0,
    # while the summed counts 3 of 6 would say 0.5 -> label 1: rebuilding from counts alone is wrong.
    records = pd.DataFrame({
        "model": ["a", "a", "a", "b", "a", "b", "c"], "query": ["q1", "q1", "q1", "q1", "q2", "q2", "q2"],
        "n_correct": [3.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0], "n_trials": [4.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0],
        "benchmark": ["x", "x", "x", "x", "y", "y", "y"], "cost": [1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0]})
    table = ResponseTable.from_records(records, models=pd.DataFrame({"model": ["a", "b", "c"],
                                                                        "family": ["f", "g", "g"]}))
    vectors = QueryEmbeddings(Vocab("query", ["q1", "q2"]), np.eye(2, dtype=np.float32), "toy")
    data = Dataset.from_table(table, vectors)
    resp = table.responses
    first = resp.index[(resp["model"] == "a") & (resp["query"] == "q1")][0]
    assert resp.loc[first, "label"] == 0 and resp.loc[first, "score"] == 0.5 and resp.loc[first, "n_trials"] == 6

    whole = pair_subset(data, np.ones(len(resp), bool))
    cols = ["model", "query", "label", "score", "n_correct", "n_trials", "cost"]
    pd.testing.assert_frame_equal(whole.table.responses[cols].astype({"model": str, "query": str}),
                                  resp[cols].astype({"model": str, "query": str}))
    some = pair_subset(data, (resp["query"] == "q1").to_numpy() | (resp["model"] == "c").to_numpy())
    assert some.table.model_vocab.ids == ("a", "b", "c") and some.table.query_vocab.ids == ("q1", "q2")
    np.testing.assert_array_equal(some.table.label_matrix(), [[0.0, 1.0, np.nan], [np.nan, np.nan, 1.0]])
    assert some.table.models["family"].tolist() == ["f", "g", "g"]  # model metadata kept
    only_q2 = pair_subset(data, (resp["query"] == "q2").to_numpy())
    assert only_q2.queries.ids == ("q2",) and only_q2.queries.vectors.tolist() == [[0.0, 1.0]]
    assert pair_subset(data, np.zeros(len(resp), bool)) is None  # an empty selection
    with pytest.raises(DataError, match="boolean mask"):
        pair_subset(data, np.ones(3, bool))


@pytest.mark.parametrize("fractions,match", [
    ((0.8, 0.3, 0.1), "summing to 1"), ((1.2, -0.1, -0.1), "non-negative"), ((0.5, 0.5), "three numbers"),
    (("a", 0.5, 0.5), "three numbers"), ((float("nan"), 0.5, 0.5), "non-negative"), ((0.0, 0.5, 0.5), "training"),
])
def test_check_fractions_names_what_is_wrong(fractions, match):
    from irtnet.data.splits import check_fractions
    from irtnet.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        check_fractions(fractions)
    assert check_fractions([0.7, 0.2, 0.1]) == (0.7, 0.2, 0.1) and check_fractions((1, 0, 0)) == (1.0, 0.0, 0.0)

"""The training loop, one for every network in irtnet, and the small protocol between it and a model.

`train(module, data, val, n_models, config)` runs any `TrainableModule`: a module that says what one
batch costs (`batch_loss`), how it is judged on validation data (`validate`, a dict of figures of which
`TrainConfig.select_metric` picks one for early stopping) and optionally what to do after each optimizer
step (`after_step`, IrtNet's load balancing of its mixture of experts). A plain network whose forward
takes (x, groups, pairs=(q_local, model)) and returns an output with `.logits` (IrtNet's module, the
EmbedLLM and linear MIRT baselines) is wrapped in `LikelihoodTrainable`: the weighted binomial likelihood
of the labels plus the module's `auxiliary_loss(output, batch)` when it has one (IrtNet's alignment
loss), validated on log loss, AUC and accuracy, the reported training loss being the likelihood term
alone. RouterDC's contrastive objective implements the protocol itself.

Adam or AdamW with weight decay; ReduceLROnPlateau on the validation figure the module names
(`plateau_metric`; none: no scheduler steps); early stopping on a selectable validation figure with the
best weights truly copied (not a live reference to the state dict); seeds as arguments; a progress bar
with live validation figures; the history of every epoch kept. Torch's thread count and glibc's
allocation thresholds are set for the duration of training only.

Devices (`TrainConfig.device`): the module and each batch go to the device (the label arrays stay on the
CPU, batches are cut there and moved); with `amp_bf16` the forward runs under bfloat16 autocast on CUDA;
validation runs on the device; the best weights are copied to the CPU, and the module goes back to the
device it came from (the CPU for every irtnet model) holding them. Under a data-parallel process group
(`irtnet.training.distributed`) each rank trains on its slice of every global batch, gradients and the
MoE's expert load are summed over the ranks, and rank 0's validation figures decide for all.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn
from tqdm.auto import tqdm

from irtnet.config import StrictConfig
from irtnet.errors import ConfigError
from irtnet.metrics import auc, log_loss
from irtnet.models.irt import weighted_bce
from irtnet.training import distributed
from irtnet.training.batching import Batch, LabelArrays, batches, queries_per_batch
from irtnet.training.device import DeviceName, autocast, module_device, resolve_device, to_device
from irtnet.training.memory import reuse_freed_memory
from irtnet.training.threads import MAX_THREADS, torch_threads

Metric = Literal["log_loss", "auc", "accuracy", "routing"]
#: The largest seed torch's generators take (`torch.Generator.manual_seed`).
MAX_TORCH_SEED = 2**64 - 1
#: Whether a larger value of a validation figure is better (figures not listed: smaller is better).
HIGHER_IS_BETTER = {"log_loss": False, "auc": True, "accuracy": True, "routing": True}


class TrainConfig(StrictConfig):
    """Optimisation settings (the IrtNet paper's published values, except the learning rate). Strict: a bool or
    a string where a number is expected is refused (`epochs = true` is not 1 epoch; an int is a valid float)."""

    epochs: int = Field(30, ge=1)
    batch_pairs: int = Field(2048, ge=1, description="labels per batch; whole queries are kept together")
    batch_queries: int | None = Field(None, ge=1, description="queries per batch, in place of batch_pairs "
                                      "(None: as many queries as make about batch_pairs labels)")
    optimizer: Literal["adam", "adamw"] = Field("adam", description="Adam (L2 weight decay, the paper's) "
                                                "or AdamW (decoupled weight decay)")
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False,
                      description="the paper used 1e-4; 1e-3 converges in far fewer CPU epochs")
    weight_decay: float = Field(1e-4, ge=0, allow_inf_nan=False)
    plateau_factor: float = Field(0.1, gt=0, lt=1)
    plateau_patience: int = Field(2, ge=0)
    early_stopping_patience: int = Field(5, ge=1)
    select_metric: Metric = Field("log_loss", description="the validation figure that picks the best epoch")
    target: Literal["score", "label"] = "score"
    seed: int = Field(0, ge=0, le=MAX_TORCH_SEED, description="seed of the batch order and the forward's random "
                      "draws (torch takes seeds up to 2**64 - 1; the distributed reseeding, none below 0)")
    threads: int | None = Field(None, ge=1, le=MAX_THREADS, description="torch intra-op threads (None: torch's "
                                "default)")
    reuse_memory: bool = Field(False, description="keep freed heap blocks for the next step instead of "
                               "returning them to the OS (glibc; see irtnet.training.memory). Off in the library: it turns "
                               "glibc's dynamic mmap threshold off for the rest of the process; `irtnet train`, which "
                               "owns its process, turns it on")
    progress: bool = Field(False, description="progress bars and a line per epoch (the CLI turns them on)")
    device: DeviceName = Field("cpu", description="where to train: cpu, cuda (an error without a GPU) or auto "
                               "(cuda where torch sees a GPU, else cpu)")
    amp_bf16: bool = Field(False, description="bfloat16 autocast of the forward on CUDA (device cuda, or auto "
                           "where it finds a GPU; with auto on a CPU training stays in float32)")

    @model_validator(mode="after")
    def _bf16_needs_cuda(self) -> TrainConfig:
        if self.amp_bf16 and self.device == "cpu":
            raise ValueError("amp_bf16 (--bf16) is bfloat16 autocast on CUDA; it needs device cuda or auto, "
                             "not cpu")
        return self


@dataclass
class TrainResult:
    """The history (one dict per epoch), the best epoch and its validation figures."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class StepLoss:
    """What one batch costs: `objective` (differentiated), `reported` (the figure averaged into the epoch's
    training loss, detached or not) and `output` (passed to the module's `after_step`, if it has one)."""

    objective: torch.Tensor
    reported: torch.Tensor
    output: Any = None


@runtime_checkable
class TrainableModule(Protocol):
    """What `train` needs of a model, besides being an `nn.Module` (parameters, state dict, train/eval).

    - `batch_loss(batch, n_models)`: the loss of one training batch (a `StepLoss`);
    - `validate(arrays, n_models)`: validation figures ({name: value}, in eval mode); `select_metric` must
      be one of them;
    - optionally `plateau_metric`: the figure (smaller is better) that ReduceLROnPlateau steps on (absent
      or None: the learning rate stays);
    - optionally `after_step(output)`: called after every optimizer step with `StepLoss.output`.
    """

    def batch_loss(self, batch: Batch, n_models: int) -> StepLoss: ...

    def validate(self, arrays: LabelArrays, n_models: int) -> dict[str, float]: ...


def is_dense_batch(batch: Batch, n_models: int) -> bool:
    """Whether at least half of the batch's (query, model) pairs are labelled: `batch_logits` then scores all."""
    return len(batch.model) >= 0.5 * len(batch.x) * n_models


def batch_logits(module: nn.Module, batch: Batch, n_models: int):
    """Forward one batch; dense batches use one [B, M] matrix product, sparse ones the observed pairs only."""
    if is_dense_batch(batch, n_models):
        out = module(batch.x, batch.groups)
        return out.logits[batch.q_local, batch.model], out
    out = module(batch.x, batch.groups, pairs=(batch.q_local, batch.model))
    return out.logits, out


@torch.no_grad()
def predict_labels(module: nn.Module, arrays: LabelArrays, n_models: int, batch_queries: int = 1024) -> np.ndarray:
    """Probabilities of every labelled pair of `arrays`, in their stored order, in eval mode (on the module's
    device; `arrays` on the CPU)."""
    was_training, device = module.training, module_device(module)
    module.eval()
    probs = [torch.sigmoid(batch_logits(module, to_device(b, device), n_models)[0]).cpu()
             for b in batches(arrays, batch_queries)]
    module.train(was_training)
    return torch.cat(probs).numpy() if probs else np.zeros(0)


def evaluate_arrays(module: nn.Module, arrays: LabelArrays, n_models: int) -> dict[str, float]:
    """Validation figures: log loss against the training target, AUC and accuracy against 0/1 labels."""
    prob = predict_labels(module, arrays, n_models)
    label = arrays.label.numpy()
    finite = bool(np.isfinite(prob).all())  # NaN from a diverged network: no AUC; `_fit` reports the log loss
    return {"log_loss": log_loss(prob, arrays.target.numpy()), "auc": auc(prob, label) if finite else math.nan,
            "accuracy": float(np.mean((prob >= 0.5) == (label >= 0.5)))}


class LikelihoodTrainable(nn.Module):
    """A network that gives logits, trained on the weighted binomial likelihood of the labels.

    `net`'s forward takes (x, groups, pairs=(q_local, model)) and returns an output with `.logits`; the
    objective adds `net.auxiliary_loss(output, batch)` where the network has one, and `after_step` calls
    `net.balance_step(output.gate)` where it has that (IrtNet's mixture-of-experts balancing).
    """

    plateau_metric: str | None = "log_loss"

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def batch_loss(self, batch: Batch, n_models: int) -> StepLoss:
        logits, out = batch_logits(self.net, batch, n_models)
        loss = weighted_bce(logits, batch.target, batch.weight)
        extra = self.net.auxiliary_loss(out, batch) if hasattr(self.net, "auxiliary_loss") else None
        return StepLoss(loss if extra is None else loss + extra, loss.detach(), out)

    def validate(self, arrays: LabelArrays, n_models: int) -> dict[str, float]:
        return evaluate_arrays(self.net, arrays, n_models)

    def after_step(self, output: Any) -> None:
        if hasattr(self.net, "balance_step") and getattr(output, "gate", None) is not None:
            # data-parallel: the load of the whole batch, summed over the ranks, so every rank moves alike
            self.net.balance_step(replace(output.gate, load=distributed.all_reduce_sum(output.gate.load)))


def as_trainable(module: nn.Module) -> nn.Module:
    """`module` itself when it implements `TrainableModule`, else wrapped in `LikelihoodTrainable`."""
    return module if isinstance(module, TrainableModule) else LikelihoodTrainable(module)


def _is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if HIGHER_IS_BETTER.get(metric, False) else value < best


def train(module: nn.Module, data: LabelArrays, val: LabelArrays | None, n_models: int,
          config: TrainConfig) -> TrainResult:
    """Train `module` (a `TrainableModule`, or a logits network: see `as_trainable`) in place and leave it
    holding the weights of the best validation epoch.

    Without a validation set every epoch runs and the last weights are kept. Torch's thread count and
    glibc's allocation thresholds (`config.threads`, `config.reuse_memory`) are set for the duration only.
    Training or validation data without a labelled pair is a ConfigError, and so is a `select_metric` that is
    undefined on the validation data (an AUC where every validation label is the same).
    Training runs on `config.device` (a ConfigError where that is cuda and torch sees no GPU); the module is
    returned to the device it was on, holding the best weights. Inside a process group of two or more ranks
    the training is data-parallel (see `irtnet.training.distributed`).
    """
    _check_labelled(data, "training")
    if val is not None:
        _check_labelled(val, "validation")
    with torch_threads(config.threads), reuse_freed_memory(config.reuse_memory):
        return _train(as_trainable(module), data, val, n_models, config)


def _check_labelled(arrays: LabelArrays, name: str) -> None:
    """A ConfigError where `arrays` holds no labelled pair: nothing to learn from (every epoch a loss of 0) or to
    validate on (every figure undefined, once reported as a divergence)."""
    if arrays.n_labels == 0:
        hint = "" if name == "training" else ", or train without validation data"
        raise ConfigError(f"the {name} set has no labelled pairs ({arrays.n_queries} queries, no label): give it "
                          f"some labelled (model, query) pairs{hint}")


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW as `config` says; fused: the same update rule without full-size temporaries per
    parameter (3x faster epochs on CPU)."""
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


@dataclass(frozen=True)
class Placement:
    """Where the steps run: the device, bf16 autocast, and this process's slice of a data-parallel group."""

    device: torch.device = torch.device("cpu")
    bf16: bool = False
    shard: distributed.Shard | None = None


def _train(module: nn.Module, data: LabelArrays, val: LabelArrays | None, n_models: int,
           config: TrainConfig) -> TrainResult:
    device, home = resolve_device(config.device), module_device(module)
    shard = distributed.current()
    distributed.reseed(config.seed, shard)
    module.to(device)
    try:
        return _fit(module, data, val, n_models, config, Placement(device, config.amp_bf16, shard))
    finally:
        module.to(home)


def _fit(module: nn.Module, data: LabelArrays, val: LabelArrays | None, n_models: int,
         config: TrainConfig, where: Placement) -> TrainResult:
    generator = torch.Generator().manual_seed(config.seed)  # on the CPU: the same batches on every device
    optimizer = make_optimizer(module.parameters(), config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience)
    per_batch = config.batch_queries or queries_per_batch(data, config.batch_pairs)
    n_batches = math.ceil(data.n_queries / per_batch)
    progress = config.progress and (where.shard is None or where.shard.rank == 0)
    result, best_state, best_value, stale, start = TrainResult(), None, None, 0, time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        train_loss = _run_epoch(module, data, per_batch, n_models, optimizer, generator,
                                tqdm(total=n_batches, desc=f"epoch {epoch}/{config.epochs}",
                                     disable=not progress, leave=False), where)
        _check_loss(epoch, "training loss", train_loss)
        row = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
        if val is not None:
            figures = distributed.on_main(lambda: _validate(module, val, n_models, config.select_metric))
            if "log_loss" in figures:
                _check_loss(epoch, "validation log loss", figures["log_loss"])
            row.update({f"val_{k}": v for k, v in figures.items()})
            plateau = getattr(module, "plateau_metric", None)
            if plateau is not None and plateau in figures:
                scheduler.step(figures[plateau])
            value = _selected(epoch, figures, config.select_metric)
            if _is_better(config.select_metric, value, best_value):
                best_value, stale, result.best_epoch = value, 0, epoch
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
                result.best = dict(figures)
            else:
                stale += 1
        row["seconds"] = time.perf_counter() - start
        result.history.append(row)
        if progress:
            tqdm.write(_format_row(row))
        if val is not None and stale >= config.early_stopping_patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.history)
    result.seconds = time.perf_counter() - start
    module.eval()
    return result


def _check_loss(epoch: int, name: str, loss: float) -> None:
    """A ConfigError when the loss `name` of `epoch` is NaN or infinite: training diverged (a learning rate too
    high for the data), and every later epoch and prediction would be NaN."""
    if not math.isfinite(loss):
        raise ConfigError(f"training diverged at epoch {epoch}: the {name} is {'NaN' if math.isnan(loss) else loss}"
                          "; lower the learning rate (--lr)")


def _validate(module: nn.Module, val: LabelArrays, n_models: int, metric: str) -> dict[str, float]:
    figures = module.validate(val, n_models)
    if metric not in figures:
        raise ConfigError(f"select_metric {metric!r} is not a validation figure of this model; it reports "
                          f"{sorted(figures)}")
    return figures


def _selected(epoch: int, figures: dict[str, float], metric: str) -> float:
    """The validation figure `metric` of `epoch`; a ConfigError where it is undefined (NaN), which no epoch could
    beat: training would stop after `early_stopping_patience` epochs keeping the last weights, saying nothing."""
    value = figures[metric]
    if math.isnan(value):
        why = " (every validation label is the same, so no AUC exists)" if metric == "auc" else ""
        raise ConfigError(f"select_metric {metric!r} is undefined on the validation set at epoch {epoch}{why}; "
                          f"select on another figure of {sorted(k for k, v in figures.items() if not math.isnan(v))}")
    return value


def train_step(module: nn.Module, batch: Batch, n_models: int, optimizer: torch.optim.Optimizer,
               bf16: bool = False) -> torch.Tensor:
    """One optimizer step on one batch (`module`: see `as_trainable`; the batch is moved to the module's
    device, and with `bf16` the forward runs under bfloat16 autocast there if it is CUDA); returns the
    batch's reported loss (detached)."""
    return _step(as_trainable(module), batch, n_models, optimizer, Placement(module_device(module), bf16))


def _step(module: nn.Module, batch: Batch, n_models: int, optimizer: torch.optim.Optimizer,
          where: Placement) -> torch.Tensor:
    if where.shard is not None:
        return distributed.sharded_step(module, batch, n_models, optimizer, where.shard, where.device, where.bf16)
    with autocast(where.device, where.bf16):
        step = module.batch_loss(to_device(batch, where.device), n_models)
    optimizer.zero_grad(set_to_none=True)
    step.objective.backward()
    optimizer.step()
    if hasattr(module, "after_step"):
        module.after_step(step.output)
    return step.reported.detach()


def _run_epoch(module, data, per_batch, n_models, optimizer, generator, bar, where: Placement) -> float:
    module.train()
    total, weight = 0.0, 0.0
    for batch in batches(data, per_batch, generator):
        loss = _step(module, batch, n_models, optimizer, where)
        w = float(batch.weight.sum())
        total, weight = total + float(loss) * w, weight + w
        bar.update(1)
        bar.set_postfix(loss=f"{total / max(weight, 1e-12):.4f}")
    bar.close()
    return total / max(weight, 1e-12)


def _format_row(row: dict[str, float]) -> str:
    parts = [f"epoch {row['epoch']:>3}", f"train loss {row['train_loss']:.4f}"]
    parts += [f"{key.replace('_', ' ')} {value:.4f}" for key, value in row.items() if key.startswith("val_")]
    parts.append(f"lr {row['lr']:.1e}")
    parts.append(f"{row['seconds']:.1f}s")
    return " | ".join(parts)

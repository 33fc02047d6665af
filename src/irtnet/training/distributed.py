"""Data-parallel training: several processes, one model, the same steps as one process on the same batches.

Launch `irtnet train` under torchrun (one process per GPU, or per group of CPU cores):

    torchrun --standalone --nproc-per-node 4 --no-python irtnet train T.parquet -o runs/x --device cuda
    # two nodes: the same command on each, with its --node-rank
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 --rdzv-backend c10d --rdzv-id x \\
             --rdzv-endpoint HOST0:29500 --no-python irtnet train T.parquet -o runs/x --device cuda

or let irtnet start the local processes itself: `irtnet train ... --nproc 4` (`train_run(..., nproc=4)`),
which runs `spawn` below: torch.multiprocessing with a free loopback port. The backend is gloo on the CPU
and nccl on CUDA (each process on the GPU of its LOCAL_RANK). Every process loads the table and builds the
same split and the same batch order (the batch shuffle draws from a generator seeded by `TrainConfig.seed`),
so no data is scattered; what is divided is the work:

- **Batches.** Each global batch (the batch one process would train on) is cut into `world` contiguous
  slices of queries; rank r trains on slice r (`shard_batch`). A slice may be empty (a last batch with
  fewer queries than processes): that rank contributes no gradient and still joins every collective.
- **Gradients.** Rank r back-propagates its objective times w_r / w (its share of the global batch's label
  weight); the gradients are summed over ranks with one all_reduce of a flat buffer (`all_reduce_gradients`).
  For the weighted likelihood, sum_r (w_r / w) grad(sum_{r} w l / w_r) = grad(sum w l / w): exactly the
  single-process gradient, up to float summation order. A parameter that no rank gave a gradient keeps
  none, so Adam skips it as it would in one process. Objectives that are not a weighted mean over labels
  (the alignment losses, RouterDC's contrastive loss) become the weighted mean of per-slice values.
- **Load balancing.** The MoE's bias update uses the expert load summed over ranks (`all_reduce_sum`,
  called by the trainer's `after_step`): every rank moves its bias as one process moves it on the whole batch.
- **Validation and early stopping.** Rank 0 computes the validation figures and broadcasts them
  (`on_main`), so the scheduler, the best epoch and the stopping decision are the same on every rank.
- **Writing.** Only rank 0 writes the run directory (`irtnet.api.run.train_run`); the others return None.

Randomness inside the forward (dropout, input noise, benchmark-name dropout) is drawn per process: rank 0
keeps the single-process stream, ranks above 0 are reseeded from (seed, rank). With those off, a run on N
processes equals the single-process run within float rounding (tests/unit/test_ddp.py); with them on, it
is the same training with different random draws.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from irtnet.errors import ConfigError, IrtnetError
from irtnet.training.batching import Batch
from irtnet.training.device import autocast, cuda_available, resolve_device, to_device

T = TypeVar("T")
_LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Shard:
    """This process's place in a data-parallel group: rank in [0, world)."""

    rank: int
    world: int


def current() -> Shard | None:
    """The running process group as a Shard, or None outside one (or in a group of one)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return Shard(dist.get_rank(), dist.get_world_size())


def launched() -> bool:
    """Whether a launcher (torchrun, `spawn`) described a group of two or more processes in the environment."""
    return all(v in os.environ for v in _LAUNCH_VARS) and int(os.environ["WORLD_SIZE"]) > 1


def env_rank() -> int:
    """This process's global rank as the launcher set it (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


@contextmanager
def process_group(device: str = "cpu") -> Iterator[Shard | None]:
    """Join the process group the launcher described (env://): gloo on the CPU, nccl on CUDA with this process
    on the GPU of its LOCAL_RANK. Yields the Shard, or None without a launch; a group already initialised
    is used as it is and left open."""
    if current() is not None or not launched():
        yield current()
        return
    if device != "cpu" and cuda_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    backend = "nccl" if resolve_device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend)
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def reseed(seed: int, shard: Shard | None) -> None:
    """Give ranks above 0 their own stream for the forward's random draws (rank 0 keeps the caller's)."""
    if shard is not None and shard.rank > 0:
        torch.manual_seed(int(np.random.SeedSequence([seed, shard.rank]).generate_state(1)[0]))


# ---------------------------------------------------------------------------------------------- one step
def shard_bounds(n: int, shard: Shard) -> tuple[int, int]:
    """Queries [lo, hi) of a global batch of n that rank `shard.rank` trains on (sizes differ by one at most)."""
    return n * shard.rank // shard.world, n * (shard.rank + 1) // shard.world


def shard_batch(batch: Batch, shard: Shard) -> Batch:
    """Rank `shard.rank`'s queries of `batch` with their labels (batch.q_local is sorted: rows are contiguous)."""
    lo, hi = shard_bounds(len(batch.x), shard)
    a, b = np.searchsorted(batch.q_local.numpy(), [lo, hi])

    def rows(t: torch.Tensor | None, start: int, stop: int) -> torch.Tensor | None:
        return None if t is None else t[start:stop]

    return Batch(x=batch.x[lo:hi], groups=rows(batch.groups, lo, hi), q_local=batch.q_local[a:b] - lo,
                 model=batch.model[a:b], target=batch.target[a:b], weight=batch.weight[a:b],
                 label=batch.label[a:b], cluster=rows(batch.cluster, lo, hi))


def sharded_step(module: nn.Module, batch: Batch, n_models: int, optimizer: torch.optim.Optimizer,
                 shard: Shard, device: torch.device, bf16: bool = False) -> torch.Tensor:
    """One optimizer step of the global `batch` (on CPU), this rank training on its slice; returns the global
    batch's reported loss (the weighted mean of the ranks' reported losses), the same on every rank."""
    part = shard_batch(batch, shard)
    total = float(batch.weight.sum())
    share = float(part.weight.sum()) / total if total > 0 else 0.0
    optimizer.zero_grad(set_to_none=True)
    output, reported = None, torch.zeros((), device=device)
    if len(part.x):
        with autocast(device, bf16):
            step = module.batch_loss(to_device(part, device), n_models)
        (step.objective * share).backward()
        output, reported = step.output, step.reported.detach().float() * share
    elif hasattr(module, "after_step"):  # nothing to learn from, but the balancing collective needs an output
        with torch.no_grad(), autocast(device, bf16):
            output = module.batch_loss(to_device(part, device), n_models).output
    reported = all_reduce_gradients(list(module.parameters()), reported)
    optimizer.step()
    if hasattr(module, "after_step"):
        module.after_step(output)
    return reported


def all_reduce_gradients(params: Sequence[nn.Parameter], reported: torch.Tensor) -> torch.Tensor:
    """Sum every parameter's gradient over the ranks (one all_reduce of a flat buffer that also carries
    `reported`, a scalar, and which parameters have a gradient on some rank); returns the summed scalar."""
    has = [p.grad is not None for p in params]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    head = torch.tensor([0.0, *has], dtype=torch.float32, device=reported.device)
    head[0] = reported
    flat = torch.cat([head, *(g.reshape(-1).float() for g in grads)])
    dist.all_reduce(flat)
    flags = flat[1:1 + len(params)].tolist()
    offset = 1 + len(params)
    for p, flag in zip(params, flags):
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype) if flag > 0 else None
        offset += n
    return flat[0]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` summed over the ranks (a new tensor); `tensor` itself outside a process group."""
    if current() is None:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total


def on_main(fn: Callable[[], T]) -> T:
    """`fn()` computed on rank 0 and broadcast to every rank (an exception there is raised on every rank);
    simply `fn()` outside a process group."""
    shard = current()
    if shard is None:
        return fn()
    box: list[Any] = [None]
    if shard.rank == 0:
        try:
            box = [("ok", fn())]
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            box = [("error", exc)]
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


# ----------------------------------------------------------------------------------------------- launching
def free_port() -> int:
    """A TCP port free on the loopback interface now (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn: Callable[..., Any], nproc: int, args: tuple = (), device: str = "cpu") -> None:
    """Run `fn(*args)` in `nproc` local processes forming one group (RANK, LOCAL_RANK, WORLD_SIZE,
    MASTER_ADDR/PORT set in each; `fn` must be importable: a module-level function). Returns when all have
    finished; a failure in any is raised here as an IrtnetError with its last line."""
    import torch.multiprocessing as mp

    check_nproc(nproc, device)
    try:
        mp.spawn(_worker, args=(nproc, free_port(), fn, args), nprocs=nproc, join=True)
    except mp.ProcessRaisedException as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise IrtnetError(f"a training process failed: {lines[-1] if lines else exc}") from None
    except mp.ProcessExitedException as exc:
        raise IrtnetError(f"a training process died: {exc}") from None


def check_nproc(nproc: int, device: str) -> None:
    """`--nproc` (`train_run`'s `nproc`): a whole number of processes, at least 1 (checked for one process too:
    0 or 1.5 is no number of processes, never read as one); above 1, against the launch and the device
    (ConfigError). Under torchrun, 1 (the default) passes: every launched process trains in itself."""
    if isinstance(nproc, (bool, np.bool_)) or not isinstance(nproc, (int, np.integer)) or nproc < 1:
        raise ConfigError(f"--nproc must be at least 1 (nproc: a whole number of processes), got {nproc!r}")
    if nproc == 1:
        return
    if launched():
        raise ConfigError("--nproc starts its own processes; under torchrun (RANK/WORLD_SIZE set) leave it out")
    if resolve_device(device).type == "cuda" and nproc > torch.cuda.device_count():
        raise ConfigError(f"--nproc {nproc} on CUDA needs {nproc} GPUs; torch sees {torch.cuda.device_count()}")


def _worker(local_rank: int, nproc: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(nproc),
                      LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if "OMP_NUM_THREADS" not in os.environ:  # as torchrun: the processes share the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    fn(*args)

"""Where training and prediction run: the device names irtnet accepts and the few moves between devices.

- `resolve_device("auto" | "cpu" | "cuda")`: "auto" is CUDA where torch sees a GPU and the CPU otherwise;
  "cuda" on a machine without one is a `ConfigError` (never a silent fall back). Under a distributed launch
  the CUDA device is the one `torch.cuda.set_device` chose for the process (its LOCAL_RANK).
- `to_device(batch, device)`: a batch with every tensor on `device` (the same objects on the CPU, so the CPU
  path copies nothing).
- `autocast(device, bf16)`: bfloat16 autocast on CUDA when asked, a no-op everywhere else.

Nothing here needs a GPU: on a CPU-only build every function works and "cuda" is refused with a clear message.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Literal

import torch
from torch import nn

from irtnet.errors import ConfigError
from irtnet.training.batching import Batch

DeviceName = Literal["auto", "cpu", "cuda"]
DEVICE_NAMES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    """Whether torch can use a CUDA GPU here (False on a CPU-only build)."""
    return torch.cuda.is_available()


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device for `name`: "cpu", "cuda" (or "cuda:N") or "auto" (CUDA when available, else CPU)."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise ConfigError(f"device must be a name (auto, cpu, cuda or cuda:N), got {type(name).__name__} {name!r}")
    kind, _, index = name.partition(":")
    if kind not in DEVICE_NAMES or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"unknown device {name!r}: use auto, cpu or cuda")
    if kind == "cpu" or (kind == "auto" and not cuda_available()):
        return torch.device("cpu")
    if not cuda_available():
        build = torch.version.cuda
        raise ConfigError(f"CUDA is not available (torch {torch.__version__} "
                          f"{'built for CUDA ' + build + ', but no GPU is visible' if build else 'is a CPU-only build'}); "
                          "use --device cpu, or --device auto to fall back to the CPU")
    # unindexed: the process's current GPU (its LOCAL_RANK's under a distributed launch), and no CUDA context
    # is created here, before `torch.cuda.set_device` has chosen it
    return torch.device("cuda", _gpu_index(name, int(index))) if index else torch.device("cuda")


def _gpu_index(name: str, index: int) -> int:
    """`index` where torch sees more GPUs than that (or cannot count them); otherwise a ConfigError naming them,
    not CUDA's "invalid device ordinal" at the first tensor moved there."""
    count = torch.cuda.device_count()
    if 0 < count <= index:
        raise ConfigError(f"device {name!r}: torch sees {count} GPU{'s' if count != 1 else ''} (cuda:0 to "
                          f"cuda:{count - 1}); use one of them, or cuda for the current one")
    return index


def module_device(module: nn.Module) -> torch.device:
    """The device of `module`'s first parameter (or buffer); the CPU for a module without either."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def to_device(batch: Batch, device: torch.device) -> Batch:
    """`batch` with every tensor on `device` (`batch` itself where they all are there already)."""
    if device.type == "cpu" and batch.x.device.type == "cpu":
        return batch
    moved = {f.name: _move(getattr(batch, f.name), device) for f in dataclasses.fields(batch)}
    return Batch(**moved)


def _move(value: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if value is None else value.to(device, non_blocking=True)


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the block on a CUDA device when `bf16`; otherwise nothing changes."""
    if bf16 and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

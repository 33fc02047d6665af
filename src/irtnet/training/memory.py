"""Reuse freed heap memory while training, instead of handing it back to the OS after every step.

Each optimizer step frees and allocates again the same large buffers: the weight gradients (with
`zero_grad(set_to_none=True)`) and the activations, tens of MB at the paper's size. glibc serves blocks
above its mmap threshold with a fresh `mmap` and unmaps them on `free`, or trims the top of the heap, so
every step page-faults those buffers in again: 2,500-4,000 page faults per step, about a sixth of a step
at the paper's size (`bench/train_speed.py`). `reuse_freed_memory()` raises glibc's mmap threshold (to its
32 MiB maximum) and trim threshold for the duration of a block, so freed blocks stay in the heap and are
reused; on exit it sets glibc's default thresholds (128 KiB) back and trims the heap.

Elsewhere than glibc (macOS, musl) it does nothing. The thresholds are process-wide, like torch's thread
count, which the trainer also sets for the duration of training and restores.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_DEFAULT = 128 * 1024
_MMAP_MAX = 32 * 1024 * 1024  # glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 on 64-bit systems
_TRIM = 1 << 30


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name or "libc.so.6")
        lib.mallopt.argtypes, lib.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        lib.malloc_trim.argtypes, lib.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return lib


def set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """glibc's mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD); False where unavailable or refused."""
    lib = _glibc()
    if lib is None:
        return False
    mmap_ok = bool(lib.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
    return mmap_ok and bool(lib.mallopt(_M_TRIM_THRESHOLD, trim_threshold))


_depth = 0  # nesting of active blocks: only the outermost one sets and restores the thresholds


@contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Keep freed blocks of up to 32 MiB in the heap inside the block; yields whether that took effect.

    Blocks nest: an inner block (a `train()` call inside a benchmark's own block, say) leaves the
    thresholds to the outermost one.
    """
    global _depth
    active = enabled and (_depth > 0 or set_thresholds(_MMAP_MAX, _TRIM))
    _depth += active
    try:
        yield active
    finally:
        if active:
            _depth -= 1
            if _depth == 0:
                set_thresholds(_GLIBC_DEFAULT, _GLIBC_DEFAULT)
                _glibc().malloc_trim(0)

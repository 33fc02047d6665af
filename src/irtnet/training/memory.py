"""Reuse freed heap memory while training, instead of handing it back to the OS after every step.

Each optimizer step frees and allocates again the same large buffers: the weight gradients (with
`zero_grad(set_to_none=True)`) and the activations, tens of MB at the paper's size. glibc serves blocks
above its mmap threshold with a fresh `mmap` and unmaps them on `free`, or trims the top of the heap, so
every step page-faults those buffers in again: 2,500-4,000 page faults per step, about a sixth of a step
at the paper's size (`bench/train_speed.py`). `reuse_freed_memory()` raises glibc's mmap threshold (to its
32 MiB maximum) and trim threshold for the duration of a block, so freed blocks stay in the heap and are
reused; on exit from the outermost block it puts back the mmap threshold it found on entry, sets the trim
threshold beside it and trims the heap.

Restoring. glibc has no getter for its thresholds, so the mmap threshold in force is measured on entry
(`probe_mmap_threshold`): malloc(n), read the chunk's size word just below the pointer, whose IS_MMAPPED
bit says whether glibc mapped the block, free it; a binary search over n from 4 KiB to 64 MiB finds the
smallest mapped size, exact to glibc's 16-byte chunk granularity. Where the probe cannot tell, glibc's
documented default (128 KiB) is put back. The trim threshold cannot be measured: on exit it is glibc's
default 128 KiB where the probe found the default mmap threshold, and otherwise twice the probed mmap
threshold, which is what glibc's dynamic rule holds once it has raised the mmap threshold. A trim threshold
that someone else set (mallopt, MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES) is therefore not restored: it, too,
becomes the default or twice the mmap threshold.

Opt-in for library code. Until a process first calls mallopt for these thresholds, glibc adjusts the mmap
threshold itself (raising it to the size of each larger mapped block freed, up to 32 MiB, with the trim
threshold at twice that); the first call turns that dynamic adjustment off for the rest of the process,
and glibc offers no way to turn it back on. So even though the values are put back, a process that once
entered a block keeps fixed thresholds. That is a program's decision, not a library's: heap reuse belongs
to callers that own their process (the `irtnet` command line, the scripts in `bench/`), and library code
should leave it off unless its caller asks for it.

Elsewhere than glibc (macOS, musl) it does nothing. The thresholds are process-wide, like torch's thread
count, which the trainer also sets for the duration of training and restores.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_DEFAULT = 128 * 1024  # glibc's documented default of both thresholds (DEFAULT_MMAP_THRESHOLD_MIN)
_MMAP_MAX = 32 * 1024 * 1024  # glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 on 64-bit systems
_TRIM = 1 << 30

_SIZE_SZ = ctypes.sizeof(ctypes.c_size_t)  # glibc's chunk header word
_UNIT = 2 * _SIZE_SZ  # glibc's chunk granularity (MALLOC_ALIGNMENT) on 64-bit systems
_IS_MMAPPED = 0x2  # flag bit in the chunk's size word
_PROBE_MIN, _PROBE_MAX = 4 * 1024, 64 * 1024 * 1024
_MAX_HELD = 4096  # blocks one probe may hold while it uses up free heap space (see _served_by_mmap)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


class _MallInfo(ctypes.Structure):  # glibc < 2.33: the same fields as int
    _fields_ = [(name, ctypes.c_int) for name, _ in _MallInfo2._fields_]


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name or "libc.so.6")
        lib.mallopt.argtypes, lib.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        lib.malloc_trim.argtypes, lib.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        lib.malloc.argtypes, lib.malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
        lib.realloc.argtypes, lib.realloc.restype = [ctypes.c_void_p, ctypes.c_size_t], ctypes.c_void_p
        lib.free.argtypes, lib.free.restype = [ctypes.c_void_p], None
    except (OSError, AttributeError):
        return None
    return lib


@cache
def _heap_bytes() -> Callable[[], int] | None:
    """glibc's mallinfo2().arena (mallinfo() before 2.33): bytes the heaps hold from the system."""
    lib = _glibc()
    for name, struct in (("mallinfo2", _MallInfo2), ("mallinfo", _MallInfo)):
        fn = getattr(lib, name, None) if lib is not None else None
        if fn is not None:
            fn.argtypes, fn.restype = [], struct
            return lambda fn=fn: int(fn().arena)
    return None


def set_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """glibc's mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD); False where unavailable or refused."""
    lib = _glibc()
    if lib is None:
        return False
    mmap_ok = bool(lib.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
    return mmap_ok and bool(lib.mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def _served_by_mmap(lib: ctypes.CDLL, heap_bytes: Callable[[], int], n: int) -> bool | None:
    """Whether glibc serves malloc(n) with a mapping of its own (n at or above the mmap threshold).

    A block of any size is carved from free heap space where some is large enough, whatever the
    threshold; glibc consults the threshold only when the heap has no room. So the blocks the heap serves
    are held until one is mapped (True) or the heap had to grow for one (False: glibc chose to grow the
    heap rather than map). None: no answer within _MAX_HELD blocks, or malloc failed.
    """
    held = []
    try:
        for _ in range(_MAX_HELD):
            before = heap_bytes()
            ptr = lib.malloc(n)
            if not ptr:
                return None
            if ctypes.c_size_t.from_address(ptr - _SIZE_SZ).value & _IS_MMAPPED:
                # free() of a mapped block larger than the threshold raises glibc's dynamic threshold to
                # its size; realloc first shrinks the mapping to one page (mremap), which raises nothing
                lib.free(lib.realloc(ptr, 1) or ptr)
                return True
            held.append(ptr)
            if heap_bytes() != before:
                return False
        return None
    finally:
        for ptr in held:
            lib.free(ptr)


def probe_mmap_threshold() -> int | None:
    """The mmap threshold glibc has in force, measured (see the module docstring); None where not glibc
    or where the probe cannot tell (a threshold outside 4 KiB-64 MiB, mmap disabled, a malloc failing).

    The value is the smallest chunk size glibc maps (request plus header, in 16-byte steps), which
    mallopt(M_MMAP_THRESHOLD, value) reproduces exactly. Each probe block is freed at once. Another thread
    allocating meanwhile can mislead it (it reads the heaps' size); the trainer probes before its first
    step, when torch's worker threads are idle.
    """
    lib, heap_bytes = _glibc(), _heap_bytes()
    if lib is None or heap_bytes is None:
        return None

    def mapped(units: int) -> bool | None:  # a request whose chunk is exactly `units` * _UNIT bytes
        return _served_by_mmap(lib, heap_bytes, units * _UNIT - _SIZE_SZ)

    lo, hi = _PROBE_MIN // _UNIT, _PROBE_MAX // _UNIT  # once checked: lo is heap-served, hi mapped
    if mapped(hi) is not True:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        verdict = mapped(mid)
        if verdict is None:
            return None
        lo, hi = (lo, mid) if verdict else (mid, hi)
    if lo == _PROBE_MIN // _UNIT and mapped(lo) is not False:  # checked last: it may be slow to answer
        return None
    return hi * _UNIT


def _restore(found: int | None) -> None:
    """Put back the mmap threshold `found` on entry (glibc's default where the probe could not tell),
    the trim threshold beside it (see the module docstring), and trim the heap."""
    mmap_threshold = found or _GLIBC_DEFAULT
    set_thresholds(mmap_threshold, _GLIBC_DEFAULT if mmap_threshold == _GLIBC_DEFAULT else 2 * mmap_threshold)
    _glibc().malloc_trim(0)


_depth = 0  # nesting of active blocks: only the outermost one sets and restores the thresholds
_found: int | None = None  # the mmap threshold probed on entry to the outermost block


@contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Keep freed blocks of up to 32 MiB in the heap inside the block; yields whether that took effect.

    Blocks nest: an inner block (a `train()` call inside a benchmark's own block, say) leaves the
    thresholds to the outermost one, which probes the mmap threshold on entry and puts it back on exit.
    Entering turns glibc's dynamic threshold off for the rest of the process (see the module docstring),
    so library code should pass `enabled=False` unless its caller owns the process and asked for it.
    """
    global _depth, _found
    if not enabled:
        active = False
    elif _depth > 0:
        active = True
    else:
        found = probe_mmap_threshold()
        active = set_thresholds(_MMAP_MAX, _TRIM)
        _found = found
    _depth += active
    try:
        yield active
    finally:
        if active:
            _depth -= 1
            if _depth == 0:
                _restore(_found)

"""glibc's thresholds around `reuse_freed_memory`: probed on entry, put back on exit (irtnet.training.memory).

The glibc checks run in a fresh interpreter each: mallopt changes the whole process for good (it turns
glibc's dynamic threshold off), which the rest of the test session should not inherit. The heap-reuse
effect itself (page faults per step) is tested in test_training.py.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from irtnet.training import memory

_PRELUDE = """
import ctypes, json, sys
from irtnet.training import memory as M
lib = M._glibc()
if lib is None:
    print(json.dumps(None)); sys.exit()
def mallopt_mmap(value):
    assert lib.mallopt(-3, value) == 1
"""


def _glibc_script(body: str):
    """Run `body` after _PRELUDE in a fresh interpreter; its JSON output, or a skip where not glibc."""
    out = subprocess.run([sys.executable, "-c", _PRELUDE + body], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result is None:
        pytest.skip("not glibc")
    return result


def test_probe_reads_the_mmap_threshold_that_mallopt_set():
    values = [256 * 1024, 1 << 20, 300_000, 8192, 32 << 20]
    got = _glibc_script(f"""
out = []
for value in {values}:
    mallopt_mmap(value)
    out.append(M.probe_mmap_threshold())
print(json.dumps(out))
""")
    # exact: glibc compares chunk sizes, in 16-byte steps, with the threshold; these are multiples of 16
    assert got == values


def test_probe_follows_glibcs_dynamic_threshold_and_leaves_it_alone():
    first, again, raised, raised_again = _glibc_script("""
first, again = M.probe_mmap_threshold(), M.probe_mmap_threshold()
ptr = lib.malloc(3 << 20)
lib.free(ptr)  # glibc raises its dynamic threshold to this mapped chunk's size (3 MiB and a page)
print(json.dumps([first, again, M.probe_mmap_threshold(), M.probe_mmap_threshold()]))
""")
    # the probe maps blocks of up to 64 MiB and frees them, yet leaves the dynamic threshold where it was
    assert first == again and 128 * 1024 <= first < 3 << 20
    assert raised == raised_again == (3 << 20) + resource.getpagesize()


@pytest.mark.parametrize("value", [256 * 1024, 1 << 20])
def test_block_puts_back_the_mmap_threshold_it_found_and_only_at_the_outermost_exit(value):
    got = _glibc_script(f"""
mallopt_mmap({value})
with M.reuse_freed_memory() as outer:
    with M.reuse_freed_memory() as inner:
        during = M.probe_mmap_threshold()
    after_inner = M.probe_mmap_threshold()
print(json.dumps([outer, inner, during, after_inner, M.probe_mmap_threshold()]))
""")
    assert got == [True, True, memory._MMAP_MAX, memory._MMAP_MAX, value]


def test_trim_threshold_after_the_block_is_twice_the_mmap_threshold_found():
    """Freed heap space at the top is handed back once it exceeds the trim threshold: with 1 MiB found,
    1.5 MiB of it stays (not glibc's 128 KiB default, as the old fixed restore set) and 2.5 MiB goes (not
    the block's 1 GiB)."""
    kept, returned = _glibc_script("""
mallopt_mmap(1 << 20)
with M.reuse_freed_memory():
    pass
lib.sbrk.argtypes, lib.sbrk.restype = [ctypes.c_ssize_t], ctypes.c_void_p
blocks = [lib.malloc(1 << 19) for _ in range(5)]  # half the mmap threshold: heap blocks, at the top
assert not any(ctypes.c_size_t.from_address(p - M._SIZE_SZ).value & 2 for p in blocks)
top = lib.sbrk(0)
for p in blocks[:1:-1]:
    lib.free(p)
kept = top - lib.sbrk(0)
for p in blocks[1::-1]:
    lib.free(p)
print(json.dumps([kept, top - lib.sbrk(0)]))
""")
    assert kept == 0 and returned >= 2 << 20


def test_block_is_inert_where_not_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.probe_mmap_threshold() is None and not memory.set_thresholds(1 << 20, 1 << 20)
    with memory.reuse_freed_memory() as active, memory.reuse_freed_memory() as inner:
        assert not active and not inner and memory._depth == 0
    assert memory._depth == 0


def test_disabled_block_neither_probes_nor_sets(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "probe_mmap_threshold", lambda: calls.append("probe"))
    monkeypatch.setattr(memory, "set_thresholds", lambda *a: calls.append("set"))
    with memory.reuse_freed_memory(enabled=False) as active:
        assert not active
    assert calls == [] and memory._depth == 0

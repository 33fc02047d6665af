"""The shard folder behind `EmbeddingCache`: an in-memory index, a write buffer, a bounded LRU, compaction.

A folder holds safetensors shards, each with `keys` (the 64-hex-digit sha256 of every text, concatenated)
and `vectors` ([rows, dim] float32). One `_ShardIndex` per folder and process:

- Opened at its first use: every shard's key list is read (not its vectors) into `key -> (shard, row)`.
- A lookup answers from the LRU of recent vectors, the write buffer or the index; only a key found in none
  of them makes it list the folder again (shards of other processes), and only if the folder changed.
  Vectors of a small shard are read whole, of a large one row by row; a lookup of a few keys keeps their
  vectors in the LRU (`lru_size` at most), so memory stays flat however many lookups a service makes.
- `put(..., buffered=True)` keeps new vectors in memory and writes them as one shard every `flush_rows`
  vectors, `flush_after_s` seconds after the first, at `flush`/`close`, or at interpreter exit (not when
  killed by a signal: what was buffered is re-encoded next time). A plain `put` writes its shard at once
  (an interrupted batch job keeps every chunk). Every write is atomic.
- More than `compact_above` small shards (when opened, or after a flush) are merged in a background thread
  (`compact`, guarded across processes by a `.compact.lock` file); lookups go on meanwhile.
- A corrupt shard is logged in one line, renamed to `<name>.corrupt` and its texts are re-encoded; a shard
  that vanished (another process merged the folder) makes the index read the folder's keys again.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from irtnet._io import atomic_path, clear_stale_temps

_log = logging.getLogger("irtnet.data.embeddings")  # what users (and tests) listen to for cache warnings
T = TypeVar("T")
LRU_SIZE = 4096           # recent vectors kept in memory (all-MiniLM-L6-v2: 1.5 KiB each)
FLUSH_ROWS = 256          # buffered vectors per shard
FLUSH_AFTER_S = 30.0      # the longest a buffered vector waits for its shard
COMPACT_ABOVE = 256       # small shards in a folder before they are merged (in the background)
SMALL_SHARD_ROWS = 2048   # shards below this many rows are merged by `compact`, and read whole
MERGED_ROWS = 65536       # rows per merged shard at most
_ROW = 1 << 32            # a location is shard number * _ROW + row


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:200] if text else "") or type(exc).__name__


class _ShardIndex:
    """One cache folder in this process: key -> (shard, row), write buffer, LRU of recent vectors."""

    def __init__(self, folder: Path, lru_size: int = LRU_SIZE, flush_rows: int = FLUSH_ROWS,
                 flush_after_s: float = FLUSH_AFTER_S, compact_above: int = COMPACT_ABOVE) -> None:
        self.dir = folder
        self.lru_size, self.flush_rows, self.flush_after_s = lru_size, flush_rows, flush_after_s
        self.compact_above = compact_above
        self.where: dict[str, int] = {}
        self.shards: list[str | None] = []   # shard number -> file name (None: merged away or bad)
        self.sizes: list[int] = []           # shard number -> rows
        self.numbers: dict[str, int] = {}    # file name -> shard number
        self.seen: set[str] = set()          # shard names already indexed, or rejected
        self.recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self.pending: dict[str, np.ndarray] = {}
        self.opened = False
        self.listed: tuple[int, float] | None = None  # (folder mtime_ns, when listed) of the last listing
        self.lock = threading.RLock()
        self.flush_lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.compacting: threading.Thread | None = None
        _track(self)

    # ------------------------------------------------------------------ lookups
    def get(self, keys: Sequence[str], dim: int | None = None) -> dict[str, np.ndarray]:
        """{key: vector} of the keys held. `dim`: the encoder's width; a shard of another width (copied from
        another encoder's folder, or written by a different model under this name) is corrupt: set aside."""
        with self.lock:
            self._open()
            out, missing = {}, []
            for key in keys:
                vector = self._recalled(key, dim)
                if vector is None:
                    missing.append(key)
                else:
                    out[key] = vector
            if missing:
                if any(key not in self.where for key in missing):
                    self._refresh()
                found = self._from_shards(missing, dim)
                out.update(found)
                if len(found) <= self.lru_size // 4:  # a batch job's bulk lookups would only churn the LRU
                    for key, vector in found.items():
                        self._remember(key, vector)
            return out

    def missing(self, keys: Sequence[str]) -> list[str]:
        """The keys neither in a shard (as far as the index knows) nor buffered; reads no vector."""
        with self.lock:
            self._open()
            out = [key for key in keys if key not in self.where and key not in self.pending]
            if out:
                self._refresh()
                out = [key for key in out if key not in self.where]
            return out

    def _recalled(self, key: str, dim: int | None = None) -> np.ndarray | None:
        """The key's vector held in memory, of width `dim` (None: any); one of another width is dropped."""
        fits = lambda v: v is not None and (dim is None or v.shape[-1] == dim)  # noqa: E731
        vector = self.recent.get(key)
        if fits(vector):
            self.recent.move_to_end(key)
            return vector
        self.recent.pop(key, None)
        vector = self.pending.get(key)
        return vector if fits(vector) else None

    def _remember(self, key: str, vector: np.ndarray) -> None:
        self.recent[key] = np.array(vector, dtype=np.float32)  # a copy: never pins a whole shard in memory
        self.recent.move_to_end(key)
        while len(self.recent) > self.lru_size:
            self.recent.popitem(last=False)

    def _from_shards(self, keys: Sequence[str], dim: int | None = None, retry: bool = True) -> dict[str, np.ndarray]:
        by_shard: dict[int, list[tuple[str, int]]] = {}
        for key in keys:
            loc = self.where.get(key)
            if loc is not None:
                by_shard.setdefault(loc // _ROW, []).append((key, loc % _ROW))
        out, vanished = {}, False
        for number, items in by_shard.items():
            rows = self._rows(number, [row for _, row in items], dim)
            if rows is None:  # bad or gone: its texts get re-encoded, or found in the shard that replaced it
                vanished |= self._forget(number)
            else:
                out.update((key, rows[i]) for i, (key, _) in enumerate(items))
        if vanished and retry:
            self._reindex()
            out.update(self._from_shards([k for k in keys if k not in out], dim, retry=False))
        return out

    def _rows(self, number: int, rows: list[int], dim: int | None = None) -> np.ndarray | None:
        """Vectors [len(rows), dim] of shard `number`: a small shard read whole, a large one row by row."""
        if self.shards[number] is None:
            return None
        path = self.dir / str(self.shards[number])
        if self.sizes[number] <= SMALL_SHARD_ROWS or 8 * len(rows) >= self.sizes[number]:
            vectors = self._checked(path, lambda p: self._read_vectors(p, dim))
            return None if vectors is None else vectors[rows]
        return self._checked(path, lambda p: self._read_rows(p, rows, dim))

    def _forget(self, number: int) -> bool:
        """Drop shard `number` from the index; True when its file is gone (rather than set aside)."""
        name = self.shards[number]
        self.shards[number] = None
        self.where = {k: loc for k, loc in self.where.items() if loc // _ROW != number}
        return name is not None and not (self.dir / name).exists() and \
            not (self.dir / (name + ".corrupt")).exists()

    # ------------------------------------------------------------------ the folder
    def _open(self, compact: bool = True) -> None:
        """Sweep stale temporaries, index every shard's keys; merge small shards in the background."""
        if self.opened:
            return
        self.opened = True
        if self.dir.is_dir():  # temporary files of writers killed long ago (see `clear_stale_temps`)
            clear_stale_temps(self.dir)
        self._refresh()
        if compact:
            self._compact_soon()

    def _refresh(self) -> None:
        """Index shards not seen yet (another process may have added some), if the folder changed."""
        try:
            mtime = self.dir.stat().st_mtime_ns
        except FileNotFoundError:
            return
        now = time.time()
        if self.listed and self.listed[0] == mtime and self.listed[1] > mtime / 1e9 + 1.0:
            return  # unchanged since a listing made well after its last change (timestamps are coarse)
        self.listed = (mtime, now)
        with os.scandir(self.dir) as entries:
            names = sorted(e.name for e in entries if e.name.startswith("shard-") and e.name.endswith(".safetensors"))
        for name in names:
            if name not in self.seen:
                self.seen.add(name)
                keys = self._checked(self.dir / name, self._read_keys)
                if keys:
                    self._add_shard(name, keys, overwrite=False)

    def _reindex(self) -> None:
        """Read every shard's keys again (after a shard vanished: another process merged the folder)."""
        self.where, self.shards, self.sizes, self.numbers, self.seen, self.listed = {}, [], [], {}, set(), None
        self._refresh()

    def _add_shard(self, name: str, keys: Sequence[str], overwrite: bool) -> int:
        """Index shard `name`, once: a listing may have indexed a shard this process was still adding (and
        a merge may have replaced it since), so a name already known keeps its number and its keys' places."""
        if name in self.numbers:
            return self.numbers[name]
        number = self.numbers[name] = len(self.shards)
        self.shards.append(name)
        self.sizes.append(len(keys))
        self.seen.add(name)
        for row, key in enumerate(keys):
            if overwrite:
                self.where[key] = number * _ROW + row
            else:
                self.where.setdefault(key, number * _ROW + row)
        return number

    # ------------------------------------------------------------------ writes
    def put(self, keys: Sequence[str], vectors: np.ndarray, buffered: bool = False) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not buffered:
            name = write_shard(self.dir, keys, vectors)
            with self.lock:
                self._add_shard(name, keys, overwrite=True)
                if len(keys) <= self.lru_size // 4:
                    for key, vector in zip(keys, vectors):
                        self._remember(key, vector)
            return
        with self.lock:
            self.pending.update((key, np.array(v)) for key, v in zip(keys, vectors))
            full = len(self.pending) >= self.flush_rows
            if not full and self.timer is None and self.pending:
                self.timer = threading.Timer(self.flush_after_s, self._flush_quietly)
                self.timer.daemon = True
                self.timer.start()
        if full:
            self.flush()

    def flush(self) -> None:
        """Write the buffered vectors as one shard (atomically); lookups keep answering from the buffer."""
        with self.flush_lock:
            with self.lock:
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                batch = dict(self.pending)
            if not batch:
                return
            try:
                name = write_shard(self.dir, list(batch), np.stack(list(batch.values())))
            except OSError as exc:  # a full or read-only cache: keep serving, drop the buffer (memory stays flat)
                _log.warning("embedding cache: cannot write a shard in %s (%s); %d vectors stay unsaved",
                             self.dir, first_line(exc), len(batch))
                name = None
            with self.lock:
                if name is not None:
                    self._add_shard(name, list(batch), overwrite=True)
                for key, vector in batch.items():
                    self.pending.pop(key, None)
                    self._remember(key, vector)
                self._compact_soon()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # a timer thread: an exception would only be printed
            _log.warning("embedding cache: flushing %s failed (%s)", self.dir, first_line(exc))

    def close(self) -> None:
        self.flush()

    # ------------------------------------------------------------------ compaction
    def _small(self) -> dict[int, str]:
        return {n: name for n, name in enumerate(self.shards) if name is not None and self.sizes[n] < SMALL_SHARD_ROWS}

    def _compact_soon(self) -> None:
        """With more than `compact_above` small shards, merge them in a background thread (lookups go on)."""
        if (self.compacting is None or not self.compacting.is_alive()) and len(self._small()) > self.compact_above:
            self.compacting = threading.Thread(target=self._compact_quietly, name="irtnet-cache-compact", daemon=True)
            self.compacting.start()

    def _compact_quietly(self) -> None:
        try:
            self.compact()
        except Exception as exc:  # a background thread: say it, the cache keeps working unmerged
            _log.warning("embedding cache: merging the shards of %s failed (%s)", self.dir, first_line(exc))

    def compact(self) -> int:
        """Merge the shards with fewer than SMALL_SHARD_ROWS rows into shards of up to MERGED_ROWS rows; the
        number of shards merged away. Every row of a shard is merged (read from its file, not from this
        index, which may be behind another process's merge) before the shard is deleted; files are read and
        written outside the index's lock, so lookups here and in other processes go on."""
        with _folder_lock(self.dir) as locked:
            if not locked:
                return 0  # another process is merging this folder now
            with self.lock:
                self._open(compact=False)
                self._refresh()
                small = self._small()
            if len(small) < 2:
                return 0
            merged: dict[str, np.ndarray] = {}
            done: list[int] = []
            stale = False
            for number, name in small.items():  # a merged shard at a time: memory stays within MERGED_ROWS
                keys = self._checked(self.dir / name, self._read_keys)
                vectors = None if keys is None else self._checked(self.dir / name, self._read_vectors)
                if vectors is None:  # gone (another process merged it) or set aside: the index is behind
                    stale = True
                    continue
                merged.update(zip(keys, vectors))
                done.append(number)
                if len(merged) >= MERGED_ROWS:
                    self._replace(done, merged, small)
                    merged, done = {}, []
            self._replace(done, merged, small)
            if stale:
                with self.lock:
                    self._reindex()
            return len(small)

    def _replace(self, numbers: list[int], merged: dict[str, np.ndarray], names: dict[int, str]) -> None:
        """Write `merged` as one shard, point its keys at it, then delete the shards `numbers` (`names`)."""
        keys = list(merged)
        name = write_shard(self.dir, keys, np.stack(list(merged.values()))) if merged else None
        gone = set(numbers)
        with self.lock:
            if name is not None:
                number = self._add_shard(name, [], overwrite=False)
                self.sizes[number] = len(keys)
                for row, key in enumerate(keys):
                    loc = self.where.get(key)  # a key written again meanwhile keeps its new shard
                    if loc is None or loc // _ROW in gone or self.shards[loc // _ROW] is None:
                        self.where[key] = number * _ROW + row
            for n in numbers:  # by name: a re-index meanwhile renumbers the shards
                if n < len(self.shards) and self.shards[n] == names[n]:
                    self.shards[n] = None
            self.listed = None
        for n in numbers:
            (self.dir / names[n]).unlink(missing_ok=True)

    # ------------------------------------------------------------------ reading shards
    def _checked(self, path: Path, read: Callable[[Path], T]) -> T | None:
        """`read(path)`, or None after setting a corrupt shard aside (a vanished one is just forgotten)."""
        try:
            return read(path)
        except FileNotFoundError:
            return None
        except (SafetensorError, ValueError) as exc:
            _set_aside(path, first_line(exc))
        except OSError as exc:  # unreadable (permissions, I/O): skip it this time, but it may not be corrupt
            _log.warning("embedding cache: cannot read shard %s (%s); its texts will be re-encoded", path,
                         first_line(exc))
        return None

    @staticmethod
    def _read_keys(path: Path) -> list[str]:
        with safe_open(str(path), framework="numpy") as f:
            if set(f.keys()) != {"keys", "vectors"}:
                raise ValueError(f"tensors {sorted(f.keys())}, expected 'keys' and 'vectors'")
            blob, shape = f.get_tensor("keys"), f.get_slice("vectors").get_shape()
        text = bytes(blob).decode("ascii", errors="replace")
        if len(shape) != 2 or len(text) != 64 * shape[0] or not re.fullmatch(r"[0-9a-f]*", text):
            raise ValueError(f"{len(text)} key bytes do not match {shape[0] if shape else 0} vectors")
        return [text[64 * i: 64 * (i + 1)] for i in range(shape[0])]

    @staticmethod
    def _read_vectors(path: Path, dim: int | None = None) -> np.ndarray:
        with safe_open(str(path), framework="numpy") as f:
            vectors = f.get_tensor("vectors")
        return _valid(vectors, dim)

    @staticmethod
    def _read_rows(path: Path, rows: Sequence[int], dim: int | None = None) -> np.ndarray:
        with safe_open(str(path), framework="numpy") as f:
            part = f.get_slice("vectors")
            vectors = np.stack([part[r: r + 1][0] for r in rows])
        return _valid(vectors, dim)


def _valid(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """`vectors`, or a ValueError (a corrupt shard) unless they are finite float32 rows of width `dim` (None: any)."""
    if vectors.dtype != np.float32 or vectors.ndim != 2 or not np.isfinite(vectors).all():
        raise ValueError(f"vectors are not finite float32 rows ({vectors.dtype}, shape {vectors.shape})")
    if dim is not None and vectors.shape[1] != dim:
        raise ValueError(f"vectors of width {vectors.shape[1]}, but the encoder's are {dim} wide")
    return vectors


def write_shard(folder: Path, keys: Sequence[str], vectors: np.ndarray) -> str:
    """Write one shard atomically; its file name."""
    name = f"shard-{uuid.uuid4().hex}.safetensors"
    blob = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).copy()
    with atomic_path(folder / name) as tmp:
        save_file({"keys": blob, "vectors": np.ascontiguousarray(vectors, dtype=np.float32)}, str(tmp))
    return name


def _set_aside(path: Path, reason: str) -> None:
    """Rename a corrupt shard to `<name>.corrupt` (never read again) and say so in one line."""
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        fate = f"moved to {aside.name}"
    except OSError:  # a read-only cache or another process moved it first: skipping is enough
        fate = "skipped"
    _log.warning("embedding cache: corrupt shard %s (%s) %s; its texts will be re-encoded", path, reason, fate)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[bool]:
    """An exclusive advisory lock on `folder`, not waited for: False while another process holds it; True
    where file locks do not exist or the folder cannot be written (merging is then only less guarded)."""
    fd, locked = None, True
    try:
        import fcntl

        fd = os.open(folder / ".compact.lock", os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        locked = False
    except (ImportError, OSError):
        pass
    try:
        yield locked
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


_LIVE: weakref.WeakSet[_ShardIndex] = weakref.WeakSet()


def _track(index: _ShardIndex) -> None:
    _LIVE.add(index)
    _flush_at_exit()


@functools.cache
def _flush_at_exit() -> None:
    atexit.register(flush_all)  # registered with the first index, not at import


def flush_all() -> None:
    """Write the buffered vectors of every cache folder open in this process (a server's shutdown hook)."""
    for index in list(_LIVE):
        index._flush_quietly()

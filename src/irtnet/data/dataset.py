"""What a predictor sees: a response table plus per-query inputs (embedding vector, benchmark name)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from irtnet.data.embeddings import QueryEmbeddings
from irtnet.data.table import ResponseTable
from irtnet.errors import DataError


@dataclass(frozen=True)
class Queries:
    """Inputs about `n` queries: ids, embedding vectors ([n, dim] float32 or None for text-free data),
    benchmark names ([n] object array, entries None where the benchmark is unknown) and the raw texts ([n]
    object array, entries None where a query has none; None when not at hand), which a text path may read."""

    ids: tuple[str, ...]
    vectors: np.ndarray | None = None
    groups: np.ndarray | None = None
    encoder: str | None = None
    texts: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.vectors is not None and self.vectors.shape[0] != n:
            raise DataError(f"{self.vectors.shape[0]} vectors for {n} queries", field="vectors")
        if self.groups is not None and len(self.groups) != n:
            raise DataError(f"{len(self.groups)} benchmark names for {n} queries", field="groups")
        if self.texts is not None and len(self.texts) != n:
            raise DataError(f"{len(self.texts)} texts for {n} queries", field="texts")

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions: np.ndarray | slice) -> Queries:
        ids = np.asarray(self.ids, dtype=object)[positions]
        return Queries(tuple(ids.tolist()),
                       None if self.vectors is None else self.vectors[positions],
                       None if self.groups is None else self.groups[positions], self.encoder,
                       None if self.texts is None else self.texts[positions])

    def without_groups(self) -> Queries:
        """The same queries with their benchmark hidden (text only), as for a new benchmark."""
        return Queries(self.ids, self.vectors, None, self.encoder, self.texts)

    @classmethod
    def from_texts(cls, texts: Sequence[str], encoder: str, ids: Sequence[str] | None = None,
                   groups: Sequence[str | None] | None = None, use_cache: bool = True) -> Queries:
        """Embed raw query texts with `encoder` (cached) for prediction on new queries."""
        from irtnet.data.embeddings import canonical_name, embed_texts

        ids = tuple(ids) if ids is not None else tuple(f"text-{i}" for i in range(len(texts)))
        vectors = embed_texts(list(texts), encoder, use_cache=use_cache)
        return cls(ids, vectors, None if groups is None else np.asarray(groups, dtype=object),
                   canonical_name(encoder), np.asarray(list(texts), dtype=object))


@dataclass
class Dataset:
    """A response table and the `Queries` of exactly its queries, in `table.query_vocab` order."""

    table: ResponseTable
    queries: Queries

    @classmethod
    def from_table(cls, table: ResponseTable, embeddings: QueryEmbeddings | None = None) -> Dataset:
        ids = table.query_vocab.ids
        vectors = embeddings.take(ids) if embeddings is not None else None
        groups = table.queries["benchmark"].to_numpy(dtype=object)
        texts = table.queries["text"].to_numpy(dtype=object) if table.has_text else None
        return cls(table, Queries(ids, vectors, groups, embeddings.encoder if embeddings is not None else None,
                                  texts))

    def select(self, query_ids: Sequence[str] | None = None, model_ids: Sequence[str] | None = None) -> Dataset:
        """The sub-dataset of the given queries and/or models (strict about unknown ids)."""
        table = self.table.select(queries=query_ids, models=model_ids)
        positions = self.table.query_vocab.index(table.query_vocab.ids)
        return Dataset(table, self.queries.take(positions))

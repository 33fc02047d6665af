"""An explicit, strict id <-> index vocabulary.

Rows of every embedding and parameter matrix are addressed through a `Vocab`, never by the order in
which a file happened to list them. Looking up an id that is not in the vocabulary raises
`UnknownIdError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from irtnet.errors import DataError, UnknownIdError


class Vocab:
    """Ordered, unique string ids of one kind ("model", "query", "benchmark").

    >>> v = Vocab("model", ["gpt", "llama"])
    >>> v.index(["llama"]).tolist()
    [1]
    """

    __slots__ = ("kind", "_ids", "_index")

    def __init__(self, kind: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        missing = next((pos for pos, i in enumerate(ids)
                        if i is None or i is pd.NA or (isinstance(i, float) and i != i)), None)
        if missing is not None:  # str() would make it the id "None" or "nan"
            raise DataError(f"missing {kind} id (position {missing + 1} of {len(ids)})", field=kind)
        ids = [str(i) for i in ids]
        index = pd.Index(ids, dtype=object)
        if not index.is_unique:
            dup = index[index.duplicated()].unique().tolist()
            raise DataError(f"duplicate {kind} ids: {dup[:5]}", field=kind)
        if any(i == "" for i in ids):
            raise DataError(f"empty {kind} id", field=kind)
        self.kind, self._ids, self._index = kind, tuple(ids), index

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __contains__(self, item: object) -> bool:
        return item in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.kind == other.kind and self._ids == other._ids

    def __hash__(self) -> int:
        return hash((self.kind, self._ids))

    def __repr__(self) -> str:
        return f"Vocab({self.kind!r}, n={len(self)})"

    def index(self, ids: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
        """Positions of `ids` (shape [n], int64); raises UnknownIdError for any id not present."""
        pos = self._index.get_indexer(pd.Index(np.asarray(ids, dtype=object)))
        if (pos < 0).any():
            unknown = pd.unique(np.asarray(ids, dtype=object)[pos < 0]).tolist()
            raise UnknownIdError(self.kind, [str(u) for u in unknown], len(self))
        return pos.astype(np.int64)

    def id(self, position: int) -> str:
        return self._ids[position]

    def to_list(self) -> list[str]:
        return list(self._ids)

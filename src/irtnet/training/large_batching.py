"""Training arrays over packed labels: a `LabelArrays` whose label columns stay packed, unpacked per batch.

`batching.batches` (and so the trainer) reads a `LabelArrays` only through `arrays.indptr`,
`len(arrays.model)`, `arrays.x[qs]`, `arrays.groups[qs]`, `arrays.cluster[qs]` and `arrays.<column>[rows]` for
a tensor of label rows; `trainer.evaluate_arrays` calls `arrays.label.numpy()` and `arrays.target.numpy()`.
`PackedColumn` answers exactly that over `irtnet.data.large.PackedLabels`: indexing gives a real tensor of
the batch's rows (int64 models, float32 targets and 0/1 labels), so a `Batch` is the same as from
`build_arrays`; nothing of size N is unpacked during training. The weights are one stored float broadcast
to N (`expand`), and the embeddings are the memory-mapped matrix itself where its rows are in the labels'
query order (zero copy; the OS pages in the rows batches touch), else the labelled queries' rows, gathered.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from irtnet.data.large import MappedEmbeddings, PackedLabels
from irtnet.data.vocab import Vocab
from irtnet.training.batching import LabelArrays, _clusters, group_indices

__all__ = ["PackedColumn", "PackedLabelArrays", "packed_arrays"]


class PackedColumn:
    """A length-N column read by row positions: `column[rows]` -> tensor [len(rows)] of `dtype`."""

    def __init__(self, n: int, gather: Callable[[np.ndarray], np.ndarray], dtype: torch.dtype,
                 chunk: int = 1 << 22) -> None:
        self._n, self._gather, self.dtype, self._chunk = n, gather, dtype, chunk

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> torch.Size:
        return torch.Size([self._n])

    def __getitem__(self, rows) -> torch.Tensor:
        rows = rows.numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)
        return torch.as_tensor(self._gather(rows.astype(np.int64, copy=False)), dtype=self.dtype)

    def numpy(self) -> np.ndarray:
        """All N values (unpacked in chunks; N x itemsize bytes: for validation-sized sets)."""
        parts = [self[np.arange(s, min(s + self._chunk, self._n))].numpy() for s in range(0, self._n, self._chunk)]
        return np.concatenate(parts) if parts else torch.empty(0, dtype=self.dtype).numpy()


@dataclass
class PackedLabelArrays(LabelArrays):
    """`LabelArrays` over `packed` labels (model, target and label are `PackedColumn`s) and mapped embeddings."""

    packed: PackedLabels | None = None
    embeddings: MappedEmbeddings | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the packed labels plus the embedding matrix (mapped, not necessarily resident)."""
        return self.packed.nbytes + (self.embeddings.nbytes if self.embeddings is not None else 0)


def packed_arrays(labels: PackedLabels, embeddings: MappedEmbeddings,
                  group_vocab: Vocab | None = None) -> PackedLabelArrays:
    """Training arrays of `labels` with query inputs from `embeddings` (strict: every query needs a vector) and
    benchmarks indexed by `group_vocab` (None: no groups; unknown names map to the unknown slot).

    The targets are the labels (0/1 or fractions) with weight 1, as `build_arrays(target="score")` gives for
    single-trial records; `label` is the 0/1 majority label.
    """
    n = labels.n_labels
    return PackedLabelArrays(
        x=_inputs(labels, embeddings), groups=group_indices(labels.benchmarks, group_vocab),
        indptr=labels.indptr,
        model=PackedColumn(n, lambda rows: labels.model[rows].astype(np.int64), torch.long),
        target=PackedColumn(n, labels.targets, torch.float32),
        weight=torch.ones(1).expand(n),
        label=PackedColumn(n, labels.outcomes, torch.float32),
        cluster=_clusters(labels.benchmarks), packed=labels, embeddings=embeddings,
    )


def _inputs(labels: PackedLabels, embeddings: MappedEmbeddings) -> torch.Tensor:
    """x [Q, dim]: the mapped matrix itself where its rows are the labels' queries in order, else a gathered copy."""
    rows = embeddings.vocab.index(labels.query_vocab.ids)
    if len(rows) == embeddings.vectors.shape[0] and np.array_equal(rows, np.arange(len(rows))):
        with warnings.catch_warnings():
            # read-only mapping: torch warns that writing would be undefined; nothing writes x (input noise
            # makes a new tensor), and a write would fault on the read-only pages rather than corrupt the file
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(embeddings.vectors)
    return torch.from_numpy(np.ascontiguousarray(embeddings.vectors[rows]))

"""Shared test fixtures. Real data lives in ../shared/data; tests that need it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IRTNET_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set IRTNET_SHARED_DATA to point at it)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach a model hub; embedding caches go to a temporary folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path_factory.getbasetemp() / "irtnet-cache"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's fits (module scope: it must cover module-scoped fixtures too)."""
    from irtnet.training.threads import torch_threads

    with torch_threads(1):
        yield


class CountingEncoder:
    """hashing-64 that counts its encode calls and texts, and raises KeyboardInterrupt on call `fail_on`
    (an interruption), for the embedding cache's resume tests."""

    def __init__(self, fail_on: int | None = None) -> None:
        from irtnet.data.embeddings import HashingEncoder

        self._inner = HashingEncoder(64)
        self.name, self.dim = self._inner.name, self._inner.dim
        self.calls, self.texts, self.fail_on = 0, 0, fail_on

    def encode(self, texts, batch_size=64, progress=False):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt("killed")
        self.texts += len(texts)
        return self._inner.encode(texts)


@pytest.fixture
def counting():
    """The `CountingEncoder` class: `counting()` or `counting(fail_on=3)`."""
    return CountingEncoder


def _synthetic_splits(encoder: str, **synth):
    """(train, val, test) Datasets of a seeded synthetic table (`make_synthetic(**synth)`) embedded with
    `encoder` (no cache), split 0.7/0.15/0.15 by query with seed 0."""
    from irtnet.data.dataset import Dataset
    from irtnet.data.embeddings import embed_queries
    from irtnet.data.splits import split_by_query
    from irtnet.data.synthetic import make_synthetic

    table = make_synthetic(**synth).table
    full = Dataset.from_table(table, embed_queries(table, encoder, use_cache=False))
    split = split_by_query(table, (0.7, 0.15, 0.15), seed=0)
    return full.select(split.train), full.select(split.val), full.select(split.test)


@pytest.fixture(scope="session")
def synthetic_splits():
    """`synthetic_splits(encoder, **make_synthetic_kwargs)` -> (train, val, test) Datasets, split 0.7/0.15/0.15."""
    return _synthetic_splits

"""The data steps every workflow shares: read a table, embed its queries, split it."""

from __future__ import annotations

from pathlib import Path

from irtnet.config import DataConfig
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.pair_split import PairSplit
from irtnet.data.splits import QuerySplit, leave_one_benchmark_out, split_by_query
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError


def load_table(path: str | Path) -> ResponseTable:
    """A response table written by `irtnet data import` / `ResponseTable.to_parquet`."""
    return ResponseTable.read_parquet(path)


def prepare(table: ResponseTable, encoder: str | None = "all-MiniLM-L6-v2", progress: bool = False) -> Dataset:
    """The table with its query embeddings (none where `encoder` is None or the table has no text)."""
    if encoder is None or not table.has_text:
        return Dataset.from_table(table)
    return Dataset.from_table(table, embed_queries(table, encoder, progress=progress))


def make_split(table: ResponseTable, cfg: DataConfig) -> QuerySplit | PairSplit:
    """The split `cfg` describes: by query (the default), leaving one benchmark out, or by pair."""
    if cfg.split == "pair":
        return PairSplit.draw(table, cfg.fractions, cfg.seed)
    if cfg.split == "benchmark":
        if not cfg.holdout_benchmark:
            raise ConfigError("split 'benchmark' needs holdout_benchmark")
        return leave_one_benchmark_out(table, cfg.holdout_benchmark, cfg.fractions[1], cfg.seed)
    return split_by_query(table, cfg.fractions, cfg.seed, cfg.stratify)


def split_datasets(data: Dataset, split: QuerySplit | PairSplit) -> tuple[Dataset, Dataset | None, Dataset]:
    """(train, validation or None, test) parts of `data`."""
    if isinstance(split, PairSplit):
        return split.datasets(data)
    val = data.select(split.val) if split.val else None
    return data.select(split.train), val, data.select(split.test)

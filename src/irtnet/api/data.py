"""The data steps every workflow shares: read a table, embed its queries, split it; fill the embedding cache
with the texts of a file (`irtnet data encode`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from irtnet.config import DataConfig, check_holdout_fractions, expect
from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import DEFAULT_ENCODER, CacheFill, embed_queries, fill_cache
from irtnet.data.encode_pool import read_texts
from irtnet.data.pair_split import PairSplit
from irtnet.data.splits import QuerySplit, check_split_parts, check_training_part, leave_benchmarks_out, split_by_query
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError


def as_path(value: Any, what: str) -> Path:
    """`value` (a str or an os.PathLike) as a Path; anything else (None, a number) or an empty str is a
    ConfigError naming `what`, never pathlib's TypeError."""
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"{what} must be a path (a str or a pathlib.Path), got {type(value).__name__} {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ConfigError(f"{what} is empty: give a path")
    return Path(value)


def load_table(path: str | Path) -> ResponseTable:
    """A response table written by `irtnet data import` / `ResponseTable.to_parquet`."""
    return ResponseTable.read_parquet(as_path(path, "the table path"))


def prepare(table: ResponseTable | str | Path, encoder: str | None = "all-MiniLM-L6-v2", progress: bool = False,
            workers: int = 1) -> Dataset:
    """The table (a ResponseTable, or the path of one: `load_table`) with its query embeddings (none where
    `encoder` is None or the table has no text); `workers` > 1 encodes the texts not cached yet in that many
    processes (`embed_texts`)."""
    if isinstance(table, (str, os.PathLike)):
        table = load_table(table)
    expect(table, ResponseTable, "table", "a ResponseTable (api.load_table) or the path of a .parquet table")
    if isinstance(encoder, str) and not encoder.strip():  # "" would be read as the current folder, a local model
        raise ConfigError(f"the encoder name is empty ({encoder!r}): give an encoder, e.g. all-MiniLM-L6-v2 or "
                          "hashing-256")
    if encoder is None or not table.has_text:
        return Dataset.from_table(table)
    return Dataset.from_table(table, embed_queries(table, encoder, progress=progress, workers=workers))


def encode_file(path: str | Path, encoder: str = DEFAULT_ENCODER, *, column: str = "text", workers: int = 1,
                chunk_size: int | None = None, batch_size: int = 64) -> tuple[CacheFill, int]:
    """Encode the texts of `path` into the embedding cache: (what `fill_cache` did, blank lines skipped).

    `path`: one text per line, or a .csv/.tsv/.json/.jsonl/.parquet file whose column `column` holds them
    (`encode_pool.read_texts`); `workers`, `chunk_size`: as in `embed_texts` (resumable chunks)."""
    texts, blank = read_texts(path, column)
    return fill_cache(texts, encoder, workers=workers, chunk_size=chunk_size, batch_size=batch_size), blank


def make_split(table: ResponseTable, cfg: DataConfig) -> QuerySplit | PairSplit:
    """The split `cfg` describes: by query (the default), leaving benchmarks out, or by pair. A query split that
    leaves training, test, or (with a validation fraction above 0) validation without a query is a ConfigError
    naming the empty part (`check_split_parts`)."""
    if not isinstance(table, ResponseTable):
        raise ConfigError(f"make_split needs a ResponseTable (api.load_table), got {type(table).__name__}")
    if not isinstance(cfg, DataConfig):
        raise ConfigError(f"make_split needs a DataConfig, got {type(cfg).__name__}")
    kind = split_kind(cfg)
    if kind == "pair":
        return PairSplit.draw(table, cfg.fractions, cfg.seed)
    if kind == "benchmark":
        if not cfg.holdout_benchmark:
            raise ConfigError(f"split 'benchmark' needs holdout_benchmark (a benchmark name or a list of them), "
                              f"got {cfg.holdout_benchmark!r}")
        check_holdout_fractions(cfg.fractions, option="fractions")  # a test fraction would be silently unused
        held = [cfg.holdout_benchmark] if isinstance(cfg.holdout_benchmark, str) else cfg.holdout_benchmark
        split = leave_benchmarks_out(table, held, cfg.fractions[1], cfg.seed)
        return check_split_parts(split, cfg.fractions, len(split.train) + len(split.val),
                                 "outside the held-out benchmarks")
    return check_split_parts(split_by_query(table, cfg.fractions, cfg.seed, cfg.stratify), cfg.fractions,
                             table.n_queries)


def split_kind(cfg: DataConfig, default: str = "query") -> str:
    """The split kind `cfg` asks for: its `split`, else "benchmark" where it names a `holdout_benchmark` (as
    `irtnet train --holdout-benchmark` does), else `default`. A holdout_benchmark beside a query or pair split,
    which would be ignored, is a ConfigError."""
    if cfg.holdout_benchmark is None:
        return cfg.split or default
    if cfg.split not in (None, "benchmark"):
        raise ConfigError(f"holdout_benchmark {cfg.holdout_benchmark!r} makes a benchmark split; it conflicts with "
                          f"split {cfg.split!r}: set split='benchmark' (or leave split None), or drop "
                          "holdout_benchmark")
    return "benchmark"


def split_datasets(data: Dataset, split: QuerySplit | PairSplit) -> tuple[Dataset, Dataset | None, Dataset]:
    """(train, validation or None, test) parts of `data`; a DataError where training leaves a validation or test
    model without a label, or holds one label value only (`check_training_part`)."""
    if isinstance(split, PairSplit):
        train, val, test = split.datasets(data)
    else:
        val = data.select(split.val) if split.val else None
        train, test = data.select(split.train), data.select(split.test)
    check_training_part(train.table, validation=None if val is None else val.table, test=test.table)
    return train, val, test

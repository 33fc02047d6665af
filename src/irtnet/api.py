"""The Python API facade: what the CLI (and a user's script) calls.

    table = irtnet.load_table("table.parquet")
    run = irtnet.train_run(RunConfig(data=DataConfig(table="table.parquet")), "runs/x")
    results = irtnet.evaluate_run("runs/x")
    model = irtnet.load("runs/x")
    irtnet.rank_models(model, ["What is 2 + 2?"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import write_json
from irtnet.config import DataConfig, RunConfig
from irtnet.data.dataset import Dataset, Queries
from irtnet.data.embeddings import embed_queries
from irtnet.data.splits import QuerySplit, leave_one_benchmark_out, split_by_query
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError
from irtnet.predictors import REGISTRY, IrtNet, Predictor, Router
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.tasks.evaluate import EvaluationResult, evaluate

#: Baselines evaluated beside every trained model by `evaluate_run`.
REFERENCE_BASELINES = ("model-benchmark-mean", "model-mean")


def load_table(path: str | Path) -> ResponseTable:
    """A response table written by `irtnet data import` / `ResponseTable.to_parquet`."""
    return ResponseTable.read_parquet(path)


def prepare(table: ResponseTable, encoder: str | None = "all-MiniLM-L6-v2", progress: bool = False) -> Dataset:
    """The table with its query embeddings (none where `encoder` is None or the table has no text)."""
    if encoder is None or not table.has_text:
        return Dataset.from_table(table)
    return Dataset.from_table(table, embed_queries(table, encoder, progress=progress))


def make_split(table: ResponseTable, cfg: DataConfig) -> QuerySplit:
    if cfg.split == "benchmark":
        if not cfg.holdout_benchmark:
            raise ConfigError("split 'benchmark' needs holdout_benchmark")
        return leave_one_benchmark_out(table, cfg.holdout_benchmark, cfg.fractions[1], cfg.seed)
    return split_by_query(table, cfg.fractions, cfg.seed, cfg.stratify)


def build_predictor(name: str, params: dict[str, Any]) -> Router:
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
    try:
        return REGISTRY[name](**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for {name!r}: {exc}") from exc


def split_datasets(data: Dataset, split: QuerySplit) -> tuple[Dataset, Dataset | None, Dataset]:
    val = data.select(split.val) if split.val else None
    return data.select(split.train), val, data.select(split.test)


@dataclass
class Run:
    """A run directory and what training left in it."""

    path: Path
    config: RunConfig
    predictor: Router


def train_run(cfg: RunConfig, out: str | Path, progress: bool = True) -> Run:
    """Import nothing, train one predictor on the configured split and write the run directory:
    config.json (resolved), split.json, model/ (checkpoint), history.json."""
    out = Path(out)
    table = load_table(cfg.data.table)
    data = prepare(table, cfg.data.encoder, progress=progress)
    split = make_split(table, cfg.data)
    train, val, _ = split_datasets(data, split)
    predictor = build_predictor(cfg.model, cfg.params)
    resolved = cfg.model_copy(update={"data": cfg.data.model_copy(update={"table": str(Path(cfg.data.table).resolve())})})
    write_json(out / "config.json", resolved.model_dump())
    split.save(out / "split.json")
    predictor.fit(train, val)
    if isinstance(predictor, Predictor):
        metrics = getattr(getattr(predictor, "result_", None), "best", {})
        save_predictor(predictor, out / "model", metrics={"val": metrics})
    if isinstance(predictor, IrtNet):
        write_json(out / "history.json", predictor.result_.history)
    return Run(out, resolved, predictor)


def load(path: str | Path) -> Predictor:
    """A predictor from a checkpoint directory or a run directory (its `model/`)."""
    path = Path(path)
    return load_predictor(path / "model" if (path / "model" / "checkpoint.json").exists() else path)


def evaluate_run(run_dir: str | Path, baselines: Sequence[str] = REFERENCE_BASELINES,
                 routing_mode: str = "complete", progress: bool = False) -> list[EvaluationResult]:
    """Evaluate a run's model on its test split, beside reference baselines fitted on its training split.

    Writes evaluation.json in the run directory and returns the results (trained model first).
    """
    run_dir = Path(run_dir)
    from irtnet.config import read_config_file

    cfg = RunConfig.model_validate(read_config_file(run_dir / "config.json"))
    table = load_table(cfg.data.table)
    split = QuerySplit.load(run_dir / "split.json")
    data = prepare(table, cfg.data.encoder, progress=progress)
    train, _, test = split_datasets(data, split)
    results = [evaluate(load(run_dir), train, test, routing_mode)]
    for name in baselines:
        results.append(evaluate(build_predictor(name, {}).fit(train), train, test, routing_mode))
    write_json(run_dir / "evaluation.json", [r.to_dict() for r in results])
    return results


def text_queries(predictor: Router, texts: Sequence[str],
                 benchmarks: str | Sequence[str | None] | None = None) -> Queries:
    """New query texts embedded with the predictor's own encoder; `benchmarks`: one name for all, one per
    text (None where unknown), or None."""
    encoder = getattr(predictor, "encoder_", None)
    if not encoder:
        raise ConfigError(f"{predictor.name} has no text encoder; it cannot score new query texts")
    if isinstance(benchmarks, str):
        benchmarks = [benchmarks] * len(texts)
    groups = list(benchmarks) if benchmarks is not None and any(b is not None for b in benchmarks) else None
    return Queries.from_texts(texts, encoder, groups=groups)


def predict_texts(predictor: Predictor, texts: Sequence[str], benchmark: str | None = None,
                  models: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(model names, [n_texts, n_models] probabilities of a correct answer) for new query texts."""
    names = list(models) if models is not None else predictor.models_.to_list()
    return names, predictor.predict_proba(text_queries(predictor, texts, benchmark), names)


def rank_models(predictor: Predictor, texts: Sequence[str], benchmark: str | None = None,
                top: int | None = None, models: Sequence[str] | None = None) -> list[list[tuple[str, float]]]:
    """For each text, the models ranked by predicted probability of a correct answer."""
    names, prob = predict_texts(predictor, texts, benchmark, models)
    return [[(names[i], float(row[i])) for i in row.argsort()[::-1][:top]] for row in prob]

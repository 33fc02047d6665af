"""A tiny trained run and one benchmark's texts with ids, with the table's own answers of its models on them: the
setting of `predict-benchmark --answers` (tests/unit/test_anchors.py, test_anchor_intervals.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from irtnet.data.synthetic import make_synthetic


def run_with_texts(root: Path, n_texts: int, seed: int, n_queries: int = 240
                   ) -> tuple[list[dict], np.ndarray, list[str]]:
    """Train a 2-epoch `small` run at root/run on a synthetic table (root/t.parquet), write the first `n_texts` of
    its texts with their ids to root/t.jsonl, and return (every observed answer of its models on them as
    {model, id, correct} records in text order, their labels [n_texts, M], the models)."""
    from irtnet.api.run import RunSpec, train_run
    from irtnet.config import DataConfig
    from irtnet.predictors.spec import ModelSpec

    synth = make_synthetic(n_models=5, n_queries=n_queries, n_benchmarks=2, dim=2, feature_dim=6, seed=seed)
    synth.table.to_parquet(root / "t.parquet")
    spec = RunSpec(data=DataConfig(table=str(root / "t.parquet"), encoder="hashing-32"),
                   model=ModelSpec(preset="small", params={"train": {"epochs": 2, "progress": False}}), threads=1)
    train_run(spec, root / "run", progress=False)
    table = synth.table
    queries = table.queries.drop_duplicates("query").head(n_texts)
    (root / "t.jsonl").write_text("".join(json.dumps({"id": q, "text": t}) + "\n"
                                          for q, t in zip(queries["query"], queries["text"])))
    labels = table.label_matrix()[table.query_vocab.index(list(queries["query"]))]
    models = table.model_vocab.to_list()
    rows = [{"model": m, "id": q, "correct": float(labels[i, j])} for i, q in enumerate(queries["query"])
            for j, m in enumerate(models) if not np.isnan(labels[i, j])]
    return rows, labels, models


def write_answers(path: Path, rows: list[dict]) -> Path:
    """`rows` as a JSONL answers file at `path`."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path

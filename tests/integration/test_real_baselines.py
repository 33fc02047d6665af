"""Two text baselines on real data (ZeroEval CRUXEval-O: 51 models x 800 queries) through the one
evaluator. Hashing embeddings keep it offline and fast; the figures are sanity bounds, not results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irtnet.data.dataset import Dataset
from irtnet.data.embeddings import embed_queries
from irtnet.data.importers import import_table
from irtnet.data.splits import split_by_query
from irtnet.predictors import KNN, LinearMIRT, ModelMean
from irtnet.tasks.evaluate import evaluate

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def crux(shared_data):
    folder = shared_data / "zeroeval"
    if not (folder / "zeroeval_crux_scored.csv.gz").exists():
        pytest.skip(f"{folder} has no CRUXEval scores")
    table = import_table("zeroeval", folder, benchmarks=["crux"])
    data = Dataset.from_table(table, embed_queries(table, "hashing-256", use_cache=False))
    split = split_by_query(table, (0.8, 0.1, 0.1), seed=0)
    return data.select(split.train), data.select(split.val), data.select(split.test)


def test_text_baselines_on_cruxeval(crux):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, val, test = crux
        base = evaluate(ModelMean().fit(train), train, test)
        for predictor in (KNN(k=25), LinearMIRT(seed=0)):
            result = evaluate(predictor.fit(train, val), train, test)
            overall = result.correctness["overall"]
            assert overall["n"] == int((~np.isnan(test.table.label_matrix())).sum())
            assert 0.65 < overall["auc"] < 0.95, (predictor.name, overall)
            assert overall["auc"] > base.correctness["overall"]["auc"], (predictor.name, overall)
            assert overall["log_loss"] < 0.69
            assert result.routing.micro >= result.routing.references["random"]["micro"]
    finally:
        torch.set_num_threads(threads)

"""The small public Python API: lazy imports, and the fit / predict / rank / save / load flow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import irtnet
from irtnet.config import DataConfig


def test_import_has_no_heavy_side_effects():
    code = "import sys, irtnet; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert set(irtnet.__all__) >= {"IrtNet", "import_table", "evaluate", "load", "rank_models"}


def test_fit_predict_rank_save_load(tmp_path):
    table = irtnet.make_synthetic(n_models=5, n_queries=300, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table
    data = irtnet.prepare(table, encoder="hashing-64")
    split = irtnet.make_split(table, DataConfig(table="-", seed=0))
    train, val, test = irtnet.split_datasets(data, split)
    model = irtnet.IrtNet("small", {"epochs": 2, "progress": False}).fit(train, val)
    prob = model.predict_proba(test.queries, ["family2-model000"])
    assert prob.shape == (len(test.queries), 1) and np.all((prob > 0) & (prob < 1))
    ranked = irtnet.rank_models(model, ["algebra question: new"], top=2)
    assert len(ranked[0]) == 2 and ranked[0][0][1] >= ranked[0][1][1]
    irtnet.save_predictor(model, tmp_path / "m")
    back = irtnet.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict_proba(test.queries), model.predict_proba(test.queries))
    result = irtnet.evaluate(back, train, test)
    assert result.predictor == "irtnet" and result.correctness["overall"]["auc"] > 0.5


def test_a_benchmark_name_from_a_file_is_refused_naming_the_file_and_row():
    import pytest

    from irtnet.api.texts import check_benchmarks
    from irtnet.data.vocab import Vocab
    from irtnet.errors import ConfigError, DataError

    from irtnet.predictors.base import Router

    class Plain(Router):  # a model that reads no names (never fitted or scored here)
        name, groups_ = "plain", None
        fit = scores = None

    class Named(Plain):
        name, groups_ = "named", Vocab("benchmark", ["gsm8k", "math"])

    with pytest.raises(DataError, match=r"answers.jsonl, row 2, field 'benchmark': this plain model reads no "
                                        r"benchmark names"):
        check_benchmarks(Plain(), [None, "gsm8k"], "answers.jsonl")
    with pytest.raises(DataError, match=r"pool.txt, row 3, field 'benchmark': unknown benchmark 'gsm8kk'"):
        check_benchmarks(Named(), ["gsm8k", None, "gsm8kk"], "pool.txt")
    with pytest.raises(ConfigError, match="unknown benchmark 'gsm8kk'; the model knows: gsm8k, math"):
        check_benchmarks(Named(), ["gsm8kk"])
    check_benchmarks(Named(), ["math", None])  # known names pass

"""The README's Python API example runs as written, on a small synthetic table instead of llmrouter (paths, the
encoder, the epochs and the benchmark name swapped; each swap must find its text, so an edit of the example that
this test no longer covers fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from irtnet.data.synthetic import make_synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")
README = Path(__file__).resolve().parents[2] / "README.md"


def _api_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _swap(code: str, old: str, new: str) -> str:
    assert old in code, f"the README's Python API example no longer holds {old!r}: update this test"
    return code.replace(old, new)


def test_the_readme_python_api_example_runs(tmp_path, monkeypatch, capsys):
    table = make_synthetic(n_models=3, n_queries=150, n_benchmarks=2, dim=2, feature_dim=6, seed=4).table
    table.to_parquet(tmp_path / "t.parquet")
    bench = sorted(table.queries["benchmark"].unique())[0]
    code = _api_block()
    for old, new in [('"runs/tables/llmrouter.parquet", seed=0', '"runs/tables/llmrouter.parquet", seed=0, '
                                                                 'encoder="hashing-32"'),
                     ('"runs/tables/llmrouter.parquet"', f'"{tmp_path / "t.parquet"}"'),
                     ('"epochs": 30', '"epochs": 2, "progress": False'),
                     ('benchmark="gsm8k"', f'benchmark="{bench}"'),
                     ("irtnet.prepare(table)", 'irtnet.prepare(table, "hashing-32")'),
                     ('"runs/llmrouter-api"', f'"{tmp_path / "run"}"'),
                     ('"my-knn"', f'"{tmp_path / "my-knn"}"')]:
        code = _swap(code, old, new)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and 0.0 <= float(printed[1]) <= 1.0  # the ranking, then the KNN's routing accuracy
    assert (tmp_path / "run" / "run.json").is_file() and (tmp_path / "my-knn" / "checkpoint.json").is_file()

"""`irtnet compare` end to end on real data: ZeroEval CRUXEval-O (51 models x 800 queries), imported from
the raw files by an import spec, two models, one seed; then `irtnet results`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app

pytestmark = pytest.mark.shared_data


def test_compare_on_zeroeval_crux(tmp_path, shared_data):
    dataset = json.dumps({"name": "crux", "format": "zeroeval", "path": str(shared_data / "zeroeval"),
                          "options": {"benchmarks": ["crux"]}})
    out = tmp_path / "run"
    runner = CliRunner()
    # the hashing encoder keeps this under a minute: MiniLM would re-embed 800 texts in the test's empty cache
    args = ["compare", "-d", dataset, "-m", "irtnet:small", "-m", "model-benchmark-mean", "--seeds", "0",
            "--epochs", "3", "--encoder", "hashing-384", "--out", str(out), "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    table = json.loads((out / "tables" / "crux-query.json").read_text())
    rows = {r["label"]: r for r in table["rows"]}
    assert set(rows) == {"irtnet-small", "model-benchmark-mean"}
    assert all(r["status"] == "ok" for r in rows.values())
    base = rows["model-benchmark-mean"]
    # 10% of 800 queries x 51 models; one benchmark, so the base rate is each model's crux accuracy
    assert table["test"]["n_pairs"]["mean"] == 80 * 51
    assert 0.6 < base["correctness"]["accuracy"]["mean"] < 0.85
    assert base["correctness"]["auc"]["mean"] > 0.6
    refs = table["references"]
    assert refs["random"]["micro"]["mean"] < refs["best_single"]["micro"]["mean"] <= refs["oracle"]["micro"]["mean"]

    res = runner.invoke(app, args)  # cached: nothing is fitted again
    assert res.exit_code == 0, res.output
    run = json.loads((out / "results.json").read_text())["run"]
    assert run["from_cache"] == 4 and run["computed"] == 0  # two fits, each scored with names known and hidden

    res = runner.invoke(app, ["results", str(out), "-o", str(tmp_path / "results.md")])
    assert res.exit_code == 0, res.output
    doc = (tmp_path / "results.md").read_text()
    assert "8c1485edf12c6efb5f69135a562927c5ad484059" in doc  # the ZeroEval snapshot commit of SOURCE.md
    assert "`zeroeval`" in doc and "51 × 800" in doc and "irtnet-small" in doc

"""`irtnet compare`: tables with mean and spread over seeds, the cell cache and its key, failures
reported per cell, item-seen predictors in the pair setting, import specs, the CLI, results.md and the
README's summary table."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet import _io
from irtnet.cli.main import app
from irtnet.data.provenance import table_fingerprint
from irtnet.data.synthetic import make_synthetic
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError
from irtnet.predictors import REGISTRY
from irtnet.predictors.baselines.simple import ModelMean
from irtnet.reporting.results import (aggregate, read_results, results_document, short, stat, summary_markdown,
                                      write_tables)
from irtnet.api.compare import load_spec, run_comparison
from irtnet.data.pair_split import split_by_pair
from irtnet.api.compare_spec import CompareEntry, cell_key, check_entry, entry_spec
from irtnet.data.splits import pair_subset
from irtnet.predictors.spec import ModelSpec

FITS: list[str] = []


class CountingMean(ModelMean):
    """model-mean that records every fit (to see what the cache skipped)."""

    def fit(self, train, val=None):
        FITS.append(self.name)
        return super().fit(train, val)


class Exploding(ModelMean):
    def fit(self, train, val=None):
        FITS.append(self.name)
        raise RuntimeError("boom in fit")


class SeenOnly(ModelMean):
    """A stand-in for an item-seen model: it refuses a query it never saw in training."""

    item_seen = True

    def fit(self, train, val=None):
        self.seen_ = set(train.table.query_vocab.ids)
        return super().fit(train, val)

    def predict_proba(self, queries, models=None):
        assert set(queries.ids) <= self.seen_, "asked about an unseen query"
        return super().predict_proba(queries, models)


@pytest.fixture(autouse=True)
def _fake_models(monkeypatch):
    FITS.clear()
    for name, cls in (("counting", CountingMean), ("exploding", Exploding), ("seen-only", SeenOnly)):
        monkeypatch.setitem(REGISTRY, name, cls)
        monkeypatch.setattr(cls, "name", name)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "syn.parquet"
    make_synthetic(n_models=5, n_queries=240, n_benchmarks=3, dim=2, feature_dim=6, seed=0).table.to_parquet(path)
    return path


def _spec(table_path, models, seeds=(0, 1, 2), **kw):
    return load_spec({"datasets": [{"name": "syn", "table": str(table_path)}], "models": models,
                      "seeds": list(seeds), "encoder": "hashing-32", **kw})


def _run(spec, out, **kw):
    result = run_comparison(spec, out, **kw)
    return result, {(t["dataset"], t["setting"]): t for t in write_tables(out)}


def _md_rows(text: str, header: str) -> list[list[str]]:
    """The body rows of the first Markdown table after the line starting with `header`, split into cells."""
    lines = text[text.index(header):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    body = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        body.append([c.strip() for c in line.strip("|").split("|")])
    return body


def test_compare_writes_tables_with_mean_and_std_over_seeds(tmp_path, table_path):
    spec = _spec(table_path, [{"name": "irtnet-tiny", "model": "irtnet", "preset": "small",
                               "params": {"train": {"epochs": 2}}},
                              {"name": "model-benchmark-mean"}, {"name": "counting"}])
    result, tables = _run(spec, tmp_path / "run")
    assert {p.name for p in (tmp_path / "run" / "tables").iterdir()} == {
        "syn-query.json", "syn-query.md", "syn-text.json", "syn-text.md"}  # benchmark known, and text only
    assert (tmp_path / "run" / "summary.md").exists() and (tmp_path / "run" / "results.json").exists()
    t = tables[("syn", "query")]
    assert [r["label"] for r in t["rows"]] == ["irtnet-tiny", "model-benchmark-mean", "counting"]
    text = {r["label"]: r for r in tables[("syn", "text")]["rows"]}
    # with names hidden, the per-(model, benchmark) mean has nothing but each model's mean
    assert text["model-benchmark-mean"]["correctness"]["auc"]["mean"] < t["rows"][1]["correctness"]["auc"]["mean"]
    for row in t["rows"]:
        cells = sorted((c for c in result.cells if c.label == row["label"] and c.setting == "query"),
                       key=lambda c: c.seed)
        acc = [c.result["correctness"]["overall"]["accuracy"] for c in cells]
        micro = [c.result["routing"]["micro"] for c in cells]
        assert row["correctness"]["accuracy"]["values"] == pytest.approx(acc)
        assert row["correctness"]["accuracy"]["mean"] == pytest.approx(np.mean(acc))
        assert row["correctness"]["accuracy"]["std"] == pytest.approx(np.std(acc, ddof=1))
        assert row["routing"]["micro"]["std"] == pytest.approx(np.std(micro, ddof=1))
    # one split per seed, shared by every model: the test sets and the references agree across models
    by_seed = {}
    for c in result.cells:
        by_seed.setdefault(c.seed, set()).add((c.result["info"]["n_test_pairs"],
                                               c.result["routing"]["references"]["oracle"]["micro"]))
    assert all(len(v) == 1 for v in by_seed.values()) and len(by_seed) == 3
    assert set(t["references"]) == {"random", "best_single", "benchmark_best", "oracle"}
    md = (tmp_path / "run" / "tables" / "syn-query.md").read_text()
    assert "± " in md and "(oracle)" in md and "gap closed" in md and "base rate" in md


def test_stat_uses_sample_std_and_skips_nan():
    s = stat([0.5, 0.7, float("nan")])
    assert s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert s["n"] == 2 and len(s["values"]) == 3
    assert stat([0.3])["std"] is None and stat([])["mean"] is None


def test_rerun_reads_the_cache_and_fits_nothing(tmp_path, table_path):
    spec = _spec(table_path, [{"name": "counting"}, {"name": "model-mean"}])
    first, _ = _run(spec, tmp_path / "run")
    assert FITS == ["counting"] * 3 and not any(c.cached for c in first.cells)
    again, tables = _run(spec, tmp_path / "run")
    assert FITS == ["counting"] * 3 and all(c.cached for c in again.cells)
    assert json.dumps([c.result for c in again.cells]) == json.dumps([c.result for c in first.cells])
    assert tables[("syn", "query")]["rows"][0]["from_cache"] == 3
    # one more seed computes that seed only; --force recomputes everything
    _run(_spec(table_path, [{"name": "counting"}], seeds=(0, 1, 2, 3)), tmp_path / "run")
    assert FITS == ["counting"] * 4
    _run(spec, tmp_path / "run", force=True)
    assert FITS == ["counting"] * 7


def test_an_unusable_cached_cell_is_computed_again_and_stale_temporaries_are_swept(tmp_path, table_path):
    import os

    spec = _spec(table_path, [{"name": "counting"}], seeds=(0, 1, 2))
    first, _ = _run(spec, tmp_path / "run")
    keys = sorted({c.key for c in first.cells})
    cells = tmp_path / "run" / "cells"
    (cells / f"{keys[0]}.json").write_text('{"results": {"known"')  # cut short by a crash
    (cells / f"{keys[1]}.npz").unlink()  # its predictions lost: paired statistics could not read it
    stale = cells / ".x.npz.abc.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))  # older than an hour
    FITS.clear()
    again, _ = _run(spec, tmp_path / "run")
    assert FITS == ["counting"] * 2 and {c.key for c in again.cells if not c.cached} == set(keys[:2])
    assert all(c.status == "ok" for c in again.cells) and not stale.exists()
    assert json.dumps([c.result for c in again.cells]) == json.dumps([c.result for c in first.cells])


def test_filters_compute_only_the_selected_cells_and_report_the_rest_pending(tmp_path, table_path):
    spec = _spec(table_path, [{"name": "counting"}, {"name": "model-mean"}], seeds=(0,))
    result, tables = _run(spec, tmp_path / "run", only_models={"model-mean"})
    assert FITS == [] and {c.label: c.status for c in result.cells} == {"counting": "pending", "model-mean": "ok"}
    assert tables[("syn", "query")]["rows"][0]["status"] == "pending"


def test_cache_key_follows_data_split_params_and_encoder(tmp_path, table_path):
    from irtnet.data.table import ResponseTable

    table = ResponseTable.read_parquet(table_path)
    fp = table_fingerprint(table)
    table.to_parquet(tmp_path / "renamed.parquet")  # another name, the same content
    assert table_fingerprint(ResponseTable.read_parquet(tmp_path / "renamed.parquet")) == fp
    flipped = ResponseTable.read_parquet(table_path)
    flipped.responses.loc[0, "label"] = 1 - flipped.responses.loc[0, "label"]
    assert table_fingerprint(flipped) != fp

    split = {"kind": "query", "fractions": [0.8, 0.1, 0.1], "seed": 0, "stratify": True}

    def knn(k: int = 5, name: str = "knn") -> ModelSpec:
        return ModelSpec(model=name, params={"k": k})

    base = cell_key(fp, split, knn(), "hashing-32", "complete")
    assert base == cell_key(fp, dict(split), knn(), "hashing-32", "complete")
    others = [cell_key(table_fingerprint(flipped), split, knn(), "hashing-32", "complete"),
              cell_key(fp, {**split, "seed": 1}, knn(), "hashing-32", "complete"),
              cell_key(fp, split, knn(7), "hashing-32", "complete"),
              cell_key(fp, split, knn(name="knn-2"), "hashing-32", "complete"),
              cell_key(fp, split, knn(), "all-MiniLM-L6-v2", "complete"),
              cell_key(fp, split, knn(), "hashing-32", "observed")]
    assert len({base, *others}) == 7


def test_kfold_tests_every_query_once_and_pairs_the_differences(tmp_path, table_path):
    spec = _spec(table_path, [{"name": "irtnet-tiny", "model": "irtnet", "preset": "small",
                               "params": {"config": {"use_groups": True, "infer_groups": True},
                                          "train": {"epochs": 15, "lr": 1e-2}}},
                              {"name": "model-benchmark-mean"}, {"name": "model-mean"}],
                 seeds=(0,), folds=3, n_boot=200, focus="model-benchmark-mean")
    result, tables = _run(spec, tmp_path / "run")
    assert all(c.status == "ok" for c in result.cells) and {c.fold for c in result.cells} == {0, 1, 2}
    splits = [json.loads((tmp_path / "run" / "splits" / f"syn-query-seed0-fold{f}.json").read_text())
              for f in range(3)]
    tested = [q for s in splits for q in s["test"]]
    assert len(tested) == len(set(tested)) == ResponseTable.read_parquet(table_path).n_queries
    stats = {(x["dataset"], x["setting"]): x for x in json.loads((tmp_path / "run" / "stats.json").read_text())}
    assert set(stats) == {("syn", "query"), ("syn", "text")}
    for p in stats.values():
        assert p["focus"] == "model-benchmark-mean" and set(p["rows"]) == {"irtnet-tiny", "model-mean"}
        assert p["n_queries"] == len(tested) and p["units"] == 3
        for m in p["rows"]["model-mean"]["metrics"].values():
            assert m["lo"] <= m["diff"] <= m["hi"] and m["verdict"] in ("win", "tie", "loss")
    # names known, the per-benchmark mean beats the model mean; names hidden, it is the model mean: a tie at 0
    assert stats[("syn", "query")]["rows"]["model-mean"]["metrics"]["auc"]["verdict"] == "win"
    hidden = stats[("syn", "text")]["rows"]["model-mean"]["metrics"]["auc"]
    assert hidden["diff"] == hidden["lo"] == hidden["hi"] == 0 and hidden["verdict"] == "tie"
    # names hidden the two route alike; routing accuracy differs only on the queries routed differently
    assert stats[("syn", "text")]["rows"]["model-mean"]["routing_disagreement"]["n_differ"] == 0
    for p in stats.values():
        for row in p["rows"].values():
            d, r = row["routing_disagreement"], row["metrics"]["routing"]
            assert d["n_routed"] == p["n_queries"]
            if d["n_differ"]:
                assert math.isclose(r["diff"], d["share"] * (d["a"] - d["b"]), abs_tol=1e-12)
    text_md = (tmp_path / "run" / "tables" / "syn-text.md").read_text()
    assert "model-benchmark-mean minus each entry" in text_md and "routed differently" in text_md
    paired = text_md[text_md.index("minus each entry"):].split("\n\n")[1].splitlines()
    assert paired[0].startswith("| against") and paired[-1].startswith("| **best other**")
    assert len({line.count("|") for line in paired}) == 1  # every row as wide as the header


def test_the_cache_key_changes_with_the_package_source(table_path, monkeypatch):
    """A code change (here: a different source fingerprint) never serves a cell the old code computed."""
    import irtnet.api.compare_spec as cs

    split = {"kind": "query", "fractions": [0.8, 0.1, 0.1], "seed": 0, "stratify": True}
    model = ModelSpec(model="knn", params={"k": 5})
    before = cell_key("fp", split, model, "hashing-32", "complete")
    monkeypatch.setattr(cs, "source_fingerprint", lambda *parts: "another version of the code")
    assert cell_key("fp", split, model, "hashing-32", "complete") != before


def test_the_cache_key_hashes_the_computing_layers_and_not_the_presenting_ones():
    """Editing a report, the command line or the service keeps the cached cells; editing a model does not."""
    from irtnet._version import PRESENTATION, computing_parts

    parts = computing_parts()
    assert {"data", "models", "training", "predictors", "tasks", "api", "metrics.py"} <= set(parts)
    assert not set(parts) & {"reporting", "cli", "serve", "integrations", "__init__.py", "__pycache__"}
    assert PRESENTATION <= {"reporting", "cli", "serve", "integrations", "__init__.py"}


def test_resolved_params_expand_presets_fill_defaults_and_follow_the_seed(table_path):
    spec = _spec(table_path, [{"name": "model-mean"}])

    def params(entry: CompareEntry, seed: int) -> dict:
        return entry_spec(entry, spec, seed).params

    small = params(CompareEntry(name="a", model="irtnet", preset="small"), seed=2)
    sparse = params(CompareEntry(name="b", model="irtnet", preset="small",
                                 params={"config": {"moe": {"top_k": 1}}}), seed=2)
    assert small["config"]["moe"]["n_experts"] == 4 and small["config"]["moe"]["top_k"] == 2
    assert sparse["config"]["moe"]["top_k"] == 1 and sparse["config"]["moe"]["n_experts"] == 4
    assert small["train"]["seed"] == 2 and small["train"]["progress"] is False
    default = params(CompareEntry(name="c", model="irtnet"), seed=0)  # no preset: the one default everywhere
    assert default["config"]["use_groups"] is True and default["config"]["dim"] == 32
    assert params(CompareEntry(name="model-mean"), 0) == {"prior_strength": 1.0}
    assert params(CompareEntry(name="random"), 5)["seed"] == 5
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        params(CompareEntry(name="nope"), 0)
    with pytest.raises(ConfigError, match="preset.*IrtNet option"):
        params(CompareEntry(name="model-mean", preset="small"), 0)


def test_a_failing_variant_is_reported_and_retried_not_fatal(tmp_path, table_path):
    spec = _spec(table_path, [{"name": "exploding"}, {"name": "model-mean"}], seeds=(0, 1))
    result, tables = _run(spec, tmp_path / "run")
    rows = {r["label"]: r for r in tables[("syn", "query")]["rows"]}
    assert rows["model-mean"]["status"] == "ok" and rows["model-mean"]["n_ok"] == 2
    assert rows["exploding"]["status"] == "error"
    assert rows["exploding"]["errors"]["0"] == "RuntimeError: boom in fit"
    md = (tmp_path / "run" / "tables" / "syn-query.md").read_text()
    assert "error: RuntimeError: boom in fit" in md
    _run(spec, tmp_path / "run")  # errors are not cached: tried again
    assert FITS.count("exploding") == 4


def test_item_seen_models_are_scored_on_a_pair_split_only(tmp_path, table_path):
    spec = _spec(table_path, [{"name": "seen-only"}, {"name": "model-mean", "settings": ["query", "pair"]},
                              {"name": "counting"}], seeds=(0, 1))
    result, tables = _run(spec, tmp_path / "run")
    q_rows = {r["label"]: r for r in tables[("syn", "query")]["rows"]}
    p_rows = {r["label"]: r for r in tables[("syn", "pair")]["rows"]}
    assert q_rows["seen-only"]["status"] == "n/a" and q_rows["counting"]["status"] == "ok"
    assert set(p_rows) == {"seen-only", "model-mean"} and p_rows["seen-only"]["status"] == "ok"
    assert tables[("syn", "pair")]["routing_mode"] == "observed"
    assert "n/a (item-seen" in (tmp_path / "run" / "tables" / "syn-query.md").read_text()


def test_pair_split_partitions_pairs_and_keeps_every_test_query_seen(table_path):
    from irtnet.data.dataset import Dataset
    from irtnet.data.table import ResponseTable

    table = ResponseTable.read_parquet(table_path)
    part = split_by_pair(table, (0.8, 0.1, 0.1), seed=3)
    assert np.array_equal(part, split_by_pair(table, (0.8, 0.1, 0.1), seed=3))
    assert abs((part == 2).mean() - 0.1) < 0.02
    data = Dataset.from_table(table)
    train, test = pair_subset(data, part == 0), pair_subset(data, part == 2)
    assert set(test.table.query_vocab.ids) <= set(train.table.query_vocab.ids)
    assert len(train.table.responses) + len(test.table.responses) + (part == 1).sum() == len(table.responses)


def test_a_dataset_in_a_new_long_file_runs_from_an_import_spec(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"m{m},q{q},{int(rng.random() < 0.3 + 0.1 * m)},{'ab'[q % 2]},question number {q}"
            for m in range(4) for q in range(60)]
    (tmp_path / "log.csv").write_text("llm,item,ok,task,prompt\n" + "\n".join(rows) + "\n")
    options = {"model": "llm", "query": "item", "outcome": "ok", "benchmark": "task", "text": "prompt"}
    spec = load_spec({"datasets": [{"name": "fresh", "format": "long", "path": str(tmp_path / "log.csv"),
                                    "options": options}],
                      "models": [{"name": "model-benchmark-mean"}], "seeds": [0], "encoder": "hashing-16"})
    result, tables = _run(spec, tmp_path / "run")
    assert result.datasets["fresh"]["n_pairs"] == 240 and tables[("fresh", "query")]["rows"][0]["status"] == "ok"
    assert len(result.datasets["fresh"]["provenance"]["files"]) == 1


def test_spec_errors_are_clear(table_path):
    with pytest.raises(ConfigError, match="either `table` or both `format` and `path`"):
        load_spec({"datasets": [{"name": "x", "format": "long"}], "models": [{"name": "model-mean"}]})
    with pytest.raises(ConfigError, match="model names must be unique"):
        _spec(table_path, [{"name": "model-mean"}, {"name": "model-mean"}])
    with pytest.raises(ConfigError, match="summing to 1"):
        _spec(table_path, [{"name": "model-mean"}], fractions=[0.5, 0.1, 0.1])


def test_bad_seeds_filters_and_folds_are_refused_before_any_fit(tmp_path, table_path):
    with pytest.raises(ConfigError, match=r"seeds must be whole numbers in \[0, 4294967295\], got \[-1\]"):
        _spec(table_path, [{"name": "counting"}], seeds=(-1,))
    spec = _spec(table_path, [{"name": "counting"}], seeds=(0,))
    with pytest.raises(ConfigError, match="--only-datasets: 'nope' not in the spec; its names: syn"):
        run_comparison(spec, tmp_path / "run", only_datasets={"nope"})
    with pytest.raises(ConfigError, match="--only-models: 'nope' not in the spec; its names: counting"):
        run_comparison(spec, tmp_path / "run", only_models={"counting", "nope"})
    with pytest.raises(ConfigError, match="dataset 'syn': folds = 100000 is more than its 240 queries"):
        run_comparison(_spec(table_path, [{"name": "counting"}], seeds=(0,), folds=100000), tmp_path / "run")
    with pytest.raises(ConfigError, match="model entry 'mine': unknown model 'nope'"):
        run_comparison(_spec(table_path, [{"name": "counting"}, {"name": "mine", "model": "nope"}], seeds=(0,)),
                       tmp_path / "run")
    assert FITS == []
    bad_format = load_spec({"datasets": [{"name": "logs", "format": "nope", "path": str(table_path)}],
                            "models": [{"name": "counting"}], "seeds": [0]})
    with pytest.raises(ConfigError, match="dataset 'logs': unknown format 'nope'"):
        run_comparison(bad_format, tmp_path / "run")
    res = CliRunner().invoke(app, ["compare", "--out", str(tmp_path / "run"), "-d", str(table_path),
                                   "-m", "model-mean", "--seeds", "a,b"])
    assert res.exit_code == 2 and "--seeds: expected comma-separated whole numbers, got 'a'" in res.output


def test_a_bad_entry_or_encoder_is_refused_by_name_before_any_dataset_is_loaded(tmp_path, table_path):
    """What would fail every cell of an entry (a preset, a parameter, an override, an encoder not installed) is
    refused up front, naming the entry and the field; the missing table behind it is never reached."""
    missing = tmp_path / "missing.parquet"
    cases = [
        ([{"name": "big", "model": "irtnet", "preset": "gigantic"}], {},
         "model entry 'big': preset: unknown IrtNet preset 'gigantic'; presets: "),
        ([{"name": "near", "model": "knn", "params": {"nonsense": 1}}], {},
         "model entry 'near': params: 'knn' has no parameter 'nonsense'; its parameters: k, "),
        ([{"name": "bad-param", "model": "irtnet", "params": {"config": {"no_such": 1}}}], {},
         "model entry 'bad-param': params: invalid IrtNet parameters: no_such: Extra inputs are not permitted"),
        ([{"name": "knn"}], {"overrides": {"knn": {"nonsense": 1}}},
         "model entry 'knn': overrides.knn: 'knn' has no parameter 'nonsense'"),
        ([{"name": "tiny", "model": "irtnet", "params": {"train": {"seed": 3}}}], {},
         "model entry 'tiny': params: two seeds: params.train.seed = 3 and seed = 0"),
        ([{"name": "knn", "encoder": "no-such-encoder"}], {},
         "model entry 'knn': encoder: encoder 'no-such-encoder' is not available offline"),
        ([{"name": "knn"}], {"encoder": "no-such-encoder"}, "encoder: encoder 'no-such-encoder' is not available"),
    ]
    for models, extra, message in cases:
        spec = _spec(missing, [{"name": "counting"}, *models], seeds=(0,), **extra)
        with pytest.raises(ConfigError) as caught:
            run_comparison(spec, tmp_path / "run")
        assert str(caught.value).startswith(message), str(caught.value)
    assert FITS == [] and not (tmp_path / "run").exists()
    left_out = _spec(table_path, [{"name": "counting"}, {"name": "knn", "encoder": "no-such-encoder"}], seeds=(0,))
    run_comparison(left_out, tmp_path / "only", only_models={"counting"})  # the entry left out is not checked
    assert FITS == ["counting"]
    # what a cell builds is the entry's params with the overrides merged over them: an override may mend one
    tiny = {"name": "tiny", "model": "irtnet", "preset": "small", "params": {"train": {"epochs": 0}}}
    mended = _spec(table_path, [tiny], seeds=(0,), overrides={"irtnet": {"train": {"epochs": 1}}})
    check_entry(mended.models[0], mended)
    with pytest.raises(ConfigError, match="model entry 'tiny': params: invalid IrtNet parameters: epochs: "):
        check_entry(mended.models[0], _spec(table_path, [tiny], seeds=(0,)))
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(f'encoder = "hashing-32"\nout = "{tmp_path / "cli"}"\n[[datasets]]\nname = "syn"\n'
                         f'table = "{table_path}"\n[[models]]\nname = "big"\nmodel = "irtnet"\npreset = "gigantic"\n')
    res = CliRunner().invoke(app, ["compare", "--config", str(spec_file)])
    assert res.exit_code == 2 and "error: model entry 'big': preset: unknown IrtNet preset 'gigantic'" in res.output
    assert not (tmp_path / "cli").exists()


def test_every_dataset_source_is_checked_before_any_cell_is_computed(tmp_path, table_path):
    not_parquet = tmp_path / "notes.parquet"
    not_parquet.write_text("not a table")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1]}), tmp_path / "plain.parquet")
    cases = [({"table": str(tmp_path / "missing.parquet")},
              f"dataset 'later': {tmp_path / 'missing.parquet'}: no such file"),
             ({"table": str(not_parquet)}, f"dataset 'later': {not_parquet}: not a readable Parquet file"),
             ({"table": str(tmp_path / "plain.parquet")},  # Parquet, but not a table irtnet wrote
              f"dataset 'later': {tmp_path / 'plain.parquet'}: not an irtnet response table"),
             ({"format": "long", "path": str(tmp_path / "log.csv")},
              f"dataset 'later': {tmp_path / 'log.csv'}: no such file or folder"),
             ({"format": "long", "path": str(table_path), "options": {"nonsense": 1}},
              "dataset 'later': format 'long' takes no option 'nonsense' (its options: "),
             ({"format": "nope", "path": str(table_path)}, "dataset 'later': unknown format 'nope'")]
    for source, message in cases:
        spec = load_spec({"datasets": [{"name": "syn", "table": str(table_path)}, {"name": "later", **source}],
                          "models": [{"name": "counting"}], "seeds": [0], "encoder": "hashing-32"})
        with pytest.raises(ConfigError) as caught:
            run_comparison(spec, tmp_path / "run")
        assert str(caught.value).startswith(message), str(caught.value)
    assert FITS == [] and not (tmp_path / "run").exists()


def test_a_zero_test_or_training_fraction_is_refused_and_a_zero_validation_one_runs(tmp_path, table_path):
    with pytest.raises(ConfigError, match=r"fractions: the test fraction must be positive \(every cell is scored "
                                          r"on the test part\), got \[0.9, 0.1, 0.0\]"):
        _spec(table_path, [{"name": "counting"}], fractions=[0.9, 0.1, 0.0])
    with pytest.raises(ConfigError, match=r"fractions: the training fraction must be positive, got \[0.0, 0.5, 0.5\]"):
        _spec(table_path, [{"name": "counting"}], fractions=[0.0, 0.5, 0.5])
    result, _ = _run(_spec(table_path, [{"name": "counting"}], seeds=(0,), fractions=[0.9, 0.0, 0.1]),
                     tmp_path / "run")  # no validation part: trained without one
    assert {c.status for c in result.cells} == {"ok"}


@pytest.mark.parametrize(("change", "message"), [
    ({"seeds": [0, 0]}, "seeds must be distinct (a repeated seed repeats its cells); repeated: [0]"),
    ({"seeds": [True]}, "seeds.0: Input should be a valid integer"),
    ({"seeds": ["1"]}, "seeds.0: Input should be a valid integer"),
    ({"folds": "5"}, "folds: Input should be a valid integer"),
    ({"fractions": ["0.8", 0.1, 0.1]}, "fractions.0: Input should be a valid number"),
    ({"n_boot": "200"}, "n_boot: Input should be a valid integer"),
    ({"threads": 1.0}, "threads: Input should be a valid integer"),
    ({"stratify": "yes"}, "stratify: Input should be a valid boolean"),
    ({"models": [{"name": ""}]}, "models.0.name: a name must not be empty or blank, got ''"),
    ({"models": [{"name": "  ", "model": "counting"}]}, "models.0.name: a name must not be empty or blank, got '  '"),
    ({"datasets": [{"name": "syn", "table": "t.parquet", "options": {"model": "llm"}}]},
     "datasets.0: dataset 'syn': `options` apply to imported datasets (`format` and `path`) only; a `table` is "
     "read as it is"),
    ({"overrides": {"knn": {"k": 3}, "irtnet": {}}},
     "overrides: no entry's model is 'knn' or 'irtnet' (the entries' models: counting, model-mean)"),
])
def test_values_that_would_be_coerced_or_ignored_are_refused(table_path, change, message):
    raw = {"datasets": [{"name": "syn", "table": str(table_path)}], "models": [{"name": "counting"},
           {"name": "mean", "model": "model-mean"}], "seeds": [0], **change}
    with pytest.raises(ConfigError) as caught:
        load_spec(raw)
    assert str(caught.value) == f"invalid comparison spec: {message}"


def test_cli_compare_and_results_document(tmp_path, table_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(f'title = "tiny"\nencoder = "hashing-32"\n[[datasets]]\nname = "syn"\n'
                         f'table = "{table_path}"\n[[models]]\nname = "model-mean"\n')
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["compare", "--config", str(spec_file), "--out", str(out), "--seeds", "0,1",
                              "-m", "model-mean", "-m", "tiny=irtnet:small", "--epochs", "1",
                              "--markdown", str(tmp_path / "doc.md")])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in results["spec"]["models"]] == ["model-mean", "tiny"]
    assert results["spec"]["overrides"] == {"irtnet": {"train": {"epochs": 1}}}
    assert results["run"]["spec_file"] == str(spec_file) and results["spec"]["seeds"] == [0, 1]
    res = runner.invoke(app, ["results", str(out), "-o", str(tmp_path / "results.md")])
    assert res.exit_code == 0, res.output
    doc = (tmp_path / "results.md").read_text()
    fp = results["datasets"]["syn"]["fingerprint"]
    assert "## tiny" in doc and f"`{fp[:12]}`" in doc and "Seeds: 0, 1" in doc and "tiny | irtnet" in doc
    assert aggregate(results)[0]["rows"][1]["label"] == "tiny"
    assert results_document([out]).startswith("# Results")
    res = runner.invoke(app, ["compare", "--out", str(out), "-d", "syn=nope:x", "-m", "model-mean"])
    assert res.exit_code == 2 and "unknown format 'nope'" in res.output
    plain = tmp_path / "plain"  # --epochs with no IrtNet entry sets nothing, and is no error
    res = runner.invoke(app, ["compare", "--config", str(spec_file), "--out", str(plain), "--seeds", "0",
                              "--epochs", "3", "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((plain / "results.json").read_text())["spec"]["overrides"] == {}


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml")),
                         ids=lambda p: p.name)
def test_every_shipped_comparison_spec_is_valid(path):
    from irtnet.config import read_config_file

    spec = load_spec(read_config_file(path))
    assert spec.datasets and spec.models
    for entry in spec.models:  # every entry builds as its cells will
        check_entry(entry, spec)
    if spec.focus is not None:
        assert spec.focus in {m.name for m in spec.models}


def test_a_table_without_texts_is_na_for_the_models_that_read_them(tmp_path, table_path):
    table = ResponseTable.read_parquet(table_path)
    table.queries["text"] = None  # a table of ids only, as LiveCodeBench's
    assert not table.has_text
    path = tmp_path / "ids-only.parquet"
    table.to_parquet(path)
    spec = _spec(path, [{"name": "knn"}, {"name": "model-mean"}], seeds=(0,), folds=2, n_boot=100, focus="knn")
    result, tables = _run(spec, tmp_path / "run")
    status = {(c.label, c.setting): c.status for c in result.cells}
    assert status == {("knn", "query"): "n/a", ("knn", "text"): "n/a", ("model-mean", "query"): "ok",
                      ("model-mean", "text"): "ok"}
    assert "n/a (syn has no query texts; knn reads them)" in (tmp_path / "run" / "tables" / "syn-query.md").read_text()
    stats = {(x["dataset"], x["setting"]): x for x in json.loads((tmp_path / "run" / "stats.json").read_text())}
    assert stats[("syn", "text")]["unavailable"] == "syn has no query texts; knn reads them"
    doc = results_document([tmp_path / "run"])
    assert "| syn | text only | n/a (syn has no query texts; knn reads them) |" in doc
    reason = "n/a (syn has no query texts; knn reads them)"  # the README's summary: one n/a row per setting
    assert _md_rows(summary_markdown(tmp_path / "run"), "| dataset") == [["syn", "benchmark known", reason, "", ""],
                                                                        ["", "text only", reason, "", ""]]


@pytest.fixture(scope="module")
def summary_run(tmp_path_factory, table_path) -> Path:
    """A 2-fold run, focus the per-benchmark mean, of a table with texts ("syn") and one without ("ids")."""
    tmp = tmp_path_factory.mktemp("summary")
    table = ResponseTable.read_parquet(table_path)
    table.queries["text"] = None
    table.to_parquet(tmp / "ids.parquet")
    spec = load_spec({"datasets": [{"name": "syn", "table": str(table_path)},
                                   {"name": "ids", "table": str(tmp / "ids.parquet")}],
                      "models": [{"name": "model-benchmark-mean"}, {"name": "model-mean"}, {"name": "knn"}],
                      "seeds": [0], "folds": 2, "n_boot": 100, "focus": "model-benchmark-mean",
                      "encoder": "hashing-32"})
    run_comparison(spec, tmp / "run", progress=False)
    return tmp / "run"


def test_summary_table_is_the_readme_table_from_the_documents_own_figures(summary_run):
    text = summary_markdown(summary_run)
    assert text.splitlines()[:2] == ["| dataset | setting | AUC: model-benchmark-mean vs best other | log loss "
                                     "| routing accuracy |", "|---|---|---|---|---|"]
    rows = _md_rows(text, "| dataset")
    assert [r[:2] for r in rows] == [["syn", "benchmark known"], ["", "text only"],
                                     ["ids", "benchmark known"], ["", "text only"]]  # one per (dataset, setting)
    assert text.splitlines()[3].startswith("| | text only | .")  # the README's empty dataset cell
    assert rows[0][2].endswith(", **win**")  # names known, the per-benchmark mean beats the others on AUC
    doc = results_document([summary_run])
    verdicts = {(r[0], r[1]): r[2:5] for r in _md_rows(doc, "**model-benchmark-mean against the best other")}
    tables = {(t["dataset"], t["setting"]): {r["label"]: r for r in t["rows"]}
              for t in aggregate(read_results(summary_run))}
    groups = (("correctness", "auc"), ("correctness", "log_loss"), ("routing", "micro"))
    names = {"benchmark known": "query", "text only": "text"}
    for row, dataset in zip(rows, ("syn", "syn", "ids", "ids")):
        table = tables[(dataset, names[row[1]])]
        for k, ((group, metric), cell, verdict_cell) in enumerate(zip(groups, row[2:], verdicts[(dataset, row[1])])):
            other, _, verdict = verdict_cell.partition(": ")  # "model-mean: +0.0123 [...] **win**"
            word = verdict.rsplit("**", 2)[-2]
            means = [table[label][group][metric]["mean"] for label in ("model-benchmark-mean", other)]
            named = f" {other}" if k == 0 else ""
            assert cell == f"{short(means[0])} vs {short(means[1])}{named}, {'**win**' if word == 'win' else word}"
            assert all(f"{mean:.4f}" in doc for mean in means)  # the means the document's tables print
    assert short(0.8437) == ".844" and short(0.0004) == ".000" and short(1.25) == "1.250" and short(None) == "-"


def test_cli_results_summary_prints_the_tables_with_or_without_the_document(tmp_path, summary_run):
    runner = CliRunner()
    res = runner.invoke(app, ["results", str(summary_run), "--summary"])
    assert res.exit_code == 0, res.output
    assert res.stdout == summary_markdown(summary_run) + "\n"
    twin = shutil.copytree(summary_run, tmp_path / "twin")  # two runs (the same run twice is refused)
    res = runner.invoke(app, ["results", str(summary_run), str(twin), "-o", str(tmp_path / "r.md"), "--summary"])
    assert res.exit_code == 0, res.output
    assert res.stdout == summary_markdown(summary_run) + "\n\n" + summary_markdown(twin) + "\n"
    assert (tmp_path / "r.md").read_text().startswith("# Results") and "wrote" in res.stderr
    res = runner.invoke(app, ["results", str(summary_run)])
    assert res.exit_code == 2 and "give -o FILE" in res.output
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text((summary_run / "results.json").read_text())
    res = runner.invoke(app, ["results", str(tmp_path / "old"), "-o", str(tmp_path / "x.md"), "--summary"])
    assert res.exit_code == 2 and "no stats.json" in res.output and not (tmp_path / "x.md").exists()


def _copy_run(summary_run: Path, to: Path, names=("results.json", "stats.json")) -> Path:
    """A folder holding `names` of the summary run (what `irtnet results` reads)."""
    to.mkdir()
    for name in names:
        shutil.copy(summary_run / name, to / name)
    return to


_STATS = "the paired statistics of `irtnet compare` (a JSON list of objects with 'dataset' and 'setting')"


@pytest.mark.parametrize("name, content, message", [
    ("results.json", "truncate", ": not valid JSON, truncated or damaged? ("),
    ("results.json", "{}", ", field 'spec': missing, expected a JSON object (not the results.json of `irtnet "
                           "compare`, or damaged)"),
    ("results.json", '{"spec": {"datasets": [], "models": {}}, "cells": [], "datasets": {}}',
     ", field 'spec.models': got a JSON object, expected a JSON list"),
    ("stats.json", "truncate", ": not valid JSON, truncated or damaged? ("),
    ("stats.json", "{}", f": expected {_STATS}, got a JSON object"),
    ("stats.json", "[3]", ", row 1: expected an object with 'dataset' and 'setting' (strings), got a JSON number"),
], ids=["results-truncated", "results-empty-object", "results-models-object", "stats-truncated", "stats-object",
        "stats-not-objects"])
@pytest.mark.parametrize("mode", ["-o", "--summary"])
def test_results_refuses_a_truncated_or_malformed_results_or_stats_file(tmp_path, summary_run, name, content,
                                                                         message, mode):
    run = _copy_run(summary_run, tmp_path / "run")
    text = (run / name).read_text()
    (run / name).write_text(text[:len(text) // 2] if content == "truncate" else content)
    args = ["-o", str(tmp_path / "r.md")] if mode == "-o" else ["--summary"]
    res = CliRunner().invoke(app, ["results", str(run), *args])
    assert res.exit_code == 2 and f"error: {run / name}{message}" in " ".join(res.output.split()), res.output
    assert "Traceback" not in res.output and not (tmp_path / "r.md").exists()


def test_results_without_stats_json_says_the_paired_sections_are_left_out(tmp_path, summary_run):
    run = _copy_run(summary_run, tmp_path / "run", names=("results.json",))
    res = CliRunner().invoke(app, ["results", str(run), "-o", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    note = (f"{run / 'stats.json'} is missing: the Verdicts and Paired differences sections are left out (rerun "
            "`irtnet compare` into this folder to make it)")
    assert f"note: {note}" in " ".join(res.stdout.split())
    doc = (tmp_path / "r.md").read_text()
    assert f"## Verdicts\n\nNote: {note}." in doc and "**Paired differences" not in doc
    assert f"Note: {note}." in (run / "summary.md").read_text()
    res = CliRunner().invoke(app, ["results", str(run), "--summary"])  # the summary is the verdicts: refused
    assert res.exit_code == 2 and "no stats.json here" in res.output


def test_the_verdicts_give_the_focus_entrys_ece_over_the_pooled_test_queries(summary_run):
    from irtnet.metrics import ece

    results = read_results(summary_run)
    doc = results_document([summary_run])
    rows = {(r[0], r[1]): r for r in _md_rows(doc, "**model-benchmark-mean against the best other")}
    for setting, name, key in (("query", "benchmark known", "scores_known"), ("text", "text only", "scores_text")):
        cells = [c for c in results["cells"] if c["dataset"] == "syn" and c["setting"] == setting
                 and c["label"] == "model-benchmark-mean" and c["status"] == "ok"]
        parts = [np.load(summary_run / "cells" / f"{c['key']}.npz") for c in cells]
        y = np.concatenate([f["labels"].ravel() for f in parts])
        p = np.concatenate([f[key].ravel() for f in parts])
        seen = ~np.isnan(y)
        assert len(cells) == 2 and rows[("syn", name)][-1] == f"{ece(p[seen], y[seen]):.4f}"


def test_cli_results_refuses_a_run_given_twice_and_writes_every_file_or_none(tmp_path, summary_run, monkeypatch):
    """Left by bug bash 8: a run given twice put its tables into the document twice; the runs' tables/ and the
    document were separate writes, so a failure midway left one run's tables new and the document old."""
    runner = CliRunner()
    res = runner.invoke(app, ["results", str(summary_run), str(summary_run) + "/", "-o", str(tmp_path / "r.md")])
    assert res.exit_code == 2 and "the run is given twice" in res.output and not (tmp_path / "r.md").exists()
    run = shutil.copytree(summary_run, tmp_path / "run")
    summary = (run / "summary.md").read_text()
    (run / "summary.md").write_text("old")
    real = _io.atomic_path
    calls = []

    def fail_on_the_summary(path):  # the document's temporary file is written before, the tables' after it
        calls.append(Path(path).name)
        if Path(path).name == "summary.md":
            raise OSError("disk full")
        return real(path)

    monkeypatch.setattr(_io, "atomic_path", fail_on_the_summary)
    with pytest.raises(OSError, match="disk full"):
        runner.invoke(app, ["results", str(run), "-o", str(tmp_path / "r.md")], catch_exceptions=False)
    assert calls[0] == "r.md" and not (tmp_path / "r.md").exists() and (run / "summary.md").read_text() == "old"
    monkeypatch.setattr(_io, "atomic_path", real)
    res = runner.invoke(app, ["results", str(run), "-o", str(tmp_path / "r.md")])
    assert res.exit_code == 0 and (run / "summary.md").read_text().startswith(summary.splitlines()[0])
    assert (run / "summary.md").read_text() != "old" and (tmp_path / "r.md").read_text().startswith("# Results")

"""The estimation protocol and the data-efficiency curve on tiny synthetic data (hashing encoder, the `small`
IrtNet preset for two epochs), through the task functions, the API and the command line; the protocol's cache of
finished draws."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet.api.data import prepare
from irtnet.api.experiments import factory
from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.errors import ConfigError, DataError
from irtnet.predictors.spec import ModelSpec
from irtnet.reporting.estimation_figures import estimation_markdown
from irtnet.tasks.data_efficiency import SETTINGS, data_efficiency_curve, stratified_order
from irtnet.tasks.estimate import OVERALL
from irtnet.tasks.estimation_draws import DrawCache, DrawResult, draw_key, load_draw, save_draw
from irtnet.tasks.estimation_protocol import EstimationEvaluation, evaluate_estimation
from irtnet.tasks.estimation_summary import BASELINES, IRTNET, METHODS, EstimationCell, paired_errors, summarise
from irtnet.tasks.item_refit import CHOICE_ANSWERS, STRENGTH_GRID

SMALL = ModelSpec(preset="small", params={"train": {"epochs": 2, "progress": False}})
NS, ROUTING_N = (10, 40), 40
RUN = {"ns": NS, "draws": 2, "routing_ns": (ROUTING_N,), "n_draws": 200, "n_boot": 200}  # the `result` fixture's
METRICS = ("abs_error", "bias", "spearman", "coverage", "width")


@pytest.fixture(scope="module")
def data(one_torch_thread):
    synth = make_synthetic(n_models=9, n_queries=400, n_benchmarks=2, dim=2, feature_dim=8, seed=0)
    return prepare(synth.table, "hashing-64")


@pytest.fixture(scope="module")
def draw_cache(tmp_path_factory):
    return DrawCache(tmp_path_factory.mktemp("est") / "est.draws", {"model": "small"})


@pytest.fixture(scope="module")
def result(data, draw_cache):
    make = factory(SMALL)
    return evaluate_estimation(data, make, retrain=make, cache=draw_cache, **RUN)


def test_summary_has_every_method_n_and_metric(result):
    doc = json.loads(json.dumps(result.to_dict()))  # JSON-able as it is
    assert doc["settings"]["replay_weight"] == "auto"  # the default, recorded
    overall = {(r["method"], r["n"]): r for r in doc["summary"] if r["benchmark"] == "all"}
    expected = {(m, n) for m in METHODS if m != "retrain" for n in NS} | {("retrain", ROUTING_N)}
    assert set(overall) == expected
    assert all(set(METRICS) <= set(r) for r in doc["summary"])
    benchmarks = {r["benchmark"] for r in doc["summary"]} - {"all"}
    assert benchmarks == {"algebra", "biology"}
    for (method, _), row in overall.items():
        assert 0 <= row["abs_error"] < 1
        has_interval = method.startswith(("irtnet-", "mean-"))
        assert math.isfinite(row["coverage"]) == has_interval
        if has_interval:
            assert 0 <= row["coverage"] <= 1 and 0 < row["width"] <= 1
        # irtnet also gives the overall accuracy an interval of its own (estimate.OVERALL cells)
        assert ("overall_coverage" in row) == method.startswith("irtnet-")
        if method.startswith("irtnet-"):
            assert 0 <= row["overall_coverage"] <= 1 and 0 < row["overall_width"] < row["width"] + 0.5


def test_paired_rows_compare_every_irtnet_method_with_every_baseline(result):
    pairs = {(r["a_method"], r["b_method"], r["n"], r["metric"]) for r in result.paired}
    expected = {(a, b, n) for a in IRTNET for b in BASELINES if b != "retrain" for n in NS}
    expected |= {(a, "retrain", ROUTING_N) for a in IRTNET}
    assert {(*k, m) for k in expected for m in ("abs_error", "overall_abs_error")} == pairs
    for r in result.paired:
        assert r["verdict"] in {"win", "tie", "loss"} and r["lo"] <= r["diff"] <= r["hi"]
        assert r["diff"] == pytest.approx(r["a"] - r["b"])
    routing = {(r["b_method"], r["metric"], r["n"]) for r in result.routing}
    assert routing == {(b, m, ROUTING_N) for b in ("retrain", "hiershrink") for m in ("routing", "auc", "log_loss")}
    assert all(r["a_method"] == "irtnet-added" and r["n_draws"] == 2 for r in result.routing)


def _cells(method: str, errors: dict[str, list[float]]) -> list[EstimationCell]:
    """Two models x benchmarks "small" (100 items) and "large" (300): estimate = truth 0.5 + the error given."""
    return [EstimationCell(0, model, method, 10, bench, n_items, 0, 0.5 + err, float("nan"), float("nan"), 0.5)
            for model, errs in errors.items() for (bench, n_items), err in zip((("small", 100), ("large", 300)), errs)]


def test_overall_error_weights_each_benchmark_by_its_items():
    # m1: +0.1 on 100 items, -0.1 on 300 -> overall -0.05; m2: +0.2 and +0.2 -> +0.2
    cells = _cells("irtnet-random", {"m1": [0.1, -0.1], "m2": [0.2, 0.2]})
    cells += _cells("mean-random", {"m1": [0.0, 0.0], "m2": [0.1, 0.1]})  # overall 0 and 0.1
    # irtnet's own overall rows (truth 0.5): m1's interval holds it, m2's does not; they change no other figure
    cells += [EstimationCell(0, "m1", "irtnet-random", 10, OVERALL, 400, 0, 0.45, 0.4, 0.52, 0.5),
              EstimationCell(0, "m2", "irtnet-random", 10, OVERALL, 400, 0, 0.7, 0.6, 0.8, 0.5)]
    rows = {r["method"]: r for r in summarise(cells) if r["benchmark"] == "all"}
    assert rows["irtnet-random"]["overall_coverage"] == 0.5
    assert rows["irtnet-random"]["overall_width"] == pytest.approx((0.12 + 0.2) / 2)
    assert "overall_coverage" not in rows["mean-random"]
    assert OVERALL not in {r["benchmark"] for r in summarise(cells)}
    assert rows["irtnet-random"]["abs_error"] == pytest.approx(0.15)  # the mean over the four cells
    assert rows["irtnet-random"]["overall_abs_error"] == pytest.approx((0.05 + 0.2) / 2)
    assert rows["irtnet-random"]["overall_bias"] == pytest.approx((-0.05 + 0.2) / 2)
    assert rows["mean-random"]["overall_abs_error"] == pytest.approx(0.05)
    assert all("overall_abs_error" not in r for r in summarise(cells) if r["benchmark"] != "all")
    paired = {r["metric"]: r for r in paired_errors(cells, n_boot=200)}
    assert paired["abs_error"]["diff"] == pytest.approx(0.15 - 0.05)
    assert paired["overall_abs_error"]["diff"] == pytest.approx(0.125 - 0.05)
    assert (paired["overall_abs_error"]["n_cells"], paired["overall_abs_error"]["n_units"]) == (2, 2)
    assert (paired["abs_error"]["n_cells"], paired["abs_error"]["n_units"]) == (4, 2)


def test_cells_hold_the_truth_and_share_random_answers(result, data):
    from irtnet.data.splits import split_by_query

    pool = data.select(split_by_query(data.table, (0.8, 0.1, 0.1), seed=1).train)  # draw 1's pool: seed + 1
    labels = pool.table.label_matrix()
    bench = pool.table.queries["benchmark"].to_numpy(dtype=object)
    for cell in (c for c in result.cells if c.draw == 1 and c.method == "mean-random"):
        y = labels[:, pool.table.model_vocab.index([cell.model])[0]]
        assert cell.truth == pytest.approx(np.nanmean(y[bench == cell.benchmark]))
        assert cell.n_items == np.sum(~np.isnan(y) & (bench == cell.benchmark))
    answered = {(c.draw, c.model, c.n, c.benchmark, c.method): c.n_answered for c in result.cells}
    for (draw, model, n, b, method), k in answered.items():
        if method == "mean-random":  # the same random items for every random-item method
            assert answered[(draw, model, n, b, "irtnet-random")] == k == answered[(draw, model, n, b, "hiershrink")]
    assert {c.draw for c in result.cells} == {0, 1}
    assert sum(c.n_answered for c in result.cells if c.method == "irtnet-adaptive" and c.n == 10
               and c.draw == 0 and c.benchmark != OVERALL) == 10 * result.settings["n_held_out"]
    for cell in (c for c in result.cells if c.draw == 1 and c.benchmark == OVERALL):  # every item of the pool
        y = labels[:, pool.table.model_vocab.index([cell.model])[0]]
        assert cell.method in IRTNET and (cell.n_answered, cell.n_items) == (cell.n, np.sum(~np.isnan(y)))
        assert cell.truth == pytest.approx(np.nanmean(y))


def test_markdown_summary_shows_the_verdicts(result):
    md = estimation_markdown(result.to_dict())
    assert "### Paired: irtnet minus each baseline" in md and "| irtnet-adaptive | gp-irt | 10 |" in md
    assert "### Routing on test queries" in md
    assert "### Mean absolute error of the overall accuracy" in md and "| overall_abs_error |" in md
    older = result.to_dict()  # a file written before the overall error existed: that table is left out
    older["summary"] = [{k: v for k, v in r.items() if not k.startswith("overall_")} for r in older["summary"]]
    md = estimation_markdown(older)
    assert "### Mean absolute error of the overall" not in md and "### Mean absolute error per benchmark" in md


def test_data_efficiency_curve_is_nested_and_scores_both_settings(data):
    factories = {"irtnet": factory(SMALL), "model-benchmark-mean": factory(ModelSpec(model="model-benchmark-mean"))}
    curve = data_efficiency_curve(data, factories, fractions=(0.1, 0.5, 1.0), seed=0)
    assert len(curve.points) == 2 * 3 * len(SETTINGS)
    sizes = sorted({(p.fraction, p.n_train_queries) for p in curve.points})
    assert [n for _, n in sizes] == sorted(n for _, n in sizes) and sizes[-1][1] == curve.settings["n_train_queries"]
    for p in curve.points:
        assert 0 <= p.accuracy <= 1 and 0 <= p.auc <= 1 and p.n_test_pairs > 0
    assert set(curve.curve("irtnet", "text only")) == {0.1, 0.5, 1.0}
    json.dumps(curve.to_dict())


def test_stratified_order_keeps_shares_in_every_prefix():
    groups = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    order = stratified_order([f"q{i}" for i in range(100)], groups, seed=0)
    of = dict(zip([f"q{i}" for i in range(100)], groups))
    assert sorted(order) == sorted(of)
    for k in (5, 10, 33, 100):
        for g, share in (("a", 0.6), ("b", 0.3), ("c", 0.1)):
            assert abs(sum(of[q] == g for q in order[:k]) - share * k) <= 1


def test_errors_name_the_setting(data):
    make = factory(SMALL)
    with pytest.raises(ConfigError, match="numbers of answers must be at least 1"):
        evaluate_estimation(data, make, ns=())
    with pytest.raises(ConfigError, match="draws must be at least 1"):
        evaluate_estimation(data, make, draws=0)
    with pytest.raises(ConfigError, match="held_out_share must lie strictly between"):
        evaluate_estimation(data, make, held_out_share=1.5)
    with pytest.raises(ConfigError, match="unknown estimation method 'oracle'"):
        evaluate_estimation(data, make, methods=["oracle"])
    with pytest.raises(ConfigError, match="unknown replay_weight 'median'"):
        evaluate_estimation(data, make, replay_weight="median")
    with pytest.raises(ConfigError, match="no IRT query parameters"):
        evaluate_estimation(data, factory(ModelSpec(model="model-mean")), ns=(10,), draws=1)
    with pytest.raises(ConfigError, match=r"training fractions must lie in \(0, 1\]"):
        data_efficiency_curve(data, {"irtnet": make}, fractions=(0.0, 0.5))
    with pytest.raises(ConfigError, match="no predictors to train"):
        data_efficiency_curve(data, {})


def test_oversized_or_zero_requests_are_refused_before_any_training(data):
    def make():
        raise AssertionError("trained before the settings were checked")

    with pytest.raises(DataError, match=r"field 'ns': every N asked \(\[100000\]\) is more than the \d+ items"):
        evaluate_estimation(data, make, ns=(100000,), draws=1)
    with pytest.raises(ConfigError, match=r"routing_ns: numbers of answers must be given and at least 1, got \[0\]"):
        evaluate_estimation(data, make, ns=(10,), draws=1, retrain=make, routing_ns=(0,))
    with pytest.raises(ConfigError, match="level must lie strictly between 0 and 1, got 2"):
        evaluate_estimation(data, make, ns=(10,), draws=1, level=2.0)


def test_api_refuses_a_model_without_query_parameters(tmp_path):
    from irtnet.api import evaluate_estimation as api_run

    with pytest.raises(ConfigError, match="needs an IRT model with query parameters"):
        api_run(tmp_path / "t.parquet", ModelSpec(model="knn"), "hashing-64")


def test_cli_quick_runs_write_json_figures_and_markdown(tmp_path):
    runner = CliRunner()
    make_synthetic(n_models=7, n_queries=300, n_benchmarks=2, dim=2, feature_dim=6, seed=1).table.to_parquet(
        tmp_path / "t.parquet")
    common = ["--encoder", "hashing-64", "--preset", "small", "--epochs", "2", "--threads", "1"]
    out = tmp_path / "est.json"
    res = runner.invoke(app, ["evaluate-estimation", str(tmp_path / "t.parquet"), "-o", str(out), "--quick", *common])
    assert res.exit_code == 0, res.output
    assert "draws computed in this invocation: 1, read from the cache" in " ".join(res.output.split())  # wrapped
    assert len(list((tmp_path / "est.draws").glob("draw0-*.npz"))) == 1
    doc = json.loads(out.read_text())
    assert doc["run"] == {"draws_computed": 1, "draws_from_cache": 0, "draw_cache": str(tmp_path / "est.draws")}
    assert {r["method"] for r in doc["summary"]} == set(METHODS) and doc["settings"]["quick"] is True
    assert {r["n"] for r in doc["summary"]} == {10, 50}
    for name in ("est-error.png", "est-coverage.png", "est.md"):
        assert (tmp_path / name).stat().st_size > 0
    eff = tmp_path / "eff.json"
    res = runner.invoke(app, ["data-efficiency", str(tmp_path / "t.parquet"), "-o", str(eff), "--fractions",
                              "0.25,1", "--baselines", "model-mean", *common])
    assert res.exit_code == 0, res.output
    assert {p["predictor"] for p in json.loads(eff.read_text())["points"]} == {"irtnet", "model-mean"}
    assert (tmp_path / "eff.png").stat().st_size > 0 and "| model-mean |" in (tmp_path / "eff.md").read_text()
    # the report embeds both results: tables and curves (what `irtnet report --include` does with the files)
    from irtnet.reporting import html as H

    rep = H.Report("r")
    H.estimation_section(rep, doc)
    H.efficiency_section(rep, json.loads(eff.read_text()))
    page = H.render(rep)
    for fig in ("estimation_error", "estimation_coverage", "data_efficiency"):
        assert f"<figure id='{fig}'><img alt='{fig}' src='data:image/png;base64," in page
    assert "All benchmarks, per method and N" in page and "<td>model-mean</td>" in page
    bad = runner.invoke(app, ["evaluate-estimation", str(tmp_path / "t.parquet"), "--ns", "ten", *common])
    assert bad.exit_code == 2 and "expected comma-separated whole numbers" in bad.output
    for value, message in (("strong", "--prior-strength: expected a number"), ("0", "prior strength must lie from 1e-06 to 1e+06"), ("nan", "prior strength must lie from 1e-06 to 1e+06")):
        bad = runner.invoke(app, ["evaluate-estimation", str(tmp_path / "t.parquet"), "--prior-strength", value, *common])
        assert bad.exit_code == 2 and message in bad.output
    auto = runner.invoke(app, ["evaluate-estimation", str(tmp_path / "t.parquet"), "-o", str(tmp_path / "auto.json"),
                               "--quick", "--no-retrain", "--methods", "irtnet-random", "--no-figures",
                               "--prior-strength", "auto", *common])
    assert auto.exit_code == 0, auto.output
    (record,) = json.loads((tmp_path / "auto.json").read_text())["settings"]["item_refit"]["per_draw"]
    assert record["strength_chosen"] and record["strength_scored_on"] == "held-out queries"
    assert set(record["strength_at"]) == {"10", "50"}  # --quick: N in 10, 50; routing at 50
    assert doc["settings"]["prior_strength"] == 1.0  # the default: 1, not chosen


def test_a_text_free_table_runs_with_an_item_seen_irt_model(tmp_path):
    # livecodebench-like: no query text, so the checkpoint is a classical 2PL on the known models' answers,
    # HierShrink clusters the known models' answers, and routing on unseen test queries is skipped
    from irtnet.api import evaluate_estimation as api_run

    make_synthetic(n_models=9, n_queries=200, n_benchmarks=2, dim=1, feature_dim=6, seed=2,
                   text=False).table.to_parquet(tmp_path / "t.parquet")
    res = api_run(tmp_path / "t.parquet", ModelSpec(model="irt-2pl"), "hashing-64", quick=True, threads=1)
    doc = res.to_dict()
    assert doc["settings"]["routing_ns"] == [] and doc["routing"] == []
    overall = {(r["method"], r["n"]): r for r in doc["summary"] if r["benchmark"] == "all"}
    assert {"hiershrink", "irtnet-random", "retrain", "gp-irt"} <= {m for m, _ in overall}
    assert all(np.isfinite(r["abs_error"]) for r in overall.values())
    auto = api_run(tmp_path / "t.parquet", ModelSpec(model="irt-2pl"), "hashing-64", quick=True, threads=1,
                   methods=["irtnet-random"], retrain=False, prior_strength=None)  # no items for validation queries:
    (record,) = auto.settings["item_refit"]["per_draw"]                          # scored on the pool
    assert record["strength_chosen"] and record["strength_scores"] and record["strength_scored_on"] == "pool items"


def test_prior_strength_is_checked_recorded_and_moves_the_estimates(data):
    make = factory(SMALL)
    with pytest.raises(ConfigError, match="prior strength must lie from 1e-06 to 1e\\+06"):
        evaluate_estimation(data, make, ns=(10,), draws=1, prior_strength=0.0)
    runs = {f: evaluate_estimation(data, make, ns=(10,), draws=1, methods=["irtnet-random"], prior_strength=f,
                                   n_draws=100, n_boot=100) for f in (1.0, 0.05)}
    assert [r.settings["prior_strength"] for r in runs.values()] == [1.0, 0.05]
    strong, weak = ([c.estimate for c in r.cells] for r in runs.values())
    assert len(strong) == len(weak) and strong != weak  # a weaker prior lets the answers move theta further
    weak = runs[0.05].settings["item_refit"]["per_draw"][0]
    assert weak["prior_strength"] == 0.05 and not weak["strength_chosen"] and weak["n_answers"] == CHOICE_ANSWERS
    chosen = evaluate_estimation(data, make, ns=(10, 40), draws=1, methods=["irtnet-random"], n_draws=100, n_boot=100,
                                 prior_strength=None)
    assert chosen.settings["prior_strength"] == "chosen per draw and N (item_refit.per_draw)"
    (record,) = chosen.settings["item_refit"]["per_draw"]  # chosen on the known models, recorded with its scores
    assert record["strength_chosen"] and record["strength_scores"][str(record["prior_strength"])] == min(
        record["strength_scores"].values())
    assert record["strength_scored_on"] == "held-out queries"  # the draw's validation queries
    # and chosen again at each N the protocol scores (its routing Ns too), from the same grid
    assert set(record["strength_at"]) == {"10", "40", "50", "100"}
    assert set(record["strength_at"].values()) <= set(STRENGTH_GRID)


# ------------------------------------------------------------------------------------- the draw cache
def _json_without_run(result: EstimationEvaluation) -> str:
    """The result's JSON but its run record (how many draws were read): NaN-safe to compare as text."""
    return json.dumps({k: v for k, v in result.to_dict().items() if k != "run"}, sort_keys=True)


def test_a_saved_draw_reads_back_whole_and_a_damaged_one_reads_as_none(tmp_path):
    cell = EstimationCell(0, "m1", "mean-random", 10, "algebra", 100, 10, 0.5, float("nan"), 0.75, 0.6)
    routing = {40: {"y": np.array([[1.0, np.nan]]), "irtnet-added": np.array([[0.25, 0.5]], np.float32),
                    "new": np.array([False, True])}}
    path = tmp_path / "draws" / "draw0-k.npz"
    save_draw(path, DrawResult([cell], routing, {"prior_sd": np.float64(0.5), "strength_at": {"10": 1.0}}, True))
    assert [f.name for f in path.parent.iterdir()] == [path.name]  # no temporary left beside it
    with np.load(path) as f:  # the record is strict JSON: the undefined lower bound is null, not a NaN token
        assert json.loads(str(f["record"]), parse_constant=pytest.fail)["cells"][0]["lower"] is None
    back = load_draw(path)
    assert back is not None and back.item_seen and back.refit == {"prior_sd": 0.5, "strength_at": {"10": 1.0}}
    assert json.dumps(asdict(back.cells[0])) == json.dumps(asdict(cell))
    assert list(back.routing) == [40] and list(back.routing[40]) == ["y", "irtnet-added", "new"]
    for name, array in routing[40].items():
        assert back.routing[40][name].dtype == array.dtype
        np.testing.assert_array_equal(back.routing[40][name], array)
    whole = path.read_bytes()
    for damaged in (b"", b"not a zip archive", whole[: len(whole) // 2]):
        path.write_bytes(damaged)
        assert load_draw(path) is None
    assert load_draw(tmp_path / "draws" / "absent.npz") is None


def test_a_draw_key_changes_with_every_part_it_hashes():
    parts = ("table", {"model": "a"}, {"level": 0.9}, 0)
    key = draw_key(*parts)
    assert key == draw_key(*parts) and len(key) == 24
    others = {draw_key(*parts[:i], other, *parts[i + 1:])
              for i, other in enumerate(("other", {"model": "b"}, {"level": 0.8}, 1))}
    assert len(others) == 4 and key not in others


def test_a_rerun_reads_the_finished_draws_and_gives_the_same_result(data, result, draw_cache):
    assert result.run == {"draws_computed": 2, "draws_from_cache": 0, "draw_cache": str(draw_cache.folder)}
    files = sorted(draw_cache.folder.glob("*.npz"))
    assert [f.name.split("-")[0] for f in files] == ["draw0", "draw1"]
    files[1].unlink()  # draw 1 is computed again, draw 0 read
    make = factory(SMALL)
    again = evaluate_estimation(data, make, retrain=make, cache=draw_cache, **RUN)
    assert (again.run["draws_computed"], again.run["draws_from_cache"]) == (1, 1) and files[1].is_file()
    assert _json_without_run(again) == _json_without_run(result)


def test_a_failed_draw_is_not_saved_a_damaged_one_is_redone_and_a_new_setting_reads_none(data, tmp_path):
    cache = DrawCache(tmp_path / "est.draws", {"model": "small"})
    make = factory(SMALL)
    run = {"ns": (10,), "methods": ["mean-random"], "n_draws": 100, "n_boot": 100, "cache": cache}
    calls: list[int] = []

    def second_fails():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("interrupted")
        return make()

    with pytest.raises(RuntimeError, match="interrupted"):
        evaluate_estimation(data, second_fails, draws=2, **run)
    (first,) = cache.folder.glob("*.npz")  # draw 0 only: the failed draw left nothing
    assert first.name.startswith("draw0-")
    resumed = evaluate_estimation(data, make, draws=2, **run)
    assert (resumed.run["draws_computed"], resumed.run["draws_from_cache"]) == (1, 1)
    first.write_bytes(b"truncated")
    redone = evaluate_estimation(data, make, draws=1, **run)  # fewer draws: the same key for draw 0
    assert (redone.run["draws_computed"], redone.run["draws_from_cache"]) == (1, 0) and load_draw(first) is not None
    changed = evaluate_estimation(data, make, draws=1, level=0.8, **run)
    assert (changed.run["draws_computed"], changed.run["draws_from_cache"]) == (1, 0)
    assert len(list(cache.folder.glob("*.npz"))) == 3


def test_a_held_out_model_with_fewer_answers_than_a_routing_n_is_said(one_torch_thread):
    sparse = prepare(make_synthetic(n_models=9, n_queries=400, n_benchmarks=2, dim=2, feature_dim=8, density=0.08,
                                    seed=1).table, "hashing-64")
    said: list[str] = []
    make = factory(SMALL)
    out = evaluate_estimation(sparse, make, ns=(10,), draws=1, methods=("mean-random", "retrain"), retrain=make,
                              routing_ns=(70,), n_boot=50, progress=said.append)
    short = [m for m in said if "enters routing (added and retrained) with its" in m]
    answered = {c.model: c for c in out.cells if c.method == "retrain"}
    assert short and all(m.endswith("answers at N = 70") for m in short)
    for message in short:  # the count said is the model's pool answers, fewer than the N
        assert int(message.split("with its ")[1].split()[0]) < 70
    assert not answered  # no retrain estimate is scored where the model has fewer answers than N


def test_the_result_and_its_figures_are_written_as_one_change(tmp_path):
    """A failure while the figures are drawn leaves the earlier result and figures; then all are new together."""
    from irtnet.api.estimation import write_with

    out, md = tmp_path / "est.json", tmp_path / "est.md"
    out.write_text('{"old": true}')
    md.write_text("old summary")

    def broken(doc):
        raise RuntimeError("the figure could not be drawn")

    with pytest.raises(RuntimeError, match="could not be drawn"):
        write_with(out, {"new": True}, broken)
    assert (out.read_text(), md.read_text()) == ('{"old": true}', "old summary")
    write_with(out, {"new": True}, lambda doc: [(md, f"summary of {sorted(doc)}")])
    assert json.loads(out.read_text()) == {"new": True} and md.read_text() == "summary of ['new']"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["est.json", "est.md"]

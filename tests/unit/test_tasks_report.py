"""The task commands and the HTML report, end to end on tiny synthetic data (hashing encoder)."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app
from irtnet.data.synthetic import make_synthetic
from irtnet.reporting.figures import difficulty_scatter
from irtnet.reporting.html import FigureItem, Report, Table, render, write_report

runner = CliRunner()


def _ok(args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    synth = make_synthetic(n_models=6, n_queries=360, n_benchmarks=3, dim=2, feature_dim=6, seed=0)
    synth.table.to_parquet(root / "t.parquet")
    prices = {m: {"per_query": 0.001 * (6 - i)} for i, m in enumerate(synth.table.model_vocab.ids)}
    (root / "prices.json").write_text(json.dumps(prices))
    texts = synth.table.queries["text"].tolist()
    (root / "texts.txt").write_text("\n".join(texts[:30]))
    pd.DataFrame({"text": texts[:25], "label": (synth.prob[:25, 0] > 0.5).astype(int)}).to_csv(root / "ans.csv",
                                                                                               index=False)
    _ok(["train", root / "t.parquet", "-o", root / "run", "--preset", "small", "--encoder", "hashing-64",
         "--epochs", "2", "--lr", "0.01", "--quiet", "--threads", "1"])
    return root


def test_report_embeds_every_figure_as_a_data_uri(root):
    _ok(["evaluate", root / "run"])
    _ok(["evaluate-cost", root / "run", "--prices", root / "prices.json"])
    out = root / "report.html"
    _ok(["report", root / "run", "-o", out])
    page = out.read_text()
    sources = re.findall(r"<img [^>]*src='([^']*)'", page)
    figures = [f["name"] for s in json.loads(out.with_suffix(".json").read_text())["sections"] for f in s["figures"]]
    expected = {"difficulty", "ability_profile", "ability_map", "item_curves", "discrimination", "cost_curve"}
    assert expected <= set(figures)
    assert len(sources) == len(figures) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http" not in "".join(sources) and "<script" not in page and "<link" not in page
    doc = json.loads(out.with_suffix(".json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    titles = [s["title"] for s in doc["sections"]]
    assert titles[:3] == ["Evaluation on the run's test queries", "Interpretation", "Cost-aware routing"]
    # the run's evaluation.json has two settings: a correctness and a routing table for each, in order
    tables = [t["title"] for t in doc["sections"][0]["tables"]]
    assert [t.split(" (")[0] for t in tables] == ["Correctness prediction", "Routing"] * 2
    assert "(benchmark known" in tables[0] and "(benchmark known;" in tables[1]
    assert "(text only: names hidden" in tables[2] and "(text only: names hidden;" in tables[3]
    rows = {t["title"]: [r[0] for r in t["rows"]] for t in doc["sections"][0]["tables"]}
    assert all(rows[t][:5] == ["irtnet", "model-benchmark-mean", "inferred-benchmark-rate", "knn", "model-mean"]
               for t in tables)
    assert "text only: names hidden" in page and "answered by path" in page


def test_an_evaluation_without_settings_renders_as_before(root):
    from irtnet.reporting.html import evaluation_section

    _ok(["evaluate", root / "run"])
    results = json.loads((root / "run" / "evaluation.json").read_text())
    newer = ("setting", "skipped", "paths", "routed_differently")  # info an older evaluation.json lacks
    old = [{**r, "info": {k: v for k, v in r["info"].items() if k not in newer}}
           for r in results if r["info"]["setting"] == "benchmark known"]
    rep = Report("r")
    evaluation_section(rep, old)
    titles = [t.title for t in rep.sections[0].tables]
    assert titles == ["Correctness prediction", f"Routing ({old[0]['routing']['n_queries']} queries, mode complete)"]
    assert rep.sections[0].paragraphs == []
    render(rep)
    from irtnet.reporting.tables import markdown, rich_tables
    from irtnet.tasks.evaluate import EvaluationResult

    parsed = [EvaluationResult.from_dict(r) for r in old]
    n, q = old[0]["info"]["n_test_pairs"], old[0]["routing"]["n_queries"]
    assert [str(t.title) for t in rich_tables(parsed)] == [  # titles are Text: never read as markup
        f"Correctness prediction ({n} test pairs)", "Per-benchmark accuracy", "Per-benchmark auc",
        f"Routing accuracy ({q} test queries, mode 'complete', 0 excluded)"]
    assert [line for line in markdown(parsed).splitlines() if line.startswith("###")] == [
        "### Correctness", "### Per-benchmark accuracy", f"### Routing ({q} queries, mode 'complete', 0 excluded)"]


def _refused(args, message):
    """The command exits 2 with `message` in its one-line error, and no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


_EVALUATION = "a JSON list of evaluation results (written by `irtnet evaluate`)"


@pytest.mark.parametrize("content, message", [
    ("", ": empty file, expected JSON (an interrupted write?)"),
    ('[{"predictor": "irt', ": not valid JSON, truncated or damaged? (Unterminated string starting at"),
    ("{}", f": expected {_EVALUATION}, got a JSON object"),
    ("[]", f": holds no evaluation results (expected {_EVALUATION}); rerun `irtnet evaluate`"),
    ("[1]", ", row 1: expected an evaluation result (a JSON object), got a JSON number"),
], ids=["empty", "truncated", "object", "empty-list", "not-objects"])
def test_report_refuses_a_bad_evaluation_json_naming_it(root, tmp_path, content, message):
    run = shutil.copytree(root / "run", tmp_path / "run")
    (run / "evaluation.json").write_text(content)
    _refused(["report", run, "-o", tmp_path / "r.html"], f"error: {run / 'evaluation.json'}{message}")
    assert not (tmp_path / "r.html").exists()


_TASKS = "benchmark-accuracy, onboarding, cost-routing, estimation, data-efficiency"


@pytest.mark.parametrize("name, content, message", [
    ("nope.json", None, ": no such file"),
    ("cut.json", '{"task": "onboarding", "rows": [', ": not valid JSON, truncated or damaged?"),
    ("list.json", "[]", f": expected a task result (a JSON object with a 'task' field: {_TASKS}), got a JSON list"),
    ("untasked.json", "{}", f", field 'task': missing (expected one of: {_TASKS})"),
    ("estimate.json", '{"task": "estimate"}', f", field 'task': 'estimate' has no report section (expected one of: "
                                              f"{_TASKS})"),
], ids=["missing", "truncated", "list", "no-task", "unknown-task"])
def test_report_refuses_a_missing_or_malformed_include_file_naming_it(root, tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_text(content)
    _refused(["report", root / "run", "-o", tmp_path / "r.html", "--include", tmp_path / name],
             f"error: {tmp_path / name}{message}")
    assert not (tmp_path / "r.html").exists()


def test_report_renders_tables_and_escapes_text():
    rep = Report("t <1>")
    sec = rep.section("s")
    sec.tables.append(Table("tab", ["a", "b"], [["<x>", float("nan")], ["y", 0.123456]]))
    sec.figures.append(FigureItem("f", "cap", b"\x89PNG fake"))
    page = render(rep)
    assert "&lt;x&gt;" in page and "<x>" not in page and "0.1235" in page and "data:image/png;base64," in page


def test_write_report_writes_html_and_strict_json(tmp_path):
    from irtnet.reporting.figures import png_bytes

    rep = Report("r")
    fig = difficulty_scatter(np.arange(5.0), np.linspace(0, 1, 5), np.array(list("aabbb")))
    rep.section("x").figures.append(FigureItem("d", "c", png_bytes(fig), {"r": float("nan")}))
    html_path, json_path = write_report(rep, tmp_path / "r.html")
    assert html_path.read_text().count("data:image/png;base64,") == 1
    assert json.loads(json_path.read_text())["sections"][0]["figures"][0]["data"] == {"r": None}


def test_predict_benchmark_and_onboard_commands(root):
    out = _ok(["predict-benchmark", root / "run", root / "texts.txt", "--top", "3", "--json", root / "pb.json"])
    ranking = json.loads((root / "pb.json").read_text())["ranking"]
    assert len(ranking) == 6 and "rank" in out
    accs = [r["predicted_accuracy"] for r in ranking]
    assert accs == sorted(accs, reverse=True)
    _ok(["onboard", root / "run", root / "ans.csv", "--name", "newbie", "--save", root / "ck2", "--pool",
         root / "texts.txt", "--suggest", "3", "--json", root / "ob.json"])
    doc = json.loads((root / "ob.json").read_text())
    assert doc["n_answers"] == 25 and len(doc["suggested"]) == 3
    _ok(["predict-benchmark", root / "ck2", root / "texts.txt", "--json", root / "pb2.json"])
    assert "newbie" in {r["model"] for r in json.loads((root / "pb2.json").read_text())["ranking"]}


@pytest.mark.parametrize("name, content, message", [
    ("q.tsv", b"id\ttext\n1\tWhat is 2+2?\n2\tName a gas.\n",
     ": unknown file type '.tsv': expected .txt, .csv, .json or .jsonl"),
    ("q.md", b"# queries\n\n- What is 2+2?\n", ": unknown file type '.md': expected .txt, .csv, .json or .jsonl"),
    ("q.csv.gz", gzip.compress(b"text\nWhat is 2+2?\n"),
     ": unknown file type '.gz': expected .txt, .csv, .json or .jsonl"),
    ("q", b"What is 2+2?\n", ": no file type (the name has no extension): expected .txt, .csv, .json or .jsonl"),
    ("q.txt", b"What is 2+2?\nName a \x84 gas.\n",
     ", line 2: not UTF-8 text (invalid start byte at byte 7 of the line); a binary file?"),
], ids=["tsv", "md", "csv.gz", "no-extension", "txt-not-utf8"])
def test_predict_benchmark_reads_lines_only_from_a_txt_file(root, tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    result = runner.invoke(app, ["predict-benchmark", str(root / "run"), str(tmp_path / name)])
    assert result.exit_code == 2 and f"error: {tmp_path / name}{message}" in result.output, result.output


def test_bad_answers_file_is_one_clear_error(root, tmp_path):
    (tmp_path / "bad.csv").write_text("text,label\nhello,2\n")
    result = runner.invoke(app, ["onboard", str(root / "run"), str(tmp_path / "bad.csv")])
    assert result.exit_code == 2 and "not in [0, 1]" in result.output


def test_evaluation_commands_write_their_json(root):
    common = ["--encoder", "hashing-64", "--epochs", "1"]
    _ok(["evaluate-benchmarks", root / "t.parquet", "-o", root / "bench.json", "--baselines", "model-mean", *common])
    bench = json.loads((root / "bench.json").read_text())
    assert set(bench["summary"]) == {"irtnet", "model-mean"} and len(bench["folds"]) == 3
    assert bench["settings"]["anchors"] == [5, 10, 25, 50]  # the anchor setting, by default
    assert set(bench["anchored"]["10"]) == {"irtnet", "model-mean", "anchor-mean"}
    bad = runner.invoke(app, ["evaluate-benchmarks", str(root / "t.parquet"), "--anchors", "five", *common])
    assert bad.exit_code == 2 and "--anchors: expected comma-separated whole numbers" in bad.output
    from irtnet.reporting import html as H

    rep = Report("r")
    H.benchmark_section(rep, bench)  # what `irtnet report --include bench.json` does
    assert "answered by every model" in render(rep) and "<td>anchor-mean</td>" in render(rep)
    assert "irtnet minus each entry: absolute error" in render(rep) and bench["paired"][0]["a"] == "irtnet"
    _ok(["evaluate-onboarding", root / "t.parquet", "-o", root / "onb.json", "--n-test", "2", "--ks", "5,20",
         "--n-random", "1", "--retrain-epochs", "1", *common])
    methods = {r["method"] for r in json.loads((root / "onb.json").read_text())["rows"]}
    assert {"d-optimal", "random", "retrain", "prior", "all-pool"} <= methods


def test_a_txt_file_with_windows_line_ends_and_a_byte_order_mark_reads_the_plain_texts(tmp_path):
    from irtnet.api.inputs import read_texts

    path = tmp_path / "q.txt"
    path.write_bytes(b"\xef\xbb\xbfWhat is 2+2?\r\nName a gas.\r\n")
    assert read_texts(path) == (["What is 2+2?", "Name a gas."], [None, None])

"""The benchmark scripts run end to end at tiny sizes, exit 0 and print their side-by-side figures.

Nothing here is timed: the figures themselves are the scripts' business (see bench/README.md). These
tests only keep the scripts working, and check what must hold whatever the machine: the two training
implementations give the same loss and gradients, and the scaling run writes its curves.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args, "--threads", "1"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "failed cases" not in proc.stdout, proc.stdout
    return proc.stdout


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def _row(case: str, header: str, text: str) -> float:
    """The number in column `header` of the markdown table row of `case`."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    headers = [h.strip() for h in lines[0].strip("|").split("|")]
    row = next((line for line in lines if line.split("|")[1].strip() == case), None)
    assert row is not None, f"no row for {case}:\n{text}"
    return float(row.strip("|").split("|")[headers.index(header)].strip().replace(",", ""))


def _check_speed_ups(out: str) -> None:
    """Both sides' times are positive and finite, and each printed speed-up is the reference's time over
    ours as printed in the table, so a ratio of the wrong figures or the wrong way round fails. The table
    gives 3 significant figures (0.5% each at worst) and the speed-up 1 decimal (0.05)."""
    for ref in ("reference", "reference-fused"):
        for header, unit in (("s / epoch", "wall"), ("CPU s / epoch", "CPU")):
            ours, theirs = _row("ours", header, out), _row(ref, header, out)
            assert all(math.isfinite(t) and t > 0 for t in (ours, theirs)), (ref, header, ours, theirs)
            printed = _number(rf"speed-up ours over {ref}: (?:[0-9.]+x wall seconds per epoch, )?([0-9.]+)x "
                              rf"{unit} seconds per epoch", out)
            ratio = theirs / ours
            assert abs(printed - ratio) <= 0.05 + 0.011 * ratio, (ref, unit, printed, theirs, ours)
        # the table's own ratio column says the same as the printed wall-clock speed-up
        printed = _number(rf"speed-up ours over {ref}: ([0-9.]+)x wall", out)
        assert abs(_row(ref, "time vs ours", out) - printed) <= 0.05 + 0.006 * printed


def test_train_speed_prints_both_sides_and_equal_loss():
    out = _run("train_speed.py", "--models", "8", "--queries", "40", "--batch-pairs", "64",
               "--ref-batches", "1", "--warmup", "0", "--equal-pairs", "64")
    for case in ("ours", "ours-split", "reference", "reference-fused"):
        assert re.search(rf"^\| {case} +\|", out, re.M), f"no row for {case}:\n{out}"
    _check_speed_ups(out)
    assert _number(r"\|diff\| ([0-9.e+-]+);", out) < 1e-5
    assert _number(r"max relative difference ([0-9.e+-]+)", out) < 1e-3


def test_train_speed_what_if_flags_are_reported():
    out = _run("train_speed.py", "--models", "8", "--queries", "20", "--batch-pairs", "64", "--cases", "ours",
               "--no-reuse-memory", "--torch-dropout")
    assert "freed memory reused (glibc): no" in out
    assert "irtnet's dropout: torch.nn.functional.dropout" in out


def test_inference_speed_prints_routing_text_and_latency():
    out = _run("inference_speed.py", "--models", "8", "--queries", "50", "--ref-queries", "3", "--texts", "4",
               "--latency-reps", "3", "--reps", "1", "--preset", "small")
    for case in ("route", "reference", "model-mean", "text"):
        assert re.search(rf"^\| {case} +\|", out, re.M), f"no row for {case}:\n{out}"
    assert "same choice as IrtNet on 100% of 3" in out  # the reference routes exactly as IrtNet
    assert "Single-query latency" in out
    assert re.search(r"^\| classifier on the embedding \+ character n-grams +\|", out, re.M), out  # text-path case


def test_irt_fit_compares_with_girth():
    out = _run("irt_fit.py", "--shapes", "40x25")
    for method in ("newton", "ours", "girth-mml", "girth-jml"):
        assert re.search(rf"\| +{method} +\|", out), f"no row for {method}:\n{out}"


def test_scaling_writes_curves_and_rereads_its_rows(tmp_path):
    rows, image = tmp_path / "scaling.json", tmp_path / "scaling.png"
    out = _run("scaling.py", "--models", "5,20", "--queries", "100,400", "--max-labels", "2000",
               "--max-batches", "2", "--preset", "small", "--json", str(rows), "--plot", str(image))
    assert "cost model" in out and image.stat().st_size > 0
    saved = json.loads(rows.read_text())["rows"]
    assert len(saved) == 4 and all("error" not in r for r in saved)
    sparse = [r for r in saved if r["density"] < 1]
    assert sparse and all(r["path"] == "pairs" for r in sparse)
    again = _run("scaling.py", "--from-json", str(rows))
    assert again.count("\n| ") == out.count("\n| ")


def test_cli_startup_prints_every_case_beside_the_references():
    out = _run("cli_startup.py", "--reps", "1")
    for case in ("python -c pass (reference)", "import irtnet.api (reference)", "irtnet --help",
                 "irtnet route (missing argument: exit 2)"):
        assert re.search(rf"^\| {re.escape(case)} +\| +[0-9.]+ \|", out, re.M), f"no row for {case}:\n{out}"


def test_classifier_choice_is_bit_identical_to_the_old_way():
    out = _run("classifier_choice.py", "--quick")
    for case in ("reference", "ours"):
        assert re.search(rf"^\| {case} +\|", out, re.M), f"no row for {case}:\n{out}"
    assert _row("reference", "hash calls", out) == 5 and _row("ours", "hash calls", out) == 2, out
    assert "identical classifiers" in out and re.search(r"identical classifiers [^\n]*: yes;", out), out


def test_item_refit_prints_every_side_with_the_same_parameters():
    out = _run("item_refit.py", "--shapes", "200x6x8,150x5x20", "--repeats", "2")
    lines = [line for line in out.splitlines() if line.startswith("| 200x6x8") or line.startswith("| 150x5x20")]
    assert len(lines) == 6 and {line.split("|")[2].strip() for line in lines} == {"ours", "reference", "direct"}, out
    for line in lines:  # every side refits the same parameters: threads and the system's size change the speed only
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[2]) > 0 and float(cells[3]) > 0 and float(cells[5]) < 1e-9, line
    assert "BLAS libraries loaded: " in out and "machine: " in out

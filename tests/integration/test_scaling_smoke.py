"""bench/scaling.py --case 100m and bench/time_to_quality.py run end to end at their --quick sizes and print their
figures. Nothing is timed here: the figures are the scripts' business (bench/README.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SHARED_DATA = Path(os.environ.get("IRTNET_SHARED_DATA", ROOT.parent / "shared" / "data"))  # as tests/conftest.py
NUMBER = r"[\d,]+(?:\.\d+)?"


def _run(script: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args, "--threads", "1"], capture_output=True,
                          text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r"^machine: .+, \d+ logical CPUs", proc.stdout, re.M), proc.stdout
    return proc.stdout


def test_the_100m_case_runs_every_stage_at_its_quick_size(tmp_path):
    out = _run("scaling.py", "--case", "100m", "--quick", cwd=tmp_path)
    for stage in ("generate", "import", "batching", "train", "predict"):
        assert re.search(rf"^\| {stage} +\| +{NUMBER} \| +{NUMBER} \| +{NUMBER} \| +{NUMBER} \|$", out, re.M), out
    assert "labels: 400,000 in 3 Parquet files" in out and "every label batched once: True" in out
    packed = re.search(rf"packed labels ({NUMBER}) MiB \+ embeddings ({NUMBER}) MiB \(mapped\) = ({NUMBER}) MiB", out)
    assert packed, out
    assert float(packed.group(1)) == 1.6  # 400,000 int32 models + 50,000 bytes of bits + the query offsets
    assert re.search(rf"peak RSS from import to prediction: {NUMBER} MiB = {NUMBER} x the packed size", out), out
    assert re.search(rf"epoch: {NUMBER} s wall, {NUMBER} s CPU, 200 steps", out), out
    loss = re.search(r"log loss (\d\.\d+), accuracy (\d\.\d+)", out)
    assert loss and float(loss.group(1)) < 0.69 and float(loss.group(2)) > 0.5, out  # one epoch learnt something
    assert not list(tmp_path.iterdir())  # the data set went to a temporary folder, removed


def test_time_to_quality_prints_both_trainings_beside_the_reference(tmp_path):
    datasets = "llmrouter,synthetic" if (SHARED_DATA / "llmrouter-dcrouter").is_dir() else "synthetic"
    # the hashing encoder: loading MiniLM (the script's default) takes 10-25 s alone; prepare() is the same call
    out = _run("time_to_quality.py", "--quick", "--datasets", datasets, "--encoder", "hashing-256", "--llmrouter",
               str(SHARED_DATA / "llmrouter-dcrouter"), cwd=tmp_path)
    for data in datasets.split(","):
        ref = re.search(rf"^{data}: reference \(pair by pair, paper network, 2 epochs, lr 0.0001, 2048 pairs per batch\): "
                        rf"final test log loss (\d\.\d+) after {NUMBER} s \({NUMBER} CPU s\)$", out, re.M)
        assert ref, out
        for method in ("default", "paper"):
            assert re.search(rf"^\| {data} +\| +{method} \|", out, re.M), out
            line = re.search(rf"^{data}: irtnet {method}: (reached it at epoch \d+ after {NUMBER} s, {NUMBER}x sooner "
                             rf"than the reference's full schedule \(CPU: {NUMBER} s, {NUMBER}x\)|did not reach)", out, re.M)
            assert line, out
            assert re.search(rf"^{data}: per-epoch time, reference / irtnet {method}: {NUMBER}x", out, re.M), out
            final = re.search(rf"^{data}: irtnet {method}: .*final test log loss (\d\.\d+)$", out, re.M)
            assert final and 0 < float(final.group(1)) < 1.0, out

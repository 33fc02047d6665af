"""bench/gpu_check.py runs end to end at its --quick sizes: without CUDA it says it skips the GPU part and
prints the CPU side's training and inference tables; with CUDA it prints the GPU's name and both sides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


def test_gpu_check_quick_runs_and_reports_both_parts():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--skip-pytest", "--threads", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    out = proc.stdout
    if torch.cuda.is_available():
        assert "GPU: " in out and "| cuda" in out and "speed-up cuda over cpu" in out
    else:
        assert "CUDA is not available: skipping the GPU part" in out and "| cuda" not in out
    # rows per case: training (cpu; with CUDA also cuda, and cuda bf16 for the EmbedLLM shape) + inference
    rows = {"embedllm 12x1,200": (2, 5), "large 40x4,000": (2, 4)}
    for case, (cpu_only, with_cuda) in rows.items():
        assert out.count(f"| {case}") == (with_cuda if torch.cuda.is_available() else cpu_only), out
    assert "s / epoch" in out and "queries / s" in out

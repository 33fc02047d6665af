"""bench/serve_load.py runs end to end at its --quick size (hashing encoder): a real `irtnet serve` in a
subprocess answers every request, and the figures are printed. Nothing is timed here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "serve_load.py"


def test_the_load_benchmark_serves_every_request_and_prints_its_figures(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--encoder", "hashing-256", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    assert re.search(r"^machine: .+, \d+ logical CPUs", out, re.M), out
    assert re.search(r"^server: pid \d+, POST /(v1/)?route", out, re.M), out
    header = next(line for line in out.splitlines() if line.startswith("| case"))
    assert [h.strip() for h in header.strip("|").split("|")] == [
        "case", "concurrency", "requests", "errors", "requests/s", "p50 ms", "p99 ms", "RSS before MiB",
        "RSS after MiB"]
    rows = re.findall(r"^\| (new|repeated) text +\| +(\d+) \| +(\d+) \| +(\d+) \| +([\d.,]+) \| +([\d.]+) \| "
                      r"+([\d.]+) \| +([\d,]+) \| +([\d,]+) \|$", out, re.M)
    assert {(r[0], int(r[1])) for r in rows} == {(c, n) for c in ("new", "repeated") for n in (1, 8)}, out
    for case, conc, n, errors, rps, p50, p99, rss0, rss1 in rows:
        assert int(n) == 60 and int(errors) == 0 and float(rps.replace(",", "")) > 0, (case, conc)
        assert 0 < float(p50) <= float(p99) and int(rss0.replace(",", "")) > 0
    assert re.search(r"^server RSS: [\d,]+ MiB after the warm-up, [\d,]+ MiB after 240 requests", out, re.M), out
    assert re.search(r"^cache: [12] shard files written for 200 new texts", out, re.M), out  # 120 + 80 warm-up
    assert re.search(r"^in process: api\.rank_models", out, re.M), out
    assert re.search(r"^errors: 0$", out, re.M), out
    assert not list(tmp_path.iterdir())  # the server's decision log and cache stayed in the script's temp folder

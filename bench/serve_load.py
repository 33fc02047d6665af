"""Load on the HTTP service: requests/s, latency and the server's memory for raw-text routing requests.

    python bench/serve_load.py                                   # all-MiniLM-L6-v2, 10,000 requests per case
    python bench/serve_load.py --requests 2000 --concurrency 1,8 --threads 1
    python bench/serve_load.py --quick --encoder hashing-256     # seconds (the smoke test)

Starts `irtnet serve` (the CLI command itself, in a subprocess on a free loopback port, its decision log and
embedding cache in a temporary folder) on a checkpoint given with --checkpoint or trained here in seconds on
the project's synthetic generator (`make_synthetic`, texts embedded with --encoder), then drives POST
/v1/route if the app has it, else POST /route, with one raw text per request from an async httpx client:

  new text        a text never seen before on every request (the encoder runs; the cache gains a vector)
  repeated text   texts from a pool of 64 that the server has already embedded (the cache answers)

at each --concurrency (requests in flight at once), after a warm-up (the pool, and a few new texts at the
largest concurrency). For each case: requests/s, p50/p99 latency, errors, and the server process's resident
memory (VmRSS in /proc/<pid>/status) before and after. Beside them: the same routing decisions made in this
process (`irtnet.api.rank_models` on one text, in a loop), i.e. the cost without HTTP; and the cache shard
files the server wrote (it is stopped with Ctrl+C, as a user would, so its last buffered vectors count).

--threads sets torch's intra-op threads in the server (OMP_NUM_THREADS) and here. Without it each side uses
torch's default, one thread per core: on a machine whose cores are busy with other work that default makes
every small torch operation wait for all of them (in-process calls measured 10-50x slower than with 1).
The client runs on the same machine as the server and takes CPU from it; the machine line says which CPU,
its load average and the threads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fmt, machine_line, table  # noqa: E402

from irtnet import api  # noqa: E402
from irtnet.data.embeddings import DEFAULT_ENCODER  # noqa: E402

WORDS = ("solve factor equation variable polynomial gene protein cell enzyme organism treaty empire war "
         "dynasty revolution red blue green golden grey violet black silver yellow").split()
TOPICS = ("algebra", "biology", "history", "physics", "chemistry")
POOL = 64  # distinct texts of the repeated-text case


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="checkpoint or run directory (default: train one here)")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="encoder of the trained checkpoint")
    p.add_argument("--requests", type=int, default=10000, help="requests per case")
    p.add_argument("--concurrency", default="1,8,32", help="requests in flight at once, comma-separated")
    p.add_argument("--cases", default="new,repeated", help="new, repeated or both")
    p.add_argument("--in-process", type=int, default=None, help="api.rank_models calls per case (default: "
                   "min(requests, 1000))")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the server and of the "
                   "in-process loop (OMP_NUM_THREADS; default: torch's)")
    p.add_argument("--cache", type=Path, default=None, help="the server's IRTNET_CACHE (default: a temporary one)")
    p.add_argument("--queries", type=int, default=600, help="synthetic queries of the trained checkpoint")
    p.add_argument("--quick", action="store_true", help="small numbers: 60 requests per case at 1 and 8")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.queries = min(args.requests, 60), min(args.queries, 200)
        if args.concurrency == "1,8,32":
            args.concurrency = "1,8"
        args.in_process = args.in_process or 30
    args.conc = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    if set(args.case_list) - {"new", "repeated"}:
        p.error(f"--cases takes new and/or repeated, got {args.cases!r}")
    if args.in_process is None:
        args.in_process = min(args.requests, 1000)
    return args


# ----------------------------------------------------------------------------- texts and checkpoint
def make_text(rng: np.random.Generator, tag: str) -> str:
    """A synthetic-style question ("<topic> question: words..."), made unique by `tag`."""
    words = " ".join(rng.choice(WORDS, size=int(rng.integers(10, 20))))
    return f"{TOPICS[int(rng.integers(len(TOPICS)))]} question: {words} ({tag})"


def train_checkpoint(folder: Path, encoder: str, n_queries: int, seed: int) -> Path:
    """A small IrtNet fitted on the synthetic generator's table, texts embedded with `encoder`."""
    from irtnet.data.dataset import Dataset
    from irtnet.data.embeddings import embed_queries
    from irtnet.data.synthetic import make_synthetic
    from irtnet.predictors import IrtNet
    from irtnet.predictors.checkpoint import save_predictor

    table = make_synthetic(n_models=8, n_queries=n_queries, n_benchmarks=3, dim=2, feature_dim=8, seed=seed).table
    data = Dataset.from_table(table, embed_queries(table, encoder))
    model = IrtNet("small", {"epochs": 2, "progress": False, "seed": seed}).fit(data)
    return save_predictor(model, folder / "checkpoint")


# ----------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoint: Path, port: int, env: dict, log: Path) -> subprocess.Popen:
    """`irtnet serve CHECKPOINT` as a user runs it, in the folder of `log` (where its decision log goes)."""
    cmd = [sys.executable, "-c", "import sys; from irtnet.cli.main import app; sys.argv[0] = 'irtnet'; app()",
           "serve", str(checkpoint), "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:  # the access log: one line per request, kept out of the figures' terminal
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)


def stop_server(proc: subprocess.Popen) -> None:
    """Ctrl+C, as a user stops it: uvicorn shuts down and the interpreter exits (buffered cache vectors are
    written at exit); killed if it has not ended in 30 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    import httpx

    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer /health in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")) / 1024


def route_body(schema: dict | None, text: str) -> dict:
    """A request body for one text, from the endpoint's request schema (the texts list of /route, or an
    OpenAI-style messages list, prompt or input) or, without a schema, {"texts": [text]}."""
    props = (schema or {}).get("properties", {})
    if "texts" in props or not props:
        return {"texts": [text]}
    if "messages" in props:
        return {"messages": [{"role": "user", "content": text}]}
    for name in ("prompt", "input", "text", "query"):
        if name in props:
            return {name: text}
    return {"texts": [text]}


def endpoint(base: str) -> tuple[str, dict | None]:
    """POST /v1/route when the app serves it (and answers a probe), else POST /route; with its body schema."""
    import httpx

    spec = httpx.get(base + "/openapi.json", timeout=10).json()
    for path in ("/v1/route", "/route"):
        post = spec.get("paths", {}).get(path, {}).get("post")
        if post is None:
            continue
        ref = post.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        schema = _resolve(spec, ref)
        r = httpx.post(base + path, json=route_body(schema, "probe question: solve red"), timeout=120)
        if r.status_code == 200:
            return path, schema
        print(f"note: {path} answered the probe with {r.status_code} ({r.text[:200]}); trying the next endpoint")
    raise SystemExit("the app serves neither POST /v1/route nor POST /route in a way this script can call")


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node.get(part, {})
    return node


# ----------------------------------------------------------------------------- load
async def drive(url: str, bodies: list[dict], concurrency: int) -> tuple[float, list[float], int, str]:
    """Send `bodies` with `concurrency` in flight; (seconds, latencies in s, errors, first error)."""
    import httpx

    latencies: list[float] = []
    errors, first = 0, ""
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, first
        for body in queue:  # one shared iterator: each body is sent once
            t0 = time.perf_counter()
            try:
                r = await client.post(url, json=body)
                ok, why = r.status_code == 200, f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                ok, why = False, f"{type(exc).__name__}: {exc}"
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors += 1
                first = first or why

    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors, first


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ms = np.asarray(latencies) * 1000
    return (float(np.percentile(ms, 50)), float(np.percentile(ms, 99))) if len(ms) else (float("nan"),) * 2


def warm_up(args, base: str, path: str, schema: dict | None) -> list[str]:
    """The repeated-text pool, sent once (embedded and cached by the server), and a few new texts at the
    largest concurrency: the figures are of a warm server. The pool is returned."""
    rng = np.random.default_rng(args.seed + 1)
    pool = [make_text(rng, f"pooled {i}") for i in range(POOL)]
    warm = [make_text(rng, f"warm-up {i}") for i in range(2 * max(args.conc))]
    asyncio.run(drive(base + path, [route_body(schema, t) for t in pool + warm], max(args.conc)))
    return pool


def load_cases(args, base: str, path: str, schema: dict | None, pid: int, pool: list[str]) -> list[dict]:
    rng = np.random.default_rng(args.seed + 3)
    rows, serial = [], 0
    for conc in args.conc:
        for case in args.case_list:
            texts = [make_text(rng, f"new {serial + i}") for i in range(args.requests)] if case == "new" else \
                [pool[i % POOL] for i in range(args.requests)]
            serial += args.requests if case == "new" else 0
            before = rss_mb(pid)
            secs, lat, errors, first = asyncio.run(drive(base + path, [route_body(schema, t) for t in texts], conc))
            p50, p99 = percentiles(lat)
            rows.append({"case": f"{case} text", "conc": conc, "n": len(texts), "errors": errors,
                         "rps": len(texts) / secs, "p50": p50, "p99": p99, "rss0": before, "rss1": rss_mb(pid),
                         "first_error": first})
            print(f"  {case} text, concurrency {conc}: {len(texts) / secs:.1f} requests/s, p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms, {errors} errors", flush=True)
    return rows


def in_process(args, checkpoint: Path) -> list[dict]:
    """api.rank_models on one text per call, in this process (no HTTP): new texts, then repeated ones."""
    predictor = api.load(checkpoint)
    rng = np.random.default_rng(args.seed + 2)
    pool = [make_text(rng, f"in-process pooled {i}") for i in range(POOL)]
    api.rank_models(predictor, pool, top=3)  # warm: encoder loaded, pool cached
    rows = []
    for case in args.case_list:
        texts = [make_text(rng, f"in-process {i}") for i in range(args.in_process)] if case == "new" else \
            [pool[i % POOL] for i in range(args.in_process)]
        lat = []
        for text in texts:
            t0 = time.perf_counter()
            api.rank_models(predictor, [text], top=3)
            lat.append(time.perf_counter() - t0)
        p50, p99 = percentiles(lat)
        rows.append({"case": f"{case} text", "conc": 1, "n": len(texts), "errors": 0, "rps": len(texts) / sum(lat),
                     "p50": p50, "p99": p99})
    return rows


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch starts here; the server inherits it
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="irtnet-serve-load-") as tmp:
        tmp = Path(tmp)
        cache = args.cache or tmp / "cache"
        os.environ["IRTNET_CACHE"] = str(cache)  # this process and the server share the cache folder
        print(machine_line(args.threads))
        t0 = time.time()
        checkpoint = args.checkpoint or train_checkpoint(tmp, args.encoder, args.queries, args.seed)
        how = "given" if args.checkpoint else f"trained here in {time.time() - t0:.1f} s"
        args.encoder = getattr(api.load(checkpoint), "encoder_", None) or args.encoder
        print(f"checkpoint: {checkpoint} ({how}; encoder {args.encoder})")
        port, log = free_port(), tmp / "server.log"
        proc = start_server(Path(checkpoint), port, dict(os.environ), log)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc, log)
            path, schema = endpoint(base)
            print(f"server: pid {proc.pid}, POST {path}, one text per request; RSS {rss_mb(proc.pid):.0f} MiB "
                  "after the first request (encoder loaded)", flush=True)
            shards_before = _shards(cache)
            pool = warm_up(args, base, path, schema)
            start_rss = rss_mb(proc.pid)
            rows = load_cases(args, base, path, schema, proc.pid, pool)
            end_rss = rss_mb(proc.pid)
        finally:
            stop_server(proc)
        new_texts = sum(r["n"] for r in rows if r["case"] == "new text") + POOL + 2 * max(args.conc)  # + warm-up
        shards_after = _shards(cache)  # after the server's exit: its last buffered vectors are written
        local = in_process(args, Path(checkpoint))
    report(args, path, rows, local, start_rss, end_rss, new_texts, shards_before, shards_after)
    return 1 if any(r["errors"] for r in rows) else 0


def _shards(cache: Path) -> int:
    return sum(1 for _ in cache.glob("embeddings/*/shard-*.safetensors"))


def report(args, path, rows, local, start_rss, end_rss, new_texts, shards_before, shards_after) -> None:
    total = sum(r["n"] for r in rows)
    cols = [("case", "case"), ("conc", "concurrency"), ("n", "requests"), ("errors", "errors"),
            ("rps", "requests/s"), ("p50", "p50 ms"), ("p99", "p99 ms"), ("rss0", "RSS before MiB"),
            ("rss1", "RSS after MiB")]
    print(f"\nPOST {path}, one raw text per request (encoder {args.encoder})")
    print(table(rows, cols))
    print(f"\nserver RSS: {fmt(start_rss)} MiB after the warm-up, {fmt(end_rss)} MiB after "
          f"{total:,} requests ({end_rss - start_rss:+.1f} MiB)")
    print(f"cache: {shards_after - shards_before} shard files written for {new_texts:,} new texts ("
          f"{POOL + 2 * max(args.conc)} in the warm-up; the last shard at the server's exit)")
    import torch

    print(f"\nin process: api.rank_models(predictor, [text], top=3) in a loop (no HTTP, one call at a time, "
          f"{torch.get_num_threads()} torch threads)")
    print(table(local, [c for c in cols if c[0] not in ("rss0", "rss1", "conc", "errors")]))
    print(f"\nerrors: {sum(r['errors'] for r in rows)}")
    for r in rows:
        if r["errors"]:
            print(f"  first error of {r['case']} at concurrency {r['conc']}: {r['first_error']}")


if __name__ == "__main__":
    sys.exit(main())

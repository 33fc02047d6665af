"""Scaling of IrtNet training with the number of models and queries, on sparse synthetic data.

    python bench/scaling.py                                           # 10..1000 models x 1k..1M queries
    python bench/scaling.py --models 10,100 --queries 1000,10000 --max-batches 5   # a short run

Each (models, queries) cell runs in its own subprocess: it builds planted data in the trainer's query-major
CSR layout (`LabelArrays`; density = min(1, --max-labels / (models x queries)), every query keeping at
least one label, so big cells are sparse), then runs the trainer's own step (`train_step`: batch_logits ->
weighted_bce -> backward -> fused Adam) for --max-batches steps after
--warmup and extrapolates the epoch from the labels covered (0 = a full epoch).

Printed per cell: labels, density, which logit path the batches took (`batch_logits` scores a batch with
one dense [B, M] product when at least half its B x M pairs are labelled, else only the labelled pairs),
seconds and CPU seconds per epoch, resident memory after building the data and at the peak, and what a
dense float32 models x queries matrix would take, for comparison. Then the log-log slope of epoch time
against the number of labels (1 = linear).

    python bench/scaling.py --case 100m            # 100M labels: 5,000 models x 20,000 queries, end to end
    python bench/scaling.py --case 100m --quick    # the same path at 200 x 2,000

`--case 100m` measures the path for response sets too large for pandas: a generator writes planted labels of
every (model, query) pair as a Parquet dataset of several files, block of queries by block (never a frame of
all rows), and the embeddings as a .npy; then `irtnet.data.large` reads them in bounded chunks into packed
query-major arrays (int32 models, bit-packed outcomes) with the embeddings memory-mapped,
`irtnet.training.large_batching.packed_arrays` makes them the trainer's `LabelArrays` (unpacked per batch),
the trainer runs one epoch of the `default` preset's network, and a streaming prediction scores every label.
Printed: wall and CPU seconds and peak RSS of each stage (the peak count restarted before each), beside
the size of the packed labels plus embeddings, and the CPU model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import _embeddings, planted_arrays  # noqa: E402
from _harness import (Timer, current_rss_mb, emit, errors, exit_code, machine_line, peak_rss_mb,  # noqa: E402
                      reset_peak_rss, run_case, setup_torch, strip_case, table)

from irtnet._io import write_json  # noqa: E402
from irtnet.data.large import open_embeddings, read_packed_labels, write_ids  # noqa: E402
from irtnet.models.irtnet import PRESETS, IrtNetModule  # noqa: E402
from irtnet.training.batching import batches, queries_per_batch  # noqa: E402
from irtnet.training.large_batching import packed_arrays  # noqa: E402
from irtnet.training.memory import reuse_freed_memory  # noqa: E402
from irtnet.training.trainer import TrainConfig, batch_logits, is_dense_batch, train, train_step  # noqa: E402

LARGE_SIZES = {"full": (5000, 20000, 8), "quick": (200, 2000, 3)}  # --case 100m: models, queries, Parquet files
N_BENCHMARKS = 10


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="10,100,1000", help="comma-separated model counts")
    p.add_argument("--queries", default="1000,10000,100000,1000000", help="comma-separated query counts")
    p.add_argument("--max-labels", type=int, default=2_000_000,
                   help="labels per cell at most (sets the density); every query keeps at least one")
    p.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    p.add_argument("--embed-dim", type=int, default=384)
    p.add_argument("--batch-pairs", type=int, default=2048)
    p.add_argument("--max-batches", type=int, default=20, help="timed steps per cell, epoch extrapolated (0: all)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.add_argument("--plot", default=None, help="also write the curves to this image (png/svg/pdf)")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--from-json", default=None, help="measure nothing: report (and --plot) the rows of a --json file")
    p.add_argument("--cell", help=argparse.SUPPRESS)
    p.add_argument("--case", default=None,  # no choices: the harness also passes each grid cell's name here
                   help="100m: the end-to-end 100M-label case (5,000 models x 20,000 queries from Parquet) instead "
                        "of the grid")
    p.add_argument("--quick", action="store_true", help="--case 100m at 200 models x 2,000 queries")
    p.add_argument("--large-preset", default="default", choices=sorted(PRESETS), help="--case 100m: the network")
    p.add_argument("--workdir", default=None, help="--case 100m: where the Parquet set and embeddings are written "
                   "and kept (reused when complete); default: a temporary folder, removed afterwards")
    return p.parse_args(argv)


def run_cell(args) -> dict:
    setup_torch(args.threads)
    n_models, n_queries = (int(v) for v in args.cell.split("x"))
    density = min(1.0, args.max_labels / (n_models * n_queries))
    t0 = time.perf_counter()
    arrays = planted_arrays(n_models, n_queries, args.embed_dim, density, seed=args.seed)
    build_s, rss_data, peak_build = time.perf_counter() - t0, current_rss_mb(), peak_rss_mb()
    reset = reset_peak_rss()  # from here on, the peak is that of training alone (plus the resident data)
    torch.manual_seed(args.seed)
    module = IrtNetModule(PRESETS[args.preset], args.embed_dim, n_models).train()
    cfg = TrainConfig()
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)  # as the trainer
    per_batch = queries_per_batch(arrays, args.batch_pairs)
    n_steps = math.ceil(arrays.n_queries / per_batch)
    warmup = args.warmup if n_steps > args.warmup else 0  # an epoch shorter than the warm-up: time it all
    limit = min(n_steps, (args.max_batches or n_steps) + warmup)
    timer, done, labels, dense_steps = Timer(), 0, 0, 0
    it = batches(arrays, per_batch, torch.Generator().manual_seed(args.seed))
    with reuse_freed_memory(True):  # as `irtnet train`, which turns it on for its process
        for i in range(limit):
            with timer if i >= warmup else Timer():
                batch = next(it)
                train_step(module, batch, n_models, opt)
            if i >= warmup:
                done, labels = done + 1, labels + len(batch.model)
                dense_steps += is_dense_batch(batch, n_models)
    scale = arrays.n_labels / labels
    path = "dense" if dense_steps == done else "pairs" if dense_steps == 0 else f"mixed ({dense_steps}/{done} dense)"
    return {"models": n_models, "queries": n_queries, "labels": arrays.n_labels, "density": density,
            "path": path, "steps": n_steps, "epoch_s": timer.total * scale, "epoch_cpu_s": timer.cpu * scale,
            "measured": "epoch" if done == n_steps else f"{done}/{n_steps}", "build_s": build_s,
            "rss_data_mb": rss_data, "peak_build_mb": peak_build, "peak_train_mb": peak_rss_mb() if reset else None,
            "dense_mb": n_models * n_queries * 4 / 2**20}


def slope(rows: list[dict], x: str, y: str) -> float:
    pts = [(r[x], r[y]) for r in rows if r.get(y) and r.get(x)]
    if len(pts) < 2:
        return float("nan")
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def cost_model(rows: list[dict]) -> tuple[float, float]:
    """Least-squares fit of s/epoch = per_query * queries + per_step * steps (the query network runs once per
    query; every step also pays for reading and updating all weights)."""
    if len(rows) < 2:
        return float("nan"), float("nan")
    design = np.array([[r["queries"], r["steps"]] for r in rows], dtype=float)
    target = np.array([r["epoch_s"] for r in rows])
    weights = 1 / target  # relative errors: small cells count as much as big ones
    coef = np.linalg.lstsq(design * weights[:, None], target * weights, rcond=None)[0]
    return float(coef[0]), float(coef[1])


def plot(rows: list[dict], path: str, bound_us: float) -> None:
    """The curves, one line per model count (log-log), written atomically: seconds per epoch against queries
    and against labels (beside the linear bound of the cost model), and memory against queries (beside the
    size of a dense models x queries matrix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from irtnet._io import atomic_path

    fig, (ax_q, ax_l, ax_m) = plt.subplots(1, 3, figsize=(15, 4.4))
    for i, m in enumerate(sorted({r["models"] for r in rows})):
        color = f"C{i}"
        cell = sorted((r for r in rows if r["models"] == m), key=lambda r: r["queries"])
        q = [r["queries"] for r in cell]
        ax_q.plot(q, [r["epoch_s"] for r in cell], "o-", color=color, label=f"{m:,} models")
        ax_l.plot([r["labels"] for r in cell], [r["epoch_s"] for r in cell], "o", color=color, label=f"{m:,} models")
        ax_m.plot(q, [r["train_mb"] for r in cell], "o-", color=color, label=f"{m:,} models: training adds")
        ax_m.plot(q, [r["dense_mb"] for r in cell], "x:", color=color, label=f"{m:,} models: dense M x Q float32")
    lo, hi = min(r["labels"] for r in rows), max(r["labels"] for r in rows)
    ax_l.plot([lo, hi], [bound_us * 1e-6 * lo, bound_us * 1e-6 * hi], "k--", lw=0.8,
              label=f"{bound_us:.0f} us x labels (cost-model bound)")
    for ax, xlabel, ylabel, title in (
            (ax_q, "queries", "seconds per epoch", "training time vs queries"),
            (ax_l, "observed labels", "seconds per epoch", "training time vs labels"),
            (ax_m, "queries", "MiB", "memory training adds vs a dense matrix")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)


def measure(args, argv) -> list[dict]:
    cells = [f"{m}x{q}" for m in args.models.split(",") for q in args.queries.split(",")]
    base = strip_case(sys.argv[1:] if argv is None else argv, drop=("--models", "--queries", "--from-json"))
    rows = []
    for cell in cells:
        print(f"  cell {cell} ...", file=sys.stderr, flush=True)
        res = run_case(__file__, [*base, "--cell", cell], cell, args.timeout)
        if "error" in res:
            print(f"  cell {cell} FAILED: {res['error']}", file=sys.stderr, flush=True)
        rows.append(res)
    return rows


# ----------------------------------------------------------------------------- --case 100m
def _truth(rng: np.random.Generator, n_models: int, d_in: int, k: int = 8) -> dict:
    """A planted 2PL truth over the embeddings: a = softplus(x W_a), b = x w_b + a benchmark offset."""
    shapes = {"w_a": ((d_in, k), 1.0), "w_b": (d_in, 2.0), "theta": ((n_models, k), 1.0), "offset": (N_BENCHMARKS, 1.0)}
    return {name: rng.normal(0, std, shape).astype(np.float32) for name, (shape, std) in shapes.items()}


def _label_block(rng: np.random.Generator, truth: dict, x: np.ndarray, q0: int, names: dict):
    """Labels of every model on queries q0 .. q0 + len(x), rows shuffled, as an Arrow table (ids dictionary-encoded)."""
    n_models = len(truth["theta"])
    a = np.logaddexp(0, x @ truth["w_a"]).astype(np.float32)
    b = x @ truth["w_b"] + truth["offset"][(q0 + np.arange(len(x))) % N_BENCHMARKS]
    q, m = np.divmod(rng.permutation(len(x) * n_models), n_models)
    logit = np.einsum("pk,pk->p", a[q], truth["theta"][m]) - b[q]
    y = (rng.random(len(q)) < 1 / (1 + np.exp(-logit))).astype(np.uint8)

    def coded(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), values)

    return pa.table({"model": coded(m, names["model"]), "query": coded(q, names["query"][q0:q0 + len(x)]),
                     "label": pa.array(y), "benchmark": coded((q0 + q) % N_BENCHMARKS, names["benchmark"])})


def write_large_set(folder: Path, n_models: int, n_queries: int, n_files: int, d_in: int, seed: int,
                    block_rows: int = 1 << 20) -> None:
    """Planted labels of every (model, query) pair as `n_files` Parquet files under folder/labels (row groups of
    about `block_rows` rows, each written as soon as drawn) and the embeddings as folder/embeddings.npy plus ids."""
    rng = np.random.default_rng(seed)
    truth, ids = _truth(rng, n_models, d_in), [f"q{i:07d}" for i in range(n_queries)]
    names = {"model": pa.array([f"m{i:05d}" for i in range(n_models)]), "query": pa.array(ids),
             "benchmark": pa.array([f"bench-{i}" for i in range(N_BENCHMARKS)])}
    emb = np.lib.format.open_memmap(folder / "embeddings.npy", mode="w+", dtype=np.float32, shape=(n_queries, d_in))
    write_ids(folder / "embeddings.npy", ids)
    (folder / "labels").mkdir(exist_ok=True)
    per_block, bounds = max(1, block_rows // n_models), np.linspace(0, n_queries, n_files + 1).astype(int)
    for f in range(n_files):
        writer = None
        for q0 in range(bounds[f], bounds[f + 1], per_block):
            x = _embeddings(rng, min(per_block, bounds[f + 1] - q0), d_in)
            emb[q0:q0 + len(x)] = x
            block = _label_block(rng, truth, x, q0, names)
            writer = writer or pq.ParquetWriter(folder / "labels" / f"part-{f:03d}.parquet", block.schema)
            writer.write_table(block, row_group_size=block_rows)
        writer.close()
    emb.flush()
    del emb


@contextlib.contextmanager
def _stage(stages: dict, name: str):
    """Time a stage and take its own peak RSS (the count restarted on entry)."""
    reset_peak_rss()
    timer = Timer()
    with timer:
        yield
    stages[name] = {"stage": name, "wall_s": timer.total, "cpu_s": timer.cpu, "peak_rss_mb": peak_rss_mb(),
                    "rss_after_mb": current_rss_mb()}


@torch.no_grad()
def stream_predict(module: torch.nn.Module, arrays, n_models: int, batch_queries: int = 256) -> dict:
    """Probabilities of every labelled pair, batch by batch, scored against the labels without keeping them."""
    module.eval()
    loss = hits = 0.0
    for batch in batches(arrays, batch_queries):
        logits, _ = batch_logits(module, batch, n_models)
        loss += float(torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.target, reduction="sum"))
        hits += float(((logits >= 0) == (batch.label >= 0.5)).sum())
    return {"log_loss": loss / arrays.n_labels, "accuracy": hits / arrays.n_labels}


def _large_stages(args, folder: Path, size: tuple[int, int, int]) -> tuple[dict, dict]:
    stages: dict = {}
    done, marker = folder / "complete.json", json.dumps({"size": list(size), "seed": args.seed, "dim": args.embed_dim})
    if done.exists() and done.read_text() == marker:
        print(f"reusing the data set in {folder}")
    else:
        with _stage(stages, "generate"):
            write_large_set(folder, *size, args.embed_dim, args.seed)
        done.write_text(marker)
    with _stage(stages, "import"):
        labels = read_packed_labels(folder / "labels")
        emb = open_embeddings(folder / "embeddings.npy")
    with _stage(stages, "batching"):
        arrays = packed_arrays(labels, emb, labels.benchmark_vocab)
        per_batch = queries_per_batch(arrays, args.batch_pairs)
        seen = sum(len(b.model) for b in batches(arrays, per_batch, torch.Generator().manual_seed(args.seed)))
    torch.manual_seed(args.seed)
    n_models = len(labels.model_vocab)
    module = IrtNetModule(PRESETS[args.large_preset], emb.dim, n_models, len(labels.benchmark_vocab))
    cfg = TrainConfig(epochs=1, batch_pairs=args.batch_pairs, seed=args.seed, threads=args.threads, reuse_memory=True)
    with _stage(stages, "train"):
        result = train(module, arrays, None, n_models, cfg)
    with _stage(stages, "predict"):
        scores = stream_predict(module, arrays, n_models)
    facts = {"labels": arrays.n_labels, "batched": seen, "steps": math.ceil(arrays.n_queries / per_batch),
             "train_loss": result.history[-1]["train_loss"], "packed_mb": labels.nbytes / 2**20,
             "emb_mb": emb.nbytes / 2**20, "disk_mb": sum(f.stat().st_size for f in (folder / "labels").iterdir()) / 2**20,
             "files": len(labels.sources), **scores}
    return stages, facts


def run_large(args) -> int:
    """The 100M-label case end to end (--quick: 200 x 2,000), every stage timed, each peak memory beside the size
    of the packed labels plus embeddings."""
    setup_torch(args.threads)
    size = LARGE_SIZES["quick" if args.quick else "full"]
    print(f"# 100M-label case{' (--quick)' if args.quick else ''}: {size[0]:,} models x {size[1]:,} queries, every "
          f"pair labelled, {size[2]} Parquet files; preset {args.large_preset!r}, {args.embed_dim}-d embeddings, "
          f"{args.batch_pairs} labels per step, one epoch")
    print(machine_line(args.threads))
    base_rss = current_rss_mb()
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        stages, facts = _large_stages(args, Path(args.workdir), size)
    else:
        with tempfile.TemporaryDirectory(prefix="irtnet-100m-") as tmp:
            stages, facts = _large_stages(args, Path(tmp), size)
    _report_large(stages, facts, base_rss)
    return 0


def _report_large(stages: dict, facts: dict, base_rss: float) -> None:
    n, packed = facts["labels"], facts["packed_mb"] + facts["emb_mb"]
    print()
    print(table(list(stages.values()), [("stage", "stage"), ("wall_s", "wall s"), ("cpu_s", "CPU s"),
                                        ("peak_rss_mb", "peak RSS MiB"), ("rss_after_mb", "RSS after MiB")]))
    peak = max(r["peak_rss_mb"] for k, r in stages.items() if k != "generate")
    print(f"\nlabels: {n:,} in {facts['files']} Parquet files ({facts['disk_mb']:,.0f} MiB on disk); "
          f"every label batched once: {facts['batched'] == n}")
    print(f"packed labels {facts['packed_mb']:,.1f} MiB + embeddings {facts['emb_mb']:,.1f} MiB (mapped) = "
          f"{packed:,.1f} MiB; build_arrays' layout would hold {20 * n / 2**20:,.0f} MiB of labels (20 bytes each)")
    print(f"peak RSS from import to prediction: {peak:,.0f} MiB = {peak / packed:.2f} x the packed size; "
          f"{peak - base_rss:,.0f} MiB above the {base_rss:,.0f} MiB of the runtime before any data")
    train_s = stages["train"]["wall_s"]
    print(f"epoch: {train_s:,.1f} s wall, {stages['train']['cpu_s']:,.1f} s CPU, {facts['steps']:,} steps, "
          f"{n / train_s:,.0f} labels/s; training loss {facts['train_loss']:.4f}")
    print(f"prediction of every label: {stages['predict']['wall_s']:,.1f} s ({n / stages['predict']['wall_s']:,.0f} "
          f"labels/s); log loss {facts['log_loss']:.4f}, accuracy {facts['accuracy']:.4f}")


def main(argv=None) -> int | None:
    args = parse(argv)
    if args.cell:
        emit(run_cell(args))
        return
    if args.case is not None:
        if args.case != "100m":
            raise SystemExit(f"unknown case {args.case!r}; the one case is 100m")
        return run_large(args)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        rows, settings = saved["rows"], saved["args"]
        print(f"# Scaling, read from {args.from_json} (measured with {settings})")
    else:
        print(f"# Scaling: IrtNet preset {args.preset!r}, {args.embed_dim}-d embeddings, at most "
              f"{args.max_labels:,} labels per cell, {args.batch_pairs} labels per step")
        print(machine_line(args.threads))
        rows = measure(args, argv)
        if args.json:
            write_json(args.json, {"args": {k: v for k, v in vars(args).items() if k not in ("cell", "case")},
                                   "machine": machine_line(args.threads), "rows": rows})
    report(rows, args)
    return exit_code(rows)


def report(rows: list[dict], args) -> None:
    ok = [r for r in rows if "error" not in r]
    for r in ok:
        r["labels_per_s"] = r["labels"] / r["epoch_s"]
        r["us_per_label"] = 1e6 * r["epoch_s"] / r["labels"]
        r["train_mb"] = r["peak_train_mb"] - r["rss_data_mb"] if r.get("peak_train_mb") else None
    print()
    print(table(ok, [("models", "models"), ("queries", "queries"), ("labels", "labels"), ("density", "density"),
                     ("path", "logit path"), ("steps", "steps"), ("measured", "steps timed"),
                     ("epoch_s", "s / epoch"), ("epoch_cpu_s", "CPU s / epoch"), ("labels_per_s", "labels / s"),
                     ("us_per_label", "us / label"),
                     ("rss_data_mb", "RSS data MiB"), ("peak_build_mb", "peak building MiB"),
                     ("peak_train_mb", "peak training MiB"), ("train_mb", "training adds MiB"),
                     ("peak_rss_mb", "peak RSS MiB"), ("dense_mb", "dense M x Q f32 MiB")]))
    print(f"\nlog-log slope of s/epoch vs labels over all cells: {slope(ok, 'labels', 'epoch_s'):.2f} "
          f"(CPU s: {slope(ok, 'labels', 'epoch_cpu_s'):.2f}); vs queries: {slope(ok, 'queries', 'epoch_s'):.2f}; "
          f"peak training RSS vs labels: {slope(ok, 'labels', 'peak_train_mb'):.2f}")
    for m in sorted({r["models"] for r in ok}):
        full = [r for r in ok if r["models"] == m and r["density"] >= 1.0]
        if len(full) >= 2:
            print(f"{m:,} models, every pair labelled ({len(full)} cells, labels per query fixed): "
                  f"slope vs labels {slope(full, 'labels', 'epoch_s'):.2f}")
    per_query, per_step = cost_model(ok)
    bound = 1e6 * (per_query + per_step / args.batch_pairs)
    print(f"cost model (least squares, relative): s/epoch = {1000 * per_query:.2f} ms x queries "
          f"+ {1000 * per_step:.0f} ms x steps; every query has a label (queries <= labels) and a step holds "
          f"about {args.batch_pairs} labels, so s/epoch <= {bound:.0f} us x labels (+ one step); "
          f"measured: at most {max(r['us_per_label'] for r in ok):.0f} us per label")
    if args.plot and ok:
        plot(ok, args.plot, bound)
        print(f"curves written to {args.plot}")
    print("RSS data = resident after building the data set; peak training = the peak while training (the count\n"
          "restarted after the build); 'training adds' = their difference, which depends on the batch, not on\n"
          "M x Q; peak RSS = ru_maxrss of the whole cell process (data generation included)." + errors(rows))


if __name__ == "__main__":
    sys.exit(main())

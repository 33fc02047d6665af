"""One prepared GPU check: the CUDA tests, training and inference speed on the GPU beside the CPU.

    python bench/gpu_check.py            # where CUDA is present: under 5 minutes on one GPU
    python bench/gpu_check.py --quick    # tiny sizes (what tests/integration/test_gpu_check_smoke.py runs)

Where torch sees a GPU it prints the GPU's name and
  (a) runs `pytest -m cuda tests/unit` (CPU/GPU agreement of training and prediction, bf16) and its summary;
  (b) trains IrtNet (preset `paper`, batches of --batch-pairs labels, the trainer's own `train_step`) on
      planted synthetic data of two shapes: EmbedLLM's (112 models x 36,000 queries, 384-d vectors, every
      pair labelled) and 1,000 models x 1,000,000 queries (--max-labels labels, so sparse), each on the GPU
      in float32, the first also with bf16 autocast, and on the CPU beside it;
  (c) measures inference throughput, queries per second of `IrtNet.predict_proba` over every model, on the
      GPU and on the CPU, and the largest difference between their probabilities.
Every timed run stops at its time cap (--gpu-seconds, --cpu-seconds, and the overall --budget) and the epoch
is extrapolated linearly in steps from the steps done (the `steps` column says how many of the epoch's steps
ran); the CPU side is therefore the same data and the same epoch, timed on a slice. Without CUDA it says so,
skips the GPU part and runs the CPU side at the tiny --quick sizes.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import planted_arrays  # noqa: E402
from _harness import fmt, machine_line, setup_torch, table  # noqa: E402

from irtnet.data.dataset import Queries  # noqa: E402
from irtnet.models.irtnet import PRESETS, IrtNetModule  # noqa: E402
from irtnet.predictors.irtnet import IrtNet  # noqa: E402
from irtnet.training.batching import LabelArrays, batches, queries_per_batch  # noqa: E402
from irtnet.training.trainer import TrainConfig, make_optimizer, train_step  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: name -> (models, queries); density = min(1, max_labels / (models x queries))
FULL = {"embedllm": (112, 36_000), "large": (1000, 1_000_000)}
QUICK = {"embedllm": (12, 1_200), "large": (40, 4_000)}


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes and caps (a smoke test)")
    p.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    p.add_argument("--embed-dim", type=int, default=384)
    p.add_argument("--batch-pairs", type=int, default=2048, help="labels per training batch (the paper's 2,048)")
    p.add_argument("--max-labels", type=int, default=20_000_000, help="labels of the 1000x1M case at most")
    p.add_argument("--infer-queries", type=int, default=200_000, help="queries of each inference run at most")
    p.add_argument("--gpu-seconds", type=float, default=40.0, help="time cap of each GPU run")
    p.add_argument("--cpu-seconds", type=float, default=15.0, help="time cap of each CPU run")
    p.add_argument("--budget", type=float, default=270.0, help="seconds for everything; caps shrink to fit")
    p.add_argument("--skip-pytest", action="store_true", help="do not run `pytest -m cuda`")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads on the CPU side")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.gpu_seconds, args.cpu_seconds, args.embed_dim = min(args.gpu_seconds, 2.0), min(args.cpu_seconds, 2.0), 32
        args.infer_queries, args.max_labels = min(args.infer_queries, 3_000), min(args.max_labels, 40_000)
    return args


class Budget:
    """Time caps that shrink so that the whole check ends within `total` seconds (`reserve` kept back)."""

    def __init__(self, total: float, reserve: float = 10.0) -> None:
        self.deadline, self.reserve = time.perf_counter() + total, reserve

    def cap(self, want: float) -> float:
        return max(0.5, min(want, self.deadline - time.perf_counter() - self.reserve))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------- (a) pytest
def run_cuda_tests(budget: Budget) -> str:
    """`pytest -m cuda tests/unit`: its summary line (or why it did not finish)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests/unit"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget.cap(120.0))
    except subprocess.TimeoutExpired:
        return "pytest -m cuda: did not finish within its time cap"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return f"pytest -m cuda (exit {proc.returncode}): {lines[-1] if lines else proc.stderr.strip()[-300:]}"


# -------------------------------------------------------------------------------------------- (b) training
def time_training(arrays: LabelArrays, n_models: int, device: torch.device, cap_s: float, args,
                  bf16: bool = False, warmup: int = 3) -> dict:
    """Steps of one epoch with the trainer's `train_step` until the epoch ends or `cap_s` passes (after
    `warmup` untimed steps); the epoch's time extrapolated from the steps timed."""
    torch.manual_seed(args.seed)
    module = IrtNetModule(PRESETS[args.preset], arrays.x.shape[1], n_models).to(device).train()
    optimizer = make_optimizer(module.parameters(), TrainConfig())
    per_batch = queries_per_batch(arrays, args.batch_pairs)
    total = math.ceil(arrays.n_queries / per_batch)
    steps = labels = 0
    loss = torch.zeros(())
    for i, batch in enumerate(batches(arrays, per_batch, torch.Generator().manual_seed(args.seed))):
        if i == min(warmup, total - 1):
            sync(device)
            start = time.perf_counter()
        loss = train_step(module, batch, n_models, optimizer, bf16=bf16)
        if i >= min(warmup, total - 1):
            steps, labels = steps + 1, labels + len(batch.model)
            if time.perf_counter() - start > cap_s:
                break
    sync(device)
    seconds = time.perf_counter() - start
    return {"steps": f"{steps}/{total - min(warmup, total - 1)}", "timed_s": seconds,
            "epoch_s": seconds / steps * (total - min(warmup, total - 1)), "labels_per_s": labels / seconds,
            "loss": float(loss)}


def training_rows(name: str, arrays: LabelArrays, n_models: int, cuda: bool, budget: Budget, args) -> list[dict]:
    runs = [("cpu", False, args.cpu_seconds)]
    if cuda:
        runs = [("cuda", False, args.gpu_seconds), *([("cuda", True, args.gpu_seconds / 2)] if "embedllm" in name
                                                      else []), *runs]
    rows = []
    for dev, bf16, cap in runs:
        row = time_training(arrays, n_models, torch.device(dev), budget.cap(cap), args, bf16=bf16)
        rows.append({"case": name, "device": dev + (" bf16" if bf16 else ""), "labels": arrays.n_labels, **row})
        print(f"  trained {name} on {rows[-1]['device']}: {fmt(row['epoch_s'])} s / epoch", flush=True)
    return rows


# ------------------------------------------------------------------------------------------- (c) inference
def predictor(n_models: int, d_in: int, args) -> IrtNet:
    """An IrtNet of `args.preset` with seeded random weights, built as a checkpoint is loaded."""
    cfg = PRESETS[args.preset]
    torch.manual_seed(args.seed)
    module = IrtNetModule(cfg, d_in, n_models)
    meta = {"config": cfg.model_dump(), "train_config": TrainConfig().model_dump(),
            "models": [f"m{i}" for i in range(n_models)], "groups": None, "encoder": {"name": None, "dim": d_in}}
    return IrtNet.from_state(meta, {k: v.detach().numpy() for k, v in module.state_dict().items()})


def time_inference(model: IrtNet, queries: Queries, device: str, cap_s: float, chunk: int = 16_384) -> dict:
    """predict_proba over every model, `chunk` queries a call, until all are done or `cap_s` passes."""
    model.predict_proba(queries.take(slice(0, 256)), device=device)  # warm-up: kernels, CUDA context
    done, start = 0, time.perf_counter()
    while done < len(queries) and time.perf_counter() - start < cap_s:
        model.predict_proba(queries.take(slice(done, done + chunk)), batch_size=chunk, device=device)
        done = min(len(queries), done + chunk)
    seconds = time.perf_counter() - start
    return {"queries": done, "timed_s": seconds, "queries_per_s": done / seconds}


def inference_rows(name: str, n_models: int, cuda: bool, budget: Budget, args) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    n = args.infer_queries
    x = rng.standard_normal((n, args.embed_dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    queries, model = Queries(tuple(f"q{i}" for i in range(n)), x), predictor(n_models, args.embed_dim, args)
    rows = [{"case": name, "device": "cpu", **time_inference(model, queries, "cpu", budget.cap(args.cpu_seconds))}]
    if cuda:
        rows.insert(0, {"case": name, "device": "cuda",
                        **time_inference(model, queries, "cuda", budget.cap(args.gpu_seconds / 2))})
        head = queries.take(slice(0, 2_000))
        diff = np.abs(model.predict_proba(head, device="cuda") - model.predict_proba(head, device="cpu")).max()
        rows[0]["max_diff"] = float(diff)
    return rows


# ------------------------------------------------------------------------------------------------ report
def speed_ups(rows: list[dict], key: str, higher_is_faster: bool) -> list[str]:
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        cpu = next((r for r in rows if r["case"] == case and r["device"] == "cpu"), None)
        for r in rows:
            if r["case"] == case and r["device"] != "cpu" and cpu is not None:
                ratio = r[key] / cpu[key] if higher_is_faster else cpu[key] / r[key]
                out.append(f"speed-up {r['device']} over cpu, {case}: {ratio:.1f}x")
    return out


def gpu_line() -> str:
    props = torch.cuda.get_device_properties(0)
    return (f"GPU: {torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.0f} GiB, "
            f"{torch.cuda.device_count()} visible; CUDA {torch.version.cuda}")


def main(argv=None) -> int:
    args = parse(argv)
    setup_torch(args.threads)
    budget, cuda = Budget(args.budget), torch.cuda.is_available()
    print(machine_line(args.threads))
    if cuda:
        print(gpu_line())
    else:
        print("CUDA is not available: skipping the GPU part (pytest -m cuda, GPU training and inference); "
              "the CPU side runs at the tiny --quick sizes")
        args = parse([*(argv if argv is not None else sys.argv[1:]), "--quick"])
    sizes = QUICK if args.quick else FULL
    if cuda and not args.skip_pytest:
        print(run_cuda_tests(budget), flush=True)
    train_rows, infer_rows = [], []
    for kind, (n_models, n_queries) in sizes.items():
        name = f"{kind} {n_models}x{n_queries:,}"
        density = min(1.0, args.max_labels / (n_models * n_queries))
        t0 = time.perf_counter()
        arrays = planted_arrays(n_models, n_queries, args.embed_dim, density, seed=args.seed)
        print(f"{name}: {n_models:,} models x {n_queries:,} queries, {arrays.n_labels:,} labels (density "
              f"{density:.3g}), built in {time.perf_counter() - t0:.1f} s", flush=True)
        train_rows += training_rows(name, arrays, n_models, cuda, budget, args)
        del arrays
        infer_rows += inference_rows(name, n_models, cuda, budget, args)
    print(f"\ntraining: preset {args.preset}, {args.embed_dim}-d vectors, batches of {args.batch_pairs} labels; "
          "epoch extrapolated from the steps timed")
    print(table(train_rows, [("case", "case"), ("device", "device"), ("labels", "labels"), ("steps", "steps timed"),
                             ("timed_s", "s timed"), ("epoch_s", "s / epoch"), ("labels_per_s", "labels / s"),
                             ("loss", "last loss")]))
    print(*speed_ups(train_rows, "epoch_s", higher_is_faster=False), sep="\n")
    print("\ninference: IrtNet.predict_proba over every model, 16,384 queries a call")
    print(table(infer_rows, [("case", "case"), ("device", "device"), ("queries", "queries"), ("timed_s", "s"),
                             ("queries_per_s", "queries / s"), ("max_diff", "max |P_gpu - P_cpu|")]))
    print(*speed_ups(infer_rows, "queries_per_s", higher_is_faster=True), sep="\n")
    if cuda:
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training speed of IrtNet against a pair-by-pair reference, on a response set of EmbedLLM's shape.

    python bench/train_speed.py                       # 112 models x 30,000 queries, paper preset
    python bench/train_speed.py --queries 3000        # a short run

Cases (each in its own subprocess, so each peak memory is its own):
  ours            irtnet's trainer (`irtnet.training.trainer.train`, fused Adam), one full epoch, as shipped.
  ours-split      the same step (batches -> batch_logits -> weighted_bce -> backward -> fused Adam), timed
                  piecewise: forward+backward vs optimizer step; `--our-batches N` stops after N steps.
  reference       bench/reference_pairwise.py: the MoE once per (model, query) pair, batches of
                  --batch-pairs pairs, default (for-each) Adam as the authors' code; --ref-batches batches
                  timed after --warmup, the epoch extrapolated from their mean.
  reference-fused the same with fused Adam, the optimizer irtnet uses (the README quotes the speed-up over
                  both references; the headline is over `reference`, the authors' optimizer).
  equal           same initial weights, same labels: loss and gradients of both implementations
                  (eval mode, i.e. no input noise and no dropout, since their random draws differ).

Every case runs inside `irtnet.training.memory.reuse_freed_memory()` as the trainer does (one process
setting for both sides, like the thread count); `--no-reuse-memory` runs every case without it, and
`--torch-dropout` gives irtnet torch's own dropout instead of its faster one (the reference always uses
`nn.Dropout`, as the authors' code): these two say what each change bought.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import make_arrays, pair_arrays  # noqa: E402
from _harness import (Timer, emit, errors, exit_code, machine_line, run_cases, selected_cases,  # noqa: E402
                      setup_torch, strip_case, table)
from reference_pairwise import PairwiseIrtNet, pair_batches  # noqa: E402

from irtnet.models.irt import weighted_bce  # noqa: E402
from irtnet.models import moe  # noqa: E402
from irtnet.models.irtnet import PRESETS, IrtNetModule  # noqa: E402
from irtnet.training.batching import batches, queries_per_batch  # noqa: E402
from irtnet.training.memory import reuse_freed_memory  # noqa: E402
from irtnet.training.trainer import TrainConfig, batch_logits, train  # noqa: E402

ALL_CASES = ("ours", "ours-split", "reference", "reference-fused", "equal")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=112)
    p.add_argument("--queries", type=int, default=30000, help="training queries (EmbedLLM: 29,673)")
    p.add_argument("--embed-dim", type=int, default=384, help="query embedding dimension (MiniLM: 384)")
    p.add_argument("--density", type=float, default=1.0, help="share of (model, query) pairs labelled")
    p.add_argument("--data", choices=("planted", "synthetic"), default="planted",
                   help="planted: fast direct arrays; synthetic: make_synthetic + build_arrays (slow to build)")
    p.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    p.add_argument("--batch-pairs", type=int, default=2048, help="labels per optimizer step, both sides")
    p.add_argument("--our-batches", type=int, default=0, help="ours-split: stop after N steps (0: epoch)")
    p.add_argument("--ref-batches", type=int, default=10, help="reference: batches timed (then extrapolated)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing (split and reference)")
    p.add_argument("--equal-pairs", type=int, default=4096, help="labels in the equal-loss check")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--no-reuse-memory", action="store_true",
                   help="every case: let glibc return freed blocks to the OS after each step (its default)")
    p.add_argument("--torch-dropout", action="store_true",
                   help="irtnet's cases: torch.nn.functional.dropout instead of irtnet.models.moe.dropout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default=",".join(ALL_CASES), help=f"comma-separated subset of {ALL_CASES}")
    p.add_argument("--timeout", type=float, default=None, help="seconds per case")
    p.add_argument("--case", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _setup(args):
    setup_torch(args.threads)
    if args.torch_dropout:
        moe.dropout = torch.nn.functional.dropout  # same signature (input, p, training)
    t0 = time.perf_counter()
    arrays = make_arrays(args.data, args.models, args.queries, args.embed_dim, args.density, args.seed)
    torch.manual_seed(args.seed)
    module = IrtNetModule(PRESETS[args.preset], arrays.x.shape[1], args.models)
    return arrays, module, time.perf_counter() - t0


def _adam(params, fused: bool):
    cfg = TrainConfig()  # the trainer's defaults (lr 1e-3, weight decay 1e-4), both sides
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True if fused else None)


# ----------------------------------------------------------------------------- cases
def case_ours(args) -> dict:
    arrays, module, build_s = _setup(args)
    cfg = TrainConfig(epochs=1, batch_pairs=args.batch_pairs, progress=False, seed=args.seed, threads=args.threads,
                      reuse_memory=not args.no_reuse_memory)
    with Timer() as t:
        result = train(module, arrays, None, args.models, cfg)
    steps = math.ceil(arrays.n_queries / queries_per_batch(arrays, args.batch_pairs))
    return {"epoch_s": result.seconds, "epoch_cpu_s": t.cpu, "labels": arrays.n_labels, "steps": steps,
            "measured": "full epoch", "loss": result.history[-1]["train_loss"], "build_s": build_s}


def case_ours_split(args) -> dict:
    arrays, module, build_s = _setup(args)
    opt = _adam(module.parameters(), fused=True)  # as the trainer
    per_batch = queries_per_batch(arrays, args.batch_pairs)
    n_steps = math.ceil(arrays.n_queries / per_batch)
    it = batches(arrays, per_batch, torch.Generator().manual_seed(args.seed))

    def step(timers, timed):
        fb, st, data_t = timers
        with data_t if timed else Timer():
            batch = next(it)
        with fb if timed else Timer():
            logits, out = batch_logits(module, batch, args.models)
            loss = weighted_bce(logits, batch.target, batch.weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with st if timed else Timer():
            opt.step()
            module.balance_step(out.gate)
        return len(batch.model)

    module.train()
    res = _timed_steps(args, step, min(n_steps, (args.our_batches or n_steps) + args.warmup), arrays.n_labels, n_steps)
    return {**res, "build_s": build_s}


def case_reference(args, fused: bool) -> dict:
    arrays, module, build_s = _setup(args)
    ref = PairwiseIrtNet.from_module(module, arrays.x)
    del module
    q, m, y = pair_arrays(arrays)
    opt = _adam(ref.parameters(), fused)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    n_steps = math.ceil(len(y) / args.batch_pairs)
    it = pair_batches(len(y), args.batch_pairs, torch.Generator().manual_seed(args.seed))

    def step(timers, timed):
        fb, st, data_t = timers
        with data_t if timed else Timer():
            idx = next(it)
            mi, qi, yi = m[idx], q[idx], y[idx]
        with fb if timed else Timer():
            logits, gate_logits = ref(mi, qi)
            loss = loss_fn(logits, yi)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with st if timed else Timer():
            opt.step()
            ref.balance_step(gate_logits)
        return len(idx)

    ref.train()
    res = _timed_steps(args, step, min(n_steps, args.ref_batches + args.warmup), len(y), n_steps)
    if res["measured"] != "full epoch":
        res["measured"] += ", extrapolated"
    return {**res, "build_s": build_s}


def _timed_steps(args, step, n_run: int, n_labels: int, n_steps: int) -> dict:
    """Run `n_run` steps (the first `args.warmup` untimed) and extrapolate their time to the epoch.

    Unless --no-reuse-memory, the steps run inside `reuse_freed_memory()`, as the trainer's do: the same
    process setting for irtnet and the reference.
    """
    timers = (Timer(), Timer(), Timer())  # forward+backward, optimizer step, batching
    done = labels = 0
    with reuse_freed_memory(not args.no_reuse_memory):
        for i in range(n_run):
            timed = i >= args.warmup
            n = step(timers, timed)
            if timed:
                done, labels = done + 1, labels + n
    fb, st, data_t = timers
    scale = n_labels / labels
    return {"epoch_s": (fb.total + st.total + data_t.total) * scale, "fwdbwd_s": fb.total * scale,
            "step_s": st.total * scale, "data_s": data_t.total * scale, "labels": n_labels, "steps": n_steps,
            "epoch_cpu_s": (fb.cpu + st.cpu + data_t.cpu) * scale,
            "measured": "full epoch" if done == n_steps else f"{done}/{n_steps} steps"}


def case_equal(args) -> dict:
    """Eval mode, so neither side draws noise or dropout; the same labels on both sides."""
    arrays, module, _ = _setup(args)
    ref = PairwiseIrtNet.from_module(module, arrays.x)
    module.eval()
    ref.eval()
    batch = next(batches(arrays, queries_per_batch(arrays, args.equal_pairs)))  # the first queries, in order
    logits, _ = batch_logits(module, batch, args.models)
    loss = weighted_bce(logits, batch.target, batch.weight)
    loss.backward()
    # the same pairs, pair by pair, in chunks of batch_pairs: sum of per-pair losses / number of pairs
    q_global, n = batch.q_local, len(batch.model)  # the first batch's queries are 0..B-1
    ref_loss = 0.0
    for s in range(0, n, args.batch_pairs):
        part = slice(s, s + args.batch_pairs)
        out, _ = ref(batch.model[part], q_global[part])
        chunk = torch.nn.functional.binary_cross_entropy_with_logits(out, batch.target[part], reduction="sum") / n
        chunk.backward()
        ref_loss += float(chunk.detach())
    ours_g = dict(module.named_parameters())
    ref_g = ref.gradients_by_name(module)
    rel = {k: float((ours_g[k].grad - ref_g[k]).abs().max() / ref_g[k].abs().max().clamp_min(1e-30)) for k in ref_g}
    worst = max(rel, key=rel.get)
    return {"labels": n, "queries": len(batch.x), "loss_ours": float(loss.detach()), "loss_ref": ref_loss,
            "loss_abs_diff": abs(float(loss.detach()) - ref_loss), "grad_max_rel_diff": rel[worst],
            "grad_worst_param": worst, "n_params": len(rel)}


# ----------------------------------------------------------------------------- driver
def main(argv=None) -> int | None:
    args = parse(argv)
    if args.case:
        run = {"ours": case_ours, "ours-split": case_ours_split, "equal": case_equal}.get(args.case)
        emit(run(args) if run is not None else case_reference(args, fused=args.case.endswith("-fused")), args.case)
        return
    cases = selected_cases(args.cases, ALL_CASES)
    print(f"# Training speed: IrtNet preset {args.preset!r}, {args.models} models x {args.queries:,} queries, "
          f"density {args.density}, {args.embed_dim}-d embeddings ({args.data} data), "
          f"{args.batch_pairs} labels per step; freed memory reused (glibc): "
          f"{'no' if args.no_reuse_memory else 'yes, every case'}; irtnet's dropout: "
          f"{'torch.nn.functional.dropout' if args.torch_dropout else 'irtnet.models.moe.dropout'}")
    print(machine_line(args.threads))
    rows = run_cases(__file__, strip_case(sys.argv[1:] if argv is None else argv), cases, args.timeout)
    by = {r["case"]: r for r in rows if "error" not in r}
    speed = [r for r in rows if "epoch_s" in r]
    base = by.get("ours", by.get("ours-split"))
    for r in speed:
        r["labels_per_s"] = r["labels"] / r["epoch_s"]
        r["x_slower"] = r["epoch_s"] / base["epoch_s"] if base else None
        r["x_slower_cpu"] = r["epoch_cpu_s"] / base["epoch_cpu_s"] if base else None
    print()
    print(table(speed, [("case", "case"), ("epoch_s", "s / epoch"), ("labels_per_s", "labels / s"),
                        ("fwdbwd_s", "fwd+bwd s"), ("step_s", "Adam step s"), ("data_s", "batching s"),
                        ("epoch_cpu_s", "CPU s / epoch"), ("steps", "steps / epoch"), ("measured", "measured"),
                        ("peak_rss_mb", "peak RSS MiB"), ("x_slower", "time vs ours"),
                        ("x_slower_cpu", "CPU vs ours")]))
    ours = "ours" if "ours" in by else "ours-split"
    for a, b in (("reference", ours), ("reference-fused", ours)):
        if a in by and b in by:
            print(f"speed-up {b} over {a}: {by[a]['epoch_s'] / by[b]['epoch_s']:.1f}x wall seconds per epoch, "
                  f"{by[a]['epoch_cpu_s'] / by[b]['epoch_cpu_s']:.1f}x CPU seconds per epoch")
    if "equal" in by:
        e = by["equal"]
        print(f"\nequal loss (same initial weights, {e['labels']:,} labels of {e['queries']} queries, eval mode): "
              f"ours {e['loss_ours']:.8f}  reference {e['loss_ref']:.8f}  |diff| {e['loss_abs_diff']:.2e}; "
              f"gradients of all {e['n_params']} parameter tensors agree to max relative difference "
              f"{e['grad_max_rel_diff']:.2e} (worst: {e['grad_worst_param']})")
    print("peak RSS includes the data set and the Python/torch runtime of that case's own process."
          + errors(rows))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

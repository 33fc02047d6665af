"""Time to quality: the wall time irtnet's training takes to reach the test log loss of the pair-by-pair
reference after the reference's full schedule.

    python bench/time_to_quality.py                          # llmrouter-dcrouter + a 112 x 36,000 synthetic set
    python bench/time_to_quality.py --quick                  # tiny sizes, 2 reference epochs (the smoke test)
    python bench/time_to_quality.py --datasets llmrouter --ref-epochs 30
    python bench/time_to_quality.py --device cuda             # every side on the GPU (the reference's day on 2 CPUs)

Per data set, in one process, one after the other:
  reference  bench/reference_pairwise.py with the authors' schedule: the paper network run once per (model,
             query) pair, 30 epochs, Adam lr 1e-4 (weight decay 1e-4), batches of 2,048 shuffled pairs; its test
             log loss after the last epoch is the target.
  default    irtnet's default training: the `default` preset's network through `irtnet.training.trainer.train`
             with `TrainConfig()` (lr 1e-3, batches of about 2,048 labels, early stopping on the validation split).
  paper      the same trainer and `TrainConfig()` on the `paper` preset's network (the reference's network).
irtnet's test log loss is taken after every epoch by a `TrainableModule` wrapper around the trainer's own
`LikelihoodTrainable` (its `validate` is the trainer's once-per-epoch hook); the seconds spent on the test
evaluation are not counted. Printed: the time to reach the target, the reference's total time over it, the final
test log losses, the per-epoch time ratio, and the CPU model. The estimator's extras after training (the text
path's benchmark classifier, calibration) are not part of either time.

Data: llmrouter-dcrouter (`import_table("llmrouter", ...)`, MiniLM embeddings through `irtnet.api.prepare`, split by
query 80/10/10 stratified by benchmark, soft scores as targets); and a planted response set of EmbedLLM's shape
(112 models x 36,000 queries, every pair labelled, unit-norm 384-d embeddings; bench/_data.py), split 80/10/10.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import pair_arrays, planted_arrays  # noqa: E402
from _harness import machine_line, setup_torch, table  # noqa: E402
from reference_pairwise import PairwiseIrtNet, pair_batches  # noqa: E402

from irtnet.errors import ConfigError  # noqa: E402
from irtnet.metrics import log_loss  # noqa: E402
from irtnet.models.irtnet import PRESETS, IrtNetModule  # noqa: E402
from irtnet.training.batching import LabelArrays  # noqa: E402
from irtnet.training.device import resolve_device  # noqa: E402
from irtnet.training.memory import reuse_freed_memory  # noqa: E402
from irtnet.training.trainer import LikelihoodTrainable, TrainConfig, predict_labels, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IRTNET_SHARED_DATA", ROOT.parent / "shared" / "data"))


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="llmrouter,synthetic", help="comma-separated: llmrouter, synthetic")
    p.add_argument("--llmrouter", default=str(SHARED / "llmrouter-dcrouter"), help="the llmrouter-dcrouter folder")
    p.add_argument("--encoder", default="all-MiniLM-L6-v2")
    p.add_argument("--models", type=int, default=112, help="synthetic set: models (EmbedLLM: 112)")
    p.add_argument("--queries", type=int, default=36000, help="synthetic set: queries (EmbedLLM: about 36,000)")
    p.add_argument("--llmrouter-queries", type=int, default=0, help="use a random subset of this many queries (0: all)")
    p.add_argument("--ref-epochs", type=int, default=30, help="the reference's schedule (the authors': 30)")
    p.add_argument("--ref-lr", type=float, default=1e-4, help="the reference's learning rate (the authors': 1e-4)")
    p.add_argument("--batch-pairs", type=int, default=2048, help="labels per step, every side")
    p.add_argument("--epochs", type=int, default=None, help="irtnet's epochs at most (default: TrainConfig's)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 reference epochs (a smoke test)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="where every side trains (cuda: an error without a GPU)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.queries, args.llmrouter_queries, args.ref_epochs = 12, 150, 150, 2
        args.epochs = args.epochs or 8
    return args


# ----------------------------------------------------------------------------- data
Split = tuple[LabelArrays, LabelArrays, LabelArrays, int, int]  # train, val, test, n_models, n_groups


def take_queries(arrays: LabelArrays, qs: np.ndarray) -> LabelArrays:
    """The queries `qs` of `arrays` with their labels, in that order."""
    lens = np.diff(arrays.indptr)[qs]
    rows = torch.as_tensor(np.concatenate([np.arange(arrays.indptr[q], arrays.indptr[q + 1]) for q in qs]))
    pick = torch.as_tensor(qs)
    return LabelArrays(x=arrays.x[pick], groups=None if arrays.groups is None else arrays.groups[pick],
                       indptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64), model=arrays.model[rows],
                       target=arrays.target[rows], weight=arrays.weight[rows], label=arrays.label[rows],
                       cluster=None if arrays.cluster is None else arrays.cluster[pick])


def synthetic_split(args) -> Split:
    """A planted set of EmbedLLM's shape, split 80/10/10 by query."""
    arrays = planted_arrays(args.models, args.queries, 384, 1.0, seed=args.seed)
    order = np.random.default_rng(args.seed).permutation(arrays.n_queries)
    cut = np.cumsum([int(0.8 * len(order)), int(0.1 * len(order))])
    train_q, val_q, test_q = np.split(order, cut)
    return take_queries(arrays, train_q), take_queries(arrays, val_q), take_queries(arrays, test_q), args.models, 0


def llmrouter_split(args) -> Split:
    """llmrouter-dcrouter with MiniLM embeddings, split by query as `irtnet train` splits by default."""
    from irtnet.api.data import prepare, split_datasets
    from irtnet.data.importers import import_table
    from irtnet.data.splits import split_by_query
    from irtnet.training.batching import build_arrays

    table = import_table("llmrouter", args.llmrouter)
    if args.llmrouter_queries:
        ids = np.random.default_rng(args.seed).permutation(np.asarray(table.query_vocab.ids, dtype=object))
        table = table.select(queries=ids[:args.llmrouter_queries])
    data = prepare(table, args.encoder)
    parts = split_datasets(data, split_by_query(table, (0.8, 0.1, 0.1), args.seed))
    built = [build_arrays(d, table.model_vocab, table.benchmark_vocab, "score") for d in parts]
    return *built, table.n_models, len(table.benchmark_vocab)


# ----------------------------------------------------------------------------- the three trainings
def heldout_log_loss(module: torch.nn.Module, arrays: LabelArrays, n_models: int) -> float:
    return log_loss(predict_labels(module, arrays, n_models), arrays.target.numpy())


def clock() -> np.ndarray:
    """[wall seconds, CPU seconds of this process]: on a shared machine the CPU time is the steadier measure."""
    return np.array([time.perf_counter(), time.process_time()])


class HeldOutWatch(LikelihoodTrainable):
    """The trainer's likelihood module that also takes the test log loss whenever the trainer validates (once per
    epoch), keeping the (wall, CPU) seconds of validation and of the test evaluation apart."""

    def __init__(self, net: torch.nn.Module, test: LabelArrays, n_models: int) -> None:
        super().__init__(net)
        self.test, self.n_models, self.points = test, n_models, []
        self.start, self.val_s, self.test_s = clock(), np.zeros(2), np.zeros(2)

    def validate(self, arrays: LabelArrays, n_models: int) -> dict[str, float]:
        t0 = clock()
        figures = super().validate(arrays, n_models)
        t1 = clock()
        loss = heldout_log_loss(self.net, self.test, self.n_models)
        self.val_s += t1 - t0
        spent = t1 - self.start - self.test_s  # validation counts: it is part of irtnet's training
        self.points.append({"seconds": spent[0], "cpu_s": spent[1], "train_s": (spent - self.val_s)[0],
                            "test_log_loss": loss})
        self.test_s += clock() - t1
        return figures


def run_irtnet(preset: str, split: Split, args) -> dict:
    train_a, val_a, test_a, n_models, n_groups = split
    torch.manual_seed(args.seed)
    net = IrtNetModule(PRESETS[preset], train_a.x.shape[1], n_models, n_groups if PRESETS[preset].use_groups else 0)
    cfg = TrainConfig(batch_pairs=args.batch_pairs, seed=args.seed, threads=args.threads, reuse_memory=True,
                      device=args.device,
                      **({"epochs": args.epochs} if args.epochs else {}))
    watch = HeldOutWatch(net, test_a, n_models)
    watch.start = clock()
    result = train(watch, train_a, val_a, n_models, cfg)
    points = watch.points
    return {"method": preset, "epochs": len(points), "points": points, "epoch_s": points[-1]["train_s"] / len(points),
            "final": heldout_log_loss(net, test_a, n_models), "best": min(p["test_log_loss"] for p in points),
            "best_epoch": result.best_epoch}


@torch.no_grad()
def reference_predict(ref: PairwiseIrtNet, arrays: LabelArrays, chunk: int = 8192) -> np.ndarray:
    """The reference's probabilities for every pair of `arrays` (its query embeddings swapped in), eval mode."""
    q, m, _ = pair_arrays(arrays)
    device = ref.embeddings.device
    saved, ref.embeddings = ref.embeddings, arrays.x.to(device)
    ref.eval()
    prob = [torch.sigmoid(ref(m[s:s + chunk].to(device), q[s:s + chunk].to(device))[0]).cpu()
            for s in range(0, len(q), chunk)]
    ref.embeddings = saved
    return torch.cat(prob).numpy()


def run_reference(split: Split, args) -> dict:
    """The authors' schedule, pair by pair; the test log loss after the last epoch."""
    train_a, _, test_a, n_models, _ = split
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    ref = PairwiseIrtNet.from_module(IrtNetModule(PRESETS["paper"], train_a.x.shape[1], n_models), train_a.x).to(device)
    q, m, y = (t.to(device) for t in pair_arrays(train_a))
    opt = torch.optim.Adam(ref.parameters(), lr=args.ref_lr, weight_decay=1e-4)  # default (for-each) Adam
    loss_fn, gen, seconds = torch.nn.BCEWithLogitsLoss(), torch.Generator().manual_seed(args.seed), []
    cpu0 = time.process_time()
    with reuse_freed_memory(True):  # the process setting irtnet's training gets
        for _ in range(args.ref_epochs):
            ref.train()
            t0 = time.perf_counter()
            for idx in pair_batches(len(y), args.batch_pairs, gen):
                idx = idx.to(device)
                logits, gate = ref(m[idx], q[idx])
                loss = loss_fn(logits, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                ref.balance_step(gate)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # the epoch's kernels finished before its time is taken
            seconds.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    final = log_loss(reference_predict(ref, test_a), test_a.target.numpy())
    return {"method": "reference", "epochs": len(seconds), "seconds": sum(seconds), "cpu_s": cpu,
            "epoch_s": float(np.mean(seconds)), "final": final, "best": final}


def reached(run: dict, target: float) -> tuple[int, dict] | tuple[None, None]:
    """(epoch, its point) when the test log loss first reached `target`, or (None, None)."""
    for epoch, point in enumerate(run["points"], 1):
        if point["test_log_loss"] <= target:
            return epoch, point
    return None, None


# ----------------------------------------------------------------------------- driver
def measure(name: str, split: Split, args) -> list[dict]:
    print(f"  {name}: reference ...", file=sys.stderr, flush=True)
    ref = run_reference(split, args)
    rows = [{**ref, "data": name, "to_target_s": ref["seconds"], "to_target_cpu_s": ref["cpu_s"], "speedup": 1.0,
             "speedup_cpu": 1.0, "epoch_ratio": 1.0}]
    for preset in ("default", "paper"):
        print(f"  {name}: irtnet {preset} ...", file=sys.stderr, flush=True)
        run = run_irtnet(preset, split, args)
        epoch, point = reached(run, ref["final"])
        rows.append({**run, "data": name, "reached_epoch": epoch, "epoch_ratio": ref["epoch_s"] / run["epoch_s"],
                     **({} if point is None else {
                         "to_target_s": point["seconds"], "to_target_cpu_s": point["cpu_s"],
                         "speedup": ref["seconds"] / point["seconds"], "speedup_cpu": ref["cpu_s"] / point["cpu_s"]})})
    return rows


def describe(name: str, split: Split) -> str:
    train_a, val_a, test_a, n_models, _ = split
    return (f"{name}: {n_models} models; queries train/val/test {train_a.n_queries:,}/{val_a.n_queries:,}/"
            f"{test_a.n_queries:,}; labels {train_a.n_labels:,}/{val_a.n_labels:,}/{test_a.n_labels:,}")


def report(rows: list[dict], args) -> None:
    print()
    print(table(rows, [("data", "data"), ("method", "method"), ("epochs", "epochs"), ("epoch_s", "s / epoch"),
                       ("reached_epoch", "epoch reaching reference"), ("to_target_s", "s to reference loss"),
                       ("speedup", "reference s / s to loss"), ("to_target_cpu_s", "CPU s to reference loss"),
                       ("speedup_cpu", "same in CPU s"), ("final", "final test log loss"),
                       ("best", "best test log loss"), ("epoch_ratio", "reference s/epoch / s/epoch")]))
    for data in dict.fromkeys(r["data"] for r in rows):
        ref = next(r for r in rows if r["data"] == data and r["method"] == "reference")
        print(f"\n{data}: reference (pair by pair, paper network, {ref['epochs']} epochs, lr {args.ref_lr:g}, "
              f"{args.batch_pairs} pairs per batch): final test log loss {ref['final']:.4f} after {ref['seconds']:,.1f} s "
              f"({ref['cpu_s']:,.1f} CPU s)")
        for r in (r for r in rows if r["data"] == data and r["method"] != "reference"):
            if r.get("to_target_s") is None:
                print(f"{data}: irtnet {r['method']}: did not reach {ref['final']:.4f} in {r['epochs']} epochs "
                      f"(best {r['best']:.4f}); final test log loss {r['final']:.4f}")
            else:
                print(f"{data}: irtnet {r['method']}: reached it at epoch {r['reached_epoch']} after "
                      f"{r['to_target_s']:,.2f} s, {r['speedup']:,.1f}x sooner than the reference's full schedule "
                      f"(CPU: {r['to_target_cpu_s']:,.2f} s, {r['speedup_cpu']:,.1f}x); final test log loss {r['final']:.4f}")
            print(f"{data}: per-epoch time, reference / irtnet {r['method']}: {r['epoch_ratio']:,.1f}x "
                  f"({ref['epoch_s']:,.2f} s vs {r['epoch_s']:,.3f} s)")


def main(argv=None) -> int:
    args = parse(argv)
    setup_torch(args.threads)
    names = [n for n in args.datasets.split(",") if n]
    unknown = set(names) - {"llmrouter", "synthetic"}
    if unknown:
        raise SystemExit(f"unknown data sets {sorted(unknown)}; choose from llmrouter, synthetic")
    try:
        device = resolve_device(args.device)
    except ConfigError as exc:  # --device cuda without a GPU: one line, before any data is read
        raise SystemExit(f"error: {exc}") from None
    print(f"# Time to quality{' (--quick)' if args.quick else ''}: irtnet (default, paper) against the pair-by-pair "
          f"reference's test log loss after {args.ref_epochs} epochs")
    print(machine_line(args.threads) + f"; device {device}")
    rows = []
    for name in names:
        split = llmrouter_split(args) if name == "llmrouter" else synthetic_split(args)
        print(describe(name, split))
        rows += measure(name, split, args)
    report(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

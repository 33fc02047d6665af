"""Choosing the benchmark classifier with character n-grams: `choose_classifier` as shipped beside the way it
worked before, which hashed the same texts once per n-gram candidate (wall and CPU seconds, the ratio, and
whether both choose bit-identical classifiers).

    python bench/classifier_choice.py                  # 3,000 queries (2,400 train / 600 validation), 8 classes
    python bench/classifier_choice.py --queries 16000  # the size of the profile that motivated the change
    python bench/classifier_choice.py --quick          # 400 queries: a smoke test, seconds

Cases, each in a subprocess of its own on the same seeded data:

- `reference`: what `choose_classifier` did before: `TextFeatures.fit(texts)`, then for every candidate (C in
  `C_GRID` on the embedding alone, C in `TEXT_C_GRID` on the embedding + n-grams)
  `BenchmarkClassifier.fit(..., texts, features)` and `log_loss_and_accuracy(..., texts_val)`: the training
  texts are hashed 1 + len(TEXT_C_GRID) times and the validation texts len(TEXT_C_GRID) times.
- `ours`: `irtnet.predictors.benchmark_classifier.choose_classifier`: each set of texts hashed once, and one
  TF-IDF design matrix for training and one for validation shared by every n-gram candidate.

Each case builds the data (timed apart), warms the imports up (sklearn's logistic regression and hashing
vectoriser, scipy.sparse) and times the one call. `hash s` is the time spent inside `TextFeatures.counts`
(the hashing vectoriser) and `hash calls` how often it ran. Both cases write the chosen classifier's arrays;
the driver compares them and the validation log loss and accuracy of every candidate bit for bit.

The data: `--classes` synthetic "benchmarks", each a prompt template (a multiple-choice question, a code
stub, a maths word problem, a translation request, ...) filled with random words to about `--chars`
characters, except a share `--mix` of the texts written in a random benchmark's template (so that neither the
n-grams nor the vectors separate the classes perfectly, and the fits work as on real logs). The vectors are
random normal `--dim`-d with a weak class-dependent mean (`--signal`), scaled to unit length (as MiniLM's).
Nothing is downloaded. `--threads` caps the BLAS threads of the fits (threadpoolctl; default: the library's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (Timer, emit, errors, exit_code, machine_line, run_cases, selected_cases,  # noqa: E402
                      strip_case, table)

from irtnet.predictors.benchmark_classifier import (  # noqa: E402
    C_GRID, TEXT_C_GRID, BenchmarkClassifier, TextFeatures, choose_classifier, log_loss_and_accuracy,
)

ALL_CASES = ("reference", "ours")
WORDS = ("the model answer question data which value number system first time people water small large "
         "result energy light between change because problem example process simple point group theory "
         "function always state world should science method order common general reason market animal "
         "history cell protein matrix vector code python loop table graph route cost language measure "
         "average proof prime integer equation chemical reaction planet orbit river city law court contract "
         "patient disease treatment symptom economy price policy tax trade music poem novel").split()
#: One prompt form per synthetic benchmark; each {} is filled with random words.
TEMPLATES = (
    "Question: {}?\nA) {}\nB) {}\nC) {}\nD) {}\nAnswer:",
    "def solve({}):\n    \"\"\"{}\"\"\"\n    # {}\n    return None",
    "Problem: {}. If {} then what is the value of x? Show your work. {}",
    "Translate the following sentence into French: \"{}\". Context: {}",
    "Summarize the article in one sentence.\n\nArticle: {} {} {}",
    "Premise: {}\nHypothesis: {}\nDoes the premise entail the hypothesis? Yes, no, or maybe?",
    "<|user|> {} <|assistant|> Let's think step by step. {}",
    "Fill in the blank: {} ___ {}. Options: ({}) or ({}).",
)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=3000, help="queries in all (training + validation)")
    p.add_argument("--val-share", type=float, default=0.2, help="share of the queries used for validation")
    p.add_argument("--classes", type=int, default=8, help=f"synthetic benchmarks (at most {len(TEMPLATES)})")
    p.add_argument("--chars", type=int, default=300, help="about how many characters per text")
    p.add_argument("--dim", type=int, default=384, help="vector dimension (MiniLM: 384)")
    p.add_argument("--signal", type=float, default=0.15, help="scale of the class means in the vectors")
    p.add_argument("--mix", type=float, default=0.1, help="share of texts in a random benchmark's template")
    p.add_argument("--max-iter", type=int, default=300, help="lbfgs iterations per fit (choose_classifier's default)")
    p.add_argument("--quick", action="store_true", help="400 queries: a smoke test")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads of the fits (default: the library's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default=",".join(ALL_CASES), help=f"comma-separated subset of {ALL_CASES}")
    p.add_argument("--timeout", type=float, default=None, help="seconds per case")
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--arrays-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.queries = min(args.queries, 400)
    if not 2 <= args.classes <= len(TEMPLATES):
        p.error(f"--classes must be 2..{len(TEMPLATES)}")
    return args


# ----------------------------------------------------------------------------- data
def make_task(args) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x [n, dim], y [n], texts [n]), seeded: each text its class's template (a random class's for a share
    `mix` of them) filled with random words."""
    rng = np.random.default_rng(args.seed)
    y = rng.integers(0, args.classes, args.queries)
    texts = []
    form = np.where(rng.random(args.queries) < args.mix, rng.integers(0, args.classes, args.queries), y)
    for c in form:
        template = TEMPLATES[c]
        slots = template.count("{}")
        words = max(1, (args.chars - len(template)) // (6 * slots))  # ~6 characters per word and space
        texts.append(template.format(*(" ".join(rng.choice(WORDS, rng.integers(words // 2, words * 3 // 2 + 1)))
                                       for _ in range(slots))))
    means = rng.normal(size=(args.classes, args.dim)) * args.signal
    x = rng.normal(size=(args.queries, args.dim)) + means[y]
    return x / np.linalg.norm(x, axis=1, keepdims=True), y, texts  # unit rows, as MiniLM's


def validation_size(args) -> int:
    return max(1, round(args.queries * args.val_share))


def split(args, x, y, texts) -> tuple:
    """(x, y, texts) of the training queries, then of the last `validation_size` queries."""
    cut = args.queries - validation_size(args)
    return x[:cut], y[:cut], texts[:cut], x[cut:], y[cut:], texts[cut:]


# ----------------------------------------------------------------------------- the two ways
def reference_choice(x, y, n_classes, x_val, y_val, seed, texts, texts_val, max_iter):
    """`choose_classifier` before this change, where every training and validation query has its text: the
    idf fitted on the training texts, then every candidate fitted and scored from the raw texts."""
    candidates = [(float(c), None) for c in C_GRID]
    features = TextFeatures.fit(texts)
    candidates += [(float(c), features) for c in TEXT_C_GRID]
    fits, tried = [], []
    for c, text in candidates:
        clf = BenchmarkClassifier.fit(x, y, n_classes, c, seed, max_iter, texts if text else None, text)
        loss, acc = log_loss_and_accuracy(clf, x_val, y_val, texts_val if text else None)
        fits.append((loss, clf))
        tried.append({"C": c, "ngrams": text is not None, "val_log_loss": loss, "val_accuracy": acc})
    best = int(np.argmin([loss for loss, _ in fits]))
    return fits[best][1], {"tried": tried, "chosen": best}


def count_hashing() -> Timer:
    """Wrap `TextFeatures.counts` so that its seconds and calls add up in the returned timer (`.calls`)."""
    timer, counts = Timer(), TextFeatures.counts
    timer.calls = 0

    def timed_counts(self, texts):
        timer.calls += 1
        with timer:
            return counts(self, texts)

    TextFeatures.counts = timed_counts
    return timer


def warm_up() -> None:
    """Import what the first fit would otherwise import inside the timed call."""
    import scipy.sparse  # noqa: F401
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer  # noqa: F401
    from sklearn.linear_model import LogisticRegression  # noqa: F401


# ----------------------------------------------------------------------------- one case (a subprocess)
def run_one(args) -> dict:
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    x, y, texts = make_task(args)
    x_tr, y_tr, t_tr, x_val, y_val, t_val = split(args, x, y, texts)
    build_s = time.perf_counter() - t0
    warm_up()
    hashing = count_hashing()
    with threadpool_limits(args.threads), Timer() as t:
        if args.case == "reference":
            clf, info = reference_choice(x_tr, y_tr, args.classes, x_val, y_val, args.seed, t_tr, t_val, args.max_iter)
        else:
            clf, info = choose_classifier(x_tr, y_tr, args.classes, x_val, y_val, args.seed, t_tr, t_val,
                                          args.max_iter)
    if args.arrays_dir:
        np.savez(Path(args.arrays_dir) / f"{args.case}.npz", coef=clf.coef, intercept=clf.intercept,
                 idf=clf.text.idf if clf.text is not None else np.zeros(0))
    chosen = info["tried"][info["chosen"]]
    return {"seconds": t.total, "cpu_s": t.cpu, "hash_s": hashing.total, "hash_calls": hashing.calls,
            "build_s": build_s, "train": len(y_tr), "val": len(y_val), "chars": float(np.mean([len(s) for s in texts])),
            "tried": info["tried"], "chosen": info["chosen"],
            "chosen_text": f"C={chosen['C']:g}{' + n-grams' if chosen['ngrams'] else ''}",
            "val_accuracy": chosen["val_accuracy"]}


def blas_line() -> str:
    from threadpoolctl import threadpool_info

    libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    return "BLAS: " + (", ".join(libs) or "unknown")


# ----------------------------------------------------------------------------- the driver
def compare(arrays_dir: Path, by: dict) -> str:
    """A line saying whether `ours` chose the same classifier as `reference`, bit for bit."""
    if "reference" not in by or "ours" not in by:
        return "identical classifiers: not checked (both cases are needed)"
    ref, ours = (np.load(arrays_dir / f"{c}.npz") for c in ("reference", "ours"))
    same = {k: ref[k].shape == ours[k].shape and np.array_equal(ref[k], ours[k]) for k in ("coef", "intercept", "idf")}
    same["tried"] = by["reference"]["tried"] == by["ours"]["tried"]
    same["chosen"] = by["reference"]["chosen"] == by["ours"]["chosen"]
    diff = (float(np.abs(ref["coef"] - ours["coef"]).max()) if ref["coef"].shape == ours["coef"].shape
            else float("nan"))
    verdict = "yes" if all(same.values()) else "NO"
    return (f"identical classifiers (coef {tuple(ref['coef'].shape)}, intercept, idf, every candidate's validation "
            f"log loss and accuracy, the choice): {verdict}; " + ", ".join(f"{k} {'same' if v else 'DIFFERENT'}"
                                                                          for k, v in same.items())
            + f"; max |coef diff| {diff:.3g}")


def main(argv=None) -> int | None:
    args = parse(argv)
    if args.case:
        emit(run_one(args), args.case)
        return None
    cases = selected_cases(args.cases, ALL_CASES)
    n_val = validation_size(args)
    print(f"# Choosing the benchmark classifier: {args.queries - n_val:,} training + {n_val:,} validation queries, "
          f"{args.classes} synthetic benchmarks, {args.dim}-d vectors, texts of about {args.chars} characters; "
          f"candidates C in {list(C_GRID)} (embedding) and {list(TEXT_C_GRID)} (embedding + n-grams), "
          f"max_iter {args.max_iter}")
    print(machine_line(args.threads))
    print(blas_line() + (f", capped at {args.threads} threads in the fits" if args.threads else ""))
    with tempfile.TemporaryDirectory(prefix="irtnet-classifier-bench-") as arrays:
        argv_ = strip_case(sys.argv[1:] if argv is None else argv, drop=("--arrays-dir",))
        rows = run_cases(__file__, [*argv_, "--arrays-dir", arrays], cases, args.timeout)
        by = {r["case"]: r for r in rows if "error" not in r}
        same = compare(Path(arrays), by)
    for r in by.values():
        r["rest_s"] = r["seconds"] - r["hash_s"]
        if "ours" in by:
            r["x_slower"] = r["seconds"] / by["ours"]["seconds"]
    if by:
        first = next(iter(by.values()))
        print(f"\n{first['chars']:.0f} characters per text on average; data built in {first['build_s']:.2f} s "
              "(not timed)\n")
    print(table(rows, [("case", "case"), ("seconds", "wall s"), ("cpu_s", "CPU s"), ("hash_s", "hash s"),
                       ("hash_calls", "hash calls"), ("rest_s", "fits + rest s"), ("chosen_text", "chosen"),
                       ("val_accuracy", "val accuracy"), ("peak_rss_mb", "peak RSS MiB"),
                       ("x_slower", "time vs ours")]))
    if "reference" in by and "ours" in by:
        ref, ours = by["reference"], by["ours"]
        print(f"\nspeed-up of ours over the reference: {ref['seconds'] / ours['seconds']:.2f}x wall "
              f"({ref['seconds']:.2f} s -> {ours['seconds']:.2f} s), {ref['cpu_s'] / ours['cpu_s']:.2f}x CPU; "
              f"hashing {ref['hash_s']:.2f} s in {ref['hash_calls']} calls -> {ours['hash_s']:.2f} s in "
              f"{ours['hash_calls']}")
    print(same + errors(rows))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())

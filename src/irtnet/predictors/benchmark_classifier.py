"""Which benchmark does a query text come from? A multinomial logistic regression on the query embedding and,
where the raw texts are at hand, on the text's character n-grams.

A routed query arrives without its benchmark name; the name is a strong signal (the per-(model, benchmark)
base rate is hard to beat), and a linear classifier recovers it most of the time. Its posterior
P(benchmark | text) weighs the predictions under each benchmark where the name is missing.

Benchmarks differ in form as much as in meaning (answer options, code fences, prompt templates), which a
sentence embedding smooths away: on llmrouter-dcrouter a held-out 20% of queries is classified 86% right from
the MiniLM vector and 91% from the vector plus character 2-4-grams
(`scripts/benchmark_classifier_check.py`). Whether the n-grams are used is chosen on validation data, like C.

The n-grams are hashed into `N_FEATURES` columns (no vocabulary to store), weighted by sublinear tf and an idf
learned on the training texts, and L2-normalised. The fitted classifier is arrays (`coef` [G, d + F],
`intercept` [G], `idf` [F] where n-grams are used) and two numbers; nothing is pickled.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from irtnet.errors import DataError

#: Inverse regularisation strengths tried on validation data, embedding alone and embedding + n-grams.
C_GRID = (0.1, 1.0, 10.0)
TEXT_C_GRID = (1.0, 10.0)
#: Hashed character n-gram columns, and the n-gram lengths.
N_FEATURES = 2 ** 16
NGRAMS = (2, 4)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class TextFeatures:
    """Character n-gram TF-IDF of raw texts: hashed columns, sublinear tf, `idf` [n_features], unit rows."""

    idf: np.ndarray
    ngrams: tuple[int, int] = NGRAMS

    @property
    def n_features(self) -> int:
        return int(self.idf.shape[0])

    def counts(self, texts: Sequence[str]) -> Any:
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(analyzer="char_wb", ngram_range=self.ngrams, n_features=self.n_features,
                                alternate_sign=False, norm=None)
        return vec.transform(list(texts))

    def transform(self, texts: Sequence[str]) -> Any:
        """[n, n_features] sparse TF-IDF rows (sklearn's `TfidfTransformer` with this idf)."""
        return self.transform_counts(self.counts(texts))

    def transform_counts(self, counts: Any) -> Any:
        """`transform` of texts already hashed by `counts` ([n, n_features] sparse; left unchanged)."""
        from sklearn.feature_extraction.text import TfidfTransformer

        tfidf = TfidfTransformer(sublinear_tf=True)
        tfidf.idf_ = self.idf
        return tfidf.transform(counts)

    @classmethod
    def fit(cls, texts: Sequence[str], n_features: int = N_FEATURES, ngrams: tuple[int, int] = NGRAMS
            ) -> TextFeatures:
        """The smoothed idf of the training texts (sklearn's `TfidfTransformer`)."""
        return cls.fit_counts(cls.hasher(n_features, ngrams).counts(texts), ngrams)

    @classmethod
    def fit_counts(cls, counts: Any, ngrams: tuple[int, int] = NGRAMS) -> TextFeatures:
        """`fit` on training texts already hashed ([n, n_features] sparse counts of `ngrams`; left unchanged)."""
        from sklearn.feature_extraction.text import TfidfTransformer

        return cls(TfidfTransformer(sublinear_tf=True).fit(counts).idf_, ngrams)

    @classmethod
    def hasher(cls, n_features: int = N_FEATURES, ngrams: tuple[int, int] = NGRAMS) -> TextFeatures:
        """Features with a placeholder idf (all ones), whose `counts` hash texts before any idf is fitted."""
        return cls(np.ones(n_features), ngrams)

    def meta(self) -> dict[str, Any]:
        return {"analyzer": "char_wb", "ngrams": list(self.ngrams), "n_features": self.n_features,
                "tf": "sublinear", "norm": "l2"}


@dataclass
class BenchmarkClassifier:
    """P(benchmark | query) over `n_classes` benchmarks: softmax(features @ coef.T + intercept), the features
    being the query vector, then the text's n-gram TF-IDF where `text` is set."""

    coef: np.ndarray
    intercept: np.ndarray
    C: float
    text: TextFeatures | None = None

    @property
    def n_classes(self) -> int:
        return int(self.coef.shape[0])

    def posterior(self, x: np.ndarray, texts: Sequence[str | None] | None = None) -> np.ndarray:
        """[n, d_in] vectors (and their n raw texts, where the classifier reads them) -> [n, n_classes]."""
        return self._posterior_of(_design(np.asarray(x, np.float64), self.text, texts))

    def _posterior_of(self, features: Any) -> np.ndarray:
        """`posterior` of a ready design matrix (`_design`'s [n, d + F] output) -> [n, n_classes]."""
        return softmax(np.asarray(features @ self.coef.T) + self.intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, n_classes: int, C: float = 1.0, seed: int = 0,
            max_iter: int = 300, texts: Sequence[str] | None = None, text: TextFeatures | None = None
            ) -> BenchmarkClassifier:
        """Fit on vectors x [n, d] (plus `texts` through `text`'s n-grams, when given) and class indices y [n]
        in [0, n_classes). A class absent from `y` gets a very low intercept (it is never predicted); lbfgs
        stopping at `max_iter` is not an error."""
        return cls._fit_design(_design(np.asarray(x, np.float64), text, texts), y, n_classes, C, seed, max_iter,
                               text)

    @classmethod
    def _fit_design(cls, features: Any, y: np.ndarray, n_classes: int, C: float, seed: int, max_iter: int,
                    text: TextFeatures | None) -> BenchmarkClassifier:
        """`fit` on a ready design matrix (`_design`'s [n, d + F] output for `text`; left unchanged), so that
        several C values can share one."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        present = np.unique(y)
        coef = np.zeros((n_classes, features.shape[1]))
        intercept = np.full(n_classes, -30.0)
        if len(present) == 1:
            intercept[present[0]] = 0.0
            return cls(coef, intercept, C, text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=C, max_iter=max_iter, random_state=seed).fit(features, y)
        if len(present) == 2:  # sklearn's binary form: one row for the second class against the first
            coef[present[1]], intercept[present[1]], intercept[present[0]] = model.coef_[0], model.intercept_[0], 0.0
        else:
            coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
        return cls(coef, intercept, C, text)


def _design(x: np.ndarray, text: TextFeatures | None, texts: Sequence[str | None] | None) -> Any:
    """The classifier's inputs: the vectors, with the texts' n-grams beside them where `text` is set."""
    if text is None:
        return x
    return _design_counts(x, text, text.counts(require_texts(texts, len(x), "this benchmark classifier")))


def _design_counts(x: np.ndarray, text: TextFeatures, counts: Any) -> Any:
    """`_design` of texts already hashed by `text.counts`: [n, d + F] CSR."""
    from scipy.sparse import csr_matrix, hstack

    return hstack([csr_matrix(x), text.transform_counts(counts)]).tocsr()


def require_texts(texts: Sequence[Any] | None, n: int, reader: str) -> list[str]:
    """`texts` as a list of n strings, else a DataError that names the first query without one and what
    (`reader`) reads them."""
    if texts is None or len(texts) != n:
        raise DataError(f"{reader} reads the raw query texts (character n-grams) beside the vectors; "
                        f"{'none were given' if texts is None else f'{len(texts)} for {n} vectors'}", field="texts")
    missing = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if missing:
        raise DataError(f"query {missing[0]} (of {n}) has no text; {reader} reads the raw texts beside the vectors",
                        field="texts")
    return list(texts)


def usable_texts(texts: Sequence[str | None] | None) -> list[str] | None:
    """`texts` as a list where every entry is a non-empty string, else None (the n-grams are then not tried)."""
    if texts is None or not len(texts) or not all(isinstance(t, str) and t for t in texts):
        return None
    return list(texts)


def log_loss_and_accuracy(clf: BenchmarkClassifier, x: np.ndarray, y: np.ndarray,
                        texts: Sequence[str] | None) -> tuple[float, float]:
    """(log loss, accuracy) of `clf`'s posterior on labelled queries."""
    return _loss_and_accuracy(clf.posterior(x, texts), y)


def _loss_and_accuracy(post: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(log loss, accuracy) of a posterior [n, n_classes] against class indices y [n]."""
    p = post[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(p, 1e-12, None)))), float(np.mean(post.argmax(axis=1) == y))


def choose_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, x_val: np.ndarray | None,
                      y_val: np.ndarray | None, seed: int = 0, texts: Sequence[str | None] | None = None,
                      texts_val: Sequence[str | None] | None = None, max_iter: int = 300, *,
                      grid: Sequence[float] = C_GRID, text_grid: Sequence[float] = TEXT_C_GRID,
                      ) -> tuple[BenchmarkClassifier, dict[str, Any]]:
    """The classifier with the lowest validation log loss among the embedding alone (C in `grid`) and, where
    every training and validation query has its text, the embedding plus n-grams (C in `text_grid`); the
    embedding alone with C = 1 without validation data. Also returns what was tried and each one's validation
    log loss and accuracy."""
    if x_val is None or y_val is None or not len(y_val):
        clf = BenchmarkClassifier.fit(x, y, n_classes, 1.0, seed, max_iter)
        return clf, {"tried": [{"C": 1.0, "ngrams": False}], "chosen": 0}
    texts, texts_val = usable_texts(texts), usable_texts(texts_val)
    x, x_val = np.asarray(x, np.float64), np.asarray(x_val, np.float64)
    candidates = [(float(c), None) for c in grid]
    designs: tuple[Any, Any] = (x, x_val)  # the n-gram candidates' (training, validation) design matrices
    if texts is not None and texts_val is not None and n_classes > 1 and len(text_grid):
        features, designs = _text_designs(x, texts, x_val, texts_val)
        candidates += [(float(c), features) for c in text_grid]
    if not candidates:
        raise DataError("no benchmark classifier to choose: the n-grams alone were asked for, but some training or "
                        "validation query has no text", field="texts")
    fits, tried = [], []
    for c, features in candidates:
        design, design_val = (x, x_val) if features is None else designs
        clf = BenchmarkClassifier._fit_design(design, y, n_classes, c, seed, max_iter, features)
        loss, acc = _loss_and_accuracy(clf._posterior_of(design_val), y_val)
        fits.append((loss, clf))
        tried.append({"C": c, "ngrams": features is not None, "val_log_loss": loss, "val_accuracy": acc})
    best = int(np.argmin([loss for loss, _ in fits]))
    return fits[best][1], {"tried": tried, "chosen": best}


def _text_designs(x: np.ndarray, texts: list[str], x_val: np.ndarray, texts_val: list[str]
                  ) -> tuple[TextFeatures, tuple[Any, Any]]:
    """The n-gram features fitted on the training texts and the (training, validation) design matrices they
    give, each set of texts hashed once: what every n-gram candidate of `choose_classifier` shares."""
    reader = "this benchmark classifier"
    counts = TextFeatures.hasher().counts(require_texts(texts, len(x), reader))
    features = TextFeatures.fit_counts(counts)
    counts_val = features.counts(require_texts(texts_val, len(x_val), reader))
    return features, (_design_counts(x, features, counts), _design_counts(x_val, features, counts_val))


# ------------------------------------------------------------------------------------ checkpoint state
def classifier_state(clf: BenchmarkClassifier, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a fitted classifier; array names start with `prefix`."""
    arrays = {f"{prefix}coef": clf.coef, f"{prefix}intercept": clf.intercept}
    if clf.text is not None:
        arrays[f"{prefix}idf"] = clf.text.idf
    return {"C": clf.C, "text_features": None if clf.text is None else clf.text.meta()}, arrays


def restore_text_features(meta: dict[str, Any], idf: np.ndarray | None, where: str) -> TextFeatures | None:
    """The n-gram features of a checkpoint's classifier (None where it reads the vectors only); `where` names
    the state entry in errors."""
    from irtnet.predictors.state import StateError

    spec = meta.get("text_features")
    if spec is None:
        if idf is not None:
            raise StateError(f"{where}: an idf tensor is stored but text_features is null")
        return None
    expected = {"analyzer": "char_wb", "tf": "sublinear", "norm": "l2"}
    if not isinstance(spec, dict) or any(spec.get(k) != v for k, v in expected.items()):
        raise StateError(f"{where}.text_features must be {expected} with 'ngrams' and 'n_features', got {spec!r}")
    ngrams, n = spec.get("ngrams"), spec.get("n_features")
    if not (isinstance(ngrams, list) and len(ngrams) == 2 and all(isinstance(v, int) and v > 0 for v in ngrams)):
        raise StateError(f"{where}.text_features.ngrams must be two positive integers, got {ngrams!r}")
    if idf is None or not isinstance(n, int) or idf.shape != (n,):
        raise StateError(f"{where}: text_features.n_features is {n!r} but the idf tensor has shape "
                         f"{None if idf is None else list(idf.shape)}")
    if not np.all(np.isfinite(idf)):
        raise StateError(f"{where}: the idf tensor has non-finite values")
    return TextFeatures(idf.astype(np.float64), (ngrams[0], ngrams[1]))

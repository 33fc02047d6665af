"""The query text's character n-grams as a few dense features beside its sentence embedding (`IrtNetConfig.text_ngrams`).

A sentence encoder reads meaning, and smooths away form: the length of a program, its operators, the layout of
a prompt, which say much about how hard a query is (and MiniLM reads only its first 256 tokens). Here each
text's character 3-5-grams are hashed into `N_FEATURES` columns, weighted by sublinear tf and the training
texts' idf (`benchmark_classifier.TextFeatures`), projected on the top `k` right singular vectors of the
training texts' TF-IDF matrix (a truncated SVD), and the projection is scaled to unit length. The network reads
[embedding, projection]; the projection is fitted once, on the training texts, and is part of the checkpoint
(`idf` [F] and `components` [k, F]: arrays, nothing pickled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from irtnet.errors import DataError
from irtnet.predictors.benchmark_classifier import TextFeatures, require_texts

#: Hashed n-gram columns and n-gram lengths of the projection (fewer columns than the classifier's: the
#: components [k, F] are stored).
N_FEATURES = 2 ** 15
NGRAMS = (3, 5)


def checked_texts(texts: Sequence[Any] | None, n: int) -> list[str]:
    """`texts` as a list of n strings, else a DataError naming the first query without one."""
    return require_texts(texts, n, "this model (config.text_ngrams)")


@dataclass(frozen=True)
class NgramProjection:
    """TF-IDF of hashed character n-grams (`features`) times `components.T` [F, k], each row scaled to unit length."""

    features: TextFeatures
    components: np.ndarray

    @property
    def k(self) -> int:
        return int(self.components.shape[0])

    def transform(self, texts: Sequence[Any] | None, n: int) -> np.ndarray:
        """[n, k] float32 features of n query texts (a DataError where a query has no text)."""
        proj = np.asarray(self.features.transform(checked_texts(texts, n)) @ self.components.T, np.float64)
        norm = np.linalg.norm(proj, axis=1, keepdims=True)
        return np.divide(proj, norm, out=np.zeros_like(proj), where=norm > 0).astype(np.float32)

    @classmethod
    def fit(cls, texts: Sequence[Any] | None, k: int, seed: int = 0, n_features: int = N_FEATURES,
            ngrams: tuple[int, int] = NGRAMS) -> NgramProjection:
        """The idf and the top-k right singular vectors of the training texts' TF-IDF matrix (randomized SVD
        seeded by `seed`; k is capped at the number of texts minus one)."""
        from sklearn.decomposition import TruncatedSVD

        texts = checked_texts(texts, len(texts) if texts is not None else 0)
        if len(texts) < 3:
            raise DataError(
                f"the training part holds only {len(texts)} query text{'' if len(texts) == 1 else 's'}, and the "
                "character n-gram features read beside the sentence vector (text_ngrams, on in the default preset) "
                "need at least 3: use a table with more queries, or train without them, with text_ngrams = 0 "
                "(under [model.params.config] in `irtnet train --config`; the task commands' --config takes "
                "configs/models/sentence-vector-only.toml) or another preset (--preset small)")
        features = TextFeatures.fit(texts, n_features, ngrams)
        svd = TruncatedSVD(min(k, len(texts) - 1), random_state=seed).fit(features.transform(texts))
        return cls(features, svd.components_.astype(np.float32))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(meta, arrays) for a checkpoint."""
        return ({**self.features.meta(), "k": self.k},
                {"ngrams.idf": self.features.idf.astype(np.float64), "ngrams.components": self.components})


def restore_projection(meta: dict[str, Any] | None, arrays: dict[str, np.ndarray], k: int) -> NgramProjection | None:
    """The projection of a checkpoint whose config asks for k components (None for k = 0), its arrays taken
    out of `arrays`; a StateError-worthy DataError where they are missing or do not match."""
    if not k:
        return None
    idf, comps = arrays.pop("ngrams.idf", None), arrays.pop("ngrams.components", None)
    if meta is None or idf is None or comps is None:
        raise DataError("config.text_ngrams is set but the checkpoint has no n-gram projection "
                        "(state.text_ngrams, ngrams.idf, ngrams.components)", field="text_ngrams")
    ngrams = meta.get("ngrams", list(NGRAMS)) if isinstance(meta, dict) else None
    if not (isinstance(ngrams, (list, tuple)) and len(ngrams) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in ngrams) and 1 <= ngrams[0] <= ngrams[1]):
        raise DataError(f"state.text_ngrams.ngrams must be two n-gram lengths [low, high] with 1 <= low <= high, got "
                        f"{ngrams!r}", field="text_ngrams")
    if idf.ndim != 1 or comps.ndim != 2 or comps.shape[1] != idf.shape[0] or not 0 < comps.shape[0] <= k:
        raise DataError(f"n-gram projection of shape {comps.shape} with an idf of {idf.shape} does not match "
                        f"config.text_ngrams = {k}", field="text_ngrams")
    return NgramProjection(TextFeatures(np.asarray(idf, np.float64), (ngrams[0], ngrams[1])),
                           np.asarray(comps, np.float32))

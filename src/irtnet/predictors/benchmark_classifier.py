"""Which benchmark does a query text come from? A multinomial logistic regression on the query embedding.

A routed query arrives without its benchmark name; the name is a strong signal (the per-(model, benchmark)
base rate is hard to beat), and a linear classifier on a sentence embedding recovers it most of the time. Its
posterior P(benchmark | text) weighs the predictions under each benchmark where the name is missing.

The fitted classifier is two arrays (`coef` [G, d], `intercept` [G]) and a float; nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Inverse regularisation strengths tried on validation data.
C_GRID = (0.1, 1.0, 10.0)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class BenchmarkClassifier:
    """P(benchmark | query vector) over `n_classes` benchmarks: softmax(x @ coef.T + intercept)."""

    coef: np.ndarray
    intercept: np.ndarray
    C: float

    @property
    def n_classes(self) -> int:
        return int(self.coef.shape[0])

    def posterior(self, x: np.ndarray) -> np.ndarray:
        """[n, d_in] vectors -> [n, n_classes] probabilities."""
        return softmax(np.asarray(x, np.float64) @ self.coef.T + self.intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, n_classes: int, C: float = 1.0, seed: int = 0,
            max_iter: int = 300) -> BenchmarkClassifier:
        """Fit on vectors x [n, d] and class indices y [n] in [0, n_classes). A class absent from `y` gets a
        very low intercept (it is never predicted); lbfgs stopping at `max_iter` is not an error."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        present = np.unique(y)
        coef = np.zeros((n_classes, x.shape[1]))
        intercept = np.full(n_classes, -30.0)
        if len(present) == 1:
            intercept[present[0]] = 0.0
            return cls(coef, intercept, C)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=C, max_iter=max_iter, random_state=seed).fit(x, y)
        if len(present) == 2:  # sklearn's binary form: one row for the second class against the first
            coef[present[1]], intercept[present[1]], intercept[present[0]] = model.coef_[0], model.intercept_[0], 0.0
        else:
            coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
        return cls(coef, intercept, C)


def choose_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, x_val: np.ndarray | None,
                      y_val: np.ndarray | None, seed: int = 0) -> BenchmarkClassifier:
    """The classifier of `C_GRID` with the lowest validation log loss (C = 1 without validation data)."""
    if x_val is None or y_val is None or not len(y_val):
        return BenchmarkClassifier.fit(x, y, n_classes, 1.0, seed)
    best, best_loss = None, np.inf
    for C in C_GRID:
        clf = BenchmarkClassifier.fit(x, y, n_classes, C, seed)
        p = clf.posterior(x_val)[np.arange(len(y_val)), y_val]
        loss = float(-np.mean(np.log(np.clip(p, 1e-12, None))))
        if loss < best_loss:
            best, best_loss = clf, loss
    return best


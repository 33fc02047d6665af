"""Two text-only base-rate predictors: the training-free router family, read from the query embedding.

Both answer P(model m answers query q) with a *training base rate* of m over queries like q, shrunk toward
m's overall training mean by `prior_strength` pseudo-outcomes; they differ in what "like q" means.

- `cluster-rate` (`ClusterRate`): k-means clusters of the L2-normalised training query vectors (spherical
  k-means: sklearn's `KMeans` on unit vectors, centroids renormalised; each training query belongs to its most
  cosine-similar centroid; a centroid no training query belongs to, as k-means repeats where there are fewer
  distinct vectors than clusters, is dropped). The per (model, cluster) training mean is shrunk toward the
  model's mean with `prior_strength` pseudo-outcomes (default 24, the pseudo-count of vLLM Semantic Router's
  HierShrink); the model's mean itself is shrunk toward the global mean by one pseudo-outcome. A query gets its
  clusters' rates mixed by softmax(cosine similarity to each centroid / `temperature`); temperature 0 (the
  softmax's limit) is the nearest centroid alone. `n_clusters` and `temperature` are each either given or, where
  None, chosen jointly on the validation set given to `fit` (lowest log loss over `CLUSTER_GRID` x `TEMPERATURE_GRID`,
  cluster counts capped by the number of training queries; `DEFAULT_CLUSTERS`, `DEFAULT_TEMPERATURE` without
  one); the choice is `n_clusters_`, `temperature_`, the grid's losses `fit_info_`. It reads the query
  vectors only, never the benchmark names (`queries.groups`), in training or prediction.

  Hard or soft: on llmrouter-dcrouter (MiniLM, query split 0.8/0.1/0.1 seed 0, prior 24, names hidden),
  validation log loss at 64 clusters was 0.5328 for the nearest centroid against 0.5301 / 0.5289 / 0.5314 at
  temperatures 0.01 / 0.02 / 0.05 (AUC 0.8024 against 0.8052 / 0.8068 / 0.8070; routing 0.629 for all but
  0.05); with hashing-256 vectors the order was the same (0.5748 hard, 0.5727 at 0.02; AUC 0.7562, 0.7582).
  Soft at 0.02 is the default without validation data; with it the temperature is chosen (0 included), since
  its best value depends on the encoder's similarity scale; 64 clusters and 0.02 won both grids. Test figures
  of that split (MiniLM, chosen 64 clusters and 0.02): AUC 0.809, log loss 0.530, routing 0.678, against KNN's
  0.807 / 0.529 / 0.675. The target is the 0/1 label by default, as the evaluator scores: on that split the
  fractional score target was worse on validation (log loss 0.5364 against 0.5328 with 64 clusters, hard;
  inferred-benchmark-rate 0.5015 against 0.4972).

- `inferred-benchmark-rate` (`InferredBenchmarkRate`): a multinomial logistic regression on the normalised
  query vector, trained on the training queries' benchmark names, gives P(benchmark g | text); the prediction
  is sum_g P(g | text) * rate(m, g), where rate(m, g) is m's training mean on g shrunk toward m's mean (and m's
  mean toward the global mean) by `prior_strength` pseudo-outcomes, exactly as `ModelBenchmarkMean`. Where the
  query carries a benchmark name the model knows (`queries.groups`), the known name replaces the posterior
  (one-hot), so with names known it equals `model-benchmark-mean` (with the default `target="label"`); a
  missing (None) or unknown name falls back to the posterior. The regression's inverse regularisation is `C`,
  or, where that is None, the member of `C_GRID` with the lowest benchmark log loss on the validation queries
  (those of benchmarks seen in training), and `DEFAULT_C` without them; the choice is `C_`. The solver
  (lbfgs) is deterministic, so the model has no seed. Where every training and validation query has its raw
  text, the classifier may also read the text's character n-grams (`ngrams`: None tries them on validation,
  with C from `TEXT_C_GRID`, exactly as IrtNet's text path does; True always, False never). `benchmark_posterior(queries)` gives the posterior
  [n, G] over the benchmark vocabulary `groups_`; `benchmark_weights(queries)` what the prediction mixes.
  On the llmrouter-dcrouter split above: C 10 chosen, the benchmark of 88.3 % of test queries predicted right
  (14 benchmarks), and with names hidden test AUC 0.833, log loss 0.496, routing 0.682.

  The figures above come from a script that imports llmrouter-dcrouter, embeds it (`prepare`), splits it
  (`split_by_query(table, (0.8, 0.1, 0.1), seed=0)`), fits both with the validation part and evaluates
  `Dataset(test.table, test.queries.without_groups())` through `irtnet.tasks.evaluate.evaluate`.

Checkpoints are JSON metadata plus float arrays only (centroids, rates, the regression's `coef` [G, d] and
`intercept` [G] with rows in `groups_` order); nothing is pickled.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.metrics import log_loss
from irtnet.predictors.base import Predictor, register
from irtnet.predictors.baselines._common import get_params, query_vectors, require_vectors
from irtnet.predictors.benchmark_classifier import (
    TEXT_C_GRID, BenchmarkClassifier, TextFeatures, choose_classifier, classifier_state, restore_text_features, softmax,
    usable_texts,
)
from irtnet.predictors.state import (
    StateError, check_encoder, check_params, check_shapes, check_type, check_vocab, tensor_mismatch,
)

#: Numbers of clusters tried on validation data (capped by the number of training queries).
CLUSTER_GRID = (8, 16, 32, 64, 128)
#: The number of clusters without validation data.
DEFAULT_CLUSTERS = 32
#: Soft-assignment temperatures tried on validation data (0: the nearest centroid).
TEMPERATURE_GRID = (0.0, 0.01, 0.02, 0.05)
#: The temperature without validation data.
DEFAULT_TEMPERATURE = 0.02
#: Inverse regularisation strengths of the benchmark classifier tried on validation data.
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
#: The classifier's C without validation data.
DEFAULT_C = 10.0
_TARGETS = ("score", "label")
#: The ranges `_param_problem` checks at fit time, checked already when the spec is resolved (`baselines.params`).
_PARAM_BOUNDS: dict[str, dict[str, Any]] = {"n_clusters": {"ge": 1}, "C": {"gt": 0}, "prior_strength": {"ge": 0},
                                            "temperature": {"ge": 0}, "target": {"choices": _TARGETS},
                                            "n_init": {"ge": 1}, "max_iter": {"ge": 1}}


# ---------------------------------------------------------------- shared pieces
def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _param_problem(obj: Any) -> tuple[str, str, Any] | None:
    """The first invalid hyperparameter of `obj` as (name, what it must be, its value), or None."""
    checks = {
        "n_clusters": ("a positive integer or None", lambda v: v is None or (_is_int(v) and v >= 1)),
        "C": ("a positive number or None", lambda v: v is None or (_is_number(v) and v > 0)),
        "prior_strength": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
        "temperature": ("a number >= 0 or None", lambda v: v is None or (_is_number(v) and v >= 0)),
        "target": ("'score' or 'label'", lambda v: v in _TARGETS),
        "n_init": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
        "max_iter": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    }
    for name, value in get_params(obj).items():
        if name in checks and not checks[name][1](value):
            return name, checks[name][0], value
    return None


def _check_hyperparameters(obj: Any) -> None:
    problem = _param_problem(obj)
    if problem is not None:
        name, what, value = problem
        raise ConfigError(f"invalid {obj.name} hyperparameter: {name} must be {what}, got {value!r}")


def _from_params(cls: type, meta: Any) -> Any:
    """A fresh `cls` from a state's `params`, each parameter checked (StateError naming the bad one)."""
    obj = cls(**check_params(cls, meta["params"]))
    problem = _param_problem(obj)
    if problem is not None:
        name, what, value = problem
        raise StateError(f"state.params.{name} must be {what}, got {value!r}")
    return obj


def _targets(data: Dataset, models: Vocab, target: str) -> np.ndarray:
    """[n_queries, n_models] training outcomes in `data`'s query order, NaN where unlabelled."""
    return data.table.label_matrix(model_ids=models.ids, value=target)


def _model_mean(targets: np.ndarray, prior: float) -> np.ndarray:
    """Each model's mean outcome, shrunk toward the global mean by `prior` pseudo-outcomes."""
    observed = ~np.isnan(targets)
    sums, counts = np.where(observed, targets, 0.0).sum(axis=0), observed.sum(axis=0)
    global_mean = float(sums.sum() / max(counts.sum(), 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums + prior * global_mean) / (counts + prior)
    return np.where(counts + prior > 0, mean, global_mean)


def _shrunk_rates(weights: np.ndarray, targets: np.ndarray, prior: float, model_mean: np.ndarray) -> np.ndarray:
    """[K, M] mean outcome of each model over each group of training queries (`weights` [N, K]: the
    queries' membership), shrunk toward `model_mean` by `prior` pseudo-outcomes (the model mean where a model
    has no outcome in a group and `prior` is 0)."""
    observed = ~np.isnan(targets)
    sums = weights.T @ np.where(observed, targets, 0.0)
    counts = weights.T @ observed.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = (sums + prior * model_mean) / (counts + prior)
    return np.where(counts + prior > 0, rates, model_mean[None, :])


def _assign(sim: np.ndarray, temperature: float) -> np.ndarray:
    """Membership weights from similarities [n, K]: one-hot on the largest (temperature 0, the limit of the
    softmax) or softmax(sim / temperature)."""
    if temperature == 0:
        out = np.zeros_like(sim)
        out[np.arange(len(sim)), np.argmax(sim, axis=1)] = 1.0
        return out
    return softmax(sim / temperature)


def _val_log_loss(prob: np.ndarray, targets: np.ndarray) -> float:
    """Log loss over the observed entries of `targets` (NaN where unlabelled)."""
    observed = ~np.isnan(targets)
    return log_loss(prob[observed], targets[observed]) if observed.any() else float("nan")


def _check_unit_interval(arrays: dict[str, np.ndarray], names: Sequence[str]) -> None:
    for name in names:
        bad = (arrays[name] < 0) | (arrays[name] > 1)
        if bad.any():
            raise tensor_mismatch(f"tensor {name!r} has {int(bad.sum())} values outside [0, 1] (rates are "
                                  "probabilities)")


def _check_positive_int(meta: Any, key: str) -> int:
    value = check_type(meta, key, int)
    if value < 1:
        raise StateError(f"state.{key} must be a positive integer, got {value!r}")
    return value


# ---------------------------------------------------------------- cluster base rate
@register("cluster-rate")
class ClusterRate(Predictor):
    """Per (model, k-means cluster of the query embedding) training accuracy, shrunk toward the model's mean
    (see the module docstring). Hyperparameters: `n_clusters` (None: chosen on validation from
    `CLUSTER_GRID`), `temperature` (0: the nearest centroid; > 0: softmax of cosine similarities /
    temperature; None: chosen on validation from `TEMPERATURE_GRID`), `prior_strength` (pseudo-outcomes at the
    model's mean), `target` ("label": 0/1; "score": fractional outcomes), `n_init` (k-means restarts), `seed`.
    Learned state: `models_`, `encoder_`, `n_clusters_`, `temperature_`, `centroids_` [K, d] (unit-norm),
    `rates_` [K, M], `model_mean_` [M], `fit_info_` (the grids and their validation log losses)."""

    reads_text = True

    param_bounds: ClassVar[dict[str, dict[str, Any]]] = _PARAM_BOUNDS

    def __init__(self, n_clusters: int | None = None, temperature: float | None = None, prior_strength: float = 24.0,
                 target: str = "label", n_init: int = 3, seed: int = 0) -> None:
        self.n_clusters, self.temperature, self.prior_strength = n_clusters, temperature, prior_strength
        self.target, self.n_init, self.seed = target, n_init, seed

    def fit(self, train: Dataset, val: Dataset | None = None) -> ClusterRate:
        _check_hyperparameters(self)
        require_vectors(train, self.name)
        self.models_ = train.table.model_vocab
        self.encoder_ = train.queries.encoder
        x = _normalise(train.queries.vectors)
        targets = _targets(train, self.models_, self.target)
        self.model_mean_ = _model_mean(targets, 1.0)
        n = len(x)
        if self.n_clusters is not None:
            sizes = [min(self.n_clusters, n)]
        else:
            sizes = sorted({min(k, n) for k in CLUSTER_GRID}) if val is not None else [min(DEFAULT_CLUSTERS, n)]
        if self.temperature is not None:
            temps = [float(self.temperature)]
        else:
            temps = list(TEMPERATURE_GRID) if val is not None else [DEFAULT_TEMPERATURE]
        x_val = val_targets = None
        if val is not None and len(sizes) * len(temps) > 1:
            x_val = _normalise(query_vectors(val.queries, x.shape[1], self.encoder_, self.name))
            val_targets = _targets(val, self.models_, self.target)
        fits, losses = [], np.full((len(sizes), len(temps)), np.nan)
        for i, k in enumerate(sizes):
            centroids = self._kmeans(x, k)
            rates = _shrunk_rates(_assign(x @ centroids.T, 0.0), targets, self.prior_strength, self.model_mean_)
            fits.append((centroids, rates))
            if x_val is not None:
                sim = x_val @ centroids.T
                for j, t in enumerate(temps):
                    losses[i, j] = _val_log_loss(_assign(sim, t) @ rates, val_targets)
        if not np.isnan(losses).all():
            i, j = np.unravel_index(int(np.nanargmin(losses)), losses.shape)
        else:  # no validation data (or none of its labels is of these models): the defaults
            i = sizes.index(min(DEFAULT_CLUSTERS, n)) if len(sizes) > 1 else 0
            j = temps.index(DEFAULT_TEMPERATURE) if len(temps) > 1 else 0
        self.centroids_, self.rates_ = fits[int(i)]
        self.n_clusters_, self.temperature_ = len(self.centroids_), float(temps[int(j)])
        self.fit_info_ = {"n_clusters_grid": [int(k) for k in sizes], "temperature_grid": [float(t) for t in temps],
                          "val_log_loss": None if x_val is None else
                          [[None if np.isnan(v) else float(v) for v in row] for row in losses]}
        return self

    def _kmeans(self, x: np.ndarray, k: int) -> np.ndarray:
        """The unit-norm centroids of k-means on `x`, less those no training query belongs to: with fewer
        distinct points than clusters k-means repeats centroids, and a soft assignment would spread a query's
        weight over the copies, all but one of them empty (holding only the model mean)."""
        from sklearn.cluster import KMeans
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():  # fewer distinct points than clusters: repeated centroids, dropped below
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit(x)
        centroids = _normalise(km.cluster_centers_)
        return centroids[np.unique(np.argmax(x @ centroids.T, axis=1))]

    def cluster_weights(self, queries: Queries) -> np.ndarray:
        """[n, n_clusters_] each query's cluster membership: one-hot (temperature 0) or the soft assignment."""
        self._check_fitted()
        x = _normalise(query_vectors(queries, self.centroids_.shape[1], self.encoder_, self.name))
        return _assign(x @ self.centroids_.T, self.temperature_)

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        return self.cluster_weights(queries) @ self.rates_[:, m]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {"params": get_params(self), "models": self.models_.to_list(),
                "encoder": {"name": self.encoder_, "dim": int(self.centroids_.shape[1])},
                "n_clusters": self.n_clusters_, "temperature": self.temperature_, "fit_info": self.fit_info_}
        return meta, {"centroids": self.centroids_, "rates": self.rates_, "model_mean": self.model_mean_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ClusterRate:
        self = _from_params(cls, meta)
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        self.encoder_, dim = check_encoder(meta)
        self.n_clusters_ = _check_positive_int(meta, "n_clusters")
        temperature = check_type(meta, "temperature", (int, float))
        if not (math.isfinite(temperature) and temperature >= 0):
            raise StateError(f"state.temperature must be a number >= 0, got {temperature!r}")
        self.temperature_ = float(temperature)
        self.fit_info_ = dict(meta.get("fit_info") or {})
        m, k = len(self.models_), self.n_clusters_
        check_shapes(arrays, {"centroids": (k, dim), "rates": (k, m), "model_mean": (m,)})
        _check_unit_interval(arrays, ("rates", "model_mean"))
        self.centroids_, self.rates_, self.model_mean_ = arrays["centroids"], arrays["rates"], arrays["model_mean"]
        return self


# ---------------------------------------------------------------- inferred-benchmark base rate
@register("inferred-benchmark-rate")
class InferredBenchmarkRate(Predictor):
    """P(m answers q) = sum_g P(g | q's text) * rate(m, g), the per (model, benchmark) training mean shrunk
    toward the model's mean; the known benchmark (one-hot) where q carries a name the model knows (see the
    module docstring). Hyperparameters: `C` (the classifier's inverse regularisation; None: chosen on
    validation from `C_GRID`), `prior_strength`, `target` ("label": 0/1, as `model-benchmark-mean`; "score":
    fractional outcomes), `max_iter` (lbfgs iterations), `ngrams` (the classifier also reads the texts'
    character n-grams: None chosen on validation, True, False).
    Learned state: `models_`, `groups_` (benchmark vocabulary, the classifier's classes in order), `encoder_`,
    `C_`, `classifier_` (its `coef` [G, d (+ F n-gram columns)], `intercept` [G], `text`), `rates_` [G, M],
    `model_mean_` [M], `fit_info_`."""

    reads_text = True

    param_bounds: ClassVar[dict[str, dict[str, Any]]] = _PARAM_BOUNDS

    def __init__(self, C: float | None = None, prior_strength: float = 1.0, target: str = "label",
                 max_iter: int = 1000, ngrams: bool | None = None) -> None:
        self.C, self.prior_strength, self.target, self.max_iter = C, prior_strength, target, max_iter
        self.ngrams = ngrams

    def fit(self, train: Dataset, val: Dataset | None = None) -> InferredBenchmarkRate:
        _check_hyperparameters(self)
        require_vectors(train, self.name)
        self.models_ = train.table.model_vocab
        self.encoder_ = train.queries.encoder
        self.groups_ = Vocab("benchmark", train.table.benchmark_vocab.ids)
        y = self.groups_.index(train.table.queries["benchmark"].to_numpy(dtype=object))
        n_groups = len(self.groups_)
        targets = _targets(train, self.models_, self.target)
        self.model_mean_ = _model_mean(targets, self.prior_strength)
        self.rates_ = _shrunk_rates(np.eye(n_groups)[y], targets, self.prior_strength, self.model_mean_)
        self.dim_ = int(train.queries.vectors.shape[1])
        self.classifier_, self.fit_info_ = self._fit_classifier(train, val, y)
        self.C_ = float(self.classifier_.C)
        return self

    def _fit_classifier(self, train: Dataset, val: Dataset | None, y: np.ndarray
                        ) -> tuple[BenchmarkClassifier, dict[str, Any]]:
        """The benchmark classifier: C and the n-grams chosen on the validation queries of benchmarks seen in
        training where the hyperparameters leave a choice, else `C` (or `DEFAULT_C`) and `ngrams`."""
        x, texts, n_groups = _normalise(train.queries.vectors), train.queries.texts, len(self.groups_)
        if self.ngrams and usable_texts(texts) is None:
            raise DataError(f"{self.name} with ngrams=True needs every training query's text", field="texts")
        grid = [] if self.ngrams else ([self.C] if self.C is not None else list(C_GRID))
        text_grid = [] if self.ngrams is False else ([self.C] if self.C is not None else list(TEXT_C_GRID))
        x_val = y_val = texts_val = None
        if val is not None and n_groups > 1 and len(grid) + (len(text_grid) if usable_texts(texts) else 0) > 1:
            pos = self.groups_._index.get_indexer(val.table.queries["benchmark"].to_numpy(dtype=object))
            keep = np.flatnonzero(pos >= 0)  # validation queries of benchmarks seen in training
            if len(keep):
                x_val = _normalise(query_vectors(val.queries, x.shape[1], self.encoder_, self.name))[keep]
                y_val, texts_val = pos[keep], None if val.queries.texts is None else val.queries.texts[keep]
        if x_val is None:
            c = self.C if self.C is not None else DEFAULT_C
            features = TextFeatures.fit(texts) if self.ngrams else None
            clf = BenchmarkClassifier.fit(x, y, n_groups, float(c), 0, self.max_iter, texts if features else None,
                                          features)
            return clf, {"tried": [{"C": float(c), "ngrams": bool(self.ngrams)}], "chosen": 0, "val_log_loss": None}
        clf, info = choose_classifier(x, y, n_groups, x_val, y_val, 0, texts, texts_val, self.max_iter,
                                      grid=grid, text_grid=text_grid)
        return clf, {**info, "val_log_loss": [t["val_log_loss"] for t in info["tried"]]}

    def benchmark_posterior(self, queries: Queries) -> np.ndarray:
        """[n, len(groups_)] the classifier's P(benchmark | text), columns in `groups_` order (names ignored)."""
        self._check_fitted()
        x = _normalise(query_vectors(queries, self.dim_, self.encoder_, self.name))
        return self.classifier_.posterior(x, queries.texts)

    def benchmark_weights(self, queries: Queries) -> np.ndarray:
        """[n, len(groups_)] what the prediction mixes: one-hot where the query's benchmark name is known to the
        model, the classifier's posterior elsewhere (no name, None, or a name not seen in training)."""
        self._check_fitted()
        pos = np.full(len(queries), -1)
        if queries.groups is not None:
            pos = self.groups_._index.get_indexer(np.asarray(queries.groups, dtype=object))
        out = np.zeros((len(queries), len(self.groups_)))
        known = pos >= 0
        out[np.flatnonzero(known), pos[known]] = 1.0
        if not known.all():
            out[~known] = self.benchmark_posterior(queries.take(np.flatnonzero(~known)))
        return out

    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None) -> np.ndarray:
        m = self._model_positions(models)
        return self.benchmark_weights(queries) @ self.rates_[:, m]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        clf_meta, clf_arrays = classifier_state(self.classifier_)
        meta = {"params": get_params(self), "models": self.models_.to_list(), "groups": self.groups_.to_list(),
                "encoder": {"name": self.encoder_, "dim": self.dim_}, "C": self.C_,
                "text_features": clf_meta["text_features"], "fit_info": self.fit_info_}
        return meta, {**clf_arrays, "rates": self.rates_, "model_mean": self.model_mean_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> InferredBenchmarkRate:
        self = _from_params(cls, meta)
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        self.groups_ = Vocab("benchmark", check_vocab(meta, "groups"))
        self.encoder_, dim = check_encoder(meta)
        c = check_type(meta, "C", (int, float))
        if not (math.isfinite(c) and c > 0):
            raise StateError(f"state.C must be a positive number, got {c!r}")
        self.C_ = float(c)
        self.fit_info_ = dict(meta.get("fit_info") or {})
        m, g = len(self.models_), len(self.groups_)
        features = restore_text_features(meta, arrays.get("idf"), "state")
        self.dim_ = int(dim)
        width = dim + (0 if features is None else features.n_features)
        check_shapes(arrays, {"coef": (g, width), "intercept": (g,), "rates": (g, m), "model_mean": (m,)})
        _check_unit_interval(arrays, ("rates", "model_mean"))
        self.classifier_ = BenchmarkClassifier(arrays["coef"], arrays["intercept"], self.C_, features)
        self.rates_, self.model_mean_ = arrays["rates"], arrays["model_mean"]
        return self

"""The benchmark classifier's character n-grams: the TF-IDF they compute, when validation chooses them, the
texts they need at prediction time, and checkpoints that keep them (IrtNet's text path and the
inferred-benchmark base rate)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from irtnet.data.dataset import Dataset, Queries
from irtnet.errors import CheckpointError, DataError
from irtnet.predictors.baselines import InferredBenchmarkRate
from irtnet.predictors.benchmark_classifier import (
    C_GRID, TEXT_C_GRID, BenchmarkClassifier, TextFeatures, choose_classifier, log_loss_and_accuracy,
)
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.spec import ModelSpec, build_predictor

WORDS = "alpha beta gamma delta river stone cloud maple ember quartz violet tundra".split()
#: Each benchmark's own form around the same words: what an embedding of the meaning does not see.
FORMS = ("Question: {} ?\nA) x\nB) y", "def f():\n    # {}\n    return 0", "Translate «{}» → ...", "{}!!! [end]")


def form_texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(FORMS), n)
    return [FORMS[c].format(" ".join(rng.choice(WORDS, 5))) for c in y], y


def test_the_features_are_sklearns_hashed_sublinear_tfidf():
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    texts, _ = form_texts(60, 0)
    ours = TextFeatures.fit(texts, n_features=2 ** 12)
    hashed = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2 ** 12, alternate_sign=False,
                               norm=None)
    ref = TfidfTransformer(sublinear_tf=True).fit(hashed.transform(texts))
    np.testing.assert_allclose(ours.transform(texts).toarray(), ref.transform(hashed.transform(texts)).toarray(),
                               atol=1e-12)
    new, _ = form_texts(5, 1)  # idf from the training texts only
    np.testing.assert_allclose(ours.transform(new).toarray(), ref.transform(hashed.transform(new)).toarray(),
                               atol=1e-12)


def test_validation_chooses_the_ngrams_where_the_form_carries_the_benchmark():
    texts, y = form_texts(400, 2)
    x = np.random.default_rng(3).normal(size=(400, 16))  # vectors that know nothing of the benchmark
    clf, info = choose_classifier(x[:300], y[:300], 4, x[300:], y[300:], 0, texts[:300], texts[300:])
    assert [(t["C"], t["ngrams"]) for t in info["tried"]] == [(c, False) for c in C_GRID] + [
        (c, True) for c in TEXT_C_GRID]
    chosen = info["tried"][info["chosen"]]
    assert chosen["ngrams"] and clf.text is not None and chosen["val_accuracy"] == 1.0
    assert max(t["val_accuracy"] for t in info["tried"] if not t["ngrams"]) < 0.5
    assert clf.coef.shape == (4, 16 + clf.text.n_features)
    test_texts, test_y = form_texts(50, 4)
    post = clf.posterior(np.zeros((50, 16)), test_texts)
    assert np.all(post.argmax(axis=1) == test_y)
    with pytest.raises(DataError, match="reads the raw query texts") as err:
        clf.posterior(np.zeros((2, 16)))
    assert err.value.field == "texts"
    with pytest.raises(DataError, match="query 1 .* has no text"):
        clf.posterior(np.zeros((2, 16)), ["a text", None])


def test_the_ngrams_are_not_tried_unless_every_query_has_its_text():
    texts, y = form_texts(200, 5)
    x = np.random.default_rng(6).normal(size=(200, 8))
    texts[7] = None
    _, info = choose_classifier(x[:150], y[:150], 4, x[150:], y[150:], 0, texts[:150], texts[150:])
    assert not any(t["ngrams"] for t in info["tried"])
    clf, info = choose_classifier(x, y, 4, None, None, 0, form_texts(200, 5)[0], None)  # no validation: C = 1
    assert clf.text is None and info["tried"] == [{"C": 1.0, "ngrams": False}]


def choice_case(informative: bool) -> tuple:
    """(x, y, x_val, y_val, texts, texts_val) of 4 benchmarks: vectors that know the benchmark or not."""
    texts, y = form_texts(240, 7)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(240, 12)) + (3.0 * np.eye(4, 12)[y] if informative else 0.0)
    return x[:180], y[:180], x[180:], y[180:], texts[:180], texts[180:]


@pytest.mark.parametrize("informative", [False, True])
def test_choosing_equals_fitting_every_candidate_the_slow_way(informative):
    x, y, x_val, y_val, texts, texts_val = choice_case(informative)
    clf, info = choose_classifier(x, y, 4, x_val, y_val, 3, texts, texts_val, 200)
    features = TextFeatures.fit(texts)
    fits, tried = [], []
    for c, text in [(c, None) for c in C_GRID] + [(c, features) for c in TEXT_C_GRID]:
        slow = BenchmarkClassifier.fit(x, y, 4, c, 3, 200, texts if text else None, text)
        loss, acc = log_loss_and_accuracy(slow, x_val, y_val, texts_val if text else None)
        fits.append(slow)
        tried.append({"C": c, "ngrams": text is not None, "val_log_loss": loss, "val_accuracy": acc})
    assert info == {"tried": tried, "chosen": int(np.argmin([t["val_log_loss"] for t in tried]))}
    ref = fits[info["chosen"]]
    np.testing.assert_array_equal(clf.coef, ref.coef)
    np.testing.assert_array_equal(clf.intercept, ref.intercept)
    assert clf.C == ref.C and (clf.text is None) == (ref.text is None)
    if clf.text is not None:
        np.testing.assert_array_equal(clf.text.idf, features.idf)
        np.testing.assert_array_equal(clf.posterior(x_val, texts_val), ref.posterior(x_val, texts_val))
    assert informative or clf.text is not None  # the n-gram path is the one chosen where the vectors know nothing


def test_choosing_hashes_the_training_and_validation_texts_once_each(monkeypatch):
    x, y, x_val, y_val, texts, texts_val = choice_case(False)
    hashed, tfidf = [], []
    counts, transform_counts = TextFeatures.counts, TextFeatures.transform_counts

    def counting_counts(self, batch):
        hashed.append(list(batch))
        return counts(self, batch)

    def counting_transform(self, matrix):
        tfidf.append(matrix.shape[0])
        return transform_counts(self, matrix)

    monkeypatch.setattr(TextFeatures, "counts", counting_counts)
    monkeypatch.setattr(TextFeatures, "transform_counts", counting_transform)
    _, info = choose_classifier(x, y, 4, x_val, y_val, 0, texts, texts_val)
    assert sum(t["ngrams"] for t in info["tried"]) == len(TEXT_C_GRID) == 2
    assert hashed == [texts, texts_val]
    assert tfidf == [len(texts), len(texts_val)]  # one design matrix each, shared by every n-gram candidate


@pytest.fixture(scope="module")
def data(one_torch_thread, synthetic_splits):
    return synthetic_splits("hashing-64", n_models=6, n_queries=300, n_benchmarks=3, dim=2, feature_dim=8, seed=2)


def test_queries_carry_their_texts_through_selection_and_hidden_names(data):
    train, _, test = data
    assert train.queries.texts is not None
    assert list(test.queries.texts) == test.table.texts_of(list(test.queries.ids))
    part = test.queries.take(np.array([2, 0]))
    assert list(part.texts) == [test.queries.texts[2], test.queries.texts[0]]
    assert test.queries.without_groups().texts is test.queries.texts
    with pytest.raises(DataError, match="2 texts for 3 queries"):
        Queries(("a", "b", "c"), texts=np.array(["x", "y"], dtype=object))


def with_ngram_classifier(model, train):
    """`model` with its text path's classifier refitted on the vectors and the n-grams (as validation may
    choose it on real logs)."""
    y = model.groups_.index(train.table.queries["benchmark"].to_numpy(dtype=object))
    features = TextFeatures.fit(list(train.queries.texts), n_features=2 ** 10)
    model.classifier_ = BenchmarkClassifier.fit(train.queries.vectors, y, len(model.groups_), 1.0, 0, 300,
                                                list(train.queries.texts), features)
    return model


def test_an_irtnet_checkpoint_keeps_the_ngram_classifier(data, tmp_path):
    train, val, test = data
    # the classifier's n-grams only: the network reads none (config.text_ngrams off, whatever the default
    # preset says), so the names-known path needs no text
    spec = ModelSpec(params={"config": {"dim": 2, "use_groups": True, "infer_groups": True, "text_ngrams": 0,
                                        "moe": {"n_experts": 2, "top_k": 2, "hidden": 8, "out": 4}},
                             "train": {"epochs": 2}})
    model = with_ngram_classifier(build_predictor(spec).fit(train, val), train)
    hidden = test.queries.without_groups()
    before = model.predict_proba(hidden)
    path = save_predictor(model, tmp_path / "m")
    back = load_predictor(path)
    assert back.classifier_.text.n_features == 2 ** 10
    np.testing.assert_array_equal(back.predict_proba(hidden), before)
    with pytest.raises(DataError, match="reads the raw query texts"):
        back.predict_proba(Queries(hidden.ids, hidden.vectors, None, hidden.encoder))
    np.testing.assert_array_equal(back.predict_proba(Queries(test.queries.ids, test.queries.vectors,
                                                             test.queries.groups, test.queries.encoder)),
                                  model.predict_proba(test.queries))  # names known: no text needed
    doc = json.loads((path / "checkpoint.json").read_text())
    doc["state"]["text_path"]["text_features"]["n_features"] = 99
    (path / "checkpoint.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="n_features is 99 but the idf tensor has shape"):
        load_predictor(path)


def test_the_base_rate_reads_the_same_ngrams_and_keeps_them(data, tmp_path):
    train, val, test = data
    forced = InferredBenchmarkRate(C=1.0, ngrams=True).fit(train, val)
    assert forced.classifier_.text is not None and forced.fit_info_["tried"] == [{"C": 1.0, "ngrams": True}]
    never = InferredBenchmarkRate(ngrams=False).fit(train, val)
    assert not any(t["ngrams"] for t in never.fit_info_["tried"])
    hidden = test.queries.without_groups()
    back = load_predictor(save_predictor(forced, tmp_path / "b"))
    np.testing.assert_array_equal(back.predict_proba(hidden), forced.predict_proba(hidden))
    with pytest.raises(DataError, match="reads the raw query texts"):
        back.predict_proba(Queries(hidden.ids, hidden.vectors, None, hidden.encoder))
    no_text = Dataset(train.table, Queries(train.queries.ids, train.queries.vectors, train.queries.groups,
                                           train.queries.encoder))
    with pytest.raises(DataError, match="ngrams=True needs every training query's text"):
        InferredBenchmarkRate(ngrams=True).fit(no_text, val)


def test_a_raw_text_reaches_the_ngrams_through_the_api(data, tmp_path, monkeypatch):
    from irtnet.api import answer_paths, predict_texts

    monkeypatch.setenv("IRTNET_CACHE", str(tmp_path / "cache"))
    train, val, test = data
    spec = ModelSpec(params={"config": {"dim": 2, "use_groups": True, "infer_groups": True,
                                        "moe": {"n_experts": 2, "top_k": 2, "hidden": 8, "out": 4}},
                             "train": {"epochs": 2}})
    model = with_ngram_classifier(build_predictor(spec).fit(train, val), train)
    texts = list(test.queries.texts[:4])
    names, prob = predict_texts(model, texts)
    assert answer_paths(model, texts) == ["text+inferred-benchmark"] * 4
    hidden = test.queries.take(np.arange(4)).without_groups()
    np.testing.assert_allclose(prob, model.predict_proba(hidden, names), atol=1e-6)

"""`config.text_ngrams`: the query text's character n-grams projected to a few features beside the embedding,
fitted on the training texts, read again at prediction time and kept by the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from irtnet.data.dataset import Queries
from irtnet.errors import CheckpointError, ConfigError, DataError
from irtnet.predictors.checkpoint import load_predictor, save_predictor
from irtnet.predictors.ngram_projection import NgramProjection
from irtnet.predictors.spec import ModelSpec, build_predictor

TEXTS = ["def f(x):\n    return x + 1", "def g(s):\n    return s[::-1] * 2", "Question: 2 + 2 = ?",
         "Question: what is the capital of France?", "for i in range(10):\n    print(i)", "Translate: good morning"]
SMALL = {"dim": 2, "moe": {"n_experts": 2, "top_k": 2, "hidden": 8, "out": 4}}


def test_the_projection_is_the_tfidf_on_the_training_texts_top_singular_vectors():
    from sklearn.decomposition import TruncatedSVD

    proj = NgramProjection.fit(TEXTS, k=3, seed=0, n_features=2 ** 10)
    assert proj.k == 3 and proj.components.shape == (3, 2 ** 10)
    tfidf = proj.features.transform(TEXTS)
    ref = TruncatedSVD(3, random_state=0).fit(tfidf)
    np.testing.assert_allclose(proj.components, ref.components_, atol=1e-6)
    got = proj.transform(TEXTS, len(TEXTS))
    raw = tfidf @ ref.components_.T
    np.testing.assert_allclose(got, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert NgramProjection.fit(TEXTS, k=50, n_features=2 ** 10).k == len(TEXTS) - 1  # capped by the texts
    assert np.all(proj.transform([""], 1) == 0)  # no n-gram at all: zero features, not NaN


def test_queries_without_texts_are_errors_that_say_why():
    proj = NgramProjection.fit(TEXTS, k=2, n_features=2 ** 10)
    with pytest.raises(DataError, match="config.text_ngrams. reads the raw query texts .* none were given"):
        proj.transform(None, 3)
    with pytest.raises(DataError, match="query 1 .of 2. has no text"):
        proj.transform(["a b c", None], 2)
    with pytest.raises(DataError, match="1 for 2 vectors"):
        proj.transform(["a"], 2)
    with pytest.raises(DataError, match=r"^the training part holds only 2 query texts, .* need at least 3: use a "
                                        r"table with more queries, or train without them, with text_ngrams = 0"):
        NgramProjection.fit(TEXTS[:2], k=2)


@pytest.fixture(scope="module")
def data(one_torch_thread, synthetic_splits):
    return synthetic_splits("hashing-64", n_models=6, n_queries=300, n_benchmarks=3, dim=2, feature_dim=8, seed=2)


def test_irtnet_reads_the_projection_beside_the_embedding_and_the_checkpoint_keeps_it(data, tmp_path):
    train, val, test = data
    spec = ModelSpec(params={"config": {**SMALL, "use_groups": True, "infer_groups": True, "text_ngrams": 4},
                             "train": {"epochs": 2}})
    model = build_predictor(spec).fit(train, val)
    d = train.queries.vectors.shape[1]
    assert model.ngrams_.k == 4 and all(net.d_in == d + 4 for net in model.members_)
    hidden = test.queries.without_groups()
    before, known = model.predict_proba(hidden), model.predict_proba(test.queries)
    assert before.shape == (len(test.queries), 6) and np.isfinite(before).all()
    path = save_predictor(model, tmp_path / "m")
    back = load_predictor(path)
    np.testing.assert_array_equal(back.predict_proba(hidden), before)
    np.testing.assert_array_equal(back.predict_proba(test.queries), known)
    np.testing.assert_array_equal(back.ngrams_.components, model.ngrams_.components)
    with pytest.raises(DataError, match="reads the raw query texts"):  # even with the names known
        back.predict_proba(Queries(test.queries.ids, test.queries.vectors, test.queries.groups, test.queries.encoder))
    doc = json.loads((path / "checkpoint.json").read_text())
    del doc["state"]["text_ngrams"]
    (path / "checkpoint.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="no n-gram projection"):
        load_predictor(path)


def test_the_projection_changes_the_networks_input_and_off_is_the_embedding_alone(data):
    train, val, test = data
    off = {**SMALL, "text_ngrams": 0}  # off said outright: the default preset underneath may turn it on
    plain = build_predictor(ModelSpec(params={"config": off, "train": {"epochs": 2}})).fit(train, val)
    assert plain.ngrams_ is None and plain._module_dim() == train.queries.vectors.shape[1]
    widened = plain._network_input(test.queries)
    np.testing.assert_array_equal(widened, test.queries.vectors.astype(np.float32))
    with pytest.raises(ConfigError):
        build_predictor(ModelSpec(params={"config": {**SMALL, "text_ngrams": -1}}))


# ------------------------------------------------------------------ text_ngrams="auto": the width chosen on validation
def test_a_later_choice_replaces_the_kept_one_only_beyond_two_standard_errors():
    from irtnet.numeric import keep_unless_beaten

    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 1.0, 400)
    clear = base - 0.05 + rng.normal(0, 0.01, 400)    # lower on nearly every query
    noise = base + rng.normal(0, 0.05, 400) - 0.001   # lower on average, but inside the noise
    assert keep_unless_beaten({0: base, 16: clear}) == 16
    assert keep_unless_beaten({0: base, 16: noise}) == 0
    assert keep_unless_beaten({0: base, 16: noise, 64: clear}) == 64  # each compared with the one kept so far
    assert keep_unless_beaten({0: base}) == 0


def test_auto_width_is_chosen_on_validation_and_is_the_network_a_fixed_width_trains(data, tmp_path):
    from irtnet.models.irtnet import AUTO_NGRAMS

    train, val, test = data
    cfg = {**SMALL, "use_groups": True, "infer_groups": True}
    auto = build_predictor(ModelSpec(params={"config": {**cfg, "text_ngrams": "auto"},
                                             "train": {"epochs": 2}})).fit(train, val)
    choice = auto.ngrams_choice_
    chosen = choice["chosen"]
    assert chosen in AUTO_NGRAMS and auto.config_.text_ngrams == chosen
    assert set(choice["validation_log_loss"]) == {str(k) for k in AUTO_NGRAMS}
    fixed = build_predictor(ModelSpec(params={"config": {**cfg, "text_ngrams": chosen},
                                              "train": {"epochs": 2}})).fit(train, val)
    hidden = test.queries.without_groups()
    np.testing.assert_allclose(auto.predict_proba(hidden), fixed.predict_proba(hidden), atol=1e-6)
    back = load_predictor(save_predictor(auto, tmp_path / "auto"))
    assert back.config_.text_ngrams == chosen and back.ngrams_choice_ == choice
    np.testing.assert_array_equal(back.predict_proba(hidden), auto.predict_proba(hidden))
    with pytest.raises(ConfigError, match="chooses the width on validation data"):
        build_predictor(ModelSpec(params={"config": {**cfg, "text_ngrams": "auto"}})).fit(train)


def test_auto_width_without_every_text_is_the_embedding_alone(data):
    train, val, _ = data
    q = train.queries
    no_text = type(train)(train.table, Queries(q.ids, q.vectors, q.groups, q.encoder))
    auto = build_predictor(ModelSpec(params={"config": {**SMALL, "text_ngrams": "auto"},
                                             "train": {"epochs": 2}})).fit(no_text, val)
    assert auto.ngrams_ is None and auto.config_.text_ngrams == 0
    assert list(auto.ngrams_choice_["validation_log_loss"]) == ["0"]


def test_a_checkpoint_that_says_auto_is_refused(data, tmp_path):
    train, val, _ = data
    model = build_predictor(ModelSpec(params={"config": {**SMALL, "text_ngrams": 4}, "train": {"epochs": 1}}))
    path = save_predictor(model.fit(train, val), tmp_path / "m")
    doc = json.loads((path / "checkpoint.json").read_text())
    doc["state"]["config"]["text_ngrams"] = "auto"
    (path / "checkpoint.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="text_ngrams must be the width the model was trained with"):
        load_predictor(path)

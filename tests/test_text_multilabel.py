"""Multi-label TextCNNClassifier on the shipped review sentences, labelled {positive, from Yelp}."""

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import MultiLabelBinarizer

from skcnn import TextCNNClassifier
from skcnn.datasets import load_sentiment_sentences

SMALL = dict(embedding_dim=32, n_filters=32, max_epochs=6, verbose=0, random_state=0)


@pytest.fixture(scope="module")
def sentences():
    """Shuffled texts and their {positive, from_yelp} indicator matrix (2 columns)."""
    data = load_sentiment_sentences()
    Y = np.column_stack([data.target == "pos", data.source == "yelp"]).astype(int)
    order = np.random.default_rng(0).permutation(len(Y))
    return data.data[order], Y[order]


@pytest.fixture(scope="module")
def fitted(sentences):
    texts, Y = sentences
    return TextCNNClassifier(**SMALL).fit(texts[:1500], Y[:1500])


def test_beats_every_trivial_predictor(sentences, fitted):
    texts, Y = sentences
    test = slice(1500, None)
    f1 = f1_score(Y[test], fitted.predict(texts[test]), average="samples", zero_division=1)
    # The best constant prediction for samples-F1 here is every label (0.58 on these
    # sentences); the CNN must read the texts to do clearly better.
    constants = [f1_score(Y[test], np.tile(c, (len(Y[test]), 1)), average="samples",
                          zero_division=1) for c in ([0, 0], [0, 1], [1, 0], [1, 1])]
    assert f1 > max(constants) + 0.07
    # each label on its own beats chance too
    per_label = f1_score(Y[test], fitted.predict(texts[test]), average=None)
    assert (per_label > 0.65).all()


def test_output_format_matches_the_image_classifiers(sentences, fitted):
    texts, Y = sentences
    pred, proba = fitted.predict(texts[1500:1600]), fitted.predict_proba(texts[1500:1600])
    assert pred.shape == proba.shape == (100, 2)
    assert pred.dtype == Y.dtype and set(np.unique(pred)) <= {0, 1}
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent sigmoids, no softmax
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    strict = fitted.set_params(threshold=0.9)  # read at predict time: no refit needed
    try:
        assert strict.predict(texts[1500:1600]).sum() <= pred.sum()
    finally:
        fitted.set_params(threshold=0.5)
    assert fitted.__sklearn_tags__().classifier_tags.multi_label


def test_multilabel_binarizer_and_grid_search():
    data = load_sentiment_sentences()
    some = np.random.default_rng(1).permutation(len(data.data))[:400]
    tags = [(data.target[i], data.source[i]) for i in some]  # e.g. ('pos', 'yelp')
    Y = MultiLabelBinarizer().fit_transform(tags)  # 4 columns: amazon, neg, pos, yelp
    search = GridSearchCV(TextCNNClassifier(**{**SMALL, "max_epochs": 2}),
                          {"threshold": [0.3, 0.5]}, scoring="f1_samples",
                          cv=KFold(2, shuffle=True, random_state=0))
    search.fit(data.data[some], Y)
    assert search.best_estimator_.predict(data.data[:5]).shape == (5, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_label_that_never_occurs_warns_and_class_weight_is_refused(sentences):
    texts, Y = sentences
    Y = Y[:60].copy()
    Y[:, 1] = 0
    clf = TextCNNClassifier(**{**SMALL, "max_epochs": 1})
    with pytest.warns(UserWarning, match=r"label\(s\) \[1\] never occur in the 60 texts"):
        clf.fit(texts[:60], Y)
    with pytest.raises(ValueError, match="sample_weight"):
        clf.set_params(class_weight="balanced").fit(texts[:60], Y)

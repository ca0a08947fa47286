"""Multi-label targets: a 2-D indicator y trains sigmoid outputs with binary cross-entropy."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier

from skcnn import CNNClassifier, FineTunedClassifier

ML = dict(filters=(16, 32), kernel_size=3, padding="same", hidden_units=(64,), max_epochs=20,
          batch_size=32, learning_rate=3e-3, verbose=0, random_state=0)


def _labels(digits):
    """{even, >= 5, prime} of each digit: a 3-label indicator matrix."""
    return np.column_stack([digits % 2 == 0, digits >= 5,
                            np.isin(digits, [2, 3, 5, 7])]).astype(int)


@pytest.fixture(scope="module")
def multilabel_digits(digits8):
    X, y = digits8
    return X, _labels(y)


def test_beats_per_label_logistic_regression(multilabel_digits):
    X, Y = multilabel_digits
    train, test = slice(0, 1200), slice(1200, None)
    cnn = CNNClassifier(**ML).fit(X[train], Y[train])
    flat = X.reshape(len(X), -1)
    logreg = MultiOutputClassifier(LogisticRegression(max_iter=2000)).fit(flat[train], Y[train])
    cnn_f1 = f1_score(Y[test], cnn.predict(X[test]), average="samples")
    logreg_f1 = f1_score(Y[test], logreg.predict(flat[test]), average="samples")
    assert cnn_f1 > logreg_f1


def test_output_format_follows_scikit_learn(multilabel_digits):
    X, Y = multilabel_digits
    clf = CNNClassifier(**{**ML, "max_epochs": 3}).fit(X[:300], Y[:300])
    pred, proba = clf.predict(X[300:350]), clf.predict_proba(X[300:350])
    mlp = MLPClassifier(max_iter=5).fit(X[:300].reshape(300, -1), Y[:300])
    mlp_proba = mlp.predict_proba(X[300:350].reshape(50, -1))
    # MLPClassifier's convention: one column of P(label applies) per label
    assert proba.shape == mlp_proba.shape == (50, 3)
    assert pred.shape == (50, 3) and set(np.unique(pred)) <= {0, 1}
    assert ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent labels, no softmax
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    np.testing.assert_array_equal(clf.classes_, np.arange(3))
    # a higher threshold marks fewer labels present
    strict = CNNClassifier(**{**ML, "max_epochs": 3, "threshold": 0.9}).fit(X[:300], Y[:300])
    assert strict.predict(X[300:350]).sum() <= pred.sum()
    assert clf.score(X[300:], Y[300:]) == pytest.approx(
        np.mean((clf.predict(X[300:]) == Y[300:]).all(axis=1)))  # subset accuracy


def test_grid_search_with_samples_f1(multilabel_digits):
    X, Y = multilabel_digits
    search = GridSearchCV(CNNClassifier(**{**ML, "max_epochs": 8}),
                          {"learning_rate": [1e-4, 3e-3]}, scoring="f1_samples", cv=2)
    search.fit(X[:300], Y[:300])
    every_label = f1_score(Y[:300], np.ones_like(Y[:300]), average="samples")
    assert search.best_score_ > every_label  # beats "every label applies"
    assert search.best_params_ == {"learning_rate": 3e-3}
    assert search.predict(X[:5]).shape == (5, 3)


def test_finetuned_classifier_multilabel(multilabel_digits):
    X, Y = multilabel_digits
    clf = FineTunedClassifier(input_size=16, max_epochs=2, unfreeze="head", batch_size=32,
                              learning_rate=1e-2, num_workers=0, verbose=0, random_state=0)
    clf.fit(X[:200], Y[:200])
    assert clf.predict_proba(X[:7]).shape == (7, 3) and clf.predict(X[:7]).shape == (7, 3)


def test_warns_for_a_label_that_never_or_always_occurs_in_a_fold(multilabel_digits):
    X, Y = multilabel_digits
    Y = np.column_stack([Y, np.zeros(len(Y), int)])
    Y[:10, 3] = 1  # label 3 occurs only in the first fold's images
    clf = CNNClassifier(**{**ML, "max_epochs": 1})
    with pytest.warns(UserWarning, match=r"label\(s\) \[3\] never occur"):
        clf.fit(X[100:200], Y[100:200])
    Y[:, 0] = 1
    with pytest.warns(UserWarning, match=r"label\(s\) \[0\] occur in every image"):
        clf.fit(X[:100], Y[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CNNClassifier(**{**ML, "max_epochs": 1}).fit(X[:200], _labels(np.arange(200) % 10))
    # in cross-validation: the warning names the fit's images (one fold)
    with pytest.warns(UserWarning, match="never occur"):
        for train, _ in KFold(2).split(X[:40]):
            CNNClassifier(**{**ML, "max_epochs": 1}).fit(X[train], Y[train])


def test_continuous_y_points_to_the_regressor(digits8):
    X, y = digits8
    with pytest.raises(ValueError, match="Unknown label type.*use CNNRegressor"):
        CNNClassifier(**ML).fit(X[:50], y[:50] + 0.5)
    with pytest.raises(ValueError, match="use FineTunedRegressor"):
        FineTunedClassifier(input_size=16, verbose=0).fit(X[:50], y[:50] / 7.0)


def test_class_weight_with_multilabel_is_refused(multilabel_digits):
    X, Y = multilabel_digits
    with pytest.raises(ValueError, match="sample_weight"):
        CNNClassifier(**{**ML, "class_weight": "balanced"}).fit(X[:50], Y[:50])

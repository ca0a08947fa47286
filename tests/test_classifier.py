"""CNNClassifier behaviour: networks, labels, learning, fitted state, training options,
reproducibility, persistence, model selection, architectures and progress output."""

import os
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from skcnn import CNNClassifier, LeNet5, SimpleCNN, list_architectures
from skcnn._engine import TensorBatches, TrainingNet
from skcnn.datasets import load_digits_images
from skcnn.exceptions import InputError, PluginNotFoundError

ACTIVATIONS = ["relu", "tanh", "prelu", "sigmoid", "elu", "gelu", "leaky_relu"]
ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "prelu": nn.PReLU, "sigmoid": nn.Sigmoid,
                     "elu": nn.ELU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
OPTIMIZERS = {"adadelta": torch.optim.Adadelta, "adam": torch.optim.Adam,
              "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}

#: Training settings for tests that pass architecture= (the ConvNet shape
#: parameters keep their defaults so no "ignored parameters" warning fires).
ARCH_FAST = dict(max_epochs=2, batch_size=32, verbose=0, random_state=0, device="cpu")


def layer_types(module):
    return [type(m) for m in module.modules()]


def n_trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.fixture
def fast(fast):
    """Fast settings, pinned to the CPU so results are exactly reproducible."""
    return dict(fast, device="cpu")


@pytest.fixture(scope="module")
def three_digits(digits8):
    """Digits 0, 1 and 2 only: an easy 3-class problem (train, test)."""
    X, y = digits8
    keep = np.isin(y, [0, 1, 2])
    X, y = X[keep], y[keep]
    return X[:200], y[:200], X[200:], y[200:]


@pytest.fixture(scope="module")
def imbalanced(digits8):
    """120 threes and 12 eights to train on; 50 of each to test on."""
    X, y = digits8
    threes, eights = np.flatnonzero(y == 3), np.flatnonzero(y == 8)
    train = np.r_[threes[:120], eights[:12]]
    test = np.r_[threes[120:170], eights[100:150]]
    return X[train], y[train], X[test], y[test]


# ---------------------------------------------------------------------------- networks
def test_classic_keras_network_has_206728_parameters(rng):
    X = rng.rand(100, 32, 32).astype(np.float32)
    y = np.arange(100)
    clf = CNNClassifier(filters=(4, 12), kernel_size=5, pool_size=2, hidden_units=(512,),
                        activation="relu", optimizer="adadelta", max_epochs=1, verbose=0,
                        random_state=0, device="cpu")
    with pytest.warns(UserWarning, match="unique classes"):  # sklearn: 100 classes, 100 rows
        clf.fit(X, y)
    assert n_trainable(clf.module_) == 206_728
    assert isinstance(clf.net_.optimizer_, torch.optim.Adadelta)
    assert clf.predict_proba(X).shape == (100, 100)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_fits_and_predicts(small_digits, fast, activation):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast, activation=activation).fit(X, y)
    assert ACTIVATION_LAYERS[activation] in layer_types(clf.module_)
    others = set(ACTIVATION_LAYERS.values()) - {ACTIVATION_LAYERS[activation]}
    assert not others & set(layer_types(clf.module_))
    pred = clf.predict(X_test)
    assert pred.shape == (len(X_test),)
    assert set(pred) <= set(range(10))
    assert np.isfinite(clf.loss_curve_).all()


@pytest.mark.parametrize("pooling, layer", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_pooling(small_digits, fast, pooling, layer):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast, pooling=pooling).fit(X, y)
    pools = [m for m in clf.module_.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert len(pools) == 1 and isinstance(pools[0], layer)
    assert clf.predict(X_test).shape == (len(X_test),)


def test_pool_size_one_disables_pooling(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast, pool_size=1).fit(X, y)
    assert not {nn.MaxPool2d, nn.AvgPool2d} & set(layer_types(clf.module_))
    linear = [m for m in clf.module_.modules() if isinstance(m, nn.Linear)][0]
    assert linear.in_features == 4 * 6 * 6  # 8x8 -> 6x6 after a valid 3x3 convolution


@pytest.mark.parametrize("batch_norm", [True, False])
def test_batch_norm(small_digits, fast, batch_norm):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast, batch_norm=batch_norm).fit(X, y)
    assert (nn.BatchNorm2d in layer_types(clf.module_)) is batch_norm
    proba = clf.predict_proba(X_test)
    # inference runs in eval mode: BatchNorm uses its running statistics, so an
    # image's probabilities do not depend on the rest of its batch
    np.testing.assert_allclose(clf.predict_proba(X_test[:1]), proba[:1], rtol=1e-5, atol=1e-6)


def test_dropout(small_digits, fast):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast, dropout=0.5).fit(X, y)
    rates = [m.p for m in clf.module_.modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.5, 0.5]  # after the convolutions and after the hidden layer
    # dropout is off at inference: predictions are deterministic
    np.testing.assert_array_equal(clf.predict_proba(X_test), clf.predict_proba(X_test))
    no_dropout = CNNClassifier(**fast).fit(X, y)
    assert nn.Dropout not in layer_types(no_dropout.module_)


def test_padding_same_keeps_the_image_size(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**dict(fast, pool_size=1), padding="same").fit(X, y)
    linear = [m for m in clf.module_.modules() if isinstance(m, nn.Linear)][0]
    assert linear.in_features == 4 * 8 * 8


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_optimizer_fits_and_predicts(small_digits, fast, optimizer):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast, optimizer=optimizer).fit(X, y)
    assert type(clf.net_.optimizer_) is OPTIMIZERS[optimizer]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]  # it trains
    assert clf.predict(X_test).shape == (len(X_test),)


def test_learning_rate_and_momentum_reach_the_optimizer(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast, optimizer="sgd", learning_rate=0.05, momentum=0.5,
                        weight_decay=1e-3).fit(X, y)
    group = clf.net_.optimizer_.param_groups[0]
    assert group["lr"] == 0.05 and group["momentum"] == 0.5 and group["weight_decay"] == 1e-3
    default = CNNClassifier(**fast, optimizer="adadelta").fit(X, y)
    assert default.net_.optimizer_.param_groups[0]["lr"] == 1.0


# ---------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "mapping",
    [np.array(["cat", "dog", "bird"]), np.array([3, 10, 42]), np.array([-1.0, 5.0, 9.0])],
    ids=["strings", "non-contiguous-ints", "integral-floats"],
)
def test_labels_of_any_type_are_returned_as_given(three_digits, fast, mapping):
    X, y, X_test, y_test = three_digits
    labels, labels_test = mapping[y], mapping[y_test]
    clf = CNNClassifier(**dict(fast, max_epochs=5), learning_rate=0.01).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, np.sort(mapping))
    pred = clf.predict(X_test)
    assert pred.dtype == labels.dtype
    assert set(pred) <= set(mapping)
    # the labels are mapped back correctly (a scrambled mapping would score ~1/3)
    assert np.mean(pred == labels_test) > 0.8

    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert (proba >= 0).all()
    # columns follow classes_
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    column = np.searchsorted(clf.classes_, labels_test)
    assert proba[np.arange(len(X_test)), column].mean() > 0.5  # chance: 1/3


# ---------------------------------------------------------------------------- learning
def test_learns_digits(digits16):
    X, y = digits16
    clf = CNNClassifier(filters=(8,), hidden_units=(32,), learning_rate=3e-3, batch_size=32,
                        max_epochs=5, verbose=0, random_state=0, device="cpu")
    clf.fit(X[:1000], y[:1000])
    assert clf.score(X[1000:], y[1000:]) > 0.8  # chance is 0.1
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]


# ---------------------------------------------------------------------------- fitted state
def test_fitted_attributes(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**dict(fast, max_epochs=4))
    for name in ("classes_", "net_", "history_", "n_iter_", "loss_curve_", "input_shape_"):
        assert not hasattr(clf, name)
    assert clf.fit(X, y) is clf
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_features_in_ == 64
    assert clf.input_shape_ == (1, 8, 8)
    assert isinstance(clf.net_, TrainingNet)
    assert isinstance(clf.module_, nn.Module) and clf.module_ is clf.net_.module_
    assert clf.n_iter_ == 4 == clf.max_epochs
    assert len(clf.history_) == clf.n_iter_
    assert len(clf.loss_curve_) == clf.n_iter_
    assert clf.loss_curve_ == [h["train_loss"] for h in clf.history_]
    assert all({"train_loss", "train_acc", "dur"} <= set(h) for h in clf.history_)
    assert all(0.0 <= h["train_acc"] <= 1.0 for h in clf.history_)
    assert clf.validation_scores_ is None
    assert clf.device_ == "cpu"
    clf.predict(X[:2])
    assert not clf.module_.training


def test_init_only_stores_parameters():
    clf = CNNClassifier(kernel_size=-3, activation="nope", architecture="missing")
    assert clf.get_params()["kernel_size"] == -3
    assert clf.get_params()["activation"] == "nope"


def test_flat_rows_and_images_give_the_same_network(small_digits, fast):
    X, y, X_test, _ = small_digits
    as_images = CNNClassifier(**fast).fit(X, y)
    as_rows = CNNClassifier(**fast).fit(X.reshape(len(X), -1), y)
    assert as_rows.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(as_images.predict_proba(X_test),
                                  as_rows.predict_proba(X_test.reshape(len(X_test), -1)))


# ---------------------------------------------------------------------------- early stopping
def test_no_validation_split_without_early_stopping(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast).fit(X, y)
    assert all("valid_loss" not in h and "valid_acc" not in h for h in clf.history_)
    # every image is trained on: ceil(300 / 32) batches per epoch
    assert all(h["train_batch_count"] == 10 for h in clf.history_)


def test_early_stopping_holds_out_validation_data(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast, early_stopping=True, validation_fraction=0.2).fit(X, y)
    assert all("valid_loss" in h and "valid_acc" in h for h in clf.history_)
    # 240 training images -> 8 batches of 32; 60 validation images -> 2 batches
    assert all(h["train_batch_count"] == 8 for h in clf.history_)
    assert all(h["valid_batch_count"] == 2 for h in clf.history_)
    assert clf.validation_scores_ == [h["valid_acc"] for h in clf.history_]
    assert len(clf.validation_scores_) == clf.n_iter_
    assert all(0.0 <= s <= 1.0 for s in clf.validation_scores_)


def test_early_stopping_stops_and_restores_the_best_weights(small_digits, fast):
    X, y, X_test, _ = small_digits
    # With tol=10 no epoch after the first counts as an improvement, so
    # training stops after 1 + n_iter_no_change epochs and must come back to
    # the weights of epoch 1.
    params = dict(fast, max_epochs=20, learning_rate=0.01, early_stopping=True,
                  n_iter_no_change=2)
    stopped = CNNClassifier(**params, tol=10.0).fit(X, y)
    assert stopped.n_iter_ == 3 < stopped.max_epochs
    assert len(stopped.loss_curve_) == 3
    losses = [h["valid_loss"] for h in stopped.history_]
    assert losses[2] < losses[0]  # later epochs were better but not by tol

    # The same split and first epoch, trained for one epoch only.
    one_epoch = CNNClassifier(**dict(params, max_epochs=1), tol=10.0).fit(X, y)
    np.testing.assert_array_equal(stopped.predict_proba(X_test), one_epoch.predict_proba(X_test))

    # Without restoring, three epochs give other weights.
    three_epochs = CNNClassifier(**dict(params, max_epochs=3), tol=0.0).fit(X, y)
    assert three_epochs.n_iter_ == 3
    assert not np.allclose(three_epochs.predict_proba(X_test), stopped.predict_proba(X_test))


def test_early_stopping_best_weights_have_the_lowest_validation_loss(small_digits, fast):
    X, y, _, _ = small_digits
    # A large learning rate makes the validation loss go up and down; whatever
    # epoch ends training, the kept weights are those of the best epoch.
    clf = CNNClassifier(**dict(fast, max_epochs=8), learning_rate=0.05, early_stopping=True,
                        n_iter_no_change=3, tol=0.0, validation_fraction=0.3).fit(X, y)
    # rebuild the (seeded, stratified) validation split the fit used
    images = torch.from_numpy(X.reshape(len(X), 1, 8, 8).astype(np.float32))
    dataset = TensorBatches(images, torch.as_tensor(y), torch.ones(len(X)))
    _, valid = clf._validation_split(dataset, y, clf._seed)
    with torch.inference_mode():
        logits = clf.module_(valid.X)
    final_loss = float(nn.functional.cross_entropy(logits, valid.y))
    best_loss = min(h["valid_loss"] for h in clf.history_)
    assert clf.history_[-1]["valid_loss"] > best_loss  # the last epoch was not the best
    assert final_loss == pytest.approx(best_loss, rel=1e-4)


# ---------------------------------------------------------------------------- weights
@pytest.mark.parametrize("class_weight", ["balanced", {3: 1.0, 8: 20.0}])
def test_class_weight_favours_the_minority_class(imbalanced, fast, class_weight):
    X, y, X_test, y_test = imbalanced
    params = dict(fast, learning_rate=0.01)
    plain = CNNClassifier(**params).fit(X, y)
    weighted = CNNClassifier(**params, class_weight=class_weight).fit(X, y)
    assert not np.allclose(plain.predict_proba(X_test), weighted.predict_proba(X_test))
    # more test images are called "8" and the mean probability of 8 rises
    assert np.mean(weighted.predict(X_test) == 8) > np.mean(plain.predict(X_test) == 8)
    assert weighted.predict_proba(X_test)[:, 1].mean() > plain.predict_proba(X_test)[:, 1].mean()


def test_class_weight_dict_equals_the_matching_sample_weight(imbalanced, fast):
    X, y, X_test, _ = imbalanced
    by_class = CNNClassifier(**fast, class_weight={3: 1.0, 8: 5.0}).fit(X, y)
    by_sample = CNNClassifier(**fast).fit(X, y, sample_weight=np.where(y == 8, 5.0, 1.0))
    np.testing.assert_array_equal(by_class.predict_proba(X_test),
                                  by_sample.predict_proba(X_test))


def test_unit_sample_weight_equals_no_weight(small_digits, fast):
    X, y, X_test, _ = small_digits
    plain = CNNClassifier(**fast).fit(X, y)
    ones = CNNClassifier(**fast).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(plain.predict_proba(X_test), ones.predict_proba(X_test))
    # only the relative weights matter: a constant factor changes nothing
    sevens = CNNClassifier(**fast).fit(X, y, sample_weight=np.full(len(y), 7.0))
    np.testing.assert_allclose(plain.predict_proba(X_test), sevens.predict_proba(X_test),
                               rtol=1e-5, atol=1e-6)


def test_heavy_sample_weight_shifts_predictions(imbalanced, fast):
    X, y, X_test, _ = imbalanced
    params = dict(fast, learning_rate=0.01)
    plain = CNNClassifier(**params).fit(X, y)
    heavy = CNNClassifier(**params).fit(X, y, sample_weight=np.where(y == 8, 50.0, 1.0))
    assert np.mean(heavy.predict(X_test) == 8) > np.mean(plain.predict(X_test) == 8) + 0.2


def test_zero_weighted_images_do_not_count(small_digits, fast):
    X, y, X_test, _ = small_digits
    keep = y != 5
    dropped = CNNClassifier(**fast).fit(X, y, sample_weight=keep.astype(float))
    with_all = CNNClassifier(**fast).fit(X, y)
    assert not np.allclose(dropped.predict_proba(X_test), with_all.predict_proba(X_test))
    assert 5 in dropped.classes_  # the class still exists, it is just not learned


# ---------------------------------------------------------------------------- warm start / partial_fit
def test_warm_start_continues_training(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast, learning_rate=0.01, warm_start=True).fit(X, y)
    first = list(clf.loss_curve_)
    module = clf.module_
    clf.fit(X, y)
    assert clf.n_iter_ == 6
    assert len(clf.loss_curve_) == 6 and len(clf.history_) == 6
    assert clf.loss_curve_[:3] == first
    assert clf.loss_curve_[3] < first[0]
    assert clf.loss_curve_[-1] < first[-1]
    assert clf.module_ is module  # the same network, trained further


def test_without_warm_start_fit_restarts(small_digits, fast):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast, learning_rate=0.01).fit(X, y)
    first, proba = list(clf.loss_curve_), clf.predict_proba(X_test)
    clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.loss_curve_ == first
    np.testing.assert_array_equal(clf.predict_proba(X_test), proba)


def test_partial_fit_requires_classes_first(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "net_")


def test_partial_fit_runs_one_epoch_per_call(small_digits, fast):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**dict(fast, max_epochs=10), learning_rate=0.01)
    # the first batch holds only digits 0..4; classes announces all ten
    low = y < 5
    clf.partial_fit(X[low], y[low], classes=np.arange(10))
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 1
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.predict_proba(X_test).shape == (len(X_test), 10)
    for expected in range(2, 6):
        clf.partial_fit(X, y)  # classes not needed any more
        assert clf.n_iter_ == expected
        assert len(clf.loss_curve_) == expected
    assert clf.loss_curve_[-1] < clf.loss_curve_[1]


def test_partial_fit_rejects_labels_outside_classes(small_digits, fast):
    X, y, _, _ = small_digits
    with pytest.raises(InputError, match=r"missing from classes"):
        CNNClassifier(**fast).partial_fit(X, y, classes=np.arange(5))
    clf = CNNClassifier(**fast).partial_fit(X[y < 5], y[y < 5], classes=np.arange(5))
    with pytest.raises(InputError, match="does not know"):
        clf.partial_fit(X, y)


def test_partial_fit_rejects_balanced_class_weight(small_digits, fast):
    X, y, _, _ = small_digits
    with pytest.raises(ValueError, match="balanced.*not supported by partial_fit"):
        CNNClassifier(**fast, class_weight="balanced").partial_fit(X, y, classes=np.arange(10))


# ---------------------------------------------------------------------------- reproducibility
def test_same_random_state_same_predictions(small_digits, fast):
    X, y, X_test, _ = small_digits
    params = dict(fast, dropout=0.25)  # dropout draws random numbers too
    a = CNNClassifier(**params).fit(X, y).predict_proba(X_test)
    b = CNNClassifier(**params).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    c = CNNClassifier(**dict(params, random_state=1)).fit(X, y).predict_proba(X_test)
    assert not np.allclose(a, c)


def test_random_state_instance_is_accepted(small_digits, fast):
    X, y, X_test, _ = small_digits
    a = CNNClassifier(**dict(fast, random_state=np.random.RandomState(3))).fit(X, y)
    b = CNNClassifier(**dict(fast, random_state=np.random.RandomState(3))).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_fit_leaves_the_global_torch_rng_alone(small_digits, fast):
    X, y, _, _ = small_digits
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    CNNClassifier(**fast).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------- clone / persistence
def test_clone_gives_an_unfitted_copy(small_digits, fast):
    X, y, _, _ = small_digits
    clf = CNNClassifier(**fast, architecture=None, class_weight={0: 2.0}).fit(X, y)
    copy = clone(clf)
    assert copy is not clf
    assert copy.get_params() == clf.get_params()
    for name in ("net_", "classes_", "history_", "n_iter_", "input_shape_"):
        assert not hasattr(copy, name)
    copy.fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_pickle_round_trip(small_digits, fast):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(restored.classes_, clf.classes_)
    assert restored.n_iter_ == clf.n_iter_


def test_joblib_round_trip_with_progress_bar(small_digits, fast, tmp_path):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**dict(fast, verbose=1)).fit(X, y)  # the bar must not block pickling
    path = tmp_path / "cnn.joblib"
    joblib.dump(clf, path)
    restored = joblib.load(path)
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    restored.set_params(warm_start=True, verbose=0).fit(X, y)  # still trainable
    assert restored.n_iter_ == 2 * clf.n_iter_


# ---------------------------------------------------------------------------- model selection
def test_grid_search_in_parallel_without_oversubscription(digits16):
    X, y = digits16
    X, y = X[:240], y[:240]
    search = GridSearchCV(
        CNNClassifier(filters=(4,), hidden_units=(16,), max_epochs=2, batch_size=32,
                      padding="same", verbose=0, random_state=0, device="cpu"),
        {"dropout": [0.0, 0.25], "kernel_size": [3, 5]},
        cv=2,
        n_jobs=2,
        scoring={"acc": "accuracy",
                 "threads": lambda est, X, y: __import__("torch").get_num_threads()},
        refit="acc",
    )
    search.fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 4
    assert np.isfinite(results["mean_test_acc"]).all()
    # each of the 2 workers got at most its share of the cores (measured inside the worker)
    threads = results["mean_test_threads"]
    cores = min(os.cpu_count(), joblib.cpu_count())
    assert min(threads) >= 1
    assert max(threads) * 2 <= max(cores, 2)
    assert search.best_params_ in results["params"]
    assert search.best_estimator_.predict(X[:5]).shape == (5,)


# ---------------------------------------------------------------------------- architectures
def test_builtin_architectures_are_listed():
    assert {"convnet", "simple_cnn", "lenet5"} <= set(list_architectures())


def test_architecture_simple_cnn_by_name(small_digits):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(architecture="simple_cnn", **ARCH_FAST).fit(X, y)
    # SimpleCNN's defaults: two blocks of two 3x3 convolutions (32 then 64) with BatchNorm
    convs = [m for m in clf.module_.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert nn.AdaptiveAvgPool2d in layer_types(clf.module_)
    assert clf.predict_proba(X_test).shape == (len(X_test), 10)


def test_architecture_lenet5_by_name(digits16):
    X, y = digits16
    clf = CNNClassifier(architecture="lenet5", **ARCH_FAST).fit(X[:200], y[:200])
    linear = [m for m in clf.module_.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linear] == [120, 84, 10]
    assert nn.AvgPool2d in layer_types(clf.module_) and nn.Tanh in layer_types(clf.module_)
    assert clf.predict(X[200:210]).shape == (10,)


def test_lenet5_pad_option_accepts_12x12():
    X12, y12 = load_digits_images(size=12, return_X_y=True)
    clf = CNNClassifier(architecture=LeNet5(pad=True), **ARCH_FAST).fit(X12[:100], y12[:100])
    assert isinstance(clf.module_[0], nn.ZeroPad2d)
    with pytest.raises(ValueError, match="at least 16x16"):
        CNNClassifier(architecture=LeNet5(), **ARCH_FAST).fit(X12[:100], y12[:100])


def test_architecture_plugin_instance_with_nested_params(small_digits):
    X, y, _, _ = small_digits
    plugin = SimpleCNN(depth=1, width=4)
    clf = CNNClassifier(architecture=plugin, **ARCH_FAST)
    params = clf.get_params()
    assert params["architecture__depth"] == 1 and params["architecture__width"] == 4
    clf.fit(X, y)
    assert len([m for m in clf.module_.modules() if isinstance(m, nn.Conv2d)]) == 2
    assert clf.architecture is plugin and plugin.get_params()["depth"] == 1  # not altered

    clf.set_params(architecture__depth=2)
    assert clf.architecture.depth == 2
    clf.fit(X, y)
    convs = [m for m in clf.module_.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 8, 8]
    # clone copies the plugin with its parameters
    assert clone(clf).get_params()["architecture__depth"] == 2
    assert clone(clf).architecture is not clf.architecture


def test_grid_search_over_plugin_parameters(small_digits):
    X, y, _, _ = small_digits
    search = GridSearchCV(CNNClassifier(architecture=SimpleCNN(depth=1, width=4), **ARCH_FAST),
                          {"architecture__depth": [1, 2]}, cv=2)
    search.fit(X, y)
    assert list(search.cv_results_["param_architecture__depth"]) == [1, 2]
    best = search.best_params_["architecture__depth"]
    n_convs = len([m for m in search.best_estimator_.module_.modules()
                   if isinstance(m, nn.Conv2d)])
    assert n_convs == 2 * best


def test_architecture_plugin_class(small_digits):
    X, y, _, _ = small_digits
    clf = CNNClassifier(architecture=SimpleCNN, **ARCH_FAST).fit(X, y)
    convs = [m for m in clf.module_.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]  # SimpleCNN's defaults
    assert "architecture__depth" not in clf.get_params()  # a class has no parameters to tune


class TinyNet(nn.Module):
    def __init__(self, in_channels, image_size, n_classes):
        super().__init__()
        height, width = image_size
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.fc = nn.Linear(4 * height * width, n_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_architecture_module_subclass(three_digits):
    X, y, X_test, _ = three_digits
    clf = CNNClassifier(architecture=TinyNet, **ARCH_FAST).fit(X, y)
    assert isinstance(clf.module_, TinyNet)
    assert clf.module_.conv.in_channels == 1
    assert clf.module_.fc.in_features == 4 * 8 * 8 and clf.module_.fc.out_features == 3
    assert clf.predict_proba(X_test).shape == (len(X_test), 3)


def test_architecture_builder_function(three_digits):
    X, y, X_test, _ = three_digits
    calls = []

    def build(in_channels, image_size, n_classes):
        calls.append((in_channels, image_size, n_classes))
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size[0] * image_size[1],
                                                     n_classes))

    clf = CNNClassifier(architecture=build, **ARCH_FAST).fit(X, y)
    assert calls == [(1, (8, 8), 3)]
    assert isinstance(clf.module_[1], nn.Linear)
    assert clf.predict(X_test).shape == (len(X_test),)


def test_architecture_module_instance_is_copied(three_digits):
    X, y, _, _ = three_digits
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    before = network[1].weight.detach().clone()
    clf = CNNClassifier(architecture=network, **ARCH_FAST).fit(X, y)
    assert clf.module_ is not network
    assert not torch.equal(clf.module_[1].weight.detach(), before)  # the copy was trained
    assert torch.equal(network[1].weight.detach(), before)  # the given module was not


def test_unknown_architecture_name_lists_the_installed_ones(small_digits):
    X, y, _, _ = small_digits
    with pytest.raises(PluginNotFoundError, match="Unknown architecture 'resnet9000'") as info:
        CNNClassifier(architecture="resnet9000", **ARCH_FAST).fit(X, y)
    for name in ("convnet", "simple_cnn", "lenet5"):
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_convnet_parameters_are_ignored_with_a_warning_when_architecture_is_set(small_digits):
    X, y, _, _ = small_digits
    with pytest.warns(UserWarning, match=r"filters, kernel_size only shape the built-in ConvNet"):
        clf = CNNClassifier(architecture=SimpleCNN(depth=1, width=4), filters=(4,),
                            kernel_size=5, **ARCH_FAST).fit(X, y)
    convs = [m for m in clf.module_.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) for c in convs)


# ---------------------------------------------------------------------------- progress
def test_verbose_shows_a_progress_bar(small_digits, fast, capsys):
    X, y, _, _ = small_digits
    CNNClassifier(**dict(fast, verbose=1)).fit(X, y)
    captured = capsys.readouterr()
    assert "CNNClassifier" in captured.err
    assert "epoch" in captured.err
    assert captured.out == ""


def test_verbose_zero_is_silent(small_digits, fast, capsys):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(**fast).fit(X, y)
    clf.predict(X_test)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# --------------------------------------------------------------------------- nested plugin parameters


def test_nested_parameters_of_a_plugin_given_by_name(digits8):
    X, y = digits8[0][:240], digits8[1][:240]
    clf = CNNClassifier(architecture="simple_cnn", max_epochs=2, verbose=0, random_state=0)
    assert clf.set_params(architecture__depth=1) is clf
    assert isinstance(clf.architecture, SimpleCNN)
    assert clf.architecture.get_params() == SimpleCNN(depth=1).get_params()
    # ... so a grid search can tune a named architecture's own parameters.
    search = GridSearchCV(CNNClassifier(architecture="simple_cnn", max_epochs=2, verbose=0,
                                        random_state=0),
                          {"architecture__width": [4, 8]}, cv=2).fit(X, y)
    widths = [p["architecture__width"] for p in search.cv_results_["params"]]
    assert widths == [4, 8]
    assert search.best_estimator_.architecture.width == search.best_params_["architecture__width"]
    n_params = [sum(p.numel() for p in CNNClassifier(
        architecture=SimpleCNN(width=w), max_epochs=1, verbose=0).fit(X, y).module_.parameters())
        for w in widths]
    assert n_params[0] < n_params[1]
    # A plain name change, and an unknown name, behave as before.
    assert CNNClassifier().set_params(architecture="lenet5").architecture == "lenet5"
    with pytest.raises(PluginNotFoundError, match="no_such_net"):
        CNNClassifier(architecture="no_such_net").set_params(architecture__depth=2)


def test_nested_backbone_parameters_of_a_named_backbone():
    from skcnn import FineTunedClassifier, PretrainedFeatures
    from skcnn.pretrained import ResNet18, TorchvisionBackbone

    features = PretrainedFeatures(backbone="resnet18").set_params(backbone__weights="w.pth")
    assert isinstance(features.backbone, ResNet18) and features.backbone.weights == "w.pth"
    tuned = FineTunedClassifier(backbone="torchvision:resnet18").set_params(
        backbone__weights="w.pth")
    assert isinstance(tuned.backbone, TorchvisionBackbone)
    assert tuned.backbone.get_params() == {"model_name": "resnet18", "weights": "w.pth"}

"""Fits that fail leave nothing wrong behind (issue 12, items 2-4 and the warm-start and
device rough edges of item 6).

* A catalogue of failed refits, as a table of cases (estimator, how the refit fails, the
  error type and a phrase of its message): after each, the estimator answers exactly as it
  did before the failed fit (same predictions, classes_, input_shape_ ...).
* Ctrl-C: a real SIGINT sent to a subprocess that is fitting stops it with
  KeyboardInterrupt; caught in-process, the estimator keeps the last complete epoch's weights.
* Divergence (a huge learning rate on real digits) raises DivergenceError and never leaves
  NaN probabilities behind.
* warm_start=True after changing a parameter that shapes the network raises.

Every fit is tiny (8x8 or 16x16 digits, 1-3 epochs of a 4-filter network; 32x32 input for
FineTunedClassifier), pinned to the CPU.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

import skcnn
from skcnn import CNNClassifier, FineTunedClassifier, PretrainedFeatures
from skcnn.exceptions import (
    DivergenceError,
    ImageTooSmallError,
    InputError,
    LayerNotFoundError,
    PluginNotFoundError,
    TrainingInterruptedWarning,
)

CNN_FAST = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=2, batch_size=32,
                verbose=0, random_state=0, device="cpu")
FINETUNE_FAST = dict(input_size=32, max_epochs=1, batch_size=16, num_workers=0, verbose=0,
                     random_state=0, device="cpu")
FEATURES_FAST = dict(input_size=32, batch_size=16, num_workers=0, verbose=0, device="cpu")

#: The ConvNet parameters CNN_FAST changes, back at their defaults (set with another architecture).
CONVNET_DEFAULTS = dict(filters="auto", hidden_units="auto")

#: A learning rate no network survives: the loss overflows within the first epoch.
HUGE_LR = 1e20


@pytest.fixture(scope="module")
def digits(digits8):
    X, y = digits8
    return X[:120], y[:120]


@pytest.fixture(scope="module")
def digits_big(digits16):
    X, y = digits16
    return X[:120], y[:120]


# ---------------------------------------------------------------------------- the catalogue
@dataclass
class FailedRefit:
    """A fitted estimator, then a refit that must fail and leave it as it was."""

    id: str
    make: object  # () -> unfitted estimator
    data: str  # fixture the first fit uses: "digits" (8x8) or "digits_big" (16x16)
    params: dict  # set before the refit
    refit_data: object  # (X, y) of the first fit -> (X, y) of the refit
    error: type
    phrase: str
    fit_kwargs: dict = field(default_factory=dict)


def _same(X, y):
    return X, y


def _relabelled(X, y):
    """Other labels (strings), so a leaked classes_ would show."""
    return X, np.array([f"digit {v}" for v in y])


def _one_class(X, y):
    return X, np.full(len(y), "only")


def _smaller_images(X, y):
    """8x8 images for a network fitted on 16x16 ones (too small for its two conv blocks)."""
    return X[:, ::2, ::2], np.array([f"digit {v}" for v in y])


def _rgb_relabelled(X, y):
    return np.repeat(X[..., None], 3, axis=-1), np.array([f"digit {v}" for v in y])


def _faces(X, y):
    return X, y


CATALOGUE = [
    FailedRefit("cnn-unknown-architecture", lambda: CNNClassifier(**CNN_FAST), "digits",
                {"architecture": "no_such_network", **CONVNET_DEFAULTS}, _relabelled,
                PluginNotFoundError,
                "Unknown architecture 'no_such_network'"),
    FailedRefit("cnn-images-too-small", lambda: CNNClassifier(**dict(CNN_FAST, filters=(4, 4))),
                "digits_big", {}, _smaller_images, ImageTooSmallError, "must be at least 10x10"),
    FailedRefit("cnn-one-class", lambda: CNNClassifier(**CNN_FAST), "digits", {},
                _one_class, InputError, "only one class"),
    FailedRefit("cnn-diverges", lambda: CNNClassifier(**CNN_FAST), "digits",
                {"learning_rate": HUGE_LR, "optimizer": "sgd"}, _rgb_relabelled,
                DivergenceError, "Lower the learning rate"),
    FailedRefit("cnn-unknown-device", lambda: CNNClassifier(**CNN_FAST), "digits",
                {"device": "gpu"}, _relabelled, ValueError, "not a device torch knows"),
    FailedRefit("cnn-warm-start-new-filters",
                lambda: CNNClassifier(**dict(CNN_FAST, warm_start=True)), "digits",
                {"filters": (6, 6)}, _same, ValueError, "filters .*warm_start=False"),
    FailedRefit("cnn-warm-start-new-architecture",
                lambda: CNNClassifier(**dict(CNN_FAST, warm_start=True)), "digits",
                {"architecture": "simple_cnn", **CONVNET_DEFAULTS}, _same, ValueError,
                r"architecture \(built with None, now 'simple_cnn'\) changed"),
    FailedRefit("cnn-warm-start-unseen-label",
                lambda: CNNClassifier(**dict(CNN_FAST, warm_start=True)), "digits", {},
                _relabelled, InputError, "does not know"),
    FailedRefit("cnn-negative-weights", lambda: CNNClassifier(**CNN_FAST), "digits", {},
                _relabelled, ValueError, "[Nn]egative",
                fit_kwargs={"sample_weight": -np.ones(120)}),
    FailedRefit("finetune-unknown-backbone", lambda: FineTunedClassifier(**FINETUNE_FAST),
                "digits", {"backbone": "no_such_backbone"}, _relabelled, PluginNotFoundError,
                "Unknown backbone 'no_such_backbone'"),
    FailedRefit("finetune-unfreeze-too-many", lambda: FineTunedClassifier(**FINETUNE_FAST),
                "digits", {"unfreeze": 99}, _rgb_relabelled, ValueError,
                "larger than the .* stages"),
    FailedRefit("finetune-warm-start-new-head",
                lambda: FineTunedClassifier(**dict(FINETUNE_FAST, warm_start=True)), "digits",
                {"head_hidden_units": (8,)}, _same, ValueError, "head_hidden_units"),
    FailedRefit("features-unknown-layer", lambda: PretrainedFeatures(**FEATURES_FAST),
                "digits", {"layer": "no_such_layer"}, _rgb_relabelled, LayerNotFoundError,
                "no_such_layer"),
    FailedRefit("features-unknown-backbone", lambda: PretrainedFeatures(**FEATURES_FAST),
                "digits", {"backbone": "no_such_backbone"}, _rgb_relabelled,
                PluginNotFoundError, "Unknown backbone"),
]

#: Fitted attributes compared before and after the failed refit (where the estimator has them).
STATE = ("classes_", "input_shape_", "n_features_in_", "n_iter_", "device_", "loss_curve_",
         "n_features_out_", "layer_names_", "stages_", "preprocess_")


def _answers(est, X):
    if hasattr(est, "predict_proba"):
        return est.predict(X), est.predict_proba(X)
    return (est.transform(X),)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda case: case.id)
def test_failed_refit_leaves_the_fitted_state(case, request):
    X, y = request.getfixturevalue(case.data)
    est = case.make().fit(X, y)
    before = _answers(est, X)
    state = {name: getattr(est, name) for name in STATE if hasattr(est, name)}
    n_attributes = len(vars(est))

    est.set_params(**case.params)
    X_new, y_new = case.refit_data(X, y)
    with pytest.raises(case.error, match=case.phrase):
        est.fit(X_new, y_new, **case.fit_kwargs)

    for name, value in state.items():
        np.testing.assert_array_equal(np.asarray(getattr(est, name), dtype=object),
                                      np.asarray(value, dtype=object), err_msg=name)
    assert len(vars(est)) == n_attributes  # nothing new left behind
    for now, then in zip(_answers(est, X), before):
        np.testing.assert_array_equal(now, then)


def test_a_failed_first_fit_leaves_the_estimator_unfitted(digits):
    X, y = digits
    clf = CNNClassifier(**CNN_FAST | CONVNET_DEFAULTS, architecture="no_such_network")
    with pytest.raises(PluginNotFoundError):
        clf.fit(X, y)
    assert not [name for name in vars(clf) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


# ---------------------------------------------------------------------------- Ctrl-C
CHILD = textwrap.dedent("""
    import signal, sys, warnings
    from skorch.callbacks import Callback

    # A program started from a terminal has Python's own Ctrl-C handler. A test worker
    # may ignore SIGINT (after a test that started a cluster or a kernel, say), and an
    # ignored signal is inherited by this process, which would then never see Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from skcnn import CNNClassifier
    from skcnn.datasets import load_digits_images

    marker = sys.argv[1]

    class Marker(Callback):  # tells the parent that the first epoch is complete
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 1:
                open(marker, "w").close()

    class Classifier(CNNClassifier):
        def _extra_callbacks(self, *args):
            return super()._extra_callbacks(*args) + [("marker", Marker())]

    X, y = load_digits_images(size=16, return_X_y=True)
    X, y = X[:600], y[:600]
    clf = Classifier(filters=(8,), hidden_units=(32,), batch_size=8, max_epochs=10_000,
                     verbose=0, random_state=0, device="cpu")
    warnings.simplefilter("always")
    try:
        clf.fit(X, y)
    finally:
        print("n_iter_", getattr(clf, "n_iter_", None),
              "interrupted", clf.history_[-1, "interrupted"], flush=True)
""")


def test_sigint_stops_a_fit_in_a_subprocess(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(CHILD)
    marker = tmp_path / "first_epoch_done"
    # The child imports this skcnn, wherever it is installed from.
    package_root = os.path.dirname(os.path.dirname(skcnn.__file__))
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(script), str(marker)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the child never finished its first epoch"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (-signal.SIGINT, 130), (proc.returncode, err)
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "TrainingInterruptedWarning" in err and "last complete one" in err
    words = out.split()
    assert words[words.index("interrupted") + 1] == "True"
    assert int(words[words.index("n_iter_") + 1]) >= 1


class InterruptAt(Callback):
    """Raise KeyboardInterrupt in the given (1-based) epoch after the given batch."""

    def __init__(self, epoch, batch):
        self.epoch = epoch
        self.batch = batch

    def on_epoch_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        self.seen_ += training
        if len(net.history) == self.epoch and self.seen_ == self.batch:
            raise KeyboardInterrupt


def interrupted_at(epoch, batch):
    """A CNNClassifier subclass whose fits get KeyboardInterrupt after ``batch`` of ``epoch``."""

    class InterruptedClassifier(CNNClassifier):
        def _extra_callbacks(self, *args):
            return super()._extra_callbacks(*args) + [("interrupt", InterruptAt(epoch, batch))]

    return InterruptedClassifier


@pytest.mark.parametrize("early_stopping", [False, True])
def test_interrupted_fit_keeps_the_last_complete_epoch(digits, early_stopping):
    X, y = digits
    params = dict(CNN_FAST, max_epochs=6, early_stopping=early_stopping, n_iter_no_change=10)
    clf = interrupted_at(3, 2)(**params)
    with pytest.warns(TrainingInterruptedWarning, match="after epoch 2"):
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, y)
    # Exactly the network a 2-epoch fit with the same seed trains.
    reference = CNNClassifier(**dict(params, max_epochs=2)).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), rtol=1e-5,
                               atol=1e-6)
    assert clf.n_iter_ == 2 and len(clf.history_) == 2
    assert clf.history_[-1, "interrupted"] is True
    assert "interrupted" not in clf.history_[0]
    assert clf.loss_curve_ == pytest.approx(reference.loss_curve_)


def test_interrupted_first_epoch_leaves_the_estimator_as_before(digits):
    X, y = digits
    clf = interrupted_at(1, 2)(**CNN_FAST)
    with pytest.warns(TrainingInterruptedWarning, match="left as it was"):
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_interrupt_stops_a_grid_search(digits):
    """A search stops at Ctrl-C instead of scoring the fit as failed and running on."""
    X, y = digits
    search = GridSearchCV(interrupted_at(1, 1)(**CNN_FAST),
                          {"learning_rate": [1e-3, 1e-2]}, cv=2, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingInterruptedWarning)
        with pytest.raises(KeyboardInterrupt):
            search.fit(X, y)


# ---------------------------------------------------------------------------- divergence
def test_huge_learning_rate_raises_and_leaves_no_nan(digits):
    X, y = digits
    clf = CNNClassifier(**dict(CNN_FAST, optimizer="sgd", learning_rate=HUGE_LR))
    with pytest.raises(DivergenceError, match=r"epoch 1.*Lower the learning rate.*try 1e\+19"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):  # left as before the fit: unfitted, no NaN
        clf.predict_proba(X)
    # A ValueError: GridSearchCV scores it with error_score and goes on.
    search = GridSearchCV(CNNClassifier(**dict(CNN_FAST, optimizer="sgd")),
                          {"learning_rate": [HUGE_LR, 0.05]}, cv=2, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's FitFailedWarning
        search.fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_score"][0])
    assert search.best_params_ == {"learning_rate": 0.05}


def test_diverging_warm_start_keeps_its_previous_weights(digits):
    X, y = digits
    clf = CNNClassifier(**dict(CNN_FAST, warm_start=True, optimizer="sgd", learning_rate=0.05))
    clf.fit(X, y)
    before = clf.predict_proba(X)
    clf.net_.set_params(lr=HUGE_LR)  # (a warm start keeps the optimizer and its rate)
    with pytest.raises(DivergenceError, match="epoch 3.*No epoch of this warm start "
                                              "completed: CNNClassifier keeps its previous"):
        clf.fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), before, rtol=1e-5, atol=1e-7)
    assert clf.n_iter_ == 2 and len(clf.history_) == 2 and len(clf.loss_curve_) == 2


class FailAt(Callback):
    """Raise RuntimeError in the given (1-based) epoch of a fit, after its first batch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_begin(self, net, **kwargs):
        self.start_ = len(net.history)

    def on_batch_end(self, net, training=False, **kwargs):
        if len(net.history) - self.start_ == self.epoch:
            raise RuntimeError("a failure in the middle of an epoch")


class FailingOnSecondEpoch(CNNClassifier):
    def _extra_callbacks(self, *args):
        return super()._extra_callbacks(*args) + [("fail", FailAt(2))]


def test_failed_warm_start_says_it_kept_the_epochs_it_trained(digits):
    X, y = digits
    clf = FailingOnSecondEpoch(**dict(CNN_FAST, warm_start=True, max_epochs=1)).fit(X, y)
    clf.set_params(max_epochs=3)
    with pytest.raises(RuntimeError, match="middle of an epoch") as error:
        clf.fit(X, y)  # epoch 2 completes, epoch 3 fails
    if sys.version_info >= (3, 11):  # the note rides on the error itself
        assert ("already trained 1 complete epoch(s): FailingOnSecondEpoch keeps their weights "
                "(n_iter_=2)") in "\n".join(error.value.__notes__)
    assert clf.n_iter_ == 2 and len(clf.history_) == 2
    # The weights are those of epoch 2, the last complete one: as two 1-epoch warm fits.
    reference = CNNClassifier(**dict(CNN_FAST, warm_start=True, max_epochs=1)).fit(X, y).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), reference.predict_proba(X), rtol=1e-5,
                               atol=1e-6)


def test_predict_proba_refuses_non_finite_weights(digits):
    X, y = digits
    clf = CNNClassifier(**CNN_FAST).fit(X, y)
    with torch.no_grad():
        next(clf.module_.parameters()).fill_(float("nan"))
    with pytest.raises(DivergenceError, match="NaN or infinite"):
        clf.predict_proba(X)
    with pytest.raises(DivergenceError):
        clf.predict(X)


# ---------------------------------------------------------------------------- warm starts
def test_warm_start_with_an_unchanged_architecture_continues(digits):
    X, y = digits
    clf = CNNClassifier(**dict(CNN_FAST, warm_start=True, filters=[4])).fit(X, y)
    clf.set_params(filters=(4,), max_epochs=1, learning_rate=0.01)  # same network
    clf.fit(X, y)
    assert clf.n_iter_ == 3


def test_warm_start_sees_a_plugin_parameter_change(digits_big):
    X, y = digits_big
    clf = CNNClassifier(architecture="simple_cnn", max_epochs=2, batch_size=32, verbose=0,
                        random_state=0, device="cpu", warm_start=True)
    clf.fit(X, y)
    clf.set_params(architecture__depth=2)  # the name becomes SimpleCNN(depth=2): the same
    clf.fit(X, y)
    assert clf.n_iter_ == 4
    clf.set_params(architecture__width=8)
    with pytest.raises(ValueError, match=r"architecture \(built with 'simple_cnn', now "
                                         r"SimpleCNN\(width=8\)\)"):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 4

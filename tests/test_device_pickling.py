"""Unpickling an estimator fitted on a GPU that this machine does not have.

``device_`` records the GPU a fit used (``"cuda:3"`` when ``device='auto'`` picked
the process's own GPU on a multi-GPU host). Loaded where there are fewer GPUs
(a Dask client with one GPU), the estimator must use the current GPU instead of
failing with "invalid device ordinal"; without CUDA it falls back to the CPU.

No GPU is needed: ``torch.cuda.is_available`` and ``device_count`` are faked, and
the move onto the GPU is recorded instead of done.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import blocked_network

from skcnn import CNNClassifier, PretrainedFeatures
from skcnn._engine import TrainingNet
from skcnn.utils import restore_device


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: torch sees ``n`` CUDA devices (0: CUDA is not available)."""

    def fake(n):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return fake


# --------------------------------------------------------------------------- the choice


@pytest.mark.parametrize("recorded, n_gpus, expected", [
    ("cuda:3", 1, "cuda"),  # fewer GPUs here: the current one
    ("cuda:3", 2, "cuda"),
    ("cuda:3", 4, "cuda:3"),  # the same GPU where it exists
    ("cuda:0", 2, "cuda:0"),
    ("cuda:1", 2, "cuda:1"),
    ("cuda", 1, "cuda"),
    ("cuda:3", 0, "cpu"),  # no CUDA: the CPU, as before
    ("cuda:0", 0, "cpu"),
    ("cpu", 0, "cpu"),
    ("cpu", 2, "cpu"),
    (torch.device("cuda", 1), 1, "cuda"),
])
def test_restore_device(gpus, recorded, n_gpus, expected):
    gpus(n_gpus)
    assert restore_device(recorded) == expected


def test_restore_device_none_and_mps(monkeypatch):
    assert restore_device(None) is None
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert restore_device("mps") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert restore_device("mps") == "mps"


# --------------------------------------------------------------------------- CNNClassifier


@pytest.fixture(scope="module")
def fitted(small_digits):
    X, y, X_test, _ = small_digits
    clf = CNNClassifier(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=2,
                        batch_size=32, verbose=0, random_state=0, device="cpu").fit(X, y)
    return clf, X_test


def pickled_as_if_on(clf, device):
    """``clf`` pickled as if fitted on ``device`` (its tensors stay on the CPU)."""
    before = clf.device_, clf.net_.device
    clf.device_ = clf.net_.device = device
    try:
        return pickle.dumps(clf)
    finally:
        clf.device_, clf.net_.device = before


@pytest.fixture
def skorch_loads(monkeypatch):
    """The device skorch is asked to load the net onto; it really loads onto the CPU."""
    seen = []
    original = TrainingNet.__setstate__

    def record(net, state):
        seen.append(state["device"])
        original(net, dict(state, device="cpu"))  # the pickled tensors are CPU tensors
        net.device = state["device"]

    monkeypatch.setattr(TrainingNet, "__setstate__", record)
    return seen


@pytest.mark.parametrize("n_gpus, expected", [(1, "cuda"), (2, "cuda"), (4, "cuda:3")])
def test_classifier_from_cuda3_onto_fewer_gpus(fitted, gpus, skorch_loads, n_gpus, expected):
    clf, _ = fitted
    blob = pickled_as_if_on(clf, "cuda:3")
    gpus(n_gpus)
    restored = pickle.loads(blob)
    assert skorch_loads == [expected]
    assert restored.device_ == expected and restored.net_.device == expected


def test_classifier_from_cuda0_onto_two_gpus(fitted, gpus, skorch_loads):
    clf, _ = fitted
    blob = pickled_as_if_on(clf, "cuda:0")
    gpus(2)
    restored = pickle.loads(blob)
    assert skorch_loads == ["cuda:0"] and restored.device_ == "cuda:0"


def test_classifier_from_cuda3_onto_cpu_only(fitted, gpus):
    """Really loaded: no GPU here, so the CPU, and ``device_`` says so."""
    clf, X_test = fitted
    blob = pickled_as_if_on(clf, "cuda:3")
    gpus(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no skorch DeviceWarning either
        restored = pickle.loads(blob)
    assert restored.device_ == "cpu" and restored.net_.device == "cpu"
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))


def test_classifier_pickle_round_trip_on_cpu(fitted, small_digits):
    clf, X_test = fitted
    blob = pickle.dumps(clf)
    assert "net_" in clf.__dict__ and "_net_state" not in clf.__dict__  # pickling changes nothing
    restored = pickle.loads(blob)
    assert type(restored) is CNNClassifier and "_net_state" not in restored.__dict__
    assert restored.device_ == "cpu" and restored.net_.device == "cpu"
    assert restored.history_ is restored.net_.history
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(restored.classes_, clf.classes_)
    assert restored.get_params() == clf.get_params()
    # Twice, and through deepcopy (which uses the same state).
    again = pickle.loads(pickle.dumps(restored))
    np.testing.assert_array_equal(again.predict(X_test), clf.predict(X_test))
    copied = copy.deepcopy(clf)
    np.testing.assert_array_equal(copied.predict(X_test), clf.predict(X_test))
    # The restored net keeps training.
    X, y = small_digits[:2]
    restored.partial_fit(X, y)
    assert restored.n_iter_ == clf.n_iter_ + 1


# --------------------------------------------------------------------------- PretrainedFeatures


@pytest.fixture(scope="module")
def features():
    images = np.random.RandomState(0).randint(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    with blocked_network():
        pf = PretrainedFeatures(input_size=32, num_workers=0, verbose=0, device="cpu").fit(images)
    return pf, images


@pytest.fixture
def moves(monkeypatch):
    """The devices ``nn.Module.to`` is asked for; nothing is moved."""
    seen = []

    def record(module, *args, **kwargs):
        seen.append(str(args[0]) if args else kwargs.get("device"))
        return module

    monkeypatch.setattr(torch.nn.Module, "to", record)
    return seen


@pytest.mark.parametrize("recorded, n_gpus, expected", [
    ("cuda:3", 1, "cuda"), ("cuda:3", 4, "cuda:3"), ("cuda:0", 2, "cuda:0")])
def test_features_onto_fewer_gpus(features, gpus, moves, recorded, n_gpus, expected):
    pf, _ = features
    pf = copy.deepcopy(pf)
    pf.device_ = recorded
    blob = pickle.dumps(pf)  # moves the network to the CPU with .cpu(), not .to()
    gpus(n_gpus)
    restored = pickle.loads(blob)
    assert moves == [expected]
    assert restored.device_ == expected


def test_features_from_cuda3_onto_cpu_only(features, gpus):
    pf, images = features
    ref = pf.transform(images)
    moved = copy.deepcopy(pf)
    moved.device_ = "cuda:3"
    blob = pickle.dumps(moved)
    gpus(0)
    restored = pickle.loads(blob)
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.transform(images), ref)


def test_features_pickle_round_trip_on_cpu(features):
    pf, images = features
    restored = pickle.loads(pickle.dumps(pf))
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.transform(images), pf.transform(images))

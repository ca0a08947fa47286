"""Shared fixtures and fast settings for the skcnn test suite."""

import numpy as np
import pytest
import torch

from skcnn.datasets import load_digits_images

# The test machines are small and shared: intra-op threads that spin-wait for
# each other make tiny convolutions tens of times slower than one thread.
# (Parallel workers, e.g. GridSearchCV(n_jobs=2), start their own processes
# and are not affected by this setting.)
torch.set_num_threads(1)

#: Tiny network and training settings that keep every fit well under a second.
FAST = dict(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=3, batch_size=32,
            verbose=0, random_state=0)


@pytest.fixture(scope="session")
def digits8():
    """sklearn's digits as (N, 8, 8) float32 images in [0, 1] and labels 0..9."""
    X, y = load_digits_images(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def digits16():
    """The digits resized to 16x16."""
    X, y = load_digits_images(size=16, return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def small_digits(digits8):
    """300 training and 200 held-out 8x8 digits (all ten classes in each)."""
    X, y = digits8
    return X[:300], y[:300], X[300:500], y[300:500]


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def fast():
    """A fresh copy of the fast CNNClassifier settings (``FAST``)."""
    return dict(FAST)

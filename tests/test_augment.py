"""Training-time augmentation and test-time augmentation (TTA), shared by CNNClassifier and
FineTunedClassifier: augmentation touches only the images a fit trains on (never a CV test
fold, an early-stopping validation split or predict's input unless tta > 0), the presets, and
BatchAugmenter's checks."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skcnn import CNNClassifier, FineTunedClassifier
from skcnn.data.augment import BatchAugmenter, make_augmentation

N_IMAGES = 36


@pytest.fixture
def fast(fast):
    return dict(fast, max_epochs=1, batch_size=16, device="cpu")


@pytest.fixture(scope="module")
def indexed():
    """36 distinct float32 8x8 images; ``key(image) -> index`` identifies any of them."""
    rng = np.random.RandomState(0)
    X = rng.rand(N_IMAGES, 8, 8).astype(np.float32)
    y = np.arange(N_IMAGES) % 2
    lookup = {X[i].tobytes(): i for i in range(N_IMAGES)}
    assert len(lookup) == N_IMAGES
    return X, y, lookup


class Recorder:
    """An augmentation that records which images it is given and returns them unchanged.

    ``lookup`` maps an image's float32 bytes to its index. Shared by the clones that
    cross_val_score and GridSearchCV make (``clone`` deep-copies non-estimator parameters).
    """

    def __init__(self, lookup, noise=0.0):
        self.lookup = lookup
        self.noise = noise
        self.seen = []      # index of every image given, in order
        self.shapes = set()
        self.segments = []  # (indices augmented since the previous mark, scored indices)
        self._start = 0

    def __deepcopy__(self, memo):
        return self

    def __call__(self, image):
        assert torch.is_tensor(image) and image.dtype == torch.float32
        self.shapes.add(tuple(image.shape))
        self.seen.append(self.lookup.get(image.numpy().tobytes(), -1))
        if self.noise:
            return image + self.noise * torch.randn_like(image)
        return image

    def mark(self, scored):
        self.segments.append((self.seen[self._start:], scored))
        self._start = len(self.seen)


def recording_scorer(recorder, lookup):
    """A scorer that marks the end of each fit and checks that scoring never augments."""

    def scorer(estimator, X_test, y_test):
        before = len(recorder.seen)
        score = estimator.score(X_test, y_test)
        estimator.predict_proba(X_test)
        recorder.predict_calls = getattr(recorder, "predict_calls", 0) + len(recorder.seen) - before
        recorder.mark([lookup[np.ascontiguousarray(im).tobytes()] for im in X_test])
        return score

    return scorer


def check_segments(recorder, folds, n_epochs):
    """Each fit augmented exactly its fold's training images, once per epoch."""
    assert recorder.predict_calls == 0
    by_test = {tuple(sorted(test)): train for train, test in folds}
    for augmented, scored in recorder.segments:
        train = by_test[tuple(sorted(scored))]
        assert -1 not in augmented  # every augmented image is an original training image
        assert set(augmented) == set(train)
        assert not set(augmented) & set(scored)
        assert len(augmented) == n_epochs * len(train)


# ---------------------------------------------------------------------------- training only
def test_cross_val_score_augments_only_training_folds(indexed, fast):
    X, y, lookup = indexed
    recorder = Recorder(lookup)
    cv = KFold(3, shuffle=True, random_state=0)
    clf = CNNClassifier(**dict(fast, max_epochs=2), augment=recorder)
    cross_val_score(clf, X, y, cv=cv, scoring=recording_scorer(recorder, lookup),
                    error_score="raise")
    assert recorder.shapes == {(1, 8, 8)}  # one (C, H, W) image per call
    assert len(recorder.segments) == 3
    check_segments(recorder, list(cv.split(X, y)), n_epochs=2)


def test_grid_search_augments_only_training_folds(indexed, fast):
    X, y, lookup = indexed
    recorder = Recorder(lookup)
    cv = KFold(3)
    search = GridSearchCV(CNNClassifier(**fast, augment=recorder),
                          {"learning_rate": [1e-3, 1e-2]}, cv=cv,
                          scoring=recording_scorer(recorder, lookup), error_score="raise")
    search.fit(X, y)
    assert len(recorder.segments) == 2 * 3
    check_segments(recorder, list(cv.split(X, y)), n_epochs=1)
    # The final refit on all the data augments every image.
    refit = recorder.seen[recorder._start:]
    assert sorted(refit) == list(range(N_IMAGES))
    before = len(recorder.seen)
    search.predict(X)
    search.predict_proba(X)
    assert len(recorder.seen) == before


def test_early_stopping_validation_split_is_not_augmented(indexed, fast):
    X, y, lookup = indexed
    recorder = Recorder(lookup)
    clf = CNNClassifier(**dict(fast, max_epochs=3), augment=recorder, early_stopping=True,
                        validation_fraction=0.25, n_iter_no_change=10)
    clf.fit(X, y)
    n_valid = round(0.25 * N_IMAGES)
    distinct = set(recorder.seen)
    assert -1 not in distinct
    assert len(distinct) == N_IMAGES - n_valid < N_IMAGES
    assert len(recorder.seen) == clf.n_iter_ * (N_IMAGES - n_valid)
    assert "valid_loss" in clf.history_[-1]


# ---------------------------------------------------------------------------- prediction / TTA
@pytest.fixture(scope="module")
def noisy_fit(indexed):
    """A CNNClassifier trained with an augmentation that records and adds noise."""
    X, y, lookup = indexed
    recorder = Recorder(lookup, noise=0.5)
    clf = CNNClassifier(filters=(4,), kernel_size=3, hidden_units=(16,), max_epochs=2,
                        batch_size=16, verbose=0, random_state=0, device="cpu",
                        augment=recorder).fit(X, y)
    return clf, recorder


def test_predict_never_augments_without_tta(indexed, noisy_fit):
    X, _, _ = indexed
    clf, recorder = noisy_fit
    clf.set_params(tta=0)
    before = len(recorder.seen)
    first = clf.predict_proba(X)
    clf.predict(X)
    clf.score(X, indexed[1])
    assert len(recorder.seen) == before
    # The noise the augmentation adds never reaches prediction: repeated calls agree.
    np.testing.assert_array_equal(clf.predict_proba(X), first)


def test_tta_averages_augmented_views(indexed, noisy_fit):
    X, _, _ = indexed
    clf, recorder = noisy_fit
    plain = clf.set_params(tta=0).predict_proba(X)
    clf.set_params(tta=2)
    before = len(recorder.seen)
    rng_state = torch.random.get_rng_state()
    proba = clf.predict_proba(X)
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # the caller's RNG is untouched
    calls = recorder.seen[before:]
    assert len(calls) == 2 * len(X)  # two augmented views of every image
    assert sorted(set(calls)) == list(range(len(X)))
    assert proba.shape == plain.shape
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(proba, plain)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)  # seeded: repeatable
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    clf.set_params(tta=0)


def test_tta_without_augment_uses_light_preset(indexed, fast):
    X, y, _ = indexed
    clf = CNNClassifier(**fast).fit(X, y)
    plain = clf.predict_proba(X)
    proba = clf.set_params(tta=3).predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(proba, plain)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_augmentation_changes_training(indexed, fast):
    X, y, _ = indexed
    plain = CNNClassifier(**fast).fit(X, y)
    augmented = CNNClassifier(**fast, augment="light").fit(X, y)
    again = CNNClassifier(**fast, augment="light").fit(X, y)
    assert not np.allclose(plain.predict_proba(X), augmented.predict_proba(X))
    np.testing.assert_array_equal(augmented.predict_proba(X), again.predict_proba(X))


# ---------------------------------------------------------------------------- presets
@pytest.mark.parametrize("preset", ["light", "standard"])
@pytest.mark.parametrize("shape", [(4, 3, 32, 32), (3, 1, 20, 24)])
def test_presets_keep_shape_change_pixels_and_are_reproducible(preset, shape):
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(shape, generator=generator)
    original = batch.clone()
    augment = make_augmentation(preset, shape[2:])
    assert isinstance(augment, BatchAugmenter)
    torch.manual_seed(1)
    first = augment(batch)
    torch.manual_seed(1)
    second = augment(batch)
    assert first.shape == batch.shape
    assert first.dtype == batch.dtype
    assert not torch.allclose(first, batch)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(batch, original, rtol=0, atol=0)  # the input is left as it was
    torch.manual_seed(2)
    assert not torch.allclose(augment(batch), first)  # and random


def test_make_augmentation_none_is_none():
    assert make_augmentation(None, (8, 8)) is None


def test_make_augmentation_wraps_callable():
    def flip(image):
        return image.flip(-1)

    augment = make_augmentation(flip, (8, 8))
    batch = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(augment(batch), batch.flip(-1))


@pytest.mark.parametrize("bad, message", [(3, "augment"), ("heavy", "heavy")])
def test_make_augmentation_rejects_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        make_augmentation(bad, (8, 8))


def test_batch_augmenter_rejects_shape_change():
    augment = BatchAugmenter(lambda image: image[:, :4, :4])
    with pytest.raises(ValueError, match=r"shape.*\(1, 8, 8\).*\(1, 4, 4\)"):
        augment(torch.rand(2, 1, 8, 8))


def test_classifier_rejects_shape_changing_augmentation(indexed, fast):
    X, y, _ = indexed
    clf = CNNClassifier(**fast, augment=lambda image: image[:, 1:, 1:])
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X, y)


# ---------------------------------------------------------------------------- FineTunedClassifier
FT_FAST = dict(input_size=32, max_epochs=1, batch_size=16, num_workers=0, verbose=0,
               random_state=0, device="cpu")


@pytest.fixture(scope="module")
def lfw_small():
    from skimage.data import lfw_subset

    X = lfw_subset()
    idx = np.r_[0:12, 100:112]
    return X[idx], np.where(idx < 100, "face", "other")


def test_finetuned_standard_augment_with_tta(lfw_small):
    X, y = lfw_small
    clf = FineTunedClassifier(**FT_FAST, augment="standard", tta=2).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert set(clf.predict(X)) <= {"face", "other"}
    plain = clf.set_params(tta=0).predict_proba(X)
    assert not np.allclose(plain, proba)


class Counter:
    """Counts the images an augmentation is given; returns them unchanged."""

    def __init__(self):
        self.shapes = []

    def __deepcopy__(self, memo):
        return self

    def __call__(self, image):
        self.shapes.append(tuple(image.shape))
        return image


def test_finetuned_augments_training_images_only(lfw_small):
    X, y = lfw_small
    counter = Counter()
    clf = FineTunedClassifier(**dict(FT_FAST, max_epochs=2), augment=counter,
                              early_stopping=True, validation_fraction=0.25,
                              n_iter_no_change=5)
    clf.fit(X, y)
    n_train = len(X) - round(0.25 * len(X))
    assert set(counter.shapes) == {(3, 32, 32)}  # prepared images, one at a time
    assert len(counter.shapes) == clf.n_iter_ * n_train
    before = len(counter.shapes)
    clf.predict_proba(X)
    clf.predict(X)
    assert len(counter.shapes) == before
    clf.set_params(tta=1).predict_proba(X)
    assert len(counter.shapes) == before + len(X)

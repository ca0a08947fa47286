"""Input conversion: skcnn.data.images_to_array, infer_data_format and the bundled data sets."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skcnn import CNNClassifier
from skcnn.data import DATA_FORMATS, images_to_array, infer_data_format
from skcnn.datasets import load_digits_images
from skcnn.exceptions import InputError


# ---------------------------------------------------------------------------- layouts
def test_grayscale_nhw_gets_a_channel_axis(rng):
    X = rng.rand(5, 7, 9)
    out = images_to_array(X)
    assert out.shape == (5, 1, 7, 9)
    assert out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out[:, 0], X, rtol=1e-6)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_channels_last_is_inferred_and_transposed(rng, channels):
    X = rng.rand(4, 10, 12, channels)
    out = images_to_array(X)
    assert out.shape == (4, channels, 10, 12)
    for c in range(channels):
        np.testing.assert_allclose(out[:, c], X[..., c], rtol=1e-6)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_channels_first_is_inferred_and_kept(rng, channels):
    X = rng.rand(4, channels, 10, 12)
    out = images_to_array(X)
    assert out.shape == (4, channels, 10, 12)
    np.testing.assert_allclose(out, X, rtol=1e-6)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((2, 28, 28, 1), "channels_last"),
        ((2, 1, 28, 28), "channels_first"),
        ((2, 32, 32, 3), "channels_last"),
        ((2, 3, 32, 32), "channels_first"),
        ((2, 64, 64, 4), "channels_last"),
        # neither axis looks like channels: the shorter axis is the channel axis
        ((2, 5, 16, 16), "channels_first"),
        ((2, 16, 16, 5), "channels_last"),
        # both look like channels: the shorter one; a tie reads as channels-last
        ((2, 3, 4, 4), "channels_first"),
        ((2, 4, 4, 3), "channels_last"),
        ((2, 3, 3, 3), "channels_last"),
    ],
)
def test_infer_data_format(shape, expected):
    assert infer_data_format(shape) == expected


def test_forced_data_format_overrides_inference(rng):
    # (N, 4, 4, 3) is inferred as channels-last; forcing channels_first keeps it.
    X = rng.rand(3, 4, 4, 3)
    assert images_to_array(X).shape == (3, 3, 4, 4)
    forced_first = images_to_array(X, data_format="channels_first")
    assert forced_first.shape == (3, 4, 4, 3)
    np.testing.assert_allclose(forced_first, X, rtol=1e-6)

    # (N, 3, 8, 8) is inferred as channels-first; forcing channels_last transposes it.
    Y = rng.rand(2, 3, 8, 8)
    assert images_to_array(Y).shape == (2, 3, 8, 8)
    forced_last = images_to_array(Y, data_format="channels_last")
    assert forced_last.shape == (2, 8, 3, 8)
    np.testing.assert_allclose(forced_last, Y.transpose(0, 3, 1, 2), rtol=1e-6)


def test_unknown_data_format_is_rejected(rng):
    assert set(DATA_FORMATS) == {"auto", "channels_first", "channels_last"}
    with pytest.raises(InputError, match="data_format must be one of"):
        images_to_array(rng.rand(2, 3, 8, 8), data_format="nhwc")


def test_classifier_honours_data_format(rng, fast):
    X = rng.rand(20, 4, 6, 6).astype(np.float32)
    y = np.arange(20) % 2
    params = dict(fast, max_epochs=1, padding="same")
    auto = CNNClassifier(**params).fit(X, y)
    assert auto.input_shape_ == (4, 6, 6)  # 4 (RGBA-like) next to 6: channels-first
    last = CNNClassifier(**params, data_format="channels_last").fit(X, y)
    assert last.input_shape_ == (6, 4, 6)
    assert last.n_features_in_ == 144
    # predict reads X with the same forced layout, so the fitted shape matches
    assert last.predict(X).shape == (20,)


# ---------------------------------------------------------------------------- dtypes
def test_uint8_is_scaled_to_unit_interval(rng):
    X = rng.randint(0, 256, size=(6, 8, 8)).astype(np.uint8)
    X[0, 0, 0], X[0, 0, 1] = 0, 255
    out = images_to_array(X)
    assert out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out[:, 0], X / 255.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_floats_are_not_rescaled(dtype):
    X = (np.arange(2 * 4 * 4).reshape(2, 4, 4) * 3).astype(dtype)  # values up to 93
    out = images_to_array(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], X.astype(np.float32))


def test_integers_within_0_255_are_read_as_8_bit_whatever_their_dtype():
    X = (np.arange(2 * 4 * 4).reshape(2, 4, 4) * 3)  # values up to 93
    np.testing.assert_array_equal(images_to_array(X.astype(np.int64)),
                                  images_to_array(X.astype(np.uint8)))


def test_integers_outside_0_65535_are_not_rescaled():
    X = (np.arange(2 * 4 * 4).reshape(2, 4, 4) * 3 - 10).astype(np.int64)  # negative values
    np.testing.assert_array_equal(images_to_array(X)[:, 0], X.astype(np.float32))


def test_nested_lists_are_accepted():
    X = [[[0.0, 0.5], [1.0, 0.25]], [[1.0, 1.0], [0.0, 0.0]]]
    out = images_to_array(X)
    assert out.shape == (2, 1, 2, 2)
    np.testing.assert_array_equal(out[:, 0], np.asarray(X, dtype=np.float32))


# ---------------------------------------------------------------------------- flat rows
def test_flat_perfect_square_rows_become_square_images(rng):
    X = rng.rand(5, 64)
    out = images_to_array(X)
    assert out.shape == (5, 1, 8, 8)
    np.testing.assert_allclose(out.reshape(5, 64), X, rtol=1e-6)  # row-major pixel order


def test_flat_non_square_rows_become_strips(rng):
    X = rng.rand(5, 10)
    out = images_to_array(X)
    assert out.shape == (5, 1, 1, 10)
    np.testing.assert_allclose(out[:, 0, 0], X, rtol=1e-6)


def test_flat_rows_with_input_shape_hw(rng):
    X = rng.rand(3, 48)
    out = images_to_array(X, input_shape=(6, 8))
    assert out.shape == (3, 1, 6, 8)
    np.testing.assert_allclose(out, X.reshape(3, 1, 6, 8), rtol=1e-6)


def test_flat_rows_with_input_shape_chw(rng):
    X = rng.rand(3, 2 * 4 * 8)
    out = images_to_array(X, input_shape=(2, 4, 8))
    assert out.shape == (3, 2, 4, 8)
    np.testing.assert_allclose(out, X.reshape(3, 2, 4, 8), rtol=1e-6)
    # input_shape also overrides the perfect-square default (64 = 8x8)
    assert images_to_array(rng.rand(3, 64), input_shape=(4, 16)).shape == (3, 1, 4, 16)


def test_input_shape_mismatching_row_length_says_the_counts(rng):
    with pytest.raises(InputError, match=r"holds 100 values per image but each row of X has 64"):
        images_to_array(rng.rand(3, 64), input_shape=(10, 10))


@pytest.mark.parametrize("bad", [(8,), (1, 2, 4, 8), (0, 64), (-8, -8)])
def test_input_shape_of_wrong_rank_or_sign_is_rejected(rng, bad):
    with pytest.raises(InputError, match="input_shape must be"):
        images_to_array(rng.rand(3, 64), input_shape=bad)


def test_input_shape_with_image_input_is_rejected(rng):
    with pytest.raises(InputError, match="only used for flat 2D input"):
        images_to_array(rng.rand(3, 8, 8), input_shape=(8, 8))


def test_classifier_input_shape_reads_flat_rows(digits8, fast):
    X, y = digits8
    flat = X[:60].reshape(60, -1)
    clf = CNNClassifier(**dict(fast, max_epochs=1), input_shape=(2, 4, 8)).fit(flat, y[:60])
    assert clf.input_shape_ == (2, 4, 8)
    assert clf.n_features_in_ == 64
    assert clf.predict(flat).shape == (60,)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity"),
                                         (-np.inf, "infinity")])
def test_non_finite_pixels_are_rejected(rng, value, word):
    X = rng.rand(4, 8, 8)
    X[2, 3, 3] = value
    with pytest.raises(InputError, match=word) as info:
        images_to_array(X)
    assert "image 2" in str(info.value)  # says where the first bad value is


def test_nan_in_flat_rows_is_rejected(rng):
    X = rng.rand(4, 64)
    X[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        images_to_array(X)


def test_zero_samples_is_rejected():
    with pytest.raises(ValueError, match="0 sample"):
        images_to_array(np.zeros((0, 8, 8)))


@pytest.mark.parametrize("X", [np.zeros(8), [0.0, 1.0, 2.0]])
def test_one_dimensional_input_is_rejected(X):
    with pytest.raises(InputError, match="1D array"):
        images_to_array(X)


def test_five_dimensional_input_is_rejected():
    with pytest.raises(InputError, match=r"5D array of shape \(2, 3, 4, 8, 8\)"):
        images_to_array(np.zeros((2, 3, 4, 8, 8)))


# ---------------------------------------------------------------------------- data sets
def test_load_digits_images_default():
    data = load_digits_images()
    reference = load_digits()
    assert data.images.shape == (1797, 8, 8)
    assert data.images.dtype == np.float32
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    np.testing.assert_allclose(data.images, reference.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(data.target, reference.target)
    np.testing.assert_array_equal(data.target_names, np.arange(10))
    assert isinstance(data.DESCR, str) and data.DESCR


def test_load_digits_images_return_X_y():
    X, y = load_digits_images(return_X_y=True)
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.shape == (1797, 8, 8) and y.shape == (1797,)
    np.testing.assert_array_equal(y, load_digits().target)


@pytest.mark.parametrize("size", [4, 16, 28])
def test_load_digits_images_resizes(size):
    X, y = load_digits_images(size=size, return_X_y=True)
    original, _ = load_digits_images(return_X_y=True)
    assert X.shape == (1797, size, size)
    assert X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert y.shape == (1797,)
    # resizing keeps the content: each image's mean brightness barely moves and
    # the images stay distinguishable (not constant)
    np.testing.assert_allclose(X.mean(axis=(1, 2)), original.mean(axis=(1, 2)), atol=0.05)
    assert X.std(axis=(1, 2)).min() > 0.05


def test_load_digits_images_size_8_is_the_original():
    np.testing.assert_array_equal(load_digits_images(size=8).images, load_digits_images().images)


@pytest.mark.parametrize("size", [0, -3, 2.5, "16"])
def test_load_digits_images_rejects_bad_size(size):
    with pytest.raises(ValueError, match="'size' parameter of load_digits_images must be an int"):
        load_digits_images(size=size)


def test_dataframe_of_flat_rows(digits8, fast):
    pd = pytest.importorskip("pandas")
    X, y = digits8
    frame = pd.DataFrame(X[:60].reshape(60, -1), columns=[f"px{i}" for i in range(64)])
    clf = CNNClassifier(**dict(fast, max_epochs=1)).fit(frame, y[:60])
    assert clf.input_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns.to_numpy())
    np.testing.assert_array_equal(clf.predict_proba(frame), clf.predict_proba(X[:60]))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"px0": "other"}))


def test_refit_on_images_forgets_feature_names(digits8, fast):
    """A fit on image arrays must drop feature_names_in_ left by an earlier fit on a
    DataFrame (sklearn's reset semantics); otherwise predicting on plain arrays warns
    "X does not have valid feature names, but CNNClassifier was fitted with feature names"."""
    pd = pytest.importorskip("pandas")
    X, y = digits8
    frame = pd.DataFrame(X[:60].reshape(60, -1), columns=[f"px{i}" for i in range(64)])
    clf = CNNClassifier(**dict(fast, max_epochs=1)).fit(frame, y[:60])
    clf.fit(X[:60], y[:60])  # images now, no column names
    assert not hasattr(clf, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X[:5].reshape(5, -1))


# --------------------------------------------------------------------------- batch prefetching


def _run_with_timeout(fn, seconds=10):
    import threading

    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "deadlocked"
    return outcome.get("value")


@pytest.mark.parametrize("n_items, n_taken", [(2, 1), (3, 2), (10, 1), (10, 0)])
def test_prefetch_stops_when_the_consumer_leaves_early(n_items, n_taken):
    import time

    from skcnn.data.transforms import _prefetched

    def consume():
        stream = _prefetched(iter(range(n_items)))
        taken = [next(stream) for _ in range(n_taken)]
        time.sleep(0.3)  # the producer fills the queue (and, for short inputs, reaches the end)
        stream.close()  # e.g. the network raised on the last batch taken
        return taken

    assert _run_with_timeout(consume) == list(range(n_taken))


def test_prefetch_keeps_order_and_raises_where_the_producer_failed():
    from skcnn.data.transforms import _prefetched

    def items():
        yield from range(5)
        raise OSError("cannot identify image file 'bad.jpg'")

    def consume():
        seen = []
        with pytest.raises(OSError, match="bad.jpg"):
            for item in _prefetched(items()):
                seen.append(item)
        return seen

    assert _run_with_timeout(consume) == [0, 1, 2, 3, 4]

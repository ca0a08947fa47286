"""Bad input gives a clear error whose message names the problem (and, where it can, the fix)."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skcnn import CNNClassifier, ConvNet, LeNet5, SimpleCNN
from skcnn.exceptions import ArchitectureError, ImageTooSmallError, InputError, PluginNotFoundError

ACTIVATION_NAMES = ["relu", "tanh", "prelu", "sigmoid", "elu", "gelu", "leaky_relu"]
OPTIMIZER_NAMES = ["adadelta", "adam", "adamw", "sgd", "rmsprop"]


@pytest.fixture
def fast(fast):
    return dict(fast, max_epochs=1, device="cpu")


@pytest.fixture(scope="module")
def data(digits8):
    X, y = digits8
    return X[:60], y[:60]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return CNNClassifier(filters=(4,), hidden_units=(16,), max_epochs=1, verbose=0,
                         random_state=0, device="cpu").fit(X, y)


# ---------------------------------------------------------------------------- pixels
@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_pixels_in_fit(data, fast, value, word):
    X, y = data
    X = X.copy()
    X[5, 2, 2] = value
    with pytest.raises(InputError, match=rf"X contains {word}.*image 5"):
        CNNClassifier(**fast).fit(X, y)


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (-np.inf, "infinity")])
def test_non_finite_pixels_in_predict(fitted, data, value, word):
    X = data[0][:4].copy()
    X[0, 0, 0] = value
    with pytest.raises(InputError, match=word):
        fitted.predict(X)
    with pytest.raises(InputError, match=word):
        fitted.predict_proba(X)


def test_non_finite_flat_rows(data, fast):
    X, y = data
    flat = X.reshape(len(X), -1).copy()
    flat[0, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CNNClassifier(**fast).fit(flat, y)


# ---------------------------------------------------------------------------- array shapes
def test_zero_samples(fast):
    with pytest.raises(ValueError, match="0 sample"):
        CNNClassifier(**fast).fit(np.zeros((0, 8, 8)), np.zeros(0))


def test_one_dimensional_input(data, fast):
    X, y = data
    with pytest.raises(InputError, match=r"got a 1D array") as info:
        CNNClassifier(**fast).fit(X[:, 0, 0], y)
    assert "reshape" in str(info.value)  # says how to fix it


def test_five_dimensional_input(fast, rng):
    X = rng.rand(6, 2, 1, 8, 8)
    with pytest.raises(InputError, match=r"5D array") as info:
        CNNClassifier(**fast).fit(X, np.arange(6) % 2)
    assert "(N, H, W), (N, H, W, C) or (N, C, H, W)" in str(info.value)


def test_input_shape_not_matching_row_length(data, fast):
    X, y = data
    flat = X.reshape(len(X), -1)
    with pytest.raises(InputError, match=r"input_shape=\(10, 10\) holds 100 values per image "
                                         r"but each row of X has 64"):
        CNNClassifier(**fast, input_shape=(10, 10)).fit(flat, y)


# ---------------------------------------------------------------------------- labels
def test_single_class(data, fast):
    X, _ = data
    with pytest.raises(InputError, match=r"only one class .*at least 2 classes"):
        CNNClassifier(**fast).fit(X, np.full(len(X), 7))
    with pytest.raises(InputError, match=r"only one class .*'cat'"):
        CNNClassifier(**fast).fit(X, np.full(len(X), "cat"))


def test_single_class_message_shows_the_label_as_the_user_wrote_it(data, fast):
    """The label is shown as 7, not as NumPy's repr 'np.int64(7)'."""
    X, _ = data
    with pytest.raises(InputError) as info:
        CNNClassifier(**fast).fit(X, np.full(len(X), 7))
    assert "only one class (7)" in str(info.value)


def test_labels_and_images_of_different_lengths(data, fast):
    X, y = data
    with pytest.raises(InputError, match="X has 60 images but y has 59 labels"):
        CNNClassifier(**fast).fit(X, y[:-1])


def test_missing_labels(data, fast):
    with pytest.raises(ValueError, match="requires y to be passed"):
        CNNClassifier(**fast).fit(data[0], None)


def test_continuous_labels(data, fast):
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type"):
        CNNClassifier(**fast).fit(X, np.linspace(0, 1, len(X)))


def test_warm_start_with_an_unseen_label(data, fast):
    X, y = data
    clf = CNNClassifier(**fast, warm_start=True).fit(X[y < 5], y[y < 5])
    with pytest.raises(InputError, match=r"labels \[5, 6, 7, 8, 9\].*does not know"):
        clf.fit(X, y)


# ---------------------------------------------------------------------------- sample weights
def test_negative_sample_weight(data, fast):
    X, y = data
    weight = np.ones(len(y))
    weight[3] = -1.0
    with pytest.raises(ValueError, match="[Nn]egative"):
        CNNClassifier(**fast).fit(X, y, sample_weight=weight)


def test_all_zero_sample_weight(data, fast):
    X, y = data
    with pytest.raises(ValueError, match="at least one non-zero"):
        CNNClassifier(**fast).fit(X, y, sample_weight=np.zeros(len(y)))
    # weights that become zero only through class_weight
    weight = np.where(y == 0, 1.0, 0.0)
    with pytest.raises(InputError, match="zero for every image"):
        CNNClassifier(**fast, class_weight={0: 0.0}).fit(X, y, sample_weight=weight)


def test_sample_weight_of_wrong_length(data, fast):
    X, y = data
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(59,\), expected \(60,\)"):
        CNNClassifier(**fast).fit(X, y, sample_weight=np.ones(len(y) - 1))


# ---------------------------------------------------------------------------- image size
def test_images_too_small_for_the_classic_network(data):
    X, y = data  # 8x8 digits
    clf = CNNClassifier(filters=(4, 12), kernel_size=5, pool_size=2, hidden_units=(512,),
                        activation="relu", optimizer="adadelta", max_epochs=1, verbose=0)
    with pytest.raises(ImageTooSmallError, match=r"at least 16x16") as info:
        clf.fit(X, y)
    message = str(info.value)
    # ... and why, and how to fix it
    assert "two 5x5 convolutions" in message
    assert "two 2x2 poolings" in message
    assert "got 8x8" in message
    assert "size=16" in message and "padding='same'" in message
    assert isinstance(info.value, ValueError)


def test_images_too_small_for_explicit_filters(data):
    X, y = data
    with pytest.raises(ImageTooSmallError, match=r"at least 10x10 .*two 3x3 convolutions"):
        CNNClassifier(filters=(32, 64), max_epochs=1, verbose=0).fit(X, y)


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (1, 20), (64, 64), (8, 8, 3), (64, 64, 3)])
def test_default_network_fits_any_image_size(shape):
    rng = np.random.RandomState(0)
    X = rng.rand(24, *shape).astype(np.float32)
    y = np.arange(24) % 3
    clf = CNNClassifier(max_epochs=1, batch_size=12, verbose=0, random_state=0, device="cpu")
    assert clf.fit(X, y).predict(X[:2]).shape == (2,)
    assert clf.recipe_["padding"] == "same" and clf.recipe_["batch_norm"] is True
    again = CNNClassifier(max_epochs=1, batch_size=12, verbose=0, random_state=0, device="cpu")
    assert repr(again.fit(X, y).recipe_) == repr(clf.recipe_)  # 'auto' is deterministic


def test_too_small_check_is_exact(digits8, fast):
    # kernel 5 then pool 2: 6x6 is the minimum; 6x6 works and 5x5 does not
    X, y = digits8
    params = dict(fast, kernel_size=5)
    CNNClassifier(**params).fit(X[:60, :6, :6], y[:60])
    with pytest.raises(ImageTooSmallError, match=r"at least 6x6.*got 5x5"):
        CNNClassifier(**params).fit(X[:60, :5, :5], y[:60])


def test_padding_same_accepts_small_images(data, fast):
    X, y = data
    clf = CNNClassifier(**dict(fast, filters=(4, 4, 4), kernel_size=5), padding="same")
    assert clf.fit(X[:, :3, :3], y).predict(X[:2, :3, :3]).shape == (2,)


def test_images_too_small_for_lenet5(data, fast):
    X, y = data
    with pytest.raises(ImageTooSmallError, match="at least 16x16"):
        CNNClassifier(architecture="lenet5", max_epochs=1, verbose=0).fit(X, y)


# ---------------------------------------------------------------------------- predict-time shapes
def test_predict_on_images_of_another_size(fitted, digits16):
    X16 = digits16[0][:5]
    with pytest.raises(InputError, match=r"images of shape 1x16x16 .* fitted on 1x8x8") as info:
        fitted.predict(X16)
    assert "Resize" in str(info.value)


def test_predict_on_images_with_another_channel_count(data, fast):
    X, y = data
    rgb = np.stack([X, X, X], axis=-1)  # (N, 8, 8, 3)
    clf = CNNClassifier(**fast).fit(rgb, y)
    assert clf.input_shape_ == (3, 8, 8)
    with pytest.raises(InputError, match=r"shape 1x8x8 .* fitted on 3x8x8.*3 channel"):
        clf.predict(X)
    with pytest.raises(InputError, match=r"shape 4x8x8"):
        clf.predict_proba(np.concatenate([rgb, rgb[..., :1]], axis=-1))


def test_predict_on_flat_rows_of_another_length(data, fast, rng):
    X, y = data
    clf = CNNClassifier(**fast).fit(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="X has 100 features, but CNNClassifier is expecting 64"):
        clf.predict(rng.rand(3, 100))


def test_predict_before_fit(data):
    with pytest.raises(NotFittedError):
        CNNClassifier().predict(data[0])
    with pytest.raises(NotFittedError):
        CNNClassifier().predict_proba(data[0])


# ---------------------------------------------------------------------------- parameters
def test_unknown_activation_lists_the_valid_ones(data, fast):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'activation' parameter") as info:
        CNNClassifier(**fast, activation="swish").fit(X, y)
    for name in ACTIVATION_NAMES:
        assert f"'{name}'" in str(info.value)
    assert "'swish'" in str(info.value)


def test_unknown_optimizer_lists_the_valid_ones(data, fast):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter") as info:
        CNNClassifier(**fast, optimizer="lbfgs").fit(X, y)
    for name in OPTIMIZER_NAMES:
        assert f"'{name}'" in str(info.value)


def test_unknown_architecture_lists_the_installed_ones(data):
    X, y = data
    with pytest.raises(PluginNotFoundError, match=r"Unknown architecture 'vgg99'") as info:
        CNNClassifier(architecture="vgg99", max_epochs=1, verbose=0).fit(X, y)
    assert "convnet, lenet5, simple_cnn" in str(info.value)


def test_architecture_of_the_wrong_type(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'architecture' parameter"):
        CNNClassifier(architecture=42, max_epochs=1, verbose=0).fit(X, y)


@pytest.mark.parametrize(
    "params, pattern",
    [
        (dict(filters=(0,)), r"'filters' parameter .* a tuple or list of ints >= 1.* Got \(0,\)"),
        (dict(filters=(4, -2)), r"'filters' parameter .* a tuple or list of ints >= 1"),
        (dict(filters=0), r"'filters' parameter of CNNClassifier must be an int in the range"),
        (dict(filters=(4.5,)), r"'filters' parameter .* a tuple or list of ints >= 1"),
        (dict(kernel_size=0), r"'kernel_size' parameter .* range \[1, inf\)\. Got 0"),
        (dict(pool_size=0), r"'pool_size' parameter .* range \[1, inf\)"),
        (dict(batch_size=0), r"'batch_size' parameter .* range \[1, inf\)\. Got 0"),
        (dict(max_epochs=0), r"'max_epochs' parameter"),
        (dict(hidden_units=(-1,)), r"'hidden_units' parameter .* ints >= 1.* Got \(-1,\)"),
        (dict(hidden_units=0), r"'hidden_units' parameter"),
        (dict(dropout=1.0), r"'dropout' parameter .* range \[0.0, 1.0\)"),
        (dict(learning_rate=0.0), r"'learning_rate' parameter"),
        (dict(validation_fraction=1.0), r"'validation_fraction' parameter"),
        (dict(n_iter_no_change=0), r"'n_iter_no_change' parameter"),
        (dict(pooling="median"), r"'pooling' parameter"),
        (dict(padding="full"), r"'padding' parameter"),
        (dict(data_format="nhwc"), r"'data_format' parameter"),
        (dict(class_weight="auto"), r"'class_weight' parameter"),
    ],
)
def test_invalid_sizes_and_options(data, fast, params, pattern):
    X, y = data
    with pytest.raises(ValueError, match=pattern):
        CNNClassifier(**{**fast, **params}).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda(data, fast):
    X, y = data
    with pytest.raises(ValueError, match="CUDA is not available.*device='auto'"):
        CNNClassifier(**{**fast, "device": "cuda"}).fit(X, y)


# ---------------------------------------------------------------------------- bad architectures
def test_builder_with_the_wrong_signature(data):
    X, y = data

    def build():
        return nn.Linear(64, 10)

    with pytest.raises(ArchitectureError, match=r"must accept \(in_channels, image_size, "
                                                r"n_classes\)"):
        CNNClassifier(architecture=build, max_epochs=1, verbose=0).fit(X, y)


def test_builder_that_returns_no_module(data):
    X, y = data
    with pytest.raises(ArchitectureError, match="returned int, not a torch.nn.Module"):
        CNNClassifier(architecture=lambda c, s, n: 3, max_epochs=1, verbose=0).fit(X, y)


@pytest.mark.parametrize(
    "module",
    [
        nn.Sequential(nn.Flatten(), nn.Linear(64, 5)),   # more outputs than classes
        nn.Sequential(nn.Flatten(), nn.Linear(64, 2)),   # fewer outputs than classes
        nn.Sequential(nn.Flatten(), nn.Linear(100, 3)),  # expects another image size
    ],
    ids=["5-outputs-for-3-classes", "2-outputs-for-3-classes", "wrong-input-size"],
)
def test_module_that_does_not_fit_the_data(digits8, module):
    """A network whose output does not match the classes, or that cannot take the
    images, must be rejected at fit time with an ArchitectureError naming the image
    shape and the number of classes -- not train silently and then fail in predict
    with an IndexError (5 outputs), or fail with a bare torch IndexError/RuntimeError
    (2 outputs, wrong input size)."""
    X, y = digits8
    keep = np.isin(y, [0, 1, 2])
    X, y = X[keep][:60], y[keep][:60]
    with pytest.raises(ArchitectureError, match=r"1x8x8.*3 (outputs|classes)"):
        CNNClassifier(architecture=module, max_epochs=1, verbose=0, device="cpu").fit(X, y)


@pytest.mark.parametrize(
    "plugin, pattern",
    [
        (SimpleCNN(depth=0), r"'depth' parameter of SimpleCNN must be an int in the range \[1, inf\)"),
        (SimpleCNN(activation="swish"), r"'activation' parameter of SimpleCNN must be a str among"),
        (ConvNet(filters=(8, 0)), r"'filters' parameter of ConvNet .* a tuple or list of ints >= 1"),
        (ConvNet(padding="full"), r"'padding' parameter of ConvNet must be a str among"),
        (LeNet5(pad="yes"), r"'pad' parameter of LeNet5 must be an instance of 'bool'"),
    ],
)
def test_plugin_parameters_checked_like_estimator_parameters(data, fast, plugin, pattern):
    """Architecture plugins declare _parameter_constraints and are checked by scikit-learn's
    own mechanism, with the same wording as the estimators' parameters."""
    X, y = data
    with pytest.raises(InvalidParameterError, match=pattern):
        CNNClassifier(**{**fast, "architecture": plugin}).fit(X, y)

"""The catalogue of inputs as users really have them, good and bad, as one table of cases.

Each :class:`Case` says what is given (``X``, ``y``), to what (an estimator or
function), by which call, and what must happen: an error of a type with a
phrase of its message, a warning, or "works" with a check on the output.
Add a case for every new report by appending to ``CASES`` (or to one of the
groups it is built from); the fixtures are shared, so a case costs the fit it
runs and nothing more. The networks are tiny (8x8 digits, ``input_size=32``).
"""

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST as FAST_CNN
from PIL import Image
from skimage import data as skdata
from sklearn.utils._param_validation import InvalidParameterError

from skcnn import CNNClassifier, FineTunedClassifier, ImageLoader, PretrainedFeatures
from skcnn.exceptions import InputError, LayerNotFoundError, PluginNotFoundError
from skcnn.pretrained.predict import predict_imagenet_proba

FAST_FEATURES = dict(input_size=32, batch_size=16, num_workers=0, verbose=0)
FAST_FINETUNE = dict(input_size=32, max_epochs=1, unfreeze="head", batch_size=16,
                     num_workers=0, verbose=0, random_state=0)
N_FEATURES = 1280  # efficientnet_lite0's features


# --------------------------------------------------------------------------- shared inputs
class Inputs:
    """Everything the cases draw their X and y from, made once per module."""

    def __init__(self, folder):
        from sklearn.datasets import load_digits

        digits = load_digits()
        self.y = digits.target[:40]
        self.digits = (digits.images[:40] * (255 / 16)).round().astype(np.uint8)  # (40, 8, 8)
        self.digits_float = self.digits.astype(np.float32) / 255
        camera = skdata.camera()[::16, ::16]  # (32, 32) uint8, a real photograph
        self.camera = camera
        self.folder = folder
        self.png = []
        for i in range(6):
            path = folder / f"digit{i}.png"
            Image.fromarray(np.kron(self.digits[i], np.ones((2, 2), np.uint8))).save(path)
            self.png.append(str(path))
        self.png_labels = np.array([0, 1, 0, 1, 0, 1])
        self.png16 = folder / "camera16.png"
        Image.fromarray(camera.astype(np.uint16) * 257).save(self.png16)
        self.tif16 = folder / "camera16.tif"
        Image.fromarray(camera.astype(np.uint16) * 257).save(self.tif16)
        self.tif_float = folder / "camera_float.tif"
        Image.fromarray(camera.astype(np.float32) / 255).save(self.tif_float)
        self.tif_float_wide = folder / "camera_float_wide.tif"
        Image.fromarray(camera.astype(np.float32) * 10 - 500).save(self.tif_float_wide)
        self.tif_float_nan = folder / "camera_float_nan.tif"
        with_nan = camera.astype(np.float32) / 255
        with_nan[3, 3] = np.nan
        Image.fromarray(with_nan).save(self.tif_float_nan)
        self.tif_int32 = folder / "camera_int32.tif"
        Image.fromarray(camera.astype(np.int32) * 1000).save(self.tif_int32)
        self.exif = folder / "rotated.jpg"
        wide = np.zeros((16, 32, 3), np.uint8)
        wide[:, :16] = 255  # left half white
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
        Image.fromarray(wide).save(self.exif, exif=exif, quality=95)
        self.palette = folder / "palette.png"
        Image.fromarray(camera).convert("P").save(self.palette)
        self.text = folder / "notes.png"
        self.text.write_text("not an image")
        self.truncated = folder / "truncated.png"
        self.truncated.write_bytes(Path(self.png[0]).read_bytes()[:60])
        self.missing = folder / "missing.png"
        self.subfolder = folder / "a_folder"
        self.subfolder.mkdir()

    def pil(self, n=4):
        return [Image.open(p) for p in self.png[:n]]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return Inputs(tmp_path_factory.mktemp("catalogue"))


@pytest.fixture(scope="module", autouse=True)
def _load_the_backbone_once():
    """PretrainedFeatures starts from a copy of one loaded network, as it does with a cache.

    The cases test what happens to the input; reloading the weights for each
    of them would only make the module slow.
    """
    from skcnn.pretrained import features as module

    original = module._load_backbone
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "_load_backbone", lambda plugin, reuse: original(plugin, reuse=True))
        yield


# --------------------------------------------------------------------------- the case type
def _fit_transform(est, X, y):
    return est.fit(X, y).transform(X)


def _fit_predict(est, X, y):
    return est.fit(X, y).predict(X)


def _fit(est, X, y):
    return est.fit(X, y)


@dataclass
class Case:
    """One input, one estimator, one expected outcome.

    Attributes
    ----------
    id : str
        The test id.
    estimator : callable
        Returns a fresh estimator (or, with ``call``, anything ``call`` uses).
    X : callable
        ``X(inputs)`` builds the input from the shared :class:`Inputs`.
    y : callable, optional
        ``y(inputs, n)`` the labels for ``n`` images (default: alternating 0/1).
    call : callable
        ``call(estimator, X, y)``; the default fits and transforms (or
        predicts, for classifiers).
    raises : exception type, optional
        The error expected; ``match`` must be a phrase of its message.
    warns : warning type, optional
        A warning expected (with ``match``); the call must then work.
    match : str
        A phrase of the error or warning message (a plain string, not a regex).
    check : callable, optional
        ``check(output, inputs)`` asserts what a working call returned.
    """

    id: str
    estimator: Callable[[], Any]
    X: Callable[[Inputs], Any]
    y: Callable[[Inputs, int], Any] | None = None
    call: Callable[[Any, Any, Any], Any] | None = None
    raises: type | None = None
    warns: type | None = None
    match: str = ""
    check: Callable[[Any, Inputs], None] | None = field(default=None, repr=False)

    def run(self, inputs):
        estimator = self.estimator()
        X = self.X(inputs)
        n = len(X) if hasattr(X, "__len__") and not isinstance(X, (str, os.PathLike)) else 2
        y = self.y(inputs, n) if self.y is not None else np.arange(max(n, 1)) % 2
        call = self.call
        if call is None:
            call = _fit_predict if hasattr(estimator, "predict") else _fit_transform
        return call(estimator, X, y)


def features():
    return PretrainedFeatures(**FAST_FEATURES)


def cnn(**params):
    return lambda: CNNClassifier(**{**FAST_CNN, **params})


def finetune():
    return FineTunedClassifier(**FAST_FINETUNE)


def loader(**params):
    return lambda: ImageLoader(**{"size": 16, **params})


def imagenet():
    return None


def _imagenet_call(_, X, y):
    return predict_imagenet_proba(X, verbose=0, batch_size=8)


def rows(n, width=N_FEATURES):
    """Check: a float array of ``n`` rows of ``width`` finite values."""
    def check(out, inputs):
        assert out.shape == (n, width), out.shape
        assert np.isfinite(out).all()
    return check


def image_rows(n, shape):
    def check(out, inputs):
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8
        assert out.shape == (n, *shape), out.shape
    return check


def labels_of(n):
    def check(out, inputs):
        assert len(out) == n and set(np.unique(out)) <= {0, 1}
    return check


def _labels_12(inputs, n):
    return np.arange(n) % 2


def _digit_labels(inputs, n):
    return inputs.y[:n]


# --------------------------------------------------------------------------- the cases
PATH_CONTAINERS = [
    Case("features-list-of-str", features, lambda d: list(d.png), check=rows(6)),
    Case("features-tuple-of-Path", features, lambda d: tuple(map(Path, d.png)), check=rows(6)),
    Case("features-1d-array-of-str", features, lambda d: np.array(d.png), check=rows(6)),
    Case("features-object-array-of-Path", features,
         lambda d: np.array([Path(p) for p in d.png], dtype=object), check=rows(6)),
    Case("features-column-array-of-str", features, lambda d: np.array(d.png)[:, None],
         check=rows(6)),
    Case("features-series", features, lambda d: pd.Series(d.png), check=rows(6)),
    Case("features-string-dtype-series", features,
         lambda d: pd.Series(d.png, dtype="string"), check=rows(6)),
    Case("features-one-column-dataframe", features, lambda d: pd.DataFrame({"path": d.png}),
         check=rows(6)),
    Case("features-generator", features, lambda d: d,
         call=lambda est, d, y: est.fit(p for p in d.png).transform(p for p in d.png),
         check=rows(6)),
    Case("features-map-of-Path", features, lambda d: d,
         call=lambda est, d, y: est.fit(map(Path, d.png)).transform(map(Path, d.png)),
         check=rows(6)),
    Case("features-dict-keys", features, lambda d: dict.fromkeys(d.png).keys(),
         check=rows(6)),
    Case("loader-series", loader(), lambda d: pd.Series(d.png), check=image_rows(6, (16, 16, 3))),
    Case("loader-generator", loader(mode="L"), lambda d: d,
         call=lambda est, d, y: est.fit(iter(d.png)).transform(iter(d.png)),
         check=image_rows(6, (16, 16))),
    Case("loader-one-column-dataframe", loader(), lambda d: pd.DataFrame({"f": d.png}),
         check=image_rows(6, (16, 16, 3))),
    Case("loader-1d-array-of-str", loader(), lambda d: np.array(d.png),
         check=image_rows(6, (16, 16, 3))),
    Case("finetune-series", finetune, lambda d: pd.Series(d.png), check=labels_of(6)),
    Case("finetune-generator", finetune, lambda d: d,
         call=lambda est, d, y: est.fit((p for p in d.png), d.png_labels).predict(iter(d.png)),
         check=labels_of(6)),
    Case("imagenet-series", imagenet, lambda d: pd.Series(d.png[:2]), call=_imagenet_call,
         check=lambda out, d: np.testing.assert_allclose(out[0].sum(axis=1), 1, rtol=1e-5)),
    Case("cnn-refuses-paths", cnn(), lambda d: d.png, raises=InputError,
         match="takes arrays of images, not file paths"),
    Case("cnn-refuses-pil", cnn(), lambda d: d.pil(), raises=InputError,
         match="not PIL images. Load files and PIL images into an array first with ImageLoader"),
]

SHAPES_OF_X = [
    Case("single-path-str", features, lambda d: d.png[0], raises=InputError,
         match="X is a single path"),
    Case("single-Path-loader", loader(), lambda d: Path(d.png[0]), raises=InputError,
         match="pass a list of paths"),
    Case("single-pil-image", features, lambda d: d.pil(1)[0], raises=InputError,
         match="X is a single PIL image"),
    Case("empty-list", features, lambda d: [], raises=InputError, match="X is empty"),
    Case("empty-generator", finetune, lambda d: iter([]), raises=InputError, match="X is empty"),
    Case("empty-array-cnn", cnn(), lambda d: np.zeros((0, 8, 8)), raises=InputError,
         match="X is empty"),
    Case("empty-series", loader(), lambda d: pd.Series([], dtype=object), raises=InputError,
         match="X is empty"),
    Case("mixed-paths-and-arrays", features, lambda d: [d.png[0], d.digits[0]],
         raises=InputError, match="mixes arrays of images and file paths"),
    Case("mixed-pil-and-paths", loader(), lambda d: [d.pil(1)[0], d.png[1]], raises=InputError,
         match="mixes PIL images and file paths"),
    Case("unsupported-items", features, lambda d: [{"a": 1}, {"b": 2}], raises=InputError,
         match="Unsupported image of type dict"),
    Case("not-a-collection", features, lambda d: 3, raises=InputError,
         match="not a collection of images"),
    Case("list-of-numbers", features, lambda d: [0.1, 0.2, 0.3], raises=InputError,
         match="Unsupported image of type float"),
    Case("1d-array", cnn(), lambda d: d.digits_float[0, 0], raises=InputError,
         match="got a 1D array"),
    Case("5d-array", cnn(), lambda d: np.zeros((2, 2, 8, 8, 1)), raises=InputError,
         match="Video or volumetric input is not supported"),
    Case("2d-array-of-strings", features, lambda d: np.array(d.png[:4]).reshape(2, 2),
         raises=InputError, match="2D array of strings"),
]

FILES = [
    Case("missing-file", features, lambda d: [d.png[0], d.missing], raises=InputError,
         match="Image file not found"),
    Case("folder-as-file", loader(), lambda d: [d.subfolder], raises=InputError,
         match="is a folder, not an image file"),
    Case("text-file-named-png", features, lambda d: [d.text], raises=InputError,
         match="is not an image file that Pillow can read"),
    Case("truncated-png", loader(), lambda d: [d.truncated], raises=InputError,
         match="truncated or corrupt"),
    Case("truncated-png-finetune", finetune, lambda d: [d.png[1], d.truncated],
         raises=InputError, match="truncated.png"),
    Case("16bit-png-reads-as-its-8bit-content", loader(size=None, mode="L"),
         lambda d: [d.png16],
         check=lambda out, d: np.testing.assert_array_equal(out[0], d.camera)),
    Case("16bit-tiff-reads-as-its-8bit-content", loader(size=None, mode="L"),
         lambda d: [d.tif16],
         check=lambda out, d: np.testing.assert_array_equal(out[0], d.camera)),
    Case("float-tiff-in-unit-range", loader(size=None, mode="L"), lambda d: [d.tif_float],
         check=lambda out, d: np.testing.assert_array_equal(out[0], d.camera)),
    Case("float-tiff-outside-unit-range-warns", loader(size=None, mode="L"),
         lambda d: [d.tif_float_wide], warns=UserWarning, match="stretched from its own",
         check=lambda out, d: np.testing.assert_array_equal(
             out[0], np.rint((d.camera - d.camera.min()) * 255.0
                             / (d.camera.max() - d.camera.min())).astype(np.uint8))),
    Case("float-tiff-with-nan", features, lambda d: [d.tif_float_nan], raises=InputError,
         match="NaN or infinite pixel values"),
    Case("int32-tiff-outside-16bit-warns", loader(size=None, mode="L"),
         lambda d: [d.tif_int32], warns=UserWarning, match="32-bit integer image"),
    Case("exif-orientation-applied", loader(size=None), lambda d: [d.exif],
         # stored 16 high x 32 wide, displayed rotated: 32 high x 16 wide, white half on top
         check=lambda out, d: (out.shape == (1, 32, 16, 3)
                               and out[0, :14].mean() > 200 and out[0, 18:].mean() < 50)
         or pytest.fail(f"not upright: shape {out.shape}")),
    Case("exif-orientation-of-pil-image", loader(size=None), lambda d: [Image.open(d.exif)],
         check=lambda out, d: out.shape == (1, 32, 16, 3) or pytest.fail(str(out.shape))),
    Case("palette-png", loader(size=None), lambda d: [d.palette],
         check=image_rows(1, (32, 32, 3))),
    Case("16bit-png-features-equal-8bit", features, lambda d: [d.png16],
         call=lambda est, X, y: (est.fit(X).transform(X),
                                 est.transform([Image.fromarray(_camera())])),
         check=lambda out, d: np.testing.assert_allclose(out[0], out[1], atol=1e-5)),
    Case("16bit-png-finetune", finetune, lambda d: [d.png16, d.tif16, d.tif_float, d.png[0]],
         check=labels_of(4)),
    Case("16bit-png-imagenet", imagenet, lambda d: [d.png16], call=_imagenet_call,
         check=lambda out, d: np.testing.assert_allclose(out[0].sum(), 1, rtol=1e-5)),
    Case("16bit-pil-image", loader(size=None, mode="L"), lambda d: [Image.open(d.png16)],
         check=lambda out, d: np.testing.assert_array_equal(out[0], d.camera)),
]


def _camera():
    return skdata.camera()[::16, ::16]


ARRAYS = [
    Case("nan-pixels-features", features,
         lambda d: np.where(np.eye(8, dtype=bool), np.nan, d.digits_float[:4]),
         raises=InputError, match="contains NaN"),
    Case("inf-pixels-cnn", cnn(), lambda d: np.where(np.eye(8, dtype=bool), np.inf,
                                                      d.digits_float[:4]),
         raises=InputError, match="contains infinity"),
    Case("different-sizes-cnn", cnn(), lambda d: [np.zeros((8, 8)), np.zeros((10, 10))],
         raises=InputError, match="images differ in size"),
    Case("different-sizes-features", features,
         lambda d: [np.zeros((8, 8, 3)), np.zeros((12, 10, 3))], raises=InputError,
         match="use ImageLoader(size=...)"),
    Case("different-sizes-nested-lists", loader(),
         lambda d: [[[0, 1], [1, 0]], [[0, 1, 1], [1, 0, 0]]], raises=InputError,
         match="images differ in size"),
    Case("object-array-of-ragged-images", features,
         lambda d: np.array([np.zeros((8, 8)), np.zeros((9, 9)), None], dtype=object)[:2],
         raises=InputError, match="images differ in size"),
    Case("list-of-same-size-arrays", features, lambda d: list(d.digits[:5]), check=rows(5)),
    Case("5-channel-features", features, lambda d: np.zeros((3, 8, 8, 5), np.uint8),
         raises=InputError, match="images have 5 channels"),
    Case("5-channel-loader", loader(), lambda d: np.zeros((3, 5, 8, 8), np.float32),
         raises=InputError, match="use CNNClassifier, which learns from any number"),
    Case("5-channel-cnn-works", cnn(), lambda d: np.repeat(d.digits[:, :, :, None], 5, axis=3),
         y=_digit_labels, check=lambda out, d: len(out) == 40 or pytest.fail()),
    Case("2-channel-features-works", features, lambda d: np.zeros((2, 8, 8, 2), np.uint8),
         check=rows(2)),
    Case("too-small-images-features", features, lambda d: np.zeros((3, 1, 1)),
         raises=InputError, match="at least 2 pixels"),
    Case("floats-outside-unit-range-features", features, lambda d: d.digits.astype(np.float32),
         warns=UserWarning, match="outside [0, 1]", check=rows(40)),
    Case("uint16-array-as-uint8-array-cnn", cnn(), lambda d: d,
         call=lambda est, d, y: (est.fit(d.digits, d.y).predict_proba(d.digits),
                                 est.predict_proba(d.digits.astype(np.uint16) * 257)),
         check=lambda out, d: np.testing.assert_allclose(out[0], out[1], atol=1e-6)),
    Case("uint16-array-features", features, lambda d: d,
         call=lambda est, d, y: (est.fit(d.digits[:4]).transform(d.digits[:4]),
                                 est.transform(d.digits[:4].astype(np.uint16) * 257)),
         check=lambda out, d: np.testing.assert_allclose(out[0], out[1], atol=1e-5)),
    Case("int64-same-pixels-as-uint8", cnn(), lambda d: d,
         call=lambda est, d, y: _no_warning(lambda: (
             est.fit(d.digits, d.y).predict_proba(d.digits),
             est.predict_proba(d.digits.astype(np.int64)))),
         check=lambda out, d: np.testing.assert_array_equal(out[0], out[1])),
    Case("float-unit-range-after-uint8", cnn(), lambda d: d,
         call=lambda est, d, y: _no_warning(lambda: (
             est.fit(d.digits, d.y).predict_proba(d.digits),
             est.predict_proba(d.digits_float))),
         check=lambda out, d: np.testing.assert_allclose(out[0], out[1], atol=1e-6)),
    Case("floats-0-255-after-uint8-warns", cnn(), lambda d: d,
         call=lambda est, d, y: est.fit(d.digits, d.y).predict(d.digits.astype(np.float64)),
         warns=UserWarning, match="but fit saw 8-bit integers"),
    Case("uint16-holding-8bit-values-warns", features, lambda d: d,
         call=lambda est, d, y: est.fit(d.digits[:3]).transform(d.digits[:3].astype(np.uint16)),
         warns=UserWarning, match="257 times darker"),
    Case("negative-ints-then-uint8-warns", cnn(), lambda d: d,
         call=lambda est, d, y: est.fit(d.digits.astype(np.int16) - 128, d.y).predict(d.digits),
         warns=UserWarning, match="fit saw integers (int16)"),
    Case("bool-images-cnn", cnn(), lambda d: d.digits > 100, y=_digit_labels,
         check=lambda out, d: len(out) == 40 or pytest.fail()),
    Case("torch-tensor-features", features, lambda d: torch.from_numpy(d.digits[:3]),
         check=rows(3)),
    Case("nested-int-lists-features", features, lambda d: d.digits[:2].tolist(),
         call=lambda est, X, y: (est.fit(X).transform(X), est.transform(np.asarray(X, np.uint8))),
         check=lambda out, d: np.testing.assert_allclose(out[0], out[1], atol=1e-6)),
    Case("dataframe-rows-cnn-names", cnn(), lambda d: pd.DataFrame(d.digits_float.reshape(40, -1)
                                                                    ).add_prefix("px"),
         y=_digit_labels, call=lambda est, X, y: est.fit(X, y),
         check=lambda est, d: (est.feature_names_in_[0] == "px0" and est.n_features_in_ == 64)
         or pytest.fail()),
    Case("refit-on-paths-forgets-n-features", features, lambda d: d,
         call=lambda est, d, y: est.fit(pd.DataFrame(d.digits_float[:2].reshape(2, -1)
                                                     ).add_prefix("p")).fit(d.png),
         check=lambda est, d: not hasattr(est, "n_features_in_")
         and not hasattr(est, "feature_names_in_") or pytest.fail()),
    Case("transform-flat-rows-of-another-width", features, lambda d: d,
         call=lambda est, d, y: est.fit(d.digits_float[:2].reshape(2, -1)).transform(
             np.zeros((2, 100))),
         raises=ValueError, match="X has 100 features"),
    Case("cnn-input-shape-with-images", cnn(input_shape=(8, 8)), lambda d: d.digits,
         y=_digit_labels, raises=InputError, match="only used for flat 2D rows"),
    Case("cnn-predict-other-image-shape", cnn(), lambda d: d,
         call=lambda est, d, y: est.fit(d.digits, d.y).predict(np.zeros((2, 10, 10))),
         raises=InputError, match="was fitted on 1x8x8"),
]


def _no_warning(run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return run()


LABELS = [
    Case("mixed-str-int-labels-cnn", cnn(), lambda d: d.digits[:4],
         y=lambda d, n: np.array(["cat", 1, "dog", 2], dtype=object), raises=InputError,
         match="y mixes labels of types that cannot be sorted together"),
    Case("mixed-str-int-labels-finetune", finetune, lambda d: d.png[:4],
         y=lambda d, n: pd.Series(["cat", 1, "cat", 1]), raises=InputError,
         match=".astype(str)"),
    # NumPy turns such a list into strings (1 would come back as '1'); scikit-learn's
    # unique_labels refuses it, and so does skcnn (issue 23), before any conversion.
    Case("mixed-str-int-label-list-refused", cnn(), lambda d: d.digits[:4],
         y=lambda d, n: ["cat", 1, "cat", 1], call=lambda est, X, y: est.fit(X, y),
         raises=InputError, match="Mix of label input types (string and number)"),
    Case("none-among-labels", cnn(), lambda d: d.digits[:4],
         y=lambda d, n: ["a", None, "b", "a"], raises=InputError, match="'a' (str)"),
    Case("single-class", cnn(), lambda d: d.digits[:4], y=lambda d, n: [3] * n,
         raises=InputError, match="only one class"),
    Case("labels-wrong-length", finetune, lambda d: d.png[:4], y=lambda d, n: [0, 1, 0],
         raises=InputError, match="pass exactly one label per image"),
    Case("labels-none", cnn(), lambda d: d.digits[:4], y=lambda d, n: None,
         raises=ValueError, match="requires y to be passed"),
    Case("string-labels-work", cnn(), lambda d: d.digits, y=lambda d, n: d.y.astype(str),
         check=lambda out, d: set(out) <= set(d.y.astype(str)) or pytest.fail()),
]

PARAMETERS = [
    Case("unknown-backbone", lambda: PretrainedFeatures(backbone="no_such_net", **FAST_FEATURES),
         lambda d: d.digits[:2], raises=PluginNotFoundError, match="Unknown backbone"),
    Case("unknown-backbone-finetune", lambda: FineTunedClassifier(backbone="resnet9000",
                                                                  **FAST_FINETUNE),
         lambda d: d.digits[:4], raises=PluginNotFoundError, match="check the spelling"),
    Case("unknown-layer", lambda: PretrainedFeatures(layer="blocks.99", **FAST_FEATURES),
         lambda d: d.digits[:2], raises=LayerNotFoundError, match="Valid layers"),
    Case("invalid-pooling", lambda: PretrainedFeatures(pooling="median", **FAST_FEATURES),
         lambda d: d.digits[:2], raises=InvalidParameterError, match="'pooling' parameter"),
    Case("input-size-too-small", lambda: PretrainedFeatures(input_size=4),
         lambda d: d.digits[:2], raises=InvalidParameterError, match="'input_size' parameter"),
    Case("invalid-filters", cnn(filters=-1), lambda d: d.digits[:4],
         raises=InvalidParameterError, match="'filters' parameter"),
    Case("invalid-learning-rate", cnn(learning_rate=0), lambda d: d.digits[:4],
         raises=InvalidParameterError, match="'learning_rate' parameter"),
    Case("invalid-loader-size", loader(size=(0, 5)), lambda d: d.png[:1], raises=ValueError,
         match="size must be a positive int"),
    Case("invalid-loader-mode", loader(mode="CMYK"), lambda d: d.png[:1],
         raises=InvalidParameterError, match="'mode' parameter"),
    Case("unfreeze-bool", lambda: FineTunedClassifier(unfreeze=True, **{
        k: v for k, v in FAST_FINETUNE.items() if k != "unfreeze"}),
         lambda d: d.digits[:4], raises=ValueError, match="unfreeze must be"),
]


def _feature_names(est, d):
    names = est.get_feature_names_out()
    assert len(names) == 16 * 16 * 3 and names[0] == "pixel_0_0_R" and names[-1] == "pixel_15_15_B"
    return est


def _pandas_output(est, d):
    frame = est.set_output(transform="pandas").fit_transform(pd.Series(d.png[:3]))
    assert isinstance(frame, pd.DataFrame) and frame.shape == (3, 16 * 16)
    assert list(frame.columns[:2]) == ["pixel_0_0", "pixel_0_1"]
    flat = ImageLoader(size=16, mode="L").fit_transform(d.png[:3]).reshape(3, -1)
    np.testing.assert_array_equal(frame.to_numpy(), flat)
    return frame


def _corrupt_settings(est, d):
    folder = d.folder / "cache"
    X = d.digits[:3]
    first = PretrainedFeatures(cache=folder, **FAST_FEATURES).fit(X).transform(X)
    (record,) = folder.glob("*/settings.json")
    content = json.loads(record.read_text())
    content["n_features"] = 999
    record.write_text(json.dumps(content))
    again = PretrainedFeatures(cache=folder, **FAST_FEATURES).fit(X)
    out = again.transform(X)
    np.testing.assert_array_equal(out, first)
    assert again.n_computed_ == 0  # the entries are still found
    return out


ESTIMATOR_API = [
    Case("loader-feature-names", loader(), lambda d: d.png[:2],
         call=lambda est, X, y: est.fit(X), check=_feature_names),
    Case("loader-feature-names-need-a-size", loader(size=None), lambda d: d.png[:2],
         call=lambda est, X, y: est.fit(X).get_feature_names_out(), raises=InputError,
         match="pass size=(height, width)"),
    Case("loader-feature-names-from-arrays", loader(size=None, mode="L"), lambda d: d.digits[:2],
         call=lambda est, X, y: est.fit(X).get_feature_names_out(),
         check=lambda out, d: len(out) == 64 or pytest.fail()),
    Case("loader-set-output-pandas", loader(mode="L"), lambda d: d,
         call=lambda est, d, y: _pandas_output(est, d), check=None),
    Case("cache-settings-with-wrong-n-features", features, lambda d: d,
         call=lambda est, d, y: _corrupt_settings(est, d), warns=RuntimeWarning,
         match="the record is ignored and rebuilt", check=rows(3)),
]

def _thin_png(d):
    """A 140-byte 60,000 x 1 PNG: resized to a 256-pixel shorter side it would be 15 M x 256."""
    path = d.folder / "line_60000x1.png"
    if not path.exists():
        Image.fromarray(np.full((1, 60_000), 128, np.uint8)).save(path, optimize=True)
    return path


def _bomb_png(d):
    """69 bytes whose header declares 60,000 x 60,000 pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    path = d.folder / "bomb_60000x60000.png"
    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def _features_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(PretrainedFeatures(**FAST_FEATURES), LogisticRegression())


#: Issue 23 (trust boundaries): each case failed on the code before it, passes after.
TRUST_BOUNDARY = [
    Case("mixed-int-str-label-list-finetune", finetune, lambda d: d.png[:4],
         y=lambda d, n: [1, "a", 1, "a"], raises=InputError,
         match="Mix of label input types (string and number)"),
    Case("features-generator-fit-transform", features, lambda d: (p for p in d.png),
         call=lambda est, X, y: est.fit_transform(X), check=rows(6)),
    Case("loader-iterator-fit-transform", loader(mode="L"), lambda d: iter(d.png),
         call=lambda est, X, y: est.fit_transform(X), check=image_rows(6, (16, 16))),
    Case("pipeline-fit-on-a-generator", _features_pipeline, lambda d: d,
         call=lambda est, d, y: est.fit((p for p in d.png), d.png_labels).predict(d.png),
         check=labels_of(6)),
    Case("features-two-column-dataframe-of-paths", features,
         lambda d: pd.DataFrame({"path": d.png, "label": list("ababab")}), raises=InputError,
         match="pass only the column of paths: X['path']"),
    Case("loader-two-column-dataframe-of-paths", loader(),
         lambda d: pd.DataFrame({"id": range(6), "file": d.png}), raises=InputError,
         match="column 'file' holds file paths"),
    Case("numeric-dataframe-rows-still-work", features,
         lambda d: pd.DataFrame(d.digits[:3].reshape(3, -1)).add_prefix("px"), check=rows(3)),
    Case("2d-y-not-0-1-cnn", cnn(), lambda d: d.digits[:6],
         y=lambda d, n: np.array([[0, 2], [1, 0], [2, 1]] * 2), raises=InputError,
         match="or a 2-D 0/1 indicator matrix (one column per label)"),
    Case("thin-png-features", features, lambda d: [d.png[0], _thin_png(d)], raises=InputError,
         match="60000x1 pixels, an aspect ratio of 60,000:1"),
    Case("thin-png-finetune", finetune, lambda d: [d.png[0], d.png[1], _thin_png(d)],
         y=lambda d, n: [0, 1, 0], raises=InputError, match="line_60000x1.png"),
    Case("thin-png-imagenet", imagenet, lambda d: [_thin_png(d)], call=_imagenet_call,
         raises=InputError, match="Crop it to the part that matters"),
    Case("thin-array-features", features, lambda d: np.zeros((2, 1, 70_000), np.uint8),
         raises=InputError, match="image 0 is 70000x1 pixels"),
    Case("bomb-png-named-features", features, lambda d: [*d.png[:3], _bomb_png(d), d.png[3]],
         raises=InputError, match="bomb_60000x60000.png' declares too many pixels"),
    Case("bomb-png-named-loader", loader(), lambda d: [d.png[0], _bomb_png(d)],
         raises=InputError, match="decompression bomb"),
]

#: Every case; append new ones here (or to a group above).
CASES = (PATH_CONTAINERS + SHAPES_OF_X + FILES + ARRAYS + LABELS + PARAMETERS + ESTIMATOR_API
         + TRUST_BOUNDARY)


def test_catalogue_is_large_and_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_input_case(case, inputs):
    phrase = re.escape(case.match)
    if case.raises is not None:
        with pytest.raises(case.raises, match=phrase):
            case.run(inputs)
        return
    if case.warns is not None:
        with pytest.warns(case.warns, match=phrase):
            out = case.run(inputs)
    else:
        out = case.run(inputs)
    if case.check is not None:
        case.check(out, inputs)

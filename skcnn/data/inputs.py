"""One input path for images: what every estimator does with ``X`` before it reads a pixel.

:func:`image_input` is the one place that

* tells the kinds of input apart (an array of images, PIL images, or file
  paths) and takes them in the containers people hold them in: lists,
  tuples, 1-D NumPy arrays and pandas Series of ``str`` / ``PathLike``,
  one-column DataFrames of paths, and any other iterable, generators
  included (read once);
* checks array images (dimensions, NaN, sizes, channels) and reads their
  pixel values by the rule of :func:`skcnn.data.arrays.pixel_encoding`
  (``uint8`` / 255, ``uint16`` / 65535, other integers by their values);
* records on ``fit`` (``reset=True``) what later calls must match, and
  checks it on later calls: ``n_features_in_`` and ``feature_names_in_``
  (set for arrays, deleted for files and PIL images) and the pixel
  encoding, with a warning when the same pixels would be read differently
  (e.g. ``uint8`` in fit, floats in 0-255 in predict).

:class:`~skcnn.PretrainedFeatures`, :class:`~skcnn.FineTunedClassifier`,
:func:`~skcnn.pretrained.predict.predict_imagenet_proba`,
:class:`~skcnn.data.loader.ImageLoader` and (for arrays)
:class:`~skcnn.CNNClassifier` all call it.
"""

import math
import warnings
from typing import Any, NamedTuple

from sklearn.utils.validation import validate_data

from ..exceptions import InputError
from .arrays import encoding_mismatch, images_to_array, input_ndim, pixel_encoding
from .images import KIND_WORDS, KINDS, collect_images
from .transforms import check_array_images

__all__ = ["KINDS", "ImageInput", "collect_images", "image_input"]


class ImageInput(NamedTuple):
    """Validated images.

    Attributes
    ----------
    items : ndarray of shape (N, C, H, W), or list
        ``float32`` images for the kind ``'array'``; the PIL images or the
        paths, in order, otherwise.
    kind : {'array', 'pil', 'path'}
    """

    items: Any
    kind: str


def _forget(estimator, *names):
    for name in names:
        if name in estimator.__dict__:
            delattr(estimator, name)


def image_input(estimator, X, *, reset, kinds=KINDS, pretrained=True, input_shape=None,
                data_format="auto"):
    """Validate ``X`` for ``estimator``; the one input path of skcnn's estimators.

    Parameters
    ----------
    estimator : estimator or None
        Where ``n_features_in_``, ``feature_names_in_`` and the pixel
        encoding are recorded (``reset=True``) or checked; None for
        functions, which record nothing.
    X : images
        An array of images ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)``
        or flat rows ``(N, D)``; PIL images; or file paths, in any container
        (see the module docstring).
    reset : bool
        True in ``fit``: record what later calls must match. False
        afterwards: check it.
    kinds : tuple of str, default=('array', 'pil', 'path')
        The kinds ``estimator`` accepts.
    pretrained : bool, default=True
        Arrays are for a pretrained network's PIL preprocessing: floats are
        expected in [0, 1] (clipped, with a warning), 1 to 4 channels and
        at least 2 pixels. False (the CNN): any float values and channels.
    input_shape : tuple of int, default=None
        Shape flat 2-D rows are reshaped to; with ``reset``, an error for
        images that already have a shape.
    data_format : {'auto', 'channels_first', 'channels_last'}, default='auto'
        Layout of 4-D arrays (``pretrained=False`` only; otherwise inferred).

    Returns
    -------
    ImageInput
        ``(items, kind)``.
    """
    X, kind = collect_images(X)
    name = type(estimator).__name__ if estimator is not None else "This function"
    if kind not in kinds:
        raise InputError(
            f"{name} takes {' or '.join(KIND_WORDS[k] for k in kinds)}, not "
            f"{KIND_WORDS[kind]}. Load files and PIL images into an array first with "
            f"ImageLoader, e.g. make_pipeline(ImageLoader(size=32), {name}(...)), or use "
            "PretrainedFeatures / FineTunedClassifier, which read files themselves."
        )
    if kind != "array":
        if reset and estimator is not None:
            _forget(estimator, "n_features_in_", "feature_names_in_", "_pixel_encoding")
        return ImageInput(X, kind)
    ndim = input_ndim(X)
    if estimator is not None:
        if ndim == 2:
            # Flat rows: scikit-learn's own n_features / feature-name checks.
            validate_data(estimator, X, reset=reset, skip_check_array=True)
        elif reset:
            _forget(estimator, "feature_names_in_")  # left from a fit on a DataFrame
    if reset and input_shape is not None and ndim in (3, 4):
        raise InputError(
            f"input_shape={input_shape!r} is only used for flat 2D rows, but X already "
            f"holds images ({ndim}D). Remove input_shape, or pass X.reshape(len(X), -1)."
        )
    if pretrained:
        images = check_array_images(X)
    else:
        images = images_to_array(X, input_shape=input_shape if ndim == 2 else None,
                                 data_format=data_format)
    if estimator is not None:
        try:
            encoding = pixel_encoding(X.to_numpy() if hasattr(X, "iloc") else X)
        except (TypeError, ValueError):  # not convertible to NumPy (a GPU tensor): no record
            encoding = None
        if reset:
            estimator.n_features_in_ = math.prod(images.shape[1:])
            estimator._pixel_encoding = encoding
        else:
            message = encoding_mismatch(estimator.__dict__.get("_pixel_encoding"), encoding)
            if message:
                warnings.warn(message, UserWarning, stacklevel=4)
    return ImageInput(images, "array")

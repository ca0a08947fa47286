"""Convert NumPy-like image input to ``float32`` arrays of shape ``(N, C, H, W)``.

How input is read
-----------------
* ``(N, H, W)``: grayscale images, one channel.
* ``(N, H, W, C)`` or ``(N, C, H, W)``: the layout is inferred (see
  :func:`infer_data_format`) or forced with ``data_format``.
* ``(N, D)`` flat rows: reshaped to ``input_shape`` when it is given
  (``(H, W)`` or ``(C, H, W)``). Without ``input_shape`` a row whose length is
  a perfect square becomes a square one-channel image (784 -> 1x28x28, as
  flat MNIST rows are), and any other row becomes a one-pixel-high image
  ``1 x 1 x D`` (tabular data, as scikit-learn's estimator checks feed).
* ``uint8`` pixels are scaled to [0, 1]; every other numeric type is cast to
  ``float32`` unchanged.
"""

import math

import numpy as np
from sklearn.utils.validation import check_array

from ..exceptions import InputError

__all__ = ["DATA_FORMATS", "images_to_array", "input_ndim", "infer_data_format", "flat_to_image_shape"]

DATA_FORMATS = ("auto", "channels_first", "channels_last")
_COMMON_CHANNELS = (1, 3, 4)


def input_ndim(X):
    """Number of dimensions of array-like ``X`` (DataFrames count as 2)."""
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return ndim
    if hasattr(X, "iloc"):  # pandas
        return 2
    try:
        return np.asarray(X).ndim
    except ValueError:  # ragged nested lists
        return np.asarray(X, dtype=object).ndim


def infer_data_format(shape):
    """Guess whether a 4-D batch of ``shape`` is channels-first or -last.

    An axis of length 1, 3 or 4 (gray, RGB, RGBA) next to a longer one is
    the channel axis. If both or neither look like channels, the shorter
    axis is; a tie reads as channels-last (NumPy/PIL's layout).
    """
    first, last = shape[1], shape[-1]
    first_like, last_like = first in _COMMON_CHANNELS, last in _COMMON_CHANNELS
    if first_like and not last_like:
        return "channels_first"
    if last_like and not first_like:
        return "channels_last"
    return "channels_first" if first < last else "channels_last"


def flat_to_image_shape(n_features, input_shape=None):
    """Return the ``(C, H, W)`` shape that a flat row of ``n_features`` is read as."""
    if input_shape is not None:
        shape = tuple(int(s) for s in np.atleast_1d(input_shape))
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3 or min(shape) < 1:
            raise InputError(
                f"input_shape must be (height, width) or (channels, height, width) with "
                f"positive sizes; got {input_shape!r}."
            )
        if math.prod(shape) != n_features:
            raise InputError(
                f"input_shape={input_shape!r} holds {math.prod(shape)} values per image but "
                f"each row of X has {n_features}. Pass the shape the rows were flattened "
                f"from, e.g. input_shape=(28, 28) for 784-long MNIST rows."
            )
        return shape
    side = math.isqrt(n_features)
    if side * side == n_features:
        return (1, side, side)
    return (1, 1, n_features)


def _to_float32(array):
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    return array.astype(np.float32, copy=False)


def images_to_array(X, *, input_shape=None, data_format="auto"):
    """Validate ``X`` and return it as a C-contiguous ``float32`` ``(N, C, H, W)`` array.

    Parameters
    ----------
    X : array-like of shape (N, D), (N, H, W), (N, H, W, C) or (N, C, H, W)
        Images, or flat rows (see the module docstring for how they are read).
    input_shape : tuple of int, default=None
        Shape each flat row is reshaped to; only for 2-D ``X``.
    data_format : {'auto', 'channels_first', 'channels_last'}, default='auto'
        Layout of 4-D ``X``.

    Returns
    -------
    images : ndarray of shape (N, C, H, W), dtype float32
    """
    if data_format not in DATA_FORMATS:
        raise InputError(f"data_format must be one of {DATA_FORMATS}; got {data_format!r}.")
    raw = X if hasattr(X, "ndim") and hasattr(X, "dtype") else None
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        ndim = np.asarray(X, dtype=object).ndim if not hasattr(X, "iloc") else 2
    if ndim == 1 or ndim == 0:
        raise InputError(
            "Expected 2D array (flat images) or a 3D/4D array of images, got a 1D array "
            "instead. Reshape your data either using array.reshape(-1, 1) if your data "
            "has a single feature or array.reshape(1, -1) if it contains a single sample; "
            "pass a batch of images as (N, H, W), (N, H, W, C) or (N, C, H, W)."
        )
    if ndim > 4:
        raise InputError(
            f"Expected images as (N, H, W), (N, H, W, C) or (N, C, H, W); got a {ndim}D "
            f"array of shape {getattr(X, 'shape', '?')}. Video or volumetric input is not "
            "supported: reshape it to a batch of 2-D images."
        )
    keep_uint8 = raw is not None and raw.dtype == np.uint8
    array = check_array(
        X,
        allow_nd=True,
        dtype=None if keep_uint8 else [np.float32, np.float64],
        ensure_all_finite=False,
        ensure_min_samples=1,
        input_name="X",
    )
    if not keep_uint8 and not np.isfinite(array).all():
        bad = ~np.isfinite(array.reshape(len(array), -1))
        first = int(np.flatnonzero(bad.any(axis=1))[0])
        kind = "NaN" if np.isnan(array).any() else "infinity"
        raise InputError(
            f"Input X contains {kind} ({int(bad.sum())} pixel values, the first in image "
            f"{first}). Images must hold finite numbers: replace those values (e.g. with "
            "np.nan_to_num) or drop those images."
        )

    if array.ndim == 2:
        shape = flat_to_image_shape(array.shape[1], input_shape)
        array = array.reshape((len(array),) + shape)
    elif input_shape is not None:
        raise InputError(
            f"input_shape is only used for flat 2D input; X already has image shape "
            f"{array.shape[1:]}. Remove input_shape or pass flat rows."
        )
    elif array.ndim == 3:
        array = array[:, None, :, :]
    else:
        fmt = infer_data_format(array.shape) if data_format == "auto" else data_format
        if fmt == "channels_last":
            array = array.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(_to_float32(array))

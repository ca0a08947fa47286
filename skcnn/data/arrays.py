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
* Integer pixels are scaled to [0, 1] by the range of their encoding (see
  :func:`pixel_encoding`): ``uint8`` by 255, ``uint16`` by 65535 (its full
  range, as scikit-image's ``img_as_float`` and torchvision do: the absolute
  brightness is kept, so two images of different exposure stay different).
  Other integer types say nothing about the encoding, so their values do:
  0-255 is read as 8-bit, 0-65535 as 16-bit, anything else (negative values,
  larger numbers) is kept unscaled. Floats and booleans are cast to
  ``float32`` unchanged.
"""

import math
from typing import NamedTuple

import numpy as np
from sklearn.utils.validation import check_array

from ..exceptions import InputError

__all__ = ["DATA_FORMATS", "images_to_array", "input_ndim", "infer_data_format",
           "flat_to_image_shape", "PixelEncoding", "pixel_encoding"]

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


class PixelEncoding(NamedTuple):
    """How the numbers of an image array are read as intensities.

    Attributes
    ----------
    dtype : str
        The array's dtype, e.g. ``'uint8'``.
    scale : float or None
        The values are divided by it (255 for 8-bit, 65535 for 16-bit);
        None keeps them as they are (floats, unscaled integers).
    low, high : float
        Smallest and largest value (NaN for an empty array; 0 and 255 for
        ``uint8``, which is not scanned).
    """

    dtype: str
    scale: float | None
    low: float
    high: float

    def describe(self):
        """A few words for messages, e.g. ``'8-bit integers (uint8, divided by 255)'``."""
        if self.scale == 255:
            return f"8-bit integers ({self.dtype}, divided by 255)"
        if self.scale == 65535:
            return f"16-bit integers ({self.dtype}, divided by 65535)"
        kind = "floats" if self.dtype.startswith(("float", "bool")) else "integers"
        return f"{kind} ({self.dtype}) from {self.low:.4g} to {self.high:.4g}, not scaled"

    @property
    def intensities(self):
        """Whether the values end up as [0, 1] intensities."""
        return self.scale is not None or (self.low >= -1e-6 and self.high <= 1 + 1e-6)


def pixel_encoding(array):
    """The :class:`PixelEncoding` of an image array: what one unit of its values means.

    ``uint8`` is 8-bit (divided by 255) and ``uint16`` 16-bit (divided by
    65535), whatever the values. Any other integer type is read by its
    values: all within 0-255 as 8-bit, within 0-65535 as 16-bit, else
    unscaled. Floats and booleans are never scaled.
    """
    array = np.asarray(array)
    if array.dtype == np.uint8:  # the common case needs no pass over the pixels
        return PixelEncoding("uint8", 255.0, 0.0, 255.0)
    if array.size and array.dtype.kind in "biuf":
        low, high = float(np.min(array)), float(np.max(array))
    else:
        low = high = float("nan")
    dtype = array.dtype
    scale = None
    if dtype == np.uint16:
        scale = 65535.0
    elif dtype.kind in "iu" and array.size and low >= 0:
        scale = 255.0 if high <= 255 else 65535.0 if high <= 65535 else None
    return PixelEncoding(str(dtype), scale, low, high)


def encoding_mismatch(fitted, current):
    """Why images read with encoding ``current`` do not match those seen in fit, or None.

    Only differences that change how the same pixels are read count: integers
    scaled to [0, 1] against floats (or integers) left outside [0, 1], and
    8-bit values stored in a 16-bit array when fit saw 8-bit images. Two
    encodings that both give [0, 1] intensities (8-bit, 16-bit, floats in
    [0, 1]) are compatible: they describe brightness the same way.
    """
    if fitted is None or current is None or fitted.scale == current.scale:
        return None
    if fitted.intensities and current.intensities:
        if {fitted.scale, current.scale} == {255.0, 65535.0}:
            wide = fitted if fitted.scale == 65535.0 else current
            if wide.dtype == "uint16" and wide.high <= 255:
                return (f"X holds {current.describe()}, but its values are all <= 255, like the "
                        f"{fitted.describe()} seen in fit: read as 16-bit they are 257 times "
                        "darker. Convert X to the dtype used in fit (e.g. X.astype(np.uint8)).")
        return None
    return (f"X holds {current.describe()}, but fit saw {fitted.describe()}: the same pixels "
            "are read differently and the results will differ. Pass X in the dtype and range "
            "used in fit (e.g. uint8 0-255, or floats in [0, 1]), or fit again.")


def scale_to_float32(array, encoding=None):
    """``array`` as ``float32``, divided by its encoding's scale (see :func:`pixel_encoding`)."""
    encoding = pixel_encoding(array) if encoding is None else encoding
    out = np.asarray(array).astype(np.float32)
    if encoding.scale is not None:
        out /= np.float32(encoding.scale)
    return out


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
    raw = None  # X as a NumPy array, when it is one already or cheaply becomes one
    if isinstance(X, np.ndarray):
        raw = X
    elif hasattr(X, "iloc"):  # pandas
        raw = X.to_numpy()
    elif isinstance(X, (list, tuple)) or (hasattr(X, "__array__") and not hasattr(X, "tocsr")):
        try:  # nested lists of ints, tensors: their dtype and values decide the encoding too
            raw = np.asarray(X)
        except (ValueError, TypeError):  # ragged: check_array reports it
            raw = None
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
    encoding = pixel_encoding(raw) if raw is not None and raw.dtype.kind in "biu" else None
    keep_integers = encoding is not None and encoding.scale is not None
    array = check_array(
        X,
        allow_nd=True,
        dtype=None if keep_integers else [np.float32, np.float64],
        ensure_all_finite=False,
        ensure_min_samples=1,
        input_name="X",
    )
    if not keep_integers and not np.isfinite(array).all():
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
    if keep_integers:
        return np.ascontiguousarray(scale_to_float32(array, encoding))
    return np.ascontiguousarray(array.astype(np.float32, copy=False))

"""Image files, PIL images and arrays: loading, checking and telling them apart.

Pretrained networks take inputs of any size and mode (grayscale, RGBA,
palette) and convert them to what the network needs; this module is where
files are opened and every failure is turned into an error that names the
offending file or item.

How a file's pixels are read
----------------------------
Every image, from a file or given as a PIL image, is read as its file means
it (:func:`readable_image`): the EXIF orientation is applied (a portrait
photo taken with the camera turned stays upright), 8-bit images are used as
they are, and images of more than 8 bits per pixel are scaled to the 0-255
range the networks' preprocessing works in:

* 16-bit integer images (PNG and TIFF modes ``I;16``, and mode ``I`` with
  values within 0-65535, as Pillow opens 16-bit PNGs) are divided by 65535,
  their format's full range: the absolute brightness is kept, so two images
  of different exposure stay different (stretching each image to its own
  minimum and maximum would make them alike). The same rule as for
  ``uint16`` arrays (:func:`skcnn.data.arrays.pixel_encoding`).
* 32-bit float images (TIFF mode ``F``) are read as intensities in [0, 1].
  When their values lie outside [0, 1] they are stretched from their own
  minimum and maximum to [0, 1], with a warning; so are 32-bit integer
  images outside 0-65535.

The result is an 8-bit image (256 levels), finer than what the pretrained
networks distinguish; keep high-bit-depth content as a float array in
[0, 1] to skip that rounding for :class:`~skcnn.CNNClassifier`.
"""

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..exceptions import InputError

__all__ = ["KINDS", "collect_images", "input_kind", "open_image", "readable_image",
           "array_to_pil", "as_rgb", "read_once", "DECODING_VERSION"]

#: Changes whenever files decode to different pixels (a cache key part):
#: 2 applies EXIF orientation and scales 16-bit and float images.
DECODING_VERSION = 2

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


#: The kinds of input: one array of images, PIL images, or image file paths.
KINDS = ("array", "pil", "path")

#: How messages name each kind.
KIND_WORDS = {"array": "arrays of images", "pil": "PIL images", "path": "file paths"}


def _is_path(item):
    return isinstance(item, (str, os.PathLike))


def _item_kind(item):
    if _is_path(item):
        return "path"
    if isinstance(item, Image.Image):
        return "pil"
    if hasattr(item, "shape") or isinstance(item, (list, tuple)):
        return "array"  # an array per image, or nested lists of pixel values
    raise InputError(
        f"Unsupported image of type {type(item).__name__}; pass file paths, PIL images, or a "
        "NumPy array of images."
    )


def _size_words(shape):
    return "x".join(map(str, shape)) if shape else "a single number"


def _stack(items):
    """One array from per-image arrays (or nested lists); a clear error when sizes differ."""
    shapes = []
    for item in items:
        shape = np.shape(item) if not isinstance(item, (list, tuple)) else None
        if shape is None:
            try:
                shape = np.shape(np.asarray(item))
            except ValueError:  # ragged nested lists
                shape = ("ragged",)
        shapes.append(tuple(shape))
    distinct = list(dict.fromkeys(shapes))
    if len(distinct) > 1:
        examples = ", ".join(_size_words(s) for s in distinct[:3])
        raise InputError(
            f"images differ in size ({len(distinct)} different shapes, e.g. {examples}): "
            "resize them to one size, or use ImageLoader(size=...) to load and resize them "
            "(make_pipeline(ImageLoader(size=64), ...))."
        )
    if all(isinstance(item, np.ndarray) for item in items):
        return np.stack(items)  # keeps the dtype, which decides how pixels are scaled
    return np.asarray(items)


def read_once(X):
    """``X``, with an iterator (a generator, ``map``, ``iter(...)``) read into a list.

    ``fit_transform`` calls ``fit`` then ``transform`` on the same ``X`` (and
    ``Pipeline.fit`` calls ``fit_transform``): an iterator read by ``fit``
    would be empty for ``transform``. Reading it once, at the start, gives
    both the same items. Anything that is not an iterator is returned as is.
    """
    return list(X) if isinstance(X, Iterator) else X


def _check_columns(X):
    """Refuse a DataFrame of several columns, some not numbers: not flat pixel rows."""
    other = [column for column in X.columns if X[column].dtype.kind not in "biufc"]
    if not other:
        return
    paths = [column for column in other if len(X) and _is_path(X[column].iloc[0])]
    shown = ", ".join(repr(c) for c in list(X.columns)[:5]) + (", ..." if X.shape[1] > 5 else "")
    if paths:
        column = paths[0]
        raise InputError(
            f"X is a DataFrame of {X.shape[1]} columns ({shown}) and column {column!r} holds "
            f"file paths; pass only the column of paths: X[{column!r}] (or X[[{column!r}]]). "
            "Labels go in y.")
    raise InputError(
        f"X is a DataFrame of {X.shape[1]} columns ({shown}) with non-numeric column(s) "
        f"{', '.join(repr(c) for c in other[:5])}. Pass one column of file paths or PIL "
        "images (X['path']), or only numeric columns of flat pixel rows.")


def collect_images(X):
    """``(X, kind)``: the images in ``X`` and their kind, with containers unpacked.

    Arrays (and array-likes such as tensors and DataFrames of flat rows) are
    returned as given; paths and PIL images as a list; per-image arrays in a
    list as one stacked array. Iterables are read once.

    Raises
    ------
    InputError
        For a single path or PIL image, an empty input, a mix of kinds,
        unsupported items, and per-image arrays of different sizes.
    """
    if isinstance(X, (str, os.PathLike)):
        raise InputError(
            f"X is a single path ({str(X)!r}); pass a list of paths, e.g. [{str(X)!r}]."
        )
    if isinstance(X, Image.Image):
        raise InputError("X is a single PIL image; pass a list of images, e.g. [image].")
    items = None
    if hasattr(X, "iloc"):  # pandas
        if X.ndim == 2 and X.shape[1] > 1:
            _check_columns(X)
        column = X if X.ndim == 1 else (X.iloc[:, 0] if X.shape[1] == 1 else None)
        if column is not None and len(column) and column.dtype.kind not in "biufc":
            items = list(column)  # paths (or PIL images) in a Series or one column
        else:
            if len(X) == 0:
                raise InputError("X is empty (0 samples); pass at least one image.")
            return X, "array"
    elif isinstance(X, np.ndarray):
        if X.dtype == object and X.ndim == 1 and X.size and (
                _is_path_or_pil(X[0]) or hasattr(X[0], "shape")):
            items = list(X)  # paths, PIL images or per-image arrays (of any sizes)
        elif X.dtype.kind in "US" or (X.dtype == object and X.size
                                      and _is_path_or_pil(X.flat[0])):
            if X.ndim == 2 and X.shape[1] == 1:
                X = X[:, 0]
            if X.ndim != 1:
                raise InputError(
                    f"X is a {X.ndim}D array of strings of shape {X.shape}; pass the file "
                    "paths as a 1-D list or array."
                )
            items = list(X)
        else:
            if X.ndim >= 1 and len(X) == 0:
                raise InputError("X is empty (0 samples); pass at least one image.")
            return X, "array"
    elif hasattr(X, "__array__") and not hasattr(X, "tocsr"):
        try:  # polars and other array-likes may hold paths too
            converted = np.asarray(X)
        except Exception:  # noqa: BLE001 - e.g. a CUDA tensor: check_array explains it
            return X, "array"
        if converted.dtype.kind in "USO":
            return collect_images(converted)
        return X, "array"  # tensors, ...
    elif hasattr(X, "shape") and hasattr(X, "dtype"):
        return X, "array"  # sparse matrices: check_array explains those
    if items is None:
        try:
            items = list(X)  # lists, tuples, generators, ...: read once
        except TypeError:
            raise InputError(
                f"X of type {type(X).__name__} is not a collection of images; pass a NumPy "
                "array of images, a list of PIL images or a list of file paths."
            ) from None
    if not items:
        raise InputError("X is empty (0 samples); pass at least one image or path.")
    kinds = {_item_kind(item) for item in items}
    if len(kinds) > 1:
        raise InputError(
            f"X mixes {' and '.join(sorted(KIND_WORDS[k] for k in kinds))}; pass one kind "
            "only (all paths, all PIL images, or one array)."
        )
    kind = kinds.pop()
    if kind == "array":
        return _stack(items), kind
    return items, kind


def _is_path_or_pil(item):
    return _is_path(item) or isinstance(item, Image.Image)


def input_kind(X):
    """Classify ``X`` as ``'array'``, ``'pil'`` or ``'path'`` (see :func:`collect_images`).

    An iterator is consumed: call :func:`collect_images` to keep its items.
    """
    return collect_images(X)[1]


def open_image(path, check_size=None):
    """Open and fully decode the image at ``path``.

    Parameters
    ----------
    path : str or path-like
    check_size : callable, optional
        ``check_size(width, height, name)``, called with the size the file
        declares before its pixels are decoded; raises to refuse the image.

    Raises
    ------
    InputError
        Naming the file when it does not exist, is not an image, is
        truncated or corrupt, or declares more pixels than Pillow's
        ``PIL.Image.MAX_IMAGE_PIXELS`` allows (a decompression bomb).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Image file not found: {str(path)!r}. Check the path.")
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a folder, not an image file.")
    try:
        with Image.open(path) as image:
            if check_size is not None:
                check_size(*image.size, repr(str(path)))
            image.load()  # decode now, so a truncated file fails here
            return readable_image(image, name=repr(str(path)))
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{str(path)!r} declares too many pixels: {str(exc).rstrip('.')}. Pillow refuses "
            "such files as possible decompression bombs. If you trust the file, raise the limit "
            "(PIL.Image.MAX_IMAGE_PIXELS = ...) or resize it with another tool first; else "
            "remove it.") from None
    except UnidentifiedImageError:
        raise InputError(
            f"{str(path)!r} is not an image file that Pillow can read (JPEG, PNG, ...)."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"Could not decode image {str(path)!r}: {exc}. The file may be "
                         "truncated or corrupt; re-export or remove it.") from None


def readable_image(image, name="an image"):
    """A new 8-bit PIL image with ``image``'s content as its file means it.

    Applies the EXIF orientation, expands palettes to RGBA and scales
    16-bit and float images to 0-255 (see the module docstring). ``name``
    names the image in warnings and errors.
    """
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a damaged EXIF block: keep the pixels as stored
        upright = image.copy()
    if upright is None:  # pragma: no cover - only with in_place=True
        upright = image.copy()
    if upright.mode == "P":
        return upright.convert("RGBA")
    if upright.mode not in _SIXTEEN_BIT_MODES and upright.mode not in ("I", "F"):
        return upright
    values = np.asarray(upright)
    if upright.mode in _SIXTEEN_BIT_MODES:
        unit = values.astype(np.float32) / np.float32(65535.0)
    else:
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise InputError(f"{name} holds NaN or infinite pixel values "
                             f"({int((~np.isfinite(values)).sum())} of them); images must hold "
                             "finite numbers. Fix or remove the file.")
        low, high = float(values.min()), float(values.max())
        if upright.mode == "I" and low >= 0 and high <= 65535:
            unit = values / 65535.0
        elif upright.mode == "F" and low >= -1e-6 and high <= 1 + 1e-6:
            unit = values
        else:
            kind = "32-bit integer" if upright.mode == "I" else "float"
            expected = "0-65535" if upright.mode == "I" else "[0, 1]"
            warnings.warn(
                f"{name} is a {kind} image with values from {low:.6g} to {high:.6g}, outside "
                f"{expected}; it is stretched from its own minimum and maximum to [0, 1]. "
                f"Save it with values in {expected} to keep its absolute brightness.",
                UserWarning, stacklevel=3)
            unit = (values - low) / (high - low) if high > low else np.zeros_like(values)
    eight_bit = np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(eight_bit)


def array_to_pil(image, channels_first=None):
    """One ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` array as a PIL image.

    Floats are read as [0, 1] intensities, ``uint8`` as 0-255. The layout of a
    3-D array is guessed unless ``channels_first`` says it.
    """
    array = np.asarray(image)
    if channels_first is None:
        channels_first = (array.ndim == 3 and array.shape[0] in (1, 3, 4)
                          and array.shape[-1] not in (1, 3, 4))
    if array.ndim == 3 and channels_first:
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def as_rgb(image):
    """Convert any PIL mode to RGB (RGBA is composited on white)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")

"""Image files, PIL images and arrays: loading, checking and telling them apart.

Pretrained networks take inputs of any size and mode (grayscale, RGBA,
palette) and convert them to what the network needs; this module is where
files are opened and every failure is turned into an error that names the
offending file or item.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..exceptions import InputError

__all__ = ["input_kind", "open_image", "array_to_pil", "as_rgb"]


def _is_path(item):
    return isinstance(item, (str, os.PathLike))


def input_kind(X):
    """Classify ``X`` as ``'array'``, ``'pil'`` or ``'path'``.

    Raises
    ------
    InputError
        For an empty input, or a list that mixes kinds (paths and arrays, ...).
    """
    if isinstance(X, (str, os.PathLike)):
        raise InputError(
            f"X is a single path ({str(X)!r}); pass a list of paths, e.g. [{str(X)!r}]."
        )
    if hasattr(X, "shape") and hasattr(X, "dtype") and not isinstance(X, Image.Image):
        if len(X) == 0:
            raise InputError("X is empty (0 images); pass at least one image.")
        return "array"
    if isinstance(X, Image.Image):
        raise InputError("X is a single PIL image; pass a list of images, e.g. [image].")
    if hasattr(X, "__array__") or hasattr(X, "iloc"):  # array-likes and DataFrames
        return "array"
    items = list(X)
    if not items:
        raise InputError("X is empty (0 images); pass at least one image or path.")
    kinds = set()
    for item in items:
        if _is_path(item):
            kinds.add("path")
        elif isinstance(item, Image.Image):
            kinds.add("pil")
        elif hasattr(item, "shape") or isinstance(item, (list, tuple)):
            kinds.add("array")  # an array per image, or nested lists of pixel values
        else:
            raise InputError(
                f"Unsupported image of type {type(item).__name__}; pass file paths, PIL "
                "images, or a NumPy array of images."
            )
    if len(kinds) > 1:
        raise InputError(
            f"X mixes {' and '.join(sorted(kinds))} items; pass one kind only (all paths, "
            "all PIL images, or one array)."
        )
    return kinds.pop()


def open_image(path):
    """Open and fully decode the image at ``path``.

    Raises
    ------
    InputError
        Naming the file when it does not exist, is not an image, or is
        truncated or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Image file not found: {str(path)!r}. Check the path.")
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a folder, not an image file.")
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here
            return image.copy() if image.mode != "P" else image.convert("RGBA")
    except UnidentifiedImageError:
        raise InputError(
            f"{str(path)!r} is not an image file that Pillow can read (JPEG, PNG, ...)."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"Could not decode image {str(path)!r}: {exc}. The file may be "
                         "truncated or corrupt; re-export or remove it.") from None


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

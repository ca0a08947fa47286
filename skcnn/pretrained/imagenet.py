"""ImageNet helpers: class names, ``decode_predictions`` and image preprocessing."""

import numbers
from functools import lru_cache

import numpy as np
import torch

__all__ = ["imagenet_class_names", "decode_predictions", "preprocess_images"]


@lru_cache(maxsize=1)
def _imagenet_class_names():
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_class_names():
    """The 1000 ImageNet-1k class names in the standard class-index order.

    Taken from torchvision's weight metadata (no download needed), e.g.
    index 285 is ``'Egyptian cat'``.
    """
    return list(_imagenet_class_names())


def decode_predictions(probabilities, top=3, class_names=None):
    """The ``top`` most probable classes of each image.

    The counterpart of ``keras.applications.*.decode_predictions``.

    Parameters
    ----------
    probabilities : array-like of shape (n_images, n_classes)
        Class probabilities (e.g. the softmax of a backbone's logits), as a
        NumPy array, a torch tensor or nested lists.
    top : int, default=3
        How many classes to return per image (at most ``n_classes``).
    class_names : sequence of str, optional
        The name of each column. Default: the 1000 ImageNet class names.

    Returns
    -------
    list of list of (str, float)
        For each image, ``(class_name, probability)`` pairs sorted from the
        most to the least probable.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((1, 1000)); p[0, 285] = 0.7; p[0, 281] = 0.2; p[0, 282] = 0.1
    >>> decode_predictions(p, top=2)
    [[('Egyptian cat', 0.7), ('tabby', 0.2)]]
    """
    if isinstance(probabilities, torch.Tensor):
        probabilities = probabilities.detach().float().cpu().numpy()
    try:
        probs = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"probabilities must be a 2-D array of numbers (n_images, n_classes); could not "
            f"convert {type(probabilities).__name__} ({exc})."
        ) from exc
    if probs.ndim != 2:
        fix = " For a single image use probabilities.reshape(1, -1)." if probs.ndim == 1 else ""
        raise ValueError(
            f"probabilities must be 2-D (n_images, n_classes); got shape {probs.shape}.{fix}"
        )
    if class_names is None:
        names = _imagenet_class_names()
        expected = "the 1000 ImageNet classes"
    else:
        names = [str(name) for name in class_names]
        expected = f"the {len(names)} class_names given"
    if probs.shape[1] != len(names):
        raise ValueError(
            f"probabilities have {probs.shape[1]} columns but there are {len(names)} class names "
            f"({expected}). Pass class_names with one name per column."
        )
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise ValueError(f"top must be an integer >= 1; got {top!r}.")
    if probs.size and not np.isfinite(probs).all():
        raise ValueError("probabilities contain NaN or infinite values.")
    if probs.size and (probs.min() < -1e-6 or probs.max() > 1 + 1e-6):
        raise ValueError(
            f"probabilities must lie in [0, 1]; got values from {probs.min():.4g} to "
            f"{probs.max():.4g}. These look like logits: apply a softmax first, e.g. "
            "torch.softmax(logits, dim=1)."
        )
    top = min(int(top), probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(names[j], float(row[j])) for j in idx] for row, idx in zip(probs, order)]


_RESAMPLE = {
    "nearest": "NEAREST",
    "bilinear": "BILINEAR",
    "bicubic": "BICUBIC",
    "box": "BOX",
    "hamming": "HAMMING",
    "lanczos": "LANCZOS",
}


def _to_mode(image, channels):
    """Convert a PIL image of any mode to RGB (or L for one channel)."""
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        if mode == "F" and arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        elif mode != "F" and arr.size and arr.max() > 255:
            arr = arr / 257.0
        image = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    target = "L" if channels == 1 else "RGB"
    return image if image.mode == target else image.convert(target)


def preprocess_images(images, config):
    """Prepare PIL images for a backbone as its :class:`~skcnn.plugins.PreprocessConfig` says.

    Each image is converted to RGB (any PIL mode: ``L``, ``RGBA`` and ``LA``
    composited on white, ``P``, 16-bit), its shorter side resized to
    ``config.resize_size`` with ``config.interpolation``, center-cropped to
    ``config.input_size``, scaled to [0, 1] and normalised with
    ``config.mean`` / ``config.std``.

    Parameters
    ----------
    images : sequence of PIL.Image.Image
    config : skcnn.plugins.PreprocessConfig

    Returns
    -------
    torch.Tensor of shape (n_images, channels, height, width), float32
    """
    from PIL import Image

    from ..data.transforms import check_resized_size

    if isinstance(images, Image.Image):
        images = [images]
    images = list(images)
    if not images:
        raise ValueError("images is empty; pass at least one PIL image.")
    resample = getattr(Image.Resampling, _RESAMPLE[config.interpolation])
    height, width = config.input_size
    out = torch.empty((len(images), config.channels, height, width), dtype=torch.float32)
    mean = torch.tensor(config.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32).view(-1, 1, 1)
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise TypeError(
                f"images[{i}] is a {type(image).__name__}, not a PIL image; load files with "
                "PIL.Image.open(path) first."
            )
        if min(image.size) < 1:
            raise ValueError(f"images[{i}] is empty (size {image.size[0]}x{image.size[1]}).")
        check_resized_size(*image.size, config.resize_size, f"images[{i}]")
        image = _to_mode(image, config.channels)
        # Same arithmetic as torchvision's Resize(int) and CenterCrop.
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = config.resize_size, max(1, int(config.resize_size * long / short))
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), resample)
        left = int(round((new_w - width) / 2.0))
        top = int(round((new_h - height) / 2.0))
        image = image.crop((left, top, left + width, top + height))  # pads with black if needed
        arr = np.asarray(image, dtype=np.uint8)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        tensor = torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)
        out[i] = tensor.sub_(mean).div_(std)
    return out

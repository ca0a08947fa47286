"""One image for :mod:`skcnn.inspection`: checked against what the network takes, with
messages that say how to fix it, and turned into the batch of one that the target's
``prepare`` takes (as ``predict`` would take it)."""

import os

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = ["batch_of_one", "module_batch"]


def batch_of_one(target, image):
    """``image`` as a one-image input of ``target.prepare``: an array batch, ``[PIL]`` or ``[path]``.

    A target with a fixed ``input_shape`` takes an array of that shape (or a flat
    row); one with a ``preprocess`` (pretrained networks) an image of any size, a
    PIL image or a path; any other an array, passed on as it is.
    """
    who = target.label.split(" (")[0]  # "PretrainedFeatures (resnet50)": the estimator's name
    if target.input_shape is not None:
        return _fixed_shape_batch(image, target.input_shape, who)
    if target.preprocess is not None:
        return _any_size_batch(image, who)
    return single_array(image)[None]


def single_array(image):
    """``image`` as a NumPy array; a batch holding one image loses its batch axis."""
    if torch.is_tensor(image):
        array = image.detach().cpu().numpy()
    else:
        array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    elif array.ndim == 2 and array.shape[0] == 1 and array.shape[1] > 1:
        array = array[0]  # one flat row, as predict takes it: X[:1] of (N, D) data
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise ValueError(f"image must be an array of pixel values; got {array.dtype} data of "
                         f"shape {array.shape}.")
    return array


def _fixed_shape_batch(image, input_shape, who):
    """One image for a network trained on ``channels x height x width`` images."""
    array = single_array(image)
    channels, height, width = input_shape
    size = channels * height * width
    accepted = ({(height, width), (1, height, width), (height, width, 1)} if channels == 1
                else {(channels, height, width), (height, width, channels)})
    if not (tuple(array.shape) in accepted or (array.ndim == 1 and array.size == size)):
        forms = " or ".join(str(s) for s in sorted(accepted, key=lambda s: (len(s), s)))
        raise ValueError(
            f"image has shape {tuple(array.shape)}, but this {who} was fitted on images of "
            f"{channels}x{height}x{width} (channels x height x width): pass one image of shape "
            f"{forms} (or a flat row of {size} values). "
            f"{shape_fix(array.shape, channels, height, width)}")
    return array[None]


def _any_size_batch(image, who):
    """One image of any size for a pretrained network: array batch, ``[PIL]`` or ``[path]``."""
    if isinstance(image, (str, os.PathLike, Image.Image)):
        return [image]
    array = single_array(image)
    ok = array.ndim == 2 or (array.ndim == 3 and (array.shape[-1] in (1, 3, 4)
                                                  or array.shape[0] in (1, 3, 4)))
    if not ok:
        raise ValueError(
            f"image has shape {tuple(array.shape)}, but {who} takes one image of any size: "
            "(H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA (channels first, (3, H, W), "
            "works too), a PIL image or a file path. "
            + (shape_fix(array.shape) if array.ndim != 3 else
               "Its channel axis must be the first or the last and hold 1, 3 or 4 values."))
    return array[None]


def module_batch(module, X):
    """``prepare`` of a plain module: float32 ``(N, C, H, W)``, channels laid out for its first
    convolution, ``uint8`` scaled to [0, 1]."""
    first = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    channels = first.in_channels if first is not None else None
    return torch.stack([_module_image(np.asarray(image), channels) for image in X])


def _module_image(array, channels):
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if array.ndim == 2 and channels in (None, 1):
        array = array[None]
    elif array.ndim == 3 and (channels is None or array.shape[0] == channels):
        pass
    elif array.ndim == 3 and array.shape[-1] == channels:
        array = array.transpose(2, 0, 1)
    else:
        want = "(H, W) or (1, H, W)" if channels == 1 else f"(H, W, {channels}) or ({channels}, H, W)"
        raise ValueError(
            f"image has shape {tuple(array.shape)}, but the network's first convolution reads "
            f"{channels} channel(s): pass one image of shape {want}. "
            + shape_fix(array.shape, channels))
    return torch.from_numpy(np.ascontiguousarray(array))


def shape_fix(shape, channels=None, height=None, width=None):
    """A hint on how to turn an image of ``shape`` into a ``channels x height x width`` one
    (what is unknown is None)."""
    if len(shape) == 0:
        return "Pass an image (an array), not a single number."
    if len(shape) == 1:
        return ("A 1-D array is not an image: pass one image such as X_test[0] from the images "
                "you called fit/predict on, not a flattened slice of it"
                + (f" (a flat row must hold {channels * height * width} values)." if height
                   else "."))
    if len(shape) == 4:
        return f"Pass one image, e.g. X[0], not a batch of {shape[0]}."
    if len(shape) > 4:
        return "Pass one 2-D image (grayscale) or 3-D image (with channels)."
    hints = []
    colour = len(shape) == 3 and (shape[-1] in (3, 4) or shape[0] in (3, 4))
    if len(shape) == 3 and height is not None and tuple(shape[1:]) == (height, width):
        hints.append(f"if it is a batch of {shape[0]} images, pass one of them, e.g. X[0]")
    elif channels == 1 and colour:
        hints.append("It looks like a colour image: convert it to grayscale, e.g. "
                     "image.mean(axis=-1) or skimage.color.rgb2gray(image)")
    elif channels == 3 and len(shape) == 2:
        hints.append("It is a grayscale image: stack it to three channels, e.g. "
                     "np.stack([image] * 3, axis=-1)")
    first = len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4)
    spatial = tuple(shape[-2:]) if len(shape) == 2 or first else tuple(shape[:2])
    if height is not None and spatial != (height, width):
        hints.append(f"resize it to {height}x{width} as the training images were (e.g. "
                     f"skimage.transform.resize(image, ({height}, {width})))")
    if not hints:
        return "Pass it in the layout of the training images."
    text = "; ".join(hints)
    return text[0].upper() + text[1:] + "."

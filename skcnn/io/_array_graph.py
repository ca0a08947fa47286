"""The preprocessing skcnn applies to NumPy image arrays, as a traceable torch module.

Array input to skcnn's estimators goes through :func:`skcnn.data.arrays.images_to_array`
(layout to ``(N, C, H, W)``, ``uint8`` to [0, 1]); the pretrained estimators then
turn each image into 8-bit pixels and prepare it with Pillow
(:class:`skcnn.data.transforms.PilPreprocess`: gray to RGB, resize of the
shorter side, center crop, scaling and normalisation). :class:`ArrayPreprocess`
does the same with tensor operations, so that an exported graph takes the same
arrays as the estimator. Pillow's resize is reproduced exactly (see
:mod:`skcnn.io._pil_resize`), so the network sees the same pixels.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.arrays import flat_to_image_shape, infer_data_format
from ._pil_resize import PRECISION_BITS, resample_matrix

__all__ = ["ArraySpec", "ArrayPreprocess", "array_spec", "resized_output_size",
           "center_crop_box"]

_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.float32): torch.float32,
           np.dtype(np.float64): torch.float64}


@dataclass(frozen=True)
class ArraySpec:
    """What one batch of the graph's input looks like and how it becomes ``(N, C, H, W)``.

    Attributes
    ----------
    dtype : numpy.dtype
        uint8, float32 or float64.
    shape : tuple of int
        Shape of one image as given (without the batch axis).
    layout : {'flat', 'gray', 'channels_first', 'channels_last'}
    image_shape : tuple of int
        ``(C, H, W)`` after the layout is applied.
    """

    dtype: np.dtype
    shape: tuple
    layout: str
    image_shape: tuple

    def describe(self):
        """The input as a sentence for docs and errors."""
        names = {"flat": "flat rows", "gray": "grayscale images (N, H, W)",
                 "channels_first": "channels-first images (N, C, H, W)",
                 "channels_last": "channels-last images (N, H, W, C)"}
        return (f"{self.dtype.name} {names[self.layout]} of shape (N, "
                f"{', '.join(map(str, self.shape))})")


def array_spec(shape, dtype, *, input_shape=None, data_format="auto"):
    """The :class:`ArraySpec` that skcnn's array reading gives a batch of ``shape``.

    Mirrors :func:`skcnn.data.arrays.images_to_array`.
    """
    dtype = np.dtype(dtype)
    if dtype not in _DTYPES:
        raise ValueError(
            f"The graph can take uint8, float32 or float64 images; got {dtype}. Convert the "
            "sample with X.astype(np.float32) (or np.uint8 for 0-255 pixels).")
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return ArraySpec(dtype, shape[1:], "flat", flat_to_image_shape(shape[1], input_shape))
    if len(shape) == 3:
        return ArraySpec(dtype, shape[1:], "gray", (1, *shape[1:]))
    if len(shape) != 4:
        raise ValueError(f"Expected a batch of images (2, 3 or 4 dimensions); got shape {shape}.")
    fmt = infer_data_format(shape) if data_format == "auto" else data_format
    if fmt == "channels_last":
        return ArraySpec(dtype, shape[1:], fmt, (shape[3], shape[1], shape[2]))
    return ArraySpec(dtype, shape[1:], fmt, shape[1:])


def resized_output_size(height, width, size):
    """``(H, W)`` after torchvision's ``resize(image, size)`` (shorter side to ``size``)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop_box(height, width, crop_height, crop_width):
    """``(top, left)`` of torchvision's ``center_crop`` on an image larger than the crop."""
    return (int(round((height - crop_height) / 2.0)), int(round((width - crop_width) / 2.0)))


def _fixed_point_round(x):
    """Pillow's ``clip8``: drop the 22 fractional bits with rounding, clip to 0-255."""
    scale = float(1 << PRECISION_BITS)
    return torch.clamp(torch.floor((x + scale / 2) / scale), 0.0, 255.0)


class ArrayPreprocess(nn.Module):
    """Map a batch of arrays to the float32 ``(N, C, H, W)`` tensor skcnn feeds a network.

    Parameters
    ----------
    spec : ArraySpec
        The input batch.
    config : skcnn.plugins.PreprocessConfig or None
        The pretrained preprocessing (None: only layout and ``uint8`` scaling,
        as :class:`~skcnn.CNNClassifier` does).
    """

    def __init__(self, spec, config=None):
        super().__init__()
        self.layout = spec.layout
        self.image_shape = tuple(spec.image_shape)
        self.uint8 = spec.dtype == np.uint8
        self.pretrained = config is not None
        channels, height, width = self.image_shape
        if config is None:
            return
        if channels not in (1, 3):
            raise ValueError(
                f"The graph reproduces skcnn's preprocessing for 1-channel (gray) and 3-channel "
                f"(RGB) images; this input has {channels} channels. Drop the alpha channel "
                "(X[..., :3]) of RGBA images before exporting and before predicting.")
        self.gray_to_rgb = channels == 1 and config.channels == 3
        self.rgb_to_gray = channels == 3 and config.channels == 1
        out_h, out_w = resized_output_size(height, width, config.resize_size)
        crop_h, crop_w = config.input_size
        if crop_h > out_h or crop_w > out_w:
            raise ValueError(
                f"The backbone's crop ({crop_h}x{crop_w}) is larger than the resized image "
                f"({out_h}x{out_w}); the graph cannot pad as torchvision does.")
        top, left = center_crop_box(out_h, out_w, crop_h, crop_w)
        self.crop = (top, left, crop_h, crop_w)
        # Only the rows and columns that survive the crop are computed (same values).
        self.resize_h = out_h != height
        self.resize_w = out_w != width
        if self.resize_h:
            rows = resample_matrix(height, out_h, config.interpolation)[top:top + crop_h]
            self.register_buffer("rows", torch.from_numpy(rows.astype(np.float64)))
        if self.resize_w:
            cols = resample_matrix(width, out_w, config.interpolation)[left:left + crop_w]
            self.register_buffer("cols_t", torch.from_numpy(cols.T.astype(np.float64).copy()))
        self.register_buffer("mean", torch.tensor(config.mean, dtype=torch.float32)
                             .reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(config.std, dtype=torch.float32)
                             .reshape(1, -1, 1, 1))

    def _to_nchw(self, x):
        if self.layout == "flat":
            return x.reshape(-1, *self.image_shape)
        if self.layout == "gray":
            return x.unsqueeze(1)
        if self.layout == "channels_last":
            return x.permute(0, 3, 1, 2)
        return x

    def forward(self, x):
        x = self._to_nchw(x)
        if not self.pretrained:  # images_to_array
            return x.to(torch.float32) / 255.0 if self.uint8 else x.to(torch.float32)
        # array_to_pil: 8-bit pixels (floats in [0, 1] are rounded, as np.rint does)
        if self.uint8:
            pixels = x.to(torch.float64)
        else:
            pixels = torch.clamp(torch.round(x.to(torch.float32).to(torch.float64) * 255.0),
                                 0.0, 255.0)
        if self.rgb_to_gray:  # PIL's convert("L"): ITU-R 601-2 luma in fixed point
            pixels = torch.floor((pixels[:, 0:1] * 19595.0 + pixels[:, 1:2] * 38470.0
                                  + pixels[:, 2:3] * 7471.0 + 32768.0) / 65536.0)
        top, left, crop_h, crop_w = self.crop
        # Pillow resizes horizontally, then vertically, rounding to 8 bits after each pass.
        if self.resize_w:
            pixels = _fixed_point_round(torch.matmul(pixels, self.cols_t))
        else:
            pixels = pixels[:, :, :, left:left + crop_w]
        if self.resize_h:
            pixels = _fixed_point_round(torch.matmul(self.rows, pixels))
        else:
            pixels = pixels[:, :, top:top + crop_h, :]
        if self.gray_to_rgb:  # as_rgb: L -> RGB repeats the channel
            pixels = pixels.expand(-1, 3, -1, -1)
        x = pixels.to(torch.float32) / 255.0
        return (x - self.mean) / self.std

"""Pillow's resampling as two integer matrices, so a graph can resize exactly as PIL does.

skcnn resizes array images with Pillow (``Image.resize``, which always
antialiases when it shrinks). Pillow resamples 8-bit images in two passes,
horizontal then vertical, each a weighted sum with fixed-point integer
weights (22 fractional bits), rounded and clipped back to 8 bits. For a fixed
input size those weights form two matrices; applying them as matrix products
in float64 (every product and sum is an integer below 2**53, so exact)
followed by the same rounding reproduces Pillow's pixels bit for bit. This
module computes the matrices as Pillow's ``Resample.c`` does (Pillow >= 4.3).
"""

import math

import numpy as np

__all__ = ["PRECISION_BITS", "resample_matrix", "PIL_FILTERS"]

#: Fractional bits of Pillow's fixed-point weights for 8-bit images (32 - 8 - 2).
PRECISION_BITS = 22


def _box(x):
    return 1.0 if -0.5 <= x < 0.5 else 0.0


def _bilinear(x):
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


def _hamming(x):
    x = abs(x)
    if x == 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    x = x * math.pi
    return math.sin(x) / x * (0.54 + 0.46 * math.cos(x))


def _bicubic(x, a=-0.5):
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _sinc(x):
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x):
    return _sinc(x) * _sinc(x / 3.0) if -3.0 <= x < 3.0 else 0.0


#: interpolation name -> (filter, support), as in Pillow's Resample.c.
PIL_FILTERS = {
    "box": (_box, 0.5),
    "bilinear": (_bilinear, 1.0),
    "hamming": (_hamming, 1.0),
    "bicubic": (_bicubic, 2.0),
    "lanczos": (_lanczos, 3.0),
}


def resample_matrix(in_size, out_size, interpolation):
    """Pillow's fixed-point weights resizing a line of ``in_size`` pixels to ``out_size``.

    Returns
    -------
    weights : ndarray of shape (out_size, in_size), int64
        ``out[i] = clip((weights[i] @ line + 2**21) >> 22, 0, 255)`` is
        Pillow's output pixel ``i``.
    """
    try:
        filter_fn, filter_support = PIL_FILTERS[interpolation]
    except KeyError:
        raise ValueError(
            f"interpolation {interpolation!r} cannot be reproduced exactly in the graph; "
            f"use one of {', '.join(map(repr, PIL_FILTERS))}.") from None
    scale = filterscale = in_size / out_size
    if filterscale < 1.0:
        filterscale = 1.0
    support = filter_support * filterscale
    weights = np.zeros((out_size, in_size), dtype=np.int64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        values = [filter_fn((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        total = sum(values)
        for x, value in enumerate(values):
            if total != 0.0:
                value /= total
            fixed = value * (1 << PRECISION_BITS)
            weights[xx, xmin + x] = int(fixed - 0.5) if value < 0 else int(fixed + 0.5)
    return weights

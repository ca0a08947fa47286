"""Data sets that ship with the software, shaped as images."""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.utils import Bunch

__all__ = ["load_digits_images"]


def _resize(images, size):
    """Bilinear resize of ``(N, H, W)`` float images to ``size`` x ``size``."""
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False,
                            antialias=size < images.shape[-1])
    return resized[:, 0].clamp_(0.0, 1.0).numpy()


def load_digits_images(*, size=None, return_X_y=False):
    """scikit-learn's 1,797 handwritten digits as ``float32`` images in [0, 1].

    Parameters
    ----------
    size : int, default=None
        Resize the 8x8 images to ``size`` x ``size`` (bilinear). The default
        :class:`~skcnn.CNNClassifier` network needs at least 10x10.
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : Bunch with ``images`` (N, H, W), ``target`` (N,), ``target_names``
        and ``DESCR``; or ``(images, target)`` when ``return_X_y=True``.
    """
    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"size must be a positive int; got {size!r}.")
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    if size is not None and size != images.shape[-1]:
        images = _resize(images, int(size))
    if return_X_y:
        return images, digits.target
    return Bunch(images=images, target=digits.target, target_names=digits.target_names,
                 DESCR=digits.DESCR)

"""Training-time augmentation and test-time augmentation (TTA), shared by every classifier.

Augmentation runs on batches of already-prepared ``(N, C, H, W)`` float
tensors, image by image, inside the training iterator: it touches only the
images a ``fit`` trains on, never a validation split or the data that
``predict`` sees (except through ``tta``).

Presets
-------
``'light'``
    Small shifts and zooms (random resized crop of 85-100% of the area, aspect
    0.9-1.1): safe for digits and other orientation-sensitive images.
``'standard'``
    ``'light'`` with a wider zoom (70-100%), horizontal flips, rotations of up
    to 10 degrees and brightness/contrast jitter of 20%: for photos.
"""

import math

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

__all__ = ["AUGMENT_PRESETS", "make_augmentation", "BatchAugmenter", "check_augment",
           "describe_augmentation", "RandomShift", "RandomResizedCropFlip"]

AUGMENT_PRESETS = ("light", "standard")


def _preset(name, size):
    if name == "light":
        return v2.RandomResizedCrop(size, scale=(0.85, 1.0), ratio=(0.9, 1.1), antialias=True)
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(0.85, 1.15), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomRotation(10),
        _BrightnessContrast(0.2),
    ])


class _BrightnessContrast(torch.nn.Module):
    """Brightness and contrast jitter for normalised tensors (any value range)."""

    def __init__(self, strength):
        super().__init__()
        self.strength = strength

    def forward(self, image):
        low, high = 1 - self.strength, 1 + self.strength
        brightness = torch.empty(()).uniform_(low, high)
        contrast = torch.empty(()).uniform_(low, high)
        mean = image.mean()
        return (image - mean) * contrast + mean * brightness


def check_augment(augment):
    """Validate the ``augment`` parameter; raise a clear error for a bad value."""
    if augment is None or (isinstance(augment, str) and augment in AUGMENT_PRESETS):
        return
    if isinstance(augment, str):
        raise ValueError(f"Unknown augment preset {augment!r}; choose None, "
                         f"{', '.join(map(repr, AUGMENT_PRESETS))} or a callable transform.")
    if not callable(augment):
        raise ValueError(
            f"augment must be None, {', '.join(map(repr, AUGMENT_PRESETS))} or a callable that "
            f"maps an image tensor (C, H, W) to an augmented one (e.g. a torchvision "
            f"transform); got a {type(augment).__name__}, which is not callable."
        )


class BatchAugmenter:
    """Apply a per-image transform to every image of a ``(N, C, H, W)`` batch.

    Parameters
    ----------
    transform : callable
        Maps one ``(C, H, W)`` tensor to one of the same shape.
    """

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, batch):
        out = torch.stack([self.transform(image) for image in batch])
        if out.shape != batch.shape:
            raise ValueError(
                f"The augmentation changed the image shape from {tuple(batch.shape[1:])} to "
                f"{tuple(out.shape[1:])}; it must keep the size (e.g. RandomResizedCrop to the "
                "same size)."
            )
        return out


def make_augmentation(augment, image_size):
    """A :class:`BatchAugmenter` for ``augment`` (None for no augmentation).

    Parameters
    ----------
    augment : None, 'light', 'standard' or callable
    image_size : tuple of int
        ``(H, W)`` of the prepared images; augmentation keeps it.
    """
    check_augment(augment)
    if augment is None:
        return None
    if isinstance(augment, str):
        return BatchAugmenter(_preset(augment, tuple(image_size)))
    return BatchAugmenter(augment)


def describe_augmentation(augment):
    """What a fitted estimator's ``recipe_`` records for ``augment``: None, a preset's name,
    or the repr of a callable (text, so that :func:`skcnn.save` can store it as data)."""
    if augment is None or isinstance(augment, str):
        return augment
    return repr(augment)


class RandomShift:
    """Batch augmentation: shift each image by a random whole number of pixels (zero
    fill) and, with ``flip``, mirror half of them left-right.

    Vectorised over the batch (one gather), so it costs next to nothing per epoch.

    Parameters
    ----------
    max_shift : tuple of int
        ``(rows, columns)``: largest shift in each direction.
    flip : bool
        Random horizontal flips (photos; not digits or text).
    """

    def __init__(self, max_shift, flip=False):
        self.max_shift = tuple(int(s) for s in max_shift)
        self.flip = bool(flip)

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift}, flip={self.flip})"

    def __call__(self, batch):
        n, _, height, width = batch.shape
        sh, sw = self.max_shift
        padded = F.pad(batch, (sw, sw, sh, sh))
        dy = torch.randint(0, 2 * sh + 1, (n, 1))
        dx = torch.randint(0, 2 * sw + 1, (n, 1))
        rows = torch.arange(height)[None, :] + dy  # (n, H) rows of the padded images
        cols = torch.arange(width)[None, :] + dx  # (n, W)
        if self.flip:
            mirror = torch.rand(n) < 0.5
            cols = torch.where(mirror[:, None], cols.flip(1), cols)
        index = torch.arange(n)[:, None, None]
        out = padded[index, :, rows[:, :, None], cols[:, None, :]]  # (n, H, W, C)
        return out.permute(0, 3, 1, 2).contiguous()


class RandomResizedCropFlip:
    """Batch augmentation for photos: a random crop of each image (``scale`` of its area,
    aspect ratio in ``ratio``), resized to ``size`` x ``size``, mirrored left-right half of
    the time (Inception-style crops).

    The output may be smaller than the input (training at a lower resolution than
    prediction; the network's global pooling takes any size).
    """

    def __init__(self, size, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), flip=True):
        self.size = int(size)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.flip = bool(flip)

    def __repr__(self):
        return (f"RandomResizedCropFlip(size={self.size}, scale={self.scale}, "
                f"flip={self.flip})")

    def _box(self, height, width):
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * float(torch.empty(1).uniform_(*self.scale))
            aspect = math.exp(float(torch.empty(1).uniform_(*log_ratio)))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (1,)))
                left = int(torch.randint(0, width - w + 1, (1,)))
                return top, left, h, w
        return 0, 0, height, width  # (no crop found: the whole image)

    def __call__(self, batch):
        _, _, height, width = batch.shape
        crops = []
        for image in batch:
            top, left, h, w = self._box(height, width)
            crop = image[None, :, top:top + h, left:left + w]
            crop = F.interpolate(crop, size=(self.size, self.size), mode="bilinear",
                                 align_corners=False, antialias=True)
            if self.flip and bool(torch.rand(1) < 0.5):
                crop = crop.flip(3)
            crops.append(crop)
        return torch.cat(crops)

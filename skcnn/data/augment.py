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

import torch
from torchvision.transforms import v2

__all__ = ["AUGMENT_PRESETS", "make_augmentation", "BatchAugmenter", "check_augment",
           "describe_augmentation"]

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

"""Preparing images the way a pretrained network expects, and streaming them in batches."""

import queue
import threading
import warnings

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from ..exceptions import InputError
from ..utils._hardware import default_num_workers
from .arrays import images_to_array
from .images import array_to_pil, as_rgb, open_image, readable_image

__all__ = ["PilPreprocess", "ImageItems", "iterate_batches", "check_array_images",
           "prepare_tensor", "MAX_RESIZED_PIXELS", "resized_size", "check_resized_size"]

#: The most pixels an image may have once its shorter side is resized (before the
#: center crop): 2**24, 64 MB as a PIL RGB image. Pillow's ``MAX_IMAGE_PIXELS`` bounds
#: an image before resizing; this bounds it after, where a thin image grows by the
#: factor of its shorter side (a 60,000 x 1 image resized to a 256-pixel shorter side
#: would be 15,360,000 x 256). At a 256-pixel shorter side it admits aspect ratios up
#: to 256:1.
MAX_RESIZED_PIXELS = 2**24


def _too_small(height, width):
    """A single pixel has no spatial structure to upsample; anything larger can be resized."""
    return height * width < 2


_INTERPOLATION = {
    "bilinear": TF.InterpolationMode.BILINEAR,
    "bicubic": TF.InterpolationMode.BICUBIC,
    "nearest": TF.InterpolationMode.NEAREST,
    "lanczos": TF.InterpolationMode.LANCZOS,
    "box": TF.InterpolationMode.BOX,
    "hamming": TF.InterpolationMode.HAMMING,
}


def resized_size(width, height, resize_size):
    """``(width, height)`` after torchvision's ``resize(image, resize_size)`` (shorter side)."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(resize_size * long / short)
    return (resize_size, new_long) if width <= height else (new_long, resize_size)


def check_resized_size(width, height, resize_size, name):
    """Raise an :class:`~skcnn.exceptions.InputError` naming ``name`` when resizing
    a ``width x height`` image's shorter side to ``resize_size`` gives more than
    :data:`MAX_RESIZED_PIXELS` pixels. Nothing is allocated before the check.
    """
    if min(width, height) < 1:
        return  # an empty image: the size checks of the caller explain it
    new_width, new_height = resized_size(width, height, resize_size)
    if new_width * new_height <= MAX_RESIZED_PIXELS:
        return
    short, long = sorted((width, height))
    ratio = long / short
    limit = MAX_RESIZED_PIXELS // (resize_size * resize_size)
    raise InputError(
        f"{name} is {width}x{height} pixels, an aspect ratio of {ratio:,.0f}:1: resizing its "
        f"shorter side to {resize_size} pixels would make it {new_width}x{new_height} "
        f"({new_width * new_height:,} pixels), more than the limit of {MAX_RESIZED_PIXELS:,} "
        "(skcnn.data.transforms.MAX_RESIZED_PIXELS). Crop it to the part that matters (or "
        f"pad it) to an aspect ratio of at most {limit}:1 first, or remove it.")


class PilPreprocess:
    """Resize the shorter side, center-crop, scale to [0, 1] and normalise one PIL image.

    Parameters
    ----------
    input_size : tuple of int
        ``(H, W)`` the network is fed.
    resize_size : int
        Shorter side after resizing, before the crop.
    mean, std : tuple of float
        Per-channel normalisation.
    interpolation : {'bilinear', 'bicubic', 'nearest'}
    channels : int, default=3
        3 converts every image to RGB, 1 to grayscale.
    position : float in [0, 1] or None, default=None
        Where the crop sits along the image's slack (the longer side): 0 the left or
        top end, 0.5 the center, 1 the right or bottom end. None: the center.
    """

    def __init__(self, input_size, resize_size, mean, std, interpolation="bilinear", channels=3,
                 position=None):
        self.input_size = tuple(input_size)
        self.resize_size = int(resize_size)
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = interpolation
        self.channels = channels
        self.position = position

    @classmethod
    def from_config(cls, config):
        """The transform a :class:`~skcnn.plugins.PreprocessConfig` describes."""
        return cls(config.input_size, config.resize_size, config.mean, config.std,
                   config.interpolation, config.channels)

    @classmethod
    def view_of(cls, config, position):
        """A crop of the whole shorter side of the image (resized to the input's longer
        side) at ``position`` along the longer side: one of several views that together
        cover an elongated image, where the center crop of ``config`` cuts its ends off."""
        return cls(config.input_size, max(config.input_size), config.mean, config.std,
                   config.interpolation, config.channels, position=float(position))

    def check_size(self, width, height, name="an image"):
        """Refuse an image that resizing would make too large (:func:`check_resized_size`)."""
        check_resized_size(width, height, self.resize_size, name)

    def __call__(self, image):
        self.check_size(*image.size)
        image = as_rgb(image)  # composites transparency on white
        if self.channels != 3:
            image = image.convert("L")
        image = TF.resize(image, self.resize_size, interpolation=_INTERPOLATION[self.interpolation],
                          antialias=True)
        if self.position is None:
            image = TF.center_crop(image, list(self.input_size))
        else:
            height, width = self.input_size
            image = TF.crop(image, round((image.height - height) * self.position),
                            round((image.width - width) * self.position), height, width)
        tensor = TF.pil_to_tensor(image).float().div_(255.0)
        return TF.normalize(tensor, self.mean, self.std)


#: Channels an array image can have to become a PIL image (L, LA, RGB, RGBA).
_PIL_CHANNELS = (1, 2, 3, 4)


def check_array_images(X):
    """Validate an array of images; return it as ``(N, C, H, W)`` in [0, 1] floats or uint8.

    Floats are expected in [0, 1]; ``uint8`` in 0-255.
    """
    raw = np.asarray(X) if not hasattr(X, "dtype") else X
    array = images_to_array(raw)  # validates NaN/inf, dims, emptiness; uint8 -> [0, 1]
    low, high = float(array.min()), float(array.max())
    if low < -1e-6 or high > 1 + 1e-6:
        warnings.warn(
            f"X holds float pixel values outside [0, 1] (from {low:.3g} to {high:.3g}); they "
            "are clipped. Scale float images to [0, 1] (e.g. X / X.max()) or pass uint8.",
            UserWarning, stacklevel=3)
    channels, height, width = array.shape[1:]
    if channels not in _PIL_CHANNELS:
        raise InputError(
            f"images have {channels} channels (shape {'x'.join(map(str, array.shape[1:]))}, "
            "channels x height x width); a pretrained network reads 1 (gray), 2 (gray and "
            "alpha), 3 (RGB) or 4 (RGBA) channels. Pass 3 of them (e.g. X[..., :3]), or use "
            "CNNClassifier, which learns from any number of channels."
        )
    if _too_small(height, width):
        raise InputError(
            f"images are {height}x{width} pixels ({height * width} feature(s) per flat row); "
            "a pretrained network needs images of at least 2 pixels to resize. Pass real "
            "images, or use CNNClassifier or a classical model for such inputs."
        )
    return array


class ImageItems(torch.utils.data.Dataset):
    """Index-addressable images of one kind, preprocessed on access.

    ``__getitem__`` returns ``(tensor, index)``; a failure names the item.
    A transform with a ``check_size(width, height, name)`` method (such as
    :class:`PilPreprocess`) sees each image's size before it is decoded
    (files) or resized.
    """

    def __init__(self, items, kind, transform):
        self.items = items
        self.kind = kind
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def pil(self, index):
        """The item at ``index`` as a PIL image."""
        item = self.items[index]
        if self.kind == "path":
            return open_image(item, check_size=getattr(self.transform, "check_size", None))
        if self.kind == "array":  # validated arrays are (N, C, H, W)
            return array_to_pil(item, channels_first=True)
        if not isinstance(item, Image.Image):  # pragma: no cover - guarded by image_input
            raise InputError(f"item {index} is not a PIL image")
        return readable_image(item, name=f"image {index}")

    def __getitem__(self, index):
        image = self.pil(index)
        if _too_small(*image.size):
            where = repr(str(self.items[index])) if self.kind == "path" else f"image {index}"
            raise InputError(
                f"{where} is {image.size[0]}x{image.size[1]} pixels; a pretrained network needs "
                "images of at least 2 pixels to resize. Remove it or pass the real image."
            )
        check_size = getattr(self.transform, "check_size", None)
        if check_size is not None and self.kind != "path":  # files: checked before decoding
            check_size(*image.size, f"image {index}")
        return self.transform(image), index


def _worker_init(_):
    # Decoding workers each use one thread: the main process runs the network.
    torch.set_num_threads(1)


def iterate_batches(dataset, batch_size, num_workers):
    """Yield ``(batch_tensor, indices)`` in order, decoding in ``num_workers`` processes.

    Memory stays bounded by a few batches whatever the dataset size.
    """
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        worker_init_fn=_worker_init if num_workers else None,
        prefetch_factor=2 if num_workers else None,
        persistent_workers=False,
    )
    iterator = iter(loader)
    try:
        if num_workers == 0 and len(dataset) > batch_size:
            # No decoding processes (too little work, or a daemonic Dask worker): decode
            # the next batch in a thread while the network runs (PIL and torch release
            # the GIL).
            yield from _prefetched(iterator)
        else:
            yield from iterator
    finally:
        # After a failing item the iterator would otherwise live on in the traceback and
        # its worker processes would block for seconds whenever it is garbage-collected.
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def _prefetched(iterator, depth=1):
    """Yield ``iterator``'s items, producing up to ``depth`` ahead in a thread.

    An exception in the producer is raised here, at the item where it
    happened; closing the generator early stops the thread.
    """
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry):
        """Queue ``entry`` unless the consumer has gone; True if it was queued."""
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as exc:  # handed to the consumer
            put((done, exc))

    thread = threading.Thread(target=produce, name="skcnn-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def prepare_tensor(dataset, num_workers="auto", batch_size=64):
    """Preprocess every item of ``dataset`` into one float32 tensor ``(N, C, H, W)``.

    Used by training, which revisits each image every epoch: decoding and
    resizing happen once.
    """
    first, _ = dataset[0]
    out = torch.empty((len(dataset), *first.shape), dtype=torch.float32)
    workers = default_num_workers(len(dataset), batch_size) if num_workers == "auto" \
        else int(num_workers)
    for batch, index in iterate_batches(dataset, batch_size, workers):
        out[index] = batch
    return out


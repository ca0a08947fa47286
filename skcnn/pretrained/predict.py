"""Classify images with a backbone's own ImageNet head (keras.applications style)."""

import numpy as np
import torch

from ..data.inputs import image_input
from ..data.transforms import ImageItems, PilPreprocess
from ..utils._dask import limit_torch_threads
from ..utils._hardware import resolve_device
from ._inference import run_model
from .backbones import resolve_backbone
from .imagenet import decode_predictions

__all__ = ["predict_imagenet_proba", "classify_images"]


def predict_imagenet_proba(images, *, backbone="efficientnet_lite0", batch_size="auto",
                           device="auto", precision="auto", verbose=0):
    """ImageNet class probabilities of each image.

    Parameters
    ----------
    images : array of images, PIL images or file paths
        In any container :class:`~skcnn.PretrainedFeatures` accepts (lists,
        Series, one-column DataFrames of paths, generators, ...).
    backbone : str or BackbonePlugin, default='efficientnet_lite0'
        A backbone whose network keeps its ImageNet classifier.
    batch_size, device, precision, verbose
        As in :class:`~skcnn.PretrainedFeatures`.

    Returns
    -------
    proba : ndarray of shape (N, n_classes)
    class_names : list of str
    """
    limit_torch_threads()
    items, kind = image_input(None, images, reset=True)
    loaded = resolve_backbone(backbone).load()
    if not loaded.class_names:
        raise ValueError(
            f"Backbone {loaded.name!r} has no ImageNet classifier with class names; choose one "
            "that does, e.g. backbone='efficientnet_lite0'."
        )
    config = loaded.preprocess
    dataset = ImageItems(items, kind, PilPreprocess.from_config(config))
    device = resolve_device(device)
    logits = run_model(loaded.model.to(device), dataset, len(loaded.class_names), device=device,
                       batch_size=batch_size, precision=precision, channels_last=False,
                       num_workers="auto", verbose=verbose, desc="classifying")
    proba = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    return proba, list(loaded.class_names)


def classify_images(images, *, backbone="efficientnet_lite0", top=5, **kwargs):
    """Top ImageNet classes of each image: a list, per image, of ``(class_name, probability)``.

    >>> from skimage.data import chelsea
    >>> classify_images(chelsea()[None], top=3)  # doctest: +SKIP
    [[('Egyptian cat', 0.79...), ('tabby', ...), ('tiger cat', ...)]]
    """
    proba, class_names = predict_imagenet_proba(images, backbone=backbone, **kwargs)
    return decode_predictions(np.asarray(proba), top=top, class_names=class_names)

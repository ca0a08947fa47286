"""The network that fine-tuning trains (backbone trunk, pooling, new head), its stages,
and the small helpers of the fine-tuning estimators."""

import torch
from PIL import Image
from skorch.callbacks import Callback
from torch import nn

from ..utils._hardware import resolve_precision
from ._lpft import auto_backbone
from .backbones import resolve_backbone
from .features import GlobalPool

__all__ = ["FineTuneNet", "backbone_stages", "Unfreeze", "header_shape", "source_shape",
           "training_precision",
           "smoothing_kwargs", "resolve_unless_auto", "chosen_backbone"]

_FORWARD_FEATURES = "forward_features"


def backbone_stages(model, layer_names):
    """Split the backbone's parameters into ordered stages.

    Stage boundaries are the named layers (``layer_names``, outermost
    containers dropped when their children are listed). Parameters outside any
    named layer join the stage that runs before them (the stem joins the first).

    Returns
    -------
    stages : list of (str, list of str)
        Stage name and the names of its parameters, first stage first.
    """
    names = [n for n in layer_names if n != _FORWARD_FEATURES]
    names = [n for n in names if not any(other.startswith(n + ".") for other in names)]
    stages = [(name, []) for name in names] or [("backbone", [])]
    current = 0
    for param_name, _ in model.named_parameters():
        for index, (name, _) in enumerate(stages):
            if param_name.startswith(name + "."):
                current = index
                break
        stages[current][1].append(param_name)
    return [(name, params) for name, params in stages if params]


class FineTuneNet(nn.Module):
    """Backbone trunk, global average pooling and a new classification head.

    With ``freeze_bn`` the backbone's BatchNorm layers stay in inference mode
    (they keep their ImageNet statistics) even while the net trains.
    """

    def __init__(self, trunk, n_features, n_classes, hidden_units=(), dropout=0.0,
                 freeze_bn=True):
        super().__init__()
        # Channels-last weights make oneDNN and cuDNN convolutions take channels-last
        # paths even for NCHW batches: about 1.6x faster training and 1.7x faster
        # inference of the EfficientNet-Lite backbones on two CPU cores
        # (benchmarks/finetune_throughput.py).
        self.trunk = trunk.to(memory_format=torch.channels_last)
        self.pool = GlobalPool("avg")
        layers, width = [], n_features
        for units in hidden_units:
            layers += [nn.Dropout(dropout), nn.Linear(width, units), nn.ReLU()]
            width = units
        layers += [nn.Dropout(dropout), nn.Linear(width, n_classes)]
        self.head = nn.Sequential(*layers)
        self.freeze_bn = freeze_bn

    def train(self, mode=True):
        super().train(mode)
        if mode and self.freeze_bn:
            for module in self.trunk.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x):
        return self.head(self.pool(self.trunk(x)))


class Unfreeze(Callback):
    """Train the head alone for ``freeze_epochs`` epochs, then the chosen backbone stages."""

    def __init__(self, freeze_epochs, trainable):
        self.freeze_epochs = freeze_epochs
        self.trainable = trainable

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)  # 1-based number of the epoch that starts
        unfrozen = epoch > self.freeze_epochs
        for name, param in net.module_.trunk.named_parameters():
            param.requires_grad_(unfrozen and name in self.trainable)


def smoothing_kwargs(estimator):
    """``criterion__label_smoothing`` of a single-label classifier (none for multi-label)."""
    smoothing = getattr(estimator, "label_smoothing", 0.0)
    if smoothing and not estimator._is_multilabel():
        return {"label_smoothing": float(smoothing)}
    return {}


def header_shape(item):
    """``(C, H, W)`` of a PIL image or an image file (its header only); None if unreadable
    (reading the image gives the clear error)."""
    try:
        image = item if isinstance(item, Image.Image) else Image.open(item)
        try:
            return (len(image.getbands()), image.height, image.width)
        finally:
            if image is not item:
                image.close()
    except (OSError, TypeError, ValueError, Image.DecompressionBombError):
        return None


def source_shape(items, kind):
    """``(C, H, W)`` of the images as given (what ``augment='auto'`` looks at): of the
    array, or of the first PIL image or file (its header only); None if unreadable."""
    if kind == "array":
        return tuple(int(s) for s in items.shape[1:])
    return header_shape(items[0]) if len(items) else None


def training_precision(precision, device):
    """Autocast dtype for training, or None for plain float32."""
    dtype = resolve_precision(precision, device)
    return None if dtype == torch.float32 else dtype


def resolve_unless_auto(backbone):
    """The plugin ``backbone`` stands for; 'auto' stays 'auto' (it depends on the images)."""
    if isinstance(backbone, str) and backbone == "auto":
        return backbone
    return resolve_backbone(backbone)


def chosen_backbone(backbone, shape):
    """``(name, plugin)`` of the backbone a fit uses: 'auto' resolved for images of
    ``source_shape`` ``shape`` (:func:`~._lpft.auto_backbone`); a plugin's name otherwise."""
    if isinstance(backbone, str) and backbone == "auto":
        backbone = auto_backbone(shape)
    plugin = resolve_backbone(backbone)
    return (backbone if isinstance(backbone, str) else plugin.name), plugin

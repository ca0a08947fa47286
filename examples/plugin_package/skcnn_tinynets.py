"""Example skcnn plugins.

* ``TinyNet`` (entry point ``tinynet`` in group ``skcnn.architectures``): a small
  network that :class:`skcnn.CNNClassifier` trains from scratch.
* ``RandomConvBackbone`` (entry point ``random_conv`` in group ``skcnn.backbones``):
  a fixed, randomly initialised convolutional network that
  :class:`skcnn.PretrainedFeatures` and :class:`skcnn.FineTunedClassifier` can
  use like a pretrained one. Its weights come from a seed, so nothing is
  downloaded; a real plugin loads its trained weights in ``load()``.
"""

import hashlib
import os

import torch
from torch import nn

from skcnn.exceptions import ImageTooSmallError
from skcnn.plugins import ArchitecturePlugin, Backbone, BackbonePlugin, PreprocessConfig

__all__ = ["TinyNet", "RandomConvBackbone"]


class TinyNet(ArchitecturePlugin):
    """Two 3x3 convolution blocks, global average pooling, a linear classifier.

    Works on any image of at least 4x4 pixels, with any number of channels.

    Parameters
    ----------
    channels : int, default=16
        Filters of the first block; the second block has twice as many.
    dropout : float, default=0.0
        Dropout before the classifier.
    """

    def __init__(self, *, channels=16, dropout=0.0):
        # Only store the arguments (scikit-learn's rule): clone(), get_params()
        # and CNNClassifier(architecture__channels=...) rely on it.
        self.channels = channels
        self.dropout = dropout

    def check_input(self, meta):
        # Called before build(): reject data the network cannot handle, saying why.
        if meta.height < 4 or meta.width < 4:
            raise ImageTooSmallError(
                f"TinyNet needs images of at least 4x4 pixels; got {meta.height}x{meta.width}."
            )

    def build(self, meta):
        # meta: in_channels, height, width, n_outputs (an skcnn.InputMeta).
        c = int(self.channels)
        return nn.Sequential(
            nn.Conv2d(meta.in_channels, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Dropout(self.dropout),
            nn.Linear(2 * c, meta.n_outputs),  # logits, one per class
        )


class RandomConvNet(nn.Module):
    """The backbone's network: named stages, then a classification head."""

    def __init__(self, width, n_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.stage1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                    nn.MaxPool2d(2))
        self.stage2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
                                    nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(2 * width, n_classes))
        for module in self.modules():  # He initialisation keeps the features' scale
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.head(self.stage2(self.stage1(self.stem(x))))


class RandomConvBackbone(BackbonePlugin):
    """A randomly initialised three-stage CNN, deterministic for a given seed.

    Its features (``2 * width`` per image at the default layer ``'stage2'``,
    ``width`` at ``'stem'`` and ``'stage1'``) are random projections: useful
    for tests and as a template, not for accuracy.

    Parameters
    ----------
    width : int, default=16
        Filters of the first stages; the last stage has twice as many.
    seed : int, default=0
        Seed of the random weights.
    weights : None or path-like, default=None
        ``None``: the seeded random weights. A path: a state dict saved with
        ``torch.save(model.state_dict(), path)`` for the same ``width``.
    """

    #: Where the network and its weights come from; shown by skcnn.list_backbones().
    source = "package:skcnn-tinynets (random weights, nothing to download)"

    def __init__(self, *, width=16, seed=0, weights=None):
        self.width = width
        self.seed = seed
        self.weights = weights

    @property
    def name(self):
        return "random_conv"

    def preprocess_config(self):
        # How images are prepared: shorter side resized to 32, center crop 32x32,
        # pixels scaled to [0, 1] then normalised to [-1, 1].
        return PreprocessConfig(input_size=(32, 32), resize_size=32, mean=(0.5, 0.5, 0.5),
                                std=(0.5, 0.5, 0.5), interpolation="bilinear")

    def weights_available_offline(self):
        return self.weights is None or os.path.isfile(self.weights)

    def weights_id(self):
        # Part of the feature cache's key: it must change whenever the weights do.
        if self.weights is None:
            return f"random_conv:width={self.width}:seed={self.seed}"
        with open(self.weights, "rb") as f:
            return "file-sha256:" + hashlib.sha256(f.read()).hexdigest()

    def load(self):
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's RNG
            torch.manual_seed(self.seed)
            model = RandomConvNet(int(self.width))
        if self.weights is not None:
            state = torch.load(self.weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        return Backbone(
            self.name,
            model.eval(),
            self.preprocess_config(),
            class_names=None,              # no ImageNet head: classify_images() refuses it
            layers=["stem", "stage1", "stage2"],  # valid values of PretrainedFeatures(layer=)
            default_layer="stage2",
            weights_id=self.weights_id(),
        )

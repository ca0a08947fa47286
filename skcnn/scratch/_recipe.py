"""The default recipe of CNNClassifier and CNNRegressor: a network that fits any image size,
the augmentation and the number of epochs chosen from the data (every ``'auto'`` parameter).

Everything here is a pure function of the input shape, the number of training images and
the task, so the same data always gives the same recipe (no timing, no device probing).
"""

from torch import nn

from ..data.augment import RandomShift
from ..plugins import ArchitecturePlugin
from .layers import make_activation

__all__ = ["AutoCNN", "RandomShift", "auto_augment", "auto_epochs", "auto_stages",
           "CLASSIC_DEFAULTS", "RECIPE_DEFAULTS"]

#: What each ``'auto'`` network parameter means when ``filters`` is set by hand (or another
#: architecture is used): the classic defaults of skcnn <= 0.x, so explicit settings keep
#: their documented meaning.
CLASSIC_DEFAULTS = {"hidden_units": (128,), "dropout": 0.0, "batch_norm": False,
                    "padding": "valid", "lr_schedule": "constant", "augment": None,
                    "max_epochs": 20}

#: ... and with ``filters='auto'`` (the default network).
RECIPE_DEFAULTS = {"hidden_units": (), "dropout": 0.2, "batch_norm": True, "padding": "same",
                   "lr_schedule": "onecycle"}

#: Peak learning rate of the default network with ``learning_rate=None`` (Adam, AdamW).
RECIPE_LEARNING_RATE = {"adam": 3e-3, "adamw": 3e-3}
CONVS_PER_STAGE = 2

#: Filters of the first stage; each further stage doubles them up to ``_MAX_WIDTH``.
_BASE_WIDTH, _MAX_WIDTH = 32, 128
#: Stages of the default network: at least 2, at most 5.
_MIN_STAGES, _MAX_STAGES = 2, 5
#: A side is halved by pooling only while it is at least this long (so it ends at 2 or 3).
_POOL_FROM = 4
#: Image passes the automatic epoch count aims at, and its bounds.
_EPOCH_IMAGES, _MIN_EPOCHS, _MAX_EPOCHS = 40_000, 8, 30
#: A side shorter than this is not shifted by ``augment='auto'``.
_MIN_SHIFT_SIDE = 6


def auto_stages(height, width):
    """Per stage, the ``(pool_h, pool_w)`` of the default network for ``height x width``
    images: a side is halved while it is at least 4 pixels, and stages are added until
    both sides are below 4 (at least 2, at most 5 stages; 1 means no pooling on that side)."""
    stages = []
    h, w = height, width
    while len(stages) < _MAX_STAGES and (len(stages) < _MIN_STAGES
                                         or max(h, w) >= _POOL_FROM):
        pool_h, pool_w = (2 if h >= _POOL_FROM else 1), (2 if w >= _POOL_FROM else 1)
        stages.append((pool_h, pool_w))
        h, w = -(-h // pool_h), -(-w // pool_w)
    return stages


class AutoCNN(ArchitecturePlugin):
    """The default network of :class:`~skcnn.CNNClassifier`: it fits any image size.

    Stages of [3x3 convolution ('same' padding) -> BatchNorm -> activation -> 2x2 max
    pooling], 32 filters doubling per stage up to 128, pooling a side only while it is at
    least 4 pixels long and adding stages until both sides are below 4 (2 to 5 stages: two
    for 8x8 digits, four for 28x28 or 32x32, five for 96x96; a 1xD strip pools along its
    length only, a 1x1 input is never pooled). Then global average pooling, dropout, the
    optional dense layers and the output layer.

    Parameters
    ----------
    filters : tuple of int or None, default=None
        Filters per stage; None chooses them from the image size as above.
    kernel_size : int, default=3
        Side of the square kernels.
    pooling : {'max', 'avg'}, default='max'
    hidden_units : tuple of int, default=()
        Dense layers between the global pooling and the output.
    activation : str, default='relu'
    dropout : float, default=0.2
        Dropout before each dense layer and the output.
    batch_norm : bool, default=True
    """

    def __init__(self, *, filters=None, kernel_size=3, pooling="max", hidden_units=(),
                 activation="relu", dropout=0.2, batch_norm=True, convs_per_stage=1):
        self.convs_per_stage = convs_per_stage
        self.filters = filters
        self.kernel_size = kernel_size
        self.pooling = pooling
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm

    def stage_filters(self, height, width):
        """``[(filters, (pool_h, pool_w)), ...]`` per stage for ``height x width`` images."""
        pools = auto_stages(height, width)
        if self.filters is None:
            widths = [min(_BASE_WIDTH * 2**i, _MAX_WIDTH) for i in range(len(pools))]
        else:
            widths = list(self.filters)
            pools = (pools + [(1, 1)] * len(widths))[:len(widths)]
        return list(zip(widths, pools))

    def build(self, meta):
        pool_cls = nn.MaxPool2d if self.pooling == "max" else nn.AvgPool2d
        layers, channels = [], meta.in_channels
        for n_filters, pool in self.stage_filters(meta.height, meta.width):
            for _ in range(self.convs_per_stage):
                layers.append(nn.Conv2d(channels, n_filters, int(self.kernel_size),
                                        padding="same", bias=not self.batch_norm))
                if self.batch_norm:
                    layers.append(nn.BatchNorm2d(n_filters))
                layers.append(make_activation(self.activation))
                channels = n_filters
            if pool != (1, 1):
                layers.append(pool_cls(kernel_size=pool, stride=pool, ceil_mode=True))
            channels = n_filters
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        for units in self.hidden_units:
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            layers += [nn.Linear(channels, units), make_activation(self.activation)]
            channels = units
        if self.dropout > 0:
            layers.append(nn.Dropout(self.dropout))
        layers.append(nn.Linear(channels, meta.n_outputs))
        return nn.Sequential(*layers)


def auto_augment(in_channels, height, width, task):
    """What ``augment='auto'`` trains with: shifts of up to a twelfth of each side of at
    least 6 pixels (one pixel on 8x8 digits, two on 28x28, three on 32x32), plus random
    horizontal flips for colour images (photos). None for regression (a shift or flip may
    change the target), for images too small to shift, and for 1xD strips."""
    if task == "regression":
        return None
    shifts = tuple(max(1, round(side / 12)) if side >= _MIN_SHIFT_SIDE else 0
                   for side in (height, width))
    if min(shifts) == 0:  # strips and tiny images: a shift changes what they mean
        return None
    return RandomShift(shifts, flip=in_channels == 3)


def auto_epochs(n_images):
    """Epochs of ``max_epochs='auto'``: about 40,000 image passes, between 8 and 30
    (28 for 1,437 digits, 11 for 3,554 Fashion-MNIST images)."""
    return int(min(max(round(_EPOCH_IMAGES / max(n_images, 1)), _MIN_EPOCHS), _MAX_EPOCHS))

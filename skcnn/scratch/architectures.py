"""Built-in architectures for training from scratch.

Each is an :class:`skcnn.plugins.ArchitecturePlugin` registered in the
``skcnn.architectures`` entry-point group.
"""

from numbers import Real

from torch import nn

from .._constraints import POSITIVE_INT, SIZES, as_sizes
from .._sklearn_compat import Interval, StrOptions
from ..exceptions import ArchitectureError, ImageTooSmallError
from ..plugins import ArchitecturePlugin
from .layers import ACTIVATIONS, POOLINGS, make_activation, make_pool

__all__ = ["ConvNet", "SimpleCNN", "LeNet5"]

_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


class ConvNet(ArchitecturePlugin):
    """The classic stack: [Conv -> (BatchNorm) -> activation -> Pool] x blocks -> Dense -> output.

    With ``filters=(4, 12), kernel_size=5, pool_size=2, hidden_units=(512,)``
    and ``padding='valid'`` this is the network of the classic Keras example
    (206,728 trainable parameters for 1x32x32 inputs and 100 classes).

    Parameters
    ----------
    filters : int or tuple of int, default=(32, 64)
        Number of filters of each convolution block.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    pooling : {'max', 'avg'}, default='max'
        Pooling after each convolution.
    pool_size : int, default=2
        Side (and stride) of the pooling window; 1 disables pooling.
    hidden_units : int or tuple of int, default=(128,)
        Width of each dense hidden layer; ``()`` for none.
    activation : str, default='relu'
        One of 'relu', 'tanh', 'prelu', 'sigmoid', 'elu', 'gelu', 'leaky_relu'.
    dropout : float, default=0.0
        Dropout rate after the convolution stack and after each hidden layer.
    batch_norm : bool, default=False
        BatchNorm after each convolution.
    padding : {'valid', 'same'}, default='valid'
        'valid' shrinks the image by ``kernel_size - 1`` per convolution (Keras'
        default); 'same' keeps its size and pools with ceiling, so any image
        size works.
    """

    _parameter_constraints = {
        "filters": SIZES,
        "kernel_size": [POSITIVE_INT],
        "pooling": [StrOptions(set(POOLINGS))],
        "pool_size": [POSITIVE_INT],
        "hidden_units": SIZES + [None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "padding": [StrOptions({"valid", "same"})],
    }

    def __init__(self, *, filters=(32, 64), kernel_size=3, pooling="max", pool_size=2,
                 hidden_units=(128,), activation="relu", dropout=0.0, batch_norm=False,
                 padding="valid"):
        self.filters = filters
        self.kernel_size = kernel_size
        self.pooling = pooling
        self.pool_size = pool_size
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.padding = padding

    def _validated(self):
        self._validate_params()  # scikit-learn's check of _parameter_constraints
        return (as_sizes(self.filters), int(self.kernel_size), int(self.pool_size),
                as_sizes(self.hidden_units))

    def _feature_size(self, size, n_blocks, kernel, pool):
        """Image side after the convolution stack (<= 0 means too small)."""
        for _ in range(n_blocks):
            if self.padding == "valid":
                size = size - kernel + 1
                size = size // pool if size > 0 else 0
            else:
                size = -(-size // pool)
        return size

    def min_image_size(self):
        """Smallest image side the convolution stack accepts."""
        filters, kernel, pool, _ = self._validated()
        if self.padding == "same":
            return 1
        size = 1
        for _ in filters:
            size = size * pool + kernel - 1
        return size

    def check_input(self, meta):
        filters, kernel, pool, _ = self._validated()
        minimum = self.min_image_size()
        if meta.height < minimum or meta.width < minimum:
            n = len(filters)
            word = _NUMBER_WORDS.get(n, str(n))
            plural = "s" if n > 1 else ""
            pools = f" and {word} {pool}x{pool} pooling{plural}" if pool > 1 else ""
            raise ImageTooSmallError(
                f"images must be at least {minimum}x{minimum} for this architecture "
                f"({word} {kernel}x{kernel} convolution{plural} with padding='valid'{pools}); "
                f"got {meta.height}x{meta.width}. Resize them (e.g. "
                f"skcnn.datasets.load_digits_images(size={minimum})), use padding='same', "
                f"or use a smaller kernel_size or fewer filters blocks."
            )

    def build(self, meta):
        filters, kernel, pool, hidden = self._validated()
        self.check_input(meta)
        same = self.padding == "same"
        layers, channels = [], meta.in_channels
        for n_filters in filters:
            layers.append(nn.Conv2d(channels, n_filters, kernel,
                                    padding="same" if same else 0, bias=not self.batch_norm))
            if self.batch_norm:
                layers.append(nn.BatchNorm2d(n_filters))
            layers.append(make_activation(self.activation))
            if pool > 1:
                layers.append(make_pool(self.pooling, pool, ceil_mode=same))
            channels = n_filters
        if self.dropout > 0:
            layers.append(nn.Dropout(self.dropout))
        layers.append(nn.Flatten())
        height = self._feature_size(meta.height, len(filters), kernel, pool)
        width = self._feature_size(meta.width, len(filters), kernel, pool)
        n_in = channels * height * width
        for units in hidden:
            layers += [nn.Linear(n_in, units), make_activation(self.activation)]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            n_in = units
        layers.append(nn.Linear(n_in, meta.n_outputs))
        return nn.Sequential(*layers)


class SimpleCNN(ArchitecturePlugin):
    """A VGG-style network that works on any image size.

    ``depth`` blocks of two 3x3 convolutions (BatchNorm, activation) and a 2x2
    max pooling, the width doubling after each block, then global average
    pooling and a linear classifier.

    Parameters
    ----------
    depth : int, default=2
        Number of blocks.
    width : int, default=32
        Filters of the first block.
    kernel_size : int, default=3
        Side of the convolution kernels (odd).
    activation : str, default='relu'
        See :class:`ConvNet`.
    batch_norm : bool, default=True
        BatchNorm after each convolution.
    dropout : float, default=0.0
        Dropout before the classifier.
    """

    _parameter_constraints = {
        "depth": [POSITIVE_INT],
        "width": [POSITIVE_INT],
        "kernel_size": [POSITIVE_INT],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "batch_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, *, depth=2, width=32, kernel_size=3, activation="relu",
                 batch_norm=True, dropout=0.0):
        self.depth = depth
        self.width = width
        self.kernel_size = kernel_size
        self.activation = activation
        self.batch_norm = batch_norm
        self.dropout = dropout

    def build(self, meta):
        self._validate_params()
        depth, width, kernel = int(self.depth), int(self.width), int(self.kernel_size)
        layers, channels = [], meta.in_channels
        for block in range(depth):
            out = width * 2**block
            for _ in range(2):
                layers.append(nn.Conv2d(channels, out, kernel, padding="same",
                                        bias=not self.batch_norm))
                if self.batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(make_activation(self.activation))
                channels = out
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if self.dropout > 0:
            layers.append(nn.Dropout(self.dropout))
        layers.append(nn.Linear(channels, meta.n_outputs))
        return nn.Sequential(*layers)


class LeNet5(ArchitecturePlugin):
    """LeCun et al.'s LeNet-5: two 5x5 conv + 2x2 average-pool blocks (6, 16
    filters), dense 120 and 84, tanh activations. Needs images of at least 16x16
    (pads 28x28 MNIST digits by 2 as the original did when ``pad=True``).

    Parameters
    ----------
    activation : str, default='tanh'
        See :class:`ConvNet`.
    pad : bool, default=False
        Pad the input by 2 pixels (28x28 -> 32x32, as in the original paper).
    """

    _parameter_constraints = {
        "activation": [StrOptions(set(ACTIVATIONS))],
        "pad": ["boolean"],
    }

    def __init__(self, *, activation="tanh", pad=False):
        self.activation = activation
        self.pad = pad

    def _convnet(self):
        return ConvNet(filters=(6, 16), kernel_size=5, pooling="avg", pool_size=2,
                       hidden_units=(120, 84), activation=self.activation)

    def check_input(self, meta):
        self._validate_params()
        padded = meta if not self.pad else type(meta)(
            meta.in_channels, meta.height + 4, meta.width + 4, meta.n_outputs)
        self._convnet().check_input(padded)

    def build(self, meta):
        if not self.pad:
            return self._convnet().build(meta)
        padded = type(meta)(meta.in_channels, meta.height + 4, meta.width + 4, meta.n_outputs)
        return nn.Sequential(nn.ZeroPad2d(2), self._convnet().build(padded))


def describe_failure(arch, meta, exc):
    """Wrap an unexpected build error in an ArchitectureError naming the input."""
    return ArchitectureError(
        f"Could not build {arch!r} for images of {meta.in_channels}x{meta.height}x{meta.width} "
        f"with {meta.n_outputs} outputs: {exc}"
    )

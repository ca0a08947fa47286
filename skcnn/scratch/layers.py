"""Small building blocks shared by the built-in architectures."""

from torch import nn

__all__ = ["ACTIVATIONS", "POOLINGS", "make_activation", "make_pool"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "prelu": nn.PReLU,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}
POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def make_activation(name):
    """A new activation module by name (see ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}."
        ) from None


def make_pool(kind, size, ceil_mode=False):
    """A pooling layer of ``size`` x ``size`` with stride ``size``."""
    try:
        pool_cls = POOLINGS[kind]
    except KeyError:
        raise ValueError(f"Unknown pooling {kind!r}; choose one of {', '.join(POOLINGS)}.") from None
    return pool_cls(kernel_size=size, stride=size, ceil_mode=ceil_mode)

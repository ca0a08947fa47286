"""Training CNNs from scratch: :class:`CNNClassifier` and the built-in architectures."""

from ._resolve import list_architectures
from .architectures import ConvNet, LeNet5, SimpleCNN
from .classifier import CNNClassifier
from .regressor import CNNRegressor

__all__ = ["CNNClassifier", "CNNRegressor", "ConvNet", "SimpleCNN", "LeNet5", "list_architectures"]

"""skcnn: convolutional neural networks as scikit-learn estimators."""

from importlib.metadata import PackageNotFoundError, version

from .plugins import ArchitecturePlugin, InputMeta
from .scratch import CNNClassifier, ConvNet, LeNet5, SimpleCNN, list_architectures

try:
    __version__ = version("skcnn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CNNClassifier",
    "ConvNet",
    "SimpleCNN",
    "LeNet5",
    "ArchitecturePlugin",
    "InputMeta",
    "list_architectures",
    "__version__",
]

"""skcnn: convolutional neural networks as scikit-learn estimators."""

from importlib.metadata import PackageNotFoundError, version

from .plugins import ArchitecturePlugin, BackbonePlugin, InputMeta, PreprocessConfig
from .data.loader import ImageLoader
from .pretrained import Backbone, decode_predictions, list_backbones
from .pretrained.features import PretrainedFeatures
from .pretrained.finetune import FineTunedClassifier
from .pretrained.predict import classify_images, predict_imagenet_proba
from .compare import ComparisonResult, compare
from .scratch import CNNClassifier, ConvNet, LeNet5, SimpleCNN, list_architectures

try:
    __version__ = version("skcnn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CNNClassifier",
    "PretrainedFeatures",
    "FineTunedClassifier",
    "ImageLoader",
    "classify_images",
    "predict_imagenet_proba",
    "ConvNet",
    "SimpleCNN",
    "LeNet5",
    "ArchitecturePlugin",
    "InputMeta",
    "list_architectures",
    "BackbonePlugin",
    "PreprocessConfig",
    "Backbone",
    "list_backbones",
    "decode_predictions",
    "compare",
    "ComparisonResult",
    "__version__",
]

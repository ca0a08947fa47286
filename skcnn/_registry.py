"""Entry-point discovery and lookup of skcnn plugins.

Discovery is lazy (nothing is imported at ``import skcnn``) and cached per
group. Built-in plugins register through the same entry-point groups as
third-party ones; when two distributions register the same name, the
built-in one wins and a warning names the other. A plugin that fails to
import is skipped with a warning instead of breaking the whole registry.
"""

import warnings
from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points

from .exceptions import PluginNotFoundError

__all__ = ["available", "get_plugin_class", "clear_cache", "builtin_name"]

_OWN_DISTRIBUTION = "skcnn"

# THE list of built-in plugins. Used when skcnn runs from a source tree that was
# never installed (no entry-point metadata) and to name built-in classes;
# tests/test_registry.py checks that pyproject.toml's entry points say the same.
_BUILTINS = {
    "skcnn.architectures": {
        "convnet": "skcnn.scratch.architectures:ConvNet",
        "simple_cnn": "skcnn.scratch.architectures:SimpleCNN",
        "lenet5": "skcnn.scratch.architectures:LeNet5",
    },
    "skcnn.text_architectures": {
        "kim": "skcnn.text.architectures:KimCNN",
        "char_cnn": "skcnn.text.architectures:CharCNN",
    },
    "skcnn.backbones": {
        "efficientnet_lite0": "skcnn.pretrained._efficientnet_lite:EfficientNetLite0",
        "efficientnet_lite1": "skcnn.pretrained._efficientnet_lite:EfficientNetLite1",
        "efficientnet_lite2": "skcnn.pretrained._efficientnet_lite:EfficientNetLite2",
        "alexnet": "skcnn.pretrained._torchvision:AlexNet",
        "googlenet": "skcnn.pretrained._torchvision:GoogLeNet",
        "vgg16": "skcnn.pretrained._torchvision:VGG16",
        "resnet18": "skcnn.pretrained._torchvision:ResNet18",
        "resnet50": "skcnn.pretrained._torchvision:ResNet50",
        "mobilenet_v3_large": "skcnn.pretrained._torchvision:MobileNetV3Large",
        "efficientnet_b0": "skcnn.pretrained._torchvision:EfficientNetB0",
        "convnext_tiny": "skcnn.pretrained._torchvision:ConvNeXtTiny",
    },
}


class _Source:
    """Where a plugin name points: an ``module:attr`` value and its owner."""

    def __init__(self, value, distribution):
        self.value = value
        self.distribution = distribution

    def load(self):
        module_name, _, attr = self.value.partition(":")
        obj = import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


def _entry_point_sources(group):
    sources = {}
    for ep in entry_points(group=group):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
        sources.setdefault(ep.name, []).append(_Source(ep.value, dist))
    return sources


@lru_cache(maxsize=None)
def _discover(group):
    """Map each name in ``group`` to its loaded class, warning on problems."""
    candidates = _entry_point_sources(group)
    for name, value in _BUILTINS.get(group, {}).items():
        builtin = [s for s in candidates.get(name, []) if s.distribution == _OWN_DISTRIBUTION]
        if not builtin:
            candidates.setdefault(name, []).append(_Source(value, _OWN_DISTRIBUTION))

    plugins = {}
    for name, sources in sorted(candidates.items()):
        # Built-ins first; among third parties the order is the metadata's.
        sources = sorted(sources, key=lambda s: s.distribution != _OWN_DISTRIBUTION)
        chosen = sources[0]
        others = [s for s in sources[1:] if s.value != chosen.value]
        if others:
            warnings.warn(
                f"Plugin name {name!r} in group {group!r} is registered by "
                f"{', '.join(sorted({s.distribution for s in others}))} as well as "
                f"{chosen.distribution}; using the one from {chosen.distribution}.",
                RuntimeWarning,
                stacklevel=3,
            )
        try:
            plugins[name] = chosen.load()
        except Exception as exc:  # a broken plugin must not break skcnn
            warnings.warn(
                f"Skipping plugin {name!r} ({chosen.value}) from {chosen.distribution}: "
                f"it failed to import ({type(exc).__name__}: {exc}).",
                RuntimeWarning,
                stacklevel=3,
            )
    return plugins


def available(group):
    """Sorted names of the plugins installed in ``group``."""
    return sorted(_discover(group))


def get_plugin_class(group, name):
    """Return the plugin class registered as ``name`` in ``group``.

    Raises
    ------
    PluginNotFoundError
        When no plugin has that name; the message lists the installed ones.
    """
    plugins = _discover(group)
    try:
        return plugins[name]
    except KeyError:
        kind = group.rpartition(".")[2].rstrip("s")
        raise PluginNotFoundError(
            f"Unknown {kind} {name!r}. Installed {group.rpartition('.')[2]}: "
            f"{', '.join(sorted(plugins)) or 'none'}. Install the package that provides "
            f"{name!r}, or check the spelling."
        ) from None


def clear_cache():
    """Forget discovered plugins, e.g. after installing a package at run time."""
    _discover.cache_clear()


def builtin_name(cls):
    """The name a built-in plugin class is registered under, or None for any other class."""
    target = f"{cls.__module__}:{cls.__qualname__}"
    for names in _BUILTINS.values():
        for name, value in names.items():
            if value == target:
                return name
    return None

"""Turn the ``architecture`` parameter into something that builds a module."""

import copy
import inspect

from sklearn.base import clone
from torch import nn

from .. import _registry
from ..exceptions import ArchitectureError
from ..plugins import ArchitecturePlugin

__all__ = ["ARCHITECTURE_GROUP", "resolve_architecture", "list_architectures"]

ARCHITECTURE_GROUP = "skcnn.architectures"


def list_architectures():
    """Names of the installed architecture plugins (built-in and third-party)."""
    return _registry.available(ARCHITECTURE_GROUP)


class _CallableArchitecture(ArchitecturePlugin):
    """Adapts an ``nn.Module`` subclass or builder ``f(in_channels, image_size, n_classes)``."""

    def __init__(self, builder=None):
        self.builder = builder

    def build(self, meta):
        args = (meta.in_channels, meta.image_size, meta.n_outputs)
        try:
            inspect.signature(self.builder).bind(*args)
            signature_ok = True
        except TypeError:
            signature_ok = False
        except ValueError:  # builtins without a signature: just try the call
            signature_ok = True
        if signature_ok:
            module = self.builder(*args)
        else:
            name = getattr(self.builder, "__name__", repr(self.builder))
            raise ArchitectureError(
                f"Calling architecture {name} as {name}(in_channels={meta.in_channels}, "
                f"image_size={meta.image_size}, n_classes={meta.n_outputs}) is not possible: "
                "its signature does not take these three arguments. "
                "An architecture class or builder must accept (in_channels, image_size, "
                "n_classes) and return a torch.nn.Module."
            )
        if not isinstance(module, nn.Module):
            raise ArchitectureError(
                f"architecture builder returned {type(module).__name__}, not a torch.nn.Module."
            )
        return module


class _ModuleInstance(ArchitecturePlugin):
    """A ready ``nn.Module``: each fit trains a fresh copy of it."""

    def __init__(self, module=None):
        self.module = module

    def build(self, meta):
        return copy.deepcopy(self.module)


def resolve_architecture(architecture):
    """Return a fresh :class:`ArchitecturePlugin` for ``architecture``.

    Accepts a registered name, a plugin instance (cloned, so fitting never
    changes the parameter), an ``nn.Module`` subclass or builder callable, or
    an ``nn.Module`` instance (deep-copied at every fit).
    """
    if isinstance(architecture, str):
        return _registry.get_plugin_class(ARCHITECTURE_GROUP, architecture)()
    if isinstance(architecture, ArchitecturePlugin):
        return clone(architecture)
    if inspect.isclass(architecture) and issubclass(architecture, ArchitecturePlugin):
        return architecture()
    if isinstance(architecture, nn.Module):
        return _ModuleInstance(architecture)
    if callable(architecture):
        return _CallableArchitecture(architecture)
    raise ArchitectureError(
        f"architecture must be None, a plugin name ({', '.join(list_architectures())}), an "
        f"ArchitecturePlugin, a torch.nn.Module subclass or a builder callable; got "
        f"{type(architecture).__name__}."
    )

"""Turn the text classifier's ``architecture`` parameter into a plugin."""

import inspect

from sklearn.base import clone

from .. import _registry
from ..exceptions import ArchitectureError
from .architectures import TextArchitecturePlugin

__all__ = ["TEXT_ARCHITECTURE_GROUP", "resolve_text_architecture", "list_text_architectures"]

TEXT_ARCHITECTURE_GROUP = "skcnn.text_architectures"


def list_text_architectures():
    """Names of the installed text architecture plugins (built-in and third-party)."""
    return _registry.available(TEXT_ARCHITECTURE_GROUP)


def resolve_text_architecture(architecture):
    """A fresh :class:`TextArchitecturePlugin` for a name, plugin instance or plugin class."""
    if isinstance(architecture, str):
        return _registry.get_plugin_class(TEXT_ARCHITECTURE_GROUP, architecture)()
    if isinstance(architecture, TextArchitecturePlugin):
        return clone(architecture)
    if inspect.isclass(architecture) and issubclass(architecture, TextArchitecturePlugin):
        return architecture()
    raise ArchitectureError(
        f"architecture must be None, a text architecture name "
        f"({', '.join(list_text_architectures())}) or a TextArchitecturePlugin; got "
        f"{type(architecture).__name__}.")

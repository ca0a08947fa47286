"""What every library backbone shares: a model of a library chosen by name, default weights."""

from ..plugins import BackbonePlugin

__all__ = ["DEFAULT_WEIGHT_NAMES", "is_default_weights", "LibraryModel"]

#: Aliases of "the default pretrained weights".
DEFAULT_WEIGHT_NAMES = (None, "DEFAULT", "default", "imagenet")


def is_default_weights(weights):
    """Whether ``weights`` asks for the plugin's default pretrained weights."""
    return weights is None or (isinstance(weights, str) and weights in DEFAULT_WEIGHT_NAMES)


class LibraryModel(BackbonePlugin):
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
        from .._registry import builtin_name

        return builtin_name(type(self)) or f"{self._library}:{self.model_name}"

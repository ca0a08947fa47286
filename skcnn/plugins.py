"""Base classes for skcnn plugins and the data they receive.

A plugin is a small parameter object: it stores its constructor arguments
like a scikit-learn estimator, so ``clone``, ``get_params`` and nested
``set_params(architecture__depth=4)`` work on it. Third-party packages add
plugins through the entry-point group ``skcnn.architectures``::

    [project.entry-points."skcnn.architectures"]
    my_net = "my_package.nets:MyNet"
"""

from dataclasses import dataclass

from sklearn.base import BaseEstimator

__all__ = ["InputMeta", "ArchitecturePlugin"]


@dataclass(frozen=True)
class InputMeta:
    """What an architecture needs to know about the data to build a network.

    Attributes
    ----------
    in_channels : int
        Number of image channels (1 for grayscale, 3 for RGB).
    height, width : int
        Image size in pixels.
    n_outputs : int
        Number of network outputs (the number of classes for a classifier).
    """

    in_channels: int
    height: int
    width: int
    n_outputs: int

    @property
    def image_size(self):
        """``(height, width)``."""
        return (self.height, self.width)


class ArchitecturePlugin(BaseEstimator):
    """Base class of networks trained from scratch by :class:`skcnn.CNNClassifier`.

    Subclasses store their hyperparameters in ``__init__`` (keyword
    arguments, no logic) and implement :meth:`build`. They may override
    :meth:`check_input` to reject data they cannot handle with a clear message.
    """

    def build(self, meta):
        """Return a new, randomly initialised :class:`torch.nn.Module`.

        The module maps a float tensor of shape ``(N, in_channels, height, width)``
        to logits of shape ``(N, n_outputs)``.

        Parameters
        ----------
        meta : InputMeta
            Shape of the data the network will see.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement build(meta)")

    def check_input(self, meta):
        """Raise :class:`skcnn.exceptions.ImageTooSmallError` (or another
        ``ValueError``) when the network cannot be built for ``meta``.

        The default accepts everything.
        """

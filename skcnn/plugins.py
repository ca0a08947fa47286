"""Base classes for skcnn plugins and the data they receive.

A plugin is a small parameter object: it stores its constructor arguments
like a scikit-learn estimator, so ``clone``, ``get_params`` and nested
``set_params(architecture__depth=4)`` work on it. Third-party packages add
plugins through the entry-point groups ``skcnn.architectures`` (networks
trained from scratch) and ``skcnn.backbones`` (pretrained networks)::

    [project.entry-points."skcnn.architectures"]
    my_net = "my_package.nets:MyNet"

    [project.entry-points."skcnn.backbones"]
    my_backbone = "my_package.backbones:MyBackbone"
"""

import math
from dataclasses import asdict, dataclass

from sklearn.base import BaseEstimator

__all__ = ["InputMeta", "ArchitecturePlugin", "PreprocessConfig", "BackbonePlugin",
           "NamedPluginParamsMixin"]


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
    :meth:`check_input` to reject data they cannot handle with a clear message,
    and declare ``_parameter_constraints`` as scikit-learn estimators do (the
    built-ins call ``self._validate_params()`` in :meth:`build`), so a bad
    value is reported in the same words as an estimator parameter.
    """

    _parameter_constraints = {}

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


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


@dataclass(frozen=True)
class PreprocessConfig:
    """How images must be prepared for a pretrained backbone.

    The shorter side of an image is resized to ``resize_size`` with
    ``interpolation``, the result is center-cropped to ``input_size``, scaled
    to [0, 1] and normalised per channel with ``mean`` and ``std``.

    Attributes
    ----------
    input_size : tuple of int
        ``(height, width)`` of the tensor fed to the network.
    resize_size : int
        Length the shorter image side is resized to before the crop.
    mean, std : tuple of float
        Per-channel normalisation of pixel values in [0, 1].
    interpolation : str
        ``'bilinear'``, ``'bicubic'`` or ``'nearest'`` (PIL's ``'lanczos'``,
        ``'box'`` and ``'hamming'`` are accepted too).
    channels : int, default=3
        Number of input channels (3: RGB).

    Instances are immutable and hashable; :meth:`to_dict` gives a plain dict,
    e.g. for cache keys.
    """

    input_size: tuple
    resize_size: int
    mean: tuple
    std: tuple
    interpolation: str = "bilinear"
    channels: int = 3

    def __post_init__(self):
        size = self.input_size
        if isinstance(size, int):
            size = (size, size)
        size = tuple(int(v) for v in size)
        if len(size) == 3:  # (C, H, W) as timm writes it
            size = size[1:]
        if len(size) != 2 or min(size) < 1:
            raise ValueError(
                f"input_size must be (height, width) in pixels; got {self.input_size!r}."
            )
        mean = tuple(float(v) for v in self.mean)
        std = tuple(float(v) for v in self.std)
        if len(mean) != self.channels or len(std) != self.channels:
            raise ValueError(
                f"mean and std need one value per channel ({self.channels}); got mean={mean}, "
                f"std={std}."
            )
        if min(std) <= 0:
            raise ValueError(f"std values must be positive; got {std}.")
        interpolation = str(getattr(self.interpolation, "value", self.interpolation)).lower()
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {', '.join(map(repr, _INTERPOLATIONS))}; got "
                f"{self.interpolation!r}."
            )
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "resize_size", int(self.resize_size))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "interpolation", interpolation)
        object.__setattr__(self, "channels", int(self.channels))

    @property
    def crop_pct(self):
        """Fraction of the resized shorter side kept by the crop (timm's ``crop_pct``)."""
        return min(self.input_size) / self.resize_size

    def to_dict(self):
        """The configuration as a plain ``dict`` (tuples stay tuples)."""
        return asdict(self)

    def with_input_size(self, size):
        """The same preprocessing for a square ``size`` x ``size`` input, keeping
        the crop fraction (``None`` returns ``self``)."""
        if size is None:
            return self
        return type(self)(**{**self.to_dict(), "input_size": (size, size),
                             "resize_size": int(math.floor(size / self.crop_pct))})


class BackbonePlugin(BaseEstimator):
    """Base class of pretrained networks (plugins of group ``skcnn.backbones``).

    Like every skcnn plugin, a backbone plugin only stores its constructor
    arguments: nothing is built, downloaded or loaded before :meth:`load`, so
    ``clone`` and ``set_params`` are cheap.

    Parameters
    ----------
    weights : None, str or path-like, default=None
        ``None``: the plugin's default pretrained weights. Otherwise a path to
        a state-dict file, or the name of a weights variant of the underlying
        library (a torchvision weights name such as ``"IMAGENET1K_V1"``, a timm
        pretrained tag such as ``"in1k"``).

    Subclasses implement :meth:`load`, :meth:`preprocess_config`,
    :meth:`weights_available_offline` and :meth:`weights_id`.
    """

    #: Short description of where the network and its weights come from.
    source = "plugin"

    def __init__(self, *, weights=None):
        self.weights = weights

    @property
    def name(self):
        """Name the backbone is known by (used in messages and by ``Backbone.name``)."""
        return type(self).__name__

    def load(self):
        """Build the network with its ImageNet head, load the weights, switch it
        to eval mode and return a :class:`skcnn.pretrained.Backbone`.

        Raises
        ------
        skcnn.exceptions.WeightsUnavailableError
            When the weights are not on this machine and cannot be downloaded.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement load()")

    def preprocess_config(self):
        """Return the :class:`PreprocessConfig` the weights expect (loads nothing)."""
        raise NotImplementedError(f"{type(self).__name__} must implement preprocess_config()")

    def weights_available_offline(self):
        """Whether :meth:`load` would succeed without network access."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement weights_available_offline()"
        )

    def weights_id(self):
        """A stable string identifying the weights :meth:`load` would use (a cache key)."""
        raise NotImplementedError(f"{type(self).__name__} must implement weights_id()")


def __getattr__(name):
    # ``from skcnn.plugins import Backbone`` for plugin authors, without importing
    # skcnn.pretrained (and torch) when this module is imported.
    if name == "Backbone":
        from ._backbone import Backbone

        return Backbone
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class NamedPluginParamsMixin:
    """Let ``set_params(architecture__depth=3)`` work when the plugin was given by name.

    scikit-learn sets nested parameters on the parameter's value, which for
    ``architecture="simple_cnn"`` is a string. Here a nested key turns the
    name into the plugin it stands for first (``SimpleCNN()``), then sets its
    parameter, so ``GridSearchCV(CNNClassifier(architecture="simple_cnn"),
    {"architecture__depth": [2, 3]})`` works. Subclasses list their plugin
    parameters and resolvers in ``_plugin_resolvers``.
    """

    def _plugin_resolvers(self):
        return {}

    def set_params(self, **params):
        """Set parameters; see :meth:`sklearn.base.BaseEstimator.set_params`.

        A nested key (``architecture__depth``, ``backbone__weights``) for a
        plugin given by name first replaces the name with its plugin instance.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        for name, resolve in self._plugin_resolvers().items():
            value = params.get(name, getattr(self, name, None))
            if isinstance(value, str) and any(key.startswith(name + "__") for key in params):
                resolved = resolve(value)
                if isinstance(resolved, str):  # e.g. backbone='auto': chosen at fit
                    raise ValueError(
                        f"{name}={value!r} stands for no plugin until fit, so "
                        f"{name}__<parameter> cannot be set; name the plugin instead, e.g. "
                        f"{name}='efficientnet_lite1', {name}__weights=...")
                params = {**params, name: resolved}
        return super().set_params(**params)

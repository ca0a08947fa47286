"""What CNNClassifier and CNNRegressor share: the network built from scratch
(the built-in ConvNet or an architecture plugin) and the checks of the images."""

import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from .._constraints import SIZES
from .._sklearn_compat import Interval, StrOptions
from ..data.arrays import DATA_FORMATS
from ..data.augment import AUGMENT_PRESETS, describe_augmentation, make_augmentation
from ..data.inputs import image_input
from ..exceptions import InputError
from ..plugins import ArchitecturePlugin
from . import _recipe
from ._recipe import (
    CLASSIC_DEFAULTS,
    RECIPE_DEFAULTS,
    RECIPE_LEARNING_RATE,
    AutoCNN,
    RandomShift,
    auto_augment,
    auto_epochs,
)
from ._resolve import resolve_architecture
from .architectures import ConvNet, describe_failure
from .layers import ACTIVATIONS, POOLINGS

__all__ = ["ScratchNetworkMixin", "SCRATCH_CONSTRAINTS"]

# Parameters that describe the built-in ConvNet; used when architecture=None.
_CONVNET_PARAMS = ("filters", "kernel_size", "pooling", "pool_size", "hidden_units",
                   "activation", "dropout", "batch_norm", "padding")


def _plain(value):
    """Lists, tuples and arrays of the same numbers compare equal after this."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(np.asarray(value).tolist())
    return value


def _check_module_fits(module, meta, architecture):
    """Run one blank image through a freshly built module: it must give one logit per class."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros((1, meta.in_channels, meta.height, meta.width)))
    except Exception as exc:  # noqa: BLE001 - re-raised with the input's description
        raise describe_failure(architecture, meta, exc) from exc
    finally:
        module.train(was_training)
    if not torch.is_tensor(out) or tuple(out.shape) != (1, meta.n_outputs):
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise describe_failure(architecture, meta, ValueError(
            f"it returned {got} for one image instead of (1, {meta.n_outputs}) logits; make its "
            f"last layer output n_classes={meta.n_outputs} values"))


_AUTO = StrOptions({"auto"})

#: Parameter constraints of the network and input parameters.
SCRATCH_CONSTRAINTS = {
    "architecture": [None, str, ArchitecturePlugin, nn.Module, callable],
    "filters": SIZES + [_AUTO],
    "kernel_size": [Interval(Integral, 1, None, closed="left")],
    "pooling": [StrOptions(set(POOLINGS))],
    "pool_size": [Interval(Integral, 1, None, closed="left")],
    "hidden_units": SIZES + [None, _AUTO],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "dropout": [Interval(Real, 0, 1, closed="left"), _AUTO],
    "batch_norm": ["boolean", _AUTO],
    "padding": [StrOptions({"valid", "same", "auto"})],
    "lr_schedule": [StrOptions({"constant", "cosine", "onecycle", "auto"})],
    "augment": [None, StrOptions({*AUGMENT_PRESETS, "auto"}), callable],
    "max_epochs": [Interval(Integral, 1, None, closed="left"), _AUTO],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "input_shape": [tuple, list, None],
    "data_format": [StrOptions(set(DATA_FORMATS))],
}



class ScratchNetworkMixin:
    """Builds the network from scratch and prepares the images (a mixin for the estimators)."""

    def _plugin_resolvers(self):
        return {"architecture": resolve_architecture}

    # ------------------------------------------------------------------ input checks
    def _prepare_images(self, X, reset):
        """Validate ``X`` and return float32 ``(N, C, H, W)`` images."""
        input_shape = self.input_shape if reset else getattr(self, "input_shape_", None)
        images, _ = image_input(self, X, reset=reset, kinds=("array",), pretrained=False,
                                input_shape=input_shape, data_format=self.data_format)
        if reset:
            self.input_shape_ = tuple(int(s) for s in images.shape[1:])
        elif images.shape[1:] != tuple(self.input_shape_):
            got, want = images.shape[1:], tuple(self.input_shape_)
            raise InputError(
                f"X has images of shape {'x'.join(map(str, got))} (channels x height x width) "
                f"but {type(self).__name__} was fitted on {'x'.join(map(str, want))}. "
                f"Resize or convert them to {want[1]}x{want[2]} with {want[0]} channel(s), "
                "or fit again on images of the new shape."
            )
        return images

    def inspection_target(self):
        """What :mod:`skcnn.inspection` and :mod:`skcnn.plotting` look at.

        Returns
        -------
        target : skcnn.inspection.InspectionTarget
            As for every classifier, with ``input_shape_``.
        """
        return replace(super().inspection_target(), input_shape=tuple(self.input_shape_))

    # ------------------------------------------------------------------ training
    def _architecture_params(self):
        """The parameters that shape the network (a warm start cannot change them)."""
        if self.architecture is None:
            return ("architecture", *_CONVNET_PARAMS)
        return ("architecture",)

    def _uses_recipe(self):
        """True for the default network (``architecture=None, filters='auto'``): its
        ``'auto'`` parameters take the recipe's values, otherwise the classic ones."""
        return self.architecture is None and isinstance(self.filters, str)

    def _resolved(self, name):
        """The value of parameter ``name`` with ``'auto'`` resolved (not data-dependent)."""
        value = getattr(self, name)
        if not (isinstance(value, str) and value == "auto"):
            return value
        return (RECIPE_DEFAULTS if self._uses_recipe() else CLASSIC_DEFAULTS)[name]

    def _architecture_plugin(self):
        if self._uses_recipe():
            if self.padding == "valid" or self.pool_size != 2:
                raise ValueError(
                    f"filters='auto' builds a network that fits any image size with 'same' "
                    f"padding and 2x2 pooling, so padding={self.padding!r} and "
                    f"pool_size={self.pool_size!r} cannot apply. Set filters to a tuple "
                    "(e.g. filters=(32, 64)) to build the classic network with them, or leave "
                    "padding='auto' and pool_size=2.")
            return AutoCNN(kernel_size=self.kernel_size, pooling=self.pooling,
                           hidden_units=self._resolved("hidden_units"),
                           activation=self.activation, dropout=self._resolved("dropout"),
                           batch_norm=self._resolved("batch_norm"),
                           convs_per_stage=_recipe.CONVS_PER_STAGE)
        if self.architecture is None:
            return ConvNet(**{name: self._resolved(name) for name in _CONVNET_PARAMS})
        defaults = type(self)().get_params()
        changed = [name for name in _CONVNET_PARAMS
                   if repr(_plain(getattr(self, name))) != repr(_plain(defaults[name]))]
        if changed:
            warnings.warn(
                f"{', '.join(changed)} only shape the built-in ConvNet and are ignored because "
                f"architecture={self.architecture!r} was given. Set architecture=None to use "
                "them, or tune the architecture's own parameters (architecture__<name>).",
                UserWarning,
                stacklevel=4,
            )
        return resolve_architecture(self.architecture)

    def _build_module(self, meta):
        plugin = self._architecture_plugin()
        plugin.check_input(meta)
        module = plugin.build(meta)
        _check_module_fits(module, meta, self.architecture)
        return module

    def _optimizer_kwargs(self, module):
        kwargs = super()._optimizer_kwargs(module)
        if (self._uses_recipe() and self.learning_rate is None
                and self.optimizer in RECIPE_LEARNING_RATE):
            kwargs["optimizer__lr"] = RECIPE_LEARNING_RATE[self.optimizer]
        return kwargs

    def _extra_callbacks(self, net, epochs, steps_per_epoch, partial, resume):
        return self._lr_schedule_callback(self._resolved("lr_schedule"), epochs,
                                          steps_per_epoch, partial)

    # ------------------------------------------------------------------ 'auto' training settings
    def _augmentation_choice(self, inputs):
        """``augment`` with 'auto' resolved for these images (None, a preset or a callable)."""
        if not (isinstance(self.augment, str) and self.augment == "auto"):
            return self.augment
        if not self._uses_recipe():
            return CLASSIC_DEFAULTS["augment"]
        channels, height, width = (int(s) for s in inputs.shape[1:])
        return auto_augment(channels, height, width, self._task())

    def _training_augmentation(self, inputs):
        choice = self._augmentation_choice(inputs)
        if isinstance(choice, RandomShift):  # 'auto': already a batch augmentation
            return choice
        return make_augmentation(choice, inputs.shape[2:])

    def _tta_augmentation(self, inputs):
        choice = self._augmentation_choice(inputs)
        if isinstance(choice, RandomShift):
            return choice
        return make_augmentation(choice or "light", inputs.shape[2:])

    def _resolve_epochs(self, epochs, n_images):
        if not (isinstance(epochs, str) and epochs == "auto"):
            return epochs
        return auto_epochs(n_images) if self._uses_recipe() else CLASSIC_DEFAULTS["max_epochs"]

    def _fit_network(self, X, y, sample_weight, *, epochs, **kwargs):
        fitted, interrupted = super()._fit_network(X, y, sample_weight, epochs=epochs, **kwargs)
        fitted["recipe_"] = self._recipe(fitted.get("net_"), epochs)
        return fitted, interrupted

    def _recipe(self, net, epochs):
        """What the fit used for each 'auto' parameter (and the network's stages)."""
        shape = tuple(self.input_shape_)
        images = torch.zeros((1, *shape))
        recipe = {name: self._resolved(name)
                  for name in ("hidden_units", "dropout", "batch_norm", "padding",
                               "lr_schedule")}
        plugin = self._architecture_plugin() if self.architecture is None else None
        if isinstance(plugin, AutoCNN):
            recipe["filters"] = tuple(w for w, _ in plugin.stage_filters(*shape[1:]))
            recipe["pools"] = tuple(p for _, p in plugin.stage_filters(*shape[1:]))
        else:
            recipe["filters"] = self.filters
        recipe["augment"] = describe_augmentation(self._augmentation_choice(images))
        recipe["max_epochs"] = net.max_epochs if net is not None else epochs
        return recipe

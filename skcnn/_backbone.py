"""A loaded pretrained network: :class:`Backbone`, and its layer extractors."""

import threading

import torch
from torch import nn

from ._inspection_target import InspectionTarget
from .data.inputs import image_input
from .data.transforms import ImageItems, PilPreprocess, prepare_tensor
from .exceptions import LayerNotFoundError

__all__ = ["Backbone", "LayerOutput", "FORWARD_FEATURES"]

#: Layer name meaning "the model's own ``forward_features`` method" (timm models).
FORWARD_FEATURES = "forward_features"

# Modules that belong to a classification head even when their output is 4-D
# (e.g. Inception3 applies dropout before flattening).
_HEAD_TYPES = (
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Dropout2d,
    nn.Flatten,
    nn.Linear,
    nn.Identity,
)


class _Stop(Exception):
    """Raised by a forward hook to end the forward pass at the wanted layer."""

    def __init__(self, output):
        super().__init__()
        self.output = output


class LayerOutput(nn.Module):
    """Maps a normalised batch ``(N, C, H, W)`` to the output of one layer of ``model``.

    The model's own ``forward`` runs, so preprocessing inside it (e.g.
    GoogLeNet's ``transform_input``) happens as usual; the pass stops as soon as
    the layer has produced its output, so the layers after it cost nothing.

    Parameters
    ----------
    model : nn.Module
        The full network (shared, not copied).
    layer : str
        A submodule name as :meth:`torch.nn.Module.get_submodule` takes it, or
        ``"forward_features"`` for the model's ``forward_features`` method.
    """

    def __init__(self, model, layer):
        super().__init__()
        self.model = model
        self.layer = layer

    def extra_repr(self):
        return f"layer={self.layer!r}"

    def forward(self, x):
        if self.layer == FORWARD_FEATURES:
            out = self.model.forward_features(x)
        else:
            out = _run_until(self.model, self.model.get_submodule(self.layer), x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim != 4:
            raise ValueError(
                f"Layer {self.layer!r} gives an output of shape {tuple(out.shape)}, not a 4-D "
                "feature map (N, C, h, w); choose a convolutional layer."
            )
        return out


def _run_until(model, module, x):
    """Run ``model(x)`` and return ``module``'s output from this call."""
    thread = threading.get_ident()

    def hook(_module, _inputs, output):
        if threading.get_ident() == thread:
            raise _Stop(output)

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop as stop:
        return stop.output
    finally:
        handle.remove()
    raise RuntimeError(
        f"Layer {type(module).__name__} was not called by {type(model).__name__}.forward."
    )


def _discover_layers(model, input_size, channels=3):
    """Names of the top-level stages whose output is a 4-D map, in execution order.

    Children of a top-level ``features`` container are listed as
    ``features.<child>`` followed by ``features`` itself; the ones after
    ``features`` (the head) are dropped.
    """
    candidates = []
    for name, child in model.named_children():
        if name == "features" and isinstance(child, nn.Sequential):
            candidates += [(f"features.{sub}", m) for sub, m in child.named_children()]
        candidates.append((name, child))
    order = []
    handles = []
    for name, module in candidates:
        if isinstance(module, _HEAD_TYPES):
            continue

        def hook(_module, _inputs, output, name=name):
            if isinstance(output, torch.Tensor) and output.ndim == 4 and name not in order:
                order.append(name)

        handles.append(module.register_forward_hook(hook))
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        with torch.inference_mode():
            model(torch.zeros(1, channels, *input_size, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
    if "features" in order:
        order = order[: order.index("features") + 1]
    return order


class Backbone:
    """A pretrained network, ready for inference, with what is needed to feed it.

    Returned by :meth:`skcnn.plugins.BackbonePlugin.load`.

    Attributes
    ----------
    name : str
        The backbone's name, e.g. ``"resnet50"`` or ``"timm:convnext_tiny"``.
    model : nn.Module
        The full network with its ImageNet head, in eval mode: ``model(x)``
        gives logits for a normalised float batch ``x`` of shape (N, 3, H, W).
    preprocess : skcnn.plugins.PreprocessConfig
        How images must be resized, cropped and normalised.
    class_names : list of str or None
        The names of the model's output classes (the 1000 ImageNet classes),
        or None when unknown.
    default_layer : str
        The last convolutional stage: the map Keras' ``include_top=False``
        would return (pooling is left to the caller).
    weights_id : str or None
        Identifier of the loaded weights (see ``BackbonePlugin.weights_id``).
    """

    def __init__(self, name, model, preprocess, *, class_names=None, default_layer=None,
                 layers=None, weights_id=None):
        self.name = name
        self.model = model.eval()
        self.preprocess = preprocess
        self.class_names = list(class_names) if class_names is not None else None
        self._layers = list(layers) if layers is not None else None
        self._default_layer = default_layer
        self.weights_id = weights_id
        self._num_features = {}

    def __repr__(self):
        return (f"Backbone(name={self.name!r}, default_layer={self.default_layer!r}, "
                f"input_size={self.preprocess.input_size})")

    @property
    def default_layer(self):
        if self._default_layer is None:
            self._default_layer = self.layer_names()[-1]
        return self._default_layer

    def layer_names(self):
        """Valid values of ``layer`` for :meth:`feature_extractor`, from input to output."""
        if self._layers is None:
            self._layers = _discover_layers(
                self.model, self.preprocess.input_size, self.preprocess.channels
            )
        return list(self._layers)

    def inspection_target(self):
        """What :mod:`skcnn.inspection` and :mod:`skcnn.plotting` look at.

        Returns
        -------
        target : skcnn.inspection.InspectionTarget
            :attr:`model` (layer names as in :meth:`layer_names`), fed images
            resized, cropped and normalised as :attr:`preprocess` says.
        """
        return InspectionTarget(module=self.model, prepare=self._preprocessed,
                                layer_names=self.layer_names(), preprocess=self.preprocess,
                                label=f"backbone {self.name!r}")

    def _preprocessed(self, X):
        """Images (array, PIL images or paths) as :attr:`model` is fed: float32 (N, C, H, W)."""
        items, kind = image_input(None, X, reset=False)
        return prepare_tensor(ImageItems(items, kind, PilPreprocess.from_config(self.preprocess)),
                              num_workers=0)

    def _check_layer(self, layer):
        if layer is None:
            return self.default_layer
        names = self.layer_names()
        if layer not in names:
            raise LayerNotFoundError(
                f"Backbone {self.name!r} has no layer {layer!r}. Valid layers: "
                f"{', '.join(names)} (default: {self.default_layer!r})."
            )
        return layer

    def feature_extractor(self, layer=None):
        """Return a module mapping a normalised batch (N, 3, H, W) to the 4-D
        feature map (N, C, h, w) of ``layer`` (default: :attr:`default_layer`).

        The module shares its parameters with :attr:`model`.

        Raises
        ------
        skcnn.exceptions.LayerNotFoundError
            When ``layer`` is not one of :meth:`layer_names`.
        """
        return LayerOutput(self.model, self._check_layer(layer)).eval()

    def num_features(self, layer=None):
        """Number of channels of the feature map at ``layer`` (default: :attr:`default_layer`)."""
        layer = self._check_layer(layer)
        if layer not in self._num_features:
            extractor = self.feature_extractor(layer)
            param = next(self.model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            floating = param is not None and param.is_floating_point()
            dtype = param.dtype if floating else torch.float32
            x = torch.zeros(1, self.preprocess.channels, *self.preprocess.input_size,
                            device=device, dtype=dtype)
            with torch.inference_mode():
                self._num_features[layer] = int(extractor(x).shape[1])
        return self._num_features[layer]

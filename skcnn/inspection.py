"""Looking inside a network, as plain NumPy arrays: what :mod:`skcnn.plotting` draws.

Each function takes what the plotting functions take: a fitted
:class:`~skcnn.CNNClassifier`, :class:`~skcnn.FineTunedClassifier` or
:class:`~skcnn.PretrainedFeatures` (or a fitted pipeline or search holding
one), a :class:`~skcnn.Backbone` (or a backbone plugin, which is
loaded), any ``torch.nn.Module``, or any estimator of your own with an
``inspection_target()`` method (see :class:`InspectionTarget`).

:func:`learning_curve`
    Loss and accuracy per epoch, from ``history_``.
:func:`available_layers`
    The layer names a network offers.
:func:`conv_kernels`
    The weights of one convolution layer.
:func:`feature_maps`
    What one image becomes at one layer, after the estimator's own
    preprocessing.

Nothing here changes the network: forward passes run in eval mode without
gradients and leave every module's training mode as it was.
"""

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._backbone import FORWARD_FEATURES, LayerOutput
from ._inspection_input import batch_of_one, module_batch
from ._inspection_target import InspectionTarget
from .plugins import BackbonePlugin

__all__ = ["InspectionTarget", "resolve_target", "learning_curve", "available_layers",
           "conv_kernels", "feature_maps"]

#: The keys :func:`learning_curve` reads from each epoch of the history.
CURVE_KEYS = ("train_loss", "valid_loss", "train_acc", "valid_acc")


# ---------------------------------------------------------------------------- the target
def resolve_target(estimator):
    """The :class:`InspectionTarget` of a network, estimator, pipeline or search.

    Parameters
    ----------
    estimator : estimator, Backbone, BackbonePlugin or torch.nn.Module
        A fitted search is replaced by its ``best_estimator_``; a pipeline by
        its first step that has an ``inspection_target()`` method; a backbone
        plugin by the :class:`~skcnn.Backbone` it loads. A plain
        ``nn.Module`` is fed images as they are (``uint8`` scaled to [0, 1]),
        laid out for the input channels of its first convolution.

    Returns
    -------
    target : InspectionTarget

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    TypeError
        When there is no network to look into.
    """
    if hasattr(estimator, "best_estimator_"):  # a fitted search
        return resolve_target(estimator.best_estimator_)
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            if _has_hook(step):
                return resolve_target(step)
        raise TypeError("The pipeline has no skcnn network step (CNNClassifier, "
                        "FineTunedClassifier or PretrainedFeatures); pass the network itself.")
    if isinstance(estimator, BackbonePlugin):
        estimator = estimator.load()
    if _has_hook(estimator):
        target = estimator.inspection_target()
        if not isinstance(target, InspectionTarget):
            raise TypeError(f"{type(estimator).__name__}.inspection_target() returned a "
                            f"{type(target).__name__}; it must return an InspectionTarget.")
        return target
    if isinstance(estimator, nn.Module):
        return InspectionTarget(module=estimator, label=type(estimator).__name__,
                                prepare=lambda X: module_batch(estimator, X))
    raise TypeError(
        f"Cannot look inside a {type(estimator).__name__}: pass a fitted CNNClassifier, "
        "FineTunedClassifier or PretrainedFeatures, a skcnn Backbone (e.g. "
        "resolve_backbone('efficientnet_lite0').load()), a torch.nn.Module, or an estimator "
        "with an inspection_target() method.")


def _has_hook(obj):
    return not isinstance(obj, type) and callable(getattr(obj, "inspection_target", None))


# ---------------------------------------------------------------------------- learning curve
def learning_curve(estimator):
    """Loss and accuracy per epoch of a fitted network, from its training history.

    Parameters
    ----------
    estimator : CNNClassifier or FineTunedClassifier
        A fitted classifier (or any estimator whose :class:`InspectionTarget`
        has a history, or that has a skorch ``history_``). A fitted pipeline
        ending in one, or a fitted search, is accepted too.

    Returns
    -------
    curve : dict
        ``'label'`` (the estimator's class name), ``'n_epochs'`` (int), ``'series'``: for each of
        ``'train_loss'``, ``'valid_loss'``, ``'train_acc'``, ``'valid_acc'``
        that the history records, a pair ``(epochs, values)`` of arrays (int
        and float); ``'restored_epoch'``: the epoch whose weights early
        stopping restored, or None; ``'lowest_valid_loss_epoch'``: the epoch
        of the lowest validation loss, or None without validation.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    TypeError
        When it has no training history.
    ValueError
        When the history holds no epoch.
    """
    check_is_fitted(estimator)
    fitted = _final_step(estimator)
    if _has_hook(fitted):
        target = fitted.inspection_target()
        history, restored = target.history, target.restored_epoch
    else:
        check_is_fitted(fitted)
        history, restored = getattr(fitted, "history_", None), None
    name = type(fitted).__name__
    if history is None:
        raise TypeError(f"{name} has no history_; a learning curve needs the per-epoch history "
                        "of a fitted CNNClassifier or FineTunedClassifier.")
    rows = [dict(row) for row in history]
    if not rows:
        raise ValueError(f"The history_ of this {name} holds no epoch; fit it first.")
    series = {}
    for key in CURVE_KEYS:
        points = [(row.get("epoch", i + 1), float(row[key])) for i, row in enumerate(rows)
                  if row.get(key) is not None]
        if points:
            epochs, values = zip(*points)
            series[key] = (np.asarray(epochs, dtype=int), np.asarray(values, dtype=float))
    lowest = None
    if "valid_loss" in series:
        epochs, values = series["valid_loss"]
        lowest = int(epochs[int(np.argmin(values))])
    return {"label": name, "n_epochs": len(rows), "series": series,
            "restored_epoch": restored, "lowest_valid_loss_epoch": lowest}


def _final_step(estimator):
    """The fitted network inside a search (``best_estimator_``) or at the end of a pipeline."""
    if hasattr(estimator, "best_estimator_"):
        return _final_step(estimator.best_estimator_)
    if isinstance(estimator, Pipeline):
        return _final_step(estimator.steps[-1][1])
    return estimator


# ---------------------------------------------------------------------------- layers
def available_layers(estimator):
    """The layers of a network that the other functions take as ``layer``.

    Parameters
    ----------
    estimator : estimator, Backbone or torch.nn.Module
        As in :func:`resolve_target`.

    Returns
    -------
    layers : dict
        ``'conv2d'``: names of the ``nn.Conv2d`` layers in module order (what
        ``layer=0, 1, ...`` count); ``'stages'``: the named stages (e.g. the
        backbone's ``layer_names()``); ``'other'``: ``(name, type name)`` of
        every other submodule.
    """
    return _layers(resolve_target(estimator))


def _layers(target):
    convs = [name for name, _ in _convs(target.module)]
    others = [(n, type(m).__name__) for n, m in target.module.named_modules()
              if n and n not in convs]
    return {"conv2d": convs, "stages": list(target.layer_names), "other": others}


def _convs(module):
    return [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]


def _find_layer(target, layer, *, conv_only=False):
    """``(name, module)`` of ``layer``: an index among the Conv2d layers or a module name.

    ``module`` is None for ``'forward_features'`` (the model's own method).
    """
    convs = _convs(target.module)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not convs:
            raise ValueError(f"{target.label} has no Conv2d layer, so layer={layer} (an index "
                             f"among them) does not exist. {_valid_layers(target, conv_only)}")
        if not -len(convs) <= layer < len(convs):
            raise ValueError(
                f"layer={layer} is out of range: {target.label} has {len(convs)} Conv2d "
                f"layer(s), indices 0 to {len(convs) - 1} (negative ones count from the end). "
                f"{_valid_layers(target, conv_only)}")
        return convs[int(layer)]
    if not isinstance(layer, str):
        raise TypeError("layer must be an int (an index among the Conv2d layers, in module "
                        f"order) or a module name (str); got {type(layer).__name__}.")
    modules = dict(target.module.named_modules())
    modules.pop("", None)
    if layer in modules:
        module = modules[layer]
        if conv_only and layer not in dict(convs):
            inner = [n for n, _ in convs if n.startswith(layer + ".")]
            hint = f" It contains the convolution {inner[0]!r}; pass that." if inner else ""
            raise ValueError(f"Layer {layer!r} of {target.label} is a {type(module).__name__}, "
                             f"not a Conv2d: it has no kernels to show.{hint} "
                             f"{_valid_layers(target, conv_only)}")
        return layer, module
    if layer == FORWARD_FEATURES and not conv_only and hasattr(target.module, FORWARD_FEATURES):
        return layer, None
    raise ValueError(f"{target.label} has no layer {layer!r}. {_valid_layers(target, conv_only)}")


def _listing(names, limit=60):
    names = [repr(n) for n in names]
    if len(names) > limit:
        half = limit // 2
        names = names[:half] + [f"... ({len(names) - limit} more) ..."] + names[-half:]
    return ", ".join(names)


def _valid_layers(target, conv_only):
    layers = _layers(target)
    convs = layers["conv2d"]
    parts = []
    if convs:
        parts.append(f"Conv2d layers, by index 0-{len(convs) - 1} or by name: {_listing(convs)}")
    else:
        parts.append("the network has no Conv2d layer")
    if not conv_only:
        if layers["stages"]:
            parts.append(f"the backbone's stages: {_listing(layers['stages'])}")
        if len(layers["other"]) <= 40:
            parts.append("other modules (their output must be a feature map): "
                         + ", ".join(f"{n!r} ({kind})" for n, kind in layers["other"]))
        else:
            parts.append("or any other module name of the network whose output is a feature map "
                         "(see model.named_modules())")
    return "Valid layers: " + "; ".join(parts) + "."


# ---------------------------------------------------------------------------- kernels
def conv_kernels(estimator, layer=0):
    """The weights of one convolution layer.

    Parameters
    ----------
    estimator : estimator, Backbone or torch.nn.Module
        As in :func:`resolve_target`.
    layer : int or str, default=0
        An index among the network's ``nn.Conv2d`` layers in module order (0
        is the first, -1 the last), or a module name as ``named_modules()``
        gives it (for the pretrained estimators, a name in the backbone's
        model, e.g. ``'conv_stem'``).

    Returns
    -------
    kernels : dict
        ``'weight'``: float32 array ``(out_channels, in_channels / groups,
        kh, kw)``, a copy of the layer's weights; ``'bias'``: float32 array
        ``(out_channels,)`` or None; ``'name'``, ``'label'`` (the network),
        ``'kind'`` (the layer's type name), ``'in_channels'``,
        ``'out_channels'``, ``'groups'``.

    Raises
    ------
    ValueError
        When ``layer`` does not exist or is not a convolution (the message
        lists the valid layers).
    """
    target = resolve_target(estimator)
    name, conv = _find_layer(target, layer, conv_only=True)
    bias = None if conv.bias is None else conv.bias.detach().float().cpu().numpy().copy()
    return {"name": name, "label": target.label, "kind": type(conv).__name__,
            "weight": conv.weight.detach().float().cpu().numpy().copy(), "bias": bias,
            "in_channels": conv.in_channels, "out_channels": conv.out_channels,
            "groups": conv.groups}


# ---------------------------------------------------------------------------- feature maps
def feature_maps(estimator, image, layer=0):
    """The feature maps one image produces at one layer of a network.

    The image is prepared as the estimator's ``predict`` or ``transform``
    would prepare it (the target's ``prepare``), then runs through the
    network in eval mode without gradients, up to ``layer`` only.

    Parameters
    ----------
    estimator : estimator, Backbone or torch.nn.Module
        As in :func:`resolve_target`.
    image : array-like, PIL image or path
        One image, as :func:`skcnn.plotting.plot_feature_maps` takes it (a
        batch holding one image is accepted too).
    layer : int or str, default=0
        An index among the ``nn.Conv2d`` layers, or any module name whose
        output is a 4-D map (also a named stage or ``'forward_features'``).

    Returns
    -------
    maps : dict
        ``'maps'``: float32 array ``(C, h, w)``, the layer's output for the
        image; ``'input'``: float32 array ``(C_in, H, W)``, the image as the
        network receives it; ``'picture'``: that input as an ``(H, W)`` or
        ``(H, W, 3)`` image to show (normalisation undone for pretrained
        networks); ``'name'``, ``'label'``, ``'kind'`` (the layer's type
        name, or ``'forward_features'``).

    Raises
    ------
    ValueError
        When ``layer`` does not exist or gives no 4-D map, or when ``image``
        does not have a shape the network takes (the messages say what would
        work).
    """
    target = resolve_target(estimator)
    name, module = _find_layer(target, layer)
    x = _prepared_image(target, image)
    output = _layer_output(target, name, x)
    return {"name": name, "label": target.label,
            "kind": type(module).__name__ if module is not None else FORWARD_FEATURES,
            "maps": output[0].detach().float().cpu().numpy(),
            "input": x[0].detach().float().cpu().numpy(), "picture": _picture(target, x)}


def _prepared_image(target, image):
    """One image as ``target.module`` is fed: float tensor ``(1, C, H, W)``."""
    batch = batch_of_one(target, image)
    try:
        x = target.prepare(batch)
    except ValueError as exc:
        raise ValueError(f"This {target.label} cannot take the image: {exc}") from exc
    return torch.as_tensor(x)


def _layer_output(target, name, x):
    """The output of layer ``name`` when ``x`` runs through ``target.module``."""
    root = target.module
    modes = [(m, m.training) for m in root.modules()]
    param = next(root.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    try:
        root.eval()
        with torch.inference_mode():
            return LayerOutput(root, name)(x.to(device=device, dtype=dtype))
    except ValueError as exc:  # not a 4-D map
        raise ValueError(f"{exc} {_valid_layers(target, False)}") from None
    except RuntimeError as exc:
        if "was not called" not in str(exc):
            raise
        raise ValueError(f"Layer {name!r} of {target.label} is not used when the network runs, "
                         f"so it has no output. {_valid_layers(target, False)}") from None
    finally:
        for m, mode in modes:  # back to the modes the caller left (no train() side effects)
            m.training = mode


def _picture(target, x):
    """The network's input ``x`` (1, C, H, W) as an (H, W) or (H, W, 3) array to show."""
    image = x[0].detach().float().cpu().numpy()
    if target.preprocess is not None:  # undo the normalisation: the image as resized, cropped
        mean = np.asarray(target.preprocess.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(target.preprocess.std, dtype=np.float32)[:, None, None]
        image = np.clip(image * std + mean, 0.0, 1.0)
    if image.shape[0] == 3:
        image = image.transpose(1, 2, 0)
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            image = (image - low) / (high - low or 1.0)
        return image
    return image.mean(axis=0)

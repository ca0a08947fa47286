"""The one thing an estimator tells :mod:`skcnn.inspection`: :class:`InspectionTarget`.

A leaf module (it imports nothing from skcnn), so that estimators and backbones
at any level can return one without importing the inspection code above them.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Tuple

__all__ = ["InspectionTarget"]


@dataclass(frozen=True)
class InspectionTarget:
    """What :mod:`skcnn.inspection` (and so :mod:`skcnn.plotting`) looks at in an estimator.

    Every skcnn estimator with a network returns one from its public
    ``inspection_target()`` method: :class:`~skcnn.CNNClassifier`,
    :class:`~skcnn.FineTunedClassifier`, :class:`~skcnn.PretrainedFeatures`
    and :class:`~skcnn.Backbone`. An estimator of your own (or a
    plugin's) works with the inspection and plotting functions once it has a
    method ``inspection_target()`` that returns one (raising scikit-learn's
    ``NotFittedError`` while it is not fitted).

    Parameters
    ----------
    module : torch.nn.Module
        The root network. Layer names (``layer='blocks.1'``) are the names of
        its submodules as ``module.named_modules()`` gives them, and its
        ``Conv2d`` layers, in that order, are what ``layer=0, 1, ...`` count.
        It is looked at, never changed: the training modes of its submodules
        are restored after each forward pass.
    prepare : callable
        ``prepare(X)`` turns a batch of images, given exactly as the
        estimator's ``predict`` or ``transform`` takes them (an array of
        images, a list of PIL images or of file paths), into the float batch
        ``(N, C, H, W)`` (a tensor or an array) that ``module`` is fed. It
        must not change the estimator.
    layer_names : sequence of str, default=()
        Named stages worth showing besides the individual modules, from input
        to output (e.g. ``Backbone.layer_names()``); they are listed when a
        layer is not found. ``'forward_features'`` refers to the module's own
        ``forward_features`` method (timm models).
    history : skorch.History or list of dict, default=None
        The per-epoch training history (``train_loss``, ``train_acc`` and,
        with a validation set, ``valid_loss``, ``valid_acc``); None for
        networks that were not trained by the estimator.
    restored_epoch : int, default=None
        The epoch whose weights early stopping restored at the end of the
        last fit, or None.
    input_shape : tuple of int, default=None
        ``(channels, height, width)`` of the images ``prepare`` takes when it
        takes one shape only (a network trained from scratch); None when it
        resizes images of any size.
    preprocess : skcnn.plugins.PreprocessConfig, default=None
        The resize, crop and normalisation ``prepare`` applies (pretrained
        networks), used to show the input as the network sees it with the
        normalisation undone; None when ``prepare`` does not normalise.
    label : str, default=''
        A short name for titles and messages, e.g.
        ``"FineTunedClassifier (efficientnet_lite0)"``.
    """

    module: Any
    prepare: Callable[[Any], Any]
    layer_names: Sequence[str] = field(default=())
    history: Any = None
    restored_epoch: Optional[int] = None
    input_shape: Optional[Tuple[int, int, int]] = None
    preprocess: Any = None
    label: str = ""

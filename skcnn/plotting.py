"""Charts. This module only draws: what the charts show is computed, as arrays, by
:mod:`skcnn.inspection`. Figures are built without pyplot, so they work on any backend
(and on headless machines) and never open a window: save them with
``fig.savefig(path)``, or show them inline in a notebook with
:func:`show_figure` (plain ``display(fig)`` works too once a matplotlib
backend for IPython is active).

What the charts show
--------------------
:func:`plot_comparison`
    The result of :func:`skcnn.compare`: scores and time per model.
:func:`plot_train_sizes`
    The result of ``skcnn.compare(..., train_sizes=...)``: score and fit time
    against the training-set size, one line per model.
:func:`plot_learning_curve`
    Loss and accuracy per epoch of a fitted :class:`~skcnn.CNNClassifier` or
    :class:`~skcnn.FineTunedClassifier` (training and, with early stopping,
    validation).
:func:`plot_filters`
    The learned kernels of one convolution layer.
:func:`plot_feature_maps`
    What one image becomes at one layer of the network.

Confusion matrices
------------------
skcnn has no function for them: scikit-learn's
:class:`~sklearn.metrics.ConfusionMatrixDisplay` works with every skcnn
classifier (and pipeline) as it is. Give it axes of a pyplot-free figure to
keep pyplot's global state out of it::

    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    fig = Figure(figsize=(6, 5))
    ConfusionMatrixDisplay.from_estimator(clf, X_test, y_test, ax=fig.subplots())
    fig.savefig("confusion.png")

(In a notebook, ``ConfusionMatrixDisplay.from_estimator(clf, X_test, y_test)``
without ``ax`` draws through pyplot as usual.)
"""

import math

import numpy as np

from ._comparison_chart import plot_comparison, plot_train_sizes
from ._figures import new_figure, show_figure
from .inspection import conv_kernels, feature_maps, learning_curve

__all__ = ["plot_comparison", "plot_train_sizes", "plot_learning_curve", "plot_filters",
           "plot_feature_maps",
           "show_figure"]

_TRAIN, _VALID = "#3b75af", "#e1812c"


# ============================================================================ learning curve
def plot_learning_curve(estimator):
    """Loss and accuracy per epoch of a fitted network, from its ``history_``.

    Parameters
    ----------
    estimator : CNNClassifier or FineTunedClassifier
        A fitted classifier (any estimator with a skorch ``history_`` whose
        epochs record ``train_loss`` and ``train_acc``). A fitted
        :class:`~sklearn.pipeline.Pipeline` ending in one, or a fitted search
        (its ``best_estimator_``), is accepted too.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes: left, the cross-entropy loss per epoch; right, the accuracy
        per epoch. Each shows the training curve and, when the estimator
        held out validation data (``early_stopping=True``), the validation
        curve, with a dashed line at the epoch whose weights early stopping
        restored (its best validation loss). Epochs of ``partial_fit`` and
        ``warm_start`` calls follow each other, as in ``history_``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    TypeError
        When it has no training history (not a skcnn classifier).

    See Also
    --------
    skcnn.inspection.learning_curve : The series drawn, as arrays.
    """
    from matplotlib.ticker import MaxNLocator

    curve = learning_curve(estimator)
    series = curve["series"]
    restored = curve["restored_epoch"]
    best = restored if restored is not None else curve["lowest_valid_loss_epoch"]
    fig = new_figure(10, 3.8, layout="constrained")
    ax_loss, ax_score = fig.subplots(1, 2)
    for ax, metric, ylabel in ((ax_loss, "loss", "loss (cross-entropy)"),
                               (ax_score, "acc", "accuracy")):
        for prefix, colour, label in (("train", _TRAIN, "training"), ("valid", _VALID, "validation")):
            if f"{prefix}_{metric}" in series:
                epochs, values = series[f"{prefix}_{metric}"]
                ax.plot(epochs, values, color=colour, label=label,
                        marker="o" if len(epochs) <= 30 else None, markersize=3)
        if best is not None:
            note = "weights restored from" if restored else "lowest validation loss at"
            ax.axvline(best, color="#777777", linestyle="--", linewidth=1,
                       label=f"{note} epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_loss.set_title("Loss")
    ax_score.set_title("Score")
    low, high = ax_score.get_ylim()
    ax_score.set_ylim(low, min(high, 1.02))
    n = curve["n_epochs"]
    fig.suptitle(f"{curve['label']}: {n} epoch{'s' if n != 1 else ''}", fontsize=10)
    return fig


# ============================================================================ inside a network
def plot_filters(estimator, layer=0, *, max_filters=64):
    """The learned kernels of one convolution layer, one panel per output filter.

    Parameters
    ----------
    estimator : estimator, Backbone or torch.nn.Module
        A fitted :class:`~skcnn.CNNClassifier`, :class:`~skcnn.FineTunedClassifier`
        or :class:`~skcnn.PretrainedFeatures` (or a fitted pipeline or search
        holding one), a :class:`~skcnn.Backbone` (or a backbone
        plugin, which is loaded), any ``torch.nn.Module``, or an estimator
        with an ``inspection_target()`` method
        (:class:`skcnn.inspection.InspectionTarget`).
    layer : int or str, default=0
        Which convolution: an index among the network's ``nn.Conv2d`` layers
        in module order (0 is the first, -1 the last), or a module name as
        ``named_modules()`` gives it. For the pretrained estimators names are
        those of the backbone's model (e.g. ``'conv_stem'``), not of the
        wrapper around it.
    max_filters : int, default=64
        Show at most the first ``max_filters`` filters (the title says how
        many of how many).

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per filter shown. When the layer reads 3 input channels
        (the first layer of an RGB network) each kernel is drawn as a colour
        image, its RGB weights mapped around mid-grey: ``0.5 + w / (2 * m)``
        with ``m`` the largest absolute weight of the filters shown (one
        scale for the layer, so filters can be compared). Otherwise each
        panel is the kernel averaged over its input channels, on a diverging
        colour map symmetric around 0 (blue negative, red positive) shared by
        all panels, with a colour bar (an extra axes).

    Raises
    ------
    ValueError
        When ``layer`` does not exist or is not a convolution (the message
        lists the valid layers).
    sklearn.exceptions.NotFittedError
        When an estimator is not fitted.

    See Also
    --------
    skcnn.inspection.conv_kernels : The weights drawn, as an array.
    """
    max_filters = _positive_int(max_filters, "max_filters")
    found = conv_kernels(estimator, layer)
    weight = found["weight"]  # (out, in / groups, kh, kw)
    n_out, n_in, kh, kw = weight.shape
    shown = weight[:max_filters]
    rgb = n_in == 3
    kernels = shown.transpose(0, 2, 3, 1) if rgb else shown.mean(axis=1)
    scale = float(np.abs(kernels).max()) or 1.0
    n = len(kernels)
    nrows, ncols = _grid(n)
    fig = new_figure(max(1.05 * ncols + (0.2 if rgb else 1.2), 4.0), 1.05 * nrows + 0.9,
                  layout="constrained")
    axes = []
    image = None
    for i, kernel in enumerate(kernels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if rgb:
            ax.imshow(np.clip(0.5 + kernel / (2 * scale), 0.0, 1.0), interpolation="nearest")
        else:
            image = ax.imshow(kernel, cmap="RdBu_r", vmin=-scale, vmax=scale,
                              interpolation="nearest")
        _bare(ax, str(i))
        axes.append(ax)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.9, label="weight")
    groups = f", groups={found['groups']}" if found["groups"] > 1 else ""
    if rgb:
        how = " (RGB kernels, grey = 0)"
    elif n_in > 1:
        how = f" (each the mean over its {n_in} input channels)"
    else:
        how = ""
    fig.suptitle(f"{found['label']}, layer {found['name']!r}: {found['kind']}"
                 f"({found['in_channels']}→{n_out}, {kh}x{kw}{groups})\n"
                 f"{n} of {n_out} filters shown{how}", fontsize=9)
    return fig


def plot_feature_maps(estimator, image, layer=0, *, max_maps=32, show_input=True):
    """The feature maps one image produces at one layer of a network.

    The image goes through the estimator's own preprocessing (for a
    :class:`~skcnn.CNNClassifier` the conversion ``predict`` applies, for the
    pretrained estimators and backbones the backbone's resize, crop and
    normalisation), then through the network in eval mode without gradients,
    up to ``layer`` only.

    Parameters
    ----------
    estimator : estimator, Backbone or torch.nn.Module
        As in :func:`plot_filters`. A plain ``nn.Module`` is fed the image as
        it is (``uint8`` scaled to [0, 1]), laid out to match the input
        channels of its first convolution.
    image : array-like, PIL image or path
        One image. For a CNNClassifier an array shaped like one of the
        training images: ``(H, W)`` for grayscale, ``(H, W, C)`` or
        ``(C, H, W)``, or a flat row of ``C * H * W`` values when it was
        fitted on flat rows. Pretrained networks take any size, grayscale or
        colour, also as a PIL image or a file path. A batch holding one image,
        ``(1, ...)``, is accepted too.
    layer : int or str, default=0
        An index among the network's ``nn.Conv2d`` layers (module order), or
        any module name whose output is a 4-D map (a convolution, an
        activation, a pooling, a block; for pretrained networks also a stage
        of ``Backbone.layer_names()``, e.g. ``'blocks.1'``).
    max_maps : int, default=32
        Show at most the first ``max_maps`` channels.
    show_input : bool, default=True
        Add a first panel with the image as the network receives it (for
        pretrained networks: resized and cropped, normalisation undone).

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per feature map shown (each on its own colour scale, viridis:
        yellow is the map's strongest response), plus the input panel.

    Raises
    ------
    ValueError
        When ``layer`` does not exist or gives no 4-D map (the message lists
        the valid layers), or when ``image`` does not have a shape the
        network takes (the message names the expected and the given shape).
    sklearn.exceptions.NotFittedError
        When an estimator is not fitted.

    See Also
    --------
    skcnn.inspection.feature_maps : The maps drawn, as arrays.
    """
    max_maps = _positive_int(max_maps, "max_maps")
    found = feature_maps(estimator, image, layer)
    maps = found["maps"]
    shown = maps[:max_maps]
    n = len(shown) + bool(show_input)
    nrows, ncols = _grid(n)
    fig = new_figure(max(1.3 * ncols, 4.0), 1.3 * nrows + 0.8, layout="constrained")
    position = 1
    if show_input:
        ax = fig.add_subplot(nrows, ncols, position)
        picture = found["picture"]
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
        _bare(ax, "input")
        position += 1
    for i, fmap in enumerate(shown):
        ax = fig.add_subplot(nrows, ncols, position + i)
        ax.imshow(fmap, cmap="viridis", interpolation="nearest")
        _bare(ax, str(i))
    fig.suptitle(f"{found['label']}, layer {found['name']!r} ({found['kind']}): {len(shown)} of "
                 f"{len(maps)} feature maps, {maps.shape[1]}x{maps.shape[2]} each (own colour "
                 "scale per map)", fontsize=9)
    return fig


def _bare(ax, title):
    """A small title and no ticks: a panel of a grid of images."""
    ax.set_title(title, fontsize=7, pad=2)
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(n, max_columns=8):
    """``(rows, columns)`` for ``n`` panels: at most ``max_columns``, rows filled evenly."""
    rows = math.ceil(n / max_columns)
    return rows, math.ceil(n / rows)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return int(value)

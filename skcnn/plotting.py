"""Charts. Figures are built without pyplot, so they work on any backend
(and on headless machines) and never open a window: save them with
``fig.savefig(path)``, or show them inline in a notebook with
:func:`show_figure` (plain ``display(fig)`` works too once a matplotlib
backend for IPython is active).

What the charts show
--------------------
:func:`plot_comparison`
    The result of :func:`skcnn.compare`: scores and time per model.
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

import io
import math

import numpy as np

__all__ = ["plot_comparison", "plot_learning_curve", "plot_filters", "plot_feature_maps",
           "show_figure"]

_OK, _FEATURES, _FAILED = "#3b75af", "#e1812c", "#999999"
_TRAIN, _VALID = "#3b75af", "#e1812c"


def _figure(width, height, layout=None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)  # an Agg canvas: savefig works without a GUI backend
    return fig


def show_figure(fig, filename=None, *, dpi=100):
    """Show ``fig`` inline in a Jupyter notebook, or save it as a PNG file elsewhere.

    The examples use it so that the same code works as a notebook and as a
    plain script: in a running IPython kernel the figure is displayed as a
    PNG image (no ``%matplotlib`` magic or pyplot needed); anywhere else it is
    written to ``filename``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure, e.g. from :func:`plot_filters`.
    filename : str or path-like, default=None
        Where to save the figure when there is no notebook to show it in;
        ``None`` does nothing then.
    dpi : int, default=100
        Resolution of the PNG.

    Returns
    -------
    path : str or None
        The file written, or None when the figure was displayed (or not saved).
    """
    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is not a dependency
        pass
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import Image, display

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        display(Image(data=buffer.getvalue(), format="png"))
        return None
    if filename is None:
        return None
    import os

    folder = os.path.dirname(os.fspath(filename))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(filename, dpi=dpi)
    print(f"figure saved to {os.fspath(filename)}")
    return os.fspath(filename)


# ============================================================================ comparison
def plot_comparison(result, metric=None):
    """Scores (mean +/- std over the folds) beside the time each model took.

    Parameters
    ----------
    result : ComparisonResult
        What :func:`skcnn.compare` returned.
    metric : str, default=None
        Which score to show; the first one by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes: left, horizontal bars of the score with error bars (the
        standard deviation over the folds); right, the total seconds each
        model needed (log scale), the one pretrained-feature extraction
        hatched on the feature-based models. Models that failed or were
        skipped are listed with their status instead of a bar.
    """
    table = result.table
    metric = metric or result.scoring[0]
    if f"{metric}_mean" not in table:
        raise ValueError(f"No scores for metric {metric!r}; the result has "
                         f"{', '.join(map(repr, result.scoring))}.")
    names = list(table["model"])
    n = len(names)
    fig = _figure(11, 1.8 + 0.45 * max(n, 2))
    ax_score, ax_time = fig.subplots(1, 2, sharey=True,
                                     gridspec_kw={"width_ratios": [1.2, 1]})
    positions = np.arange(n)[::-1]  # first model on top
    means = table[f"{metric}_mean"].to_numpy(dtype=float)
    stds = table[f"{metric}_std"].to_numpy(dtype=float)
    ok = ~np.isnan(means)
    colors = [_FEATURES if inp == "features" else _OK for inp in table["input"]]

    ax_score.barh(positions[ok], means[ok], xerr=stds[ok], color=np.array(colors)[ok],
                  capsize=3, height=0.6, error_kw={"elinewidth": 1})
    low = np.nanmin(means - stds) if ok.any() else 0.0
    high = np.nanmax(means + stds) if ok.any() else 1.0
    span = max(high - low, 0.02)
    left = max(0.0, low - 0.25 * span) if 0.0 <= low <= 1.0 else low - 0.25 * span
    right = min(1.0, high + 0.1 * span) if high <= 1.0 else high + 0.1 * span
    if right <= left:
        right = left + 0.05
    ax_score.set_xlim(left, right)
    for pos, mean, std, good, status in zip(positions, means, stds, ok, table["status"]):
        if good:  # the value inside the bar, by its base
            ax_score.text(left + 0.01 * (right - left), pos, f"{mean:.3f}", va="center",
                          fontsize=8, color="white", fontweight="bold")
        else:
            short = str(status) if len(str(status)) <= 60 else str(status)[:57] + "..."
            ax_score.text(left + 0.01 * (right - left), pos, short, va="center", fontsize=8,
                          color=_FAILED)
    ax_score.set_yticks(positions, names)
    ax_score.set_ylim(-0.6, n - 0.4)  # rows without a bar (failed, skipped) stay in view
    ax_score.set_xlabel(f"{metric} (mean ± std over {_n_splits(result)})")
    ax_score.grid(axis="x", alpha=0.3)
    ax_score.set_title("Score")

    total = table["total_time"].to_numpy(dtype=float)
    extract = np.nan_to_num(table["extract_time"].to_numpy(dtype=float), nan=0.0)
    timed = ~np.isnan(total)
    if timed.any():
        own = np.clip(total - extract, 1e-3, None)
        ax_time.barh(positions[timed], own[timed], color=np.array(colors)[timed], height=0.6,
                     label="fit + predict, all folds (orange: on pretrained features)")
        shared = timed & (extract > 0)
        if shared.any():
            ax_time.barh(positions[shared], extract[shared], left=own[shared], height=0.6,
                         color="white", edgecolor="#555555", hatch="///",
                         label="shared input prepared once (features)")
        ax_time.set_xscale("log")
        for pos, seconds in zip(positions[timed], total[timed]):
            label = f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds:.3f} s"
            ax_time.text(seconds * 1.1, pos, label, va="center", fontsize=8)
        smallest = max(float(np.nanmin(own[timed])), 1e-3)
        ax_time.set_xlim(smallest / 3, np.nanmax(total) * 6)
        handles, labels = ax_time.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower right", ncol=2, fontsize=7, frameon=False)
    ax_time.set_xlabel("seconds (log scale)")
    ax_time.grid(axis="x", alpha=0.3, which="major")
    ax_time.set_title("Time")
    fig.suptitle(f"{result.n_samples} images, {len(result.classes)} classes; "
                 f"{result.split_description}", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _n_splits(result):
    k = len(result.splits)
    return "1 hold-out split" if k == 1 else f"{k} folds"


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
    """
    from matplotlib.ticker import MaxNLocator
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    fitted = _final_step(estimator)
    check_is_fitted(fitted)
    history = getattr(fitted, "history_", None)
    if history is None:
        raise TypeError(
            f"{type(fitted).__name__} has no history_; plot_learning_curve plots the per-epoch "
            "history of a fitted CNNClassifier or FineTunedClassifier.")
    rows = [dict(row) for row in history]
    if not rows:
        raise ValueError(f"The history_ of this {type(fitted).__name__} holds no epoch; fit it "
                         "first.")

    def series(key):
        points = [(row.get("epoch", i + 1), float(row[key])) for i, row in enumerate(rows)
                  if row.get(key) is not None]
        return [p[0] for p in points], [p[1] for p in points]

    fig = _figure(10, 3.8, layout="constrained")
    ax_loss, ax_score = fig.subplots(1, 2)
    valid_epochs, valid_loss = series("valid_loss")
    best = valid_epochs[int(np.argmin(valid_loss))] if valid_loss else None
    restored = _restored_epoch(fitted)
    if restored is not None:
        best = restored
    for ax, metric, ylabel in ((ax_loss, "loss", "loss (cross-entropy)"),
                               (ax_score, "acc", "accuracy")):
        for prefix, colour, label in (("train", _TRAIN, "training"), ("valid", _VALID, "validation")):
            epochs, values = series(f"{prefix}_{metric}")
            if epochs:
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
    fig.suptitle(f"{type(fitted).__name__}: {len(rows)} epoch{'s' if len(rows) != 1 else ''}",
                 fontsize=10)
    return fig


def _restored_epoch(fitted):
    """The epoch whose weights early stopping restored at the end of the last fit, or None."""
    for name, callback in getattr(getattr(fitted, "net_", None), "callbacks_", None) or []:
        if (name == "early_stopping" and getattr(callback, "load_best", False)
                and getattr(callback, "best_model_weights_", None) is not None):
            return int(callback.best_epoch_) or None
    return None


def _final_step(estimator):
    """The fitted network inside a search (``best_estimator_``) or at the end of a pipeline."""
    from sklearn.pipeline import Pipeline

    if hasattr(estimator, "best_estimator_"):
        return _final_step(estimator.best_estimator_)
    if isinstance(estimator, Pipeline):
        return _final_step(estimator.steps[-1][1])
    return estimator


# ============================================================================ inside a network
class _Network:
    """A network to look into: its root module, how images are fed to it, its name.

    ``root`` is the module whose submodule names ``layer`` refers to: the
    classifier's own network for a CNNClassifier, the pretrained backbone's
    model (names as in ``Backbone.layer_names()``, e.g. ``'blocks.1'``) for the
    pretrained estimators.
    """

    def __init__(self, root, label, prepare, *, preprocess=None, stages=()):
        self.root = root
        self.label = label
        self.prepare = prepare  # image -> float tensor (1, C, H, W), as the network is fed
        self.preprocess = preprocess  # PreprocessConfig of pretrained networks (for display)
        self.stages = list(stages)

    def convs(self):
        from torch import nn

        return [(name, m) for name, m in self.root.named_modules() if isinstance(m, nn.Conv2d)]

    def as_picture(self, x):
        """The network's input ``x`` (1, C, H, W) as an (H, W) or (H, W, 3) array to show."""
        image = x[0].detach().float().cpu().numpy()
        if self.preprocess is not None:  # undo the normalisation: the image as resized and cropped
            mean = np.asarray(self.preprocess.mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.preprocess.std, dtype=np.float32)[:, None, None]
            image = np.clip(image * std + mean, 0.0, 1.0)
        if image.shape[0] == 3:
            image = image.transpose(1, 2, 0)
            low, high = float(image.min()), float(image.max())
            if low < 0.0 or high > 1.0:
                image = (image - low) / (high - low or 1.0)
            return image
        return image.mean(axis=0)


def _network(estimator):
    """Wrap what the plotting functions accept as a :class:`_Network`."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted
    from torch import nn

    from .base import BaseImageClassifier
    from .plugins import BackbonePlugin
    from ._backbone import Backbone
    from .pretrained.features import PretrainedFeatures
    from .pretrained.finetune import FineTunedClassifier

    if hasattr(estimator, "best_estimator_"):  # a fitted search
        return _network(estimator.best_estimator_)
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            if isinstance(step, (BaseImageClassifier, PretrainedFeatures)):
                return _network(step)
        raise TypeError("The pipeline has no skcnn network step (CNNClassifier, "
                        "FineTunedClassifier or PretrainedFeatures); pass the network itself.")
    name = type(estimator).__name__
    if isinstance(estimator, FineTunedClassifier):
        check_is_fitted(estimator)
        return _Network(estimator.module_.trunk.model,
                        f"{name} ({_backbone_name(estimator.backbone)})",
                        lambda image: _classifier_batch(estimator, image, pretrained=True),
                        preprocess=estimator.preprocess_,
                        stages=getattr(estimator, "stages_", ()))
    if isinstance(estimator, BaseImageClassifier):
        check_is_fitted(estimator)
        return _Network(estimator.module_, name,
                        lambda image: _classifier_batch(estimator, image, pretrained=False))
    if isinstance(estimator, PretrainedFeatures):
        check_is_fitted(estimator)
        config = estimator.preprocess_
        return _Network(estimator.model_[0].model,
                        f"{name} ({_backbone_name(estimator.backbone)})",
                        lambda image: _pretrained_batch(image, config, name),
                        preprocess=config, stages=estimator.layer_names_)
    if isinstance(estimator, BackbonePlugin):
        estimator = estimator.load()
    if isinstance(estimator, Backbone):
        config = estimator.preprocess
        return _Network(estimator.model, f"backbone {estimator.name!r}",
                        lambda image: _pretrained_batch(image, config, "this backbone"),
                        preprocess=config, stages=estimator.layer_names())
    if isinstance(estimator, nn.Module):
        return _Network(estimator, name, lambda image: _module_batch(estimator, image))
    raise TypeError(
        f"Cannot look inside a {name}: pass a fitted CNNClassifier, FineTunedClassifier or "
        "PretrainedFeatures, a skcnn Backbone (e.g. resolve_backbone('efficientnet_lite0')"
        ".load()) or a torch.nn.Module.")


def _backbone_name(backbone):
    return backbone if isinstance(backbone, str) else getattr(backbone, "name", type(backbone).__name__)


def _find_layer(net, layer, *, conv_only=False):
    """``(name, module)`` of ``layer``: an index among the Conv2d layers or a module name.

    ``module`` is None for ``'forward_features'`` (the model's own method).
    """
    from ._backbone import FORWARD_FEATURES

    convs = net.convs()
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not convs:
            raise ValueError(f"{net.label} has no Conv2d layer, so layer={layer} (an index among "
                             f"them) does not exist. {_valid_layers(net, conv_only)}")
        if not -len(convs) <= layer < len(convs):
            raise ValueError(
                f"layer={layer} is out of range: {net.label} has {len(convs)} Conv2d layer(s), "
                f"indices 0 to {len(convs) - 1} (negative ones count from the end). "
                f"{_valid_layers(net, conv_only)}")
        return convs[int(layer)]
    if not isinstance(layer, str):
        raise TypeError("layer must be an int (an index among the Conv2d layers, in module "
                        f"order) or a module name (str); got {type(layer).__name__}.")
    modules = dict(net.root.named_modules())
    modules.pop("", None)
    if layer in modules:
        module = modules[layer]
        if conv_only and layer not in dict(convs):
            inner = [n for n, _ in convs if n.startswith(layer + ".")]
            hint = f" It contains the convolution {inner[0]!r}; pass that." if inner else ""
            raise ValueError(f"Layer {layer!r} of {net.label} is a {type(module).__name__}, not a "
                             f"Conv2d: it has no kernels to show.{hint} "
                             f"{_valid_layers(net, conv_only)}")
        return layer, module
    if layer == FORWARD_FEATURES and not conv_only and hasattr(net.root, FORWARD_FEATURES):
        return layer, None
    raise ValueError(f"{net.label} has no layer {layer!r}. {_valid_layers(net, conv_only)}")


def _listing(names, limit=60):
    names = [repr(n) for n in names]
    if len(names) > limit:
        half = limit // 2
        names = names[:half] + [f"... ({len(names) - limit} more) ..."] + names[-half:]
    return ", ".join(names)


def _valid_layers(net, conv_only):
    convs = [name for name, _ in net.convs()]
    parts = []
    if convs:
        parts.append(f"Conv2d layers, by index 0-{len(convs) - 1} or by name: {_listing(convs)}")
    else:
        parts.append("the network has no Conv2d layer")
    if not conv_only:
        if net.stages:
            parts.append(f"the backbone's stages: {_listing(net.stages)}")
        others = [(n, m) for n, m in net.root.named_modules() if n and n not in convs]
        if len(others) <= 40:
            parts.append("other modules (their output must be a feature map): "
                         + ", ".join(f"{n!r} ({type(m).__name__})" for n, m in others))
        else:
            parts.append("or any other module name of the network whose output is a feature map "
                         "(see model.named_modules())")
    return "Valid layers: " + "; ".join(parts) + "."


def plot_filters(estimator, layer=0, *, max_filters=64):
    """The learned kernels of one convolution layer, one panel per output filter.

    Parameters
    ----------
    estimator : estimator, Backbone or torch.nn.Module
        A fitted :class:`~skcnn.CNNClassifier`, :class:`~skcnn.FineTunedClassifier`
        or :class:`~skcnn.PretrainedFeatures` (or a fitted pipeline or search
        holding one), a :class:`skcnn.pretrained.Backbone` (or a backbone
        plugin, which is loaded), or any ``torch.nn.Module``.
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
    """
    max_filters = _positive_int(max_filters, "max_filters")
    net = _network(estimator)
    name, conv = _find_layer(net, layer, conv_only=True)
    weight = conv.weight.detach().float().cpu().numpy()  # (out, in / groups, kh, kw)
    n_out, n_in, kh, kw = weight.shape
    shown = weight[:max_filters]
    rgb = n_in == 3
    kernels = shown.transpose(0, 2, 3, 1) if rgb else shown.mean(axis=1)
    scale = float(np.abs(kernels).max()) or 1.0
    n = len(kernels)
    nrows, ncols = _grid(n)
    fig = _figure(max(1.05 * ncols + (0.2 if rgb else 1.2), 4.0), 1.05 * nrows + 0.9,
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
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=7, pad=2)
        axes.append(ax)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.9, label="weight")
    groups = f", groups={conv.groups}" if conv.groups > 1 else ""
    if rgb:
        how = " (RGB kernels, grey = 0)"
    elif n_in > 1:
        how = f" (each the mean over its {n_in} input channels)"
    else:
        how = ""
    fig.suptitle(f"{net.label}, layer {name!r}: {type(conv).__name__}({conv.in_channels}→{n_out}, "
                 f"{kh}x{kw}{groups})\n{n} of {n_out} filters shown{how}", fontsize=9)
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
    """
    max_maps = _positive_int(max_maps, "max_maps")
    net = _network(estimator)
    name, module = _find_layer(net, layer)
    x = net.prepare(image)
    output = _layer_output(net, name, module, x)
    maps = output[0].detach().float().cpu().numpy()
    shown = maps[:max_maps]
    n = len(shown) + bool(show_input)
    nrows, ncols = _grid(n)
    fig = _figure(max(1.3 * ncols, 4.0), 1.3 * nrows + 0.8, layout="constrained")
    position = 1
    if show_input:
        ax = fig.add_subplot(nrows, ncols, position)
        picture = net.as_picture(x)
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
        ax.set_title("input", fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
        position += 1
    for i, fmap in enumerate(shown):
        ax = fig.add_subplot(nrows, ncols, position + i)
        ax.imshow(fmap, cmap="viridis", interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    kind = type(module).__name__ if module is not None else "forward_features"
    fig.suptitle(f"{net.label}, layer {name!r} ({kind}): {len(shown)} of {len(maps)} feature maps, "
                 f"{maps.shape[1]}x{maps.shape[2]} each (own colour scale per map)", fontsize=9)
    return fig


def _grid(n, max_columns=8):
    """``(rows, columns)`` for ``n`` panels: at most ``max_columns``, rows filled evenly."""
    rows = math.ceil(n / max_columns)
    return rows, math.ceil(n / rows)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return int(value)


def _layer_output(net, name, module, x):
    """The output of ``module`` (None: ``forward_features``) when ``x`` runs through the network."""
    import torch

    from ._backbone import _run_until

    root = net.root
    modes = [(m, m.training) for m in root.modules()]
    param = next(root.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    try:
        root.eval()
        with torch.inference_mode():
            x = torch.as_tensor(x).to(device=device, dtype=dtype)
            if module is None:
                out = root.forward_features(x)
            else:
                try:
                    out = _run_until(root, module, x)
                except RuntimeError as exc:
                    if "was not called" not in str(exc):
                        raise
                    raise ValueError(f"Layer {name!r} of {net.label} is not used when the network "
                                     f"runs, so it has no output. {_valid_layers(net, False)}"
                                     ) from None
    finally:
        for m, mode in modes:  # back to the modes the caller left (no train() side effects)
            m.training = mode
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not torch.is_tensor(out) or out.ndim != 4:
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise ValueError(f"Layer {name!r} of {net.label} gives an output of shape {shape}, not a "
                         f"4-D feature map (1, C, h, w); choose a convolutional layer. "
                         f"{_valid_layers(net, False)}")
    return out


# ---------------------------------------------------------------------------- one image in
def _single_array(image):
    """``image`` as a NumPy array; a batch holding one image loses its batch axis."""
    import torch
    from PIL import Image

    if torch.is_tensor(image):
        array = image.detach().cpu().numpy()
    elif isinstance(image, Image.Image):
        array = np.asarray(image)
    else:
        array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    elif array.ndim == 2 and array.shape[0] == 1 and array.shape[1] > 1:
        array = array[0]  # one flat row, as predict takes it: X[:1] of (N, D) data
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise ValueError(f"image must be an array of pixel values; got {array.dtype} data of "
                         f"shape {array.shape}.")
    return array


def _shape_fix(shape, channels=None, height=None, width=None):
    """A hint on how to turn an image of ``shape`` into a ``channels x height x width`` one
    (what is unknown is None)."""
    if len(shape) == 0:
        return "Pass an image (an array), not a single number."
    if len(shape) == 1:
        return ("A 1-D array is not an image: pass one image such as X_test[0] from the images "
                "you called fit/predict on, not a flattened slice of it"
                + (f" (a flat row must hold {channels * height * width} values)." if height
                   else "."))
    if len(shape) == 4:
        return f"Pass one image, e.g. X[0], not a batch of {shape[0]}."
    if len(shape) > 4:
        return "Pass one 2-D image (grayscale) or 3-D image (with channels)."
    hints = []
    colour = len(shape) == 3 and (shape[-1] in (3, 4) or shape[0] in (3, 4))
    if len(shape) == 3 and height is not None and tuple(shape[1:]) == (height, width):
        hints.append(f"if it is a batch of {shape[0]} images, pass one of them, e.g. X[0]")
    elif channels == 1 and colour:
        hints.append("It looks like a colour image: convert it to grayscale, e.g. "
                     "image.mean(axis=-1) or skimage.color.rgb2gray(image)")
    elif channels == 3 and len(shape) == 2:
        hints.append("It is a grayscale image: stack it to three channels, e.g. "
                     "np.stack([image] * 3, axis=-1)")
    first = len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4)
    spatial = tuple(shape[-2:]) if len(shape) == 2 or first else tuple(shape[:2])
    if height is not None and spatial != (height, width):
        hints.append(f"resize it to {height}x{width} as the training images were (e.g. "
                     f"skimage.transform.resize(image, ({height}, {width})))")
    if not hints:
        return "Pass it in the layout of the training images."
    text = "; ".join(hints)
    return text[0].upper() + text[1:] + "."


def _classifier_batch(estimator, image, pretrained):
    """One image as the classifier's network receives it, through ``_prepare_images``."""
    name = type(estimator).__name__
    if pretrained:
        batch = _pretrained_items(image, name)
    else:
        array = _single_array(image)
        channels, height, width = estimator.input_shape_
        size = channels * height * width
        accepted = ({(height, width), (1, height, width), (height, width, 1)} if channels == 1
                    else {(channels, height, width), (height, width, channels)})
        if not (tuple(array.shape) in accepted or (array.ndim == 1 and array.size == size)):
            forms = " or ".join(str(s) for s in sorted(accepted, key=lambda s: (len(s), s)))
            raise ValueError(
                f"image has shape {tuple(array.shape)}, but this {name} was fitted on images of "
                f"{channels}x{height}x{width} (channels x height x width): pass one image of shape "
                f"{forms} (or a flat row of {size} values). "
                f"{_shape_fix(array.shape, channels, height, width)}")
        batch = array[None]
    try:
        tensor = estimator._prepare_images(batch, reset=False)
    except ValueError as exc:
        raise ValueError(f"This {name} cannot take the image: {exc}") from exc
    return estimator._as_tensor(tensor)


def _pretrained_items(image, who):
    """``image`` as a one-item input of the pretrained estimators: array batch, [PIL] or [path]."""
    import os

    from PIL import Image

    if isinstance(image, (str, os.PathLike)) or isinstance(image, Image.Image):
        return [image]
    array = _single_array(image)
    ok = array.ndim == 2 or (array.ndim == 3 and (array.shape[-1] in (1, 3, 4)
                                                  or array.shape[0] in (1, 3, 4)))
    if not ok:
        raise ValueError(
            f"image has shape {tuple(array.shape)}, but {who} takes one image of any size: "
            "(H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA (channels first, (3, H, W), "
            "works too), a PIL image or a file path. "
            + (_shape_fix(array.shape) if array.ndim != 3 else
               "Its channel axis must be the first or the last and hold 1, 3 or 4 values."))
    return array[None]


def _pretrained_batch(image, config, who):
    """One image through a backbone's preprocessing: float tensor (1, C, H, W)."""
    from .data.images import input_kind
    from .data.transforms import ImageItems, PilPreprocess, check_array_images

    items = _pretrained_items(image, who)
    kind = input_kind(items)
    if kind == "array":
        items = check_array_images(items)
    tensor, _ = ImageItems(items, kind, PilPreprocess.from_config(config))[0]
    return tensor[None]


def _module_batch(module, image):
    """One image for a plain module: float32 (1, C, H, W), channels laid out for its first conv."""
    import torch
    from torch import nn

    array = _single_array(image)
    first = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    channels = first.in_channels if first is not None else None
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if array.ndim == 2 and channels in (None, 1):
        array = array[None]
    elif array.ndim == 3 and channels is None:
        pass
    elif array.ndim == 3 and array.shape[0] == channels:
        pass
    elif array.ndim == 3 and array.shape[-1] == channels:
        array = array.transpose(2, 0, 1)
    else:
        want = "(H, W) or (1, H, W)" if channels == 1 else f"(H, W, {channels}) or ({channels}, H, W)"
        raise ValueError(
            f"image has shape {tuple(array.shape)}, but the network's first convolution reads "
            f"{channels} channel(s): pass one image of shape {want}. "
            + _shape_fix(array.shape, channels))
    return torch.from_numpy(np.ascontiguousarray(array))[None]

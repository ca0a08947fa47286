"""The pieces of the default fine-tuning recipe (LP-FT: linear probe, then fine-tune).

Kumar et al. (2022), "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution": a randomly initialised head sends large, random gradients into the
pretrained backbone during the first steps of fine-tuning. Fitting the head first on the
frozen backbone's features (a linear probe) and fine-tuning from there avoids it.

Here: the backbone's pooled features of the training images are computed once
(:func:`trunk_features`), the head is fitted on them by full-batch L-BFGS with an L2
penalty (:func:`fit_head`, the same problem as scikit-learn's ``LogisticRegression(C=1)`` on
standardized features for a linear head), and the whole network is then fine-tuned at
lower rates, on crops smaller than the prediction size on a CPU
(:class:`RandomResizedCropFlip`; Touvron et al. 2019, "Fixing the train-test resolution
discrepancy": training on smaller random crops than the test size costs less and loses
nothing). The epochs and the augmentation are pure functions of the data and the device
type (:func:`auto_finetune_epochs`, :func:`auto_finetune_augment`).
"""

import copy

import numpy as np
import torch
from torch import nn

from ..data.augment import RandomResizedCropFlip, RandomShift

__all__ = ["trunk_features", "fit_head", "ridge_strength", "head_loss", "validation_score",
           "RandomResizedCropFlip", "auto_finetune_epochs", "auto_finetune_augment",
           "parameter_snapshot", "describe_indices", "PROBE_C", "CPU_TRAIN_SIZE",
           "AUTO_BACKBONES", "auto_backbone", "is_small_image"]

#: Inverse L2 strength of the probe, as scikit-learn's ``C`` (its default, 1).
PROBE_C = 1.0
#: L-BFGS iterations of the probe (it converges in far fewer on pooled features).
_PROBE_MAX_ITER = 300
#: Side of the training crops on a CPU ('auto'); predictions stay at the input size.
CPU_TRAIN_SIZE = 160
#: Image passes of ``max_epochs='auto'`` and the bounds of the epochs, per device type.
_EPOCH_BUDGET = {"cpu": (6_000, 2, 10), "accelerator": (30_000, 5, 30)}
#: Arrays with both sides up to this or fewer than 3 channels are "small" images.
_SMALL_SIDE = 64
#: What ``backbone='auto'`` picks per kind of image (:func:`auto_backbone`).
AUTO_BACKBONES = {"small": "efficientnet_lite0", "photo": "efficientnet_lite1"}


@torch.inference_mode()
def trunk_features(module, images, batch_size, device, progress=None):
    """Pooled backbone features of ``images`` (``(N, F)`` float32 on the CPU), in
    inference mode, batch by batch; ``progress(n)`` is called after each batch."""
    was_training = module.training
    module.eval()
    try:
        parts = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(device)
            parts.append(module.pool(module.trunk(batch)).float().cpu())
            if progress is not None:
                progress(len(batch))
        return torch.cat(parts)
    finally:
        module.train(was_training)


def head_loss(outputs, targets, weight, criterion):
    """The training loss of skcnn's engine: per-image loss (mean over outputs), weighted mean."""
    losses = criterion(outputs.float() if outputs.dtype == torch.float16 else outputs, targets)
    if losses.ndim > 1:
        losses = losses.flatten(1).mean(1)
    return (losses * weight.to(losses.dtype)).mean()


def _linear_layers(head):
    return [layer for layer in head.modules() if isinstance(layer, nn.Linear)]


def ridge_strength(features, targets, weight):
    """The ridge penalty ``alpha`` of a regression probe: what scikit-learn's ``RidgeCV``
    picks by efficient leave-one-out (GCV) on the standardized features, among
    ``alphas=logspace(-2, 5, 15)`` (``fit_head``'s ``ridge_alpha``)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(features.double().numpy())
    ridge = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit(X, targets.double().numpy(),
                                                       sample_weight=weight.numpy())
    return float(ridge.alpha_)


def fit_head(head, features, targets, weight, criterion, C=PROBE_C, ridge_alpha=None,
             max_iter=_PROBE_MAX_ITER):
    """Fit ``head`` (in place) on pooled ``features`` by full-batch L-BFGS.

    The features are standardized for the fit (as a ``StandardScaler`` would) and the
    scaling is folded into the first linear layer afterwards, so the head takes the raw
    features. The objective is the engine's weighted loss plus ``||W||^2 / (2 C n)`` over
    the linear layers' weights: for a linear head and cross-entropy, scikit-learn's
    ``LogisticRegression(C=C)`` objective divided by ``C n``. With ``ridge_alpha`` the
    penalty is ``alpha ||W||^2 / (n K)`` instead (K outputs): for a linear head and the
    squared error, scikit-learn's ``Ridge(alpha)`` objective divided by ``n K``.

    Returns
    -------
    n_iter : int
        L-BFGS function evaluations.
    """
    features = features.double()
    mean = features.mean(0)
    scale = features.std(0, unbiased=False)
    # Near-constant features keep scale 1 (as StandardScaler): dividing by a tiny spread
    # would turn any later change of the feature into a huge change of the logits.
    scale = torch.where(scale > 1e-3 * scale.median().clamp_min(1e-12), scale,
                        torch.ones_like(scale))
    standardized = (features - mean) / scale
    work = copy.deepcopy(head).double().eval()  # eval: no dropout in a convex fit
    linears = _linear_layers(work)
    if len(linears) == 1:  # convex: start from zero (no random weights on unused features)
        nn.init.zeros_(linears[0].weight)
        nn.init.zeros_(linears[0].bias)
    if targets.is_floating_point():
        targets = targets.double()
    weight = weight.double()
    if ridge_alpha is not None:
        n_outputs = 1 if targets.ndim == 1 else targets.shape[1]
        penalty = ridge_alpha / (len(features) * n_outputs)
    else:
        penalty = 1.0 / (2.0 * C * len(features))
    optimizer = torch.optim.LBFGS(work.parameters(), lr=1.0, max_iter=max_iter,
                                  history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-7, tolerance_change=1e-10)
    calls = [0]

    def closure():
        optimizer.zero_grad()
        loss = head_loss(work(standardized), targets, weight, criterion)
        loss = loss + penalty * sum((layer.weight ** 2).sum() for layer in linears)
        loss.backward()
        calls[0] += 1
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    first = linears[0]
    with torch.no_grad():
        # w . (f - mean) / scale + b  ==  (w / scale) . f + (b - (w / scale) . mean)
        folded = first.weight / scale
        first.bias.sub_(folded @ mean)
        first.weight.copy_(folded)
        for source, target in zip(work.parameters(), head.parameters()):
            target.copy_(source.to(target.dtype))
    return calls[0]


@torch.no_grad()
def validation_score(outputs, targets, weight, criterion, task):
    """``{'loss': ..., 'accuracy': ..., 'correct': ...}`` of network ``outputs`` against
    encoded ``targets`` (accuracy and the per-image ``correct`` array for single-label
    classification only)."""
    outputs = outputs.double()
    targets = targets.double() if targets.is_floating_point() else targets
    score = {"loss": float(head_loss(outputs, targets, weight.double(), criterion))}
    if task == "multiclass":
        correct = (outputs.argmax(1) == targets).numpy()
        score.update(accuracy=float(correct.mean()), correct=correct)
    return score


def _device_kind(device):
    return "cpu" if torch.device(device).type == "cpu" else "accelerator"


def auto_finetune_epochs(n_images, device):
    """Epochs of ``max_epochs='auto'``: about 6,000 image passes on a CPU (2 to 10 epochs)
    and 30,000 on an accelerator (5 to 30), for ``n_images`` training images."""
    budget, low, high = _EPOCH_BUDGET[_device_kind(device)]
    return int(min(max(round(budget / max(n_images, 1)), low), high))


def auto_finetune_augment(source_shape, input_size, device, task):
    """What ``augment='auto'`` fine-tunes with.

    Parameters
    ----------
    source_shape : tuple of int or None
        ``(C, H, W)`` of the images as given (arrays), None for files and PIL images.
    input_size : int
        Side the network is fed when predicting.
    device : str
    task : str

    Returns
    -------
    augment : callable or None
        Photos (files, PIL images, colour arrays over 64 pixels): random resized crops
        and flips, at 160 pixels on a CPU (where each pixel costs) and at the input size
        elsewhere. Small or grayscale arrays (digits): shifts of a twelfth of the side, no
        flips. Regression: none (a crop or flip may change the target).
    """
    if task == "regression":
        return None
    if is_small_image(source_shape):
        shift = max(1, round(input_size / 12))
        return RandomShift((shift, shift), flip=False)
    size = min(CPU_TRAIN_SIZE, input_size) if _device_kind(device) == "cpu" else input_size
    return RandomResizedCropFlip(size)


def is_small_image(source_shape):
    """True for small or grayscale arrays (both sides up to 64 pixels, or fewer than 3
    channels; ``source_shape`` as :func:`auto_finetune_augment`'s): digits, not photos."""
    channels, height, width = source_shape if source_shape is not None else (3, 999, 999)
    return channels < 3 or max(height, width) <= _SMALL_SIDE


def auto_backbone(source_shape):
    """What ``backbone='auto'`` fine-tunes (a registered name): ``efficientnet_lite1``
    for photos, whose better ImageNet features transfer better (Kornblith et al. 2019,
    "Do Better ImageNet Models Transfer Better?") at about 1.2x lite0's time, and
    ``efficientnet_lite0`` for small or grayscale arrays, which the network sees at
    ``input_size`` anyway and where the larger backbone only costs time."""
    return AUTO_BACKBONES["small" if is_small_image(source_shape) else "photo"]


def parameter_snapshot(module):
    """A copy of ``module``'s parameters and buffers (to restore with ``load_state_dict``)."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def describe_indices(indices):
    """Positions as a sorted int64 array (what ``recipe_`` records)."""
    return np.sort(np.asarray(indices, dtype=np.int64))

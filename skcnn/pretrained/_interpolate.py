"""The choice between the probe and the fine-tuned network: weight-space interpolation
(WiSE-FT) scored on the validation images.

Wortsman et al. (2022), "Robust fine-tuning of zero-shot models": the networks
``theta(a) = (1 - a) theta_probe + a theta_finetuned`` between a network and its own
fine-tuned version often beat both ends, and choosing ``a`` costs forward passes only.
``a = 0`` is the probe (pretrained backbone, probe head) and ``a = 1`` the fine-tuned
network, so the choice on the validation images is never below the probe there, with no
significance test that a small validation split has no power for.

The output-space ensemble (the mean of the two ends' probabilities) is scored too and
recorded, but not chosen: it would run two networks at every prediction.
"""

import numpy as np
import torch

__all__ = ["INTERPOLATION_WEIGHTS", "interpolate_states", "choose_interpolation",
           "ensemble_outputs"]

#: The candidates of ``a``, the fine-tuned network's weight (0: the probe).
INTERPOLATION_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def interpolate_states(start, end, weight):
    """``(1 - weight) * start + weight * end`` for every floating-point tensor of two state
    dicts with the same keys (integer buffers, e.g. BatchNorm's batch counts, from ``end``)."""
    if set(start) != set(end):
        raise ValueError("the two networks do not have the same parameters")
    return {name: torch.lerp(start[name].to(value.dtype), value, float(weight))
            if value.is_floating_point() else value.clone()
            for name, value in end.items()}


def _order_key(weight, score, task):
    """Sort key of a candidate: higher accuracy first (classification), then lower
    loss, then the weight nearest the middle (0.5, WiSE-FT's robust default)."""
    accuracy = -score["accuracy"] if task == "multiclass" and "accuracy" in score else 0.0
    loss = score["loss"] if np.isfinite(score["loss"]) else np.inf
    return (accuracy, loss, abs(weight - 0.5))


def choose_interpolation(scores, task):
    """The weight ``a`` whose validation score is best.

    Parameters
    ----------
    scores : dict of float to dict
        Validation score (``validation_score``'s dict) of each candidate weight.
    task : str

    Returns
    -------
    weight : float
        0.0 (the probe) when no candidate has a finite loss.
    """
    finite = {a: s for a, s in scores.items() if np.isfinite(s["loss"])}
    if not finite:
        return 0.0
    return min(finite, key=lambda a: _order_key(a, finite[a], task))


def ensemble_outputs(probe_outputs, finetuned_outputs, task):
    """Logits of the output-space ensemble: the log of the mean of the two networks'
    probabilities (softmax for single-label classification, sigmoid for multi-label,
    the mean of the outputs for regression)."""
    if task == "multiclass":
        mean = (probe_outputs.double().softmax(1) + finetuned_outputs.double().softmax(1)) / 2
        return mean.clamp_min(1e-300).log()
    if task == "multilabel":
        mean = (probe_outputs.double().sigmoid() + finetuned_outputs.double().sigmoid()) / 2
        mean = mean.clamp(1e-12, 1 - 1e-12)
        return mean.log() - (1 - mean).log()
    return (probe_outputs.double() + finetuned_outputs.double()) / 2

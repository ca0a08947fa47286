"""The choice between the probe and the fine-tuned network: weight-space interpolation
(WiSE-FT) scored on the validation images.

Wortsman et al. (2022), "Robust fine-tuning of zero-shot models": the networks
``theta(a) = (1 - a) theta_probe + a theta_finetuned`` between a network and its own
fine-tuned version often beat both ends, and choosing ``a`` costs forward passes only.
``a = 0`` is the probe (pretrained backbone, probe head) and ``a = 1`` the fine-tuned
network.

Classification starts from the middle, ``a = 0.5`` (the paper's robust default, chosen
without validation data), and moves to the candidate with the most validation images
right only when that candidate beats the middle by an exact one-sided sign test at 5% on
the images where the two disagree (:func:`scipy.stats.binomtest`). On the ~100 images
of a 10% split, "most images right" alone follows noise: on caltech20 it once took the
fine-tuned end for 2 images more, which was a point below the probe on the test
split, while the middle was level with it or better in every fit measured. A clearly
broken or clearly better fine-tune still moves the choice (5 images to 0 do).
Regression and multi-label take the lowest validation loss (a continuous score).

The output-space ensemble (the mean of the two ends' probabilities) is scored too and
recorded, but not chosen: it would run two networks at every prediction.
"""

import numpy as np
import torch

__all__ = ["INTERPOLATION_WEIGHTS", "interpolate_states", "choose_interpolation",
           "ensemble_outputs", "sign_test", "MIDDLE", "SIGNIFICANCE"]

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


#: The default weight of classification, and the level of the test that leaves it.
MIDDLE, SIGNIFICANCE = 0.5, 0.05


def sign_test(correct, reference):
    """One-sided exact sign test that ``correct`` (per-image booleans) gets more images
    right than ``reference``: ``(wins, losses, p_value)`` over the images they disagree on."""
    correct, reference = np.asarray(correct, bool), np.asarray(reference, bool)
    wins, losses = int(np.sum(correct & ~reference)), int(np.sum(reference & ~correct))
    if wins + losses == 0:
        return wins, losses, 1.0
    from scipy.stats import binomtest

    return wins, losses, float(binomtest(wins, wins + losses, 0.5,
                                         alternative="greater").pvalue)


def choose_interpolation(scores, task, record=None):
    """The weight ``a`` to keep, from the candidates' validation scores.

    Parameters
    ----------
    scores : dict of float to dict
        Validation score (``validation_score``'s dict) of each candidate weight.
    task : str
    record : dict, optional
        Filled with the best candidate (``best``) and, for classification, its sign test
        against the middle (``wins``, ``losses``, ``p_value``).

    Returns
    -------
    weight : float
        Classification: the best candidate (most images right, then the lowest loss)
        if it beats ``a = 0.5`` at :data:`SIGNIFICANCE`, else 0.5. Otherwise the lowest
        loss. 0.0 (the probe) when no candidate has a finite loss.
    """
    record = {} if record is None else record
    finite = {a: s for a, s in scores.items() if np.isfinite(s["loss"])}
    if not finite:
        return 0.0
    best = min(finite, key=lambda a: _order_key(a, finite[a], task))
    record["best"] = best
    middle = finite.get(MIDDLE)
    if task != "multiclass" or middle is None or "correct" not in middle:
        return best
    wins, losses, p_value = sign_test(finite[best]["correct"], middle["correct"])
    record.update(wins=wins, losses=losses, p_value=p_value)
    return best if p_value < SIGNIFICANCE else MIDDLE


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

"""What a fitted model holds: :func:`count_parameters` and the device it ran on."""

import math

import numpy as np

__all__ = ["count_parameters", "device_of"]


def count_parameters(estimator):
    """Number of learned parameters of a fitted estimator, or NaN when unknown.

    * skcnn's networks (anything with a torch ``module_``): trainable
      parameters (``requires_grad``) at the end of training; a frozen
      backbone does not count.
    * linear models: ``coef_`` and ``intercept_``; SVMs: ``dual_coef_`` and
      ``intercept_`` (one weight per support vector and class pair; the
      stored support vectors themselves are data and do not count);
      XGBoost: the number of leaves (one learned value each);
      ``StandardScaler``: ``mean_`` and ``scale_``.
    * a ``TransformedTargetRegressor``: its regressor's;
    * a Pipeline: the sum over its steps; steps that learn nothing
      (``PretrainedFeatures``, ``ImageLoader``) count 0.
    * anything else: NaN.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        return _pipeline_parameters(estimator)
    if type(estimator).__name__ == "TransformedTargetRegressor" and hasattr(estimator,
                                                                            "regressor_"):
        return count_parameters(estimator.regressor_)  # the target's scaler learns 2 numbers
    module = getattr(estimator, "module_", None)
    if module is not None and hasattr(module, "parameters"):
        return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
    name = type(estimator).__name__
    if name in ("PretrainedFeatures", "ImageLoader", "FunctionTransformer"):
        return 0
    if hasattr(estimator, "get_booster"):  # XGBoost
        try:
            return int(sum(tree.count("leaf=") for tree in estimator.get_booster().get_dump()))
        except Exception:
            return float("nan")
    if hasattr(estimator, "dual_coef_"):
        return int(np.size(estimator.dual_coef_) + np.size(getattr(estimator, "intercept_", ())))
    if hasattr(estimator, "coef_"):
        return int(np.size(estimator.coef_) + np.size(getattr(estimator, "intercept_", ())))
    if name == "StandardScaler":
        return int(np.size(getattr(estimator, "mean_", ()) if estimator.mean_ is not None else ())
                   + np.size(estimator.scale_ if estimator.scale_ is not None else ()))
    return float("nan")


def _pipeline_parameters(pipeline):
    total = 0
    for _, step in pipeline.steps:
        if step is None or step == "passthrough":
            continue
        count = count_parameters(step)
        if math.isnan(count):
            return float("nan")
        total += count
    return total


def device_of(estimator):
    """Where a fitted estimator ran: 'cpu', 'cuda:0', ..., or 'mixed' for a Pipeline."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        devices = {device_of(step) for _, step in estimator.steps
                   if step is not None and step != "passthrough"}
        devices.discard("cpu")
        return devices.pop() if len(devices) == 1 else ("cpu" if not devices else "mixed")
    device = getattr(estimator, "device_", None)
    if device is not None:
        return str(device)
    if hasattr(estimator, "get_booster"):
        return str(estimator.get_params().get("device") or "cpu")
    return "cpu"


def training_of(estimator):
    """What a fitted network trained with, for the table: ``'6 ep 224px, kept probe'``
    (epochs, input size, and the fine-tuning recipe's choice), or '' for other models."""
    if not hasattr(estimator, "history_"):  # not one of skcnn's networks
        return ""
    n_iter = estimator.n_iter_
    recipe = getattr(estimator, "recipe_", None) or {}
    size = recipe.get("input_size")
    if size is None and getattr(estimator, "input_shape_", None) is not None:
        size = "x".join(map(str, estimator.input_shape_[1:]))
    text = f"{n_iter} ep" + (f" {size}px" if size else "")
    if any(phase.get("phase") == "choose" for phase in recipe.get("phases", ())):
        if recipe["chosen"] == "interpolation":  # WiSE-FT: the fine-tuned network's weight a
            text += f", blend a={recipe['interpolation']:g}"
        else:
            text += f", kept {recipe['chosen']}"
    return text

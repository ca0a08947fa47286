"""Regression in :func:`~skcnn.compare`: the task, the targets, the splits, the metrics, the models.

A continuous target (scikit-learn's :func:`~sklearn.utils.multiclass.type_of_target`
says ``'continuous'``), or ``task='regression'``, makes :func:`~skcnn.compare`
run regressors instead of classifiers, on shuffled :class:`~sklearn.model_selection.KFold`
splits (not stratified: there are no classes), scored by R² with the mean
absolute error and the root mean squared error beside it. Built-in models:

* ``'cnn'``: :class:`~skcnn.CNNRegressor` from scratch (the classifier's network);
* ``'finetuned'``: :class:`~skcnn.FineTunedRegressor` on ``backbone``;
* ``'features+svr'``, ``'features+ridge'``, ``'features+xgboost'``: an RBF
  ``SVR``, ``RidgeCV`` and ``XGBRegressor`` on the pretrained features;
* ``'pixels+svr'``, ``'pixels+ridge'``, ``'pixels+xgboost'``: the same on the pixels.

SVR and Ridge learn a standardised target (``TransformedTargetRegressor``),
so that SVR's ``epsilon`` and ``C`` and Ridge's penalties do not depend on the
target's unit; SVR and Ridge on pixels also standardise their inputs.
"""

import numbers
import warnings

import numpy as np

__all__ = ["REGRESSION_MODELS", "REGRESSION_MODEL_DESCRIPTIONS", "REGRESSION_SCORING",
           "resolve_task", "check_regression_target", "regression_splits",
           "resolve_regression_models", "default_regression_models", "regression_scoring",
           "target_summary"]

#: Names of the built-in regression models, in the order they run.
REGRESSION_MODELS = ("cnn", "finetuned", "features+svr", "features+ridge", "features+xgboost",
                     "pixels+svr", "pixels+ridge", "pixels+xgboost")

#: One line per built-in regression model (shown by ``skcnn compare --help``).
REGRESSION_MODEL_DESCRIPTIONS = {
    "cnn": "CNNRegressor trained from scratch (2 conv blocks, 'same' padding)",
    "finetuned": "FineTunedRegressor: the pretrained backbone fine-tuned with a linear head",
    "features+svr": "pretrained features + SVR (RBF), standardised target",
    "features+ridge": "pretrained features + RidgeCV, standardised target",
    "features+xgboost": "pretrained features + XGBRegressor",
    "pixels+svr": "raw pixels + StandardScaler + SVR (RBF), standardised target",
    "pixels+ridge": "raw pixels + StandardScaler + RidgeCV, standardised target",
    "pixels+xgboost": "raw pixels + XGBRegressor",
}

#: The task names :func:`~skcnn.compare` accepts (None: from the target).
TASKS = ("classification", "regression")

_RIDGE_ALPHAS = np.logspace(-2, 3, 11)


def resolve_task(y, task):
    """``'classification'`` or ``'regression'``: ``task`` as given, or from the target.

    ``type_of_target`` 'continuous' (floats that are not all whole numbers) is
    regression; everything else, whole numbers included, stays classification.
    """
    if task is not None:
        return task
    from sklearn.utils.multiclass import type_of_target

    values = np.asarray(y)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy casting NaN, say
            kind = type_of_target(values)
    except (ValueError, TypeError):  # e.g. NaN: floats get the regression target's message
        return "regression" if values.dtype.kind == "f" else "classification"
    return "regression" if kind == "continuous" else "classification"


def check_regression_target(y, n):
    """``y`` as a 1-D float64 array of ``n`` finite numbers; a clear error otherwise."""
    from sklearn.utils.validation import column_or_1d

    values = np.asarray(y)
    if values.ndim == 2 and values.shape[1] != 1:
        raise ValueError(
            f"task='regression' compares models on one target per image; y has shape "
            f"{values.shape}. Pass a 1-D y (compare each target on its own).")
    values = column_or_1d(values, warn=True)
    if len(values) != n:
        raise ValueError(f"X has {n} images but y has {len(values)} targets; give one target "
                         "per image.")
    if values.dtype.kind not in "biuf":
        try:
            values = values.astype(np.float64)
        except (ValueError, TypeError):
            example = next((v for v in values if not _is_number(v)), values[0])
            raise ValueError(
                f"task='regression' needs numeric targets, but y holds {example!r}. For class "
                "labels use task='classification' (or leave task=None to decide from y); "
                "otherwise convert y to numbers first.") from None
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"y holds {int((~np.isfinite(values)).sum())} NaN or infinite "
                         "target(s); drop those images or fill the targets in first.")
    if np.ptp(values) == 0:
        raise ValueError(f"y is constant ({values[0]!r}); a regression comparison needs "
                         "targets that vary (R² is undefined otherwise).")
    return values


def target_summary(y):
    """``'a continuous target (mean 0.12, std 26, from -45 to 45)'`` for the notes."""
    if y is None or len(y) == 0:
        return "a continuous target"
    y = np.asarray(y, dtype=float)
    return (f"a continuous target (mean {y.mean():.4g}, std {y.std():.4g}, from {y.min():.4g} "
            f"to {y.max():.4g})")


def _is_number(value):
    try:
        float(value)
    except (ValueError, TypeError):
        return False
    return True


def regression_splits(n, *, cv, test_size, random_state):
    """``(list of (train, test) index arrays, a sentence describing them)``: KFold, not stratified."""
    from sklearn.model_selection import KFold, ShuffleSplit, check_cv

    if test_size is not None:
        splitter = ShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state)
        text = f"one hold-out split (test_size={test_size}, random_state={random_state})"
    elif isinstance(cv, numbers.Integral):
        splitter = KFold(n_splits=int(cv), shuffle=True, random_state=random_state)
        text = f"{int(cv)}-fold CV (KFold, shuffled, random_state={random_state})"
    else:
        splitter = check_cv(cv, classifier=False)
        text = repr(cv) if hasattr(cv, "split") else None
    dummy = np.zeros((n, 1))
    splits = [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(dummy)]
    return splits, text or f"{len(splits)} given split(s)"


#: Beginnings of scikit-learn's scorer names that need class labels.
_CLASSIFICATION_SCORERS = ("accuracy", "balanced_accuracy", "top_k_accuracy", "f1", "precision",
                           "recall", "roc_auc", "average_precision", "neg_log_loss",
                           "neg_brier_score", "jaccard", "matthews_corrcoef", "d2_log_loss",
                           "neg_negative_likelihood_ratio", "positive_likelihood_ratio")


def regression_scoring(scoring):
    """The metrics: R², MAE and RMSE by default (MAE and RMSE as positive errors)."""
    if scoring is not None:
        names = [scoring] if isinstance(scoring, str) else (
            list(scoring.values()) if isinstance(scoring, dict)
            else [] if callable(scoring) else list(scoring))
        wrong = [n for n in names if isinstance(n, str) and n.startswith(_CLASSIFICATION_SCORERS)]
        if wrong:
            raise ValueError(
                f"scoring {wrong[0]!r} is a classification metric but the target is "
                "continuous (regression). Use a regression metric such as 'r2', "
                "'neg_mean_absolute_error' or 'neg_root_mean_squared_error', leave "
                "scoring=None (R², MAE and RMSE), or pass task='classification' for classes.")
        return scoring
    from sklearn.metrics import make_scorer, mean_absolute_error, root_mean_squared_error

    # greater_is_better=True keeps the sign: the table shows the errors themselves,
    # lower is better (R², listed first, is what the best model is chosen by).
    return {"r2": "r2", "mae": make_scorer(mean_absolute_error),
            "rmse": make_scorer(root_mean_squared_error)}


#: The default metrics' names, in order.
REGRESSION_SCORING = ("r2", "mae", "rmse")


def resolve_regression_models(models):
    """Model name -> ModelSpec or a built-in regression name (configured later)."""
    from ._models import ModelSpec

    if models is None:
        return {name: name for name in REGRESSION_MODELS}
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    items = list(models.items()) if isinstance(models, dict) else [(m, m) for m in models]
    if not items:
        raise ValueError("models is empty; pass at least one model (or None for all built-in "
                         f"regression models: {', '.join(REGRESSION_MODELS)}).")
    specs = {}
    for name, value in items:
        if isinstance(value, str):
            if value not in REGRESSION_MODELS:
                raise ValueError(
                    f"Unknown regression model {value!r}. Valid names for a continuous target: "
                    f"{', '.join(REGRESSION_MODELS)}; or pass a dict of name -> regressor.")
            specs[str(name)] = value
        elif isinstance(value, ModelSpec):
            specs[str(name)] = value
        elif hasattr(value, "fit"):
            specs[str(name)] = ModelSpec(value, "raw")
        else:
            raise TypeError(f"Model {name!r} is a {type(value).__name__}, not an estimator with "
                            "fit(); pass a scikit-learn regressor, Pipeline or ModelSpec.")
    return specs


def default_regression_models(names, *, side, device, quick, random_state, backbone, n_jobs):
    """The built-in regression models ``names``, configured as their classifiers are."""
    specs = {}
    for name in names:
        kind, _, model = name.partition("+")
        if name == "cnn":
            specs[name] = _cnn(device=device, quick=quick, random_state=random_state)
        elif name == "finetuned":
            specs[name] = _finetuned(
                input_size=_finetune_input_size(side, quick, device.type == "cuda"),
                device=device, quick=quick, random_state=random_state, backbone=backbone)
        elif model == "xgboost":
            specs[name] = _xgboost(kind, device=device, quick=quick, random_state=random_state,
                                   n_jobs=n_jobs)
        else:
            specs[name] = _classical(kind, model)
        specs[name].description = REGRESSION_MODEL_DESCRIPTIONS[name]
    return specs


def _finetune_input_size(side, quick, cuda):
    """Input side of the fine-tuned regressor: small on the CPU (32-96 px)."""
    from ._models import feature_input_size

    if cuda:
        return feature_input_size(side, quick) or 224
    if side is not None and side <= 16:
        return 32
    if side is not None and side <= 32:
        return 32 if quick else 64
    return 64 if quick else 96


def _cnn(*, device, quick, random_state):
    from ..scratch import CNNRegressor
    from ._models import ModelSpec

    estimator = CNNRegressor(
        filters=(32, 64), kernel_size=3, padding="same", batch_norm=True,
        hidden_units=(128,), optimizer="adam", lr_schedule="cosine", batch_size=32,
        max_epochs=5 if quick else 30, device=str(device), random_state=random_state,
        verbose=0)
    return ModelSpec(estimator, "small")


def _finetuned(*, input_size, device, quick, random_state, backbone):
    from ..pretrained.regressor import FineTunedRegressor
    from ._models import ModelSpec

    # The fixed recipe measured in docs/compare.rst (not the classifier's probe-first one).
    settings = dict(layer_decay=None, lr_schedule="cosine")
    if device.type == "cuda":
        settings.update(unfreeze="all", freeze_epochs=1, max_epochs=2 if quick else 6,
                        learning_rate=1e-3, batch_size=64)
    else:  # light on the CPU
        settings.update(unfreeze=2, freeze_epochs=0, max_epochs=1 if quick else 3,
                        learning_rate=3e-3, batch_size=64)
    estimator = FineTunedRegressor(backbone=backbone, input_size=input_size, device=str(device),
                                   random_state=random_state, verbose=0, **settings)
    return ModelSpec(estimator, "raw")


def _classical(kind, model):
    """'svr' or 'ridge' on ``kind`` ('features' or 'pixels'), learning a standardised target."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    from ._models import ModelSpec

    head = SVR(C=3.0) if model == "svr" else RidgeCV(alphas=_RIDGE_ALPHAS)
    # Pretrained features are not standardised for Ridge: a feature almost constant in
    # one training fold blows up its scaled values in the test fold.
    if kind == "pixels" or model == "svr":
        head = make_pipeline(StandardScaler(), head)
    return ModelSpec(TransformedTargetRegressor(head, transformer=StandardScaler()), kind)


def _xgboost(kind, *, device, quick, random_state, n_jobs):
    from ..utils import cpu_model_threads
    from ._models import ModelSpec, _int_seed, _xgboost_device, _xgboost_status

    xgboost, reason = _xgboost_status()
    if xgboost is None:
        return ModelSpec(None, kind, skip=reason)
    estimator = xgboost.XGBRegressor(
        n_estimators=50 if quick else 200, max_depth=4, learning_rate=0.1,
        tree_method="hist", max_bin=64, colsample_bytree=0.5,
        device=_xgboost_device(xgboost, device), n_jobs=cpu_model_threads(n_jobs),
        random_state=0 if random_state is None else _int_seed(random_state))
    return ModelSpec(estimator, kind)

"""The :func:`compare` function: checks its arguments, then runs every model on the same splits."""

import os
from numbers import Integral, Real

from .._sklearn_compat import Hidden, Interval, RealNotInt, StrOptions, validate_params
from ..plugins import BackbonePlugin
from ._budget import BUDGETED, apply_budget, budget_columns
from ._inputs import Inputs, image_side, n_samples
from ._models import default_models, feature_input_size, resolve_models
from ._regression import (
    TASKS,
    check_regression_target,
    default_regression_models,
    regression_scoring,
    regression_splits,
    resolve_regression_models,
    resolve_task,
)
from ._result import ComparisonResult, comparison_table
from ._run import Logger
from ._splits import check_scoring_names, encode_labels, make_splits
from ._text import is_text, text_model_specs, warn_duplicates
from ._train_sizes import check_train_sizes, run_train_sizes

__all__ = ["compare"]


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "models": [None, str, list, tuple, dict],
        "task": [None, StrOptions(set(TASKS))],
        # Any int passes here: fewer than 2 folds gets compare's own message below.
        "cv": [Hidden(Integral), "cv_object"],
        "scoring": [str, callable, list, tuple, set, dict, None],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "test_size": [Interval(RealNotInt, 0, 1, closed="neither"),
                      Interval(Integral, 1, None, closed="left"), None],
        "backbone": [str, BackbonePlugin],
        # A str or a torch.device, checked by resolve_device: naming torch.device here
        # would import torch with this module (``skcnn doctor`` must work without it).
        "device": "no_validation",
        "quick": ["boolean"],
        "cache": ["boolean", str, os.PathLike, None],
        "budget": [Interval(Real, 0, None, closed="neither"), None],
        # Fractions in (0, 1]: check_train_sizes says which one is wrong and why.
        "train_sizes": ["array-like", str, Real, None],
    },
    # The models' own fit() checks their parameters (user-given estimators too).
    prefer_skip_nested_validation=False,
)
def compare(X, y, models=None, *, task=None, cv=5, scoring=None, random_state=0, n_jobs=None,
            verbose=1, test_size=None, backbone="efficientnet_lite0", device="auto",
            quick=False, cache=None, budget=None, train_sizes=None):
    """Evaluate CNNs and classical models on the same splits of ``(X, y)``.

    Every model is fitted and scored on the same stratified folds
    (``StratifiedKFold(cv, shuffle=True, random_state)``), or on the same
    single hold-out split when ``test_size`` is given, through
    :func:`sklearn.model_selection.cross_validate`. A model that fails is
    recorded with its error and the others still run.

    A continuous ``y`` (or ``task='regression'``) compares regressors
    instead, on shuffled ``KFold(cv)`` splits, scored by R², the mean
    absolute error and the root mean squared error.

    Parameters
    ----------
    X : array of images, list of file paths or list of PIL images
        As accepted by :class:`~skcnn.CNNClassifier` and
        :class:`~skcnn.PretrainedFeatures`. Your own models receive ``X`` as
        given (or the features / pixels, see :class:`~skcnn.comparison.ModelSpec`).
    y : array-like of shape (N,)
        Class labels of any type. They are encoded as 0..K-1 once, so that
        every model (XGBoost included) sees the same targets; the original
        labels are in ``result.classes``. Or continuous targets (regression).
    models : None, list of str, or dict, default=None
        None runs every built-in model (:data:`~skcnn.comparison.DEFAULT_MODELS`):

        * ``'cnn'``: :class:`~skcnn.CNNClassifier` from scratch, two 3x3
          convolution blocks with 'same' padding (so 8x8 digits work),
          BatchNorm, 15 epochs (3 with ``quick``), on images up to 32x32;
        * ``'finetuned'``: :class:`~skcnn.FineTunedClassifier` on ``backbone``
          with its default recipe (a linear probe on the backbone's features,
          fine-tuning of the whole network from it, and the better of the two
          on an internal validation split; epochs and augmentation sized by the
          number of images and the device), at the input size of the
          pretrained features below (on a CPU, images up to 32 px: 32 px and
          2 epochs of the last two stages; 1 epoch with ``quick``);
        * ``'features+svc'``, ``'features+logreg'``, ``'features+xgboost'``:
          ``SVC()``, ``StandardScaler + LogisticRegression`` and
          ``XGBClassifier`` on pretrained features of ``backbone``
          (fed 64x64 for images up to 32 px, 128 up to 64 px, else the
          backbone's own size);
        * ``'pixels+svc'``, ``'pixels+xgboost'``: on the raw pixels, as rows
          of floats in [0, 1] (images larger than 32x32 resized to it).

        XGBoost runs on the GPU when ``device`` resolves to CUDA and the
        installed xgboost was built with CUDA; when xgboost is missing, its
        models are reported as skipped with the reason.
        A list (or comma-separated string) picks built-in models by name;
        a dict maps names to your own estimators or pipelines (fitted on
        ``X`` as given; wrap them in :func:`~skcnn.comparison.on_features` or
        :func:`~skcnn.comparison.on_pixels` to fit them on the shared
        features or pixels), or to built-in names.

        For regression the built-in models are ``'cnn'``
        (:class:`~skcnn.CNNRegressor`, the same network, 30 epochs, 5 with
        ``quick``), ``'finetuned'`` (:class:`~skcnn.FineTunedRegressor`),
        ``'features+svr'``, ``'features+ridge'``, ``'features+xgboost'``,
        ``'pixels+svr'``, ``'pixels+ridge'`` and ``'pixels+xgboost'`` (see
        :data:`~skcnn.comparison.REGRESSION_MODELS`): an RBF ``SVR``,
        ``RidgeCV`` and ``XGBRegressor``; SVR and Ridge learn a standardised
        target.
    task : {'classification', 'regression'}, default=None
        None decides from ``y``: regression when scikit-learn's
        :func:`~sklearn.utils.multiclass.type_of_target` says 'continuous'
        (floats that are not all whole numbers), classification otherwise.
        Give 'regression' for whole-number targets such as counts.
    cv : int or cross-validation splitter, default=5
        Number of stratified, shuffled folds (regression: ``KFold``,
        shuffled), or a splitter whose splits are computed once and used for
        every model.
    scoring : str, callable, list or dict, default=None
        Metric name(s) of :func:`sklearn.metrics.get_scorer_names`, a
        scorer, a list of names, or a dict name -> name or scorer. None:
        'accuracy' for classification; for regression ``r2`` (R²), ``mae``
        and ``rmse`` (mean absolute and root mean squared error, as positive
        numbers: lower is better).
    random_state : int, RandomState or None, default=0
        Seeds the splits and the built-in models.
    n_jobs : int, default=None
        Folds of each model run in parallel processes when > 1 (each
        XGBoost then uses one thread). None runs them one after the other.
    verbose : int, default=1
        0 is silent; 1 prints progress (to stderr): one line per model with
        the score of each fold as it ends; 2 also shows the models' own
        progress.
    test_size : float or int, default=None
        When given, a single stratified hold-out split of this size
        (fraction or number of images) replaces cross-validation.
    backbone : str, default='efficientnet_lite0'
        Backbone of the pretrained features and of the fine-tuned model.
    device : str, default='auto'
        Where the networks run (and XGBoost, when it is 'cuda').
    quick : bool, default=False
        Fewer epochs, smaller inputs and fewer trees: a smoke test, not a
        result.
    cache : str, path or bool, default=None
        Handed to ``PretrainedFeatures(cache=...)`` when the installed
        version supports a feature cache; ignored with a warning otherwise.
    budget : float, default=None
        Seconds for training the built-in networks ('cnn' and 'finetuned'),
        all folds and the calibration included, on this machine: each is
        calibrated on a few small fits, then gets the epochs and input size
        (for 'finetuned') that fit its share (see :mod:`skcnn.comparison._budget`).
        None (default): no budget, the networks keep their fixed settings for
        the machine (the budget is opt-in: its calibration times short fits,
        which a busy machine makes noisy). :func:`skcnn.comparison._budget.default_budget`
        suggests one from the data (108 s on scikit-learn's digits). Classification
        targets only, for now. The table's ``epochs``,
        ``input_size``, ``allotted_s`` and ``used_s`` say what each got. The
        other models are not budgeted (they take seconds). Ignored for texts.
    train_sizes : list of float or str, default=None
        Fractions in (0, 1] of each training fold, e.g. ``[0.1, 0.3, 1.0]``
        (or ``'0.1,0.3,1.0'``): every model is also fitted on nested,
        stratified subsets of that size of each training fold (drawn from
        the training fold only, with ``random_state``) and scored on the same
        test fold. ``result.train_sizes`` holds the scores and fit times per
        size, ``result.plot_train_sizes()`` draws them; ``result.table`` is the
        run at the largest size. A size leaving fewer than 2 images per
        class is refused.

    Returns
    -------
    result : ComparisonResult
        ``result.table`` is the tidy DataFrame; ``print(result)``,
        ``result.to_markdown()``, ``to_csv()``, ``to_json()``, ``plot()``.

    Raises
    ------
    ValueError
        For an argument of the wrong type or out of range (checked before
        anything runs), an unknown model name (the message lists the valid
        ones), an unknown metric, or labels that cannot be split as asked.
    """
    from ..utils import resolve_device

    log = Logger(int(verbose))
    task = resolve_task(y, task)
    regression = task == "regression"
    if is_text(X):  # sentences get the text models
        if regression:
            raise ValueError("Regression on texts is not supported: the text models are "
                             "classifiers. Give class labels, or compare your own regressors "
                             "with models={name: estimator} on images.")
        warn_duplicates(X)
        specs = text_model_specs(models, quick=quick, random_state=random_state,
                                 device=device, n_jobs=n_jobs)
    else:
        specs = (resolve_regression_models if regression else resolve_models)(models)
    scoring = check_scoring_names(regression_scoring(scoring) if regression
                                  else "accuracy" if scoring is None else scoring)
    if test_size is None and isinstance(cv, Integral) and cv < 2:
        raise ValueError(f"cv must be at least 2 folds; got {cv!r}.")
    n = n_samples(X)
    if n == 0:
        raise ValueError("X is empty (0 images): pass at least one image per class and fold.")
    if regression:
        if train_sizes is not None or budget is not None:
            raise ValueError("budget= and train_sizes= work on classification targets for "
                             "now; leave them out for a regression target.")
        encoder, y_enc = None, check_regression_target(y, n)
        splits, split_text = regression_splits(n, cv=cv, test_size=test_size,
                                               random_state=random_state)
    else:
        encoder, y_enc = encode_labels(y, n)
        splits, split_text = make_splits(y_enc, cv=cv, test_size=test_size,
                                         random_state=random_state, classes=encoder.classes_)
    fractions = (1.0,) if train_sizes is None else check_train_sizes(train_sizes, y_enc, splits)
    # The networks are sized by a budget only when one is given (opt-in: calibration
    # timings are noisy on a loaded machine); otherwise the fixed settings below.
    budgeted = [] if is_text(X) or budget is None else [
        name for name, spec in specs.items() if isinstance(spec, str) and spec in BUDGETED]
    device_ = resolve_device(device)
    specs, side = _configure_defaults(
        specs, X, device=device_, quick=quick, random_state=random_state, backbone=backbone,
        n_jobs=n_jobs, build=default_regression_models if regression else default_models)
    uses_features = any(spec.input == "features" for spec in specs.values())
    inputs = Inputs(X, backbone=backbone, device=device_, verbose=verbose, cache=cache, log=log,
                    feature_size=feature_input_size(side, quick) if uses_features else None)
    target = "a continuous target" if regression else f"{len(encoder.classes_)} classes"
    log(f"skcnn compare: {n} images, {target}, {split_text}, "
        f"{len(specs)} model(s), device {device_}")
    budget_ = None
    if budgeted:
        budget_ = apply_budget(specs, budgeted, inputs, y_enc, splits, budget, side=side,
                               train_fractions=fractions, random_state=random_state, log=log)
    runs = run_train_sizes(specs, inputs, y_enc, splits, scoring, fractions,
                           random_state=random_state, n_jobs=n_jobs, verbose=verbose, log=log)
    records, fold_scores, errors, splits = runs.records, runs.scores, runs.errors, runs.splits
    table = comparison_table(records, scoring)
    if budget_ is not None:
        table = budget_columns(table, budget_, runs.seconds())
    return ComparisonResult(
        table=table, scores=fold_scores, splits=splits, budget=budget_,
        train_sizes=runs.table(scoring) if train_sizes is not None else None,
        scoring=list(scoring), classes=None if regression else encoder.classes_, n_samples=n,
        split_description=split_text, features=inputs.features_info, errors=errors,
        small_images=inputs.small_info, model_specs=specs,
        input_settings={"small": inputs.small_info, "features": inputs.features_params},
        task=task, target=y_enc if regression else None)


def _configure_defaults(specs, X, build=default_models, **settings):
    """``(specs with built-in names replaced by configured models, smaller image side)``.

    The side (None for files and PIL images) is only looked up when a
    built-in model or a feature model needs it.
    """
    names = [name for name, spec in specs.items() if isinstance(spec, str)]
    needs_side = names or any(spec.input == "features" for spec in specs.values()
                              if not isinstance(spec, str))
    side = image_side(X) if needs_side else None
    if names:
        built = build([specs[name] for name in names], side=side, **settings)
        specs = {name: built[spec] if isinstance(spec, str) else spec
                 for name, spec in specs.items()}
    return specs, side

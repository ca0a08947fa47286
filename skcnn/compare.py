"""Compare CNNs with classical models on the same splits: :func:`compare`.

Every model sees the same stratified folds (or the same single hold-out
split); the result is a tidy :class:`pandas.DataFrame` with the mean and
standard deviation of each score, the time each model needed and what it
costs to run, rendered as text, Markdown, CSV, JSON or a chart.

Pretrained features are extracted once per data set, up front, for all
images, and every feature-based model reuses them in every fold. That leaks
nothing from the test folds: the backbone is frozen and runs in inference
mode, so an image's features depend on that image alone (no statistics are
gathered across images, no labels are seen). What the heads learn (scaling,
the classifier) is fitted on each training fold only.
"""

import json
import math
import numbers
import os
import sys
import time
import traceback
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit, check_cv
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets

__all__ = ["compare", "ComparisonResult", "ModelSpec", "on_features", "on_pixels",
           "count_parameters", "DEFAULT_MODELS"]

#: Names of the built-in models, in the order they run.
DEFAULT_MODELS = ("cnn", "finetuned", "features+svc", "features+logreg", "features+xgboost",
                  "pixels+svc", "pixels+xgboost")

#: One line per built-in model (shown by ``skcnn compare --help``).
MODEL_DESCRIPTIONS = {
    "cnn": "CNNClassifier trained from scratch (2 conv blocks, 'same' padding)",
    "finetuned": "FineTunedClassifier: the pretrained backbone fine-tuned with a new head",
    "features+svc": "pretrained features + SVC (RBF)",
    "features+logreg": "pretrained features + StandardScaler + LogisticRegression",
    "features+xgboost": "pretrained features + XGBClassifier",
    "pixels+svc": "raw pixels + SVC (RBF)",
    "pixels+xgboost": "raw pixels + XGBClassifier",
}

#: Largest side of the images the CNN from scratch and the pixel models see;
#: larger images (and image files) are resized to it once, up front.
SMALL_SIZE = 32

_INPUTS = ("raw", "small", "pixels", "features")


class ModelSpec:
    """A model for :func:`compare` and the input it is fitted on.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Cloned for every fold.
    input : {'raw', 'small', 'pixels', 'features'}, default='raw'
        'raw': ``X`` as given to :func:`compare`; 'small': the images as an
        array no larger than 32x32 (larger ones and files resized once);
        'pixels': those images flattened to rows of floats in [0, 1];
        'features': the pretrained features, extracted once for all images.
    description : str, default=None
    skip : str, default=None
        When given, the model is not run and its status says
        ``'skipped: <skip>'``.
    """

    def __init__(self, estimator, input="raw", description=None, skip=None):
        if input not in _INPUTS:
            raise ValueError(f"input must be one of {', '.join(map(repr, _INPUTS))}; got {input!r}.")
        self.estimator = estimator
        self.input = input
        self.description = description
        self.skip = skip

    def __repr__(self):
        return f"ModelSpec({self.estimator!r}, input={self.input!r})"


def on_features(estimator):
    """Fit ``estimator`` on the shared pretrained features (e.g. your own head).

    >>> from sklearn.ensemble import RandomForestClassifier
    >>> compare(X, y, models={"features+rf": on_features(RandomForestClassifier())})  # doctest: +SKIP
    """
    return ModelSpec(estimator, "features")


def on_pixels(estimator):
    """Fit ``estimator`` on the flattened pixels (rows of floats in [0, 1])."""
    return ModelSpec(estimator, "pixels")


# --------------------------------------------------------------------------- defaults


def _xgboost_status():
    """``(module, None)`` or ``(None, reason)``."""
    try:
        import xgboost
    except Exception as exc:  # ImportError, or a broken install (missing libgomp, ...)
        return None, (f"xgboost is not installed or cannot be imported ({type(exc).__name__}: "
                      f"{exc}); pip install xgboost (or xgboost-cpu)")
    return xgboost, None


def _xgboost_device(xgboost, device):
    if device.type != "cuda":
        return "cpu"
    try:
        has_cuda = bool(xgboost.build_info().get("USE_CUDA"))
    except Exception:  # pragma: no cover - very old builds
        has_cuda = False
    return "cuda" if has_cuda else "cpu"


def _cpu_threads(n_jobs):
    """Threads for the CPU models (XGBoost): half the cores, at least 1.

    OpenMP threads that spin-wait for a core another process is using make
    XGBoost many times slower on small shared machines; leaving a core free
    avoids that. With parallel folds (``n_jobs`` > 1) each fold gets one.
    """
    if n_jobs not in (None, 1):
        return 1
    return max(1, (os.cpu_count() or 1) // 2)


def _feature_input_size(side, quick):
    """Input side for PretrainedFeatures: small images need not be fed at 224."""
    if side is None:  # image files or PIL images of unknown size
        return 128 if quick else None
    if side <= 32:
        return 32 if quick else 64
    if side <= 64:
        return 64 if quick else 128
    return 128 if quick else None


def _finetune_input_size(side, quick, cuda):
    if cuda:
        return _feature_input_size(side, quick) or 224
    if side is not None and side <= 16:
        return 32
    if side is not None and side <= 32:
        return 32 if quick else 64
    return 64 if quick else 96


def _default_models(names, *, side, device, quick, random_state, backbone, n_jobs):
    """The built-in models, configured for the data and the machine.

    On the CPU they are light (a few epochs, small inputs) so that the
    default ``skcnn compare`` on digits finishes in minutes on 2 cores; on a
    CUDA GPU the fine-tuned network sees larger inputs and trains longer.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from .pretrained.finetune import FineTunedClassifier
    from .scratch import CNNClassifier

    cuda = device.type == "cuda"
    xgboost, xgb_reason = _xgboost_status()
    specs = {}
    for name in names:
        if name == "cnn":
            estimator = CNNClassifier(
                filters=(32, 64), kernel_size=3, padding="same", batch_norm=True,
                hidden_units=(128,), dropout=0.25, optimizer="adam", lr_schedule="cosine",
                batch_size=64, max_epochs=3 if quick else 15, device=str(device),
                random_state=random_state, verbose=0)
            specs[name] = ModelSpec(estimator, "small")
        elif name == "finetuned":
            if cuda:
                settings = dict(unfreeze="all", freeze_epochs=1, max_epochs=2 if quick else 6,
                                learning_rate=1e-3, batch_size=64)
            else:
                # Only the last two stages train, so an epoch costs little more
                # than a forward pass; a larger rate makes up for few epochs.
                settings = dict(unfreeze=2, freeze_epochs=0, max_epochs=1 if quick else 2,
                                learning_rate=3e-3, batch_size=64)
            estimator = FineTunedClassifier(
                backbone=backbone, input_size=_finetune_input_size(side, quick, cuda),
                device=str(device), random_state=random_state, verbose=0, **settings)
            specs[name] = ModelSpec(estimator, "raw")
        elif name in ("features+svc", "pixels+svc"):
            specs[name] = ModelSpec(SVC(), name.split("+")[0])
        elif name == "features+logreg":
            specs[name] = ModelSpec(
                make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), "features")
        elif name in ("features+xgboost", "pixels+xgboost"):
            kind = name.split("+")[0]
            if xgboost is None:
                specs[name] = ModelSpec(None, kind, skip=xgb_reason)
                continue
            estimator = xgboost.XGBClassifier(
                n_estimators=20 if quick else 50, max_depth=3, learning_rate=0.3,
                tree_method="hist", max_bin=64, colsample_bytree=0.5,
                device=_xgboost_device(xgboost, device), n_jobs=_cpu_threads(n_jobs),
                random_state=0 if random_state is None else _seed(random_state))
            specs[name] = ModelSpec(estimator, kind)
        specs[name].description = MODEL_DESCRIPTIONS[name]
    return specs


def _seed(random_state):
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    from .base import seed_from

    return seed_from(random_state)


def _resolve_models(models):
    """Model name -> ModelSpec, or a default name (resolved later)."""
    if models is None:
        return {name: name for name in DEFAULT_MODELS}
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if isinstance(models, dict):
        items = list(models.items())
    else:
        items = []
        for item in models:
            if not isinstance(item, str):
                raise TypeError(
                    "models must be None, a list of built-in model names, or a dict of name -> "
                    f"estimator; got a list holding {type(item).__name__}. Use a dict to pass "
                    "your own estimators.")
            items.append((item, item))
    if not items:
        raise ValueError("models is empty; pass at least one model (or None for all built-in "
                         f"ones: {', '.join(DEFAULT_MODELS)}).")
    resolved = {}
    for name, value in items:
        if isinstance(value, str):
            if value not in DEFAULT_MODELS:
                raise ValueError(
                    f"Unknown model {value!r}. Valid names: {', '.join(DEFAULT_MODELS)}; or pass "
                    "a dict of name -> estimator for your own models.")
            resolved[str(name)] = value
        elif isinstance(value, ModelSpec):
            resolved[str(name)] = value
        elif hasattr(value, "fit"):
            resolved[str(name)] = ModelSpec(value, "raw")
        else:
            raise TypeError(f"Model {name!r} is a {type(value).__name__}, not an estimator with "
                            "fit(); pass a scikit-learn estimator, Pipeline or ModelSpec.")
    return resolved


# --------------------------------------------------------------------------- inputs


def _take(X, index):
    if hasattr(X, "iloc"):
        return X.iloc[index]
    if hasattr(X, "shape") and hasattr(X, "dtype"):
        return X[index]
    return [X[i] for i in index]


def _n_samples(X):
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


class _Inputs:
    """The inputs the models need, each prepared once (lazily) for all images."""

    def __init__(self, X, *, backbone, feature_size, device, verbose, cache, log):
        self.X = X
        self.backbone = backbone
        self.feature_size = feature_size
        self.device = device
        self.verbose = verbose
        self.cache = cache
        self.log = log
        self.prepared = {"raw": (X, None)}
        self.errors = {}
        self.features_info = None
        self.small_info = None

    def get(self, kind):
        """``(input, seconds to prepare it or None)``; raises what preparing raised."""
        if kind in self.errors:
            raise self.errors[kind]
        if kind not in self.prepared:
            try:
                self.prepared[kind] = getattr(self, "_" + kind)()
            except Exception as exc:
                self.errors[kind] = exc
                raise
        return self.prepared[kind]

    def _small(self):
        from .data.images import input_kind
        from .data.loader import ImageLoader
        from .data.transforms import check_array_images

        start = time.perf_counter()
        if input_kind(self.X) == "array":
            images = check_array_images(self.X)
            if max(images.shape[-2:]) <= SMALL_SIZE:
                self.small_info = {"size": tuple(images.shape[-2:]), "resized": False}
                return self.X, None  # X as given: nothing was prepared
            mode = "L" if images.shape[1] == 1 else "RGB"
        else:
            mode = "RGB"
        self.log(f"loading the images at {SMALL_SIZE}x{SMALL_SIZE} for the CNN from scratch "
                 "and the pixel models ...", end=" ")
        small = ImageLoader(size=SMALL_SIZE, mode=mode).fit_transform(self.X)
        seconds = time.perf_counter() - start
        self.log(f"{seconds:.1f} s")
        self.small_info = {"size": (SMALL_SIZE, SMALL_SIZE), "resized": True}
        return small, seconds

    def _pixels(self):
        from .data.transforms import check_array_images

        small, seconds = self.get("small")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # out-of-range warnings were given for "small"
            images = check_array_images(small)
        # float32 in [0, 1] (uint8 images are scaled by check_array_images); flattening
        # is not timed: it is no more than a copy.
        pixels = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)
        return pixels, seconds

    def _features(self):
        from .pretrained.features import PretrainedFeatures

        params = dict(backbone=self.backbone, input_size=self.feature_size,
                      batch_size=256 if (self.feature_size or 224) <= 64 else "auto",
                      device=str(self.device), verbose=int(self.verbose > 0))
        if self.cache is not None:
            if "cache" in PretrainedFeatures().get_params():
                params["cache"] = self.cache
            else:
                warnings.warn("cache= was given but this version of PretrainedFeatures has no "
                              "feature cache; the features are extracted without one.",
                              UserWarning, stacklevel=4)
        n = _n_samples(self.X)
        size = f"{self.feature_size}x{self.feature_size}" if self.feature_size else "its own size"
        self.log(f"pretrained features ({self.backbone} at {size}): extracting once for all "
                 f"{n} images ...")
        start = time.perf_counter()
        extractor = PretrainedFeatures(**params).fit(self.X)
        features = extractor.transform(self.X)
        seconds = time.perf_counter() - start
        backbone = getattr(extractor.backbone_, "name", None) or str(self.backbone)
        input_size = extractor.preprocess_.input_size
        self.features_info = {
            "backbone": str(backbone) if isinstance(self.backbone, str) else backbone,
            "input_size": "x".join(map(str, input_size)),
            "n_images": n,
            "n_features": int(features.shape[1]),
            "seconds": seconds,
            "images_per_s": n / seconds if seconds > 0 else float("nan"),
            "device": extractor.device_,
            "backbone_parameters": int(sum(p.numel() for p in extractor.model_.parameters())),
            "cached": "cache" in params,
        }
        self.log(f"pretrained features: {features.shape[1]} per image, {seconds:.1f} s "
                 f"({self.features_info['images_per_s']:.0f} images/s, {extractor.device_})")
        return features, seconds


def _image_side(X):
    """Smaller side of array images, or None (files, PIL images, unreadable)."""
    from .data.images import input_kind
    from .data.transforms import check_array_images

    try:
        if input_kind(X) != "array":
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(min(check_array_images(X).shape[-2:]))
    except Exception:
        return None


# --------------------------------------------------------------------------- parameters


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
    * a Pipeline: the sum over its steps; steps that learn nothing
      (``PretrainedFeatures``, ``ImageLoader``) count 0.
    * anything else: NaN.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        total = 0
        for _, step in estimator.steps:
            if step is None or step == "passthrough":
                continue
            count = count_parameters(step)
            if math.isnan(count):
                return float("nan")
            total += count
        return total
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


def _device_of(estimator):
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        devices = {_device_of(step) for _, step in estimator.steps
                   if step is not None and step != "passthrough"}
        devices.discard("cpu")
        return devices.pop() if len(devices) == 1 else ("cpu" if not devices else "mixed")
    device = getattr(estimator, "device_", None)
    if device is not None:
        return str(device)
    if hasattr(estimator, "get_booster"):
        return str(estimator.get_params().get("device") or "cpu")
    return "cpu"


# --------------------------------------------------------------------------- scoring


def _check_scoring(scoring):
    """``scoring`` as a dict of metric name -> str or callable."""
    if isinstance(scoring, str):
        return {scoring: scoring}
    if callable(scoring):
        return {"score": scoring}
    if isinstance(scoring, dict):
        if not scoring:
            raise ValueError("scoring is an empty dict; give at least one metric.")
        return {str(k): v for k, v in scoring.items()}
    if isinstance(scoring, (list, tuple, set)):
        names = list(scoring)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"scoring as a list must hold metric names; got {scoring!r}.")
        if len(set(names)) != len(names):
            raise ValueError(f"scoring lists a metric twice: {scoring!r}.")
        return {n: n for n in names}
    raise TypeError(f"scoring must be a str, callable, list or dict; got {type(scoring).__name__}.")


def _validate_metric_names(scoring):
    valid = set(get_scorer_names())
    for value in scoring.values():
        if isinstance(value, str) and value not in valid:
            raise ValueError(f"Unknown scoring {value!r}. Valid names are those of "
                             "sklearn.metrics.get_scorer_names(), e.g. 'accuracy', "
                             "'balanced_accuracy', 'f1_macro', 'roc_auc_ovr', 'neg_log_loss'.")


# --------------------------------------------------------------------------- running


def _fit_and_score(estimator, X, y, train, test, scoring):
    """One fold: fit, predict and score. Never raises; returns a dict."""
    try:
        model = clone(estimator)
        start = time.perf_counter()
        model.fit(_take(X, train), y[train])
        fit_time = time.perf_counter() - start
        scorer = check_scoring(model, scoring=scoring)  # one prediction for all metrics
        start = time.perf_counter()
        scores = scorer(model, _take(X, test), y[test])
        predict_time = time.perf_counter() - start
        return {"scores": {k: float(v) for k, v in scores.items()}, "fit_time": fit_time,
                "predict_time": predict_time, "n_test": len(test),
                "n_params": count_parameters(model), "device": _device_of(model), "error": None}
    except Exception as exc:
        return {"error": exc, "traceback": traceback.format_exc()}


def _short_error(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Logger:
    def __init__(self, verbose, stream=None):
        self.verbose = verbose
        self.stream = stream

    def __call__(self, message="", end="\n"):
        if self.verbose > 0:
            print(message, end=end, file=self.stream or sys.stderr, flush=True)


def compare(X, y, models=None, *, cv=5, scoring="accuracy", random_state=0, n_jobs=None,
            verbose=1, test_size=None, backbone="efficientnet_lite0", device="auto",
            quick=False, cache=None):
    """Evaluate CNNs and classical models on the same splits of ``(X, y)``.

    Every model is fitted and scored on the same stratified folds
    (``StratifiedKFold(cv, shuffle=True, random_state)``), or on the same
    single hold-out split when ``test_size`` is given. A model that fails
    is recorded with its error and the others still run.

    Parameters
    ----------
    X : array of images, list of file paths or list of PIL images
        As accepted by :class:`~skcnn.CNNClassifier` and
        :class:`~skcnn.PretrainedFeatures`. Your own models receive ``X`` as
        given (or the features / pixels, see :class:`ModelSpec`).
    y : array-like of shape (N,)
        Class labels of any type. They are encoded as 0..K-1 once, so that
        every model (XGBoost included) sees the same targets; the original
        labels are in ``result.classes``.
    models : None, list of str, or dict, default=None
        None runs every built-in model (:data:`DEFAULT_MODELS`):

        * ``'cnn'``: :class:`~skcnn.CNNClassifier` from scratch, two 3x3
          convolution blocks with 'same' padding (so 8x8 digits work),
          BatchNorm, 15 epochs (3 with ``quick``), on images up to 32x32;
        * ``'finetuned'``: :class:`~skcnn.FineTunedClassifier` on ``backbone``.
          On the CPU light on purpose: small inputs (32 px for images up to
          16 px, 64 up to 32 px, else 96), the last two stages and the head
          trained for 2 epochs (1 with ``quick``). On CUDA: the whole network,
          6 epochs, the features' input size;
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
        ``X`` as given; wrap them in :func:`on_features` or :func:`on_pixels`
        to fit them on the shared features or pixels), or to built-in names.
    cv : int or cross-validation splitter, default=5
        Number of stratified, shuffled folds, or a splitter whose splits
        are computed once and used for every model.
    scoring : str, callable, list or dict, default='accuracy'
        Metric name(s) of :func:`sklearn.metrics.get_scorer_names`, a
        scorer, a list of names, or a dict name -> name or scorer.
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

    Returns
    -------
    result : ComparisonResult
        ``result.table`` is the tidy DataFrame; ``print(result)``,
        ``result.to_markdown()``, ``to_csv()``, ``to_json()``, ``plot()``.

    Raises
    ------
    ValueError
        For an unknown model name (the message lists the valid ones), an
        unknown metric, or labels that cannot be split as asked.
    """
    import pandas as pd  # imported here so that ``import skcnn`` stays light
    from sklearn.utils.validation import column_or_1d

    from .base import resolve_device

    if not isinstance(verbose, (numbers.Integral, bool)) or verbose < 0:
        raise ValueError(f"verbose must be a non-negative int; got {verbose!r}.")
    log = _Logger(int(verbose))
    # --- text hook: texts get the text models (skcnn/text/_comparison.py) ---------------
    from .text._comparison import is_text, text_model_specs, warn_duplicates

    if is_text(X):
        warn_duplicates(X)
        specs = text_model_specs(models, quick=quick, random_state=random_state,
                                 device=device, n_jobs=n_jobs)
    else:
        specs = _resolve_models(models)
    # --- end of the text hook -------------------------------------------------------------
    scoring = _check_scoring(scoring)
    _validate_metric_names(scoring)
    if test_size is not None:
        if isinstance(test_size, bool) or not isinstance(test_size, (numbers.Real,)) or (
                isinstance(test_size, numbers.Integral) and test_size < 1) or (
                not isinstance(test_size, numbers.Integral) and not 0 < test_size < 1):
            raise ValueError("test_size must be a fraction in (0, 1) or a number of images "
                             f">= 1; got {test_size!r}.")
    elif isinstance(cv, numbers.Integral) and not isinstance(cv, bool) and cv < 2:
        raise ValueError(f"cv must be at least 2 folds; got {cv!r}.")

    n = _n_samples(X)
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != n:
        raise ValueError(f"X has {n} images but y has {len(y)} labels; give one label per image.")
    check_classification_targets(y)
    encoder = LabelEncoder().fit(y)
    y_enc = encoder.transform(y)
    if len(encoder.classes_) < 2:
        raise ValueError(f"y holds a single class ({encoder.classes_[0]!r}); a comparison needs "
                         "at least two classes.")

    if test_size is not None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size,
                                          random_state=random_state)
        split_text = (f"one stratified hold-out split (test_size={test_size}, "
                      f"random_state={random_state})")
    elif isinstance(cv, numbers.Integral):
        splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=random_state)
        split_text = f"{int(cv)}-fold stratified CV (shuffled, random_state={random_state})"
    else:
        splitter = check_cv(cv, y_enc, classifier=True)
        split_text = None if not hasattr(cv, "split") else repr(cv)
    splits = [(np.asarray(train), np.asarray(test))
              for train, test in splitter.split(np.zeros((n, 1)), y_enc)]
    if split_text is None:
        split_text = f"{len(splits)} given split(s)"

    device_ = resolve_device(device)
    side = None
    default_names = [name for name, spec in specs.items() if isinstance(spec, str)]
    if default_names:
        side = _image_side(X)
        built = _default_models([specs[name] for name in default_names], side=side,
                                device=device_, quick=quick, random_state=random_state,
                                backbone=backbone, n_jobs=n_jobs)
        for name in default_names:
            specs[name] = built[specs[name]]

    feature_size = _feature_input_size(side if side is not None else _image_side(X), quick) \
        if any(s.input == "features" for s in specs.values()) else None
    inputs = _Inputs(X, backbone=backbone, feature_size=feature_size, device=device_,
                     verbose=verbose, cache=cache, log=log)

    log(f"skcnn compare: {n} images, {len(encoder.classes_)} classes, {split_text}, "
        f"{len(specs)} model(s), device {device_}")
    records, fold_scores, errors = [], {}, {}
    width = max(len(name) for name in specs)
    for position, (name, spec) in enumerate(specs.items(), 1):
        prefix = f"[{position}/{len(specs)}] {name:{width}s}"
        record = {"model": name, "input": spec.input}
        if spec.skip is not None:
            log(f"{prefix} skipped: {spec.skip}")
            record["status"] = f"skipped: {spec.skip}"
            records.append(record)
            continue
        try:
            data, prep_seconds = inputs.get(spec.input)
        except Exception as exc:
            what = {"features": "feature extraction", "small": "loading the images",
                    "pixels": "loading the images"}.get(spec.input, "preparing the input")
            record["status"] = f"failed: {what}: {_short_error(exc)}"
            errors[name] = "".join(traceback.format_exception(exc))
            log(f"{prefix} {record['status']}")
            records.append(record)
            continue
        model_start = time.perf_counter()
        estimator = spec.estimator
        if verbose >= 2 and "verbose" in getattr(estimator, "get_params", dict)():
            estimator = clone(estimator).set_params(verbose=1)
        log(f"{prefix} folds:", end="")
        outcomes = []
        if n_jobs in (None, 1) or len(splits) == 1:
            for train, test in splits:
                outcome = _fit_and_score(estimator, data, y_enc, train, test, scoring)
                outcomes.append(outcome)
                if outcome["error"] is not None:
                    break
                log(" " + " ".join(f"{v:.4f}" for v in outcome["scores"].values()), end="")
        else:
            from joblib import Parallel, delayed

            outcomes = Parallel(n_jobs=n_jobs)(
                delayed(_fit_and_score)(estimator, data, y_enc, train, test, scoring)
                for train, test in splits)
        failed = next((o for o in outcomes if o["error"] is not None), None)
        elapsed = time.perf_counter() - model_start
        if failed is not None:
            record["status"] = f"failed: {_short_error(failed['error'])}"
            errors[name] = failed["traceback"]
            log(f" -> {record['status']}")
            records.append(record)
            continue
        fold_scores[name] = {metric: np.array([o["scores"][metric] for o in outcomes])
                             for metric in scoring}
        for metric, values in fold_scores[name].items():
            record[f"{metric}_mean"] = float(values.mean())
            record[f"{metric}_std"] = float(values.std())
        fit_time = float(np.mean([o["fit_time"] for o in outcomes]))
        predict_time = float(np.mean([o["predict_time"] for o in outcomes]))
        n_test = float(np.mean([o["n_test"] for o in outcomes]))
        # Inference throughput, end to end: a feature model pays for the
        # extraction of each image as well as for its head.
        shared = prep_seconds or 0.0
        seconds_per_image = predict_time / n_test + shared / n
        record.update({
            "fit_time": fit_time,
            "predict_time": predict_time,
            "extract_time": float("nan") if prep_seconds is None else prep_seconds,
            "total_time": float(sum(o["fit_time"] + o["predict_time"] for o in outcomes)
                                + shared),
            "images_per_s": 1.0 / seconds_per_image if seconds_per_image > 0 else float("nan"),
            "device": outcomes[-1]["device"],
            "n_params": outcomes[-1]["n_params"],
            "status": "ok",
        })
        first = next(iter(scoring))
        log(f" -> {first} {record[first + '_mean']:.4f} +/- {record[first + '_std']:.4f} "
            f"({elapsed:.1f} s)")
        records.append(record)

    columns = (["model"] + [f"{m}_{s}" for m in scoring for s in ("mean", "std")]
               + ["fit_time", "predict_time", "extract_time", "total_time", "images_per_s",
                  "device", "n_params", "input", "status"])
    table = pd.DataFrame.from_records(records)
    table = table.reindex(columns=columns)
    for column in columns:
        if column not in ("model", "device", "input", "status"):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return ComparisonResult(
        table=table, scores=fold_scores, splits=splits, scoring=list(scoring),
        classes=encoder.classes_, n_samples=n, split_description=split_text,
        features=inputs.features_info, errors=errors, small_images=inputs.small_info)


# --------------------------------------------------------------------------- result


def _fmt_seconds(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _fmt_count(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}" if value < 100 * scale else \
                f"{value / scale:.0f}{unit}"
    return f"{value:.0f}"


class ComparisonResult:
    """What :func:`compare` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model (in the order they ran): ``model``; for each
        metric ``<metric>_mean`` and ``<metric>_std`` over the folds;
        ``fit_time`` and ``predict_time`` (mean seconds per fold; predict
        includes scoring the test fold); ``extract_time`` (seconds to prepare
        the model's shared input once for all images: the pretrained
        features, or images resized for the pixel models and the CNN; NaN
        for models fitted on ``X`` as given); ``total_time`` (all folds, plus
        ``extract_time``: what running this model alone costs);
        ``images_per_s`` (inference throughput, extraction included);
        ``device``; ``n_params`` (learned parameters, see
        :func:`count_parameters`); ``input`` (what the model was fitted on:
        'raw', 'small', 'pixels', 'features'); ``status`` ('ok',
        ``'failed: <error>'`` or ``'skipped: <reason>'``).
    scores : dict
        Model name -> metric -> array of per-fold scores (models that ran).
    splits : list of (train_indices, test_indices)
        The splits every model used.
    scoring : list of str
        The metric names.
    classes : ndarray
        The original labels; models saw them encoded as 0..K-1.
    features : dict or None
        The one pretrained-feature extraction: backbone, input_size,
        n_images, n_features, seconds, images_per_s, device.
    errors : dict
        Model name -> full traceback of its failure.
    """

    def __init__(self, *, table, scores, splits, scoring, classes, n_samples, split_description,
                 features=None, errors=None, small_images=None):
        self.table = table
        self.scores = scores
        self.splits = splits
        self.scoring = scoring
        self.classes = classes
        self.n_samples = n_samples
        self.split_description = split_description
        self.features = features
        self.errors = errors or {}
        self.small_images = small_images

    # ------------------------------------------------------------------ display
    def _display(self, markdown=False):
        """Header and rows of strings for the text and Markdown tables."""
        pm = " ± " if markdown else " +/- "
        header = ["model", *self.scoring, "fit s", "predict s", "extract s", "total s",
                  "images/s", "device", "params", "status"]
        rows = []
        for _, row in self.table.iterrows():
            cells = [str(row["model"])]
            for metric in self.scoring:
                mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
                cells.append("-" if math.isnan(mean) else f"{mean:.4f}{pm}{std:.4f}")
            cells += [_fmt_seconds(row["fit_time"]), _fmt_seconds(row["predict_time"]),
                      _fmt_seconds(row["extract_time"]), _fmt_seconds(row["total_time"]),
                      _fmt_count(row["images_per_s"]),
                      "-" if not isinstance(row["device"], str) else row["device"],
                      _fmt_count(row["n_params"]), str(row["status"])]
            rows.append(cells)
        return header, rows

    def notes(self):
        """Lines that explain the table: splits, data, the one feature extraction."""
        lines = [f"{self.n_samples} images, {len(self.classes)} classes; {self.split_description}; "
                 "the same splits for every model."]
        if self.features:
            f = self.features
            users = [m for m, i in zip(self.table["model"], self.table["input"]) if i == "features"]
            lines.append(
                f"Pretrained features: {f['backbone']} at {f['input_size']}, {f['n_features']} per "
                f"image, extracted once for all {f['n_images']} images in {f['seconds']:.1f} s "
                f"({f['images_per_s']:.0f} images/s, {f['device']}), shared by "
                f"{len(users)} model(s) in every fold (their 'extract s'; the frozen backbone's "
                f"{_fmt_count(f['backbone_parameters'])} parameters are not counted in 'params').")
        if self.small_images and self.small_images.get("resized"):
            lines.append("The CNN from scratch and the pixel models saw the images resized to "
                         f"{'x'.join(map(str, self.small_images['size']))}.")
        lines.append("Times: fit/predict are mean seconds per fold; total is all folds plus the "
                     "extraction; images/s is inference throughput including extraction.")
        return lines

    def to_text(self, max_status=48):
        """The table as aligned plain text, with notes below it."""
        header, rows = self._display()
        rows = [r[:-1] + [r[-1] if len(r[-1]) <= max_status else r[-1][:max_status - 3] + "..."]
                for r in rows]
        widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
        left = {0, len(header) - 3, len(header) - 1}  # model, device, status

        def line(cells):
            return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
        return "\n".join(out + [""] + self.notes())

    def __str__(self):
        return self.to_text()

    def __repr__(self):
        return f"<ComparisonResult: {len(self.table)} models, {self.split_description}>"

    def to_markdown(self, path=None):
        """The table as GitHub-flavoured Markdown (written to ``path`` when given)."""
        header, rows = self._display(markdown=True)

        def esc(cell):
            return str(cell).replace("|", "\\|").replace("\n", " ")

        right = [False] + [True] * (len(header) - 4) + [False, True, False]
        lines = ["| " + " | ".join(esc(h) for h in header) + " |",
                 "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
        text = "\n".join(lines + [""] + [f"{line}  " for line in self.notes()]) + "\n"
        return _write(text, path)

    def to_csv(self, path=None):
        """The tidy table as CSV (written to ``path`` when given)."""
        return _write(self.table.to_csv(index=False), path)

    def to_dict(self):
        """Everything as plain Python types (NaN as None)."""
        def clean(value):
            if isinstance(value, (np.integer,)):
                return int(value)
            if isinstance(value, (float, np.floating)):
                return None if math.isnan(value) else float(value)
            if isinstance(value, np.ndarray):
                return [clean(v) for v in value.tolist()]
            if isinstance(value, dict):
                return {str(k): clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return {
            "models": [clean(r) for r in self.table.to_dict(orient="records")],
            "fold_scores": clean(self.scores),
            "scoring": list(self.scoring),
            "classes": [c.item() if hasattr(c, "item") else c for c in self.classes],
            "n_samples": self.n_samples,
            "splits": self.split_description,
            "features": clean(self.features),
            "notes": self.notes(),
        }

    def to_json(self, path=None, indent=2):
        """:meth:`to_dict` as JSON (written to ``path`` when given)."""
        return _write(json.dumps(self.to_dict(), indent=indent, default=str) + "\n", path)

    def plot(self, metric=None):
        """Scores with error bars beside the time each model took; a matplotlib Figure."""
        from .plotting import plot_comparison

        return plot_comparison(self, metric=metric)

    def save(self, path):
        """Write the table (``.md``, ``.csv``, ``.json``, ``.txt``) or the chart (``.png``,
        ``.svg``, ``.pdf``) to ``path``, the format chosen by its extension."""
        ext = os.path.splitext(str(path))[1].lower()
        if ext in (".md", ".markdown"):
            self.to_markdown(path)
        elif ext == ".csv":
            self.to_csv(path)
        elif ext == ".json":
            self.to_json(path)
        elif ext == ".txt":
            _write(self.to_text() + "\n", path)
        elif ext in (".png", ".svg", ".pdf"):
            self.plot().savefig(path, dpi=120 if ext == ".png" else None, bbox_inches="tight")
        else:
            raise ValueError(f"Cannot tell the format of {str(path)!r} from its extension; use "
                             ".md, .csv, .json, .txt (the table) or .png, .svg, .pdf (the chart).")
        return path


def _write(text, path):
    if path is None:
        return text
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return text

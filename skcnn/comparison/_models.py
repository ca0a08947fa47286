"""The models a comparison runs: :class:`ModelSpec`, the built-in ones, the ``models=`` argument.

A model is an estimator plus the input it is fitted on ('raw', 'small',
'pixels' or 'features', see :class:`ModelSpec`). The built-in models are
configured for the data (image size) and the machine (CPU or CUDA).
"""

import numbers

from .._sklearn_compat import HasMethods, validate_params
from ..utils import cpu_model_threads

__all__ = ["ModelSpec", "on_features", "on_pixels", "DEFAULT_MODELS", "MODEL_DESCRIPTIONS",
           "INPUTS", "default_models", "resolve_models", "feature_input_size"]

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

#: What a model can be fitted on (see :class:`ModelSpec`).
INPUTS = ("raw", "small", "pixels", "features")


class ModelSpec:
    """A model for :func:`~skcnn.compare` and the input it is fitted on.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Cloned for every fold.
    input : {'raw', 'small', 'pixels', 'features'}, default='raw'
        'raw': ``X`` as given to :func:`~skcnn.compare`; 'small': the images
        as an array no larger than 32x32 (larger ones and files resized
        once); 'pixels': those images flattened to rows of floats in [0, 1];
        'features': the pretrained features, extracted once for all images.
    description : str, default=None
    skip : str, default=None
        When given, the model is not run and its status says
        ``'skipped: <skip>'``.
    """

    def __init__(self, estimator, input="raw", description=None, skip=None):
        if input not in INPUTS:
            raise ValueError(f"input must be one of {', '.join(map(repr, INPUTS))}; got {input!r}.")
        self.estimator = estimator
        self.input = input
        self.description = description
        self.skip = skip

    def __repr__(self):
        return f"ModelSpec({self.estimator!r}, input={self.input!r})"


@validate_params({"estimator": [HasMethods(["fit"])]}, prefer_skip_nested_validation=True)
def on_features(estimator):
    """Fit ``estimator`` on the shared pretrained features (e.g. your own head).

    >>> from sklearn.ensemble import RandomForestClassifier
    >>> compare(X, y, models={"features+rf": on_features(RandomForestClassifier())})  # doctest: +SKIP
    """
    return ModelSpec(estimator, "features")


@validate_params({"estimator": [HasMethods(["fit"])]}, prefer_skip_nested_validation=True)
def on_pixels(estimator):
    """Fit ``estimator`` on the flattened pixels (rows of floats in [0, 1])."""
    return ModelSpec(estimator, "pixels")


# --------------------------------------------------------------------------- the models= argument


def resolve_models(models):
    """Model name -> ModelSpec, or a built-in name (configured later by :func:`default_models`)."""
    if models is None:
        return {name: name for name in DEFAULT_MODELS}
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    items = list(models.items()) if isinstance(models, dict) else _named_list(models)
    if not items:
        raise ValueError("models is empty; pass at least one model (or None for all built-in "
                         f"ones: {', '.join(DEFAULT_MODELS)}).")
    return {str(name): _resolve_one(name, value) for name, value in items}


def _named_list(names):
    for item in names:
        if not isinstance(item, str):
            raise TypeError(
                "models must be None, a list of built-in model names, or a dict of name -> "
                f"estimator; got a list holding {type(item).__name__}. Use a dict to pass "
                "your own estimators.")
    return [(name, name) for name in names]


def _resolve_one(name, value):
    if isinstance(value, str):
        if value not in DEFAULT_MODELS:
            raise ValueError(
                f"Unknown model {value!r}. Valid names: {', '.join(DEFAULT_MODELS)}; or pass "
                "a dict of name -> estimator for your own models.")
        return value
    if isinstance(value, ModelSpec):
        return value
    if hasattr(value, "fit"):
        return ModelSpec(value, "raw")
    raise TypeError(f"Model {name!r} is a {type(value).__name__}, not an estimator with "
                    "fit(); pass a scikit-learn estimator, Pipeline or ModelSpec.")


# --------------------------------------------------------------------------- input sizes


def feature_input_size(side, quick):
    """Input side for PretrainedFeatures: small images need not be fed at 224."""
    if side is None:  # image files or PIL images of unknown size
        return 128 if quick else None
    if side <= 32:
        return 32 if quick else 64
    if side <= 64:
        return 64 if quick else 128
    return 128 if quick else None


# --------------------------------------------------------------------------- the built-in models


def default_models(names, *, side, device, quick, random_state, backbone, n_jobs):
    """The built-in models ``names``, configured for the data and the machine.

    On the CPU they are light (a few epochs, small inputs) so that the
    default ``skcnn compare`` on digits finishes in minutes on 2 cores; on a
    CUDA GPU the fine-tuned network sees larger inputs and trains longer.
    """
    settings = dict(side=side, device=device, quick=quick, random_state=random_state,
                    backbone=backbone, n_jobs=n_jobs)
    specs = {}
    for name in names:
        kind, _, model = name.partition("+")
        if name == "cnn":
            specs[name] = _cnn(**settings)
        elif name == "finetuned":
            specs[name] = _finetuned(**settings)
        elif model == "xgboost":
            specs[name] = _xgboost(kind, **settings)
        else:
            specs[name] = _classical(kind, model)
        specs[name].description = MODEL_DESCRIPTIONS[name]
    return specs


def _cnn(*, device, quick, random_state, **_):
    from ..scratch import CNNClassifier

    estimator = CNNClassifier(
        filters=(32, 64), kernel_size=3, padding="same", batch_norm=True,
        hidden_units=(128,), dropout=0.25, optimizer="adam", lr_schedule="cosine",
        batch_size=64, max_epochs=3 if quick else 15, device=str(device),
        random_state=random_state, verbose=0)
    return ModelSpec(estimator, "small")


def _finetuned(*, side, device, quick, random_state, backbone, **_):
    from ..pretrained.finetune import FineTunedClassifier

    # The default recipe (linear probe, fine-tuning from it, the interpolation between the
    # two chosen on a validation split; epochs and augmentation sized by the data and the
    # device), at the input size of the pretrained features, so that its probe is the
    # features + logreg row of the table and the choice cannot fall below it. Small images on
    # a CPU: 2 epochs of the last two stages, which keeps the default run on the 8x8 digits
    # (5 folds, 64 pixels) within 3 minutes.
    input_size = feature_input_size(side, quick) or 224
    settings = {"max_epochs": 1} if quick else {}
    if device.type != "cuda" and side is not None and side <= 32:
        settings.setdefault("max_epochs", 2)
        settings["unfreeze"] = 2
    estimator = FineTunedClassifier(
        backbone=backbone, input_size=input_size,
        device=str(device), random_state=random_state, verbose=0, **settings)
    return ModelSpec(estimator, "raw")


def _classical(kind, model):
    """'svc' or 'logreg' on ``kind`` ('features' or 'pixels')."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if model == "svc":
        return ModelSpec(SVC(), kind)
    return ModelSpec(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), kind)


def _xgboost(kind, *, device, quick, random_state, n_jobs, **_):
    xgboost, reason = _xgboost_status()
    if xgboost is None:
        return ModelSpec(None, kind, skip=reason)
    estimator = xgboost.XGBClassifier(
        n_estimators=20 if quick else 50, max_depth=3, learning_rate=0.3,
        tree_method="hist", max_bin=64, colsample_bytree=0.5,
        device=_xgboost_device(xgboost, device), n_jobs=cpu_model_threads(n_jobs),
        random_state=0 if random_state is None else _int_seed(random_state))
    return ModelSpec(estimator, kind)


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


def _int_seed(random_state):
    """An int ``random_state`` as it is; a seed drawn from a RandomState."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    from ..utils import seed_from

    return seed_from(random_state)

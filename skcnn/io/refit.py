"""From a comparison to a shipped model: refit the best model of :func:`skcnn.compare`.

:func:`refit_best` takes the best model of a :class:`~skcnn.ComparisonResult`,
makes it a model that takes images as :func:`skcnn.compare` was given them
(and image files), refits it on all the data and returns it, ready for
:func:`skcnn.save`. ``skcnn compare --save-best model.skcnn`` does this.
"""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

__all__ = ["refit_best", "RefitResult", "flatten_pixels", "deployable", "predict_images"]


def flatten_pixels(X):
    """Images (as :class:`~skcnn.ImageLoader` returns them) as rows of floats in [0, 1].

    What the pixel models of :func:`skcnn.compare` are fitted on: ``uint8``
    pixels scaled to [0, 1], channels first, flattened.
    """
    from ..data.transforms import check_array_images

    images = check_array_images(X)
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32)


@dataclass
class RefitResult:
    """What :func:`refit_best` returns.

    Attributes
    ----------
    name : str
        The model's name in the comparison table.
    metric : str
        The metric it was chosen by (the comparison's first).
    score, score_std : float
        Its mean and standard deviation over the comparison's folds.
    estimator : estimator
        The model refitted on all the data; it takes images (arrays, PIL
        images or file paths).
    skipped : list of (str, str)
        Better models that were passed over, with the reason.
    """

    name: str
    metric: str
    score: float
    score_std: float
    estimator: object
    skipped: list

    def describe(self):
        """One line for the command line: which model, with which score."""
        line = (f"Best model: {self.name} ({self.metric} {self.score:.4f} +/- "
                f"{self.score_std:.4f} over the comparison's folds), refitted on all the data")
        for name, reason in self.skipped:
            line += f"\n  (passed over {name}: {reason})"
        return line


def _small_loader(result):
    """The ImageLoader that gives the CNN from scratch and the pixel models their images."""
    from ..data.loader import ImageLoader

    settings = getattr(result, "input_settings", {}).get("small") or {}
    size = settings.get("size")
    if size is None:
        raise ValueError("The comparison result does not record the images' size; run "
                         "skcnn.compare again with this version of skcnn.")
    return ImageLoader(size=tuple(int(s) for s in size), mode=settings.get("mode", "RGB"))


def deployable(result, name):
    """The unfitted model ``name`` of ``result``, taking images as compare was given them.

    Models fitted on the shared inputs of the comparison get the step that made
    that input in front of them: :class:`~skcnn.PretrainedFeatures` with the
    comparison's settings for models on features, an
    :class:`~skcnn.ImageLoader` to the images' size for the CNN from scratch
    (so it also takes image files), plus :func:`flatten_pixels` for the pixel
    models.
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    specs = getattr(result, "model_specs", None)
    if not specs or name not in specs:
        raise ValueError(f"The comparison result does not hold model {name!r}; refit_best needs "
                         "the result of skcnn.compare from this version of skcnn.")
    spec = specs[name]
    estimator = clone(spec.estimator)
    if spec.input == "raw":
        return estimator
    if spec.input == "features":
        from ..pretrained.features import PretrainedFeatures

        params = dict(result.input_settings["features"])
        params.update(verbose=0)
        params.pop("cache", None)  # the comparison's cache folder is not the user's
        return make_pipeline(PretrainedFeatures(**params), estimator)
    loader = _small_loader(result)
    if spec.input == "small":
        return make_pipeline(loader, estimator)
    return make_pipeline(loader, FunctionTransformer(flatten_pixels), estimator)


def _storable(estimator):
    """None when :func:`skcnn.save` stores ``estimator`` in a file that loads without
    ``trusted=``; otherwise the reason."""
    from ._classes import is_skcnn_object
    from ._json import UnsupportedValueError
    from ._sklearn import dump_skops

    if is_skcnn_object(estimator):
        return None
    try:
        _, _, needs_trust = dump_skops(estimator)
    except UnsupportedValueError as exc:
        return str(exc)
    if needs_trust:
        return (f"skops does not trust {', '.join(needs_trust)} by default, so the saved file "
                "would need skcnn.load(path, trusted=[...])")
    return None


def refit_best(result, X, y):
    """Refit the best model of a comparison on all of ``(X, y)``.

    The best model has the highest mean of the comparison's first metric
    (ties: the one listed first) among those that ran. A model whose saved
    file could not be loaded without ``trusted=`` (e.g. XGBoost, whose types
    skops does not trust by default) is passed over for the next best, and
    the result says so.

    Parameters
    ----------
    result : ComparisonResult
        What :func:`skcnn.compare` returned for ``(X, y)``.
    X, y
        The data given to :func:`skcnn.compare`. The model is fitted on the
        original labels, so it predicts them (not the comparison's codes).

    Returns
    -------
    RefitResult
        The model's name and score, and the refitted estimator.

    Raises
    ------
    ValueError
        When no model of the comparison ran successfully.
    """
    metric = result.scoring[0]
    table = result.table[result.table["status"] == "ok"]
    scores = table[f"{metric}_mean"].to_numpy(dtype=float)
    order = [i for i in np.argsort(-scores, kind="stable") if not math.isnan(scores[i])]
    if not order:
        raise ValueError("No model of the comparison ran successfully, so there is no best "
                         "model to save; see the table's status column.")
    skipped = []
    for position in order:
        row = table.iloc[position]
        name = str(row["model"])
        estimator = deployable(result, name)
        reason = _storable(estimator)
        if reason is not None:
            skipped.append((name, reason))
            continue
        estimator.fit(X, np.asarray(y))
        return RefitResult(name=name, metric=metric, score=float(row[f"{metric}_mean"]),
                           score_std=float(row[f"{metric}_std"]), estimator=estimator,
                           skipped=skipped)
    raise ValueError("None of the models that ran can be saved in the safe format: "
                     + "; ".join(f"{n}: {r}" for n, r in skipped))


def predict_images(model, images, top=5):
    """Predictions of a loaded model for ``images``, as ``skcnn predict --model`` prints them.

    Parameters
    ----------
    model : fitted classifier or Pipeline
        E.g. what :func:`skcnn.load` returns for a file written by
        ``skcnn compare --save-best``.
    images : list of paths, list of PIL images, or array of images
    top : int, default=5
        Classes listed per image, most probable first, when the model has
        ``predict_proba``.

    Returns
    -------
    list of dict
        Per image: ``prediction`` (the label ``predict`` gives) and
        ``top``, a list of ``(label, probability)`` (empty when the model
        has no ``predict_proba``). Labels are plain Python values.
    """
    labels = model.predict(images)
    rows = [{"prediction": _plain(label), "top": []} for label in labels]
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(images))
        classes = model.classes_
        for row, p in zip(rows, proba):
            best = np.argsort(-p, kind="stable")[:top]
            row["top"] = [(_plain(classes[i]), float(p[i])) for i in best]
    return rows


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value

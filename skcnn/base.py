"""The shared core of skcnn's estimators: early stopping, user callbacks, the
training call into the engine, test-time augmentation (:class:`BaseImageEstimator`),
and the thin layers on top of it that know the target: labels, class weights and
probabilities (:class:`BaseImageClassifier`, single- and multi-label) or continuous
values and their scale (:class:`BaseImageRegressor`), as scikit-learn's MLPs do.

Subclasses decide how images become tensors (:meth:`_prepare_images`), which
network is trained (:meth:`_build_module`) and how the optimiser treats its
parameters (:meth:`_optimizer_kwargs`, :meth:`_extra_callbacks`).
"""

import warnings

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._estimator import (
    ESTIMATOR_CONSTRAINTS,
    OPTIMIZERS,
    REGRESSION_CONSTRAINTS,
    REGRESSION_LOSSES,
    TRAINING_CONSTRAINTS,
    BaseImageEstimator,
    _Targets,
)
from ._sklearn_compat import _check_y, _fit_context
from .data.labels import check_label_types, check_mixed_label_types
from .exceptions import InputError

__all__ = ["BaseImageEstimator", "BaseImageClassifier", "BaseImageRegressor", "OPTIMIZERS",
           "TRAINING_CONSTRAINTS", "ESTIMATOR_CONSTRAINTS", "REGRESSION_CONSTRAINTS",
           "REGRESSION_LOSSES"]

#: Helpers that lived here before skcnn 0.2 and now live in :mod:`skcnn.utils`.
_MOVED_TO_UTILS = ("resolve_device", "restore_device", "assigned_cuda_index",
                   "release_device_memory", "seed_from", "seeded", "limit_torch_threads",
                   "dask_thread_share", "thread_share", "restore_large_allocations")


def __getattr__(name):
    """Old import paths of the helpers (``skcnn.base.assigned_cuda_index``) keep working."""
    if name in _MOVED_TO_UTILS or name == "available_cores":
        import warnings

        from . import utils

        new = "usable_cpus" if name == "available_cores" else name
        warnings.warn(f"skcnn.base.{name} moved to skcnn.utils.{new}; import it from there.",
                      DeprecationWarning, stacklevel=2)
        return getattr(utils, new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BaseImageClassifier(ClassifierMixin, BaseImageEstimator):
    """Base of the image classifiers (single-label and multi-label); not for direct use.

    A 1-D ``y`` trains a softmax output with cross-entropy; a 2-D 0/1 indicator
    ``y`` (multi-label, e.g. from ``MultiLabelBinarizer``) trains one sigmoid
    output per label with binary cross-entropy.
    """

    _parameter_constraints = dict(TRAINING_CONSTRAINTS)

    #: What the samples are called in messages ('texts' for the text classifier).
    _SAMPLES = "images"

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Every label that will ever appear. Required on the first call for a
            1-D ``y`` (not for a multi-label indicator ``y``), ignored afterwards.

        Returns
        -------
        self : estimator
        """
        resume = hasattr(self, "net_")
        if not resume and classes is None and not _is_indicator(y):
            raise ValueError(
                "classes must be passed on the first call to partial_fit, e.g. "
                "partial_fit(X, y, classes=np.unique(y_all)), so the network knows every label."
            )
        return self._train(X, y, sample_weight, epochs=1, resume=resume, classes=classes,
                           validate=False, partial=True)

    def predict_proba(self, X):
        """Class probabilities of each image.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (N, n_classes)
            Columns follow ``classes_``. Single-label: rows sum to 1.
            Multi-label: column k is the probability that label k applies
            (the convention of :class:`~sklearn.neural_network.MLPClassifier`;
            :class:`~sklearn.multioutput.MultiOutputClassifier` returns a list
            of K arrays of shape (N, 2) instead, whose column 1 is this column).
        """
        check_is_fitted(self)
        return self._network_outputs(X, "sigmoid" if self._is_multilabel() else "softmax")

    def predict(self, X):
        """Most probable class of each image, or the labels that apply (multi-label).

        Parameters
        ----------
        X : array-like
            Images of the shape seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (N,) or (N, n_labels)
            Labels as given to ``fit``; multi-label: the 0/1 indicator matrix
            of the labels whose probability is at least ``threshold``.
        """
        check_is_fitted(self)
        proba = self.predict_proba(X)
        if self._is_multilabel():
            threshold = getattr(self, "threshold", 0.5)  # (a subclass may lack the parameter)
            return (proba >= threshold).astype(self._indicator_dtype)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # ------------------------------------------------------------------ hooks
    def _is_multilabel(self):
        return getattr(self, "_multilabel", False)  # (absent from nets pickled before 0.2)

    def _criterion(self):
        return nn.BCEWithLogitsLoss if self._is_multilabel() else nn.CrossEntropyLoss

    def _task(self):
        return "multilabel" if self._is_multilabel() else "multiclass"

    def _encode_targets(self, y, n_samples, sample_weight, *, classes, resume, partial):
        if _is_indicator(y):
            return self._encode_indicator(y, n_samples, sample_weight, resume)
        if resume and self._is_multilabel():
            raise InputError(
                "y is a 1-D label vector but this classifier was fitted on a multi-label "
                f"indicator matrix of {len(self.classes_)} labels; pass a 0/1 matrix of that "
                "width, or fit from scratch (warm_start=False).")
        y, all_classes = self._check_labels(y, n_samples, classes, resume)
        y_encoded = np.searchsorted(all_classes, y)
        weight = self._sample_weights(y_encoded, sample_weight, n_samples, all_classes,
                                      partial=partial)
        if not resume:
            self.classes_ = all_classes
            self._multilabel = False
        return _Targets(torch.as_tensor(y_encoded, dtype=torch.long), weight,
                        len(all_classes), y_encoded)

    def _encode_indicator(self, y, n_samples, sample_weight, resume):
        """A 0/1 indicator matrix: one sigmoid output per label (multi-label)."""
        y = y.toarray() if hasattr(y, "toarray") else np.asarray(y)
        if len(y) != n_samples:
            raise InputError(
                f"X has {n_samples} images but y has {len(y)} rows; pass exactly one row of "
                "labels per image.")
        if self.class_weight is not None:
            raise ValueError(
                "class_weight is for single-label targets; with a multi-label indicator y, "
                "weight images with sample_weight instead (e.g. by their rarest label).")
        n_labels = y.shape[1]
        if resume and (not self._is_multilabel() or n_labels != len(self.classes_)):
            fitted_on = (f"{len(self.classes_)} labels" if self._is_multilabel()
                         else "a 1-D label vector")
            raise InputError(
                f"y is an indicator matrix of {n_labels} labels but this classifier was fitted "
                f"on {fitted_on}; fit from scratch (warm_start=False) to change the target.")
        counts = y.sum(axis=0)
        never, always = np.flatnonzero(counts == 0), np.flatnonzero(counts == n_samples)
        if never.size or always.size:
            parts = ([f"label(s) {never.tolist()} never occur"] if never.size else []) + (
                [f"label(s) {always.tolist()} occur in every {self._SAMPLES[:-1]}"]
                if always.size else [])
            warnings.warn(
                f"{' and '.join(parts)} in the {n_samples} {self._SAMPLES} of this fit, so the "
                "network can only learn to predict them as constant. Check the indicator matrix, "
                f"or split the data so that each fold holds {self._SAMPLES} with and without "
                "every label.",
                UserWarning, stacklevel=5)
        weight = self._normalized_weights(self._check_weights(sample_weight, n_samples),
                                          n_samples)
        if not resume:
            self.classes_ = np.arange(n_labels)
            self._multilabel = True
            self._indicator_dtype = y.dtype if y.dtype != bool else np.int64
        return _Targets(torch.as_tensor(y, dtype=torch.float32), weight, n_labels, None)

    def _check_labels(self, y, n_samples, classes, resume):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None. Pass the labels: fit(X, y).")
        check_mixed_label_types(y)  # before NumPy turns [1, 'a'] into ['1', 'a']
        try:  # only arrays and lists: other array-likes go to _check_y as they are
            shape = y.shape if hasattr(y, "shape") else (
                np.shape(y) if isinstance(y, (list, tuple)) else ())
        except ValueError:  # ragged nested lists: _check_y explains them
            shape = ()
        if len(shape) == 2 and shape[1] > 1:  # an indicator matrix went to _encode_indicator
            raise InputError(
                f"y is 2-D (shape {shape}) but not a 0/1 indicator matrix. "
                f"{type(self).__name__} takes a 1-D vector of class labels (one per "
                f"{self._SAMPLES[:-1]}), or a 2-D 0/1 indicator matrix (one column per label) "
                "for multi-label classification. Pass one label per row (e.g. "
                "y[:, 0]), or turn sets of labels into an indicator matrix with "
                "sklearn.preprocessing.MultiLabelBinarizer.")
        y = _check_y(y, estimator=self)
        if len(y) != n_samples:
            raise InputError(
                f"X has {n_samples} images but y has {len(y)} labels; pass exactly one "
                "label per image."
            )
        try:
            check_label_types(y)  # a clear error where NumPy's sort would raise TypeError
            check_classification_targets(y)
        except ValueError as exc:
            raise InputError(
                f"{exc}. {type(self).__name__} predicts classes, but y holds continuous "
                f"values; use {type(self).__name__.replace('Classifier', 'Regressor')} to "
                "predict numbers, or bin y into classes first."
            ) from exc
        if resume:
            unseen = np.setdiff1d(y, self.classes_)
            if unseen.size:
                raise InputError(
                    f"y contains labels {unseen.tolist()} that the fitted network does not "
                    f"know (classes_ = {self.classes_.tolist()}). Fit from scratch "
                    "(warm_start=False) to learn new classes."
                )
            return y, self.classes_
        all_classes = np.unique(y) if classes is None else np.unique(np.asarray(classes))
        if classes is not None and np.setdiff1d(y, all_classes).size:
            raise InputError(
                f"y contains labels {np.setdiff1d(y, all_classes).tolist()} missing from "
                "classes; pass every label in classes."
            )
        if len(all_classes) < 2:
            raise InputError(
                f"y contains only one class ({all_classes.tolist()[0]!r}) and {n_samples} "
                "sample(s); "
                "a classifier needs at least 2 classes. Add images of other classes."
            )
        return y, all_classes

    def _sample_weights(self, y_encoded, sample_weight, n_samples, classes, partial):
        weight = self._check_weights(sample_weight, n_samples)
        if self.class_weight is not None:
            if self.class_weight == "balanced" and partial:
                raise ValueError(
                    "class_weight='balanced' needs the whole training set and is not supported "
                    "by partial_fit; pass a dict of class weights computed on all labels."
                )
            present = np.unique(y_encoded)
            per_class = np.ones(len(classes))
            per_class[present] = compute_class_weight(self.class_weight, classes=classes[present],
                                                      y=classes[y_encoded])
            weight = weight * per_class[y_encoded]
        return self._normalized_weights(weight, n_samples)


def _is_indicator(y):
    """True for a 2-D 0/1 indicator matrix (a multi-label target)."""
    if y is None:
        return False
    try:
        if not hasattr(y, "tocsr") and np.ndim(y) != 2:
            return False
        return type_of_target(y) == "multilabel-indicator"
    except (ValueError, TypeError):
        return False


class BaseImageRegressor(RegressorMixin, BaseImageEstimator):
    """Base of the image regressors; not for direct use.

    The network has one linear output per target, trained with ``loss`` on
    targets standardised to mean 0 and variance 1 (``standardize_target``);
    ``predict`` returns values on the scale of ``y``.
    """

    _parameter_constraints = dict(REGRESSION_CONSTRAINTS)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current weights.

        The first call fixes the number of targets and, with
        ``standardize_target``, their mean and scale.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        self : estimator
        """
        return self._train(X, y, sample_weight, epochs=1, resume=hasattr(self, "net_"),
                           classes=None, validate=False, partial=True)

    def predict(self, X):
        """Predicted targets of each image, on the scale of ``y``.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (N,) or (N, n_outputs)
            1-D when ``fit`` was given a 1-D ``y``. With ``tta`` the average of
            the plain images' and ``tta`` augmented views' predictions.
        """
        check_is_fitted(self)
        outputs = self._network_outputs(X, None) * self.target_scale_ + self.target_mean_
        return outputs.ravel() if self._y_1d else outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # ------------------------------------------------------------------ hooks
    def _criterion(self):
        return REGRESSION_LOSSES[self.loss]

    def _task(self):
        return "regression"

    def _encode_targets(self, y, n_samples, sample_weight, *, classes, resume, partial):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None. Pass the targets: fit(X, y).")
        check_mixed_label_types(y)  # strings among the numbers: a clear error, not a cast
        y = _check_y(y, multi_output=True, y_numeric=True, estimator=self)
        if len(y) != n_samples:
            raise InputError(f"X has {n_samples} images but y has {len(y)} targets; pass "
                             "exactly one target (row) per image.")
        values = np.asarray(y, dtype=np.float64).reshape(n_samples, -1)
        weight = self._check_weights(sample_weight, n_samples)
        if resume:
            if values.shape[1] != self.n_outputs_:
                raise InputError(
                    f"y has {values.shape[1]} target(s) per image but this regressor was "
                    f"fitted on {self.n_outputs_}; pass the same targets, or fit from scratch "
                    "(warm_start=False).")
        else:
            self.n_outputs_ = values.shape[1]
            self._y_1d = np.ndim(y) == 1
            if self.standardize_target:
                mean = np.average(values, axis=0, weights=weight if weight.sum() > 0 else None)
                scale = np.sqrt(np.average((values - mean) ** 2, axis=0,
                                           weights=weight if weight.sum() > 0 else None))
                scale[~(scale > 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0  # constant target
            else:
                mean, scale = np.zeros(self.n_outputs_), np.ones(self.n_outputs_)
            self.target_mean_, self.target_scale_ = mean, scale
        scaled = (values - self.target_mean_) / self.target_scale_
        return _Targets(torch.as_tensor(scaled, dtype=torch.float32),
                        self._normalized_weights(weight, n_samples), self.n_outputs_, None)

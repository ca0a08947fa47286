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
from functools import partial
from typing import NamedTuple

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.helper import predefined_split
from skorch.utils import noop
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted
from torch import nn
from numbers import Integral, Real

from ._sklearn_compat import Interval, StrOptions, _check_sample_weight, _check_y, _fit_context
from .utils._dask import limit_torch_threads
from .utils._hardware import release_device_memory, resolve_device, restore_device
from .utils._random import seed_from, seeded
from .data.augment import AUGMENT_PRESETS, make_augmentation
from .data.labels import check_label_types
from ._inspection_target import InspectionTarget
from ._engine import (
    TASK_METRICS, CosineDecay, EarlyStopping, EpochProgressBar, TensorBatches, TrainingNet,
    averaged_outputs,
)
from .exceptions import DivergenceError, InputError, TrainingInterruptedWarning
from .plugins import InputMeta, NamedPluginParamsMixin

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

#: optimizer name -> (torch class, default learning rate, extra keyword arguments)
OPTIMIZERS = {
    "adadelta": (torch.optim.Adadelta, 1.0, ()),
    "adam": (torch.optim.Adam, 1e-3, ()),
    "adamw": (torch.optim.AdamW, 1e-3, ()),
    "sgd": (torch.optim.SGD, 1e-2, ("momentum",)),
    "rmsprop": (torch.optim.RMSprop, 1e-3, ("momentum",)),
}

#: Parameter constraints every estimator (classifier or regressor) shares.
ESTIMATOR_CONSTRAINTS = {
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "augment": [None, StrOptions(set(AUGMENT_PRESETS)), callable],
    "tta": [Interval(Integral, 0, None, closed="left")],
    "warm_start": ["boolean"],
    "callbacks": [list, tuple, None],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

#: Parameter constraints every classifier shares.
TRAINING_CONSTRAINTS = {
    **ESTIMATOR_CONSTRAINTS,
    "class_weight": [dict, StrOptions({"balanced"}), None],
    "threshold": [Interval(Real, 0, 1, closed="neither")],
}

#: regressor ``loss`` -> torch loss (per-sample values: ``reduction='none'``)
REGRESSION_LOSSES = {
    "squared_error": nn.MSELoss,
    "huber": nn.HuberLoss,
    "absolute_error": nn.L1Loss,
}

#: Parameter constraints every regressor shares.
REGRESSION_CONSTRAINTS = {
    **ESTIMATOR_CONSTRAINTS,
    "loss": [StrOptions(set(REGRESSION_LOSSES))],
    "standardize_target": ["boolean"],
}

#: skorch callback names that skcnn gives its own callbacks (user callbacks may not reuse them).
_RESERVED_CALLBACK_NAMES = frozenset(
    {"epoch_timer", "early_stopping", "lr_schedule", "unfreeze", "progress", "print_log"})


class _Targets(NamedTuple):
    """What the engine trains on, from a target ``y`` (see ``_encode_targets``)."""

    values: torch.Tensor  # (N,) long class indices, or (N, K) float
    weight: torch.Tensor  # (N,) float32, mean 1
    n_outputs: int  # width of the network's last layer
    stratify: object  # labels the early-stopping split stratifies on, or None


class BaseImageEstimator(NamedPluginParamsMixin, BaseEstimator):
    """Base of the image classifiers and regressors; not for direct use.

    What depends on the target lives in :meth:`_encode_targets`,
    :meth:`_criterion` and :meth:`_task` (overridden by
    :class:`BaseImageClassifier` and :class:`BaseImageRegressor`).
    """

    _parameter_constraints = dict(ESTIMATOR_CONSTRAINTS)

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on images ``X`` with targets ``y``.

        Parameters
        ----------
        X : array-like of shape (N, H, W), (N, H, W, C), (N, C, H, W) or (N, D)
            Images (``uint8`` pixels are scaled to [0, 1]) or flat rows (see
            ``input_shape``).
        y : array-like of shape (N,) or (N, K)
            Classifiers: labels of any type, or a 0/1 indicator matrix of K
            labels (multi-label). Regressors: K continuous targets.
        sample_weight : array-like of shape (N,), default=None
            Non-negative weight of each image in the loss.

        Returns
        -------
        self : estimator
        """
        resume = self.warm_start and hasattr(self, "net_")
        return self._train(X, y, sample_weight, epochs=self.max_epochs, resume=resume,
                           classes=None, validate=self.early_stopping, partial=False)

    def _network_outputs(self, X, activation):
        """The network's outputs for ``X`` after ``activation`` ('softmax', 'sigmoid' or
        None), averaged over ``tta`` augmented views too."""
        check_is_fitted(self)
        images = self._as_tensor(self._prepare_images(X, reset=False))
        augment = None
        if self.tta:
            augment = make_augmentation(self.augment or "light", images.shape[2:])
        return averaged_outputs(self.net_, images, augment, self.tta, self._seed,
                                activation=activation)

    @property
    def module_(self):
        """The trained :class:`torch.nn.Module`."""
        return self.net_.module_

    def inspection_target(self):
        """What :mod:`skcnn.inspection` and :mod:`skcnn.plotting` look at.

        Returns
        -------
        target : skcnn.inspection.InspectionTarget
            The trained network, the image preparation of ``predict`` and
            ``history_``.
        """
        check_is_fitted(self)
        stopper = dict(self.net_.callbacks_ or []).get("early_stopping")  # of the last fit
        restored = (stopper.best_epoch_ or None
                    if getattr(stopper, "best_model_weights_", None) is not None else None)
        return InspectionTarget(module=self.module_,
                                prepare=partial(self._prepare_images, reset=False),
                                history=self.history_, restored_epoch=restored,
                                label=type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(super().__getstate__())  # BaseEstimator's may be self.__dict__ itself
        net = state.pop("net_", None)
        if net is not None:
            # skorch reloads the net's tensors with map_location=net.device, which
            # fails for "cuda:3" on a machine with fewer GPUs: keep the net's own
            # state and let __setstate__ pick the device before skorch loads it.
            state["_net_state"] = (type(net), net.__getstate__())
        return state

    def __setstate__(self, state):
        saved = state.get("_net_state")
        state = {key: value for key, value in state.items() if key != "_net_state"}
        super().__setstate__(state)
        if saved is None:
            return
        net_class, net_state = saved
        net_state = dict(net_state)
        net_state["device"] = restore_device(net_state.get("device"))
        net = net_class.__new__(net_class)
        net.__setstate__(net_state)
        self.net_ = net
        if "device_" in self.__dict__ and net.device is not None:
            self.device_ = str(net.device)

    # ------------------------------------------------------------------ hooks
    def _prepare_images(self, X, reset):
        """Validate ``X`` and return float32 images ``(N, C, H, W)`` (array or tensor).

        With ``reset`` it records what later calls must match.
        """
        raise NotImplementedError

    def _build_module(self, meta):
        """A new network for ``meta`` (called under the fit's seed)."""
        raise NotImplementedError

    def _optimizer_kwargs(self, module):
        """skorch ``optimizer__*`` keyword arguments (e.g. ``optimizer__param_groups``)."""
        return {}

    def _extra_callbacks(self, net, epochs, steps_per_epoch, partial, resume):
        """skorch callbacks this classifier adds to a training call."""
        return []

    def _make_dataset(self, inputs, y=None, weight=None):
        """The engine's dataset of the prepared inputs (labels and weights optional)."""
        return TensorBatches(inputs, y, weight)

    def _input_meta(self, inputs, n_outputs):
        """What the architecture is told about the prepared inputs."""
        return InputMeta(*inputs.shape[1:], n_outputs=n_outputs)

    def _training_augmentation(self, inputs):
        """The batch augmentation of training batches (None for none)."""
        return make_augmentation(self.augment, inputs.shape[2:])

    def _precision(self, device):
        """Autocast dtype for training and inference on ``device`` (None: float32)."""
        return None

    def _encode_targets(self, y, n_samples, sample_weight, *, classes, resume, partial):
        """Check ``y`` and return the engine's :class:`_Targets`.

        On a fresh fit (not ``resume``) it also records what ``predict`` needs
        (``classes_``, the target's scale, ...).
        """
        raise NotImplementedError

    def _criterion(self):
        """The torch loss class (built with ``reduction='none'``)."""
        raise NotImplementedError

    def _criterion_kwargs(self):
        """Extra ``criterion__*`` arguments of the loss."""
        return {}

    def _task(self):
        """The engine's task: 'multiclass', 'multilabel' or 'regression'."""
        raise NotImplementedError

    def _user_callbacks(self, own):
        """The ``callbacks`` parameter as named skorch callbacks, after checking them.

        ``own`` are the (name, callback) pairs skcnn adds to this training call.
        """
        user = getattr(self, "callbacks", None)  # (an estimator may lack the parameter)
        if user is None:
            return []
        taken = _RESERVED_CALLBACK_NAMES | {name for name, _ in own}
        named = []
        for index, item in enumerate(user):
            name, callback = (item if isinstance(item, tuple) and len(item) == 2
                              and isinstance(item[0], str) else (None, item))
            if isinstance(callback, type) and issubclass(callback, Callback):
                raise TypeError(
                    f"callbacks[{index}] is the class {callback.__name__}, not an instance; "
                    f"pass {callback.__name__}(...).")
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks[{index}] is {callback!r} of type {type(callback).__name__}, "
                    "which is not a skorch callback. Pass instances of "
                    "skorch.callbacks.Callback (e.g. skorch.callbacks.GradientNormClipping(1.0)) "
                    "or (name, callback) pairs; to run your own code each epoch, subclass "
                    "skorch.callbacks.Callback and implement on_epoch_end(self, net, **kwargs).")
            if name is None:
                base = name = type(callback).__name__
                suffix = 1
                while name in taken:
                    name, suffix = f"{base}_{suffix}", suffix + 1
            elif name in taken:
                raise ValueError(
                    f"callbacks[{index}] is named {name!r}, a name skcnn already uses for its "
                    f"own callbacks ({', '.join(sorted(taken))}); choose another name.")
            taken = taken | {name}
            named.append((name, callback))
        return named

    def _lr_schedule_callback(self, schedule, epochs, steps_per_epoch, partial):
        if partial or schedule == "constant":
            return []
        return [("lr_schedule", CosineDecay(total_steps=epochs * steps_per_epoch,
                                            warmup_fraction=0.3 if schedule == "onecycle"
                                            else 0.0))]

    @staticmethod
    def _as_tensor(images):
        return images if torch.is_tensor(images) else torch.from_numpy(images)

    # ------------------------------------------------------------------ weights
    @staticmethod
    def _check_weights(sample_weight, n_samples):
        """Sample weights as float64, ones when None."""
        if sample_weight is None:
            return np.ones(n_samples, dtype=np.float64)
        return _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=np.float64,
                                    ensure_non_negative=True)

    @staticmethod
    def _normalized_weights(weight, n_samples):
        total = weight.sum()
        if not total > 0:
            raise InputError("sample_weight (times class_weight) is zero for every image; "
                             "give some images a positive weight.")
        # Mean weight 1 keeps the learning rate's meaning independent of the weights' scale.
        return torch.as_tensor(weight * (n_samples / total), dtype=torch.float32)

    # ------------------------------------------------------------------ training
    def _build_net(self, meta, device, seed):
        module = self._build_module(meta)
        opt_cls, default_lr, extra = OPTIMIZERS[self.optimizer]
        opt_kwargs = {"optimizer__weight_decay": self.weight_decay}
        opt_kwargs.update({f"optimizer__{name}": getattr(self, name) for name in extra})
        opt_kwargs.update(self._optimizer_kwargs(module))
        net = TrainingNet(
            module=module,
            criterion=self._criterion(),
            criterion__reduction="none",
            task=self._task(),
            optimizer=opt_cls,
            lr=default_lr if self.learning_rate is None else self.learning_rate,
            batch_size=self.batch_size,
            train_split=None,
            device=str(device),
            verbose=0,
            shuffle_seed=seed,
            precision=self._precision(device),
            torch_load_kwargs={"weights_only": False},
            **opt_kwargs,
            **{f"criterion__{name}": value for name, value in self._criterion_kwargs().items()},
        )
        net.initialize()
        return net

    def _validation_split(self, dataset, y_encoded, seed):
        """Hold-out for early stopping, stratified on ``y_encoded`` (class indices; plain
        shuffle when None or a class is too rare)."""
        n = len(dataset)
        n_valid = max(int(round(self.validation_fraction * n)), 1)
        if n - n_valid < 1:
            raise InputError(
                f"early_stopping needs at least 2 images (got {n}); add images or set "
                "early_stopping=False."
            )
        stratify = False
        if y_encoded is not None:
            counts = np.bincount(y_encoded)
            counts = counts[counts > 0]
            stratify = (counts.min() >= 2 and n_valid >= len(counts)
                        and n - n_valid >= len(counts))
        splitter_cls = StratifiedShuffleSplit if stratify else ShuffleSplit
        splitter = splitter_cls(n_splits=1, test_size=n_valid, random_state=seed)
        train_idx, valid_idx = next(splitter.split(np.zeros(n), y_encoded if stratify else None))
        return dataset.take(train_idx), dataset.take(valid_idx)

    def _train(self, X, y, sample_weight, *, epochs, resume, classes, validate, partial):
        """Fit all-or-nothing: the fitted attributes change only when training ends
        normally (or, after Ctrl-C, with at least one complete epoch)."""
        limit_torch_threads()
        if resume:
            self._check_same_architecture(partial)
        before = dict(self.__dict__)  # validation (validate_data) writes into self
        n_before = len(self.net_.history) if resume else 0
        progress = {"training": False}
        try:
            fitted, interrupted = self._fit_network(
                X, y, sample_weight, epochs=epochs, resume=resume, classes=classes,
                validate=validate, partial=partial, progress=progress)
        except BaseException as exc:
            self._restore(before)
            if resume and progress["training"]:
                self._keep_warm_start_progress(exc, n_before, validate)
            elif isinstance(exc, DivergenceError):
                _reword(exc, f"{type(self).__name__} is left as it was before this fit.")
            raise
        n_new = fitted["n_iter_"] - n_before
        name = type(self).__name__
        if interrupted and n_new == 0 and not resume:
            self._restore(before)
            warnings.warn(f"Training was interrupted during its first epoch: {name} is left as "
                          "it was before this fit.", TrainingInterruptedWarning, stacklevel=4)
            raise KeyboardInterrupt
        self.__dict__.update(fitted)
        if interrupted:
            kept = (f"keeps the weights after epoch {self.n_iter_}, the last complete one"
                    if n_new else "keeps its weights from before this fit")
            warnings.warn(
                f"Training was interrupted (Ctrl-C) after {n_new} complete epoch(s) of this "
                f"fit: {name} {kept} (the best one with early_stopping), and "
                "history_[-1]['interrupted'] is True.", TrainingInterruptedWarning,
                stacklevel=4)
            raise KeyboardInterrupt
        return self

    def _restore(self, state):
        self.__dict__.clear()
        self.__dict__.update(state)

    def _keep_warm_start_progress(self, exc, n_before, validate):
        """A warm start failed while training: the network (trained in place) is
        back at its last complete epoch; make the fitted attributes match it and
        say so in the error."""
        net = self.net_
        n_new = len(net.history) - n_before
        self.__dict__.update(self._history_attributes(net, n_before, validate))
        name = type(self).__name__
        if n_new:
            note = (f"The warm start had already trained {n_new} complete epoch(s): {name} "
                    f"keeps their weights (n_iter_={self.n_iter_}), not those from before "
                    "this fit.")
        else:
            note = f"No epoch of this warm start completed: {name} keeps its previous weights"
            note += (" (its optimizer's running averages were reset)."
                     if isinstance(exc, DivergenceError) else ".")
        _reword(exc, note)

    @staticmethod
    def _history_attributes(net, n_before, validate):
        history = net.history
        score = "valid_" + TASK_METRICS[net.task]
        return {
            "history_": history,
            "n_iter_": len(history),
            "loss_curve_": [float(h["train_loss"]) for h in history],
            "validation_scores_": (  # accuracy, or R² for regressors
                [float(h[score]) for h in history[n_before:] if score in h]
                if validate else None),
        }

    # ------------------------------------------------------------------ warm starts
    def _architecture_params(self):
        """Names of the parameters that shape the network (a warm start cannot change them)."""
        return ()

    def _architecture_signature(self):
        """Each architecture parameter as (comparable value, repr); a plugin given by
        name compares as the plugin it stands for ('simple_cnn' == SimpleCNN())."""
        resolvers = self._plugin_resolvers()
        signature = {}
        for name in self._architecture_params():
            value = getattr(self, name)
            comparable = value
            if isinstance(value, str) and name in resolvers:
                comparable = resolvers[name](value)
            signature[name] = (_comparable(comparable), repr(value))
        return signature

    def _check_same_architecture(self, partial):
        built = self.__dict__.get("_built_with")
        if built is None:  # pickled by an older skcnn
            return
        now = self._architecture_signature()
        changed = [f"{name} (built with {old[1]}, now {now[name][1]})"
                   for name, old in built.items() if name in now and now[name][0] != old[0]]
        changed += [f"{name} (now {now[name][1]})" for name in now if name not in built]
        if changed:
            how = ("partial_fit continues" if partial
                   else "warm_start=True continues")
            raise ValueError(
                f"{how} the fitted network, but {', '.join(changed)} changed since it was "
                "built, and the fitted network cannot take the new value(s). Set "
                "warm_start=False (or call fit instead of partial_fit) to build a new network "
                "with them, or set them back to continue training."
            )

    # ------------------------------------------------------------------ training steps
    def _fit_network(self, X, y, sample_weight, *, epochs, resume, classes, validate, partial,
                     progress):
        """Validate, build (or continue) and train; return the fitted attributes.

        Returns ``(attributes, interrupted)``. What validation and the target
        encoding set on ``self`` (``n_features_in_``, ``classes_``...) is put
        back by :meth:`_train` if this raises. ``progress["training"]`` turns
        True when the weights start to change.
        """
        images = self._as_tensor(self._prepare_images(X, reset=not resume))
        targets = self._encode_targets(y, len(images), sample_weight, classes=classes,
                                       resume=resume, partial=partial)
        dataset = self._make_dataset(images, targets.values, targets.weight)

        fitted = {}
        if resume:
            net = self.net_
            seed = self._seed + self.n_iter_
            device = self.device_
        else:
            base_seed = seed = seed_from(self.random_state)
            device = resolve_device(self.device)
            self._seed, self.device_ = base_seed, str(device)  # _build_net reads them
            meta = self._input_meta(images, targets.n_outputs)
            with seeded(seed, device):
                net = self._build_net(meta, device, seed)
            fitted.update(_seed=base_seed, device_=str(device),
                          _built_with=self._architecture_signature())
            device = str(device)

        callbacks = []
        train_data = dataset
        if validate:
            train_data, valid_data = self._validation_split(dataset, targets.stratify, seed)
            net.train_split = predefined_split(valid_data)
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.n_iter_no_change, threshold=self.tol,
                threshold_mode="abs", load_best=True, sink=noop)))
        else:
            net.train_split = None
        steps_per_epoch = -(-len(train_data) // self.batch_size)
        callbacks += self._extra_callbacks(net, epochs, steps_per_epoch, partial, resume)
        if self.verbose:
            callbacks.append(("progress", EpochProgressBar(
                total=epochs, desc=type(self).__name__)))
        callbacks += self._user_callbacks(callbacks)
        net.callbacks = callbacks
        net.initialize_callbacks()
        net.augment = self._training_augmentation(images)
        net.max_epochs = epochs

        n_before = len(net.history)
        interrupted = False
        progress["training"] = True
        try:
            with seeded(seed, device):
                net.partial_fit(train_data)
        except KeyboardInterrupt:
            if not getattr(net, "interrupted_", False):  # not from the training loop
                raise
            interrupted = True
        finally:
            # Gradients and the allocator's cached activations are not needed to
            # predict: hand them back so parallel fits sharing a GPU do not starve.
            net.optimizer_.zero_grad(set_to_none=True)
            release_device_memory(device)
        fitted["net_"] = net
        fitted.update(self._history_attributes(net, n_before, validate))
        return fitted, interrupted


class BaseImageClassifier(ClassifierMixin, BaseImageEstimator):
    """Base of the image classifiers (single-label and multi-label); not for direct use.

    A 1-D ``y`` trains a softmax output with cross-entropy; a 2-D 0/1 indicator
    ``y`` (multi-label, e.g. from ``MultiLabelBinarizer``) trains one sigmoid
    output per label with binary cross-entropy.
    """

    _parameter_constraints = dict(TRAINING_CONSTRAINTS)

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
                [f"label(s) {always.tolist()} occur in every image"] if always.size else [])
            warnings.warn(
                f"{' and '.join(parts)} in the {n_samples} images of this fit, so the network "
                "can only learn to predict them as constant. Check the indicator matrix, or "
                "split the data so that each fold holds images with and without every label.",
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

def _comparable(value):
    """A value that compares equal for equal parameter settings: plugins by their
    class and parameters, lists/tuples/arrays by their items."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        return (type(value), tuple(sorted((k, _comparable(v)) for k, v in params.items())))
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(v) for v in value)
    return value


def _reword(exc, note):
    """Add ``note`` to the message of an error on its way up."""
    if isinstance(exc, DivergenceError) and exc.args:
        exc.args = (f"{exc.args[0]} {note}", *exc.args[1:])
    elif hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)

"""The shared core of skcnn's classifiers: label handling, weights, early stopping,
the training call into the engine, prediction and test-time augmentation.

Subclasses decide how images become tensors (:meth:`_prepare_images`), which
network is trained (:meth:`_build_module`) and how the optimiser treats its
parameters (:meth:`_optimizer_kwargs`, :meth:`_extra_callbacks`).
"""

import warnings

import numpy as np
import torch
from skorch.helper import predefined_split
from skorch.utils import noop
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn
from numbers import Integral, Real

from ._sklearn_compat import Interval, StrOptions, _check_sample_weight, _check_y, _fit_context
from .utils._dask import limit_torch_threads
from .utils._hardware import release_device_memory, resolve_device, restore_device
from .utils._random import seed_from, seeded
from .data.augment import AUGMENT_PRESETS, make_augmentation
from ._engine import (CosineDecay, EarlyStopping, EpochProgressBar, TensorBatches, TrainingNet,
                      averaged_proba)
from .exceptions import DivergenceError, InputError, TrainingInterruptedWarning
from .plugins import InputMeta, NamedPluginParamsMixin

__all__ = ["BaseImageClassifier", "OPTIMIZERS", "TRAINING_CONSTRAINTS"]

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

#: Parameter constraints every classifier shares.
TRAINING_CONSTRAINTS = {
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
    "class_weight": [dict, StrOptions({"balanced"}), None],
    "warm_start": ["boolean"],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class BaseImageClassifier(NamedPluginParamsMixin, ClassifierMixin, BaseEstimator):
    """Base of the image classifiers; not for direct use."""

    _parameter_constraints = dict(TRAINING_CONSTRAINTS)

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (N, H, W), (N, H, W, C), (N, C, H, W) or (N, D)
            Images (``uint8`` pixels are scaled to [0, 1]) or flat rows (see
            ``input_shape``).
        y : array-like of shape (N,)
            Labels of any type.
        sample_weight : array-like of shape (N,), default=None
            Non-negative weight of each image in the loss.

        Returns
        -------
        self : CNNClassifier
        """
        resume = self.warm_start and hasattr(self, "net_")
        return self._train(X, y, sample_weight, epochs=self.max_epochs, resume=resume,
                           classes=None, validate=self.early_stopping, partial=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Every label that will ever appear. Required on the first call,
            ignored afterwards.

        Returns
        -------
        self : CNNClassifier
        """
        resume = hasattr(self, "net_")
        if not resume and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit, e.g. "
                "partial_fit(X, y, classes=np.unique(y_all)), so the network knows every label."
            )
        return self._train(X, y, sample_weight, epochs=1, resume=resume, classes=classes,
                           validate=False, partial=True)

    def predict_proba(self, X):
        """Class probabilities of each image; rows sum to 1.

        Parameters
        ----------
        X : array-like
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (N, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        images = self._as_tensor(self._prepare_images(X, reset=False))
        augment = None
        if self.tta:
            augment = make_augmentation(self.augment or "light", images.shape[2:])
        return averaged_proba(self.net_, images, augment, self.tta, self._seed)

    def predict(self, X):
        """Most probable class of each image.

        Returns
        -------
        y_pred : ndarray of shape (N,)
            Labels as given to ``fit``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @property
    def module_(self):
        """The trained :class:`torch.nn.Module`."""
        return self.net_.module_

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

    def _precision(self, device):
        """Autocast dtype for training and inference on ``device`` (None: float32)."""
        return None

    def _lr_schedule_callback(self, schedule, epochs, steps_per_epoch, partial):
        if partial or schedule == "constant":
            return []
        return [("lr_schedule", CosineDecay(total_steps=epochs * steps_per_epoch,
                                            warmup_fraction=0.3 if schedule == "onecycle"
                                            else 0.0))]

    @staticmethod
    def _as_tensor(images):
        return images if torch.is_tensor(images) else torch.from_numpy(images)

    # ------------------------------------------------------------------ labels and weights
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
        check_classification_targets(y)
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
        weight = np.ones(n_samples, dtype=np.float64)
        if sample_weight is not None:
            weight = _check_sample_weight(sample_weight, np.empty((n_samples, 0)),
                                          dtype=np.float64, ensure_non_negative=True)
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
            criterion=nn.CrossEntropyLoss,
            criterion__reduction="none",
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
        )
        net.initialize()
        return net

    def _validation_split(self, dataset, y_encoded, seed):
        """Stratified hold-out for early stopping (plain shuffle if a class is too rare)."""
        n = len(dataset)
        n_valid = max(int(round(self.validation_fraction * n)), 1)
        if n - n_valid < 1:
            raise InputError(
                f"early_stopping needs at least 2 images (got {n}); add images or set "
                "early_stopping=False."
            )
        counts = np.bincount(y_encoded)
        counts = counts[counts > 0]
        stratify = counts.min() >= 2 and n_valid >= len(counts) and n - n_valid >= len(counts)
        splitter_cls = StratifiedShuffleSplit if stratify else ShuffleSplit
        splitter = splitter_cls(n_splits=1, test_size=n_valid, random_state=seed)
        train_idx, valid_idx = next(splitter.split(np.zeros(n), y_encoded))
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
        return {
            "history_": history,
            "n_iter_": len(history),
            "loss_curve_": [float(h["train_loss"]) for h in history],
            "validation_scores_": (
                [float(h["valid_acc"]) for h in history[n_before:] if "valid_acc" in h]
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

        Returns ``(attributes, interrupted)``. Attributes the validation sets
        on ``self`` (``n_features_in_``, ``input_shape_``...) are put back by
        :meth:`_train` if this raises. ``progress["training"]`` turns True
        when the weights start to change.
        """
        images = self._as_tensor(self._prepare_images(X, reset=not resume))
        y, all_classes = self._check_labels(y, len(images), classes, resume)
        y_encoded = np.searchsorted(all_classes, y)
        weight = self._sample_weights(y_encoded, sample_weight, len(images), all_classes,
                                      partial=partial)
        dataset = TensorBatches(images, torch.as_tensor(y_encoded, dtype=torch.long), weight)

        fitted = {}
        if resume:
            net = self.net_
            seed = self._seed + self.n_iter_
            device = self.device_
        else:
            base_seed = seed = seed_from(self.random_state)
            device = resolve_device(self.device)
            meta = InputMeta(*images.shape[1:], n_outputs=len(all_classes))
            with seeded(seed, device):
                net = self._build_net(meta, device, seed)
            fitted.update(classes_=all_classes, _seed=base_seed, device_=str(device),
                          _built_with=self._architecture_signature())
            device = str(device)

        callbacks = []
        train_data = dataset
        if validate:
            train_data, valid_data = self._validation_split(dataset, y_encoded, seed)
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
        net.callbacks = callbacks
        net.initialize_callbacks()
        net.augment = make_augmentation(self.augment, images.shape[2:])
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

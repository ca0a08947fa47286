"""The estimator core every skcnn network shares: parameters, user callbacks, the network
built and trained through the engine, prediction with test-time augmentation.

:class:`BaseImageEstimator` knows nothing about the target: the thin layers in
:mod:`skcnn.base` (classifier, regressor) encode it.
"""

from functools import partial
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.helper import predefined_split
from skorch.utils import noop
from torch import nn

from ._engine import (
    CosineDecay,
    EarlyStopping,
    EpochProgressBar,
    TensorBatches,
    TrainingNet,
    averaged_outputs,
)
from ._fit_guard import AllOrNothingFitMixin
from ._inspection_target import InspectionTarget
from ._onnx_runtime import RUNTIMES, inference_net
from ._sklearn_compat import Interval, StrOptions, _check_sample_weight, _fit_context
from .data.augment import AUGMENT_PRESETS, make_augmentation
from .exceptions import InputError
from .plugins import InputMeta, NamedPluginParamsMixin
from .utils._hardware import release_device_memory, resolve_device, restore_device
from .utils._random import seed_from, seeded

__all__ = ["BaseImageEstimator", "OPTIMIZERS", "TRAINING_CONSTRAINTS", "ESTIMATOR_CONSTRAINTS",
           "REGRESSION_CONSTRAINTS", "REGRESSION_LOSSES"]


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
    "runtime": [StrOptions(set(RUNTIMES))],
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


class BaseImageEstimator(AllOrNothingFitMixin, NamedPluginParamsMixin, BaseEstimator):
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
            augment = self._tta_augmentation(images)
        return averaged_outputs(self._inference_net(), images, augment, self.tta, self._seed,
                                activation=activation)

    def _inference_net(self):
        """What ``predict`` runs: ``net_`` (PyTorch) or its ONNX graph (``runtime``)."""
        return inference_net(self)

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

    def _tta_augmentation(self, inputs):
        """The augmentation of the ``tta`` views (``augment``, or 'light' when it is None)."""
        return make_augmentation(self.augment or "light", inputs.shape[2:])

    def _resolve_epochs(self, epochs, n_images):
        """The number of epochs of a training call (``max_epochs`` may be 'auto')."""
        return epochs

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
        net = self._training_net(module, device, seed, self._optimizer_kwargs(module))
        net.initialize()
        return net

    def _training_net(self, module, device, seed, optimizer_kwargs):
        """The (uninitialised) engine net that trains ``module`` with this estimator's
        optimizer, loss and batch size; ``optimizer_kwargs`` as :meth:`_optimizer_kwargs`."""
        opt_cls, default_lr, extra = OPTIMIZERS[self.optimizer]
        opt_kwargs = {"optimizer__weight_decay": self.weight_decay}
        opt_kwargs.update({f"optimizer__{name}": getattr(self, name) for name in extra})
        opt_kwargs.update(optimizer_kwargs)
        return TrainingNet(
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

    def _validation_split(self, dataset, y_encoded, seed):
        """Hold-out for early stopping, stratified on ``y_encoded`` (class indices; plain
        shuffle when None or a class is too rare)."""
        train_idx, valid_idx = self._validation_indices(len(dataset), y_encoded, seed)
        return dataset.take(train_idx), dataset.take(valid_idx)

    def _validation_indices(self, n, y_encoded, seed):
        """``(train, valid)`` positions of a ``validation_fraction`` hold-out of ``n``
        images, stratified on ``y_encoded`` where every class has 2 images or more."""
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
        return next(splitter.split(np.zeros(n), y_encoded if stratify else None))

    # ------------------------------------------------------------------ training steps
    def _fit_network(self, X, y, sample_weight, *, epochs, resume, classes, validate, partial,
                     progress):
        """Validate, build (or continue) and train; return the fitted attributes.

        Returns ``(attributes, interrupted)``. What validation and the target
        encoding set on ``self`` (``n_features_in_``, ``classes_``...) is put
        back by :meth:`_train` if this raises. ``progress["training"]`` turns
        True when the weights start to change.
        """
        images, targets = self._fit_inputs(X, y, sample_weight, classes=classes, resume=resume,
                                           partial=partial)
        dataset = self._make_dataset(images, targets.values, targets.weight)
        epochs = self._resolve_epochs(epochs, len(images))
        net, seed, device, fitted = self._start_network(images, targets, resume)
        train_data, valid_data = dataset, None
        if validate:
            train_data, valid_data = self._validation_split(dataset, targets.stratify, seed)
        trained, interrupted = self._run_training(
            net, train_data, valid_data, epochs=epochs, seed=seed, device=device,
            augment=self._training_augmentation(images), early_stopping=validate,
            partial=partial, resume=resume, progress=progress)
        fitted.update(trained)
        return fitted, interrupted

    def _fit_inputs(self, X, y, sample_weight, *, classes, resume, partial):
        """The prepared images (a tensor) and the encoded :class:`_Targets` of a fit."""
        images = self._as_tensor(self._prepare_images(X, reset=not resume))
        targets = self._encode_targets(y, len(images), sample_weight, classes=classes,
                                       resume=resume, partial=partial)
        return images, targets

    def _start_network(self, images, targets, resume):
        """``(net, seed, device, fitted)``: the network to train, this call's seed and
        device, and the fitted attributes a fresh build sets."""
        if resume:
            return self.net_, self._seed + self.n_iter_, self.device_, {}
        seed = seed_from(self.random_state)
        device = resolve_device(self.device)
        self._seed, self.device_ = seed, str(device)  # _build_net reads them
        meta = self._input_meta(images, targets.n_outputs)
        with seeded(seed, device):
            net = self._build_net(meta, device, seed)
        fitted = {"_seed": seed, "device_": str(device),
                  "_built_with": self._architecture_signature()}
        return net, seed, str(device), fitted

    def _run_training(self, net, train_data, valid_data, *, epochs, seed, device, augment,
                      early_stopping, partial, resume, progress):
        """Train ``net`` for ``epochs`` epochs on ``train_data``, scored each epoch on
        ``valid_data`` when given (early stopping on it with ``early_stopping``).

        Returns ``(attributes, interrupted)``: ``net_`` and the history attributes.
        """
        callbacks = []
        if valid_data is not None:
            net.train_split = predefined_split(valid_data)
            if early_stopping:
                callbacks.append(("early_stopping", EarlyStopping(
                    monitor="valid_loss", patience=self.n_iter_no_change, threshold=self.tol,
                    threshold_mode="abs", load_best=True, sink=noop)))
        else:
            net.train_split = None
        steps_per_epoch = -(-len(train_data) // net.batch_size)
        callbacks += self._extra_callbacks(net, epochs, steps_per_epoch, partial, resume)
        if self.verbose:
            callbacks.append(("progress", EpochProgressBar(
                total=epochs, desc=type(self).__name__)))
        callbacks += self._user_callbacks(callbacks)
        net.callbacks = callbacks
        net.initialize_callbacks()
        net.augment = augment
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
        fitted = {"net_": net}
        fitted.update(self._history_attributes(net, n_before, valid_data is not None))
        return fitted, interrupted

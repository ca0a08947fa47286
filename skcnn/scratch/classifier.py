"""CNNClassifier: a convolutional network trained from scratch, as a scikit-learn classifier."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from skorch.callbacks import EarlyStopping
from skorch.helper import predefined_split
from skorch.utils import noop
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_is_fitted,
    validate_data,
)
from torch import nn

from ..base import limit_torch_threads, resolve_device, seed_from, seeded
from ..data.arrays import DATA_FORMATS, images_to_array, input_ndim
from ..data.augment import AUGMENT_PRESETS, make_augmentation
from ..engine import CosineDecay, EpochProgressBar, ImageNet, TensorBatches, averaged_proba
from ..exceptions import InputError
from ..plugins import ArchitecturePlugin, InputMeta
from ._resolve import resolve_architecture
from .architectures import ConvNet, describe_failure
from .layers import ACTIVATIONS, POOLINGS

__all__ = ["CNNClassifier", "OPTIMIZERS"]

#: optimizer name -> (torch class, default learning rate, extra keyword arguments)
OPTIMIZERS = {
    "adadelta": (torch.optim.Adadelta, 1.0, ()),
    "adam": (torch.optim.Adam, 1e-3, ()),
    "adamw": (torch.optim.AdamW, 1e-3, ()),
    "sgd": (torch.optim.SGD, 1e-2, ("momentum",)),
    "rmsprop": (torch.optim.RMSprop, 1e-3, ("momentum",)),
}

# Parameters that describe the built-in ConvNet; used when architecture=None.
_CONVNET_PARAMS = ("filters", "kernel_size", "pooling", "pool_size", "hidden_units",
                   "activation", "dropout", "batch_norm", "padding")


def _plain(value):
    """Lists, tuples and arrays of the same numbers compare equal after this."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(np.asarray(value).tolist())
    return value


def _check_module_fits(module, meta, architecture):
    """Run one blank image through a freshly built module: it must give one logit per class."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros((1, meta.in_channels, meta.height, meta.width)))
    except Exception as exc:  # noqa: BLE001 - re-raised with the input's description
        raise describe_failure(architecture, meta, exc) from exc
    finally:
        module.train(was_training)
    if not torch.is_tensor(out) or tuple(out.shape) != (1, meta.n_outputs):
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise describe_failure(architecture, meta, ValueError(
            f"it returned {got} for one image instead of (1, {meta.n_outputs}) logits; make its "
            f"last layer output n_classes={meta.n_outputs} values"))


class CNNClassifier(ClassifierMixin, BaseEstimator):
    """A convolutional neural network trained from scratch (skorch underneath).

    The default network is a stack of convolution blocks (Conv -> optional
    BatchNorm -> activation -> pooling) followed by dense layers and a
    softmax output trained with cross-entropy. Its shape is set by plain
    parameters (``filters``, ``kernel_size``, ...) so ``GridSearchCV`` can
    search it; ``architecture`` accepts any other network.

    Parameters
    ----------
    architecture : None, str, ArchitecturePlugin, nn.Module subclass or callable, default=None
        ``None`` builds :class:`skcnn.scratch.ConvNet` from the parameters
        ``filters`` ... ``padding`` below. A string names an installed plugin
        (entry-point group ``skcnn.architectures``, e.g. ``'simple_cnn'``,
        ``'lenet5'``); a plugin instance is used with its own parameters
        (tunable as ``architecture__<param>``). An ``nn.Module`` subclass or a
        callable is called as ``f(in_channels, image_size, n_classes)`` and
        must return the module; an ``nn.Module`` instance is copied at each fit.
        When ``architecture`` is not None the ConvNet parameters are ignored.
    filters : int or tuple of int, default=(32, 64)
        Number of filters of each convolution block.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    pooling : {'max', 'avg'}, default='max'
        Pooling after each convolution.
    pool_size : int, default=2
        Side and stride of the pooling window (1 disables pooling).
    hidden_units : int or tuple of int, default=(128,)
        Width of each dense hidden layer (``()`` for none).
    activation : {'relu', 'tanh', 'prelu', 'sigmoid', 'elu', 'gelu', 'leaky_relu'}, default='relu'
        Activation after each convolution and hidden layer.
    dropout : float in [0, 1), default=0.0
        Dropout after the convolution stack and after each hidden layer.
    batch_norm : bool, default=False
        BatchNorm after each convolution.
    padding : {'valid', 'same'}, default='valid'
        'valid' (Keras' default) shrinks images by ``kernel_size - 1`` per
        convolution, so images must be large enough; 'same' keeps the size.
    optimizer : {'adam', 'adamw', 'adadelta', 'sgd', 'rmsprop'}, default='adam'
        Optimizer.
    learning_rate : float, default=None
        Step size; ``None`` uses the optimizer's usual default (1.0 for
        Adadelta, 0.01 for SGD, 0.001 otherwise).
    lr_schedule : {'constant', 'cosine'}, default='constant'
        'cosine' decays the learning rate to 0 along a half cosine over the
        epochs of each ``fit`` (stepped per batch); ``partial_fit`` always
        uses a constant rate.
    weight_decay : float, default=0.0
        L2 penalty (decoupled for AdamW).
    momentum : float, default=0.9
        Momentum for 'sgd' and 'rmsprop'.
    batch_size : int, default=64
        Images per training step.
    max_epochs : int, default=20
        Passes over the training data per ``fit`` (``partial_fit`` runs one).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when its loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs and restore the best weights. Without it
        every image is used for training.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as improvement.
    augment : None, 'light', 'standard' or callable, default=None
        Augmentation of training batches only (never of validation or test
        data): 'light' shifts and zooms a little (safe for digits),
        'standard' also flips, rotates and jitters brightness/contrast; a
        callable (e.g. a torchvision transform) maps one ``(C, H, W)`` tensor to
        an augmented one. See :mod:`skcnn.data.augment`.
    tta : int, default=0
        Test-time augmentation: ``predict_proba`` averages the plain images and
        ``tta`` augmented views (uses ``augment``, or 'light' when it is None).
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes in the loss; 'balanced' uses
        ``n_samples / (n_classes * np.bincount(y))``.
    warm_start : bool, default=False
        When True, ``fit`` continues from the weights of the previous fit.
    input_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)`` each flat row of 2-D ``X`` is reshaped to.
        Without it a row of length D is read as a square ``1 x sqrt(D) x
        sqrt(D)`` image when D is a perfect square (flat MNIST: 784 -> 28x28),
        otherwise as a ``1 x 1 x D`` strip (plain tabular data).
    data_format : {'auto', 'channels_first', 'channels_last'}, default='auto'
        Layout of 4-D ``X``; 'auto' infers it (see
        :func:`skcnn.data.infer_data_format`).
    device : str or torch.device, default='auto'
        'auto' uses CUDA, then Apple MPS, then the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, the data order and the early
        stopping split. With an int, the same data gives the same predictions
        on the CPU.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar per fit with loss and accuracy.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Values per image (``C * H * W``).
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame of flat rows.
    input_shape_ : tuple of int
        ``(C, H, W)`` of the images seen in ``fit``.
    net_ : skcnn.engine.ImageNet
        The fitted skorch net.
    module_ : torch.nn.Module
        The trained network (``net_.module_``).
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` (and ``valid_loss``,
        ``valid_acc`` with early stopping) and ``dur``.
    loss_curve_ : list of float
        Training loss of each epoch.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch with early stopping, else None.
    n_iter_ : int
        Number of epochs run.
    device_ : str
        Device the network was trained on.

    Examples
    --------
    >>> from skcnn import CNNClassifier
    >>> from skcnn.datasets import load_digits_images
    >>> X, y = load_digits_images(size=16, return_X_y=True)
    >>> clf = CNNClassifier(max_epochs=2, verbose=0, random_state=0).fit(X[:200], y[:200])
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        "architecture": [None, str, ArchitecturePlugin, nn.Module, callable],
        "filters": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions(set(POOLINGS))],
        "pool_size": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "padding": [StrOptions({"valid", "same"})],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
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
        "input_shape": [tuple, list, None],
        "data_format": [StrOptions(set(DATA_FORMATS))],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, architecture=None, filters=(32, 64), kernel_size=3, pooling="max",
                 pool_size=2, hidden_units=(128,), activation="relu", dropout=0.0,
                 batch_norm=False, padding="valid", optimizer="adam", learning_rate=None,
                 lr_schedule="constant", weight_decay=0.0, momentum=0.9, batch_size=64,
                 max_epochs=20,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5, tol=1e-4,
                 augment=None, tta=0, class_weight=None, warm_start=False, input_shape=None, data_format="auto",
                 device="auto", random_state=None, verbose=1):
        self.architecture = architecture
        self.filters = filters
        self.kernel_size = kernel_size
        self.pooling = pooling
        self.pool_size = pool_size
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.padding = padding
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.augment = augment
        self.tta = tta
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.input_shape = input_shape
        self.data_format = data_format
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

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
        images = self._check_images(X, reset=False)
        augment = None
        if self.tta:
            augment = make_augmentation(self.augment or "light", self.input_shape_[1:])
        return averaged_proba(self.net_, torch.from_numpy(images), augment, self.tta, self._seed)

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

    # ------------------------------------------------------------------ input checks
    def _check_images(self, X, reset):
        """Validate ``X`` and return float32 ``(N, C, H, W)`` images."""
        ndim = input_ndim(X)
        input_shape = self.input_shape
        if ndim == 2:
            # Flat rows: scikit-learn's own n_features / feature-name checks.
            validate_data(self, X, reset=reset, skip_check_array=True)
            if not reset:
                input_shape = self.input_shape_
        elif reset:
            if hasattr(self, "feature_names_in_"):  # left from a fit on a DataFrame
                del self.feature_names_in_
            if input_shape is not None and ndim in (3, 4):
                raise InputError(
                    f"input_shape={input_shape!r} is only used for flat 2D rows, but X already "
                    f"holds images ({ndim}D). Remove input_shape, or pass X.reshape(len(X), -1)."
                )
        images = images_to_array(X, input_shape=input_shape if ndim == 2 else None,
                                 data_format=self.data_format)
        if reset:
            self.input_shape_ = tuple(int(s) for s in images.shape[1:])
            self.n_features_in_ = math.prod(self.input_shape_)
        elif images.shape[1:] != tuple(self.input_shape_):
            got, want = images.shape[1:], tuple(self.input_shape_)
            raise InputError(
                f"X has images of shape {'x'.join(map(str, got))} (channels x height x width) "
                f"but {type(self).__name__} was fitted on {'x'.join(map(str, want))}. "
                f"Resize or convert them to {want[1]}x{want[2]} with {want[0]} channel(s), "
                "or fit again on images of the new shape."
            )
        return images

    def _check_labels(self, y, n_samples, classes, resume):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None. Pass the labels: fit(X, y).")
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
    def _architecture_plugin(self):
        if self.architecture is None:
            return ConvNet(**{name: getattr(self, name) for name in _CONVNET_PARAMS})
        defaults = type(self)().get_params()
        changed = [name for name in _CONVNET_PARAMS
                   if repr(_plain(getattr(self, name))) != repr(_plain(defaults[name]))]
        if changed:
            warnings.warn(
                f"{', '.join(changed)} only shape the built-in ConvNet and are ignored because "
                f"architecture={self.architecture!r} was given. Set architecture=None to use "
                "them, or tune the architecture's own parameters (architecture__<name>).",
                UserWarning,
                stacklevel=4,
            )
        return resolve_architecture(self.architecture)

    def _build_net(self, meta, device, seed):
        plugin = self._architecture_plugin()
        plugin.check_input(meta)
        module = plugin.build(meta)
        _check_module_fits(module, meta, self.architecture)
        opt_cls, default_lr, extra = OPTIMIZERS[self.optimizer]
        opt_kwargs = {"optimizer__weight_decay": self.weight_decay}
        opt_kwargs.update({f"optimizer__{name}": getattr(self, name) for name in extra})
        net = ImageNet(
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
        limit_torch_threads()
        images = self._check_images(X, reset=not resume)
        y, all_classes = self._check_labels(y, len(images), classes, resume)
        y_encoded = np.searchsorted(all_classes, y)
        weight = self._sample_weights(y_encoded, sample_weight, len(images), all_classes,
                                      partial=partial)
        X_tensor = torch.from_numpy(images)
        dataset = TensorBatches(X_tensor, torch.as_tensor(y_encoded, dtype=torch.long), weight)

        if resume:
            net = self.net_
            seed = self._seed + self.n_iter_
        else:
            self.classes_ = all_classes
            self._seed = seed_from(self.random_state)
            seed = self._seed
            device = resolve_device(self.device)
            self.device_ = str(device)
            meta = InputMeta(*self.input_shape_, n_outputs=len(all_classes))
            with seeded(seed, device):
                net = self._build_net(meta, device, seed)

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
        if self.lr_schedule == "cosine" and not partial:
            steps_per_epoch = -(-len(train_data) // self.batch_size)
            callbacks.append(("lr_schedule", CosineDecay(total_steps=epochs * steps_per_epoch)))
        if self.verbose:
            callbacks.append(("progress", EpochProgressBar(
                total=epochs, desc=type(self).__name__)))
        net.callbacks = callbacks
        net.initialize_callbacks()
        net.augment = make_augmentation(self.augment, self.input_shape_[1:])
        net.max_epochs = epochs

        n_before = len(net.history)
        with seeded(seed, self.device_):
            net.partial_fit(train_data)
        self.net_ = net
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        self.loss_curve_ = [float(h["train_loss"]) for h in net.history]
        self.validation_scores_ = (
            [float(h["valid_acc"]) for h in net.history[n_before:] if "valid_acc" in h]
            if validate else None
        )
        return self

"""CNNRegressor: a convolutional network trained from scratch, as a scikit-learn regressor."""

from ..base import REGRESSION_CONSTRAINTS, BaseImageRegressor
from ._network import SCRATCH_CONSTRAINTS, ScratchNetworkMixin

__all__ = ["CNNRegressor"]


class CNNRegressor(ScratchNetworkMixin, BaseImageRegressor):
    """A convolutional neural network trained from scratch to predict numbers.

    The regression counterpart of :class:`~skcnn.CNNClassifier` (the
    scikit-learn ``MLPRegressor`` pattern): the same network and training,
    with one linear output per target trained with ``loss``; ``score`` is R².
    ``y`` may be 1-D or hold several targets per image (multi-output). The
    default network is a stack of convolution blocks (Conv -> optional
    BatchNorm -> activation -> pooling) followed by dense layers. Its shape is set by plain
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
    filters : 'auto', int or tuple of int, default='auto'
        Number of filters of each convolution block. 'auto' builds
        ``AutoCNN``, a network that fits any image
        size from 1x1 up: stages of two 3x3 'same' convolutions with BatchNorm
        (32 filters doubling up to 128), 2x2 max pooling of each side only while
        it is at least 4 pixels, then global average pooling, dropout 0.2 and
        the output layer; trained with a one-cycle schedule at a peak rate of
        3e-3 (Adam/AdamW with ``learning_rate=None``). Every other 'auto'
        parameter below takes its value from this recipe with
        ``filters='auto'``, and its classic value when ``filters`` is given
        (so explicit networks keep their documented meaning).
    kernel_size : int, default=3
        Side of the square convolution kernels.
    pooling : {'max', 'avg'}, default='max'
        Pooling after each convolution.
    pool_size : int, default=2
        Side and stride of the pooling window (1 disables pooling).
    hidden_units : 'auto', int or tuple of int, default='auto'
        'auto': ``()`` with ``filters='auto'``, else ``(128,)``.
        Width of each dense hidden layer (``()`` for none).
    activation : {'relu', 'tanh', 'prelu', 'sigmoid', 'elu', 'gelu', 'leaky_relu'}, default='relu'
        Activation after each convolution and hidden layer.
    dropout : 'auto' or float in [0, 1), default='auto'
        'auto': 0.2 with ``filters='auto'``, else 0.0.
        Dropout after the convolution stack and after each hidden layer.
    batch_norm : 'auto' or bool, default='auto'
        'auto': True with ``filters='auto'``, else False.
        BatchNorm after each convolution.
    padding : {'auto', 'valid', 'same'}, default='auto'
        'auto': 'same' with ``filters='auto'``, else 'valid'.
        'valid' (Keras' default) shrinks images by ``kernel_size - 1`` per
        convolution, so images must be large enough; 'same' keeps the size.
    loss : {'squared_error', 'huber', 'absolute_error'}, default='squared_error'
        Training loss: mean squared error, Huber (quadratic within 1 standard
        deviation of the target, linear beyond: robust to outliers) or mean
        absolute error.
    standardize_target : bool, default=True
        Train on targets scaled to mean 0 and variance 1 (learned in ``fit``;
        ``predict`` returns the original scale). Keeps the learning rate's
        meaning independent of the target's units.
    optimizer : {'adam', 'adamw', 'adadelta', 'sgd', 'rmsprop'}, default='adam'
        Optimizer.
    learning_rate : float, default=None
        Step size; ``None`` uses the optimizer's usual default (1.0 for
        Adadelta, 0.01 for SGD, 0.001 otherwise).
    lr_schedule : {'auto', 'constant', 'cosine', 'onecycle'}, default='auto'
        'auto': 'onecycle' with ``filters='auto'``, else 'constant'.
        'cosine' decays the learning rate to 0 along a half cosine over the
        epochs of each ``fit`` (stepped per batch); 'onecycle' first warms it
        up linearly over 30% of the steps. ``partial_fit`` always uses a
        constant rate.
    weight_decay : float, default=0.0
        L2 penalty (decoupled for AdamW).
    momentum : float, default=0.9
        Momentum for 'sgd' and 'rmsprop'.
    batch_size : int, default=64
        Images per training step.
    max_epochs : 'auto' or int, default='auto'
        'auto': about 40,000 image passes (between 8 and 30 epochs) with
        ``filters='auto'``, else 20. Set an int to size a fit for a time budget.
        Passes over the training data per ``fit`` (``partial_fit`` runs one).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (at random),
        stop when its loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs and restore the best weights. Without it
        every image is used for training.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as improvement.
    augment : 'auto', None, 'light', 'standard' or callable, default='auto'
        'auto' (with ``filters='auto'``; else None): random shifts of up to a
        twelfth of each side, plus horizontal flips for RGB images; none for
        sides under 6 pixels, 1xD strips and regression.
        Augmentation of training batches only (never of validation or test
        data): 'light' shifts and zooms a little (safe for digits),
        'standard' also flips, rotates and jitters brightness/contrast; a
        callable (e.g. a torchvision transform) maps one ``(C, H, W)`` tensor to
        an augmented one. See :mod:`skcnn.data.augment`.
    tta : int, default=0
        Test-time augmentation: ``predict`` averages the plain images and
        ``tta`` augmented views (uses ``augment``, or 'light' when it is None).
    warm_start : bool, default=False
        When True, ``fit`` continues from the weights of the previous fit.
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra :class:`skorch.callbacks.Callback` instances run in every
        training call beside skcnn's own (e.g. gradient clipping, a
        checkpoint, Optuna's ``SkorchPruningCallback``). They are used as
        given, not copied; unnamed ones are named after their class.
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
    runtime : {'torch', 'onnxruntime', 'auto'}, default='torch'
        What runs the network when predicting (``predict``, ``predict_proba``): PyTorch,
        or its graph exported to ONNX (once, at the first prediction after a
        fit) in ONNX Runtime on the CPU, with the same results within 1e-4
        (needs ``pip install "skcnn[onnx]"``). 'auto' takes ONNX Runtime where
        it measured faster for this estimator (see the ONNX guide), on the
        CPU in float32, and PyTorch otherwise.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets per image.
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        Mean and standard deviation of each target in ``fit`` (0 and 1 when
        ``standardize_target=False``); ``predict`` maps the network's outputs
        back with them.
    n_features_in_ : int
        Values per image (``C * H * W``).
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame of flat rows.
    input_shape_ : tuple of int
        ``(C, H, W)`` of the images seen in ``fit``.
    net_ : skorch.NeuralNet
        The fitted skorch net.
    module_ : torch.nn.Module
        The trained network (``net_.module_``).
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_r2`` (and ``valid_loss``,
        ``valid_r2`` with early stopping) and ``dur``; losses are in
        standardised units.
    loss_curve_ : list of float
        Training loss of each epoch.
    validation_scores_ : list of float or None
        Validation R² of each epoch with early stopping, else None.
    recipe_ : dict
        What each 'auto' parameter became in the last fit (filters and pooling
        per stage, augmentation, epochs, ...).
    n_iter_ : int
        Number of epochs run.
    device_ : str
        Device the network was trained on.

    Examples
    --------
    >>> from skcnn import CNNRegressor
    >>> from skcnn.datasets import load_digits_images
    >>> X, y = load_digits_images(size=16, return_X_y=True)
    >>> reg = CNNRegressor(max_epochs=2, verbose=0, random_state=0).fit(X[:200], y[:200] / 9)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **SCRATCH_CONSTRAINTS}

    def __init__(self, *, architecture=None, filters="auto", kernel_size=3, pooling="max",
                 pool_size=2, hidden_units="auto", activation="relu", dropout="auto",
                 batch_norm="auto", padding="auto", optimizer="adam", learning_rate=None,
                 loss="squared_error", standardize_target=True, lr_schedule="auto",
                 weight_decay=0.0, momentum=0.9, batch_size=64,
                 max_epochs="auto",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5, tol=1e-4,
                 augment="auto", tta=0, warm_start=False,
                 callbacks=None, input_shape=None, data_format="auto",
                 device="auto", random_state=None, verbose=1,
                 runtime="torch"):
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
        self.loss = loss
        self.standardize_target = standardize_target
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
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.input_shape = input_shape
        self.data_format = data_format
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

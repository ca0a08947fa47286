"""FineTunedRegressor: transfer learning from a pretrained backbone, as a scikit-learn regressor."""

from ..base import REGRESSION_CONSTRAINTS, BaseImageRegressor
from .finetune import FINETUNE_CONSTRAINTS, FineTuningMixin

__all__ = ["FineTunedRegressor"]


class FineTunedRegressor(FineTuningMixin, BaseImageRegressor):
    """Fine-tune a pretrained CNN with a new regression head to predict numbers.

    The regression counterpart of :class:`~skcnn.FineTunedClassifier`: the
    same backbone, recipe and training, with one linear output per target
    trained with ``loss``; ``score`` is R². ``y`` may be 1-D or hold several
    targets per image (multi-output).

    The fine-tuning recipe is made of plain, grid-searchable parameters:
    which backbone stages train (``unfreeze``), how many epochs train the head
    alone first (``freeze_epochs``, fastai's ``fine_tune``), smaller learning
    rates deeper in the backbone (``backbone_lr_mult``, ``layer_decay``) and
    whether BatchNorm statistics stay frozen (``bn``).

    Parameters
    ----------
    backbone : 'auto', str or BackbonePlugin, default='auto'
        As in :class:`~skcnn.FineTunedClassifier` ('auto': ``'efficientnet_lite1'``
        for photos, ``'efficientnet_lite0'`` for small or grayscale arrays).
    input_size : int, default=None
        Side of the square input the network is fed; ``None`` uses the
        backbone's own (224). Smaller trains much faster on small images.
    head_hidden_units : tuple of int, default=()
        Hidden layers of the new head (ReLU); ``()`` is a linear head.
    dropout : float in [0, 1) or 'auto', default='auto'
        Dropout before each layer of the head; 'auto': none after the probe
        (``freeze_epochs='probe'``, whose fit has no dropout), 0.2 otherwise.
    unfreeze : 'head', 'all' or int, default='all'
        What trains after ``freeze_epochs``: only the head, the whole
        backbone, or its last N stages (``n_stages_`` after fit).
    freeze_epochs : int or 'probe', default='probe'
        As in :class:`~skcnn.FineTunedClassifier`; here the probe is a ridge
        regression (its penalty chosen by leave-one-out) and the interpolation
        with the lowest validation loss is kept.
    backbone_lr_mult : float, default=0.1
        Learning rate of the backbone relative to the head's.
    layer_decay : float in (0, 1] or None, default=0.7
        When given, each stage's rate is ``layer_decay`` times the rate of the
        stage after it (the last stage gets ``backbone_lr_mult``).
    bn : {'frozen', 'train'}, default='frozen'
        'frozen' keeps the backbone's BatchNorm layers in inference mode with
        their ImageNet statistics (and their scale/shift fixed); 'train' updates
        them (their running statistics then move even with ``unfreeze='head'``).
    loss : {'squared_error', 'huber', 'absolute_error'}, default='squared_error'
        Training loss (Huber: quadratic within 1 standard deviation of the
        target, linear beyond).
    standardize_target : bool, default=True
        Train on targets scaled to mean 0 and variance 1; ``predict``
        returns the original scale.
    optimizer : str, default='adamw'
        As in :class:`~skcnn.CNNClassifier`.
    learning_rate : float, default=1e-3
        Learning rate of the head.
    lr_schedule : {'cosine', 'onecycle', 'constant'}, default='onecycle'
        Learning-rate schedule over each fit (per batch).
    weight_decay : float, default=0.01
    momentum : float, default=0.9
        For 'sgd' and 'rmsprop'.
    batch_size : int, default=32
    max_epochs : int or 'auto', default='auto'
        'auto': about 6,000 image passes on a CPU (2 to 10 epochs) and 30,000
        on a GPU (5 to 30).
    early_stopping, validation_fraction, n_iter_no_change, tol
        As in :class:`~skcnn.CNNClassifier` (restores the best weights).
    augment : None, 'light', 'standard', 'auto' or callable, default='auto'
        Augmentation of training batches only; see :mod:`skcnn.data.augment`.
        'auto': random resized crops and flips of photos (160 pixels on a CPU),
        shifts of small images, none for regression or ``unfreeze='head'``.
    tta : int, default=0
        Test-time augmentation views averaged by ``predict``.
    views : int from 1 to 16 or 'auto', default='auto'
        As in :class:`~skcnn.FineTunedClassifier`; 'auto' is 1 view (the
        backbone's center crop) for regression, where a crop may change the target.
    warm_start : bool, default=False
    callbacks : list of skorch callbacks or (name, callback) pairs, default=None
        Extra skorch callbacks run in every training call; see
        :class:`~skcnn.CNNClassifier`.
    device : str, default='auto'
    precision : {'auto', 'float32', 'bfloat16', 'float16'}, default='auto'
        Mixed precision for training and inference: 'auto' uses bfloat16 (or
        float16 with loss scaling) on CUDA and float32 elsewhere.
    num_workers : int or 'auto', default='auto'
        Processes that decode and resize images once before training.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=1
    runtime : {'torch', 'onnxruntime', 'auto'}, default='torch'
        What runs the network when predicting (``predict``, ``predict_proba``): PyTorch,
        or its graph exported to ONNX (once, at the first prediction after a
        fit) in ONNX Runtime on the CPU, with the same results within 1e-4
        (needs ``pip install "skcnn[onnx]"``). 'auto' takes ONNX Runtime where
        it measured faster for this estimator (see the ONNX guide), on the
        CPU in float32, and PyTorch otherwise.

    Attributes
    ----------
    n_outputs_, target_mean_, target_scale_, n_iter_, history_, loss_curve_
        As in :class:`~skcnn.CNNRegressor`.
    validation_scores_, net_, module_, device_
        As in :class:`~skcnn.CNNRegressor`.
    n_features_in_ : int
        Values per image, when fitted on an array.
    backbone_ : str
        The backbone fitted: the name 'auto' chose, else ``backbone`` (a plugin's name).
    preprocess_ : PreprocessConfig
        How images are prepared for the backbone.
    views_ : int
        The crops of each image ``predict`` averages (``views``).
    recipe_ : dict
        What the fit did: the resolved settings and its phases (probe, fine-tuning,
        the choice with every candidate's validation score, refit).
    stages_ : list of str
        The backbone's stages, first to last (``unfreeze=N`` trains the last N).
    n_stages_ : int
    """

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **FINETUNE_CONSTRAINTS}

    def __init__(self, *, backbone="auto", input_size=None, head_hidden_units=(),
                 dropout="auto", unfreeze="all", freeze_epochs="probe", backbone_lr_mult=0.1,
                 layer_decay=0.7, bn="frozen", loss="squared_error", standardize_target=True,
                 optimizer="adamw", learning_rate=1e-3,
                 lr_schedule="onecycle", weight_decay=0.01, momentum=0.9, batch_size=32,
                 max_epochs="auto", early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, tol=1e-4, augment="auto", tta=0, views="auto",
                 warm_start=False, callbacks=None, device="auto", precision="auto", num_workers="auto",
                 random_state=None, verbose=1,
                 runtime="torch"):
        self.backbone = backbone
        self.input_size = input_size
        self.head_hidden_units = head_hidden_units
        self.dropout = dropout
        self.unfreeze = unfreeze
        self.freeze_epochs = freeze_epochs
        self.backbone_lr_mult = backbone_lr_mult
        self.layer_decay = layer_decay
        self.bn = bn
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
        self.views = views
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

"""FineTunedClassifier: transfer learning from a pretrained backbone, as a scikit-learn classifier."""

from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from .._sklearn_compat import Interval, StrOptions
from ..base import OPTIMIZERS, TRAINING_CONSTRAINTS, BaseImageClassifier
from ..data.augment import AUGMENT_PRESETS
from ..data.inputs import image_input
from ..data.transforms import ImageItems, prepare_tensor
from ..plugins import BackbonePlugin
from ..utils._hardware import PRECISIONS
from ._auto_settings import AutoSettings
from ._finetune_net import (
    FineTuneNet,
    Unfreeze,
    backbone_stages,
    chosen_backbone,
    resolve_unless_auto,
    smoothing_kwargs,
    source_shape,
    training_precision,
)
from ._lpft import (
    describe_indices,
    parameter_snapshot,
)
from ._recipe_phases import RecipePhases
from ._views import MAX_VIEWS, MultiView

__all__ = ["FineTunedClassifier", "FineTuneNet", "FineTuningMixin", "FINETUNE_CONSTRAINTS",
           "backbone_stages"]

#: Parameter constraints of the backbone and fine-tuning recipe parameters.
FINETUNE_CONSTRAINTS = {
    "backbone": [str, BackbonePlugin],
    "input_size": [Interval(Integral, 8, None, closed="left"), None],
    "head_hidden_units": [tuple, list],
    "dropout": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
    "unfreeze": [StrOptions({"head", "all"}), Interval(Integral, 0, None, closed="left")],
    # (a bool is an Integral too; fit rejects it explicitly)
    "freeze_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"probe"})],
    "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "augment": [None, StrOptions({*AUGMENT_PRESETS, "auto"}), callable],
    "backbone_lr_mult": [Interval(Real, 0, None, closed="left")],
    "layer_decay": [Interval(Real, 0, 1, closed="right"), None],
    "bn": [StrOptions({"frozen", "train"})],
    "lr_schedule": [StrOptions({"constant", "cosine", "onecycle"})],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "precision": [StrOptions({"auto", *PRECISIONS})],
    "num_workers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    "views": [Interval(Integral, 1, MAX_VIEWS, closed="both"), StrOptions({"auto"})],
}


class FineTuningMixin(AutoSettings, MultiView, RecipePhases):
    """The pretrained network and its fine-tuning recipe (a mixin for the estimators)."""

    #: Train a head alone on features computed once (False: run the backbone every epoch,
    #: as before; benchmarks/finetune_throughput.py measures the difference).
    _cache_head_features = True

    def _plugin_resolvers(self):
        return {"backbone": resolve_unless_auto}

    def inspection_target(self):
        """What :mod:`skcnn.inspection` and :mod:`skcnn.plotting` look at.

        Returns
        -------
        target : skcnn.inspection.InspectionTarget
            The backbone's model inside the network (layer names as in
            ``stages_``), the preprocessing of ``predict`` and ``history_``.
        """
        return replace(super().inspection_target(), module=self.module_.trunk.model,
                       layer_names=self.stages_, preprocess=self.preprocess_,
                       label=f"{type(self).__name__} ({self._plugin.name})")

    # ------------------------------------------------------------------ hooks
    def _prepare_images(self, X, reset):
        items, kind = image_input(self, X, reset=reset)
        if reset:
            # What augment='auto' looks at: (C, H, W) of arrays; None for files and PIL.
            self._source_shape = source_shape(items, kind)
            self.backbone_, self._plugin = chosen_backbone(self.backbone, self._source_shape)
            self.preprocess_ = self._plugin.preprocess_config().with_input_size(self.input_size)
            self.views_ = self._resolve_views(items, kind, self._source_shape)
        return prepare_tensor(ImageItems(items, kind, self._training_transform()),
                              self.num_workers)

    def _architecture_params(self):
        return ("backbone", "input_size", "head_hidden_units", "dropout", "bn")

    def _build_module(self, meta):
        if isinstance(self.unfreeze, bool):
            raise ValueError("unfreeze must be 'head', 'all' or a number of stages; got "
                             f"{self.unfreeze!r}.")
        loaded = self._plugin.load()
        model = loaded.model
        if hasattr(model, "reset_classifier"):  # timm: drop the unused ImageNet head
            model.reset_classifier(0)
        trunk = loaded.feature_extractor(None)
        stages = backbone_stages(model, loaded.layer_names())
        self.stages_ = [name for name, _ in stages]
        self.n_stages_ = len(stages)
        if isinstance(self.unfreeze, Integral) and self.unfreeze > self.n_stages_:
            raise ValueError(
                f"unfreeze={self.unfreeze} is larger than the {self.n_stages_} stages of backbone "
                f"{loaded.name!r} ({', '.join(self.stages_)}); use at most {self.n_stages_}, "
                "or 'all'."
            )
        with torch.inference_mode():
            n_features = trunk(torch.zeros((1, meta.in_channels, meta.height, meta.width)))
        module = FineTuneNet(trunk, int(n_features.shape[1]), meta.n_outputs,
                             tuple(self.head_hidden_units), self._head_dropout(),
                             freeze_bn=self.bn == "frozen")
        self._stage_params = [["trunk.model." + p for p in params] for _, params in stages]
        return module

    def _trainable_backbone_params(self, module):
        """Names (relative to the trunk) of the backbone parameters that unfreeze trains."""
        if self.unfreeze == "head":
            groups = []
        elif self.unfreeze == "all":
            groups = self._stage_params
        else:
            groups = self._stage_params[len(self._stage_params) - self.unfreeze:]
        names = {name[len("trunk."):] for group in groups for name in group}
        if self.bn == "frozen":
            frozen_bn = {f"{mod_name}.{p}" for mod_name, mod in module.trunk.named_modules()
                         if isinstance(mod, nn.modules.batchnorm._BatchNorm)
                         for p, _ in mod.named_parameters(recurse=False)}
            names -= frozen_bn
        return names

    def _optimizer_kwargs(self, module):
        lr = OPTIMIZERS[self.optimizer][1] if self.learning_rate is None else self.learning_rate
        if self.layer_decay is None:
            groups = [("trunk.*", {"lr": lr * self.backbone_lr_mult})]
        else:
            groups = [(name, {"lr": lr * self.backbone_lr_mult * self.layer_decay ** depth})
                      for depth, params in enumerate(reversed(self._stage_params))
                      for name in params]
        return {"optimizer__param_groups": groups}

    def _extra_callbacks(self, net, epochs, steps_per_epoch, partial, resume):
        schedule = self._lr_schedule_callback(self.lr_schedule, epochs, steps_per_epoch, partial)
        if not hasattr(net.module_, "trunk"):  # the head alone, on cached features
            return schedule
        trainable = self._trainable_backbone_params(net.module_)
        # A warm start continues with the backbone already unfrozen; after the probe
        # the head is trained already.
        head_only = 0 if resume or self.freeze_epochs == "probe" else self.freeze_epochs
        return [("unfreeze", Unfreeze(head_only, trainable))] + schedule

    # ------------------------------------------------------------------ the recipe
    def _fit_network(self, X, y, sample_weight, *, epochs, resume, classes, validate, partial,
                     progress):
        probe, cached = self.freeze_epochs == "probe", self._head_from_features()
        if resume or partial or not (probe or cached):
            fitted, interrupted = super()._fit_network(
                X, y, sample_weight, epochs=epochs, resume=resume, classes=classes,
                validate=validate, partial=partial, progress=progress)
            if not resume:  # (a warm start keeps the recipe of the fit it continues)
                net = fitted["net_"]
                fitted["recipe_"] = self._recipe_settings(net.max_epochs)
                fitted["recipe_"]["phases"].append(self._finetune_phase(None, fitted))
            return fitted, interrupted
        images, targets = self._fit_inputs(X, y, sample_weight, classes=classes, resume=False,
                                           partial=False)
        net, seed, device, fitted = self._start_network(images, targets, resume=False)
        n_images = len(images)
        all_images = np.arange(n_images)
        fit_idx, valid_idx = all_images, None
        if validate or (probe and n_images >= 2):  # the probe's choice needs held-out images
            fit_idx, valid_idx = self._validation_indices(n_images, targets.stratify, seed)
        recipe = self._recipe_settings(self._resolve_epochs(epochs, len(fit_idx)))
        features = self._mean_view_features(net, X, images, device)
        recipe["phases"].append({"phase": "features", "images": describe_indices(all_images)})
        # The probe and the choice use the plain loss (no label smoothing): the probe is
        # then scikit-learn's logistic regression, and the two are scored alike.
        criterion = self._criterion()(reduction="none")
        head = net.module_.head
        if probe:
            probe_score, probe_state, probe_alpha = self._fit_probe(
                head, features, targets, fit_idx, valid_idx, criterion, seed, device, recipe)
            trunk_before = None if cached else parameter_snapshot(net.module_.trunk)

        epochs, augment = recipe["max_epochs"], self._training_augmentation(images)
        if cached:
            trained, interrupted = self._train_head_on_features(
                net, features, targets, fit_idx, valid_idx if validate else None,
                epochs=epochs, seed=seed, device=device, progress=progress)
        else:
            dataset = self._make_dataset(images, targets.values, targets.weight)
            trained, interrupted = self._run_training(
                net, dataset.take(fit_idx),
                dataset.take(valid_idx) if validate else None, epochs=epochs, seed=seed,
                device=device, augment=augment, early_stopping=validate, partial=False,
                resume=False, progress=progress)
        recipe["phases"].append(self._finetune_phase(fit_idx, trained))
        if probe and valid_idx is not None and not interrupted:
            self._keep_better(net, images, features, targets, valid_idx, criterion, recipe,
                              probe=(probe_score, probe_state, probe_alpha),
                              trunk_before=trunk_before, seed=seed, device=device,
                              valid_views=self._validation_views(X, images, valid_idx))
        fitted.update(trained)
        fitted["recipe_"] = recipe
        if self.verbose:
            self._print_recipe(recipe)
        return fitted, interrupted

    def _precision(self, device):
        return training_precision(self.precision, device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # file paths
        return tags


class FineTunedClassifier(FineTuningMixin, BaseImageClassifier):
    """Fine-tune a pretrained CNN with a new head on a (small) labelled image set.

    The fine-tuning recipe is made of plain, grid-searchable parameters:
    which backbone stages train (``unfreeze``), how many epochs train the head
    alone first (``freeze_epochs``, fastai's ``fine_tune``), smaller learning
    rates deeper in the backbone (``backbone_lr_mult``, ``layer_decay``) and
    whether BatchNorm statistics stay frozen (``bn``).

    Parameters
    ----------
    backbone : 'auto', str or BackbonePlugin, default='auto'
        See :class:`~skcnn.PretrainedFeatures`. 'auto' (works offline):
        ``'efficientnet_lite1'`` for photos (files, PIL images, colour arrays over
        64 pixels), ``'efficientnet_lite0'`` for small or grayscale arrays
        (``backbone_`` says which).
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
        Epochs that train the head alone before unfreezing. 'probe' (LP-FT):
        fit the head as a linear probe on the frozen backbone's features, fine-tune
        from it, and keep the probe, the fine-tuned network or an interpolation
        of their weights, chosen on a validation split (``recipe_``; see the
        fine-tuning guide).
    backbone_lr_mult : float, default=0.1
        Learning rate of the backbone relative to the head's.
    layer_decay : float in (0, 1] or None, default=0.7
        When given, each stage's rate is ``layer_decay`` times the rate of the
        stage after it (the last stage gets ``backbone_lr_mult``).
    bn : {'frozen', 'train'}, default='frozen'
        'frozen' keeps the backbone's BatchNorm layers in inference mode with
        their ImageNet statistics (and their scale/shift fixed); 'train' updates
        them (their running statistics then move even with ``unfreeze='head'``).
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
        Test-time augmentation views averaged by ``predict_proba``.
    views : int from 1 to 16 or 'auto', default='auto'
        Crops of each image whose outputs ``predict`` averages (the probe's
        features too): 1 is the backbone's center crop, n > 1 crops of the whole
        shorter side spread along the longer side, which together cover an
        elongated photo. 'auto': 3 to classify photos whose median aspect ratio
        is 1.2 or more, else 1 (``views_``; see :mod:`skcnn.pretrained._views`).
    class_weight : dict, 'balanced' or None, default=None
    threshold : float in (0, 1), default=0.5
        Multi-label only (a 2-D 0/1 indicator ``y`` trains one sigmoid output
        per label): ``predict`` marks a label present when its probability is
        at least ``threshold``.
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
    classes_, n_iter_, history_, loss_curve_, validation_scores_, net_, module_, device_
        As in :class:`~skcnn.CNNClassifier`.
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

    _parameter_constraints = {**TRAINING_CONSTRAINTS, **FINETUNE_CONSTRAINTS,
                              "label_smoothing": [Interval(Real, 0, 1, closed="left")]}

    def __init__(self, *, backbone="auto", input_size=None, head_hidden_units=(),
                 dropout="auto", unfreeze="all", freeze_epochs="probe", backbone_lr_mult=0.1,
                 layer_decay=0.7, bn="frozen", optimizer="adamw", learning_rate=1e-3,
                 lr_schedule="onecycle", weight_decay=0.01, momentum=0.9, batch_size=32,
                 max_epochs="auto", early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, tol=1e-4, augment="auto", tta=0, views="auto",
                 class_weight=None, threshold=0.5, label_smoothing=0.0, warm_start=False,
                 callbacks=None, device="auto", precision="auto", num_workers="auto",
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
        self.class_weight = class_weight
        self.threshold = threshold
        self.label_smoothing = label_smoothing
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose
        self.runtime = runtime

    def _criterion_kwargs(self):
        return smoothing_kwargs(self)

"""PretrainedFeatures: features of a pretrained ImageNet network as a scikit-learn transformer."""

import math
from numbers import Integral

import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ..base import limit_torch_threads, resolve_device
from ..data.arrays import input_ndim
from ..data.images import input_kind
from ..data.transforms import ImageItems, PilPreprocess, check_array_images
from ..plugins import BackbonePlugin
from ._inference import PRECISIONS, run_model
from .backbones import resolve_backbone

__all__ = ["PretrainedFeatures", "GlobalPool"]


class GlobalPool(nn.Module):
    """Pool a ``(N, C, h, w)`` map to ``(N, C)`` (``avgmax``: ``(N, 2C)``); flatten other shapes."""

    def __init__(self, pooling="avg"):
        super().__init__()
        self.pooling = pooling

    def forward(self, x):
        if x.ndim != 4:
            return x.flatten(1)
        if self.pooling == "avg":
            return x.mean(dim=(2, 3))
        if self.pooling == "max":
            return x.amax(dim=(2, 3))
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


class PretrainedFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Features of a pretrained CNN, for any scikit-learn model downstream.

    ``fit`` loads the backbone (no weights are loaded in ``__init__``);
    ``transform`` runs it in eval mode, under ``torch.inference_mode`` and in
    batches, and returns globally pooled feature maps.

    Parameters
    ----------
    backbone : str or BackbonePlugin, default='efficientnet_lite0'
        A registered backbone name (see :func:`skcnn.list_backbones`),
        ``'torchvision:<name>'``, ``'timm:<name>'`` or a plugin instance.
        The default's ImageNet weights ship with skcnn's dependencies, so it
        works offline.
    layer : str, default=None
        Feature map to pool. ``None`` is the network's last convolutional
        stage (what Keras' ``include_top=False`` returns); the valid names of
        intermediate stages are in the error message for an unknown name and
        in ``layer_names_`` after fit.
    pooling : {'avg', 'max', 'avgmax'}, default='avg'
        Global pooling of the feature map; 'avgmax' concatenates both.
    input_size : int, default=None
        Side of the square input the network is fed; ``None`` uses the
        backbone's own (224 for most). Smaller is faster for small images.
    batch_size : int or 'auto', default='auto'
        Images per forward pass ('auto': 32 on the CPU, 256 on a GPU).
    device : str, default='auto'
        'auto' picks CUDA, then MPS, then the CPU.
    precision : {'auto', 'float32', 'bfloat16', 'float16'}, default='auto'
        Compute precision; 'auto' uses half precision on CUDA and float32
        elsewhere. Features are always returned as float32.
    channels_last : bool or 'auto', default='auto'
        Memory layout of the batches; 'auto' uses channels-last, which oneDNN
        and cuDNN run faster.
    num_workers : int or 'auto', default='auto'
        Processes that decode and resize images; 'auto' uses up to 4 when
        there are more than 4 batches, none for small inputs.
    verbose : int, default=1
        0 is silent; 1 shows a progress bar when there is more than one batch.

    Attributes
    ----------
    backbone_ : BackbonePlugin
        The resolved backbone plugin (its ``weights_id()`` names the weights).
    model_ : torch.nn.Module
        The network up to ``layer``, followed by the global pooling.
    preprocess_ : PreprocessConfig
        The preprocessing in use (after ``input_size``).
    layer_names_ : list of str
        Valid values of ``layer``.
    n_features_in_ : int
        Values per image, when fitted on an array.
    n_features_out_ : int
        Number of features ``transform`` returns.
    device_ : str
        Device the network runs on.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> from skcnn import PretrainedFeatures
    >>> pipe = make_pipeline(PretrainedFeatures(), SVC())  # doctest: +SKIP
    >>> pipe.fit(list_of_jpeg_paths, labels)                # doctest: +SKIP
    """

    _parameter_constraints = {
        "backbone": [str, BackbonePlugin],
        "layer": [str, None],
        "pooling": [StrOptions({"avg", "max", "avgmax"})],
        "input_size": [Interval(Integral, 8, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", *PRECISIONS})],
        "channels_last": ["boolean", StrOptions({"auto"})],
        "num_workers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "verbose": ["verbose"],
    }

    def __init__(self, *, backbone="efficientnet_lite0", layer=None, pooling="avg",
                 input_size=None, batch_size="auto", device="auto", precision="auto",
                 channels_last="auto", num_workers="auto", verbose=1):
        self.backbone = backbone
        self.layer = layer
        self.pooling = pooling
        self.input_size = input_size
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.num_workers = num_workers
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the backbone and check ``X``; nothing is learned from the data.

        Parameters
        ----------
        X : array of images, list of PIL images, or list of file paths
            Arrays may be ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``,
            ``uint8`` or floats in [0, 1] (flat ``(N, D)`` rows are read as
            in :class:`~skcnn.CNNClassifier`).
        y : ignored

        Returns
        -------
        self : PretrainedFeatures
        """
        self._check_input(X, reset=True)
        plugin = resolve_backbone(self.backbone)
        backbone = plugin.load()
        self.layer_names_ = list(backbone.layer_names())
        extractor = backbone.feature_extractor(self.layer)  # raises for an unknown layer
        self.backbone_ = plugin
        self.preprocess_ = self._preprocess_config(backbone.preprocess)
        device = resolve_device(self.device)
        self.device_ = str(device)
        self.model_ = nn.Sequential(extractor, GlobalPool(self.pooling)).eval()
        size = self.preprocess_.input_size
        with torch.inference_mode():
            probe = self.model_(torch.zeros((1, self.preprocess_.channels, *size)))
        self.n_features_out_ = int(probe.shape[1])
        self._n_features_out = self.n_features_out_
        self.model_ = self.model_.to(device)
        if self.channels_last in (True, "auto"):
            self.model_ = self.model_.to(memory_format=torch.channels_last)
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        if "model_" in state and torch.device(state.get("device_", "cpu")).type != "cpu":
            # Pickle on the CPU so the estimator also loads on machines without a GPU.
            import copy

            state["model_"] = copy.deepcopy(state["model_"]).cpu()
            state["_trained_on"] = state["device_"]
            state["device_"] = "cpu"
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        trained_on = state.get("_trained_on")
        if trained_on and trained_on.startswith("cuda") and torch.cuda.is_available():
            self.model_ = self.model_.to(trained_on)
            self.device_ = trained_on

    def _preprocess_config(self, config):
        if self.input_size is None:
            return config
        crop_fraction = min(config.input_size) / config.resize_size
        return type(config)(**{
            **{f: getattr(config, f) for f in config.__dataclass_fields__},
            "input_size": (self.input_size, self.input_size),
            "resize_size": int(math.floor(self.input_size / crop_fraction)),
        })

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Features of each image.

        Parameters
        ----------
        X : array of images, list of PIL images, or list of file paths

        Returns
        -------
        features : ndarray of shape (N, n_features_out_), float32
        """
        check_is_fitted(self)
        items, kind = self._check_input(X, reset=False)
        return self._extract(items, kind)

    def _check_input(self, X, reset):
        kind = input_kind(X)
        if kind != "array":
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            return list(X), kind
        if input_ndim(X) == 2:
            validate_data(self, X, reset=reset, skip_check_array=True)
        images = check_array_images(X)
        if reset:
            self.n_features_in_ = math.prod(images.shape[1:])
        return images, kind

    def _extract(self, items, kind):
        limit_torch_threads()
        config = self.preprocess_
        dataset = ImageItems(items, kind, PilPreprocess(
            config.input_size, config.resize_size, config.mean, config.std,
            config.interpolation, config.channels))
        return run_model(
            self.model_, dataset, self.n_features_out_, device=self.device_,
            batch_size=self.batch_size, precision=self.precision,
            channels_last=self.channels_last in (True, "auto"), num_workers=self.num_workers,
            verbose=self.verbose, desc=type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # features are always float32
        return tags

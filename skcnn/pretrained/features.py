"""PretrainedFeatures: features of a pretrained ImageNet network as a scikit-learn transformer."""

import copy
import os
import threading
from collections import OrderedDict
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._inspection_target import InspectionTarget
from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..data.images import DECODING_VERSION, read_once
from ..data.inputs import image_input
from ..data.transforms import ImageItems, PilPreprocess, prepare_tensor
from ..plugins import BackbonePlugin, NamedPluginParamsMixin
from ..utils._dask import limit_torch_threads
from ..utils._hardware import PRECISIONS, resolve_device, resolve_precision, restore_device
from . import _runtime
from . import cache as _cache
from ._inference import resolve_batch_size, run_model
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


class _Subset(torch.utils.data.Dataset):
    """``dataset[indices[j]]`` as item ``j``, then ``n_pad`` copies of ``blank``.

    Errors still name the item by its position in the caller's input.
    """

    def __init__(self, dataset, indices, n_pad, blank):
        self.dataset = dataset
        self.indices = list(indices)
        self.n_pad = n_pad
        self.blank = blank

    def __len__(self):
        return len(self.indices) + self.n_pad

    def __getitem__(self, j):
        if j < len(self.indices):
            return self.dataset[self.indices[j]][0], j
        return self.blank, j


_BACKBONE_MEMO = OrderedDict()
_BACKBONE_MEMO_SIZE = 2
_BACKBONE_LOCK = threading.Lock()


def _load_backbone(plugin, reuse):
    """``plugin.load()``; with ``reuse``, a copy of a network loaded before in this process.

    The networks are kept by plugin class, parameters and weights id (which
    changes with the weights file), at most two at a time.
    """
    if not reuse:
        return plugin.load()
    try:
        weights_id = str(plugin.weights_id())
    except NotImplementedError:  # nothing tells its weights apart: load them each time
        return plugin.load()
    key = (type(plugin).__module__, type(plugin).__qualname__,
           repr(sorted(plugin.get_params(deep=True).items())), weights_id)
    with _BACKBONE_LOCK:
        backbone = _BACKBONE_MEMO.get(key)
        if backbone is not None:
            _BACKBONE_MEMO.move_to_end(key)
    if backbone is None:
        backbone = plugin.load()
        backbone.layer_names()  # discovered once, kept by the copies
        with _BACKBONE_LOCK:
            _BACKBONE_MEMO[key] = backbone
            while len(_BACKBONE_MEMO) > _BACKBONE_MEMO_SIZE:
                _BACKBONE_MEMO.popitem(last=False)
    return copy.deepcopy(backbone)


class PretrainedFeatures(NamedPluginParamsMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                         BaseEstimator):
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
    cache : bool, str or path-like, default=None
        Where to keep computed features between calls and processes.
        ``None`` or ``False``: no cache. ``True``: the default folder
        (``$SKCNN_CACHE_DIR/features``, else ``skcnn/features`` in
        ``$XDG_CACHE_HOME`` or the platform's user cache folder, e.g.
        ``~/.cache``). A path: that folder. Features are stored per image,
        keyed by the image's content (pixels, or a file's bytes) and by the
        backbone, its weights, ``layer``, ``pooling``, the preprocessing
        (``input_size``) and ``precision``; any change to one of them misses.
        ``transform`` then runs the backbone only over images it has not
        seen, so a grid search over the downstream model's parameters
        extracts each image once (see :mod:`skcnn.pretrained.cache`).
        Cached images are computed in full batches of ``batch_size``
        (the last one padded), so their features do not depend on which
        other images they were computed with. It is safe for parallel
        workers, and a damaged cache file is recomputed, never returned.
        Delete the folder to free its space. With a cache, ``fit`` also
        keeps the last two networks it loaded in memory and starts from a
        copy, so refitting in a grid search does not reload the weights.
    runtime : {'torch', 'onnxruntime', 'auto'}, default='torch'
        What runs the network in ``transform`` (decoding and preprocessing
        are the same). 'onnxruntime' exports it to ONNX at the first
        ``transform`` after ``fit`` (a few seconds, once per network and
        process) and runs it in ONNX Runtime on the CPU: about twice as many
        images per second as PyTorch on a CPU (``benchmarks/onnx_runtime.py``),
        features within 1e-4 of PyTorch's. 'auto' uses ONNX Runtime where it
        measured faster (the network on the CPU in float32, ``onnxruntime``
        installed) and PyTorch elsewhere. Needs ``pip install "skcnn[onnx]"``.

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
    cache_dir_ : pathlib.Path or None
        The cache folder in use (from ``cache``), or None.
    feature_settings_ : dict
        What the features depend on besides the image (backbone, weights,
        layer, pooling, preprocessing, precision); the cache's settings key.
    n_computed_ : int
        Images the backbone computed in the last ``transform`` (with a
        cache: the misses; without: every image).
    runtime_ : {'torch', 'onnxruntime'}
        What runs the network (``runtime`` resolved on this machine).

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
        "cache": ["boolean", str, os.PathLike, None],
        "runtime": [StrOptions(set(_runtime.RUNTIMES))],
    }

    def __init__(self, *, backbone="efficientnet_lite0", layer=None, pooling="avg",
                 input_size=None, batch_size="auto", device="auto", precision="auto",
                 channels_last="auto", num_workers="auto", verbose=1, cache=None,
                 runtime="torch"):
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
        self.cache = cache
        self.runtime = runtime

    def _plugin_resolvers(self):
        return {"backbone": resolve_backbone}

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
        # All or nothing: a fit that fails (unknown layer, a backbone that cannot
        # load...) leaves the estimator as it was, e.g. still fitted before.
        before = dict(self.__dict__)
        try:
            return self._fit(X)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X):
        image_input(self, X, reset=True)
        cache_dir = _cache.resolve_cache_dir(self.cache)
        plugin = resolve_backbone(self.backbone)
        # With a cache, a grid search refits this estimator many times: reuse the
        # network loaded by an earlier fit in this process (a copy) instead of reloading.
        backbone = _load_backbone(plugin, reuse=cache_dir is not None)
        self.layer_names_ = list(backbone.layer_names())
        extractor = backbone.feature_extractor(self.layer)  # raises for an unknown layer
        self.backbone_ = plugin
        self.preprocess_ = backbone.preprocess.with_input_size(self.input_size)
        device = resolve_device(self.device)
        self.device_ = str(device)
        self.runtime_ = _runtime.resolve_runtime(self.runtime, device,
                                                 resolve_precision(self.precision, device))
        self._onnx_state = {"session": None}  # exported lazily by the first transform
        self.cache_dir_ = cache_dir
        self._transform_stats = {"n_computed": 0}
        self.model_ = nn.Sequential(extractor, GlobalPool(self.pooling)).eval()
        n_features = self._cache_key_settings = None
        if cache_dir is not None:
            # Fixed at fit, like the network: the key describes the weights in model_.
            self._cache_key_settings = self.feature_settings_
            # Recorded by an earlier run with the same settings: no probe pass needed.
            n_features = _cache.FeatureStore.stored_n_features(cache_dir,
                                                               self._cache_key_settings)
        if n_features is None:
            size = self.preprocess_.input_size
            with torch.inference_mode():
                probe = self.model_(torch.zeros((1, self.preprocess_.channels, *size)))
            n_features = int(probe.shape[1])
        self.n_features_out_ = n_features
        self._n_features_out = self.n_features_out_
        self.model_ = self.model_.to(device)
        if self.channels_last in (True, "auto"):
            self.model_ = self.model_.to(memory_format=torch.channels_last)
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        if "_onnx_state" in state:  # an ONNX Runtime session does not pickle: made again
            state["_onnx_state"] = {"session": None}
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
        if trained_on and "model_" in state:

            # "cuda:3" on a machine with fewer GPUs: the current GPU; no GPU: the CPU.
            device = restore_device(trained_on)
            if torch.device(device).type != "cpu":
                self.model_ = self.model_.to(device)
                self.device_ = device

    # ------------------------------------------------------------------ transform
    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then transform ``X``; an iterator (a generator) is read once, at the start.

        Parameters
        ----------
        X, y
            As in :meth:`fit`.
        **fit_params
            Passed to :meth:`fit`.

        Returns
        -------
        features : ndarray of shape (N, n_features)
            ``n_features`` is ``n_features_out_``.
        """
        return super().fit_transform(read_once(X), y, **fit_params)

    def transform(self, X):
        """Features of each image.

        Parameters
        ----------
        X : array of images, list of PIL images, or list of file paths

        Returns
        -------
        features : ndarray of shape ``(N, n_features_out_)``, float32
        """
        check_is_fitted(self)
        items, kind = image_input(self, X, reset=False)
        if getattr(self, "cache_dir_", None) is None:
            features = self._extract(items, kind)
            self._record(len(features))
            return features
        return self._transform_cached(items, kind)

    def inspection_target(self):
        """What :mod:`skcnn.inspection` and :mod:`skcnn.plotting` look at.

        Returns
        -------
        target : skcnn.inspection.InspectionTarget
            The backbone's model (layer names as in ``layer_names_``) and the
            preprocessing of ``transform``.
        """
        check_is_fitted(self)
        return InspectionTarget(
            module=self.model_[0].model, prepare=self._preprocessed, layer_names=self.layer_names_,
            preprocess=self.preprocess_, label=f"{type(self).__name__} ({self.backbone_.name})")

    def _preprocessed(self, X):
        """``X`` as the backbone is fed: float32 ``(N, C, H, W)``."""
        items, kind = image_input(self, X, reset=False)
        return prepare_tensor(ImageItems(items, kind, PilPreprocess.from_config(self.preprocess_)),
                              num_workers=0)

    @property
    def n_computed_(self):
        """Images the backbone computed in the last ``transform``."""
        stats = self.__dict__.get("_transform_stats")
        if stats is None:
            raise AttributeError(
                f"This {type(self).__name__} has not been fitted; n_computed_ is set by "
                "transform after fit.")
        return stats["n_computed"]

    def _record(self, n_computed):
        # A dict mutated in place: transform leaves the estimator's __dict__ as it was.
        stats = self.__dict__.get("_transform_stats")
        if stats is not None:
            stats["n_computed"] = int(n_computed)
        _cache._count(n_computed)

    @property
    def feature_settings_(self):
        """What the features depend on besides the image, as a dict of plain values.

        Backbone class, name, parameters and weights, layer, pooling,
        preprocessing and precision: the feature cache keys on it, and
        :func:`skcnn.extract_features` refuses a folder written with other
        settings. Available once fitted.
        """
        check_is_fitted(self, "backbone_")
        plugin = self.backbone_
        params = plugin.get_params(deep=True)
        extractor = self.model_[0]
        try:
            weights_id = plugin.weights_id()
        except NotImplementedError:
            raise NotImplementedError(
                f"Backbone {plugin.name!r} does not implement weights_id(), which the feature "
                "cache needs to tell its weights apart. Pass cache=None, or implement "
                "weights_id() in the plugin (a string that changes whenever the weights do)."
            ) from None
        return {
            "format_version": _cache.FORMAT_VERSION,
            "image_decoding": DECODING_VERSION,
            "backbone": f"{type(plugin).__module__}.{type(plugin).__qualname__}",
            "backbone_name": str(plugin.name),
            "backbone_params": {k: repr(v) for k, v in sorted(params.items())},
            "weights_id": str(weights_id),
            "layer": str(getattr(extractor, "layer", self.layer)),
            "pooling": self.pooling,
            "preprocess": self.preprocess_.to_dict(),
            "precision": str(resolve_precision(self.precision, torch.device(self.device_))),
            **({"runtime": "onnxruntime"} if self._uses_onnxruntime() else {}),
        }

    def _transform_cached(self, items, kind):
        store = _cache.FeatureStore(self.cache_dir_, self._cache_key_settings,
                                    self.n_features_out_)
        keys = _cache.image_keys(items, kind)
        output = np.empty((len(keys), self.n_features_out_), dtype=np.float32)
        found = {}  # key -> features, for images repeated within X
        todo = {}  # key (or a placeholder for unreadable content) -> positions in X
        for i, key in enumerate(keys):
            if key is not None and key in found:
                output[i] = found[key]
                continue
            values = store.get(key) if key is not None else None
            if values is not None:
                found[key] = output[i] = values
            else:
                todo.setdefault(key if key is not None else ("unkeyed", i), []).append(i)
        if todo:
            first = [positions[0] for positions in todo.values()]
            computed = self._extract(items, kind, indices=first, pad=True)
            for (key, positions), values in zip(todo.items(), computed):
                output[positions] = values
                if isinstance(key, str):
                    store.put(key, values)
        self._record(len(todo))
        return output

    def _extract(self, items, kind, indices=None, pad=False):
        """Features of ``items`` (or of ``items[indices]``, in that order).

        ``pad=True`` fills the last batch up to ``batch_size`` with blank
        images: float32 kernels block differently for different batch sizes,
        so this way an image's features do not depend on how many images it
        was computed with (the cache relies on it).
        """
        limit_torch_threads()
        config = self.preprocess_
        dataset = ImageItems(items, kind, PilPreprocess.from_config(config))
        n_images = len(dataset) if indices is None else len(indices)
        if indices is not None or pad:
            n_pad = 0
            if pad:
                batch_size = resolve_batch_size(self.batch_size, torch.device(self.device_))
                n_pad = -n_images % batch_size
            blank = torch.zeros((config.channels, *config.input_size))
            dataset = _Subset(dataset, range(n_images) if indices is None else indices,
                              n_pad, blank)
        session = self._onnx_session() if self._uses_onnxruntime() else None
        if session is not None:
            features = _runtime.run_session(
                session, dataset, self.n_features_out_,
                batch_size=resolve_batch_size(self.batch_size, torch.device(self.device_)),
                num_workers=self.num_workers, verbose=self.verbose, desc=type(self).__name__)
            return features[:n_images]
        features = run_model(
            self.model_, dataset, self.n_features_out_, device=self.device_,
            batch_size=self.batch_size, precision=self.precision,
            channels_last=self.channels_last in (True, "auto"), num_workers=self.num_workers,
            verbose=self.verbose, desc=type(self).__name__)
        return features[:n_images]

    def _uses_onnxruntime(self):
        return getattr(self, "runtime_", "torch") == "onnxruntime"

    def _onnx_session(self):
        """The ONNX Runtime session of ``model_``, exported at first use (None: use torch)."""
        state = self.__dict__.setdefault("_onnx_state", {"session": None})
        if state["session"] is None:
            key = None
            try:
                key = (self._cache_settings_key(), self.layer, self.pooling,
                       repr(self.preprocess_.to_dict()))
            except NotImplementedError:  # weights without an id: export for this fit only
                pass
            try:
                state["session"] = _runtime.network_session(
                    self.model_, (self.preprocess_.channels, *self.preprocess_.input_size),
                    key=key, what=f"backbone {self.backbone_.name!r}")
            except Exception as exc:  # noqa: BLE001 - 'auto' falls back, the rest re-raise
                if self.runtime != "auto":
                    raise
                _runtime.warn_fallback(exc, f"backbone {self.backbone_.name!r}")
                state["session"] = False
        return state["session"] or None

    def _cache_settings_key(self):
        plugin = self.backbone_
        return (f"{type(plugin).__module__}.{type(plugin).__qualname__}",
                repr(sorted(plugin.get_params(deep=True).items())), str(plugin.weights_id()))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # features are always float32
        return tags

"""What each skcnn estimator stores besides its parameters, and how its network is rebuilt.

An estimator's fitted attributes (everything in its ``__dict__`` that is not a
parameter) are stored as JSON, except the objects listed in :data:`_REBUILT`,
which are rebuilt on load: the network, from the recorded parameters and
attributes (the architecture plugin and the input shape, or the backbone
plugin), then the saved weights are checked against it and loaded into it.
"""

import os
import tempfile
import warnings

import torch

from ..exceptions import IncompatibleWeightsError, ModelFileError
from ..pretrained.weights import state_differences
from ..utils._hardware import restore_device
from ..utils._random import seeded

__all__ = ["is_estimator", "fitted_attributes", "expects_network", "network_state", "rebuild",
           "check_weights"]

#: Attributes of the trained estimators that are rebuilt on load instead of stored.
_TRAINED = ("net_", "_plugin", "_stage_params", "_built_with")

#: Attributes that are rebuilt on load instead of stored (per estimator class name).
#: Every other attribute (``classes_``, ``target_mean_``, ``vocabulary_``, a new
#: ``recipe_``...) is stored as JSON without code of its own here.
_REBUILT = {
    "CNNClassifier": _TRAINED,
    "CNNRegressor": _TRAINED,
    "FineTunedClassifier": _TRAINED,
    "FineTunedRegressor": _TRAINED,
    # encoder_ is stored as its settings (see _encoder_settings); _feature_names is the
    # architecture plugin's method, set again when the network is rebuilt.
    "TextCNNClassifier": (*_TRAINED, "_feature_names"),
    "PretrainedFeatures": ("model_", "cache_dir_", "_cache_key_settings", "_transform_stats"),
    "ImageLoader": (),
}


def is_estimator(value):
    """Whether ``value`` is one of skcnn's estimators (as opposed to a plugin or config)."""
    return any(cls.__name__ in _REBUILT and cls.__module__.startswith("skcnn.")
               for cls in type(value).__mro__)


def _kind(estimator):
    for cls in type(estimator).__mro__:
        if cls.__name__ in _REBUILT and cls.__module__.startswith("skcnn."):
            return cls.__name__
    raise ModelFileError(f"skcnn.save does not know how to store {type(estimator).__name__}.")


def _fitted_backbone(estimator):
    """The backbone a stored fine-tuned estimator was fitted with: ``backbone``, or for
    'auto' the choice it recorded (``backbone_``), which must be one 'auto' makes."""
    from ..pretrained._lpft import AUTO_BACKBONES

    if not (isinstance(estimator.backbone, str) and estimator.backbone == "auto"):
        return estimator.backbone
    chosen = getattr(estimator, "backbone_", None)
    if chosen not in AUTO_BACKBONES.values():
        raise ModelFileError(
            f"The model file's {type(estimator).__name__} has backbone='auto' but records "
            f"backbone_={chosen!r}, which 'auto' never picks ({', '.join(AUTO_BACKBONES.values())}"
            "); the file is damaged or was edited. Save the model again.")
    return chosen


def _check_views(estimator):
    """``views_`` of a stored fine-tuned estimator: what ``views`` allows (it sets how many
    crops every prediction computes)."""
    from ..pretrained._views import MAX_VIEWS

    views, chosen = estimator.views, estimator.__dict__.get("views_", 1)
    allowed = {1, 3} if views == "auto" else {views}
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen not in allowed \
            or not 1 <= chosen <= MAX_VIEWS:
        raise ModelFileError(
            f"The model file's {type(estimator).__name__} has views={views!r} but records "
            f"views_={chosen!r}, which that setting never gives ({sorted(allowed)}); the file "
            "is damaged or was edited. Save the model again.")


def fitted_attributes(estimator):
    """The attributes to store as JSON: ``__dict__`` less parameters and rebuilt objects."""
    params = set(estimator.get_params(deep=False))
    skipped = set(_REBUILT[_kind(estimator)])
    attributes = {name: value for name, value in estimator.__dict__.items()
                  if name not in params and name not in skipped}
    if "encoder_" in attributes:
        attributes["encoder_"] = _encoder_settings(attributes["encoder_"])
    return attributes


def _encoder_settings(encoder):
    """A TextEncoder as data: its settings (the vocabulary is the estimator's
    ``vocabulary_``); :func:`_text_encoder` makes it again."""
    return {name: value for name, value in vars(encoder).items()
            if name not in ("vocabulary_", "_compiled")}


def _text_encoder(settings, vocabulary):
    from ..text.tokenize import TextEncoder

    if not isinstance(settings, dict) or not isinstance(vocabulary, dict):
        raise ModelFileError("The text classifier in the model file lacks its tokenizer "
                             "settings or vocabulary; the file is damaged. Save it again.")
    names = ("level", "lowercase", "token_pattern", "tokenizer", "min_df", "max_vocabulary",
             "max_length")
    try:
        encoder = TextEncoder(**{k: settings[k] for k in names if k in settings})
    except TypeError as exc:
        raise ModelFileError(f"The text classifier's tokenizer settings in the model file "
                             f"are damaged ({exc}); save it again.") from None
    encoder.vocabulary_ = vocabulary
    return encoder


def expects_network(estimator):
    """Whether a fitted estimator of this kind has a network (and so weights)."""
    return _kind(estimator) != "ImageLoader"


def network_state(estimator):
    """The tensors of a fitted estimator's network (on the CPU), or None."""
    kind = _kind(estimator)
    if kind in _TRAINED_KINDS and hasattr(estimator, "net_"):
        module = estimator.net_.module_
    elif kind == "PretrainedFeatures" and hasattr(estimator, "model_"):
        module = estimator.model_
    else:
        return None
    # Separate contiguous CPU copies: safetensors refuses tensors that share memory.
    return {name: tensor.detach().to("cpu").contiguous().clone()
            for name, tensor in module.state_dict().items()}


def check_weights(module, tensors, what):
    """Refuse ``tensors`` unless their names and shapes are exactly ``module``'s."""
    parts = state_differences(module, tensors)
    if parts:
        raise ModelFileError(
            f"The weights in the model file do not fit the network rebuilt for {what}: "
            f"{'; '.join(parts)}. The file is damaged, was edited, or was written for another "
            "version of the architecture; nothing was loaded. Save the model again with the "
            "skcnn and plugin versions you load it with.")


def _load_weights(module, tensors, what):
    check_weights(module, tensors, what)
    module.load_state_dict(tensors, strict=True)


def _backbone_from(plugin, model_state):
    """``plugin.load()`` with the stored weights, needing no pretrained weights if possible.

    Every backbone plugin accepts ``weights=<state-dict file>``: the stored
    weights are handed over that way, so a model saved with any backbone loads
    on a machine that has never downloaded it. A timm network whose ImageNet
    head was removed for fine-tuning is built without weights and without its
    head instead. Where neither fits (a third-party plugin), the plugin loads
    its own pretrained weights, which the stored ones then replace.
    """
    from sklearn.base import clone

    from ..pretrained.backbones import TimmBackbone

    if isinstance(plugin, TimmBackbone):
        backbone = _timm_without_head(plugin, model_state)
        if backbone is not None:
            return backbone
    if "weights" in plugin.get_params(deep=False):
        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory(prefix="skcnn-load-") as folder:
            path = os.path.join(folder, "backbone.safetensors")
            save_file(model_state, path)
            try:
                return clone(plugin).set_params(weights=path).load()
            except IncompatibleWeightsError:
                pass
    return plugin.load()


def _timm_without_head(plugin, model_state):
    """The timm network of ``plugin`` built without weights and without its classifier,
    when ``model_state`` is exactly that network's (else None)."""
    from .._backbone import Backbone

    arch, tag = plugin._arch_tag()
    model = plugin._create(arch, tag, pretrained=False)
    if not hasattr(model, "reset_classifier"):
        return None
    model.reset_classifier(0)
    own = model.state_dict()
    if set(own) != set(model_state) or any(
            tuple(own[k].shape) != tuple(model_state[k].shape) for k in own):
        return None
    model.load_state_dict(model_state, strict=True)
    layers, default = plugin._layers(model.eval())
    return Backbone(plugin.name, model, plugin.preprocess_config(), default_layer=default,
                    layers=layers)


def _prefixed(tensors, prefix):
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def rebuild(estimator, tensors):
    """Rebuild a fitted estimator's network from its restored attributes and ``tensors``."""
    kind = _kind(estimator)
    if kind in _TRAINED_KINDS:
        _rebuild_trained(estimator, kind, tensors)
    elif kind == "PretrainedFeatures":
        _rebuild_features(estimator, tensors)


_TRAINED_KINDS = ("CNNClassifier", "CNNRegressor", "FineTunedClassifier", "FineTunedRegressor",
                  "TextCNNClassifier")


def _n_outputs(estimator):
    if hasattr(estimator, "classes_"):
        return len(estimator.classes_)
    return int(estimator.n_outputs_)


def _rebuild_trained(estimator, kind, tensors):
    from ..plugins import InputMeta

    # What a warm start compares its parameters with (plugin classes: rebuilt, not stored).
    estimator._built_with = estimator._architecture_signature()

    device = torch.device(restore_device(estimator.device_))
    estimator.device_ = str(device)
    n_outputs = _n_outputs(estimator)
    finetuned = kind.startswith("FineTuned")
    if kind == "TextCNNClassifier":
        from ..text.architectures import TextMeta

        estimator.encoder_ = _text_encoder(estimator.__dict__.get("encoder_"),
                                           estimator.__dict__.get("vocabulary_"))
        # The embeddings start random here; the stored weights replace them.
        meta = TextMeta(vocabulary_size=estimator.encoder_.size,
                        embedding_dim=int(estimator.embedding_dim_), n_outputs=n_outputs,
                        padding_index=0, embedding_matrix=None,
                        freeze_embeddings=estimator.freeze_embeddings,
                        multichannel=estimator.multichannel)
    elif not finetuned:
        meta = InputMeta(*estimator.input_shape_, n_outputs=n_outputs)
    else:
        from ..pretrained.backbones import resolve_backbone

        config = estimator.preprocess_
        _check_views(estimator)
        meta = InputMeta(config.channels, *config.input_size, n_outputs=n_outputs)
        plugin = resolve_backbone(_fitted_backbone(estimator))
        trunk_state = _prefixed(tensors, "trunk.model.")

        class _Stored:
            """The plugin, loading with the stored weights (see _backbone_from)."""

            @staticmethod
            def load():
                return _backbone_from(plugin, trunk_state)

        estimator._plugin = _Stored()
    if not finetuned:
        # The recorded parameters size the network: build it on the meta device first
        # (no memory) so that one whose shapes the stored weights do not have is refused
        # before it is allocated.
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore", UserWarning)
            probe = estimator._build_module(meta)
        check_weights(probe, tensors, type(estimator).__name__)
    try:
        # Warnings about the parameters were given when the model was fitted.
        with seeded(estimator._seed, device), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            net = estimator._build_net(meta, device, estimator._seed)
    finally:
        if finetuned:
            estimator._plugin = plugin
    _load_weights(net.module_, tensors, type(estimator).__name__)
    history = estimator.__dict__.get("history_")
    if history is not None:
        net.history = history
    estimator.history_ = net.history
    estimator.net_ = net


def _rebuild_features(estimator, tensors):
    from torch import nn

    from ..pretrained import cache as _cache
    from ..pretrained.features import GlobalPool

    backbone = _backbone_from(estimator.backbone_, _prefixed(tensors, "0.model."))
    extractor = backbone.feature_extractor(estimator.layer)
    model = nn.Sequential(extractor, GlobalPool(estimator.pooling)).eval()
    _load_weights(model, tensors, "PretrainedFeatures")
    device = restore_device(estimator.device_)
    estimator.device_ = device
    model = model.to(device)
    if estimator.channels_last in (True, "auto"):
        model = model.to(memory_format=torch.channels_last)
    estimator.model_ = model
    estimator._transform_stats = {"n_computed": 0}
    estimator.cache_dir_ = _cache.resolve_cache_dir(estimator.cache)
    estimator._cache_key_settings = None
    if estimator.cache_dir_ is not None:
        estimator._cache_key_settings = estimator.feature_settings_

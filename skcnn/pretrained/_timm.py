"""timm backbones: any timm model as ``"timm:<name>"``, weights from timm, the Hub cache or a file."""

import difflib
import math
import os

from .._backbone import FORWARD_FEATURES, Backbone
from ..exceptions import PluginNotFoundError, WeightsUnavailableError
from ..plugins import PreprocessConfig
from ._library import LibraryModel, is_default_weights
from .weights import (
    NETWORK_ERRORS,
    as_path,
    cached_url_path,
    file_weights_id,
    host_reachable,
    is_weights_path,
    load_into,
    read_state_dict,
    torch_checkpoints_dir,
    weights_unavailable,
)

__all__ = ["TimmBackbone", "check_timm_name"]


def check_timm_name(name):
    import timm

    arch = timm.models.split_model_name_tag(name)[0]
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5)
        hint = f" Close matches: {', '.join(map(repr, close))}." if close else ""
        raise PluginNotFoundError(
            f"Unknown timm model {arch!r}.{hint} timm.list_models() lists all "
            f"{len(timm.list_models())} models."
        )


def _hf_candidates(cfg):
    """(repo id, revision, file names timm would try) for Hub-hosted weights, else None."""
    repo = cfg.get("hf_hub_id")
    if not repo:
        return None
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return None
    repo, _, revision = repo.partition("@")
    filename = cfg.get("hf_hub_filename")
    if filename:
        names = [filename]
        if not filename.endswith(".safetensors"):
            names.insert(0, filename.rsplit(".", 1)[0] + ".safetensors")
    else:
        names = ["model.safetensors", "pytorch_model.bin"]
    return repo, revision or None, names


def _hub_fallback_dir(repo):
    """Folder searched for a manually placed copy of Hub-hosted timm weights."""
    return os.path.join(torch_checkpoints_dir(), *repo.split("/"))


class TimmBackbone(LibraryModel):
    """Any timm model with its pretrained weights.

    Parameters
    ----------
    model_name : str, default="resnet50"
        A timm model name, optionally with a pretrained tag
        (``"convnext_tiny.fb_in1k"``).
    weights : None, str or path-like, default=None
        ``None``: timm's default pretrained weights (or those of the tag in
        ``model_name``); a timm pretrained tag (``"a1_in1k"``); or the path of a
        state-dict / ``.safetensors`` file for the same architecture.

    Weights are looked up in the Hugging Face cache and in
    ``torch.hub.get_dir()/checkpoints`` before they are downloaded.
    """

    source = "timm"
    _library = "timm"

    def _packaged_weights(self):
        """Path of weights shipped in an installed package, or None."""
        return None

    def _arch_tag(self):
        from timm.models import split_model_name_tag

        check_timm_name(self.model_name)
        arch, tag = split_model_name_tag(self.model_name)
        if (isinstance(self.weights, str) and not is_default_weights(self.weights)
                and not is_weights_path(self.weights)):
            tag = self.weights.lstrip(".")
        return arch, tag

    def _pretrained_cfg(self):
        """timm's pretrained config (a dict) for the selected weights, or None."""
        import timm
        from timm.models import get_pretrained_cfg

        arch, tag = self._arch_tag()
        try:
            cfg = get_pretrained_cfg(f"{arch}.{tag}" if tag else arch)
        except RuntimeError as exc:  # unknown tag
            raise WeightsUnavailableError(
                f"weights={self.weights!r} is neither an existing file nor a pretrained tag of "
                f"timm's {arch} (valid tags: "
                f"{', '.join(n.partition('.')[2] for n in timm.list_pretrained(arch + '.*'))})."
            ) from exc
        return cfg.to_dict() if cfg is not None else None

    def _weights_path(self):
        return as_path(self.weights) if is_weights_path(self.weights) else None

    def _cached_file(self, cfg):
        """The cached weights file for ``cfg`` (Hugging Face or torch hub cache), or None."""
        if not cfg:
            return None
        hub = _hf_candidates(cfg)
        if hub is not None:
            from huggingface_hub import try_to_load_from_cache

            repo, revision, names = hub
            for filename in names:
                found = try_to_load_from_cache(repo, filename, revision=revision)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
            for filename in names:
                placed = os.path.join(_hub_fallback_dir(repo), filename)
                if os.path.isfile(placed):
                    return placed
        if cfg.get("url"):
            path = cached_url_path(cfg["url"])
            if os.path.isfile(path):
                return path
        return None

    def cached_weights_path(self):
        """The file :meth:`load` would read without network, or None when there is none."""
        path = self._weights_path()
        if path is not None:
            return path
        if is_default_weights(self.weights) and self._packaged_weights():
            return self._packaged_weights()
        return self._cached_file(self._pretrained_cfg())

    def weights_available_offline(self):
        try:
            path = self.cached_weights_path()
        except Exception:
            return False
        return path is not None and os.path.isfile(path)

    def weights_id(self):
        path = self._weights_path()
        if path is not None:
            return file_weights_id(path) if os.path.isfile(path) else f"file:{path}"
        arch, tag = self._arch_tag()
        if not tag:
            cfg = self._pretrained_cfg()
            tag = (cfg or {}).get("tag") or ""
        return f"timm:{arch}.{tag}" if tag else f"timm:{arch}"

    def preprocess_config(self):
        from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        cfg = self._pretrained_cfg() or {}
        _, height, width = cfg.get("input_size") or (3, 224, 224)
        crop_pct = cfg.get("crop_pct") or 0.875
        interpolation = cfg.get("interpolation") or "bicubic"
        if interpolation not in ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"):
            interpolation = "bicubic"
        return PreprocessConfig(
            input_size=(height, width),
            resize_size=math.floor(min(height, width) / crop_pct),
            mean=tuple(cfg.get("mean") or IMAGENET_DEFAULT_MEAN),
            std=tuple(cfg.get("std") or IMAGENET_DEFAULT_STD),
            interpolation=interpolation,
        )

    def _convert(self, state, model, source):
        """Hook: turn a state dict read from a file into ``model``'s naming."""
        return state

    def _class_names(self, cfg, model):
        from .imagenet import imagenet_class_names

        if cfg and cfg.get("label_names"):
            return list(cfg["label_names"])
        if getattr(model, "num_classes", None) == 1000:
            return imagenet_class_names()
        return None

    def _create(self, arch, tag, **kwargs):
        import timm

        return timm.create_model(f"{arch}.{tag}" if tag else arch, **kwargs)

    def _build(self, cfg):
        arch, tag = self._arch_tag()
        path = self._weights_path()
        if path is None and is_default_weights(self.weights) and self._packaged_weights():
            path = self._packaged_weights()
        if path is not None:
            state = read_state_dict(path, self.name)
            model = self._create(arch, tag, pretrained=False)
            state = self._convert(state, model, f"file {path!r}")
            return load_into(model, state, f"file {path!r}", self.name)

        if cfg is None:
            raise WeightsUnavailableError(
                f"timm has no pretrained weights for {arch!r}; pass weights='/path/to/file' or "
                "choose another model."
            )
        cached = self._cached_file(cfg)
        if cached is not None:
            # timm's own loading (checkpoint filters included) from the cached file.
            return self._create(arch, tag, pretrained=True,
                                pretrained_cfg_overlay=dict(file=cached))
        return self._download(arch, tag, cfg)

    def _download(self, arch, tag, cfg):
        hub = _hf_candidates(cfg)
        url = cfg.get("url")
        extra = ""
        if hub is not None:
            from huggingface_hub import constants

            repo, revision, names = hub
            hub_url = f"{constants.ENDPOINT}/{repo}/resolve/{revision or 'main'}/{names[0]}"
            extra = (
                f" On a machine with network, `hf download {repo}` fills the Hugging Face cache "
                f"({constants.HF_HUB_CACHE}), which is searched too."
            )
            # The Hub client retries for most of a minute when offline: try one connection first.
            probe = f"{constants.ENDPOINT}/"
        else:
            probe = url
        if url:
            file_name, folder, source = os.path.basename(url), torch_checkpoints_dir(), url
        elif hub is not None:
            file_name, folder, source = names[0], _hub_fallback_dir(repo), hub_url
        else:
            raise WeightsUnavailableError(
                f"timm lists no download location for the {arch} weights; pass "
                "weights='/path/to/file'."
            )
        error = host_reachable(probe)
        if error is None:
            try:
                return self._create(arch, tag, pretrained=True)
            except NETWORK_ERRORS as exc:
                error = exc
            except Exception as exc:  # httpx and huggingface_hub errors are not all OSErrors
                module = type(exc).__module__
                if not module.startswith(("huggingface_hub", "httpx", "requests", "urllib3")):
                    raise
                error = exc
        raise weights_unavailable(
            self.name, f"timm {arch}.{cfg.get('tag') or tag}", file_name, folder,
            url=source, cause=error, extra=extra,
        ) from error

    def _layers(self, model):
        info = getattr(model, "feature_info", None)
        if info is None:
            return None, None
        names = [entry["module"] for entry in info]
        return names + [FORWARD_FEATURES], FORWARD_FEATURES

    def load(self):
        cfg = self._pretrained_cfg()
        model = self._build(cfg).eval()
        layers, default = self._layers(model)
        return Backbone(
            self.name,
            model,
            self.preprocess_config(),
            class_names=self._class_names(cfg, model),
            default_layer=default,
            layers=layers,
            weights_id=self.weights_id(),
        )

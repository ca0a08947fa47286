"""Finding, reading and checking pretrained weights.

Weights are resolved in this order (see the backbone plugins in
:mod:`skcnn.pretrained.backbones`):

1. weights that ship inside an installed package (``efficientnet_lite0``);
2. ``weights=``: a state-dict file, or a torchvision/timm weights name;
3. the local cache: ``torch.hub.get_dir()/checkpoints/<file>`` (honours
   ``TORCH_HOME``) for torchvision and URL-hosted timm weights, the Hugging
   Face cache for Hub-hosted timm weights;
4. a download, when the machine is online.

Offline, with nothing cached, loading raises
:class:`~skcnn.exceptions.WeightsUnavailableError` naming the file to fetch
and the folder to put it in. "Offline" is detected by trying: the download
(or, for the Hugging Face Hub, which retries for most of a minute, one quick
connection to it) fails with a network error.
"""

import http.client
import os
import socket
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import torch

from ..exceptions import IncompatibleWeightsError, WeightsUnavailableError

__all__ = [
    "NETWORK_ERRORS",
    "OFFLINE_BACKBONE",
    "is_weights_path",
    "file_weights_id",
    "read_state_dict",
    "load_into",
    "map_positionally",
    "torch_checkpoints_dir",
    "cached_url_path",
    "weights_unavailable",
    "host_reachable",
    "as_path",
]

#: Backbone suggested when weights cannot be had offline.
OFFLINE_BACKBONE = "efficientnet_lite0"

#: Errors that mean "the download did not happen because there is no network".
NETWORK_ERRORS = (
    urllib.error.URLError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    socket.timeout,
    http.client.HTTPException,
    OSError,
)

_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt", ".tar", ".pkl")


def is_weights_path(weights):
    """Whether ``weights`` names a file rather than a weights variant."""
    if isinstance(weights, os.PathLike):
        return True
    if not isinstance(weights, str):
        return False
    return (
        os.sep in weights
        or "/" in weights
        or weights.lower().endswith(_WEIGHT_SUFFIXES)
        or os.path.exists(weights)
    )


def file_weights_id(path):
    """``file:<absolute path>:<size>:<mtime_ns>``: changes whenever the file does."""
    path = os.path.abspath(os.fspath(path))
    stat = os.stat(path)
    return f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _check_file(path, backbone):
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is a directory, not a file" if os.path.isdir(path) else "does not exist"
        raise WeightsUnavailableError(
            f"weights={path!r} for backbone {backbone!r} {what}. Pass the path of a state-dict "
            "file saved with torch.save(model.state_dict(), path), a weights name, or "
            "weights=None for the default pretrained weights."
        )
    return path


def read_state_dict(path, backbone="this backbone"):
    """Read a state dict (``torch.save`` or ``.safetensors`` file) on the CPU.

    Checkpoints that wrap the state dict (``{"state_dict": ...}``,
    ``{"model": ...}``) are unwrapped, and the ``module.`` prefix that
    ``DataParallel`` adds is removed.
    """
    path = _check_file(path, backbone)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise IncompatibleWeightsError(
            f"Could not read weights file {path!r} ({type(exc).__name__}: {exc}). It must be a "
            "state dict saved with torch.save(model.state_dict(), path) or a .safetensors file; "
            "whole pickled models are not loaded, for safety."
        ) from exc
    for key in ("state_dict", "model_state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            if not all(isinstance(v, torch.Tensor) for v in state.values()):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise IncompatibleWeightsError(
            f"Weights file {path!r} does not hold a state dict (a mapping of parameter names to "
            f"tensors); got {type(state).__name__}. Save it with "
            "torch.save(model.state_dict(), path)."
        )
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _summarise(keys, limit=5):
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def state_differences(model, state_dict):
    """How ``state_dict`` differs from ``model``'s own by name and shape, as phrases (empty: fits)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [
        k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_summarise(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_summarise(unexpected)})")
    if wrong:
        k = wrong[0]
        parts.append(
            f"{len(wrong)} with other shapes (e.g. {k}: {tuple(state_dict[k].shape)} in the "
            f"file, {tuple(own[k].shape)} in the network)"
        )
    return parts


def load_into(model, state_dict, source, backbone):
    """``model.load_state_dict(state_dict)`` (strict) with an error that says what differs."""
    parts = state_differences(model, state_dict)
    if parts:
        raise IncompatibleWeightsError(
            f"The weights in {source} do not fit backbone {backbone!r}: keys "
            f"{'; '.join(parts)}. Pass weights saved from the same architecture "
            f"({type(model).__name__})."
        )
    model.load_state_dict(state_dict, strict=True)
    return model


def map_positionally(state_dict, model, source, backbone):
    """Rename ``state_dict``'s entries to ``model``'s names by position.

    For checkpoints of the same network written by another implementation:
    the parameters and buffers are in the same order with different names.
    Every pair of shapes is checked, and the first mismatch is reported.
    """
    target = model.state_dict()
    if len(state_dict) != len(target):
        raise IncompatibleWeightsError(
            f"The weights in {source} have {len(state_dict)} entries but backbone {backbone!r} "
            f"({type(model).__name__}) has {len(target)}; they are not the same network."
        )
    mapped = {}
    pairs = zip(state_dict.items(), target.items())
    for i, ((src_key, value), (dst_key, ref)) in enumerate(pairs):
        if tuple(value.shape) != tuple(ref.shape):
            raise IncompatibleWeightsError(
                f"The weights in {source} do not fit backbone {backbone!r}: entry {i} "
                f"{src_key!r} has shape {tuple(value.shape)}, but the network's entry {i} "
                f"{dst_key!r} has shape {tuple(ref.shape)}."
            )
        mapped[dst_key] = value
    return mapped


def torch_checkpoints_dir():
    """``torch.hub.get_dir()/checkpoints``: where torchvision caches downloads (honours
    ``TORCH_HOME``)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def cached_url_path(url):
    """The file ``torch.hub.load_state_dict_from_url(url)`` reads or writes."""
    return os.path.join(torch_checkpoints_dir(), os.path.basename(urlparse(url).path))


def weights_unavailable(backbone, what, file_name, folder, url=None, cause=None, extra=""):
    """Build the :class:`WeightsUnavailableError` for weights that cannot be had offline."""
    because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    source = f" from {url}" if url else ""
    return WeightsUnavailableError(
        f"The {what} weights of backbone {backbone!r} are not on this machine and could not be "
        f"downloaded{source}{because}. Put the file {file_name!r} in the folder "
        f"{os.fspath(folder)!r} (it is the local cache that is searched before downloading), "
        f"or pass its path as weights='/path/to/{file_name}'.{extra} Or use "
        f"backbone={OFFLINE_BACKBONE!r}, whose weights ship in an installed package and work "
        "offline."
    )


def host_reachable(url, timeout=3.0):
    """Try one TCP connection to ``url``'s host; return the error, or None if it worked."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        conn = socket.create_connection((parsed.hostname, port), timeout=timeout)
    except NETWORK_ERRORS as exc:
        return exc
    conn.close()
    return None


def as_path(weights):
    """``weights`` as an absolute path string."""
    return os.path.abspath(os.fspath(Path(weights).expanduser()))

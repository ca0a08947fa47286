"""The machine as skcnn sees it: torch build, GPUs, bfloat16, threads, offline weights, Jupyter.

Every decision is the one :mod:`skcnn.utils` makes for the estimators; this
module only reports it. torch is imported inside a ``try``.
"""

import os
import warnings

from ..utils import _hardware as hardware
from . import _packages

__all__ = ["probe_torch", "check_gpus", "check_bfloat16", "check_threads", "check_backbones",
           "check_jupyter"]

_JUPYTER = ("ipykernel", "jupyter", "notebook", "jupyterlab")


# --------------------------------------------------------------------------- torch


def _import_torch():
    """``(torch module or None, error text or None)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
    except Exception as exc:  # ImportError, but also a broken CUDA library (OSError)
        return None, f"{type(exc).__name__}: {exc}"
    return torch, None


def _cudnn_version(number):
    """``92400`` -> ``"9.24.0"`` (cuDNN 9 numbers as M*10000 + m*100 + p, older as M*1000 + ...)."""
    if not number:
        return None
    major, rest = divmod(number, 10000 if number >= 90000 else 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def probe_torch():
    """Import torch and describe its build.

    Returns
    -------
    dict
        ``importable`` and ``error``; when importable also ``version``,
        ``cuda`` (the CUDA version torch was built with, or None), ``hip`` (ROCm),
        ``cudnn``, ``build`` (a sentence) and ``mps_available``.
    """
    torch, error = _import_torch()
    if torch is None:
        return dict(importable=False, error=error)
    cuda = getattr(torch.version, "cuda", None)
    hip = getattr(torch.version, "hip", None)
    try:
        cudnn = _cudnn_version(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() \
            else None
    except Exception:
        cudnn = None
    if hip:
        build = f"ROCm {hip}"
    elif cuda:
        build = f"CUDA {cuda}" + (f", cuDNN {cudnn}" if cudnn else "")
    else:
        build = "CPU-only"
    try:
        mps = bool(torch.backends.mps.is_available())
    except Exception:
        mps = False
    return dict(importable=True, error=None, version=torch.__version__, cuda=cuda, hip=hip,
                cudnn=cudnn, build=build, mps_available=mps)


def check_gpus():
    """The GPUs torch can use.

    Returns
    -------
    dict
        ``available`` (``torch.cuda.is_available()``), ``count``, ``devices``
        (``index``, ``name``, ``memory_gib``, ``capability``) and ``error`` (why
        CUDA could not be used, when torch said so).
    """
    torch, error = _import_torch()
    if torch is None:
        return dict(available=False, count=0, devices=[], error=error)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            available = bool(torch.cuda.is_available())
        except Exception as exc:
            return dict(available=False, count=0, devices=[], error=f"{type(exc).__name__}: {exc}")
    error = "; ".join(str(w.message) for w in caught) or None
    devices = []
    for index in range(torch.cuda.device_count() if available else 0):
        props = torch.cuda.get_device_properties(index)
        devices.append(dict(index=index, name=props.name,
                            memory_gib=round(props.total_memory / 2 ** 30, 1),
                            capability=f"{props.major}.{props.minor}"))
    return dict(available=available, count=len(devices), devices=devices, error=error)


def check_bfloat16(gpus=None):
    """Whether bfloat16 is fast on this CPU and on each GPU, and how that was decided.

    Parameters
    ----------
    gpus : dict, optional
        The result of :func:`check_gpus` (computed when not given).

    Returns
    -------
    dict
        ``cpu``: ``fast`` (True, False or None when unknown), ``capability`` and
        ``how``; ``gpus``: one ``{index, name, fast, how}`` per GPU. On the CPU,
        bfloat16 is fast with the avx512_bf16 or AMX instructions (or ARM's
        bf16); otherwise torch emulates it, slower than float32.
    """
    torch, _ = _import_torch()
    gpus = gpus if gpus is not None else check_gpus()
    return dict(cpu=hardware.bfloat16_support("cpu", torch),
                gpus=[dict(index=gpu["index"], name=gpu["name"],
                           **hardware.bfloat16_support(gpu["index"], torch,
                                                        capability=gpu["capability"]))
                      for gpu in gpus["devices"]])


def check_threads():
    """The number of threads torch uses and the CPUs this process may use.

    Returns
    -------
    dict
        ``torch_threads`` and ``torch_interop_threads`` (None without torch),
        ``cpu_count`` (``os.cpu_count()``), ``affinity`` (CPUs this process may
        run on), ``cgroup_cpus`` (container quota), the thread environment
        variables that are set, and ``advice`` when torch uses more threads than
        there are usable CPUs.
    """
    torch, _ = _import_torch()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info = dict(
        torch_threads=torch.get_num_threads() if torch is not None else None,
        torch_interop_threads=torch.get_num_interop_threads() if torch is not None else None,
        cpu_count=os.cpu_count(), affinity=affinity, cgroup_cpus=hardware.cgroup_cpu_quota(),
        environment={key: os.environ[key] for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                     if key in os.environ},
    )
    info["usable_cpus"] = hardware.usable_cpus()
    info["advice"] = None
    if info["torch_threads"] and info["usable_cpus"] and info["torch_threads"] > info["usable_cpus"]:
        info["advice"] = (f"torch uses {info['torch_threads']} threads on {info['usable_cpus']} "
                          f"usable CPUs: set OMP_NUM_THREADS={info['usable_cpus']} or call "
                          f"torch.set_num_threads({info['usable_cpus']})")
    return info


# --------------------------------------------------------------------------- weights, jupyter


def _weights_folders():
    folders = {}
    try:
        from ..pretrained.weights import torch_checkpoints_dir

        folders["torch_hub"] = torch_checkpoints_dir()
    except Exception:
        pass
    try:
        from huggingface_hub import constants

        folders["huggingface"] = constants.HF_HUB_CACHE
    except Exception:
        pass
    return folders


def check_backbones():
    """Which registered backbones have their weights on this machine now.

    Nothing is downloaded: each backbone plugin's ``weights_available_offline()``
    only looks at the package that ships the weights (``efficientnet_lite0``),
    the torch hub cache and the Hugging Face cache.

    Returns
    -------
    dict
        ``offline`` and ``download`` (backbone names), ``folders`` (the caches
        searched) and ``error`` (why the backbones could not be listed, e.g.
        torch is missing).
    """
    try:
        from ..pretrained.backbones import list_backbones

        rows = list_backbones()
    except Exception as exc:
        return dict(offline=[], download=[], folders={}, error=f"{type(exc).__name__}: {exc}")
    return dict(offline=[r["name"] for r in rows if r["weights_available_offline"]],
                download=[r["name"] for r in rows if not r["weights_available_offline"]],
                folders=_weights_folders(), error=None)


def check_jupyter():
    """The installed versions of ``ipykernel``, ``jupyter``, ``notebook`` and ``jupyterlab``.

    Returns
    -------
    dict
        ``packages`` (name -> version or None) and ``installed`` (whether any
        of them is).
    """
    packages = {name: _packages.installed_version(name) for name in _JUPYTER}
    return dict(packages=packages, installed=any(packages.values()))

"""Every hardware decision skcnn makes: device, precision, usable CPUs, worker counts.

``skcnn doctor`` reports what these functions decide, so the report and the
estimators cannot disagree. torch is imported inside the functions that need
it: the CPU functions work (and ``skcnn doctor`` runs) without it.
"""

import multiprocessing
import os

__all__ = ["resolve_device", "restore_device", "assigned_cuda_index", "release_device_memory",
           "PRECISIONS", "resolve_precision", "bfloat16_support", "usable_cpus",
           "cgroup_cpu_quota", "thread_share", "default_num_workers", "cpu_model_threads"]

# --------------------------------------------------------------------------- devices


def resolve_device(device):
    """Turn ``'auto'`` into the best available device: CUDA, then MPS, then CPU.

    With several GPUs, ``'auto'`` picks this process's own GPU (see
    :func:`assigned_cuda_index`), so parallel fits spread over the GPUs
    instead of piling onto GPU 0. Any other value is returned as a
    :class:`torch.device` after checking that it exists on this machine.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", assigned_cuda_index())
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows. Use 'auto' (the best available), "
            "'cpu', 'cuda', 'cuda:<index>' or 'mps'.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine. "
            "Use device='auto' (picks the best available) or device='cpu'."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} does not exist: this machine has {torch.cuda.device_count()} "
            "visible GPU(s). Use device='cuda' or device='auto'.")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} was requested but MPS is not available here. "
                             "Use device='auto' or device='cpu'.")
    return dev


def restore_device(recorded):
    """The device to restore an estimator onto that was fitted (or pickled) on ``recorded``.

    ``device_`` records the GPU a fit used, e.g. ``"cuda:3"`` when ``device='auto'``
    picked the process's own GPU on a multi-GPU host. Unpickled on a machine
    with fewer GPUs (or gathered to a Dask client with one), that index does not
    exist: the current CUDA device (``"cuda"``) is used instead. Without CUDA
    (or MPS) it is the CPU. Any other device is kept.

    Parameters
    ----------
    recorded : str, torch.device or None
        The recorded device.

    Returns
    -------
    str or None
        The device to use here (None when ``recorded`` is None).
    """
    if recorded is None:
        return None
    import torch

    device = torch.device(recorded)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return "cpu"
        if device.index is not None and device.index >= torch.cuda.device_count():
            return "cuda"
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return "cpu"
    return str(device)


def assigned_cuda_index():
    """The CUDA device this process should use when told ``device='auto'``.

    In order:

    1. ``SKCNN_CUDA_DEVICE=<index>`` in the environment, if set.
    2. Only one GPU visible (e.g. ``CUDA_VISIBLE_DEVICES=2`` set by the user
       or a job scheduler): that one.
    3. Inside a Dask worker with ``CUDA_VISIBLE_DEVICES`` set (dask-cuda's
       ``LocalCUDACluster`` lists each worker's own GPU first): index 0.
    4. Inside a Dask worker whose name is a number (``LocalCluster`` names
       them 0, 1, ...): that number modulo the GPU count.
    5. Otherwise (joblib's loky workers in ``GridSearchCV(n_jobs=...)``, or a
       job that sees several GPUs): the GPU with the most free memory,
       rounded to 1 GiB, as NVML reports it (``pip install nvidia-ml-py``;
       asking NVML creates no CUDA context); ties, or no NVML, go by
       ``pid % n_gpus``, so workers started together spread out.
    """
    import torch

    from ._dask import current_dask_worker, dask_worker_slot

    n_gpus = torch.cuda.device_count()
    override = os.environ.get("SKCNN_CUDA_DEVICE", "").strip()
    if override:
        if not override.isdigit() or int(override) >= n_gpus:
            raise ValueError(
                f"SKCNN_CUDA_DEVICE={override!r} is not a GPU index on this machine "
                f"({n_gpus} visible). Set it to 0..{n_gpus - 1} or unset it.")
        return int(override)
    if n_gpus <= 1:
        return 0
    worker = current_dask_worker()
    if worker is not None and os.environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        return 0
    slot = dask_worker_slot(worker)
    if slot is not None:
        return slot % n_gpus
    free = _free_gib_per_gpu(n_gpus) or [0] * n_gpus
    start = os.getpid() % n_gpus
    order = [(start + k) % n_gpus for k in range(n_gpus)]
    return max(order, key=lambda i: (free[i], -order.index(i)))


def _free_gib_per_gpu(n_gpus):
    """Free memory of each GPU in GiB from NVML, or None where NVML is not available.

    Assumes NVML's order is CUDA's (true when the GPUs are all of one model,
    or with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``); only used without
    ``CUDA_VISIBLE_DEVICES``.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        return None  # NVML numbers all GPUs, CUDA only the visible ones
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return [pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).free
                    >> 30 for i in range(n_gpus)]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no pynvml, no driver library, fewer NVML devices: fall back
        return None


def release_device_memory(device):
    """Give cached GPU memory back to the driver after a fit or an extraction ends."""
    import torch

    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- precision

#: The names ``precision=`` accepts besides ``'auto'``.
PRECISIONS = ("float32", "bfloat16", "float16")


def _cpu_flags():
    """The CPU feature flags of /proc/cpuinfo (x86 ``flags``, ARM ``Features``), or None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        return None
    return None


def _torch_cpu_bf16(torch):
    """(fast or None, how) from torch's own CPU checks (private helpers, when present)."""
    cpu = getattr(torch, "cpu", None)
    checks = [(name, getattr(cpu, name, None))
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [(name, fn) for name, fn in checks if callable(fn)]
    if not checks:
        return None, ""
    results = {name: bool(fn()) for name, fn in checks}
    shown = ", ".join(f"torch.cpu.{name}() is {value}" for name, value in results.items())
    return any(results.values()), shown


def _cpu_bfloat16(torch):
    capability = None
    if torch is not None:
        try:
            capability = torch.backends.cpu.get_cpu_capability()
        except Exception:
            capability = None
    flags = _cpu_flags()
    how, fast = [], None
    if flags is not None:
        found = sorted(flags & {"avx512_bf16", "amx_bf16", "bf16"})
        fast = bool(found)
        how.append(f"/proc/cpuinfo flags: {', '.join(found)}" if found
                   else "/proc/cpuinfo has none of the flags avx512_bf16, amx_bf16 (x86), bf16 (ARM)")
    if torch is not None:
        torch_fast, shown = _torch_cpu_bf16(torch)
        if shown:
            how.append(shown)
            fast = torch_fast if fast is None else (fast or torch_fast)
    if capability:
        how.append(f"torch CPU capability {capability}")
    if fast is None:
        how.append("no CPU flags could be read")
    return dict(fast=fast, capability=capability, how="; ".join(how))


def _cuda_bfloat16(torch, index, capability=None):
    if torch is not None and getattr(getattr(torch, "version", None), "hip", None):
        try:
            with torch.cuda.device(index):
                fast = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # torch without the including_emulation argument
            fast = bool(torch.cuda.is_bf16_supported())
        except Exception:
            fast = None
        return dict(fast=fast, capability=None,
                    how="torch.cuda.is_bf16_supported(including_emulation=False) (ROCm)")
    if capability is None:
        major, minor = torch.cuda.get_device_capability(index)
    else:
        major, minor = (int(part) for part in str(capability).split(".")[:2])
    return dict(fast=major >= 8, capability=f"{major}.{minor}",
                how=f"compute capability {major}.{minor} {'>=' if major >= 8 else '<'} 8.0 "
                    "(Ampere and newer have bfloat16 tensor cores)")


def bfloat16_support(device="cpu", torch=None, capability=None):
    """Whether ``device`` computes bfloat16 natively (fast), and how that was decided.

    On the CPU bfloat16 is fast with the avx512_bf16 or AMX instructions (or
    ARM's bf16); otherwise torch emulates it, slower than float32. On NVIDIA
    GPUs it is fast from compute capability 8.0 (Ampere) on: older GPUs such as
    the T4 or V100 only emulate it, although ``torch.cuda.is_bf16_supported()``
    says True for them by default.

    Parameters
    ----------
    device : str, int or torch.device, default='cpu'
        ``'cpu'``, a CUDA device or a CUDA device index.
    torch : module, optional
        The torch module (imported when not given; None is allowed for the CPU,
        where the CPU flags alone then decide).
    capability : str, optional
        The CUDA compute capability (``"8.0"``) when it is known already;
        asked of torch otherwise.

    Returns
    -------
    dict
        ``fast`` (True, False or None when unknown), ``capability`` and ``how``.
    """
    if isinstance(device, int):
        return _cuda_bfloat16(torch, device, capability)
    if torch is None and device != "cpu":
        import torch
    if torch is not None:
        device = torch.device(device)
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            return _cuda_bfloat16(torch, index, capability)
        if device.type != "cpu":
            return dict(fast=None, capability=None, how=f"not known for {device.type}")
    return _cpu_bfloat16(torch)


def resolve_precision(precision, device):
    """The torch dtype to compute in: ``'auto'`` picks it from the device's capability.

    ``'auto'`` is bfloat16 on a GPU with native bfloat16 (:func:`bfloat16_support`),
    float16 on other GPUs (trained with a gradient scaler), and float32 on the
    CPU and elsewhere: on CPUs reduced precision is rarely faster for
    convolutions and costs accuracy, so it is used there only when asked for.
    """
    import torch

    if precision != "auto":
        return getattr(torch, precision)
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if bfloat16_support(device, torch)["fast"] else torch.float16
    return torch.float32


# --------------------------------------------------------------------------- CPUs and workers


def cgroup_cpu_quota():
    """The CPU quota of this container (cgroup v2 or v1), in CPUs, or None when unlimited."""
    candidates = [("/sys/fs/cgroup/cpu.max", None),
                  ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")]
    for quota_file, period_file in candidates:
        try:
            with open(quota_file, encoding="ascii") as f:
                parts = f.read().split()
            if period_file:
                with open(period_file, encoding="ascii") as f:
                    parts.append(f.read().strip())
        except OSError:
            continue
        if len(parts) < 2 or parts[0] in ("max", "-1"):
            return None
        try:
            return round(int(parts[0]) / int(parts[1]), 2)
        except (ValueError, ZeroDivisionError):
            return None
    return None


def _affinity():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def usable_cpus():
    """CPUs this process may use: the least of the CPU count, its affinity and the container quota.

    A fractional quota rounds down, at least 1.
    """
    limits = [n for n in (os.cpu_count(), _affinity(), cgroup_cpu_quota()) if n]
    return int(max(1, min(limits))) if limits else 1


def thread_share(cores, slots):
    """``cores // slots``, at least 1."""
    return max(1, int(cores) // max(1, int(slots)))


def default_num_workers(n_items, batch_size):
    """Image-decoding processes for a DataLoader: only when there is enough work to pay for them.

    Up to 4, leaving one usable CPU for the network; none for fewer than four
    batches, and never inside a daemonic process (a Dask worker, a
    multiprocessing pool): those may not start children.
    """
    if n_items < 4 * batch_size or multiprocessing.current_process().daemon:
        return 0
    return max(1, min(4, usable_cpus() - 1))


def cpu_model_threads(n_jobs=None):
    """Threads for a CPU model that runs beside others (XGBoost in a comparison).

    Half the usable CPUs, at least 1: OpenMP threads that spin-wait for a core
    another process is using make XGBoost many times slower on small shared
    machines; leaving a core free avoids that. With parallel folds
    (``n_jobs`` other than None or 1) each fold gets one thread.
    """
    if n_jobs not in (None, 1):
        return 1
    return max(1, usable_cpus() // 2)

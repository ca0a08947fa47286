"""Helpers every skcnn estimator shares: device choice, seeding, threads."""

import os
import sys
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["resolve_device", "restore_device", "assigned_cuda_index", "release_device_memory",
           "seed_from", "seeded", "limit_torch_threads", "dask_thread_share", "available_cores",
           "thread_share", "restore_large_allocations"]


def resolve_device(device):
    """Turn ``'auto'`` into the best available device: CUDA, then MPS, then CPU.

    With several GPUs, ``'auto'`` picks this process's own GPU (see
    :func:`assigned_cuda_index`), so parallel fits spread over the GPUs
    instead of piling onto GPU 0. Any other value is returned as a
    :class:`torch.device` after checking that it exists on this machine.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", assigned_cuda_index())
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine. "
            "Use device='auto' (picks the best available) or device='cpu'."
        )
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
    worker = _current_dask_worker()
    if worker is not None and os.environ.get("CUDA_VISIBLE_DEVICES", "").strip():
        return 0
    slot = _dask_worker_slot(worker)
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


def _current_dask_worker():
    """The Dask worker running this code, or None (never imports Dask)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker()
    except (ValueError, AttributeError):
        return None


def _dask_worker_slot(worker):
    """A Dask worker's number (LocalCluster names them 0, 1, ...), or None."""
    if worker is None:
        return None
    name = str(getattr(worker, "name", ""))
    return int(name) if name.isdigit() else None


def release_device_memory(device):
    """Give cached GPU memory back to the driver after a fit or an extraction ends."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def seed_from(random_state):
    """Draw a 32-bit seed from anything ``check_random_state`` accepts."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextmanager
def seeded(seed, device=None):
    """Run the block with torch's global RNGs seeded, then restore them.

    Dropout and weight initialisation use torch's global generator; forking
    it keeps ``fit`` reproducible without changing the caller's RNG state.
    """
    devices = []
    if device is not None and torch.device(device).type == "cuda":
        devices = [torch.device(device).index or 0]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def limit_torch_threads():
    """Give torch this process's share of the cores when it runs inside a Dask worker.

    Dask starts its workers with ``OMP_NUM_THREADS=1``, which would leave
    most cores idle on a machine with more cores than worker threads; the
    share is computed from the cluster (:func:`dask_thread_share`). Outside
    Dask nothing changes: joblib's loky workers are started with
    ``OMP_NUM_THREADS`` set to their share, which torch reads when it is
    imported, and a later change of the variable (starting a ``LocalCluster``
    sets it to 1 in the calling process) must not cap this process's own
    fits. Returns the thread count in use.
    """
    share = dask_thread_share()
    if share is not None and share != torch.get_num_threads():
        torch.set_num_threads(share)
    return torch.get_num_threads()


_THREAD_SHARES = {}


def dask_thread_share():
    """Torch threads for one task in this Dask worker, or None outside Dask.

    The cores this process may use, divided by the task slots (``nthreads``)
    of all the workers on the same host, at least 1: two workers with one
    thread each on a 16-core machine get 8 threads per task. Asked of the
    scheduler once per worker process, which is also when the worker's
    allocator is set up for large tensors (:func:`restore_large_allocations`).
    """
    worker = _current_dask_worker()
    if worker is None:
        return None
    key = (id(worker), getattr(worker, "address", None))
    if key not in _THREAD_SHARES:
        slots = None
        try:
            from distributed import get_client

            info = get_client().scheduler_info(n_workers=-1)["workers"].values()
            host = worker.address.rsplit(":", 1)[0]
            slots = sum(w["nthreads"] for w in info if w["host"] == host.split("://")[-1])
        except Exception:  # a scheduler that cannot be asked: this worker's own slots
            pass
        slots = slots or getattr(worker.state, "nthreads", None) or getattr(worker, "nthreads", 1)
        _THREAD_SHARES[key] = thread_share(available_cores(), slots)
        restore_large_allocations()
    return _THREAD_SHARES[key]


def restore_large_allocations():
    """Let glibc keep large freed blocks for reuse again in a Dask worker.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; any
    such setting also switches off glibc's adaptive ``mmap`` threshold, so
    every activation tensor over 128 KiB is mapped and unmapped by the kernel
    again at each layer, which made a CNN forward pass about 30% slower
    (benchmarks/dask_extract.py). Raising the mmap threshold to 256 MiB
    (32 MiB where glibc refuses more) serves those tensors from the heap.
    Left alone when ``MALLOC_MMAP_THRESHOLD_`` is set (your choice wins), when
    the trim threshold is not set, or off glibc. Returns True if it changed
    the setting.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_mmap_threshold = -3
    return any(mallopt(m_mmap_threshold, size) == 1 for size in (256 << 20, 32 << 20))


def available_cores():
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_share(cores, slots):
    """``cores // slots``, at least 1."""
    return max(1, int(cores) // max(1, int(slots)))


def as_numpy(tensor):
    """Detach a tensor to a NumPy array on the CPU."""
    return tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else np.asarray(tensor)

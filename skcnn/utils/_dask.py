"""What changes when skcnn code runs inside a Dask worker: thread share, allocator, GPU slot.

Nothing here imports Dask: a worker is recognised through ``sys.modules``.
"""

import os
import sys

from ._hardware import thread_share, usable_cpus

__all__ = ["current_dask_worker", "dask_worker_slot", "limit_torch_threads", "dask_thread_share",
           "restore_large_allocations"]


def current_dask_worker():
    """The Dask worker running this code, or None (never imports Dask)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker()
    except (ValueError, AttributeError):
        return None


def dask_worker_slot(worker):
    """A Dask worker's number (LocalCluster names them 0, 1, ...), or None."""
    if worker is None:
        return None
    name = str(getattr(worker, "name", ""))
    return int(name) if name.isdigit() else None


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
    import torch

    share = dask_thread_share()
    if share is not None and share != torch.get_num_threads():
        torch.set_num_threads(share)
    return torch.get_num_threads()


_THREAD_SHARES = {}


def dask_thread_share():
    """Torch threads for one task in this Dask worker, or None outside Dask.

    The CPUs this process may use (:func:`~skcnn.utils.usable_cpus`), divided
    by the task slots (``nthreads``) of all the workers on the same host, at
    least 1: two workers with one thread each on a 16-core machine get 8
    threads per task. Asked of the scheduler once per worker process, which
    is also when the worker's allocator is set up for large tensors
    (:func:`restore_large_allocations`).
    """
    worker = current_dask_worker()
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
        _THREAD_SHARES[key] = thread_share(usable_cpus(), slots)
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

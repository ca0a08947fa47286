"""Helpers every part of skcnn shares, each decision in one place.

* :mod:`skcnn.utils._hardware`: which device, which precision, how many CPUs and
  worker processes (``skcnn doctor`` reports what these functions decide).
* :mod:`skcnn.utils._dask`: what changes inside a Dask worker (thread share,
  allocator settings, the worker's GPU slot).
* :mod:`skcnn.utils._random`: seeds drawn from ``random_state`` and seeded blocks.

Importing this package loads neither torch nor scikit-learn.
"""

from importlib import import_module

_EXPORTS = {
    "resolve_device": "._hardware",
    "restore_device": "._hardware",
    "assigned_cuda_index": "._hardware",
    "release_device_memory": "._hardware",
    "resolve_precision": "._hardware",
    "bfloat16_support": "._hardware",
    "usable_cpus": "._hardware",
    "cgroup_cpu_quota": "._hardware",
    "thread_share": "._hardware",
    "default_num_workers": "._hardware",
    "cpu_model_threads": "._hardware",
    "limit_torch_threads": "._dask",
    "dask_thread_share": "._dask",
    "restore_large_allocations": "._dask",
    "seed_from": "._random",
    "seeded": "._random",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

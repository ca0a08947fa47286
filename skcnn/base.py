"""Helpers every skcnn estimator shares: device choice, seeding, threads."""

import os
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["resolve_device", "seed_from", "seeded", "limit_torch_threads"]


def resolve_device(device):
    """Turn ``'auto'`` into the best available device: CUDA, then MPS, then CPU.

    Any other value is returned as a :class:`torch.device` after checking
    that it exists on this machine.
    """
    if device == "auto":
        if torch.cuda.is_available():
            # Inside a worker that was given one GPU (CUDA_VISIBLE_DEVICES),
            # index 0 is that GPU.
            return torch.device("cuda")
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
    """Keep torch within the thread budget a parallel worker was given.

    joblib's loky backend (and Dask's workers) set ``OMP_NUM_THREADS`` to the
    worker's share of the cores before starting it; torch reads that variable
    only at import, so enforce it here too. Returns the thread count in use.
    """
    limit = os.environ.get("OMP_NUM_THREADS")
    if limit and limit.isdigit() and 0 < int(limit) < torch.get_num_threads():
        torch.set_num_threads(int(limit))
    return torch.get_num_threads()


def as_numpy(tensor):
    """Detach a tensor to a NumPy array on the CPU."""
    return tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else np.asarray(tensor)

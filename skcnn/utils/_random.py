"""Seeds: one 32-bit seed drawn from ``random_state``, and blocks run with torch seeded."""

from contextlib import contextmanager

import torch
from sklearn.utils import check_random_state

__all__ = ["seed_from", "seeded"]


def seed_from(random_state):
    """Draw a 32-bit seed from anything ``check_random_state`` accepts (an int seeds the draw)."""
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

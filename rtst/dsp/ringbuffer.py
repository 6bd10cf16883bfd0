"""Power-of-two rings written by the audio thread and read elsewhere."""

from __future__ import annotations

import numpy as np

__all__ = ["ring_history", "next_pow2"]


def next_pow2(n: int) -> int:
    """The smallest power of two that is at least ``n`` (1 for ``n <= 1``): a ring's capacity.

    Parameters
    ----------
    n : int
        Entries the ring must hold.

    Returns
    -------
    capacity : int
    """
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def ring_history(ring: np.ndarray, n_written: int) -> np.ndarray:
    """The entries of ``ring`` (length a power of two) in write order, oldest first.

    Parameters
    ----------
    ring : np.ndarray [capacity]
        Written at index ``i & (capacity - 1)`` for the i-th entry.
    n_written : int
        Entries written so far; only the last ``capacity`` survive.

    Returns
    -------
    history : np.ndarray [min(n_written, capacity)], a copy
    """
    capacity = ring.shape[0]
    if n_written <= capacity:
        return ring[:n_written].copy()
    start = n_written & (capacity - 1)
    return np.concatenate([ring[start:], ring[:start]])

"""Power-of-two rings written by the audio thread and read elsewhere."""

from __future__ import annotations

import numpy as np

__all__ = ["ring_history"]


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

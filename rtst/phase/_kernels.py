"""Compiled building blocks shared by the phase methods: a max-heap, a bucket priority queue, a
seeded generator and the phase gradients of PGHI. (Frame analysis and synthesis on the engine's
frame-centred convention live in :mod:`rtst.dsp.stft`.)

All functions are numba-compiled and allocation-free.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from rtst.dsp.compiled import cabs, rt_kernel

TWO_PI = 2.0 * math.pi
#: Added to magnitudes before the logarithm so silent bins have a finite log-magnitude.
LOG_FLOOR = 1e-10


# ------------------------------------------------------------------------------------ max-heap
@rt_kernel
def heap_push(keys, vals, size, key, val):
    """Push ``(key, val)`` onto the max-heap held in ``keys[:size]``, ``vals[:size]``.

    Returns the new size. Real-time safe (the arrays are preallocated by the caller).
    """
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] >= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return size + 1


@rt_kernel
def heap_pop(keys, vals, size):
    """Remove the largest entry. Returns ``(val, new_size)``; the heap must not be empty.

    Real-time safe.
    """
    top = vals[0]
    size -= 1
    key = keys[size]
    val = vals[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] > keys[child]:
            child += 1
        if keys[child] <= key:
            break
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
    if size > 0:
        keys[i] = key
        vals[i] = val
    return top, size


# ------------------------------------------------------------------------------------ bucket queue
# A monotone-enough priority queue for the real-time heap integration: keys (log-magnitudes) are
# quantised into BUCKETS levels between the frame's threshold and its peak, which turns the
# O(log n) heap operations into O(1) ones. With 1024 levels over the 100+ dB of a frame's range the
# order differs from an exact heap only between bins within ~0.1 dB of each other.
BUCKETS = 1024
# indices into the queue's int64 state array
_BQ_COUNT, _BQ_TOP, _BQ_SIZE = 0, 1, 2


class BucketQueue(NamedTuple):
    """Preallocated bucket queue for one frame's integration (each bin enters at most 3 times).

    Attributes
    ----------
    heads : int64 [BUCKETS]
        First node of each level's list, -1 when empty.
    node_val, node_next : int64 [3 n_bins]
        Node payload and the next node of the same level.
    state : int64 [3]
        Nodes used, highest level possibly non-empty, entries queued.
    """

    heads: np.ndarray
    node_val: np.ndarray
    node_next: np.ndarray
    state: np.ndarray


def bucket_queue(n_bins: int) -> BucketQueue:
    """A queue for frames of ``n_bins`` bins; :func:`bq_clear` empties it before each frame."""
    return BucketQueue(np.zeros(BUCKETS, dtype=np.int64), np.zeros(3 * n_bins, dtype=np.int64),
                       np.zeros(3 * n_bins, dtype=np.int64), np.zeros(3, dtype=np.int64))


@rt_kernel
def bq_clear(q):
    """Empty the queue ``q`` (BucketQueue). Real-time safe."""
    heads, state = q.heads, q.state
    for b in range(heads.shape[0]):
        heads[b] = -1
    state[_BQ_COUNT] = 0
    state[_BQ_TOP] = -1
    state[_BQ_SIZE] = 0


@rt_kernel
def bq_size(q):
    """Entries in the queue ``q`` (BucketQueue). Real-time safe."""
    return q.state[_BQ_SIZE]


@rt_kernel
def bq_push(q, bucket, val):
    """Insert ``val`` at priority level ``bucket`` (0 .. BUCKETS-1). Real-time safe."""
    state = q.state
    i = state[_BQ_COUNT]
    state[_BQ_COUNT] = i + 1
    q.node_val[i] = val
    q.node_next[i] = q.heads[bucket]
    q.heads[bucket] = i
    if bucket > state[_BQ_TOP]:
        state[_BQ_TOP] = bucket
    state[_BQ_SIZE] += 1


@rt_kernel
def bq_pop(q):
    """Remove and return a value of the highest non-empty level; the queue must not be empty.

    Real-time safe.
    """
    heads, state = q.heads, q.state
    b = state[_BQ_TOP]
    while heads[b] < 0:
        b -= 1
    state[_BQ_TOP] = b
    i = heads[b]
    heads[b] = q.node_next[i]
    state[_BQ_SIZE] -= 1
    return q.node_val[i]


# ------------------------------------------------------------------------------------ random
@rt_kernel
def random_phase(state):
    """Uniform phase in [0, 2 pi) from a xorshift64* generator; ``state`` is uint64 [1], non-zero.

    Real-time safe.
    """
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    r = x * np.uint64(0x2545F4914F6CDD1D)
    return (r >> np.uint64(11)) * (TWO_PI / 9007199254740992.0)  # 53 random bits


def seed_state(seed: int) -> np.ndarray:
    """Generator state for :func:`random_phase` from any integer seed (never zero)."""
    value = (int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64)
    return np.array([value or 1], dtype=np.uint64)


# ------------------------------------------------------------------------------------ gradients
@rt_kernel
def log_magnitude(mag, out):
    """``out = log(mag + LOG_FLOOR)``; returns the largest value. Real-time safe."""
    top = -np.inf
    for k in range(mag.shape[0]):
        v = math.log(mag[k] + LOG_FLOOR)
        out[k] = v
        if v > top:
            top = v
    return top


@rt_kernel
def time_gradient(s, hop, n_fft, gamma, out):
    """Phase advance per hop of each bin of one frame (PGHI, frame-centred phase).

    ``out[k] = 2 pi hop k / n_fft + (hop n_fft / gamma) * ds/dk`` with a centred difference over
    the log-magnitude ``s`` (even symmetry at DC and Nyquist). Real-time safe.
    """
    n_bins = s.shape[0]
    c = hop * n_fft / gamma
    w = TWO_PI * hop / n_fft
    last = n_bins - 1
    for k in range(n_bins):
        lo = s[k - 1] if k > 0 else s[1]
        hi = s[k + 1] if k < last else s[last - 1]
        out[k] = w * k + c * 0.5 * (hi - lo)


@rt_kernel
def freq_gradient(s_before, s_after, span, hop, n_fft, gamma, out):
    """Phase change per bin (PGHI): ``out = -(gamma / (hop n_fft)) * (s_after - s_before) / span``.

    ``span`` is the number of hops between the two frames (2 for a centred difference, 1 for the
    causal one). Real-time safe.
    """
    c = -gamma / (hop * n_fft * span)
    for k in range(out.shape[0]):
        out[k] = c * (s_after[k] - s_before[k])


@rt_kernel
def wrap(phase):
    """Wrap to [-pi, pi). Real-time safe."""
    return phase - TWO_PI * math.floor((phase + math.pi) / TWO_PI)


# ------------------------------------------------------------------------------------ frames
@rt_kernel
def impose_magnitude(spec, mag):
    """Keep each bin's phase, set its magnitude to ``mag`` (phase 0 where the bin is 0). Real-time safe."""
    for k in range(spec.shape[0]):
        z = spec[k]
        a = cabs(z)
        if a > 1e-300:
            g = mag[k] / a
            spec[k] = complex(z.real * g, z.imag * g)  # not z * g: that multiplies as complex
        else:
            spec[k] = mag[k]

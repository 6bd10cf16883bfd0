"""RTPGHI: real-time phase-gradient heap integration (Průša & Søndergaard 2016; Průša & Holighaus 2017).

For each frame the phase is integrated from the previous frame's phase along the time direction
(trapezoid rule on the instantaneous frequency) and along frequency (trapezoid rule on the local
group delay), visiting bins in decreasing order of magnitude (a bucket priority queue), so the integration
path runs over the ridges where the phase-gradient estimates are reliable. The gradients come from
the log-magnitude alone, through the Gaussian-window relations (frame-centred phase,
``gamma = lambda`` of the window, see :data:`rtst.dsp.windows.PGHI_GAMMA_RATIO`)::

    dphi/dhop(k)  = 2 pi hop k / n_fft + (hop n_fft / gamma) * ds/dk
    dphi/dbin(m)  = -(gamma / (hop n_fft)) * ds/dm

where ``s`` is the log-magnitude and ``m`` the frame index. ``ds/dm`` is a centred difference
with one frame of lookahead, or a backward difference with none (causal, less accurate at onsets).
Bins below ``tol`` times the largest magnitude of the two frames involved get a random phase from a
seeded generator, as do the seeds of newly appearing components.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from rtst.config import StftConfig, require_float
from rtst.dsp.windows import PGHI_GAMMA_RATIO
from rtst.errors import ParameterError
from rtst.phase._kernels import (BUCKETS, LOG_FLOOR, bq_clear, bq_pop, bq_push, freq_gradient,
                                 log_magnitude, queue_buffers, random_phase, seed_state,
                                 time_gradient, wrap)
from rtst.phase.base import PhaseMethod

__all__ = ["RtpghiPhase", "pghi_frame", "DEFAULT_TOL", "SILENT_LOG", "check_tol", "check_seed", "pghi_gamma"]

#: Default relative tolerance: bins more than 100 dB below the frames' peak get random phase.
DEFAULT_TOL = 1e-5
#: Log-magnitude of a bin that is exactly zero; bins at or below it are never significant.
SILENT_LOG = math.log(2.0 * LOG_FLOOR)


@njit(cache=True, nogil=True)
def _level(key, threshold, scale):
    b = int((key - threshold) * scale)
    if b < 0:
        return 0
    if b >= BUCKETS:
        return BUCKETS - 1
    return b


@njit(cache=True, nogil=True)
def pghi_frame(s_prev, phase_prev, tgrad_prev, s_cur, tgrad_cur, fgrad_cur, threshold, top, rng,
               phase_cur, done, heads, node_val, node_next, queue_state):
    """Integrate the phase of one frame from the previous one (heap integration).

    Parameters
    ----------
    s_prev, phase_prev, tgrad_prev : float64 [n_bins]
        Previous frame: log-magnitude, phase, phase advance per hop.
    s_cur, tgrad_cur, fgrad_cur : float64 [n_bins]
        This frame: log-magnitude, phase advance per hop, phase change per bin.
    threshold, top : float
        Log-magnitude below which a bin is insignificant (random phase, never a path), and the
        largest log-magnitude of the two frames (the top of the priority range).
    rng : uint64 [1]
    phase_cur : float64 [n_bins], written (wrapped to [-pi, pi))
    done : uint8 [n_bins]; heads : int64 [BUCKETS]; node_val, node_next : int64 [3 n_bins];
    queue_state : int64 [3]
        Scratch for the priority queue (:func:`rtst.phase._kernels.bq_push`).

    Real-time safe: O(n_bins) with the bucket queue, no allocation.
    """
    n = s_cur.shape[0]
    scale = BUCKETS / max(top - threshold, 1e-9)
    bq_clear(heads, queue_state)
    for k in range(n):
        if s_cur[k] <= threshold:
            phase_cur[k] = random_phase(rng)
            done[k] = 1
        else:
            done[k] = 0
        if s_prev[k] > threshold:
            bq_push(heads, node_val, node_next, queue_state, _level(s_prev[k], threshold, scale), k + n)
    seeded = False
    while True:
        while queue_state[2] > 0:
            e = bq_pop(heads, node_val, node_next, queue_state)
            if e >= 2 * n:  # seed candidate: a component with no significant past
                k = e - 2 * n
                if done[k]:
                    continue
                phase_cur[k] = random_phase(rng)
                done[k] = 1
                bq_push(heads, node_val, node_next, queue_state, _level(s_cur[k], threshold, scale), k)
            elif e >= n:  # previous frame: integrate along time
                k = e - n
                if done[k]:
                    continue
                phase_cur[k] = phase_prev[k] + 0.5 * (tgrad_prev[k] + tgrad_cur[k])
                done[k] = 1
                bq_push(heads, node_val, node_next, queue_state, _level(s_cur[k], threshold, scale), k)
            else:  # this frame: integrate along frequency to both neighbours
                k = e
                if k > 0 and not done[k - 1]:
                    phase_cur[k - 1] = phase_cur[k] - 0.5 * (fgrad_cur[k] + fgrad_cur[k - 1])
                    done[k - 1] = 1
                    bq_push(heads, node_val, node_next, queue_state,
                            _level(s_cur[k - 1], threshold, scale), k - 1)
                if k + 1 < n and not done[k + 1]:
                    phase_cur[k + 1] = phase_cur[k] + 0.5 * (fgrad_cur[k] + fgrad_cur[k + 1])
                    done[k + 1] = 1
                    bq_push(heads, node_val, node_next, queue_state,
                            _level(s_cur[k + 1], threshold, scale), k + 1)
        if seeded:
            break
        # Bins the queue did not reach: each becomes a seed in turn, loudest first (all pushed at
        # once so the frame stays O(n) however many separate components start here).
        seeded = True
        for k in range(n):
            if not done[k]:
                bq_push(heads, node_val, node_next, queue_state, _level(s_cur[k], threshold, scale),
                        k + 2 * n)
        if queue_state[2] == 0:
            break
    for k in range(n):
        phase_cur[k] = wrap(phase_cur[k])


@njit(cache=True, nogil=True)
def _rtpghi_step(mag, spec_out, lookahead, s_a, s_b, s_c, mag_b, mag_c, phase_prev, tgrad_prev,
                 tgrad_cur, fgrad, phase_cur, done, heads, node_val, node_next, queue_state, rng,
                 hop, n_fft, gamma, log_tol):
    """Take the newest magnitude frame; emit the frame ``lookahead`` (0 or 1) hops back.

    ``s_a, s_b, s_c`` are the log-magnitudes of frames n-1, n, n+1 (n = the frame reconstructed
    now), ``mag_b, mag_c`` the magnitudes of n and n+1. Real-time safe.
    """
    n_bins = mag.shape[0]
    if lookahead == 1:
        for k in range(n_bins):
            s_a[k] = s_b[k]
            s_b[k] = s_c[k]
            mag_b[k] = mag_c[k]
            mag_c[k] = mag[k]
        log_magnitude(mag, s_c)
        freq_gradient(s_a, s_c, 2.0, hop, n_fft, gamma, fgrad)
    else:
        for k in range(n_bins):
            s_a[k] = s_b[k]
            mag_b[k] = mag[k]
        log_magnitude(mag, s_b)
        freq_gradient(s_a, s_b, 1.0, hop, n_fft, gamma, fgrad)
    top = -np.inf
    for k in range(n_bins):
        if s_a[k] > top:
            top = s_a[k]
        if s_b[k] > top:
            top = s_b[k]
    threshold = max(top + log_tol, SILENT_LOG)
    time_gradient(s_b, hop, n_fft, gamma, tgrad_cur)
    pghi_frame(s_a, phase_prev, tgrad_prev, s_b, tgrad_cur, fgrad, threshold, top, rng,
               phase_cur, done, heads, node_val, node_next, queue_state)
    for k in range(n_bins):
        p = phase_cur[k]
        spec_out[k] = mag_b[k] * complex(math.cos(p), math.sin(p))
        phase_prev[k] = p
        tgrad_prev[k] = tgrad_cur[k]


def pghi_gamma(stft_config: StftConfig, gamma: float | None = None) -> float:
    """The PGHI constant for the configuration's window (samples squared), or ``gamma`` checked."""
    if gamma is None:
        return PGHI_GAMMA_RATIO[stft_config.window] * stft_config.n_fft ** 2
    return require_float("gamma", gamma, 1e-6 * stft_config.n_fft ** 2, 10.0 * stft_config.n_fft ** 2)


def check_tol(tol) -> float:
    """The relative tolerance, checked (ParameterError)."""
    return require_float("tol", tol, 1e-12, 0.5)


def check_seed(seed) -> int:
    """A random-phase seed, checked (ParameterError)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"seed={seed!r} must be an integer")
    return int(seed)


class RtpghiPhase(PhaseMethod):
    """Real-time PGHI.

    Parameters
    ----------
    stft_config : StftConfig
    lookahead : int
        1 (default): centred time difference, one hop of added latency. 0: causal.
    tol : float
        Relative tolerance: bins below ``tol`` times the peak of the frames get random phase.
    seed : int
        Seed of the random phases; equal seeds give identical output.
    gamma : float, optional
        Window time-frequency constant in samples squared (default: the window's, e.g.
        ``0.25645 * n_fft**2`` for Hann).
    """

    name = "rtpghi"
    default_lookahead = 1

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None, *, tol: float = DEFAULT_TOL,
                 seed: int = 0, gamma: float | None = None):
        super().__init__(stft_config, lookahead)
        if self.lookahead > 1:
            raise ParameterError(f"lookahead={self.lookahead} must be 0 or 1 for rtpghi")
        self.tol = check_tol(tol)
        self.seed = check_seed(seed)
        self.gamma = pghi_gamma(stft_config, gamma)
        n = self.n_bins
        self._s = np.zeros((3, n))            # [3, n_bins] log-magnitude of frames n-1, n, n+1
        self._mag = np.zeros((2, n))          # [2, n_bins] magnitude of frames n, n+1
        self._phase_prev = np.zeros(n)
        self._tgrad_prev = np.zeros(n)
        self._tgrad_cur = np.zeros(n)
        self._fgrad = np.zeros(n)
        self._phase_cur = np.zeros(n)
        self._done = np.zeros(n, dtype=np.uint8)
        self._heads, self._node_val, self._node_next, self._queue_state = queue_buffers(n)
        self._rng = seed_state(self.seed)
        s, m = self._s, self._mag
        self._state = (self.lookahead, s[0], s[1], s[2], m[0], m[1], self._phase_prev,
                       self._tgrad_prev, self._tgrad_cur, self._fgrad, self._phase_cur, self._done,
                       self._heads, self._node_val, self._node_next, self._queue_state, self._rng, float(stft_config.hop_length),
                       float(stft_config.n_fft), self.gamma, math.log(self.tol))
        self.reset()

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation."""
        _rtpghi_step(mag, spec_out, *self._state)

    def reset(self):
        self._s[:] = math.log(LOG_FLOOR)
        self._mag[:] = 0.0
        for buf in (self._phase_prev, self._tgrad_prev, self._tgrad_cur, self._fgrad, self._phase_cur):
            buf[:] = 0.0
        self._rng[:] = seed_state(self.seed)

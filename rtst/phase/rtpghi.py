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
from typing import NamedTuple

import numpy as np
from rtst.dsp.compiled import bound, rt_kernel

from rtst.config import StftConfig
from rtst.validate import require_float
from rtst.dsp.kernel_state import named, plain
from rtst.dsp.windows import PGHI_GAMMA_RATIO
from rtst.errors import ParameterError
from rtst.phase._kernels import (BUCKETS, LOG_FLOOR, BucketQueue, bq_clear, bq_pop, bq_push, bq_size,
                                 bucket_queue, freq_gradient, log_magnitude, random_phase, seed_state,
                                 time_gradient, wrap)
from rtst.phase.base import PhaseMethod

__all__ = ["RtpghiPhase", "RtpghiState", "pghi_frame", "DEFAULT_TOL", "SILENT_LOG", "check_tol", "check_seed",
           "pghi_gamma"]

#: Default relative tolerance: bins more than 100 dB below the frames' peak get random phase.
DEFAULT_TOL = 1e-5
#: Log-magnitude of a bin that is exactly zero; bins at or below it are never significant.
SILENT_LOG = math.log(2.0 * LOG_FLOOR)


@rt_kernel
def _level(key, threshold, scale):
    b = int((key - threshold) * scale)
    if b < 0:
        return 0
    if b >= BUCKETS:
        return BUCKETS - 1
    return b


@rt_kernel
def pghi_frame(s_prev, phase_prev, tgrad_prev, s_cur, tgrad_cur, fgrad_cur, threshold, top, rng,
               phase_cur, done, queue, fixed):
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
        Read where ``fixed``: those bins keep the phase the caller set.
    done : uint8 [n_bins]
        Scratch: bins whose phase is set.
    queue : BucketQueue
        Scratch for the priority queue (:func:`rtst.phase._kernels.bq_push`).
    fixed : uint8 [n_bins]
        Bins whose phase is already known (the input-guided method's): the integration starts
        from them as from bins of this frame, and never changes them. All zero for plain RTPGHI.

    Real-time safe: O(n_bins) with the bucket queue, no allocation.
    """
    n = s_cur.shape[0]
    scale = BUCKETS / max(top - threshold, 1e-9)
    bq_clear(queue)
    for k in range(n):
        if fixed[k]:
            done[k] = 1
            bq_push(queue, _level(s_cur[k], threshold, scale), k)
        elif s_cur[k] <= threshold:
            phase_cur[k] = random_phase(rng)
            done[k] = 1
        else:
            done[k] = 0
        if s_prev[k] > threshold:
            bq_push(queue, _level(s_prev[k], threshold, scale), k + n)
    seeded = False
    while True:
        while bq_size(queue) > 0:
            e = bq_pop(queue)
            if e >= 2 * n:  # seed candidate: a component with no significant past
                k = e - 2 * n
                if done[k]:
                    continue
                phase_cur[k] = random_phase(rng)
                done[k] = 1
                bq_push(queue, _level(s_cur[k], threshold, scale), k)
            elif e >= n:  # previous frame: integrate along time
                k = e - n
                if done[k]:
                    continue
                phase_cur[k] = phase_prev[k] + 0.5 * (tgrad_prev[k] + tgrad_cur[k])
                done[k] = 1
                bq_push(queue, _level(s_cur[k], threshold, scale), k)
            else:  # this frame: integrate along frequency to both neighbours
                k = e
                if k > 0 and not done[k - 1]:
                    phase_cur[k - 1] = phase_cur[k] - 0.5 * (fgrad_cur[k] + fgrad_cur[k - 1])
                    done[k - 1] = 1
                    bq_push(queue, _level(s_cur[k - 1], threshold, scale), k - 1)
                if k + 1 < n and not done[k + 1]:
                    phase_cur[k + 1] = phase_cur[k] + 0.5 * (fgrad_cur[k] + fgrad_cur[k + 1])
                    done[k + 1] = 1
                    bq_push(queue, _level(s_cur[k + 1], threshold, scale), k + 1)
        if seeded:
            break
        # Bins the queue did not reach: each becomes a seed in turn, loudest first (all pushed at
        # once so the frame stays O(n) however many separate components start here).
        seeded = True
        for k in range(n):
            if not done[k]:
                bq_push(queue, _level(s_cur[k], threshold, scale),
                        k + 2 * n)
        if bq_size(queue) == 0:
            break
    for k in range(n):
        phase_cur[k] = wrap(phase_cur[k])


class RtpghiState(NamedTuple):
    """Everything one hop of :func:`_rtpghi_step` reads and writes, built once per instance.

    Frame ``n`` is the one reconstructed now; with one frame of lookahead ``n + 1`` is the newest.

    Attributes
    ----------
    lookahead : int
        0 (causal time difference) or 1 (centred).
    s_a, s_b, s_c : float64 [n_bins]
        Log-magnitudes of frames ``n - 1``, ``n``, ``n + 1`` (rows of one [3, n_bins] array).
    mag_b, mag_c : float64 [n_bins]
        Magnitudes of frames ``n`` and ``n + 1``.
    phase_prev, tgrad_prev : float64 [n_bins]
        Phase and phase advance per hop of frame ``n - 1``.
    tgrad_cur, fgrad, phase_cur : float64 [n_bins]
        Scratch: gradients and phase of frame ``n``.
    done : uint8 [n_bins]
    queue : BucketQueue
        Scratch of :func:`pghi_frame`.
    fixed : uint8 [n_bins]
        All zero: plain RTPGHI fixes no bin in advance.
    rng : uint64 [1]
        Random-phase generator state (:func:`rtst.phase._kernels.seed_state`).
    hop, n_fft, gamma : float
        Hop and frame length in samples, the PGHI constant in samples squared.
    log_tol : float
        ``log(tol)``: bins this far below the frames' peak log-magnitude are insignificant.
    """

    lookahead: int
    s_a: np.ndarray
    s_b: np.ndarray
    s_c: np.ndarray
    mag_b: np.ndarray
    mag_c: np.ndarray
    phase_prev: np.ndarray
    tgrad_prev: np.ndarray
    tgrad_cur: np.ndarray
    fgrad: np.ndarray
    phase_cur: np.ndarray
    done: np.ndarray
    queue: BucketQueue
    fixed: np.ndarray
    rng: np.ndarray
    hop: float
    n_fft: float
    gamma: float
    log_tol: float


@rt_kernel
def _rtpghi_step(mag, spec_out, args):
    """Take the newest magnitude frame; emit the frame ``st.lookahead`` (0 or 1) hops back.

    Parameters
    ----------
    mag : float64 [n_bins]
    spec_out : complex128 [n_bins], written
    args : RtpghiState in its plain form, updated

    Real-time safe: no allocation.
    """
    st = named(RtpghiState, args)
    s_a, s_b, s_c = st.s_a, st.s_b, st.s_c
    mag_b, mag_c = st.mag_b, st.mag_c
    hop, n_fft, gamma = st.hop, st.n_fft, st.gamma
    n_bins = mag.shape[0]
    if st.lookahead == 1:
        for k in range(n_bins):
            s_a[k] = s_b[k]
            s_b[k] = s_c[k]
            mag_b[k] = mag_c[k]
            mag_c[k] = mag[k]
        log_magnitude(mag, s_c)
        freq_gradient(s_a, s_c, 2.0, hop, n_fft, gamma, st.fgrad)
    else:
        for k in range(n_bins):
            s_a[k] = s_b[k]
            mag_b[k] = mag[k]
        log_magnitude(mag, s_b)
        freq_gradient(s_a, s_b, 1.0, hop, n_fft, gamma, st.fgrad)
    top = -np.inf
    for k in range(n_bins):
        if s_a[k] > top:
            top = s_a[k]
        if s_b[k] > top:
            top = s_b[k]
    threshold = max(top + st.log_tol, SILENT_LOG)
    time_gradient(s_b, hop, n_fft, gamma, st.tgrad_cur)
    pghi_frame(s_a, st.phase_prev, st.tgrad_prev, s_b, st.tgrad_cur, st.fgrad, threshold, top, st.rng,
               st.phase_cur, st.done, st.queue, st.fixed)
    phase_cur, phase_prev, tgrad_prev, tgrad_cur = st.phase_cur, st.phase_prev, st.tgrad_prev, st.tgrad_cur
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
        s = np.zeros((3, n))       # log-magnitude of frames n-1, n, n+1
        mag = np.zeros((2, n))     # magnitude of frames n, n+1
        self._state = RtpghiState(
            lookahead=self.lookahead, s_a=s[0], s_b=s[1], s_c=s[2], mag_b=mag[0], mag_c=mag[1],
            phase_prev=np.zeros(n), tgrad_prev=np.zeros(n), tgrad_cur=np.zeros(n), fgrad=np.zeros(n),
            phase_cur=np.zeros(n), done=np.zeros(n, dtype=np.uint8), queue=bucket_queue(n),
            fixed=np.zeros(n, dtype=np.uint8), rng=seed_state(self.seed), hop=float(stft_config.hop_length), n_fft=float(stft_config.n_fft),
            gamma=self.gamma, log_tol=math.log(self.tol))
        self._args = plain(self._state)
        self._step = bound(_rtpghi_step, *self._frame_buffers()[::2], self._args)
        self.reset()

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation (C-level included)."""
        self._step(mag, spec_out, self._args)

    def reset(self):
        st = self._state
        for buf in (st.s_a, st.s_b, st.s_c):
            buf[:] = math.log(LOG_FLOOR)
        for buf in (st.mag_b, st.mag_c, st.phase_prev, st.tgrad_prev, st.tgrad_cur, st.fgrad, st.phase_cur):
            buf[:] = 0.0
        st.rng[:] = seed_state(self.seed)

"""RTISI-LA (Zhu, Beauregard & Wyse 2007) and the PGHI-initialised hybrid (Průša 2017).

Real-time iterative spectrogram inversion with look-ahead keeps the newest ``lookahead + 1``
frames in a buffer together with the overlap-add of everything synthesised so far. Each hop:

1. the buffer shifts by one frame; the new frame gets an initial phase: RTISI-LA takes it from
   the partial reconstruction under the new frame (what the older frames already put there); the
   hybrid takes it from one RTPGHI step (centred difference: the newest magnitude waits a hop)
   off the previous frame's current estimate;
2. ``iterations`` times, every buffered frame from oldest to newest is re-analysed from the
   overlap-add, given back its target magnitude, re-synthesised, and its contribution to the
   overlap-add replaced (a Griffin-Lim projection restricted to the frames still in play), with
   fast Griffin-Lim's momentum on each frame's successive projections;
3. the oldest frame is committed and emitted: ``lookahead`` hops of added latency.

The signal under the newest frames is incomplete: frames that will overlap it have not arrived,
so it tapers off. As in the paper, those frames are analysed with **asymmetric windows**: the
analysis window divided by the overlap-add weight the existing frames give each sample
(``sum of analysis x synthesis`` over present frames, floored), which undoes the taper. Frames
whose support is fully overlapped use the plain window.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from rtst.config import StftConfig, require_float
from rtst.dsp.fft import RfftPlan
from rtst.dsp.windows import dual_window, get_window
from rtst.errors import ParameterError
from rtst.phase._kernels import (LOG_FLOOR, analyse, freq_gradient, impose_magnitude, log_magnitude,
                                 queue_buffers, seed_state, synthesise, time_gradient)
from rtst.phase.base import PhaseMethod
from rtst.phase.rtpghi import DEFAULT_TOL, SILENT_LOG, check_seed, check_tol, pghi_frame, pghi_gamma

__all__ = ["RtisilaPhase", "HybridPhase", "asymmetric_windows", "MAX_ITERATIONS"]

#: Most iterations per frame accepted.
MAX_ITERATIONS = 64
#: Floor of the overlap-add weight an asymmetric window divides by.
WEIGHT_FLOOR = 1e-3
#: Options of the RTPGHI initialisation (hybrid only).
_PGHI_OPTIONS = ("tol", "seed", "gamma")


def asymmetric_windows(window: np.ndarray, hop_length: int, lookahead: int, *, asymmetric: bool = True):
    """Analysis windows for the buffered frames and for the initial estimate of a new frame.

    Returns
    -------
    windows : np.ndarray, float64 [lookahead + 1, n_fft]
        Row ``p`` analyses the frame at buffer position ``p`` (0 = oldest, ``lookahead`` = newest).
    init : np.ndarray, float64 [n_fft]
        Analyses the partial reconstruction under a new frame before the frame is added.
    """
    n_fft = window.shape[0]
    product = window * dual_window(window, hop_length)  # overlap-adds to exactly 1
    n = np.arange(n_fft)

    def missing(first_shift):
        # weight of the frames that start first_shift, first_shift + 1, ... hops after this one
        total = np.zeros(n_fft)
        j = first_shift
        while j * hop_length < n_fft:
            idx = n - j * hop_length
            ok = idx >= 0
            total[ok] += product[idx[ok]]
            j += 1
        return total

    windows = np.empty((lookahead + 1, n_fft))
    for p in range(lookahead + 1):
        if asymmetric:
            weight = 1.0 - missing(lookahead - p + 1)
            windows[p] = window / np.maximum(weight, WEIGHT_FLOOR)
        else:
            windows[p] = window
    init = window / np.maximum(1.0 - missing(0), WEIGHT_FLOOR) if asymmetric else window.copy()
    return windows, init


@njit(cache=True, nogil=True)
def _shift(ola, td, spec, mags, s, proj, mag, hop):
    """Advance the buffer by one frame and store the new target magnitude. Real-time safe."""
    total = ola.shape[0]
    for i in range(total - hop):
        ola[i] = ola[i + hop]
    for i in range(total - hop, total):
        ola[i] = 0.0
    rows = td.shape[0]
    for p in range(rows - 1):
        td[p, :] = td[p + 1, :]
        spec[p, :] = spec[p + 1, :]
        mags[p, :] = mags[p + 1, :]
        s[p, :] = s[p + 1, :]
        proj[p, :] = proj[p + 1, :]
    last = rows - 1
    for k in range(mag.shape[0]):
        mags[last, k] = mag[k]
    return log_magnitude(mag, s[last])


@njit(cache=True, nogil=True)
def _update_frame(p, hop, ola, td, spec, mags, proj, momentum, window, synthesis, frame, scratch,
                  spec_scratch, bitrev, twiddle, split, work):
    """Re-analyse buffered frame ``p`` from the overlap-add, impose its magnitude, re-synthesise,
    and swap its contribution in the overlap-add. Real-time safe."""
    n_fft = frame.shape[0]
    start = p * hop
    seg = ola[start:start + n_fft]
    analyse(seg, window, spec_scratch, scratch, bitrev, twiddle, split, work)
    row = spec[p]
    last = proj[p]
    for k in range(row.shape[0]):
        t = spec_scratch[k]
        row[k] = t + momentum * (t - last[k])
        last[k] = t
    impose_magnitude(row, mags[p])
    synthesise(spec[p], synthesis, frame, spec_scratch, bitrev, twiddle, split, work)
    old = td[p]
    for n in range(n_fft):
        seg[n] += frame[n] - old[n]
        old[n] = frame[n]


@njit(cache=True, nogil=True)
def _rtisila_step(mag, spec_out, init_mode, iterations, momentum, hop, ola, td, spec, mags, s, proj,
                  windows,
                  init_window, synthesis, frame, scratch, spec_scratch, bitrev, twiddle, split, work,
                  pending_mag, s_pending, phase_store, s_store, tgrad_prev, tgrad_cur, fgrad,
                  phase_cur, done, heads, node_val, node_next, queue_state, rng, n_fft_f, gamma,
                  log_tol):
    """One hop of RTISI-LA (``init_mode`` 0) or the hybrid (1). Real-time safe."""
    rows = td.shape[0]
    last = rows - 1
    n_bins = mag.shape[0]
    n_fft = frame.shape[0]
    start = last * hop
    if init_mode == 0:
        _shift(ola, td, spec, mags, s, proj, mag, hop)
        # initial phase from the partial reconstruction under the new frame
        analyse(ola[start:start + n_fft], init_window, spec[last], scratch, bitrev, twiddle, split, work)
        impose_magnitude(spec[last], mags[last])
    else:
        # The frame that arrived last hop enters the buffer; the new one waits a hop so that the
        # entering frame gets RTPGHI with a centred time difference.
        top = _shift(ola, td, spec, mags, s, proj, pending_mag, hop)
        for k in range(n_bins):
            pending_mag[k] = mag[k]
            if s_store[k] > top:
                top = s_store[k]
        log_magnitude(mag, s_pending)
        threshold = max(top + log_tol, SILENT_LOG)
        time_gradient(s_store, hop, n_fft_f, gamma, tgrad_prev)
        time_gradient(s[last], hop, n_fft_f, gamma, tgrad_cur)
        freq_gradient(s_store, s_pending, 2.0, hop, n_fft_f, gamma, fgrad)
        pghi_frame(s_store, phase_store, tgrad_prev, s[last], tgrad_cur, fgrad, threshold, top, rng,
                   phase_cur, done, heads, node_val, node_next, queue_state)
        for k in range(n_bins):
            p = phase_cur[k]
            spec[last, k] = mags[last, k] * complex(math.cos(p), math.sin(p))
    for k in range(n_bins):
        proj[last, k] = spec[last, k]
    synthesise(spec[last], synthesis, frame, spec_scratch, bitrev, twiddle, split, work)
    seg = ola[start:start + n_fft]
    for n in range(n_fft):
        seg[n] += frame[n]
        td[last, n] = frame[n]
    for _ in range(iterations):
        for p in range(rows):
            _update_frame(p, hop, ola, td, spec, mags, proj, momentum, windows[p], synthesis, frame, scratch,
                          spec_scratch, bitrev, twiddle, split, work)
    for k in range(n_bins):
        spec_out[k] = spec[0, k]
    if init_mode == 1:  # the newest frame's estimate is where the next frame's integration starts
        for k in range(n_bins):
            z = spec[last, k]
            phase_store[k] = math.atan2(z.imag, z.real)
            s_store[k] = s[last, k]


class RtisilaPhase(PhaseMethod):
    """RTISI-LA: iterative reconstruction over a look-ahead buffer.

    Parameters
    ----------
    stft_config : StftConfig
    lookahead : int
        Frames of look-ahead (default 3); each adds one hop of latency.
    iterations : int
        Projections per frame per hop (default 4); cost grows as ``iterations * (lookahead + 1)``
        pairs of FFTs per hop.
    asymmetric : bool
        Asymmetric analysis windows for the incompletely overlapped frames (default True).
    momentum : float
        Fast Griffin-Lim style extrapolation of each frame's projection, 0 .. 0.95 (default 0.5
        for RTISI-LA, 0.7 for the hybrid; measured: 0.9 diverges on speech).
    """

    name = "rtisila"
    default_lookahead = 3
    default_momentum = 0.5
    _init_mode = 0

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None, *, iterations: int = 4,
                 asymmetric: bool = True, momentum: float | None = None, **pghi_options):
        super().__init__(stft_config, lookahead)
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or not (
            0 <= iterations <= MAX_ITERATIONS
        ):
            raise ParameterError(f"iterations={iterations!r} must be an integer from 0 to {MAX_ITERATIONS}")
        if not isinstance(asymmetric, bool):
            raise ParameterError(f"asymmetric={asymmetric!r} must be true or false")
        self.iterations = int(iterations)
        if momentum is None:
            momentum = self.default_momentum
        self.momentum = require_float("momentum", momentum, 0.0, 0.95)
        self.asymmetric = asymmetric
        n_fft, hop, n = stft_config.n_fft, stft_config.hop_length, self.n_bins
        if self._init_mode == 1 and self.lookahead < 1:
            raise ParameterError(f"lookahead={self.lookahead} must be at least 1 for {self.name}")
        # the hybrid holds one frame back for RTPGHI's centred difference: one row fewer
        rows = self.lookahead + 1 - self._init_mode
        window = get_window(stft_config.window, n_fft)
        self._windows, self._init_window = asymmetric_windows(window, hop, rows - 1,
                                                              asymmetric=asymmetric)
        self._synthesis = dual_window(window, hop)
        self._plan = RfftPlan(n_fft)
        self._ola = np.zeros(n_fft + (rows - 1) * hop)       # [n_fft + (rows-1)*hop] overlap-add
        self._td = np.zeros((rows, n_fft))                   # [rows, n_fft] each frame's contribution
        self._spec = np.zeros((rows, n), dtype=np.complex128)  # [rows, n_bins] current estimates
        self._mags = np.zeros((rows, n))                     # [rows, n_bins] target magnitudes
        self._s = np.zeros((rows, n))                        # [rows, n_bins] log-magnitudes
        self._proj = np.zeros((rows, n), dtype=np.complex128)  # [rows, n_bins] last projections
        self._frame = np.zeros(n_fft)
        self._scratch = np.zeros(n_fft)
        self._spec_scratch = np.zeros(n, dtype=np.complex128)
        # RTPGHI initialisation (hybrid only)
        unknown = sorted(set(pghi_options) - set(_PGHI_OPTIONS if self._init_mode == 1 else ()))
        if unknown:
            raise ParameterError(f"unknown option(s) for {self.name}: {', '.join(unknown)}")
        self.tol = check_tol(pghi_options.get("tol", DEFAULT_TOL))
        self.seed = check_seed(pghi_options.get("seed", 0))
        self.gamma = pghi_gamma(stft_config, pghi_options.get("gamma"))
        self._vecs = [np.zeros(n) for _ in range(8)]  # pending, its log, stored phase and log, 2 gradients, 2 scratch
        self._done = np.zeros(n, dtype=np.uint8)
        self._heads, self._node_val, self._node_next, self._queue_state = queue_buffers(n)
        self._rng = seed_state(self.seed)
        self._state = (self._init_mode, self.iterations, self.momentum, hop, self._ola, self._td,
                       self._spec, self._mags, self._s, self._proj, self._windows, self._init_window, self._synthesis,
                       self._frame, self._scratch, self._spec_scratch, *self._plan.tables,
                       *self._vecs, self._done, self._heads, self._node_val, self._node_next,
                       self._queue_state, self._rng, float(n_fft), self.gamma, math.log(self.tol))
        self.reset()

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation."""
        _rtisila_step(mag, spec_out, *self._state)

    def reset(self):
        for buf in (self._ola, self._td, self._spec, self._mags, self._proj, self._frame, self._scratch,
                    self._spec_scratch, *self._vecs):
            buf[:] = 0.0
        self._s[:] = math.log(LOG_FLOOR)
        self._vecs[1][:] = math.log(LOG_FLOOR)
        self._vecs[3][:] = math.log(LOG_FLOOR)
        self._rng[:] = seed_state(self.seed)


class HybridPhase(RtisilaPhase):
    """RTISI-LA whose new frames start from an RTPGHI estimate instead of the partial reconstruction.

    The newest magnitude waits one hop so RTPGHI can use a centred time difference (which puts
    clicks and fast sweeps in the right place); the iterative buffer then holds ``lookahead``
    frames, so the added latency is still ``lookahead`` hops (at least 1).

    Parameters as :class:`RtisilaPhase` (default lookahead 1, 4 iterations, momentum 0.7), plus
    RTPGHI's ``tol``, ``seed`` and ``gamma``.
    """

    name = "hybrid"
    default_lookahead = 1
    default_momentum = 0.7
    _init_mode = 1

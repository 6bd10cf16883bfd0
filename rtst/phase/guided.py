"""Input-guided phase: the output's partials take their phase from the input's where they follow it.

A real-time effect knows what an offline reconstruction does not: the input's STFT, hence the
exact time and frequency derivatives of the input's phase. For each new frame:

1. **Guide.** The output's log-magnitude is split into peak regions (each bin belongs to the
   local maximum it climbs to; regions meet at the minima between peaks). A region is *guided*
   when the output partial follows the input: at its peak the input is significant and the ratio
   output/input bends no more than a filter's gain does (:func:`mark_guided`). Its significant
   bins take the input's phase plus
   one offset per region, ``phase_out(n-1, p) - phase_in(n-1, p)`` at the region's peak ``p``:
   the output's partial advances by the input's phase advance (exact instantaneous frequency)
   and keeps the input's phase across its bins (exact group delay, so onsets stay sharp). A
   partial that was silent in the previous output frame starts at offset 0, the input's own
   phase.
2. **Integrate.** Every other significant bin gets its phase by RTPGHI's heap integration
   (:func:`rtst.phase.rtpghi.pghi_frame`), from the previous output frame (causal difference) and
   outward from the guided bins of this frame.
3. **Refine.** RTISI-LA iterations over the ``lookahead + 1`` frames in play
   (:func:`rtst.phase.rtisila.refine_and_emit`), as the other iterative methods.

For a model that filters its input (the shipped students), every partial is guided and the
method gives the input's phase, as ``input`` does; for a model that draws partials of its own,
those get RTPGHI's phase, coherent with the guided ones. With nothing guided it is the causal
hybrid (:class:`rtst.phase.rtisila.HybridPhase` below three hops of lookahead).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from rtst.dsp.compiled import angle, bound, cabs, rt_kernel

from rtst.config import StftConfig
from rtst.dsp.kernel_state import named, plain
from rtst.phase._kernels import LOG_FLOOR, log_magnitude, wrap
from rtst.phase.rtisila import (DEFAULT_ITERATIONS, RtisilaPhase, RtisilaState, _shift, causal_range,
                                pghi_causal_init, refine_and_emit, store_newest)
from rtst.phase.rtpghi import SILENT_LOG
from rtst.validate import require_float, require_int

__all__ = ["GuidedPhase", "GuidedState", "mark_guided", "DEFAULT_GUIDE_TOL", "DEFAULT_SPAN", "DEFAULT_BEND_DB",
           "RELAX"]

#: Input bins more than 60 dB below the input frame's peak never guide: their phase is noise.
DEFAULT_GUIDE_TOL = 1e-3
#: Bins either side of an output peak where the log-ratio output/input is compared with the
#: peak's: past the main lobe of the Hann window (2 bins).
DEFAULT_SPAN = 3
#: Largest bend (dB) of the log-ratio at an output peak for the partial to follow the input's.
#: A filter's is the curvature of its gain: the shipped students' gains bend up to about 12 dB
#: over 3 bins at low frequencies, while a partial drawn where the input has none or another bends
#: it by 20-40 dB. Chosen on the tuning set (docs/phase.md): 3 dB guided 56 % of a student's
#: energy on transients, 12 dB all of it.
DEFAULT_BEND_DB = 12.0
#: Fraction of a partial's last offset from the input's phase it keeps each hop. A partial that
#: starts unguided (RTPGHI) and becomes guided keeps continuity for a few hops, then settles on
#: the input's phase, which is coherent with its guided neighbours (keeping the whole offset
#: measured 4 dB worse on student magnitudes).
RELAX = 0.5


class GuidedState(NamedTuple):
    """One hop of :func:`_guided_step` reads and writes these (and ``buf``, the RTISI-LA buffer).

    Attributes
    ----------
    buf : RtisilaState
        Frames in play, the overlap-add, the RTPGHI scratch; ``buf.fixed`` marks guided bins.
    mag_in, s_in, phase_in : float64 [n_bins]
        The input frame's magnitude, log-magnitude and phase.
    s_in_prev, phase_in_prev : float64 [n_bins]
        The same of the previous input frame.
    in_threshold_prev : float64 [1]
        The previous input frame's guide threshold (log-magnitude).
    owner : int64 [n_bins]
        Peak bin of each bin's region in the output frame.
    peaks : int64 [n_bins]
        Scratch: output peak bins.
    guide_log_tol : float
        ``log(guide_tol)``.
    span : int; bend_tol : float
        :func:`mark_guided`'s ``span`` and ``tol`` (nepers).
    """

    buf: RtisilaState
    mag_in: np.ndarray
    s_in: np.ndarray
    phase_in: np.ndarray
    s_in_prev: np.ndarray
    phase_in_prev: np.ndarray
    in_threshold_prev: np.ndarray
    owner: np.ndarray
    peaks: np.ndarray
    guide_log_tol: float
    span: int
    bend_tol: float


@rt_kernel
def _is_peak(s, k, threshold):
    n = s.shape[0]
    v = s[k]
    if v <= threshold:
        return False
    if k > 0 and s[k - 1] > v:
        return False
    if k + 1 < n and s[k + 1] >= v:
        return False
    return True


@rt_kernel
def _ratio(s_out, s_in, k):
    k = min(max(k, 0), s_out.shape[0] - 1)
    return s_out[k] - s_in[k]


@rt_kernel
def mark_guided(s_out, s_in, out_threshold, in_threshold, owner, peaks, fixed, span, tol):
    """Split the output frame into peak regions and mark the bins of the guided ones.

    A region follows the input when, at its peak ``p``, the log-ratio ``r = s_out - s_in`` is as
    smooth as a filter's: ``|r(p) - (r(p - span) + r(p + span)) / 2| <= tol``. A model that
    filters its input has ``r = log(gain)``, smooth across bins whatever the partials; a partial
    the model draws where the input has none (or has another) makes ``r`` peak.

    Parameters
    ----------
    s_out, s_in : float64 [n_bins]
        Log-magnitudes of the output (asked for) and of the input, same frame.
    out_threshold, in_threshold : float
        Log-magnitudes at or below which an output / input bin is insignificant.
    owner : int64 [n_bins], written
        The peak bin of each bin's region (-1 where the frame has no peak).
    peaks : int64 [n_bins]
        Scratch.
    fixed : uint8 [n_bins], written
        1 where the bin is guided: its region follows the input and the bin is significant in
        both frames.
    span : int
        Bins either side of the peak the ratio is compared with (beyond the window's main lobe).
    tol : float
        Largest bend of the log-ratio at the peak, in nepers.

    Returns
    -------
    count : int
        Guided bins. Real-time safe: O(n_bins), no allocation.
    """
    n = s_out.shape[0]
    count = 0
    for k in range(n):
        fixed[k] = 0
        owner[k] = -1
        if _is_peak(s_out, k, out_threshold):
            peaks[count] = k
            count += 1
    guided = 0
    lo = 0
    for i in range(count):
        p = peaks[i]
        hi = n - 1
        if i + 1 < count:  # the region ends at the lowest bin between this peak and the next
            q = peaks[i + 1]
            hi = p
            for k in range(p + 1, q):
                if s_out[k] < s_out[hi]:
                    hi = k
        bend = _ratio(s_out, s_in, p) - 0.5 * (_ratio(s_out, s_in, p - span) + _ratio(s_out, s_in, p + span))
        follows = s_in[p] > in_threshold and abs(bend) <= tol
        for k in range(lo, hi + 1):
            owner[k] = p
            if follows and s_out[k] > out_threshold and s_in[k] > in_threshold:
                fixed[k] = 1
                guided += 1
        lo = hi + 1
    return guided


@rt_kernel
def _guided_step(mag, spec_in, spec_out, args):
    """One hop: guide, integrate, refine; emit the frame ``lookahead`` hops back.

    Parameters
    ----------
    mag : float64 [n_bins]
    spec_in : complex128 [n_bins]
        The input's spectrum of the same frame.
    spec_out : complex128 [n_bins], written
    args : GuidedState in its plain form, updated

    Real-time safe: no allocation.
    """
    g = named(GuidedState, args)
    st = g.buf
    last = st.s.shape[0] - 1
    n_bins = mag.shape[0]
    s_prev, phase_prev = st.s_store, st.phase_store  # the newest frame of the last hop
    top, threshold = causal_range(st, _shift(st, mag))
    mag_in, phase_in, s_in_prev, phase_in_prev = g.mag_in, g.phase_in, g.s_in_prev, g.phase_in_prev
    for k in range(n_bins):
        z = spec_in[k]
        mag_in[k] = cabs(z)
        phase_in[k] = angle(z)
    in_threshold = max(log_magnitude(mag_in, g.s_in) + g.guide_log_tol, SILENT_LOG)
    fixed, owner, phase_cur = st.fixed, g.owner, st.phase_cur
    mark_guided(st.s[last], g.s_in, threshold, in_threshold, owner, g.peaks, fixed, g.span, g.bend_tol)
    in_threshold_prev = g.in_threshold_prev[0]
    for k in range(n_bins):
        if fixed[k]:
            p = owner[k]
            offset = 0.0
            if s_prev[p] > threshold and s_in_prev[p] > in_threshold_prev:
                offset = RELAX * wrap(phase_prev[p] - phase_in_prev[p])
            phase_cur[k] = phase_in[k] + offset
    pghi_causal_init(st, top, threshold)
    refine_and_emit(st, spec_out)
    store_newest(st)
    for k in range(n_bins):
        s_in_prev[k] = g.s_in[k]
        phase_in_prev[k] = phase_in[k]
    g.in_threshold_prev[0] = in_threshold


class GuidedPhase(RtisilaPhase):
    """Input-guided phase (module docstring): the input's phase where the output follows it,
    RTPGHI elsewhere, RTISI-LA over the lookahead.

    Parameters
    ----------
    stft_config : StftConfig
    lookahead : int
        Frames of look-ahead (default 1); each adds one hop of latency.
    iterations : int
        RTISI-LA projections per frame in play per hop (default 0 without lookahead, where they
        measured worse than none, else 4).
    guide_tol : float
        Input bins below ``guide_tol`` times the input frame's peak never guide (default 1e-3).
    span : int
        See :data:`DEFAULT_SPAN` (default 3).
    bend_db : float
        See :data:`DEFAULT_BEND_DB` (default 3).
    momentum : float
        As :class:`rtst.phase.rtisila.RtisilaPhase` (default 0.3).
    asymmetric, tol, seed, gamma
        As :class:`rtst.phase.rtisila.HybridPhase`.
    """

    name = "guided"
    default_lookahead = 1
    # Its initial estimate is close to consistent already, and momentum overshoots it: 0.7 (the
    # hybrid's) measured 30 dB worse than 0.3 on identity magnitudes at hop 64, the same on students.
    default_momentum = 0.3
    _init_mode = 2

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None, *, iterations: int | None = None,
                 guide_tol: float = DEFAULT_GUIDE_TOL, span: int = DEFAULT_SPAN, bend_db: float = DEFAULT_BEND_DB,
                 **options):
        la = self.default_lookahead if lookahead is None else lookahead
        if iterations is None:  # nothing to refine against without lookahead (measured: it only costs)
            iterations = 0 if la == 0 else DEFAULT_ITERATIONS
        super().__init__(stft_config, lookahead, iterations=iterations, **options)
        self.guide_tol = require_float("guide_tol", guide_tol, 1e-12, 0.5)
        self.span = require_int("span", span, 1, 16)
        self.bend_db = require_float("bend_db", bend_db, 0.0, 120.0)
        n = self.n_bins
        self._state = GuidedState(
            buf=self._state, mag_in=np.zeros(n), s_in=np.zeros(n), phase_in=np.zeros(n), s_in_prev=np.zeros(n),
            phase_in_prev=np.zeros(n), in_threshold_prev=np.zeros(1), owner=np.zeros(n, dtype=np.int64),
            peaks=np.zeros(n, dtype=np.int64), guide_log_tol=math.log(self.guide_tol), span=self.span,
            bend_tol=self.bend_db * math.log(10.0) / 20.0)
        self._args = plain(self._state)
        self._guided_kernel = bound(_guided_step, *self._frame_buffers(), self._args)
        self.reset()

    @property
    def _buffer(self) -> RtisilaState:
        state = self._state
        return state.buf if isinstance(state, GuidedState) else state

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation (C-level included)."""
        self._guided_kernel(mag, spec_in, spec_out, self._args)

    def reset(self):
        super().reset()
        st = self._state
        if not isinstance(st, GuidedState):  # the base constructor resets before the full state exists
            return
        for buf in (st.mag_in, st.phase_in, st.phase_in_prev):
            buf[:] = 0.0
        for buf in (st.s_in, st.s_in_prev):
            buf[:] = math.log(LOG_FLOOR)
        st.in_threshold_prev[:] = SILENT_LOG
        st.owner[:] = -1
        st.peaks[:] = 0

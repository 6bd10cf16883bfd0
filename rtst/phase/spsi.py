"""SPSI: single pass spectrogram inversion (Beauregard, Harish & Wyse 2015).

Each frame: find the magnitude peaks, estimate each peak's instantaneous frequency by quadratic
interpolation (on the log-magnitude, which is exact for a Gaussian lobe), advance that bin's phase
accumulator by ``hop * frequency``, and lock every bin of the peak's region (down to the troughs
on either side) to the peak's phase. Region bins also take the locked phase into their own
accumulators, so a peak that drifts to a neighbouring bin continues its phase. With the engine's frame-centred phase a stationary sinusoid
has the same phase across its main lobe, so the bins are locked with no alternating ``pi`` (the
paper's ``pi`` offsets belong to frames whose phase is measured from their first sample). Zero
lookahead: no added latency.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from rtst.dsp.compiled import bound, rt_kernel

from rtst.config import StftConfig
from rtst.dsp.kernel_state import named, plain
from rtst.errors import ParameterError
from rtst.phase._kernels import LOG_FLOOR, TWO_PI, wrap
from rtst.phase.base import PhaseMethod

__all__ = ["SpsiPhase", "SpsiState"]


class SpsiState(NamedTuple):
    """What one hop of :func:`_spsi_step` reads and writes, built once per instance.

    Attributes
    ----------
    accum : float64 [n_bins]
        Each bin's phase accumulator; persists between frames.
    phase : float64 [n_bins]
        Scratch: the locked phase of each peak region's bins (NaN outside every region).
    hop, n_fft : float
        Hop and frame length in samples.
    """

    accum: np.ndarray
    phase: np.ndarray
    hop: float
    n_fft: float


@rt_kernel
def _spsi_step(mag, spec_out, args):
    """One frame of SPSI.

    Parameters
    ----------
    mag : float64 [n_bins]
    spec_out : complex128 [n_bins], written
    args : SpsiState in its plain form, updated

    Real-time safe: no allocation.
    """
    st = named(SpsiState, args)
    accum, phase = st.accum, st.phase
    n = mag.shape[0]
    w = TWO_PI * st.hop / st.n_fft
    for k in range(n):
        phase[k] = np.nan
    for k in range(1, n - 1):
        m = mag[k]
        if not (m > mag[k - 1] and m >= mag[k + 1]) or m <= LOG_FLOOR:
            continue
        a = math.log(mag[k - 1] + LOG_FLOOR)
        b = math.log(m + LOG_FLOOR)
        c = math.log(mag[k + 1] + LOG_FLOOR)
        denom = a - 2.0 * b + c
        p = 0.5 * (a - c) / denom if denom < 0.0 else 0.0
        if p > 0.5:
            p = 0.5
        elif p < -0.5:
            p = -0.5
        accum[k] = wrap(accum[k] + w * (k + p))
        peak_phase = accum[k]
        phase[k] = peak_phase
        j = k - 1
        while j >= 0 and mag[j] < mag[j + 1]:
            phase[j] = peak_phase
            j -= 1
        j = k + 1
        while j < n and mag[j] < mag[j - 1]:
            phase[j] = peak_phase
            j += 1
    for k in range(n):
        p = phase[k]
        if p != p:  # not in any peak's region: advance at the bin's own frequency
            accum[k] = wrap(accum[k] + w * k)
            p = accum[k]
        elif not (k > 0 and k < n - 1 and mag[k] > mag[k - 1] and mag[k] >= mag[k + 1]):
            accum[k] = p  # a region bin carries the locked phase forward
        spec_out[k] = mag[k] * complex(math.cos(p), math.sin(p))


class SpsiPhase(PhaseMethod):
    """Single pass spectrogram inversion: zero lookahead, no iterations, the cheapest estimate."""

    name = "spsi"
    default_lookahead = 0

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None):
        super().__init__(stft_config, lookahead)
        if self.lookahead != 0:
            raise ParameterError(f"lookahead={self.lookahead} must be 0 for spsi (a single-pass method)")
        self._state = SpsiState(accum=np.zeros(self.n_bins), phase=np.zeros(self.n_bins),
                                hop=float(stft_config.hop_length), n_fft=float(stft_config.n_fft))
        self._args = plain(self._state)
        self._step = bound(_spsi_step, *self._frame_buffers()[::2], self._args)

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation (C-level included)."""
        self._step(mag, spec_out, self._args)

    def reset(self):
        self._state.accum[:] = 0.0
        self._state.phase[:] = 0.0

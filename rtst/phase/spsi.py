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

import numpy as np
from numba import njit

from rtst.config import StftConfig
from rtst.errors import ParameterError
from rtst.phase._kernels import LOG_FLOOR, TWO_PI, wrap
from rtst.phase.base import PhaseMethod

__all__ = ["SpsiPhase"]


@njit(cache=True, nogil=True)
def _spsi_step(mag, spec_out, accum, phase, hop, n_fft):
    """One frame of SPSI. ``accum`` [n_bins] persists between frames; ``phase`` is scratch.

    Real-time safe.
    """
    n = mag.shape[0]
    w = TWO_PI * hop / n_fft
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
        self._accum = np.zeros(self.n_bins)
        self._phase = np.zeros(self.n_bins)
        self._state = (self._accum, self._phase, float(stft_config.hop_length), float(stft_config.n_fft))

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation."""
        _spsi_step(mag, spec_out, *self._state)

    def reset(self):
        self._accum[:] = 0.0
        self._phase[:] = 0.0

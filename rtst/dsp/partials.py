"""Spectra built in the STFT domain: partials as window-shaped peaks, noise as band envelopes.

A sinusoid ``a cos(2 pi f t + phi)`` (``phi`` its phase at the frame's centre sample, the
frame-centred convention of :mod:`rtst.dsp.stft`) has, in the frame's spectrum,

    X[k] = a/2 (exp(i phi) W(k - f/df) + exp(-i phi) W(k + f/df)),    df = sample_rate / n_fft,

where ``W(delta)`` is the zero-phase transform of the analysis window at ``delta`` bins (real, since
the window is symmetric about its centre). :func:`lobe_table` tabulates ``W`` finely over the
main lobe and first side lobes, and :func:`add_partial` adds one partial to a spectrum from it: a
handful of bins a partial instead of an oscillator per sample, and exactly the frame the analysis
of that sinusoid would give, up to the table's truncation (tests/test_resynth.py re-analyses it).
Summing partials and noise in one spectrum before the one inverse FFT makes overlapping partials
interfere as real ones do.

Noise and spectral envelopes are described per band: :func:`band_map` places ``n_bands``
triangular bands on the mel scale and says, per bin, which two band centres it lies between and how
far (piecewise-linear interpolation of band values across bins, and its transpose to measure band
energies).
"""

from __future__ import annotations

import math

import numpy as np

from rtst.dsp.compiled import rt_kernel

__all__ = ["lobe_table", "add_partial", "band_map", "band_power", "band_value", "LOBE_HALF_WIDTH", "LOBE_OVERSAMPLE", "N_BANDS"]

#: Bins each side of a partial's centre that it is drawn over: the Hann window's main lobe is
#: +-2 bins, its first side lobe (-31 dB) ends at 3; beyond 4 bins it is below -40 dB.
LOBE_HALF_WIDTH = 4
#: Table points per bin (linear interpolation between them: error below 1e-3 of the peak).
LOBE_OVERSAMPLE = 64
#: Noise and envelope bands, mel-spaced from 0 Hz to Nyquist.
N_BANDS = 32


def lobe_table(window: np.ndarray, half_width: int = LOBE_HALF_WIDTH,
               oversample: int = LOBE_OVERSAMPLE) -> np.ndarray:
    """Zero-phase transform of ``window`` at ``-half_width .. half_width`` bins.

    Returns
    -------
    table : np.ndarray, float64 [2 * half_width * oversample + 1]
        ``W(delta)`` at ``delta = -half_width + i / oversample``; ``W(0) = sum(window)``.
    """
    n_fft = window.shape[0]
    delta = np.arange(-half_width * oversample, half_width * oversample + 1) / oversample
    n = np.arange(n_fft) - n_fft // 2
    return (np.cos(2.0 * np.pi * np.outer(delta, n) / n_fft) @ window).astype(np.float64)


@rt_kernel(inline="always")
def _lobe(table, delta, half_width, oversample):
    pos = (delta + half_width) * oversample
    i = int(math.floor(pos))
    if i < 0 or i >= table.shape[0] - 1:
        return 0.0
    frac = pos - i
    return table[i] + frac * (table[i + 1] - table[i])


@rt_kernel
def add_partial(spec, amplitude, freq_bins, phase, table, half_width, oversample):
    """Add ``amplitude cos(2 pi f t + phase)`` (``f = freq_bins`` bins) to the frame-centred
    spectrum ``spec`` (complex128 [n_bins]), with its negative-frequency image near DC.
    Real-time safe: no allocation."""
    n_bins = spec.shape[0]
    c = 0.5 * amplitude * math.cos(phase)
    s = 0.5 * amplitude * math.sin(phase)
    lo = max(0, int(math.ceil(freq_bins - half_width)))
    hi = min(n_bins - 1, int(math.floor(freq_bins + half_width)))
    for k in range(lo, hi + 1):
        w = _lobe(table, k - freq_bins, half_width, oversample)
        spec[k] += complex(c * w, s * w)
    for k in range(0, min(n_bins, int(math.floor(half_width - freq_bins)) + 1)):
        w = _lobe(table, k + freq_bins, half_width, oversample)
        spec[k] += complex(c * w, -s * w)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def band_centres_hz(sample_rate: int, n_bands: int = N_BANDS) -> np.ndarray:
    """Band centres, Hz, float64 [n_bands]: mel-spaced, the first at 0 and the last at Nyquist."""
    return _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2.0), n_bands))


def band_map(sample_rate: int, n_fft: int, n_bands: int = N_BANDS) -> tuple[np.ndarray, np.ndarray]:
    """Which band centres each bin lies between.

    Returns
    -------
    lower : np.ndarray, int64 [n_bins]
        Index of the band centre at or below the bin (``n_bands - 2`` at most).
    frac : np.ndarray, float64 [n_bins]
        Position between ``lower`` (0) and ``lower + 1`` (1): a band value ``g`` reaches bin ``k``
        as ``(1 - frac[k]) g[lower[k]] + frac[k] g[lower[k] + 1]``.
    """
    centres = band_centres_hz(sample_rate, n_bands)
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lower = np.clip(np.searchsorted(centres, freqs, side="right") - 1, 0, n_bands - 2)
    frac = np.clip((freqs - centres[lower]) / (centres[lower + 1] - centres[lower]), 0.0, 1.0)
    return lower.astype(np.int64), frac.astype(np.float64)


@rt_kernel(inline="always")
def band_value(values, lower, frac, k):
    """Band ``values`` [n_bands] at bin ``k``, interpolated between the centres around it
    (:func:`band_map`). Real-time safe."""
    f = frac[k]
    b = lower[k]
    return (1.0 - f) * values[b] + f * values[b + 1]


@rt_kernel
def band_power(power, lower, frac, out, weight):
    """Mean of ``power`` [n_bins] per band, triangularly weighted, into ``out`` [n_bands]
    (``weight`` [n_bands] scratch). Real-time safe."""
    for b in range(out.shape[0]):
        out[b] = 0.0
        weight[b] = 0.0
    for k in range(power.shape[0]):
        b = lower[k]
        f = frac[k]
        out[b] += (1.0 - f) * power[k]
        weight[b] += 1.0 - f
        out[b + 1] += f * power[k]
        weight[b + 1] += f
    for b in range(out.shape[0]):
        out[b] = out[b] / weight[b] if weight[b] > 0.0 else 0.0

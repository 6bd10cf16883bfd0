"""Offline PGHI: phase-gradient heap integration over a whole spectrogram (Průša, Balazs &
Søndergaard 2017).

The gradients are those of :mod:`rtst.phase.rtpghi` with centred differences in both directions;
the integration visits every significant bin of the spectrogram in decreasing order of magnitude
(an exact binary heap), spreading phase to the four neighbours of each bin it pops. Each connected
region of significant bins starts from its loudest bin with a random phase (seeded).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from rtst.config import StftConfig
from rtst.errors import ParameterError
from rtst.phase._kernels import (LOG_FLOOR, freq_gradient, heap_pop, heap_push, random_phase,
                                 seed_state, time_gradient, wrap)
from rtst.phase.rtpghi import DEFAULT_TOL, SILENT_LOG, check_seed, check_tol, pghi_gamma

__all__ = ["pghi", "check_magnitude"]


@njit(cache=True, nogil=True)
def _pghi_offline(s, tgrad, fgrad, threshold, order, rng, phase, done, heap_keys, heap_vals):
    """Heap integration over ``s`` (float64 [n_frames, n_bins], log-magnitude).

    ``order`` lists flat indices ``m * n_bins + k`` by decreasing log-magnitude (seed order).
    Writes ``phase`` [n_frames, n_bins].
    """
    n_frames, n_bins = s.shape
    flat_s = s.ravel()
    flat_phase = phase.ravel()
    flat_done = done.ravel()
    flat_t = tgrad.ravel()
    flat_f = fgrad.ravel()
    for e in range(flat_s.shape[0]):
        if flat_s[e] <= threshold:
            flat_phase[e] = random_phase(rng)
            flat_done[e] = 1
    size = 0
    for seed in order:
        if flat_done[seed]:
            continue
        flat_phase[seed] = random_phase(rng)
        flat_done[seed] = 1
        size = heap_push(heap_keys, heap_vals, size, flat_s[seed], seed)
        while size > 0:
            e, size = heap_pop(heap_keys, heap_vals, size)
            m = e // n_bins
            k = e - m * n_bins
            p = flat_phase[e]
            if k > 0:
                j = e - 1
                if not flat_done[j]:
                    flat_phase[j] = p - 0.5 * (flat_f[e] + flat_f[j])
                    flat_done[j] = 1
                    size = heap_push(heap_keys, heap_vals, size, flat_s[j], j)
            if k + 1 < n_bins:
                j = e + 1
                if not flat_done[j]:
                    flat_phase[j] = p + 0.5 * (flat_f[e] + flat_f[j])
                    flat_done[j] = 1
                    size = heap_push(heap_keys, heap_vals, size, flat_s[j], j)
            if m > 0:
                j = e - n_bins
                if not flat_done[j]:
                    flat_phase[j] = p - 0.5 * (flat_t[e] + flat_t[j])
                    flat_done[j] = 1
                    size = heap_push(heap_keys, heap_vals, size, flat_s[j], j)
            if m + 1 < n_frames:
                j = e + n_bins
                if not flat_done[j]:
                    flat_phase[j] = p + 0.5 * (flat_t[e] + flat_t[j])
                    flat_done[j] = 1
                    size = heap_push(heap_keys, heap_vals, size, flat_s[j], j)
    for e in range(flat_phase.shape[0]):
        flat_phase[e] = wrap(flat_phase[e])


@njit(cache=True, nogil=True)
def _gradients(s, hop, n_fft, gamma, tgrad, fgrad):
    n_frames = s.shape[0]
    for m in range(n_frames):
        time_gradient(s[m], hop, n_fft, gamma, tgrad[m])
        lo = m - 1 if m > 0 else m
        hi = m + 1 if m + 1 < n_frames else m
        if hi > lo:  # centred inside, one-sided at the ends
            freq_gradient(s[lo], s[hi], float(hi - lo), hop, n_fft, gamma, fgrad[m])
        else:  # a single frame: no time difference
            fgrad[m, :] = 0.0


def check_magnitude(mag, stft_config: StftConfig) -> np.ndarray:
    """Validate a magnitude spectrogram; returns it as float64 [n_bins, n_frames].

    Raises
    ------
    ParameterError
        Not 2-D, wrong number of bins, no frames, negative or non-finite values.
    """
    mag = np.asarray(mag)
    if mag.ndim != 2 or mag.shape[0] != stft_config.n_bins or mag.shape[1] < 1:
        raise ParameterError(
            f"magnitude shape {mag.shape} must be [n_bins={stft_config.n_bins}, n_frames >= 1]"
        )
    mag = mag.astype(np.float64, copy=False)
    if not np.all(np.isfinite(mag)) or np.any(mag < 0):
        raise ParameterError("magnitude must be finite and non-negative")
    return mag


def pghi(mag, stft_config: StftConfig, *, tol: float = DEFAULT_TOL, seed: int = 0,
         gamma: float | None = None) -> np.ndarray:
    """Phase for a whole magnitude spectrogram by phase-gradient heap integration.

    Parameters
    ----------
    mag : np.ndarray, float [n_bins, n_frames]
        Magnitudes on the engine's frames (:func:`rtst.dsp.stft.stft`).
    stft_config : StftConfig
    tol : float
        Bins below ``tol`` times the spectrogram's peak get random phase.
    seed : int
        Seed of the random phases.
    gamma : float, optional
        Window constant in samples squared (default: the window's).

    Returns
    -------
    spec : np.ndarray, complex128 [n_bins, n_frames]
        ``mag`` with the reconstructed phase; :func:`rtst.dsp.stft.istft` turns it into audio.
    """
    mag = check_magnitude(mag, stft_config)
    tol = check_tol(tol)
    seed = check_seed(seed)
    gamma = pghi_gamma(stft_config, gamma)
    s = np.log(np.ascontiguousarray(mag.T) + LOG_FLOOR)  # [n_frames, n_bins]
    tgrad = np.empty_like(s)
    fgrad = np.empty_like(s)
    _gradients(s, float(stft_config.hop_length), float(stft_config.n_fft), gamma, tgrad, fgrad)
    threshold = max(float(s.max()) + math.log(tol), SILENT_LOG)
    flat = s.ravel()
    significant = np.flatnonzero(flat > threshold)
    order = significant[np.argsort(-flat[significant], kind="stable")].astype(np.int64)
    phase = np.zeros_like(s)
    done = np.zeros(s.shape, dtype=np.uint8)
    heap_keys = np.empty(s.size)
    heap_vals = np.empty(s.size, dtype=np.int64)
    _pghi_offline(s, tgrad, fgrad, threshold, order, seed_state(seed), phase, done, heap_keys, heap_vals)
    return np.ascontiguousarray((mag.T * np.exp(1j * phase)).T)

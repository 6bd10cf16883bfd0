"""STFT analysis and overlap-add synthesis: streaming kernels and offline transforms.

Conventions (the one place they are written down)
-------------------------------------------------
* Frame ``m`` of a stream covers input samples ``[m*hop_length - n_fft, m*hop_length)``: it is
  complete as soon as sample ``m*hop_length - 1`` has arrived. Samples before time 0 are zeros.
* Phase is **frame-centred**: a frame's spectrum is ``rfft(ifftshift(w * frame))``, i.e. the phase
  is measured from the frame's centre sample ``n_fft // 2``. For even ``n_fft`` this is the plain
  ``rfft`` with every odd bin negated. Phase-gradient methods (PGHI) assume this.
* Synthesis multiplies each inverse transform by the canonical dual window
  (:func:`rtst.dsp.windows.dual_window`) and overlap-adds; unmodified frames give the input back.
* Offline frame ``j`` (:func:`stft`) is streaming frame ``m = j + 1``; :func:`istft` returns the
  signal with time 0 at index 0, whereas the stream emits it ``n_fft - hop_length`` samples later.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

from rtst.config import StftConfig
from rtst.dsp.compiled import cabs, rt_kernel
from rtst.dsp.fft import FftPlan, irfft_kernel, rfft_kernel
from rtst.dsp.kernel_state import named
from rtst.dsp.windows import dual_window, get_window

__all__ = ["analyse_centred", "synthesise_centred", "analyse_frame", "synthesise_frame", "stft", "istft",
           "n_frames_for"]


@rt_kernel
def analyse_centred(frame, window, spec_out, scratch, plan):
    """Frame-centred spectrum of ``frame * window``: the one streaming analysis (engine and phase).

    Parameters
    ----------
    frame, window : float64 [n_fft]
    spec_out : complex128 [n_bins], written
    scratch : float64 [n_fft]
    plan : FftPlan

    Real-time safe: no allocation.
    """
    for n in range(frame.shape[0]):
        scratch[n] = frame[n] * window[n]
    rfft_kernel(scratch, spec_out, plan)
    # for even n_fft, moving the time origin to sample n_fft // 2 negates every odd bin
    for k in range(1, spec_out.shape[0], 2):
        spec_out[k] = -spec_out[k]


@rt_kernel
def synthesise_centred(spec, synthesis, frame_out, spec_scratch, plan):
    """Inverse of :func:`analyse_centred`, times the synthesis window.

    Parameters
    ----------
    spec : complex128 [n_bins]
        Frame-centred spectrum (left unchanged).
    synthesis : float64 [n_fft]
        The dual window (:func:`rtst.dsp.windows.dual_window`).
    frame_out : float64 [n_fft], written
    spec_scratch : complex128 [n_bins]
    plan : FftPlan

    Real-time safe: no allocation.
    """
    for k in range(spec.shape[0]):
        v = spec[k]
        spec_scratch[k] = -v if k & 1 else v
    irfft_kernel(spec_scratch, frame_out, plan)
    for n in range(frame_out.shape[0]):
        frame_out[n] *= synthesis[n]


def _as_plan(plan, twiddle, split, work):
    """The :class:`FftPlan` from the plan itself, its plain-tuple form, or its four tables."""


@overload(_as_plan)
def _as_plan_compiled(plan, twiddle, split, work):
    # Chosen at compile time from the argument types: no cost per call.
    if isinstance(twiddle, (types.NoneType, types.Omitted)):
        return lambda plan, twiddle, split, work: named(FftPlan, plan)
    return lambda plan, twiddle, split, work: FftPlan(plan, twiddle, split, work)


@rt_kernel
def analyse_frame(frame, window, spec_out, mag_out, scratch, plan, twiddle=None, split=None, work=None):
    """Windowed, frame-centred spectrum and magnitude of one frame.

    Parameters
    ----------
    frame, window : float64 [n_fft]
    spec_out : complex128 [n_bins], written
    mag_out : float64 [n_bins], written
    scratch : float64 [n_fft]
    plan : FftPlan or its :func:`rtst.dsp.kernel_state.plain` form
        Or its first table, with ``twiddle, split, work`` the others: from Python the unpacked
        plan (``*plan``) is the quickest call.

    Real-time safe: no allocation.
    """
    analyse_centred(frame, window, spec_out, scratch, _as_plan(plan, twiddle, split, work))
    for k in range(spec_out.shape[0]):
        mag_out[k] = cabs(spec_out[k])


@rt_kernel
def synthesise_frame(spec, synthesis, acc, spec_scratch, scratch, max_peak, plan, twiddle=None, split=None,
                     work=None):
    """Inverse-transform a frame-centred spectrum and overlap-add it into ``acc``.

    A frame that is not finite or whose windowed peak exceeds ``max_peak`` is not added.

    Parameters
    ----------
    spec : complex128 [n_bins]
    synthesis : float64 [n_fft], the dual window
    acc : float64 [n_fft], overlap-add accumulator, updated
    spec_scratch : complex128 [n_bins]; scratch : float64 [n_fft]
    max_peak : float
    plan : FftPlan or its plain form, or its first table (as :func:`analyse_frame`)

    Returns
    -------
    ok : bool
        False if the frame was rejected.

    Real-time safe: no allocation.
    """
    synthesise_centred(spec, synthesis, scratch, spec_scratch, _as_plan(plan, twiddle, split, work))
    n_fft = scratch.shape[0]
    for n in range(n_fft):
        if not abs(scratch[n]) <= max_peak:  # also catches NaN
            return False
    for n in range(n_fft):
        acc[n] += scratch[n]
    return True


def n_frames_for(n_samples: int, stft_config: StftConfig) -> int:
    """Number of offline frames whose overlap-add fully covers ``n_samples`` samples."""
    return (n_samples - 1 + stft_config.n_fft) // stft_config.hop_length


def stft(signal: np.ndarray, stft_config: StftConfig) -> np.ndarray:
    """Offline STFT with the streaming engine's frames and phase convention.

    Parameters
    ----------
    signal : np.ndarray, float [n_samples]

    Returns
    -------
    spec : np.ndarray, complex128 [n_bins, n_frames]
        Frame ``j`` covers ``signal[(j+1)*hop - n_fft : (j+1)*hop]`` (zeros outside the signal).
    """
    n_fft, hop = stft_config.n_fft, stft_config.hop_length
    x = np.asarray(signal, dtype=np.float64)
    n_frames = n_frames_for(x.shape[0], stft_config)
    left = n_fft - hop
    padded = np.zeros(left + n_frames * hop + hop)
    padded[left:left + x.shape[0]] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = get_window(stft_config.window, n_fft)
    spec = np.fft.rfft(frames * window, axis=1)  # [n_frames, n_bins]
    spec[:, 1::2] *= -1.0  # frame-centred phase
    return np.ascontiguousarray(spec.T)


def istft(spec: np.ndarray, stft_config: StftConfig, length: int) -> np.ndarray:
    """Offline inverse of :func:`stft` (dual-window overlap-add).

    Parameters
    ----------
    spec : np.ndarray, complex [n_bins, n_frames]
    length : int
        Samples to return.

    Returns
    -------
    signal : np.ndarray, float64 [length]
    """
    n_fft, hop = stft_config.n_fft, stft_config.hop_length
    spec = np.array(spec, dtype=np.complex128)
    spec[1::2, :] *= -1.0
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1)  # [n_frames, n_fft]
    frames *= dual_window(get_window(stft_config.window, n_fft), hop)
    n_frames = frames.shape[0]
    out = np.zeros(n_frames * hop + n_fft)
    for j in range(n_frames):
        out[j * hop:j * hop + n_fft] += frames[j]
    left = n_fft - hop
    result = out[left:left + length]
    if result.shape[0] < length:
        result = np.concatenate([result, np.zeros(length - result.shape[0])])
    return result

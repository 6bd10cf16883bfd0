"""Allocation-free real FFT kernels in numba.

numpy's FFT allocates its result and cannot be called from compiled code, but the engine runs on the
audio thread and the phase reconstructors need several transforms per hop inside one compiled loop.
These kernels transform in place into preallocated buffers: an ``n``-point real transform is one
``n/2``-point complex radix-2 transform plus a split step. ``n`` must be a power of two (>= 4).

:func:`fft_plan` builds the tables and scratch once, as one :class:`FftPlan` that the kernels take
whole; :class:`RfftPlan` wraps it with allocating conveniences for use outside the audio thread.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from rtst.dsp.compiled import rt_kernel

__all__ = ["FftPlan", "fft_plan", "RfftPlan", "rfft_kernel", "irfft_kernel"]


class FftPlan(NamedTuple):
    """Tables and scratch of an ``n_fft``-point real FFT (``m = n_fft // 2``).

    Passed whole to :func:`rfft_kernel` and :func:`irfft_kernel`, and held inside the phase
    methods' kernel states.

    Attributes
    ----------
    bitrev : int64 [m]
        Bit-reversal permutation of the ``m``-point complex transform.
    twiddle : complex128 [max(m // 2, 1)]
        ``exp(-2j pi k / m)``.
    split : complex128 [m + 1]
        ``exp(-2j pi k / n_fft)``, for the step between the real and the complex transform.
    work : complex128 [m]
        Scratch, overwritten by every transform: one plan per thread.
    """

    bitrev: np.ndarray
    twiddle: np.ndarray
    split: np.ndarray
    work: np.ndarray


def fft_plan(n_fft: int) -> FftPlan:
    """Tables and scratch for an ``n_fft``-point real FFT.

    Parameters
    ----------
    n_fft : int
        Power of two, >= 4.

    Returns
    -------
    plan : FftPlan

    Raises
    ------
    ValueError
        ``n_fft`` is not a power of two >= 4.
    """
    if n_fft < 4 or n_fft & (n_fft - 1):
        raise ValueError(f"n_fft={n_fft} must be a power of two >= 4")
    m = n_fft // 2
    bits = m.bit_length() - 1
    idx = np.arange(m)
    bitrev = np.zeros(m, dtype=np.int64)
    for b in range(bits):
        bitrev |= ((idx >> b) & 1) << (bits - 1 - b)
    return FftPlan(bitrev=bitrev,
                   twiddle=np.exp(-2j * np.pi * np.arange(max(m // 2, 1)) / m),
                   split=np.exp(-2j * np.pi * np.arange(m + 1) / n_fft),
                   work=np.zeros(m, dtype=np.complex128))


@rt_kernel
def _cfft_inplace(z, bitrev, twiddle):
    """Forward complex radix-2 FFT of z (complex128 [m]) in place. Real-time safe: no allocation."""
    m = z.shape[0]
    for i in range(m):
        j = bitrev[i]
        if j > i:
            tmp = z[i]
            z[i] = z[j]
            z[j] = tmp
    size = 2
    while size <= m:
        half = size >> 1
        stride = m // size
        for start in range(0, m, size):
            for k in range(half):
                w = twiddle[k * stride]
                a = z[start + k]
                b = z[start + k + half] * w
                z[start + k] = a + b
                z[start + k + half] = a - b
        size <<= 1


@rt_kernel
def rfft_kernel(x, out, plan):
    """Real FFT: ``out[k] = sum_n x[n] exp(-2j pi k n / n_fft)``.

    Parameters
    ----------
    x : float64 [n_fft]
    out : complex128 [n_fft // 2 + 1], written
    plan : FftPlan
        Of the same ``n_fft``; its ``work`` is overwritten.

    Real-time safe: no allocation.
    """
    work, split = plan.work, plan.split
    m = work.shape[0]
    for i in range(m):
        work[i] = complex(x[2 * i], x[2 * i + 1])
    _cfft_inplace(work, plan.bitrev, plan.twiddle)
    z0 = work[0]
    out[0] = z0.real + z0.imag
    out[m] = z0.real - z0.imag
    for k in range(1, m):
        zk = work[k]
        zc = work[m - k].conjugate()
        even = 0.5 * (zk + zc)
        odd = -0.5j * (zk - zc)
        out[k] = even + split[k] * odd


@rt_kernel
def irfft_kernel(spec, out, plan):
    """Inverse real FFT: ``out[n] = (1/n_fft) sum_k X[k] exp(2j pi k n / n_fft)`` (Hermitian X).

    The imaginary parts of ``spec[0]`` and ``spec[n_fft//2]`` are ignored, as for numpy.fft.irfft.

    Parameters
    ----------
    spec : complex128 [n_fft // 2 + 1]
    out : float64 [n_fft], written
    plan : FftPlan
        Of the same ``n_fft``; its ``work`` is overwritten.

    Real-time safe: no allocation.
    """
    work, split = plan.work, plan.split
    m = work.shape[0]
    for k in range(m):
        xk = spec[k]
        xc = spec[m - k].conjugate()
        if k == 0:
            xk = complex(spec[0].real, 0.0)
            xc = complex(spec[m].real, 0.0)
        even = 0.5 * (xk + xc)
        odd = 0.5 * (xk - xc) * split[k].conjugate()
        # inverse transform via conjugation: ifft(v) = conj(fft(conj(v))) / m
        work[k] = (even + 1j * odd).conjugate()
    _cfft_inplace(work, plan.bitrev, plan.twiddle)
    scale = 1.0 / m
    for i in range(m):
        v = work[i]
        out[2 * i] = v.real * scale
        out[2 * i + 1] = -v.imag * scale


class RfftPlan:
    """An :class:`FftPlan` with allocating conveniences (for tests and offline use).

    Parameters
    ----------
    n_fft : int
        Power of two, >= 4.

    Attributes
    ----------
    n_fft : int
    tables : FftPlan
        To pass to the compiled kernels (one argument).
    """

    def __init__(self, n_fft: int):
        self.tables = fft_plan(n_fft)
        self.n_fft = n_fft

    def rfft(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Real FFT of ``x`` (float [n_fft]) into ``out`` (complex128 [n_fft // 2 + 1], allocated if not given)."""
        if out is None:
            out = np.empty(self.n_fft // 2 + 1, dtype=np.complex128)
        rfft_kernel(np.ascontiguousarray(x, dtype=np.float64), out, self.tables)
        return out

    def irfft(self, spec: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Inverse of :meth:`rfft` into ``out`` (float64 [n_fft], allocated if not given)."""
        if out is None:
            out = np.empty(self.n_fft, dtype=np.float64)
        irfft_kernel(np.ascontiguousarray(spec, dtype=np.complex128), out, self.tables)
        return out

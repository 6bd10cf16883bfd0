"""Analysis windows and the canonical dual (synthesis) window.

The synthesis window ``g`` is the canonical dual of the analysis window ``w`` for a hop ``a``::

    g[n] = w[n] / sum_m w[n + m*a]**2     (sum over every frame that covers the sample)

so that analysis x synthesis overlap-adds to exactly one and an unmodified STFT reconstructs its
input to float precision, for any hop that keeps the denominator away from zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOWS", "get_window", "ola_square_sum", "dual_window", "PGHI_GAMMA_RATIO", "GAUSS_LAMBDA_RATIO"]


def _hann(n_fft: int) -> np.ndarray:
    # Periodic Hann: the DFT-even form whose shifted copies sum to a constant.
    n = np.arange(n_fft)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)


#: Time-frequency ratio of the ``gauss`` window: ``lambda / n_fft**2``; the truncation at the frame
#: edges is 0.4 % of the peak (exp(-pi / (4 * 0.14))). Chosen on the phase tuning set
#: (rtst/testing/tuning.py) at n_fft 1024 / hop 64, among 0.12, 0.14, 0.17 and 0.20: RTPGHI(1)
#: 0.5-2.2 dB and the hybrid 2-10 dB better than at 0.17 (docs/phase.md).
GAUSS_LAMBDA_RATIO = 0.14


def _gauss(n_fft: int) -> np.ndarray:
    # Truncated Gaussian exp(-pi t^2 / lambda), centred on sample n_fft // 2 like the periodic Hann.
    t = np.arange(n_fft) - n_fft // 2
    return np.exp(-np.pi * t * t / (GAUSS_LAMBDA_RATIO * n_fft * n_fft))


#: Window name -> factory taking n_fft and returning float64 [n_fft].
WINDOWS = {"hann": _hann, "gauss": _gauss}

#: PGHI time-frequency constant gamma / n_fft**2 per window: Hann from Prusa et al. 2017 (Table 1);
#: for the Gaussian it is its own lambda, for which the phase-gradient relations are exact.
PGHI_GAMMA_RATIO = {"hann": 0.25645, "gauss": GAUSS_LAMBDA_RATIO}


def get_window(name: str, n_fft: int) -> np.ndarray:
    """Analysis window.

    Returns
    -------
    window : np.ndarray, float64 [n_fft]
    """
    return WINDOWS[name](n_fft)


def ola_square_sum(window: np.ndarray, hop_length: int) -> np.ndarray:
    """Overlap-added squared window, one period.

    Returns
    -------
    ola : np.ndarray, float64 [hop_length]
        ``ola[r] = sum_m window[r + m*hop_length]**2``: the energy every sample at phase ``r`` of
        the hop grid receives from all frames covering it.
    """
    n_fft = window.shape[0]
    sq = window.astype(np.float64) ** 2
    padded = np.zeros(-(-n_fft // hop_length) * hop_length)
    padded[:n_fft] = sq
    return padded.reshape(-1, hop_length).sum(axis=0)


def dual_window(window: np.ndarray, hop_length: int) -> np.ndarray:
    """Canonical dual synthesis window.

    Returns
    -------
    synthesis : np.ndarray, float64 [n_fft]
    """
    ola = ola_square_sum(window, hop_length)
    n = np.arange(window.shape[0])
    return window / ola[n % hop_length]

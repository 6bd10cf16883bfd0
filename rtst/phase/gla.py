"""Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013) on the engine's frames, for whole
spectrograms, initialised from PGHI by default.

Each iteration projects onto the set of spectrograms with the target magnitude, then onto the
set of consistent spectrograms (STFTs of a signal: inverse then forward transform), and
extrapolates with momentum ``alpha``::

    t_n = P_consistent(P_magnitude(c_{n-1}))
    c_n = t_n + alpha * (t_n - t_{n-1})

The projections work on the full support of the frames (no truncation to a signal length), so
the magnitude target is met on every frame including the edges.
"""

from __future__ import annotations

import numpy as np

from rtst.config import StftConfig
from rtst.dsp.windows import dual_window, get_window
from rtst.errors import ParameterError
from rtst.phase._kernels import seed_state
from rtst.phase.pghi import check_magnitude, pghi
from rtst.phase.rtpghi import check_seed

__all__ = ["fast_griffin_lim", "INITS", "MAX_GLA_ITERATIONS"]

#: Initial phase choices.
INITS = ("pghi", "random", "zeros")
MAX_GLA_ITERATIONS = 10000


class _Frames:
    """Consistency projection on the engine's frames: signal support = the frames' union."""

    def __init__(self, stft_config: StftConfig, n_frames: int):
        self.n_fft, self.hop = stft_config.n_fft, stft_config.hop_length
        self.n_frames = n_frames
        self.window = get_window(stft_config.window, self.n_fft)
        self.synthesis = dual_window(self.window, self.hop)
        self.length = (n_frames - 1) * self.hop + self.n_fft
        self.signs = np.where(np.arange(stft_config.n_bins) % 2 == 1, -1.0, 1.0)  # frame-centred phase

    def project(self, spec: np.ndarray) -> np.ndarray:
        """``stft(istft(spec))`` for spec [n_frames, n_bins] (frame-major)."""
        frames = np.fft.irfft(spec * self.signs, n=self.n_fft, axis=1) * self.synthesis
        signal = np.zeros(self.length)
        for j in range(self.n_frames):
            signal[j * self.hop:j * self.hop + self.n_fft] += frames[j]
        view = np.lib.stride_tricks.sliding_window_view(signal, self.n_fft)[::self.hop]
        return np.fft.rfft(view * self.window, axis=1) * self.signs


def fast_griffin_lim(mag, stft_config: StftConfig, *, n_iter: int = 32, init="pghi",
                     alpha: float = 0.99, seed: int = 0, tol: float = 1e-5) -> np.ndarray:
    """Phase for a whole magnitude spectrogram by fast Griffin-Lim.

    Parameters
    ----------
    mag : np.ndarray, float [n_bins, n_frames]
        Magnitudes on the engine's frames (:func:`rtst.dsp.stft.stft`).
    stft_config : StftConfig
    n_iter : int
        Iterations (0 returns the initial estimate).
    init : {'pghi', 'random', 'zeros'} or np.ndarray complex [n_bins, n_frames]
        Initial phase: offline PGHI (default), seeded uniform random, zero, or a given spectrum's.
    alpha : float
        Momentum, 0 (plain Griffin-Lim) .. < 1.
    seed : int
        Seed for the random initial phase and for PGHI's random phases.
    tol : float
        PGHI's relative tolerance, when ``init='pghi'``.

    Returns
    -------
    spec : np.ndarray, complex128 [n_bins, n_frames]
        ``mag`` with the reconstructed phase.
    """
    mag = check_magnitude(mag, stft_config)
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or not 0 <= n_iter <= MAX_GLA_ITERATIONS:
        raise ParameterError(f"n_iter={n_iter!r} must be an integer from 0 to {MAX_GLA_ITERATIONS}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha < 1.0:
        raise ParameterError(f"alpha={alpha!r} must be a number in [0, 1)")
    seed = check_seed(seed)
    if isinstance(init, np.ndarray):
        if init.shape != mag.shape:
            raise ParameterError(f"init shape {init.shape} must equal the magnitude's {mag.shape}")
        spec = mag * np.exp(1j * np.angle(init))
    elif init == "pghi":
        spec = pghi(mag, stft_config, tol=tol, seed=seed)
    elif init == "random":
        rng = np.random.default_rng(int(seed_state(seed)[0]))
        spec = mag * np.exp(2j * np.pi * rng.random(mag.shape))
    elif init == "zeros":
        spec = mag.astype(np.complex128)
    else:
        raise ParameterError(f"init={init!r} must be one of {', '.join(INITS)} or a complex array")
    if n_iter == 0:
        return np.ascontiguousarray(spec)
    target = np.ascontiguousarray(mag.T)                      # [n_frames, n_bins]
    frames = _Frames(stft_config, target.shape[0])
    c = np.ascontiguousarray(spec.T)
    t_prev = None
    for _ in range(n_iter):
        t = frames.project(_with_magnitude(c, target))
        c = t if t_prev is None else t + alpha * (t - t_prev)
        t_prev = t
    return np.ascontiguousarray(_with_magnitude(c, target).T)


def _with_magnitude(spec: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """``mag`` with ``spec``'s phase (phase 0 where ``spec`` is 0)."""
    a = np.abs(spec)
    return mag * np.where(a > 0, spec / np.where(a > 0, a, 1.0), 1.0)

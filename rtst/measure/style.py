"""Descriptor-independent measures of a style transfer result: how much style, how much content.

They judge a result without listeners, and none of them is optimised by any training objective in
the project: the teacher and the student minimise Gram-matrix losses of a convolutional descriptor
on a log1p STFT magnitude, whereas these measures are built on mel cepstra and frame energies. A
model therefore cannot score well on them by over-fitting its own loss, which is what makes them
useful as a check.

Shared analysis (every measure below)
-------------------------------------
* Input: mono float32/float64 ``[n_samples]``; ``[n_samples, n_channels]`` is averaged to mono.
  Empty input and non-finite samples raise :class:`~rtst.errors.ParameterError`.
* Frames: periodic Hann window of ``n_fft`` samples every ``hop_length`` samples, centred like
  librosa's ``center=True`` but padded with zeros (``n_fft // 2`` each side), so frame ``j`` is
  centred on sample ``j * hop_length`` and there are ``1 + n_samples // hop_length`` frames.
* Power spectrum: ``|rfft(w * frame)|**2``, unnormalised (librosa's scale: a sine of amplitude A on
  a bin centre gives ``(A * n_fft / 4)**2``).
* Mel filterbank: HTK mel scale ``2595 * log10(1 + f / 700)``, triangles spaced evenly in mel,
  area-normalised in Hz (Slaney style: filter ``i`` has peak ``2 / (f[i+2] - f[i])``), so a band's
  output is a bandwidth-independent spectral density.

Measures
--------
* :func:`mfcc`: ``dct_ortho(10 * log10(max(mel_power, 1e-10)))``, orthonormal DCT-II over mel
  bands; the usual compact timbre description.
* :func:`timbre_distance` (**style**): Fréchet distance between Gaussian fits of the MFCC frames of
  two clips, ``||mu_a - mu_b||**2 + Tr(Sa + Sb - 2 (Sa^1/2 Sb Sa^1/2)^1/2)``, in dB². The clips may
  differ in content and length; c0 (level) is dropped by default and silent frames are ignored, so
  it compares timbre, not loudness or pauses. Lower means the output sounds more like the style.
* :func:`loudness_envelope`: ``10 * log10(sum((w * frame)**2) / sum(w**2))`` per frame (mean-square
  level in dB: a sine of amplitude A reads ``10 * log10(A**2 / 2)``), floored ``floor_db`` below
  the loudest frame.
* :func:`onset_strength`: spectral flux on the mel spectrum in dB (floored 80 dB below its
  maximum), half-wave rectified frame differences summed over mel bands.
* :func:`aligned_correlation`: Pearson correlation of two envelopes at the best integer lag.
* :func:`content_retention` (**content**): time-aligned correlation of the loudness envelopes of
  output and content. It asks whether the temporal structure (syllables, notes, rests) survives,
  not whether the timbre does; passthrough scores 1.0.
* :func:`pitch_kept` (**content**): on the content's voiced frames (pYIN, librosa), how often the
  output is voiced too and how closely its f0 follows (correlation of log f0, median error in
  cents). It asks whether a melody or an intonation survives the timbre change.
"""

from __future__ import annotations

import numpy as np

from rtst.dsp.windows import get_window
from rtst.errors import ParameterError

__all__ = [
    "mel_filterbank",
    "mfcc",
    "timbre_distance",
    "loudness_envelope",
    "onset_strength",
    "aligned_correlation",
    "content_retention",
    "pitch_kept",
]

#: Power floor before taking dB (librosa's ``amin``): -100 dB on the unnormalised power scale.
_POWER_FLOOR = 1e-10
#: Mean-square floor of the loudness envelope, so that digital silence reads -200 dB, not -inf.
_ENERGY_FLOOR = 1e-20
#: Dynamic range kept by the onset detector below the loudest mel bin (librosa's ``top_db``).
_ONSET_TOP_DB = 80.0


# --------------------------------------------------------------------------------------------
# Input checks and framing
# --------------------------------------------------------------------------------------------


def _as_mono(signal, name: str) -> np.ndarray:
    """Validated mono float64 copy-or-view of ``signal``.

    Parameters
    ----------
    signal : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
    name : str
        Used in error messages ("a", "output", ...).

    Returns
    -------
    x : np.ndarray, float64 [n_samples]
    """
    x = np.asarray(signal)
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"signal {name} must be float32 or float64 audio, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise ParameterError(f"signal {name} must be [n_samples] or [n_samples, n_channels], got shape {x.shape}")
    if x.shape[0] == 0:
        raise ParameterError(f"signal {name} is empty")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"signal {name} contains non-finite samples (NaN or inf)")
    return x


def _check_sample_rate(sample_rate) -> None:
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ParameterError(f"sample_rate must be a positive integer, got {sample_rate!r}")


def _check_framing(n_fft: int, hop_length: int) -> None:
    if not (isinstance(n_fft, (int, np.integer)) and n_fft >= 2):
        raise ParameterError(f"n_fft must be an integer >= 2, got {n_fft!r}")
    if not (isinstance(hop_length, (int, np.integer)) and hop_length >= 1):
        raise ParameterError(f"hop_length must be a positive integer, got {hop_length!r}")


def _frame_view(x: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred, zero-padded frames of ``x`` as a strided view (no copy).

    Returns
    -------
    frames : np.ndarray, float64 [n_frames, n_fft], read-only view
        ``n_frames = 1 + n_samples // hop_length``; frame ``j`` is centred on sample ``j*hop``.
    """
    half = n_fft // 2
    # Constant (zero) padding rather than librosa's default reflection: reflecting would invent
    # signal before the start and after the end, which would count as sound in the silence test.
    padded = np.concatenate([np.zeros(half), x, np.zeros(n_fft - half)])
    n_frames = 1 + x.shape[0] // hop_length
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[: n_frames * hop_length : hop_length]


def _frames_power(x: np.ndarray, *, n_fft: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrogram and per-frame energy of Hann-windowed centred frames.

    Parameters
    ----------
    x : np.ndarray, float64 [n_samples]
    n_fft, hop_length : int

    Returns
    -------
    power : np.ndarray, float64 [n_fft // 2 + 1, n_frames]
        ``|rfft(w * frame)|**2``.
    energy : np.ndarray, float64 [n_frames]
        ``sum((w * frame)**2)``, the quantity the silence test thresholds.
    """
    window = get_window("hann", n_fft)
    windowed = _frame_view(x, n_fft, hop_length) * window  # [n_frames, n_fft]
    energy = np.einsum("ij,ij->i", windowed, windowed)  # [n_frames]
    spec = np.fft.rfft(windowed, axis=1)  # [n_frames, n_bins]
    power = spec.real**2 + spec.imag**2  # [n_frames, n_bins]
    return power.T, energy


# --------------------------------------------------------------------------------------------
# Mel filterbank and MFCC
# --------------------------------------------------------------------------------------------


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 40, fmin_hz: float = 0.0,
                   fmax_hz: float | None = None) -> np.ndarray:
    """Triangular mel filterbank on the HTK mel scale, area-normalised (Slaney style).

    Band edges ``f[0..n_mels+1]`` are evenly spaced on ``mel = 2595 * log10(1 + f / 700)`` from
    ``fmin_hz`` to ``fmax_hz``; filter ``i`` rises linearly from ``f[i]`` to ``f[i+1]`` and falls
    to ``f[i+2]``, with peak ``2 / (f[i+2] - f[i])`` so that every triangle has unit area in Hz.
    Equal to ``librosa.filters.mel(htk=True, norm="slaney")``.

    Parameters
    ----------
    sample_rate : int
        Hz, positive.
    n_fft : int
        FFT size (>= 2); the filterbank acts on ``n_fft // 2 + 1`` rfft bins.
    n_mels : int
        Number of bands (>= 1).
    fmin_hz, fmax_hz : float
        Band range, ``0 <= fmin_hz < fmax_hz <= sample_rate / 2``; ``fmax_hz=None`` means Nyquist.

    Returns
    -------
    weights : np.ndarray, float64 [n_mels, n_fft // 2 + 1]

    Raises
    ------
    ParameterError
        Out-of-range settings, or a band so narrow that it covers no FFT bin (its output would be
        identically zero and pin the cepstrum to the dB floor).
    """
    _check_sample_rate(sample_rate)
    _check_framing(n_fft, 1)
    if not (isinstance(n_mels, (int, np.integer)) and n_mels >= 1):
        raise ParameterError(f"n_mels must be a positive integer, got {n_mels!r}")
    nyquist = sample_rate / 2.0
    fmax = nyquist if fmax_hz is None else float(fmax_hz)
    fmin = float(fmin_hz)
    if not (0.0 <= fmin < fmax <= nyquist):
        raise ParameterError(f"mel band range must satisfy 0 <= fmin_hz < fmax_hz <= {nyquist:g} Hz (Nyquist), "
                             f"got fmin_hz={fmin_hz!r}, fmax_hz={fmax_hz!r}")

    fft_hz = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # [n_bins]
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))  # [n_mels + 2]
    width = np.diff(edges_hz)  # [n_mels + 1]
    offset = edges_hz[:, None] - fft_hz[None, :]  # [n_mels + 2, n_bins]
    rising = -offset[:-2] / width[:-1, None]  # [n_mels, n_bins]
    falling = offset[2:] / width[1:, None]  # [n_mels, n_bins]
    weights = np.maximum(0.0, np.minimum(rising, falling))  # [n_mels, n_bins]
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]

    empty = np.flatnonzero(weights.sum(axis=1) == 0.0)
    if empty.size:
        raise ParameterError(f"mel band {int(empty[0])} covers no FFT bin (n_mels={n_mels} too many for "
                             f"n_fft={n_fft} at {sample_rate} Hz); use a larger n_fft, fewer mels or a higher fmin_hz")
    return weights


def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """First ``n_out`` rows of the orthonormal DCT-II of length ``n_in``.

    Returns
    -------
    basis : np.ndarray, float64 [n_out, n_in]
        ``basis[k, n] = s_k cos(pi k (2n + 1) / (2 n_in))``, ``s_0 = sqrt(1/n_in)``,
        ``s_k = sqrt(2/n_in)``: the full matrix is orthogonal, so c0 alone carries a level change.
    """
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] *= np.sqrt(0.5)
    return basis


def _check_mfcc_sizes(n_mfcc: int, n_mels: int) -> None:
    if not (isinstance(n_mfcc, (int, np.integer)) and 1 <= n_mfcc <= n_mels):
        raise ParameterError(f"n_mfcc must be an integer in [1, n_mels={n_mels}], got {n_mfcc!r}")


def _mfcc_and_energy(x: np.ndarray, sample_rate: int, *, n_mfcc: int, n_mels: int, n_fft: int,
                     hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """MFCCs and per-frame energy of a validated mono signal (see :func:`mfcc`).

    Returns
    -------
    coeffs : np.ndarray, float64 [n_mfcc, n_frames]
    energy : np.ndarray, float64 [n_frames]
        ``sum((w * frame)**2)`` of the same frames, for dropping silence.
    """
    _check_framing(n_fft, hop_length)
    _check_mfcc_sizes(n_mfcc, n_mels)
    fb = mel_filterbank(sample_rate, n_fft, n_mels)  # [n_mels, n_bins]
    power, energy = _frames_power(x, n_fft=n_fft, hop_length=hop_length)  # [n_bins, n_frames]
    mel_db = 10.0 * np.log10(np.maximum(fb @ power, _POWER_FLOOR))  # [n_mels, n_frames]
    coeffs = _dct_matrix(n_mfcc, n_mels) @ mel_db  # [n_mfcc, n_frames]
    return coeffs, energy


def mfcc(signal, sample_rate: int, *, n_mfcc: int = 20, n_mels: int = 40, n_fft: int = 2048,
         hop_length: int = 512) -> np.ndarray:
    """Mel-frequency cepstral coefficients.

    ``coeffs = D @ (10 * log10(max(M @ |rfft(w * frame)|**2, 1e-10)))`` with ``M`` the
    :func:`mel_filterbank` (0 Hz to Nyquist), ``w`` a periodic Hann window on centred zero-padded
    frames and ``D`` the orthonormal DCT-II. No liftering and no ``top_db`` clipping: this equals
    ``librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None))`` for the mel spectrogram
    ``melspectrogram(htk=True, pad_mode="constant")``. c0 is ``sqrt(n_mels)`` times the mean band
    level in dB, so a gain change moves c0 only.

    Parameters
    ----------
    signal : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
    sample_rate : int
    n_mfcc : int
        Coefficients kept, ``1 <= n_mfcc <= n_mels``.
    n_mels, n_fft, hop_length : int

    Returns
    -------
    coeffs : np.ndarray, float64 [n_mfcc, n_frames]
        ``n_frames = 1 + n_samples // hop_length``.
    """
    _check_sample_rate(sample_rate)
    x = _as_mono(signal, "signal")
    coeffs, _ = _mfcc_and_energy(x, sample_rate, n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft,
                                 hop_length=hop_length)
    return coeffs


# --------------------------------------------------------------------------------------------
# Timbre distance (style)
# --------------------------------------------------------------------------------------------


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix.

    Parameters
    ----------
    m : np.ndarray, float64 [d, d]

    Returns
    -------
    root : np.ndarray, float64 [d, d]
        Eigenvalues below zero (round-off of a singular covariance) are taken as zero.
    """
    vals, vecs = np.linalg.eigh(0.5 * (m + m.T))
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _frechet_distance(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between two Gaussians.

    Parameters
    ----------
    mu_a, mu_b : np.ndarray, float64 [d]
    cov_a, cov_b : np.ndarray, float64 [d, d], symmetric positive semi-definite

    Returns
    -------
    distance : float
        ``||mu_a - mu_b||**2 + Tr(cov_a + cov_b - 2 (cov_a^1/2 cov_b cov_a^1/2)^1/2)``, >= 0.
    """
    root_a = _sqrtm_psd(cov_a)  # [d, d]
    inner = root_a @ cov_b @ root_a  # [d, d]
    # Only the trace of the outer root is needed: the sum of the square roots of its eigenvalues.
    inner_vals = np.linalg.eigvalsh(0.5 * (inner + inner.T))  # [d]
    cross = np.sqrt(np.clip(inner_vals, 0.0, None)).sum()
    diff = mu_a - mu_b
    distance = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    # Round-off can take a distance of identical Gaussians a hair below zero.
    return max(distance, 0.0)


def _voiced_mfcc_stats(x: np.ndarray, sample_rate: int, name: str, *, n_mfcc: int, drop_c0: bool,
                       silence_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the non-silent MFCC frames of one signal.

    Returns
    -------
    mean : np.ndarray, float64 [d]
    cov : np.ndarray, float64 [d, d]
        ``d = n_mfcc - 1`` with ``drop_c0``, else ``n_mfcc``; unbiased (``n - 1``) estimate.
    """
    coeffs, energy = _mfcc_and_energy(x, sample_rate, n_mfcc=n_mfcc, n_mels=40, n_fft=2048, hop_length=512)
    peak = energy.max()
    if peak <= 0.0:
        raise ParameterError(f"signal {name} is all silent; timbre_distance needs sound")
    keep = energy >= peak * 10.0 ** (silence_db / 10.0)  # [n_frames]
    n_keep = int(keep.sum())
    if n_keep < 2 * n_mfcc:
        raise ParameterError(f"signal {name} has {n_keep} non-silent frames, timbre_distance needs at least "
                             f"2 * n_mfcc = {2 * n_mfcc} (about {2 * n_mfcc * 512 / sample_rate:.2f} s of sound)")
    frames = coeffs[1:, keep] if drop_c0 else coeffs[:, keep]  # [d, n_keep]
    return frames.mean(axis=1), np.atleast_2d(np.cov(frames))


def timbre_distance(a, b, sample_rate: int, *, n_mfcc: int = 20, drop_c0: bool = True,
                    silence_db: float = -50.0) -> float:
    """Fréchet distance between the MFCC distributions of two clips (style similarity).

    Each clip's non-silent MFCC frames (:func:`mfcc` with 40 mels, ``n_fft=2048``, hop 512) are
    fitted with a Gaussian (mean, unbiased covariance) and the Fréchet distance
    ``||mu_a - mu_b||**2 + Tr(Sa + Sb - 2 (Sa^1/2 Sb Sa^1/2)^1/2)`` between the two fits is
    returned, in dB² on the cepstral scale. Matrix roots come from ``eigh`` with negative
    eigenvalues clipped at 0. The clips may have different lengths and different content: only
    the distribution of spectral envelopes counts, not their order in time.

    Pitch is not fully factored out: below about 1 kHz the 40 mel bands are narrower than the
    partial spacing of a voice or instrument, so the cepstrum sees individual harmonics. A
    synthetic 220 Hz tone is about 10x closer to itself a whole tone up than to white noise, but
    a fifth up it is about as far as the noise. Compare clips of similar register.

    Parameters
    ----------
    a, b : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
        Lengths may differ.
    sample_rate : int
        Shared by both clips.
    n_mfcc : int
        Cepstral coefficients computed (``1 <= n_mfcc <= 40``), c0 included.
    drop_c0 : bool
        Drop c0 (overall level), so that loudness does not count as timbre: a clip and a louder
        copy of it are then at distance ~0.
    silence_db : float
        Frames whose windowed energy is more than ``-silence_db`` dB below the loudest frame of the
        same clip are dropped, so pauses do not count as timbre (``<= 0``; ``-inf`` keeps all).

    Returns
    -------
    distance : float
        >= 0; 0 for identical distributions, symmetric in ``a`` and ``b``.

    Raises
    ------
    ParameterError
        Invalid input, a clip that is all silent, or one with fewer than ``2 * n_mfcc``
        non-silent frames (too few to estimate a covariance).
    """
    _check_sample_rate(sample_rate)
    _check_mfcc_sizes(n_mfcc, 40)
    if drop_c0 and n_mfcc < 2:
        raise ParameterError("n_mfcc must be >= 2 with drop_c0=True (nothing would be left)")
    if not (silence_db <= 0.0):
        raise ParameterError(f"silence_db must be <= 0 dB (relative to the loudest frame), got {silence_db!r}")
    xa = _as_mono(a, "a")
    xb = _as_mono(b, "b")
    mu_a, cov_a = _voiced_mfcc_stats(xa, sample_rate, "a", n_mfcc=n_mfcc, drop_c0=drop_c0, silence_db=silence_db)
    mu_b, cov_b = _voiced_mfcc_stats(xb, sample_rate, "b", n_mfcc=n_mfcc, drop_c0=drop_c0, silence_db=silence_db)
    # The formula is symmetric in exact arithmetic; averaging both orders makes it so in floating
    # point too, so that a metric table never depends on argument order.
    return 0.5 * (_frechet_distance(mu_a, cov_a, mu_b, cov_b) + _frechet_distance(mu_b, cov_b, mu_a, cov_a))


# --------------------------------------------------------------------------------------------
# Envelopes and content retention
# --------------------------------------------------------------------------------------------


def _loudness_db(x: np.ndarray, *, n_fft: int, hop_length: int, floor_db: float) -> np.ndarray:
    window = get_window("hann", n_fft)
    w2 = window * window
    # Energy of each windowed frame without forming the windowed frames: sum(w^2 * frame^2).
    energy = _frame_view(x * x, n_fft, hop_length) @ w2  # [n_frames]
    level = 10.0 * np.log10(np.maximum(energy / w2.sum(), _ENERGY_FLOOR))  # [n_frames]
    return np.maximum(level, level.max() + floor_db)


def loudness_envelope(signal, sample_rate: int, *, hop_length: int = 512, n_fft: int = 2048,
                      floor_db: float = -60.0) -> np.ndarray:
    """Frame-by-frame level in dB.

    ``10 * log10(sum((w * frame)**2) / sum(w**2))`` over periodic-Hann centred zero-padded frames:
    the window-weighted mean square, so a sine of amplitude A reads ``10 * log10(A**2 / 2)``
    whatever ``n_fft``. Values are raised to ``floor_db`` below the loudest frame, so that the
    depth of pauses (digital silence would be -200 dB) does not dominate correlations.

    Parameters
    ----------
    signal : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
    sample_rate : int
        Checked only; the envelope is in frames of ``hop_length`` samples.
    hop_length, n_fft : int
    floor_db : float
        Floor relative to the loudest frame, ``< 0``.

    Returns
    -------
    level : np.ndarray, float64 [n_frames]
        ``n_frames = 1 + n_samples // hop_length``. An all-zero signal gives a constant envelope.
    """
    _check_sample_rate(sample_rate)
    _check_framing(n_fft, hop_length)
    if not (floor_db < 0.0):
        raise ParameterError(f"floor_db must be < 0 dB (relative to the loudest frame), got {floor_db!r}")
    x = _as_mono(signal, "signal")
    return _loudness_db(x, n_fft=n_fft, hop_length=hop_length, floor_db=floor_db)


def _onset_flux(x: np.ndarray, sample_rate: int, *, n_fft: int, hop_length: int, n_mels: int) -> np.ndarray:
    fb = mel_filterbank(sample_rate, n_fft, n_mels)  # [n_mels, n_bins]
    power, _ = _frames_power(x, n_fft=n_fft, hop_length=hop_length)  # [n_bins, n_frames]
    mel_db = 10.0 * np.log10(np.maximum(fb @ power, _POWER_FLOOR))  # [n_mels, n_frames]
    # Without a relative floor, near-empty bands would flicker between deep negative values and
    # dominate the flux with changes nobody can hear.
    mel_db = np.maximum(mel_db, mel_db.max() - _ONSET_TOP_DB)
    rise = np.maximum(np.diff(mel_db, axis=1), 0.0)  # [n_mels, n_frames - 1]
    return np.concatenate([[0.0], rise.sum(axis=0)])  # [n_frames]


def onset_strength(signal, sample_rate: int, *, hop_length: int = 512, n_fft: int = 2048,
                   n_mels: int = 40) -> np.ndarray:
    """Spectral flux onset envelope on the log-mel spectrum.

    ``flux[j] = sum_m max(0, L[m, j] - L[m, j - 1])`` with ``L`` the mel power in dB
    (``10 * log10(max(power, 1e-10))``, then raised to 80 dB below its maximum over the clip);
    ``flux[0] = 0``. Frames as in :func:`mfcc`. Peaks mark note and syllable onsets.

    Parameters
    ----------
    signal : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
    sample_rate : int
    hop_length, n_fft, n_mels : int

    Returns
    -------
    flux : np.ndarray, float64 [n_frames]
        In dB summed over bands, >= 0; ``n_frames = 1 + n_samples // hop_length``.
    """
    _check_sample_rate(sample_rate)
    _check_framing(n_fft, hop_length)
    x = _as_mono(signal, "signal")
    return _onset_flux(x, sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0.0 when either side is constant (no shape to correlate)."""
    xc = x - x.mean()
    yc = y - y.mean()
    sxx = xc @ xc
    syy = yc @ yc
    if np.ptp(x) == 0.0 or np.ptp(y) == 0.0 or sxx <= 0.0 or syy <= 0.0:
        return 0.0
    return float(np.clip((xc @ yc) / np.sqrt(sxx * syy), -1.0, 1.0))


def aligned_correlation(x, y, *, max_lag: int) -> tuple[float, int]:
    """Pearson correlation of two envelopes at the integer lag that maximises it.

    Both envelopes are cut to their common length ``n`` (they may differ by a few frames when the
    signals do). For each lag ``L`` in ``[-max_lag, max_lag]`` the overlapping parts
    ``x[L:]``/``y[:n-L]`` (``L >= 0``) or ``x[:n+L]``/``y[-L:]`` (``L < 0``) are correlated; the
    largest correlation wins, ties going to the smaller ``|L|``.

    Parameters
    ----------
    x, y : array_like, float [n_x], [n_y]
        Envelopes (frames), finite, at least 2 long.
    max_lag : int
        Largest shift tried, ``0 <= max_lag <= n // 2`` so that at least half of each envelope
        always overlaps (short overlaps give spuriously high correlations).

    Returns
    -------
    correlation : float
        In ``[-1, 1]``; 0.0 when either overlapping part is constant.
    lag_frames : int
        Positive when ``x`` is late: ``x[t + lag] ~ y[t]``.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or ya.ndim != 1:
        raise ParameterError(f"envelopes must be 1-D, got shapes {xa.shape} and {ya.shape}")
    n = min(xa.shape[0], ya.shape[0])
    if n < 2:
        raise ParameterError(f"envelopes must have at least 2 frames in common, got {n}")
    if not (np.all(np.isfinite(xa[:n])) and np.all(np.isfinite(ya[:n]))):
        raise ParameterError("envelopes contain non-finite values (NaN or inf)")
    if not (isinstance(max_lag, (int, np.integer)) and 0 <= max_lag <= n // 2):
        raise ParameterError(f"max_lag must be an integer in [0, {n // 2}] (half the common length {n}), "
                             f"got {max_lag!r}")
    xa = xa[:n]
    ya = ya[:n]
    best_corr, best_lag = -np.inf, 0
    # 2 * max_lag + 1 vectorised correlations; max_lag is a handful of frames in practice.
    # Visiting lags by increasing |L| lets a strict '>' keep the smallest shift on ties.
    for lag in sorted(range(-max_lag, max_lag + 1), key=lambda v: (abs(v), v)):
        if lag >= 0:
            corr = _pearson(xa[lag:], ya[: n - lag])
        else:
            corr = _pearson(xa[: n + lag], ya[-lag:])
        if corr > best_corr:
            best_corr, best_lag = corr, lag
    return float(best_corr), int(best_lag)


def content_retention(output, content, sample_rate: int, *, max_lag_s: float = 0.1) -> dict:
    """How much of the content's temporal structure survives in the output.

    The headline figure ``content_retention`` is the time-aligned correlation of the loudness
    envelopes (:func:`loudness_envelope`, defaults) of output and content: it measures whether the
    syllables, notes and rests are still where they were, not whether the timbre survived (that
    is meant to change; see :func:`timbre_distance`). Passthrough gives 1.0; a constant-level or
    unrelated output gives about 0. The lag search absorbs the latency of a processor.

    Parameters
    ----------
    output, content : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
        The styled result and its content input; lengths may differ a little (the common length
        is used).
    sample_rate : int
    max_lag_s : float
        Largest delay searched in either direction, seconds (>= 0); limited to half the common
        envelope length for short clips.

    Returns
    -------
    result : dict
        ``"loudness"`` (float): aligned loudness envelope correlation;
        ``"onset"`` (float): aligned :func:`onset_strength` correlation (its own best lag);
        ``"lag_frames"`` (int): lag of the loudness correlation, hops of 512 samples, positive
        when the output is late;
        ``"content_retention"`` (float): the loudness correlation again, the headline figure.
    """
    _check_sample_rate(sample_rate)
    if not (max_lag_s >= 0.0 and np.isfinite(max_lag_s)):
        raise ParameterError(f"max_lag_s must be a finite number >= 0, got {max_lag_s!r}")
    xo = _as_mono(output, "output")
    xc = _as_mono(content, "content")
    hop, n_fft = 512, 2048
    loud_o = _loudness_db(xo, n_fft=n_fft, hop_length=hop, floor_db=-60.0)  # [n_frames_o]
    loud_c = _loudness_db(xc, n_fft=n_fft, hop_length=hop, floor_db=-60.0)  # [n_frames_c]
    onset_o = _onset_flux(xo, sample_rate, n_fft=n_fft, hop_length=hop, n_mels=40)  # [n_frames_o]
    onset_c = _onset_flux(xc, sample_rate, n_fft=n_fft, hop_length=hop, n_mels=40)  # [n_frames_c]
    n = min(loud_o.shape[0], loud_c.shape[0])
    if n < 2:
        raise ParameterError(f"output and content must have at least {hop} samples in common (2 envelope frames)")
    max_lag = min(int(round(max_lag_s * sample_rate / hop)), n // 2)
    loud_corr, lag = aligned_correlation(loud_o, loud_c, max_lag=max_lag)
    onset_corr, _ = aligned_correlation(onset_o, onset_c, max_lag=max_lag)
    return {"loudness": loud_corr, "onset": onset_corr, "lag_frames": lag, "content_retention": loud_corr}


# --------------------------------------------------------------------------------------------
# Pitch (content)
# --------------------------------------------------------------------------------------------

#: pYIN's analysis rate: its defaults (2048-sample frames, ~93 ms) are tuned for 22050 Hz, and both
#: signals must share one frame grid for a frame-by-frame comparison.
PITCH_SAMPLE_RATE = 22050


#: A pYIN voiced frame counts only if the frame's normalised autocorrelation at the f0 period reaches
#: this: pYIN's HMM calls white noise voiced (at ~50 Hz, probability 0.01) in a quarter of its
#: frames, where the autocorrelation is below 0.1; voiced speech frames sit above 0.5.
PERIODICITY_MIN = 0.3
#: ... and, in the content, if the frame is no more than this far below the content's loudest
#: frame: inaudible hum in a synthetic voice's pauses is periodic but is not part of the melody.
#: (Not applied to the output, whose voicing is only asked where the content is voiced: a loud
#: burst elsewhere in the output must not unvoice the rest.)
VOICED_FLOOR_DB = -40.0
_PYIN_FRAME = 2048


def _pyin(x: np.ndarray, sample_rate: int, *, fmin_hz: float, fmax_hz: float, hop_length: int,
          floor_db: float | None):
    """pYIN f0 [n_frames] (Hz, NaN where unvoiced) and the gated voicing (bool [n_frames])."""
    try:
        import librosa
    except ImportError:
        raise ParameterError("pitch_kept needs librosa (the bench extra: bash tools/setup.sh bench)") from None
    y = x if sample_rate == PITCH_SAMPLE_RATE else librosa.resample(x, orig_sr=sample_rate,
                                                                     target_sr=PITCH_SAMPLE_RATE, res_type="soxr_hq")
    f0, voiced, _ = librosa.pyin(y, fmin=fmin_hz, fmax=fmax_hz, sr=PITCH_SAMPLE_RATE, frame_length=_PYIN_FRAME,
                                 hop_length=hop_length)  # centred, zero-padded frames
    half = _PYIN_FRAME // 2
    frames = _frame_view(y, _PYIN_FRAME, hop_length)[:f0.shape[0]]  # [n_frames, 2048], the same centring
    level = 10.0 * np.log10(np.maximum(np.einsum("ij,ij->i", frames, frames), _ENERGY_FLOOR))
    keep = voiced & (level >= level.max() + floor_db) if floor_db is not None else voiced.copy()
    for i in np.flatnonzero(keep):
        lag = min(int(round(PITCH_SAMPLE_RATE / f0[i])), half)
        a, b = frames[i, :-lag], frames[i, lag:]
        norm = np.sqrt((a @ a) * (b @ b))
        keep[i] = norm > 0.0 and (a @ b) / norm >= PERIODICITY_MIN
    return np.where(keep, f0, np.nan), keep


def pitch_kept(output, content, sample_rate: int, *, fmin_hz: float = 50.0, fmax_hz: float = 1000.0,
               hop_length: int = 256, min_voiced: int = 20, content_f0=None) -> dict:
    """How well the output keeps the content's pitch, on the content's voiced frames.

    Both signals are resampled to 22050 Hz and tracked by pYIN (``librosa.pyin``, ``fmin_hz`` ..
    ``fmax_hz``, 2048-sample frames every ``hop_length`` samples, so both share one frame grid;
    the output must be time-aligned with the content, as :func:`rtst.measure.bench.run_processor`
    returns it). A frame is voiced where pYIN says so, the frame's normalised autocorrelation at
    the f0 period is at least :data:`PERIODICITY_MIN` (pYIN alone calls white noise voiced) and
    (in the content) the frame is within :data:`VOICED_FLOOR_DB` of the content's loudest. Over
    the content's voiced frames:

    * ``voicing_recall``: the fraction where the output is voiced too;
    * ``f0_correlation``: Pearson correlation of ``log2 f0`` over the frames voiced in both
      (a melody transposed as a whole still scores 1; a flat contour scores 0);
    * ``median_cents``: median of ``1200 |log2(f0_out / f0_content)|`` over those frames.

    Parameters
    ----------
    output, content : array_like, float32/float64 [n_samples] or [n_samples, n_channels]
        Time-aligned; the common length is used.
    sample_rate : int
    fmin_hz, fmax_hz : float
        pYIN's search range (50 Hz .. 1 kHz covers a bass voice to a soprano's top).
    hop_length : int
        Frame step at 22050 Hz.
    min_voiced : int
        Fewer voiced content frames than this (percussion, noise) and there is no pitch to keep:
        every figure is None. The same minimum of frames voiced in both applies to the
        correlation and the cents.
    content_f0 : tuple, optional
        ``(f0, voiced)`` of the content from an earlier call (``result["content_track"]``), to
        track one content against many outputs without re-running pYIN on it.

    Returns
    -------
    result : dict
        ``voicing_recall``, ``f0_correlation``, ``median_cents`` (float or None);
        ``within_50_cents`` and ``octave_errors``: fractions of the frames voiced in both whose f0
        is within 50 cents of the content's, and one octave (+-100 cents) off it (or None);
        ``n_voiced`` (int, the content's voiced frames), ``n_both`` (int, voiced in both),
        ``content_track`` (the content's ``(f0, voiced)``, for ``content_f0``).

    Raises
    ------
    ParameterError
        Invalid input, or librosa missing.
    """
    _check_sample_rate(sample_rate)
    if not (0.0 < fmin_hz < fmax_hz):
        raise ParameterError(f"need 0 < fmin_hz < fmax_hz, got {fmin_hz!r}, {fmax_hz!r}")
    xo = _as_mono(output, "output")
    xc = _as_mono(content, "content")
    n = min(xo.shape[0], xc.shape[0])
    kwargs = {"fmin_hz": fmin_hz, "fmax_hz": fmax_hz, "hop_length": hop_length}
    f0_c, voiced_c = content_f0 if content_f0 is not None else _pyin(xc[:n], sample_rate, floor_db=VOICED_FLOOR_DB,
                                                                     **kwargs)
    f0_o, voiced_o = _pyin(xo[:n], sample_rate, floor_db=None, **kwargs)
    m = min(f0_c.shape[0], f0_o.shape[0])
    vc, vo = voiced_c[:m].astype(bool), voiced_o[:m].astype(bool)
    n_voiced = int(vc.sum())
    both = vc & vo
    n_both = int(both.sum())
    result = {"voicing_recall": None, "f0_correlation": None, "median_cents": None, "within_50_cents": None,
              "octave_errors": None, "n_voiced": n_voiced, "n_both": n_both, "content_track": (f0_c, voiced_c)}
    if n_voiced < min_voiced:
        return result
    result["voicing_recall"] = n_both / n_voiced
    if n_both >= min_voiced:
        lc, lo = np.log2(f0_c[:m][both]), np.log2(f0_o[:m][both])
        result["f0_correlation"] = _pearson(lc, lo)
        cents = 1200.0 * (lo - lc)
        result["median_cents"] = float(np.median(np.abs(cents)))
        result["within_50_cents"] = float(np.mean(np.abs(cents) <= 50.0))
        # pYIN jumps an octave where a timbre change weakens the fundamental or the even partials;
        # telling these apart from a lost pitch says which one the model needs fixing for
        result["octave_errors"] = float(np.mean(np.abs(np.abs(cents) - 1200.0) <= 100.0))
    return result

"""Features the teacher and the student work on: log1p magnitude on the live engine's STFT frames.

The feature of a frame is ``log1p(|X|)`` where ``X`` is :func:`rtst.dsp.stft.stft` of the signal
(unnormalised real FFT of the windowed frame, frame-centred phase), so a full-scale sine reaches
about ``log1p(n_fft / 4)`` with the Hann window. Frequency bins are the channels and frames the
time axis: ``[n_bins, n_frames]``. The same transform is written into every model's metadata, so the
engine's magnitudes and the teacher's agree bin for bin. Numpy only (no torch).
"""

from __future__ import annotations

import numpy as np

from rtst.config import StftConfig
from rtst.dsp.stft import istft, stft
from rtst.errors import ParameterError

__all__ = ["FEATURE_TRANSFORM", "to_features", "from_features", "signal_features", "prepare_signal",
           "features_to_audio", "band_matrix", "SILENCE_PEAK"]

#: Name of the transform, as written in model metadata.
FEATURE_TRANSFORM = "log1p"
#: Bands of the student's filter and of the envelope statistics (:func:`band_matrix`): at least 3
#: bins apart (141 Hz at n_fft 1024 / 48 kHz, so a gain never varies inside the Hann window's main
#: lobe), and 12 % (about 1/6 octave) apart above 25 bins.
BAND_MIN_STEP = 3.0
BAND_RATIO = 0.12
#: Clips whose peak is below this (-80 dBFS) count as silent: there is no content or style in them.
SILENCE_PEAK = 1e-4


def band_matrix(n_bins: int, *, min_step: float = BAND_MIN_STEP, ratio: float = BAND_RATIO) -> np.ndarray:
    """Piecewise-linear interpolation from band gains to bin gains, ``[n_bands, n_bins]`` float32.

    Band centres (in bins) start at 0 and step by ``max(min_step, ratio * centre)`` up to the last
    bin: evenly spaced at low frequencies, then logarithmic (about 1/8 octave). Each column is a
    "hat" interpolation between its two neighbouring centres, so the columns sum to 1 and a
    constant band gain is a constant bin gain. The minimum step keeps the bin gain smooth across
    several bins, so a filtered frame stays (nearly) the STFT of a filtered signal: a gain that
    changes faster than the window's main lobe would ask for spectra no signal has.
    """
    centres = [0.0]
    while centres[-1] < n_bins - 1:
        centres.append(centres[-1] + max(min_step, ratio * centres[-1]))
    if len(centres) > 2 and (n_bins - 1) - centres[-2] < 0.5 * (centres[-1] - centres[-2]):
        centres.pop()   # a sliver of a last band: let the one before reach the top instead
    centres[-1] = float(n_bins - 1)
    centres = np.asarray(centres)
    bins = np.arange(n_bins, dtype=np.float64)
    out = np.zeros((centres.size, n_bins))
    for k, c in enumerate(centres):
        if k > 0:
            left = centres[k - 1]
            mask = (bins >= left) & (bins <= c)
            out[k, mask] = (bins[mask] - left) / (c - left)
        if k < centres.size - 1:
            right = centres[k + 1]
            mask = (bins >= c) & (bins <= right)
            out[k, mask] = (right - bins[mask]) / (right - c)
    return out.astype(np.float32)


def to_features(mag: np.ndarray) -> np.ndarray:
    """``log1p`` of magnitudes; float32, same shape."""
    return np.log1p(np.maximum(np.asarray(mag, dtype=np.float64), 0.0)).astype(np.float32)


def from_features(features: np.ndarray) -> np.ndarray:
    """Magnitudes from features (negative features, which no magnitude has, clip to 0); float64."""
    return np.expm1(np.maximum(np.asarray(features, dtype=np.float64), 0.0))


def signal_features(signal: np.ndarray, stft_config: StftConfig) -> np.ndarray:
    """Features of a mono signal.

    Parameters
    ----------
    signal : np.ndarray, float [n_samples]
    stft_config : StftConfig

    Returns
    -------
    features : np.ndarray, float32 [n_bins, n_frames]
    """
    return to_features(np.abs(stft(signal, stft_config)))


def prepare_signal(audio: np.ndarray, file_rate: int, stft_config: StftConfig, *, role: str) -> tuple[np.ndarray, dict]:
    """Mono float64 signal at the STFT's sample rate from any audio array.

    Stereo and multichannel audio is averaged to mono; other rates are resampled (soxr, very high
    quality). Silent audio (peak below :data:`SILENCE_PEAK`) is refused: it has no content or style.

    Parameters
    ----------
    audio : np.ndarray, float [n_samples] or [n_samples, n_channels]
    file_rate : int
        Sample rate of ``audio`` in Hz.
    role : str
        What the clip is for ("content", "style"), used in messages and notes.

    Returns
    -------
    signal : np.ndarray, float64 [n]
    notes : dict
        ``channels``, ``downmixed``, ``file_sample_rate``, ``resampled``, ``seconds``.
    """
    from rtst.io.files import resample

    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[0] == 0:
        raise ParameterError(f"{role} audio must have shape [n_samples, n_channels] with samples, got {audio.shape}")
    if not np.isfinite(audio).all():
        raise ParameterError(f"{role} audio has non-finite samples")
    channels = int(audio.shape[1])
    mono = audio.mean(axis=1, keepdims=True)
    signal = resample(mono, int(file_rate), stft_config.sample_rate)[:, 0].astype(np.float64)
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak < SILENCE_PEAK:
        raise ParameterError(
            f"{role} clip is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS < "
            f"{20 * np.log10(SILENCE_PEAK):.0f} dBFS): there is no {role} to take from it"
        )
    notes = {"channels": channels, "downmixed": channels > 1, "file_sample_rate": int(file_rate),
             "resampled": int(file_rate) != stft_config.sample_rate,
             "seconds": signal.shape[0] / stft_config.sample_rate}
    return signal, notes


def features_to_audio(features: np.ndarray, stft_config: StftConfig, length: int, *,
                      gla_iterations: int = 100, seed: int = 0) -> np.ndarray:
    """Audio from features: offline PGHI, then fast Griffin-Lim, then the inverse STFT.

    Parameters
    ----------
    features : np.ndarray, float [n_bins, n_frames]
    length : int
        Samples to return.
    gla_iterations : int
        Fast Griffin-Lim iterations after PGHI (0: PGHI alone).

    Returns
    -------
    signal : np.ndarray, float64 [length]
    """
    from rtst.phase.gla import fast_griffin_lim

    mag = from_features(features)
    spec = fast_griffin_lim(mag, stft_config, n_iter=gla_iterations, init="pghi", seed=seed)
    return istft(spec, stft_config, length)


"""Objective style/content metrics (rtst.measure.style) against naive loops, librosa and scipy.

librosa and scipy serve only as references (the ``bench`` extra); tests that need them skip
without them.
"""

import numpy as np
import pytest

from rtst.errors import ParameterError
from rtst.measure import style as metrics
from rtst.measure.style import (aligned_correlation, content_retention, loudness_envelope, mel_filterbank, mfcc,
                                   onset_strength, timbre_distance)

SR = 22050


# ---- test signals ----------------------------------------------------------------------------


def _tone(f0, seconds=2.0, sr=SR, noise=1e-3, seed=0):
    """Harmonic tone (1/h partials, light vibrato) over a faint noise floor, float32 [n]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / sr
    x = 0.2 * sum(np.sin(h * phase) / h for h in range(1, 9))
    # The floor keeps every mel band above the 1e-10 power floor, as in any recording.
    return (x + noise * rng.standard_normal(t.size)).astype(np.float32)


def _noise(seconds=2.0, sr=SR, amp=0.1, seed=1):
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def _chirp(seconds=1.0, sr=SR, f0=100.0, f1=6000.0):
    t = np.arange(int(seconds * sr)) / sr
    return 0.5 * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / seconds * t**2))


def _bursts(seconds=3.0, sr=SR, rate_hz=3.0, seed=2):
    """Amplitude-modulated tone-plus-noise: syllable-like level contour, float64 [n]."""
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 * (1 - np.cos(2 * np.pi * rate_hz * t)) ** 2
    return env * (_tone(180.0, seconds, sr, noise=0.0) + _noise(seconds, sr, amp=0.05, seed=seed))


# ---- mel filterbank --------------------------------------------------------------------------


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
    (48000, 2048, 40, 0.0, None),
    (22050, 1024, 64, 50.0, 8000.0),
    (16000, 512, 20, 0.0, None),
])
def test_mel_filterbank_matches_librosa_htk_slaney(sr, n_fft, n_mels, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    fb = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=True, norm="slaney",
                              dtype=np.float64)
    assert fb.shape == (n_mels, n_fft // 2 + 1) and fb.dtype == np.float64
    np.testing.assert_allclose(fb, ref, rtol=0, atol=1e-6 * ref.max())


def test_mel_filterbank_rejects_bad_ranges():
    with pytest.raises(ParameterError, match="fmax_hz"):
        mel_filterbank(16000, 512, 20, 0.0, 9000.0)
    with pytest.raises(ParameterError, match="covers no FFT bin"):
        mel_filterbank(48000, 256, 128)


# ---- MFCC ------------------------------------------------------------------------------------


def _naive_mfcc(x, sr, n_mfcc, n_mels, n_fft, hop):
    fb = mel_filterbank(sr, n_fft, n_mels)
    padded = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft // 2)])
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    out = []
    for j in range(1 + len(x) // hop):
        spec = np.fft.rfft(w * padded[j * hop: j * hop + n_fft])
        db = 10 * np.log10(np.maximum(fb @ np.abs(spec) ** 2, 1e-10))
        col = []
        for k in range(n_mfcc):
            scale = np.sqrt(1 / n_mels) if k == 0 else np.sqrt(2 / n_mels)
            col.append(scale * sum(db[m] * np.cos(np.pi * k * (2 * m + 1) / (2 * n_mels)) for m in range(n_mels)))
        out.append(col)
    return np.array(out).T


def test_mfcc_matches_naive_loop():
    x = _chirp(0.3, sr=16000) + _noise(0.3, sr=16000, amp=0.01)
    got = mfcc(x, 16000, n_mfcc=13, n_mels=24, n_fft=512, hop_length=160)
    ref = _naive_mfcc(x.astype(np.float64), 16000, 13, 24, 512, 160)
    assert got.shape == ref.shape == (13, 1 + len(x) // 160)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_mfcc_matches_librosa_with_matching_settings():
    librosa = pytest.importorskip("librosa")
    x = (_chirp(1.0) + _noise(1.0, amp=0.02)).astype(np.float64)
    got = mfcc(x, SR)
    mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=2048, hop_length=512, n_mels=40, htk=True,
                                         pad_mode="constant")
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=20)
    assert got.shape == ref.shape
    # Same definition; the tolerance only absorbs librosa's float32 filterbank (~1e-7 dB).
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_mfcc_downmixes_stereo_and_accepts_float32():
    x = _noise(0.5)
    stereo = np.stack([x, 0.5 * x], axis=1)
    np.testing.assert_allclose(mfcc(stereo, SR), mfcc(0.75 * x.astype(np.float64), SR), atol=1e-4)


# ---- Fréchet / timbre distance ---------------------------------------------------------------


def _random_spd(rng, d):
    a = rng.standard_normal((d, d + 3))
    return a @ a.T / d + 1e-3 * np.eye(d)


def test_frechet_helper_matches_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    for d in (1, 3, 19):
        cov_a, cov_b = _random_spd(rng, d), _random_spd(rng, d)
        mu_a, mu_b = rng.standard_normal(d), rng.standard_normal(d)
        np.testing.assert_allclose(metrics._sqrtm_psd(cov_a), scipy_linalg.sqrtm(cov_a).real, atol=1e-10)
        root_a = scipy_linalg.sqrtm(cov_a).real
        cross = scipy_linalg.sqrtm(root_a @ cov_b @ root_a).real
        ref = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
        assert metrics._frechet_distance(mu_a, cov_a, mu_b, cov_b) == pytest.approx(ref, rel=1e-9)
        assert metrics._frechet_distance(mu_a, cov_a, mu_a, cov_a) == pytest.approx(0.0, abs=1e-9 * np.trace(cov_a))


def test_sqrtm_psd_clips_round_off_negative_eigenvalues():
    v = np.array([[1.0], [2.0]])
    singular = v @ v.T - 1e-15 * np.eye(2)
    root = metrics._sqrtm_psd(singular)
    assert np.all(np.isfinite(root))
    np.testing.assert_allclose(root @ root, v @ v.T, atol=1e-7)


@pytest.fixture(scope="module")
def clips():
    # A whole tone up: a 220 Hz tone's low partials are resolved by the 40 mel bands, so large pitch
    # changes (a fifth) move the cepstrum about as far as tone -> noise does (documented caveat).
    return {"tone": _tone(220.0), "tone_up": _tone(247.0, seed=3), "noise": _noise()}


def test_timbre_distance_self_zero_and_symmetric(clips):
    tone, noise = clips["tone"], clips["noise"]
    far = timbre_distance(tone, noise, SR)
    assert timbre_distance(tone, tone, SR) <= 1e-6 * far
    assert timbre_distance(noise, tone, SR) == pytest.approx(far, rel=1e-12)


def test_timbre_distance_ranks_noise_far_from_tones(clips):
    near = timbre_distance(clips["tone"], clips["tone_up"], SR)
    far = timbre_distance(clips["tone"], clips["noise"], SR)
    assert far > 5 * near


def test_timbre_distance_ignores_gain_only_without_c0(clips):
    tone, noise = clips["tone"], clips["noise"]
    far = timbre_distance(tone, noise, SR)
    assert timbre_distance(tone, 4 * tone, SR) <= 1e-6 * far
    # c0 is sqrt(40) times the mean band level, so x4 (+12 dB) moves it by about 76 dB.
    assert timbre_distance(tone, 4 * tone, SR, drop_c0=False) > 0.5 * (np.sqrt(40) * 20 * np.log10(4)) ** 2


def test_timbre_distance_unchanged_by_appended_silence(clips):
    tone, noise = clips["tone"], clips["noise"]
    padded = np.concatenate([np.zeros(SR // 2, np.float32), tone, np.zeros(SR, np.float32)])
    base = timbre_distance(tone, noise, SR)
    # Only the few frames straddling the new edges differ; the silent ones are dropped.
    assert timbre_distance(padded, noise, SR) == pytest.approx(base, rel=0.05)
    assert timbre_distance(padded, tone, SR) < 0.02 * base


def test_timbre_distance_errors_name_the_signal(clips):
    with pytest.raises(ParameterError, match="signal b has 9 non-silent frames"):
        timbre_distance(clips["tone"], clips["tone"][:4096], SR)
    with pytest.raises(ParameterError, match="signal a is all silent"):
        timbre_distance(np.zeros(SR), clips["tone"], SR)
    with pytest.raises(ParameterError, match="signal b contains non-finite"):
        timbre_distance(clips["tone"], np.full(SR, np.nan), SR)
    with pytest.raises(ParameterError, match="n_mfcc"):
        timbre_distance(clips["tone"], clips["tone"], SR, n_mfcc=41)
    with pytest.raises(ParameterError, match="silence_db"):
        timbre_distance(clips["tone"], clips["tone"], SR, silence_db=3.0)


# ---- envelopes -------------------------------------------------------------------------------


def test_loudness_envelope_level_and_floor():
    t = np.arange(SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 1000 * t)
    x = np.concatenate([sine, np.zeros(SR)])
    env = loudness_envelope(x, SR, floor_db=-40.0)
    assert env.shape == (1 + len(x) // 512,)
    # Mean square of a sine of amplitude A: A^2 / 2.
    assert env[10:30] == pytest.approx(10 * np.log10(0.5**2 / 2), abs=0.01)
    assert env[-10:] == pytest.approx(env.max() - 40.0)
    assert np.all(np.isfinite(loudness_envelope(np.zeros(4096), SR)))


def test_onset_strength_peaks_at_bursts():
    x = np.zeros(2 * SR)
    starts = [int(0.5 * SR), int(1.2 * SR)]
    rng = np.random.default_rng(0)
    for s in starts:
        x[s: s + 2000] = 0.3 * rng.standard_normal(2000)
    flux = onset_strength(x, SR)
    assert flux.shape == (1 + len(x) // 512,) and flux[0] == 0.0 and np.all(flux >= 0)
    peaks = np.sort(np.argsort(flux)[-2:])
    np.testing.assert_allclose(peaks * 512, starts, atol=1024)


# ---- aligned correlation and content retention -----------------------------------------------


def test_aligned_correlation_finds_known_lag():
    env = np.random.default_rng(0).standard_normal(300).cumsum()
    late = np.concatenate([np.zeros(7), env])[:300]  # late[t + 7] = env[t]
    corr, lag = aligned_correlation(late, env, max_lag=20)
    assert lag == 7 and corr == pytest.approx(1.0, abs=1e-12)
    corr, lag = aligned_correlation(env, late, max_lag=20)
    assert lag == -7 and corr == pytest.approx(1.0, abs=1e-12)


def test_aligned_correlation_identical_constant_and_lengths():
    env = np.sin(np.linspace(0, 20, 200))
    assert aligned_correlation(env, env, max_lag=5) == (pytest.approx(1.0, abs=1e-12), 0)
    assert aligned_correlation(env, np.full(200, 3.0), max_lag=5) == (0.0, 0)
    # Envelopes of slightly different length: the common length is used.
    assert aligned_correlation(env, env[:197], max_lag=5)[0] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ParameterError, match="max_lag"):
        aligned_correlation(env, env, max_lag=101)


def test_content_retention_passthrough_and_delay():
    x = _bursts()
    result = content_retention(x, x, SR)
    assert result["content_retention"] == pytest.approx(1.0, abs=1e-12)
    assert result["loudness"] == result["content_retention"] and result["onset"] == pytest.approx(1.0)
    assert result["lag_frames"] == 0
    delay = int(0.02 * SR)
    delayed = np.concatenate([np.zeros(delay), x])[: len(x)]
    late = content_retention(delayed, x, SR)
    assert late["content_retention"] >= 0.99 and late["lag_frames"] == 1


def test_content_retention_low_for_unrelated_noise():
    x = _bursts()
    result = content_retention(_noise(len(x) / SR, amp=0.1, seed=5), x, SR)
    assert abs(result["content_retention"]) < 0.3


def test_content_retention_and_envelopes_reject_bad_input():
    x = _bursts(1.0)
    with pytest.raises(ParameterError, match="signal output is empty"):
        content_retention(np.zeros(0), x, SR)
    with pytest.raises(ParameterError, match="signal content must be float32 or float64"):
        content_retention(x, (x * 1000).astype(np.int16), SR)
    with pytest.raises(ParameterError, match=r"shape \(2, 3, 4\)"):
        loudness_envelope(np.zeros((2, 3, 4)), SR)
    with pytest.raises(ParameterError, match="sample_rate"):
        onset_strength(x, 0)
    with pytest.raises(ParameterError, match="max_lag_s"):
        content_retention(x, x, SR, max_lag_s=-1.0)

"""Loopback latency measurement without a sound card: the chirp train, sub-sample lag finding,
and what counts as nothing coming back (the JACK runs are in test_live_jack.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rtst.errors import DeviceError, ParameterError
from rtst.measure.loopback import MIN_CORRELATION, LoopbackMeasurement, find_lags, measurement_signal
from rtst.presets import PRESETS, get_preset

SR = 48000


def fractional_delay(x: np.ndarray, delay: float) -> np.ndarray:
    """``x`` delayed by ``delay`` samples (band-limited: a linear phase in the frequency domain)."""
    n = 1 << int(2 * x.size - 1).bit_length()
    spec = np.fft.rfft(x, n) * np.exp(-2j * np.pi * np.fft.rfftfreq(n) * delay)
    return np.fft.irfft(spec, n)[:x.size]


def test_signal_is_a_train_of_separated_faded_chirps():
    signal, chirp, starts = measurement_signal(SR, 4, 0.3)
    assert len(starts) == 4 and np.all(np.diff(starts) >= chirp.size + 0.3 * SR)
    for s in starts:
        np.testing.assert_array_equal(signal[s:s + chirp.size], chirp)
    assert abs(chirp[0]) < 1e-6 and abs(chirp[-1]) < 1e-3 and 0.45 < np.max(np.abs(chirp)) <= 0.5
    assert signal.dtype == np.float32 and np.all(signal[:starts[0]] == 0)


@pytest.mark.parametrize("delay", [0.0, 1.0, 383.0, 448.25, 1151.5, 1664.0, 9000.75])
def test_lags_are_found_to_a_fraction_of_a_sample(delay):
    signal, chirp, starts = measurement_signal(SR, 3, 0.25)
    rec = 0.3 * fractional_delay(signal.astype(np.float64), delay)
    lags, peaks = find_lags(rec, chirp, starts, int(0.25 * SR))
    np.testing.assert_allclose(lags, delay, atol=0.05)
    assert np.all(peaks > 0.99)  # scaled, not changed


def test_noise_or_an_unrelated_signal_is_not_a_return(rng):
    signal, chirp, starts = measurement_signal(SR, 3, 0.25)
    lags, peaks = find_lags(0.1 * rng.standard_normal(signal.size), chirp, starts, int(0.25 * SR))
    assert np.all(peaks < MIN_CORRELATION)


def measurement_without_a_stream(recording_of):
    """A LoopbackMeasurement's analysis on a given recording (the stream part is what the JACK
    tests run; this one never opens a device)."""
    meas = LoopbackMeasurement.__new__(LoopbackMeasurement)
    meas.sample_rate, meas.repeats, meas.max_lag = SR, 3, int(0.25 * SR)
    meas.signal, meas.chirp, meas.starts = measurement_signal(SR, 3, 0.3)
    meas.recording = recording_of(meas.signal).astype(np.float32)
    meas._status = np.zeros(2, np.int64)
    meas.io_latency_samples, meas.hostapi, meas.ports = 256, "test", None
    return meas


def test_result_refuses_silence_and_foreign_signals(rng):
    with pytest.raises(DeviceError, match="nothing came back: the input stayed silent"):
        measurement_without_a_stream(lambda s: np.zeros_like(s)).result()
    with pytest.raises(DeviceError, match="the measurement signal did not come back"):
        measurement_without_a_stream(lambda s: 0.1 * rng.standard_normal(s.size)).result()
    r = measurement_without_a_stream(lambda s: 0.5 * fractional_delay(s.astype(np.float64), 300.0)).result()
    assert r["used"] == 3 and abs(r["mean_samples"] - 300.0) < 0.05 and r["jitter_samples"] < 0.05


def test_measurement_settings_are_checked():
    with pytest.raises(ParameterError, match="repeats=0 must be from 1 to 100"):
        LoopbackMeasurement(SR, 256, repeats=0)
    with pytest.raises(ParameterError, match="max_lag_s=9 must be from 0.01 to 5"):
        LoopbackMeasurement(SR, 256, max_lag_s=9)


def test_presets_name_shipped_models_and_their_latency():
    from rtst.model import load_model

    assert {"default", "low-latency"} <= set(PRESETS)
    for preset in PRESETS.values():
        stft = load_model(preset.model).stft
        assert stft is not None and stft.sample_rate == 48000
    ll, default = get_preset("low-latency"), get_preset("default")
    ll_stft, default_stft = load_model(ll.model).stft, load_model(default.model).stft
    assert ll_stft.n_fft - ll_stft.hop_length + ll.lookahead * ll_stft.hop_length == 192
    assert default_stft.n_fft - default_stft.hop_length + default.lookahead * default_stft.hop_length == 768
    with pytest.raises(ParameterError, match="preset='fast' must be one of"):
        get_preset("fast")

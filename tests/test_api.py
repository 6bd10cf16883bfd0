"""The Python API: rtst.Effect, rtst.load_model, rtst.list_models, and the examples in their
docstrings. Effect is checked the way pedalboard checks its plugins: a grid of sample rates and
channel layouts, and a latency-compensated passthrough that must return its input sample for
sample."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import rtst
from conftest import chirp
from rtst.errors import ModelError, ParameterError
from rtst.presets import DEFAULT_PRESET, PRESETS

SAMPLE_RATES = [22050, 44100, 48000, 96000]


def _signal(sample_rate: int, channels: int | None, seconds: float = 0.5) -> np.ndarray:
    n = int(seconds * sample_rate)
    mono = chirp(n, sample_rate, f1=min(12000.0, 0.4 * sample_rate), amp=0.4)  # below Nyquist at every rate
    if channels is None:
        return mono
    return np.stack([mono * (1.0 - 0.3 * c) for c in range(channels)])  # [channels, n]


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("channels", [None, 1, 2])
def test_identity_effect_returns_its_input_at_every_rate_and_layout(sample_rate, channels):
    x = _signal(sample_rate, channels)
    y = rtst.Effect("identity", phase="input")(x, sample_rate)
    assert y.shape == x.shape and y.dtype == np.float32
    if sample_rate == 48000:  # the model's rate: no resampling, the engine alone, to the sample
        np.testing.assert_allclose(y, x, atol=1e-5)
    else:  # resampled to 48 kHz and back: transparent below Nyquist, away from the edges
        edge = sample_rate // 20
        assert np.max(np.abs(y - x)[..., edge:-edge]) < 2e-3


def test_default_effect_is_the_default_presets_style_and_changes_the_sound():
    effect = rtst.Effect()
    preset = PRESETS[DEFAULT_PRESET]
    assert effect.settings.model.name == preset.model and effect.settings.phase == preset.phase
    x = _signal(44100, None)
    y = effect(x, 44100)
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() <= 1.0
    assert np.sqrt(np.mean(y ** 2)) > 0.05                        # audible
    assert np.max(np.abs(y - x)) > 0.05                            # not the input passed through


def test_identity_stays_available_by_name_and_mix_zero_is_dry():
    x = _signal(48000, None)
    np.testing.assert_allclose(rtst.Effect(mix=0.0)(x, 48000), x, atol=1e-6)  # the default model, dry


@pytest.mark.parametrize("model, phase", [("cello", None), ("identity", "input"), ("identity", "hybrid")])
def test_streaming_in_chunks_equals_the_whole_signal_delayed_by_the_latency(model, phase):
    effect = rtst.Effect(model, phase=phase)
    x = _signal(48000, 2, seconds=1.0)
    whole = effect(x, 48000)
    sizes = [1, 65, 8193, 256, 777]
    chunks, pos, k = [], 0, 0
    while pos < x.shape[1]:
        n = sizes[k % len(sizes)]
        chunks.append(effect(x[:, pos:pos + n], 48000, reset=False))
        pos, k = pos + n, k + 1
    streamed = np.concatenate(chunks, axis=1)
    lat = effect.latency_samples
    assert lat == effect.settings.processor().latency_samples
    np.testing.assert_allclose(streamed[:, lat:], whole[:, :-lat], atol=1e-5)
    if phase == "input" and model == "identity":  # a filter or a reconstruction rings ahead a little
        assert np.max(np.abs(streamed[:, :lat])) < 1e-6  # rounding only


def test_reset_true_after_streaming_starts_over():
    effect = rtst.Effect("cello")
    x = _signal(48000, None)
    first = effect(x, 48000)
    effect(x[:1000], 48000, reset=False)
    np.testing.assert_array_equal(effect(x, 48000), first)


@pytest.mark.parametrize("call, match", [
    (lambda e: e(np.zeros((2, 3, 4)), 48000), r"must be \[n_samples\] or \[n_channels, n_samples\]"),
    (lambda e: e(np.zeros(0), 48000), "n_samples >= 1"),
    (lambda e: e(np.array([0.0, np.nan]), 48000), "finite"),
    (lambda e: e(np.zeros((1000, 2)), 48000), "at most 64"),
    (lambda e: e(np.zeros(100), 0), "sample_rate=0"),
    (lambda e: e(np.zeros(100), 44100, reset=False), "must be the model's 48000 Hz when streaming"),
])
def test_bad_calls_are_one_line_parameter_errors(call, match):
    with pytest.raises(ParameterError, match=match) as info:
        call(rtst.Effect("identity"))
    assert "\n" not in str(info.value)


def test_stream_channel_count_may_not_change_without_reset():
    effect = rtst.Effect("identity")
    effect(np.zeros((2, 100), np.float32), 48000, reset=False)
    with pytest.raises(ParameterError, match="the stream had 2"):
        effect(np.zeros(100, np.float32), 48000, reset=False)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model": "no-such-model"}, ModelError, "not found"),
    ({"preset": "loud"}, ParameterError, "preset='loud'"),
    ({"phase": "magic"}, ParameterError, "magic"),
    ({"mix": 1.5}, ParameterError, "mix=1.5"),
    ({"model": "cello", "momentum": 1}, ParameterError, "unknown option"),
])
def test_bad_settings_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        rtst.Effect(**kwargs)


def test_presets_pick_their_model_and_phase():
    for name, preset in PRESETS.items():
        effect = rtst.Effect(preset=name)
        assert (effect.settings.model.name, effect.settings.phase) == (preset.model, preset.phase)
        assert effect.settings.lookahead == preset.lookahead


def test_list_models_and_load_model():
    names = rtst.list_models()
    assert {"identity", "cello", "bells", "organ", "cello-ll"} <= set(names)
    assert rtst.load_model("cello").name == "cello"


@pytest.mark.parametrize("module", ["rtst.render", "rtst.presets", "rtst.validate", "rtst.model.registry"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0

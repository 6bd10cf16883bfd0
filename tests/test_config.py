import pytest

from rtst.config import StftConfig, StreamConfig
from rtst.errors import ParameterError, RtstError


def test_defaults_are_valid():
    cfg = StftConfig()
    assert (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.window) == (48000, 1024, 256, "hann")
    assert cfg.n_bins == 513
    assert cfg.budget_us == pytest.approx(256 / 48000 * 1e6)


@pytest.mark.parametrize("kwargs, match", [
    ({"hop_length": 2048}, r"hop_length=2048 must be between 1 and 1024"),
    ({"hop_length": 0}, r"hop_length=0 must be between 1 and 1024"),
    ({"hop_length": -5}, r"hop_length=-5"),
    ({"n_fft": 1000}, r"n_fft=1000 must be a power of two"),
    ({"n_fft": 0}, r"n_fft=0 must be between"),
    ({"n_fft": 8, "hop_length": 2}, r"n_fft=8 must be between 16 and 65536"),
    ({"sample_rate": 4000}, r"sample_rate=4000 must be between 8000 and 192000"),
    ({"sample_rate": 44100.5}, r"sample_rate=44100.5 must be an integer"),
    ({"sample_rate": True}, r"sample_rate=True must be an integer"),
    ({"window": "kaiser"}, r"window='kaiser' must be one of gauss, hann"),
    ({"hop_length": 1024}, r"hop_length=1024 with n_fft=1024 .* cannot be inverted"),
    ({"hop_length": 1000}, r"hop_length=1000 .* cannot be inverted"),
])
def test_impossible_stft_settings_raise(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        StftConfig(**kwargs)


def test_parameter_error_is_value_error_and_rtst_error():
    with pytest.raises(ValueError):
        StftConfig(n_fft=3)
    with pytest.raises(RtstError):
        StftConfig(n_fft=3)


@pytest.mark.parametrize("hop", [1, 3, 100, 300, 512])
def test_hops_that_do_not_divide_n_fft_are_fine_when_invertible(hop):
    """Accepted, and really invertible: the engine's analysis and synthesis with the identity and
    the input's phase give the input back, delayed by its latency."""
    import numpy as np

    from rtst.engine import Processor

    cfg = StftConfig(n_fft=1024, hop_length=hop)
    assert cfg.hop_length == hop
    proc = Processor(cfg)
    x = np.random.default_rng(hop).uniform(-0.5, 0.5, 6000).astype(np.float32)
    y = proc.process(np.concatenate([x, np.zeros(proc.latency_samples + 1024, np.float32)]))
    lag = proc.latency_samples
    assert np.max(np.abs(y[lag + 1024:lag + x.size] - x[1024:])) <= 1e-4


def test_config_is_frozen():
    import dataclasses

    cfg = StftConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_fft = 512
    assert cfg.n_fft == 1024


@pytest.mark.parametrize("kwargs, match", [
    ({"block_size": -1}, r"block_size=-1"),
    ({"latency": "medium"}, r"latency='medium' must be 'low', 'high' or seconds"),
    ({"latency": 5.0}, r"latency=5.0 must be between 0 and 1 seconds"),
    ({"output_channels": 0}, r"output_channels=0"),
])
def test_stream_config_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        StreamConfig(**kwargs)

import numpy as np
import pytest

from rtst.config import StftConfig
from rtst.dsp.fft import RfftPlan
from rtst.dsp.stft import istft, stft
from rtst.dsp.windows import dual_window, get_window, ola_square_sum


@pytest.mark.parametrize("n_fft", [4, 8, 16, 64, 256, 1024, 4096])
def test_rfft_matches_numpy(n_fft, rng):
    plan = RfftPlan(n_fft)
    x = rng.standard_normal(n_fft)
    spec = plan.rfft(x)
    np.testing.assert_allclose(spec, np.fft.rfft(x), atol=1e-12 * n_fft)
    np.testing.assert_allclose(plan.irfft(spec), x, atol=1e-13)


@pytest.mark.parametrize("n_fft", [16, 512])
def test_irfft_matches_numpy_for_any_hermitian_half(n_fft, rng):
    plan = RfftPlan(n_fft)
    spec = rng.standard_normal(n_fft // 2 + 1) + 1j * rng.standard_normal(n_fft // 2 + 1)
    np.testing.assert_allclose(plan.irfft(spec), np.fft.irfft(spec, n_fft), atol=1e-13)


def test_rfft_plan_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        RfftPlan(12)


@pytest.mark.parametrize("n_fft, hop", [(1024, 256), (1024, 128), (512, 300), (256, 1)])
def test_dual_window_overlap_adds_to_one(n_fft, hop):
    w = get_window("hann", n_fft)
    g = dual_window(w, hop)
    # sum over frames of w*g at every sample phase must be exactly 1
    np.testing.assert_allclose(ola_square_sum(np.sqrt(w * g), hop), 1.0, atol=1e-12)


def test_stft_frames_match_naive_definition(rng):
    cfg = StftConfig(n_fft=256, hop_length=64)
    x = rng.standard_normal(1000)
    spec = stft(x, cfg)
    w = get_window("hann", 256)
    padded = np.concatenate([np.zeros(256), x, np.zeros(512)])
    for j in (0, 3, spec.shape[1] - 1):
        start = (j + 1) * 64 - 256  # frame j covers [(j+1)*hop - n_fft, (j+1)*hop)
        frame = padded[256 + start:256 + start + 256] * w
        expected = np.fft.rfft(np.fft.ifftshift(frame))  # frame-centred phase
        np.testing.assert_allclose(spec[:, j], expected, atol=1e-10)


@pytest.mark.parametrize("n_fft, hop", [(256, 128), (1024, 256), (2048, 256), (512, 300)])
def test_offline_istft_inverts_stft(n_fft, hop, rng):
    cfg = StftConfig(n_fft=n_fft, hop_length=hop)
    x = rng.standard_normal(5000)
    np.testing.assert_allclose(istft(stft(x, cfg), cfg, x.size), x, atol=1e-10)


def test_ring_history_returns_entries_oldest_first():
    from rtst.dsp.ringbuffer import ring_history

    ring = np.zeros(8, dtype=np.int64)
    for i in range(13):
        ring[i & 7] = i
    np.testing.assert_array_equal(ring_history(ring, 13), np.arange(5, 13))
    np.testing.assert_array_equal(ring_history(ring, 3), ring[:3])

"""The telemetry block: what the audio thread publishes arrives intact, in this or another process,
and a slow reader loses old entries, never the writer's time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import allocation_rounds, harmonic_tone
from rtst.config import StftConfig
from rtst.dsp.stft import stft
from rtst.engine import Processor
from rtst.errors import ParameterError
from rtst.telemetry import Telemetry

CFG = StftConfig(n_fft=512, hop_length=128)


def make(shared=False, **kw):
    return Telemetry(CFG.n_bins, CFG.sample_rate, CFG.hop_length, CFG.n_fft, shared=shared, **kw)


def test_processor_publishes_every_hop_magnitude():
    tele = make()
    proc = Processor(CFG, phase="input", block_size=CFG.hop_length)
    proc.set_frame_tap(tele)
    x = harmonic_tone(40 * CFG.hop_length)
    out = np.zeros_like(x)
    for i in range(0, x.size, CFG.hop_length):
        proc.process(x[i:i + CFG.hop_length], out[i:i + CFG.hop_length])
    assert tele.frames_written == 40
    frames = np.zeros((64, 2, CFG.n_bins), np.float32)
    hop_ns = np.zeros(64, np.int64)
    n, nxt, dropped = tele.read_frames(0, frames, hop_ns)
    assert (n, nxt, dropped) == (40, 40, 0)
    ref = np.abs(stft(x, CFG))[:, :40].T  # [40, n_bins], the same frames offline
    np.testing.assert_allclose(frames[:40, 0], ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(frames[:40, 1], frames[:40, 0], rtol=1e-6)  # identity model
    assert np.all(hop_ns[:40] > 0)
    np.testing.assert_array_equal(hop_ns[:40], proc.hop_times_ns())
    # nothing new: nothing read
    assert tele.read_frames(40, frames)[:2] == (0, 40)


def test_a_lapped_reader_gets_the_newest_entries_and_a_drop_count():
    tele = make(frame_seconds=0.1, audio_seconds=0.01)
    cap = tele.audio.shape[0]
    x = np.arange(3 * cap, dtype=np.float32)
    tele.write_audio(x, -x)
    buf = np.zeros((cap, 2), np.float32)
    n, nxt, dropped = tele.read_audio(0, buf)
    assert nxt == 3 * cap and n == cap - 1 and dropped == 2 * cap + 1
    np.testing.assert_array_equal(buf[:n, 0], x[-n:])
    np.testing.assert_array_equal(buf[:n, 1], -x[-n:])
    small = np.zeros((10, 2), np.float32)
    n, nxt, dropped = tele.read_audio(3 * cap - 25, small)
    assert (n, nxt, dropped) == (10, 3 * cap, 15)
    np.testing.assert_array_equal(small[:, 0], x[-10:])


def test_another_process_reads_the_shared_block():
    tele = make(shared=True)
    try:
        tele.write_audio(np.full(100, 0.25, np.float32), np.full(100, -0.5, np.float32))
        tele.set_state(mix=0.3, model=2)
        code = (
            "import sys, numpy as np; from rtst.telemetry import Telemetry\n"
            "t = Telemetry.attach(sys.argv[1]); buf = np.zeros((200, 2), np.float32)\n"
            "n, nxt, d = t.read_audio(0, buf)\n"
            "print(n, t.n_bins, t.sample_rate, buf[:n, 0].mean(), buf[:n, 1].mean(), t.get_state('mix'), t.get_state('model'))\n"
            "t.set_state(bypass=1)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, str(tele.path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["100", str(CFG.n_bins), "48000", "0.25", "-0.5", "0.3", "2.0"]
        assert tele.get_state("bypass") == 1.0  # written by the other process
    finally:
        path = tele.path
        tele.close()
    assert not path.exists()


def test_attach_refuses_what_is_not_a_telemetry_block(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(ParameterError, match="not an rtst telemetry block"):
        Telemetry.attach(bad)
    with pytest.raises(ParameterError, match="cannot be opened"):
        Telemetry.attach(tmp_path / "missing")
    with pytest.raises(ParameterError, match="n_bins"):
        Processor(CFG).set_frame_tap(Telemetry(10, 48000, 128, 512))


def test_publishing_allocates_nothing():
    """The tap and the audio ring add no allocation to the hop (kept or transient)."""
    tele = make()
    proc = Processor(CFG, phase="input", block_size=CFG.hop_length)
    x = harmonic_tone(CFG.hop_length)
    out = np.zeros_like(x)

    def bare():
        proc.process(x, out)

    def step():
        proc.process(x, out)
        tele.write_audio(x, out)

    without = allocation_rounds(bare, 1500, warm=bare)
    proc.set_frame_tap(tele)
    with_tap = allocation_rounds(step, 1500, warm=step)
    assert without == [(0, 0)] * 3, without
    assert with_tap == [(0, 0)] * 3, with_tap
    assert tele.frames_written > 4500 and tele.audio_written > 4500 * CFG.hop_length

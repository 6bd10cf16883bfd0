"""--record: the WAV is valid after every append, survives a kill, keeps stream time."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from rtst.errors import AudioFileError
from rtst.live.recorder import Recorder, WavAppender
from rtst.telemetry import Telemetry


def test_appender_is_a_valid_wav_after_every_append(tmp_path, rng):
    path = tmp_path / "a.wav"
    w = WavAppender(path, 48000, 2)
    chunks = [rng.standard_normal((n, 2)).astype(np.float32) for n in (1, 100, 4097)]
    for i, c in enumerate(chunks):
        w.append(c)
        data, rate = sf.read(path, dtype="float32")  # readable mid-recording
        np.testing.assert_array_equal(data, np.concatenate(chunks[:i + 1]))
        assert rate == 48000
    w.close()
    info = sf.info(path)
    assert (info.subtype, info.channels, info.frames) == ("FLOAT", 2, 4198)


def test_bad_paths_are_refused_before_anything_runs(tmp_path):
    (tmp_path / "take.wav").write_bytes(b"precious")
    with pytest.raises(AudioFileError, match="exists"):
        WavAppender(tmp_path / "take.wav", 48000, 2)
    assert (tmp_path / "take.wav").read_bytes() == b"precious"
    with pytest.raises(AudioFileError, match=r"\.wav"):
        WavAppender(tmp_path / "take.mp3", 48000, 2)
    with pytest.raises(AudioFileError, match="does not exist"):
        WavAppender(tmp_path / "no" / "take.wav", 48000, 2)


def test_recorder_keeps_stream_time_when_it_falls_behind(tmp_path):
    tele = Telemetry(65, 8000, 32, 128, audio_seconds=0.1)
    cap = tele.audio.shape[0]
    rec = Recorder(tmp_path / "r.wav", tele, interval_s=3600)  # drained by hand below
    x = np.arange(1, 3 * cap + 1, dtype=np.float32)
    tele.write_audio(x[:100], -x[:100])
    rec._drain()
    tele.write_audio(x[100:], -x[100:])  # laps the ring: the oldest unread samples are gone
    rec._drain()
    result = rec.stop()
    data, _ = sf.read(tmp_path / "r.wav", dtype="float32")
    assert data.shape == (x.size, 2) and result["frames"] == x.size
    assert result["lost"] == x.size - 100 - (cap - 1)
    np.testing.assert_array_equal(data[:100, 0], x[:100])
    np.testing.assert_array_equal(data[100:100 + result["lost"]], 0)  # the gap, in place
    np.testing.assert_array_equal(data[-(cap - 1):, 0], x[-(cap - 1):])
    np.testing.assert_array_equal(data[-(cap - 1):, 1], -x[-(cap - 1):])


_WRITER = """
import sys, time, numpy as np
from rtst.live.recorder import Recorder
from rtst.telemetry import Telemetry
tele = Telemetry(65, 8000, 32, 128)
rec = Recorder(sys.argv[1], tele)
rec.start()
t0 = time.monotonic(); n = 0
while True:  # a ramp at real-time pace, 80-sample blocks
    block = (np.arange(n, n + 80) % 8000).astype(np.float32) / 8000
    tele.write_audio(block, -block)
    n += 80
    if n == 8000:
        print("one second", flush=True)
    time.sleep(max(0.0, t0 + n / 8000 - time.monotonic()))
"""


def test_a_killed_recording_is_readable_and_loses_at_most_a_second(tmp_path):
    path = tmp_path / "killed.wav"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "one second"
        time.sleep(1.0)
        written_s = 2.0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    data, rate = sf.read(path, dtype="float32")
    assert rate == 8000 and data.shape[1] == 2
    assert data.shape[0] >= (written_s - 1.0) * 8000, data.shape
    ramp = (np.arange(data.shape[0]) % 8000).astype(np.float32) / 8000
    np.testing.assert_array_equal(data[:, 0], ramp)
    np.testing.assert_array_equal(data[:, 1], -ramp)

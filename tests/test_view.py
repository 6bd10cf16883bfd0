"""The live view, offscreen: the spectrogram ring, the window fed a known signal through a real
telemetry block (its grabbed picture must show the energy where the signal put it), the controls
it sends and shows, and the view process (`python -m rtst.view`) started, drawing and stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pg = pytest.importorskip("pyqtgraph")

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets  # noqa: E402

from rtst.errors import ParameterError  # noqa: E402
from rtst.telemetry import FRAMES_SLOT, Telemetry, publish, tap_frame  # noqa: E402
from rtst.view.spectrogram import SpectrogramImage  # noqa: E402
from rtst.view.window import EffectView, pixel_of  # noqa: E402

SR, N_FFT, HOP = 48000, 1024, 256
N_BINS = N_FFT // 2 + 1
INFO = {"models": ["identity", "cello", "bells"], "phases": ["rtpghi", "hybrid", "input"], "model": "identity",
        "phase": "hybrid", "morph_model": "organ", "title": "rtst live: test"}


@pytest.fixture(scope="module")
def app():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication(["rtst-test"])


def stft_mag(x: np.ndarray) -> np.ndarray:
    """Magnitudes of hop-spaced periodic-Hann frames, float32 [n_frames, n_bins] (a naive STFT)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    starts = range(0, x.size - N_FFT + 1, HOP)
    return np.array([np.abs(np.fft.rfft(window * x[s:s + N_FFT])) for s in starts], np.float32)


def tone(f_hz: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f_hz * np.arange(int(seconds * SR)) / SR)


def feed(telemetry: Telemetry, mag_in: np.ndarray, mag_out: np.ndarray) -> None:
    """Publish frames as the audio thread does (entries first, then the counter)."""
    frames, hop_ns, header = telemetry.frame_tap()
    for a, b in zip(mag_in, mag_out):
        tap_frame(a, b, np.array([40_000]), frames, hop_ns, header)  # compute time: the clock's last slot
        publish(header, FRAMES_SLOT, 1)


def grab(widget) -> np.ndarray:
    """The widget as pixels, uint8 [height, width, 3] (RGB)."""
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    raw = np.frombuffer(image.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return raw[:, :3 * w].reshape(h, w, 3).copy()


def brightness(pixels: np.ndarray, xy, radius: int = 2) -> float:
    x, y = int(round(xy[0])), int(round(xy[1]))
    patch = pixels[y - radius:y + radius + 1, x - radius:x + radius + 1].astype(float)
    return float(patch.sum(axis=2).max())


# ---------------------------------------------------------------------- SpectrogramImage
def test_levels_are_fixed_in_dbfs():
    spec = SpectrogramImage(N_BINS, SR, HOP, N_FFT, level_min_db=-100, level_max_db=0)
    full = N_FFT / 4  # a Hann-windowed sinusoid of amplitude 1 peaks here
    frame = np.zeros((1, N_BINS), np.float32)
    frame[0, 10], frame[0, 20], frame[0, 30], frame[0, 40] = full, full * 10 ** (-50 / 20), full * 1e-5, full * 10
    spec.push(frame)
    col = spec.image()[-1]
    assert col[10] == 255 and col[40] == 255           # 0 dBFS and above: the top colour
    assert abs(int(col[20]) - 128) <= 1                # -50 dBFS: mid-scale
    assert col[30] == 0 and col[0] == 0                 # -100 dBFS and silence: the floor
    assert spec.lut.shape == (256, 3) and spec.lut[255].sum() > spec.lut[128].sum() > spec.lut[0].sum()


def test_ring_scrolls_in_place_oldest_first():
    spec = SpectrogramImage(N_BINS, SR, HOP, N_FFT, history_s=0.1, level_min_db=-255, level_max_db=0)
    buffers = {axis: spec._rings[axis] for axis in ("linear", "log")}
    pointers = {axis: b.__array_interface__["data"][0] for axis, b in buffers.items()}
    n = spec.n_cols
    full = N_FFT / 4
    for i in range(3 * n + 5):  # column i has level -(i % 200) dB in every bin
        spec.push(np.full((1, N_BINS), full * 10 ** (-(i % 200) / 20), np.float32))
    img = spec.image()
    assert img.shape == (n, N_BINS)
    expected = [255 - (i % 200) for i in range(2 * n + 5, 3 * n + 5)]
    assert img[:, 0].tolist() == expected
    for axis in ("linear", "log"):
        assert spec._rings[axis] is buffers[axis]
        assert spec._rings[axis].__array_interface__["data"][0] == pointers[axis]
    assert np.shares_memory(spec.image(), buffers["linear"])


def test_short_hops_are_aggregated_by_max():
    spec = SpectrogramImage(N_BINS, SR, 64, N_FFT, history_s=5.0, max_columns=1000)
    assert spec.hops_per_column == 4 and spec.n_cols * spec.hops_per_column >= 5.0 * SR / 64
    frames = np.zeros((10, N_BINS), np.float32)
    frames[2, 100] = N_FFT / 4  # one loud hop inside the first column of 4
    assert spec.push(frames[:3]) == 0 and spec.push(frames[3:]) == 2  # the remainder of 2 waits
    assert spec.image()[-2, 100] == 255 and spec.image()[-1, 100] == 0


@pytest.mark.parametrize("f_hz", [100.0, 440.0, 3000.0, 15000.0])
def test_log_axis_puts_a_tone_on_its_row(f_hz):
    spec = SpectrogramImage(N_BINS, SR, HOP, N_FFT, axis="log")
    spec.push(stft_mag(tone(f_hz, 0.1)))
    peak_hz = spec.row_hz()[int(np.argmax(spec.image()[-1]))]
    row_step_hz = f_hz * (spec.top_hz / spec.f_min_hz) ** (1 / (spec.log_rows - 1)) - f_hz
    # the brightest row is within half a bin (the STFT's resolution) or two rows of the tone
    assert abs(peak_hz - f_hz) <= max(spec.bin_hz / 2, 2 * row_step_hz)
    spec.set_axis("linear")
    assert abs(int(np.argmax(spec.image()[-1])) - f_hz / spec.bin_hz) <= 1


def test_spectrogram_errors():
    with pytest.raises(ParameterError, match="n_bins=1 must be at least 2"):
        SpectrogramImage(1, SR, HOP, N_FFT)
    with pytest.raises(ParameterError, match="level_min_db=0.0 must be below level_max_db=-10.0"):
        SpectrogramImage(N_BINS, SR, HOP, N_FFT, level_min_db=0.0, level_max_db=-10.0)
    spec = SpectrogramImage(N_BINS, SR, HOP, N_FFT)
    with pytest.raises(ParameterError, match=r"axis='mel' must be one of linear, log"):
        spec.set_axis("mel")
    with pytest.raises(ParameterError, match=r"must be \[m, 513\]"):
        spec.push(np.zeros((3, 100), np.float32))


# ---------------------------------------------------------------------- the window
def make_view(app, telemetry, **kw):
    sent = []
    view = EffectView(telemetry, INFO, emit=sent.append, fps=30, **kw)
    view.resize(1280, 720)
    view.show()
    app.processEvents()
    return view, sent


@pytest.mark.parametrize("axis", ["log", "linear"])
def test_picture_shows_each_signal_in_its_own_spectrogram(app, axis):
    """Input: 2 s of a 1 kHz tone; output: the same 2 s as a 6 kHz tone. In the grabbed picture
    the input spectrogram is bright at 1 kHz and dark at 6 kHz over the last second, the output
    the other way round, and both are dark 4 s back (before anything was played)."""
    tel = Telemetry(N_BINS, SR, HOP, N_FFT)
    view, _ = make_view(app, tel, axis=axis)
    view.timer.stop()  # ticks driven by the test
    try:
        feed(tel, stft_mag(tone(1000.0, 2.0)), stft_mag(tone(6000.0, 2.0)))
        view.tick()
        app.processEvents()
        pixels = grab(view)
        plot_in, plot_out = view.plots
        for t in (-1.5, -1.0, -0.3):
            assert brightness(pixels, pixel_of(view, plot_in, t, 1000.0)) > 450
            assert brightness(pixels, pixel_of(view, plot_in, t, 6000.0)) < 150
            assert brightness(pixels, pixel_of(view, plot_out, t, 6000.0)) > 450
            assert brightness(pixels, pixel_of(view, plot_out, t, 1000.0)) < 150
        for plot in view.plots:
            assert brightness(pixels, pixel_of(view, plot, -4.0, 1000.0)) < 150
            assert brightness(pixels, pixel_of(view, plot, -4.0, 6000.0)) < 150
        assert view.frames_drawn == stft_mag(tone(1000.0, 2.0)).shape[0]
        assert tel.get_state("view_ticks") == 1 and tel.get_state("view_frames") == view.frames_drawn
    finally:
        view.close()
        tel.close()


def test_a_late_tick_draws_what_the_ring_holds_and_counts_the_rest(app):
    tel = Telemetry(N_BINS, SR, HOP, N_FFT, frame_seconds=0.5)
    cap = tel.frames.shape[0]
    view, _ = make_view(app, tel)
    view.timer.stop()
    try:
        mag = stft_mag(tone(500.0, 0.1))[:1]
        many = np.repeat(mag, 3 * cap, axis=0)
        feed(tel, many, many)
        view.tick()
        assert view.frames_drawn + view.frames_dropped == 3 * cap
        assert cap // 2 <= view.frames_drawn < cap
    finally:
        view.close()
        tel.close()


def test_meters_show_compute_latency_counters_and_levels(app):
    tel = Telemetry(N_BINS, SR, HOP, N_FFT)
    tel.set_state(latency_algorithmic=1024, latency_io=float("nan"), budget_us=HOP / SR * 1e6)
    view, _ = make_view(app, tel)
    view.timer.stop()
    try:
        view.tick()
        assert "algorithmic 21.3 ms + I/O - = -" in view.latency_label.text()
        tel.set_state(latency_io=384)
        tel.stream_counters[1], tel.stream_counters[2] = 3, 1  # xruns, deadline misses
        # compute: half the hops at 10 % of the budget, half at 50 %
        frames, hop_ns, header = tel.frame_tap()
        budget_ns = HOP / SR * 1e9
        zeros = np.zeros(N_BINS, np.float32)
        for i in range(SR // HOP):
            tap_frame(zeros, zeros, np.array([int((0.1 if i % 2 else 0.5) * budget_ns)]), frames, hop_ns, header)
            publish(header, FRAMES_SLOT, 1)
        x = tone(440.0, 0.1, amp=0.5).astype(np.float32)
        tel.write_audio(x, 0.05 * x)  # input peaks at -6 dBFS, output 26 dB lower
        view.tick()
        assert "algorithmic 21.3 ms + I/O 8.0 ms = 29.3 ms" in view.latency_label.text()
        assert "xruns 3, deadline misses 1" in view.stream_label.text()
        assert "(50.0 %) of 5333 µs" in view.compute_label.text() and view.compute_bar.value() == 50
        assert [bar.value() for bar in view.level_bars] == [-6, -32]
    finally:
        view.close()
        tel.close()


def test_controls_send_changes_and_follow_other_sources(app):
    from pyqtgraph.Qt import QtTest

    tel = Telemetry(N_BINS, SR, HOP, N_FFT)
    tel.set_state(mix=1.0, model=0, phase=1)
    view, sent = make_view(app, tel)
    view.timer.stop()
    try:
        view.tick()
        assert sent == []  # showing the engine's state sends nothing back
        assert view.model_box.currentText() == "identity" and view.phase_box.currentText() == "hybrid"
        view.mix_slider.setValue(40)
        QtTest.QTest.mouseClick(view.bypass_button, QtCore.Qt.MouseButton.LeftButton)
        view.model_box.setFocus()
        QtTest.QTest.keyClick(view.model_box, QtCore.Qt.Key.Key_Down)  # the performer picks the next model
        view.morph_slider.setValue(70)
        assert sent == [{"mix": 0.4}, {"bypass": True}, {"model": "cello"}, {"morph": 0.7}]
        # OSC or MIDI changed things meanwhile: the controls follow, silently
        sent.clear()
        tel.set_state(mix=0.25, bypass=0, model=2, phase=2, morph=0.1)
        view.tick()
        assert sent == []
        assert view.mix_slider.value() == 25 and not view.bypass_button.isChecked()
        assert view.model_box.currentText() == "bells" and view.phase_box.currentText() == "input"
        assert view.morph_slider.value() == 10
        view.set_axis("linear")
        assert all(p.spectrogram.axis == "linear" for p in view.plots) and sent == []
    finally:
        view.close()
        tel.close()


def test_capture_button_sends_a_capture_only_with_a_capture_folder(app):
    from rtst.errors import ParameterError
    from rtst.live.capture import DEFAULT_CAPTURE_S

    tel = Telemetry(N_BINS, SR, HOP, N_FFT)
    sent = []
    view = EffectView(tel, {**INFO, "capture": True}, emit=sent.append)
    off = EffectView(tel, INFO)
    try:
        view.set_control("capture", "")
        assert sent == [{"capture": DEFAULT_CAPTURE_S}]
        assert not off.capture_button.isEnabled()
        with pytest.raises(ParameterError, match="--capture-dir"):
            off.set_control("capture", "")
    finally:
        view.close()
        off.close()
        tel.close()


def test_morph_control_is_off_without_a_morph_model(app):
    tel = Telemetry(N_BINS, SR, HOP, N_FFT)
    view = EffectView(tel, {**INFO, "morph_model": None})
    try:
        assert not view.morph_slider.isEnabled()
    finally:
        view.close()
        tel.close()


# ---------------------------------------------------------------------- the view process
def test_view_process_draws_screenshots_and_stops_when_stdin_closes(tmp_path):
    tel = Telemetry(N_BINS, SR, HOP, N_FFT, shared=True)
    shot = tmp_path / "view.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-m", "rtst.view", "--telemetry", str(tel.path), "--info", json.dumps(INFO),
                             "--screenshot", str(shot), "--screenshot-after", "1.5", "--size", "960x540"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        mag_in, mag_out = stft_mag(tone(1000.0, 0.5)), stft_mag(tone(6000.0, 0.5))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # ~ real time, as the engine would
            feed(tel, mag_in[:10], mag_out[:10])
            time.sleep(10 * HOP / SR)
        assert tel.get_state("view_ticks") >= 30          # about 30 redraws a second
        assert tel.get_state("view_frames") >= 0.9 * tel.frames_written - 20
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        tel.close()
    image = QtGui.QImage(str(shot))
    assert (image.width(), image.height()) == (960, 540)


def test_view_process_bad_arguments_are_one_line_errors(tmp_path):
    bad = tmp_path / "not-telemetry"
    bad.write_bytes(b"\0" * 4096)
    for args, message in ((["--telemetry", str(bad)], "is not an rtst telemetry block"),
                          (["--telemetry", str(tmp_path / "missing")], "cannot be opened"),
                          (["--telemetry", str(bad), "--info", "{"], "--info is not JSON")):
        r = subprocess.run([sys.executable, "-m", "rtst.view", *args], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], r.stderr


def test_qt_binding_keeps_the_reference_counts_of_what_its_signals_carry(app):
    """PySide6 6.12.0 dropped a reference to True on every signal emit; on Python < 3.12 that
    aborts the view after a few thousand redraws (setup.cfg excludes it). An upgrade that brings
    such a bug back fails here, not on stage. True and False are immortal from Python 3.12 (their
    counts never move), so the same is checked on an object of our own, which any Python counts."""
    class Source(QtCore.QObject):
        changed = QtCore.Signal()
        toggled = QtCore.Signal(bool)
        carried = QtCore.Signal(object)

    source = Source()
    got = []
    source.changed.connect(lambda: None)
    source.toggled.connect(got.append)
    source.carried.connect(got.append)
    payload = object()
    before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(payload)
    for _ in range(1000):
        source.changed.emit()
    for i in range(1000):
        source.toggled.emit(bool(i % 2))
        source.carried.emit(payload)
    got.clear()
    assert (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(payload)) == before


def test_the_views_controls_reach_the_engine_through_its_pipe():
    """`rtst live --view`'s control path, all real: the view process moves its widgets (as the
    performer would), each change goes as a JSON line down its stdout to ViewProcess's reader,
    through the Rig to a running Processor (cello, a thread playing the audio thread), and the
    published state comes back through the shared telemetry."""
    from test_control import AudioThread, until

    from rtst.config import StftConfig
    from rtst.control.rig import Rig
    from rtst.engine import Processor
    from rtst.live import ViewProcess
    from rtst.model import load_model

    stft = StftConfig()
    proc = Processor(stft, model=load_model("cello"), phase="hybrid", block_size=stft.hop_length)
    tel = Telemetry(stft.n_bins, stft.sample_rate, stft.hop_length, stft.n_fft, shared=True)
    rig = Rig(proc, {"cello": proc.model, "identity": load_model("identity"), "organ": load_model("organ")},
              phases=("rtpghi", "hybrid", "input"), morph_model=load_model("bells"), telemetry=tel)
    audio = AudioThread(proc)
    view = None
    try:  # the view process inherits QT_QPA_PLATFORM=offscreen (set at the top of this module)
        settings = [("mix", "0.3"), ("bypass", "on"), ("morph", "0.6"), ("model", "organ"), ("phase", "rtpghi")]
        view = ViewProcess(tel, {**rig.info(), "title": "test"}, rig, settings=settings)
        assert view.ready.wait(60)
        assert until(lambda: rig.changes >= 5, timeout=30), (rig.changes, view.errors)
        assert view.errors == 0 and view.messages >= 6  # ready + five changes
        assert rig.state() == {"mix": 0.3, "bypass": True, "morph": 0.6, "model": "organ", "phase": "rtpghi",
                               "morph_model": "bells"}
        assert tel.get_state("mix") == 0.3 and tel.get_state("bypass") == 1.0
        assert until(lambda: tel.get_state("view_ticks") > 10)
        assert view.stop() == 0
    finally:
        if view is not None and view.running:
            view.proc.kill()
        audio.stop()
        tel.close()


def test_colour_ring_is_the_colour_map_of_the_shown_axis_in_place():
    spec = SpectrogramImage(N_BINS, SR, HOP, N_FFT, history_s=0.5, axis="log")
    rings = {axis: spec._display[axis] for axis in ("linear", "log")}
    pointers = {axis: r.__array_interface__["data"][0] for axis, r in rings.items()}
    mag = stft_mag(tone(2000.0, 0.2))
    for _ in range(5):  # several laps of the ring
        spec.push(mag)
    for axis in ("log", "linear", "log"):
        spec.set_axis(axis)
        shown = spec.display_buffer[:, spec.head:spec.head + spec.n_cols]    # [rows, n_cols]
        np.testing.assert_array_equal(shown, spec.lut32[spec.image().T])
        spec.push(mag[:3])
        shown = spec.display_buffer[:, spec.head:spec.head + spec.n_cols]
        np.testing.assert_array_equal(shown, spec.lut32[spec.image().T])     # kept up to date by push
    for axis in ("linear", "log"):
        assert spec._display[axis] is rings[axis] and spec._display[axis].__array_interface__["data"][0] == pointers[axis]
    assert spec.lut32[255] >> 24 == 0xFF and (spec.lut32[255] & 0xFFFFFF) == int.from_bytes(bytes(spec.lut[255]), "big")

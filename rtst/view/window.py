"""The live view's window: input and output spectrograms, meters, and the performer's controls.

:class:`EffectView` reads everything from a :class:`~rtst.telemetry.Telemetry` block on a Qt
timer (30 Hz by default): the hop magnitudes since its last tick, the compute time of the last
second of hops, the stream counters, the samples for the level meters, and the control state
(which OSC or MIDI may have changed meanwhile). It never writes to the audio side except two
counters of its own (``view_ticks``, ``view_frames``); a control the performer moves is handed to
``emit`` as a ``{name: value}`` dict (the view process prints it as a JSON line for the engine's
:class:`~rtst.control.rig.Rig`).

Every buffer a tick reads into is allocated once, here; the spectrograms scroll a preallocated
image ring (:mod:`rtst.view.spectrogram`). When a tick comes late, the frames the ring still holds
are drawn and older ones are dropped and counted; the audio never waits for the view.
"""

from __future__ import annotations

import math

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from rtst.live.capture import DEFAULT_CAPTURE_S as CAPTURE_S
from rtst.telemetry import DEADLINE_MISSES, FAILURES, STATE, XRUNS
from rtst.view.spectrogram import AXES, SpectrogramImage, SpectrogramPlot

__all__ = ["EffectView", "LEVEL_FLOOR_DB"]

#: Level meters' floor (dBFS); quieter shows as an empty bar.
LEVEL_FLOOR_DB = -60.0


def _db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 1e-10 else -200.0


def _ms(samples: float, sample_rate: int) -> str:
    return f"{samples / sample_rate * 1e3:.1f} ms" if math.isfinite(samples) and samples >= 0 else "-"


class EffectView(QtWidgets.QWidget):
    """The live view.

    Parameters
    ----------
    telemetry : rtst.telemetry.Telemetry
        The running effect's block (attached from another process, or the same one in tests).
    info : dict
        From the session: ``models``, ``phases`` (names offered), ``model``, ``phase``,
        ``morph_model`` (name or None), ``title``; optional ``level_min_db``/``level_max_db``.
    emit : callable, optional
        Called with ``{name: value}`` when the performer moves a control.
    fps : float
        Redraws per second.
    axis : {"linear", "log"}
        Frequency axis shown first.
    """

    def __init__(self, telemetry, info: dict, *, emit=None, fps: float = 30.0, axis: str = "log", parent=None):
        super().__init__(parent)
        self.telemetry = telemetry
        self.info = dict(info)
        self.emit = emit or (lambda changes: None)
        self.sample_rate = telemetry.sample_rate
        self.hop_length = telemetry.hop_length
        self.n_fft = telemetry.n_fft
        n_bins = telemetry.n_bins
        self.setWindowTitle(self.info.get("title", "rtst live"))
        levels = dict(level_min_db=float(self.info.get("level_min_db", -100.0)),
                      level_max_db=float(self.info.get("level_max_db", 0.0)))
        self.spectrograms = [SpectrogramImage(n_bins, self.sample_rate, self.hop_length, self.n_fft, axis=axis, **levels)
                             for _ in range(2)]
        self.plots = [SpectrogramPlot(s, title) for s, title in zip(self.spectrograms, ("input", "output"))]

        # what a tick reads into, allocated once: up to a whole frame ring, one second of compute
        # times, and the audio since the last tick (a quarter second at most is looked at)
        cap = telemetry.frames.shape[0]
        self._frames = np.zeros((cap, 2, n_bins), np.float32)         # [cap, in/out, n_bins]
        self._audio = np.zeros((self.sample_rate // 4, 2), np.float32)  # [samples, in/out]
        self._frames_since = telemetry.frames_written
        self._audio_since = telemetry.audio_written
        self._hops_per_second = max(1, int(round(self.sample_rate / self.hop_length)))
        #: Ticks done, frames drawn, frames the ring lapped before a tick could read them.
        self.ticks = 0
        self.frames_drawn = 0
        self.frames_dropped = 0
        self._peak_db = [LEVEL_FLOOR_DB, LEVEL_FLOOR_DB]

        self._build_controls()
        self._build_meters()
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        for plot in self.plots:
            row.addWidget(plot, 1)
        layout.addLayout(row, 1)
        layout.addWidget(self._meter_box)
        layout.addWidget(self._control_box)

        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self.timer.start(max(1, int(round(1000.0 / fps))))

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        box = QtWidgets.QGroupBox("controls")
        grid = QtWidgets.QHBoxLayout(box)
        self.model_box = QtWidgets.QComboBox()
        self.model_box.addItems(list(self.info.get("models", [])))
        self.phase_box = QtWidgets.QComboBox()
        self.phase_box.addItems(list(self.info.get("phases", [])))
        self.axis_box = QtWidgets.QComboBox()
        self.axis_box.addItems(list(AXES))
        self.axis_box.setCurrentText(self.spectrograms[0].axis)
        self.mix_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.mix_slider.setRange(0, 100)
        self.mix_slider.setValue(100)
        self.morph_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.morph_slider.setRange(0, 100)
        morph_name = self.info.get("morph_model")
        self.morph_slider.setEnabled(morph_name is not None)
        self.morph_slider.setToolTip(f"morph towards {morph_name}" if morph_name else "needs --morph-model")
        self.bypass_button = QtWidgets.QPushButton("bypass")
        self.bypass_button.setCheckable(True)
        # a style captured from the input (rtst live --capture-dir; rtst.live.capture)
        self.capture_button = QtWidgets.QPushButton(f"capture {CAPTURE_S:.0f} s")
        self.capture_button.setEnabled(bool(self.info.get("capture")))
        self.capture_button.setToolTip("learn the next seconds of input as a new style and play it"
                                       if self.info.get("capture") else "needs rtst live --capture-dir DIR")
        for label, widget in (("model", self.model_box), ("phase", self.phase_box), ("dry/wet", self.mix_slider),
                              ("morph" + (f" → {morph_name}" if morph_name else ""), self.morph_slider),
                              ("axis", self.axis_box)):
            grid.addWidget(QtWidgets.QLabel(label))
            grid.addWidget(widget, 2 if isinstance(widget, QtWidgets.QSlider) else 0)
        grid.addWidget(self.bypass_button)
        grid.addWidget(self.capture_button)
        self._control_box = box
        self.model_box.textActivated.connect(lambda name: self.emit({"model": name}))
        self.phase_box.textActivated.connect(lambda name: self.emit({"phase": name}))
        self.mix_slider.valueChanged.connect(lambda v: self.emit({"mix": v / 100.0}))
        self.morph_slider.valueChanged.connect(lambda v: self.emit({"morph": v / 100.0}))
        self.bypass_button.toggled.connect(lambda on: self.emit({"bypass": bool(on)}))
        self.capture_button.clicked.connect(lambda: self.emit({"capture": CAPTURE_S}))
        self.axis_box.textActivated.connect(self.set_axis)
        self._sync_controls()

    def _build_meters(self) -> None:
        box = QtWidgets.QGroupBox("meters")
        grid = QtWidgets.QGridLayout(box)
        self.compute_label = QtWidgets.QLabel()
        self.compute_bar = QtWidgets.QProgressBar()
        self.compute_bar.setRange(0, 100)
        self.compute_bar.setFormat("compute max %v % of budget")
        self.latency_label = QtWidgets.QLabel()
        self.stream_label = QtWidgets.QLabel()
        self.level_bars = []
        for i, name in enumerate(("in", "out")):
            bar = QtWidgets.QProgressBar()
            bar.setRange(int(LEVEL_FLOOR_DB), 0)
            bar.setFormat(f"{name} %v dBFS")
            self.level_bars.append(bar)
            grid.addWidget(bar, i, 2)
        grid.addWidget(self.compute_label, 0, 0)
        grid.addWidget(self.compute_bar, 0, 1)
        grid.addWidget(self.latency_label, 1, 0)
        grid.addWidget(self.stream_label, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(2, 2)
        self._meter_box = box
        self._update_meters()

    # ------------------------------------------------------------------ controls
    def set_axis(self, axis: str) -> None:
        """Show both spectrograms on the ``"linear"`` or ``"log"`` frequency axis."""
        for plot in self.plots:
            plot.set_axis(axis)
        self.axis_box.setCurrentText(axis)

    def set_control(self, name: str, value: str) -> None:
        """Move a control as the performer would (it sends its change): ``mix``/``morph`` 0..1,
        ``bypass`` on/off, ``model``/``phase`` a name offered. For scripted runs and tests."""
        from rtst.control.rig import parse_bool
        from rtst.errors import ParameterError

        if name in ("mix", "morph"):
            slider = self.mix_slider if name == "mix" else self.morph_slider
            try:
                slider.setValue(int(round(100 * float(value))))
            except ValueError:
                raise ParameterError(f"{name}={value!r} must be a number from 0 to 1") from None
        elif name == "bypass":
            self.bypass_button.setChecked(parse_bool(name, value))
        elif name == "capture":
            if not self.capture_button.isEnabled():
                raise ParameterError("capture needs rtst live --capture-dir DIR")
            self.capture_button.click()
        elif name in ("model", "phase"):
            box = self.model_box if name == "model" else self.phase_box
            i = box.findText(value)
            if i < 0:
                raise ParameterError(f"{name}={value!r} must be one of {', '.join(box.itemText(k) for k in range(box.count()))}")
            box.setCurrentIndex(i)
            box.textActivated.emit(value)  # what a pick from the list sends
        else:
            raise ParameterError(f"control {name!r} must be one of mix, morph, bypass, model, phase, capture")

    def _sync_controls(self) -> None:
        """Show the engine's current settings (another control source may have changed them)
        without echoing them back as changes."""
        state = self.telemetry.state
        widgets = (self.model_box, self.phase_box, self.mix_slider, self.morph_slider, self.bypass_button)
        for w in widgets:
            w.blockSignals(True)
        try:
            model, phase = int(state[STATE["model"]]), int(state[STATE["phase"]])
            if 0 <= model < self.model_box.count():
                self.model_box.setCurrentIndex(model)
            if 0 <= phase < self.phase_box.count():
                self.phase_box.setCurrentIndex(phase)
            if not self.mix_slider.isSliderDown():
                self.mix_slider.setValue(int(round(100 * state[STATE["mix"]])))
            if not self.morph_slider.isSliderDown():
                self.morph_slider.setValue(int(round(100 * state[STATE["morph"]])))
            self.bypass_button.setChecked(bool(state[STATE["bypass"]] >= 0.5))
        finally:
            for w in widgets:
                w.blockSignals(False)

    # ------------------------------------------------------------------ the timer
    def tick(self) -> None:
        """One redraw: new frames into both spectrograms, meters and controls brought up to date."""
        t = self.telemetry
        n, self._frames_since, dropped = t.read_frames(self._frames_since, self._frames)
        self.frames_dropped += dropped
        if n:
            for k, plot in enumerate(self.plots):
                plot.push(self._frames[:n, k])
                plot.refresh()
            self.frames_drawn += n
        m, self._audio_since, _ = t.read_audio(self._audio_since, self._audio)
        if m:
            peaks = np.max(np.abs(self._audio[:m]), axis=0)
            for k in range(2):
                # peak hold with a 20 dB/s fall, as a performer's meter does
                fall = self._peak_db[k] - 20.0 * self.timer.interval() / 1000.0
                self._peak_db[k] = max(fall, _db(float(peaks[k])), LEVEL_FLOOR_DB)
        self._update_meters()
        self._sync_controls()
        self.ticks += 1
        t.state[STATE["view_ticks"]] = self.ticks
        t.state[STATE["view_frames"]] = self.frames_drawn

    def _update_meters(self) -> None:
        t = self.telemetry
        state = t.state
        budget_us = float(state[STATE["budget_us"]]) or self.hop_length / self.sample_rate * 1e6
        times = t.hop_times_ns(self._hops_per_second)
        if times.size:
            p50, worst = np.percentile(times, 50) / 1e3, float(times.max()) / 1e3
            self.compute_label.setText(f"hop compute (last {times.size / self._hops_per_second:.1f} s): "
                                       f"p50 {p50:.0f} µs ({100 * p50 / budget_us:.1f} %), max {worst:.0f} µs "
                                       f"({100 * worst / budget_us:.1f} %) of {budget_us:.0f} µs")
            self.compute_bar.setValue(int(min(100.0, round(100 * worst / budget_us))))
        else:
            self.compute_label.setText(f"hop compute: no hops yet (budget {budget_us:.0f} µs)")
            self.compute_bar.setValue(0)
        sr = self.sample_rate
        alg, io = float(state[STATE["latency_algorithmic"]]), float(state[STATE["latency_io"]])
        total = alg + io if math.isfinite(io) and io > 0 else float("nan")
        self.latency_label.setText(f"latency: algorithmic {_ms(alg, sr)} + I/O {_ms(io if io > 0 else math.nan, sr)}"
                                   f" = {_ms(total, sr)}")
        c = t.stream_counters
        extra = ""
        bad, clipped = int(state[STATE["bad_frames"]]), int(state[STATE["clipped"]])
        if bad or clipped:
            extra = f", bad frames {bad}, clipped {clipped}"
        if state[STATE["recording"]] >= 0.5:
            extra += ", recording"
        self.stream_label.setText(f"xruns {int(c[XRUNS])}, deadline misses {int(c[DEADLINE_MISSES])}, "
                                  f"failures {int(c[FAILURES])}{extra}"
                                  + (" — stopped" if t.closed else ""))
        for bar, db in zip(self.level_bars, self._peak_db):
            bar.setValue(int(round(max(LEVEL_FLOOR_DB, min(0.0, db)))))


def pixel_of(widget: QtWidgets.QWidget, plot: SpectrogramPlot, time_s: float, f_hz: float) -> tuple:
    """Where the point ``(time_s, f_hz)`` of a spectrogram (time 0 = newest, negative = past) lies
    in a grab of ``widget``: ``(x, y)`` pixels from its top left. For tests and the screenshot tool."""
    spec = plot.spectrogram
    y = f_hz if spec.axis == "linear" else math.log10(f_hz)
    scene = plot.getPlotItem().getViewBox().mapViewToScene(QtCore.QPointF(time_s, y))
    point = plot.mapTo(widget, plot.mapFromScene(scene))
    return point.x(), point.y()

"""A live session: the effect on the sound card plus everything around it on stage.

:class:`LiveSession` owns the :class:`~rtst.live.stream.LiveEffect`, the telemetry block it
publishes into, the :class:`~rtst.control.rig.Rig` and its control sources (the view, OSC, MIDI)
and the recorder. Only the stream callback (JACK's or PortAudio's) runs on the audio thread; everything else lives on
threads that block on I/O (the control and view pipes, the recorder's timer) or in other
processes: the view (Qt and drawing) and OSC with MIDI (:mod:`rtst.control.remote`: parsing), so
that their work never holds this process's interpreter lock.

Everything that can fail on bad input (models, paths, ports, the MIDI mapping) is checked in the
constructor, before the stream starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from rtst.errors import DeviceError, ParameterError, RtstError
from rtst.procs import end_child

__all__ = ["LiveSession", "ViewProcess", "VIEW_MALLOC_ENV", "REOPEN_BACKOFF_S", "switchable_models"]

#: The waits between a session's tries to reopen a stream that died under it (the JACK server
#: went away, the device was unplugged), then the last one again and again. A try where nothing
#: answers costs a few ms (a JACK client) to a few tens (PortAudio re-scans its devices), and the
#: performer waits for the sound: a try at least every second keeps the return under 1.5 s.
REOPEN_BACKOFF_S = (0.25, 0.5, 1.0)

#: glibc malloc settings for the view process: every redraw allocates and frees image-sized
#: buffers, which by default are fresh mmaps, faulted in page by page and unmapped again. On a
#: kernel without preemption that kernel work can hold up the audio threads' wake-ups (on the JACK
#: test server a process churning such buffers beside the effect gave it 36 xruns in 30 s, 10 with
#: these settings). With them, freed memory is kept and reused and the page faults stop.
VIEW_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20),
                   "MALLOC_TOP_PAD_": str(64 << 20)}


def switchable_models(processor, names=None) -> dict:
    """The models a performer can switch to during a session, each its own instance, by name.

    Parameters
    ----------
    processor : rtst.engine.Processor
        The session's processor: its model comes first, and every other must fit its STFT.
    names : list of str, optional
        Models to offer (names or paths); one that does not fit the STFT is an error. Default:
        ``identity`` and every shipped model that fits (those trained for another STFT are left out).

    Raises
    ------
    ModelError
        A named model is missing or does not fit.
    """
    from rtst.errors import ModelError
    from rtst.model import list_models, load_model

    models = {processor.model.name: processor.model}
    for name in (names if names is not None else list_models()):
        if name in models:
            continue
        try:
            model = load_model(name)
            model.check(processor.stft)
        except ModelError:
            if names is not None:  # an explicit choice that does not fit is an error
                raise
            continue
        models.setdefault(model.name, model)
    return models


class ViewProcess:
    """The live view (``python -m rtst.view``) in its own process.

    It maps the telemetry block, draws at its own pace, and writes each control change as one
    JSON line on its stdout, which a reader thread here hands to the Rig. When this process ends
    the view's stdin closes and it exits.
    """

    def __init__(self, telemetry, info: dict, rig, *, fps: float = 30.0, screenshot=None, screenshot_after_s=None,
                 settings=(), log=sys.stderr):
        import importlib.util

        if importlib.util.find_spec("pyqtgraph") is None or not any(
                importlib.util.find_spec(binding) for binding in ("PySide6", "PyQt6", "PyQt5", "PySide2")):
            raise DeviceError("--view needs pyqtgraph and a Qt binding (the view extra: bash tools/setup.sh view)")
        cmd = [sys.executable, "-m", "rtst.view", "--telemetry", str(telemetry.path), "--info", json.dumps(info),
               "--fps", str(fps)]
        if screenshot is not None:
            cmd += ["--screenshot", str(screenshot), "--screenshot-after", str(3.0 if screenshot_after_s is None else screenshot_after_s)]
        for name, value in settings:  # controls the view moves once it is up (scripted runs, tests)
            cmd += ["--set", f"{name}={value}"]
        self.rig = rig
        self.log = log
        self.messages = 0
        self.errors = 0
        #: Set when the view has drawn its window (it sends {"ready": true}).
        self.ready = threading.Event()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                         env={**os.environ, **VIEW_MALLOC_ENV})
        except OSError as exc:
            raise DeviceError(f"cannot start the view: {exc}") from None
        self._thread = threading.Thread(target=self._read, name="rtst-view-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            self.messages += 1
            try:
                changes = json.loads(line)
                if not isinstance(changes, dict):
                    raise ParameterError(f"view message {line!r} is not an object")
                if changes.pop("ready", False):
                    self.ready.set()
                self.rig.apply(changes)
            except (ValueError, RtstError) as exc:
                self.errors += 1
                print(f"rtst view: {exc}", file=self.log, flush=True)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """Close the view (its stdin) and wait for it; returns its exit status."""
        status = end_child(self.proc, timeout)
        self._thread.join(timeout=timeout)
        return status


class LiveSession:
    """The effect with its controls, view and recorder.

    Parameters
    ----------
    processor : rtst.engine.Processor
    stream_config : rtst.config.StreamConfig
    models : dict of str -> StepModel, optional
        Models to preload for live switching (the running one is added).
    host : {"auto", "jack", "portaudio"}
        Audio host (:class:`rtst.live.stream.LiveEffect`): auto is the effect's own JACK client when a
        JACK server runs and no device is named, else PortAudio.
    phases : sequence of str, optional
        Phase methods offered to the performer (default: every one, :data:`rtst.phase.PHASE_NAMES`).
    morph_model : StepModel, optional
    view : bool
        Open the live view in its own process.
    osc : tuple (host, port), optional
    midi_port : str, optional
    midi_map : path, optional
        TOML mapping (the default mapping if omitted).
    record : path, optional
        New WAV file for input and output.
    capture_dir : path, optional
        Enables live capture (:mod:`rtst.live.capture`): clips and learned models go here.
    """

    def __init__(self, processor, stream_config, *, models=None, phases=None,
                 morph_model=None, view: bool = False, view_options: dict | None = None, osc=None,
                 midi_port=None, midi_map=None, record=None, capture_dir=None, host: str = "auto",
                 log=sys.stderr):
        from rtst.control.rig import Rig
        from rtst.live.stream import LiveEffect
        from rtst.telemetry import Telemetry

        stft = processor.stft
        self.processor = processor
        self.log = log
        self._closers = []
        #: Gaps in the stream: ``[{"start_s", "duration_s", "cause"}, ...]`` (start from the stream's start).
        self.interruptions = []
        self._lost = None  # (time.monotonic() when the stream stopped, why) while it is down
        self._next_reopen = 0.0
        self._tries = 0  # reopening tries since the stream stopped
        self.telemetry = Telemetry(stft.n_bins, stft.sample_rate, stft.hop_length, stft.n_fft, shared=view)
        self._closers.append(self.telemetry.close)
        try:
            self.rig = Rig(processor, models, phases, morph_model=morph_model, telemetry=self.telemetry)
            self.telemetry.set_state(latency_algorithmic=processor.latency_samples, budget_us=processor.budget_us,
                                     lookahead=processor.phase.lookahead, latency_io=float("nan"))
            self.recorder = None
            if record is not None:
                from rtst.live.recorder import Recorder

                self.recorder = Recorder(record, self.telemetry)
                self._closers.append(self.recorder.stop)
            self.capture = None
            if capture_dir is not None:
                from rtst.live.capture import Capture

                self.capture = Capture(self.rig, self.telemetry, capture_dir, log=log)
                self.rig.capture = self.capture
                self._closers.append(self.capture.stop)
            # OSC and MIDI run in a process of their own (rtst.control.remote): their parsing
            # would hold this process's interpreter lock, which the audio callback needs
            self.control = None
            if osc is not None or midi_port is not None or midi_map is not None:
                from rtst.control.remote import ControlProcess

                self.control = ControlProcess(self.rig, osc=osc, midi=midi_port is not None or midi_map is not None,
                                              midi_port=midi_port, midi_map=midi_map, log=log)
                self._closers.append(self.control.stop)
            self.effect = LiveEffect(processor, stream_config, telemetry=self.telemetry, host=host)
            self.view = None
            if view:
                info = {**self.rig.info(), "sample_rate": stft.sample_rate, "n_fft": stft.n_fft,
                        "hop_length": stft.hop_length, "title": f"rtst live: {processor.model.name}",
                        "latency_ms": {"algorithmic": processor.latency_samples / stft.sample_rate * 1e3,
                                       "io": None, "total": None}}
                self.view = ViewProcess(self.telemetry, info, self.rig, log=log, **(view_options or {}))
                self._closers.append(self.view.stop)
        except BaseException:
            self._close_all()
            raise

    def start(self, view_timeout_s: float = 30.0) -> None:
        """Start the stream (once the view is up: its start-up is the heaviest CPU moment),
        then the recorder and the OSC server."""
        if self.view is not None:
            deadline = time.monotonic() + view_timeout_s
            while not self.view.ready.wait(0.1):
                if not self.view.running:
                    raise DeviceError(f"the view exited with status {self.view.proc.returncode} before it was up")
                if time.monotonic() > deadline:
                    raise DeviceError(f"the view was not up within {view_timeout_s:.0f} s")
        self.effect.start()
        io = self.effect.io_latency_samples
        self.telemetry.set_state(latency_io=io)
        if self.recorder is not None:
            self.recorder.start()
            self.telemetry.set_state(recording=1)
        if self.control is not None:
            self.control.start()

    def mark(self) -> dict:
        """The stream's counters now, with the time (``time.monotonic()``): two marks bracket a
        window, and their differences count every xrun and deadline miss in it (the time-stamped
        logs keep only the first :data:`rtst.live.stream.XRUN_LOG_CAPACITY`). Any thread; reads
        only."""
        return {"monotonic_s": time.monotonic(), **self.effect.stats}

    def check(self) -> None:
        """Call from the main loop, every few tens of ms. When the stream has died under the
        session (the JACK server went away, the device was unplugged or failed), say so in one
        line and try to reopen it (:meth:`LiveEffect.reopen`) after each of
        :data:`REOPEN_BACKOFF_S`, then every last one; when it runs again, say so and note the
        gap in :attr:`interruptions`. Raises DeviceError for a stream that cannot be released."""
        now = time.monotonic()
        if not self.effect.active:
            if self._lost is None:
                if self.effect.host == "jack":
                    reason = self.effect.shutdown_reason or "the audio stream stopped"
                    waiting = "waiting for the JACK server"
                else:
                    reason = "the device went away or failed"
                    waiting = f"waiting for {self.effect.device_names} to come back"
                self._lost = (now, reason)
                self._tries = 0
                self._next_reopen = now
                print(f"rtst live: the audio stream stopped ({reason}); {waiting}", file=self.log, flush=True)
            if now >= self._next_reopen:
                if self.effect.reopen():
                    self._resumed()
                else:
                    wait = REOPEN_BACKOFF_S[min(self._tries, len(REOPEN_BACKOFF_S) - 1)]
                    self._tries += 1
                    self._next_reopen = time.monotonic() + wait
            return
        if self.effect.pending_connections:
            self.effect.restore_connections()
        if self.recorder is not None and self.recorder.error:
            self.telemetry.set_state(recording=0)
        if self.control is not None:
            self.control.refresh()
        stats = self.processor.stats
        self.telemetry.set_state(bad_frames=stats["bad_frames"], clipped=stats["clipped_output"])

    def _resumed(self) -> None:
        since, reason = self._lost
        now = time.monotonic()
        self._lost = None
        self.interruptions.append({"start_s": round(since - self.effect.started_at, 3),
                                   "duration_s": round(now - since, 3), "cause": reason})
        self.telemetry.set_state(latency_io=self.effect.io_latency_samples)
        print(f"rtst live: the audio stream runs again after {now - since:.1f} s", file=self.log, flush=True)

    @property
    def interrupted(self) -> bool:
        """The stream is down and being reopened."""
        return self._lost is not None

    def figures(self) -> dict:
        """What the report says of the session so far (any time, from the main thread)."""
        interruptions = list(self.interruptions)
        if self._lost is not None:  # still down: the gap so far
            since, reason = self._lost
            interruptions.append({"start_s": round(since - self.effect.started_at, 3),
                                  "duration_s": round(time.monotonic() - since, 3), "cause": reason,
                                  "ongoing": True})
        return {"controls": {"changes": self.rig.changes, "final": self.rig.state()},
                "interruptions": interruptions}

    def stop(self) -> dict:
        """Stop the stream and everything around it; returns the session's figures for the report."""
        # a capture in progress ends first: its switch to the new model needs the stream running
        captures = self.capture.stop() if self.capture is not None else None
        extra = self.figures()
        self.effect.stop()
        self.telemetry.mark_closed()
        if self.recorder is not None:
            extra["record"] = self.recorder.stop()
        if captures is not None:
            extra["captures"] = captures
        if self.control is not None:
            self._closers.remove(self.control.stop)
            counters = self.control.stop()
            if self.control.osc_address is not None:
                osc = counters.get("osc", {})
                extra["osc"] = {"address": f"{self.control.osc_address[0]}:{self.control.osc_address[1]}",
                                "received": osc.get("received", 0), "errors": osc.get("errors", 0)}
            if "midi" in counters:
                midi = counters["midi"]
                extra["midi"] = {"port": self.control.midi_port_name, "received": midi["received"],
                                 "applied": midi["applied"], "errors": midi["errors"]}
            extra["control_process"] = {"changes_forwarded": counters.get("accepted", 0),
                                        "forwards": counters.get("forwards", 0),
                                        "applied": counters["applied"], "refused": counters["refused"]}
        if self.view is not None:
            status = self.view.stop()
            extra["view"] = {"exit_status": status, "messages": self.view.messages, "errors": self.view.errors,
                             "redraws": int(self.telemetry.get_state("view_ticks")),
                             "frames_drawn": int(self.telemetry.get_state("view_frames"))}
        self._close_all()
        return extra

    def _close_all(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except (OSError, RtstError) as exc:
                print(f"rtst live: while closing: {exc}", file=self.log)

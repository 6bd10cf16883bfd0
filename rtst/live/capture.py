"""Capturing a style on stage: the effect's own input, learned into a model while it plays.

``Rig.set("capture", seconds)`` (OSC ``/rtst/capture f``, a MIDI note, the view's button) starts a
:class:`Capture`:

1. a thread in this process drains the input channel of the telemetry's audio ring (as the
   recorder does: the audio thread only appends to that ring) until ``seconds`` of input are in,
   and writes them to a new WAV file in the capture folder;
2. ``rtst learn-style`` runs on that file in a **separate process at the lowest CPU priority**
   (``nice 19``), never in this interpreter;
3. when it succeeds, the model is loaded and prepared off the audio thread, added to the rig's
   models, and the rig switches to it: the usual model crossfade.

Files are never overwritten: ``capture-001.wav`` and ``capture-001.onnx`` (with its golden file
and style clip), then ``-002``, and so on. Each capture is reported (``captures`` in the report
JSON) with its clip, model, durations and outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from rtst.errors import ParameterError

__all__ = ["Capture", "MAX_CAPTURE_S", "DEFAULT_CAPTURE_S"]

#: Longest capture (seconds of input): the clip is held in memory while it is gathered.
MAX_CAPTURE_S = 30.0
#: A capture's length when the control gives none (a MIDI note, the view's button).
DEFAULT_CAPTURE_S = 5.0
#: How often the capture thread drains the ring.
_DRAIN_S = 0.1
#: Longest a learner may run before it is stopped.
_LEARN_TIMEOUT_S = 120.0


def _preset_for(stft) -> str | None:
    from rtst.presets import preset_stft
    from rtst.transfer.learn import LEARN_PRESETS

    for name in LEARN_PRESETS:
        try:
            if preset_stft(name) == stft:
                return name
        except Exception:  # a preset whose model is missing cannot be learned for
            continue
    return None


class Capture:
    """Captures of the running effect's input, learned into models (module docstring).

    Parameters
    ----------
    rig : rtst.control.rig.Rig
    telemetry : rtst.telemetry.Telemetry
        Whose audio ring the stream writes.
    folder : path
        Where clips and models go (created if missing).
    log : text stream
    """

    def __init__(self, rig, telemetry, folder, *, log=sys.stderr):
        self.rig = rig
        self.telemetry = telemetry
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"--capture-dir {str(self.folder)!r}: {exc.strerror or exc}") from None
        self.preset = _preset_for(rig.processor.stft)
        if self.preset is None:
            raise ParameterError("live capture needs the STFT of the default or low-latency preset "
                                 f"(the engine runs n_fft {rig.processor.stft.n_fft} / hop {rig.processor.stft.hop_length})")
        self.log = log
        self.events: list[dict] = []
        self._thread = None
        self._proc = None
        self._stop = threading.Event()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, seconds) -> None:
        """Begin a capture of ``seconds`` of input (any control thread; returns at once)."""
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            seconds = float("nan")
        from rtst.transfer.learn import MIN_STYLE_SECONDS

        if not MIN_STYLE_SECONDS <= seconds <= MAX_CAPTURE_S:
            raise ParameterError(f"capture={seconds!r} must be seconds from {MIN_STYLE_SECONDS:.0f} to {MAX_CAPTURE_S:.0f}")
        if self.busy:
            raise ParameterError("a capture is already running")
        event = {"seconds": seconds, "clip": None, "model": None, "status": "capturing", "error": None,
                 "monotonic_s": {"start": round(time.monotonic(), 3)}}
        self.events.append(event)
        self._thread = threading.Thread(target=self._run, args=(event,), name="rtst-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> list:
        """End a capture in progress (its learner is stopped) and return :attr:`events`."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.events

    # ------------------------------------------------------------------ the capture thread
    def _free_stem(self) -> str:
        for i in range(1, 10000):
            stem = f"capture-{i:03d}"
            if not any(self.folder.glob(stem + ".*")):
                return stem
        raise ParameterError(f"--capture-dir {str(self.folder)!r} holds 9999 captures already")

    def _gather(self, seconds: float) -> np.ndarray:
        tel = self.telemetry
        need = int(round(seconds * tel.sample_rate))
        buf = np.zeros(tel.audio.shape, dtype=np.float32)
        parts, got = [], 0
        since = tel.audio_written
        deadline = time.monotonic() + seconds + 5.0
        while got < need and not self._stop.is_set():
            if time.monotonic() > deadline:
                raise ParameterError(f"only {got / tel.sample_rate:.1f} s of input arrived in {seconds + 5:.0f} s "
                                     "(is the stream running?)")
            time.sleep(_DRAIN_S)
            n, since, dropped = tel.read_audio(since, buf)
            if dropped:
                parts.append(np.zeros(dropped, np.float32))
                got += dropped
            parts.append(buf[:n, 0].copy())
            got += n
        return np.concatenate(parts)[:need] if parts else np.zeros(0, np.float32)

    def _run(self, event: dict) -> None:
        from rtst.io.files import write_audio

        seconds = event["seconds"]
        try:
            audio = self._gather(seconds)
            if self._stop.is_set():
                event["status"] = "stopped"
                return
            stem = self._free_stem()
            clip = self.folder / f"{stem}.wav"
            write_audio(clip, audio[:, None], self.telemetry.sample_rate)
            event.update(clip=str(clip), status="learning")
            event["monotonic_s"]["learning"] = round(time.monotonic(), 3)
            model_path = self.folder / f"{stem}.onnx"
            t0 = time.monotonic()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "rtst", "learn-style", str(clip), "--output", str(model_path),
                 "--preset", self.preset, "--name", stem, "--quiet"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                preexec_fn=lambda: os.nice(19))  # the lowest priority: the audio process comes first
            try:
                _, err = self._proc.communicate(timeout=_LEARN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                _, err = self._proc.communicate()
                err = f"learning took more than {_LEARN_TIMEOUT_S:.0f} s"
            event["learn_s"] = round(time.monotonic() - t0, 2)
            if self._stop.is_set():  # the show ended while it learned
                event["status"] = "stopped"
                return
            if self._proc.returncode != 0:
                lines = (err or "").strip().splitlines()
                raise ParameterError(lines[-1] if lines else f"learn-style exited with {self._proc.returncode}")
            from rtst.model import load_model

            event["monotonic_s"]["loading"] = round(time.monotonic(), 3)
            model = load_model(str(model_path))
            self.rig.add_model(stem, model)   # prepared and warmed here, off the audio thread
            event["monotonic_s"]["switching"] = round(time.monotonic(), 3)
            self.rig.set("model", stem)       # the usual crossfade
            event.update(model=str(model_path), status="playing", ready_s=round(time.monotonic() - t0, 2))
            if self.log is not None:
                print(f"rtst live: captured {seconds:.1f} s into {clip.name}, now playing {model_path.name}",
                      file=self.log, flush=True)
        except Exception as exc:  # any failure ends this capture, never the show
            event.update(status="failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            if self.log is not None:
                print(f"rtst live: capture failed: {event['error']}", file=self.log, flush=True)

"""OSC and MIDI in a process of their own, so that parsing control traffic never holds the audio
process's interpreter lock.

The audio callback needs that lock every period (1.3 ms at the low-latency preset). python-osc and
mido parse every message in Python, on their own threads: in the audio process, 100 OSC and 100
MIDI messages a second doubled its xruns on the JACK test server (``benchmarks/soak.py
--controls``). So ``rtst live`` runs them in a child process (:class:`ControlProcess`), where
:class:`~rtst.control.osc.OscControl` and :class:`~rtst.control.midi.MidiControl` drive a
:class:`RigProxy` instead of the Rig. The proxy checks what it can without the engine (numbers,
on/off, choices), keeps the latest value of each parameter, and forwards what changed at most
every :data:`FORWARD_S` over a pipe: a flood of 10 000 messages a second reaches the audio process
as a few hundred changes, the last value winning. One thread here applies them to the Rig and
sends back the Rig's state (for ``/rtst/state``). The child ends when told to or when this process
goes away (its stdin closes).

The child is ``python -m rtst.control.remote --config JSON``, talking JSON lines: its stdin carries
``{"start": true}``, ``{"state": ..., "models": [...]}`` and ``{"stop": true}``; its stdout
``{"ready": ...}`` or ``{"error": [kind, text]}``, then ``{"set": {name: value}}`` and at the end
``{"final": counters}``. (A subprocess, not multiprocessing: spawning would run the user's main
module again in the child.)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from rtst.control.rig import check_change
from rtst.errors import DeviceError, ParameterError, RtstError
from rtst.procs import end_child

__all__ = ["RigProxy", "ControlProcess", "FORWARD_S"]

#: Longest a change waits in the control process before it is forwarded (and the shortest gap
#: between two forwards: changes in between are merged, the last value of each winning).
FORWARD_S = 0.002
#: How long the control process may take to start (imports, binding the OSC port, opening MIDI).
START_TIMEOUT_S = 30.0


class MergedChanges:
    """Changes waiting for one consumer thread, merged: the last value of each name wins.

    Producers :meth:`put` (any thread); the consumer :meth:`take` blocks until there is something
    or the producers are done. Both sides of the control pipe use it, so that a flood or a slow
    consumer (the Rig waits out a crossfade) never builds a queue.
    """

    def __init__(self):
        self._pending = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done = False

    def put(self, changes: dict) -> None:
        with self._lock:
            self._pending.update(changes)
        self._wake.set()

    def finish(self) -> None:
        """No more changes will come: :meth:`take` returns what is left, then ``done``."""
        with self._lock:
            self._done = True
        self._wake.set()

    def take(self) -> tuple:
        """``(changes, done)``: everything pending (possibly empty once done), and whether the
        producers have finished and nothing is left."""
        self._wake.wait()
        with self._lock:
            changes, self._pending = self._pending, {}
            self._wake.clear()
            return changes, self._done


class RigProxy:
    """The Rig as the control process sees it: :meth:`set` checks and queues, a thread forwards.

    Parameters
    ----------
    send : callable
        Sends one message (a dict) to the audio process; raises OSError once it is gone.
    info : dict
        ``models``, ``phases``, ``state`` (the Rig's), ``capture`` and ``morph`` (bools).
    """

    def __init__(self, send, info: dict):
        self._send = send
        self.model_names = list(info["models"])
        self.phases = list(info["phases"])
        self._state = dict(info["state"])
        self._capture = bool(info["capture"])
        self._morph = bool(info["morph"])
        self._changes = MergedChanges()
        self._count_lock = threading.Lock()
        #: Changes accepted and forwards sent (a forward carries one or more changes).
        self.accepted = 0
        self.forwards = 0
        self._thread = threading.Thread(target=self._forward, name="rtst-control-forward", daemon=True)
        self._thread.start()

    def set(self, name: str, value) -> None:
        """Check one change and queue it (OSC's or MIDI's thread). ParameterError if it cannot
        apply; the engine may still refuse it (a model swap that does not finish)."""
        value = check_change(name, value, models=self.model_names, phases=self.phases, morph=self._morph,
                             capture=self._capture)
        with self._count_lock:
            self.accepted += 1
        self._changes.put({name: value})

    def state(self) -> dict:
        """The Rig's state as last reported by the audio process."""
        return dict(self._state)

    def update(self, state: dict, models: list) -> None:
        """The audio process's news: the Rig's state and its models (a capture adds one)."""
        self._state = dict(state)
        self.model_names = list(models)

    def _forward(self) -> None:
        while True:
            changes, closing = self._changes.take()
            if changes:
                try:
                    self._send({"set": changes})
                    self.forwards += 1
                except (OSError, ValueError):  # the audio process is gone
                    return
            if closing:
                return
            time.sleep(FORWARD_S)

    def close(self) -> None:
        """Forward what is pending, then stop forwarding."""
        self._changes.finish()
        self._thread.join(timeout=5.0)


def _child(config: dict) -> int:
    """The control process: OSC and MIDI on a RigProxy until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the audio process's to handle
    out = sys.stdout
    lock = threading.Lock()

    def send(message: dict) -> None:
        with lock:
            out.write(json.dumps(message) + "\n")
            out.flush()

    osc = midi = proxy = None
    try:
        proxy = RigProxy(send, config["info"])
        if config["osc"] is not None:
            from rtst.control.osc import OscControl

            osc = OscControl(proxy, *config["osc"])
        if config["midi"]:
            from rtst.control.midi import MidiControl, MidiMapping

            midi = MidiControl(proxy, MidiMapping.load(config["midi_map"]))
            if config["midi_port"] is not None:
                midi.open(config["midi_port"])
    except RtstError as exc:
        send({"error": [type(exc).__name__, str(exc)]})
        if proxy is not None:
            proxy.close()
        return 0
    send({"ready": {"osc": None if osc is None else list(osc.address),
                    "midi_port": None if midi is None or midi.port is None else midi.port.name}})
    for line in sys.stdin:          # EOF: the audio process is gone
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("start") and osc is not None:
            osc.start()
        elif "state" in message:
            proxy.update(message["state"], message["models"])
        elif message.get("stop"):
            break
    if osc is not None:
        osc.stop()
    if midi is not None:
        midi.close()
    proxy.close()
    counters = {"accepted": proxy.accepted, "forwards": proxy.forwards}
    if osc is not None:
        counters["osc"] = {"received": osc.received, "errors": osc.errors}
    if midi is not None:
        counters["midi"] = {"received": midi.received, "applied": midi.applied, "errors": midi.errors}
    try:
        send({"final": counters})
    except (OSError, ValueError):
        pass
    return 0


class ControlProcess:
    """OSC and MIDI control of ``rig`` from a child process (see the module docstring).

    Parameters
    ----------
    rig : rtst.control.rig.Rig
    osc : tuple (host, port), optional
    midi : bool
        Map MIDI (``midi_map``, the default mapping if None) from ``midi_port`` (None: no port
        opened, only the mapping checked).
    log : file
        Where changes the Rig refuses are reported (one line each).

    Raises
    ------
    DeviceError
        The OSC port cannot be bound, the MIDI port not opened, or the process did not start.
    ParameterError
        The MIDI mapping is not valid.
    """

    def __init__(self, rig, *, osc=None, midi: bool = False, midi_port=None, midi_map=None, log=sys.stderr):
        self.rig = rig
        self.log = log
        self.applied = 0
        self.errors = 0
        self.final = None
        self._models = list(rig.model_names)
        info = {"models": list(rig.model_names), "phases": list(rig.phases), "state": rig.state(),
                "capture": rig.capture is not None, "morph": rig.morph_model is not None}
        config = {"info": info, "osc": None if osc is None else list(osc), "midi": midi,
                  "midi_port": midi_port, "midi_map": None if midi_map is None else str(midi_map)}
        self._send_lock = threading.Lock()
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "rtst.control.remote", "--config", json.dumps(config)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except OSError as exc:
            raise DeviceError(f"cannot start the control process: {exc}") from None
        reply = self._first_message()
        if reply is None or "ready" not in reply:
            self._end()
            if reply is None:
                raise DeviceError(f"the control process did not start within {START_TIMEOUT_S:.0f} s")
            kind, text = reply["error"]
            raise (ParameterError if kind == "ParameterError" else DeviceError)(text)
        #: (host, port) the OSC server listens on, or None.
        self.osc_address = None if reply["ready"]["osc"] is None else tuple(reply["ready"]["osc"])
        #: The MIDI input's name, or None.
        self.midi_port_name = reply["ready"]["midi_port"]
        self._changes = MergedChanges()
        self._reader = threading.Thread(target=self._read, name="rtst-control-read", daemon=True)
        self._thread = threading.Thread(target=self._apply, name="rtst-control-apply", daemon=True)
        self._reader.start()
        self._thread.start()

    def _first_message(self):
        got = []
        reader = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not got or not got[0].strip():
            return None
        try:
            return json.loads(got[0])
        except ValueError:
            return None

    def start(self) -> None:
        """Start serving OSC (call once the stream runs)."""
        self._send({"start": True})

    def refresh(self) -> None:
        """Tell the control process about models added since (a capture); cheap when none were."""
        if self.rig.model_names != self._models:
            self._models = list(self.rig.model_names)
            self._send({"state": self.rig.state(), "models": self._models})

    def _send(self, message: dict) -> None:
        with self._send_lock:
            try:
                self.proc.stdin.write(json.dumps(message) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):  # the control process is gone: nothing to tell it
                pass

    def _read(self) -> None:
        """The control process's messages, merged as they come: the last value of each control
        wins here too, so that changes arriving while the Rig waits for a crossfade (a model
        swap takes a few hundred ms) do not queue up behind it."""
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "final" in message:
                self.final = message["final"]
                break
            self._changes.put(message.get("set", {}))
        self._changes.finish()  # final counters sent, or the control process is gone

    def _apply(self) -> None:
        while True:
            changes, ended = self._changes.take()
            for name, value in changes.items():
                try:
                    self.rig.set(name, value)
                    self.applied += 1
                except RtstError as exc:
                    self.errors += 1
                    print(f"rtst control: {exc}", file=self.log, flush=True)
            if changes:
                self._models = list(self.rig.model_names)
                self._send({"state": self.rig.state(), "models": self._models})
            if ended:
                return

    def stop(self, timeout: float = 5.0) -> dict:
        """Stop the control process; returns its counters (``osc``, ``midi``: received, errors,
        applied) with the changes applied here and refused by the Rig."""
        self._send({"stop": True})
        self._reader.join(timeout=timeout)
        self._thread.join(timeout=timeout)
        self._end(timeout)
        final = dict(self.final or {})
        final.update(applied=self.applied, refused=self.errors)
        return final

    def _end(self, timeout: float = 5.0) -> None:
        end_child(self.proc, timeout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtst.control.remote", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON: info, osc, midi, midi_port, midi_map")
    args = parser.parse_args(argv)
    return _child(json.loads(args.config))


if __name__ == "__main__":
    sys.exit(main())

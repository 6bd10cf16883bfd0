"""MIDI control (mido + python-rtmidi): control changes, notes and program changes to the Rig.

The mapping is a TOML file; :data:`DEFAULT_MAPPING` (``rtst/data/midi_default.toml``) documents
the format and is used when none is given. RtMidi queues the messages (on a JACK port, in the
MIDI client's process thread, which the whole JACK graph waits for); a thread of ours reads the
queue and hands each message to :meth:`MidiControl.handle`, never the audio thread. Ports are
looked up on every MIDI API rtmidi was built with (ALSA, then JACK on Linux), so the JACK test
server's MIDI ports work too.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from rtst.errors import DeviceError, ParameterError
from rtst.validate import require_int

__all__ = ["MidiMapping", "MidiControl", "MidiInput", "DEFAULT_MAPPING", "open_midi_input", "midi_input_names",
           "MIDI_POLL_S"]

DEFAULT_MAPPING = Path(__file__).resolve().parents[1] / "data" / "midi_default.toml"
#: How often a MIDI input's queue is read. With a callback instead, RtMidi runs Python in the JACK
#: MIDI client's process thread, which then waits for the GIL: with the control process busy in
#: Python (as parsing an OSC flood), 1000 CCs a second made the graph miss 465 cycles in 4 s
#: waiting for the MIDI client, and none when read from a thread. 2 ms is the most it adds to a
#: control's latency.
MIDI_POLL_S = 0.002
#: Messages RtMidi keeps between two reads (DIN's full rate is about 1000 a second).
MIDI_QUEUE = 4096
#: The MIDI input's client name (its JACK client, its ALSA sequencer client).
MIDI_CLIENT_NAME = "rtst-midi"
_CONTINUOUS = ("mix", "morph", "bypass")
_CHOICES = ("model", "phase")


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ParameterError(f"MIDI mapping {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"MIDI mapping {str(path)!r} is not valid TOML: {exc}") from None


class MidiMapping:
    """Which MIDI message drives which parameter.

    Attributes
    ----------
    channel : int
        0 = all channels, else 1..16.
    cc : dict of int -> str
        Controller number -> "mix", "morph" or "bypass".
    notes : dict of str -> int
        "model"/"phase" -> the note that selects index 0; "capture" -> the note that captures
        :data:`rtst.live.capture.DEFAULT_CAPTURE_S` of input into a new style.
    program_model : bool
        Program change N selects model N.
    """

    def __init__(self, table: dict, source: str = "mapping"):
        def bad(what):
            return ParameterError(f"MIDI mapping {source}: {what}")

        unknown = sorted(set(table) - {"channel", "cc", "notes", "program"})
        if unknown:
            raise bad(f"unknown key(s) {', '.join(unknown)} (known: channel, cc, notes, program)")
        self.channel = table.get("channel", 0)
        try:
            require_int("channel", self.channel, 0, 16, rule="0 (all) or 1..16")
        except ParameterError as exc:
            raise bad(str(exc)) from None
        self.cc = {}
        for key, name in dict(table.get("cc", {})).items():
            try:
                number = int(key)
            except ValueError:
                number = -1
            if not 0 <= number <= 127:
                raise bad(f"cc {key!r} must be a controller number 0..127")
            if name not in _CONTINUOUS:
                raise bad(f"cc {number} = {name!r} must be one of {', '.join(_CONTINUOUS)}")
            self.cc[number] = name
        self.notes = {}
        for name, first in dict(table.get("notes", {})).items():
            if name not in _CHOICES + ("capture",):
                raise bad(f"notes.{name} must be one of {', '.join(_CHOICES + ('capture',))}")
            try:
                require_int(f"notes.{name}", first, 0, 127, rule="a note number 0..127")
            except ParameterError as exc:
                raise bad(str(exc)) from None
            self.notes[name] = first
        program = dict(table.get("program", {}))
        if set(program) - {"model"} or not isinstance(program.get("model", False), bool):
            raise bad("program takes only model = true/false")
        self.program_model = program.get("model", False)

    @classmethod
    def load(cls, path=None) -> "MidiMapping":
        path = Path(path) if path is not None else DEFAULT_MAPPING
        return cls(_load_toml(path), repr(str(path)))


class MidiControl:
    """Turns MIDI messages into Rig changes.

    Parameters
    ----------
    rig : Rig
    mapping : MidiMapping, optional
        The default mapping if omitted.
    log : file, optional
        Where messages that cannot apply are reported (stderr; None to stay quiet).
    """

    def __init__(self, rig, mapping: MidiMapping | None = None, *, log=sys.stderr):
        self.rig = rig
        self.mapping = mapping or MidiMapping.load()
        self.log = log
        self.received = 0
        self.applied = 0
        self.errors = 0
        self.port = None

    def handle(self, msg) -> None:
        """One mido message (called on the MIDI input's thread). Unmapped messages are ignored."""
        self.received += 1
        m = self.mapping
        channel = getattr(msg, "channel", None)
        if m.channel and channel is not None and channel + 1 != m.channel:
            return
        change = None
        if msg.type == "control_change" and msg.control in m.cc:
            name = m.cc[msg.control]
            change = (name, msg.value >= 64 if name == "bypass" else msg.value / 127.0)
        elif msg.type == "note_on" and msg.velocity > 0:
            for name, first in m.notes.items():
                if name == "capture":
                    if msg.note == first:
                        from rtst.live.capture import DEFAULT_CAPTURE_S

                        change = ("capture", DEFAULT_CAPTURE_S)
                        break
                    continue
                count = len(self.rig.model_names if name == "model" else self.rig.phases)
                if first <= msg.note < first + count:
                    change = (name, msg.note - first)
                    break
        elif msg.type == "program_change" and m.program_model:
            change = ("model", msg.program)
        if change is None:
            return
        try:
            self.rig.set(*change)
            self.applied += 1
        except ParameterError as exc:
            self.errors += 1
            if self.log is not None:
                print(f"rtst midi: {msg}: {exc}", file=self.log, flush=True)

    def open(self, port: str) -> None:
        """Listen on the MIDI input ``port`` (name or unique part of it)."""
        self.port = open_midi_input(port, self.handle)

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None


class MidiInput:
    """An open MIDI input port whose messages a thread of its own reads (every
    :data:`MIDI_POLL_S`) and hands to ``callback`` one mido message at a time.

    Attributes
    ----------
    name : str
        The port it listens on.
    """

    def __init__(self, midi_in, name: str, callback):
        self.name = name
        self._in = midi_in
        self._callback = callback
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, name="rtst-midi-in", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        from mido import Message

        get_message = self._in.get_message
        while not self._closing.is_set():
            event = get_message()
            if event is None:
                self._closing.wait(MIDI_POLL_S)
                continue
            try:
                msg = Message.from_bytes(event[0])
            except ValueError:  # bytes that are no MIDI message: ignored, as mido does
                continue
            self._callback(msg)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=1.0)
        self._in.close_port()
        self._in.delete()


def _apis() -> list:
    """The MIDI APIs rtmidi was built with that have ports of hardware or programs."""
    from importlib.util import find_spec

    if find_spec("mido") is None or find_spec("rtmidi") is None:  # mido parses what rtmidi reads
        raise DeviceError("MIDI control needs mido and python-rtmidi (the control extra): "
                          "bash tools/setup.sh control")
    import rtmidi

    usable = (rtmidi.API_LINUX_ALSA, rtmidi.API_UNIX_JACK, rtmidi.API_MACOSX_CORE, rtmidi.API_WINDOWS_MM)
    return [api for api in rtmidi.get_compiled_api() if api in usable]


def _midi_in(api):
    """A MIDI input client on ``api``; None where that API's system service is absent (no ALSA
    sequencer, no JACK server)."""
    import rtmidi

    try:
        return rtmidi.MidiIn(api, MIDI_CLIENT_NAME, queue_size_limit=MIDI_QUEUE)
    except Exception:
        return None


def midi_input_names() -> list:
    """Input port names on every MIDI API that is usable right now."""
    found = []
    for api in _apis():
        midi_in = _midi_in(api)
        if midi_in is not None:
            found.extend(midi_in.get_ports())
            midi_in.delete()
    return found


def open_midi_input(port: str, callback) -> MidiInput:
    """Open the MIDI input whose name equals or contains ``port``, its messages to ``callback``
    (from a thread of its own); DeviceError if none or several."""
    for api in _apis():
        midi_in = _midi_in(api)
        if midi_in is None:  # this API is not available here; try the next
            continue
        names = midi_in.get_ports()
        matches = [i for i, n in enumerate(names) if n == port] or [i for i, n in enumerate(names) if port in n]
        if len(matches) == 1:
            try:
                # sysex, MIDI clock and active sensing are not mapped: RtMidi drops them
                midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
                midi_in.open_port(matches[0], "control_in")
            except Exception as exc:
                midi_in.delete()
                raise DeviceError(f"cannot open MIDI input {names[matches[0]]!r}: {exc}") from None
            return MidiInput(midi_in, names[matches[0]], callback)
        midi_in.delete()
        if len(matches) > 1:
            raise DeviceError(f"MIDI input {port!r} is ambiguous: {', '.join(names[i] for i in matches)}")
    available = midi_input_names()
    raise DeviceError(f"MIDI input {port!r} not found (available: {', '.join(available) or 'none'})")

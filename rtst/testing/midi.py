"""Minimal Standard MIDI File writer and fluidsynth renderer (no third-party MIDI library).

The one place in the repository that writes MIDI. Used by ``tools/make_labelled_set.py`` (imported
as a sibling module) and by ``rtst/testing/clips.py``, which puts this folder on ``sys.path``
(``Path(__file__).resolve().parents[1] / "tools"``) before ``import midi_render``.

Times are in seconds; the file is format 0 (one track) with a fixed tempo, so a time maps exactly
to a tick (``ticks_per_second`` = 960 by default) and, after rendering, to a sample.

    events = [(0.0, program_change(0, 42))] + notes_to_events([Note(0.0, 1.5, 48, 90)])
    write_midi("cello.mid", events, end_s=2.5)
    x = render("cello.mid", "cello.wav")          # mono float64, 48 kHz

Rendering needs the Debian packages fluidsynth and fluid-soundfont-gm (FluidR3_GM.sf2, MIT).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SAMPLE_RATE = 48000
PPQ = 480                 # ticks per quarter note
TEMPO_US = 500_000        # microseconds per quarter note (120 bpm): 960 ticks per second

__all__ = ["SOUNDFONT", "SAMPLE_RATE", "Note", "vlq", "note_on", "note_off", "program_change",
           "control_change", "notes_to_events", "midi_bytes", "write_midi", "missing_tools",
           "render", "render_events"]


class Note(NamedTuple):
    start_s: float
    dur_s: float
    pitch: int        # MIDI note number 0..127
    velocity: int     # 1..127


def vlq(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits per byte, most significant first, high bit = more."""
    if value < 0:
        raise ValueError(f"negative delta time {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _data(value: int, what: str) -> int:
    if not 0 <= int(value) <= 127:
        raise ValueError(f"{what} {value} outside 0..127")
    return int(value)


def _status(kind: int, channel: int) -> int:
    if not 0 <= channel <= 15:
        raise ValueError(f"channel {channel} outside 0..15")
    return kind | channel


def note_on(channel: int, pitch: int, velocity: int) -> bytes:
    return bytes([_status(0x90, channel), _data(pitch, "pitch"), _data(velocity, "velocity")])


def note_off(channel: int, pitch: int) -> bytes:
    return bytes([_status(0x80, channel), _data(pitch, "pitch"), 0])


def program_change(channel: int, program: int) -> bytes:
    """General MIDI program, 0-based (0 = Acoustic Grand Piano, 42 = Cello)."""
    return bytes([_status(0xC0, channel), _data(program, "program")])


def control_change(channel: int, controller: int, value: int) -> bytes:
    """E.g. 7 volume, 11 expression, 91 reverb send, 93 chorus send, 120 all sound off."""
    return bytes([_status(0xB0, channel), _data(controller, "controller"), _data(value, "value")])


def notes_to_events(notes: Iterable[Note], channel: int = 0) -> list[tuple[float, bytes]]:
    """Note-on/note-off pairs as ``(time_s, message)`` events."""
    events = []
    for note in notes:
        events.append((float(note.start_s), note_on(channel, note.pitch, max(1, note.velocity))))
        events.append((float(note.start_s + note.dur_s), note_off(channel, note.pitch)))
    return events


def _order(message: bytes) -> int:
    """At equal ticks: controllers and program changes first, then note-offs, then note-ons."""
    kind = message[0] & 0xF0
    return {0xB0: 0, 0xC0: 0, 0x80: 1, 0x90: 2}.get(kind, 0)


def midi_bytes(events: Iterable[tuple[float, bytes]], end_s: float | None = None,
               ppq: int = PPQ, tempo_us: int = TEMPO_US) -> bytes:
    """A format-0 Standard MIDI File from ``(time_s, channel_message)`` events.

    The track opens with a tempo meta event and closes with end-of-track at ``end_s`` (or at the last
    event), which sets the length of a fluidsynth render.
    """
    ticks_per_s = ppq * 1e6 / tempo_us
    timed = sorted(((int(round(t * ticks_per_s)), _order(m), i, m)
                    for i, (t, m) in enumerate(events)))
    if timed and timed[0][0] < 0:
        raise ValueError("event before time 0")
    track = bytearray(b"\x00\xff\x51\x03" + int(tempo_us).to_bytes(3, "big"))
    tick = 0
    for t, _, _, message in timed:
        track += vlq(t - tick) + message
        tick = t
    end_tick = max(tick, int(round(end_s * ticks_per_s))) if end_s is not None else tick
    track += vlq(end_tick - tick) + b"\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") \
        + int(ppq).to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def write_midi(path, events: Iterable[tuple[float, bytes]], end_s: float | None = None) -> Path:
    path = Path(path)
    path.write_bytes(midi_bytes(events, end_s=end_s))
    return path


def missing_tools(soundfont: Path = SOUNDFONT) -> list[str]:
    """What rendering needs and is not here, as Debian package hints (empty when all is present)."""
    missing = []
    if shutil.which("fluidsynth") is None:
        missing.append("fluidsynth (Debian package fluidsynth)")
    if not Path(soundfont).is_file():
        missing.append(f"{soundfont} (Debian package fluid-soundfont-gm)")
    return missing


def render(midi_path, wav_path, soundfont: Path = SOUNDFONT, sample_rate: int = SAMPLE_RATE,
           gain: float = 0.8, file_format: str | None = None) -> np.ndarray:
    """Render with fluidsynth (no audio driver, default reverb/chorus) and return mono float64.

    Runs ``fluidsynth -ni -q -g GAIN -r RATE [-O FORMAT] -F WAV SOUNDFONT MIDI``; the stereo output
    is averaged. ``file_format="float"`` writes 32-bit float (no clipping of loud chords; the
    caller normalises); the default is fluidsynth's (16-bit).
    """
    import soundfile as sf

    exe = shutil.which("fluidsynth")
    if exe is None or not Path(soundfont).is_file():
        raise FileNotFoundError("cannot render MIDI: missing " + ", ".join(missing_tools(soundfont)))
    cmd = [exe, "-ni", "-q", "-g", f"{gain:g}", "-r", str(int(sample_rate))]
    if file_format:
        cmd += ["-O", file_format]
    cmd += ["-F", str(wav_path), str(soundfont), str(midi_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not Path(wav_path).is_file():
        raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    x, rate = sf.read(str(wav_path), dtype="float64", always_2d=True)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, asked for {sample_rate} Hz")
    return x.mean(axis=1)


def render_events(events: Iterable[tuple[float, bytes]], end_s: float | None = None,
                  soundfont: Path = SOUNDFONT, sample_rate: int = SAMPLE_RATE,
                  gain: float = 0.8, file_format: str | None = None) -> np.ndarray:
    """Write the events to a temporary MIDI file, render it, and return mono float64."""
    with tempfile.TemporaryDirectory(prefix="rtst-midi-") as tmp:
        mid = write_midi(Path(tmp) / "in.mid", events, end_s=end_s)
        return render(mid, Path(tmp) / "out.wav", soundfont, sample_rate, gain, file_format)

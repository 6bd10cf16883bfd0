"""rtst/testing/midi.py (the MIDI writer) and tools/make_labelled_set.py (the labelled set)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
SCRIPT = TOOLS / "make_labelled_set.py"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@pytest.fixture(scope="module")
def midi_render():
    from rtst.testing import midi

    return midi


def _read_vlq(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, i


def _parse(data: bytes):
    """Header fields and the track's events as (tick, bytes), checking chunk lengths."""
    assert data[:4] == b"MThd"
    assert int.from_bytes(data[4:8], "big") == 6
    fmt, ntracks, division = (int.from_bytes(data[k:k + 2], "big") for k in (8, 10, 12))
    assert data[14:18] == b"MTrk"
    length = int.from_bytes(data[18:22], "big")
    assert length == len(data) - 22, "MTrk length must cover the rest of the file"
    track, events, i, tick = data[22:], [], 0, 0
    while i < len(track):
        delta, i = _read_vlq(track, i)
        tick += delta
        status = track[i]
        assert status & 0x80, "running status is not written"
        if status == 0xFF:
            meta_len, j = _read_vlq(track, i + 2)
            message, i = track[i:j + meta_len], j + meta_len
        else:
            size = 2 if status & 0xF0 in (0xC0, 0xD0) else 3
            message, i = track[i:i + size], i + size
        events.append((tick, bytes(message)))
    return fmt, ntracks, division, events


def test_vlq(midi_render):
    cases = {0: b"\x00", 0x40: b"\x40", 0x7F: b"\x7f", 0x80: b"\x81\x00", 0x2000: b"\xc0\x00",
             0x3FFF: b"\xff\x7f", 0x4000: b"\x81\x80\x00", 0x0FFFFFFF: b"\xff\xff\xff\x7f"}
    for value, encoded in cases.items():
        assert midi_render.vlq(value) == encoded
        assert _read_vlq(encoded, 0) == (value, len(encoded))
    with pytest.raises(ValueError):
        midi_render.vlq(-1)


def test_midi_file_parses(midi_render, tmp_path):
    Note = midi_render.Note
    events = [(0.0, midi_render.program_change(3, 42)), (0.0, midi_render.control_change(3, 91, 50))]
    events += midi_render.notes_to_events([Note(0.0, 0.5, 60, 100), Note(0.5, 0.5, 60, 90),
                                           Note(0.25, 1.0, 64, 80)], channel=3)
    path = midi_render.write_midi(tmp_path / "t.mid", events, end_s=2.0)
    fmt, ntracks, division, parsed = _parse(path.read_bytes())
    assert (fmt, ntracks, division) == (0, 1, midi_render.PPQ)
    messages = [m for _, m in parsed]
    assert messages[0] == b"\xff\x51\x03" + midi_render.TEMPO_US.to_bytes(3, "big")
    assert b"\xc3\x2a" in messages                                  # program change 42, channel 3
    assert parsed[-1] == (1920, b"\xff\x2f\x00")                     # end of track at 2 s (960/s)
    ons = [(t, m) for t, m in parsed if m[0] == 0x93]
    offs = [(t, m) for t, m in parsed if m[0] == 0x83]
    assert [t for t, _ in ons] == [0, 240, 480] and len(offs) == 3
    # the repeated C4 at 0.5 s: its note-off comes before the new note-on
    at_480 = [m for t, m in parsed if t == 480]
    assert at_480 == [b"\x83\x3c\x00", b"\x93\x3c\x5a"]
    with pytest.raises(ValueError):
        midi_render.note_on(0, 128, 100)


def _tool_missing() -> str | None:
    missing = [name for name in ("fluidsynth", "espeak-ng") if shutil.which(name) is None]
    if not SOUNDFONT.is_file():
        missing.append(str(SOUNDFONT))
    return ", ".join(missing) or None


@pytest.mark.skipif(_tool_missing() is not None,
                    reason=f"needs fluidsynth, fluid-soundfont-gm and espeak-ng: missing {_tool_missing()}")
def test_make_labelled_set_small(tmp_path):
    import soundfile as sf

    out = tmp_path / "set"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--per-class", "2",
                           "--classes", "cello,speech_en_female", "--seed", "3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 classes, 4 clips" in proc.stdout
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["cello", "speech_en_female"]
    for name in ("cello", "speech_en_female"):
        files = sorted((out / name).glob("*.wav"))
        assert [f.name for f in files] == [f"{name}_000.wav", f"{name}_001.wav"]
        for f in files:
            info = sf.info(str(f))
            assert (info.samplerate, info.channels, info.subtype) == (48000, 1, "PCM_16")
            x, _ = sf.read(str(f))
            assert x.size == 96000
            assert np.sqrt(np.mean(x ** 2)) > 0.01, f"{f.name} is (nearly) silent"
    sources = (out / "SOURCES.md").read_text()
    assert "fluid-soundfont-gm" in sources and "MIT" in sources
    assert "generated by espeak-ng" in sources
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["class"] for r in rows] == ["cello", "cello", "speech_en_female", "speech_en_female"]


def test_make_labelled_set_errors(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))  # no fluidsynth or espeak-ng on PATH
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o"),
                           "--classes", "piano"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "error: missing fluidsynth" in proc.stderr
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o"),
                           "--classes", "kazoo"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown class(es) kazoo" in proc.stderr
    assert not (tmp_path / "o").exists()

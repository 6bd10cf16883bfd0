"""Content and style clips for the style-transfer benchmark: 48 kHz mono float64, peak 0.5, ~3.5-4 s.

Each function returns ``(name, signal, source_description)``, or ``None`` when the clip cannot be
built here (a note is printed). Sources are Debian packages (this module installs nothing):

content
* ``speech_content``  recorded speech, alsa-utils Front_Center/Front_Left/Front_Right.wav
                      (``signals.speech``), 3.5 s
* ``tts_content``     espeak-ng speaking an English sentence (``signals.speech_tts``), 4 s
* ``music_content``   the busiest 4 s of an OpenMSX MIDI (openttd-openmsx) rendered by fluidsynth
                      with FluidR3_GM (``signals.music``); ``None`` where signals.music would fall
                      back to synthetic chords

style
* ``cello_style``     a slow legato D-minor cello melody (GM program 42, 0-based) written here as
                      MIDI and rendered by fluidsynth with FluidR3_GM (fluid-soundfont-gm, MIT), 4 s
* ``bells_style``     an environmental, metallic texture from sound-theme-freedesktop (no field
                      recording of rain or the like is available): three double rings of a
                      mechanical alarm-clock bell cut from alarm-clock-elapsed.oga (0.24-0.76,
                      1.28-1.78, 2.30-2.80 s; the silences between rings left out; a recording by
                      Tim/corsica_s, CC-BY-SA-3.0), then complete.oga (a chime) and bell.oga twice
                      (Dr. Richard Boulanger et al, CC-BY-3.0), trimmed of silence; ~3.2 s
* ``organ_style``     church organ (GM program 19) chords Dm - Bb - Gm - A with a pedal bass, 4 s

``pairs()`` lists the (content, style) pairs the benchmark runs. MIDI renders are cached under
``signals.cache_dir()`` (``$RTST_BENCH_CACHE``, default ``<tempdir>/rtst-bench-cache``), keyed by a
hash of the MIDI file, outside the repository.

The MIDI writer and fluidsynth helper live in :mod:`rtst.testing.midi` (shared with
``tools/make_labelled_set.py`` and ``tools/make_corpus.py``).

    python -m rtst.testing.clips [--write DIR]    # list the clips (and write them as WAV)
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np


from rtst.testing import midi as midi_render
from rtst.testing import signals
from rtst.testing.signals import (SAMPLE_RATE, _normalise, _note, _read_mono, _to_rate,
                     _trim_silence, cache_dir)

FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
ALARM_RINGS_S = ((0.24, 0.76), (1.28, 1.78), (2.30, 2.80))  # double rings

__all__ = ["SAMPLE_RATE", "speech_content", "tts_content", "music_content", "cello_style",
           "bells_style", "organ_style", "CONTENT", "STYLE", "pairs", "all_clips"]


def _renamed(clip, name: str):
    return None if clip is None else (name, clip[1], clip[2])


def speech_content(seconds: float = 3.5):
    """Recorded speech (alsa-utils channel announcements), ``seconds`` long."""
    return _renamed(signals.speech(seconds), "speech_content")


def tts_content(seconds: float = 4.0):
    """espeak-ng speaking signals.TTS_SENTENCE, ``seconds`` long."""
    return _renamed(signals.speech_tts(seconds), "tts_content")


def music_content(seconds: float = 4.0):
    """The busiest ``seconds`` of an OpenMSX MIDI rendered with FluidR3_GM; None without the tools."""
    clip = signals.music(seconds)
    if clip[2].startswith("SYNTHETIC"):
        _note("music_content skipped: no fluidsynth render available (see the note above)")
        return None
    return _renamed(clip, "music_content")


def _fade_out(x: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    x = np.array(x, dtype=np.float64)
    n = min(x.size, int(seconds * SAMPLE_RATE))
    x[x.size - n:] *= np.linspace(1.0, 0.0, n)
    return x


def _midi_clip(name: str, events: list, seconds: float, desc: str):
    """Render ``events`` once (cached by MIDI hash), cut to ``seconds``, fade out, normalise."""
    missing = midi_render.missing_tools()
    if missing:
        _note(f"{name} skipped: {', '.join(missing)} missing")
        return None
    data = midi_render.midi_bytes(events, end_s=seconds + 0.5)
    path = cache_dir() / f"teacher_{name}_{hashlib.sha1(data).hexdigest()[:12]}_{SAMPLE_RATE}.wav"
    if not path.is_file():
        with tempfile.TemporaryDirectory(prefix="rtst-teacher-") as tmp:
            mid = Path(tmp) / f"{name}.mid"
            mid.write_bytes(data)
            tmp_wav = path.with_suffix(".tmp.wav")
            midi_render.render(mid, tmp_wav, sample_rate=SAMPLE_RATE, file_format="float")
            tmp_wav.replace(path)
    x, sample_rate = _read_mono(path)
    x = _to_rate(x, sample_rate)[:int(seconds * SAMPLE_RATE)]
    return name, _normalise(_fade_out(x)), desc


def _legato(pitches_durs, velocity: int, start: float = 0.0, overlap: float = 0.04):
    """Consecutive notes, each held ``overlap`` s into the next (legato)."""
    notes, t = [], start
    for pitch, dur in pitches_durs:
        notes.append(midi_render.Note(t, dur + overlap, pitch, velocity))
        t += dur
    return notes


def cello_style(seconds: float = 4.0):
    """Slow legato cello melody in D minor (A3 D4 C4 Bb3 A3 F3), GM program 42, FluidR3_GM."""
    melody = [(57, 0.8), (62, 0.8), (60, 0.4), (58, 0.4), (57, 0.8), (53, 0.6)]  # ends at 3.8 s
    events = [(0.0, midi_render.program_change(0, 42)),
              (0.0, midi_render.control_change(0, 91, 50))]
    events += midi_render.notes_to_events(_legato(melody, velocity=88))
    desc = ("cello, GM program 42 (0-based), slow legato D-minor melody A3 D4 C4 Bb3 A3 F3 "
            "(0.4-0.8 s notes), MIDI written by rtst/testing/midi.py, rendered by fluidsynth with "
            f"FluidR3_GM (fluid-soundfont-gm, MIT) at 48 kHz, downmixed, {seconds:g} s")
    return _midi_clip("cello_style", events, seconds, desc)


def organ_style(seconds: float = 4.0):
    """Church organ chords Dm - Bb - Gm - A (0.95 s each) over a pedal bass, GM program 19."""
    chords = [[38, 50, 53, 57, 62], [34, 50, 53, 58, 62], [43, 50, 55, 58, 62], [45, 49, 52, 57, 61]]
    events = [(0.0, midi_render.program_change(0, 19)),
              (0.0, midi_render.control_change(0, 91, 60))]
    for k, chord in enumerate(chords):
        events += midi_render.notes_to_events(
            [midi_render.Note(0.95 * k, 0.95, pitch, 90) for pitch in chord])
    desc = ("church organ, GM program 19 (0-based), chords Dm Bb Gm A (0.95 s each, bass D2 Bb1 G2 "
            "A2), MIDI written by rtst/testing/midi.py, rendered by fluidsynth with FluidR3_GM "
            f"(fluid-soundfont-gm, MIT) at 48 kHz, downmixed, {seconds:g} s")
    return _midi_clip("organ_style", events, seconds, desc)


def bells_style():
    """Alarm-clock bell rings, a chime and two bell strikes from sound-theme-freedesktop, ~3.2 s."""
    names = ["alarm-clock-elapsed.oga", "complete.oga", "bell.oga"]
    missing = [n for n in names if not (FREEDESKTOP_DIR / n).is_file()]
    if missing:
        _note(f"bells_style skipped: {', '.join(missing)} missing under {FREEDESKTOP_DIR} "
              "(Debian package sound-theme-freedesktop)")
        return None
    alarm, chime, bell = (_to_rate(*_read_mono(FREEDESKTOP_DIR / n)) for n in names)
    alarm = np.concatenate([_fade_out(alarm[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)], 0.01)
                            for a, b in ALARM_RINGS_S])
    chime, bell = _trim_silence(chime), _trim_silence(bell)
    slot = np.zeros(int(0.4 * SAMPLE_RATE))   # each bell strike rings into a 0.4 s slot
    strike = slot.copy()
    strike[:min(bell.size, slot.size)] = bell[:slot.size]
    x = np.concatenate([alarm, chime, strike, strike])
    rings = ", ".join(f"{a:.2f}-{b:.2f}" for a, b in ALARM_RINGS_S)
    desc = (f"sound-theme-freedesktop: alarm-clock-elapsed.oga {rings} s (double rings of a "
            "mechanical alarm-clock bell, Tim/corsica_s, CC-BY-SA-3.0), complete.oga (chime), "
            "bell.oga twice in 0.4 s slots "
            "(both Dr. Richard Boulanger et al, CC-BY-3.0); silence-trimmed, 48 kHz (soxr VHQ), "
            "concatenated")
    return "bells_style", _normalise(x), desc


CONTENT = (speech_content, tts_content, music_content)
STYLE = (cello_style, bells_style, organ_style)


def pairs() -> list:
    """(content_fn, style_fn) pairs: speech -> instrument, speech -> environmental,
    music -> environmental, synthetic speech -> organ, music -> instrument."""
    return [(speech_content, cello_style), (speech_content, bells_style),
            (music_content, bells_style), (tts_content, organ_style), (music_content, cello_style)]


def all_clips() -> list:
    """Every available content and style clip as ``(name, signal, source_description)``."""
    return [clip for make in CONTENT + STYLE if (clip := make()) is not None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", default=None, help="also write each clip to DIR/NAME.wav")
    args = parser.parse_args()
    clips = all_clips()
    for name, x, desc in clips:
        print(f"{name:<15} {x.size / SAMPLE_RATE:5.2f} s  peak {np.max(np.abs(x)):.2f}  {desc}")
        if args.write:
            import soundfile as sf

            Path(args.write).mkdir(parents=True, exist_ok=True)
            sf.write(str(Path(args.write) / f"{name}.wav"), x, SAMPLE_RATE, subtype="FLOAT")
    print("pairs: " + ", ".join(f"{c.__name__} -> {s.__name__}" for c, s in pairs()))


if __name__ == "__main__":
    main()

"""Melodies and General-MIDI renders of the paired timbre benchmark (``benchmarks/bench_timbre.py``).

The benchmark's question is "does the output sound like instrument B playing what instrument A
played?". It needs the *same* melody played by A (the input) and by B (the reference), which a
MIDI render gives exactly: one note list, two GM programs, sample-aligned.

Lengths include the 0.4 s release rendered after the last note-off. Melodies (our own; none of them is a melody of :mod:`rtst.testing.clips` or
:mod:`rtst.testing.panel`, which are style and evaluation clips):

======================  =====================================================================
``low_legato``          A2..A3 (110-220 Hz), slow legato, CC11 expression swells, 6.2 s
``middle_detached``     C4..C5, detached (staccato) eighths with accents (velocity 58-112)
                        and two rests, 6.65 s
``high_vibrato``        G4..A5 (392-880 Hz), legato long notes with CC1 vibrato growing into
                        each and CC11 dynamics, 6.4 s
``dynamics_rests``      E3..E4, a velocity crescendo (40 -> 120) on repeated notes, a rest, a
                        held note's CC11 diminuendo, a rest, accented detached notes, 6.9 s
======================  =====================================================================

Instruments (:data:`INSTRUMENTS`, 0-based GM programs): flute 73, trumpet 56, clarinet 71,
violin 40, alto sax 65, cello 42, church organ 19, tubular bells 14, choir aahs 52, voice oohs 53,
acoustic nylon guitar 24. Styles judged (:data:`STYLES`): cello, organ, bells, choir, guitar;
the inputs each style is judged on are in one table, :data:`STYLE_INPUTS`.

Renders are fluidsynth with FluidR3_GM (Debian fluid-soundfont-gm, MIT) by default, 48 kHz mono
float64 (the stereo render averaged), cut at the melody's end plus a 0.4 s release with a 50 ms
fade, peak-normalised to 0.5. They are cached under :func:`rtst.testing.signals.cache_dir` keyed
by a hash of the MIDI bytes and the sound font.

:func:`style_clip` renders a *different* melody (``style_phrase``) by a style's instrument: the
material a style is learned or estimated from, never a benchmark reference. :func:`random_melody`
makes the seeded random melodies the instrument classifier (``tools/train_timbre_classifier.py``)
is trained on.

    python -m rtst.testing.melodies [--write DIR]    # render and list everything
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rtst.errors import ParameterError
from rtst.testing import midi as midi_render
from rtst.testing.signals import SAMPLE_RATE, _normalise, _read_mono, cache_dir

__all__ = ["SAMPLE_RATE", "SOUNDFONT", "MUSESCORE_SOUNDFONT", "INSTRUMENTS", "STYLES", "STYLE_INPUTS",
           "Melody", "Render", "MELODIES", "melody", "melody_events", "render_melody", "render_events_cached",
           "pairs", "style_clip", "STYLE_PHRASE", "RELEASE_S", "random_melody", "concatenate", "missing_tools"]

SOUNDFONT = midi_render.SOUNDFONT
#: A second, independent General-MIDI sound font (Debian musescore-general-soundfont-small, MIT):
#: the classifier's held-out sound font. (fluid-soundfont-gs's FluidR3_GS.sf2 renders GM programs
#: silent here: it only holds the GS variation banks.)
MUSESCORE_SOUNDFONT = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")

#: Instrument name -> 0-based General-MIDI program.
INSTRUMENTS = {
    "flute": 73, "trumpet": 56, "clarinet": 71, "violin": 40, "alto_sax": 65, "cello": 42,
    "organ": 19, "bells": 14, "choir": 52, "voice_oohs": 53, "guitar": 24,
}

#: Style judged -> the instrument whose renders are its references.
STYLES = {"cello": "cello", "organ": "organ", "bells": "bells", "choir": "choir", "guitar": "guitar"}

#: Style -> the input instruments (A) it is judged on: never the style's own instrument, and for
#: choir not voice oohs either (the same kind of sound: the pair would ask for almost nothing).
#: Each input plays every melody, so a style has 4 x 4 = 16 pairs.
STYLE_INPUTS = {
    "cello": ("flute", "trumpet", "clarinet", "voice_oohs"),
    "organ": ("flute", "violin", "alto_sax", "guitar"),
    "bells": ("flute", "violin", "clarinet", "trumpet"),
    "choir": ("flute", "violin", "trumpet", "cello"),
    "guitar": ("violin", "flute", "alto_sax", "clarinet"),
}

RELEASE_S = 0.4          # rendered past the last note-off, so a release is heard, not cut
FADE_S = 0.05
REVERB_SEND = 40         # CC91 for every render: a little room, the same for input and reference


class Melody(NamedTuple):
    name: str
    notes: tuple          # of midi.Note, times in seconds from 0
    controls: tuple       # of (time_s, controller, value)
    end_s: float          # last note-off
    description: str


class Render(NamedTuple):
    name: str
    signal: np.ndarray    # float64 [n_samples] at SAMPLE_RATE, peak 0.5
    description: str


def missing_tools(soundfont: Path = SOUNDFONT) -> list[str]:
    """What rendering needs and is not here, as Debian package hints (empty when all is present)."""
    missing = midi_render.missing_tools(Path(soundfont))
    if Path(soundfont) == MUSESCORE_SOUNDFONT and missing:
        missing = [m.replace("fluid-soundfont-gm", "musescore-general-soundfont-small") for m in missing]
    return missing


def _sequence(steps, start_s: float = 0.0, legato_s: float = 0.0):
    """Notes from ``(pitch, step_s, gate, velocity)``: each sounds ``gate * step_s`` (plus
    ``legato_s`` overlap); ``pitch=None`` is a rest of ``step_s``."""
    notes, t = [], start_s
    for pitch, step, gate, velocity in steps:
        if pitch is not None:
            notes.append(midi_render.Note(t, gate * step + legato_s, pitch, velocity))
        t += step
    return notes, t


def _swell(t0: float, dur: float, low: int, high: int, n: int = 6, controller: int = 11):
    """A rise-and-fall of ``controller`` over a note (expression swell)."""
    out = []
    for k in range(n + 1):
        phase = np.sin(np.pi * k / n)
        out.append((t0 + dur * k / n, controller, int(round(low + (high - low) * phase))))
    return out


def _low_legato() -> Melody:
    steps = [(50, 0.6, 1, 84), (45, 0.4, 1, 76), (48, 0.4, 1, 80), (50, 0.8, 1, 92), (53, 0.4, 1, 80),
             (52, 0.4, 1, 78), (55, 0.6, 1, 88), (57, 0.9, 1, 96), (53, 0.5, 1, 80), (50, 0.8, 1, 84)]
    notes, end = _sequence(steps, legato_s=0.04)
    controls, t = [(0.0, 11, 100), (0.0, 1, 0)], 0.0
    for pitch, step, _, _ in steps:
        if step >= 0.6:
            controls += _swell(t, step, 85, 127)
        t += step
    return Melody("low_legato", tuple(notes), tuple(controls), end,
                  "D3 A2 C3 D3 F3 E3 G3 A3 F3 D3, slow legato (0.4-0.9 s, 40 ms overlap), CC11 swells "
                  "85-127 over the notes of 0.6 s or more")


def _middle_detached() -> Melody:
    up = [60, 64, 67, 72, 71, 67, 64, 62]
    steps = [(p, 0.25, 0.45, 112 if k % 4 == 0 else 70) for k, p in enumerate(up)]
    steps += [(None, 0.5, 0, 0)]
    steps += [(p, 0.25, 0.45, 105 if k % 2 == 0 else 58) for k, p in enumerate([65, 69, 72, 69, 65, 62])]
    steps += [(64, 0.5, 0.6, 96), (None, 0.5, 0, 0), (60, 0.25, 0.45, 112), (67, 0.25, 0.45, 80),
              (72, 0.75, 0.5, 100)]
    notes, end = _sequence(steps)
    return Melody("middle_detached", tuple(notes), ((0.0, 11, 110), (0.0, 1, 0)), end,
                  "C4 E4 G4 C5 B4 G4 E4 D4, rest, F4 A4 C5 A4 F4 D4 E4, rest, C4 G4 C5: detached "
                  "(45-60 % gate) eighths, accents at velocity 105-112 against 58-80, two 0.5 s rests")


def _high_vibrato() -> Melody:
    steps = [(67, 0.5, 1, 80), (72, 0.9, 1, 90), (74, 0.4, 1, 84), (76, 1.0, 1, 96), (79, 0.4, 1, 88),
             (81, 1.1, 1, 100), (77, 0.5, 1, 84), (76, 1.2, 1, 90)]
    notes, end = _sequence(steps, legato_s=0.03)
    controls, t = [(0.0, 1, 0), (0.0, 11, 100)], 0.0
    for pitch, step, _, _ in steps:
        controls.append((t, 1, 0))
        if step >= 0.9:
            # vibrato grows into the long note after its attack, as a player's does
            controls += [(t + 0.25, 1, 35), (t + 0.5, 1, 70)]
            controls += _swell(t, step, 90, 127)
        t += step
    return Melody("high_vibrato", tuple(notes), tuple(controls), end,
                  "G4 C5 D5 E5 G5 A5 F5 E5, legato (30 ms overlap), CC1 vibrato 0 -> 35 -> 70 growing "
                  "into each note of 0.9 s or more, CC11 swells 90-127")


def _dynamics_rests() -> Melody:
    crescendo = [(52, 0.3, 0.8, v) for v in (40, 56, 72, 88, 104, 120)]
    steps = crescendo + [(None, 0.5, 0, 0), (59, 1.4, 1.0, 110), (None, 0.5, 0, 0)]
    steps += [(64, 0.25, 0.4, 118), (62, 0.25, 0.4, 64), (60, 0.25, 0.4, 96), (57, 0.25, 0.4, 60),
              (55, 0.5, 0.5, 112), (52, 0.8, 0.8, 90)]
    notes, end = _sequence(steps)
    held_s = 0.3 * 6 + 0.5
    controls = [(0.0, 1, 0), (0.0, 11, 120)]
    # diminuendo on the held B3: expression 127 -> 30 over 1.3 s, back to 120 in the rest after it
    controls += [(held_s + 0.1 * k, 11, int(round(127 - 97 * k / 13))) for k in range(14)]
    controls += [(held_s + 1.6, 11, 120)]
    return Melody("dynamics_rests", tuple(notes), tuple(controls), end,
                  "E3 repeated six times, velocity 40 -> 120 (crescendo), 0.5 s rest, B3 held 1.4 s "
                  "with a CC11 diminuendo 127 -> 30, 0.5 s rest, E4 D4 C4 A3 G3 E3 detached with accents")


MELODIES = {m.name: m for m in (_low_legato(), _middle_detached(), _high_vibrato(), _dynamics_rests())}


def melody(name: str) -> Melody:
    """One of :data:`MELODIES` by name."""
    if name not in MELODIES:
        raise ParameterError(f"unknown melody {name!r}; the benchmark's are {', '.join(MELODIES)}")
    return MELODIES[name]


def melody_events(m: Melody, program: int, channel: int = 0) -> list:
    """The melody as ``(time_s, message)`` MIDI events for GM ``program`` (0-based)."""
    events = [(0.0, midi_render.program_change(channel, program)),
              (0.0, midi_render.control_change(channel, 91, REVERB_SEND)),
              (0.0, midi_render.control_change(channel, 7, 100))]
    events += [(t, midi_render.control_change(channel, c, v)) for t, c, v in m.controls]
    return events + midi_render.notes_to_events(m.notes, channel)


def _check_instrument(instrument: str) -> int:
    if instrument not in INSTRUMENTS:
        raise ParameterError(f"unknown instrument {instrument!r}; known: {', '.join(INSTRUMENTS)}")
    return INSTRUMENTS[instrument]


def render_events_cached(events: list, end_s: float, tag: str, soundfont: Path = SOUNDFONT) -> np.ndarray:
    """Render MIDI events once (cached by the MIDI bytes and the sound font), raw mono float64.

    Returns the fluidsynth render as it comes (no cut, no normalisation), at 48 kHz.
    """
    soundfont = Path(soundfont)
    missing = missing_tools(soundfont)
    if missing:
        raise ParameterError(f"cannot render {tag}: missing {', '.join(missing)}")
    data = midi_render.midi_bytes(events, end_s=end_s)
    key = hashlib.sha1(data + soundfont.name.encode()).hexdigest()[:12]
    path = cache_dir() / f"timbre_{tag}_{key}_{SAMPLE_RATE}.wav"
    if not path.is_file():
        with tempfile.TemporaryDirectory(prefix="rtst-timbre-") as tmp:
            mid = Path(tmp) / "in.mid"
            mid.write_bytes(data)
            # a unique temporary name: two worker processes may render the same file at once
            tmp_wav = Path(tmp) / "out.wav"
            midi_render.render(mid, tmp_wav, soundfont=soundfont, sample_rate=SAMPLE_RATE, file_format="float")
            staged = path.with_name(path.name + f".{Path(tmp).name}.tmp")
            shutil.move(str(tmp_wav), str(staged))
            staged.replace(path)
    x, sample_rate = _read_mono(path)
    if sample_rate != SAMPLE_RATE:
        raise ParameterError(f"cached render {path} is at {sample_rate} Hz, expected {SAMPLE_RATE}")
    return x


def _finish(x: np.ndarray, seconds: float) -> np.ndarray:
    """Cut to ``seconds`` (zero-padded if shorter), fade the last 50 ms, peak 0.5."""
    n = int(round(seconds * SAMPLE_RATE))
    y = np.zeros(n)
    y[:min(n, x.size)] = x[:n]
    fade = int(FADE_S * SAMPLE_RATE)
    y[n - fade:] *= np.linspace(1.0, 0.0, fade)
    return _normalise(y)


def render_melody(m: Melody | str, instrument: str, soundfont: Path = SOUNDFONT) -> Render:
    """``m`` played by ``instrument`` (a key of :data:`INSTRUMENTS`), 48 kHz mono, peak 0.5.

    Length is the melody's end plus :data:`RELEASE_S`, for every instrument alike, so an input and
    its reference have equal lengths and are sample-aligned.
    """
    m = melody(m) if isinstance(m, str) else m
    program = _check_instrument(instrument)
    seconds = m.end_s + RELEASE_S
    x = render_events_cached(melody_events(m, program), seconds + 0.1, f"{m.name}_{instrument}", soundfont)
    desc = (f"melody {m.name} ({m.description}) on {instrument} (GM program {program}, 0-based), MIDI written "
            f"by rtst/testing/melodies.py, rendered by fluidsynth with {Path(soundfont).name} at 48 kHz, "
            f"downmixed, {seconds:.1f} s")
    return Render(f"{m.name}/{instrument}", _finish(x, seconds), desc)


def pairs(styles=None, quick: bool = False) -> list[tuple[str, str, str]]:
    """The benchmark's ``(style, input_instrument, melody_name)`` triples.

    ``quick``: one melody (``high_vibrato``) and the first 2 inputs of each style, the smoke-test
    panel.
    """
    styles = list(STYLES) if styles is None else list(styles)
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise ParameterError(f"unknown style(s) {', '.join(unknown)}; the benchmark judges {', '.join(STYLES)}")
    names = ["high_vibrato"] if quick else list(MELODIES)
    out = []
    for style in styles:
        inputs = STYLE_INPUTS[style][:2] if quick else STYLE_INPUTS[style]
        out += [(style, a, name) for a in inputs for name in names]
    return out


def _style_phrase() -> Melody:
    # wide (G2..G5) and mixed (legato and detached) so a style's mean envelope is not one register's
    steps = [(43, 0.5, 1, 90), (50, 0.5, 1, 84), (55, 0.5, 1, 86), (59, 0.7, 1, 94), (62, 0.3, 0.5, 80),
             (66, 0.3, 0.5, 84), (69, 0.3, 0.5, 88), (74, 0.8, 1, 100), (None, 0.3, 0, 0), (79, 0.6, 1, 96),
             (71, 0.4, 0.6, 82), (67, 0.4, 0.6, 78), (58, 0.6, 1, 88), (47, 0.9, 1, 92)]
    notes, end = _sequence(steps, legato_s=0.03)
    controls = [(0.0, 1, 0), (0.0, 11, 110)] + _swell(1.5, 0.7, 90, 127) + _swell(5.1, 0.9, 80, 120)
    return Melody("style_phrase", tuple(notes), tuple(controls), end,
                  "G2 D3 G3 B3 D4 F#4 A4 D5, rest, G5 B4 G4 Bb3 B2: legato and detached, G2..G5")


STYLE_PHRASE = _style_phrase()


def style_clip(style: str, soundfont: Path = SOUNDFONT) -> Render:
    """A style's own material apart from the benchmark: ``style_phrase`` (not a benchmark melody)
    played by the style's instrument, 48 kHz mono, peak 0.5, ~7 s.

    Parameters
    ----------
    style : str
        A key of :data:`STYLES` (cello, organ, bells, choir, guitar).
    """
    if style not in STYLES:
        raise ParameterError(f"unknown style {style!r}; the benchmark judges {', '.join(STYLES)}")
    r = render_melody(STYLE_PHRASE, STYLES[style], soundfont)
    return Render(f"style_clip/{style}", r.signal, r.description)


def random_melody(seed: int, seconds: float = 6.0, low_pitch: int = 40, high_pitch: int = 86) -> Melody:
    """A seeded random melody of ``seconds``: a random register, legato or detached phrases,
    velocity changes, CC11 swells, CC1 vibrato on some long notes, rests.

    For training data only (the classifier's); a seed gives the same melody on every machine.
    """
    rng = np.random.default_rng(seed)
    span = int(rng.integers(10, 20))
    centre = int(rng.integers(low_pitch + span // 2, high_pitch - span // 2 + 1))
    notes, controls, t = [], [(0.0, 1, 0), (0.0, 11, int(rng.integers(70, 128)))], 0.0
    pitch = centre
    legato = rng.random() < 0.5
    while t < seconds - 0.3:
        if rng.random() < 0.15:
            legato = not legato
        step = float(rng.choice([0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.4], p=[.1, .2, .15, .2, .15, .12, .08]))
        step = min(step, seconds - t)
        if rng.random() < 0.1:                         # rest
            t += step
            continue
        pitch = int(np.clip(pitch + rng.integers(-5, 6), centre - span // 2, centre + span // 2))
        gate = 1.0 if legato else float(rng.uniform(0.3, 0.7))
        dur = step * gate + (0.03 if legato else 0.0)
        notes.append(midi_render.Note(t, dur, pitch, int(rng.integers(35, 128))))
        controls.append((t, 1, 0))
        if step >= 0.75 and rng.random() < 0.5:
            controls += [(t + 0.2, 1, int(rng.integers(20, 60))), (t + 0.45, 1, int(rng.integers(40, 100)))]
        if step >= 0.5 and rng.random() < 0.5:
            controls += _swell(t, step, int(rng.integers(40, 90)), 127)
        t += step
    end = max(n.start_s + n.dur_s for n in notes) if notes else seconds
    return Melody(f"random{seed}", tuple(notes), tuple(controls), end,
                  f"seeded random melody {seed}, MIDI {centre - span // 2}..{centre + span // 2}")


def concatenate(melodies, gap_s: float = 1.0) -> Melody:
    """One melody that plays ``melodies`` one after another with ``gap_s`` of silence between
    (CC1 and CC11 reset at each start), so many phrases render in one fluidsynth call."""
    notes, controls, t = [], [], 0.0
    for m in melodies:
        controls += [(t, 1, 0), (t, 11, 100)]
        notes += [midi_render.Note(n.start_s + t, n.dur_s, n.pitch, n.velocity) for n in m.notes]
        controls += [(c_t + t, c, v) for c_t, c, v in m.controls]
        t += m.end_s + gap_s
    return Melody("+".join(m.name for m in melodies)[:40], tuple(notes), tuple(controls), t - gap_s,
                  f"{len(melodies)} melodies, {gap_s:g} s apart")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", default=None, help="also write each render to DIR/MELODY_INSTRUMENT.wav")
    args = parser.parse_args()
    renders = [render_melody(m, i) for m in MELODIES for i in INSTRUMENTS]
    renders += [style_clip(s) for s in STYLES]
    for r in renders:
        print(f"{r.name:<28} {r.signal.size / SAMPLE_RATE:5.2f} s  peak {np.max(np.abs(r.signal)):.2f}")
        if args.write:
            import soundfile as sf

            Path(args.write).mkdir(parents=True, exist_ok=True)
            sf.write(str(Path(args.write) / (r.name.replace("/", "_") + ".wav")), r.signal, SAMPLE_RATE,
                     subtype="FLOAT")
    print(f"{len(pairs())} pairs: " + ", ".join(f"{s}: {', '.join(STYLE_INPUTS[s])}" for s in STYLES))


if __name__ == "__main__":
    main()

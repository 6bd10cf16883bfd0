#!/usr/bin/env python3
"""Build a small labelled audio set for training a timbre "descriptor" classifier (after Wyse 2017).

Folder-per-class layout, 48 kHz mono 16-bit PCM WAV clips of ``--clip-seconds`` (default 2 s):

    OUT/<class>/<class>_000.wav ...   the clips
    OUT/SOURCES.md                    where each class comes from (Debian package, licence)
    OUT/manifest.csv                  one row per clip: class, file, how it was made

Classes differ in timbre (``--list`` prints them):

* 12 General MIDI instruments (piano, marimba, church organ, nylon guitar, distortion guitar,
  violin, cello, choir aahs, trumpet, clarinet, flute, warm synth pad): random melodies, chords,
  arpeggios or pads from a seeded numpy rng (key, scale, tempo, pitch range, velocity,
  articulation, reverb/chorus send vary per clip), written as one Standard MIDI File per class by
  ``rtst/testing/midi.py`` and rendered in one fluidsynth run with FluidR3_GM (clips are 1 s apart
  in the render, silenced in between, then cut out);
* 4 espeak-ng voices (US English male and female, German, French) speaking random word lists
  (speed, pitch and word gap vary per clip);
* ``ui_sounds``: freedesktop.org theme sounds (bells, chimes, phone rings, shutter, alarm clock...),
  random ones back to back (sometimes overlapping), each pitch-shifted by up to +-5 semitones
  (resampling).

Each clip is peak-normalised to a random level between -9 and -1 dBFS. Everything is seeded
(``--seed``): a class's clips depend only on the seed, the class name, the clip length and the clip
count, not on ``--classes`` or ``--jobs``. Existing ``OUT/<class>/<class>_*.wav`` files of the
classes being built are replaced; SOURCES.md and manifest.csv cover every class folder in OUT.

Needs the Debian packages fluidsynth + fluid-soundfont-gm (instruments), espeak-ng (voices) and
sound-theme-freedesktop (ui_sounds), only for the classes asked for; a missing one is an error
(exit status 2). A full default run takes well under a minute on 2 cores.

    python tools/make_labelled_set.py --out DIR [--per-class 40] [--seed 0] [--clip-seconds 2]
                                      [--classes cello speech_en_female ...] [--jobs N] [--list]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np


from rtst.testing import midi as midi_render
from rtst.testing.midi import Note

SAMPLE_RATE = 48000
GAP_S = 1.0                  # silence between clips in a class's render (reverb dies away)
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
FREEDESKTOP_COPYRIGHT = Path("/usr/share/doc/sound-theme-freedesktop/copyright")
# Spoken-word and test-noise files of the theme are left out of ui_sounds (they overlap the voices).
FREEDESKTOP_EXCLUDE = re.compile(r"^(audio-channel-.*|audio-test-signal)\.oga$")

SCALES = MappingProxyType({"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
                           "dorian": (0, 2, 3, 5, 7, 9, 10), "pentatonic": (0, 2, 4, 7, 9)})


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int              # General MIDI program, 0-based
    gm_name: str
    low: int                  # playable range, MIDI note numbers
    high: int
    textures: tuple           # drawn per clip: "mono", "poly", "pad", "power"


@dataclass(frozen=True)
class Voice:
    name: str
    voice: str                # espeak-ng -v argument
    words: tuple
    description: str


INSTRUMENTS = (
    Instrument("piano", 0, "Acoustic Grand Piano", 36, 96, ("poly", "poly", "mono")),
    Instrument("marimba", 12, "Marimba", 48, 96, ("poly", "mono")),
    Instrument("church_organ", 19, "Church Organ", 36, 84, ("pad", "poly")),
    Instrument("nylon_guitar", 24, "Acoustic Guitar (nylon)", 40, 79, ("poly",)),
    Instrument("distortion_guitar", 30, "Distortion Guitar", 40, 76, ("power", "mono")),
    Instrument("violin", 40, "Violin", 55, 96, ("mono",)),
    Instrument("cello", 42, "Cello", 36, 72, ("mono",)),
    Instrument("choir_aahs", 52, "Choir Aahs", 48, 79, ("pad", "mono")),
    Instrument("trumpet", 56, "Trumpet", 54, 82, ("mono",)),
    Instrument("clarinet", 71, "Clarinet", 50, 89, ("mono",)),
    Instrument("flute", 73, "Flute", 60, 96, ("mono",)),
    Instrument("synth_pad", 89, "Pad 2 (warm)", 36, 84, ("pad",)),
)

WORDS_EN = (
    "the", "a", "river", "stone", "quiet", "bridge", "seven", "bright", "morning", "garden", "over",
    "under", "yellow", "window", "people", "little", "market", "after", "before", "water", "silver",
    "mountain", "letter", "summer", "winter", "listen", "table", "music", "orange", "forest", "train",
    "station", "happy", "slowly", "carry", "number", "paper", "coffee", "evening", "between", "city",
    "north", "simple", "answer", "yesterday", "tomorrow", "open", "basket", "rabbit", "kitchen")
WORDS_DE = (
    "der", "die", "das", "und", "Fluss", "Stein", "leise", "Brücke", "sieben", "hell", "Morgen",
    "Garten", "über", "unter", "gelb", "Fenster", "Leute", "klein", "Markt", "nach", "vor", "Wasser",
    "Silber", "Berg", "Brief", "Sommer", "Winter", "hören", "Tisch", "Musik", "Wald", "Zug",
    "Bahnhof", "glücklich", "langsam", "tragen", "Zahl", "Papier", "Kaffee", "Abend", "zwischen",
    "Stadt", "Norden", "einfach", "Antwort", "gestern", "morgen", "offen", "Korb", "Küche")
WORDS_FR = (
    "le", "la", "les", "et", "rivière", "pierre", "calme", "pont", "sept", "clair", "matin",
    "jardin", "sur", "sous", "jaune", "fenêtre", "gens", "petit", "marché", "après", "avant", "eau",
    "argent", "montagne", "lettre", "été", "hiver", "écouter", "table", "musique", "forêt", "train",
    "gare", "heureux", "lentement", "porter", "nombre", "papier", "café", "soir", "entre", "ville",
    "nord", "simple", "réponse", "hier", "demain", "ouvert", "panier", "cuisine")

VOICES = (
    Voice("speech_en_male", "en-us", WORDS_EN, "US English, default male voice (en-us)"),
    Voice("speech_en_female", "en-us+f3", WORDS_EN, "US English, female variant f3 (en-us+f3)"),
    Voice("speech_de", "de+m3", WORDS_DE, "German, male variant m3 (de+m3)"),
    Voice("speech_fr", "fr-fr+f4", WORDS_FR, "French, female variant f4 (fr-fr+f4)"),
)

UI_CLASS = "ui_sounds"


def class_names() -> list[str]:
    return [i.name for i in INSTRUMENTS] + [v.name for v in VOICES] + [UI_CLASS]


def class_rng(seed: int, name: str) -> np.random.Generator:
    """Per-class generator: independent of which other classes are built, and in what order."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


# ---------------------------------------------------------------------------------------------
# instruments: random notes -> one MIDI file per class -> one fluidsynth render -> clips

def _scale_pitches(root: int, scale: tuple, low: int, high: int) -> list[int]:
    return [p for p in range(low, high + 1) if (p - root) % 12 in scale]


def _reflect(i: int, n: int) -> int:
    if n <= 1:
        return 0
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def _velocity(rng, base: int) -> int:
    return int(np.clip(base + rng.integers(-12, 13), 1, 127))


def _melody(rng, pitches, t0, t1, beat, vel, art, durs=(0.5, 1.0, 1.5, 2.0),
            p=(0.35, 0.35, 0.15, 0.15)) -> list[Note]:
    """Random walk over the scale (steps of up to 3 degrees), occasional rests."""
    notes, t = [], t0
    i = int(rng.integers(len(pitches)))
    while t < t1 - 0.12:
        d = min(beat * float(rng.choice(durs, p=p)), t1 - t)
        if not notes or rng.random() > 0.08:
            notes.append(Note(t, max(0.06, d * art), pitches[i], _velocity(rng, vel)))
        t += d
        i = _reflect(i + int(rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3])), len(pitches))
    return notes


def _chord(pitches, i, size):
    """Diatonic chord: every other scale degree from index i (clamped into the range)."""
    i = min(i, max(0, len(pitches) - 2 * (size - 1) - 1))
    return [pitches[min(i + 2 * k, len(pitches) - 1)] for k in range(size)]


def _chords(rng, pitches, t0, t1, beat, vel, art, lengths, size=3, arpeggio=0.0) -> list[Note]:
    """Chord changes every ``lengths`` beats; ``arpeggio`` > 0: broken chords at that step (beats)."""
    notes, t = [], t0
    root_space = max(1, len(pitches) - 2 * size)
    while t < t1 - 0.12:
        d = min(beat * float(rng.choice(lengths)), t1 - t)
        chord = _chord(pitches, int(rng.integers(root_space)), size)
        base = _velocity(rng, vel)
        if arpeggio > 0:
            step = beat * arpeggio
            order = chord + chord[-2:0:-1] if rng.random() < 0.5 else chord
            k, ta = 0, t
            while ta < t + d - 0.03:
                length = min(t + d - ta, step * rng.uniform(1.0, 3.0)) * art
                notes.append(Note(ta, max(0.05, length), order[k % len(order)], _velocity(rng, base)))
                ta += step
                k += 1
        else:
            for pitch in chord:
                notes.append(Note(t, max(0.1, d * art), pitch, _velocity(rng, base)))
        t += d
    return notes


def _power(rng, pitches, t0, t1, beat, vel, art) -> list[Note]:
    """Rock riff: power chords (root, fifth, octave) and single notes on a low root set."""
    notes, t = [], t0
    roots = [p for p in pitches if p <= pitches[0] + 14] or pitches
    while t < t1 - 0.1:
        d = min(beat * float(rng.choice([0.25, 0.5, 0.5, 1.0])), t1 - t)
        root = int(rng.choice(roots))
        chord = [root, root + 7, root + 12] if rng.random() < 0.6 else [root]
        v = _velocity(rng, vel)
        notes.extend(Note(t, max(0.05, d * art), p, v) for p in chord if p <= 127)
        t += d
    return notes


def instrument_clip(rng, inst: Instrument, clip_s: float) -> tuple[list[Note], dict]:
    """Notes for one clip (times from 0) and the drawn parameters."""
    texture = str(rng.choice(inst.textures))
    bpm = float(rng.uniform(70, 170) if texture != "pad" else rng.uniform(50, 110))
    beat = 60.0 / bpm
    root = int(rng.integers(12))
    scale_name = str(rng.choice(list(SCALES)))
    span = inst.high - inst.low
    width = int(min(span, rng.integers(12, 25) if texture == "mono" else rng.integers(18, 31)))
    low = int(inst.low + rng.integers(0, span - width + 1))
    pitches = _scale_pitches(root, SCALES[scale_name], low, low + width)
    vel = int(rng.integers(45, 121))
    art = float(rng.uniform(0.5, 1.0))
    end = clip_s - 0.05
    if texture == "mono":
        notes = _melody(rng, pitches, 0.0, end, beat, vel, art)
    elif texture == "pad":
        notes = _chords(rng, pitches, 0.0, end, max(beat, 0.5), vel, max(art, 0.9), (1, 2, 3),
                        size=int(rng.integers(3, 5)))
    elif texture == "power":
        notes = _power(rng, pitches, 0.0, end, beat, vel, art)
    else:  # poly: broken chords, or block chords with a melody above
        if rng.random() < 0.5:
            notes = _chords(rng, pitches, 0.0, end, beat, vel, art, (2, 4),
                            arpeggio=float(rng.choice([0.25, 0.5])))
        else:
            half = len(pitches) // 2
            notes = (_chords(rng, pitches[:half + 2], 0.0, end, beat, vel - 15, art, (2, 4))
                     + _melody(rng, pitches[half:], 0.0, end, beat, vel, art, (0.5, 1.0), (0.6, 0.4)))
    params = {"texture": texture, "bpm": round(bpm, 1), "key": root, "scale": scale_name,
              "range": [low, low + width], "velocity": vel, "articulation": round(art, 2),
              "notes": len(notes)}
    return notes, params


def build_instrument(inst: Instrument, count: int, clip_s: float, seed: int, tmp: Path):
    """All clips of one instrument from one MIDI file and one fluidsynth render."""
    rng = class_rng(seed, inst.name)
    slot = clip_s + GAP_S
    events, params = [], []
    for k in range(count):
        t0 = k * slot
        notes, p = instrument_clip(rng, inst, clip_s)
        reverb, chorus, expression = (int(rng.integers(0, 71)), int(rng.integers(0, 41)),
                                      int(rng.integers(90, 128)))
        p.update(reverb_send=reverb, chorus_send=chorus, expression=expression)
        events += [(t0, midi_render.program_change(0, inst.program)),
                   (t0, midi_render.control_change(0, 7, 100)),
                   (t0, midi_render.control_change(0, 11, expression)),
                   (t0, midi_render.control_change(0, 91, reverb)),
                   (t0, midi_render.control_change(0, 93, chorus)),
                   (t0 + clip_s + 0.5 * GAP_S, midi_render.control_change(0, 120, 0))]
        events += midi_render.notes_to_events([n._replace(start_s=n.start_s + t0) for n in notes])
        params.append(p)
    mid = midi_render.write_midi(tmp / f"{inst.name}.mid", events, end_s=count * slot)
    x = midi_render.render(mid, tmp / f"{inst.name}.wav", file_format="float")
    n = int(round(clip_s * SAMPLE_RATE))
    clips = []
    for k in range(count):
        start = int(round(k * slot * SAMPLE_RATE))
        clip = x[start:start + n]
        if clip.size < n:
            clip = np.pad(clip, (0, n - clip.size))
        clips.append(clip)
    desc = f"GM program {inst.program} {inst.gm_name}, fluidsynth + FluidR3_GM"
    return clips, [dict(p, source=desc) for p in params]


# ---------------------------------------------------------------------------------------------
# voices: espeak-ng, one call per clip

def _trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > threshold * np.max(np.abs(x))) if x.size else []
    return x[loud[0]:loud[-1] + 1] if len(loud) else x


def build_voice(voice: Voice, count: int, clip_s: float, seed: int, tmp: Path):
    import soundfile as sf
    import soxr

    exe = shutil.which("espeak-ng")
    rng = class_rng(seed, voice.name)
    n = int(round(clip_s * SAMPLE_RATE))
    clips, params = [], []
    for k in range(count):
        speed, pitch, gap = int(rng.integers(130, 211)), int(rng.integers(25, 76)), int(rng.integers(0, 5))
        parts, texts = [], []
        while sum(p.size for p in parts) < n + SAMPLE_RATE // 4:
            text = " ".join(rng.choice(voice.words, size=int(rng.integers(7, 13))))
            wav = tmp / f"{voice.name}_{k}.wav"
            cmd = [exe, "-v", voice.voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap),
                   "-w", str(wav), text]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
            y, rate = sf.read(str(wav), dtype="float64", always_2d=True)
            y = _trim(soxr.resample(y.mean(axis=1), rate, SAMPLE_RATE, quality="HQ"))
            parts.append(np.concatenate([y, np.zeros(int(rng.integers(2400, 9600)))]))
            texts.append(text)
        x = np.concatenate(parts)
        start = int(rng.integers(0, min(x.size - n, SAMPLE_RATE // 4) + 1))
        clips.append(x[start:start + n])
        params.append({"source": f"espeak-ng -v {voice.voice}", "speed_wpm": speed, "pitch": pitch,
                       "word_gap_10ms": gap, "offset_s": round(start / SAMPLE_RATE, 3),
                       "text": " / ".join(texts)})
    return clips, params


# ---------------------------------------------------------------------------------------------
# ui_sounds: freedesktop theme sounds, mixed and pitch-shifted

def freedesktop_files() -> list[Path]:
    """The theme's distinct sound files: symbolic links (aliases of another file) are left out, and
    so are files the package's copyright file does not list (dialog-warning.oga) when it is there."""
    if not FREEDESKTOP_DIR.is_dir():
        return []
    licences = freedesktop_licences()
    return [p for p in sorted(FREEDESKTOP_DIR.glob("*.oga"))
            if not p.is_symlink() and not FREEDESKTOP_EXCLUDE.match(p.name)
            and (not licences or p.name in licences)]


def build_ui(count: int, clip_s: float, seed: int, tmp: Path):
    import soundfile as sf
    import soxr

    del tmp  # same signature as the other builders; no temporary files here

    rng = class_rng(seed, UI_CLASS)
    sounds = {}
    for path in freedesktop_files():
        y, rate = sf.read(str(path), dtype="float64", always_2d=True)
        sounds[path.name] = (y.mean(axis=1), int(rate))
    names = sorted(sounds)
    n = int(round(clip_s * SAMPLE_RATE))
    clips, params = [], []
    for _ in range(count):
        x = np.zeros(n)
        used, at = [], 0
        while at < n - SAMPLE_RATE // 10 and len(used) < 8:  # back to back, sometimes overlapping
            name = str(rng.choice(names))
            y, rate = sounds[name]
            semitones = float(rng.uniform(-5, 5))
            # played back faster/slower: as if it had been recorded at rate * 2^(s/12)
            y = soxr.resample(y, rate * 2 ** (semitones / 12), SAMPLE_RATE, quality="HQ")
            y = _trim(y, 0.01)
            offset = int(rng.integers(0, y.size - n // 2)) if y.size > n else 0
            y = y[offset:offset + n - at]
            peak = np.max(np.abs(y)) or 1.0
            x[at:at + y.size] += float(rng.uniform(0.4, 1.0)) * y / peak
            used.append({"file": name, "semitones": round(semitones, 2),
                         "at_s": round(at / SAMPLE_RATE, 3), "from_s": round(offset / SAMPLE_RATE, 3)})
            at += int(y.size * rng.uniform(0.6, 1.0)) + int(rng.integers(0, SAMPLE_RATE // 4))
        clips.append(x)
        params.append({"source": "sound-theme-freedesktop", "sounds": used})
    return clips, params


# ---------------------------------------------------------------------------------------------
# output

def finish(x: np.ndarray, rng) -> np.ndarray:
    """10 ms fade-out, peak-normalise to a random -9..-1 dBFS; error on a silent clip."""
    x = np.array(x, dtype=np.float64)
    fade = min(x.size, SAMPLE_RATE // 100)
    x[x.size - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak < 1e-4:
        raise RuntimeError("rendered a silent clip")
    return x * (10 ** (rng.uniform(-9, -1) / 20) / peak)


def build_class(name: str, out: Path, count: int, clip_s: float, seed: int) -> dict:
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix=f"rtst-labelled-{name}-") as tmp:
        inst = {i.name: i for i in INSTRUMENTS}.get(name)
        voice = {v.name: v for v in VOICES}.get(name)
        if inst is not None:
            clips, params = build_instrument(inst, count, clip_s, seed, Path(tmp))
        elif voice is not None:
            clips, params = build_voice(voice, count, clip_s, seed, Path(tmp))
        else:
            clips, params = build_ui(count, clip_s, seed, Path(tmp))
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{name}_*.wav"):
        stale.unlink()
    gain_rng = class_rng(seed + 1, name)
    rows = []
    for k, (clip, p) in enumerate(zip(clips, params)):
        path = folder / f"{name}_{k:03d}.wav"
        sf.write(str(path), finish(clip, gain_rng), SAMPLE_RATE, subtype="PCM_16")
        rows.append((name, f"{name}/{path.name}", p))
    return {"name": name, "clips": len(clips), "seconds": sum(c.size for c in clips) / SAMPLE_RATE,
            "rows": rows}


def _package_version(package: str) -> str:
    exe = shutil.which("dpkg-query")
    if exe is None:
        return "version unknown"
    proc = subprocess.run([exe, "-W", "-f=${Version}", package], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "version unknown"


def freedesktop_licences() -> dict[str, tuple[str, str]]:
    """file name -> (copyright holder, licence) from the package's DEP-5 copyright file."""
    result = {}
    if not FREEDESKTOP_COPYRIGHT.is_file():
        return result
    for stanza in re.split(r"\n\s*\n", FREEDESKTOP_COPYRIGHT.read_text(errors="replace")):
        fields = dict(re.findall(r"^(Files|Copyright|License):[ \t]*(.*(?:\n[ \t]+\S.*)*)",
                                 stanza, flags=re.M))
        if "Files" in fields:
            holder = " ".join(fields.get("Copyright", "").split())
            licence = fields.get("License", "").split("\n")[0].strip()
            for pattern in fields["Files"].split():
                result[Path(pattern).name] = (holder, licence)
    return result


def sources_md(names: list[str]) -> str:
    lines = ["# Sources of this labelled set", "",
             "Made by `tools/make_labelled_set.py` (rtst): 48 kHz mono 16-bit PCM WAV clips, each "
             "peak-normalised to a random level between -9 and -1 dBFS. `manifest.csv` lists how "
             "every clip was made (seed, parameters, text, files).", "",
             "| class | made from | Debian package (version) | licence of the material |",
             "|---|---|---|---|"]
    sf_version = _package_version("fluid-soundfont-gm")
    fs_version = _package_version("fluidsynth")
    for name in names:
        inst = {i.name: i for i in INSTRUMENTS}.get(name)
        voice = {v.name: v for v in VOICES}.get(name)
        if inst is not None:
            lines.append(f"| {name} | random notes (this script, seeded) on GM program {inst.program} "
                         f"*{inst.gm_name}*, rendered by fluidsynth with FluidR3_GM.sf2 | "
                         f"fluid-soundfont-gm ({sf_version}); fluidsynth ({fs_version}) | "
                         "MIT (FluidR3_GM, Frank Wen et al.) |")
        elif voice is not None:
            lines.append(f"| {name} | generated by espeak-ng: {voice.description}, random words "
                         f"(this script, seeded) | espeak-ng ({_package_version('espeak-ng')}) | "
                         "generated by espeak-ng (the program is GPL-3+; its speech output is not "
                         "covered by the program's licence) |")
        else:
            lines.append(f"| {name} | sound-theme-freedesktop sounds (list below), mixed and "
                         "pitch-shifted by this script | sound-theme-freedesktop "
                         f"({_package_version('sound-theme-freedesktop')}) | per file, below "
                         "(CC-BY-3.0, CC-BY-SA-3.0, GPL-2, GPL-2+) |")
    if UI_CLASS in names:
        licences = freedesktop_licences()
        lines += ["", f"## {UI_CLASS}: files used (from {FREEDESKTOP_DIR})", "",
                  "Licences from /usr/share/doc/sound-theme-freedesktop/copyright. The clips are "
                  "adaptations (mixed, resampled, cut): attribution and share-alike terms apply.", "",
                  "| file | copyright | licence |", "|---|---|---|"]
        for path in freedesktop_files():
            holder, licence = licences.get(path.name, ("(copyright file missing)", "unknown"))
            lines.append(f"| {path.name} | {holder} | {licence} |")
    lines += ["", "The MIDI notes, word lists and mixing choices are made by the script itself "
              "(rtst's licence)."]
    return "\n".join(lines) + "\n"


def write_records(out: Path, results: list[dict], seed: int) -> None:
    """(Re)write OUT/manifest.csv and OUT/SOURCES.md for every class folder in OUT: rows of classes
    not rebuilt in this run are kept from the previous manifest."""
    rebuilt = {r["name"] for r in results}
    present = [c for c in class_names() if any((out / c).glob(f"{c}_*.wav"))]
    rows = []
    manifest = out / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as fh:
            rows = [row for row in csv.DictReader(fh)
                    if row.get("class") in present and row.get("class") not in rebuilt]
    for result in results:
        rows += [{"class": name, "file": file, "seed": seed,
                  "details": json.dumps(params, ensure_ascii=False)}
                 for name, file, params in result["rows"]]
    rows.sort(key=lambda row: (present.index(row["class"]), row["file"]))
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["class", "file", "seed", "details"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (out / "SOURCES.md").write_text(sources_md(present))


def missing_requirements(names: list[str]) -> list[str]:
    missing = []
    if any(n in {i.name for i in INSTRUMENTS} for n in names):
        missing += midi_render.missing_tools()
    if any(n in {v.name for v in VOICES} for n in names) and shutil.which("espeak-ng") is None:
        missing.append("espeak-ng (Debian package espeak-ng)")
    if UI_CLASS in names and not freedesktop_files():
        missing.append(f"{FREEDESKTOP_DIR}/*.oga (Debian package sound-theme-freedesktop)")
    return missing


def _fail(message: str) -> None:
    print(f"make_labelled_set.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output folder (created); required unless --list")
    parser.add_argument("--per-class", type=int, default=40, help="clips per class (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--clip-seconds", type=float, default=2.0, help="clip length (default 2)")
    parser.add_argument("--classes", nargs="+", default=None, metavar="NAME",
                        help="only these classes (space- or comma-separated); default: all")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="classes built in parallel (default min(4, CPUs))")
    parser.add_argument("--list", action="store_true", help="print the class names and exit")
    args = parser.parse_args(argv)

    every = class_names()
    if args.list:
        print("\n".join(every))
        return 0
    if args.out is None:
        _fail("--out DIR is required")
    if args.per_class < 1 or args.clip_seconds <= 0 or args.jobs < 1:
        _fail("--per-class and --jobs must be >= 1, --clip-seconds > 0")
    if args.classes:
        wanted = [c for item in args.classes for c in item.split(",") if c]
        unknown = [c for c in wanted if c not in every]
        if unknown:
            _fail(f"unknown class(es) {', '.join(unknown)}; known: {', '.join(every)}")
        names = [c for c in every if c in wanted]
    else:
        names = every
    missing = missing_requirements(names)
    if missing:
        _fail("missing " + "; ".join(missing) + " (install it, or leave its classes out with --classes)")

    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    # instruments (one fluidsynth render each) come first in class order
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(build_class, name, args.out, args.per_class, args.clip_seconds, args.seed)
                   for name in names]
        results = [f.result() for f in futures]
    write_records(args.out, results, args.seed)
    wall = time.perf_counter() - start

    for result in results:
        print(f"{result['name']:<18} {result['clips']:4d} clips  {result['seconds']:7.1f} s")
    clips = sum(r["clips"] for r in results)
    seconds = sum(r["seconds"] for r in results)
    print(f"{len(results)} classes, {clips} clips, {seconds:.0f} s of audio, "
          f"{_dir_bytes(args.out) / 1e6:.1f} MB in {args.out}, wall time {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

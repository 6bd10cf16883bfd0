#!/usr/bin/env python3
"""Build the content corpus the real-time (streaming) student is distilled on.

    python tools/make_corpus.py --out DIR [--minutes 20] [--seed 0] [--jobs N]

writes 48 kHz mono 16-bit PCM WAV clips of 4-8 s, each peak-normalised to a random level between
-12 and -1 dBFS (10 ms fades at both ends):

    DIR/train/*.wav      about --minutes of audio (default 20)
    DIR/heldout/*.wav    about 10 % of that (at least one clip of every kind)
    DIR/SOURCES.md       every source: Debian package, version (dpkg-query), licence
    DIR/manifest.csv     file, split, kind, source, details (JSON)

Content kinds (train shares ~20 % espeak, ~20 % festival speech, ~30 % MIDI music, ~30 % melodies):

* ``espeak``  espeak-ng speaking sentences generated from word lists (seeded), speed and pitch vary;
* ``festival`` festival's recorded-diphone voices (ked US male, lp Italian female, pc Italian
              male; train only) reading generated sentences, played 0.8-1.25x speed;
* ``midi``    OpenMSX MIDI files (openttd-openmsx) rendered by fluidsynth with FluidR3_GM
              (``rtst/testing/midi.py``), cut into segments, silent segments skipped;
* ``melody``  melodies on sampled GM instruments (sung-like and solo instruments), notes drawn by
              ``tools/make_labelled_set.py`` (``instrument_clip``), written and rendered by
              ``rtst/testing/midi.py``;
* ``alsa``    alsa-utils' recorded channel announcements (heldout only).

Split rules: held-out content is kept apart from training content BY SOURCE, and the split is fixed
(it does not depend on ``--seed``); the ``source`` column of manifest.csv names it:

* espeak voices: heldout ``en-gb+m3`` and ``it``; every other voice (``TRAIN_VOICES``) train only;
* MIDI files: heldout ``busy_schedule.mid`` (the benchmark's music), ``harp_harmony.mid`` and
  ``city_blues_redfarn.mid`` (in that order, as many as needed); all other OpenMSX files train
  only (a seeded choice of as many as --minutes needs);
* GM programs: heldout 53 Voice Oohs, 68 Oboe, 66 Tenor Sax; train 52 Choir Aahs, 54 Synth Voice,
  40 Violin, 41 Viola, 73 Flute, 56 Trumpet, 71 Clarinet, 65 Alto Sax;
* alsa-utils speech: heldout only.

The teacher benchmark's content clips (``rtst/testing/clips.py``) never reach training, and
the held-out set does not repeat them either: the alsa files it uses (Front_*) are left out here
(Rear_* and Side_* are used), the 4 s of busy_schedule.mid it takes (the busiest window) is skipped
(+-0.5 s), and its espeak sentence and default voice are not used.

Needs the Debian packages espeak-ng, fluidsynth, fluid-soundfont-gm, openttd-openmsx and
alsa-utils; a missing one, or a bad argument, is a one-line error with exit status 2. The default
run takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


from rtst.testing import labelled as mls
from rtst.testing import midi as midi_render
from rtst.testing import signals

SAMPLE_RATE = 48000
MIN_S, MAX_S = 4.0, 8.0
LEVEL_DB = (-12.0, -1.0)
HELDOUT_FRACTION = 0.1
SHARES = (("espeak", 0.2), ("festival", 0.2), ("midi", 0.3), ("melody", 0.3))
MIDI_DIR = Path("/usr/share/games/openttd/baseset/openmsx")
ALSA_DIR = Path("/usr/share/sounds/alsa")
ALSA_HELDOUT = ("Rear_Center.wav", "Rear_Left.wav", "Rear_Right.wav", "Side_Left.wav",
                "Side_Right.wav")
SEGMENTS_PER_MIDI = 6       # at most this many segments from one MIDI file
BENCH_WINDOW_S = 4.0        # teacher_clips.music_content: the busiest 4 s of busy_schedule.mid

TRAIN_VOICES = ("en-us", "en-us+f3", "en-us+m7", "en-gb-x-rp+f2", "de", "de+f4", "fr-fr",
                "fr-fr+m3", "es", "es+f3", "nl", "pt-br+f2")
HELDOUT_VOICES = ("en-gb+m3", "it")
# festival's recorded-diphone voices (voice, language): training only. Its kal (US male) and
# cmu_us_slt (US female) voices are the quality panel's (rtst/testing/panel.py) and never
# reach any corpus.
FESTIVAL_VOICES = (("voice_ked_diphone", "en"), ("voice_lp_diphone", "it"), ("voice_pc_diphone", "it"))
#: Festival clips are played back this much faster or slower (pitch and formants move together,
#: as from a smaller or larger speaker): the diphone voices have one speaker's range each.
FESTIVAL_SPEED = (0.8, 1.25)
HELDOUT_MIDI = (signals.MIDI_PREFERRED, "harp_harmony.mid", "city_blues_redfarn.mid")
# (program, GM name, low, high, textures): sung-like voices and solo instruments
TRAIN_PROGRAMS = ((52, "Choir Aahs", 48, 79, ("mono", "pad")), (54, "Synth Voice", 48, 79, ("mono",)),
                  (40, "Violin", 55, 96, ("mono",)), (41, "Viola", 48, 84, ("mono",)),
                  (73, "Flute", 60, 96, ("mono",)), (56, "Trumpet", 54, 82, ("mono",)),
                  (71, "Clarinet", 50, 89, ("mono",)), (65, "Alto Sax", 49, 81, ("mono",)))
HELDOUT_PROGRAMS = ((53, "Voice Oohs", 48, 79, ("mono", "pad")), (68, "Oboe", 58, 91, ("mono",)),
                    (66, "Tenor Sax", 44, 76, ("mono",)))

EN = {"det": ("the", "a", "every", "that", "my", "our", "one"),
      "adj": ("quiet", "bright", "little", "yellow", "silver", "happy", "simple", "old", "tired",
              "clever", "green", "heavy", "gentle"),
      "noun": ("river", "garden", "window", "market", "teacher", "train", "kitchen", "letter",
               "rabbit", "mountain", "singer", "doctor", "basket", "bicycle", "city", "storm"),
      "verb": ("carries", "finds", "watches", "follows", "remembers", "paints", "opens", "misses",
               "answers", "visits", "builds", "hears"),
      "adv": ("slowly", "today", "again", "tomorrow", "at night", "every morning", "quietly",
              "after lunch", "before the rain"),
      "prep": ("near", "under", "behind", "across", "beside", "inside")}
WORDS = {"de": mls.WORDS_DE, "fr": mls.WORDS_FR, "en": mls.WORDS_EN,
         "es": ("el", "la", "los", "y", "río", "piedra", "tranquilo", "puente", "siete", "claro",
                "mañana", "jardín", "sobre", "bajo", "amarillo", "ventana", "gente", "pequeño",
                "mercado", "después", "agua", "montaña", "carta", "verano", "invierno", "escuchar",
                "mesa", "música", "bosque", "tren", "estación", "feliz", "despacio", "café", "noche",
                "ciudad", "norte", "respuesta", "ayer", "cocina"),
         "it": ("il", "la", "gli", "e", "fiume", "pietra", "tranquillo", "ponte", "sette", "chiaro",
                "mattina", "giardino", "sopra", "sotto", "giallo", "finestra", "gente", "piccolo",
                "mercato", "dopo", "acqua", "montagna", "lettera", "estate", "inverno", "ascoltare",
                "tavolo", "musica", "bosco", "treno", "stazione", "felice", "piano", "caffè", "sera",
                "città", "nord", "risposta", "ieri", "cucina"),
         "nl": ("de", "het", "een", "en", "rivier", "steen", "stil", "brug", "zeven", "helder",
                "ochtend", "tuin", "over", "onder", "geel", "raam", "mensen", "klein", "markt", "na",
                "water", "berg", "brief", "zomer", "winter", "luisteren", "tafel", "muziek", "bos",
                "trein", "station", "blij", "langzaam", "koffie", "avond", "stad", "antwoord"),
         "pt": ("o", "a", "os", "e", "rio", "pedra", "calmo", "ponte", "sete", "claro", "manhã",
                "jardim", "sobre", "sob", "amarelo", "janela", "gente", "pequeno", "mercado",
                "depois", "água", "montanha", "carta", "verão", "inverno", "ouvir", "mesa", "música",
                "floresta", "trem", "estação", "feliz", "devagar", "café", "noite", "cidade")}


def _fail(message: str) -> None:
    print(f"make_corpus.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _lengths(rng, total_s: float, minimum: int = 1) -> list[float]:
    """Clip lengths (4-8 s) adding up to about ``total_s``; at least ``minimum`` clips."""
    count = max(minimum, int(round(total_s / ((MIN_S + MAX_S) / 2))))
    return [float(rng.uniform(MIN_S, MAX_S)) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# espeak-ng

def sentence(rng, lang: str) -> str:
    """One sentence: English from templates, other languages from random words with punctuation."""
    pick = lambda key: str(rng.choice(EN[key]))  # noqa: E731
    if lang == "en":
        subject = f"{pick('det')} {pick('adj')} {pick('noun')}" if rng.random() < 0.6 \
            else f"{pick('det')} {pick('noun')}"
        form = int(rng.integers(4))
        if form == 0:
            text = f"{subject} {pick('verb')} {pick('det')} {pick('noun')} {pick('adv')}."
        elif form == 1:
            text = f"{subject} {pick('verb')} the {pick('noun')} {pick('prep')} the {pick('noun')}."
        elif form == 2:
            text = f"why {pick('verb')} {subject} the {pick('adj')} {pick('noun')} {pick('adv')}?"
        else:
            text = f"{pick('adv')}, {subject} {pick('verb')} {pick('det')} {pick('noun')}!"
        return text[0].upper() + text[1:]
    words = [str(w) for w in rng.choice(WORDS[lang], size=int(rng.integers(4, 10)))]
    if len(words) > 5 and rng.random() < 0.5:
        words[int(rng.integers(2, len(words) - 2))] += ","
    text = " ".join(words) + str(rng.choice([".", ".", "?", "!"]))
    return text[0].upper() + text[1:]


def espeak_clip(voice: str, length_s: float, rng, tmp: Path) -> tuple[np.ndarray, dict]:
    import soundfile as sf
    import soxr

    lang = voice.split("+")[0].split("-")[0]
    speed, pitch = int(rng.integers(120, 221)), int(rng.integers(20, 81))
    words_needed = length_s * speed / 60 * 1.4
    texts = []
    while sum(len(t.split()) for t in texts) < words_needed:
        texts.append(sentence(rng, lang))
    text = " ".join(texts)
    wav = tmp / f"espeak_{rng.integers(1 << 62)}.wav"
    proc = subprocess.run([shutil.which("espeak-ng"), "-v", voice, "-s", str(speed), "-p", str(pitch),
                           "-w", str(wav), text], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    y, rate = sf.read(str(wav), dtype="float64", always_2d=True)
    y = mls._trim(soxr.resample(y.mean(axis=1), rate, SAMPLE_RATE, quality="HQ"))
    return y[:int(length_s * SAMPLE_RATE)], {"speed_wpm": speed, "pitch": pitch, "text": text}


def festival_clip(voice: str, lang: str, length_s: float, rng, tmp: Path) -> tuple[np.ndarray, dict]:
    """Festival (text2wave) reading generated sentences, resampled by a random speed factor."""
    import unicodedata

    import soundfile as sf
    import soxr

    texts = []
    while sum(len(t.split()) for t in texts) < length_s * 3.2:
        texts.append(sentence(rng, lang))
    # festival's Italian letter-to-sound rules know ASCII only
    text = unicodedata.normalize("NFKD", " ".join(texts)).encode("ascii", "ignore").decode()
    wav = tmp / f"festival_{rng.integers(1 << 62)}.wav"
    proc = subprocess.run([shutil.which("text2wave"), "-eval", f"({voice})", "-o", str(wav)], input=text,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not wav.is_file():
        raise RuntimeError(f"text2wave failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    y, rate = sf.read(str(wav), dtype="float64", always_2d=True)
    speed = float(rng.uniform(*FESTIVAL_SPEED))
    y = mls._trim(soxr.resample(y.mean(axis=1), rate * speed, SAMPLE_RATE, quality="HQ"))
    return y[:int(length_s * SAMPLE_RATE)], {"speed": round(speed, 3), "text": text}


# ---------------------------------------------------------------------------------------------
# OpenMSX MIDI files

def midi_segments(path: Path, count: int, rng, tmp: Path) -> list[tuple[np.ndarray, dict]]:
    """Render one file, cut it into consecutive 4-8 s segments, skip silent ones (and, for the
    benchmark's file, its benchmark window), keep ``count`` of them at random."""
    x = midi_render.render(path, tmp / f"{path.stem}.wav", file_format="float")
    skip = None
    if path.name == signals.MIDI_PREFERRED:
        start = signals._busiest(x, int(BENCH_WINDOW_S * SAMPLE_RATE), SAMPLE_RATE // 2)
        skip = (start - SAMPLE_RATE // 2, start + int((BENCH_WINDOW_S + 0.5) * SAMPLE_RATE))
    peak = np.max(np.abs(x)) or 1.0
    cuts, at = [], int(rng.integers(0, SAMPLE_RATE))
    while True:
        n = int(rng.uniform(MIN_S, MAX_S) * SAMPLE_RATE)
        if at + n > x.size:
            break
        seg = x[at:at + n]
        frames = seg[:seg.size // 4800 * 4800].reshape(-1, 4800)   # 100 ms frames
        active = np.mean(np.sqrt(np.mean(frames ** 2, axis=1)) > 0.01 * peak)
        if active > 0.8 and not (skip and at < skip[1] and at + n > skip[0]):
            cuts.append((at, n))
        at += n
    chosen = sorted(rng.choice(len(cuts), size=min(count, len(cuts)), replace=False)) if cuts else []
    return [(x[cuts[k][0]:sum(cuts[k])], {"from_s": round(cuts[k][0] / SAMPLE_RATE, 2)})
            for k in chosen]


# ---------------------------------------------------------------------------------------------
# GM melodies

def melody_clips(program: tuple, lengths: list[float], rng, tmp: Path) -> list[tuple[np.ndarray, dict]]:
    """All clips of one GM program from one MIDI file and one render (1 s gaps, as in
    make_labelled_set.build_instrument), notes from make_labelled_set.instrument_clip."""
    prog, gm_name, low, high, textures = program
    inst = mls.Instrument(f"gm{prog}", prog, gm_name, low, high, textures)
    events, params, starts, t0 = [], [], [], 0.0
    for length in lengths:
        notes, p = mls.instrument_clip(rng, inst, length)
        reverb, expression = int(rng.integers(10, 71)), int(rng.integers(90, 128))
        p.update(reverb_send=reverb, expression=expression)
        events += [(t0, midi_render.program_change(0, prog)),
                   (t0, midi_render.control_change(0, 11, expression)),
                   (t0, midi_render.control_change(0, 91, reverb)),
                   (t0 + length + 0.5 * mls.GAP_S, midi_render.control_change(0, 120, 0))]
        events += midi_render.notes_to_events([n._replace(start_s=n.start_s + t0) for n in notes])
        params.append(p)
        starts.append(t0)
        t0 += length + mls.GAP_S
    mid = midi_render.write_midi(tmp / f"gm{prog}.mid", events, end_s=t0)
    x = midi_render.render(mid, tmp / f"gm{prog}.wav", file_format="float")
    out = []
    for start, length, p in zip(starts, lengths, params):
        a = int(round(start * SAMPLE_RATE))
        out.append((mls._trim(x[a:a + int(length * SAMPLE_RATE)], 0.005), p))
    return out


# ---------------------------------------------------------------------------------------------
# alsa-utils speech

def alsa_clips(rng) -> list[tuple[np.ndarray, dict]]:
    """The announcements back to back in a random order (0.2-0.5 s pauses), two clips."""
    import soundfile as sf

    names = [str(n) for n in rng.permutation(ALSA_HELDOUT)]
    out = []
    for group in (names[:3], names[3:]):
        parts = []
        for name in group:
            y, _ = sf.read(str(ALSA_DIR / name), dtype="float64", always_2d=True)
            parts += [mls._trim(y.mean(axis=1)), np.zeros(int(rng.uniform(0.2, 0.5) * SAMPLE_RATE))]
        out.append((np.concatenate(parts[:-1]), {"files": group}))
    return out


# ---------------------------------------------------------------------------------------------

def finish(x: np.ndarray, rng) -> np.ndarray:
    """10 ms fades, peak-normalised to a random level in LEVEL_DB."""
    x = np.array(x, dtype=np.float64)
    fade = min(x.size // 2, SAMPLE_RATE // 100)
    x[:fade] *= np.linspace(0.0, 1.0, fade)
    x[x.size - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak < 1e-4:
        raise RuntimeError("a silent clip")
    return x * (10 ** (rng.uniform(*LEVEL_DB) / 20) / peak)


def plan(split: str, total_s: float, seed: int) -> list[tuple]:
    """Jobs ``(kind, source, callable(tmp) -> [(signal, details)])`` for one split."""
    rng = mls.class_rng(seed, f"plan-{split}")
    heldout = split == "heldout"
    share = dict(SHARES)
    jobs = []
    # MIDI: whole files, SEGMENTS_PER_MIDI segments each (the benchmark's file first in heldout)
    segments = len(_lengths(rng, share["midi"] * total_s))
    files = sorted(p.name for p in MIDI_DIR.glob("*.mid"))
    if heldout:
        names = list(HELDOUT_MIDI)
    else:
        names = [str(n) for n in rng.permutation([f for f in files if f not in HELDOUT_MIDI])]
    names = names[:max(1, -(-segments // SEGMENTS_PER_MIDI))]
    for k, name in enumerate(names):
        count = min(SEGMENTS_PER_MIDI, segments - k * SEGMENTS_PER_MIDI) if k else \
            min(SEGMENTS_PER_MIDI, segments)
        jobs.append(("midi", name, lambda tmp, name=name, count=max(1, count):
                     midi_segments(MIDI_DIR / name, count, mls.class_rng(seed, name), tmp)))
    # melodies: clips spread over the programs, one render per program
    programs = HELDOUT_PROGRAMS if heldout else TRAIN_PROGRAMS
    by_program = {}
    for k, length in enumerate(_lengths(rng, share["melody"] * total_s)):
        by_program.setdefault(programs[k % len(programs)], []).append(length)
    for program, lengths in by_program.items():
        jobs.append(("melody", f"gm{program[0]} {program[1]}", lambda tmp, p=program, ls=lengths:
                     melody_clips(p, ls, mls.class_rng(seed, f"gm{p[0]}"), tmp)))
    # espeak: one call per clip, voices in turn
    voices = HELDOUT_VOICES if heldout else TRAIN_VOICES
    for k, length in enumerate(_lengths(rng, share["espeak"] * total_s)):
        voice = voices[k % len(voices)]
        jobs.append(("espeak", voice, lambda tmp, v=voice, n=length, k=k:
                     [espeak_clip(v, n, mls.class_rng(seed, f"espeak-{split}-{k}"), tmp)]))
    if not heldout:
        for k, length in enumerate(_lengths(rng, share["festival"] * total_s)):
            voice, lang = FESTIVAL_VOICES[k % len(FESTIVAL_VOICES)]
            jobs.append(("festival", voice, lambda tmp, v=voice, lg=lang, n=length, k=k:
                         [festival_clip(v, lg, n, mls.class_rng(seed, f"festival-{k}"), tmp)]))
    if heldout:
        jobs.append(("alsa", "alsa-utils", lambda tmp: alsa_clips(mls.class_rng(seed, "alsa"))))
    return jobs


def sources_md(rows: list[dict]) -> str:
    version = mls._package_version
    used = {}
    for row in rows:
        used.setdefault((row["kind"], row["split"]), set()).add(row["source"])

    def listed(kind):
        return "; ".join(f"{split}: " + ", ".join(sorted(used.get((kind, split), ())))
                         for split in ("train", "heldout") if used.get((kind, split)))

    fluid = (f"fluidsynth ({version('fluidsynth')}); fluid-soundfont-gm "
             f"({version('fluid-soundfont-gm')})")
    lines = ["# Sources of this content corpus", "",
             "Made by `tools/make_corpus.py` (rtst): 48 kHz mono 16-bit PCM WAV clips of 4-8 s, each "
             "peak-normalised to a random level between -12 and -1 dBFS. `manifest.csv` lists how "
             "every clip was made. Held-out and training content never share a source (voice, "
             "MIDI file, GM program); see the script's docstring for the split rules.", "",
             "| kind | made from (sources per split) | Debian package (version) | licence |",
             "|---|---|---|---|",
             f"| espeak | espeak-ng voices speaking generated sentences ({listed('espeak')}) | "
             f"espeak-ng ({version('espeak-ng')}) | generated by espeak-ng (the program is GPL-3+; "
             "its speech output is not covered by the program's licence) |",
             f"| festival | festival's recorded-diphone voices reading generated sentences, played "
             f"{FESTIVAL_SPEED[0]}-{FESTIVAL_SPEED[1]}x speed ({listed('festival')}) | festival "
             f"({version('festival')}); festvox-kdlpc16k ({version('festvox-kdlpc16k')}); festvox-italp16k, "
             f"festvox-itapc16k ({version('festvox-italp16k')}) | festival and the ked voice: CSTR / "
             "CMU free licence (use, modify, redistribute); lp and pc voices: IFM / ISTC-CNR, "
             "see /usr/share/doc/festvox-italp16k/copyright |",
             f"| midi | OpenMSX MIDI files from {MIDI_DIR} ({listed('midi')}), rendered by fluidsynth "
             f"with FluidR3_GM.sf2 | openttd-openmsx ({version('openttd-openmsx')}); {fluid} | "
             f"GPL-2 (OpenMSX, {MIDI_DIR}/license.txt); MIT (FluidR3_GM, Frank Wen et al.) |",
             f"| melody | random melodies (this script, seeded) on GM programs ({listed('melody')}), "
             f"rendered by fluidsynth with FluidR3_GM.sf2 | {fluid} | MIT (FluidR3_GM, "
             "Frank Wen et al.) |",
             f"| alsa | recorded speech {', '.join(ALSA_HELDOUT)} from {ALSA_DIR} (heldout) | "
             f"alsa-utils ({version('alsa-utils')}) | GPL-2 (/usr/share/doc/alsa-utils/copyright, "
             "Files: *) |", "",
             "Sentences, word lists, melodies and mixing choices are made by the script itself "
             "(rtst's licence)."]
    return "\n".join(lines) + "\n"


def missing_requirements() -> list[str]:
    missing = midi_render.missing_tools()
    if shutil.which("text2wave") is None or not all(
            any(Path("/usr/share/festival/voices").glob(f"*/{v[len('voice_'):]}")) for v, _ in FESTIVAL_VOICES):
        missing.append("festival and its voices (Debian packages festival festvox-kdlpc16k festvox-italp16k "
                       "festvox-itapc16k)")
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng (Debian package espeak-ng)")
    if not (MIDI_DIR / signals.MIDI_PREFERRED).is_file():
        missing.append(f"{MIDI_DIR}/*.mid (Debian package openttd-openmsx)")
    if not all((ALSA_DIR / n).is_file() for n in ALSA_HELDOUT):
        missing.append(f"{ALSA_DIR}/*.wav (Debian package alsa-utils)")
    return missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--minutes", type=float, default=20.0,
                        help="approximate training audio in minutes (default 20); heldout ~10%%")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="renders/espeak calls in parallel (default min(4, CPUs))")
    parser.error = _fail            # one line on stderr, exit status 2 (instead of usage + message)
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 600 or args.jobs < 1:
        _fail("--minutes must be in (0, 600] and --jobs >= 1")
    missing = missing_requirements()
    if missing:
        _fail("missing " + "; ".join(missing))

    start = time.perf_counter()
    total = {"train": args.minutes * 60, "heldout": args.minutes * 60 * HELDOUT_FRACTION}
    jobs = [(split, *job) for split in ("train", "heldout") for job in plan(split, total[split], args.seed)]
    jobs.sort(key=lambda j: j[1] != "midi")   # long renders first
    rows = []
    with tempfile.TemporaryDirectory(prefix="rtst-corpus-") as tmp, \
            ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(fn, Path(tmp)) for _, _, _, fn in jobs]
        for split in ("train", "heldout"):
            folder = args.out / split
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob("*.wav"):
                stale.unlink()
        import soundfile as sf

        counters = {}
        for (split, kind, source, _), future in zip(jobs, futures):
            for x, details in future.result():
                if x.size < SAMPLE_RATE:      # nothing usable (e.g. a very short trim)
                    continue
                k = counters[split] = counters.get(split, 0) + 1
                name = f"{split}/{kind}_{k:04d}.wav"
                y = finish(x, mls.class_rng(args.seed, name))
                sf.write(str(args.out / name), y, SAMPLE_RATE, subtype="PCM_16")
                rows.append({"file": name, "split": split, "kind": kind, "source": source,
                             "seconds": round(y.size / SAMPLE_RATE, 2),
                             "details": json.dumps(details, ensure_ascii=False)})
    with open(args.out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["file", "split", "kind", "source", "seconds", "details"])
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "SOURCES.md").write_text(sources_md(rows))
    for split in ("train", "heldout"):
        mine = [r for r in rows if r["split"] == split]
        print(f"{split:<8} {len(mine):4d} clips {sum(r['seconds'] for r in mine) / 60:6.1f} min  " +
              ", ".join(f"{kind} {sum(r['seconds'] for r in mine if r['kind'] == kind):.0f} s"
                        for kind in ("espeak", "festival", "midi", "melody", "alsa")))
    print(f"wall time {time.perf_counter() - start:.1f} s, output in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

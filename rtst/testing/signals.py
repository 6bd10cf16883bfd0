"""Test clips for the phase-reconstruction benchmark: 48 kHz mono float64, peak 0.5, ~4-6 s each.

One function per signal class; each returns ``(name, signal, source_description)``, or ``None`` when
the class cannot be built here (a note is printed). Real recordings and renders come from Debian
packages when they are installed (this module installs nothing):

* ``speech``      alsa-utils' recorded speech (/usr/share/sounds/alsa/*.wav)
* ``speech_tts``  an espeak-ng rendering of an English sentence (espeak-ng)
* ``music``       an OpenMSX MIDI file (openttd-openmsx) rendered by fluidsynth with FluidR3_GM
                  (fluidsynth, fluid-soundfont-gm); synthetic chords if any of these is missing
* ``transients``  synthetic noise bursts (sharp onsets, 5-50 ms decays) and clicks
* ``tone``        synthetic harmonic tone, f0 220 Hz, 10 harmonics (1/h), 5.5 Hz vibrato of +-3 %

Renders are cached under ``$RTST_BENCH_CACHE`` (default: ``<tempdir>/rtst-bench-cache``), outside
the repository.

    python -m rtst.testing.signals [--write DIR]    # list the clips (and write them as WAV)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SAMPLE_RATE = 48000
PEAK = 0.5

ALSA_DIR = Path("/usr/share/sounds/alsa")
ALSA_SPEECH = ["Front_Center.wav", "Front_Left.wav", "Front_Right.wav"]
TTS_SENTENCE = ("The quick brown fox jumps over the lazy dog, while seven bold sailors "
                "sing softly by the shore.")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MIDI_DIR = Path("/usr/share/games/openttd")
MIDI_PREFERRED = "busy_schedule.mid"

__all__ = ["SAMPLE_RATE", "speech", "speech_tts", "music", "transients", "tone", "all_clips",
           "cache_dir"]


def cache_dir() -> Path:
    """Folder for rendered files (created on demand, never inside the repository)."""
    path = Path(os.environ.get("RTST_BENCH_CACHE", Path(tempfile.gettempdir()) / "rtst-bench-cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    peak = np.max(np.abs(x))
    return x * (PEAK / peak) if peak > 0 else x


def _read_mono(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    x, sample_rate = sf.read(str(path), dtype="float64", always_2d=True)
    return x.mean(axis=1), int(sample_rate)


def _to_rate(x: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == SAMPLE_RATE:
        return x
    import soxr

    return soxr.resample(x, sample_rate, SAMPLE_RATE, quality="VHQ")


def _trim_silence(x: np.ndarray, threshold: float = 0.01, pad_s: float = 0.05) -> np.ndarray:
    """Drop leading and trailing samples below ``threshold`` x peak, keeping ``pad_s`` around."""
    loud = np.flatnonzero(np.abs(x) > threshold * np.max(np.abs(x)))
    if loud.size == 0:
        return x
    pad = int(pad_s * SAMPLE_RATE)
    return x[max(0, loud[0] - pad):loud[-1] + pad]


def _note(msg: str) -> None:
    print(f"note: {msg}")


def speech(seconds: float = 4.5):
    """Recorded speech: alsa-utils' channel announcements, trimmed and concatenated."""
    paths = [ALSA_DIR / name for name in ALSA_SPEECH]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        _note(f"speech skipped: {', '.join(missing)} missing (Debian package alsa-utils)")
        return None
    parts = [_trim_silence(_to_rate(*_read_mono(p))) for p in paths]
    x = np.concatenate(parts)[:int(seconds * SAMPLE_RATE)]
    desc = ("recorded speech, alsa-utils " + " + ".join(ALSA_SPEECH) + " (48 kHz, edges trimmed)")
    return "speech", _normalise(x), desc


def speech_tts(seconds: float = 5.0):
    """Synthetic speech: espeak-ng speaking an English sentence, resampled to 48 kHz (soxr VHQ)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        _note("speech_tts skipped: espeak-ng not installed (Debian package espeak-ng)")
        return None
    path = cache_dir() / "espeak_sentence.wav"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run([exe, "-w", str(tmp), TTS_SENTENCE], check=True, capture_output=True)
        tmp.replace(path)
    x, sample_rate = _read_mono(path)
    x = _trim_silence(_to_rate(x, sample_rate))[:int(seconds * SAMPLE_RATE)]
    desc = f"espeak-ng ({sample_rate} Hz -> 48 kHz, soxr VHQ): {TTS_SENTENCE!r}"
    return "speech_tts", _normalise(x), desc


def _find_midi() -> Path | None:
    if not MIDI_DIR.is_dir():
        return None
    found = sorted(MIDI_DIR.rglob("*.mid"))
    preferred = [p for p in found if p.name == MIDI_PREFERRED]
    return (preferred or found or [None])[0]


def _busiest(x: np.ndarray, length: int, step: int) -> int:
    """Start of the ``length``-sample window with the most energy."""
    if x.size <= length:
        return 0
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, x.size - length + 1, step)
    return int(starts[np.argmax(energy[starts + length] - energy[starts])])


def _synthetic_music(seconds: float) -> np.ndarray:
    """Chords of harmonic tones with plucked (decaying) envelopes."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    x = np.zeros(n)
    chords = [[220.0, 277.18, 329.63], [196.0, 246.94, 293.66], [174.61, 220.0, 261.63],
              [164.81, 207.65, 246.94, 329.63]]
    bar = seconds / len(chords)
    for c, freqs in enumerate(chords):
        for i, f0 in enumerate(freqs):
            onset = c * bar + 0.06 * i  # a strummed chord
            env = np.where(t >= onset, np.exp(-(t - onset) / 0.6), 0.0)
            for h in range(1, 9):
                if h * f0 < SAMPLE_RATE / 2:
                    x += env * np.sin(2 * np.pi * h * f0 * (t - onset)) / h**1.5
        bass = c * bar
        env = np.where(t >= bass, np.exp(-(t - bass) / 1.2), 0.0)
        x += 1.5 * env * np.sin(2 * np.pi * freqs[0] / 2 * (t - bass))
    return x


def music(seconds: float = 5.0):
    """Rendered MIDI (OpenMSX through fluidsynth + FluidR3_GM), the busiest ``seconds``, mono.

    Falls back to synthetic chords (said in the description) if a tool or file is missing.
    """
    exe = shutil.which("fluidsynth")
    midi = _find_midi()
    missing = [what for what, ok in (("fluidsynth", exe is not None),
                                     (f"{SOUNDFONT} (fluid-soundfont-gm)", SOUNDFONT.is_file()),
                                     (f"*.mid under {MIDI_DIR} (openttd-openmsx)", midi is not None))
               if not ok]
    if missing:
        _note(f"music: {', '.join(missing)} missing; using synthetic chords instead")
        desc = "SYNTHETIC fallback: strummed chords of harmonic tones with decaying envelopes"
        return "music", _normalise(_synthetic_music(seconds)), desc
    path = cache_dir() / f"{midi.stem}_fluidr3_{SAMPLE_RATE}.wav"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.wav")
        subprocess.run([exe, "-ni", "-q", "-F", str(tmp), "-r", str(SAMPLE_RATE), str(SOUNDFONT),
                        str(midi)], check=True, capture_output=True)
        tmp.replace(path)
    x, sample_rate = _read_mono(path)
    x = _to_rate(x, sample_rate)
    length = int(seconds * SAMPLE_RATE)
    start = _busiest(x, length, SAMPLE_RATE // 2)
    desc = (f"OpenMSX {midi.name} (openttd-openmsx, GPL-2) rendered by fluidsynth with FluidR3_GM "
            f"at 48 kHz, downmixed, busiest {seconds:g} s from {start / SAMPLE_RATE:.1f} s")
    return "music", _normalise(x[start:start + length]), desc


def transients(seconds: float = 5.0, seed: int = 0):
    """Noise bursts with instant onsets and 5-50 ms exponential decays, plus isolated clicks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    x = np.zeros(n)
    t = 0.05
    while t < seconds - 0.1:
        start = int(t * SAMPLE_RATE)
        tau = rng.uniform(0.005, 0.05)
        length = min(n - start, int(6 * tau * SAMPLE_RATE))
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (tau * SAMPLE_RATE))
        if rng.random() < 0.5:  # half of them darker: one-pole low-pass
            a = rng.uniform(0.5, 0.95)
            for i in range(1, length):
                burst[i] += a * burst[i - 1]
            burst /= np.max(np.abs(burst))
        x[start:start + length] += rng.uniform(0.3, 1.0) * burst / np.max(np.abs(burst))
        t += rng.uniform(0.12, 0.4)
    for _ in range(int(4 * seconds)):  # clicks: single samples and 1 ms bipolar ticks
        i = int(rng.integers(0, n - 64))
        if rng.random() < 0.5:
            x[i] += rng.choice([-1.0, 1.0])
        else:
            k = np.arange(48)
            x[i:i + 48] += np.sin(2 * np.pi * k / 24) * np.exp(-k / 8.0)
    desc = (f"synthetic (numpy seed {seed}): noise bursts, instant onsets, 5-50 ms exponential "
            f"decays (half low-passed), every 120-400 ms; plus {int(4 * seconds)} clicks")
    return "transients", _normalise(x), desc


def tone(seconds: float = 5.0):
    """Harmonic tone, f0 220 Hz, 10 harmonics of amplitude 1/h, 5.5 Hz vibrato of +-3 %."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f_inst = 220.0 * (1.0 + 0.03 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f_inst) / SAMPLE_RATE
    x = sum(np.sin(h * phase) / h for h in range(1, 11))
    fade = int(0.01 * SAMPLE_RATE)  # 10 ms fades: no onset click at the edges
    ramp = np.linspace(0.0, 1.0, fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    desc = "synthetic: f0 220 Hz, harmonics 1..10 at 1/h, vibrato 5.5 Hz +-3 %, 10 ms fades"
    return "tone", _normalise(x), desc


CLASSES = [speech, speech_tts, music, transients, tone]


def all_clips(seconds: float | None = None) -> list:
    """Every available clip as ``(name, signal, source_description)``, cut to ``seconds`` if given."""
    clips = []
    for make in CLASSES:
        clip = make()
        if clip is None:
            continue
        name, x, desc = clip
        if seconds is not None:
            x = x[:int(seconds * SAMPLE_RATE)]
        clips.append((name, x, desc))
    return clips


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", default=None, help="also write each clip to DIR/NAME.wav")
    args = parser.parse_args()
    for name, x, desc in all_clips():
        print(f"{name:<11} {x.size / SAMPLE_RATE:5.2f} s  peak {np.max(np.abs(x)):.2f}  {desc}")
        if args.write:
            import soundfile as sf

            Path(args.write).mkdir(parents=True, exist_ok=True)
            sf.write(str(Path(args.write) / f"{name}.wav"), x, SAMPLE_RATE, subtype="FLOAT")


if __name__ == "__main__":
    main()

"""The quality panel: six fixed real recordings and renders that every style model is judged on.

48 kHz mono float64, leading and trailing silence trimmed, peak -3 dBFS. These sources are
evaluation-only: none of them (nor the festival voices kal and slt) may reach a training corpus.

==================  ==========================================================================
``male_speech``     festival, voice ``voice_kal_diphone`` (festvox-kallpc16k, US male diphone;
                    its median pYIN f0 is checked to be below 130 Hz), two sentences
``female_speech``   festival, voice ``voice_cmu_us_slt_arctic_hts`` (festvox-us-slt-hts, US
                    female HMM voice), two other sentences
``recorded_speech`` alsa-utils' recorded announcements Front_Center.wav + Front_Left.wav
``melody``          a monophonic legato melody A2..A4 of our own on GM program 53 (0-based,
                    "Voice Oohs") with modulation-wheel vibrato and expression swells, MIDI written
                    by rtst/testing/midi.py, rendered by fluidsynth with FluidR3_GM
``music``           the busiest 4 s of OpenMSX busy_schedule.mid rendered by fluidsynth with
                    FluidR3_GM (benchmarks/teacher_clips.music_content)
``percussive``      sound-theme-freedesktop's camera-shutter.oga, trash-empty.oga and
                    audio-volume-change.oga with 0.25 s gaps
==================  ==========================================================================

Each clip is a :class:`Clip` (name, signal, description, source, packages, licence). Renders
(festival, fluidsynth) are cached under ``signals.cache_dir()`` keyed by a hash of their recipe.
A missing Debian package raises :class:`rtst.errors.ParameterError` with a one-line message
naming it (this module installs nothing; ``bash tools/setup.sh bench`` does).

    python -m rtst.testing.panel [--clips a,b] [--write DIR]    # list (and write) the clips
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np


from rtst.testing import midi as midi_render
from rtst.testing import clips as teacher_clips
from rtst.testing.signals import ALSA_DIR, SAMPLE_RATE, _read_mono, _to_rate, _trim_silence, cache_dir

from rtst.errors import ParameterError

__all__ = ["SAMPLE_RATE", "PEAK", "CLIPS", "Clip", "panel", "male_speech", "female_speech",
           "recorded_speech", "melody", "music", "percussive"]

PEAK = 10.0 ** (-3.0 / 20.0)  # -3 dBFS
MAX_SECONDS = 5.0
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
MALE_F0_LIMIT_HZ = 130.0

MALE_TEXT = "The old keeper walked down to the harbour. Every evening he counted the boats."
FEMALE_TEXT = "Yellow kites danced above the quiet meadow. Nobody noticed the rain."
FESTIVAL_LICENCE = {
    "voice_kal_diphone": ("festvox-kallpc16k", "festival voice licence (Alan W Black and Kevin Lenzo, CMU/"
                          "University of Edinburgh: free use, modification and redistribution with "
                          "the notice kept), MIT-style"),
    "voice_cmu_us_slt_arctic_hts": ("festvox-us-slt-hts", "EST-2003 (CMU ARCTIC slt; free use, modification "
                                    "and redistribution with the notice kept), BSD-style"),
    # not a panel voice: the phase tuning set's (rtst/testing/tuning.py)
    "voice_ked_diphone": ("festvox-kdlpc16k", "festival voice licence (CMU/University of Edinburgh), MIT-style"),
}


class Clip(NamedTuple):
    name: str
    signal: np.ndarray  # float64 [n_samples] at SAMPLE_RATE
    description: str
    source: str
    packages: str       # Debian packages it comes from
    licence: str


def _finish(x: np.ndarray, seconds: float = MAX_SECONDS) -> np.ndarray:
    """Trim leading/trailing silence, cut to ``seconds`` with a 20 ms fade, peak -3 dBFS."""
    x = _trim_silence(np.asarray(x, dtype=np.float64))
    n = int(seconds * SAMPLE_RATE)
    if x.size > n:
        x = x[:n].copy()
        fade = int(0.02 * SAMPLE_RATE)
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.max(np.abs(x))
    if peak == 0:
        raise ParameterError("panel clip is silent")
    return x * (PEAK / peak)


def _need(path: Path, package: str) -> Path:
    if not path.exists():
        raise ParameterError(f"quality panel: {path} missing; install Debian package {package} "
                             f"(apt-get install {package}, or bash tools/setup.sh bench)")
    return path


def _festival(voice: str, text: str) -> np.ndarray:
    """``text2wave -eval (VOICE)`` of ``text``, cached, at 48 kHz."""
    package = FESTIVAL_LICENCE[voice][0]
    exe = shutil.which("text2wave")
    if exe is None:
        raise ParameterError("quality panel: text2wave missing; install Debian package festival "
                             "(apt-get install festival, or bash tools/setup.sh bench)")
    key = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:12]
    path = cache_dir() / f"panel_{voice}_{key}.wav"
    if not path.is_file():
        with tempfile.TemporaryDirectory(prefix="rtst-panel-") as tmp:
            txt = Path(tmp) / "text.txt"
            txt.write_text(text + "\n")
            wav = Path(tmp) / "out.wav"
            proc = subprocess.run([exe, "-eval", f"({voice})", "-o", str(wav), str(txt)],
                                  capture_output=True, text=True)
            # text2wave exits 0 even when the voice is unknown; it then prints a SIOD error
            if proc.returncode != 0 or "error" in proc.stderr.lower() or not wav.is_file():
                raise ParameterError(f"quality panel: festival voice {voice} failed ({proc.stderr.strip()[:120]!r}); "
                                     f"install Debian package {package}")
            shutil.copyfile(wav, path)
    return _to_rate(*_read_mono(path))


def _median_f0(x: np.ndarray) -> float:
    import librosa

    y = librosa.resample(x, orig_sr=SAMPLE_RATE, target_sr=22050, res_type="soxr_hq")
    f0, voiced, _ = librosa.pyin(y, fmin=50.0, fmax=1000.0, sr=22050, hop_length=256)
    return float(np.nanmedian(f0[voiced])) if voiced.any() else float("nan")


def male_speech() -> Clip:
    voice = "voice_kal_diphone"
    x = _finish(_festival(voice, MALE_TEXT))
    f0 = _median_f0(x)
    # the panel needs a low voice: a deeper register than the other clips is where pitch is lost
    assert f0 < MALE_F0_LIMIT_HZ, f"male_speech median f0 {f0:.0f} Hz, expected < {MALE_F0_LIMIT_HZ:.0f} Hz"
    package, licence = FESTIVAL_LICENCE[voice]
    return Clip("male_speech", x, f"festival {voice} (US male diphone, median f0 {f0:.0f} Hz): {MALE_TEXT!r}",
                f"festival text2wave, {voice}", f"festival, {package}", licence)


def female_speech() -> Clip:
    voice = "voice_cmu_us_slt_arctic_hts"
    x = _finish(_festival(voice, FEMALE_TEXT))
    package, licence = FESTIVAL_LICENCE[voice]
    return Clip("female_speech", x, f"festival {voice} (US female HMM voice): {FEMALE_TEXT!r}",
                f"festival text2wave, {voice}", f"festival, {package}", licence)


def recorded_speech() -> Clip:
    names = ("Front_Center.wav", "Front_Left.wav")
    parts = [_trim_silence(_to_rate(*_read_mono(_need(ALSA_DIR / n, "alsa-utils")))) for n in names]
    x = _finish(np.concatenate(parts))
    return Clip("recorded_speech", x, "recorded speech (a natural male voice), alsa-utils "
                + " + ".join(names) + ", each trimmed, concatenated",
                f"{ALSA_DIR}/" + " + ".join(names), "alsa-utils", "GPL-2 (alsa-utils)")


# Our own melody (MIDI note, seconds): A2 up through the minor triad to A4 and back down, legato.
MELODY = ((45, 0.45), (52, 0.30), (57, 0.30), (60, 0.45), (64, 0.30), (62, 0.30),
          (65, 0.45), (69, 0.60), (67, 0.30), (64, 0.30), (60, 0.30), (57, 0.50))


def melody() -> Clip:
    missing = midi_render.missing_tools()
    if missing:
        raise ParameterError(f"quality panel: melody needs {'; '.join(missing)}")
    notes, t = [], 0.0
    events = [(0.0, midi_render.program_change(0, 53)),          # Voice Oohs (0-based)
              (0.0, midi_render.control_change(0, 91, 40)),      # a little reverb
              (0.0, midi_render.control_change(0, 1, 0))]
    for k, (pitch, dur) in enumerate(MELODY):
        notes.append(midi_render.Note(t, dur + 0.02, pitch, 92 if k % 4 == 0 else 80))  # 20 ms legato overlap
        # vibrato (modulation wheel) grows into each longer note, expression swells over it
        if dur >= 0.45:
            events += [(t, midi_render.control_change(0, 1, 0)), (t + 0.2, midi_render.control_change(0, 1, 45))]
        for step in range(4):
            events.append((t + step * dur / 4, midi_render.control_change(0, 11, 100 + 9 * min(step, 3 - step))))
        t += dur
    events += midi_render.notes_to_events(notes)
    data = midi_render.midi_bytes(events, end_s=t + 0.6)
    path = cache_dir() / f"panel_melody_{hashlib.sha1(data).hexdigest()[:12]}_{SAMPLE_RATE}.wav"
    if not path.is_file():
        with tempfile.TemporaryDirectory(prefix="rtst-panel-") as tmp:
            mid = Path(tmp) / "melody.mid"
            mid.write_bytes(data)
            tmp_wav = path.with_suffix(".tmp.wav")
            midi_render.render(mid, tmp_wav, sample_rate=SAMPLE_RATE, file_format="float")
            tmp_wav.replace(path)
    x = _finish(_to_rate(*_read_mono(path)))
    return Clip("melody", x, "monophonic legato melody A2 E3 A3 C4 E4 D4 F4 A4 G4 E4 C4 A3 (0.3-0.6 s notes), "
                "GM program 53 (0-based, Voice Oohs) with modulation-wheel vibrato and expression swells, MIDI "
                "written by rtst/testing/midi.py, rendered by fluidsynth with FluidR3_GM at 48 kHz, downmixed",
                "MIDI written by rtst/testing/panel.py, fluidsynth + FluidR3_GM",
                "fluidsynth, fluid-soundfont-gm", "MIT (FluidR3_GM); the MIDI is the project's")


def music() -> Clip:
    clip = teacher_clips.music_content(4.0)
    if clip is None:
        raise ParameterError("quality panel: music needs fluidsynth, fluid-soundfont-gm and openttd-openmsx "
                             "(apt-get install fluidsynth fluid-soundfont-gm openttd-openmsx)")
    return Clip("music", _finish(clip[1]), clip[2], "OpenMSX busy_schedule.mid, busiest 4 s, fluidsynth + FluidR3_GM",
                "openttd-openmsx, fluidsynth, fluid-soundfont-gm", "GPL-2 (OpenMSX); MIT (FluidR3_GM)")


def percussive() -> Clip:
    names = ("camera-shutter.oga", "trash-empty.oga", "audio-volume-change.oga")
    gap = np.zeros(int(0.25 * SAMPLE_RATE))
    parts = []
    for n in names:
        parts += [_trim_silence(_to_rate(*_read_mono(_need(FREEDESKTOP_DIR / n, "sound-theme-freedesktop")))), gap]
    x = _finish(np.concatenate(parts[:-1]))
    return Clip("percussive", x, "sound-theme-freedesktop transients " + ", ".join(names)
                + " (each trimmed), 0.25 s gaps; camera-shutter: freesound user horsthorstensen, CC-BY-SA-3.0; "
                "trash-empty: Dr. Richard Boulanger et al, CC-BY-3.0; audio-volume-change: Lucas McCallister, "
                "CC-BY-SA-3.0", f"{FREEDESKTOP_DIR}/" + " + ".join(names), "sound-theme-freedesktop",
                "CC-BY-SA-3.0 (camera-shutter, audio-volume-change), CC-BY-3.0 (trash-empty)")


CLIPS = {f.__name__: f for f in (male_speech, female_speech, recorded_speech, melody, music, percussive)}


def panel(names=None) -> list[Clip]:
    """The panel's clips (all, or those named, in panel order)."""
    names = list(CLIPS) if names is None else list(names)
    unknown = [n for n in names if n not in CLIPS]
    if unknown:
        raise ParameterError(f"unknown panel clip(s) {', '.join(unknown)}; the panel is {', '.join(CLIPS)}")
    return [CLIPS[n]() for n in names]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    parser.add_argument("--write", default=None, help="also write each clip to DIR/NAME.wav")
    args = parser.parse_args()
    try:
        clips = panel(args.clips.split(",") if args.clips else None)
    except ParameterError as exc:
        sys.exit(str(exc))
    for clip in clips:
        print(f"{clip.name:<16} {clip.signal.size / SAMPLE_RATE:5.2f} s  peak {20 * np.log10(np.max(np.abs(clip.signal))):+.1f} dBFS  "
              f"{clip.packages}  [{clip.licence}]\n{'':<16} {clip.description}")
        if args.write:
            import soundfile as sf

            Path(args.write).mkdir(parents=True, exist_ok=True)
            sf.write(str(Path(args.write) / f"{clip.name}.wav"), clip.signal, SAMPLE_RATE, subtype="FLOAT")


if __name__ == "__main__":
    main()

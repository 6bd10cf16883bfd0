"""The phase tuning set: clips the phase methods' settings were chosen on, apart from the panel.

The quality panel (:mod:`rtst.testing.panel`) judges; these clips of the same kinds were
used to choose windows, hops, iterations and the input-guided method's constants
(benchmarks/bench_phase_panel.py ``--tuning``), so that the panel's figures are on material no
setting was tuned on. 48 kHz mono float64, trimmed, peak -3 dBFS, as the panel.

==============  ===========================================================================
``low_voice``   festival, voice ``voice_ked_diphone`` (festvox-kdlpc16k, US male diphone,
                median f0 about 100 Hz), a sentence of its own
``music``       the busiest 4 s of OpenMSX city_blues_redfarn.mid, fluidsynth + FluidR3_GM
``transients``  synthetic noise bursts and clicks (:func:`rtst.testing.signals.transients`)
``percussive``  sound-theme-freedesktop device-added.oga, message.oga and complete.oga with
                0.25 s gaps (not the panel's three; screen-capture.oga is its camera-shutter)
==============  ===========================================================================

The recorded percussive clip joined the set after the first panel run: the synthetic transients
alone chose a Gaussian window (lambda 0.14) that the panel's recorded transients then measured
5 dB worse for RTPGHI; the window was chosen again on the four clips (docs/phase.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtst.errors import ParameterError
from rtst.testing import midi as midi_render
from rtst.testing import signals
from rtst.testing.panel import FREEDESKTOP_DIR, Clip, _festival, _finish, _need

__all__ = ["TUNING", "TUNING_VOICE", "TUNING_MIDI", "tuning_set"]

TUNING_VOICE = "voice_ked_diphone"
LOW_VOICE_TEXT = "A gray wolf crossed the frozen river at night. Then he slept near the old mill."
TUNING_MIDI = Path("/usr/share/games/openttd/baseset/openmsx/city_blues_redfarn.mid")


def low_voice() -> Clip:
    voice = TUNING_VOICE
    return Clip("low_voice", _finish(_festival(voice, LOW_VOICE_TEXT)), f"festival {voice}: {LOW_VOICE_TEXT!r}",
                f"festival text2wave, {voice}", "festival, festvox-kdlpc16k", "festival voice licence, MIT-style")


def music() -> Clip:
    missing = midi_render.missing_tools()
    if missing or not TUNING_MIDI.is_file():
        raise ParameterError("tuning set: music needs fluidsynth, fluid-soundfont-gm and openttd-openmsx "
                             "(apt-get install fluidsynth fluid-soundfont-gm openttd-openmsx)")
    path = signals.cache_dir() / f"tuning_{TUNING_MIDI.stem}_{signals.SAMPLE_RATE}.wav"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.wav")
        midi_render.render(TUNING_MIDI, tmp, sample_rate=signals.SAMPLE_RATE, file_format="float")
        tmp.replace(path)
    x = signals._to_rate(*signals._read_mono(path))
    n = 4 * signals.SAMPLE_RATE
    start = signals._busiest(x, n, signals.SAMPLE_RATE // 2)
    return Clip("music", _finish(x[start:start + n]), f"OpenMSX {TUNING_MIDI.name}, busiest 4 s",
                f"{TUNING_MIDI}, fluidsynth + FluidR3_GM", "openttd-openmsx, fluidsynth, fluid-soundfont-gm",
                "GPL-2 (OpenMSX); MIT (FluidR3_GM)")


def transients() -> Clip:
    _, x, desc = signals.transients(4.0)
    return Clip("transients", _finish(np.asarray(x, dtype=np.float64)), desc, "rtst.testing.signals.transients",
                "", "the project's")


PERCUSSIVE = ("device-added.oga", "message.oga", "complete.oga")


def percussive() -> Clip:
    gap = np.zeros(int(0.25 * signals.SAMPLE_RATE))
    parts = []
    for name in PERCUSSIVE:
        x = signals._to_rate(*signals._read_mono(_need(FREEDESKTOP_DIR / name, "sound-theme-freedesktop")))
        parts += [signals._trim_silence(x), gap]
    return Clip("percussive", _finish(np.concatenate(parts[:-1])), "sound-theme-freedesktop " + ", ".join(PERCUSSIVE),
                f"{FREEDESKTOP_DIR}/" + " + ".join(PERCUSSIVE), "sound-theme-freedesktop",
                "CC-BY-SA-3.0 / CC-BY-3.0 (sound-theme-freedesktop)")


TUNING = {f.__name__: f for f in (low_voice, music, transients, percussive)}


def tuning_set() -> list[Clip]:
    """The tuning clips, in :data:`TUNING` order."""
    return [f() for f in TUNING.values()]

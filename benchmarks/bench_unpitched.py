"""What the re-synthesising models do where there is no single pitch: chords and transients.

For each model and each of the quality panel's polyphonic (``music``: an OpenMSX piece rendered by
fluidsynth) and percussive (``percussive``: sound-theme-freedesktop transients) clips, and a
monophonic control (``melody``), the clip runs through the engine and the table gives:

* ``resynth``: the share of hops the model re-synthesised (its voicing over 0.5), the rest going
  to the filter path (the input with the style's band envelope);
* ``onset F``: the output's onsets against the input's (librosa, 50 ms), i.e. whether transients
  survive or are smeared;
* ``flatness``: the output's spectral flatness less the input's (dB, median over sounding frames):
  above 0 the effect made noise of what was there;
* ``level r``: the correlation of frame levels (dB), output against input.

    python benchmarks/bench_unpitched.py [--models cello,bells,guitar] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from rtst.measure.bench import git_revision, version_of

CLIPS = ("melody", "music", "percussive")


def flatness_db(x: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Spectral flatness (dB) of the frames within 40 dB of the loudest."""
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames)) ** 2 + 1e-20
    energy = power.sum(axis=1)
    keep = energy >= energy.max() * 1e-4
    flat = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    return 10 * np.log10(flat[keep])


def run(model_name: str, clip) -> dict:
    from rtst.measure import timbre
    from rtst.presets import resolve

    settings = resolve(model=model_name)
    proc = settings.processor()
    x = clip.signal.astype(np.float32)
    hop = proc.stft.hop_length
    y = np.zeros(x.size + proc.latency_samples + hop, np.float32)
    src = np.zeros_like(y)
    src[:x.size] = x
    voiced = []
    for i in range(0, src.size - hop + 1, hop):
        proc.process(src[i:i + hop], y[i:i + hop])
        voiced.append(getattr(proc.model, "voicing", 1.0))
    y = y[proc.latency_samples:proc.latency_samples + x.size].astype(np.float64)
    onsets = timbre.onset_f_measure(timbre.onset_times(y, 48000), timbre.onset_times(clip.signal, 48000))
    return {"model": model_name, "clip": clip.name, "resynth_share": float(np.mean(np.asarray(voiced) > 0.5)),
            "onset_f": onsets["f_measure"],
            "flatness_change_db": float(np.median(flatness_db(y)) - np.median(flatness_db(clip.signal))),
            "level_corr": timbre.loudness_correlation(y, clip.signal, 48000)}


def main(argv=None) -> int:
    from rtst import __version__
    from rtst.testing import panel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cello,organ,bells,choir,guitar", help="comma-separated models")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    clips = panel.panel(list(CLIPS))
    rows = [run(m, c) for m in args.models.split(",") for c in clips]
    print(f"{'model':<8} {'clip':<11} {'resynth':>7} {'onset F':>7} {'flatness':>8} {'level r':>7}")
    for r in rows:
        print(f"{r['model']:<8} {r['clip']:<11} {100 * r['resynth_share']:6.0f}% {r['onset_f']:7.2f} "
              f"{r['flatness_change_db']:+7.1f}  {r['level_corr']:7.2f}")
    result = {"benchmark": "unpitched", "rtst": __version__, "git": git_revision(), "python": platform.python_version(),
              "onnxruntime": version_of("onnxruntime"), "rows": rows}
    print(json.dumps(result, default=float))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

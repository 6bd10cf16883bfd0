"""Builds the shipped re-synthesising style models in models/ from their style clips.

Each style clip is ``rtst.testing.melodies.style_clip(STYLE)``: the benchmark's style phrase (a
melody that is none of the benchmark's, G2..G5, legato and detached) rendered by the style's
General-MIDI instrument with FluidR3_GM. The clip ships as ``models/NAME.style.flac``; the model is
measured from it (:mod:`rtst.transfer.resynth`), with the score's pitch as the reference of the
partial ratios (a bell's tracked pitch lands on a different partial note to note). A few seconds
per model on one core.

    python tools/build_styles.py [NAME ...]        # default: every model of SHIPPED
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: model name -> (style, n_fft, hop_length): the default preset's STFT, and the low-latency one's.
SHIPPED = {
    "cello": ("cello", 1024, 256),
    "organ": ("organ", 1024, 256),
    "bells": ("bells", 1024, 256),
    "choir": ("choir", 1024, 256),
    "guitar": ("guitar", 1024, 256),
    "cello-ll": ("cello", 256, 64),
}
SAMPLE_RATE = 48000


def build(name: str, out_dir: Path) -> dict:
    import soundfile as sf

    from rtst.config import StftConfig
    from rtst.model import load_model
    from rtst.testing import melodies
    from rtst.transfer import resynth

    style, n_fft, hop = SHIPPED[name]
    stft = StftConfig(sample_rate=SAMPLE_RATE, n_fft=n_fft, hop_length=hop, window="hann")
    clip = melodies.style_clip(style)
    clip_path = out_dir / f"{name}.style.flac"
    sf.write(str(clip_path), clip.signal.astype(np.float32), SAMPLE_RATE, format="FLAC", subtype="PCM_24")
    signal, _ = sf.read(str(clip_path), dtype="float64")   # exactly what ships
    f0 = resynth.score_f0([(n.start_s, n.dur_s, n.pitch) for n in melodies.STYLE_PHRASE.notes], signal.shape[0],
                          SAMPLE_RATE)
    meta_style = {"file": clip_path.name, "sha256": hashlib.sha256(clip_path.read_bytes()).hexdigest(),
                  "seconds": round(signal.shape[0] / SAMPLE_RATE, 3), "sample_rate": SAMPLE_RATE,
                  "description": clip.description,
                  "licence": "MIT (FluidR3_GM, Debian fluid-soundfont-gm); MIDI written by rtst"}
    training = {"command": f"python tools/build_styles.py {name}", "style": style}
    started = time.perf_counter()
    fit = resynth.learn(signal, stft, out_dir / f"{name}.onnx", name=name, style=meta_style, training=training,
                        f0_hz=f0)
    model = load_model(str(out_dir / f"{name}.onnx"))
    model.prepare(stft.n_bins)
    return {"name": name, "seconds": round(time.perf_counter() - started, 2), "harmonic": fit["harmonic"],
            "partials": int(fit["ratios"].shape[0]), "frames": fit["frames"],
            "decay_db_at_1s": float(np.interp(1.0, resynth.DECAY_AGES_S, fit["decay_db"]))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to build (default: {' '.join(SHIPPED)})")
    parser.add_argument("--out", default=str(REPO / "models"), help="folder (default models/)")
    args = parser.parse_args(argv)
    names = args.names or list(SHIPPED)
    unknown = [n for n in names if n not in SHIPPED]
    if unknown:
        print(f"build_styles: unknown model(s) {', '.join(unknown)}; known: {', '.join(SHIPPED)}", file=sys.stderr)
        return 2
    for name in names:
        print(build(name, Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Synthesise the bundled demo clip rtst/data/demo.wav (the project's own sound, CC0).

A sung-like harmonic tone with vibrato and a pitch glide, a linear chirp, noise bursts and clicks:
material that exercises tonal and transient phase reconstruction. Deterministic (seeded).

    python tools/make_demo.py [--output rtst/data/demo.wav]
"""

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 48000


def make_demo(sample_rate: int = SAMPLE_RATE, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(4.0 * sample_rate)) / sample_rate
    out = np.zeros_like(t)
    # 0.0-2.0 s: harmonic tone, 220 -> 330 Hz glide, 5.5 Hz vibrato, decaying harmonics
    seg = t < 2.0
    f0 = 220.0 * (1.5 ** (t[seg] / 2.0)) * (1.0 + 0.01 * np.sin(2 * np.pi * 5.5 * t[seg]))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = sum(np.sin(h * phase) / h ** 1.2 for h in range(1, 16))
    env = np.minimum(1.0, t[seg] / 0.05) * np.minimum(1.0, (2.0 - t[seg]) / 0.1)
    out[seg] = 0.25 * tone * env
    # 2.0-3.0 s: linear chirp 100 Hz -> 8 kHz
    seg = (t >= 2.0) & (t < 3.0)
    tc = t[seg] - 2.0
    out[seg] = 0.3 * np.sin(2 * np.pi * (100 * tc + 0.5 * 7900 * tc ** 2)) * np.hanning(tc.size)
    # 3.0-4.0 s: four decaying noise bursts and four clicks
    for k in range(4):
        start = int((3.0 + 0.25 * k) * sample_rate)
        n = int(0.08 * sample_rate)
        out[start:start + n] += 0.3 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.015 * sample_rate))
        out[start + int(0.15 * sample_rate)] += 0.6
    return out.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "rtst" / "data" / "demo.wav"))
    args = parser.parse_args()
    sf.write(args.output, make_demo(), SAMPLE_RATE, subtype="PCM_16")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

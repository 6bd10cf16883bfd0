#!/usr/bin/env python3
"""Per-hop compute of the streaming engine (identity model, input phase), no sound card needed.

For each preset: warm-up discarded, every hop timed with perf_counter_ns inside the Processor,
p50/p99/p99.9/max in microseconds and as a fraction of the hop budget. In the same run, the peer a
user would otherwise reach for: a numpy/scipy-style streaming STFT loop (numpy.fft per hop, with its
allocations), on the same audio. Table + JSON (with versions and git revision).

    python benchmarks/bench_engine.py [--seconds 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.measure.bench import git_revision
from rtst.config import StftConfig
from rtst.dsp.windows import dual_window, get_window
from rtst.engine import Processor

PRESETS = [("n_fft 1024 / hop 256", StftConfig(48000, 1024, 256)),
           ("n_fft 512 / hop 64", StftConfig(48000, 512, 64))]


def percentiles_us(ns: np.ndarray) -> dict:
    us = ns.astype(np.float64) / 1e3
    p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p999": float(p999), "max": float(us.max())}


def bench_rtst(cfg: StftConfig, x: np.ndarray) -> np.ndarray:
    hop = cfg.hop_length
    proc = Processor(cfg, block_size=hop)
    out = np.zeros(hop, np.float32)
    for i in range(0, 200 * hop, hop):  # warm-up, discarded
        proc.process(x[i:i + hop], out)
    proc.reset()
    for i in range(0, x.size - hop + 1, hop):
        proc.process(x[i:i + hop], out)
    return proc.hop_times_ns()


def bench_numpy_loop(cfg: StftConfig, x: np.ndarray) -> np.ndarray:
    """The straightforward numpy streaming STFT (what one writes without rtst): same frames, same OLA."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    window = get_window("hann", n_fft)
    synthesis = dual_window(window, hop)
    frame = np.zeros(n_fft)
    acc = np.zeros(n_fft)
    times = []
    for i in range(0, x.size - hop + 1, hop):
        t0 = time.perf_counter_ns()
        frame = np.concatenate([frame[hop:], x[i:i + hop]])
        spec = np.fft.rfft(frame * window)
        mag, phase = np.abs(spec), np.angle(spec)
        y = np.fft.irfft(mag * np.exp(1j * phase), n_fft) * synthesis
        acc += y
        _ = acc[:hop].copy()
        acc = np.concatenate([acc[hop:], np.zeros(hop)])
        times.append(time.perf_counter_ns() - t0)
    return np.array(times[200:], dtype=np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per preset (default 20)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = []
    print(f"{'preset':<22} {'impl':<12} {'budget us':>9} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} "
          f"{'max us':>8} {'p50 %':>7} {'p99 %':>7} {'p99.9 %':>8} {'max %':>7}")
    for name, cfg in PRESETS:
        x = (0.3 * rng.standard_normal(int(args.seconds * cfg.sample_rate))).astype(np.float32)
        for impl, fn in (("rtst", bench_rtst), ("numpy loop", bench_numpy_loop)):
            stats = percentiles_us(fn(cfg, x))
            budget = cfg.budget_us
            frac = {k: v / budget for k, v in stats.items()}
            results.append({"preset": name, "impl": impl, "n_fft": cfg.n_fft, "hop_length": cfg.hop_length,
                            "budget_us": budget, "us": stats, "fraction_of_budget": frac})
            print(f"{name:<22} {impl:<12} {budget:>9.1f} {stats['p50']:>8.1f} {stats['p99']:>8.1f} "
                  f"{stats['p999']:>9.1f} {stats['max']:>8.1f} {100 * frac['p50']:>6.2f}% "
                  f"{100 * frac['p99']:>6.2f}% {100 * frac['p999']:>7.2f}% {100 * frac['max']:>6.2f}%")
    meta = {"rtst": __version__, "git": git_revision(), "python": platform.python_version(),
            "numpy": np.__version__, "machine": platform.machine(), "seconds_per_preset": args.seconds}
    doc = {"benchmark": "engine", "meta": meta, "results": results}
    print(json.dumps(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Report JSON (DESIGN §4): settings, latency breakdown, per-hop compute, dropouts."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.errors import AudioFileError

__all__ = ["compute_stats_us", "build_report", "write_report"]


def compute_stats_us(times_ns: np.ndarray) -> dict:
    """p50/p99/p99.9/max of per-hop compute times, microseconds (zeros when there are none)."""
    if times_ns.size == 0:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0, "mean": 0.0}
    us = times_ns.astype(np.float64) / 1e3
    p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "p999": round(float(p999), 2),
            "max": round(float(us.max()), 2), "mean": round(float(us.mean()), 2)}


def build_report(processor, *, io_latency: int | None = None, measured: float | None = None,
                 xruns: int = 0, extra: dict | None = None) -> dict:
    """Assemble the report for a Processor run (DESIGN §4 keys first, extras after)."""
    desc = processor.describe()
    times = processor.hop_times_ns()
    budget_us = processor.budget_us
    stats = compute_stats_us(times)
    total = processor.latency_samples + (io_latency or 0)
    report = {
        "sample_rate": desc["sample_rate"],
        "n_fft": desc["n_fft"],
        "hop_length": desc["hop_length"],
        "phase": desc["phase"],
        "lookahead": desc["lookahead"],
        "model": desc["model"],
        "latency_samples": {
            "algorithmic": processor.algorithmic_latency,
            "block_alignment": processor.block_alignment,
            "io": io_latency,
            "total": total,
            "measured": measured,
        },
        "latency_ms": {
            "algorithmic": round(processor.algorithmic_latency / desc["sample_rate"] * 1e3, 3),
            "total": round(total / desc["sample_rate"] * 1e3, 3),
        },
        "frames": int(times.size),
        "budget_us": round(budget_us, 1),
        "hop_compute_us": stats,
        "hop_compute_fraction": {k: round(v / budget_us, 5) for k, v in stats.items()},
        "deadline_misses": int((times.astype(np.float64) / 1e3 > budget_us).sum()),
        "xruns": int(xruns),
        "window": desc["window"],
        "mix": desc["mix"],
        "block_size": desc["block_size"],
        "safety": processor.stats,
        "versions": {"rtst": __version__, "python": platform.python_version(),
                     "numpy": np.__version__},
    }
    if extra:
        report.update(extra)
    return report


def write_report(path: str | os.PathLike, report: dict) -> None:
    """Write the report as indented JSON."""
    path = Path(path)
    try:
        path.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as exc:
        raise AudioFileError(f"cannot write report {str(path)!r}: {exc}") from None

"""The report JSON every command can write (``--report PATH.json``): settings, latency breakdown,
per-hop compute, dropouts. docs/report.md lists every key."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.errors import AudioFileError

__all__ = ["compute_stats_us", "build_report", "live_report", "latency_report", "write_report"]


def compute_stats_us(times_ns: np.ndarray) -> dict:
    """p50/p99/p99.9/max of per-hop compute times, microseconds (zeros when there are none)."""
    if times_ns.size == 0:
        return {"p50": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0, "mean": 0.0}
    us = times_ns.astype(np.float64) / 1e3
    p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "p999": round(float(p999), 2),
            "max": round(float(us.max()), 2), "mean": round(float(us.mean()), 2)}


def build_report(processor, *, io_latency: int | None = None, measured: float | None = None,
                 xruns: int | None = None, extra: dict | None = None) -> dict:
    """Assemble the report for a Processor run (the common keys first, a command's extras after)."""
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
        "model_engine": desc["model_engine"],
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
        "xruns": None if xruns is None else int(xruns),  # None: no stream ran (render, bench)
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


def live_report(processor, effect, stream_config, *, preset: str | None = None, extra: dict | None = None) -> dict:
    """The report of a live run: :func:`build_report` plus ``stream`` (callbacks, xruns and
    deadline misses with their times, devices) and what the session adds (``extra``: controls,
    MIDI, OSC, recording, view)."""
    stats = effect.stats
    stream = {**stats, "block_size": stream_config.block_size, "callback_frames": effect.block_size,
              "host": effect.host, "shutdown_reason": effect.shutdown_reason, "started_monotonic_s": effect.started_at,
              "xrun_times_s": effect.xrun_times_s(), "deadline_miss_times_s": effect.deadline_miss_times_s(),
              "wakeup_us": effect.wakeup_us(),
              "input_device": effect.input_device, "output_device": effect.output_device}
    return build_report(processor, io_latency=effect.io_latency_samples, xruns=stats["xruns"],
                        extra={"preset": preset, "stream": stream, **(extra or {})})


def latency_report(result: dict, processor, sample_rate: int, block_size: int) -> dict:
    """The report of a loopback measurement (``rtst latency``): predicted and measured latency.

    Parameters
    ----------
    result : dict
        :meth:`rtst.measure.loopback.LoopbackMeasurement.run`'s result.
    processor : rtst.engine.Processor or None
        The effect measured through, or None for a bare wire.
    """
    io = result["io_latency_samples"]
    if processor is not None:
        report = build_report(processor, io_latency=io, measured=result["mean_samples"],
                              xruns=result["xrun_callbacks"], extra={"through_effect": True, "loopback": result})
    else:
        # a bare wire: no engine, so none of its figures; the prediction for a wire is the
        # stream's own I/O latency, and the loopback measures it
        report = {"sample_rate": sample_rate, "n_fft": None, "hop_length": None, "phase": None, "lookahead": None,
                  "model": None,
                  "latency_samples": {"algorithmic": None, "block_alignment": None, "io": io, "total": io,
                                      "measured": result["mean_samples"]},
                  "xruns": result["xrun_callbacks"], "through_effect": False, "block_size": block_size,
                  "loopback": result}
    lat = report["latency_samples"]
    lat["measured_minus_predicted"] = round(result["mean_samples"] - lat["total"], 3)
    report["latency_ms"] = {k: (None if v is None else round(v / sample_rate * 1e3, 3))
                            for k, v in lat.items() if k != "measured_minus_predicted"}
    return report


def write_report(path: str | os.PathLike, report: dict) -> None:
    """Write the report as indented JSON, atomically: a reader (or a run killed while writing)
    sees the previous report or this one, never part of one."""
    path = Path(path)
    # one partial file per writer: two processes writing the same report (torchrun's ranks) must
    # not rename each other's
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(partial, path)
    except OSError as exc:
        raise AudioFileError(f"cannot write report {str(path)!r}: {exc}") from None

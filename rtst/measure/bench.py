"""Offline measurement of a Processor: per-hop compute against the budget, and how well the
output's magnitude matches the magnitude the engine asked for (spectral convergence).

Used by ``rtst bench`` and by the scripts in benchmarks/. No sound card involved.
"""

from __future__ import annotations

import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from rtst.config import StftConfig
from rtst.dsp.stft import n_frames_for, stft

__all__ = ["spectral_convergence_db", "offline_floor_db", "run_processor", "percentiles_fraction", "bench_settings",
           "phase_options",
           "git_revision", "version_of"]


def spectral_convergence_db(signal: np.ndarray, target_mag: np.ndarray, stft_config: StftConfig) -> float:
    """``20 log10(|| |STFT(signal)| - target || / || target ||)`` on the engine's frames.

    Parameters
    ----------
    signal : np.ndarray, float [n_samples]
        Time-aligned output (latency removed).
    target_mag : np.ndarray, float [n_bins, n_frames]
        Target magnitude on the offline frames of :func:`rtst.dsp.stft.stft` for ``n_samples``.

    Returns
    -------
    sc_db : float
        Lower is better; -inf for a perfect match, NaN for a silent target.
    """
    mag = np.abs(stft(signal, stft_config))
    n = min(mag.shape[1], target_mag.shape[1])
    ref = np.linalg.norm(target_mag[:, :n])
    if ref == 0.0:
        return float("nan")
    err = np.linalg.norm(mag[:, :n] - target_mag[:, :n])
    return float(20.0 * np.log10(err / ref)) if err > 0 else float("-inf")


#: Fast Griffin-Lim iterations (after offline PGHI) of the offline phase floor.
FLOOR_GLA_ITERATIONS = 100
#: Longest run whose offline floor ``rtst bench`` computes (the whole spectrogram is in memory).
FLOOR_MAX_SECONDS = 60.0


def offline_floor_db(target_mag: np.ndarray, stft_config: StftConfig, n_samples: int, *,
                     n_iter: int = FLOOR_GLA_ITERATIONS) -> float:
    """The spectral convergence an offline reconstruction reaches on the same magnitudes: PGHI
    over the whole spectrogram, then ``n_iter`` fast Griffin-Lim iterations. What a real-time phase
    method (which sees a frame or a few ahead) is measured against.

    Parameters
    ----------
    target_mag : np.ndarray, float [n_bins, n_frames]
        The magnitudes to realise (e.g. :func:`run_processor`'s ``target_mag``).
    n_samples : int
        Length of the signal they came from.

    Returns
    -------
    sc_db : float
        As :func:`spectral_convergence_db`.
    """
    from rtst.dsp.stft import istft
    from rtst.phase.gla import fast_griffin_lim

    spec = fast_griffin_lim(target_mag, stft_config, n_iter=n_iter, init="pghi")
    return spectral_convergence_db(istft(spec, stft_config, n_samples), target_mag, stft_config)


def run_processor(processor, signal: np.ndarray, *, warmup_hops: int = 16) -> dict:
    """Stream ``signal`` through ``processor`` one hop per call and measure it.

    Parameters
    ----------
    processor : rtst.engine.Processor
        Reset first; left in the state after the run.
    signal : np.ndarray, float [n_samples]

    Returns
    -------
    result : dict
        ``output`` float64 [n_samples] (time-aligned), ``target_mag`` float64 [n_bins, n_frames]
        (the magnitudes the model produced, which the phase method had to realise),
        ``hop_ns`` int64 [n_hops - warmup_hops], ``wall_s``, ``spectral_convergence_db``.
    """
    cfg = processor.stft
    hop = cfg.hop_length
    x = np.asarray(signal, dtype=np.float32)
    n = x.shape[0]
    latency = processor.latency_samples
    n_hops = -(-(n + latency) // hop)
    src = np.zeros(n_hops * hop, dtype=np.float32)
    src[:n] = x
    dst = np.zeros_like(src)
    mags = np.zeros((n_hops, cfg.n_bins))  # [n_hops, n_bins] model output per hop
    processor.reset()
    hops_before = processor.stats["hops"]
    t0 = time.perf_counter()
    for i in range(n_hops):
        processor.process(src[i * hop:(i + 1) * hop], dst[i * hop:(i + 1) * hop])
        mags[i] = processor.mag_out
    wall_s = time.perf_counter() - t0
    if processor.stats["hops"] - hops_before != n_hops:
        raise RuntimeError("run_processor needs a processor that runs one hop per hop-sized block")
    y = dst[latency:latency + n].astype(np.float64)
    n_frames = min(n_hops, n_frames_for(n, cfg))
    target = np.ascontiguousarray(mags[:n_frames].T)
    return {
        "output": y,
        "target_mag": target,
        "hop_ns": processor.hop_times_ns()[warmup_hops:],
        "wall_s": wall_s,
        "spectral_convergence_db": spectral_convergence_db(y, target, cfg),
    }


def percentiles_fraction(hop_ns: np.ndarray, budget_us: float) -> dict:
    """p50/p99/p99.9/max of per-hop times in µs and as a percentage of the budget."""
    us = np.asarray(hop_ns, dtype=np.float64) / 1e3
    if us.size == 0:
        us = np.zeros(1)
    stats = {"p50": float(np.percentile(us, 50)), "p99": float(np.percentile(us, 99)),
             "p999": float(np.percentile(us, 99.9)), "max": float(us.max())}
    return {"us": stats, "percent_of_budget": {k: 100.0 * v / budget_us for k, v in stats.items()}}


def phase_options(phase) -> dict:
    """The tunable options a phase method runs with (for reports)."""
    keys = ("iterations", "momentum", "asymmetric", "tol", "seed", "gamma")
    return {k: getattr(phase, k) for k in keys if hasattr(phase, k)}


def bench_settings(settings, audio_path, seconds: float) -> dict:
    """``rtst bench``: stream ``seconds`` of an audio file (looped, mono) through a processor made
    from ``settings``, one hop per call, and report the per-hop compute against the budget.

    Parameters
    ----------
    settings : rtst.presets.Settings
    audio_path : str or Path
        Any file libsndfile reads; resampled to the model's rate and mixed to mono.
    seconds : float
        Audio to stream.

    Returns
    -------
    report : dict
        The report JSON (docs/report.md) with ``input``, ``duration_s``, ``wall_s``, ``rtf``,
        ``hop_compute_percent_of_budget``, ``spectral_convergence_db``, ``offline_floor_db`` (the
        same model magnitudes reconstructed offline, :func:`offline_floor_db`; None for runs over
        :data:`FLOOR_MAX_SECONDS`) and ``phase_options``.
    """
    from rtst.io.files import read_audio, resample
    from rtst.measure.report import build_report

    processor = settings.processor(None)
    audio, rate, _ = read_audio(audio_path)
    x = resample(audio, rate, processor.stft.sample_rate).mean(axis=1)
    n = int(seconds * processor.stft.sample_rate)
    x = np.resize(x, n)  # loop the clip
    result = run_processor(processor, x)
    timing = percentiles_fraction(result["hop_ns"], processor.budget_us)
    duration_s = n / processor.stft.sample_rate
    extra = {
        "preset": settings.preset,
        "input": str(audio_path), "duration_s": round(duration_s, 3), "wall_s": round(result["wall_s"], 3),
        "rtf": round(result["wall_s"] / duration_s, 5),
        "hop_compute_percent_of_budget": {k: round(v, 3) for k, v in timing["percent_of_budget"].items()},
        "spectral_convergence_db": round(result["spectral_convergence_db"], 2),
        "offline_floor_db": (round(offline_floor_db(result["target_mag"], processor.stft, n), 2)
                             if duration_s <= FLOOR_MAX_SECONDS else None),
        "phase_options": phase_options(processor.phase),
    }
    return build_report(processor, extra=extra)


def version_of(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def git_revision(where: str | Path | None = None) -> str | None:
    """Short commit of the checkout holding ``where`` (default: this package), with ``-dirty`` when
    tracked files differ from it; None outside a git checkout. Benchmarks record it beside their
    figures so a result names the code that produced it."""
    cwd = str(where or Path(__file__).resolve().parent)
    try:
        rev = subprocess.run(["git", "-C", cwd, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", cwd, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("-dirty" if dirty else "")) if rev else None

#!/usr/bin/env python3
"""Phase reconstruction: quality (spectral convergence) and cost, real-time methods vs offline vs peers.

For each hop (default n_fft/4 and n_fft/8; n_fft 1024, 48 kHz, Hann) and each test clip
(rtst/testing/signals.py: speech, TTS speech, music, transients, tone), the target is the magnitude
of the clip's STFT, ``S = |rtst.dsp.stft.stft(x)|``. Rows:

* real-time: the streaming :class:`rtst.engine.Processor` (identity model) with a phase method,
  fed in hop-sized blocks; cost = the engine's per-hop compute (warm-up discarded) as p50/p99 of
  the hop budget (garbage collector paused, as in the live stream); added latency = the
  method's lookahead.
  ``input`` reuses the true phase: a harness check, its SC must be below -80 dB.
* offline: rtst's PGHI and fast Griffin-Lim on the whole magnitude; cost = wall seconds per
  second of audio (magnitude -> audio, including the inverse STFT).
* peers, on the same magnitudes: librosa.griffinlim (momentum 0.99, i.e. fast Griffin-Lim) and
  pghipy (PGHI; PGHI then its plain Griffin-Lim).

Quality: spectral convergence ``SC_dB = 20 log10(||abs(stft(y)) - S||_F / ||S||_F)`` (lower is better).
Table + JSON (with versions and git revision). Rows whose code is missing are skipped with a note.

    python benchmarks/bench_phase.py [--quick] [--seconds S] [--hops 256,128] [--methods a,b] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.metadata
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


from rtst.testing import signals

from rtst import __version__
from rtst.measure.bench import git_revision, version_of
from rtst.config import StftConfig
from rtst.dsp.stft import istft, stft
from rtst.dsp.windows import PGHI_GAMMA_RATIO, dual_window, get_window
from rtst.engine import Processor
from rtst.errors import ParameterError

SAMPLE_RATE = 48000
N_FFT = 1024
WINDOW = "hann"
#: Hops timed before this many are discarded (caches, branch predictors).
WARMUP_HOPS = 20
#: The `input` row reuses the true phase: anything above this means the harness is misaligned.
INPUT_SC_LIMIT_DB = -80.0
SEED = 0


class Unavailable(Exception):
    """A row cannot run here (its code or package is missing); the message says why."""


@dataclass
class Row:
    """One table row: ``run(x, cfg) -> (y, info)`` with ``y`` float64 [len(x)] aligned to ``x``."""

    id: str
    family: str
    label: str
    kind: str  # "realtime" | "offline" | "peer"
    lookahead: int | None = None
    options: dict = field(default_factory=dict)
    method: str | None = None
    offline: Callable | None = None


def spectral_convergence_db(y: np.ndarray, target: np.ndarray, cfg: StftConfig) -> float:
    """``20 log10(||abs(stft(y)) - target||_F / ||target||_F)``; target float64 [n_bins, n_frames]."""
    err = np.linalg.norm(np.abs(stft(y, cfg)) - target) / np.linalg.norm(target)
    return float(20 * np.log10(max(err, 1e-300)))


# ------------------------------------------------------------------------------------ real-time
class RealtimeRunner:
    """One Processor per (row, hop), reset between clips."""

    def __init__(self, row: Row, cfg: StftConfig):
        try:
            self.proc = Processor(cfg, phase=row.method, lookahead=row.lookahead,
                                  block_size=cfg.hop_length, phase_options=row.options or None)
        except (ParameterError, TypeError) as err:  # method not registered yet / options not taken yet
            raise Unavailable(f"Processor(phase={row.method!r}, lookahead={row.lookahead}, "
                              f"phase_options={row.options}): {err}") from None
        self.cfg = cfg

    def __call__(self, x: np.ndarray):
        proc, hop = self.proc, self.cfg.hop_length
        proc.reset()
        latency = proc.latency_samples
        total = -(-(x.size + latency + hop) // hop) * hop
        block_in = np.zeros(total, np.float32)
        block_in[:x.size] = x
        out = np.zeros(total, np.float32)
        # As the live stream does (rtst/live/stream.py): no garbage collection pauses while audio runs.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            for i in range(0, total, hop):
                proc.process(block_in[i:i + hop], out[i:i + hop])
        finally:
            gc.enable()
            gc.unfreeze()
        y = out[latency:latency + x.size].astype(np.float64)
        return y, {"hop_ns": proc.hop_times_ns()[WARMUP_HOPS:], "stats": proc.stats,
                   "added_latency_samples": proc.phase.lookahead * hop}


# ------------------------------------------------------------------------------------ offline rtst
def _rtst_function(module: str, name: str) -> Callable:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise Unavailable(f"{module}.{name} not available yet ({err})") from None


def rtst_pghi(S, cfg, n):
    pghi = _rtst_function("rtst.phase.pghi", "pghi")
    return istft(pghi(S, cfg, tol=1e-5, seed=SEED), cfg, n)


def rtst_fgla(n_iter: int, init: str) -> Callable:
    def run(S, cfg, n):
        fgla = _rtst_function("rtst.phase.gla", "fast_griffin_lim")
        return istft(fgla(S, cfg, n_iter=n_iter, init=init, seed=SEED), cfg, n)
    return run


# ------------------------------------------------------------------------------------ peers
def _import_peer(name: str, install: str):
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise Unavailable(f"{name} not installed ({err}); {install}") from None


def librosa_grid(cfg: StftConfig, n_frames: int) -> tuple[int, int]:
    """(offset, length): with ``center=False`` librosa's frame j starts at sample j*hop of its signal,
    ours covers ``padded[j*hop : j*hop + n_fft]`` with ``padded = [zeros(n_fft - hop), x]``. So
    librosa's output sample ``offset + t`` is our sample ``t``; ``length`` is the natural length (one
    frame per column of S), which keeps its re-analysis on the same frames."""
    return cfg.n_fft - cfg.hop_length, (n_frames - 1) * cfg.hop_length + cfg.n_fft


def librosa_gl(n_iter: int) -> Callable:
    def run(S, cfg, n):
        librosa = _import_peer("librosa", "pip install librosa")
        offset, length = librosa_grid(cfg, S.shape[1])
        y = librosa.griffinlim(S, n_iter=n_iter, hop_length=cfg.hop_length, win_length=cfg.n_fft,
                               n_fft=cfg.n_fft, window=WINDOW, center=False, length=length,
                               momentum=0.99, init="random", random_state=SEED)
        return y[offset:offset + n]
    return run


def check_librosa_alignment(x: np.ndarray, cfg: StftConfig) -> float:
    """SC of librosa.istft on our true complex STFT (frame-start phase), cut as librosa_gl cuts."""
    librosa = _import_peer("librosa", "pip install librosa")
    spec = stft(x, cfg)  # [n_bins, n_frames], frame-centred phase
    spec[1::2] *= -1.0   # -> frame-start phase (librosa's): undo the odd-bin sign flip
    offset, length = librosa_grid(cfg, spec.shape[1])
    y = librosa.istft(spec, hop_length=cfg.hop_length, win_length=cfg.n_fft, n_fft=cfg.n_fft,
                      window=WINDOW, center=False, length=length)
    return spectral_convergence_db(y[offset:offset + x.size], np.abs(stft(x, cfg)), cfg)


def pghipy_frames(S: np.ndarray, cfg: StftConfig, n: int) -> np.ndarray:
    """Our magnitudes on pghipy's frame grid, float64 [its n_frames, n_bins] (time-major).

    pghipy.stft pads n_fft/2 zeros in front: its frame i covers ``x[i*hop - n_fft/2 : i*hop + n_fft/2]``,
    which is our frame ``j = i - 1 + n_fft / (2 hop)``; frames past our last cover only zeros.
    """
    hop = cfg.hop_length
    first = cfg.n_fft // (2 * hop) - 1
    its_frames = -(-(n + cfg.n_fft // 2) // hop)
    out = np.zeros((its_frames, S.shape[0]))
    m = min(its_frames, S.shape[1] - first)
    out[:m] = S[:, first:first + m].T
    return out


def pghipy_pghi(S, cfg, n):
    """pghipy.pghi on our magnitudes (Hann gamma); its phase is frame-start: odd bins flip sign."""
    pghipy = _import_peer("pghipy", "pip install pghipy")
    gamma = PGHI_GAMMA_RATIO[WINDOW] * cfg.n_fft**2
    phase = pghipy.pghi(np.ascontiguousarray(S.T), cfg.n_fft, cfg.hop_length, gamma, 1e-5).T
    spec = S * np.exp(1j * phase)
    spec[1::2] *= -1.0
    return istft(spec, cfg, n)


def pghipy_pghi_gl(n_iter: int) -> Callable:
    def run(S, cfg, n):
        """pghipy.pghi then pghipy.griffin_lim (plain GLA, no momentum) on its own frame grid."""
        pghipy = _import_peer("pghipy", "pip install pghipy")
        mag = pghipy_frames(S, cfg, n)
        gamma = PGHI_GAMMA_RATIO[WINDOW] * cfg.n_fft**2
        phase = pghipy.pghi(mag, cfg.n_fft, cfg.hop_length, gamma, 1e-5)
        window = get_window(WINDOW, cfg.n_fft)
        y = pghipy.griffin_lim(mag * np.exp(1j * phase), cfg.n_fft, cfg.hop_length, window,
                               dual_window(window, cfg.hop_length), n_iter)
        return y[:n]
    return run


def check_pghipy_frames(x: np.ndarray, cfg: StftConfig) -> float:
    """Largest |pghipy.stft| - (our S on its grid) difference: 0 if the frame mapping is right."""
    pghipy = _import_peer("pghipy", "pip install pghipy")
    its = np.abs(pghipy.stft(x, cfg.n_fft, cfg.hop_length, get_window(WINDOW, cfg.n_fft)))
    ours = pghipy_frames(np.abs(stft(x, cfg)), cfg, x.size)
    if its.shape != ours.shape:
        return float("inf")
    return float(np.max(np.abs(its - ours)))


# ------------------------------------------------------------------------------------ rows
ROWS = [
    Row("input", "input", "input (true phase)", "realtime", 0, method="input"),
    Row("rtpghi-la0", "rtpghi", "RTPGHI la 0", "realtime", 0, method="rtpghi"),
    Row("rtpghi-la1", "rtpghi", "RTPGHI la 1", "realtime", 1, method="rtpghi"),
    Row("spsi-la0", "spsi", "SPSI la 0", "realtime", 0, method="spsi"),
    Row("rtisila-la3-it4", "rtisila", "RTISI-LA la 3, 4 it", "realtime", 3, {"iterations": 4}, method="rtisila"),
    Row("rtisila-la3-it8", "rtisila", "RTISI-LA la 3, 8 it", "realtime", 3, {"iterations": 8}, method="rtisila"),
    Row("hybrid-la1-it4", "hybrid", "hybrid la 1, 4 it", "realtime", 1, {"iterations": 4}, method="hybrid"),
    Row("hybrid-la3-it4", "hybrid", "hybrid la 3, 4 it", "realtime", 3, {"iterations": 4}, method="hybrid"),
    Row("guided-la0", "guided", "input-guided la 0", "realtime", 0, method="guided"),
    Row("guided-la1-it4", "guided", "input-guided la 1, 4 it", "realtime", 1, {"iterations": 4}, method="guided"),
    Row("pghi", "pghi", "PGHI offline", "offline", offline=rtst_pghi),
    Row("fgla-32", "fgla", "FGLA 32 it (random)", "offline", offline=rtst_fgla(32, "random")),
    Row("fgla-100", "fgla", "FGLA 100 it (random)", "offline", offline=rtst_fgla(100, "random")),
    Row("pghi-fgla-32", "pghi+fgla", "PGHI + FGLA 32 it", "offline", offline=rtst_fgla(32, "pghi")),
    Row("librosa-gl32", "librosa", "librosa GL 32 it (m .99)", "peer", offline=librosa_gl(32)),
    Row("librosa-gl100", "librosa", "librosa GL 100 it (m .99)", "peer", offline=librosa_gl(100)),
    Row("pghipy-pghi", "pghipy", "pghipy PGHI", "peer", offline=pghipy_pghi),
    Row("pghipy-pghi-gl32", "pghipy", "pghipy PGHI + GLA 32 it", "peer", offline=pghipy_pghi_gl(32)),
]
QUICK_ROWS = ["input", "rtpghi-la1", "spsi-la0", "rtisila-la3-it4", "hybrid-la1-it4", "guided-la1-it4", "pghi",
              "fgla-32", "librosa-gl32", "pghipy-pghi"]


def select_rows(methods: str | None, quick: bool) -> list[Row]:
    if methods is None:
        return [r for r in ROWS if r.id in QUICK_ROWS] if quick else list(ROWS)
    wanted = [m.strip() for m in methods.split(",") if m.strip()]
    known = {r.id for r in ROWS} | {r.family for r in ROWS}
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise SystemExit(f"--methods: {', '.join(unknown)} unknown; choose from {', '.join(sorted(known))}")
    return [r for r in ROWS if r.id in wanted or r.family in wanted]


# ------------------------------------------------------------------------------------ running
def percentiles_us(ns: np.ndarray) -> dict:
    us = ns.astype(np.float64) / 1e3
    p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
    return {"p50": float(p50), "p99": float(p99), "p999": float(p999), "max": float(us.max())}


def run_row(row: Row, cfg: StftConfig, clips: list) -> dict:
    """All clips through one row. Raises Unavailable if the row cannot run here."""
    hop = cfg.hop_length
    result = {"id": row.id, "label": row.label, "kind": row.kind, "hop_length": hop,
              "method": row.method, "lookahead": row.lookahead, "options": row.options,
              "sc_db": {}, "per_clip": {}}
    if row.kind == "realtime":
        runner = RealtimeRunner(row, cfg)
        all_ns = []
        for name, x, _ in clips:
            y, info = runner(x)
            result["sc_db"][name] = spectral_convergence_db(y, np.abs(stft(x, cfg)), cfg)
            result["per_clip"][name] = {"hop_compute_us": percentiles_us(info["hop_ns"]),
                                        **info["stats"]}
            all_ns.append(info["hop_ns"])
        stats = percentiles_us(np.concatenate(all_ns))
        result["hop_compute_us"] = stats
        result["budget_us"] = cfg.budget_us
        result["fraction_of_budget"] = {k: v / cfg.budget_us for k, v in stats.items()}
        result["added_latency_samples"] = info["added_latency_samples"]
        result["added_latency_ms"] = 1e3 * info["added_latency_samples"] / cfg.sample_rate
        return result
    # offline and peers: warm up (numba compiles, librosa caches) on a short clip, then time each clip
    x0 = clips[0][1][:SAMPLE_RATE // 4]
    try:
        row.offline(np.abs(stft(x0, cfg)), cfg, x0.size)
    except Unavailable:
        raise
    except Exception as err:  # a peer that does not run with this numpy/numba: skip it, say why
        if row.kind != "peer":
            raise
        raise Unavailable(f"{row.label} failed on a warm-up clip: {type(err).__name__}: {err}") from None
    wall_total, audio_total = 0.0, 0.0
    for name, x, _ in clips:
        S = np.abs(stft(x, cfg))  # [n_bins, n_frames]
        t0 = time.perf_counter()
        y = row.offline(S, cfg, x.size)
        wall = time.perf_counter() - t0
        seconds = x.size / cfg.sample_rate
        result["sc_db"][name] = spectral_convergence_db(y, S, cfg)
        result["per_clip"][name] = {"wall_s": wall, "wall_s_per_audio_s": wall / seconds}
        wall_total += wall
        audio_total += seconds
    result["wall_s_per_audio_s"] = wall_total / audio_total
    result["added_latency_samples"] = None  # needs the whole signal
    return result


def print_table(cfg: StftConfig, results: list, clip_names: list) -> None:
    print(f"\nn_fft {cfg.n_fft} / hop {cfg.hop_length} (budget {cfg.budget_us:.1f} us); "
          f"SC dB (lower is better); cost: real-time p50/p99 % of hop budget, offline wall s per s of audio")
    head = f"{'method':<27}" + "".join(f"{n[:10]:>11}" for n in clip_names)
    head += f"{'p50 %':>8}{'p99 %':>8}{'wall s/s':>10}{'added ms':>10}"
    print(head)
    print("-" * len(head))
    for r in results:
        line = f"{r['label']:<27}" + "".join(f"{r['sc_db'].get(n, float('nan')):>11.1f}" for n in clip_names)
        if r["kind"] == "realtime":
            f = r["fraction_of_budget"]
            line += f"{100 * f['p50']:>8.2f}{100 * f['p99']:>8.2f}{'':>10}{r['added_latency_ms']:>10.2f}"
        else:
            line += f"{'':>8}{'':>8}{r['wall_s_per_audio_s']:>10.3f}{'offline':>10}"
        print(line)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="rows (--methods takes ids or families): "
               + ", ".join(f"{r.id} [{r.family}]" for r in ROWS))
    parser.add_argument("--seconds", type=float, default=None,
                        help="cap on each clip's length in seconds (default: whole clip, 4-6 s)")
    parser.add_argument("--methods", default=None, help="comma-separated row ids or families")
    parser.add_argument("--hops", default=f"{N_FFT // 4},{N_FFT // 8}",
                        help=f"comma-separated hop lengths (default {N_FFT // 4},{N_FFT // 8})")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1.5 s per clip and fewer rows")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (1.5 if args.quick else None)
    try:
        hops = [int(h) for h in args.hops.split(",") if h.strip()]
    except ValueError:
        raise SystemExit(f"--hops={args.hops!r} must be comma-separated integers") from None
    rows = select_rows(args.methods, args.quick)

    clips = signals.all_clips(seconds)
    if not clips:
        raise SystemExit("no test clip could be built")
    clip_names = [name for name, _, _ in clips]
    print("clips:")
    for name, x, desc in clips:
        print(f"  {name:<11} {x.size / SAMPLE_RATE:5.2f} s  {desc}")

    results, skipped, checks, failures = [], [], {}, []
    for hop in hops:
        try:
            cfg = StftConfig(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=hop, window=WINDOW)
        except ParameterError as err:
            raise SystemExit(f"--hops: {err}") from None
        families = {r.family for r in rows}
        # The peers' frame grids must match ours, else their SC would measure a misalignment.
        if "librosa" in families:
            try:
                sc = check_librosa_alignment(clips[0][1], cfg)
                checks[f"librosa_istft_true_phase_sc_db_hop{hop}"] = sc
                if sc > INPUT_SC_LIMIT_DB:
                    failures.append(f"hop {hop}: librosa alignment check SC {sc:.1f} dB > {INPUT_SC_LIMIT_DB} dB")
            except Unavailable as err:
                print(f"note: hop {hop}: librosa alignment check skipped: {err}")
        if "pghipy" in families:
            try:
                diff = check_pghipy_frames(clips[0][1], cfg)
                checks[f"pghipy_frame_map_max_abs_diff_hop{hop}"] = diff
                if not diff < 1e-9:
                    failures.append(f"hop {hop}: pghipy frame mapping differs by {diff}")
            except Unavailable as err:
                print(f"note: hop {hop}: pghipy frame check skipped: {err}")
        hop_results = []
        for row in rows:
            try:
                r = run_row(row, cfg, clips)
            except Unavailable as err:
                skipped.append({"id": row.id, "hop_length": hop, "reason": str(err)})
                continue
            hop_results.append(r)
            if row.id == "input":
                worst = max(r["sc_db"].values())
                if worst > INPUT_SC_LIMIT_DB:
                    failures.append(f"hop {hop}: input phase SC {worst:.1f} dB > {INPUT_SC_LIMIT_DB} dB: "
                                    f"the harness is misaligned")
        print_table(cfg, hop_results, clip_names)
        results.extend(hop_results)

    if skipped:
        print("\nskipped:")
        for s in skipped:
            print(f"  hop {s['hop_length']:>4} {s['id']:<18} {s['reason']}")
    meta = {"rtst": __version__, "git": git_revision(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": version_of("numba"), "librosa": version_of("librosa"),
            "pghipy": version_of("pghipy"), "scipy": version_of("scipy"), "machine": platform.machine(),
            "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "window": WINDOW, "hops": hops,
            "warmup_hops_discarded": WARMUP_HOPS, "seconds_cap": seconds,
            "clips": [{"name": n, "seconds": x.size / SAMPLE_RATE, "source": d} for n, x, d in clips],
            "checks": checks}
    doc = {"benchmark": "phase", "meta": meta, "results": results, "skipped": skipped,
           "failures": failures}
    print(json.dumps(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    if failures:
        for f in failures:
            print(f"error: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

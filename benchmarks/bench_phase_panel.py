#!/usr/bin/env python3
"""Phase reconstruction on the quality panel: every real-time method against the offline floor,
on identity magnitudes and on every shipped model's.

The panel (rtst/testing/panel.py: a low male voice, a female voice, recorded speech, a solo
melody, polyphonic music, percussive sounds) represents what users play. For each **source** of
magnitudes, each clip and each real-time **row** (method, lookahead, options), the streaming
engine runs the clip one hop per call and the spectral convergence of what it emits against what
the model asked for (``rtst.measure.bench.run_processor``) is reported beside the **offline
floor**: the same magnitudes through offline PGHI and 100 fast Griffin-Lim iterations
(``rtst.measure.bench.offline_floor_db``). Sources:

* ``identity hann/256``: the clip's own magnitudes at the shipped models' STFT (n_fft 1024, hop 256);
* ``identity gauss/64``: n_fft 1024, hop 64, truncated Gaussian window: the same 1024-sample
  algorithmic latency at one hop of lookahead as hop 256 without, four times the redundancy;
* every shipped model (``rtst.list_models()``) at its own STFT.

Then the targets of the phase issue, each met or missed by how much (docs/phase.md). The row
settings were chosen on the tuning set (``--tuning``, rtst/testing/tuning.py), not on the panel.

    python benchmarks/bench_phase_panel.py [--tuning] [--clips a,b] [--sources a,b] [--rows a,b]
                                           [--seconds S] [--jobs N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.config import StftConfig
from rtst.engine import Processor
from rtst.measure.bench import FLOOR_GLA_ITERATIONS, git_revision, offline_floor_db, run_processor, version_of
from rtst.model import list_models, load_model
from rtst.presets import PRESETS

SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Source:
    """Where the magnitudes come from: a model (or ``identity``) at an STFT."""

    name: str
    model: str
    n_fft: int
    hop_length: int
    window: str

    def stft(self) -> StftConfig:
        return StftConfig(sample_rate=SAMPLE_RATE, n_fft=self.n_fft, hop_length=self.hop_length, window=self.window)


@dataclass(frozen=True)
class PhaseRow:
    id: str
    method: str
    lookahead: int
    options: dict = field(default_factory=dict)


ROWS = [
    PhaseRow("input-0", "input", 0),
    PhaseRow("guided-0", "guided", 0),
    PhaseRow("guided-1", "guided", 1),
    # fewer refinements at one hop of lookahead: what the quality preset's compute budget affords
    PhaseRow("guided-1-it1", "guided", 1, {"iterations": 1}),
    PhaseRow("guided-1-it2", "guided", 1, {"iterations": 2}),
    PhaseRow("guided-2", "guided", 2),
    PhaseRow("rtpghi-0", "rtpghi", 0),
    PhaseRow("rtpghi-1", "rtpghi", 1),
    PhaseRow("spsi-0", "spsi", 0),
    PhaseRow("hybrid-1", "hybrid", 1),
    PhaseRow("hybrid-1-it8", "hybrid", 1, {"iterations": 8}),
    PhaseRow("hybrid-2", "hybrid", 2),
    PhaseRow("hybrid-3", "hybrid", 3),
    PhaseRow("rtisila-3", "rtisila", 3),
]
ROW_IDS = [r.id for r in ROWS]


def all_sources() -> list[Source]:
    sources = [Source("identity hann/256", "identity", 1024, 256, "hann"),
               Source("identity gauss/64", "identity", 1024, 64, "gauss")]
    for name in list_models():
        if name != "identity":
            cfg = load_model(name).stft
            sources.append(Source(name, name, cfg.n_fft, cfg.hop_length, cfg.window))
    return sources


def row_id(method: str, lookahead: int) -> str:
    return f"{method}-{lookahead}"


def latency_samples(src: Source, lookahead: int) -> int:
    return src.n_fft - src.hop_length + lookahead * src.hop_length


# ------------------------------------------------------------------------------------ running
def run_cell(task) -> dict:
    """One source x one clip: the offline floor and every row. Runs in a worker process."""
    src, clip_name, x, rows = task
    cfg = src.stft()
    out = {"source": src.name, "clip": clip_name, "sc_db": {}, "p50_us": {}, "floor_db": None}
    target = None
    for row in rows:
        model = load_model(src.model)
        proc = Processor(cfg, model=model, phase=row.method, lookahead=row.lookahead, block_size=cfg.hop_length,
                         phase_options=row.options or None)
        r = run_processor(proc, x)
        out["sc_db"][row.id] = r["spectral_convergence_db"]
        out["p50_us"][row.id] = float(np.median(r["hop_ns"])) / 1e3
        target = r["target_mag"]
    if target is not None:
        out["floor_db"] = offline_floor_db(target, cfg, x.size)
    return out


# ------------------------------------------------------------------------------------ targets
def targets(cells: dict, clips: list[str], sources: dict) -> list[dict]:
    """The phase issue's targets, from the cells (``cells[(source, clip)]``)."""
    found = []

    def check(what: str, source: str, clip: str, value, bound: float, kind: str = "<="):
        if value is None or (source, clip) not in cells:
            return
        met = value <= bound
        found.append({"target": what, "source": source, "clip": clip, "value": round(value, 2),
                      "bound": bound, "met": bool(met), "missed_by_db": 0.0 if met else round(value - bound, 2)})

    def sc(source, clip, row):
        cell = cells.get((source, clip))
        return None if cell is None else cell["sc_db"].get(row)

    mag_only = "identity gauss/64"
    for clip, bound in (("male_speech", -20.0), ("music", -18.0), ("percussive", -15.0)):
        check("RTPGHI(1) at 1024 samples", mag_only, clip, sc(mag_only, clip, "rtpghi-1"), bound)
    for row in ("hybrid-1", "hybrid-1-it8"):
        check(f"{row} at 1024 samples", mag_only, "male_speech", sc(mag_only, "male_speech", row), -24.0)
    for clip in clips:
        cell = cells.get((mag_only, clip))
        if cell is None:
            continue
        best = [v for k, v in cell["sc_db"].items() if k.startswith("hybrid-")]
        if best and cell["floor_db"] is not None:
            check("best hybrid (lookahead <= 3) - offline floor", mag_only, clip, min(best) - cell["floor_db"], 1.0)
    default = PRESETS["default"]
    rid = row_id(default.phase, default.lookahead)
    for name, src in sources.items():
        if src.model == "identity":
            continue
        for clip in clips:
            cell = cells.get((name, clip))
            if cell is None or rid not in cell["sc_db"]:
                continue
            check(f"default preset's phase ({rid}) - offline floor", name, clip,
                  cell["sc_db"][rid] - cell["floor_db"], 1.0)
    return found


# ------------------------------------------------------------------------------------ printing
def print_source(src: Source, cells: dict, clips: list[str], rows: list[PhaseRow]) -> None:
    cfg = src.stft()
    print(f"\n{src.name}: model {src.model}, n_fft {src.n_fft} / hop {src.hop_length} / {src.window}; "
          f"SC dB (lower is better); p50 = per-hop compute, % of the {cfg.budget_us:.0f} us hop")
    short = [c[:10] for c in clips]
    head = f"{'row':<14}{'latency':>8}" + "".join(f"{c:>11}" for c in short) + f"{'p50 %':>8}"
    print(head)
    print("-" * len(head))
    floors = [cells[(src.name, c)]["floor_db"] if (src.name, c) in cells else float("nan") for c in clips]
    print(f"{'offline floor':<14}{'-':>8}" + "".join(f"{v:>11.1f}" for v in floors))
    for row in rows:
        vals = [cells[(src.name, c)]["sc_db"].get(row.id, float("nan")) if (src.name, c) in cells else float("nan")
                for c in clips]
        p50 = [cells[(src.name, c)]["p50_us"].get(row.id) for c in clips if (src.name, c) in cells]
        p50 = [v for v in p50 if v is not None]
        pct = 100.0 * float(np.median(p50)) / cfg.budget_us if p50 else float("nan")
        print(f"{row.id:<14}{latency_samples(src, row.lookahead):>8}" + "".join(f"{v:>11.1f}" for v in vals)
              + f"{pct:>8.1f}")


def print_targets(found: list[dict]) -> None:
    print("\ntargets (value <= bound; differences to the offline floor in dB):")
    for t in found:
        verdict = "met" if t["met"] else f"missed by {t['missed_by_db']:.1f} dB"
        print(f"  {t['target']:<48} {t['source']:<18} {t['clip']:<16} {t['value']:>7.1f} <= {t['bound']:>6.1f}  "
              f"{verdict}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuning", action="store_true", help="run on the tuning set (rtst/testing/tuning.py) "
                        "instead of the panel")
    parser.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    parser.add_argument("--sources", default=None, help="comma-separated source names (default: all)")
    parser.add_argument("--rows", default=None, help=f"comma-separated row ids (default: all: {', '.join(ROW_IDS)})")
    parser.add_argument("--seconds", type=float, default=None, help="cap on each clip's length")
    parser.add_argument("--jobs", type=int, default=min(2, multiprocessing.cpu_count()),
                        help="worker processes (default: 2 or the CPU count)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    if args.tuning:
        from rtst.testing.tuning import tuning_set
        clips = tuning_set()
    else:
        from rtst.testing.panel import panel
        clips = panel(args.clips.split(",") if args.clips else None)
    if args.tuning and args.clips:
        clips = [c for c in clips if c.name in args.clips.split(",")]
    if args.seconds:
        clips = [c._replace(signal=c.signal[:int(args.seconds * SAMPLE_RATE)]) for c in clips]
    sources = {s.name: s for s in all_sources()}
    if args.sources:
        wanted = args.sources.split(",")
        unknown = [w for w in wanted if w not in sources]
        if unknown:
            raise SystemExit(f"--sources: {', '.join(unknown)} unknown; choose from {', '.join(sources)}")
        sources = {w: sources[w] for w in wanted}
    rows = ROWS
    if args.rows:
        unknown = [r for r in args.rows.split(",") if r not in ROW_IDS]
        if unknown:
            raise SystemExit(f"--rows: {', '.join(unknown)} unknown; choose from {', '.join(ROW_IDS)}")
        rows = [r for r in ROWS if r.id in args.rows.split(",")]
    clip_names = [c.name for c in clips]
    print("clips:")
    for c in clips:
        print(f"  {c.name:<16} {c.signal.size / SAMPLE_RATE:5.2f} s  {c.description[:100]}")

    tasks = [(src, c.name, c.signal, rows) for src in sources.values() for c in clips]
    t0 = time.perf_counter()
    cells = {}
    with multiprocessing.get_context("spawn").Pool(max(1, args.jobs)) as pool:
        for done, cell in enumerate(pool.imap_unordered(run_cell, tasks), 1):
            cells[(cell["source"], cell["clip"])] = cell
            print(f"  [{done}/{len(tasks)}] {cell['source']} / {cell['clip']} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    for src in sources.values():
        print_source(src, cells, clip_names, rows)
    found = targets(cells, clip_names, sources) if not args.tuning else []
    if found:
        print_targets(found)
    meta = {"rtst": __version__, "git": git_revision(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": version_of("numba"), "onnxruntime": version_of("onnxruntime"),
            "machine": platform.machine(), "sample_rate": SAMPLE_RATE, "floor": f"PGHI + {FLOOR_GLA_ITERATIONS} "
            "fast Griffin-Lim iterations", "set": "tuning" if args.tuning else "panel",
            "clips": [{"name": c.name, "seconds": c.signal.size / SAMPLE_RATE, "source": c.source} for c in clips],
            "sources": [vars(s) for s in sources.values()],
            "rows": [{"id": r.id, "method": r.method, "lookahead": r.lookahead, "options": r.options} for r in rows],
            "wall_s": round(time.perf_counter() - t0, 1)}
    doc = {"benchmark": "phase_panel", "meta": meta, "cells": list(cells.values()), "targets": found}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()

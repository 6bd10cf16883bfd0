#!/usr/bin/env python3
"""The quality panel: every style model judged through the real streaming engine on fixed recordings.

For each model (default: every models/*.onnx) and each clip of rtst/testing/panel.py (male,
female and recorded speech, a sung-like melody, polyphonic music, percussive sounds): timbre cut
towards the style, onset correlation, pitch kept (pYIN voicing recall, f0 correlation, median cents),
spectral convergence of what is heard against what the model asked for and its offline floor, the
teacher objective against the teacher's, wall times; the same for the teacher (cached in
benchmarks/results/quality_teacher/). Then the quality targets per model, met or missed by how much.
The measures and targets are in rtst/transfer/quality.py; ``rtst evaluate`` runs the same code.

    OMP_NUM_THREADS=1 python benchmarks/bench_quality.py [--models cello,bells] [--clips melody,music]
        [--teacher-iterations 100 | --no-teacher] [--phase METHOD] [--lookahead K]
        [--json benchmarks/results/quality.json] [--png benchmarks/results/]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


from rtst.errors import RtstError
from rtst.transfer import quality


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of both this script and ``rtst evaluate``."""
    parser.add_argument("--models", default=None, help="comma-separated model names, .onnx paths or identity "
                        "(default: every models/*.onnx)")
    parser.add_argument("--clips", default=None, help="comma-separated panel clips (default: all)")
    parser.add_argument("--teacher-iterations", type=int, default=100, help="teacher L-BFGS iterations (default 100)")
    parser.add_argument("--no-teacher", action="store_true", help="skip the teacher (no objective ratio)")
    parser.add_argument("--phase", default=None, help="phase method for every model (default: each model's own, "
                        "rtst.presets.phase_for_model)")
    parser.add_argument("--lookahead", type=int, default=None, help="phase lookahead in hops (default: as --phase)")
    parser.add_argument("--json", default=str(quality.RESULTS_DIR / "quality.json"), help="write all figures here "
                        "(default benchmarks/results/quality.json; '' for none)")
    parser.add_argument("--png", default=str(quality.RESULTS_DIR), help="folder for quality_MODEL.png "
                        "(default benchmarks/results/; '' for none)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")


def run(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results = quality.evaluate(
        quality.model_paths(args.models), args.clips.split(",") if args.clips else None,
        phase=args.phase, lookahead=args.lookahead, teacher_iterations=args.teacher_iterations,
        teacher=not args.no_teacher, png_dir=Path(args.png) if args.png else None,
        log=lambda line: print(line, flush=True))
    print()
    print(quality.format_report(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"wrote {args.json}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return run(args)
    except RtstError as exc:
        print(f"bench_quality: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

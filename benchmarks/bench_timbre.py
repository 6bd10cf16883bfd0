#!/usr/bin/env python3
"""The paired timbre benchmark: does a style model make instrument A sound like instrument B?

For each style B (cello, organ, tubular bells, choir aahs, nylon guitar; General MIDI) and 16
pairs of input instrument A x melody (rtst/testing/melodies.py), the input is the melody played by
A and the reference the same melody played by B (fluidsynth, FluidR3_GM, sample-aligned). Rows:
passthrough, per-frame cross-synthesis (B's mean cepstral envelope from a style clip of another
melody) and every model given, run as ``rtst.Effect(model=SPEC)(audio, 48000)``. Measures
(rtst/measure/timbre.py, all after loudness normalisation on equal lengths): the paired log-mel cut,
an instrument classifier's cut, p(B) and B's share of the windows, pitch kept (within 50 cents x
voicing recall) and octave errors beside the reference's own, onset F-measure and loudness-contour
correlation against the input; and, on speech and a sung line, the classifier's p(speech) and p(B).
The panel and its caches are rtst/testing/timbre_panel.py (``run_panel``).

    python benchmarks/bench_timbre.py [--models cello,organ,bells] [--styles cello,organ,...]
        [--style-of my.onnx=cello] [--quick] [--workers 2]
        [--json benchmarks/results/timbre.json] [--png benchmarks/results/]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rtst.errors import ParameterError, RtstError
from rtst.testing import timbre_panel

RESULTS = Path(__file__).resolve().parent / "results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="cello,organ,bells", help="comma-separated model specs: shipped "
                        "names or .onnx paths ('' for the baselines alone; default cello,organ,bells)")
    parser.add_argument("--styles", default=None, help="styles to judge (default: cello,organ,bells,choir,guitar); "
                        "a model of unknown style is judged on each")
    parser.add_argument("--style-of", action="append", default=[], metavar="SPEC=STYLE",
                        help="the style a model is for (repeatable); shipped names have theirs")
    parser.add_argument("--quick", action="store_true", help="smoke run: one melody, two inputs per style")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--classifier", default=None, help="classifier npz (default "
                        "benchmarks/results/timbre_classifier.npz)")
    parser.add_argument("--json", default=str(RESULTS / "timbre.json"), help="write all figures here "
                        "(default benchmarks/results/timbre.json; '' for none)")
    parser.add_argument("--png", default=str(RESULTS), help="folder for timbre_STYLE.png (default "
                        "benchmarks/results/; '' for none)")


def _style_of(items) -> dict:
    out = {}
    for item in items:
        spec, sep, style = item.rpartition("=")
        if not sep or not spec or not style:
            raise ParameterError(f"--style-of takes SPEC=STYLE, got {item!r}")
        out[spec] = style
    return out


def run(args) -> int:
    started = time.perf_counter()
    models = [m for m in args.models.split(",") if m] if args.models else []
    results = timbre_panel.run_panel(
        models, styles=args.styles.split(",") if args.styles else None, style_of=_style_of(args.style_of),
        quick=args.quick, workers=args.workers, classifier_path=args.classifier,
        png_dir=Path(args.png) if args.png else None, log=lambda line: print(line, flush=True))
    print()
    print(timbre_panel.format_report(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"wrote {args.json}")
    meta = {k: results[k] for k in ("benchmark", "quick", "rtst", "git", "python", "numpy", "librosa", "onnxruntime",
                                     "workers", "wall_s")}
    print(json.dumps({**meta, "models": models, "total_s": round(time.perf_counter() - started, 1)}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return run(args)
    except RtstError as exc:
        print(f"bench_timbre: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

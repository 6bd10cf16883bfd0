#!/usr/bin/env python3
"""The real-time student against its teacher, on held-out content.

For each student model (default: every model shipped in models/) and each held-out content clip
(rtst/testing/clips.py: recorded alsa-utils speech, espeak-ng speech, a rendered OpenMSX MIDI;
all kept out of the training corpus by tools/make_corpus.py), rows:

* ``passthrough``  the content unchanged
* ``student``      the ONNX model run by the streaming engine (rtst.engine.Processor, one hop at a
                   time, RTPGHI phase), i.e. exactly ``rtst render --model NAME``
* ``teacher``      L-BFGS style transfer (``rtst transfer``) with the student's own descriptor and
                   content weight (from the model's metadata), offline PGHI + fast Griffin-Lim

Columns: the teacher objective (relative losses with the training descriptor; the student's on the
feature frames it outputs, the teacher's on its optimised features), the independent timbre distance
to the style (Fréchet distance of MFCC statistics) and its change against passthrough, content
retention (time-aligned loudness-envelope correlation; a student keeps each frame's input energy by
construction, so for it the onset-envelope correlation beside it says more), wall time, and the
student's speed-up over the teacher.
Then per model: one ONNX step (``model.process``, feature transform included) timed over many hops,
p50/p99/max in microseconds and as a fraction of the hop budget.

Targets: student objective <= 1.5 x the teacher's on the same clip; timbre distance >= 50 %
below passthrough with retention >= 0.6; student >= 1000 x faster than the teacher; ONNX step p99
<= 5 % of the hop budget.

    python benchmarks/bench_student.py [--models a,b] [--contents speech_content,...] [--iterations 100]
                                       [--step-hops 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from rtst.testing import clips as teacher_clips
from rtst.measure.bench import git_revision, version_of

from rtst import __version__
from rtst.model import MODELS_DIR
from rtst.config import StftConfig

CONTENTS = ("speech_content", "tts_content", "music_content")


def style_clip(style_meta: dict):
    """The style clip a model was trained on, rebuilt by teacher_clips (by file stem)."""
    stem = Path(style_meta.get("file", "")).stem
    make = getattr(teacher_clips, stem, None)
    if make is None or stem not in {f.__name__ for f in teacher_clips.STYLE}:
        return None
    return make()


def resample_to(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    if rate_from == rate_to:
        return x
    import soxr

    return soxr.resample(x, rate_from, rate_to, quality="VHQ")


def render_student(model_path: Path, signal: np.ndarray, stft_config: StftConfig):
    """Run ``signal`` through the streaming engine with the model; returns (audio, features_out, wall_s).

    ``features_out`` are the model's output frames (log1p domain) as the engine produced them, hop
    by hop (:attr:`Processor.mag_out`): the engine's hop ``j`` is the offline STFT's frame ``j``
    (:func:`rtst.dsp.stft.stft`), the frames the teacher optimises, so both objectives are taken
    on the same frames."""
    from rtst.dsp.stft import n_frames_for
    from rtst.engine import Processor
    from rtst.model import load_model

    model = load_model(str(model_path))
    proc = Processor(stft_config, model=model, phase="rtpghi", block_size=stft_config.hop_length)
    hop = stft_config.hop_length
    latency = proc.latency_samples
    src = np.zeros(signal.size + latency + hop, dtype=np.float32)
    src[:signal.size] = signal
    dst = np.zeros_like(src)
    n_frames = n_frames_for(signal.size, stft_config)
    frames = np.zeros((stft_config.n_bins, src.size // hop + 1))
    started = time.perf_counter()
    for j, start in enumerate(range(0, src.size, hop)):
        proc.process(src[start:start + hop], dst[start:start + hop])  # one hop per block of a hop
        frames[:, j] = proc.mag_out
    wall = time.perf_counter() - started
    assert proc.stats["hops"] >= n_frames, "the engine ran fewer hops than the content has frames"
    audio = dst[latency:latency + signal.size].astype(np.float64)
    return audio, np.log1p(frames[:, :n_frames]).astype(np.float32), wall


def time_steps(model_path: Path, stft_config: StftConfig, frames: np.ndarray, hops: int) -> dict:
    """Per-step time of the ONNX model over ``hops`` steps (frames cycled), after warm-up."""
    from rtst.model.onnx import OnnxStepModel

    model = OnnxStepModel(model_path)
    model.prepare(stft_config.n_bins)
    out = np.zeros(stft_config.n_bins)
    cols = [np.ascontiguousarray(np.expm1(frames[:, t]).astype(np.float64)) for t in range(frames.shape[1])]
    for t in range(200):
        model.process(cols[t % len(cols)], out)
    times = np.empty(hops)
    for i in range(hops):
        t0 = time.perf_counter_ns()
        model.process(cols[i % len(cols)], out)
        times[i] = time.perf_counter_ns() - t0
    budget_us = 1e6 * stft_config.hop_length / stft_config.sample_rate
    us = times / 1e3
    return {"hops": hops, "budget_us": budget_us, "p50_us": float(np.percentile(us, 50)),
            "p99_us": float(np.percentile(us, 99)), "max_us": float(us.max()),
            "p50_fraction": float(np.percentile(us, 50) / budget_us),
            "p99_fraction": float(np.percentile(us, 99) / budget_us)}


def main():
    import torch

    from rtst.transfer.descriptors import DescriptorConfig, build_descriptor
    from rtst.transfer.distill import read_training
    from rtst.transfer.features import signal_features
    from rtst.transfer.losses import TeacherObjective
    from rtst.transfer.run import evaluate_result
    from rtst.transfer.teacher import TeacherConfig, transfer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated model names in models/ or .onnx paths "
                        "(default: every shipped model)")
    parser.add_argument("--contents", default=",".join(CONTENTS), help=f"held-out content clips (default {','.join(CONTENTS)})")
    parser.add_argument("--iterations", type=int, default=100, help="teacher L-BFGS iterations (default 100; 0: no teacher)")
    parser.add_argument("--step-hops", type=int, default=5000, help="ONNX steps to time per model (default 5000)")
    parser.add_argument("--json", default=None, help="write all figures to this JSON file")
    args = parser.parse_args()

    if args.models:
        paths = [Path(m) if m.endswith(".onnx") else MODELS_DIR / f"{m}.onnx" for m in args.models.split(",")]
    else:
        paths = sorted(MODELS_DIR.glob("*.onnx"))
    if not paths:
        sys.exit("no student models: train one with rtst distill (see models/README.md)")
    contents = []
    for name in args.contents.split(","):
        clip = getattr(teacher_clips, name)()
        if clip is not None:
            contents.append(clip)

    results = {"benchmark": "student", "rtst_version": __version__, "git": git_revision(),
               "machine": platform.processor() or platform.machine(), "torch": version_of("torch"),
               "onnxruntime": version_of("onnxruntime"), "teacher_iterations": args.iterations, "models": []}
    print(f"student vs teacher, held-out content, teacher {args.iterations} L-BFGS iterations; each row: "
          "objective (content, style) | timbre distance (change vs passthrough) | retention (onset correlation) | wall")
    for path in paths:
        meta = read_training(path)
        training, style_meta = meta["training"], meta["style"]
        from rtst.model.onnx import OnnxStepModel

        stft_config = OnnxStepModel(path).stft
        clip = style_clip(style_meta)
        if clip is None:
            print(f"{path.stem}: style {style_meta.get('file')!r} cannot be rebuilt here; skipped")
            continue
        style = resample_to(clip[1], teacher_clips.SAMPLE_RATE, stft_config.sample_rate)
        dconf = DescriptorConfig.from_dict(training["descriptor"])
        descriptor = build_descriptor(dconf)
        content_weight = training["config"]["content_weight"]
        style_feat = signal_features(style, stft_config)
        entry = {"model": path.stem, "stft": stft_config.__dict__, "style": style_meta, "descriptor": dconf.to_dict(),
                 "content_weight": content_weight, "clips": []}
        print(f"\n{path.stem}: style {clip[0]}, n_fft {stft_config.n_fft} hop {stft_config.hop_length}, "
              f"descriptor random {dconf.filters[0]}x{dconf.kernel_size}, content weight {content_weight}")
        for cname, content48, _ in contents:
            content = resample_to(content48, teacher_clips.SAMPLE_RATE, stft_config.sample_rate)
            content_feat = signal_features(content, stft_config)
            objective = TeacherObjective(descriptor, torch.from_numpy(content_feat), torch.from_numpy(style_feat),
                                         content_weight=content_weight)

            def losses(feat):
                with torch.no_grad():
                    return [float(v) for v in objective(torch.from_numpy(np.ascontiguousarray(feat, dtype=np.float32)))]

            row = {"content": cname, "seconds": content.size / stft_config.sample_rate}
            row["passthrough"] = {"objective": losses(content_feat), **evaluate_result(content, content, style, stft_config.sample_rate)}
            audio, feats, wall = render_student(path, content, stft_config)
            row["student"] = {"objective": losses(feats), "wall_s": wall,
                              **evaluate_result(audio, content, style, stft_config.sample_rate)}
            if args.iterations:
                result = transfer(content, style, stft_config, descriptor,
                                  config=TeacherConfig(iterations=args.iterations, content_weight=content_weight))
                row["teacher"] = {"objective": [result.final["total"], result.final["content"], result.final["style"]],
                                  "wall_s": result.optimise_seconds + result.phase_seconds,
                                  **evaluate_result(result.audio, content, style, stft_config.sample_rate)}
                row["objective_ratio"] = row["student"]["objective"][0] / max(row["teacher"]["objective"][0], 1e-12)
                row["speedup"] = row["teacher"]["wall_s"] / row["student"]["wall_s"]
            entry["clips"].append(row)
            print(f"  {cname}  ({row['seconds']:.1f} s)")
            for key in ("passthrough", "student", "teacher")[:3 if args.iterations else 2]:
                r = row[key]
                wall_text = f"{r['wall_s']:8.2f} s" if "wall_s" in r else " " * 10
                print(f"    {key:<12} {r['objective'][0]:.4f} ({r['objective'][1]:.3f}, {r['objective'][2]:.4f}) | "
                      f"{r['timbre_distance']:7.2f} ({100 * r['timbre_distance_change']:+4.0f} %) | "
                      f"{r['content_retention']:.2f} (onsets {r['onset_correlation']:.2f}) | {wall_text}")
            if args.iterations:
                print(f"    student/teacher objective {row['objective_ratio']:.2f}x, speed-up {row['speedup']:.0f}x")
        first = resample_to(contents[0][1], teacher_clips.SAMPLE_RATE, stft_config.sample_rate)
        timing = time_steps(path, stft_config, signal_features(first, stft_config), args.step_hops)
        entry["step"] = timing
        print(f"  ONNX step over {timing['hops']} hops: p50 {timing['p50_us']:.0f} us, p99 {timing['p99_us']:.0f} us, "
              f"max {timing['max_us']:.0f} us of a {timing['budget_us']:.0f} us hop (p99 "
              f"{100 * timing['p99_fraction']:.1f} % of budget)")
        results["models"].append(entry)

    print("\nsummary (targets: objective <= 1.5x teacher, timbre <= -50 % with retention >= 0.6, >= 1000x faster, "
          "step p99 <= 5 %)")
    for entry in results["models"]:
        for row in entry["clips"] if args.iterations else []:
            s = row["student"]
            ok = [row["objective_ratio"] <= 1.5, s["timbre_distance_change"] <= -0.5 and s["content_retention"] >= 0.6,
                  row["speedup"] >= 1000]
            print(f"  {entry['model']:<16} {row['content']:<15} objective {row['objective_ratio']:.2f}x "
                  f"{'ok' if ok[0] else 'MISS'} | timbre {100 * s['timbre_distance_change']:+.0f} % retention "
                  f"{s['content_retention']:.2f} {'ok' if ok[1] else 'MISS'} (onsets {s['onset_correlation']:.2f}) | {row['speedup']:.0f}x {'ok' if ok[2] else 'MISS'}")
        print(f"  {entry['model']:<16} step p99 {100 * entry['step']['p99_fraction']:.1f} % "
              f"{'ok' if entry['step']['p99_fraction'] <= 0.05 else 'MISS'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

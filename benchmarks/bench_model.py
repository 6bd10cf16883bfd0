#!/usr/bin/env python3
"""The model step: onnxruntime (several session options) against the compiled student step, and
what each does to every preset's per-hop compute, in one run.

Table 1, per shipped model: median and p99.9 of one step (magnitude in, magnitude out, as the
engine calls it) with onnxruntime as rtst configures it (one thread, sequential, bound I/O), with
its memory arena off, with graph optimisation off, and with the compiled step; onnxruntime's own
floor is the first row: a graph that only scales the frame (one Mul), same binding, same sizes.
Table 2, per preset: the engine's hop compute (p50/p99/p99.9/max, % of the hop) with the model on
onnxruntime and compiled, same audio, same run.

    python benchmarks/bench_model.py [--steps 5000] [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.engine import Processor
from rtst.measure.bench import git_revision
from rtst.model import MODELS_DIR
from rtst.model.onnx import OnnxStepModel
from rtst.presets import PRESET_NAMES, resolve
from rtst.testing.onnx_models import write_echo_model


def time_steps(step, n: int) -> dict:
    ns = np.empty(n, np.int64)
    for i in range(n):
        t0 = time.perf_counter_ns()
        step()
        ns[i] = time.perf_counter_ns() - t0
    us = ns / 1e3
    return {"p50": float(np.median(us)), "p999": float(np.percentile(us, 99.9))}


def ort_variant(path, **options) -> OnnxStepModel:
    """An onnxruntime-run model with some session options changed (the rest as rtst sets them)."""
    import onnxruntime as ort

    model = OnnxStepModel(path, engine="onnxruntime")
    if options:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        for key, value in options.items():
            setattr(opts, key, value)
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        binding = session.io_binding()
        binding.bind_cpu_input(model._frame_in_name, model._frame_in)
        binding.bind_output(model._frame_out_name, "cpu", 0, np.float32, model._frame_out.shape,
                            model._frame_out.ctypes.data)
        for s, a, b in zip(model._states, model._state_in, model._state_out):
            binding.bind_cpu_input(s["input"], a)
            binding.bind_output(s["output"], "cpu", 0, np.float32, b.shape, b.ctypes.data)
        model.session, model._binding = session, binding
    model.prepare(model.stft.n_bins)
    return model


def model_table(steps: int) -> list:
    import onnxruntime as ort

    rows = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for n_fft in (256, 1024):
            path = Path(tmp) / f"floor{n_fft}.onnx"
            write_echo_model(path, n_fft=n_fft, hop_length=n_fft // 4)
            model = ort_variant(path)
            mag, out = np.abs(rng.standard_normal(n_fft // 2 + 1)), np.zeros(n_fft // 2 + 1)
            rows.append({"model": f"onnxruntime floor (one Mul, {n_fft // 2 + 1} bins)",
                         "onnxruntime": time_steps(lambda: model.process(mag, out), steps)})
    variants = {"onnxruntime": {}, "ort_no_arena": {"enable_cpu_mem_arena": False},
                "ort_no_graph_opt": {"graph_optimization_level": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}}
    for path in sorted(MODELS_DIR.glob("*.onnx")):
        row = {"model": path.stem}
        for name, options in variants.items():
            model = ort_variant(path, **options)
            mag, out = np.abs(rng.standard_normal(model.stft.n_bins)) * 3, np.zeros(model.stft.n_bins)
            row[name] = time_steps(lambda: model.process(mag, out), steps)
        model = OnnxStepModel(path, engine="compiled")
        model.prepare(model.stft.n_bins)
        row["compiled"] = time_steps(lambda: model.process(mag, out), steps)
        row["parity_error"] = model.parity_error()
        rows.append(row)
    return rows


def preset_table(seconds: float) -> list:
    rows = []
    for preset in PRESET_NAMES:
        settings = resolve(preset=preset)
        hop = settings.stft.hop_length
        rng = np.random.default_rng(1)
        t = np.arange(int(seconds * settings.stft.sample_rate)) / settings.stft.sample_rate
        x = (0.2 * np.sin(2 * np.pi * 196 * t * (1 + 0.01 * np.sin(2 * np.pi * 5 * t)))
             + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        row = {"preset": preset, "model": settings.model.name, "phase": settings.phase,
               "lookahead": settings.lookahead, "budget_us": None}
        for engine in ("onnxruntime", "compiled"):
            model = OnnxStepModel(settings.model.path, engine=engine)
            proc = Processor(settings.stft, model=model, phase=settings.phase, lookahead=settings.lookahead,
                             block_size=hop, phase_options=dict(settings.phase_options))
            out = np.zeros(hop, np.float32)
            for i in range(0, 200 * hop, hop):
                proc.process(x[i:i + hop], out)
            proc.reset()
            for i in range(0, x.size - hop + 1, hop):
                proc.process(x[i:i + hop], out)
            frac = proc.hop_times_ns()[:x.size // hop] / 1e3 / proc.budget_us
            p50, p99, p999 = np.percentile(frac, [50, 99, 99.9])
            row["budget_us"] = proc.budget_us
            row[engine] = {"p50": float(p50), "p99": float(p99), "p999": float(p999), "max": float(frac.max())}
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    models = model_table(args.steps)
    print("model step, microseconds (median / p99.9)")
    cols = ["onnxruntime", "ort_no_arena", "ort_no_graph_opt", "compiled"]
    print(f"{'model':42s}" + "".join(f"{c:>20s}" for c in cols) + f"{'parity':>10s}")
    for row in models:
        cells = "".join(f"{row[c]['p50']:9.1f} / {row[c]['p999']:7.1f}" if c in row else f"{'':>20s}" for c in cols)
        parity = f"{row['parity_error']:10.1e}" if "parity_error" in row else ""
        print(f"{row['model']:42s}{cells}{parity}")
    presets = preset_table(args.seconds)
    print("\nhop compute, % of the hop (p50 / p99 / p99.9 / max)")
    for row in presets:
        for engine in ("onnxruntime", "compiled"):
            r = row[engine]
            print(f"{row['preset']:12s} {row['model']:9s} {row['phase']}({row['lookahead']}) {engine:12s} "
                  f"{100 * r['p50']:5.2f} / {100 * r['p99']:5.2f} / {100 * r['p999']:5.2f} / {100 * r['max']:5.2f}"
                  f"   (targets 3 / - / 15 / -)")
    result = {"rtst": __version__, "git": git_revision(), "python": platform.python_version(),
              "machine": platform.machine(), "models": models, "presets": presets}
    line = json.dumps(result)
    print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

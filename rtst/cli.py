"""Command line: ``rtst devices | live | render | bench | transfer | train-descriptor | distill | evaluate | demo`` (DESIGN §4).

Errors are one line on stderr: exit status 2 for bad arguments or input (parameters, files,
models), 1 for runtime failures (devices, streams).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.errors import DeviceError, RtstError
from rtst.presets import DEFAULT_PHASE  # rtst.presets imports nothing heavy (--help stays fast)
from rtst.transfer import DEFAULT_CONTENT_WEIGHT, DEFAULT_ENVELOPE_WEIGHT

__all__ = ["main", "build_parser"]

#: Phase methods offered (the registry in rtst.phase; kept literal so --help needs no numba import).
PHASE_CHOICES = ("rtpghi", "hybrid", "rtisila", "spsi", "input")
#: Presets (rtst.presets; literal here so --help needs no import).
PRESET_CHOICES = ("low-latency", "default", "quality")
DEMO_CLIP = Path(__file__).resolve().parent / "data" / "demo.wav"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are a single line (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_engine_args(p: argparse.ArgumentParser, presets=PRESET_CHOICES) -> None:
    p.add_argument("--preset", default=None, choices=presets,
                   help=f"named model + phase settings ({', '.join(presets)}); options given too win")
    p.add_argument("--model", default=None, help="model name in models/, a .onnx path, or 'identity' (default)")
    p.add_argument("--phase", default=None, choices=PHASE_CHOICES,
                   help="phase reconstruction method (default: the model's preset's, see rtst.presets."
                        f"phase_for_model; {DEFAULT_PHASE} for a model no preset covers)")
    p.add_argument("--lookahead", type=int, default=None,
                   help="phase lookahead in hops, each adds one hop of latency (method default if omitted: "
                        "hybrid 1, rtpghi 1, rtisila 3, spsi/input 0)")
    p.add_argument("--iterations", type=int, default=None, help="rtisila/hybrid: projections per frame per hop (default 4)")
    p.add_argument("--tol", type=float, default=None, help="rtpghi/hybrid: relative tolerance for random phase (default 1e-5)")
    p.add_argument("--seed", type=int, default=None, help="rtpghi/hybrid: seed of the random phases (default 0)")
    p.add_argument("--window", default=None, choices=("hann", "gauss"), help="analysis window (default: the model's, else hann)")
    p.add_argument("--mix", type=float, default=1.0, help="dry/wet mix, 0 = dry .. 1 = wet (default 1)")
    p.add_argument("--sample-rate", type=int, default=None, help="engine sample rate in Hz (default: the model's, else 48000)")
    p.add_argument("--n-fft", type=int, default=None, help="frame length in samples (default: the model's, else 1024)")
    p.add_argument("--hop-length", type=int, default=None, help="hop in samples (default: the model's, else 256)")
    p.add_argument("--report", default=None, metavar="PATH.json", help="write the run's report JSON here")


def _add_stft_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample-rate", type=int, default=48000, help="working sample rate in Hz (default 48000)")
    p.add_argument("--n-fft", type=int, default=1024, help="frame length in samples (default 1024)")
    p.add_argument("--hop-length", type=int, default=256, help="hop in samples (default 256)")
    p.add_argument("--window", default="hann", choices=("hann", "gauss"), help="analysis window (default hann)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rtst", description="Real-time neural audio style transfer.")
    parser.add_argument("--version", action="version", version=f"rtst {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("devices", help="list audio devices")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("live", help="run the effect on the sound card")
    p.add_argument("--input", default=None, metavar="DEV", help="input device index or name (default device if omitted)")
    p.add_argument("--output", default=None, metavar="DEV", help="output device index or name (default device if omitted)")
    p.add_argument("--block-size", type=int, default=None, help="frames per audio callback (default: the hop; 0 = host's choice)")
    p.add_argument("--latency", default="low", help="host latency: low, high or seconds (default low)")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--view", action="store_true", help="open the live view (spectrograms, meters, controls) in its own process")
    p.add_argument("--view-fps", type=float, default=30.0, metavar="HZ",
                   help="view redraws per second, 1 to 120 (default 30; fewer cost less CPU)")
    p.add_argument("--view-screenshot", default=None, metavar="PATH.png",
                   help="with --view: save a picture of the view (e.g. for a bug report)")
    p.add_argument("--view-screenshot-after", type=float, default=5.0, metavar="SECONDS",
                   help="when to take it, after the stream started (default 5)")
    p.add_argument("--models", nargs="+", default=None, metavar="NAME",
                   help="models to preload for live switching (default: identity and every shipped model that fits the STFT)")
    p.add_argument("--morph-model", default=None, metavar="NAME|PATH", help="a second style to morph towards (control 'morph')")
    p.add_argument("--osc", default=None, metavar="[HOST:]PORT",
                   help="listen for OSC control messages (/rtst/mix, /bypass, /morph, /model, /phase); host 127.0.0.1 unless given")
    p.add_argument("--midi", default=None, metavar="PORT", help="MIDI input port (name or part of it) for control")
    p.add_argument("--midi-map", default=None, metavar="PATH.toml", help="MIDI mapping (default: rtst/data/midi_default.toml)")
    p.add_argument("--record", default=None, metavar="PATH.wav", help="record input and output (2 channels, float) to a new WAV file")
    _add_engine_args(p)

    p = sub.add_parser("render", help="process an audio file offline through the streaming engine")
    p.add_argument("input", help="input audio file (anything libsndfile reads; any rate, any channels)")
    p.add_argument("output", help="output audio file (.wav or .flac); same length and rate as the input")
    p.add_argument("--block-size", type=int, default=None, help="block size fed to the engine (default: the hop)")
    _add_engine_args(p)

    p = sub.add_parser("bench", help="time the full pipeline per hop against the real-time budget (no sound card)")
    p.add_argument("--input", default=None, metavar="AUDIO", help="audio to stream (default: the bundled demo clip)")
    p.add_argument("--seconds", type=float, default=10.0, help="audio to stream, looping the input (default 10)")
    _add_engine_args(p, presets=PRESET_CHOICES + ("all",))

    p = sub.add_parser("latency", help="measure the round-trip latency by loopback (JACK: wired automatically)")
    p.add_argument("--input", default=None, metavar="DEV", help="input device index or name (default device if omitted)")
    p.add_argument("--output", default=None, metavar="DEV", help="output device index or name (default device if omitted)")
    p.add_argument("--through-effect", action="store_true",
                   help="measure through the effect (identity model, input phase, the preset's or given STFT and lookahead) "
                        "instead of a bare wire")
    p.add_argument("--repeats", type=int, default=8, help="chirps measured (default 8): mean and jitter")
    p.add_argument("--block-size", type=int, default=None, help="frames per callback (default: the hop, or 256 for a bare wire)")
    p.add_argument("--latency", default="low", help="host latency: low, high or seconds (default low)")
    p.add_argument("--no-connect", action="store_true", help="on JACK, do not wire output to input (you patch it)")
    p.add_argument("--max-lag", type=float, default=0.5, metavar="SECONDS", help="longest round trip looked for (default 0.5)")
    _add_engine_args(p)

    p = sub.add_parser("transfer", help="offline style transfer by optimisation (the teacher; needs the train extra)")
    p.add_argument("--content", required=True, metavar="WAV", help="content audio (any rate/channels: resampled, downmixed)")
    p.add_argument("--style", required=True, metavar="WAV", help="style audio (any rate/channels: resampled, downmixed)")
    p.add_argument("--output", required=True, metavar="WAV", help="result (.wav or .flac) at the STFT's sample rate")
    p.add_argument("--iterations", type=int, default=300, help="L-BFGS iterations (default 300)")
    p.add_argument("--descriptor", default="random", metavar="random|random2d|PATH",
                   help="random 1-D conv (Ulyanov, default), random 2-D CNN, or a checkpoint from train-descriptor")
    p.add_argument("--init", default="content", choices=("content", "noise"), help="start from the content (default) or noise")
    p.add_argument("--content-weight", type=float, default=None,
                   help=f"weight of the relative content loss (style weight 1; default {DEFAULT_CONTENT_WEIGHT})")
    p.add_argument("--style-weight", type=float, default=1.0, help="weight of the relative style loss (default 1)")
    p.add_argument("--envelope-weight", type=float, default=DEFAULT_ENVELOPE_WEIGHT,
                   help=f"weight of the envelope (timbre) term in the style loss (default {DEFAULT_ENVELOPE_WEIGHT}; 0: Gram only)")
    p.add_argument("--content-layers", type=float, nargs="+", default=None, metavar="W",
                   help="per-layer content weights of a multi-layer descriptor (default all 1)")
    p.add_argument("--style-layers", type=float, nargs="+", default=None, metavar="W",
                   help="per-layer style weights of a multi-layer descriptor (default all 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random descriptor, noise and phase (default 0)")
    p.add_argument("--filters", type=int, nargs="+", default=None, help="random descriptors: channels per layer")
    p.add_argument("--kernel-size", type=int, default=None, help="random descriptors: kernel size (frames/pixels)")
    p.add_argument("--dilation", type=int, default=None, help="random descriptor: kernel dilation in frames")
    p.add_argument("--gla-iterations", type=int, default=100, help="fast Griffin-Lim iterations after PGHI (default 100)")
    p.add_argument("--max-memory-gb", type=float, default=8.0, help="refuse clips whose working set exceeds this (default 8)")
    _add_stft_args(p)
    p.add_argument("--report", default=None, metavar="PATH.json", help="write the run's report JSON (loss curve, metrics)")
    p.add_argument("--plot", default=None, metavar="PATH.png", help="write content / style / result spectrograms")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("train-descriptor", help="train a Wyse descriptor on labelled audio (needs the train extra)")
    p.add_argument("--data", required=True, metavar="DIR", help="DIR/<class>/*.wav, or ESC-50 (DIR/meta/esc50.csv + DIR/audio/)")
    p.add_argument("--output", required=True, metavar="PATH.pt", help="checkpoint to write (config + weights)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, crops and initial weights (default 0)")
    p.add_argument("--filters", type=int, nargs=2, default=(2048, 64), help="channels of the two conv layers (default 2048 64)")
    p.add_argument("--kernel-size", type=int, default=3, help="conv kernel in frames (default 3)")
    p.add_argument("--crop-frames", type=int, default=96, help="training crop length in frames (default 96)")
    p.add_argument("--val-fold", type=int, default=5, help="ESC-50: the validation fold (default 5)")
    _add_stft_args(p)
    p.add_argument("--report", default=None, metavar="PATH.json", help="write the training record as JSON")

    p = sub.add_parser("distill", help="train a real-time student for one style (needs the train extra)")
    p.add_argument("--style", required=True, metavar="WAV", help="the style clip")
    p.add_argument("--content", required=True, nargs="+", metavar="DIR", help="content files or folders (searched recursively)")
    p.add_argument("--output", required=True, metavar="PATH.onnx", help="ONNX step model to write (checkpoint: PATH.onnx.ckpt)")
    p.add_argument("--name", default=None, help="model name in reports (default: the output file's stem)")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=4, help="content segments per step (default 4)")
    p.add_argument("--segment-frames", type=int, default=128, help="frames per segment the loss sees (default 128)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="peak Adam learning rate (default 1e-3)")
    p.add_argument("--content-weight", type=float, default=None,
                   help=f"weight of the content loss (default {DEFAULT_CONTENT_WEIGHT}, as rtst transfer)")
    p.add_argument("--style-weight", type=float, default=1.0, help="weight of the style loss (default 1)")
    p.add_argument("--envelope-weight", type=float, default=DEFAULT_ENVELOPE_WEIGHT,
                   help=f"weight of the envelope (timbre) term in the style loss (default {DEFAULT_ENVELOPE_WEIGHT}, as rtst transfer)")
    p.add_argument("--smooth-weight", type=float, default=None,
                   help="weight of the penalty on a rough student filter (frame to frame, band to band; default 10)")
    p.add_argument("--gram-weight", type=float, default=None,
                   help="weight of the Gram (texture) part of the style loss (default 0: the envelope alone)")
    p.add_argument("--envelope-seconds", type=float, default=None,
                   help="time constant of the student's running estimate of the input's envelope (default 0.1 s)")
    p.add_argument("--filters", type=int, default=1024, help="random descriptor filters (default 1024)")
    p.add_argument("--kernel-size", type=int, default=11, help="random descriptor kernel in frames (default 11)")
    p.add_argument("--dilation", type=int, default=1, help="random descriptor dilation in frames (default 1)")
    p.add_argument("--descriptor-seed", type=int, default=0, help="seed of the descriptor's random weights (default 0)")
    p.add_argument("--channels", type=int, default=192, help="student hidden channels (default 192)")
    p.add_argument("--dilations", type=int, nargs="+", default=(1, 2, 4, 8), help="student layer dilations (default 1 2 4 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and segment draws (default 0)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (default 100)")
    p.add_argument("--resume", action="store_true", help="continue from PATH.onnx.ckpt")
    p.add_argument("--device", default=None, help="torch device (default cuda when available, else cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    p.add_argument("--style-licence", default=None, help="source and licence of the style clip, stored in the model")
    _add_stft_args(p)
    p.add_argument("--report", default=None, metavar="PATH.json", help="write the training report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("evaluate", help="judge style models on the quality panel through the streaming engine "
                       "(needs the train and bench extras and a source checkout)")
    p.add_argument("--models", default=None, help="comma-separated model names, .onnx paths or identity "
                   "(default: every models/*.onnx)")
    p.add_argument("--clips", default=None, help="comma-separated panel clips (default: all; rtst/testing/panel.py)")
    p.add_argument("--teacher-iterations", type=int, default=100, help="teacher L-BFGS iterations (default 100)")
    p.add_argument("--no-teacher", action="store_true", help="skip the teacher (no objective ratio)")
    p.add_argument("--phase", default=None, choices=PHASE_CHOICES, help="phase method for every model "
                   "(default: each model's own, rtst.presets.phase_for_model)")
    p.add_argument("--lookahead", type=int, default=None, help="phase lookahead in hops")
    p.add_argument("--json", default=None, metavar="PATH.json", help="write all figures here")
    p.add_argument("--png", default=None, metavar="DIR", help="write quality_MODEL.png spectrogram grids here")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")

    p = sub.add_parser("demo", help="render the bundled demo clip through the streaming engine")
    p.add_argument("--output", default="rtst-demo-out.wav", help="where to write the result (default rtst-demo-out.wav)")
    _add_engine_args(p)
    return parser


# ------------------------------------------------------------------------------------------ helpers
def _apply_preset(args, model=None) -> None:
    """Fill model, phase and lookahead from ``--preset`` where not given, else from the model
    (:func:`rtst.presets.phase_for_model`; ``model`` is the loaded model when the caller has it)."""
    from rtst.presets import phase_for_model

    preset = None
    if getattr(args, "preset", None) is not None:
        from rtst.presets import get_preset

        preset = get_preset(args.preset)
    if args.model is None:
        args.model = preset.model if preset else "identity"
    if args.phase is None:
        phase, lookahead = (preset.phase, preset.lookahead) if preset else phase_for_model(model or args.model)
        args.phase = phase
        if args.lookahead is None:
            args.lookahead = lookahead


def _make_processor(args, block_size):
    from rtst.config import StftConfig
    from rtst.engine import Processor
    from rtst.model import load_model

    if args.model is None and getattr(args, "preset", None) is not None:
        _apply_preset(args)
    model = load_model(args.model)
    _apply_preset(args, model)
    base = model.stft or StftConfig()
    stft_config = StftConfig(
        sample_rate=args.sample_rate if args.sample_rate is not None else base.sample_rate,
        n_fft=args.n_fft if args.n_fft is not None else base.n_fft,
        hop_length=args.hop_length if args.hop_length is not None else base.hop_length,
        window=args.window if args.window is not None else base.window,
    )
    if block_size is None:
        block_size = stft_config.hop_length
    options = {key: getattr(args, key) for key in ("iterations", "tol", "seed")
               if getattr(args, key) is not None}
    return Processor(stft_config, model=model, phase=args.phase, lookahead=args.lookahead,
                     mix=args.mix, block_size=block_size or None, phase_options=options)


def _render_file(args, input_path, output_path) -> dict:
    from rtst.io.files import read_audio, resample, write_audio
    from rtst.measure.report import build_report, write_report

    if args.block_size is not None and args.block_size < 1:
        from rtst.errors import ParameterError

        raise ParameterError(f"block_size={args.block_size} must be at least 1 for render")
    audio, file_rate, info = read_audio(input_path)
    # one processor (and model state) per channel; channel 0's is the one reported
    processor = _make_processor(args, args.block_size)
    engine_rate = processor.stft.sample_rate
    x = resample(audio, file_rate, engine_rate)  # [n, channels]
    n, channels = x.shape
    latency = processor.latency_samples
    block = processor.block_size or processor.stft.hop_length
    y = np.zeros((n, channels), dtype=np.float32)
    t0 = time.perf_counter()
    processors = [processor] + [_make_processor(args, args.block_size) for _ in range(channels - 1)]
    for ch, proc in enumerate(processors):
        # feed `latency` extra zeros so the tail comes out, then drop the first `latency` samples
        src = np.zeros(n + latency + block, dtype=np.float32)
        src[:n] = x[:, ch]
        dst = np.zeros_like(src)
        for start in range(0, src.shape[0], block):
            proc.process(src[start:start + block], dst[start:start + block])
        y[:, ch] = dst[latency:latency + n]
    wall_s = time.perf_counter() - t0
    out = resample(y, engine_rate, file_rate)
    if out.shape[0] != audio.shape[0]:  # resampling round trip may differ by a sample
        fixed = np.zeros_like(audio)
        m = min(out.shape[0], audio.shape[0])
        fixed[:m] = out[:m]
        out = fixed
    write_audio(output_path, out, file_rate, subtype=info["subtype"], protect=(input_path,))
    duration_s = n / engine_rate
    extra = {
        "preset": args.preset,
        "input": {"path": str(input_path), "sample_rate": file_rate, "channels": info["channels"],
                  "resampled": file_rate != engine_rate, "duration_s": round(duration_s, 3)},
        "output": str(output_path),
        "wall_s": round(wall_s, 3),
        "rtf": round(wall_s / (duration_s * channels), 5),
    }
    for proc in processors[1:]:  # merge safety counters of the other channels
        for key, value in proc.stats.items():
            extra.setdefault("safety_other_channels", {}).setdefault(key, 0)
            extra["safety_other_channels"][key] += value
    report = build_report(processor, extra=extra)
    if args.report:
        write_report(args.report, report)
    return report


# ------------------------------------------------------------------------------------------ commands
def cmd_devices(args) -> int:
    from rtst.io.devices import format_devices, list_devices

    devices = list_devices()
    print(json.dumps(devices, indent=2) if args.json else format_devices(devices))
    return 0


def cmd_render(args) -> int:
    report = _render_file(args, Path(args.input), Path(args.output))
    lat = report["latency_samples"]
    print(
        f"rendered {args.input} -> {args.output}: {report['frames']} hops, latency {lat['total']} samples "
        f"compensated, hop compute p50 {report['hop_compute_us']['p50']:.1f} us / p99 "
        f"{report['hop_compute_us']['p99']:.1f} us of {report['budget_us']:.0f} us budget, RTF {report['rtf']:.4f}"
    )
    return 0


def cmd_demo(args) -> int:
    args.input = str(DEMO_CLIP)
    args.block_size = None
    print(f"rendering the bundled demo clip {DEMO_CLIP.name} hop by hop through the streaming engine")
    return cmd_render(args)


def _host_latency(text: str):
    """``--latency``: PortAudio's "low" or "high", or seconds."""
    if text in ("low", "high"):
        return text
    try:
        return float(text)
    except ValueError:
        from rtst.errors import ParameterError

        raise ParameterError(f"--latency={text!r} must be low, high or seconds") from None


def cmd_live(args) -> int:
    from rtst.config import StreamConfig
    from rtst.measure.report import build_report, write_report

    latency = _host_latency(args.latency)
    from rtst.live import LiveSession

    processor = _make_processor(args, args.block_size)
    stream_config = StreamConfig(
        input_device=args.input, output_device=args.output,
        block_size=processor.block_size or 0, latency=latency,
    )
    osc = None
    if args.osc is not None:
        from rtst.control.osc import parse_address

        osc = parse_address(args.osc)
    from rtst.errors import ParameterError

    if not 1.0 <= args.view_fps <= 120.0:
        raise ParameterError(f"--view-fps={args.view_fps} must be from 1 to 120")
    view_options = {"fps": args.view_fps}
    if args.view_screenshot is not None:
        if not args.view:
            raise ParameterError("--view-screenshot needs --view")
        if not 0 <= args.view_screenshot_after <= 3600:
            raise ParameterError(f"--view-screenshot-after={args.view_screenshot_after} must be from 0 to 3600 s")
        view_options.update(screenshot=args.view_screenshot, screenshot_after_s=args.view_screenshot_after)
    session = LiveSession(processor, stream_config, models=_live_models(args, processor), phases=PHASE_CHOICES,
                          morph_model=_load_named(args.morph_model), view=args.view, view_options=view_options, osc=osc,
                          midi_port=args.midi, midi_map=args.midi_map, record=args.record)
    effect = session.effect
    session_extra = {}
    try:
        session.start()
        io_latency = effect.io_latency_samples
        sr = processor.stft.sample_rate
        controls = [f"OSC on {session.osc.address[0]}:{session.osc.address[1]}"] if session.osc else []
        controls += [f"MIDI from {session.midi.port.name}"] if session.midi and session.midi.port else []
        controls += [f"recording to {args.record}"] if args.record else []
        print(
            f"live: {processor.model.name} / {processor.phase.name}, latency {processor.latency_samples} + {io_latency} "
            f"(I/O) = {processor.latency_samples + io_latency} samples "
            f"({(processor.latency_samples + io_latency) / sr * 1e3:.1f} ms)"
            + "".join(f"; {c}" for c in controls) + "; Ctrl-C stops",
            file=sys.stderr, flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
            session.check()
    except KeyboardInterrupt:
        pass
    finally:
        session_extra = session.stop()
    io_latency = effect.io_latency_samples
    live_stats = effect.stats
    report = build_report(processor, io_latency=io_latency, xruns=live_stats["xruns"],
                          extra={"preset": args.preset, "stream": {**live_stats, "block_size": stream_config.block_size,
                                            "started_monotonic_s": effect.started_at,
                                            "xrun_times_s": effect.xrun_times_s(),
                                            "deadline_miss_times_s": effect.deadline_miss_times_s(),
                                            "input_device": effect.input_device,
                                            "output_device": effect.output_device}, **session_extra})
    if args.report:
        write_report(args.report, report)
    print(f"live: {live_stats['callbacks']} callbacks, {live_stats['xruns']} xruns, "
          f"{live_stats['deadline_misses']} deadline misses", file=sys.stderr)
    record = session_extra.get("record")
    if record:
        print(f"live: recorded {record['seconds']:.1f} s to {record['path']}"
              + (f" ({record['lost']} samples lost)" if record["lost"] else "")
              + (f"; {record['error']}" if record["error"] else ""), file=sys.stderr)
    return 0


def _load_named(name):
    if name is None:
        return None
    from rtst.model import load_model

    return load_model(name)


def _live_models(args, processor) -> dict:
    """Models the performer can switch to, each its own instance, keyed by name."""
    from rtst.model import load_model
    from rtst.model.base import MODELS_DIR
    from rtst.errors import ModelError

    models = {processor.model.name: processor.model}
    if args.models is not None:
        for name in args.models:
            model = load_model(name)
            model.check(processor.stft)  # an explicit choice that does not fit is an error
            models.setdefault(model.name, model)
        return models
    for name in ["identity"] + sorted(p.stem for p in MODELS_DIR.glob("*.onnx")):
        if name in models:
            continue
        try:
            model = load_model(name)
            model.check(processor.stft)
        except ModelError:  # trained for another STFT: not offered
            continue
        models[model.name] = model
    return models


def cmd_bench(args) -> int:
    from rtst.errors import ParameterError
    from rtst.measure.report import write_report

    if not 0.5 <= args.seconds <= 3600:
        raise ParameterError(f"--seconds={args.seconds} must be from 0.5 to 3600")
    if args.preset != "all":
        report = _bench_one(args)
        if args.report:
            write_report(args.report, report)
        return 0
    import copy

    reports = {}
    for name in PRESET_CHOICES:  # each preset in turn, the same audio, nothing else given overrides
        one = copy.copy(args)
        one.preset = name
        reports[name] = _bench_one(one)
    if args.report:
        write_report(args.report, {"presets": reports})
    return 0


def _bench_one(args) -> dict:
    from rtst.measure.bench import percentiles_fraction, run_processor
    from rtst.io.files import read_audio, resample
    from rtst.measure.report import build_report

    processor = _make_processor(args, None)
    path = Path(args.input) if args.input else DEMO_CLIP
    audio, rate, _ = read_audio(path)
    x = resample(audio, rate, processor.stft.sample_rate).mean(axis=1)
    n = int(args.seconds * processor.stft.sample_rate)
    x = np.resize(x, n)  # loop the clip
    result = run_processor(processor, x)
    timing = percentiles_fraction(result["hop_ns"], processor.budget_us)
    duration_s = n / processor.stft.sample_rate
    extra = {
        "preset": args.preset,
        "input": str(path), "duration_s": round(duration_s, 3), "wall_s": round(result["wall_s"], 3),
        "rtf": round(result["wall_s"] / duration_s, 5),
        "hop_compute_percent_of_budget": {k: round(v, 3) for k, v in timing["percent_of_budget"].items()},
        "spectral_convergence_db": round(result["spectral_convergence_db"], 2),
        "phase_options": _phase_options(processor.phase),
    }
    report = build_report(processor, extra=extra)
    pct = timing["percent_of_budget"]
    lat = report["latency_samples"]
    print(
        (f"[{args.preset}] " if args.preset else "")
        + f"bench {processor.model.name} / {processor.phase.name} (lookahead {processor.phase.lookahead}), "
        f"n_fft {processor.stft.n_fft} hop {processor.stft.hop_length} @ {processor.stft.sample_rate} Hz, "
        f"{duration_s:.1f} s: hop compute p50 {pct['p50']:.2f} % / p99 {pct['p99']:.2f} % / "
        f"p99.9 {pct['p999']:.2f} % / max {pct['max']:.2f} % of the {processor.budget_us:.0f} us budget; "
        f"RTF {extra['rtf']:.4f}; latency {lat['algorithmic']} samples "
        f"({lat['algorithmic'] / processor.stft.sample_rate * 1e3:.1f} ms) algorithmic; "
        f"spectral convergence {extra['spectral_convergence_db']:.1f} dB"
    )
    return report


def cmd_latency(args) -> int:
    from rtst.errors import ParameterError
    from rtst.measure.loopback import LoopbackMeasurement
    from rtst.measure.report import build_report, write_report

    host_latency = _host_latency(args.latency)
    if args.block_size is not None and args.block_size < 1:
        raise ParameterError(f"--block-size={args.block_size} must be at least 1")
    processor = None
    if args.through_effect:
        # the effect's latency depends only on its STFT, lookahead and block size: measure it with
        # the identity model and the input's phase, whose output is the input delayed, exactly
        from rtst.model import load_model

        preset = None
        if args.preset is not None:
            from rtst.presets import get_preset

            preset = get_preset(args.preset)
        base = load_model(args.model or (preset.model if preset else "identity")).stft
        if base is not None:
            args.sample_rate = args.sample_rate or base.sample_rate
            args.n_fft = args.n_fft or base.n_fft
            args.hop_length = args.hop_length or base.hop_length
            args.window = args.window or base.window
        if args.lookahead is None and preset is not None and args.phase is None:
            args.lookahead = preset.lookahead
        args.model = "identity"
        args.phase = args.phase or "input"
        args.preset = None
        processor = _make_processor(args, args.block_size)
        sample_rate = processor.stft.sample_rate
        block = processor.block_size or processor.stft.hop_length
    else:
        sample_rate = args.sample_rate or 48000
        block = args.block_size or 256
    meas = LoopbackMeasurement(sample_rate, block, processor=processor, input_device=args.input,
                               output_device=args.output, repeats=args.repeats, latency=host_latency,
                               connect=not args.no_connect, max_lag_s=args.max_lag)
    result = meas.run(log=sys.stderr)
    io = result["io_latency_samples"]
    if processor is not None:
        report = build_report(processor, io_latency=io, measured=result["mean_samples"],
                              xruns=result["xrun_callbacks"], extra={"through_effect": True, "loopback": result})
    else:
        report = {"sample_rate": sample_rate, "n_fft": None, "hop_length": None, "phase": None, "lookahead": None,
                  "model": None,
                  "latency_samples": {"algorithmic": 0, "block_alignment": 0, "io": io, "total": io,
                                      "measured": result["mean_samples"]},
                  "frames": 0, "budget_us": None, "hop_compute_us": None, "deadline_misses": 0,
                  "xruns": result["xrun_callbacks"], "through_effect": False, "block_size": block, "loopback": result}
    lat = report["latency_samples"]
    lat["measured_minus_predicted"] = round(result["mean_samples"] - lat["total"], 3)
    report["latency_ms"] = {k: (None if v is None else round(v / sample_rate * 1e3, 3))
                            for k, v in lat.items() if k != "measured_minus_predicted"}
    if args.report:
        write_report(args.report, report)
    ms = report["latency_ms"]
    path = "bare wire" if processor is None else (
        f"through the effect: {processor.phase.name} phase, n_fft {processor.stft.n_fft}, "
        f"hop {processor.stft.hop_length}, lookahead {processor.phase.lookahead}")
    print(f"latency ({path}, block {block}, {result['hostapi']}): algorithmic {lat['algorithmic']} + block alignment {lat['block_alignment']} "
          f"+ I/O {io} = predicted {lat['total']} samples ({ms['total']:.2f} ms); measured {result['mean_samples']:.2f} "
          f"± {result['jitter_samples']:.2f} samples ({ms['measured']:.2f} ms) over {result['used']} of "
          f"{result['repeats']} chirps (min {result['min_samples']:.2f}, max {result['max_samples']:.2f}); "
          f"measured - predicted {lat['measured_minus_predicted']:+.2f}")
    return 0


def _need_torch(command: str):
    try:
        import torch
        del torch
    except ImportError:
        raise _MissingExtra(f"{command} needs PyTorch (the train extra): bash tools/setup.sh train") from None


class _MissingExtra(RtstError):
    """An optional dependency is not installed (a runtime failure, exit status 1)."""


def _stft_from_args(args):
    from rtst.config import StftConfig

    return StftConfig(sample_rate=args.sample_rate, n_fft=args.n_fft, hop_length=args.hop_length, window=args.window)


def cmd_transfer(args) -> int:
    stft_config = _stft_from_args(args)
    _need_torch("rtst transfer")
    from rtst.measure.report import write_report
    from rtst.transfer.run import run_transfer
    from rtst.transfer.teacher import TeacherConfig

    if not args.max_memory_gb > 0:
        from rtst.errors import ParameterError

        raise ParameterError(f"--max-memory-gb={args.max_memory_gb} must be > 0")
    content_weight = DEFAULT_CONTENT_WEIGHT if args.content_weight is None else args.content_weight
    config = TeacherConfig(iterations=args.iterations, init=args.init, content_weight=content_weight,
                           style_weight=args.style_weight, envelope_weight=args.envelope_weight, seed=args.seed,
                           gla_iterations=args.gla_iterations,
                           content_layers=tuple(args.content_layers) if args.content_layers else None,
                           style_layers=tuple(args.style_layers) if args.style_layers else None,
                           memory_limit_bytes=int(args.max_memory_gb * 2 ** 30))
    report = run_transfer(args.content, args.style, args.output, stft_config, descriptor=args.descriptor,
                          teacher_config=config, filters=args.filters, kernel_size=args.kernel_size,
                          dilation=args.dilation, plot_path=args.plot, progress=None if args.quiet else sys.stderr)
    if args.report:
        write_report(args.report, report)
    m = report["metrics"]
    print(f"wrote {args.output}: {report['iterations_run']} iterations ({report['stopped']}), loss "
          f"{report['initial_loss']['total']:.4g} -> {report['final_loss']['total']:.4g} (content "
          f"{report['final_loss']['content']:.4g}, style {report['final_loss']['style']:.4g}), "
          f"{report['wall_s']:.1f} s; timbre distance to style {m['timbre_distance']:.1f} "
          f"(content's own {m['timbre_distance_passthrough']:.1f}, {100 * m['timbre_distance_change']:+.0f} %), "
          f"content retention {m['content_retention']:.2f}")
    for note in report["notes"]:
        print(f"note: {note}")
    return 0


def cmd_train_descriptor(args) -> int:
    stft_config = _stft_from_args(args)
    _need_torch("rtst train-descriptor")
    from rtst.measure.report import write_report
    from rtst.transfer.train import TrainConfig, train_descriptor

    config = TrainConfig(epochs=args.epochs, seed=args.seed, filters=tuple(args.filters),
                         kernel_size=args.kernel_size, crop_frames=args.crop_frames, val_fold=args.val_fold)
    record = train_descriptor(args.data, args.output, stft_config, config=config, progress=sys.stderr)
    if args.report:
        write_report(args.report, record)
    print(f"wrote {args.output}: {len(record['classes'])} classes, {record['train_clips']} training / "
          f"{record['val_clips']} validation clips, validation accuracy {record['val_accuracy']:.3f} "
          f"(chance {record['chance_accuracy']:.3f}), centroid task {record['val_aux_accuracy']:.3f}, "
          f"{record['wall_seconds']:.0f} s")
    return 0


def cmd_distill(args) -> int:
    stft_config = _stft_from_args(args)
    _need_torch("rtst distill")
    from rtst.measure.report import write_report
    from rtst.transfer.distill import DistillConfig, distill

    if args.threads is not None:
        if args.threads < 1:
            from rtst.errors import ParameterError

            raise ParameterError(f"--threads={args.threads} must be at least 1")
        import torch

        torch.set_num_threads(args.threads)
    content_weight = DEFAULT_CONTENT_WEIGHT if args.content_weight is None else args.content_weight
    given = {k: getattr(args, k) for k in ("smooth_weight", "gram_weight", "envelope_seconds")
             if getattr(args, k) is not None}   # else DistillConfig's defaults
    config = DistillConfig(**given, steps=args.steps, batch_size=args.batch_size, segment_frames=args.segment_frames,
                           learning_rate=args.learning_rate, content_weight=content_weight,
                           style_weight=args.style_weight, envelope_weight=args.envelope_weight,
                           filters=args.filters, kernel_size=args.kernel_size, dilation=args.dilation, descriptor_seed=args.descriptor_seed, channels=args.channels,
                           dilations=tuple(args.dilations), seed=args.seed, checkpoint_every=args.checkpoint_every)
    command = "rtst " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if args.argv is None else args.argv))
    report = distill(args.style, args.content, args.output, stft_config, config=config, name=args.name,
                     resume=args.resume, device=args.device, progress=None if args.quiet else sys.stderr,
                     style_info={"licence": args.style_licence} if args.style_licence else None, command=command)
    if args.report:
        write_report(args.report, report)
    f = report["final_losses_last100"]
    print(f"wrote {args.output}: {report['steps']} steps in {report['seconds']:.0f} s on {report['device']}, "
          f"loss {f['total']:.4g} (content {f['content']:.4g}, style {f['style']:.4g}; mean of the last 100 steps), "
          f"{report['student']['parameters']} parameters, receptive field {report['student']['receptive_field_frames']} frames")
    return 0


def cmd_evaluate(args) -> int:
    _need_torch("rtst evaluate")
    import torch

    from rtst.errors import ParameterError
    from rtst.transfer import quality

    if args.threads < 1 or args.teacher_iterations < 1:
        raise ParameterError("--threads and --teacher-iterations must be at least 1")
    torch.set_num_threads(args.threads)
    results = quality.evaluate(quality.model_paths(args.models), args.clips.split(",") if args.clips else None,
                               phase=args.phase, lookahead=args.lookahead, teacher_iterations=args.teacher_iterations,
                               teacher=not args.no_teacher, png_dir=Path(args.png) if args.png else None,
                               log=lambda line: print(line, file=sys.stderr, flush=True))
    print(quality.format_report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


def _phase_options(phase) -> dict:
    keys = ("iterations", "momentum", "asymmetric", "tol", "seed", "gamma")
    return {k: getattr(phase, k) for k in keys if hasattr(phase, k)}


COMMANDS = {"devices": cmd_devices, "live": cmd_live, "render": cmd_render, "demo": cmd_demo,
            "bench": cmd_bench, "latency": cmd_latency, "transfer": cmd_transfer, "train-descriptor": cmd_train_descriptor,
            "distill": cmd_distill, "evaluate": cmd_evaluate}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = None if argv is None else list(argv)
    try:
        return COMMANDS[args.command](args)
    except RtstError as exc:
        print(f"rtst {args.command}: error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, (DeviceError, _MissingExtra)) else 2
    except KeyboardInterrupt:
        return 130

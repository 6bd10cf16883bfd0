"""Command line: ``rtst devices | live | render | demo | bench | latency | transfer | train-descriptor | distill |
learn-style | evaluate`` (docs/cli.md).

It parses, calls the library (:mod:`rtst.presets`, :mod:`rtst.render`, :mod:`rtst.live`,
:mod:`rtst.measure`, :mod:`rtst.transfer`) and prints.

Errors are one line on stderr: exit status 2 for bad arguments or input (parameters, files,
models), 1 for runtime failures (devices, streams).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from pathlib import Path


from rtst import __version__
from rtst.errors import DeviceError, RtstError
from rtst.phase import METHODS, PHASE_NAMES
from rtst.presets import DEFAULT_PHASE, DEFAULT_PRESET, PRESET_NAMES, PRESETS
from rtst.transfer import DEFAULT_CONTENT_WEIGHT, DEFAULT_ENVELOPE_WEIGHT
from rtst.transfer.learn import APPROACHES as LEARN_APPROACHES

__all__ = ["main", "build_parser"]

DEMO_CLIP = Path(__file__).resolve().parent / "data" / "demo.wav"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are a single line (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_engine_args(p: argparse.ArgumentParser, presets=PRESET_NAMES) -> None:
    p.add_argument("--preset", default=None, choices=presets,
                   help=f"named model + phase settings ({', '.join(presets)}); options given too win")
    p.add_argument("--model", default=None,
                   help=f"shipped model name (rtst.list_models()), a .onnx path, or 'identity' (default: the preset's; "
                        f"without a preset, the {DEFAULT_PRESET} preset's: {PRESETS[DEFAULT_PRESET].model})")
    p.add_argument("--phase", default=None, choices=PHASE_NAMES,
                   help="phase reconstruction method (default: the model's preset's, see rtst.presets."
                        f"phase_for_model; {DEFAULT_PHASE} for a model no preset covers)")
    p.add_argument("--lookahead", type=int, default=None,
                   help="phase lookahead in hops, each adds one hop of latency (method default if omitted: "
                        + ", ".join(f"{name} {METHODS[name].default_lookahead}" for name in PHASE_NAMES) + ")")
    p.add_argument("--iterations", type=int, default=None, help="rtisila/hybrid/guided: projections per frame per hop (default 4; "
                   "guided without lookahead 0)")
    p.add_argument("--tol", type=float, default=None, help="rtpghi/hybrid/guided: relative tolerance for random phase (default 1e-5)")
    p.add_argument("--seed", type=int, default=None, help="rtpghi/hybrid/guided: seed of the random phases (default 0)")
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


def _add_host_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="auto", choices=("auto", "jack", "portaudio"),
                   help="audio host: the effect's own JACK client (client rtst, ports in_1/out_1/out_2) or a "
                        "PortAudio stream; auto: JACK when a server runs and no device is named (default)")


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
    p.add_argument("--capture-dir", default=None, metavar="DIR", help="enable live capture (OSC /rtst/capture SECONDS, "
                   "a MIDI note, the view): the input is learned into a new style in a background process and played; "
                   "clips and models are saved here, never overwriting")
    _add_host_arg(p)
    _add_engine_args(p)

    p = sub.add_parser("render", help="process an audio file offline through the streaming engine")
    p.add_argument("input", help="input audio file (anything libsndfile reads; any rate, any channels)")
    p.add_argument("output", help="output audio file (.wav or .flac); same length and rate as the input")
    p.add_argument("--block-size", type=int, default=None, help="block size fed to the engine (default: the hop)")
    _add_engine_args(p)

    p = sub.add_parser("bench", help="time the full pipeline per hop against the real-time budget (no sound card)")
    p.add_argument("--input", default=None, metavar="AUDIO", help="audio to stream (default: the bundled demo clip)")
    p.add_argument("--seconds", type=float, default=10.0, help="audio to stream, looping the input (default 10)")
    _add_engine_args(p, presets=PRESET_NAMES + ("all",))

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
    _add_host_arg(p)
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

    p = sub.add_parser("learn-style", help="make a style model from any clip in seconds (needs the train extra)")
    p.add_argument("style", help="the style clip (anything libsndfile reads; at least 3 s of sound)")
    p.add_argument("--output", required=True, metavar="PATH.onnx", help="the model to write")
    p.add_argument("--preset", default="default", choices=("default", "low-latency"),
                   help="the preset (STFT) the model is for (default: default)")
    p.add_argument("--seconds", type=float, default=60.0, help="wall-clock budget in seconds (default 60)")
    p.add_argument("--name", default=None, help="model name (default: the output's stem)")
    p.add_argument("--approach", default=LEARN_APPROACHES[0], choices=LEARN_APPROACHES,
                   help="resynth (default): play the performer's pitch and loudness with the clip's partials and "
                        "noise; filter: move the input's envelope to the clip's (keeps the input's partials)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("evaluate", help="judge style models on the quality panel through the streaming engine "
                       "(needs the train and bench extras and a source checkout)")
    p.add_argument("--models", default=None, help="comma-separated model names, .onnx paths or identity "
                   "(default: every models/*.onnx)")
    p.add_argument("--clips", default=None, help="comma-separated panel clips (default: all; rtst/testing/panel.py)")
    p.add_argument("--teacher-iterations", type=int, default=100, help="teacher L-BFGS iterations (default 100)")
    p.add_argument("--no-teacher", action="store_true", help="skip the teacher (no objective ratio)")
    p.add_argument("--phase", default=None, choices=PHASE_NAMES, help="phase method for every model "
                   "(default: each model's own, rtst.presets.phase_for_model)")
    p.add_argument("--lookahead", type=int, default=None, help="phase lookahead in hops")
    p.add_argument("--json", default=None, metavar="PATH.json", help="write all figures here")
    p.add_argument("--png", default=None, metavar="DIR", help="write quality_MODEL.png spectrogram grids here")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--paired", action="store_true",
                   help="run the paired timbre benchmark instead (benchmarks/bench_timbre.py): each model against "
                        "the same melodies played by its style's instrument (bench extra)")
    p.add_argument("--quick", action="store_true", help="with --paired: one melody, two inputs per style")

    p = sub.add_parser("demo", help="render the bundled demo clip through the streaming engine")
    p.add_argument("--output", default="rtst-demo-out.wav", help="where to write the result (default rtst-demo-out.wav)")
    _add_engine_args(p)
    return parser


# ------------------------------------------------------------------------------------------ helpers
def _settings(args, **given):
    """What to run, from --preset/--model/--phase/... (rtst.presets.resolve: one pass, one place)."""
    from rtst.presets import resolve

    engine = {k: getattr(args, k) for k in ("preset", "model", "phase", "lookahead", "sample_rate", "n_fft",
                                              "hop_length", "window", "mix")}
    engine.update(given)
    return resolve(**engine, phase_options={k: getattr(args, k) for k in ("iterations", "tol", "seed")})


def _host_latency(text: str):
    """``--latency``: PortAudio's "low" or "high", or seconds."""
    if text in ("low", "high"):
        return text
    try:
        return float(text)
    except ValueError:
        from rtst.errors import ParameterError

        raise ParameterError(f"--latency={text!r} must be low, high or seconds") from None


def _write_report(args, report: dict) -> None:
    if args.report:
        from rtst.measure.report import write_report

        write_report(args.report, report)


# ------------------------------------------------------------------------------------------ commands
def cmd_devices(args) -> int:
    from rtst.io.devices import format_devices, list_devices

    devices = list_devices()
    print(json.dumps(devices, indent=2) if args.json else format_devices(devices))
    return 0


def cmd_render(args) -> int:
    from rtst.render import render_file

    settings = _settings(args)
    report = render_file(args.input, args.output, settings, block_size=args.block_size)
    _write_report(args, report)
    lat = report["latency_samples"]
    print(
        f"rendered {args.input} -> {args.output} with the {report['model']!r} model / {report['phase']} phase: "
        f"{report['frames']} hops, latency {lat['total']} samples compensated, hop compute p50 "
        f"{report['hop_compute_us']['p50']:.1f} us / p99 {report['hop_compute_us']['p99']:.1f} us of "
        f"{report['budget_us']:.0f} us budget, RTF {report['rtf']:.4f}"
    )
    return 0


def cmd_demo(args) -> int:
    args.input = str(DEMO_CLIP)
    args.block_size = None
    print(f"rendering the bundled demo clip {DEMO_CLIP.name} hop by hop through the streaming engine")
    return cmd_render(args)


#: How often `rtst live --report` rewrites its report while it runs.
REPORT_EVERY_S = 0.5


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_live(args) -> int:
    from rtst.config import StreamConfig
    from rtst.errors import ParameterError
    from rtst.live import LiveSession
    from rtst.live.session import switchable_models
    from rtst.measure.report import live_report
    from rtst.model import load_model

    latency = _host_latency(args.latency)
    settings = _settings(args)
    block_size = settings.stft.hop_length if args.block_size is None else args.block_size
    processor = settings.processor(block_size)
    stream_config = StreamConfig(input_device=args.input, output_device=args.output,
                                 block_size=processor.block_size or 0, latency=latency)
    osc = None
    if args.osc is not None:
        from rtst.control.osc import parse_address

        osc = parse_address(args.osc)
    if not 1.0 <= args.view_fps <= 120.0:
        raise ParameterError(f"--view-fps={args.view_fps} must be from 1 to 120")
    view_options = {"fps": args.view_fps}
    if args.view_screenshot is not None:
        if not args.view:
            raise ParameterError("--view-screenshot needs --view")
        if not 0 <= args.view_screenshot_after <= 3600:
            raise ParameterError(f"--view-screenshot-after={args.view_screenshot_after} must be from 0 to 3600 s")
        view_options.update(screenshot=args.view_screenshot, screenshot_after_s=args.view_screenshot_after)
    session = LiveSession(processor, stream_config, models=switchable_models(processor, args.models),
                          morph_model=None if args.morph_model is None else load_model(args.morph_model),
                          view=args.view, view_options=view_options, osc=osc,
                          midi_port=args.midi, midi_map=args.midi_map, record=args.record,
                          capture_dir=args.capture_dir, host=args.host)
    effect = session.effect
    session_extra = {}
    # SIGUSR1 marks the counters (report "marks"): scripts bracket a window with two, and the
    # differences count every xrun and deadline miss in it. The handler runs on the main thread.
    marks = []
    previous_usr1 = signal.signal(signal.SIGUSR1, lambda signum, frame: marks.append(session.mark()))
    # SIGTERM ends the run as Ctrl-C does: the recording and the report are finalised, exit 0
    previous_term = signal.signal(signal.SIGTERM, _interrupt)

    def progress() -> dict:
        return {**session.figures(), "marks": marks, "complete": False, "written_monotonic_s": time.monotonic(),
                "error": None}

    failure = None

    try:
        session.start()
        io_latency = effect.io_latency_samples
        sr = processor.stft.sample_rate
        control = session.control
        controls = [f"OSC on {control.osc_address[0]}:{control.osc_address[1]}"] if control and control.osc_address else []
        controls += [f"MIDI from {control.midi_port_name}"] if control and control.midi_port_name else []
        controls += [f"recording to {args.record}"] if args.record else []
        controls += [f"capturing into {args.capture_dir}"] if args.capture_dir else []
        print(
            f"live: {processor.model.name} / {processor.phase.name}, latency {processor.latency_samples} + {io_latency} "
            f"(I/O) = {processor.latency_samples + io_latency} samples "
            f"({(processor.latency_samples + io_latency) / sr * 1e3:.1f} ms)"
            + "".join(f"; {c}" for c in controls) + "; Ctrl-C stops",
            file=sys.stderr, flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        next_report = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
            session.check()
            if args.report and time.monotonic() >= next_report:
                # a report no older than REPORT_EVERY_S even if the process is killed (SIGKILL)
                _write_report(args, live_report(processor, effect, stream_config, preset=settings.preset,
                                                extra=progress()))
                next_report = time.monotonic() + REPORT_EVERY_S
    except KeyboardInterrupt:
        pass
    except RtstError as exc:  # the stream failed for good: the report and recording are still finalised
        failure = exc
    finally:
        # a second Ctrl-C or SIGTERM must not cut the finalising short
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, previous_usr1)
        try:
            session_extra = session.stop()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    session_extra.update(marks=marks, complete=True, written_monotonic_s=time.monotonic(),
                         error=None if failure is None else str(failure))
    report = live_report(processor, effect, stream_config, preset=settings.preset, extra=session_extra)
    _write_report(args, report)
    stream = report["stream"]
    gaps = session_extra["interruptions"]
    print(f"live: {stream['callbacks']} callbacks, {stream['xruns']} xruns, "
          f"{stream['deadline_misses']} deadline misses"
          + (f", {len(gaps)} interruptions ({sum(g['duration_s'] for g in gaps):.1f} s)" if gaps else ""),
          file=sys.stderr)
    for capture in session_extra.get("captures", []):
        print(f"live: capture of {capture['seconds']:.1f} s: {capture['status']}"
              + (f", {capture['model']}" if capture["model"] else "")
              + (f" ({capture['error']})" if capture["error"] else ""), file=sys.stderr)
    record = session_extra.get("record")
    if record:
        print(f"live: recorded {record['seconds']:.1f} s to {record['path']}"
              + (f" ({record['lost']} samples lost)" if record["lost"] else "")
              + (f"; {record['error']}" if record["error"] else ""), file=sys.stderr)
    if failure is not None:
        raise failure
    return 0


def cmd_bench(args) -> int:
    from rtst.errors import ParameterError
    from rtst.measure.bench import bench_settings
    from rtst.presets import PRESET_NAMES

    if not 0.5 <= args.seconds <= 3600:
        raise ParameterError(f"--seconds={args.seconds} must be from 0.5 to 3600")
    path = Path(args.input) if args.input else DEMO_CLIP
    # "all": each preset in turn, on the same audio, with nothing else given overriding it
    names = PRESET_NAMES if args.preset == "all" else (args.preset,)
    reports = {}
    for name in names:
        report = bench_settings(_settings(args, preset=name), path, args.seconds)
        reports[name] = report
        pct, lat, sr = report["hop_compute_percent_of_budget"], report["latency_samples"], report["sample_rate"]
        print(
            (f"[{report['preset']}] " if report["preset"] else "")
            + f"bench {report['model']} / {report['phase']} (lookahead {report['lookahead']}), "
            f"n_fft {report['n_fft']} hop {report['hop_length']} @ {sr} Hz, {report['duration_s']:.1f} s: "
            f"hop compute p50 {pct['p50']:.2f} % / p99 {pct['p99']:.2f} % / p99.9 {pct['p999']:.2f} % / "
            f"max {pct['max']:.2f} % of the {report['budget_us']:.0f} us budget; RTF {report['rtf']:.4f}; "
            f"latency {lat['algorithmic']} samples ({lat['algorithmic'] / sr * 1e3:.1f} ms) algorithmic; "
            f"spectral convergence {report['spectral_convergence_db']:.1f} dB"
            + ("" if report["offline_floor_db"] is None else f" (offline floor {report['offline_floor_db']:.1f} dB)")
        )
    _write_report(args, {"presets": reports} if args.preset == "all" else reports[args.preset])
    return 0


def cmd_latency(args) -> int:
    from rtst.errors import ParameterError
    from rtst.measure.loopback import LoopbackMeasurement
    from rtst.measure.report import latency_report

    host_latency = _host_latency(args.latency)
    if args.block_size is not None and args.block_size < 1:
        raise ParameterError(f"--block-size={args.block_size} must be at least 1")
    processor = None
    if args.through_effect:
        # the effect's latency depends only on its STFT, lookahead and block size: measure it with
        # the identity model and the input's phase, whose output is the input delayed, exactly
        from rtst.model import IdentityModel

        # with no model and no preset, any STFT given is measured (the identity model takes any)
        settings = _settings(args, model=args.model or ("identity" if args.preset is None else None))
        lookahead = settings.lookahead if args.phase is None else args.lookahead
        settings = settings.replace(model=IdentityModel(), model_spec="identity", phase=args.phase or "input",
                                    lookahead=lookahead,
                                    # the preset's refinements are its method's, not the input phase's
                                    phase_options=settings.phase_options if args.phase else {})
        processor = settings.processor(args.block_size or settings.stft.hop_length)
        sample_rate, block = processor.stft.sample_rate, processor.block_size
    else:
        sample_rate = args.sample_rate or 48000
        block = args.block_size or 256
    meas = LoopbackMeasurement(sample_rate, block, processor=processor, input_device=args.input,
                               output_device=args.output, repeats=args.repeats, latency=host_latency,
                               connect=not args.no_connect, max_lag_s=args.max_lag, host=args.host)
    result = meas.run(log=sys.stderr)
    report = latency_report(result, processor, sample_rate, block)
    _write_report(args, report)
    lat, ms, io = report["latency_samples"], report["latency_ms"], result["io_latency_samples"]
    path = "bare wire" if processor is None else (
        f"through the effect: {processor.phase.name} phase, n_fft {processor.stft.n_fft}, "
        f"hop {processor.stft.hop_length}, lookahead {processor.phase.lookahead}")
    engine = "" if processor is None else f"algorithmic {lat['algorithmic']} + block alignment {lat['block_alignment']} + "
    print(f"latency ({path}, block {block}, {result['hostapi']}): {engine}I/O {io} = predicted {lat['total']} samples ({ms['total']:.2f} ms); measured {result['mean_samples']:.2f} "
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


def cmd_learn_style(args) -> int:
    _need_torch("rtst learn-style")
    from rtst.transfer.learn import learn_style

    command = "rtst " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if args.argv is None else args.argv))
    report = learn_style(args.style, args.output, preset=args.preset, seconds=args.seconds, force=args.force,
                         name=args.name, progress=None if args.quiet else sys.stderr, command=command,
                         approach=args.approach)
    print(f"wrote {report['output']} in {report['seconds']:.1f} s: {report['style']['seconds']:.1f} s of "
          f"{report['style']['file']} for the {report['preset']} preset; play it with "
          f"rtst live --model {report['output']}")
    return 0


def cmd_evaluate(args) -> int:
    if args.paired:
        return _evaluate_paired(args)
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


def _evaluate_paired(args) -> int:
    from rtst.testing import timbre_panel

    models = args.models.split(",") if args.models else list(timbre_panel.DEFAULT_STYLE_OF)
    results = timbre_panel.run_panel(models, quick=args.quick, png_dir=args.png,
                                     log=lambda line: print(line, file=sys.stderr, flush=True))
    print(timbre_panel.format_report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


COMMANDS = {"devices": cmd_devices, "live": cmd_live, "render": cmd_render, "demo": cmd_demo,
            "bench": cmd_bench, "latency": cmd_latency, "transfer": cmd_transfer, "train-descriptor": cmd_train_descriptor,
            "distill": cmd_distill, "learn-style": cmd_learn_style, "evaluate": cmd_evaluate}


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

"""One teacher run from files to files, with its report (``rtst transfer`` and the benchmark)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.config import StftConfig
from rtst.errors import ParameterError

__all__ = ["make_descriptor", "load_clip", "run_transfer", "evaluate_result", "DESCRIPTOR_DEFAULTS"]

#: Shape of the built-in random descriptors when not given: Ulyanov's (random) and a small 2-D CNN.
DESCRIPTOR_DEFAULTS = {"random": {"filters": (4096,), "kernel_size": 11},
                       "random2d": {"filters": (32, 64), "kernel_size": 3}}


def make_descriptor(spec: str, stft_config: StftConfig, *, filters=None, kernel_size=None, dilation=None,
                    seed: int = 0):
    """A descriptor from ``random``, ``random2d`` or the path of a trained checkpoint.

    Returns
    -------
    net : torch.nn.Module
    name : str
        ``random``, ``random2d`` or the checkpoint path, for reports.
    """
    from rtst.transfer.descriptors import DescriptorConfig, build_descriptor, load_descriptor

    if spec in DESCRIPTOR_DEFAULTS:
        d = DESCRIPTOR_DEFAULTS[spec]
        config = DescriptorConfig(kind=spec, n_bins=stft_config.n_bins,
                                  filters=tuple(filters) if filters else d["filters"],
                                  kernel_size=kernel_size or d["kernel_size"], dilation=dilation or 1, seed=seed)
        return build_descriptor(config), spec
    if any(v is not None for v in (filters, kernel_size, dilation)):
        raise ParameterError("--filters, --kernel-size and --dilation shape a random descriptor; a trained "
                             f"checkpoint ({spec!r}) has its own")
    net, _, _ = load_descriptor(spec, stft_config)
    return net, str(spec)


def load_clip(path: str | os.PathLike, stft_config: StftConfig, *, role: str) -> tuple:
    """Read ``path`` as mono at the STFT's rate: ``(signal float64 [n], notes dict)``."""
    from rtst.io.files import read_audio
    from rtst.transfer.features import prepare_signal

    audio, rate, info = read_audio(path)
    signal, notes = prepare_signal(audio, rate, stft_config, role=role)
    return signal, {"path": str(path), **notes}


def evaluate_result(result_audio: np.ndarray, content: np.ndarray, style: np.ndarray, sample_rate: int) -> dict:
    """Descriptor-independent figures of a result: timbre distance to the style (and the content's own,
    i.e. passthrough's) and content retention (:mod:`rtst.measure.style`)."""
    from rtst.measure.style import content_retention, timbre_distance

    passthrough = timbre_distance(content, style, sample_rate)
    distance = timbre_distance(result_audio, style, sample_rate)
    retention = content_retention(result_audio, content, sample_rate)
    return {"timbre_distance": distance, "timbre_distance_passthrough": passthrough,
            "timbre_distance_change": distance / passthrough - 1.0 if passthrough > 0 else 0.0,
            "content_retention": retention["content_retention"], "onset_correlation": retention["onset"]}


def run_transfer(content_path, style_path, output_path, stft_config: StftConfig, *, descriptor: str = "random",
                 teacher_config=None, filters=None, kernel_size=None, dilation=None, plot_path=None,
                 progress=None, evaluate: bool = True) -> dict:
    """Read the clips, run the teacher, write the result (and a plot); return the report dict."""
    import torch

    from rtst.io.files import write_audio
    from rtst.transfer.features import signal_features
    from rtst.transfer.teacher import TeacherConfig, transfer

    teacher_config = teacher_config or TeacherConfig()
    output_path = Path(output_path)
    if output_path.suffix.lower() not in (".wav", ".flac"):
        raise ParameterError(f"--output {str(output_path)!r} must end in .wav or .flac")
    if not output_path.parent.is_dir():
        raise ParameterError(f"output folder {str(output_path.parent)!r} does not exist")
    content, content_notes = load_clip(content_path, stft_config, role="content")
    style, style_notes = load_clip(style_path, stft_config, role="style")
    net, descriptor_name = make_descriptor(descriptor, stft_config, filters=filters, kernel_size=kernel_size,
                                           dilation=dilation, seed=teacher_config.seed)
    started = time.perf_counter()
    result = transfer(content, style, stft_config, net, config=teacher_config, progress=progress)
    wall_s = time.perf_counter() - started
    # the result keeps the level the optimisation gave it (the style's Gram statistics include level);
    # it is only turned down where it would clip
    peak = float(np.max(np.abs(result.audio))) if result.audio.size else 0.0
    gain = min(1.0, 0.99 / peak) if peak > 0 else 1.0
    audio = result.audio * gain
    write_audio(output_path, audio.astype(np.float32)[:, None], stft_config.sample_rate,
                protect=(content_path, style_path))
    report = {
        "command": "transfer", "rtst_version": __version__, "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "sample_rate": stft_config.sample_rate, "n_fft": stft_config.n_fft,
        "hop_length": stft_config.hop_length, "window": stft_config.window, "features": "log1p",
        "content": content_notes, "style": style_notes, "output": str(output_path),
        "descriptor": {"name": descriptor_name, **net.config.to_dict()},
        "teacher": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(teacher_config).items()},
        "initial_loss": result.initial, "final_loss": result.final,
        "loss_curve": result.history, "iterations_run": len(result.history), "stopped": result.stopped,
        "evaluations": result.evaluations,
        "optimise_s": round(result.optimise_seconds, 3), "phase_s": round(result.phase_seconds, 3),
        "wall_s": round(wall_s, 3),
        "output_gain_db": round(20 * np.log10(gain), 2),
    }
    notes = [f"{role} downmixed from {n['channels']} channels to mono" for role, n in
             (("content", content_notes), ("style", style_notes)) if n["downmixed"]]
    notes += [f"{role} resampled from {n['file_sample_rate']} Hz to {stft_config.sample_rate} Hz" for role, n in
              (("content", content_notes), ("style", style_notes)) if n["resampled"]]
    report["notes"] = notes
    if evaluate:
        report["metrics"] = evaluate_result(audio, content, style, stft_config.sample_rate)
    if plot_path is not None:
        from rtst.transfer.plot import plot_spectrograms

        plot_spectrograms(plot_path, [("content", signal_features(content, stft_config)),
                                      ("style", signal_features(style, stft_config)),
                                      ("result", result.features)], stft_config,
                          title=f"teacher: {descriptor_name}, {len(result.history)} iterations, "
                                f"init {teacher_config.init}, content weight {teacher_config.content_weight:g}")
        report["plot"] = str(plot_path)
    return report

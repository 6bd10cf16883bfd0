"""Learn a style from any clip in seconds: ``rtst learn-style`` (torch, for the export).

The student is a filter whose style enters as one vector, the style's mean band envelope
(:class:`rtst.transfer.student.Student`): its envelope transfer moves the input's running
envelope onto that vector, and its learned network adds a correction of at most +-10 dB. So a
student conditioned on a new style needs no training at all: the style's statistics *are* the
model. :func:`learn_style` measures them on the clip and exports a step model with no correction
network to speak of (one 8-channel layer, zero output), at a preset's STFT and with that preset's
shipped student's envelope settings. On the quality panel it reaches most of what a full
``rtst distill`` of the same clip reaches (docs/student.md); a distilled correction is what the
rest would cost, 12-15 minutes per style on 2 cores.

The clip: anything libsndfile reads, any rate and channels (mixed to mono, resampled), at least
:data:`MIN_STYLE_SECONDS` long, then trimmed of leading and trailing silence, after which at least
:data:`MIN_SOUND_SECONDS` of sound must remain.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from rtst.errors import ParameterError
from rtst.validate import require_float

__all__ = ["learn_style", "trim_silence", "APPROACHES", "MIN_STYLE_SECONDS", "MIN_SOUND_SECONDS", "DEFAULT_BUDGET_S",
           "LEARN_PRESETS"]

#: Shortest style clip, as given: a mean envelope over less is a snapshot, not a timbre.
MIN_STYLE_SECONDS = 3.0
#: Least sound left once leading and trailing silence are trimmed (a bell's decaying tail counts
#: until it is 50 dB down, so a 3 s clip of one can hold 2.9 s of sound).
MIN_SOUND_SECONDS = 2.0
#: Wall-clock budget of ``rtst learn-style`` unless told (the issue's "a minute").
DEFAULT_BUDGET_S = 60.0
#: Presets a style can be learned for (each names a shipped student whose STFT and envelope
#: settings the new model takes).
LEARN_PRESETS = ("default", "low-latency")
#: Frames quieter than this below the clip's loudest 20 ms frame are silence, at the clip's edges.
TRIM_DB = -50.0
#: What :func:`learn_style` can make: a re-synthesising model (default) or the earlier filter.
APPROACHES = ("resynth", "filter")
#: The filter approach's envelope transfer: the settings the distilled filter students shipped with
#: (kernel 3, gains up to 3.5 in the feature domain), the input's envelope followed over 0.1 s.
_FILTER = {"kernel_size": 3, "max_gain": 3.5, "residual_gain": 1.15}
FILTER_ENVELOPE_S = 0.1
#: The correction network of a learned style: present (the step-model contract has one), tiny and
#: zero, so the model costs little more than the filter itself.
_TRUNK = {"channels": 8, "dilations": (1,)}


def trim_silence(signal: np.ndarray, sample_rate: int, *, threshold_db: float = TRIM_DB) -> np.ndarray:
    """``signal`` without its leading and trailing silence (20 ms frames more than ``-threshold_db``
    below the loudest); all of it if nothing is that loud."""
    frame = max(1, int(0.02 * sample_rate))
    n = signal.shape[0] // frame
    if n == 0:
        return signal
    rms = np.sqrt(np.mean(signal[:n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10.0 ** (threshold_db / 20.0))
    if loud.size == 0:
        return signal
    return signal[loud[0] * frame:min(signal.shape[0], (loud[-1] + 1) * frame)]


class _Progress:
    """A one-line progress bar on ``stream`` (stderr in the CLI): stage, percent, seconds."""

    def __init__(self, stream, stages: int):
        self.stream, self.stages, self.done, self.started = stream, stages, 0, time.perf_counter()

    def step(self, what: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        width = 24
        filled = int(width * self.done / self.stages)
        self.stream.write(f"\rlearn-style [{'#' * filled}{'.' * (width - filled)}] {100 * self.done // self.stages:3d}% "
                          f"{time.perf_counter() - self.started:5.1f} s  {what:<34}")
        if self.done == self.stages:
            self.stream.write("\n")
        self.stream.flush()


def _check_output(output: Path, force: bool) -> tuple[Path, Path, Path]:
    """The model, its golden file and its style clip (the shipped models' layout, models/README.md)."""
    if output.suffix != ".onnx":
        raise ParameterError(f"--output {str(output)!r} must end in .onnx")
    if not output.parent.is_dir():
        raise ParameterError(f"--output folder {str(output.parent)!r} does not exist")
    golden = output.with_name(output.stem + ".golden.npz")
    style = output.with_name(output.stem + ".style.flac")
    if not force:
        for path in (output, golden, style):
            if path.exists():
                raise ParameterError(f"{str(path)!r} exists; pass --force to overwrite it")
    return output, golden, style


def learn_style(style_path, output, *, preset: str = "default", seconds: float = DEFAULT_BUDGET_S,
                force: bool = False, name: str | None = None, progress=None, command: str | None = None,
                approach: str = "resynth") -> dict:
    """Make a playable style model from a clip.

    Parameters
    ----------
    style_path : path
        The style clip (anything libsndfile reads).
    output : path
        The ``.onnx`` file to write (its golden file ``<stem>.golden.npz`` goes beside it).
    preset : str
        One of :data:`LEARN_PRESETS`: the STFT (and envelope settings) the model is made for.
    seconds : float
        Wall-clock budget; the model is refused (and nothing written) if it is exceeded.
    force : bool
        Overwrite an existing output.
    progress : text stream, optional
        Where the progress bar goes.
    approach : str
        ``"resynth"`` (default): a re-synthesising model (:mod:`rtst.model.resynth`) that plays the
        performer's pitch and loudness with the clip's partials and noise; ``"filter"``: the
        envelope-transfer filter of earlier versions (keeps the input's own partials), for
        comparison.

    Returns
    -------
    report : dict
        ``output``, ``preset``, ``style`` (file, sha256, seconds used), ``seconds`` (wall),
        ``approach``.

    Raises
    ------
    ParameterError
        Unreadable, silent or too short clip; bad output path, existing output without ``force``;
        unknown preset; a budget that cannot be met.
    """
    started = time.perf_counter()
    budget = require_float("seconds", seconds, 1.0, 3600.0)
    if preset not in LEARN_PRESETS:
        raise ParameterError(f"--preset {preset!r} must be one of {', '.join(LEARN_PRESETS)}")
    if approach not in APPROACHES:
        raise ParameterError(f"approach={approach!r} must be one of {', '.join(APPROACHES)}")
    output, golden, style_copy = _check_output(Path(output), force)
    if approach == "resynth":
        return _learn_resynth(style_path, output, golden, style_copy, preset=preset, budget=budget, name=name,
                              progress=progress, command=command, started=started)
    bar = _Progress(progress, 5)

    import torch

    from rtst.model import load_model
    from rtst.presets import get_preset
    from rtst.transfer.features import signal_features
    from rtst.transfer.student import Student, StudentConfig, export_onnx

    base = get_preset(preset).model
    stft = load_model(base).stft
    trimmed, style = _read_style(style_path, stft)
    bar.step("read the clip")

    features = signal_features(trimmed, stft)
    config = StudentConfig(n_bins=stft.n_bins, envelope_frames=FILTER_ENVELOPE_S * stft.sample_rate / stft.hop_length,
                           **_FILTER, **_TRUNK)
    torch.manual_seed(0)
    student = Student(config)
    student.set_style(torch.from_numpy(features))
    bar.step("measured the style's envelope")

    report = {"approach": "style-conditioned envelope transfer (no training)", "preset": preset,
              "base_settings_from": base, "budget_s": budget, "command": command}
    partial = output.with_name(output.name + ".learning.onnx")
    partial_style = output.with_name(output.name + ".learning.style.flac")
    try:
        export_onnx(student.eval(), partial, stft, name=name or output.stem, style=style, training=report)
        bar.step("exported the step model")
        # the model the engine will load, checked against the golden frames torch computed
        model = load_model(str(partial))
        data = np.load(partial.with_name(partial.stem + ".golden.npz"))
        model.reset()
        worst = 0.0
        out = np.zeros(stft.n_bins)
        from rtst.transfer.features import from_features, to_features

        for frame, expected in zip(data["frames"], data["outputs"]):
            model.process(from_features(frame), out)
            worst = max(worst, float(np.max(np.abs(to_features(out) - expected))))
        if not worst < 1e-3:
            raise ParameterError(f"the exported model does not reproduce its golden frames (error {worst:.2e})")
        bar.step("checked it in onnxruntime")
        elapsed = time.perf_counter() - started
        if elapsed > budget:
            raise ParameterError(f"learning took {elapsed:.1f} s, over the --seconds budget of {budget:.0f} s")
        # the clip as the model heard it (mono, the model's rate, trimmed): what rtst evaluate and a
        # later rtst distill of the same style read
        from rtst.io.files import write_audio

        write_audio(partial_style, trimmed[:, None].astype(np.float32), stft.sample_rate)
        partial.replace(output)
        partial.with_name(partial.stem + ".golden.npz").replace(golden)
        partial_style.replace(style_copy)
    finally:
        for leftover in (partial, partial.with_name(partial.stem + ".golden.npz"), partial_style):
            if leftover.exists():
                leftover.unlink()
    bar.step(f"wrote {output.name}")
    return {"output": str(output), "golden": str(golden), "style_clip": str(style_copy), "preset": preset, "style": style,
            "seconds": round(time.perf_counter() - started, 2), "approach": report["approach"]}


def _read_style(style_path, stft):
    """The clip at the model's rate, mono, trimmed of silence, and its description."""
    from rtst.transfer.run import load_clip

    signal, notes = load_clip(style_path, stft, role="style")
    given_s = signal.shape[0] / stft.sample_rate
    if given_s < MIN_STYLE_SECONDS - 0.5 / stft.sample_rate:
        raise ParameterError(f"style clip {str(style_path)!r} is {given_s:.1f} s long; a style needs at least "
                             f"{MIN_STYLE_SECONDS:.0f} s")
    trimmed = trim_silence(signal, stft.sample_rate)
    used_s = trimmed.shape[0] / stft.sample_rate
    if used_s < MIN_SOUND_SECONDS:
        raise ParameterError(f"style clip {str(style_path)!r} has {used_s:.1f} s of sound once its silence is trimmed; "
                             f"a style needs at least {MIN_SOUND_SECONDS:.0f} s")
    sha = hashlib.sha256(Path(style_path).read_bytes()).hexdigest()
    style = {"file": Path(style_path).name, "sha256": sha, "seconds": round(used_s, 3),
             **{k: v for k, v in notes.items() if k not in ("path", "seconds")}}
    return trimmed, style


def _learn_resynth(style_path, output, golden, style_copy, *, preset, budget, name, progress, command, started):
    """:func:`learn_style` for the re-synthesising model: no training, the clip's tables."""
    from rtst.io.files import write_audio
    from rtst.model import load_model
    from rtst.presets import get_preset
    from rtst.transfer import resynth

    bar = _Progress(progress, 4)
    stft = load_model(get_preset(preset).model).stft
    trimmed, style = _read_style(style_path, stft)
    bar.step("read the clip")
    report = {"approach": "re-synthesis: the clip's partials and noise at the performer's pitch and loudness",
              "preset": preset, "budget_s": budget, "command": command}
    partial = output.with_name(output.name + ".learning.onnx")
    partial_golden = partial.with_name(partial.name[:-len(".onnx")] + ".golden.npz")
    partial_style = output.with_name(output.name + ".learning.style.flac")
    try:
        fit = resynth.learn(trimmed, stft, partial, name=name or output.stem, style=style, training=report)
        bar.step(f"measured {fit['frames']} voiced frames ({'harmonic' if fit['harmonic'] else 'inharmonic'})")
        model = load_model(str(partial))          # what the engine will load, run once
        model.prepare(stft.n_bins)
        bar.step("checked it in onnxruntime")
        elapsed = time.perf_counter() - started
        if elapsed > budget:
            raise ParameterError(f"learning took {elapsed:.1f} s, over the --seconds budget of {budget:.0f} s")
        write_audio(partial_style, trimmed[:, None].astype(np.float32), stft.sample_rate)
        partial.replace(output)
        partial_golden.replace(golden)
        partial_style.replace(style_copy)
    finally:
        for leftover in (partial, partial_golden, partial_style):
            if leftover.exists():
                leftover.unlink()
    bar.step(f"wrote {output.name}")
    return {"output": str(output), "golden": str(golden), "style_clip": str(style_copy), "preset": preset,
            "style": style, "seconds": round(time.perf_counter() - started, 2), "approach": report["approach"]}

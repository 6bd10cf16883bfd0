"""Offline rendering: whole signals and files through the streaming engine, hop by hop, and the
Python API :class:`Effect`.

Offline output is the live output, sample for sample: the same :class:`~rtst.engine.Processor`
runs, fed one hop at a time. What rendering adds is bookkeeping a live stream cannot do: the signal
is resampled to the model's sample rate and back, each channel gets its own processor (its own
model state), and the engine's latency is compensated, so the output lines up with the input and
has its length.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from rtst.errors import ParameterError
from rtst.presets import Settings, resolve
from rtst.validate import require_int

__all__ = ["Effect", "render", "render_file"]

#: Most channels one render takes (each gets its own processor and model instance).
MAX_CHANNELS = 64


def render(settings: Settings, audio: np.ndarray, sample_rate: int, *, block_size: int | None = None,
           processors: list | None = None) -> tuple[np.ndarray, list, float]:
    """Render ``audio`` through the engine, latency-compensated, at its own sample rate.

    Parameters
    ----------
    settings : rtst.presets.Settings
        What to run (:func:`rtst.presets.resolve`).
    audio : np.ndarray, float [n_samples, n_channels]
        Finite samples at ``sample_rate``.
    sample_rate : int
        Hz; resampled to the model's rate and back when it differs.
    block_size : int, optional
        Samples per ``process`` call (default: one hop), e.g. to reproduce a live callback size.
    processors : list of rtst.engine.Processor, optional
        One per channel, to reuse (they are reset first); made from ``settings`` when omitted.

    Returns
    -------
    output : np.ndarray, float32 [n_samples, n_channels]
        The effect's output, aligned with the input.
    processors : list of rtst.engine.Processor
        The processors used, channel 0 first (their counters and timings are the run's).
    wall_s : float
        Seconds spent in the engine.
    """
    from rtst.io.files import resample

    if block_size is not None:
        require_int("block_size", block_size, 1, 1 << 20, rule=f"an integer from 1 to {1 << 20}")
    n_in, channels = audio.shape
    engine_rate = settings.stft.sample_rate
    x = resample(audio, sample_rate, engine_rate)  # [n, channels]
    n = x.shape[0]
    if processors is None:
        processors = [settings.processor(block_size, fresh=ch > 0) for ch in range(channels)]
    y = np.zeros((n, channels), dtype=np.float32)
    t0 = time.perf_counter()
    for ch, proc in enumerate(processors):
        proc.reset()
        latency = proc.latency_samples
        block = block_size or proc.stft.hop_length
        # `latency` extra zeros bring the tail out; the first `latency` output samples are dropped
        src = np.zeros(n + latency + block, dtype=np.float32)
        src[:n] = x[:, ch]
        dst = np.zeros_like(src)
        for start in range(0, src.shape[0], block):
            proc.process(src[start:start + block], dst[start:start + block])
        y[:, ch] = dst[latency:latency + n]
    wall_s = time.perf_counter() - t0
    out = resample(y, engine_rate, sample_rate)
    # the engine clips to full scale; resampling its output back can overshoot a clipped peak
    from rtst.engine.processor import OUTPUT_LIMIT

    np.clip(out, -OUTPUT_LIMIT, OUTPUT_LIMIT, out=out)
    if out.shape[0] != n_in:  # a resampling round trip may differ by a sample
        fixed = np.zeros((n_in, channels), dtype=np.float32)
        m = min(out.shape[0], n_in)
        fixed[:m] = out[:m]
        out = fixed
    return out, processors, wall_s


def render_file(input_path: str | os.PathLike, output_path: str | os.PathLike, settings: Settings, *,
                block_size: int | None = None) -> dict:
    """Render an audio file to another (format from the extension, subtype kept where possible).

    Returns
    -------
    report : dict
        The report JSON (docs/report.md), with ``input``, ``output``, ``wall_s`` and ``rtf``.

    Raises
    ------
    AudioFileError
        Unreadable input, or an output that would overwrite the input or cannot be written.
    """
    from rtst.io.files import read_audio, write_audio
    from rtst.measure.report import build_report

    input_path, output_path = Path(input_path), Path(output_path)
    audio, file_rate, info = read_audio(input_path)
    out, processors, wall_s = render(settings, audio, file_rate, block_size=block_size)
    write_audio(output_path, out, file_rate, subtype=info["subtype"], protect=(input_path,))
    engine_rate = settings.stft.sample_rate
    duration_s = audio.shape[0] / file_rate
    extra = {
        "preset": settings.preset,
        "input": {"path": str(input_path), "sample_rate": file_rate, "channels": info["channels"],
                  "resampled": file_rate != engine_rate, "duration_s": round(duration_s, 3)},
        "output": str(output_path),
        "wall_s": round(wall_s, 3),
        "rtf": round(wall_s / (duration_s * audio.shape[1]), 5),
    }
    for proc in processors[1:]:  # the safety counters of the other channels, summed
        for key, value in proc.stats.items():
            extra.setdefault("safety_other_channels", {}).setdefault(key, 0)
            extra["safety_other_channels"][key] += value
    return build_report(processors[0], extra=extra)


class Effect:
    """The style-transfer effect as a function of audio, like a pedalboard plugin.

    Parameters
    ----------
    model : str, path or rtst.model.StepModel, optional
        A shipped model's name (:func:`rtst.list_models`), ``"identity"``, an ``.onnx`` path or a
        loaded model. Default: the ``preset``'s model (the ``default`` preset's, ``cello``, when
        neither is given).
    preset : str, optional
        ``"low-latency"``, ``"default"`` or ``"quality"`` (:data:`rtst.presets.PRESETS`).
    phase : str, optional
        Phase reconstruction method (:data:`rtst.phase.PHASE_NAMES`); default: the preset's.
    lookahead : int, optional
        Hops of phase lookahead; default: the preset's or the method's.
    mix : float
        Dry/wet mix, 0 (dry) .. 1 (wet).
    **phase_options
        ``iterations``, ``tol``, ``seed`` of the methods that take them.

    Attributes
    ----------
    settings : rtst.presets.Settings
        What runs (model, STFT, phase, lookahead).
    sample_rate : int
        The model's sample rate, Hz.

    Examples
    --------
    >>> import numpy as np, rtst
    >>> effect = rtst.Effect("cello")
    >>> t = np.arange(44100) / 44100
    >>> voice = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    >>> out = effect(voice, 44100)
    >>> out.shape, out.dtype, bool(np.isfinite(out).all())
    ((44100,), dtype('float32'), True)
    >>> stereo = effect(np.stack([voice, voice]), 44100)
    >>> stereo.shape
    (2, 44100)
    >>> effect.latency_samples
    1023
    """

    def __init__(self, model=None, *, preset: str | None = None, phase: str | None = None,
                 lookahead: int | None = None, mix: float = 1.0, **phase_options):
        unknown = sorted(set(phase_options) - {"iterations", "tol", "seed"})
        if unknown:
            raise ParameterError(f"unknown option(s) {', '.join(unknown)} (known: iterations, tol, seed)")
        self.settings = resolve(preset=preset, model=model, phase=phase, lookahead=lookahead, mix=mix,
                                phase_options=phase_options)
        self.sample_rate = self.settings.stft.sample_rate
        self._processors: list = []
        self._streaming_channels = None  # channels of the stream in progress (reset=False), else None
        self._processor(0)  # bad phase options fail here, not at the first call

    def __repr__(self) -> str:
        s = self.settings
        return (f"Effect(model={s.model.name!r}, phase={s.phase!r}, lookahead={self._processor(0).phase.lookahead}, "
                f"mix={s.mix}, sample_rate={self.sample_rate})")

    def _processor(self, channel: int):
        while len(self._processors) <= channel:
            self._processors.append(self.settings.processor(None, fresh=len(self._processors) > 0))
        return self._processors[channel]

    @property
    def latency_samples(self) -> int:
        """Samples, at :attr:`sample_rate`, by which streamed output (``reset=False``) lags its
        input. ``reset=True`` output is already compensated."""
        return self._processor(0).latency_samples

    def reset(self) -> None:
        """Forget all state, as if freshly made."""
        for proc in self._processors:
            proc.reset()

    def __call__(self, audio, sample_rate: int, *, reset: bool = True) -> np.ndarray:
        """Process ``audio``.

        Parameters
        ----------
        audio : array_like, float [n_samples] or [n_channels, n_samples]
            Finite samples; each channel is processed independently (its own model state).
        sample_rate : int
            Hz. With ``reset=True`` any rate: the audio is resampled to the model's and back.
            With ``reset=False`` it must be :attr:`sample_rate`.
        reset : bool
            True: a whole signal: state reset first, output latency-compensated, same length.
            False: one chunk of a stream: state kept from the previous call, output delayed by
            :attr:`latency_samples` (as live), for chunk-by-chunk processing.

        Returns
        -------
        output : np.ndarray, float32, the shape of ``audio``

        Raises
        ------
        ParameterError
            Wrong shape, non-finite samples, a bad sample rate, or a streamed channel count that
            changed between calls.
        """
        x = np.asarray(audio)
        if x.ndim not in (1, 2) or x.shape[-1] == 0 or not np.issubdtype(x.dtype, np.number):
            raise ParameterError(f"audio of shape {x.shape} must be [n_samples] or [n_channels, n_samples] "
                                 "of numbers with n_samples >= 1")
        if np.iscomplexobj(x) or not np.isfinite(x).all():
            raise ParameterError("audio must hold finite real samples")
        frames = np.ascontiguousarray(x.reshape(1, -1) if x.ndim == 1 else x, dtype=np.float32).T  # [n, ch]
        channels = frames.shape[1]
        if channels > MAX_CHANNELS:
            raise ParameterError(f"audio has {channels} channels (shape {x.shape}); at most {MAX_CHANNELS}: "
                                 "is it [n_samples, n_channels]? pass [n_channels, n_samples]")
        sample_rate = require_int("sample_rate", sample_rate, 1000, 768000)
        procs = [self._processor(ch) for ch in range(channels)]
        if reset:
            out, _, _ = render(self.settings, frames, sample_rate, processors=procs)
        else:
            if sample_rate != self.sample_rate:
                raise ParameterError(f"sample_rate={sample_rate} must be the model's {self.sample_rate} Hz when "
                                     "streaming (reset=False); resample first, or use reset=True")
            if self._streaming_channels not in (None, channels):
                raise ParameterError(f"audio has {channels} channels but the stream had {self._streaming_channels}; "
                                     "call with reset=True to start a new stream")
            chans = np.ascontiguousarray(frames.T)  # [ch, n]: each channel contiguous for the engine
            out = np.zeros_like(chans)
            for ch, proc in enumerate(procs):
                proc.process(chans[ch], out[ch])
            out = out.T
        self._streaming_channels = None if reset else channels
        if reset:  # the next streamed chunk starts from silence, as a new stream would
            self.reset()
        return out.T.reshape(x.shape) if x.ndim == 2 else out[:, 0].copy()

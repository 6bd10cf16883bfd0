"""The real-time student: a small causal network that filters each magnitude frame, and its ONNX step
export (torch).

Architecture (:class:`Student`), on log1p features ``[batch, n_bins, n_frames]`` with frequency bins
as channels (time-shift invariant, not frequency-shift invariant, like the teacher's descriptor):

    e_t = band_envelope(x_t)                   level-free band log-powers of the input frame
    d_t = d_t-1 + (1 - a) [x_t sounds] (e_t - e_style - d_t-1)     running deviation from the style's
                                               mean envelope e_style (time constant envelope_frames)
    h   = in_proj(x)                          1x1 conv, n_bins -> channels
    h   = h + act(conv_l(pad_left(h)))        per layer l: causal conv, kernel k, dilation d_l
    g   = G tanh(-d_t / 2G) + R tanh(out_proj(h) / R)    band log-gains: envelope transfer + the
                                               network's correction (out_proj zero-initialised)
    out = log1p(|x| * exp(bands^T g)), rescaled per frame to the input frame's energy

The student does not draw a spectrum: it applies a filter, a log gain per band
(:func:`rtst.transfer.features.band_matrix`: piecewise-linear in bins, at least 3 bins between band
centres), to the input frame. Its first part moves the input's running spectral envelope onto the
style's mean envelope (a dynamic equaliser; the style enters as one vector, ``style_envelope``);
its second part, learned, corrects that frame by frame from the last ``receptive_field`` frames. Three things follow by construction, whatever the
weights: the performer's harmonics stay where they were (the melody and its intonation), their
onsets and rests stay where they were (the timing), and the frame asked for is the STFT of a
filtered signal (a gain smooth across bins changes no faster than the window's main lobe), so
the engine can realise it, with the input's own phase or a reconstruction. What the student
learns is the timbre: which bands to raise or cut, frame by frame, given the last
``receptive_field`` frames. The energy step keeps the dynamics (silence in is silence out).

Causal: output frame t depends on input frames t - receptive_field + 1 .. t only, so it adds no
latency. ``out_proj`` starts at zero, so an untrained student is the envelope transfer alone, and
training moves it from there only as far as the loss asks. ``act`` is LeakyReLU(0.1).

Streaming (:class:`StepModule`): one frame in, one frame out; each layer keeps its last
``(k - 1) * d_l`` inputs as explicit state ``[1, (k - 1) * d_l, channels]``, passed in and returned,
so onnxruntime runs it frame by frame with no hidden state. :func:`export_onnx` writes the step graph
with the metadata contract of :mod:`rtst.model.onnx`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtst import __version__
from rtst.config import StftConfig
from rtst.validate import require_positive_ints
from rtst.errors import ParameterError
from rtst.transfer.features import band_matrix
# the graph's constants are shared with the compiled step, which must not import torch
from rtst.model.student_step import (ENERGY_FLOOR, ENVELOPE_FLOOR, FEATURE_LIMIT, GAIN_LIMIT, LEAK as _LEAK,
                                     TRACK_FEATURE)

__all__ = ["StudentConfig", "Student", "StepModule", "export_onnx", "apply_filter", "FEATURE_SCALE"]

#: Feature scale written into the model: feature = log1p(FEATURE_SCALE * |X|), as the teacher's.
FEATURE_SCALE = 1.0
#: Largest gain of the envelope transfer either way, in nepers (exp(3.5) = +-30 dB): more lifts a
#: band the input has no energy in to the level of its harmonics' leakage, which no filtered
#: signal has.
MAX_GAIN = 3.5
#: Largest gain of the network's own correction either way, in nepers (+-10 dB).
RESIDUAL_GAIN = 1.15
def apply_filter(x: torch.Tensor, log_gain: torch.Tensor, dim: int) -> torch.Tensor:
    """log1p features ``x`` filtered by ``exp(log_gain)`` (same shape), then rescaled frame by frame
    to the magnitude energy of ``x`` (``dim`` is the bin axis). The student shapes the spectrum,
    the performer keeps the dynamics: silence stays silence, a crescendo stays a crescendo."""
    mx = torch.exp(x.clamp(0.0, FEATURE_LIMIT)) - 1.0   # expm1, which the ONNX exporter lacks
    my = mx * torch.exp(log_gain.clamp(-GAIN_LIMIT, GAIN_LIMIT))   # a wild gain cannot overflow float32
    gain = torch.sqrt(((mx * mx).sum(dim=dim, keepdim=True) + ENERGY_FLOOR)
                      / ((my * my).sum(dim=dim, keepdim=True) + ENERGY_FLOOR))
    return torch.log1p(my * gain)


def band_envelope(x: torch.Tensor, bands: torch.Tensor, dim: int) -> torch.Tensor:
    """Level-free band log-powers of log1p features ``x`` (``dim`` is the bin axis, replaced by the
    bands): ``log(band mean power + floor)`` minus its mean over bands. ``bands`` ``[K, n_bins]``
    has rows summing to 1. The same measure for the student's tracker and the envelope loss."""
    last = x.dim() - 1
    dim = dim % x.dim()
    p = (torch.exp(x.clamp(0.0, FEATURE_LIMIT)) - 1.0) ** 2
    if dim != last:   # (explicit axes: the ONNX exporter mishandles negative ones)
        p = p.transpose(dim, last)                                          # [..., n_bins]
    e = torch.log(p @ bands.T + ENVELOPE_FLOOR * p.mean(dim=last, keepdim=True) + 1e-12)
    e = e - e.mean(dim=last, keepdim=True)
    return e.transpose(dim, last) if dim != last else e


@dataclasses.dataclass(frozen=True)
class StudentConfig:
    """Shape of a student network (saved in the ONNX metadata and in checkpoints).

    Parameters
    ----------
    n_bins : int
        Frequency bins (``n_fft // 2 + 1``), the input and output channels.
    channels : int
        Hidden channels.
    kernel_size : int
        Frames per causal convolution kernel.
    dilations : tuple of int
        One causal convolution layer per entry, with that dilation in frames.
    max_gain : float
        Largest gain of the envelope transfer either way, in nepers (``exp(max_gain)``).
    residual_gain : float
        Largest gain of the network's own correction either way, in nepers.
    envelope_frames : float
        Time constant, in frames, of the running estimate of the input's envelope.
    """

    n_bins: int = 513
    channels: int = 256
    kernel_size: int = 3
    dilations: tuple = (1, 2, 4, 8)
    max_gain: float = MAX_GAIN
    residual_gain: float = RESIDUAL_GAIN
    envelope_frames: float = 47.0

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        require_positive_ints(self, ("n_bins", "channels", "kernel_size"), "student ")
        if not self.dilations or any(d < 1 for d in self.dilations):
            raise ParameterError(f"student dilations={self.dilations} must be one or more positive integers")
        for name in ("max_gain", "residual_gain"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 20):
                raise ParameterError(f"student {name}={value!r} must be a number in (0, 20) nepers")
        if not (isinstance(self.envelope_frames, (int, float)) and 1 <= self.envelope_frames < 1e6):
            raise ParameterError(f"student envelope_frames={self.envelope_frames!r} must be a number >= 1")

    @property
    def n_bands(self) -> int:
        """Filter bands the network predicts (:func:`band_matrix`)."""
        return band_matrix(self.n_bins).shape[0]

    @property
    def receptive_field(self) -> int:
        """Frames of input that one output frame depends on (the current one included)."""
        return 1 + sum((self.kernel_size - 1) * d for d in self.dilations)

    @property
    def state_shapes(self) -> list:
        """Shape of each layer's state, ``[1, (kernel_size - 1) * dilation, channels]`` (time-major),
        then the envelope tracker's ``[1, 1, n_bands]``."""
        return [[1, (self.kernel_size - 1) * d, self.channels] for d in self.dilations] + [[1, 1, self.n_bands]]

    def n_parameters(self) -> int:
        c, b, k, m = self.channels, self.n_bins, self.kernel_size, self.n_bands
        return (b * c + c) + len(self.dilations) * (c * c * k + c) + (c * m + m) + m   # + the style's envelope

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "dilations": list(self.dilations)}

    def describe(self) -> dict:
        """:meth:`to_dict` plus the bands, receptive field and parameter count (metadata and reports)."""
        return {**self.to_dict(), "output": "envelope transfer + learned filter", "bands": self.n_bands,
                "receptive_field_frames": self.receptive_field, "parameters": self.n_parameters()}


class Student(nn.Module):
    """The causal student (see module docstring)."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        c = config.channels
        self.in_proj = nn.Conv1d(config.n_bins, c, 1)
        self.convs = nn.ModuleList(nn.Conv1d(c, c, config.kernel_size, dilation=d) for d in config.dilations)
        self.out_proj = nn.Conv1d(c, config.n_bands, 1)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)
        b = torch.from_numpy(band_matrix(config.n_bins))
        self.register_buffer("bands", b)                                       # [bands, bins], hats
        self.register_buffer("band_mean", b / b.sum(dim=1, keepdim=True))     # band averages
        # the style's mean envelope (band_envelope over its sounding frames), set by set_style
        self.register_buffer("style_envelope", torch.zeros(config.n_bands))

    def set_style(self, style_features: torch.Tensor) -> None:
        """Store the style's mean envelope from its log1p features ``[n_bins, n_frames]``."""
        with torch.no_grad():
            e = band_envelope(style_features, self.band_mean, dim=0)          # [K, T]
            active = style_features.amax(dim=0) > TRACK_FEATURE
            self.style_envelope.copy_(e[:, active].mean(dim=1) if bool(active.any()) else e.mean(dim=1))

    @property
    def decay(self) -> float:
        return math.exp(-1.0 / self.config.envelope_frames)

    def track(self, e: torch.Tensor, gate: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """One tracker step: deviation ``d`` of the input's running envelope from the style's
        (``[..., K]``; 0 = the style's own), moved toward this frame's envelope ``e`` when ``gate``."""
        return d + (1.0 - self.decay) * gate * (e - self.style_envelope - d)

    def band_gains(self, d: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """Band log-gains (amplitude, nepers): the envelope transfer ``-d / 2`` (power to amplitude)
        softly limited to +-max_gain, plus the network's correction ``raw`` limited to +-residual_gain."""
        g, r = self.config.max_gain, self.config.residual_gain
        return g * torch.tanh(-0.5 * d / g) + r * torch.tanh(raw / r)

    def filter_bands(self, x: torch.Tensor, warm_frames: int = 0) -> torch.Tensor:
        """Whole clips: x [batch, n_bins, n_frames] -> band log-gains [batch, n_frames, n_bands] (causal).

        The tracker starts at the style's envelope (no transfer), as a stream does after a reset;
        ``warm_frames`` > 0 starts it instead at the mean envelope of the first ``warm_frames``
        sounding frames (training: segments drawn from the middle of a performance)."""
        h = self.in_proj(x)
        for conv, dil in zip(self.convs, self.config.dilations):
            pad = (self.config.kernel_size - 1) * dil
            h = h + nn.functional.leaky_relu(conv(nn.functional.pad(h, (pad, 0))), _LEAK)
        raw = self.out_proj(h).transpose(1, 2)                                 # [batch, T, K]
        e = band_envelope(x, self.band_mean, dim=1).transpose(1, 2)           # [batch, T, K]
        gate = (x.amax(dim=1) > TRACK_FEATURE).to(x.dtype).unsqueeze(2)        # [batch, T, 1]
        d = x.new_zeros(x.shape[0], self.config.n_bands)
        if warm_frames:
            w = gate[:, :warm_frames]
            d = ((e[:, :warm_frames] - self.style_envelope) * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
        ds = []
        for t in range(x.shape[2]):
            d = self.track(e[:, t], gate[:, t], d)
            ds.append(d)
        return self.band_gains(torch.stack(ds, dim=1), raw)

    def apply_bands(self, x: torch.Tensor, bands: torch.Tensor) -> torch.Tensor:
        """x [batch, n_bins, n_frames] filtered by band log-gains [batch, n_frames, n_bands]."""
        return apply_filter(x, (bands @ self.bands).transpose(1, 2), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole clips: x [batch, n_bins, n_frames] -> [batch, n_bins, n_frames] (causal, no delay)."""
        return self.apply_bands(x, self.filter_bands(x))


class StepModule(nn.Module):
    """One frame of a :class:`Student` with explicit state, for export and streaming.

    The same weights as the student, rearranged for one frame: every convolution becomes a single
    matrix product (a causal conv on one output frame reads ``kernel_size`` past frames, which are
    gathered from the state and concatenated), so the exported graph is a chain of MatMul/Add
    nodes that onnxruntime runs with little per-node overhead. State of layer ``l``: its last
    ``(k - 1) * d_l`` hidden frames, time-major ``[1, (k - 1) * d_l, channels]``, oldest first.
    """

    def __init__(self, student: Student):
        super().__init__()
        self.student = student
        cfg = student.config
        with torch.no_grad():
            self.register_buffer("w_in", student.in_proj.weight[:, :, 0].T.contiguous())      # [bins, C]
            self.register_buffer("b_in", student.in_proj.bias.clone())
            # conv weight [C_out, C_in, k] -> [k * C_in, C_out], rows ordered (tap, channel)
            for i, conv in enumerate(student.convs):
                self.register_buffer(f"w{i}", conv.weight.permute(2, 1, 0).reshape(-1, cfg.channels).contiguous())
                self.register_buffer(f"b{i}", conv.bias.clone())
            self.register_buffer("w_out", student.out_proj.weight[:, :, 0].T.contiguous())    # [C, bands]
            self.register_buffer("b_out", student.out_proj.bias.clone())
            self.register_buffer("bands", student.bands.clone())                                # [bands, bins]

    def forward(self, frame: torch.Tensor, *states: torch.Tensor):
        """frame [1, n_bins], states [1, (k-1)*d, channels] each -> (frame_out [1, n_bins], *new_states)."""
        cfg = self.student.config
        k = cfg.kernel_size
        student = self.student
        h = frame @ self.w_in + self.b_in                               # [1, C]
        new_states = []
        for i, (d, state) in enumerate(zip(cfg.dilations, states)):
            window = torch.cat([state, h.unsqueeze(1)], dim=1)        # [1, (k-1)*d + 1, C]
            new_states.append(window[:, 1:, :])
            taps = window[:, ::d, :].reshape(1, k * cfg.channels)     # frames t-(k-1)d, ..., t-d, t
            h = h + nn.functional.leaky_relu(taps @ getattr(self, f"w{i}") + getattr(self, f"b{i}"), _LEAK)
        e = band_envelope(frame, student.band_mean, dim=1)             # [1, K]
        gate = (frame.amax(dim=1, keepdim=True) > TRACK_FEATURE).to(frame.dtype)
        dev = student.track(e, gate, states[-1][:, 0, :])              # [1, K]
        new_states.append(dev.unsqueeze(1))
        log_gain = student.band_gains(dev, h @ self.w_out + self.b_out) @ self.bands   # [1, n_bins]
        out = apply_filter(frame, log_gain, dim=1)
        return (out, *new_states)

    def initial_states(self) -> list:
        return [torch.zeros(shape) for shape in self.student.config.state_shapes]


def export_onnx(student: Student, path: str | os.PathLike, stft_config: StftConfig, *, name: str,
                style: dict | None = None, training: dict | None = None, golden_frames: int = 32,
                seed: int = 0) -> Path:
    """Write the student's step graph as ONNX with rtst metadata, and golden input/output beside it.

    The golden file ``<path stem>.golden.npz`` holds ``frames`` [golden_frames, n_bins] (features,
    seeded) and ``outputs`` the step graph's outputs for them, computed by torch; a test runs the
    ONNX file on ``frames`` and must reproduce ``outputs``.

    Returns
    -------
    Path
        ``path``.
    """
    import onnx

    from rtst.model.onnx import FORMAT as STEP_FORMAT  # the contract the runtime checks

    config = student.config
    if config.n_bins != stft_config.n_bins:
        raise ParameterError(f"student has n_bins={config.n_bins}, the STFT has {stft_config.n_bins}")
    path = Path(path)
    step = StepModule(student).eval()
    states = step.initial_states()
    state_names = [f"state{i}" for i in range(len(states))]
    frame = torch.zeros(1, config.n_bins)
    tmp = path.with_name(path.name + ".partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(step, (frame, *states), str(tmp), input_names=["frame", *state_names],
                          output_names=["frame_out", *[f"{n}_out" for n in state_names]],
                          opset_version=17, dynamo=False, do_constant_folding=True)
    model = onnx.load(str(tmp))
    meta = {
        "rtst.format": STEP_FORMAT,
        "rtst.stft": json.dumps(dataclasses.asdict(stft_config)),
        "rtst.feature": json.dumps({"type": "log1p", "scale": FEATURE_SCALE}),
        "rtst.io": json.dumps({"frame_input": "frame", "frame_output": "frame_out",
                               "states": [{"input": n, "output": f"{n}_out", "shape": shape}
                                          for n, shape in zip(state_names, config.state_shapes)]}),
        "rtst.name": name,
        "rtst.student": json.dumps(config.describe()),
        "rtst.style": json.dumps(style or {}),
        "rtst.training": json.dumps(training or {}),
        "rtst.version": __version__,
    }
    onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    gen = np.random.default_rng(seed)
    frames = np.log1p(np.abs(gen.standard_normal((golden_frames, config.n_bins))) * 10).astype(np.float32)
    outputs = np.zeros_like(frames)
    with torch.no_grad():
        for t in range(golden_frames):
            out, *states = step(torch.from_numpy(frames[t:t + 1]), *states)
            outputs[t] = out[0].numpy()
    np.savez(path.with_suffix(".golden.npz"), frames=frames, outputs=outputs)
    return path

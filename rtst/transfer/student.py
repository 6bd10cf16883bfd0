"""The real-time student: a small causal network over magnitude frames, and its ONNX step export (torch).

Architecture (:class:`Student`), on log1p features ``[batch, n_bins, n_frames]`` with frequency bins
as channels (time-shift invariant, not frequency-shift invariant, like the teacher's descriptor):

    h   = in_proj(x)                          1x1 conv, n_bins -> channels
    h   = h + act(conv_l(pad_left(h)))        per layer l: causal conv, kernel k, dilation d_l
    y   = x + out_proj(h)                     1x1 conv, channels -> n_bins (zero-initialised)
    out = match_energy(x, y)                  y rescaled per frame to the input frame's energy

Causal: output frame t depends on input frames t - receptive_field + 1 .. t only, so it adds no
latency. ``out_proj`` starts at zero, so an untrained student is the identity (passthrough) and
training moves it away from the content only as far as the loss asks. ``act`` is LeakyReLU(0.1).
The last step keeps each output frame's magnitude energy equal to its input frame's: the network
reshapes the spectrum, the performer's dynamics pass through, and silence in is silence out
(without it a trained student hisses its learned texture at about -24 dB into silence).

Streaming (:class:`StepModule`): one frame in, one frame out; each layer keeps its last
``(k - 1) * d_l`` inputs as explicit state ``[1, (k - 1) * d_l, channels]``, passed in and returned,
so onnxruntime runs it frame by frame with no hidden state. :func:`export_onnx` writes the step graph
with the metadata contract of :mod:`rtst.model.onnx` (DESIGN §3).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtst import __version__
from rtst.config import StftConfig, require_positive_ints
from rtst.errors import ParameterError
from rtst.transfer.features import band_matrix

__all__ = ["StudentConfig", "Student", "StepModule", "export_onnx", "apply_filter", "FEATURE_SCALE"]

#: Feature scale written into the model: feature = log1p(FEATURE_SCALE * |X|), as the teacher's.
FEATURE_SCALE = 1.0
_LEAK = 0.1
#: Energy floor (squared magnitude summed over bins) of :func:`match_energy`: far below any
#: audible frame, so silence in gives (almost exactly) silence out.
ENERGY_FLOOR = 1e-6
#: Largest log1p feature :func:`match_energy` lets through before its exponential (e^20 = 4.9e8,
#: ~170 dB above a unit magnitude): float32 energies then stay finite, so a wild frame during
#: training cannot turn into inf / inf = NaN.
FEATURE_LIMIT = 20.0
#: Largest filter gain either way, in nepers (exp(4) = +-35 dB), before the energy is matched.
MAX_GAIN = 4.0
#: Hard bound of :func:`apply_filter`'s log gain (e^10 = 87 dB), above the soft ``max_gain``: with
#: FEATURE_LIMIT it keeps every squared magnitude below float32's largest value.
GAIN_LIMIT = 10.0


def apply_filter(x: torch.Tensor, log_gain: torch.Tensor, dim: int) -> torch.Tensor:
    """log1p features ``x`` filtered by ``exp(log_gain)`` (same shape), then rescaled frame by frame
    to the magnitude energy of ``x`` (``dim`` is the bin axis). The student shapes the spectrum,
    the performer keeps the dynamics: silence stays silence, a crescendo stays a crescendo."""
    mx = torch.exp(x.clamp(0.0, FEATURE_LIMIT)) - 1.0   # expm1, which the ONNX exporter lacks
    my = mx * torch.exp(log_gain.clamp(-GAIN_LIMIT, GAIN_LIMIT))   # a wild gain cannot overflow float32
    gain = torch.sqrt(((mx * mx).sum(dim=dim, keepdim=True) + ENERGY_FLOOR)
                      / ((my * my).sum(dim=dim, keepdim=True) + ENERGY_FLOOR))
    return torch.log1p(my * gain)


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
        Largest filter gain either way, in nepers (``exp(max_gain)``; 4 = +-35 dB).
    """

    n_bins: int = 513
    channels: int = 256
    kernel_size: int = 3
    dilations: tuple = (1, 2, 4, 8)
    max_gain: float = MAX_GAIN

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        require_positive_ints(self, ("n_bins", "channels", "kernel_size"), "student ")
        if not self.dilations or any(d < 1 for d in self.dilations):
            raise ParameterError(f"student dilations={self.dilations} must be one or more positive integers")
        if not (isinstance(self.max_gain, (int, float)) and 0 < self.max_gain < 20):
            raise ParameterError(f"student max_gain={self.max_gain!r} must be a number in (0, 20) nepers")

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
        """Shape of each layer's state, ``[1, (kernel_size - 1) * dilation, channels]`` (time-major)."""
        return [[1, (self.kernel_size - 1) * d, self.channels] for d in self.dilations]

    def n_parameters(self) -> int:
        c, b, k, m = self.channels, self.n_bins, self.kernel_size, self.n_bands
        return (b * c + c) + len(self.dilations) * (c * c * k + c) + (c * m + m)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "dilations": list(self.dilations)}

    def describe(self) -> dict:
        """:meth:`to_dict` plus the bands, receptive field and parameter count (metadata and reports)."""
        return {**self.to_dict(), "output": "filter", "bands": self.n_bands,
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
        self.register_buffer("bands", torch.from_numpy(band_matrix(config.n_bins)))   # [bands, bins]

    def band_gains(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden ``[..., C]`` -> band log-gains ``[..., n_bands]``, softly limited to +-max_gain."""
        g = self.config.max_gain
        return g * torch.tanh(h / g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole clips: x [batch, n_bins, n_frames] -> [batch, n_bins, n_frames] (causal, no delay)."""
        h = self.in_proj(x)
        for conv, d in zip(self.convs, self.config.dilations):
            pad = (self.config.kernel_size - 1) * d
            h = h + nn.functional.leaky_relu(conv(nn.functional.pad(h, (pad, 0))), _LEAK)
        bands = self.band_gains(self.out_proj(h).transpose(1, 2))          # [batch, frames, n_bands]
        log_gain = (bands @ self.bands).transpose(1, 2)                      # [batch, n_bins, frames]
        return apply_filter(x, log_gain, dim=1)


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
        h = frame @ self.w_in + self.b_in                               # [1, C]
        new_states = []
        for i, (d, state) in enumerate(zip(cfg.dilations, states)):
            window = torch.cat([state, h.unsqueeze(1)], dim=1)        # [1, (k-1)*d + 1, C]
            new_states.append(window[:, 1:, :])
            taps = window[:, ::d, :].reshape(1, k * cfg.channels)     # frames t-(k-1)d, ..., t-d, t
            h = h + nn.functional.leaky_relu(taps @ getattr(self, f"w{i}") + getattr(self, f"b{i}"), _LEAK)
        log_gain = self.student.band_gains(h @ self.w_out + self.b_out) @ self.bands   # [1, n_bins]
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

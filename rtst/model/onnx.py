"""ONNX step models run by onnxruntime, one hop at a time, with explicit state.

File contract (DESIGN §3), all in the model's ``metadata_props``:

``rtst.format``   ``"step-v1"``
``rtst.stft``     JSON ``{"sample_rate", "n_fft", "hop_length", "window"}``
``rtst.feature``  JSON ``{"type": "log1p", "scale": s}`` (feature = log1p(s * magnitude)) or
                  ``{"type": "magnitude"}``
``rtst.io``       JSON ``{"frame_input": "frame", "frame_output": "frame_out",
                  "states": [{"input": "h", "output": "h_out", "shape": [1, 16, 4]}, ...]}``
``rtst.name``     model name for reports (optional; the file stem otherwise)

Inputs are float32: the frame ``[1, n_bins]`` in the feature domain and each state; outputs the new
frame and each new state. One session per model, one intra-op thread, sequential execution, every
input and output bound to a preallocated array, so a step copies nothing but the state hand-over.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numba import njit

from rtst.config import StftConfig
from rtst.errors import ModelError, ParameterError
from rtst.model.base import StepModel

__all__ = ["OnnxStepModel", "FORMAT"]

FORMAT = "step-v1"
_FEATURES = ("log1p", "magnitude")


@njit(cache=True, nogil=True)
def _to_feature(mag, out, kind, scale):
    """mag float64 [n_bins] -> out float32 [1, n_bins]. kind 0: log1p(scale*mag), 1: mag. Real-time safe."""
    row = out[0]
    for k in range(mag.shape[0]):
        row[k] = np.log1p(scale * mag[k]) if kind == 0 else mag[k]


@njit(cache=True, nogil=True)
def _from_feature(feat, mag, kind, scale):
    """feat float32 [1, n_bins] -> mag float64 [n_bins] (non-negative). Real-time safe."""
    row = feat[0]
    for k in range(mag.shape[0]):
        v = np.float64(row[k])
        if kind == 0:
            v = np.expm1(v) / scale
        mag[k] = v if v > 0.0 else 0.0


def _meta_json(meta: dict, key: str, path: Path):
    if key not in meta:
        raise ModelError(f"model {str(path)!r} lacks metadata {key!r}: not an rtst step model")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as exc:
        raise ModelError(f"model {str(path)!r} has malformed metadata {key!r}: {exc}") from None


class OnnxStepModel(StepModel):
    """A streaming step model from an ONNX file.

    Raises
    ------
    ModelError
        The file is truncated, not ONNX, not an rtst step model, or its graph does not match its
        metadata.
    """

    def __init__(self, path):
        import onnxruntime as ort

        path = Path(path)
        self.path = path
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load model {str(path)!r}: {first}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("rtst.format") != FORMAT:
            raise ModelError(
                f"model {str(path)!r} is not an rtst step model (rtst.format={meta.get('rtst.format')!r}, "
                f"expected {FORMAT!r})"
            )
        stft = _meta_json(meta, "rtst.stft", path)
        try:
            self.stft = StftConfig(**stft)
        except (TypeError, ParameterError) as exc:
            raise ModelError(f"model {str(path)!r} has invalid rtst.stft {stft}: {exc}") from None
        feature = _meta_json(meta, "rtst.feature", path)
        if feature.get("type") not in _FEATURES:
            raise ModelError(f"model {str(path)!r}: feature type {feature.get('type')!r} must be one of {_FEATURES}")
        self._kind = _FEATURES.index(feature["type"])
        self._scale = float(feature.get("scale", 1.0))
        if not self._scale > 0:
            raise ModelError(f"model {str(path)!r}: feature scale {self._scale} must be positive")
        io = _meta_json(meta, "rtst.io", path)
        self.name = meta.get("rtst.name", path.stem)
        self.metadata = dict(meta)
        n_bins = self.stft.n_bins
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        self._frame_in_name = io.get("frame_input", "frame")
        self._frame_out_name = io.get("frame_output", "frame_out")
        states = io.get("states", [])
        for name, table, kind in [(self._frame_in_name, inputs, "input"), (self._frame_out_name, outputs, "output")] + \
                [(s["input"], inputs, "input") for s in states] + [(s["output"], outputs, "output") for s in states]:
            if name not in table:
                raise ModelError(f"model {str(path)!r}: graph has no {kind} named {name!r} (has {sorted(table)})")
        self._frame_in = np.zeros((1, n_bins), dtype=np.float32)    # [1, n_bins] feature frame in
        self._frame_out = np.zeros((1, n_bins), dtype=np.float32)   # [1, n_bins] feature frame out
        self._state_in = []
        self._state_out = []
        for s in states:
            shape = tuple(int(d) for d in s["shape"])
            self._state_in.append(np.zeros(shape, dtype=np.float32))
            self._state_out.append(np.zeros(shape, dtype=np.float32))
        self._states = states
        self._binding = self.session.io_binding()
        self._binding.bind_cpu_input(self._frame_in_name, self._frame_in)
        self._binding.bind_output(self._frame_out_name, "cpu", 0, np.float32, self._frame_out.shape,
                                  self._frame_out.ctypes.data)
        for s, a, b in zip(states, self._state_in, self._state_out):
            self._binding.bind_cpu_input(s["input"], a)
            self._binding.bind_output(s["output"], "cpu", 0, np.float32, b.shape, b.ctypes.data)

    def prepare(self, n_bins: int) -> None:
        """Run a few steps (allocates ORT's arena, compiles kernels), then reset. Checks shapes."""
        if n_bins != self.stft.n_bins:
            raise ModelError(f"model {self.name!r} expects {self.stft.n_bins} bins, engine gives {n_bins}")
        mag = np.ones(n_bins)
        out = np.zeros(n_bins)
        try:
            for _ in range(3):
                self.process(mag, out)
        except Exception as exc:
            raise ModelError(f"model {self.name!r} failed a test step: {str(exc).splitlines()[0]}") from None
        self.reset()

    def process(self, mag_in, mag_out):
        """Real-time safe: bound preallocated inputs/outputs, state handed over by copy."""
        _to_feature(mag_in, self._frame_in, self._kind, self._scale)
        self.session.run_with_iobinding(self._binding)
        for a, b in zip(self._state_in, self._state_out):
            np.copyto(a, b)
        _from_feature(self._frame_out, mag_out, self._kind, self._scale)

    def reset(self):
        for a in self._state_in:
            a[:] = 0.0
        for b in self._state_out:
            b[:] = 0.0

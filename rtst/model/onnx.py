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

Engines: a model with ``rtst.student`` metadata (the architecture of :mod:`rtst.transfer.student`)
runs by default as a compiled step made from the file's own weights
(:class:`rtst.model.student_step.CompiledStudent`): 4x cheaper than onnxruntime at the low-latency
preset, 1.7x at the default one. onnxruntime stays the reference: at :meth:`OnnxStepModel.prepare` both run the
same frames and the compiled step is used only if they agree to :data:`PARITY_TOLERANCE` on the
output features; any other graph runs on onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rtst.dsp.compiled import rt_kernel

from rtst.config import StftConfig
from rtst.errors import ModelError, ParameterError
from rtst.model.base import StepModel
from rtst.model.session import open_session

__all__ = ["OnnxStepModel", "FORMAT", "ENGINES", "PARITY_TOLERANCE", "parity_frames"]

FORMAT = "step-v1"
_FEATURES = ("log1p", "magnitude")
#: ``auto``: the compiled student step where the graph is a student and agrees with onnxruntime,
#: else onnxruntime; ``compiled``: the compiled step or a ModelError; ``onnxruntime``: always it.
ENGINES = ("auto", "compiled", "onnxruntime")
#: Largest difference of output features (log1p domain) allowed between the engines.
PARITY_TOLERANCE = 1e-5


def parity_frames(n_bins: int, n_frames: int = 64) -> np.ndarray:
    """Magnitude frames that exercise a model's whole range, float64 [n_frames, n_bins]: silence,
    levels from -80 to +40 dB, tonal and noisy frames (a fixed seed: the same frames every time)."""
    rng = np.random.default_rng(20261202)
    frames = np.abs(rng.standard_normal((n_frames, n_bins)))
    frames *= 10.0 ** rng.uniform(-4.0, 2.0, (n_frames, 1))
    frames[::5] *= (rng.random((len(frames[::5]), n_bins)) < 0.05) * 30.0   # sparse, tonal
    frames[7::16] = 0.0                                                      # silence
    return frames


@rt_kernel
def _to_feature(mag, out, kind, scale):
    """mag float64 [n_bins] -> out float32 [1, n_bins]. kind 0: log1p(scale*mag), 1: mag. Real-time safe."""
    row = out[0]
    for k in range(mag.shape[0]):
        row[k] = np.log1p(scale * mag[k]) if kind == 0 else mag[k]


@rt_kernel
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

    def __init__(self, path, *, engine: str = "auto", session=None):
        if engine not in ENGINES:
            raise ParameterError(f"engine={engine!r} must be one of {', '.join(ENGINES)}")
        path = Path(path)
        self.path = path
        self.session = open_session(path) if session is None else session
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
        #: What runs the steps: "compiled" or "onnxruntime" (decided by :meth:`prepare`).
        self.engine = "onnxruntime"
        #: Why a student graph runs on onnxruntime (None when it does not, or was told to).
        self.engine_note = None
        self._requested = engine
        self._prepared = False  # prepare() ran its checks
        self._compiled = None
        if engine != "onnxruntime":
            self._compiled = self._build_compiled(path, meta)

    def _build_compiled(self, path, meta):
        from rtst.model.onnx_weights import read_initializers
        from rtst.model.student_step import CompiledStudent

        try:
            if "rtst.student" not in meta:
                raise ModelError("the graph is not an rtst student (no rtst.student metadata)")
            if self._kind != 0:
                raise ModelError("a student's features are log1p")
            return CompiledStudent(read_initializers(path), _meta_json(meta, "rtst.student", path), self._scale)
        except ModelError as exc:
            if self._requested == "compiled":
                raise ModelError(f"model {str(path)!r} cannot run compiled: {exc}") from None
            self.engine_note = str(exc)
            return None

    def prepare(self, n_bins: int) -> None:
        """Run a few steps (allocates ORT's arena, compiles kernels), then reset. Checks shapes.
        Done once: a model prepared before is only reset (a performer switching back and forth
        between loaded models pays the checks, ~10 ms of this process's interpreter, once)."""
        if n_bins != self.stft.n_bins:
            raise ModelError(f"model {self.name!r} expects {self.stft.n_bins} bins, engine gives {n_bins}")
        if self._prepared:
            self.reset()
            return
        mag = np.ones(n_bins)
        out = np.zeros(n_bins)
        try:
            for _ in range(3):
                self._ort_step(mag, out)
        except Exception as exc:
            raise ModelError(f"model {self.name!r} failed a test step: {str(exc).splitlines()[0]}") from None
        self.reset()
        if self._compiled is not None:
            err = self.parity_error()
            if err <= PARITY_TOLERANCE:
                self.engine = "compiled"
            elif self._requested == "compiled":
                raise ModelError(f"model {self.name!r}: the compiled step differs from onnxruntime by {err:.2g} "
                                 f"(tolerance {PARITY_TOLERANCE:g})")
            else:
                self.engine_note = f"the compiled step differed from onnxruntime by {err:.2g}"
                self._compiled = None
            self.reset()
        self._prepared = True

    def parity_error(self, frames: np.ndarray | None = None) -> float:
        """Largest difference of output features between the compiled step and onnxruntime over
        ``frames`` (float64 [n_frames, n_bins], default :func:`parity_frames`), both from a reset.
        Leaves both reset. Raises ModelError for a graph that has no compiled step."""
        if self._compiled is None:
            raise ModelError(f"model {self.name!r} has no compiled step ({self.engine_note})")
        frames = parity_frames(self.stft.n_bins) if frames is None else frames
        self.reset()
        a, b = np.zeros(frames.shape[1]), np.zeros(frames.shape[1])
        worst = 0.0
        for frame in frames:
            self._ort_step(frame, a)
            self._compiled.process(frame, b)
            # a compiled step exists only for log1p features (see _build_compiled)
            diff = np.abs(np.log1p(self._scale * a) - np.log1p(self._scale * b)).max()
            worst = max(worst, float(diff)) if np.isfinite(diff) else float("inf")
        self.reset()
        return worst

    def process(self, mag_in, mag_out):
        """Real-time safe: one compiled call, or onnxruntime on bound preallocated inputs and
        outputs with the state handed over by copy."""
        compiled = self._compiled
        if compiled is not None and self.engine == "compiled":
            compiled.process(mag_in, mag_out)
        else:
            self._ort_step(mag_in, mag_out)

    def _ort_step(self, mag_in, mag_out):
        _to_feature(mag_in, self._frame_in, self._kind, self._scale)
        self.session.run_with_iobinding(self._binding)
        for a, b in zip(self._state_in, self._state_out):
            np.copyto(a, b)
        _from_feature(self._frame_out, mag_out, self._kind, self._scale)

    def reset(self):
        if self._compiled is not None:
            self._compiled.reset()
        for a in self._state_in:
            a[:] = 0.0
        for b in self._state_out:
            b[:] = 0.0

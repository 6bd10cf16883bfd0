"""The student's step (:class:`rtst.transfer.student.StepModule`) compiled, from an ONNX file's weights.

onnxruntime runs the student's graph, about 140 small nodes, in ~47 us a step at the low-latency
preset (its floor, a one-node graph, is ~4 us: ``benchmarks/bench_model.py``), which at that
preset's 1333 us hop is most of the 3 % real-time target on its own. The
student is a fixed architecture (module docstring of :mod:`rtst.transfer.student`): an input
projection, causal dilated convolutions with residual LeakyReLU, an envelope tracker and a band
filter that keeps the frame's energy. :class:`CompiledStudent` reads its weights from the ONNX file
(:func:`rtst.model.onnx_weights.read_initializers`) and the architecture from its ``rtst.student``
metadata, and runs the same step as one compiled call in float32, as onnxruntime does. The ONNX file
stays the model format and onnxruntime the reference: :class:`rtst.model.onnx.OnnxStepModel`
checks the two agree on its parity frames at load and uses onnxruntime if they do not
(``engine="onnxruntime"`` forces it).

The graph's constants live here, without torch, and the training code imports them from here.
"""

from __future__ import annotations

import math

import numpy as np
from rtst.dsp.compiled import rt_kernel

from rtst.errors import ModelError

__all__ = ["LEAK", "ENERGY_FLOOR", "FEATURE_LIMIT", "TRACK_FEATURE", "ENVELOPE_FLOOR", "GAIN_LIMIT",
           "CompiledStudent"]

#: Slope of the LeakyReLU after each convolution.
LEAK = 0.1
#: Energy floor (squared magnitude summed over bins) of the energy-keeping filter: far below any
#: audible frame, so silence in gives (almost exactly) silence out.
ENERGY_FLOOR = 1e-6
#: Largest log1p feature the filter lets through before its exponential (e^20 = 4.9e8, ~170 dB
#: above a unit magnitude): float32 energies then stay finite.
FEATURE_LIMIT = 20.0
#: A frame updates the envelope tracker when its loudest bin's feature exceeds this (|X| = 1.7:
#: about -45 dB below a full-scale sine at n_fft 1024), so pauses do not pull the estimate to noise.
TRACK_FEATURE = 1.0
#: Band powers are floored this far (-40 dB) below the frame's mean bin power before the log.
ENVELOPE_FLOOR = 1e-4
#: Hard bound of the filter's log gain (e^10 = 87 dB), above the soft ``max_gain``: with
#: FEATURE_LIMIT it keeps every squared magnitude below float32's largest value.
GAIN_LIMIT = 10.0


@rt_kernel(fastmath=True)
def _matvec_acc(x, w_t, out):
    """``out += w_t @ x`` for w_t float32 [m, n] (a weight matrix stored output-major, so each output
    is one contiguous dot product: measured 34 GMAC/s here against 8 for the row-broadcast form)."""
    for j in range(w_t.shape[0]):
        row = w_t[j]
        s = np.float32(0.0)
        for i in range(row.shape[0]):
            s += row[i] * x[i]
        out[j] += s


# the pieces of a CompiledStudent's one float32 array, in order (shapes in its __init__)
_PIECES = ("w_in", "b_in", "w_conv", "b_conv", "w_out", "b_out", "bands", "band_mean", "style_env", "hist", "dev",
           "x", "h", "y", "taps", "e", "raw", "lg", "mx")
# its int64 array: sizes, then the start of each piece, then the layers' dilations, ring offsets
# and ring positions
_N_BINS, _C, _K, _BANDS, _LAYERS, _HEADER = 0, 1, 2, 3, 4, 5


@rt_kernel(inline="always")
def _piece(blob, ints, i, rows, cols):
    start = ints[_HEADER + i]
    return blob[start:start + rows * cols].reshape((rows, cols))


@rt_kernel
def _student_step(mag, mag_out, blob, ints, params):
    """One hop of the student (see :meth:`rtst.transfer.student.StepModule.forward`), float32 like
    onnxruntime. Every weight, state and scratch array is a piece of ``blob`` (float32), laid out
    by ``ints`` (int64): numba makes a small record per array argument on every call, which the
    audio thread should not, so the step takes five arrays. ``hist`` holds every layer's past
    inputs as rings (layer ``l``: rows ``offsets[l]:offsets[l + 1]``, next write at ``pos[l]``);
    ``dev`` the tracker's state; ``params`` = [scale, decay, max_gain, residual_gain].
    Real-time safe: no allocation."""
    n_bins, c, k, n_bands, layers = ints[_N_BINS], ints[_C], ints[_K], ints[_BANDS], ints[_LAYERS]
    w_in = _piece(blob, ints, 0, c, n_bins)
    b_in = _piece(blob, ints, 1, 1, c)[0]
    w_conv = _piece(blob, ints, 2, layers * c, k * c)
    b_conv = _piece(blob, ints, 3, layers, c)
    w_out = _piece(blob, ints, 4, n_bands, c)
    b_out = _piece(blob, ints, 5, 1, n_bands)[0]
    bands = _piece(blob, ints, 6, n_bins, n_bands)
    band_mean = _piece(blob, ints, 7, n_bands, n_bins)
    style_env = _piece(blob, ints, 8, 1, n_bands)[0]
    rings = ints[_HEADER + len(_PIECES) + 2 * layers] if layers > 0 else 0
    hist = _piece(blob, ints, 9, rings, c)
    dev = _piece(blob, ints, 10, 1, n_bands)[0]
    x = _piece(blob, ints, 11, 1, n_bins)[0]
    h = _piece(blob, ints, 12, 1, c)[0]
    y = _piece(blob, ints, 13, 1, c)[0]
    taps = _piece(blob, ints, 14, 1, k * c)[0]
    e = _piece(blob, ints, 15, 1, n_bands)[0]
    raw = _piece(blob, ints, 16, 1, n_bands)[0]
    lg = _piece(blob, ints, 17, 1, n_bins)[0]
    mx = _piece(blob, ints, 18, 1, n_bins)[0]
    base = _HEADER + len(_PIECES)
    dilations = ints[base:base + layers]
    offsets = ints[base + layers:base + 2 * layers + 1]
    pos = ints[base + 2 * layers + 1:base + 3 * layers + 1]
    scale, decay, g, r = np.float32(params[0]), params[1], params[2], params[3]
    one = np.float32(1.0)
    zero = np.float32(0.0)
    xmax = np.float32(-np.inf)
    for b in range(n_bins):
        v = np.log1p(np.float32(scale * mag[b]))
        x[b] = v
        if v > xmax:
            xmax = v
    # input projection and the causal dilated convolutions (residual LeakyReLU)
    for j in range(c):
        h[j] = b_in[j]
    _matvec_acc(x, w_in, h)
    for layer in range(dilations.shape[0]):
        d = dilations[layer]
        start = offsets[layer]
        size = offsets[layer + 1] - start
        p = pos[layer]
        for t in range(k):
            lag = (k - 1 - t) * d       # taps: frames t - (k-1)d, ..., t - d, t
            if lag == 0:
                for j in range(c):
                    taps[t * c + j] = h[j]
            else:
                row = start + (p - lag) % size
                for j in range(c):
                    taps[t * c + j] = hist[row, j]
        # the layer's input enters its ring (oldest overwritten) before h moves on
        for j in range(c):
            hist[start + p, j] = h[j]
        pos[layer] = (p + 1) % size
        for j in range(c):
            y[j] = b_conv[layer, j]
        _matvec_acc(taps, w_conv[layer * c:(layer + 1) * c], y)
        for j in range(c):
            v = y[j]
            h[j] += v if v > zero else np.float32(LEAK) * v
    # the envelope tracker. exp(clamp(x, 0, 20)) - 1 is the magnitude itself, clamped: computed
    # without the round trip (the graph's float32 exp-minus-one loses precision on small values,
    # this does not; they agree to 1e-5 on the output features)
    top = np.float32(math.expm1(FEATURE_LIMIT))
    mean_p = zero
    for b in range(n_bins):
        m = min(np.float32(scale * mag[b]), top)
        mx[b] = m
        lg[b] = m * m
        mean_p += m * m
    mean_p /= np.float32(n_bins)
    for kk in range(n_bands):
        e[kk] = zero
    _matvec_acc(lg, band_mean, e)
    e_mean = zero
    for kk in range(n_bands):
        v = np.log(e[kk] + np.float32(ENVELOPE_FLOOR) * mean_p + np.float32(1e-12))
        e[kk] = v
        e_mean += v
    e_mean /= np.float32(n_bands)
    gate = one if xmax > np.float32(TRACK_FEATURE) else zero
    rate = (one - np.float32(decay)) * gate
    for kk in range(n_bands):
        dev[kk] = dev[kk] + rate * (e[kk] - e_mean - style_env[kk] - dev[kk])
    # band gains: the envelope transfer plus the learned correction, each softly limited
    for kk in range(n_bands):
        raw[kk] = b_out[kk]
    _matvec_acc(h, w_out, raw)
    gf, rf = np.float32(g), np.float32(r)
    for kk in range(n_bands):
        raw[kk] = gf * np.tanh(np.float32(-0.5) * dev[kk] / gf) + rf * np.tanh(raw[kk] / rf)
    for b in range(n_bins):
        lg[b] = zero
    _matvec_acc(raw, bands, lg)
    # the filter, rescaled to the input frame's energy (log1p then expm1 of the graph's output
    # feature cancel: the magnitude is computed directly)
    e_in = zero
    e_out = zero
    lo, hi = np.float32(-GAIN_LIMIT), np.float32(GAIN_LIMIT)
    for b in range(n_bins):
        m = mx[b]
        my = m * np.exp(min(max(lg[b], lo), hi))
        lg[b] = my
        e_in += m * m
        e_out += my * my
    norm = np.sqrt((e_in + np.float32(ENERGY_FLOOR)) / (e_out + np.float32(ENERGY_FLOOR))) / scale
    for b in range(n_bins):
        mag_out[b] = np.float64(lg[b] * norm)


class CompiledStudent:
    """The student's step, compiled, with the weights of an ONNX step model.

    Parameters
    ----------
    weights : dict of name -> float32 array
        The ONNX file's initialisers (:func:`rtst.model.onnx_weights.read_initializers`).
    config : dict
        The ``rtst.student`` metadata (``n_bins``, ``channels``, ``kernel_size``, ``dilations``,
        ``max_gain``, ``residual_gain``, ``envelope_frames``, ``bands``).
    scale : float
        The feature scale (feature = log1p(scale * magnitude)).

    Raises
    ------
    ModelError
        The weights are not those of that architecture.
    """

    def __init__(self, weights: dict, config: dict, scale: float):
        try:
            n_bins, c, k = int(config["n_bins"]), int(config["channels"]), int(config["kernel_size"])
            dilations = np.array([int(d) for d in config["dilations"]], dtype=np.int64)
            n_bands = int(config["bands"])
            consts = [math.exp(-1.0 / float(config["envelope_frames"])), float(config["max_gain"]),
                      float(config["residual_gain"])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"student metadata lacks or mangles {exc}") from None
        layers = dilations.shape[0]
        expect = {"w_in": (n_bins, c), "b_in": (c,), "w_out": (c, n_bands), "b_out": (n_bands,),
                  "bands": (n_bands, n_bins), "student.style_envelope": (n_bands,)}
        expect.update({f"w{i}": (k * c, c) for i in range(layers)})
        expect.update({f"b{i}": (c,) for i in range(layers)})
        for name, shape in expect.items():
            if name not in weights or weights[name].shape != shape:
                got = weights[name].shape if name in weights else "nothing"
                raise ModelError(f"weight {name!r}: expected {shape}, found {got}")
        f32 = np.float32
        bands = weights["bands"].astype(np.float64)
        sizes = (k - 1) * dilations
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        pieces = {
            "w_in": weights["w_in"].T,                                           # [C, bins]
            "b_in": weights["b_in"],
            "w_conv": np.concatenate([weights[f"w{i}"].T for i in range(layers)]) if layers else np.zeros((0, k * c)),
            "b_conv": np.stack([weights[f"b{i}"] for i in range(layers)]) if layers else np.zeros((0, c)),
            "w_out": weights["w_out"].T,                                         # [bands, C]
            "b_out": weights["b_out"],
            "bands": bands.T,                                                    # [bins, bands]
            # the student's band averages are its band hats normalised to sum 1 (the graph stores
            # their transpose under a name the exporter makes up)
            "band_mean": bands / bands.sum(axis=1, keepdims=True),
            "style_env": weights["student.style_envelope"],
            "hist": np.zeros((int(offsets[-1]), c)),                             # every layer's past inputs
            "dev": np.zeros(n_bands),
            "x": np.zeros(n_bins), "h": np.zeros(c), "y": np.zeros(c), "taps": np.zeros(k * c),
            "e": np.zeros(n_bands), "raw": np.zeros(n_bands), "lg": np.zeros(n_bins), "mx": np.zeros(n_bins),
        }
        starts, total = [], 0
        for name in _PIECES:
            starts.append(total)
            total += pieces[name].size
        self._blob = np.zeros(total, f32)
        for name, start in zip(_PIECES, starts):
            self._blob[start:start + pieces[name].size] = np.asarray(pieces[name], np.float64).ravel()
        self._ints = np.array([n_bins, c, k, n_bands, layers, *starts, *dilations, *offsets, *np.zeros(layers)],
                              dtype=np.int64)
        self._params = np.array([float(scale)] + consts, np.float64)
        start = dict(zip(_PIECES, starts))
        self._state = (self._blob[start["hist"]:start["dev"] + n_bands],          # hist and dev are adjacent
                       self._ints[len(self._ints) - layers:])                     # the ring positions

    def process(self, mag_in: np.ndarray, mag_out: np.ndarray) -> None:
        """One hop, magnitude in and out (float64 [n_bins]). Real-time safe: one compiled call."""
        _student_step(mag_in, mag_out, self._blob, self._ints, self._params)

    def reset(self) -> None:
        for part in self._state:
            part[:] = 0

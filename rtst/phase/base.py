"""Phase-method interface, the ``input`` baseline and the fixed delay used for live switching.

The registry of methods by name (``METHODS``, ``make_phase``) is :mod:`rtst.phase`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from rtst.dsp.compiled import bound, cabs, rt_kernel

from rtst.config import StftConfig
from rtst.dsp.kernel_state import named, plain
from rtst.errors import ParameterError

__all__ = ["PhaseMethod", "InputPhase", "DelayedPhase", "FrameDelay", "MAX_LOOKAHEAD"]

#: Largest lookahead (in hops) any method accepts.
MAX_LOOKAHEAD = 16


class PhaseMethod:
    """Turns a stream of magnitude frames into a stream of complex frames.

    Parameters
    ----------
    stft_config : StftConfig
    lookahead : int
        Frames the method waits for before emitting a frame; it adds ``lookahead * hop_length``
        samples of latency (``default_lookahead`` of the class when omitted).

    Notes
    -----
    A compiled method keeps what its kernel reads and writes between hops in one NamedTuple,
    ``_state``, defined beside the kernel and built in the constructor, and hands the kernel
    ``_args``, the same arrays as plain tuples (:mod:`rtst.dsp.kernel_state`).
    """

    name = "phase"
    default_lookahead = 0

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None):
        if lookahead is None:
            lookahead = self.default_lookahead
        if isinstance(lookahead, bool) or not isinstance(lookahead, (int, np.integer)) or not (
            0 <= lookahead <= MAX_LOOKAHEAD
        ):
            raise ParameterError(f"lookahead={lookahead!r} must be an integer from 0 to {MAX_LOOKAHEAD}")
        self.stft = stft_config
        self.lookahead = int(lookahead)
        self.n_bins = stft_config.n_bins

    def process(self, mag: np.ndarray, spec_in: np.ndarray, spec_out: np.ndarray) -> None:
        """One hop.

        Parameters
        ----------
        mag : float64 [n_bins], C-contiguous
            Target magnitude of the newest frame.
        spec_in : complex128 [n_bins], C-contiguous
            The input's spectrum of the same frame (frame-centred phase).
        spec_out : complex128 [n_bins], C-contiguous, written
            Complex spectrum of the frame ``lookahead`` hops before the newest (zeros while the
            pipeline fills).

        Real-time safe: implementations must not allocate, in Python or in C. They call kernels
        bound to exactly these types (:func:`rtst.dsp.compiled.bound`), so other dtypes or
        layouts are not converted: they would be read as these.
        """
        raise NotImplementedError

    def _frame_buffers(self) -> tuple:
        """Arrays of the types :meth:`process` takes (mag, spec_in, spec_out), to bind kernels to."""
        return (np.zeros(self.n_bins), np.zeros(self.n_bins, dtype=np.complex128),
                np.zeros(self.n_bins, dtype=np.complex128))

    def reset(self) -> None:
        """Forget all history, as a fresh instance."""

    def prepare(self) -> None:
        """Compile and warm the kernels (off the audio thread), then reset."""
        mag = np.ones(self.n_bins)
        spec = np.ones(self.n_bins, dtype=np.complex128)
        out = np.zeros(self.n_bins, dtype=np.complex128)
        for _ in range(self.lookahead + 2):
            self.process(mag, spec, out)
        self.reset()


class FrameDelay(NamedTuple):
    """A ring of complex frames that delays a stream by a fixed number of hops.

    Attributes
    ----------
    history : complex128 [delay + 1, n_bins]
        The newest ``delay + 1`` frames, at row ``index % (delay + 1)``.
    count : int64 [1]
        Frames stored so far.
    """

    history: np.ndarray
    count: np.ndarray


def frame_delay(delay: int, n_bins: int) -> FrameDelay:
    """A zeroed :class:`FrameDelay` of ``delay`` hops."""
    return FrameDelay(np.zeros((delay + 1, n_bins), dtype=np.complex128), np.zeros(1, dtype=np.int64))


@rt_kernel
def _input_phase_step(mag, spec_in, spec_out, args):
    """Store ``mag * exp(i angle(spec_in))`` in the ring (``args``: a FrameDelay in its plain form);
    emit the frame ``lookahead`` back.

    Real-time safe: no allocation.
    """
    ring = named(FrameDelay, args)
    history, count = ring.history, ring.count
    slots = history.shape[0]
    row = history[count[0] % slots]
    for k in range(mag.shape[0]):
        z = spec_in[k]
        a = cabs(z)
        if a > 0.0:
            row[k] = z * (mag[k] / a)
        else:
            row[k] = mag[k]
    count[0] += 1
    # after the write, the oldest slot holds the frame `lookahead` hops back
    oldest = history[count[0] % slots]
    for k in range(mag.shape[0]):
        spec_out[k] = oldest[k]


class InputPhase(PhaseMethod):
    """Reuses the input's phase (a baseline, not a reconstruction).

    With ``lookahead = k`` it delays frames by ``k`` hops, which adds a known latency: used to test
    latency accounting and measurement.
    """

    name = "input"
    default_lookahead = 0

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None):
        super().__init__(stft_config, lookahead)
        self._state = frame_delay(self.lookahead, self.n_bins)
        self._args = plain(self._state)
        self._step = bound(_input_phase_step, *self._frame_buffers(), self._args)

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation (C-level included)."""
        self._step(mag, spec_in, spec_out, self._args)

    def reset(self):
        self._state.history[:] = 0.0
        self._state.count[:] = 0


@rt_kernel
def _delay_step(spec, spec_out, args):
    """Store ``spec`` in the ring (``args``: a FrameDelay in its plain form) and emit the frame
    ``history.shape[0] - 1`` back.

    Real-time safe: no allocation.
    """
    ring = named(FrameDelay, args)
    history, count = ring.history, ring.count
    slots = history.shape[0]
    row = history[count[0] % slots]
    for k in range(spec.shape[0]):
        row[k] = spec[k]
    count[0] += 1
    oldest = history[count[0] % slots]
    for k in range(spec.shape[0]):
        spec_out[k] = oldest[k]


class DelayedPhase(PhaseMethod):
    """A phase method whose output is held back ``extra`` more hops: it then has the latency of
    a method with ``inner.lookahead + extra`` lookahead (used to switch methods live without
    changing the effect's latency).
    """

    def __init__(self, inner: PhaseMethod, extra: int):
        super().__init__(inner.stft, inner.lookahead + extra)
        self.inner = inner
        self.name = inner.name
        self.extra = int(extra)
        self._spec = np.zeros(self.n_bins, dtype=np.complex128)
        self._state = frame_delay(self.extra, self.n_bins)
        self._args = plain(self._state)
        self._delay = bound(_delay_step, self._spec, self._spec, self._args)

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: the inner method, then one compiled call."""
        self.inner.process(mag, spec_in, self._spec)
        self._delay(self._spec, spec_out, self._args)

    def reset(self):
        self.inner.reset()
        self._state.history[:] = 0.0
        self._state.count[:] = 0

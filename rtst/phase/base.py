"""Phase-method interface, the ``input`` baseline and the method registry."""

from __future__ import annotations

import inspect

import numpy as np
from numba import njit

from rtst.config import StftConfig
from rtst.errors import ParameterError

__all__ = ["PhaseMethod", "InputPhase", "DelayedPhase", "METHODS", "make_phase", "MAX_LOOKAHEAD"]

#: Largest lookahead (in hops) any method accepts.
MAX_LOOKAHEAD = 16


class PhaseMethod:
    """Turns a stream of magnitude frames into a stream of complex frames.

    Parameters
    ----------
    stft_config : StftConfig
    lookahead : int
        Frames the method waits for before emitting a frame; it adds ``lookahead * hop_length``
        samples of latency.
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
        mag : float64 [n_bins]
            Target magnitude of the newest frame.
        spec_in : complex128 [n_bins]
            The input's spectrum of the same frame (frame-centred phase).
        spec_out : complex128 [n_bins], written
            Complex spectrum of the frame ``lookahead`` hops before the newest (zeros while the
            pipeline fills).

        Real-time safe: implementations must not allocate.
        """
        raise NotImplementedError

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


@njit(cache=True, nogil=True)
def _input_phase_step(mag, spec_in, history, count, spec_out):
    """Store ``mag * exp(i angle(spec_in))`` in the history ring; emit the frame ``lookahead`` back.

    ``history`` is complex128 [lookahead + 1, n_bins]; ``count`` int64 [1] frames seen so far.
    Real-time safe.
    """
    slots = history.shape[0]
    row = history[count[0] % slots]
    for k in range(mag.shape[0]):
        z = spec_in[k]
        a = abs(z)
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

    def __init__(self, stft_config: StftConfig, lookahead: int | None = None):
        super().__init__(stft_config, lookahead)
        self._history = np.zeros((self.lookahead + 1, self.n_bins), dtype=np.complex128)
        self._count = np.zeros(1, dtype=np.int64)

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: one compiled call, no allocation."""
        _input_phase_step(mag, spec_in, self._history, self._count, spec_out)

    def reset(self):
        self._history[:] = 0.0
        self._count[:] = 0


@njit(cache=True, nogil=True)
def _delay_step(spec, history, count, spec_out):
    """Store ``spec`` in the history ring and emit the one ``history.shape[0] - 1`` frames back.
    Real-time safe."""
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
        self._history = np.zeros((self.extra + 1, self.n_bins), dtype=np.complex128)
        self._count = np.zeros(1, dtype=np.int64)

    def process(self, mag, spec_in, spec_out):
        """Real-time safe: the inner method, then one compiled call."""
        self.inner.process(mag, spec_in, self._spec)
        _delay_step(self._spec, self._history, self._count, spec_out)

    def reset(self):
        self.inner.reset()
        self._history[:] = 0.0
        self._count[:] = 0


#: Method name -> class (rtst.phase registers the reconstruction methods).
METHODS = {"input": InputPhase}


def make_phase(method: str, stft_config: StftConfig, lookahead: int | None = None, **options) -> PhaseMethod:
    """Build a phase method by name.

    Raises
    ------
    ParameterError
        Unknown method, bad lookahead or options.
    """
    try:
        cls = METHODS[method]
    except KeyError:
        raise ParameterError(
            f"phase={method!r} must be one of {', '.join(sorted(METHODS))}"
        ) from None
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in options if k not in params or k in ("self", "stft_config", "lookahead"))
    if unknown and not takes_any:
        raise ParameterError(f"phase={method!r} takes no option(s) {', '.join(unknown)}")
    return cls(stft_config, lookahead, **options)

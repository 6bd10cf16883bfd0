"""Frozen, validated settings shared by the engine, the command line and (later) training.

Every dataclass validates itself in ``__post_init__`` and raises :class:`~rtst.errors.ParameterError`
naming the field, the value and the rule. Validation happens here, at the boundary, never per block.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Optional, Union

from rtst.errors import ParameterError
from rtst.validate import require_int

__all__ = ["StftConfig", "StreamConfig", "SAMPLE_RATE_RANGE_HZ", "DEFAULT_STFT"]

#: Inclusive range of sample rates the engine accepts.
SAMPLE_RATE_RANGE_HZ = (8000, 192000)
_N_FFT_RANGE = (16, 65536)
#: Smallest allowed ratio min/max of the squared-window overlap-add; below it the canonical dual
#: window would amplify noise by more than 30 dB, i.e. the overlap-add is not practically invertible.
MIN_OLA_RATIO = 1e-3


@dataclasses.dataclass(frozen=True)
class StftConfig:
    """Short-time Fourier transform settings of the engine and of every model.

    Parameters
    ----------
    sample_rate : int
        Samples per second (Hz), 8000..192000.
    n_fft : int
        Frame (and window) length in samples; a power of two, 16..65536.
    hop_length : int
        Samples between frames, 1..n_fft, such that the window overlap-add is invertible.
    window : str
        Analysis window name, one of :data:`rtst.dsp.windows.WINDOWS`.
    """

    sample_rate: int = 48000
    n_fft: int = 1024
    hop_length: int = 256
    window: str = "hann"

    def __post_init__(self):
        require_int("sample_rate", self.sample_rate, *SAMPLE_RATE_RANGE_HZ)
        n_fft = require_int("n_fft", self.n_fft, *_N_FFT_RANGE)
        if n_fft & (n_fft - 1):
            raise ParameterError(f"n_fft={n_fft} must be a power of two")
        require_int("hop_length", self.hop_length, 1, n_fft)
        from rtst.dsp import windows  # local: windows imports nothing from config, avoids a cycle

        if self.window not in windows.WINDOWS:
            raise ParameterError(
                f"window={self.window!r} must be one of {', '.join(sorted(windows.WINDOWS))}"
            )
        ola = windows.ola_square_sum(windows.get_window(self.window, n_fft), self.hop_length)
        ratio = float(ola.min() / ola.max())
        if ratio < MIN_OLA_RATIO:
            raise ParameterError(
                f"hop_length={self.hop_length} with n_fft={n_fft} and window={self.window!r} leaves "
                f"gaps in the overlap-add (min/max {ratio:.1e} < {MIN_OLA_RATIO:.0e}), so the STFT "
                f"cannot be inverted: use hop_length <= n_fft/2"
            )

    @property
    def n_bins(self) -> int:
        """Number of non-negative frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def budget_us(self) -> float:
        """Real-time budget of one hop in microseconds."""
        return self.hop_length / self.sample_rate * 1e6

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_STFT = StftConfig()



@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """Settings of the live duplex stream.

    Parameters
    ----------
    input_device, output_device : int, str or None
        Device index or (part of) its name; ``None`` is the host's default device.
    block_size : int
        Frames per audio callback (fixed). ``0`` lets the host choose (variable sizes, which costs
        the engine ``hop_length - 1`` extra samples of latency to stay chunking invariant).
    latency : str or float
        ``'low'``, ``'high'`` or a suggested host latency in seconds (PortAudio's meaning).
    output_channels : int
        Output channels; the mono effect output is copied to each.
    """

    input_device: Optional[Union[int, str]] = None
    output_device: Optional[Union[int, str]] = None
    block_size: int = 256
    latency: Union[str, float] = "low"
    output_channels: int = 2

    def __post_init__(self):
        require_int("block_size", self.block_size, 0, 65536)
        require_int("output_channels", self.output_channels, 1, 64)
        if isinstance(self.latency, str):
            if self.latency not in ("low", "high"):
                raise ParameterError(f"latency={self.latency!r} must be 'low', 'high' or seconds")
        elif not (isinstance(self.latency, numbers.Real) and 0 <= float(self.latency) <= 1.0):
            raise ParameterError(f"latency={self.latency!r} must be between 0 and 1 seconds")

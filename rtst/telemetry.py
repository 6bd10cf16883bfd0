"""Lock-free telemetry: what the audio thread publishes for the view, the meters and the recorder.

One flat block of memory, optionally backed by a file in shared memory so that another process
(the view) can map it. The audio thread is the only writer of the rings and counters; readers
never block it, and a reader that falls behind loses the oldest entries, never the audio.

Layout (all little-endian, 64-byte aligned sections)::

    header  int64   [HEADER_LEN]                  sizes, write counters, stream counters
    state   float64 [STATE_LEN]                   control state and latency figures (for display)
    hop_ns  int64   [frame_capacity]              compute time of each hop (ns)
    frames  float32 [frame_capacity, 2, n_bins]   magnitude of each hop: [., 0] input, [., 1] output
    audio   float32 [audio_capacity, 2]           samples as the sound card saw them: input, output

Publishing order: a writer fills ring entries first and bumps the write counter in a separate
call afterwards (a compiler barrier; x86-64 keeps stores in program order), so a reader that sees
counter ``c`` finds entries ``< c`` written. A reader re-reads the counter after copying and drops
entries that were overwritten meanwhile (the ring lapped it): a torn read is detected, not shown.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np
from rtst.dsp.compiled import rt_kernel

from rtst.dsp.ringbuffer import next_pow2
from rtst.errors import ParameterError
from rtst.validate import require_int

__all__ = ["Telemetry", "HEADER_LEN", "STATE_LEN", "STATE", "FRAMES_SLOT", "tap_frame", "publish"]

MAGIC = 0x7274737454454C45  # "rtstTELE"
LAYOUT_VERSION = 1
HEADER_LEN = 32
STATE_LEN = 32

# header slots
_H_MAGIC, _H_VERSION, _H_N_BINS, _H_FRAME_CAP, _H_AUDIO_CAP, _H_SAMPLE_RATE, _H_HOP, _H_N_FFT = range(8)
_H_FRAMES, _H_AUDIO, _H_CLOSED = 8, 9, 10
#: The header slot counting published frames (see :func:`tap_frame`).
FRAMES_SLOT = _H_FRAMES
#: header[STREAM_COUNTERS:STREAM_COUNTERS + 8] holds the live stream's counters (rtst.live.stream).
STREAM_COUNTERS = 16
#: Slots within those counters: the stream's callback writes them, the view reads them.
(CALLBACKS, XRUNS, DEADLINE_MISSES, FAILURES,
 IN_OVERFLOW, IN_UNDERFLOW, OUT_UNDERFLOW, OUT_OVERFLOW) = range(8)

#: state slots (float64), written by the control side, read by the view.
STATE = {
    "mix": 0, "bypass": 1, "morph": 2, "model": 3, "phase": 4, "morph_model": 5,
    "latency_algorithmic": 6, "latency_io": 7, "budget_us": 8, "lookahead": 9, "recording": 10,
    "record_lost": 11, "bad_frames": 12, "clipped": 13,
    # written by the view: redraws done and frames drawn (proof that it is drawing)
    "view_ticks": 14, "view_frames": 15,
}


def _shm_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


@rt_kernel
def tap_frame(mag_in, mag_out, clock, frames, hop_ns, header):
    """Write one hop's input and output magnitudes and compute time (``clock[-1]``, ns: the
    processor's clock array, read here so that no Python int carries it) at the next ring slot.

    The write counter is bumped by :func:`publish` afterwards. Real-time safe.
    """
    i = header[_H_FRAMES]
    row = i & (frames.shape[0] - 1)
    for k in range(mag_in.shape[0]):
        frames[row, 0, k] = mag_in[k]
        frames[row, 1, k] = mag_out[k]
    hop_ns[row] = clock[clock.shape[0] - 1]


@rt_kernel
def tap_audio(inp, out, audio, header):
    """Write one block of input and output samples at the ring's write position. Real-time safe."""
    i = header[_H_AUDIO]
    mask = audio.shape[0] - 1
    for j in range(inp.shape[0]):
        audio[(i + j) & mask, 0] = inp[j]
        audio[(i + j) & mask, 1] = out[j]


@rt_kernel
def publish(header, slot, n):
    """``header[slot] += n``: makes entries visible to readers. Real-time safe."""
    header[slot] = header[slot] + n


class Telemetry:
    """Rings and counters shared by the audio thread (writer) and any readers.

    Parameters
    ----------
    n_bins : int
        Magnitude bins per frame.
    sample_rate, hop_length, n_fft : int
        The engine's STFT (stored for readers).
    frame_seconds : float
        At least this much history of frames is kept (capacity rounded up to a power of two).
    audio_seconds : float
        At least this much history of audio is kept.
    shared : bool
        Back the block by a file in shared memory (``/dev/shm`` where available) that another
        process can open with :meth:`attach`; removed by :meth:`close`.
    """

    def __init__(self, n_bins: int, sample_rate: int, hop_length: int, n_fft: int, *,
                 frame_seconds: float = 2.0, audio_seconds: float = 4.0, shared: bool = False):
        for name, value in (("n_bins", n_bins), ("sample_rate", sample_rate), ("hop_length", hop_length),
                            ("n_fft", n_fft)):
            require_int(name, value, 1, 1 << 30, rule="a positive integer")
        if not (0 < frame_seconds <= 600 and 0 < audio_seconds <= 600):
            raise ParameterError(f"frame_seconds={frame_seconds} and audio_seconds={audio_seconds} must be in (0, 600]")
        frame_cap = next_pow2(max(64, int(np.ceil(frame_seconds * sample_rate / hop_length))))
        audio_cap = next_pow2(max(1024, int(np.ceil(audio_seconds * sample_rate))))
        size = self._size(int(n_bins), frame_cap, audio_cap)
        self.path = None
        if shared:
            self.path = Path(_shm_dir()) / f"rtst-telemetry-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            with open(self.path, "wb") as f:
                f.truncate(size)
            self._open(self.path, size)
        else:
            self._buf = np.zeros(size, dtype=np.uint8)
            self._mmap = None
        # touch every page now: the kernel maps zero pages lazily, and a first write from the audio
        # thread would then fault (and grow the RSS) during the first laps of each ring
        self._buf.fill(0)
        self._views(int(n_bins), frame_cap, audio_cap)
        h = self.header
        h[_H_VERSION], h[_H_N_BINS], h[_H_FRAME_CAP], h[_H_AUDIO_CAP] = LAYOUT_VERSION, n_bins, frame_cap, audio_cap
        h[_H_SAMPLE_RATE], h[_H_HOP], h[_H_N_FFT] = sample_rate, hop_length, n_fft
        h[_H_MAGIC] = MAGIC
        self._owner = True
        # compile the writers now, never on the audio thread
        tap_frame(np.zeros(n_bins), np.zeros(n_bins), np.zeros(4, np.int64), self.frames, self.hop_ns, self.header)
        tap_audio(np.zeros(1, np.float32), np.zeros(1, np.float32), self.audio, self.header)
        tap_audio(np.zeros(1), np.zeros(1), self.audio, self.header)
        publish(self.header, _H_CLOSED, 0)

    @staticmethod
    def _size(n_bins: int, frame_cap: int, audio_cap: int) -> int:
        return 8 * HEADER_LEN + 8 * STATE_LEN + 8 * frame_cap + 4 * frame_cap * 2 * n_bins + 4 * audio_cap * 2

    def _open(self, path, size) -> None:
        with open(path, "r+b") as f:
            self._mmap = mmap.mmap(f.fileno(), size)
        self._buf = np.frombuffer(self._mmap, dtype=np.uint8)

    def _views(self, n_bins: int, frame_cap: int, audio_cap: int) -> None:
        b = self._buf
        o = 0

        def take(dtype, shape):
            nonlocal o
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            view = b[o:o + n].view(dtype).reshape(shape)
            o += n
            return view

        self.header = take(np.int64, (HEADER_LEN,))
        self.state = take(np.float64, (STATE_LEN,))
        self.hop_ns = take(np.int64, (frame_cap,))
        self.frames = take(np.float32, (frame_cap, 2, n_bins))  # [capacity, in/out, n_bins]
        self.audio = take(np.float32, (audio_cap, 2))            # [capacity, in/out]
        #: The live stream's counters (int64 [8]); LiveEffect writes them in place.
        self.stream_counters = self.header[STREAM_COUNTERS:STREAM_COUNTERS + 8]

    @classmethod
    def attach(cls, path) -> "Telemetry":
        """Open a block another process created with ``shared=True`` (read and write)."""
        path = Path(path)
        try:
            size = path.stat().st_size
            self = cls.__new__(cls)
            self.path = path
            self._open(path, size)
        except (OSError, ValueError) as exc:
            raise ParameterError(f"telemetry block {str(path)!r} cannot be opened: {exc}") from None
        head = self._buf[:8 * HEADER_LEN].view(np.int64)
        if size < 8 * HEADER_LEN or head[_H_MAGIC] != MAGIC or head[_H_VERSION] != LAYOUT_VERSION:
            raise ParameterError(f"{str(path)!r} is not an rtst telemetry block of layout {LAYOUT_VERSION}")
        n_bins, frame_cap, audio_cap = (int(head[i]) for i in (_H_N_BINS, _H_FRAME_CAP, _H_AUDIO_CAP))
        if cls._size(n_bins, frame_cap, audio_cap) != size:
            raise ParameterError(f"{str(path)!r}: size {size} does not match its header")
        self._views(n_bins, frame_cap, audio_cap)
        self._owner = False
        return self

    # ------------------------------------------------------------------ facts
    @property
    def n_bins(self) -> int:
        return int(self.header[_H_N_BINS])

    @property
    def sample_rate(self) -> int:
        return int(self.header[_H_SAMPLE_RATE])

    @property
    def hop_length(self) -> int:
        return int(self.header[_H_HOP])

    @property
    def n_fft(self) -> int:
        return int(self.header[_H_N_FFT])

    @property
    def frames_written(self) -> int:
        return int(self.header[_H_FRAMES])

    @property
    def audio_written(self) -> int:
        return int(self.header[_H_AUDIO])

    @property
    def closed(self) -> bool:
        """True once the writer has finished (the effect stopped)."""
        return bool(self.header[_H_CLOSED])

    def mark_closed(self) -> None:
        self.header[_H_CLOSED] = 1

    def frame_tap(self):
        """Arguments for :meth:`rtst.engine.Processor.set_frame_tap`."""
        return self.frames, self.hop_ns, self.header

    def set_state(self, **values) -> None:
        for key, value in values.items():
            self.state[STATE[key]] = float(value)

    def get_state(self, key: str) -> float:
        return float(self.state[STATE[key]])

    # ------------------------------------------------------------------ writer (audio thread)
    def write_audio(self, inp: np.ndarray, out: np.ndarray) -> None:
        """Append a block of input and output samples. Real-time safe."""
        tap_audio(inp, out, self.audio, self.header)
        publish(self.header, _H_AUDIO, inp.shape[0])

    # ------------------------------------------------------------------ readers
    def _read(self, ring: np.ndarray, slot: int, since: int, out: np.ndarray, extra=None):
        cap = ring.shape[0]
        end = int(self.header[slot])
        start = max(since, end - cap + 1, end - out.shape[0])
        n = max(0, end - start)
        if n:
            idx = (start + np.arange(n)) & (cap - 1)
            np.take(ring, idx, axis=0, out=out[:n])
            if extra is not None:
                np.take(extra[0], idx, axis=0, out=extra[1][:n])
            after = int(self.header[slot])
            torn = max(0, after - cap + 1 - start)  # entries the writer lapped during the copy
            if torn:
                keep = max(0, n - torn)
                out[:keep] = out[n - keep:n].copy()
                if extra is not None:
                    extra[1][:keep] = extra[1][n - keep:n].copy()
                start += n - keep
                n = keep
        return n, start, start - since

    def read_frames(self, since: int, out: np.ndarray, hop_ns_out: np.ndarray | None = None):
        """Copy the frames written after index ``since`` into ``out`` (float32 [m, 2, n_bins]).

        Returns
        -------
        n : int
            Frames copied: the newest ``min(new, m)``.
        next_since : int
            Index to pass next time.
        dropped : int
            Frames skipped because ``out`` was too small or the ring lapped the reader.
        """
        extra = None if hop_ns_out is None else (self.hop_ns, hop_ns_out)
        n, start, dropped = self._read(self.frames, _H_FRAMES, since, out, extra)
        return n, start + n, dropped

    def read_audio(self, since: int, out: np.ndarray):
        """Copy the samples written after index ``since`` into ``out`` (float32 [m, 2]); as
        :meth:`read_frames`: ``(n, next_since, dropped)``."""
        n, start, dropped = self._read(self.audio, _H_AUDIO, since, out)
        return n, start + n, dropped

    def hop_times_ns(self, last: int) -> np.ndarray:
        """Compute times (ns) of the newest ``last`` hops (fewer if not yet written), a copy."""
        end = self.frames_written
        cap = self.hop_ns.shape[0]
        n = min(last, end, cap - 1)
        idx = (end - n + np.arange(n)) & (cap - 1)
        return self.hop_ns[idx].copy()

    def close(self) -> None:
        """Unmap; the creator also removes the shared file. Views into the block must not be used
        afterwards."""
        self.header = self.state = self.hop_ns = self.frames = self.audio = self.stream_counters = None
        self._buf = None
        if getattr(self, "_mmap", None) is not None:
            try:
                self._mmap.close()
            except BufferError:  # a view is still alive somewhere; the mapping goes with the process
                pass
            self._mmap = None
        if self._owner and self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

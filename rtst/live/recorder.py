"""Recording the live effect: input and output to one WAV file, written from a background thread.

The audio thread only appends samples to the telemetry's audio ring (:mod:`rtst.telemetry`).
A :class:`Recorder` thread drains that ring every ``interval_s`` and appends the samples to a
32-bit float, 2-channel WAV file (channel 1: input, channel 2: output, both as the sound card saw
them in the same callback, so the output trails the input by the effect's latency). After each
append the RIFF sizes in the header are rewritten and the file is flushed: a crash or a kill
leaves a valid WAV that lacks at most the last ``interval_s`` of audio.

If the thread falls so far behind that the ring overwrote samples it had not read, it writes
zeros in their place (the file keeps stream time) and counts them in :attr:`Recorder.lost`.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import numpy as np

from rtst.errors import AudioFileError

__all__ = ["Recorder", "WavAppender", "RECORD_INTERVAL_S"]

#: How often the recorder drains the ring: the most a kill can lose.
RECORD_INTERVAL_S = 0.25
_FORMAT_IEEE_FLOAT = 3
_HEADER_BYTES = 58  # RIFF(12) + fmt(8 + 18) + fact(8 + 4) + data(8)
_MAX_DATA_BYTES = 0xFFFFFFFF - _HEADER_BYTES


class WavAppender:
    """A float32 WAV file that is valid after every :meth:`append` (sizes rewritten, flushed).

    Parameters
    ----------
    path : path-like
        A new ``.wav`` file; an existing file is never overwritten.
    sample_rate : int
    channels : int
    """

    def __init__(self, path, sample_rate: int, channels: int):
        path = Path(path)
        if path.suffix.lower() != ".wav":
            raise AudioFileError(f"recording {str(path)!r}: the file must end in .wav")
        if not path.parent.is_dir():
            raise AudioFileError(f"recording {str(path)!r}: folder {str(path.parent)!r} does not exist")
        try:
            self._file = open(path, "xb")  # never clobber an earlier take
        except FileExistsError:
            raise AudioFileError(f"recording {str(path)!r}: the file exists; choose another path") from None
        except OSError as exc:
            raise AudioFileError(f"recording {str(path)!r}: {exc}") from None
        self.path = path
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.frames = 0
        self.full = False
        self._write_header()

    def _write_header(self) -> None:
        block_align = 4 * self.channels
        data_bytes = self.frames * block_align
        header = b"".join([
            b"RIFF", struct.pack("<I", _HEADER_BYTES - 8 + data_bytes), b"WAVE",
            b"fmt ", struct.pack("<IHHIIHHH", 18, _FORMAT_IEEE_FLOAT, self.channels, self.sample_rate,
                                 self.sample_rate * block_align, block_align, 32, 0),
            b"fact", struct.pack("<II", 4, self.frames),
            b"data", struct.pack("<I", data_bytes),
        ])
        self._file.seek(0)
        self._file.write(header)
        self._file.seek(_HEADER_BYTES + data_bytes)

    def append(self, samples: np.ndarray) -> int:
        """Append float32 [n, channels]; returns the frames written (fewer once the 4 GiB WAV
        limit is reached, after which :attr:`full` is True)."""
        n = samples.shape[0]
        room = (_MAX_DATA_BYTES - self.frames * 4 * self.channels) // (4 * self.channels)
        if n > room:
            n = room
            self.full = True
        if n <= 0:
            return 0
        self._file.write(np.ascontiguousarray(samples[:n], dtype="<f4").tobytes())
        self.frames += n
        self._write_header()
        self._file.flush()
        return n

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


class Recorder:
    """Drains a telemetry block's audio ring into a :class:`WavAppender` on a daemon thread.

    Parameters
    ----------
    path : path-like
        New ``.wav`` file (checked here, so a bad path fails before the stream starts).
    telemetry : rtst.telemetry.Telemetry
    interval_s : float
        Drain period; at most this much audio is lost if the process is killed.
    """

    def __init__(self, path, telemetry, *, interval_s: float = RECORD_INTERVAL_S):
        self.telemetry = telemetry
        self.interval_s = float(interval_s)
        self.writer = WavAppender(path, telemetry.sample_rate, 2)
        self.lost = 0
        self.error = None
        # a whole ring's worth per drain at most: [capacity, 2] input/output
        self._buf = np.zeros(telemetry.audio.shape, dtype=np.float32)
        self._since = telemetry.audio_written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtst-recorder", daemon=True)

    def start(self) -> None:
        self._since = self.telemetry.audio_written
        self._thread.start()

    def _drain(self) -> None:
        n, nxt, dropped = self.telemetry.read_audio(self._since, self._buf)
        if dropped:
            self.lost += dropped
            gap = np.zeros((min(dropped, self._buf.shape[0]), 2), np.float32)
            for _ in range(dropped // gap.shape[0]):
                self.writer.append(gap)
            self.writer.append(gap[:dropped % gap.shape[0]])
        self.writer.append(self._buf[:n])
        self._since = nxt

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self._drain()
                if self.writer.full:
                    return
            self._drain()
        except (OSError, ValueError) as exc:  # disk full, file gone: stop recording, keep playing
            self.error = f"recording stopped: {exc}"

    def stop(self) -> dict:
        """Drain what is left, close the file and return ``{"path", "frames", "seconds", "lost", "error"}``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.writer.close()
        if self.writer.full and self.error is None:
            self.error = "recording stopped at the 4 GiB WAV size limit"
        return {"path": str(self.writer.path), "frames": self.writer.frames,
                "seconds": round(self.writer.frames / self.writer.sample_rate, 3),
                "lost": self.lost, "error": self.error}

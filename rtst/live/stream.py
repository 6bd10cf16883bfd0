"""The live effect: a duplex stream whose callback drives a :class:`~rtst.engine.Processor`.

The stream is the effect's own JACK client (:class:`rtst.live.jack.JackDuplex`: client ``rtst``,
ports ``in_1``, ``out_1``, ``out_2``) when a JACK server runs and no PortAudio device was named,
else a PortAudio stream. On JACK the block size is the server's period; a processor built for
another block size runs through a :class:`rtst.live.jack.BlockAdapter`, whose re-blocking delay
counts as I/O latency.

Callback contract (the audio thread, PortAudio's or JACK's): copy the first input channel into a preallocated
buffer, run :meth:`Processor.process` into a preallocated output buffer, write ``outdata[:]`` on
every call, bump counters in a preallocated int64 array. On JACK, xruns arrive on the server's
notification thread instead of as a status flag and are counted there. Nothing there allocates buffers, locks,
logs, prints or does I/O; every compiled kernel was warmed when the Processor was built. An
exception inside the callback is caught, the block is silenced and counted as a failure.

While the stream runs, Python's cyclic garbage collector is frozen and paused: the callback's
transient objects could otherwise trigger a full collection of the whole heap on the audio thread
(milliseconds). The callback creates no reference cycles; the collector resumes on stop().
"""

from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np

from rtst.config import StreamConfig
from rtst.dsp.compiled import TIMER_SLOTS, elapsed_ns, rt_kernel, start_timer
from rtst.dsp.ringbuffer import ring_history
from rtst.engine import Processor
from rtst.errors import DeviceError, ParameterError
from rtst.io.devices import import_sounddevice, resolve_device
from rtst.telemetry import (CALLBACKS, DEADLINE_MISSES, FAILURES, IN_OVERFLOW, IN_UNDERFLOW, OUT_OVERFLOW,
                               OUT_UNDERFLOW, XRUNS)

__all__ = ["LiveEffect", "CALLBACK_TIMES_CAPACITY", "HOSTS"]

#: Audio back ends LiveEffect accepts: "auto" is JACK when a server runs and no device was named.
HOSTS = ("auto", "jack", "portaudio")

#: The interpreter's switch interval while the stream runs (Python's default is 5 ms). A thread
#: that runs Python code (OSC, MIDI, the recorder, the session's loop) keeps the interpreter lock
#: until another thread has waited this long for it; the audio callback needs that lock every
#: period (1.3 ms at the low-latency preset), so it must not wait 5 ms.
SWITCH_INTERVAL_S = 2e-4
#: How many xruns are time-stamped (the count goes on beyond).
XRUN_LOG_CAPACITY = 256
#: Callback compute times kept (ring), per callback.
CALLBACK_TIMES_CAPACITY = 1 << 16
#: Longest a lost PortAudio stream may take to close before reopening gives up on it.
CLOSE_TIMEOUT_S = 2.0


@rt_kernel
def _take_input(indata, inp):
    """``inp[i] = indata[i, 0]`` for the ``inp.shape[0]`` frames of the callback. Real-time safe."""
    for i in range(inp.shape[0]):
        inp[i] = indata[i, 0]


@rt_kernel
def _give_output(out, outdata):
    """Every output channel gets the effect's mono output. Real-time safe."""
    for i in range(out.shape[0]):
        for k in range(outdata.shape[1]):
            outdata[i, k] = out[i]


@rt_kernel
def _callback_done(clock, frames, sample_rate, counters, callback_ns, miss_frames, frames_done):
    """Close the callback's books: frames done, its compute time in the ring, a deadline miss if
    it took longer than its frames last. Real-time safe."""
    frames_done[0] += frames
    elapsed = elapsed_ns(clock)
    n = counters[CALLBACKS]
    callback_ns[n & (callback_ns.shape[0] - 1)] = elapsed
    counters[CALLBACKS] = n + 1
    if elapsed * sample_rate > frames * 1_000_000_000:
        m = counters[DEADLINE_MISSES]
        if m < miss_frames.shape[0]:
            miss_frames[m] = frames_done[0] - frames
        counters[DEADLINE_MISSES] = m + 1


@rt_kernel
def _count_xrun(counters, xrun_frames, frames_done):
    """One xrun the server reported: counted as an input overflow and an output underflow (as
    PortAudio's JACK host reported it), time-stamped while the log has room. Real-time safe."""
    x = counters[XRUNS]
    if x < xrun_frames.shape[0]:
        xrun_frames[x] = frames_done[0]
    counters[XRUNS] = x + 1
    counters[IN_OVERFLOW] += 1
    counters[OUT_UNDERFLOW] += 1


def _warm_callback_kernels(effect) -> None:
    """Compile the callback's kernels on scratch copies of the effect's buffers."""
    one_in = np.zeros((1, 1), np.float32)
    one_out = np.zeros((1, effect.output_channels), np.float32)
    mono = np.zeros(1, np.float32)
    start_timer(np.zeros(TIMER_SLOTS, np.int64))
    _count_xrun(np.zeros_like(effect._counters), np.zeros_like(effect._xrun_frames), np.zeros(1, np.int64))
    _take_input(one_in, mono)
    _give_output(mono, one_out)
    _callback_done(np.zeros(TIMER_SLOTS, np.int64), 1, effect.sample_rate, np.zeros_like(effect._counters),
                   np.zeros_like(effect._callback_ns), np.zeros_like(effect._miss_frames), np.zeros(1, np.int64))


class LiveEffect:
    """Runs a Processor on a duplex sound-card stream.

    Parameters
    ----------
    processor : Processor
        Built with ``block_size`` equal to ``stream_config.block_size`` (or None when that is 0).
    stream_config : StreamConfig
    telemetry : rtst.telemetry.Telemetry, optional
        Where the callback publishes its counters, every hop's magnitudes and compute time, and the
        input and output samples (for a view, meters or a recorder, in this or another process).
    host : {"auto", "jack", "portaudio"}
        The audio back end; "auto" is the native JACK client when a JACK server runs and neither
        device is named, else PortAudio.

    Raises
    ------
    DeviceError
        A device is missing, or refuses the engine's sample rate / channel count; or ``host`` is
        "jack" and no JACK server answers.
    """

    def __init__(self, processor: Processor, stream_config: StreamConfig | None = None, *, telemetry=None,
                 host: str = "auto"):
        if host not in HOSTS:
            raise ParameterError(f"host={host!r} must be one of {', '.join(HOSTS)}")
        self.processor = processor
        self.config = stream_config or StreamConfig(block_size=processor.stft.hop_length)
        expected = self.config.block_size or None
        if processor.block_size != expected:
            raise DeviceError(
                f"processor block_size={processor.block_size} must equal the stream's "
                f"block_size={self.config.block_size} (0 means None)"
            )
        self.sample_rate = processor.stft.sample_rate
        self.telemetry = telemetry
        self._jack = None
        self._adapter = None
        self._stream = None
        if host == "jack" or (host == "auto" and self.config.input_device is None
                              and self.config.output_device is None):
            self._open_jack(quiet=host == "auto")
        if self._jack is None:
            self._open_portaudio()
        #: "jack" or "portaudio": the back end in use.
        self.host = "jack" if self._jack is not None else "portaudio"
        max_block = max(self.config.block_size, self.block_size, 8192)
        self._in = np.zeros(max_block, dtype=np.float32)   # [max_block] mono input copy
        self._out = np.zeros(max_block, dtype=np.float32)  # [max_block] mono effect output
        if telemetry is not None:
            processor.set_frame_tap(telemetry)
            self._counters = telemetry.stream_counters  # int64 [8], shared with readers
            self._counters[:] = 0
        else:
            self._counters = np.zeros(8, dtype=np.int64)
        self._callback_ns = np.zeros(CALLBACK_TIMES_CAPACITY, dtype=np.int64)
        self._xrun_frames = np.zeros(XRUN_LOG_CAPACITY, dtype=np.int64)  # stream frame of each xrun
        self._miss_frames = np.zeros(XRUN_LOG_CAPACITY, dtype=np.int64)  # ... of each deadline miss
        self._frames_done = np.zeros(1, dtype=np.int64)
        self._max_block = max_block
        self._view_frames = -1
        self._inp = self._outp = None
        self._clock = np.zeros(TIMER_SLOTS, dtype=np.int64)  # the callback's timer
        _warm_callback_kernels(self)
        self._gc_was_enabled = True
        #: Connections :meth:`reopen` could not restore yet: ``[(own port, other port), ...]``.
        self.pending_connections = []
        self.started_at = None
        self._io_latency = None
        self._lost_devices = None  # (input name, output name) of a lost PortAudio stream

    def _open_jack(self, quiet: bool) -> None:
        """The native JACK client; with ``quiet`` (host "auto"), no server just leaves it None."""
        from rtst.live.jack import BlockAdapter, JackDuplex, import_jack

        if quiet and import_jack() is None:
            return
        try:
            self._jack = JackDuplex(self._callback, self.config.output_channels, sample_rate=self.sample_rate,
                                    on_xrun=self._on_xrun, quiet=quiet)
        except DeviceError as exc:
            if quiet and str(exc).startswith("no JACK server"):
                return  # nothing answers: PortAudio it is
            raise
        #: Frames per callback: the JACK period, or the stream's block size on PortAudio.
        self.block_size = self._jack.period
        self._adapter = BlockAdapter(self.processor, self._jack.period, self.telemetry)
        self.output_channels = self.config.output_channels
        self.input_device = f"{self._jack.name}:{self._jack.inport.shortname}"
        self.output_device = ", ".join(f"{self._jack.name}:{p.shortname}" for p in self._jack.outports)
        self.sd = None

    def _open_portaudio(self) -> None:
        from rtst.live.jack import name_portaudio_client

        self.sd = sd = import_sounddevice()
        name_portaudio_client(sd)  # on JACK's host API too, the effect is the client "rtst"
        self.block_size = self.config.block_size
        self.input_device = resolve_device(self.config.input_device, "input")
        self.output_device = resolve_device(self.config.output_device, "output")
        out_info = sd.query_devices(self.output_device)
        self.output_channels = min(self.config.output_channels, int(out_info["max_output_channels"]))
        for device, kind, channels in ((self.input_device, "input", 1),
                                       (self.output_device, "output", self.output_channels)):
            check = sd.check_input_settings if kind == "input" else sd.check_output_settings
            try:
                check(device=device, channels=channels, dtype="float32", samplerate=self.sample_rate)
            except sd.PortAudioError as exc:
                info = sd.query_devices(device)
                raise DeviceError(
                    f"{kind} device {info['name']!r} refuses sample_rate={self.sample_rate} "
                    f"(its default is {info['default_samplerate']:.0f}): {exc}"
                ) from None

    # ---------------------------------------------------------------- audio thread
    def _on_xrun(self) -> None:
        """JACK's xrun callback (the server's notification thread). An xrun there is a cycle the
        graph missed: counted as an input overflow and an output underflow, as PortAudio's JACK
        host reported it. Real-time safe: counters only."""
        _count_xrun(self._counters, self._xrun_frames, self._frames_done)

    def _callback(self, indata, outdata, frames, time_info, status):
        """Stream callback: ``indata`` float32 [frames, 1] in, ``outdata`` float32 [frames,
        channels] written (PortAudio's buffers, or :class:`~rtst.live.jack.JackDuplex`'s
        preallocated ones).

        Real-time safe: compiled copies and counters around the processor; no object made
        (the clock is read in compiled code, the views of ``frames`` samples are kept from the
        last callback of that size), no lock, log or I/O."""
        start_timer(self._clock)
        if status:
            self._count_status(status)
        try:
            if frames > self._max_block:
                raise ValueError("block larger than preallocated")
            if frames != self._view_frames:  # only when the block size changes (never on JACK)
                self._inp, self._outp, self._view_frames = self._in[:frames], self._out[:frames], frames
            inp, out = self._inp, self._outp
            _take_input(indata, inp)
            if self._adapter is not None:
                self._adapter.process(inp, out)  # it hands the telemetry each processed block
            else:
                self.processor.process(inp, out)
                if self.telemetry is not None:
                    self.telemetry.write_audio(inp, out)
            _give_output(out, outdata)
        except Exception:  # never let an exception kill the stream; the block is silenced
            outdata.fill(0)
            self._counters[FAILURES] += 1
        _callback_done(self._clock, frames, self.sample_rate, self._counters, self._callback_ns, self._miss_frames,
                       self._frames_done)

    def _count_status(self, status) -> None:
        """A PortAudio callback flagged under- or overflow (an xrun): counted and time-stamped."""
        c = self._counters
        x = c[XRUNS]
        if x < XRUN_LOG_CAPACITY:
            self._xrun_frames[x] = self._frames_done[0]
        c[XRUNS] = x + 1
        if status.input_overflow:
            c[IN_OVERFLOW] += 1
        if status.input_underflow:
            c[IN_UNDERFLOW] += 1
        if status.output_underflow:
            c[OUT_UNDERFLOW] += 1
        if status.output_overflow:
            c[OUT_OVERFLOW] += 1

    # ---------------------------------------------------------------- control
    def start(self) -> None:
        """Open and start the duplex stream (on JACK: activate the client and connect it to the
        physical ports)."""
        sd = self.sd
        gc.collect()
        gc.freeze()  # existing objects move to a permanent generation
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.started_at = time.monotonic()
        if self._jack is not None:
            try:
                self._jack.start()
            except DeviceError:
                self._resume_gc()
                raise
            self._stream = self._jack
            return
        try:
            self._open_portaudio_stream()
        except sd.PortAudioError as exc:
            self._stream = None
            self._resume_gc()
            raise DeviceError(f"cannot open the audio stream: {exc}") from None

    def _open_portaudio_stream(self) -> None:
        sd = self.sd
        self._stream = sd.Stream(
            samplerate=self.sample_rate,
            blocksize=self.config.block_size,
            device=(self.input_device, self.output_device),
            channels=(1, self.output_channels),
            dtype="float32",
            latency=self.config.latency,
            callback=self._callback,
            prime_output_buffers_using_stream_callback=False,
        )
        self._stream.start()
        lat_in, lat_out = self._stream.latency
        self._io_latency = int(round(lat_in * self.sample_rate)) + int(round(lat_out * self.sample_rate))

    def stop(self) -> None:
        """Stop and close the stream (idempotent; also after the JACK server shut down). The JACK
        client is closed even if it never started: its ports would stay in the graph."""
        if self._stream is not None:
            try:
                if self._jack is not None or self._stream.active:
                    self._stream.stop()  # a PortAudio stream that died is only closed: stopping it can hang
                self._stream.close()
            finally:
                self._stream = None
                self._resume_gc()
        if self._jack is not None:
            self._jack.stop()

    def reopen(self) -> bool:
        """After the stream died under a running session (the JACK server went away, the device
        was unplugged): try once to open it again. Returns True when it runs. Not on the audio
        thread; the stream's start-up state (collector paused, switch interval) carries over, and
        the processor is reset (no callback runs meanwhile).

        On JACK the new client gets the same name and ports, this client's last connections back
        (:attr:`pending_connections` lists those whose other end is not there yet;
        :meth:`restore_connections` retries them), and new re-blocking. On PortAudio the dead
        stream is closed (only closed: stopping one whose JACK server died waits forever), the
        library re-scans its devices, and the same devices, found again by name, are opened.

        Raises
        ------
        DeviceError
            The dead PortAudio stream could not be released (the library would hang on it).
        """
        if self._jack is None:
            return self._reopen_portaudio()
        from rtst.live.jack import BlockAdapter, JackDuplex

        old = self._jack
        wiring = dict(old.wiring)
        try:
            old.stop()
        except Exception:  # a dead server's client: nothing to release
            pass
        try:
            new = JackDuplex(self._callback, self.config.output_channels, sample_rate=self.sample_rate,
                             on_xrun=self._on_xrun, quiet=True, connect=not wiring)
        except DeviceError:
            return False
        self._jack = self._stream = new
        if new.period != self.block_size:
            self.block_size = new.period
        self._adapter = BlockAdapter(self.processor, new.period, self.telemetry)
        self.processor.reset()  # no callback runs: the new client is not active yet
        try:
            new.start()
        except DeviceError:
            return False
        self.pending_connections = new.restore(wiring)
        return True

    def _reopen_portaudio(self) -> bool:
        from rtst.live.jack import reinitialise_portaudio

        sd = self.sd
        if self._stream is not None:
            names = self._device_names()
            dead, self._stream = self._stream, None
            if not dead.stopped and self._on_jack_host_api():
                # PortAudio's JACK host stops a running stream by waiting for the server's next
                # cycle, which a dead server never runs: closing it (or terminating PortAudio, as
                # sounddevice does at exit) would wait forever
                self._abandon_portaudio()
                raise DeviceError("PortAudio's JACK host cannot let go of a stream whose server went away; "
                                  "start rtst live again (its own JACK client, --host jack, rides out a restart)")
            closer = threading.Thread(target=dead.close, kwargs={"ignore_errors": True}, daemon=True)
            closer.start()
            closer.join(CLOSE_TIMEOUT_S)
            if closer.is_alive():
                self._abandon_portaudio()
                raise DeviceError(f"the lost audio stream could not be released within {CLOSE_TIMEOUT_S:.0f} s")
            self._lost_devices = names
        reinitialise_portaudio(sd)  # a device that came back is only listed after this
        try:
            self.input_device = resolve_device(self._lost_devices[0], "input")
            self.output_device = resolve_device(self._lost_devices[1], "output")
        except DeviceError:
            return False  # not back yet
        self.processor.reset()
        try:
            self._open_portaudio_stream()
        except sd.PortAudioError:
            if self._stream is not None:
                self._stream.close(ignore_errors=True)
            self._stream = None
            return False
        return True

    def _on_jack_host_api(self) -> bool:
        sd = self.sd
        try:
            api = sd.query_hostapis(sd.query_devices(self.input_device)["hostapi"])["name"]
        except Exception:
            return False
        return "JACK" in api

    def _abandon_portaudio(self) -> None:
        """A stream PortAudio cannot release: leave PortAudio initialised at exit rather than
        hang or abort the process in its Terminate."""
        import atexit

        atexit.unregister(self.sd._exit_handler)

    @property
    def device_names(self) -> str:
        """The devices in use, for a message: ``'in' and 'out'``, or the one name if the same."""
        if self._jack is not None:
            return f"the JACK client {self._jack.name!r}"
        try:
            names = self._lost_devices or self._device_names()
        except Exception:  # PortAudio in a bad state: the indexes will do
            names = (self.input_device, self.output_device)
        return repr(names[0]) if names[0] == names[1] else f"{names[0]!r} and {names[1]!r}"

    def _device_names(self) -> tuple:
        """The input and output devices' exact names (their indexes change when PortAudio re-scans)."""
        return tuple(self.sd.query_devices(device)["name"] for device in (self.input_device, self.output_device))

    def restore_connections(self) -> None:
        """Retry the connections :meth:`reopen` could not make yet (their clients came back later)."""
        if self.pending_connections and self._jack is not None and self._jack.active:
            wanted = {}
            for own, other in self.pending_connections:
                wanted.setdefault(own, []).append(other)
            self.pending_connections = self._jack.restore(wanted)

    @property
    def io_latency_samples(self) -> int | None:
        """Input + output latency in samples: what PortAudio reports for the open stream, or on
        JACK the port latency ranges of the current wiring (see :mod:`rtst.live.jack`) plus the
        re-blocking delay. None before start()."""
        if self._jack is not None:
            return None if self.started_at is None else self._jack.io_latency() + self._adapter.delay
        return self._io_latency

    @property
    def shutdown_reason(self) -> str | None:
        """Why the JACK server ended the stream, if it did (None on PortAudio)."""
        return None if self._jack is None else self._jack.shutdown_reason

    def _resume_gc(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        gc.unfreeze()
        if self._gc_was_enabled:
            gc.enable()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    # ---------------------------------------------------------------- reporting
    @property
    def stats(self) -> dict:
        c = self._counters
        return {
            "callbacks": int(c[CALLBACKS]),
            "xruns": int(c[XRUNS]),
            "deadline_misses": int(c[DEADLINE_MISSES]),
            "callback_failures": int(c[FAILURES]),
            "input_overflows": int(c[IN_OVERFLOW]),
            "input_underflows": int(c[IN_UNDERFLOW]),
            "output_underflows": int(c[OUT_UNDERFLOW]),
            "output_overflows": int(c[OUT_OVERFLOW]),
        }

    def _logged_times_s(self, frames: np.ndarray, counter: int) -> list:
        n = min(int(self._counters[counter]), XRUN_LOG_CAPACITY)
        return [round(float(f) / self.sample_rate, 4) for f in frames[:n]]

    def xrun_times_s(self) -> list:
        """Stream time (seconds since start) of each xrun, the first XRUN_LOG_CAPACITY of them."""
        return self._logged_times_s(self._xrun_frames, XRUNS)

    def deadline_miss_times_s(self) -> list:
        """Stream time (seconds since start) of each callback that overran its block, the first
        XRUN_LOG_CAPACITY of them."""
        return self._logged_times_s(self._miss_frames, DEADLINE_MISSES)

    def wakeup_us(self) -> dict | None:
        """On JACK: the callback's wake-up delay (cycle start to callback start, JACK's clock),
        p50/p99/p99.9/max in microseconds over the last cycles kept; None on PortAudio. It holds
        the server's graph walk, the thread's wake-up and any wait for the interpreter's lock."""
        jack = self._jack
        if jack is None or int(jack.wake_count[0]) == 0:
            return None
        frames = ring_history(jack.wake_frames, int(jack.wake_count[0])).astype(np.float64)
        us = frames / self.sample_rate * 1e6
        p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
        return {"p50": round(float(p50), 1), "p99": round(float(p99), 1), "p999": round(float(p999), 1),
                "max": round(float(us.max()), 1), "cycles": int(frames.size)}

    def callback_times_ns(self) -> np.ndarray:
        return ring_history(self._callback_ns, int(self._counters[CALLBACKS]))

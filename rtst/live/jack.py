"""JACK, natively: the effect's own client (:class:`JackDuplex`), the patchbay wiring every part of
rtst uses (:class:`Patchbay`), and the re-blocking between JACK periods and an engine block size
(:class:`BlockAdapter`).

On a JACK server the effect is the client ``rtst`` with ports ``in_1``, ``out_1``, ``out_2``
(1-based, like the server's ``system:capture_1``), connected to the physical ports when it starts.
Its block size is the server's period. The JACK-Client package (``import jack``) and libjack are
needed; :func:`import_jack` returns None without them and the caller uses PortAudio instead.

I/O latency on JACK is a property of the wiring, so :meth:`JackDuplex.io_latency` reads it from
the graph: the capture latency range of ``in_1`` plus the largest playback latency range of the
outputs (for the sound card: capture plus playback latency). When the effect's output reaches its
own input through the graph (a software loopback, or a client that plays into the effect and
records it), JACK runs that cycle with one period of delay, and that period is the round trip.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading
import time

import numpy as np

from rtst.dsp.compiled import rt_kernel
from rtst.errors import DeviceError

__all__ = ["CLIENT_NAME", "import_jack", "server_running", "open_client", "latency_range", "Patchbay",
           "BlockAdapter", "JackDuplex", "name_portaudio_client"]

#: The effect's JACK client name (JACK appends a number if it is taken).
CLIENT_NAME = "rtst"
#: Wake-up delays kept (a ring: the last 65 536 cycles, 87 s at 64-frame periods).
WAKE_CAPACITY = 1 << 16
#: jack_latency_callback_mode_t
CAPTURE, PLAYBACK = 0, 1


def import_jack():
    """The JACK-Client module, or None when it or libjack is missing."""
    try:
        import jack
    except (ImportError, OSError):  # OSError: JACK-Client found no libjack
        return None
    return jack


def open_client(name: str = CLIENT_NAME, *, quiet: bool = False):
    """A new client of the running JACK server (never starts one).

    Parameters
    ----------
    name : str
    quiet : bool
        Keep libjack's own messages off stderr (for probing whether a server runs).

    Raises
    ------
    DeviceError
        JACK-Client or libjack is missing, or no server answers.
    """
    jack = import_jack()
    if jack is None:
        raise DeviceError("JACK needs the JACK-Client package and libjack (bash tools/setup.sh installs jackd2)")
    if quiet:
        jack.set_error_function(lambda message: None)
    try:
        return jack.Client(name, no_start_server=True)
    except jack.JackError as exc:
        raise DeviceError(f"no JACK server answers ({exc})") from None
    finally:
        if quiet:
            jack.set_error_function()


def server_running() -> bool:
    """Whether a JACK server answers a client of this process (never starts one)."""
    try:
        client = open_client("rtst-query", quiet=True)
    except DeviceError:
        return False
    client.close()
    return True


_latency_fn = None
_pa_client_name = None


def name_portaudio_client(sd, name: str = CLIENT_NAME) -> None:
    """Make PortAudio's JACK host API register as client ``name`` (its own default: ``PortAudio``).

    PaJack_SetClientName only counts before Pa_Initialize, and sounddevice initialises PortAudio
    on import (PortAudio's JACK host then holds its client until it terminates): PortAudio is
    terminated and initialised again around it when the name changes, so call this before any
    stream is opened. A PortAudio built without JACK is left alone.
    """
    current = _pa_client_name.value.decode() if _pa_client_name is not None else "PortAudio"
    if name == current:
        return
    try:
        set_name = ctypes.CDLL(sd._libname).PaJack_SetClientName
    except (OSError, AttributeError):
        return
    set_name.argtypes = [ctypes.c_char_p]

    def set_client_name():
        global _pa_client_name
        # PortAudio keeps the pointer, not a copy: the buffer lives in this module
        _pa_client_name = ctypes.create_string_buffer(name.encode())
        set_name(_pa_client_name)

    reinitialise_portaudio(sd, between=set_client_name)


def reinitialise_portaudio(sd, between=None) -> None:
    """Terminate PortAudio and initialise it again as often as it was (sounddevice counts; it
    initialises once on import), calling ``between()`` while it is down. PortAudio lists its
    devices and opens its JACK client only when initialised: a device that came back is seen
    after this."""
    count = sd._initialized
    for _ in range(count):
        sd._terminate()
    if between is not None:
        between()
    for _ in range(count):
        sd._initialize()


class _Range(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


def latency_range(port, mode: int) -> tuple:
    """``(min, max)`` latency in frames of a jack.Port, ``mode`` CAPTURE or PLAYBACK.

    JACK-Client does not wrap jack_port_get_latency_range: it is called through ctypes on the
    same libjack, with the port's pointer.
    """
    global _latency_fn
    import jack

    if _latency_fn is None:
        fn = ctypes.CDLL(jack._libname).jack_port_get_latency_range
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Range)]
        fn.restype = None
        _latency_fn = fn
    r = _Range()
    _latency_fn(int(jack._ffi.cast("uintptr_t", port._ptr)), mode, ctypes.byref(r))
    return int(r.min), int(r.max)


def port_number(name: str) -> int:
    """The trailing number of a port name (``rtst:out_2`` -> 2); unnumbered ports sort last."""
    tail = re.split(r"[_:]", name)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


class Patchbay:
    """Port listing and wiring through a JACK client (ours or a helper's).

    Parameters
    ----------
    client : jack.Client
    """

    def __init__(self, client):
        self.client = client

    def ports(self, client_name: str, *, is_input: bool) -> list:
        """Audio ports of the client named exactly ``client_name``, in port-number order."""
        found = self.client.get_ports(f"^{re.escape(client_name)}:", is_audio=True, is_input=is_input,
                                      is_output=not is_input)
        return sorted(found, key=lambda p: port_number(p.name))

    def wait_for_ports(self, client_name: str = CLIENT_NAME, timeout_s: float = 30.0) -> tuple:
        """Wait until the client has input and output audio ports; returns ``(inputs, outputs)``.

        Raises
        ------
        DeviceError
            They did not appear within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            ins, outs = self.ports(client_name, is_input=True), self.ports(client_name, is_input=False)
            if ins and outs:
                return ins, outs
            if time.monotonic() > deadline:
                raise DeviceError(f"no JACK client {client_name!r} with audio ports after {timeout_s:.0f} s")
            time.sleep(0.05)

    def connections(self, port) -> list:
        return self.client.get_all_connections(port)

    def isolate(self, port) -> None:
        """Disconnect ``port`` from everything."""
        for other in self.client.get_all_connections(port):
            if port.is_input:
                self.client.disconnect(other, port)
            else:
                self.client.disconnect(port, other)

    def connect(self, source, destination) -> None:
        """Connect an output port to an input port (names or jack.Port); DeviceError if refused."""
        try:
            self.client.connect(source, destination)
        except Exception as exc:  # jack.JackError, or the port is gone
            name = getattr(source, "name", source), getattr(destination, "name", destination)
            raise DeviceError(f"cannot connect JACK port {name[0]} to {name[1]}: {exc}") from None

    def loopback(self, out_port, in_port) -> None:
        """Wire ``out_port`` straight to ``in_port``, each with its other connections removed."""
        self.isolate(in_port)
        self.isolate(out_port)
        self.connect(out_port, in_port)

    def connect_physical(self, in_ports, out_ports) -> None:
        """Capture ports to ``in_ports`` and ``out_ports`` to playback ports, in order (what a
        sound-card stream does); a mono output on a stereo system goes to the first playback port.
        """
        captures = sorted(self.client.get_ports(is_audio=True, is_output=True, is_physical=True),
                          key=lambda p: port_number(p.name))
        playbacks = sorted(self.client.get_ports(is_audio=True, is_input=True, is_physical=True),
                           key=lambda p: port_number(p.name))
        for port, capture in zip(in_ports, captures):
            self.connect(capture, port)
        for port, playback in zip(out_ports, playbacks):
            self.connect(port, playback)

    def reaches(self, out_ports, in_port) -> bool:
        """Whether audio from ``out_ports`` reaches ``in_port`` through the graph (a cycle)."""
        seen, todo = set(), [p.name for p in out_ports]
        while todo:
            name = todo.pop()
            for dest in self.client.get_all_connections(name):
                if dest.name == in_port.name:
                    return True
                if dest.is_physical or dest.is_terminal:
                    continue  # the sound card: what it plays comes back, if at all, as new input
                owner = dest.name.split(":", 1)[0]
                if owner not in seen:
                    seen.add(owner)
                    todo += [p.name for p in self.client.get_ports(f"^{re.escape(owner)}:", is_output=True)]
        return False


class BlockAdapter:
    """Runs a Processor built for ``block`` samples on callbacks of ``period`` samples.

    When ``period`` is a multiple of the processor's block (or it was built for any block size),
    blocks go straight through and :attr:`delay` is 0. Otherwise input is gathered into whole
    blocks and the output is read from a ring that starts ``delay = block - gcd(period, block)``
    samples ahead: the least that never runs dry.

    Parameters
    ----------
    processor : rtst.engine.Processor
    period : int
        Frames per callback.
    telemetry : rtst.telemetry.Telemetry, optional
        Gets the input and output of each processed block (so that a recording's output is its
        input delayed by the processor's latency, not the re-blocking).
    """

    def __init__(self, processor, period: int, telemetry=None):
        self.processor = processor
        self.period = int(period)
        block = processor.block_size
        self.direct = block is None or self.period % block == 0
        self.block = self.period if self.direct else block
        #: Samples of latency the re-blocking adds.
        self.delay = 0 if self.direct else block - math.gcd(self.period, block)
        self.telemetry = telemetry
        self._fin = np.zeros(self.block, np.float32)        # [block] input being gathered
        self._fout = np.zeros(self.block, np.float32)       # [block] output of the last block
        size = 1 << int(self.delay + self.block + self.period).bit_length()
        self._ring = np.zeros(size, np.float32)             # [size] output not yet played
        self._pos = np.zeros(4, np.int64)                   # fill of _fin, ring write, ring read, input read
        if not self.direct:  # compile the re-blocking now, on scratch copies
            scratch = np.zeros(self.period, np.float32)
            _reblock(scratch, scratch.copy(), True, self._pos.copy(), self._fin.copy(), self._fout.copy(),
                     self._ring.copy(), self.period)
        self.reset()

    def reset(self) -> None:
        """Empty the gathered input and the output ring (the processor is the caller's)."""
        self._ring.fill(0)
        self._pos[:] = (0, self.delay, 0, 0)

    def process(self, inp: np.ndarray, out: np.ndarray) -> None:
        """One callback: ``inp`` float32 [n] in, ``out`` float32 [n] written, ``n = period``.

        Real-time safe: slices of preallocated arrays and the processor's own process().

        Raises
        ------
        ValueError
            A re-blocked callback whose size is not the period (the ring was sized for it).
        """
        if self.direct:
            self.processor.process(inp, out)
            if self.telemetry is not None:
                self.telemetry.write_audio(inp, out)
            return
        first = True
        while True:
            state = _reblock(inp, out, first, self._pos, self._fin, self._fout, self._ring, self.period)
            if state == _REBLOCK_DONE:
                return
            if state == _REBLOCK_WRONG_SIZE:
                raise ValueError("callback size differs from the period")
            self.processor.process(self._fin, self._fout)
            if self.telemetry is not None:
                self.telemetry.write_audio(self._fin, self._fout)
            first = False


# what _reblock asks of its caller
_REBLOCK_DONE, _REBLOCK_FULL, _REBLOCK_WRONG_SIZE = 0, 1, 2
# indices into BlockAdapter._pos
_FILL, _WRITE, _READ, _AT = range(4)


@rt_kernel
def _reblock(inp, out, first, pos, fin, fout, ring, period):
    """Gather the callback's input into whole blocks and play the output ring, in compiled code.

    Returns :data:`_REBLOCK_FULL` when ``fin`` holds a whole block: the caller processes it into
    ``fout`` and calls again (``first`` False), which queues ``fout`` in the ring and goes on;
    :data:`_REBLOCK_DONE` once ``out`` is written. Real-time safe.
    """
    n = inp.shape[0]
    if n != period:
        return _REBLOCK_WRONG_SIZE
    block = fin.shape[0]
    mask = ring.shape[0] - 1
    if first:
        pos[_AT] = 0
    else:  # the block gathered last time was processed: queue its output
        w = pos[_WRITE]
        for j in range(block):
            ring[(w + j) & mask] = fout[j]
        pos[_WRITE] = w + block
    i = pos[_AT]
    fill = pos[_FILL]
    while i < n:
        take = min(block - fill, n - i)
        for j in range(take):
            fin[fill + j] = inp[i + j]
        fill += take
        i += take
        if fill == block:
            pos[_FILL] = 0
            pos[_AT] = i
            return _REBLOCK_FULL
    pos[_FILL] = fill
    pos[_AT] = i
    r = pos[_READ]
    for j in range(n):
        out[j] = ring[(r + j) & mask]
    pos[_READ] = r + n
    return _REBLOCK_DONE


class _NoStatus:
    """What the callback gets as ``status`` on JACK: xruns come through the xrun callback."""

    input_overflow = input_underflow = output_overflow = output_underflow = False

    def __bool__(self):
        return False


class JackDuplex:
    """The effect's own JACK client: one input port, ``channels`` output ports.

    Its process callback hands a sounddevice-style ``callback(indata, outdata, frames, time_info,
    status)`` preallocated interleaved buffers (``indata`` float32 [frames, 1], ``outdata``
    float32 [frames, channels]) and copies them from and to the ports, so one stream callback
    serves PortAudio and JACK.

    Parameters
    ----------
    callback : callable
    channels : int
        Output ports, ``out_1`` .. ``out_<channels>``.
    name : str
        Client name.
    on_xrun : callable, optional
        Called (no arguments) on JACK's notification thread for each xrun the server reports.
    connect : bool
        Connect to the physical ports on start.
    quiet : bool
        Keep libjack's messages off stderr when no server answers (when JACK is only tried).

    Raises
    ------
    DeviceError
        No server, or the server's sample rate is not ``sample_rate``.
    """

    def __init__(self, callback, channels: int, *, sample_rate: int, name: str = CLIENT_NAME, on_xrun=None,
                 connect: bool = True, quiet: bool = False):
        self.client = open_client(name, quiet=quiet)
        client = self.client
        if client.samplerate != sample_rate:
            rate = client.samplerate
            client.close()
            raise DeviceError(f"the JACK server runs at {rate} Hz, the engine at {sample_rate} Hz")
        self.name = client.name
        self.sample_rate = sample_rate
        self.period = int(client.blocksize)
        self.patchbay = Patchbay(client)
        self.inport = client.inports.register("in_1")
        self.outports = tuple(client.outports.register(f"out_{k + 1}") for k in range(channels))
        self._callback = callback
        self._on_xrun = on_xrun
        self._connect = connect
        max_frames = max(self.period, 8192)
        self._indata = np.zeros((max_frames, 1), np.float32)           # [max_frames, 1]
        self._outdata = np.zeros((max_frames, channels), np.float32)   # [max_frames, channels]
        self._status = _NoStatus()
        self._max_frames = max_frames
        self._view_frames = -1
        self._ind = self._outd = None
        # the C handles, for the compiled cycle (the client object stays referenced: _client)
        from rtst.live.jack_cycle import pointer_of

        self._client_ptr = pointer_of(client._ptr)
        self._in_ptr = pointer_of(self.inport._ptr)
        self._out_ptrs = np.array([pointer_of(p._ptr) for p in self.outports], dtype=np.uintp)
        #: Frames from the start of each cycle to the callback's start (JACK's cycle clock): the
        #: wake-up delay, where a wait for the interpreter shows (ring of WAKE_CAPACITY, count).
        self.wake_frames = np.zeros(WAKE_CAPACITY, dtype=np.int64)
        self.wake_count = np.zeros(1, dtype=np.int64)
        self._client = client   # its C handle is used by the cycle: stop() drops self.client before the last cycles ran
        # compile (or load) the cycle's kernels now, never on the audio thread
        from rtst.live import jack_cycle

        self._pull, self._push, self._silence = jack_cycle.compiled_for(
            self._client_ptr, self._in_ptr, self.period, self._indata, self._outdata, self._out_ptrs,
            self.wake_frames, self.wake_count)
        self._active = False
        self._running = False
        #: Why the server ended the client, when it did (None while it runs or after stop()).
        self.shutdown_reason = None
        #: Each own port's connections, by short name, as last seen (kept after the server went
        #: away, so that a new client can restore them: :meth:`restore`).
        self.wiring = {}
        self._io = None
        self._graph_changed = threading.Event()
        self._closing = False
        self._watcher = None
        client.set_process_callback(self._process)
        client.set_xrun_callback(self._xrun)
        client.set_shutdown_callback(self._shutdown)
        client.set_graph_order_callback(self._graph_order)

    # ---------------------------------------------------------------- JACK's threads
    def _process(self, frames):
        """JACK process callback. Real-time safe: compiled copies between the ports and
        preallocated buffers around the stream callback (:mod:`rtst.live.jack_cycle`); no
        object made, no lock, log or I/O."""
        if frames > self._max_frames:
            self._silence(self._out_ptrs, frames)
            return
        self._pull(self._client_ptr, self._in_ptr, frames, self._indata, self.wake_frames, self.wake_count)
        if not self._running:
            # activated, not yet started: the stream callback runs from start()'s return on,
            # as a PortAudio stream's does (a recorder started after it misses nothing)
            self._silence(self._out_ptrs, frames)
            return
        if frames != self._view_frames:  # views of the period's size, made once (JACK's period is fixed)
            self._ind, self._outd, self._view_frames = self._indata[:frames], self._outdata[:frames], frames
        self._callback(self._ind, self._outd, frames, None, self._status)
        self._push(self._out_ptrs, frames, self._outdata)

    def _xrun(self, delay_us):
        if self._on_xrun is not None:
            self._on_xrun()

    def _shutdown(self, status, reason):
        # JACK's own thread, the client is dead: no JACK call here, only flags for stop()
        self._active = False
        self.shutdown_reason = reason or "the JACK server shut down"
        self._graph_changed.set()

    def _graph_order(self):
        self._graph_changed.set()

    def _watch(self):
        """Keeps :attr:`io_latency_samples` and :attr:`wiring` current as the wiring changes (JACK
        updates the latency ranges after the graph order, hence the short wait)."""
        while not self._closing:
            self._graph_changed.wait()
            if self._closing or self.shutdown_reason is not None:
                return
            time.sleep(0.1)
            self._graph_changed.clear()
            self.io_latency()
            self._note_wiring()

    def _note_wiring(self) -> None:
        client = self.client
        if client is None or self.shutdown_reason is not None:
            return
        try:
            self.wiring = {port.shortname: [p.name for p in client.get_all_connections(port)]
                           for port in (self.inport, *self.outports)}
        except Exception:  # the server went away while asked: the last wiring stands
            pass

    def restore(self, wiring: dict) -> list:
        """Connect this client's ports as ``wiring`` (an earlier client's :attr:`wiring`) says,
        where those ports exist; returns ``[(own port, other port), ...]`` not made (a client that
        is not back yet). Not on the audio thread."""
        ports = {port.shortname: port for port in (self.inport, *self.outports)}
        missing = []
        for own, others in wiring.items():
            port = ports.get(own)
            if port is None:
                continue
            present = {p.name for p in self.client.get_all_connections(port)}
            for other in others:
                if other in present:
                    continue
                try:
                    if port.is_input:
                        self.client.connect(other, port)
                    else:
                        self.client.connect(port, other)
                except Exception:  # not there (yet)
                    missing.append((own, other))
        self._note_wiring()
        return missing

    # ---------------------------------------------------------------- control
    def start(self) -> None:
        """Activate, connect to the physical ports (unless told not to) and read the I/O latency."""
        try:
            self.client.activate()
        except Exception as exc:
            raise DeviceError(f"cannot activate the JACK client: {exc}") from None
        self._active = True
        if self._connect:
            self.patchbay.connect_physical([self.inport], self.outports)
        # the server shows the connections and recomputes the latency ranges after a moment
        deadline = time.monotonic() + 1.0
        time.sleep(0.05)
        while self._connect and self._io_now() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        self.io_latency()
        self._note_wiring()
        self._running = True
        self._watcher = threading.Thread(target=self._watch, name="rtst-jack-latency", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Deactivate and close the client (idempotent; after a server shutdown only frees it)."""
        if self.client is None:
            return
        self._running = False
        self._closing = True
        self._graph_changed.set()
        if self._active:
            self.io_latency()
        if self._watcher is not None:
            self._watcher.join(timeout=2.0)
        client, self.client = self.client, None
        try:
            if self._active:
                client.deactivate()
            client.close()
        except Exception:  # the server went away meanwhile: nothing left to release there
            pass
        self._active = False

    close = stop

    @property
    def active(self) -> bool:
        return self._active

    # ---------------------------------------------------------------- latency
    def io_latency(self) -> int:
        """Round-trip I/O latency of the current wiring in samples (see the module docstring).
        While the ports are unconnected it is the last figure of connected ports (0 if none yet:
        nothing is in the way)."""
        if self.client is not None and self._active:
            io = self._io_now()
            if io is not None:
                self._io = io
        return 0 if self._io is None else self._io

    def _io_now(self) -> int | None:
        """The latency of the wiring now, None while the input or every output is unconnected."""
        client = self.client
        try:
            ins = client.get_all_connections(self.inport)
            outs = [p for p in self.outports if client.get_all_connections(p)]
            if not ins or not outs:
                return None
            if self.patchbay.reaches(self.outports, self.inport):
                # around a cycle JACK's latency ranges feed on themselves (they keep what they
                # held before the cycle closed): the round trip is the period JACK delays it by
                return self.period
            return latency_range(self.inport, CAPTURE)[1] + max(latency_range(p, PLAYBACK)[1] for p in outs)
        except Exception:  # a port vanished while being read
            return None

    @property
    def io_latency_samples(self) -> int | None:
        return self.io_latency()

"""JACK helpers for the tests, benchmarks/soak.py and the tools: finding or starting the dummy-driver
server, a client that plays a signal into the effect's input and records its output, and a reader
of the server's xrun reports."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import threading
import time

import numpy as np

#: Sample rate of the test server (tests, benchmarks/soak.py, tools).
SAMPLE_RATE = 48000


def server_env(name: str | None = None) -> dict:
    """The environment for JACK clients of the server ``name`` (None: the default server)."""
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    if name is not None:
        env["JACK_DEFAULT_SERVER"] = name
    return env


def jack_running(name: str | None = None) -> bool:
    """Whether a JACK server (the default one, or the one named ``name``) answers (never starts
    one)."""
    if shutil.which("jack_lsp") is None:
        return False
    try:
        return subprocess.run(["jack_lsp"], capture_output=True, timeout=5, env=server_env(name)).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def start_dummy_server(sample_rate: int, period: int, log, name: str | None = None):
    """``jackd -R -d dummy`` (``--no-realtime`` if -R is refused), its output to the open file
    ``log``, named ``name`` if given (its clients need :func:`server_env`); returns the running
    process, or None if neither starts."""
    jackd = shutil.which("jackd")
    if jackd is None:
        return None
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    named = [] if name is None else ["-n", name]
    for rt in (["-R"], ["--no-realtime"]):
        proc = subprocess.Popen([jackd, *named, *rt, "-d", "dummy", "-r", str(sample_rate), "-p", str(period),
                                 "-C", "2", "-P", "2"], stdout=log, stderr=subprocess.STDOUT, env=env)
        for _ in range(100):
            if proc.poll() is not None or jack_running(name):
                break
            time.sleep(0.05)
        if proc.poll() is None and jack_running(name):
            return proc
        proc.kill()
        proc.wait()
    return None



def start_jack(period: int, log_path, sample_rate: int = SAMPLE_RATE):
    """Start the dummy-driver server with its log at ``log_path`` for a script; exits the script
    with a one-line message if it cannot (``bash tools/setup.sh dev`` installs jackd2)."""
    import sys

    proc = start_dummy_server(sample_rate, period, open(log_path, "w"))
    if proc is None:
        sys.exit("jackd did not start with the dummy driver (bash tools/setup.sh dev installs jackd2)")
    return proc

class LoopProbe:
    """Plays ``signal`` into ``target_in`` and records ``target_out`` sample-synchronously.

    Both happen in the same JACK process callback, so ``recording[n]`` is what the effect emitted
    in the cycle that ``signal[n]`` was played: the lag between them is the round trip.
    """

    def __init__(self, name: str = "rtst-probe"):
        import jack

        from rtst.live.jack import Patchbay

        self.jack = jack
        self.client = jack.Client(name, no_start_server=True)
        self.patchbay = Patchbay(self.client)
        self.out = self.client.outports.register("out")
        self.inp = self.client.inports.register("in")
        self.signal = np.zeros(0, np.float32)
        self.recording = np.zeros(0, np.float32)
        self.pos = -1
        self.xruns = 0
        self.done = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay_us):
        self.xruns += 1

    def _process(self, frames):
        o = self.out.get_array()
        i = self.inp.get_array()
        p = self.pos
        n_total = self.signal.shape[0]
        if 0 <= p < n_total:
            n = min(frames, n_total - p)
            o[:n] = self.signal[p:p + n]
            o[n:] = 0.0
            self.recording[p:p + n] = i[:n]
            self.pos = p + frames
            if self.pos >= n_total:
                self.done.set()
        else:
            o[:] = 0.0

    def wait_for_ports(self, client_name: str = "rtst", timeout_s: float = 30.0):
        """Wait until the client named ``client_name`` has input and output audio ports and has
        connected every one of them (it does so once started, one port after another: returning
        at the first connection let a test see the second output still bare); returns (inputs,
        outputs), each in port number order. A port left bare past the deadline is the caller's
        to judge."""
        deadline = time.monotonic() + timeout_s
        while True:
            ins, outs = self.patchbay.wait_for_ports(client_name, max(0.0, deadline - time.monotonic()))
            if all(self.patchbay.connections(p) for p in ins + outs) or time.monotonic() > deadline:
                return ins, outs
            time.sleep(0.05)

    def patch(self, effect_in, effect_out):
        """Disconnect the effect's ports and the probe's from everything, then wire probe ->
        effect -> probe."""
        for port in (effect_in, effect_out, self.out, self.inp):
            self.patchbay.isolate(port)
        self.patchbay.connect(self.out, effect_in)
        self.patchbay.connect(effect_out, self.inp)

    def play_and_record(self, signal: np.ndarray, timeout_s: float = 30.0) -> np.ndarray:
        self.signal = np.ascontiguousarray(signal, dtype=np.float32)
        self.recording = np.zeros_like(self.signal)
        self.done.clear()
        # The probe's callback runs Python too: keep the collector off its thread while it plays.
        # (No gc.collect() here: a full collection holds the GIL and stalls the probe for cycles.)
        gc.disable()
        try:
            self.pos = 0
            if not self.done.wait(timeout_s):
                raise TimeoutError("the JACK probe did not finish playing")
        finally:
            self.pos = -1
            gc.enable()
        return self.recording.copy()

    def close(self):
        self.client.deactivate()
        self.client.close()


def find_lag(reference: np.ndarray, recording: np.ndarray) -> int:
    """Lag (samples) of ``recording`` behind ``reference``, by FFT cross-correlation."""
    n = reference.size + recording.size
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size)), size)
    return int(np.argmax(xc[:recording.size]))


def xrun_events(server_log: str) -> list:
    """The JACK server's xrun reports (its log with -v off), one dict per cycle that went wrong.

    Each report is a run of lines closed by ``ProcessGraphAsyncMaster: Process error``:
    ``JackTimedDriver::Process XRun = N usec`` when the dummy driver's timer itself woke late (the
    machine stalled: nothing any client did), then ``client = NAME was not finished, state = S``
    for each client that missed the cycle, S = ``Triggered`` (it was woken but never got a CPU) or
    ``Running`` (it was still in its callback). Returns ``[{"timer_late_us": int | None,
    "clients": {name: state}}, ...]``.
    """
    events, timer, clients = [], None, {}
    for line in server_log.splitlines():
        if line.startswith("JackTimedDriver::Process XRun"):
            timer = int(line.rsplit("=", 1)[1].split()[0])
        elif line.startswith("JackEngine::XRun: client = "):
            name, _, state = line[len("JackEngine::XRun: client = "):].partition(" was not finished, state = ")
            clients[name] = state.strip()
        elif "Process error" in line:
            events.append({"timer_late_us": timer, "clients": clients})
            timer, clients = None, {}
    return events

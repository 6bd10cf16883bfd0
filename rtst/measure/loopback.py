"""Round-trip latency by loopback: play a measurement signal, record what comes back, find the lag.

The signal is ``repeats`` linear chirps (50 Hz to 0.45 fs, 0.25 s each, Hann-faded) with silent
gaps longer than any plausible round trip. A PortAudio duplex callback plays it (straight out for a
bare wire, or through a :class:`~rtst.engine.Processor` for ``--through-effect``) and records the
input in the same callback, so ``recording[n]`` is what arrived while ``signal[n]`` left: the lag
between them is the round trip, sound card included, as a performer hears it.

Each chirp's lag is the peak of its cross-correlation with the recording (FFT), refined to a
hundredth of a sample on the band-limited correlation between the samples around the peak. A chirp whose
normalised correlation peak is below :data:`MIN_CORRELATION` did not come back (nothing is
patched, or something else is in the way): that is an error, never a number.

On a JACK server the measurement is the same native client as the live effect
(:class:`rtst.live.jack.JackDuplex`, client ``rtst``, blocks of the server's period, re-blocked
for the processor like the effect's), and it wires its own ``out_1`` to its own ``in_1`` (every
other connection of those ports taken away for the measurement). A PortAudio stream on JACK is
wired by :func:`jack_loopback`; on any other host the user patches output to input.
"""

from __future__ import annotations

import time

import numpy as np

from rtst.errors import DeviceError, ParameterError
from rtst.io.devices import import_sounddevice, resolve_device

__all__ = ["measurement_signal", "find_lags", "LoopbackMeasurement", "jack_loopback", "MIN_CORRELATION"]

#: A chirp counts as returned when its normalised cross-correlation peak reaches this.
MIN_CORRELATION = 0.5
CHIRP_S = 0.25
LEAD_S = 0.3


def measurement_signal(sample_rate: int, repeats: int, gap_s: float, amplitude: float = 0.5):
    """The chirp train: ``(signal float32 [n], chirp float32 [m], starts list of int)``."""
    m = int(CHIRP_S * sample_rate)
    t = np.arange(m) / sample_rate
    f0, f1 = 50.0, 0.45 * sample_rate
    chirp = np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / CHIRP_S * t ** 2))
    fade = int(0.01 * sample_rate)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    chirp[:fade] *= ramp
    chirp[-fade:] *= ramp[::-1]
    chirp = (amplitude * chirp).astype(np.float32)
    period = m + int(gap_s * sample_rate)
    lead = int(LEAD_S * sample_rate)
    starts = [lead + i * period for i in range(repeats)]
    signal = np.zeros(lead + repeats * period + int(gap_s * sample_rate), np.float32)
    for s in starts:
        signal[s:s + m] = chirp
    return signal, chirp, starts


def find_lags(recording: np.ndarray, chirp: np.ndarray, starts, max_lag: int):
    """Lag (samples, sub-sample) and normalised correlation peak of each chirp in ``recording``.

    Returns
    -------
    lags : ndarray float64 [repeats]
    peaks : ndarray float64 [repeats]
        Normalised cross-correlation at the peak (1 = the chirp came back unchanged, but scaled).
    """
    m = chirp.size
    size = 1 << int(m + max_lag + m - 1).bit_length()
    ref = np.fft.rfft(chirp.astype(np.float64), size)
    energy = float(np.dot(chirp, chirp))
    k_bins = np.arange(ref.size)
    weight = np.full(ref.size, 2.0 / size)
    weight[0] = weight[-1] = 1.0 / size
    fine = np.linspace(-1.0, 1.0, 21)  # lags around the integer peak, 0.1 sample apart
    lags, peaks = [], []
    for s in starts:
        seg = recording[s:s + max_lag + m].astype(np.float64)
        cross = np.fft.rfft(seg, size) * np.conj(ref)
        xc = np.fft.irfft(cross, size)[:max_lag + 1]
        k = int(np.argmax(xc))
        # the band-limited correlation between samples (a parabola through three samples of a
        # correlation this sharp is off by up to ~0.1 sample): evaluated on a 0.1-sample grid
        # around the peak, then a parabola through the best three of those
        taus = k + fine
        phase = np.exp(2j * np.pi * np.outer(taus, k_bins) / size)           # [21, bins]
        r = (phase * (cross * weight)).real.sum(axis=1)                      # [21]
        j = int(np.clip(np.argmax(r), 1, fine.size - 2))
        a, b, c = r[j - 1], r[j], r[j + 1]
        denom = a - 2 * b + c
        frac = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom < 0 else 0.0
        lag = float(np.clip(taus[j] + 0.1 * frac, 0.0, max_lag))
        window = seg[k:k + m]
        norm = np.sqrt(energy * float(np.dot(window, window)))
        lags.append(lag)
        peaks.append(float(r[j] / norm) if norm > 0 else 0.0)
    return np.array(lags), np.array(peaks)


def _jack_ports(patchbay) -> set:
    """Names of every JACK port now."""
    return {p.name for p in patchbay.client.get_ports()}


def jack_loopback(before: set, patchbay) -> tuple:
    """Wire the newest JACK client's first output to its first input (a PortAudio stream's: its
    ports appeared since ``before``, a :func:`_jack_ports` snapshot), with their other connections
    removed.

    Returns ``(out_port, in_port)`` names. Raises DeviceError if it cannot.
    """
    from rtst.live.jack import port_number

    client = patchbay.client
    deadline = time.monotonic() + 5.0
    outs, ins = [], []
    while time.monotonic() < deadline:
        ours = [p for p in client.get_ports(is_audio=True) if p.name not in before]
        outs = sorted((p for p in ours if p.is_output), key=lambda p: port_number(p.name))
        ins = sorted((p for p in ours if p.is_input), key=lambda p: port_number(p.name))
        if outs and ins:
            break
        time.sleep(0.05)
    if not outs or not ins:
        raise DeviceError("cannot find this stream's JACK ports to connect a loopback; patch output to input "
                          "yourself and run with --no-connect")
    patchbay.loopback(outs[0], ins[0])
    return outs[0].name, ins[0].name


class LoopbackMeasurement:
    """One duplex stream that plays the chirp train and records it back.

    Parameters
    ----------
    sample_rate : int
    block_size : int
        Frames per callback (the processor's block size when ``processor`` is given).
    processor : rtst.engine.Processor, optional
        Measure through it (output = the effect of the signal) instead of a bare wire.
    input_device, output_device : int or str, optional
    repeats : int
        Chirps measured.
    latency : "low", "high" or float
        PortAudio's suggested latency.
    connect : bool
        On JACK, wire the stream's output to its input itself.
    max_lag_s : float
        Longest round trip looked for.
    host : {"auto", "jack", "portaudio"}
        "auto" is the native JACK client when a JACK server runs and neither device is named
        (what ``rtst live`` does), else PortAudio.
    """

    def __init__(self, sample_rate: int, block_size: int, *, processor=None, input_device=None, output_device=None,
                 repeats: int = 8, latency="low", connect: bool = True, max_lag_s: float = 0.5, host: str = "auto"):
        if not 1 <= repeats <= 100:
            raise ParameterError(f"repeats={repeats} must be from 1 to 100")
        if not 0.01 <= max_lag_s <= 5:
            raise ParameterError(f"max_lag_s={max_lag_s} must be from 0.01 to 5")
        if host not in ("auto", "jack", "portaudio"):
            raise ParameterError(f"host={host!r} must be one of auto, jack, portaudio")
        self.sample_rate = int(sample_rate)
        self.block_size = int(block_size)
        self.processor = processor
        self.connect = connect
        self.latency = latency
        self.repeats = int(repeats)
        self.max_lag = int(max_lag_s * self.sample_rate)
        self.signal, self.chirp, self.starts = measurement_signal(self.sample_rate, self.repeats, max_lag_s + 0.05)
        self.recording = np.zeros_like(self.signal)
        self._pos = np.zeros(1, np.int64)
        self._status = np.zeros(2, np.int64)  # callbacks with a status flag (or JACK xruns), callbacks
        self.io_latency_samples = None
        self.ports = None
        self._duplex = None
        self._engine = processor  # what the callback runs: the processor, or its re-blocking adapter
        if host == "jack" or (host == "auto" and input_device is None and output_device is None):
            self._open_jack(quiet=host == "auto")
        if self._duplex is None:
            self._open_portaudio(input_device, output_device)
        frames = max(self.block_size, 8192, self._duplex.period if self._duplex is not None else 0)
        self._src = np.zeros(frames, np.float32)  # [frames] the signal's block, zero past its end
        self._out = np.zeros(frames, np.float32)  # [frames] the processor's output

    def _open_jack(self, quiet: bool) -> None:
        from rtst.live.jack import BlockAdapter, JackDuplex, import_jack

        if quiet and import_jack() is None:
            return
        try:
            self._duplex = JackDuplex(self._callback, 1, sample_rate=self.sample_rate, on_xrun=self._on_xrun,
                                      connect=not self.connect, quiet=quiet)
        except DeviceError as exc:
            if quiet and str(exc).startswith("no JACK server"):
                return  # nothing answers: PortAudio it is
            raise
        self.sd = None
        self.hostapi = "JACK"
        self.on_jack = True
        if self.processor is not None:
            self._engine = BlockAdapter(self.processor, self._duplex.period)

    def _on_xrun(self) -> None:
        """JACK's xrun callback (its notification thread). Real-time safe: a counter."""
        self._status[0] += 1

    def _open_portaudio(self, input_device, output_device) -> None:
        from rtst.live.jack import name_portaudio_client

        self.sd = sd = import_sounddevice()
        name_portaudio_client(sd)
        self.input_device = resolve_device(input_device, "input")
        self.output_device = resolve_device(output_device, "output")
        for device, kind in ((self.input_device, "input"), (self.output_device, "output")):
            check = sd.check_input_settings if kind == "input" else sd.check_output_settings
            try:
                check(device=device, channels=1, dtype="float32", samplerate=self.sample_rate)
            except sd.PortAudioError as exc:
                info = sd.query_devices(device)
                raise DeviceError(f"{kind} device {info['name']!r} refuses sample_rate={self.sample_rate}: {exc}") from None
        hostapis = sd.query_hostapis()
        self.hostapi = hostapis[sd.query_devices(self.output_device)["hostapi"]]["name"]
        self.on_jack = "JACK" in self.hostapi

    def _callback(self, indata, outdata, frames, time_info, status):
        """Real-time safe: slices of preallocated arrays, the processor's own process()."""
        if status:
            self._status[0] += 1
        self._status[1] += 1
        p = int(self._pos[0])
        n = self.signal.shape[0]
        if p >= n:
            outdata.fill(0)
            return
        m = min(frames, n - p)
        src = self._src[:frames]  # whole callbacks for the processor: a re-blocked one needs them
        src[:m] = self.signal[p:p + m]
        src[m:] = 0
        if self._engine is not None:
            out = self._out[:frames]
            self._engine.process(src, out)
            outdata[:, 0] = out
        else:
            outdata[:, 0] = src
        self.recording[p:p + m] = indata[:m, 0]
        self._pos[0] = p + frames

    def run(self, log=None) -> dict:
        """Play and record; returns the measurement (see :meth:`result`)."""
        self._pos[0] = self.signal.shape[0]  # silent until the loopback is wired
        if self._duplex is not None:
            return self._run_jack(log)
        sd = self.sd
        patchbay = self._patchbay() if self.on_jack and self.connect else None
        before = _jack_ports(patchbay) if patchbay is not None else None
        try:
            try:
                stream = sd.Stream(samplerate=self.sample_rate, blocksize=self.block_size,
                                   device=(self.input_device, self.output_device), channels=(1, 1), dtype="float32",
                                   latency=self.latency, callback=self._callback,
                                   prime_output_buffers_using_stream_callback=False)
            except sd.PortAudioError as exc:
                raise DeviceError(f"cannot open the audio stream: {exc}") from None
            with stream:
                lat_in, lat_out = stream.latency
                self.io_latency_samples = int(round(lat_in * self.sample_rate)) + int(round(lat_out * self.sample_rate))
                if patchbay is not None:
                    self.ports = jack_loopback(before, patchbay)
                    if log:
                        print(f"rtst latency: loopback {self.ports[0]} -> {self.ports[1]}", file=log, flush=True)
                elif log:
                    print("rtst latency: patch the output to the input (a cable, or the interface's loopback); "
                          "measuring now", file=log, flush=True)
                time.sleep(0.3)  # let a fresh connection settle before the first sample leaves
                self._measure(stream)
        finally:
            if patchbay is not None:
                patchbay.client.close()
        return self.result()

    @staticmethod
    def _patchbay():
        from rtst.live.jack import Patchbay, open_client

        return Patchbay(open_client("rtst-latency-patch"))

    def _run_jack(self, log) -> dict:
        duplex = self._duplex
        try:
            duplex.start()
            if self.connect:
                duplex.patchbay.loopback(duplex.outports[0], duplex.inport)
                self.ports = (duplex.outports[0].name, duplex.inport.name)
                if log:
                    print(f"rtst latency: loopback {self.ports[0]} -> {self.ports[1]}", file=log, flush=True)
            elif log:
                print("rtst latency: patch the output to the input (a cable, or the interface's loopback); "
                      "measuring now", file=log, flush=True)
            time.sleep(0.3)  # let a fresh connection settle (and JACK update the latency ranges)
            delay = getattr(self._engine, "delay", 0)
            self.io_latency_samples = duplex.io_latency() + delay
            self._measure(duplex)
            self.io_latency_samples = duplex.io_latency() + delay  # the wiring may have changed meanwhile
        finally:
            duplex.stop()
        return self.result()

    def _measure(self, stream) -> None:
        """Play the signal once from the start, through the stream, and wait for it."""
        if self.processor is not None:
            self.processor.reset()
        if hasattr(self._engine, "reset") and self._engine is not self.processor:
            self._engine.reset()
        self.recording.fill(0)
        self._pos[0] = 0
        deadline = time.monotonic() + self.signal.shape[0] / self.sample_rate + 10.0
        while self._pos[0] < self.signal.shape[0]:
            if time.monotonic() > deadline or not stream.active:
                raise DeviceError("the audio stream stopped before the measurement finished")
            time.sleep(0.02)

    def result(self) -> dict:
        """Lags of each chirp, their mean and jitter; raises DeviceError if nothing came back."""
        peak_level = float(np.max(np.abs(self.recording)))
        if peak_level < 1e-6:
            raise DeviceError("nothing came back: the input stayed silent. Patch the output to the input "
                              "(on JACK, rtst latency does it unless --no-connect)")
        lags, peaks = find_lags(self.recording, self.chirp, self.starts, self.max_lag)
        good = peaks >= MIN_CORRELATION
        if not good.any():
            raise DeviceError(f"the measurement signal did not come back (best correlation {peaks.max():.2f} < "
                              f"{MIN_CORRELATION}): is the output patched straight to the input?")
        used = lags[good]
        return {
            "lags_samples": [round(float(v), 3) for v in lags],
            "correlation": [round(float(v), 4) for v in peaks],
            "used": int(good.sum()), "repeats": self.repeats,
            "mean_samples": round(float(used.mean()), 3),
            "jitter_samples": round(float(used.std()), 3),
            "min_samples": round(float(used.min()), 3), "max_samples": round(float(used.max()), 3),
            "xrun_callbacks": int(self._status[0]), "callbacks": int(self._status[1]),
            "io_latency_samples": self.io_latency_samples, "hostapi": self.hostapi,
            "loopback_ports": list(self.ports) if self.ports else None,
        }

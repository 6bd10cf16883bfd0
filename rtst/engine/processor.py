"""The streaming processor: blocks of any size in, the same number of samples out.

Per hop: analysis (:mod:`rtst.dsp.stft`) -> model (:mod:`rtst.model`) -> phase (:mod:`rtst.phase`)
-> synthesis and overlap-add. The same :class:`Processor` drives the live stream and offline renders.

Latency (samples), everything the engine adds between an input sample and its output::

    algorithmic     = n_fft - hop_length + (phase lookahead + model latency) * hop_length
    block_alignment = hop_length - gcd(block_size, hop_length)     (hop_length - 1 for any block size)
    latency_samples = algorithmic + block_alignment

``block_alignment`` is what it costs to emit exactly as many samples as came in when blocks do not
end on hop boundaries: it is 0 when the block size is a multiple of the hop.
"""

from __future__ import annotations

import math

import numpy as np
from rtst.dsp.compiled import TIMER_SLOTS, elapsed_ns, rt_kernel, start_timer

from rtst.config import StftConfig
from rtst.validate import require_float, require_int
from rtst.dsp.fft import RfftPlan
from rtst.dsp.ringbuffer import ring_history
from rtst.dsp.stft import analyse_frame, synthesise_frame
from rtst.dsp.windows import dual_window, get_window
from rtst.errors import ParameterError
from rtst.telemetry import FRAMES_SLOT, publish, tap_frame
from rtst.model.base import IdentityModel, StepModel
from rtst.engine.slots import (CURRENT, MORPH_SMOOTHING_S, PHASE_FADE_S, RATE, SWAP_FADE_S, TARGET, ModelSlot,
                               PhaseSlot, glide)
from rtst.dsp.ringbuffer import next_pow2
from rtst.phase import make_phase
from rtst.phase.base import PhaseMethod

__all__ = ["Processor", "INPUT_LIMIT", "MAX_FRAME_PEAK", "OUTPUT_LIMIT", "MIX_SMOOTHING_S", "BYPASS_FADE_S",
           "MORPH_SMOOTHING_S", "SWAP_FADE_S", "PHASE_FADE_S"]

#: Input samples are clipped to this magnitude (and non-finite ones zeroed) before analysis.
INPUT_LIMIT = 4.0
#: A synthesised frame whose windowed peak exceeds this is dropped (silence) and counted.
MAX_FRAME_PEAK = 4.0
#: Output never exceeds full scale.
OUTPUT_LIMIT = 1.0
#: Mix smoothing time constant (seconds): parameter changes glide instead of stepping.
MIX_SMOOTHING_S = 0.01
#: Length of the bypass crossfade.
BYPASS_FADE_S = 0.02
#: Time constant of the running powers (effect, dry, and their product) that keep the bypass
#: crossfade's level: a linear fade between two signals whose phases differ partly cancels
#: (measured 7-10 dB dips where bypass followed a phase switch), so the fade is scaled to the
#: power interpolated between its ends. Correlated ends (the identity) get a gain of 1.
BYPASS_POWER_S = 0.005
#: Most the crossfade's level compensation may lift (12 dB): near-opposite phases are not chased.
BYPASS_MAX_GAIN = 4.0
#: Per-hop compute times kept (ring) for meters and reports.
TIMING_CAPACITY = 1 << 16

# indices into the int64 counters array
_FILL, _OUT_W, _OUT_R, _DRY_W, _SANITISED, _BAD_FRAMES, _CLIPPED, _UNDERRUNS, _HOPS, _TIMED = range(10)
_N_COUNTERS = 10
# the bypass state: a glide (TARGET, CURRENT, RATE), then the running powers of the effect and the
# dry signal, their running product, and the one-pole coefficient of those
_P_WET, _P_DRY, _P_CROSS, _P_COEF = 3, 4, 5, 6
# the int64 clock array: a timer (rtst.dsp.compiled) and the hop's compute time after it
_ELAPSED = TIMER_SLOTS
_N_CLOCK = TIMER_SLOTS + 1
# indices into the int64 cursor of process(): where the block's chunk and its ingest stand
_CHUNK_AT, _INGEST_AT = 0, 1


@rt_kernel
def _ingest(x, start, end, in_buf, hop, dry_ring, counters, input_limit):
    """Copy samples ``x[start:end]`` into the frame buffer tail and the dry delay line, stopping
    when the current hop is complete.

    Non-finite samples become 0 and samples beyond ``input_limit`` are clipped (both counted).

    Returns
    -------
    stop : int
        Index of the first sample not consumed (``counters[_FILL] == hop`` if it stopped early).

    Real-time safe.
    """
    fill = counters[_FILL]
    count = min(end - start, hop - fill)
    base = in_buf.shape[0] - hop + fill
    dmask = dry_ring.shape[0] - 1
    dw = counters[_DRY_W]
    bad = 0
    for i in range(count):
        v = np.float64(x[start + i])
        if not np.isfinite(v):
            v = 0.0
            bad += 1
        elif v > input_limit:
            v = input_limit
            bad += 1
        elif v < -input_limit:
            v = -input_limit
            bad += 1
        in_buf[base + i] = v
        dry_ring[(dw + i) & dmask] = v
    counters[_DRY_W] = dw + count
    counters[_FILL] = fill + count
    counters[_SANITISED] += bad
    return start + count


@rt_kernel
def _finish_hop(acc, in_buf, hop, out_ring, counters):
    """Move the completed hop of the accumulator to the output FIFO and shift both buffers.

    Real-time safe.
    """
    n_fft = acc.shape[0]
    mask = out_ring.shape[0] - 1
    w = counters[_OUT_W]
    for i in range(hop):
        out_ring[(w + i) & mask] = acc[i]
    counters[_OUT_W] = w + hop
    for i in range(n_fft - hop):
        acc[i] = acc[i + hop]
        in_buf[i] = in_buf[i + hop]
    for i in range(n_fft - hop, n_fft):
        acc[i] = 0.0
    counters[_FILL] = 0
    counters[_HOPS] += 1


@rt_kernel
def _sanitise_magnitude(mag, limit):
    """Replace a frame with any non-finite or negative-infinite value by zeros; clamp to ``limit``.

    Returns True if the frame was replaced. Real-time safe.
    """
    for k in range(mag.shape[0]):
        v = mag[k]
        if not np.isfinite(v):
            for j in range(mag.shape[0]):
                mag[j] = 0.0
            return True
        if v < 0.0:
            mag[k] = -v
        if mag[k] > limit:
            mag[k] = limit
    return False


@rt_kernel
def _emit(out, start, count, out_ring, dry_ring, latency, counters, mix_state, bypass_state, output_limit):
    """Pop ``count`` wet samples, mix with the input delayed by ``latency``, clip, write ``out``.

    ``mix_state``: a glide (:mod:`rtst.engine.slots`: TARGET, CURRENT, RATE = one-pole coefficient
    per sample). ``bypass_state``: a glide with TARGET 0 (effect) or 1 (bypassed), RATE = linear step
    per sample, then running powers: a linear crossfade from the mixed effect to the delayed dry
    input and back, scaled to keep the power interpolated between its ends (see
    :data:`BYPASS_POWER_S`), so toggling bypass never clicks, dips or shifts the timing. A FIFO
    shortfall (a block larger than the engine was prepared for) gives zeros and is counted; the
    read position still advances so the latency never drifts. Real-time safe.
    """
    mask = out_ring.shape[0] - 1
    dmask = dry_ring.shape[0] - 1
    r = counters[_OUT_R]
    w = counters[_OUT_W]
    dry_idx = counters[_DRY_W] - count - latency  # input index that aligns with out[start]
    target = mix_state[TARGET]
    current = mix_state[CURRENT]
    coef = mix_state[RATE]
    b_target = bypass_state[TARGET]
    b_current = bypass_state[CURRENT]
    b_step = bypass_state[RATE]
    p_wet = bypass_state[_P_WET]
    p_dry = bypass_state[_P_DRY]
    p_cross = bypass_state[_P_CROSS]
    p_coef = bypass_state[_P_COEF]
    max_gain = BYPASS_MAX_GAIN
    clipped = 0
    short = 0
    for i in range(count):
        if r < w:
            wet = out_ring[r & mask]
        else:
            wet = 0.0
            short += 1
        r += 1
        d = dry_idx + i
        dry = dry_ring[d & dmask] if d >= 0 else 0.0
        current += (target - current) * coef
        if abs(target - current) < 1e-9:
            current = target
        if current == target:
            y = wet if target == 1.0 else target * wet + (1.0 - target) * dry
        else:
            y = current * wet + (1.0 - current) * dry
        if b_current != b_target:
            if b_current < b_target:
                b_current = min(b_target, b_current + b_step)
            else:
                b_current = max(b_target, b_current - b_step)
        p_wet += p_coef * (y * y - p_wet)
        p_dry += p_coef * (dry * dry - p_dry)
        p_cross += p_coef * (y * dry - p_cross)
        if b_current != 0.0:
            if b_current == 1.0:
                y = dry
            else:
                b = b_current
                p_target = (1.0 - b) * p_wet + b * p_dry
                p_mix = (1.0 - b) * (1.0 - b) * p_wet + b * b * p_dry + 2.0 * b * (1.0 - b) * p_cross
                gain = 1.0
                if p_target > 1e-30:
                    gain = math.sqrt(p_target / max(p_mix, p_target / (max_gain * max_gain)))
                y = gain * (y + b * (dry - y))
        if y > output_limit:
            y = output_limit
            clipped += 1
        elif y < -output_limit:
            y = -output_limit
            clipped += 1
        elif not np.isfinite(y):
            y = 0.0
            clipped += 1
        out[start + i] = y
    counters[_OUT_R] = r
    counters[_CLIPPED] += clipped
    counters[_UNDERRUNS] += short
    mix_state[CURRENT] = current
    bypass_state[CURRENT] = b_current
    bypass_state[_P_WET] = p_wet
    bypass_state[_P_DRY] = p_dry
    bypass_state[_P_CROSS] = p_cross


@rt_kernel
def _advance(block, out, first, cursor, chunk, in_buf, hop, dry_ring, out_ring, latency, counters, mix_state,
             bypass_state, input_limit, output_limit):
    """Walk ``block`` chunk by chunk: ingest its samples, and emit each chunk's output once its
    samples are in. Returns True, with the cursor kept, when a hop is complete (the caller runs it
    and calls again with ``first`` False); False when the whole block is done.

    All of :meth:`Processor.process` but the hops, in compiled code: no Python int or numpy
    scalar is made per sample position or hop. Real-time safe.
    """
    if first:
        cursor[_CHUNK_AT] = 0
        cursor[_INGEST_AT] = 0
    n = block.shape[0]
    pos = cursor[_CHUNK_AT]
    p = cursor[_INGEST_AT]
    while pos < n:
        end = min(pos + chunk, n)
        while p < end:
            p = _ingest(block, p, end, in_buf, hop, dry_ring, counters, input_limit)
            if counters[_FILL] == hop:
                cursor[_CHUNK_AT] = pos
                cursor[_INGEST_AT] = p
                return True
        _emit(out, pos, end - pos, out_ring, dry_ring, latency, counters, mix_state, bypass_state, output_limit)
        pos = end
    cursor[_CHUNK_AT] = pos
    cursor[_INGEST_AT] = p
    return False


@rt_kernel
def _record_time(ring, counters, clock):
    """Store the hop's compute time (since ``start_timer(clock)``) in the timing ring and in
    ``clock[_ELAPSED]``. Real-time safe."""
    elapsed = elapsed_ns(clock)
    clock[_ELAPSED] = elapsed
    i = counters[_TIMED]
    ring[i & (ring.shape[0] - 1)] = elapsed
    counters[_TIMED] = i + 1


class Processor:
    """Streaming STFT effect: analysis -> model -> phase -> synthesis, hop by hop.

    Parameters
    ----------
    stft_config : StftConfig
        Sample rate and STFT sizes.
    model : StepModel, optional
        Magnitude model; identity if omitted. Checked against ``stft_config`` (ModelError).
    phase : str or PhaseMethod
        Phase method name (see :data:`rtst.phase.METHODS`) or an instance.
    lookahead : int, optional
        Phase lookahead in hops (method default if omitted).
    mix : float
        Dry/wet mix, 0 (dry, delayed to match) .. 1 (wet).
    block_size : int, optional
        The fixed block size the caller will use. With it, latency is lowest (no block-alignment
        delay when it is a multiple of the hop). Without it, any block size works, at
        ``hop_length - 1`` samples of extra latency.

    Notes
    -----
    All buffers are allocated and every compiled kernel is warmed in the constructor;
    :meth:`process` allocates nothing and never raises on bad audio: non-finite or exploding
    frames are replaced by silence and counted (:attr:`stats`), and the output is clipped to full
    scale.
    """

    def __init__(self, stft_config: StftConfig, *, model: StepModel | None = None,
                 phase: str | PhaseMethod = "input", lookahead: int | None = None,
                 mix: float = 1.0, block_size: int | None = None, phase_options: dict | None = None):
        if not isinstance(stft_config, StftConfig):
            raise ParameterError(f"stft_config={stft_config!r} must be a StftConfig")
        self.stft = stft_config
        if isinstance(phase, PhaseMethod):
            if lookahead is not None and lookahead != phase.lookahead:
                raise ParameterError(f"lookahead={lookahead} conflicts with the phase method's {phase.lookahead}")
        else:
            phase = make_phase(phase, stft_config, lookahead, **(phase_options or {}))
        self._models = ModelSlot(model if model is not None else IdentityModel(), stft_config)
        self._phases = PhaseSlot(phase, stft_config)
        self.model.check(stft_config)
        if block_size is not None:
            block_size = require_int("block_size", block_size, 1, 1 << 20, rule=f"an integer from 1 to {1 << 20}, or None")
        self.block_size = block_size

        n_fft, hop, n_bins = stft_config.n_fft, stft_config.hop_length, stft_config.n_bins
        self._hop = hop
        self.lookahead_frames = self.phase.lookahead + self.model.latency_frames
        self.algorithmic_latency = n_fft - hop + self.lookahead_frames * hop
        if block_size is None:
            self.block_alignment = hop - 1
            self._chunk = hop
        else:
            self.block_alignment = hop - math.gcd(block_size, hop)
            self._chunk = block_size
        #: Samples between an input sample and its output, everything the engine adds.
        self.latency_samples = self.algorithmic_latency + self.block_alignment

        self._window = get_window(stft_config.window, n_fft)
        self._synthesis = dual_window(self._window, hop)
        self._plan = RfftPlan(n_fft)
        # an exact tuple: unpacking the named one takes an iterator object per hop
        self._fft_tables = tuple(self._plan.tables)
        self._in_buf = np.zeros(n_fft)                          # [n_fft] newest frame of input
        self._acc = np.zeros(n_fft)                             # [n_fft] overlap-add accumulator
        self._scratch = np.zeros(n_fft)                         # [n_fft]
        self._spec_in = np.zeros(n_bins, dtype=np.complex128)   # [n_bins] input spectrum
        # A model whose output frame t belongs to input frame t - k (latency_frames = k): the
        # phase methods that follow the input (input, guided) get that frame's spectrum, kept in
        # a ring of k + 1; the views are made here, not per hop
        k = self.model.latency_frames
        self._spec_ring = np.zeros((k + 1, n_bins), dtype=np.complex128) if k else None
        self._spec_slots = None if k == 0 else list(self._spec_ring)  # rows: views
        self._spec_at = 0
        self._spec_out = np.zeros(n_bins, dtype=np.complex128)  # [n_bins] spectrum to synthesise
        self._spec_scratch = np.zeros(n_bins, dtype=np.complex128)
        self.mag_in = np.zeros(n_bins)                          # [n_bins] newest input magnitude
        self.mag_out = np.zeros(n_bins)                         # [n_bins] newest model magnitude
        # A full-scale sinusoid peaks at sum(window)/2 in its bin; anything far beyond is garbage.
        self._mag_limit = float(self._window.sum()) * INPUT_LIMIT * 4.0
        self._out_ring = np.zeros(next_pow2(2 * (self.block_alignment + self._chunk + 2 * hop)))
        self._dry_ring = np.zeros(next_pow2(self.latency_samples + self._chunk + hop + 2))
        self._counters = np.zeros(_N_COUNTERS, dtype=np.int64)
        self._clock = np.zeros(_N_CLOCK, dtype=np.int64)
        self._cursor = np.zeros(2, dtype=np.int64)
        mix = require_float("mix", mix, 0.0, 1.0)
        self._mix_state = glide(mix, 1.0 - math.exp(-1.0 / (MIX_SMOOTHING_S * stft_config.sample_rate)))
        self._bypass_state = np.concatenate([glide(0.0, 1.0 / max(1.0, BYPASS_FADE_S * stft_config.sample_rate)),
                                             [0.0, 0.0, 0.0,
                                              1.0 - math.exp(-1.0 / (BYPASS_POWER_S * stft_config.sample_rate))]])
        #: Per-hop compute time ring, nanoseconds (int64 [TIMING_CAPACITY]); see :meth:`hop_times_ns`.
        self._hop_ns = np.zeros(TIMING_CAPACITY, dtype=np.int64)
        self._tap = None  # (frames, hop_ns, header) of a Telemetry block, see set_frame_tap

        self._models.bind_input(self._in_buf, self._spec_in)
        self.model.prepare(n_bins)
        self.phase.prepare()
        self._warm_up()

    @property
    def model(self) -> StepModel:
        """The running model (after a swap completes, the new one)."""
        return self._models.model

    @property
    def phase(self) -> PhaseMethod:
        """The running phase method (after a live switch completes, the new one)."""
        return self._phases.phase

    # ---------------------------------------------------------------- control (any thread)
    @property
    def mix(self) -> float:
        return float(self._mix_state[TARGET])

    def set_mix(self, mix: float) -> None:
        """Set the dry/wet target; the audio thread glides to it (10 ms). Lock-free."""
        self._mix_state[TARGET] = require_float("mix", mix, 0.0, 1.0)

    def prepare_model(self, model: StepModel) -> StepModel:
        """Check ``model`` against the engine (STFT, latency) and prepare, warm and reset it, so
        that a later :meth:`swap_model` or :meth:`set_morph_model` with it is instant. Returns it.

        Raises
        ------
        ModelError, ParameterError
            The model does not fit the engine.
        """
        return self._models.prepared(model)

    def set_morph_model(self, model: StepModel | None) -> None:
        """Load a second style to morph towards (``None`` unloads it). Call off the audio thread:
        the model is checked, prepared and warmed here, then handed over by one reference write.
        Both models then run every hop (twice the model cost)."""
        self._models.set_morph_model(model)

    @property
    def morph(self) -> float:
        return float(self._models.blend[TARGET])

    @property
    def morph_current(self) -> float:
        """Where the morph glide is now (it follows :attr:`morph` with a 30 ms time constant)."""
        return float(self._models.blend[CURRENT])

    def set_morph(self, amount: float) -> None:
        """Blend between the model (0) and the morph model (1), in the log1p feature domain; the
        audio thread glides to it (30 ms time constant). Lock-free."""
        self._models.set_morph(require_float("morph", amount, 0.0, 1.0))

    def swap_model(self, model: StepModel) -> None:
        """Replace the running model without a glitch: ``model`` is prepared and warmed here (off the
        audio thread), runs beside the old one while the output crossfades to it over SWAP_FADE_S,
        then takes over alone. :attr:`swapping` is True until then."""
        self._models.swap(model)

    @property
    def swapping(self) -> bool:
        return self._models.swapping

    def set_phase(self, phase: str | PhaseMethod, **options) -> None:
        """Switch the phase method live, at the same lookahead (so the latency does not change).

        Call off the audio thread: the new method is built and warmed here, then handed over by
        one reference write. It runs beside the old one for ``ceil(n_fft / hop) + lookahead``
        hops to build its history, then the output crossfades to it (equal power, PHASE_FADE_S)
        and it takes over. :attr:`phase_switching` is True until then.

        Raises
        ------
        ParameterError
            Unknown method or options, a lookahead the method refuses, or a switch in progress.
        """
        self._phases.set_phase(phase, make_phase, **options)

    @property
    def phase_switching(self) -> bool:
        return self._phases.incoming is not None

    def set_frame_tap(self, telemetry) -> None:
        """Publish every hop's input and output magnitude and compute time to ``telemetry``
        (:class:`rtst.telemetry.Telemetry`, or None to stop). Its ring must have ``n_bins``
        columns. The audio thread only writes to it; readers never hold it up."""
        if telemetry is None:
            self._tap = None
            return
        if telemetry.n_bins != self.stft.n_bins:
            raise ParameterError(f"telemetry n_bins={telemetry.n_bins} must equal the engine's {self.stft.n_bins}")
        self._tap = telemetry.frame_tap()

    @property
    def bypassed(self) -> bool:
        return bool(self._bypass_state[TARGET] == 1.0)

    def set_bypass(self, bypassed: bool) -> None:
        """Bypass the effect (or bring it back) with a 20 ms linear crossfade to the input, delayed
        by the effect's latency so that the timing does not jump. The model and phase keep running,
        so coming back is seamless too. Lock-free: one float written, read by the audio thread."""
        self._bypass_state[TARGET] = 1.0 if bypassed else 0.0

    # ---------------------------------------------------------------- audio thread
    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Process one block of mono audio.

        Parameters
        ----------
        block : np.ndarray, float32 or float64 [n]
            Any ``n >= 0``.
        out : np.ndarray, float32 or float64 [n], optional
            Where to write the output (may not alias ``block``); allocated if omitted.

        Returns
        -------
        out : np.ndarray [n]
            Output, ``latency_samples`` behind the input, finite and within full scale.

        Real-time safe when ``out`` is given: no allocation, lock, log or I/O.
        """
        if out is None:
            out = np.zeros(block.shape[0], dtype=np.float32)
        first = True
        while _advance(block, out, first, self._cursor, self._chunk, self._in_buf, self._hop, self._dry_ring,
                       self._out_ring, self.latency_samples, self._counters, self._mix_state, self._bypass_state,
                       INPUT_LIMIT, OUTPUT_LIMIT):
            self._run_hop()
            first = False
        return out

    def _run_hop(self) -> None:
        """Analysis -> model -> phase -> synthesis for the frame just completed. Real-time safe."""
        start_timer(self._clock)
        # the plan's tables one by one: a starred call would build an argument tuple per hop
        bitrev, twiddle, split, work = self._fft_tables
        analyse_frame(self._in_buf, self._window, self._spec_in, self.mag_in, self._scratch, bitrev, twiddle, split,
                      work)
        self._models.run(self.mag_in, self.mag_out)
        bad = _sanitise_magnitude(self.mag_out, self._mag_limit)
        spec_in = self._spec_in
        if self._spec_ring is not None:  # the input frame the model's output belongs to
            slots = self._spec_slots
            np.copyto(slots[self._spec_at], spec_in)
            self._spec_at = (self._spec_at + 1) % len(slots)
            spec_in = slots[self._spec_at]  # the oldest: k frames ago
        # a model that synthesises gives the phase of its own frame
        spec_in = self._models.reference(spec_in)
        self.phase.process(self.mag_out, spec_in, self._spec_out)
        ok = synthesise_frame(self._spec_out, self._synthesis, self._acc, self._spec_scratch,
                              self._scratch, MAX_FRAME_PEAK, bitrev, twiddle, split, work)
        phases = self._phases
        switched = False
        if phases.process_incoming(self.mag_out, spec_in):
            synthesise_frame(phases.spec_out, self._synthesis, phases.acc, self._spec_scratch,
                             self._scratch, MAX_FRAME_PEAK, bitrev, twiddle, split, work)
            switched = phases.crossfade(self._acc)
        if bad or not ok:
            self._counters[_BAD_FRAMES] += 1
        _finish_hop(self._acc, self._in_buf, self._hop, self._out_ring, self._counters)
        if switched:  # the new method's overlap-add (already shifted) continues as the main one
            np.copyto(self._acc, phases.acc)
            phases.complete()
        _record_time(self._hop_ns, self._counters, self._clock)
        tap = self._tap
        if tap is not None:
            tap_frame(self.mag_in, self.mag_out, self._clock, tap[0], tap[1], tap[2])
            publish(tap[2], FRAMES_SLOT, 1)

    # ---------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        """Return to the state of a freshly constructed processor (buffers, model, phase, counters)."""
        for buf in (self._in_buf, self._acc, self._scratch, self._spec_in, self._spec_out,
                    self._spec_scratch, self.mag_in, self.mag_out, self._out_ring, self._dry_ring,
                    self._counters, self._hop_ns):
            buf[:] = 0
        self._mix_state[CURRENT] = self._mix_state[TARGET]
        self._bypass_state[CURRENT] = self._bypass_state[TARGET]
        self._bypass_state[_P_WET:_P_COEF] = 0.0
        if self._spec_ring is not None:
            self._spec_ring[:] = 0
            self._spec_at = 0
        self._models.reset()
        self._phases.reset()
        self._prime()

    def _prime(self) -> None:
        # The output FIFO starts with `block_alignment` samples of silence.
        self._counters[_OUT_W] = self.block_alignment

    def _warm_up(self) -> None:
        """Run every code path once (compiles numba kernels), then reset."""
        rng = np.random.default_rng(0)
        noise = rng.standard_normal(3 * self.stft.n_fft + 7).astype(np.float32) * 0.1
        out = np.zeros_like(noise)
        self.process(noise, out)
        self.process(noise.astype(np.float64), out.astype(np.float64))
        self._models.warm_up()            # compile the blend kernels now, not at the first morph
        self._phases.warm_up(self._scratch)  # ... and the phase crossfade
        self.reset()

    # ---------------------------------------------------------------- reporting
    @property
    def stats(self) -> dict:
        """Counters since the last reset: hops, bad_frames, sanitised_input, clipped_output, underruns."""
        c = self._counters
        return {
            "hops": int(c[_HOPS]),
            "bad_frames": int(c[_BAD_FRAMES]),
            "sanitised_input": int(c[_SANITISED]),
            "clipped_output": int(c[_CLIPPED]),
            "underruns": int(c[_UNDERRUNS]),
        }

    def hop_times_ns(self) -> np.ndarray:
        """Compute time of each hop since reset (the last TIMING_CAPACITY), int64 [n_hops]."""
        return ring_history(self._hop_ns, int(self._counters[_TIMED]))

    @property
    def budget_us(self) -> float:
        return self.stft.budget_us

    def describe(self) -> dict:
        """Settings and latency in the report's vocabulary (docs/report.md)."""
        return {
            "sample_rate": self.stft.sample_rate,
            "n_fft": self.stft.n_fft,
            "hop_length": self.stft.hop_length,
            "window": self.stft.window,
            "phase": self.phase.name,
            "lookahead": self.phase.lookahead,
            "model": self.model.name,
            "model_engine": getattr(self.model, "engine", "builtin"),
            "mix": self.mix,
            "bypassed": self.bypassed,
            "morph": self.morph,
            "morph_model": None if self._models.morph_model is None else self._models.morph_model.name,
            "block_size": self.block_size,
        }

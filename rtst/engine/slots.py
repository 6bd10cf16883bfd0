"""The processor's live controls, each a small object with named state: the model slot (the
running model, a second one for style morphing or for a glitch-free swap) and the phase slot (the
running phase method, and one being switched in).

Control methods (``set_*``, ``swap``) run on any thread but the audio thread: they build, check and
warm what they hand over, then publish it with one reference or float write. The ``run`` methods
run on the audio thread, once per hop, and allocate nothing.

Glides share one layout, a float64 array of three, read and written by compiled kernels (so the
audio thread needs no lock): ``[TARGET, CURRENT, RATE]``. The names below index it.
"""

from __future__ import annotations

import math

import numpy as np
from rtst.dsp.compiled import rt_kernel

from rtst.errors import ParameterError
from rtst.model.base import StepModel
from rtst.phase.base import DelayedPhase, PhaseMethod

__all__ = ["TARGET", "CURRENT", "RATE", "glide", "ModelSlot", "PhaseSlot", "MORPH_SMOOTHING_S", "SWAP_FADE_S",
           "PHASE_FADE_S"]

#: Indices of a glide's state: where it goes, where it is, how fast it moves (a one-pole
#: coefficient per step, or a linear step, as each control documents).
TARGET, CURRENT, RATE = 0, 1, 2
#: Time constant of the style-morph control, and length of a model swap's crossfade (seconds).
MORPH_SMOOTHING_S = 0.03
SWAP_FADE_S = 0.1
#: Length of the crossfade when the phase method is switched live (after its warm-up).
PHASE_FADE_S = 0.05
# Indices of a phase switch's state: fade position 0..1, its step per sample, warm-up hops left.
_POSITION, _STEP, _WARMUP, _GAIN = 0, 1, 2, 3
#: Bounds of the level correction of a phase crossfade (about +-6 dB).
_GAIN_MIN, _GAIN_MAX = 0.5, 2.0


def glide(target: float, rate: float) -> np.ndarray:
    """A glide's state, at rest at ``target``: float64 [3] = [TARGET, CURRENT, RATE]."""
    return np.array([target, target, rate], dtype=np.float64)


@rt_kernel
def _morph(mag_a, mag_b, alpha, out):
    """``out = expm1((1 - alpha) log1p(a) + alpha log1p(b))``: interpolation in the models' own
    log1p feature domain (a geometric blend for loud bins, linear for quiet ones). Real-time safe."""
    for k in range(out.shape[0]):
        out[k] = np.expm1((1.0 - alpha) * np.log1p(mag_a[k]) + alpha * np.log1p(mag_b[k]))


@rt_kernel
def _advance_blend(state, swapping, swap_step):
    """One hop of the blend between the two models: a linear ramp to 1 during a swap, else a
    one-pole glide towards the morph control. Returns the blend. Real-time safe."""
    if swapping:
        state[CURRENT] = min(1.0, state[CURRENT] + swap_step)
    else:
        state[CURRENT] += (state[TARGET] - state[CURRENT]) * state[RATE]
        if abs(state[TARGET] - state[CURRENT]) < 1e-6:
            state[CURRENT] = state[TARGET]
    return state[CURRENT]


@rt_kernel
def _blend_hop(mag_a, mag_b, state, swapping, swap_step, out):
    """One hop of the blend: advance it, morph the two models' frames into ``out``. Returns True
    when a swap has just completed (in one compiled call: the blend never becomes a Python
    float on the audio thread). Real-time safe."""
    alpha = _advance_blend(state, swapping, swap_step)
    _morph(mag_a, mag_b, alpha, out)
    return swapping and alpha >= 1.0


@rt_kernel
def _blend_reference(ref_a, ref_b, state, out):
    """The phase reference while two models blend (a swap or a morph) and at least one makes its
    own frame: magnitude (as :func:`_morph` blends) and unit phasor interpolated, so the phase turns
    smoothly from the one model's to the other's instead of jumping when the swap completes (a
    jump between a re-synthesised frame's phases and the input's measured a 3.3 dB step).
    Real-time safe."""
    alpha = state[CURRENT]
    for k in range(out.shape[0]):
        a = ref_a[k]
        b = ref_b[k]
        ma = math.sqrt(a.real * a.real + a.imag * a.imag)
        mb = math.sqrt(b.real * b.real + b.imag * b.imag)
        ua = a / ma if ma > 0.0 else 0.0j
        ub = b / mb if mb > 0.0 else 0.0j
        u = (1.0 - alpha) * ua + alpha * ub
        mu = math.sqrt(u.real * u.real + u.imag * u.imag)
        # the magnitude as the models' frames are blended (_morph), so a method that asks whether
        # the output follows its reference (guided) finds that it does
        m = np.expm1((1.0 - alpha) * np.log1p(ma) + alpha * np.log1p(mb))
        out[k] = u * (m / mu) if mu > 1e-12 else (a if alpha < 0.5 else b)


@rt_kernel
def _crossfade_hop(acc, acc_b, hop, fade):
    """Blend the finished hop of a second synthesis (a phase method being switched in) into
    ``acc[:hop]``, then shift ``acc_b`` by a hop as the processor shifts ``acc``.

    ``fade`` = [position 0..1, step per sample, warm-up hops left, last level correction]. While
    warming up the new method only builds its history; then an equal-power (sin/cos) fade. Two
    reconstructions of the same magnitudes are neither unrelated nor equal: where their phases
    happen to oppose, an equal-power fade dips (measured 4 dB on a harmonic tone). So each hop is
    scaled to the power the fade would have if they were unrelated, ``a^2 |x|^2 + b^2 |y|^2``
    (within about +-6 dB), the scale moving linearly from the last hop's over the hop's first
    eighth (a ramp over the whole hop lags the dip it corrects and measured a 3 dB bump). Returns True once the
    fade is complete. Real-time safe.
    """
    n_fft = acc.shape[0]
    if fade[_WARMUP] > 0:
        fade[_WARMUP] -= 1
    else:
        pos = fade[_POSITION]
        step = fade[_STEP]
        want = 0.0
        got = 0.0
        p = pos
        for i in range(hop):
            p = min(1.0, p + step)
            a = np.cos(0.5 * np.pi * p)
            b = np.sin(0.5 * np.pi * p)
            want += a * a * acc[i] * acc[i] + b * b * acc_b[i] * acc_b[i]
            mixed = a * acc[i] + b * acc_b[i]
            got += mixed * mixed
        gain = 1.0
        if got > 0.0 and p < 1.0:
            gain = min(max(np.sqrt(want / got), _GAIN_MIN), _GAIN_MAX)
        last = fade[_GAIN]
        ramp = max(1.0, hop / 8.0)
        for i in range(hop):
            pos = min(1.0, pos + step)
            a = np.cos(0.5 * np.pi * pos)
            b = np.sin(0.5 * np.pi * pos)
            g = last + (gain - last) * min(1.0, (i + 1) / ramp)
            acc[i] = g * (a * acc[i] + b * acc_b[i])
        fade[_POSITION] = pos
        fade[_GAIN] = gain
    for i in range(n_fft - hop):
        acc_b[i] = acc_b[i + hop]
    for i in range(n_fft - hop, n_fft):
        acc_b[i] = 0.0
    return fade[_POSITION] >= 1.0


class ModelSlot:
    """The running model, and a second one beside it for morphing or a swap.

    Parameters
    ----------
    model : StepModel
        Prepared for ``stft``'s bins by the caller.
    stft : rtst.config.StftConfig

    Attributes
    ----------
    model : StepModel
        The running model.
    other : StepModel or None
        The morph model, or the model being swapped in.
    blend : np.ndarray, float64 [3]
        Glide state (:data:`TARGET`, :data:`CURRENT`, :data:`RATE`) of the blend towards ``other``.
    swapping : bool
        True while a swap's crossfade runs.
    """

    def __init__(self, model: StepModel, stft):
        self.model = model
        self.other: StepModel | None = None
        self._stft = stft
        n_bins, hop = stft.n_bins, stft.hop_length
        self._mag_a = np.zeros(n_bins)   # [n_bins] the running model's magnitude while blending
        self._mag_b = np.zeros(n_bins)   # [n_bins] the other model's
        self.blend = glide(0.0, 1.0 - math.exp(-hop / (MORPH_SMOOTHING_S * stft.sample_rate)))
        self._swap_step = hop / (SWAP_FADE_S * stft.sample_rate)
        self.swapping = False
        self._inputs = None   # (waveform, spectrum) of the engine's input frame, see bind_input
        self._reference = np.zeros(n_bins, dtype=np.complex128)   # [n_bins] while two models blend
        self._align = False   # the model coming in takes the running one's phases at its first hop

    def bind_input(self, waveform: np.ndarray, spec_in: np.ndarray) -> None:
        """The engine's input frame (float64 [n_fft]) and spectrum (complex128 [n_bins]) that
        every model here and every model prepared later reads (:meth:`StepModel.bind`)."""
        self._inputs = (waveform, spec_in)
        self.model.bind(waveform, spec_in)

    # ---------------------------------------------------------------- control (any thread)
    def prepared(self, model: StepModel) -> StepModel:
        """``model`` checked against the engine, prepared for its bins and reset."""
        model.check(self._stft)
        if self._inputs is not None:
            model.bind(*self._inputs)
        if model.latency_frames != self.model.latency_frames:
            raise ParameterError(f"model {model.name!r} adds {model.latency_frames} frames of latency, the running "
                                 f"model {self.model.latency_frames}: they cannot be blended")
        model.prepare(self._stft.n_bins)
        model.reset()
        return model

    def set_morph_model(self, model: StepModel | None) -> None:
        """Load a second style to morph towards (None unloads it): checked, prepared and warmed
        here, handed over by one reference write. Both models then run every hop."""
        if self.swapping:
            raise ParameterError("a model swap is in progress")
        self.other = None if model is None else self.prepared(model)
        self._align = model is not None
        if model is None:
            self.blend[TARGET] = self.blend[CURRENT] = 0.0

    def set_morph(self, amount: float) -> None:
        """Blend target: 0 the model .. 1 the morph model. Lock-free: one float written."""
        self.blend[TARGET] = amount

    def swap(self, model: StepModel) -> None:
        """Hand over to ``model`` without a glitch: it runs beside the running one while the blend
        ramps linearly to 1 over :data:`SWAP_FADE_S`, then takes over alone."""
        if self.swapping:
            raise ParameterError("a model swap is already in progress")
        model = self.prepared(model)
        self.blend[TARGET] = self.blend[CURRENT] = 0.0
        self.other = model
        self._align = True
        self.swapping = True

    @property
    def morph_model(self) -> StepModel | None:
        """The morph model (None while a swap runs: that one is not a morph)."""
        return None if self.swapping else self.other

    # ---------------------------------------------------------------- audio thread
    def reference(self, spec_in: np.ndarray) -> np.ndarray:
        """The spectrum whose phase the engine's input-following phase methods take this hop:
        the running model's own frame if it synthesises, else the input's; while a second model
        blends in, the two models' references blended (:func:`_blend_reference`). Real-time safe."""
        model = self.model
        ref = model.spectrum if model.synthesises else spec_in
        other = self.other
        if other is None:
            return ref
        ref_b = other.spectrum if other.synthesises else spec_in
        if ref_b is ref:
            return ref
        _blend_reference(ref, ref_b, self.blend, self._reference)
        return self._reference

    def run(self, mag_in: np.ndarray, mag_out: np.ndarray) -> None:
        """One hop: the model (or the blend of both) from ``mag_in`` into ``mag_out``. Real-time safe."""
        other = self.other
        if other is None:
            self.model.process(mag_in, mag_out)
            return
        if self._align:
            # two re-synthesising models blend best with their partials in phase: the one coming
            # in starts from the running one's phases (here, on the audio thread, at the hop the
            # blend starts: a copy made when the control thread asked would be hops old)
            self._align = False
            if other.synthesises and self.model.synthesises and type(other) is type(self.model):
                other.align_to(self.model)
        self.model.process(mag_in, self._mag_a)
        other.process(mag_in, self._mag_b)
        if _blend_hop(self._mag_a, self._mag_b, self.blend, self.swapping, self._swap_step, mag_out):
            # the swap is complete: the new model runs alone
            self.model = other
            self.other = None
            self.swapping = False
            self.blend[TARGET] = self.blend[CURRENT] = 0.0

    # ---------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        self.blend[CURRENT] = self.blend[TARGET]
        self.model.reset()
        if self.other is not None:
            self.other.reset()

    def warm_up(self) -> None:
        """Compile the blend kernels (the plain path is warmed by the processor's own warm-up)."""
        _blend_hop(self._mag_a, self._mag_b, glide(0.0, 0.5), False, 0.1, self._mag_b)
        _blend_reference(self._reference, self._reference, glide(0.5, 0.5), self._reference)
        self._mag_b[:] = 0.0


class PhaseSlot:
    """The running phase method, and one being switched in beside it.

    Attributes
    ----------
    phase : PhaseMethod
        The running method.
    incoming : PhaseMethod or None
        A method being switched in: it builds its history for ``ceil(n_fft / hop) + lookahead``
        hops, then the output crossfades to it (equal power, :data:`PHASE_FADE_S`).
    spec_out : np.ndarray, complex128 [n_bins]
        The incoming method's spectrum of this hop.
    acc : np.ndarray, float64 [n_fft]
        The incoming method's overlap-add.
    """

    def __init__(self, phase: PhaseMethod, stft):
        self.phase = phase
        self.incoming: PhaseMethod | None = None
        self._stft = stft
        self.spec_out = np.zeros(stft.n_bins, dtype=np.complex128)    # [n_bins] the incoming method's
        self.acc = np.zeros(stft.n_fft)                               # [n_fft] its overlap-add
        self._fade = np.array([0.0, 1.0 / max(1.0, PHASE_FADE_S * stft.sample_rate), 0.0, 1.0])

    # ---------------------------------------------------------------- control (any thread)
    def set_phase(self, phase, make_phase, **options) -> None:
        """Switch to ``phase`` (a name or a PhaseMethod) at the running lookahead, so the latency
        does not change. ``make_phase`` builds a method by name (:func:`rtst.phase.make_phase`).

        Raises
        ------
        ParameterError
            Unknown method or options, a lookahead the method refuses, or a switch in progress.
        """
        if self.incoming is not None:
            raise ParameterError("a phase method switch is already in progress")
        lookahead = self.phase.lookahead
        if isinstance(phase, PhaseMethod):
            if phase.lookahead != lookahead or phase.stft != self._stft:
                raise ParameterError(f"phase method {phase.name!r} must have lookahead={lookahead} "
                                     f"and the engine's STFT to be switched in live")
            new = phase
        else:
            try:
                new = make_phase(phase, self._stft, lookahead, **options)
            except ParameterError as exc:
                # a method that refuses this lookahead (spsi: only 0) runs at its own and is held
                # back the difference, so the latency stays
                default = make_phase(phase, self._stft, None, **options)
                if default.lookahead > lookahead:
                    raise ParameterError(f"{exc} (the running method has lookahead={lookahead})") from None
                new = DelayedPhase(default, lookahead - default.lookahead)
        new.prepare()
        self.acc[:] = 0.0
        self._fade[_POSITION] = 0.0
        self._fade[_GAIN] = 1.0
        self._fade[_WARMUP] = -(-self._stft.n_fft // self._stft.hop_length) + new.lookahead
        self.incoming = new

    # ---------------------------------------------------------------- audio thread
    def process_incoming(self, mag: np.ndarray, spec_in: np.ndarray) -> bool:
        """If a method is being switched in, run it on this hop into :attr:`spec_out` and return
        True (the caller synthesises that into :attr:`acc`, then calls :meth:`crossfade`).
        Real-time safe."""
        incoming = self.incoming
        if incoming is None:
            return False
        incoming.process(mag, spec_in, self.spec_out)
        return True

    def crossfade(self, acc: np.ndarray) -> bool:
        """Blend the incoming method's finished hop into ``acc`` (the running overlap-add) and shift
        its own. Returns True when the switch completes: the caller then continues from
        :attr:`acc` and calls :meth:`complete`. Real-time safe."""
        return _crossfade_hop(acc, self.acc, self._stft.hop_length, self._fade)

    def complete(self) -> None:
        """Make the incoming method the running one (after :meth:`run_incoming` returned True)."""
        self.phase = self.incoming
        self.incoming = None

    # ---------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        if self.incoming is not None:  # a pending switch completes at once
            self.complete()
        self.acc[:] = 0.0
        self.phase.reset()

    def warm_up(self, scratch: np.ndarray) -> None:
        """Compile the crossfade kernel on scratch buffers."""
        _crossfade_hop(scratch, self.acc, self._stft.hop_length, np.array([1.0, 1.0, 0.0, 1.0]))
        self.acc[:] = 0.0

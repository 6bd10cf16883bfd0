"""Re-synthesising style models: the performer's pitch and loudness, played in the style's sound.

A filter on the input keeps the input's partials, its noise and its formants: a voice through it
is still a voice. This model keeps only what the performer controls and makes the rest anew, per
hop, in the STFT domain (DDSP's harmonic-plus-noise idea, without an oscillator per sample):

1. **Track** f0, aperiodicity and level of the input (:class:`rtst.dsp.pitch.PitchTracker`, on
   the input samples the engine hands the model, :meth:`StepModel.bind`).
2. **Decode** the style's answer at that pitch and loudness: the ONNX graph maps
   ``cond = [pitch (MIDI), loudness (dB)]`` to the level of each of the style's partials and of
   its noise per band (``params = [partial dB .., noise dB ..]``, relative to the frame's RMS).
   The partials sit at the style's own frequency ratios (integers for a harmonic instrument, a
   bell's inharmonic series for bells), measured from the style clip
   (:mod:`rtst.transfer.resynth`).
3. **Synthesise** the frame: each partial a window-shaped peak at ``ratio * f0`` whose phase
   advances at its own frequency hop to hop (:func:`rtst.dsp.partials.add_partial`), plus the
   style's noise envelope on the spectrum of a white noise stream; the whole scaled to the input frame's energy, so
   loudness and onsets stay the performer's.
4. Where the input has **no single pitch** (consonants, drums, chords, noise) the frame crossfades,
   with the tracker's voicing, to a filter path: the input's own spectrum and phase with its band
   envelope replaced by the style's average one (cross-synthesis). Noise and smearing are not made
   up where there is no pitch to play.

The model gives the engine its complex frame (:attr:`spectrum`), so the phase the engine uses is
the model's own: with phase ``input`` the output is exactly this frame (``presets`` runs
re-synthesising models so).

File contract (docs/model-format.md): ``rtst.format = "resynth-v1"``, ``rtst.stft``, ``rtst.io``
(``{"cond_input": "cond", "params_output": "params"}``) and ``rtst.resynth`` (JSON: ``ratios``,
``n_bands``, ``style_env_db``, ``pitch_range_midi``, ``loudness_range_db``, ``harmonic``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rtst.config import StftConfig
from rtst.dsp.compiled import bound, cabs, rt_kernel
from rtst.dsp.partials import (LOBE_HALF_WIDTH, LOBE_OVERSAMPLE, add_partial, band_map, band_power, band_value,
                               lobe_table)
from rtst.dsp.pitch import (VOICED_APERIODICITY, VOICED_FLOOR_DB, PitchTracker, note_state, note_step,
                            reset_note_state)
from rtst.dsp.windows import get_window
from rtst.errors import ModelError, ParameterError
from rtst.model.base import StepModel

__all__ = ["ResynthModel", "RESYNTH_FORMAT", "TRACK_EVERY_SAMPLES", "VOICING_SMOOTHING_S"]

RESYNTH_FORMAT = "resynth-v1"
#: ``auto``: the compiled decoder where it agrees with onnxruntime, else onnxruntime;
#: ``compiled``: the compiled decoder or a ModelError; ``onnxruntime``: always it.
ENGINES = ("auto", "compiled", "onnxruntime")
#: Largest difference (dB) allowed between the compiled decoder and onnxruntime's.
PARITY_TOLERANCE_DB = 1e-3
#: The tracker estimates at least this often (samples): every hop at the default preset's 256,
#: every 4th at the low-latency preset's 64 (its per-hop cost is then a quarter on average).
TRACK_EVERY_SAMPLES = 256
#: Time constant of the voicing crossfade between re-synthesis and the filter path.
VOICING_SMOOTHING_S = 0.01
#: The running peak of the input's level (the loudness map's reference) falls this fast.
PEAK_RELEASE_DB_PER_S = 1.5
#: Gain limits of the filter path's envelope replacement.
FILTER_LIMIT_DB = 30.0
#: Highest partial drawn, as a fraction of the sample rate (partials fade out above 0.9 of it).
PARTIAL_LIMIT = 0.45
#: Length of the white-noise stream whose spectra the noise is filtered from, looped (seconds).
NOISE_LOOP_S = 3.0


def noise_frames(window: np.ndarray, hop_length: int, sample_rate: int, seconds: float = NOISE_LOOP_S,
                 seed: int = 20261208) -> np.ndarray:
    """Frame-centred spectra of a seeded white noise, frame by frame as the engine analyses a
    stream, scaled to unit mean power per bin: complex128 [n_frames, n_bins]. The stream is
    circular, so the last frame runs on into the first."""
    n_fft = window.shape[0]
    n = int(seconds * sample_rate) // hop_length * hop_length
    x = np.random.default_rng(seed).standard_normal(n)
    x = np.concatenate([x, x[:n_fft]])
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[:n:hop_length] * window
    spec = np.fft.rfft(frames, axis=1)
    spec[:, 1::2] *= -1.0                    # frame-centred phase (rtst.dsp.stft)
    return spec / np.sqrt(np.sum(window ** 2))

# float state: smoothed voicing, running peak dB, previous synthesis f0, this frame's energy,
# the transposition as a frequency ratio
# the transposition as a frequency ratio, the style's decay since the note's onset (an amplitude)
# (an amplitude); an onset this hop (1.0), the ringing note's f0 and its gain
# and the re-synthesised voice's amplitude (it releases at the style's rate, not the input's)
# and how long it has been releasing
_V, _PEAK, _F_PREV, _ENERGY, _TRANSPOSE, _DECAY, _ONSET, _RING_F0, _RING_GAIN, _AMP, _GAP = range(11)
_N_DYN = 11
#: How long the voice releases at the style's rate where the performer's voice stops: a
#: consonant's or a breath's gap is bridged (speech through a style then reads as the
#: instrument: p(speech) of the kal sentence 0.99 -> 0.09 through the cello), a rest is not (a
#: tail for all of a rest cost the cello 10 points of log-mel cut against its own release)
RELEASE_HOLD_S = 0.12
#: After the hold, the voice follows the input down with this time constant.
FAST_RELEASE_S = 0.01
#: A ringing note is dropped this far (dB) below where it started.
RING_FLOOR_DB = -60.0


@rt_kernel
def _condition(mag_in, track, cond, dyn, pitch_lo, pitch_hi, loud_lo, loud_hi, peak_release, voicing_coef,
               note, hop_s, decay_ages, decay_db, decay_slope, age_axis):
    """The decoder's input from the tracker and the frame: ``cond = [pitch MIDI, loudness dB]``.

    Loudness is the tracker's level relative to the input's running peak, placed into the
    style's range (its loudest frames at the top), so a quiet singer and a loud one both span
    the style's dynamics. Stores the frame's energy in ``dyn``. Real-time safe."""
    energy = 0.0
    for k in range(mag_in.shape[0]):
        energy += mag_in[k] * mag_in[k]
    level = track[2]
    peak = dyn[_PEAK] - peak_release
    if level > peak:
        peak = level
    if peak < VOICED_FLOOR_DB:
        peak = VOICED_FLOOR_DB
    dyn[_PEAK] = peak
    dyn[_ENERGY] = energy
    f0 = track[0] * dyn[_TRANSPOSE]
    pitch = 69.0 + 12.0 * math.log2(f0 / 440.0) if f0 > 0.0 else 0.5 * (pitch_lo + pitch_hi)
    cond[0, 0] = min(max(pitch, pitch_lo), pitch_hi)
    voiced = 1.0 if (track[1] <= VOICED_APERIODICITY and level >= VOICED_FLOOR_DB and f0 > 0.0) else 0.0
    dyn[_V] += (voiced - dyn[_V]) * voicing_coef
    # the style's own decay since the performer's last onset (a plucked string, a bell): the
    # output never rises above the input, and falls below it as the style's notes do
    dyn[_ONSET] = 1.0 if note_step(note, level, pitch, voiced > 0.5, hop_s) else 0.0
    age = note[0]
    # the decoder's second axis: loudness, or (a percussive style) the time since the onset
    second = age if age_axis else loud_hi + (level - peak)
    cond[0, 1] = min(max(second, loud_lo), loud_hi)
    n = decay_ages.shape[0]
    # past the last age measured the note keeps falling at the style's late slope (0 for a
    # sustained style), to silence
    g = max(decay_db[n - 1] + decay_slope * (age - decay_ages[n - 1]), RING_FLOOR_DB)
    if age <= decay_ages[0]:
        g = decay_db[0]
    else:
        for i in range(1, n):
            if age <= decay_ages[i]:
                t = (age - decay_ages[i - 1]) / (decay_ages[i] - decay_ages[i - 1])
                g = decay_db[i - 1] + t * (decay_db[i] - decay_db[i - 1])
                break
    drop = note[1] + g - level
    dyn[_DECAY] = 10.0 ** (drop / 20.0) if drop < 0.0 else 1.0


@rt_kernel
def _tick(count, every):
    """True on every ``every``-th call (the hops the tracker estimates on). Real-time safe."""
    due = count[0] % every == 0
    count[0] += 1
    return due


@rt_kernel
def _synthesise(spec_in, params, track, dyn, phases, ratios, table, lower, frac, style_env, band_in,
                band_weight, scratch, settings, noise, count, bank, out):
    """Build this hop's frame into ``out`` (complex128 [n_bins]).

    A percussive style's note rings on under the next (``ring_rate`` < 1, the style's late decay
    per hop): at an onset the partials of the last hop, as they sounded, go on at the previous
    f0 and fall, as a bell or a string struck again leaves the last note ringing.

    The re-synthesised voice follows the input's level up at once and, for
    :data:`RELEASE_HOLD_S`, down no faster than the style lets its notes go (its ring rate per
    hop, ``release``): a gap in the performer's voice is bridged as the style's note would ring
    through it; past the hold it follows the input down (``fast``).

    ``settings`` = [noise gain, filter gain, sample rate, hop, ring rate per hop, ring start,
    release per hop, fast release per hop]
    and ``bank`` = [last hop's partial amplitudes, the ringing note's, its phases] ([3, P]):
    packed, as a call of more than 20 arguments makes a tuple per call (the interpreter keeps
    spare tuples of up to 20 items; 25 arguments measured 192 bytes a hop). Real-time safe."""
    noise_gain = settings[0]
    filter_gain = settings[1]
    sample_rate = settings[2]
    hop = settings[3]
    ring_rate = settings[4]
    ring_start = settings[5]
    release = settings[6]
    fast = settings[7]
    n_fft = 2 * (out.shape[0] - 1)
    amp_last = bank[0]
    ring_amp = bank[1]
    ring_phase = bank[2]
    n_bins = out.shape[0]
    n_partials = ratios.shape[0]
    v = dyn[_V]
    energy_in = dyn[_ENERGY]
    f0 = track[0] * dyn[_TRANSPOSE]
    for k in range(n_bins):
        out[k] = 0.0
    prev = dyn[_AMP]
    want = v * math.sqrt(energy_in)
    if want >= prev * release:
        amp = want
        dyn[_GAP] = 0.0
    else:
        dyn[_GAP] += hop / sample_rate
        amp = max(want, prev * (release if dyn[_GAP] <= RELEASE_HOLD_S else fast))
    dyn[_AMP] = amp if amp > 1e-9 else 0.0
    df = sample_rate / n_fft
    limit = PARTIAL_LIMIT * sample_rate
    f_prev = dyn[_F_PREV] if dyn[_F_PREV] > 0.0 else f0
    dyn[_F_PREV] = f0
    if ring_rate < 1.0 and dyn[_ONSET] > 0.5 and f_prev > 0.0:
        for j in range(n_partials):
            ring_amp[j] = amp_last[j]
            ring_phase[j] = phases[j]
        dyn[_RING_F0] = f_prev
        dyn[_RING_GAIN] = ring_start
    if dyn[_AMP] > 0.0 and f0 > 0.0:
        # partials at the style's ratios, phases integrated over the hop at the mean frequency
        for j in range(n_partials):
            f = ratios[j] * f0
            fm = 0.5 * (ratios[j] * f_prev + f)
            p = phases[j] + 2.0 * math.pi * fm * hop / sample_rate
            p -= 2.0 * math.pi * math.floor(p / (2.0 * math.pi))
            phases[j] = p
            if f >= limit:
                continue
            a = 10.0 ** (params[0, j] / 20.0)
            if f > 0.9 * limit:
                a *= (limit - f) / (0.1 * limit)
            amp_last[j] = a
            add_partial(out, a, f / df, p, table, LOBE_HALF_WIDTH, LOBE_OVERSAMPLE)
        # the style's noise at this pitch and loudness: a band filter on the spectrum of a white
        # noise stream, so that overlapping frames agree (a random phase per frame and bin would
        # not, and the overlap-add would not sound as the frames asked)
        row = noise[count[0] % noise.shape[0]]
        for k in range(n_bins):
            b = lower[k]
            g = (1.0 - frac[k]) * 10.0 ** (params[0, n_partials + b] / 20.0) + \
                frac[k] * 10.0 ** (params[0, n_partials + b + 1] / 20.0)
            out[k] += row[k] * (noise_gain * g)
        e_syn = 0.0
        for k in range(n_bins):
            e_syn += out[k].real * out[k].real + out[k].imag * out[k].imag
        gain = amp * dyn[_DECAY] / math.sqrt(e_syn) if e_syn > 1e-30 else 0.0
        for k in range(n_bins):
            out[k] *= gain
        for j in range(n_partials):
            amp_last[j] *= gain
    else:
        for j in range(n_partials):   # keep the partials' phases running through the gap
            p = phases[j] + 2.0 * math.pi * ratios[j] * f_prev * hop / sample_rate
            phases[j] = p - 2.0 * math.pi * math.floor(p / (2.0 * math.pi))
            amp_last[j] *= v
    if dyn[_RING_GAIN] > 0.0:
        g = dyn[_RING_GAIN] * ring_rate
        dyn[_RING_GAIN] = g if g > 10.0 ** (RING_FLOOR_DB / 20.0) else 0.0
        fr = dyn[_RING_F0]
        for j in range(n_partials):
            f = ratios[j] * fr
            p = ring_phase[j] + 2.0 * math.pi * f * hop / sample_rate
            p -= 2.0 * math.pi * math.floor(p / (2.0 * math.pi))
            ring_phase[j] = p
            if f < limit and ring_amp[j] > 0.0:
                add_partial(out, ring_amp[j] * g, f / df, p, table, LOBE_HALF_WIDTH, LOBE_OVERSAMPLE)
    if v < 1.0 - 1e-3 and energy_in > 1e-20:
        # the filter path: the input with its band envelope replaced by the style's
        _filter_path(spec_in, energy_in, lower, frac, style_env, band_in, band_weight, scratch,
                     filter_gain * (1.0 - v), out)


@rt_kernel
def _filter_path(spec_in, energy_in, lower, frac, style_env, band_in, band_weight, scratch, weight, out):
    """Add ``weight`` times the input frame with its band envelope moved to ``style_env`` (mean
    power per bin per band, relative), at the input frame's energy. ``scratch`` [n_bins] holds
    the input's power, then each bin's gain. Real-time safe."""
    n_bins = spec_in.shape[0]
    for k in range(n_bins):
        z = spec_in[k]
        scratch[k] = z.real * z.real + z.imag * z.imag
    band_power(scratch, lower, frac, band_in, band_weight)
    lim = 10.0 ** (FILTER_LIMIT_DB / 20.0)
    e_f = 0.0
    for k in range(n_bins):   # each bin's gain, and the filtered frame's energy to scale it by
        have = band_value(band_in, lower, frac, k)
        g = math.sqrt(band_value(style_env, lower, frac, k) / have) if have > 1e-30 else 0.0
        if g > lim:
            g = lim
        e_f += g * g * scratch[k]
        scratch[k] = g
    scale = weight * math.sqrt(energy_in / e_f) if e_f > 1e-30 else 0.0
    for k in range(n_bins):
        out[k] += spec_in[k] * (scale * scratch[k])


@rt_kernel
def _decode(cond, pitch_nodes, loud_nodes, table, params):
    """The decoder graph's arithmetic (bilinear interpolation of ``table`` [Np * Nl, D] at
    ``cond``), compiled: what runs per hop once :meth:`ResynthModel.prepare` has found it equal to
    onnxruntime's. Real-time safe."""
    n_p, n_l = pitch_nodes.shape[0], loud_nodes.shape[0]
    p = min(max(np.float64(cond[0, 0]), pitch_nodes[0]), pitch_nodes[n_p - 1])
    q = min(max(np.float64(cond[0, 1]), loud_nodes[0]), loud_nodes[n_l - 1])
    for d in range(params.shape[1]):
        params[0, d] = 0.0
    step_p = pitch_nodes[1] - pitch_nodes[0] if n_p > 1 else 1.0
    step_l = loud_nodes[1] - loud_nodes[0] if n_l > 1 else 1.0
    for i in range(n_p):
        wp = 1.0 - abs(p - pitch_nodes[i]) / step_p if n_p > 1 else 1.0
        if wp <= 0.0:
            continue
        for j in range(n_l):
            wl = 1.0 - abs(q - loud_nodes[j]) / step_l if n_l > 1 else 1.0
            if wl <= 0.0:
                continue
            w = wp * wl
            row = i * n_l + j
            for d in range(params.shape[1]):
                params[0, d] += w * table[row, d]


@rt_kernel
def _align(phases_from, dyn_from, phases_to, dyn_to):
    """Give a model coming in beside a running one the running one's partial phases and f0, so
    that blending their frames adds partials in phase. Real-time safe."""
    n = min(phases_from.shape[0], phases_to.shape[0])
    for j in range(n):
        phases_to[j] = phases_from[j]
    dyn_to[_F_PREV] = dyn_from[_F_PREV]


@rt_kernel
def _magnitude(spec, mag_out):
    """``mag_out = |spec|``. Real-time safe."""
    for k in range(spec.shape[0]):
        mag_out[k] = cabs(spec[k])


def _meta_json(meta: dict, key: str, path: Path):
    try:
        return json.loads(meta[key])
    except KeyError:
        raise ModelError(f"model {str(path)!r} lacks metadata {key!r}") from None
    except ValueError as exc:
        raise ModelError(f"model {str(path)!r} has malformed {key}: {exc}") from None


class ResynthModel(StepModel):
    """A re-synthesising style model from an ONNX file (``rtst.format = "resynth-v1"``).

    Parameters
    ----------
    path : path-like
    session : onnxruntime.InferenceSession, optional
        Already made for ``path`` (the loader opened it to read the format).

    Raises
    ------
    ModelError
        The file's metadata or graph do not fit the contract.
    """

    #: The engine reads :attr:`spectrum` as the phase of this model's frame.
    synthesises = True

    def __init__(self, path, *, session=None, engine: str = "auto"):
        if engine not in ENGINES:
            raise ParameterError(f"engine={engine!r} must be one of {', '.join(ENGINES)}")
        path = Path(path)
        self.path = path
        if session is None:
            from rtst.model.session import open_session

            session = open_session(path)
        self.session = session
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get("rtst.format") != RESYNTH_FORMAT:
            raise ModelError(f"model {str(path)!r} is not a re-synthesising model (rtst.format="
                             f"{meta.get('rtst.format')!r}, expected {RESYNTH_FORMAT!r})")
        stft = _meta_json(meta, "rtst.stft", path)
        try:
            self.stft = StftConfig(**stft)
        except (TypeError, ParameterError) as exc:
            raise ModelError(f"model {str(path)!r} has invalid rtst.stft {stft}: {exc}") from None
        io = _meta_json(meta, "rtst.io", path)
        spec = _meta_json(meta, "rtst.resynth", path)
        self.name = meta.get("rtst.name", path.stem)
        self.metadata = dict(meta)
        self.resynth = spec
        try:
            self._ratios = np.asarray(spec["ratios"], dtype=np.float64)
            self._style_env = 10.0 ** (np.asarray(spec["style_env_db"], dtype=np.float64) / 10.0)
            self._pitch_lo, self._pitch_hi = (float(v) for v in spec["pitch_range_midi"])
            self._loud_lo, self._loud_hi = (float(v) for v in spec["loudness_range_db"])
            self._decay_ages = np.asarray(spec.get("decay_ages_s", [0.0, 1.0]), dtype=np.float64)
            self._decay_db = np.asarray(spec.get("decay_db", [0.0, 0.0]), dtype=np.float64)
            self._decay_slope = float(spec.get("decay_slope_db_per_s", 0.0))
            self._ring = float(spec.get("ring_db_per_s", 0.0))
            self._age_axis = spec.get("second_axis", "loudness_db") == "age_s"
            self._ring_start = 10.0 ** (float(spec.get("ring_start_db", 0.0)) / 20.0)
            n_bands = int(spec["n_bands"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {str(path)!r} has malformed rtst.resynth: {exc!r}") from None
        if self._style_env.shape != (n_bands,) or self._ratios.ndim != 1 or not np.all(self._ratios > 0):
            raise ModelError(f"model {str(path)!r}: rtst.resynth needs {n_bands} style_env_db values and positive ratios")
        self._cond_name = io.get("cond_input", "cond")
        self._params_name = io.get("params_output", "params")
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        for name, table, kind in ((self._cond_name, inputs, "input"), (self._params_name, outputs, "output")):
            if name not in table:
                raise ModelError(f"model {str(path)!r}: graph has no {kind} named {name!r} (has {sorted(table)})")
        self.n_partials = self._ratios.shape[0]
        self.n_bands = n_bands
        self._cond = np.zeros((1, 2), dtype=np.float32)                              # [1, 2]
        self._params = np.zeros((1, self.n_partials + n_bands), dtype=np.float32)    # [1, P + B]
        self._binding = session.io_binding()
        self._binding.bind_cpu_input(self._cond_name, self._cond)
        self._binding.bind_output(self._params_name, "cpu", 0, np.float32, self._params.shape,
                                  self._params.ctypes.data)
        #: What runs the decoder: "compiled" or "onnxruntime" (decided by :meth:`prepare`).
        self.engine = "onnxruntime"
        #: Why it runs on onnxruntime (None when it does not, or was told to).
        self.engine_note = None
        self._requested = engine
        self._compiled = None
        if engine != "onnxruntime":
            self._compiled = self._compiled_tables(path)
        #: Semitones the re-synthesis plays away from the performer (DDSP's octave shift).
        self.transpose_semitones = float(spec.get("transpose_semitones", 0.0))
        self._noise_gain = 1.0
        self._ring_on = True
        self._filter_gain = float(spec.get("filter_gain", 1.0))
        self._prepared_bins = None

    def _compiled_tables(self, path):
        """The decoder's grid and table from the file's initialisers, or None (and why)."""
        from rtst.model.onnx_weights import read_initializers

        try:
            init = read_initializers(path)
            tables = (np.ascontiguousarray(init["pitch_nodes"].ravel(), dtype=np.float64),
                      np.ascontiguousarray(init["loudness_nodes"].ravel(), dtype=np.float64),
                      np.ascontiguousarray(init["table"], dtype=np.float64))
        except (KeyError, ModelError) as exc:
            if self._requested == "compiled":
                raise ModelError(f"model {str(path)!r} cannot run compiled: {exc}") from None
            self.engine_note = f"no compiled decoder: {exc}"
            return None
        if tables[2].shape != (tables[0].size * tables[1].size, self._params.shape[1]):
            self.engine_note = "no compiled decoder: the table does not fit the grid"
            return None
        return tables

    def parity_error_db(self, cond: np.ndarray | None = None) -> float:
        """Largest difference (dB) between the compiled decoder and onnxruntime over ``cond``
        (float32 [n, 2]; default: a grid over and beyond the style's range)."""
        if self._compiled is None:
            raise ModelError(f"model {self.name!r} has no compiled decoder ({self.engine_note})")
        if cond is None:
            p = np.linspace(self._pitch_lo - 12, self._pitch_hi + 12, 23)
            q = np.linspace(self._loud_lo - 20, self._loud_hi + 10, 11)
            cond = np.stack(np.meshgrid(p, q), axis=-1).reshape(-1, 2).astype(np.float32)
        out = np.zeros_like(self._params)
        worst = 0.0
        for row in cond:
            self._cond[0] = row
            self.session.run_with_iobinding(self._binding)
            _decode(self._cond, *self._compiled, out)
            worst = max(worst, float(np.abs(out - self._params).max()))
        return worst

    # ------------------------------------------------------------------ engine hooks
    def bind(self, waveform: np.ndarray, spec_in: np.ndarray) -> None:
        """The engine's newest input frame (float64 [n_fft], its last hop new each call) and
        its spectrum (complex128 [n_bins]), read at each :meth:`process`."""
        self._waveform = waveform
        self._spec_in = spec_in

    @property
    def noise_gain(self) -> float:
        """The noise relative to the style's own (1: as measured). Lock-free: one float written."""
        return self._noise_gain

    @noise_gain.setter
    def noise_gain(self, gain: float) -> None:
        self._noise_gain = float(gain)
        if self._prepared_bins is not None:
            self._settings[0] = self._noise_gain

    @property
    def filter_gain(self) -> float:
        """Level of the filter path where the input has no single pitch (1: the input's level)."""
        return self._filter_gain

    @filter_gain.setter
    def filter_gain(self, gain: float) -> None:
        self._filter_gain = float(gain)
        if self._prepared_bins is not None:
            self._settings[1] = self._filter_gain

    def align_to(self, running: "ResynthModel") -> None:
        """Start from ``running``'s partial phases (a swap or a morph between two styles: their
        partials at the same pitch then add in phase). Real-time safe: one compiled call."""
        self._align_step(running._phases, running._dyn, self._phases, self._dyn)

    def _release(self) -> float:
        """The voice's fall per hop where the input stops: the style's ring rate, or at once."""
        return 10.0 ** (self._ring * self._hop_s / 20.0) if (self._ring < 0.0 and self._ring_on) else 0.0

    @property
    def ring_over(self) -> bool:
        """Whether a note rings on under the next and after the performer stops, as the style's
        clip showed (False: the style does not ring, or it was switched off; the voice then
        follows the input's level down at once). Lock-free: floats written."""
        return self._ring < 0.0 and self._ring_on

    @ring_over.setter
    def ring_over(self, on: bool) -> None:
        self._ring_on = bool(on)
        if self._prepared_bins is not None:
            self._settings[4] = 10.0 ** (self._ring * self._hop_s / 20.0) if self._ring_on else 1.0
            self._settings[6] = self._release()

    @property
    def voicing(self) -> float:
        """The smoothed voicing of the last hop: 1 re-synthesised, 0 the filter path."""
        return float(self._dyn[_V]) if self._prepared_bins is not None else 0.0

    def set_transpose(self, semitones: float) -> None:
        """Play ``semitones`` away from the performer (-36 .. 36). Lock-free: one float written."""
        if isinstance(semitones, bool) or not isinstance(semitones, (int, float)) or not -36 <= semitones <= 36:
            raise ParameterError(f"transpose={semitones!r} must be a number of semitones from -36 to 36")
        self.transpose_semitones = float(semitones)
        if self._prepared_bins is not None:
            self._dyn[_TRANSPOSE] = 2.0 ** (self.transpose_semitones / 12.0)

    def prepare(self, n_bins: int) -> None:
        """Build the tracker, tables and kernels, check the compiled decoder against onnxruntime,
        run test steps, reset. Done once: a model prepared before (a performer switching back to
        it) is only reset. The test steps run on buffers of the model's own, never on the
        engine's input frame it is bound to (a swap prepares a model while the engine runs)."""
        if n_bins != self.stft.n_bins:
            raise ModelError(f"model {self.name!r} expects {self.stft.n_bins} bins, engine gives {n_bins}")
        if self._prepared_bins == n_bins:
            self.reset()
            return
        stft = self.stft
        bound_to = (getattr(self, "_waveform", None), getattr(self, "_spec_in", None))
        self.bind(np.zeros(stft.n_fft), np.zeros(n_bins, dtype=np.complex128))
        self._tracker = PitchTracker(stft.sample_rate)
        self._tracker.prepare()
        self._every = max(1, TRACK_EVERY_SAMPLES // stft.hop_length)
        self._count = np.zeros(1, dtype=np.int64)
        self._table = lobe_table(get_window(stft.window, stft.n_fft))
        self._lower, self._frac = band_map(stft.sample_rate, stft.n_fft, self.n_bands)
        self._band_in = np.zeros(self.n_bands)
        self._band_weight = np.zeros(self.n_bands)
        self._bin_scratch = np.zeros(n_bins)
        self._phases = np.zeros(self.n_partials)
        self._dyn = np.zeros(_N_DYN)
        self._noise = noise_frames(get_window(stft.window, stft.n_fft), stft.hop_length, stft.sample_rate)
        #: The frame this model made at the last :meth:`process` (complex128 [n_bins]).
        self.spectrum = np.zeros(n_bins, dtype=np.complex128)
        hop = stft.hop_length
        self._n_fft, self._hop = stft.n_fft, hop
        self._new_at = stft.n_fft - hop
        self._voicing_coef = 1.0 - math.exp(-hop / (VOICING_SMOOTHING_S * stft.sample_rate))
        self._peak_release = PEAK_RELEASE_DB_PER_S * hop / stft.sample_rate
        mag = np.zeros(n_bins)
        self._hop_s = hop / stft.sample_rate
        self._note = note_state(self._hop_s)
        self._cond_step = bound(_condition, mag, self._tracker.state, self._cond, self._dyn, 1.0, 1.0, 1.0, 1.0,
                                1.0, 1.0, self._note, 1.0, self._decay_ages, self._decay_db, 1.0, True)
        self._bank = np.zeros((3, self.n_partials))   # [last amplitudes, ringing amplitudes, phases]
        self._settings = np.array([self._noise_gain, self._filter_gain, float(stft.sample_rate), float(hop),
                                   10.0 ** (self._ring * self._hop_s / 20.0) if self._ring_on else 1.0,
                                   self._ring_start, self._release(),
                                   math.exp(-hop / (FAST_RELEASE_S * stft.sample_rate))])
        self._tick = bound(_tick, self._count, 1)
        self._synth_step = bound(_synthesise, self._spec_in, self._params, self._tracker.state, self._dyn,
                                 self._phases,
                                 self._ratios, self._table, self._lower, self._frac, self._style_env,
                                 self._band_in, self._band_weight, self._bin_scratch, self._settings, self._noise,
                                 self._count, self._bank, self.spectrum)
        self._mag_step = bound(_magnitude, self.spectrum, mag)
        self._align_step = bound(_align, self._phases, self._dyn, self._phases, self._dyn)
        if self._compiled is not None and self.engine != "compiled":
            err = self.parity_error_db()
            if err <= PARITY_TOLERANCE_DB:
                self.engine = "compiled"
                self._decode_step = bound(_decode, self._cond, *self._compiled, self._params)
                self._pitch_nodes_c, self._loud_nodes_c, self._table_c = self._compiled
            elif self._requested == "compiled":
                raise ModelError(f"model {self.name!r}: the compiled decoder differs from onnxruntime by {err:.2g} dB "
                                 f"(tolerance {PARITY_TOLERANCE_DB:g})")
            else:
                self.engine_note = f"the compiled decoder differed from onnxruntime by {err:.2g} dB"
                self._compiled = None
        self._prepared_bins = n_bins
        rng = np.random.default_rng(0)
        out = np.zeros(n_bins)
        try:
            for _ in range(3):
                self._waveform[:] = rng.standard_normal(stft.n_fft) * 0.1
                self.process(np.abs(rng.standard_normal(n_bins)), out)
        except Exception as exc:
            raise ModelError(f"model {self.name!r} failed a test step: {str(exc).splitlines()[0]}") from None
        if bound_to[0] is not None:
            self.bind(*bound_to)
        self.reset()

    def process(self, mag_in, mag_out):
        """Real-time safe: the tracker, the decoder (compiled, or onnxruntime on bound arrays)
        and the synthesis, each one compiled call."""
        hop = self._hop
        # the frame's newest hop starts at n_fft - hop: kept, as a Python int above 256 is made anew
        self._tracker.push_hop(self._waveform, self._new_at, hop, self._tick(self._count, self._every))
        self._cond_step(mag_in, self._tracker.state, self._cond, self._dyn, self._pitch_lo, self._pitch_hi,
                        self._loud_lo, self._loud_hi, self._peak_release, self._voicing_coef, self._note, self._hop_s,
                        self._decay_ages, self._decay_db, self._decay_slope, self._age_axis)
        if self.engine == "compiled":
            self._decode_step(self._cond, self._pitch_nodes_c, self._loud_nodes_c, self._table_c, self._params)
        else:
            self.session.run_with_iobinding(self._binding)
        self._synth_step(self._spec_in, self._params, self._tracker.state, self._dyn, self._phases, self._ratios,
                         self._table, self._lower, self._frac, self._style_env, self._band_in, self._band_weight,
                         self._bin_scratch, self._settings, self._noise, self._count, self._bank, self.spectrum)
        self._mag_step(self.spectrum, mag_out)

    def reset(self) -> None:
        if self._prepared_bins is None:
            return
        self._tracker.reset()
        self._count[:] = 0
        # Schroeder's phases: partials that start together in phase add to a pulse train (a
        # buzz, and peaks far above the frame's energy); these keep the crest factor low, and
        # the hop-to-hop advance at each partial's frequency keeps them so
        j = np.arange(self.n_partials)
        self._phases[:] = np.pi * j * (j + 1) / self.n_partials
        self._dyn[:] = 0.0
        self._dyn[_PEAK] = VOICED_FLOOR_DB
        self._dyn[_TRANSPOSE] = 2.0 ** (self.transpose_semitones / 12.0)
        self._dyn[_DECAY] = 1.0
        reset_note_state(self._note, self._hop_s)
        self._bank[:] = 0.0
        self.spectrum[:] = 0.0

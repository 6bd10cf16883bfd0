"""Real-time f0 and voicing: YIN on a decimated history of the input, one estimate per hop.

The engine's analysis frame is too short to hold two periods of a low voice at the low-latency
preset (256 samples at 48 kHz: 5.3 ms, one period of 187 Hz), so the tracker keeps its own
history of the input, decimated to about 12 kHz (a windowed-sinc low-pass, then every
``decimation``-th sample), and runs YIN (de Cheveigné & Kawahara 2002: the cumulative-mean
normalised difference function, its first dip under a threshold, parabolic interpolation) over the
newest ``window`` samples against lags up to one period of ``fmin_hz``. The history ends at the
newest input sample, so the estimate adds no latency to the effect: it describes the last
``window + lag`` samples, as the STFT frame describes the last ``n_fft``.

Per hop the tracker reports ``f0_hz`` (the last voiced estimate is held through unvoiced hops, so
partials being faded out stay where they were), ``aperiodicity`` (YIN's normalised difference at
the chosen lag: 0 for a perfectly periodic signal, about 1 for noise) and ``level_db`` (the
window's RMS in dB full scale). :func:`track` runs the same kernels over a whole signal, for the
style analysis and the tests.
"""

from __future__ import annotations

import math

import numpy as np

from rtst.dsp.compiled import bound, rt_kernel
from rtst.errors import ParameterError

__all__ = ["PitchTracker", "track", "TRACK_RATE_HZ", "FMIN_HZ", "FMAX_HZ", "VOICED_APERIODICITY"]

#: Rate the history is decimated to (about; the factor is an integer).
TRACK_RATE_HZ = 12000.0
#: Search range: A1 (a cello's C2 and a bass voice sit above it) to G6.
FMIN_HZ = 55.0
FMAX_HZ = 1600.0
#: YIN's absolute threshold: the first lag whose normalised difference falls below it wins.
YIN_THRESHOLD = 0.15
#: A frame is voiced when its aperiodicity is at most this (speech vowels measure 0.02-0.15,
#: fricatives and noise 0.5-1).
VOICED_APERIODICITY = 0.3
#: ... and its level at least this (dB full scale): hum and reverb tails are not a melody.
VOICED_FLOOR_DB = -60.0
# slots of the float state: the held f0, the last aperiodicity, the last level
_F0, _APER, _LEVEL = 0, 1, 2
# slots of the int state: FIR history position, decimation phase, decimated samples written
_HPOS, _PHASE, _WRITTEN = 0, 1, 2


def _lowpass(decimation: int) -> np.ndarray:
    """Windowed-sinc anti-alias filter for decimating by ``decimation``, float64 [8 d + 1], unit DC gain."""
    taps = 8 * decimation + 1
    n = np.arange(taps) - (taps - 1) / 2
    cutoff = 0.9 / decimation            # of the input's Nyquist: 5.4 kHz at 48 kHz / 4
    h = np.sinc(cutoff * n) * np.hanning(taps + 2)[1:-1]
    return h / h.sum()


@rt_kernel(fastmath=True)
def _yin(dec, start, window, tau_min, tau_max, diff, cmnd):
    """YIN over ``dec[start : start + window + tau_max]`` (oldest first): the newest ``window``
    samples against the same ``window`` samples ``tau`` earlier. Returns (lag, aperiodicity),
    the lag interpolated. Real-time safe."""
    end = start + window + tau_max
    running = 0.0
    cmnd[0] = 1.0
    for tau in range(1, tau_max + 1):
        s = 0.0
        for j in range(end - window, end):
            d = dec[j] - dec[j - tau]
            s += d * d
        diff[tau] = s
        running += s
        cmnd[tau] = s * tau / running if running > 0.0 else 1.0
    best = -1
    tau = tau_min
    while tau <= tau_max:
        if cmnd[tau] < YIN_THRESHOLD:
            while tau + 1 <= tau_max and cmnd[tau + 1] < cmnd[tau]:
                tau += 1
            best = tau
            break
        tau += 1
    if best < 0:  # no dip under the threshold: the global minimum (its value says "unvoiced")
        best = tau_min
        for t in range(tau_min, tau_max + 1):
            if cmnd[t] < cmnd[best]:
                best = t
    lag = float(best)
    if tau_min < best < tau_max:  # parabola through the raw difference around the minimum
        a, b, c = diff[best - 1], diff[best], diff[best + 1]
        den = a - 2.0 * b + c
        if den > 0.0:
            lag += 0.5 * (a - c) / den
    return lag, cmnd[best]


@rt_kernel(fastmath=True)
def track_samples(x, start, count, fir, hist, dec, istate, fstate, diff, cmnd, decimation, window, tau_min,
                  tau_max, track_rate, estimate):
    """Push ``x[start:start+count]`` into the history, then (if ``estimate``) estimate f0 over
    its newest part.

    ``hist`` [2 taps] and ``dec`` [2 n] are rings written twice (at ``i`` and ``i + size``) so
    the newest ``size`` samples are always one contiguous slice. Writes ``fstate`` [f0_hz,
    aperiodicity, level_db]. Real-time safe.
    """
    taps = fir.shape[0]
    n = dec.shape[0] // 2
    hpos = istate[_HPOS]
    phase = istate[_PHASE]
    written = istate[_WRITTEN]
    for i in range(count):
        v = x[start + i]
        hist[hpos] = v
        hist[hpos + taps] = v
        hpos += 1
        if hpos == taps:
            hpos = 0
        phase += 1
        if phase == decimation:
            phase = 0
            y = 0.0
            for j in range(taps):        # hist[hpos : hpos + taps] is oldest .. newest
                y += fir[j] * hist[hpos + j]
            w = written % n
            dec[w] = y
            dec[w + n] = y
            written += 1
    istate[_HPOS] = hpos
    istate[_PHASE] = phase
    istate[_WRITTEN] = written
    s = written % n                      # dec[s : s + n] is oldest .. newest
    energy = 0.0
    for j in range(s + n - window, s + n):
        energy += dec[j] * dec[j]
    level = 10.0 * math.log10(energy / window + 1e-20)
    fstate[_LEVEL] = level
    if written < n:
        fstate[_APER] = 1.0
        return
    if not estimate:
        return
    lag, aper = _yin(dec, s + n - window - tau_max, window, tau_min, tau_max, diff, cmnd)
    fstate[_APER] = aper
    if aper <= VOICED_APERIODICITY and level >= VOICED_FLOOR_DB:
        fstate[_F0] = track_rate / lag


class PitchTracker:
    """Streaming f0, aperiodicity and level of an input, updated per hop.

    Parameters
    ----------
    sample_rate : int
        Of the input, Hz.
    fmin_hz, fmax_hz : float
        Search range of f0.

    Attributes
    ----------
    state : np.ndarray, float64 [3]
        After each :meth:`push`: f0 (Hz, the last voiced estimate held; 0 before any),
        aperiodicity (0 periodic .. ~1 noise) and level (dB full scale).
    """

    def __init__(self, sample_rate: int, *, fmin_hz: float = FMIN_HZ, fmax_hz: float = FMAX_HZ):
        if not (0.0 < fmin_hz < fmax_hz < sample_rate / 4):
            raise ParameterError(f"need 0 < fmin_hz < fmax_hz < sample_rate / 4, got {fmin_hz!r}, {fmax_hz!r}")
        self.sample_rate = int(sample_rate)
        self.decimation = max(1, int(round(sample_rate / TRACK_RATE_HZ)))
        self.track_rate = sample_rate / self.decimation
        self.tau_min = max(2, int(math.floor(self.track_rate / fmax_hz)))
        self.tau_max = int(math.ceil(self.track_rate / fmin_hz))
        self.window = self.tau_max                           # one period of fmin: 18 ms at 55 Hz
        self._fir = _lowpass(self.decimation)
        self._hist = np.zeros(2 * self._fir.shape[0])
        self._dec = np.zeros(2 * (self.window + self.tau_max + 1))
        self._istate = np.zeros(3, dtype=np.int64)
        self.state = np.zeros(3)
        self._diff = np.zeros(self.tau_max + 2)
        self._cmnd = np.zeros(self.tau_max + 2)
        self._entry = {}
        self.reset()

    @property
    def history_samples(self) -> int:
        """Input samples the estimate looks back over."""
        return (self.window + self.tau_max) * self.decimation + self._fir.shape[0] // 2

    def _bound(self, x: np.ndarray):
        key = x.dtype.str
        if key not in self._entry:
            self._entry[key] = bound(track_samples, x, 0, 0, self._fir, self._hist, self._dec, self._istate,
                                     self.state, self._diff, self._cmnd, 1, 1, 1, 1, 1.0, True)
        return self._entry[key]

    def prepare(self, dtype=np.float64) -> None:
        """Compile the entry point for float64 input (off the audio thread)."""
        self._hop_entry = self._bound(np.zeros(1, dtype=dtype))

    def push_hop(self, x: np.ndarray, start: int, count: int, estimate: bool) -> None:
        """:meth:`push` for float64 ``x`` through the entry point :meth:`prepare` compiled: no
        look-up on the way (the audio thread's call). Real-time safe."""
        self._hop_entry(x, start, count, self._fir, self._hist, self._dec, self._istate, self.state, self._diff,
                        self._cmnd, self.decimation, self.window, self.tau_min, self.tau_max, self.track_rate,
                        estimate)

    def push(self, x: np.ndarray, start: int = 0, count: int | None = None, estimate: bool = True) -> None:
        """Add ``x[start:start+count]`` (float64, C-contiguous) and update :attr:`state` (f0 and
        aperiodicity only if ``estimate``: at small hops the engine estimates every few hops).

        Real-time safe once :meth:`prepare` ran: one compiled call."""
        if count is None:
            count = x.shape[0] - start
        self._bound(x)(x, start, count, self._fir, self._hist, self._dec, self._istate, self.state, self._diff,
                       self._cmnd, self.decimation, self.window, self.tau_min, self.tau_max, self.track_rate,
                       estimate)

    def reset(self) -> None:
        self._hist[:] = 0.0
        self._dec[:] = 0.0
        self._istate[:] = 0
        self.state[:] = (0.0, 1.0, -200.0)


def track(signal, sample_rate: int, hop_length: int, **options) -> dict:
    """Run the streaming tracker over a whole signal, one estimate per hop.

    Estimate ``m`` (m >= 1) is the one made when sample ``m * hop_length - 1`` has arrived: the
    time of the engine's frame ``m`` (:mod:`rtst.dsp.stft`).

    Parameters
    ----------
    signal : array_like, float [n_samples]
    sample_rate : int
    hop_length : int
    **options
        ``fmin_hz``, ``fmax_hz`` of :class:`PitchTracker`.

    Returns
    -------
    result : dict
        ``f0_hz``, ``aperiodicity``, ``level_db`` (float64 [n_frames], frame 0 first at
        ``hop_length`` samples) and ``voiced`` (bool [n_frames]: aperiodicity at most
        :data:`VOICED_APERIODICITY` and level at least the floor).
    """
    x = np.ascontiguousarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"signal must be mono [n_samples], got shape {x.shape}")
    tracker = PitchTracker(sample_rate, **options)
    n = x.shape[0] // hop_length
    out = np.zeros((n, 3))
    for m in range(n):
        tracker.push(x, m * hop_length, hop_length)
        out[m] = tracker.state
    voiced = (out[:, _APER] <= VOICED_APERIODICITY) & (out[:, _LEVEL] >= VOICED_FLOOR_DB)
    return {"f0_hz": out[:, _F0], "aperiodicity": out[:, _APER], "level_db": out[:, _LEVEL], "voiced": voiced}


#: A note starts where the level rises this much over the last :data:`ONSET_WINDOW_S` ...
ONSET_RISE_DB = 6.0
ONSET_WINDOW_S = 0.02
#: ... or, voiced, where the pitch steps at least this far (semitones) in a hop (a legato note change).
ONSET_STEP_SEMITONES = 0.8
#: No second onset within this time of one.
ONSET_REFRACTORY_S = 0.08
#: Slots of a note state (float64 [NOTE_STATE_SIZE]): time since the note's onset, its peak
#: level, the previous voiced pitch, then a ring of recent levels (index, length, levels).
_AGE, _NPEAK, _NPITCH, _RING_AT, _RING_N = 0, 1, 2, 3, 4
_RING = 5
RING_MAX = 16
NOTE_STATE_SIZE = _RING + RING_MAX


def note_state(hop_s: float) -> np.ndarray:
    """A fresh note state for hops of ``hop_s`` seconds (see :func:`note_step`)."""
    state = np.zeros(NOTE_STATE_SIZE)
    reset_note_state(state, hop_s)
    return state


def reset_note_state(state: np.ndarray, hop_s: float) -> None:
    state[:] = 0.0
    state[_AGE] = 1e3
    state[_NPEAK] = -200.0
    state[_RING_N] = min(RING_MAX, max(1, int(round(ONSET_WINDOW_S / hop_s))))
    state[_RING:] = -200.0


@rt_kernel
def note_step(state, level_db, pitch, voiced, hop_s):
    """Advance the note state by one hop of the tracker's ``level_db``, ``pitch`` (MIDI) and
    ``voiced``; returns True on an onset. The same rule runs on a style clip (its notes' decay)
    and on the performer (where the style's decay starts again). Real-time safe."""
    n = int(state[_RING_N])
    low = state[_RING]
    for i in range(1, n):
        low = min(low, state[_RING + i])
    at = int(state[_RING_AT])
    state[_RING + at] = level_db
    state[_RING_AT] = (at + 1) % n
    onset = False
    if state[_AGE] >= ONSET_REFRACTORY_S and level_db >= VOICED_FLOOR_DB:
        if level_db - low >= ONSET_RISE_DB:
            onset = True
        elif voiced and state[_NPITCH] > 0.0 and abs(pitch - state[_NPITCH]) >= ONSET_STEP_SEMITONES:
            onset = True
    if voiced:
        state[_NPITCH] = pitch
    if onset:
        state[_AGE] = 0.0
        state[_NPEAK] = level_db
    else:
        state[_AGE] += hop_s
        if level_db > state[_NPEAK]:
            state[_NPEAK] = level_db
    return onset

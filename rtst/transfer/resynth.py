"""A style clip measured as the re-synthesising model plays it, and written as a model file.

:func:`fit_style` tracks the clip with the engine's own tracker (:mod:`rtst.dsp.pitch`) and, on
its voiced frames, measures with a long window (4096 samples at 48 kHz, 11.7 Hz bins, enough to
separate the partials of a low cello):

* the style's **partial ratios**: integers when the clip's energy sits on the harmonics of its f0
  (a bowed string, a wind, an organ pipe, a voice); otherwise the peaks of its spectrum on a
  ratio-to-f0 axis pooled over frames (a bell's hum, prime, tierce, ...);
* each partial's **amplitude** and the **noise** between the partials per band, relative to the
  frame's RMS, as functions of pitch and loudness: tables over a pitch grid (2 semitones) and
  three loudness levels, each cell the hat-weighted mean of the frames near it (in dB), cells
  without frames filled from the nearest with;
* the style's **average band envelope** over all its sound (the filter path's target).

:func:`write_model` stores the tables as the initialiser of an ONNX decoder graph (bilinear
interpolation over the grid, a matrix product: ``cond [1, 2] -> params [1, P + B]``) with the
``resynth-v1`` metadata (:mod:`rtst.model.resynth`). Needs the ``onnx`` package (train extra).
"""

from __future__ import annotations

import json

import numpy as np

from rtst.config import StftConfig
from rtst.dsp.partials import N_BANDS, band_map, band_power
from rtst.dsp.pitch import note_state, note_step, track
from rtst.dsp.windows import get_window
from rtst.errors import ParameterError

__all__ = ["fit_style", "write_model", "N_PARTIALS", "ANALYSIS_N_FFT", "PITCH_STEP", "N_LOUDNESS"]

#: Partials a harmonic style draws (most are above the limit for high notes and are skipped).
N_PARTIALS = 96
#: Long analysis window at 48 kHz (scaled with the rate).
ANALYSIS_N_FFT = 4096
#: Pitch grid step of the tables (semitones) and loudness levels.
PITCH_STEP = 2.0
N_LOUDNESS = 3
#: A clip whose partial power lies this much on integer ratios is harmonic.
HARMONIC_SHARE = 0.5
#: Floor of the tables (dB relative to the frame's RMS): a partial that is not there.
FLOOR_DB = -100.0
_ANALYSIS_HOP = 256
#: The quantile of the bins between partials that the noise is read from (an exponential's
#: q-quantile is -ln(1 - q) times its mean). The median read a choir's chorused partials'
#: skirts as noise (a noise blob 10 dB over the reference's at 0-1 kHz); the 20th percentile of
#: bins that are noise reads the same mean, and skirts lift it far less.
NOISE_QUANTILE = 0.2
#: Where the style's note decay is measured (seconds since an onset).
DECAY_AGES_S = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0)
#: A style whose notes fall further than this in their first second is percussive (plucked,
#: struck: measured -14 dB for tubular bells, -20 dB for a nylon guitar) and plays its decay; a
#: sustained instrument's few dB of swell and fall (cello -3.8, organ -3.5, choir -5 dB) are its
#: player's, so the performer's own level is kept.
PERCUSSIVE_DB = -10.0
#: A percussive style's tables run over the time since the note's onset instead of loudness.
AGE_NODES_S = (0.0, 0.3, 0.6, 0.9)
#: The slowest late decay a percussive note is given (dB per second).
RING_MIN_DB_PER_S = -6.0
#: A previous note that dies faster than this under the next does not ring on (dB per second).
RING_FASTEST_DB_PER_S = -80.0


def _hats(values: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Linear-interpolation weights of ``values`` [n] on the evenly spaced ``nodes`` [N] (clamped
    to their range): float64 [n, N], each row summing to 1. The tables are built and read (the
    decoder graph, :func:`decode`) with these."""
    if nodes.shape[0] == 1:
        return np.ones((values.shape[0], 1))
    v = np.clip(values, nodes[0], nodes[-1])
    return np.maximum(0.0, 1.0 - np.abs(v[:, None] - nodes[None, :]) / (nodes[1] - nodes[0]))


def onset_frames(track_result: dict, sample_rate: int, hop_length: int) -> list[int]:
    """The frames where the engine's onset rule (:func:`rtst.dsp.pitch.note_step`) starts a note."""
    hop_s = hop_length / sample_rate
    state = note_state(hop_s)
    level, f0, voiced = track_result["level_db"], track_result["f0_hz"], track_result["voiced"]
    out = []
    for m in range(level.shape[0]):
        pitch = 69 + 12 * np.log2(f0[m] / 440.0) if f0[m] > 0 else 0.0
        if note_step(state, float(level[m]), float(pitch), bool(voiced[m]), hop_s):
            out.append(m)
    return out


def ring_over(mags: dict, f0: np.ndarray, onsets: list[int], ratios: np.ndarray, df: float,
              hop_s: float) -> tuple[float, float]:
    """How a note dies under the next: ``(rate, start)``, its fall in dB per second and where the
    fall starts, dB below the note before the onset (medians over the clip's note changes), or
    ``(0, 0)`` where it does not ring on (faster than :data:`RING_FASTEST_DB_PER_S`). A
    reverberant hall's tail starts well below the note (the note itself stops); a bell's ring
    starts at it.

    At each onset between two pitches a semitone or more apart, the power at the previous note's
    first 12 partials (those 2.5 or more long-window bins from the new note's first 12) is
    followed over the next 0.3 s, relative to just before the onset; its slope is fitted over the
    frames within 40 dB. A bell or a piano string rings on; a damped guitar note, a voice or a dry
    organ pipe stops; a hall's reverberation shows as a ring too.
    """
    slopes, starts = [], []
    span = int(round(0.3 / hop_s))
    for m0 in onsets:
        if m0 - 2 not in mags or m0 + span not in mags:
            continue
        p, q = f0[m0 - 2], f0[min(m0 + 3, f0.shape[0] - 1)]
        if p <= 0 or q <= 0 or abs(12 * np.log2(p / q)) < 1.0:
            continue
        n_bins = mags[m0].shape[0]
        new = np.array([r * q / df for r in ratios[:12] if r * q / df < n_bins - 4])
        bins = [int(round(r * p / df)) for r in ratios[:12] if r * p / df < n_bins - 4]
        bins = [b for b in bins if new.size == 0 or np.min(np.abs(new - b)) >= 2.5]
        if len(bins) < 3:
            continue
        idx = np.array(bins)
        before = sum(float(np.sum(mags[m0 - 2][i - 1:i + 2] ** 2)) for i in idx)
        if before <= 0:
            continue
        curve = np.array([sum(float(np.sum(mags[m0 + k][i - 1:i + 2] ** 2)) for i in idx) for k in range(span)])
        db = 10 * np.log10(np.maximum(curve, 1e-30) / before)
        use = db > -40.0
        if use.sum() < 4:
            slopes.append(-1000.0)
            starts.append(-100.0)
            continue
        t = np.arange(span)[use] * hop_s
        slope, start = np.polyfit(t, db[use], 1)
        slopes.append(float(slope))
        starts.append(min(0.0, float(start)))
    if not slopes:
        return 0.0, 0.0
    rate = float(np.median(slopes))
    return (rate, float(np.median(starts))) if rate > RING_FASTEST_DB_PER_S else (0.0, 0.0)


def note_decay(track_result: dict, sample_rate: int, hop_length: int) -> np.ndarray:
    """The style's level since its notes' onsets, dB below each note's peak so far, at
    :data:`DECAY_AGES_S` (median over the clip's sounding frames; never rising): 0 throughout
    for a sustained instrument, falling for a plucked string or a bell."""
    hop_s = hop_length / sample_rate
    state = note_state(hop_s)
    level, f0, voiced = track_result["level_db"], track_result["f0_hz"], track_result["voiced"]
    loud = level >= level.max() - 50.0
    ages, rel, notes, count = [], [], [], 0
    for m in range(level.shape[0]):
        pitch = 69 + 12 * np.log2(f0[m] / 440.0) if f0[m] > 0 else 0.0
        count += note_step(state, float(level[m]), float(pitch), bool(voiced[m]), hop_s)
        if loud[m] and state[0] < 100.0:
            ages.append(state[0])
            rel.append(level[m] - state[1])
            notes.append(count)
    ages, rel, notes = np.asarray(ages), np.asarray(rel), np.asarray(notes)
    nodes = np.asarray(DECAY_AGES_S)
    edges = np.concatenate([[-1.0], 0.5 * (nodes[1:] + nodes[:-1]), [1e9]])
    out = np.zeros(nodes.shape[0])
    last = 0.0
    for i in range(nodes.shape[0]):
        sel = (ages > edges[i]) & (ages <= edges[i + 1])
        # an age that only a few notes reach (the last note's release) says nothing of the rest
        value = float(np.median(rel[sel])) if len(set(notes[sel])) >= 3 else last
        last = min(last, value)
        out[i] = last
    return out


def _ratio_profile(mag, f0, df, grid):
    """|X| (power) of one frame sampled at ``grid * f0``, float64 [len(grid)]."""
    pos = grid * f0 / df
    return np.interp(pos, np.arange(mag.shape[0]), mag ** 2, right=0.0)


def _inharmonic_ratios(profile, grid, n_max):
    """The strongest local maxima of the pooled ratio profile, at least 3 % apart, ascending."""
    db = 10.0 * np.log10(profile + 1e-30)
    peaks = np.flatnonzero((db[1:-1] > db[:-2]) & (db[1:-1] >= db[2:])) + 1
    peaks = peaks[db[peaks] > db.max() - 45.0]
    chosen = []
    for i in peaks[np.argsort(db[peaks])[::-1]]:
        if all(abs(grid[i] - grid[j]) >= 0.03 * grid[j] for j in chosen):
            chosen.append(i)
        if len(chosen) == n_max:
            break
    return np.sort(grid[np.array(chosen, dtype=int)])


def fit_style(signal, sample_rate: int, stft: StftConfig, *, n_partials: int = N_PARTIALS, f0_hz=None) -> dict:
    """Measure a style clip for the re-synthesising model at ``stft``.

    Parameters
    ----------
    signal : np.ndarray, float [n_samples]
        Mono, at ``sample_rate`` (= ``stft.sample_rate``).
    sample_rate : int
    stft : StftConfig
        The engine's STFT the model will run at (the noise is measured in its units).
    f0_hz : np.ndarray, float [n_frames], optional
        The clip's pitch where it is known (a rendered score), one value per 256-sample hop
        (:func:`score_f0`), 0 where no note sounds: the reference the partial ratios are measured
        against instead of the tracker's estimate. A bell's tracked f0 lands on one of its
        partials, a different one note to note (measured on the tubular bells clip: 0.57, 1.0,
        0.19 or 1.3 times the note), which would blur its series.

    Returns
    -------
    fit : dict
        ``ratios`` [P], ``harmonic`` (bool), ``pitch_nodes`` [Np] (MIDI), ``loudness_nodes`` [Nl]
        (dB), ``partials_db`` [Np, Nl, P], ``noise_db`` [Np, Nl, B], ``style_env_db`` [B],
        ``voiced_share``, ``frames``.

    Raises
    ------
    ParameterError
        The clip has too few voiced frames to say how its partials answer a pitch.
    """
    if sample_rate != stft.sample_rate:
        raise ParameterError(f"sample_rate={sample_rate} must be the model's {stft.sample_rate}")
    x = np.asarray(signal, dtype=np.float64)
    n_long = int(ANALYSIS_N_FFT * sample_rate / 48000)
    n_long = 1 << int(round(np.log2(n_long)))
    hop = _ANALYSIS_HOP
    tr = track(x, sample_rate, hop)
    if f0_hz is not None:
        hint = np.zeros(tr["f0_hz"].shape[0])
        given = np.asarray(f0_hz, dtype=np.float64)[:hint.shape[0]]
        hint[:given.shape[0]] = given
        tr = dict(tr, f0_hz=hint, voiced=hint > 0)
    w_long = np.hanning(n_long + 1)[:-1]
    w_eng = get_window(stft.window, stft.n_fft)
    noise_scale = float(np.sum(w_eng ** 2) / np.sum(w_long ** 2))   # noise power: long bins -> engine bins
    df = sample_rate / n_long
    lower, frac = band_map(sample_rate, n_long, N_BANDS)
    pad = np.concatenate([np.zeros(n_long), x, np.zeros(n_long)])
    n_frames = tr["f0_hz"].shape[0]
    # the tracker's estimate describes about the last (window + lag) samples: centre the long
    # window there
    lag_back = 900 * sample_rate // 48000
    frames, rms_all = [], []
    for m in range(1, n_frames):
        centre = m * hop - lag_back
        seg = pad[n_long + centre - n_long // 2: n_long + centre + n_long // 2]
        xw = seg * w_long
        rms = float(np.sqrt(np.sum(xw ** 2) / np.sum(w_long ** 2)))
        frames.append((m, np.abs(np.fft.rfft(xw)), rms))
        rms_all.append(rms)
    rms_all = np.asarray(rms_all)
    loud = rms_all > rms_all.max() * 10 ** (-50 / 20)
    voiced = [(m, mag, rms) for (m, mag, rms), ok in zip(frames, loud) if ok and tr["voiced"][m]]
    if len(voiced) < 10:
        raise ParameterError(f"the style clip has {len(voiced)} frames with a pitch (needs 10): "
                             "the re-synthesising model plays a style at the performer's pitch")
    # which partials: harmonic or the clip's own series
    grid = np.arange(0.45, n_partials + 0.5, 0.01)
    profile = np.zeros(grid.shape[0])
    for m, mag, rms in voiced:
        p = _ratio_profile(mag, tr["f0_hz"][m], df, grid)
        profile += p / max(p.sum(), 1e-30)
    near = np.abs(grid - np.round(grid)) <= 0.06
    harmonic_share = float(profile[near].sum() / profile.sum())
    harmonic = harmonic_share >= HARMONIC_SHARE
    ratios = np.arange(1, n_partials + 1, dtype=np.float64) if harmonic else \
        _inharmonic_ratios(profile, grid, min(n_partials, 64))
    # the note decay, and (a percussive style) each frame's time since its note's onset: the
    # second axis of its tables, so a pluck's bright attack and its mellowing ring are drawn
    decay = note_decay(tr, sample_rate, hop)
    # a percussive note keeps falling past the last age measured, and rings on under the next
    # one, at its late slope (between 0.3 and 0.8 s), at least RING_MIN_DB_PER_S
    slope = min(RING_MIN_DB_PER_S, float(np.interp(0.8, DECAY_AGES_S, decay) - np.interp(0.3, DECAY_AGES_S, decay)) / 0.5)
    percussive = bool(np.interp(1.0, DECAY_AGES_S, decay) <= PERCUSSIVE_DB)
    if not percussive:
        decay, slope = np.zeros_like(decay), 0.0
    onsets = onset_frames(tr, sample_rate, hop)
    age = np.full(n_frames, 10.0)
    for i, m0 in enumerate(onsets):
        end = onsets[i + 1] if i + 1 < len(onsets) else n_frames
        age[m0:end] = (np.arange(m0, end) - m0) * hop / sample_rate
    # per-frame measurements
    bins = np.arange(n_long // 2 + 1)
    rows = []
    for m, mag, rms in voiced:
        f0 = tr["f0_hz"][m]
        amps = np.full(ratios.shape[0], 10 ** (FLOOR_DB / 20))
        masked = np.zeros(bins.shape[0], dtype=bool)
        # the noise is read between the partials, clear of their lobes and of their vibrato's
        # smear: +-35 % of the spacing, at least the window's main lobe and first side lobe
        guard = int(np.ceil(max(4.0, 0.35 * f0 / df)))
        peaks = np.full(ratios.shape[0], -1, dtype=np.int64)
        for j, r in enumerate(ratios):
            c = r * f0 / df
            if c >= bins[-1] - 2:
                continue
            half = max(2.0, 0.02 * c)
            lo, hi = int(np.ceil(c - half)), int(np.floor(c + half))
            k = lo + int(np.argmax(mag[lo:hi + 1]))
            peaks[j] = k
            masked[max(0, k - guard):k + guard + 1] = True
        power = mag ** 2
        band = np.full(N_BANDS, np.nan)
        keep = ~masked
        for b in range(N_BANDS):   # a low quantile: the skirts of broad partials do not lift it
            sel = keep & ((lower == b) & (frac < 0.5) | (lower == b - 1) & (frac >= 0.5))
            if sel.sum() >= 2:
                band[b] = np.quantile(power[sel], NOISE_QUANTILE)
        have = np.isfinite(band)
        if not have.any():
            continue
        idx = np.arange(N_BANDS)
        band = np.interp(idx, idx[have], band[have])
        # a partial's peak holds the noise under it too: its power less the band's noise, and
        # none where the peak is not clear of the noise (a reverb tail's or a bow's bins
        # otherwise read as weak high partials)
        noise_at = (1 - frac) * band[lower] + frac * band[np.minimum(lower + 1, N_BANDS - 1)]
        for j, k in enumerate(peaks):
            if k < 0:
                continue
            clear = mag[k] ** 2 - 2.0 * noise_at[k]
            if clear > 2.0 * noise_at[k]:
                amps[j] = 2.0 * np.sqrt(clear) / w_long.sum() / max(rms, 1e-12)
        # a noise bin's power is exponentially distributed: its mean is the q-quantile / -ln(1 - q)
        noise = band / -np.log(1.0 - NOISE_QUANTILE) * noise_scale / max(rms, 1e-12) ** 2
        # harmonics closer than this leave no bins clear of their skirts (a low note's, or a
        # choir's broad ones): such a frame says nothing of the noise, which the frames of
        # higher notes tell (measured: the choir's low notes read as noise, and pYIN then heard
        # the output unvoiced). An inharmonic series has no spacing to speak of: its noise is
        # read where its partials leave bins free
        if harmonic and f0 / df < 2 * guard + 4:
            noise = np.full(N_BANDS, np.nan)
        pitch = 69 + 12 * np.log2(f0 / 440.0)
        rows.append((pitch, age[m] if percussive else tr["level_db"][m], 20 * np.log10(np.maximum(amps, 1e-5)),
                     np.where(np.isfinite(noise), 10 * np.log10(np.maximum(noise, 1e-10)), np.nan)))
    pitches = np.array([r[0] for r in rows])
    levels = np.array([r[1] for r in rows])
    part_db = np.array([r[2] for r in rows])
    noise_db = np.array([r[3] for r in rows])
    p_lo, p_hi = np.percentile(pitches, [2, 98])
    p_lo, p_hi = np.floor(p_lo), max(np.ceil(p_hi), np.floor(p_lo) + 1)
    n_p = max(1, int(np.ceil((p_hi - p_lo) / PITCH_STEP)) + 1)
    pitch_nodes = p_lo + PITCH_STEP * np.arange(n_p)
    if percussive:
        loud_nodes = np.asarray(AGE_NODES_S)
    else:
        l_lo, l_hi = np.percentile(levels, [10, 95])
        if l_hi - l_lo < 6.0:
            l_lo = l_hi - 6.0
        loud_nodes = np.linspace(l_lo, l_hi, N_LOUDNESS)

    wp, wl = _hats(pitches, pitch_nodes), _hats(levels, loud_nodes)
    weight = np.einsum("fp,fl->pl", wp, wl)                         # [Np, Nl]
    tab_p = np.einsum("fp,fl,fj->plj", wp, wl, part_db)
    has_noise = np.isfinite(noise_db[:, 0])
    if not has_noise.any():
        raise ParameterError("the style clip's partials are too close everywhere to read its noise between them")
    weight_n = np.einsum("fp,fl->pl", wp[has_noise], wl[has_noise])
    tab_n = np.einsum("fp,fl,fb->plb", wp[has_noise], wl[has_noise], noise_db[has_noise])
    filled = weight > 0.05
    filled_n = weight_n > 0.05
    tab_p = np.where(filled[..., None], tab_p / np.maximum(weight, 1e-12)[..., None], 0.0)
    tab_n = np.where(filled_n[..., None], tab_n / np.maximum(weight_n, 1e-12)[..., None], 0.0)

    def fill(table, ok):   # each empty cell from the nearest with frames (pitch counts 1, loudness 2)
        cells = np.argwhere(ok)
        for i, j in np.argwhere(~ok):
            d = np.abs(cells[:, 0] - i) + 2 * np.abs(cells[:, 1] - j)
            a, b = cells[int(np.argmin(d))]
            table[i, j] = table[a, b]

    fill(tab_p, filled)
    fill(tab_n, filled_n)
    # the average band envelope of all the clip's sound, for the filter path
    env, band, wsum = np.zeros(N_BANDS), np.zeros(N_BANDS), np.zeros(N_BANDS)
    for (m, mag, rms), ok in zip(frames, loud):
        if not ok:
            continue
        band_power(mag ** 2, lower, frac, band, wsum)
        env += band / max(rms, 1e-12) ** 2
    env /= max(int(loud.sum()), 1)
    mags = {m: mag for m, mag, _ in frames}
    ring, ring_start = ring_over(mags, tr["f0_hz"], onsets, ratios, df, hop / sample_rate)
    return {"ratios": ratios, "harmonic": bool(harmonic), "decay_db": decay, "decay_slope_db_per_s": slope,
            "second_axis": "age_s" if percussive else "loudness_db",
            "ring_db_per_s": ring, "ring_start_db": ring_start, "harmonic_share": harmonic_share,
            "pitch_nodes": pitch_nodes, "loudness_nodes": loud_nodes,
            "partials_db": np.maximum(tab_p, FLOOR_DB), "noise_db": np.maximum(tab_n, FLOOR_DB),
            "style_env_db": 10 * np.log10(np.maximum(env, 1e-12)),
            "voiced_share": len(voiced) / max(int(loud.sum()), 1), "frames": len(rows)}


def _decoder_graph(fit: dict):
    """The ONNX graph: bilinear interpolation of the tables at ``cond = [pitch, loudness]``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    pn, ln = fit["pitch_nodes"].astype(np.float32), fit["loudness_nodes"].astype(np.float32)
    table = np.concatenate([fit["partials_db"], fit["noise_db"]], axis=2).astype(np.float32)  # [Np, Nl, D]
    n_p, n_l, d = table.shape
    step_p = np.float32(pn[1] - pn[0]) if n_p > 1 else np.float32(1.0)
    step_l = np.float32(ln[1] - ln[0]) if n_l > 1 else np.float32(1.0)
    inits = [
        numpy_helper.from_array(pn.reshape(1, n_p), "pitch_nodes"),
        numpy_helper.from_array(ln.reshape(1, n_l), "loudness_nodes"),
        numpy_helper.from_array(np.array([pn[0]], np.float32), "pitch_lo"),
        numpy_helper.from_array(np.array([pn[-1]], np.float32), "pitch_hi"),
        numpy_helper.from_array(np.array([ln[0]], np.float32), "loud_lo"),
        numpy_helper.from_array(np.array([ln[-1]], np.float32), "loud_hi"),
        numpy_helper.from_array(np.array([1.0 / step_p], np.float32), "inv_step_p"),
        numpy_helper.from_array(np.array([1.0 / step_l], np.float32), "inv_step_l"),
        numpy_helper.from_array(np.array([1.0], np.float32), "one"),
        numpy_helper.from_array(np.array([0], np.int64), "i0"),
        numpy_helper.from_array(np.array([1], np.int64), "i1"),
        numpy_helper.from_array(np.array([2], np.int64), "i2"),
        numpy_helper.from_array(np.array([1, n_p * n_l], np.int64), "flat_shape"),
        numpy_helper.from_array(table.reshape(n_p * n_l, d), "table"),
    ]
    nodes = [
        helper.make_node("Slice", ["cond", "i0", "i1", "i1"], ["p"]),
        helper.make_node("Slice", ["cond", "i1", "i2", "i1"], ["l"]),
        helper.make_node("Max", ["p", "pitch_lo"], ["p1"]), helper.make_node("Min", ["p1", "pitch_hi"], ["pc"]),
        helper.make_node("Max", ["l", "loud_lo"], ["l1"]), helper.make_node("Min", ["l1", "loud_hi"], ["lc"]),
        helper.make_node("Sub", ["pc", "pitch_nodes"], ["dp"]), helper.make_node("Abs", ["dp"], ["adp"]),
        helper.make_node("Mul", ["adp", "inv_step_p"], ["sdp"]), helper.make_node("Sub", ["one", "sdp"], ["hp"]),
        helper.make_node("Relu", ["hp"], ["wp"]),
        helper.make_node("Sub", ["lc", "loudness_nodes"], ["dl"]), helper.make_node("Abs", ["dl"], ["adl"]),
        helper.make_node("Mul", ["adl", "inv_step_l"], ["sdl"]), helper.make_node("Sub", ["one", "sdl"], ["hl"]),
        helper.make_node("Relu", ["hl"], ["wl"]),
        helper.make_node("Transpose", ["wp"], ["wpt"], perm=[1, 0]),
        helper.make_node("MatMul", ["wpt", "wl"], ["outer"]),
        helper.make_node("Reshape", ["outer", "flat_shape"], ["w"]),
        helper.make_node("MatMul", ["w", "table"], ["params"]),
    ]
    graph = helper.make_graph(nodes, "rtst_resynth_decoder",
                              [helper.make_tensor_value_info("cond", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("params", TensorProto.FLOAT, [1, d])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="rtst")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_model(fit: dict, path, stft: StftConfig, *, name: str, style: dict, training: dict) -> None:
    """Write ``fit`` as a ``resynth-v1`` model file at ``path``."""
    import onnx

    from rtst import __version__

    model = _decoder_graph(fit)
    meta = {
        "rtst.format": "resynth-v1",
        "rtst.stft": json.dumps({"sample_rate": stft.sample_rate, "n_fft": stft.n_fft,
                                 "hop_length": stft.hop_length, "window": stft.window}),
        "rtst.io": json.dumps({"cond_input": "cond", "params_output": "params"}),
        "rtst.resynth": json.dumps({
            "ratios": [round(float(r), 4) for r in fit["ratios"]], "harmonic": fit["harmonic"],
            "harmonic_share": round(fit["harmonic_share"], 3), "n_bands": N_BANDS,
            "style_env_db": [round(float(v), 2) for v in fit["style_env_db"]],
            "pitch_range_midi": [float(fit["pitch_nodes"][0]), float(fit["pitch_nodes"][-1])],
            "loudness_range_db": [float(fit["loudness_nodes"][0]), float(fit["loudness_nodes"][-1])],
            "second_axis": fit["second_axis"],
            "decay_ages_s": list(DECAY_AGES_S), "decay_db": [round(float(v), 2) for v in fit["decay_db"]],
            "decay_slope_db_per_s": round(float(fit["decay_slope_db_per_s"]), 2),
            "ring_db_per_s": round(float(fit["ring_db_per_s"]), 2),
            "ring_start_db": round(float(fit["ring_start_db"]), 2),
            "transpose_semitones": 0.0, "frames": fit["frames"],
            "voiced_share": round(fit["voiced_share"], 3)}),
        "rtst.name": name,
        "rtst.version": __version__,
        "rtst.style": json.dumps(style),
        "rtst.training": json.dumps(training),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def decode(fit: dict, cond: np.ndarray) -> np.ndarray:
    """What the decoder graph computes, in numpy (the reference the golden files are made from).

    Parameters
    ----------
    fit : dict
        From :func:`fit_style`.
    cond : np.ndarray, float [n, 2]
        ``[pitch MIDI, loudness dB]`` rows.

    Returns
    -------
    params : np.ndarray, float64 [n, P + B]
    """
    pn, ln = fit["pitch_nodes"], fit["loudness_nodes"]
    table = np.concatenate([fit["partials_db"], fit["noise_db"]], axis=2)

    cond = np.asarray(cond, dtype=np.float64)
    return np.einsum("np,nl,pld->nd", _hats(cond[:, 0], pn), _hats(cond[:, 1], ln), table)


def golden_conditions(fit: dict, n: int = 32) -> np.ndarray:
    """Seeded decoder inputs spanning (and leaving) the style's grid, float32 [n, 2]."""
    rng = np.random.default_rng(20261207)
    pn, ln = fit["pitch_nodes"], fit["loudness_nodes"]
    pitch = rng.uniform(pn[0] - 6.0, pn[-1] + 6.0, n)
    loud = rng.uniform(ln[0] - 10.0, ln[-1] + 3.0, n)
    return np.stack([pitch, loud], axis=1).astype(np.float32)


def score_f0(notes, n_samples: int, sample_rate: int, release_s: float = 0.3) -> np.ndarray:
    """The pitch of a rendered score per 256-sample hop (:func:`fit_style`'s ``f0_hz``): the
    latest note sounding at each hop's tracker time (its onset to its end plus ``release_s``),
    0 where none does.

    Parameters
    ----------
    notes : iterable of (start_s, dur_s, pitch) or rtst.testing.midi.Note
    """
    hop = _ANALYSIS_HOP
    n = n_samples // hop
    t = (np.arange(n) * hop - 900 * sample_rate / 48000) / sample_rate
    out = np.zeros(n)
    for note in sorted(notes, key=lambda v: v[0]):
        start, dur, pitch = note[0], note[1], note[2]
        sel = (t >= start + 0.02) & (t < start + dur + release_s)
        out[sel] = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    return out


def learn(signal, stft: StftConfig, output, *, name: str, style: dict, training: dict, f0_hz=None) -> dict:
    """Fit the clip, write the model at ``output`` and its golden file beside it
    (``<stem>.golden.npz``: ``cond`` [32, 2] and the ``params`` numpy computes for them).

    Returns the fit."""
    from pathlib import Path

    output = Path(output)
    fit = fit_style(signal, stft.sample_rate, stft, f0_hz=f0_hz)
    training = dict(training, pitch_reference="the score" if f0_hz is not None else "the tracker", approach="re-synthesis tables (rtst.transfer.resynth)",
                    harmonic=fit["harmonic"], voiced_frames=fit["frames"])
    write_model(fit, output, stft, name=name, style=style, training=training)
    cond = golden_conditions(fit)
    golden = output.with_name(output.name[:-len(".onnx")] + ".golden.npz") if output.name.endswith(".onnx") \
        else output.with_suffix(".golden.npz")
    with open(golden, "wb") as fh:   # an explicit handle: np.savez would append .npz to a partial name
        np.savez(fh, cond=cond, params=decode(fit, cond).astype(np.float32))
    return fit

"""Paired timbre measures: does an output sound like instrument B playing what instrument A played?

The paired timbre benchmark (``benchmarks/bench_timbre.py``) has, for every pair, the *input* (a
melody rendered by instrument A), the *reference* (the same melody rendered by the style's
instrument B, sample-aligned with the input) and the *output* (the input through the effect).
These measures compare the three. Every one of them starts with :func:`prepare`: the signals are
cut to their common length and each is scaled to the same loudness (:func:`level_normalise`), so a
model cannot buy a score by being louder or quieter; ``tests/test_timbre_measures.py`` checks that
a -10 dB output scores the same.

Measures
--------
* :func:`log_mel_cut` (**timbre, paired**): ``d(x, ref)`` is the mean absolute difference in dB
  between the log-mel spectrograms of ``x`` and of the reference, frame by frame (time-aligned),
  each spectrogram taken relative to its *own* peak and floored at -80 dB (:func:`log_mel_db`), so
  the distance is level-free. ``cut = 1 - d(output, ref) / d(input, ref)``: 0 = the output is as
  far from B as the input was (passthrough), 1 = the output is the reference; negative = further.
* :class:`TimbreClassifier` (**timbre, by ear of a trained listener**): an instrument classifier
  trained by ``tools/train_timbre_classifier.py`` on renders that are never benchmark material;
  its posterior of a signal is the mean of its window posteriors over ~1 s windows.
  :func:`classifier_scores` gives ``classifier_cut = 1 - ||p(out) - p(ref)||_1 / ||p(in) - p(ref)||_1``
  (same reading as the log-mel cut; None where the input already scores within 0.2 of the
  reference, as there is then nothing to cut), ``p_style`` (the output's probability of B's
  class) and ``style_share`` (the fraction of the output's windows whose most probable class is B).
* :func:`pitch_scores` (**content**): :func:`rtst.measure.style.pitch_kept` of the output against
  the input; ``pitch_kept = within_50_cents * voicing_recall`` (an input-voiced frame where the
  output is unvoiced counts as a miss) and ``octave_errors``.
* :func:`onset_f_measure` (**content**): librosa onsets of output and input, matched one to one
  within 50 ms; F = 2PR / (P + R).
* :func:`loudness_correlation` (**content**): Pearson correlation of the frame levels in dB
  (:func:`rtst.measure.style.loudness_envelope`, floored 60 dB below the loudest frame).

:func:`input_analysis` and :func:`pair_measures` split the work so that everything about an input
or a reference (its pYIN track, posterior, log-mel, onsets) is computed once and reused for every
output judged against it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from rtst.errors import ParameterError
from rtst.measure.style import (_as_mono, _check_sample_rate, _frames_power, _pearson, loudness_envelope,
                                mel_filterbank, pitch_kept)

__all__ = ["TARGET_RMS_DB", "DEFAULT_CLASSIFIER", "MEL_CONFIG", "FEATURE_CONFIG", "level_normalise", "prepare", "log_mel_db",
           "log_mel_distance", "log_mel_cut", "window_features", "TimbreClassifier", "load_classifier",
           "classifier_scores", "pitch_scores", "onset_times", "onset_f_measure", "loudness_correlation",
           "input_analysis", "pair_measures"]

#: Every signal is scaled to this RMS over its active frames before it is measured.
TARGET_RMS_DB = -20.0
#: Frames more than this below the loudest frame are "inactive" for the level estimate.
ACTIVE_RANGE_DB = 40.0
#: The log-mel spectrograms' floor below their own peak.
MEL_FLOOR_DB = 80.0
#: Onset match tolerance (MIREX's).
ONSET_TOLERANCE_S = 0.05
#: Below this L1 distance between the input's and the reference's posteriors the classifier cut
#: is undefined (None): the classifier already hears the input as B.
MIN_CLASSIFIER_GAP = 0.2

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "timbre_classifier.npz"

#: The log-mel analysis of the paired distance (48 kHz): 64 bands, 30 Hz .. 16 kHz.
MEL_CONFIG = {"n_fft": 2048, "hop_length": 512, "n_mels": 64, "fmin_hz": 30.0, "fmax_hz": 16000.0,
              "floor_db": MEL_FLOOR_DB}
#: The classifier's features (the default; a trained classifier stores its own). Bands stop at
#: 7.8 kHz because the festival voices it learns speech from are 16 kHz recordings: with the
#: octave above in the features, "nothing above 8 kHz" would be what it learned speech is.
FEATURE_CONFIG = {**MEL_CONFIG, "sample_rate": 48000, "n_mels": 56, "fmax_hz": 7800.0, "window_s": 1.0,
                  "window_hop_s": 0.5, "active_db": 50.0, "silent_db": 50.0}


# --------------------------------------------------------------------------------------------
# Level and length
# --------------------------------------------------------------------------------------------


def level_normalise(signal, sample_rate: int, target_rms_db: float = TARGET_RMS_DB) -> np.ndarray:
    """``signal`` scaled so that its RMS over its active frames is ``target_rms_db`` dBFS.

    Active frames are those within :data:`ACTIVE_RANGE_DB` of the loudest (2048-sample frames),
    so a melody's rests do not lower its level estimate. Silence is returned unchanged.

    Returns
    -------
    x : np.ndarray, float64 [n_samples]
    """
    _check_sample_rate(sample_rate)
    x = _as_mono(signal, "signal")
    level = loudness_envelope(x, sample_rate, floor_db=-200.0)  # [n_frames] dB
    if level.max() <= -190.0:
        return x.copy()
    active = level >= level.max() - ACTIVE_RANGE_DB
    rms_db = 10.0 * np.log10(np.mean(10.0 ** (level[active] / 10.0)))
    return x * 10.0 ** ((target_rms_db - rms_db) / 20.0)


def prepare(*signals, sample_rate: int) -> list[np.ndarray]:
    """The signals cut to their common length, each level-normalised (:func:`level_normalise`)."""
    xs = [_as_mono(s, f"#{k}") for k, s in enumerate(signals)]
    n = min(x.shape[0] for x in xs)
    return [level_normalise(x[:n], sample_rate) for x in xs]


# --------------------------------------------------------------------------------------------
# Log-mel spectrogram and the paired distance
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    return mel_filterbank(sample_rate, n_fft, n_mels, fmin_hz, min(fmax_hz, sample_rate / 2.0))


def _mel_power(x: np.ndarray, sample_rate: int, config: dict) -> np.ndarray:
    """Mel power [n_mels, n_frames] of a mono float64 signal."""
    power, _ = _frames_power(x, n_fft=config["n_fft"], hop_length=config["hop_length"])
    fb = _filterbank(sample_rate, config["n_fft"], config["n_mels"], config["fmin_hz"], config["fmax_hz"])
    return fb @ power


def log_mel_db(signal, sample_rate: int, config: dict | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB relative to its own loudest bin, floored at ``-floor_db``.

    Parameters
    ----------
    signal : array_like, float [n_samples]
    sample_rate : int
    config : dict, optional
        Overrides of :data:`MEL_CONFIG` (``n_fft``, ``hop_length``, ``n_mels``, ``fmin_hz``,
        ``fmax_hz``, ``floor_db``).

    Returns
    -------
    db : np.ndarray, float64 [n_mels, n_frames], values in ``[-floor_db, 0]``
        Level-free: a gain only shifts the dB before the peak is subtracted.
    """
    _check_sample_rate(sample_rate)
    config = {**MEL_CONFIG, **(config or {})}
    mel = _mel_power(_as_mono(signal, "signal"), sample_rate, config)
    db = 10.0 * np.log10(np.maximum(mel, 1e-30))
    return np.maximum(db - db.max(), -config["floor_db"])


def log_mel_distance(a_db: np.ndarray, b_db: np.ndarray) -> float:
    """Mean |a - b| in dB over the common frames of two :func:`log_mel_db` spectrograms."""
    n = min(a_db.shape[1], b_db.shape[1])
    return float(np.mean(np.abs(a_db[:, :n] - b_db[:, :n])))


def log_mel_cut(output, input_signal, reference, sample_rate: int) -> dict:
    """The paired log-mel cut: ``1 - d(output, ref) / d(input, ref)``.

    The three signals are prepared (:func:`prepare`); the reference must be time-aligned with the
    input (the same melody rendered by the style's instrument).

    Returns
    -------
    result : dict
        ``d_output_db``, ``d_input_db`` (mean absolute dB differences to the reference) and ``cut``
        (None where the input is the reference already, ``d_input_db`` < 0.01 dB).
    """
    out, inp, ref = prepare(output, input_signal, reference, sample_rate=sample_rate)
    ref_db = log_mel_db(ref, sample_rate)
    return _cut(log_mel_distance(log_mel_db(out, sample_rate), ref_db),
                log_mel_distance(log_mel_db(inp, sample_rate), ref_db))


def _cut(d_out: float, d_in: float) -> dict:
    return {"d_output_db": d_out, "d_input_db": d_in, "cut": (1.0 - d_out / d_in) if d_in >= 0.01 else None}


# --------------------------------------------------------------------------------------------
# The instrument classifier
# --------------------------------------------------------------------------------------------


def window_features(signal, sample_rate: int, config: dict | None = None) -> np.ndarray:
    """Level-normalised log-mel statistics of ~1 s windows: the classifier's input.

    Each window (``window_s`` long, every ``window_hop_s``) is taken in dB relative to its loudest
    frame (broadband level), floored at ``-floor_db``; over its active frames (within
    ``active_db`` of that loudest frame) the per-band mean and standard deviation, the per-band
    mean absolute frame-to-frame difference (all frames; attacks, vibrato and decay show there)
    and the active fraction. Windows whose loudest frame is more than ``silent_db`` below the
    signal's loudest frame (rests, a reverb tail) are left out.

    Parameters
    ----------
    signal : array_like, float [n_samples]
    sample_rate : int
        Resampled (soxr) to ``config["sample_rate"]`` when different.
    config : dict, optional
        :data:`FEATURE_CONFIG` overrides.

    Returns
    -------
    features : np.ndarray, float32 [n_windows, 3 * n_mels + 1]
        ``n_windows`` may be 0 (digital silence). A signal shorter than one window is one window.
    """
    _check_sample_rate(sample_rate)
    config = {**FEATURE_CONFIG, **(config or {})}
    x = _as_mono(signal, "signal")
    if sample_rate != config["sample_rate"]:
        import soxr

        x = soxr.resample(x, sample_rate, config["sample_rate"], quality="HQ")
    mel = _mel_power(x, config["sample_rate"], config)  # [n_mels, n_frames]
    db = 10.0 * np.log10(np.maximum(mel, 1e-30))
    frame_db = 10.0 * np.log10(np.maximum(mel.sum(axis=0), 1e-30))  # [n_frames]
    frames_per_s = config["sample_rate"] / config["hop_length"]
    width = max(2, int(round(config["window_s"] * frames_per_s)))
    step = max(1, int(round(config["window_hop_s"] * frames_per_s)))
    n_frames = db.shape[1]
    starts = range(0, max(1, n_frames - width + 1), step)
    loudest = frame_db.max()
    feats = []
    if loudest < -150.0:  # digital silence (or all but): nothing to classify
        starts = range(0)
    for s in starts:
        seg, level = db[:, s:s + width], frame_db[s:s + width]
        peak = level.max()
        if peak < loudest - config["silent_db"]:
            continue
        rel = np.maximum(seg - peak, -config["floor_db"])  # [n_mels, width]
        active = level >= peak - config["active_db"]
        act = rel[:, active]
        delta = np.abs(np.diff(rel, axis=1)).mean(axis=1) if rel.shape[1] > 1 else np.zeros(rel.shape[0])
        feats.append(np.concatenate([act.mean(axis=1), act.std(axis=1), delta, [active.mean()]]))
    return np.asarray(feats, dtype=np.float32).reshape(len(feats), 3 * config["n_mels"] + 1)


class TimbreClassifier:
    """A small MLP over :func:`window_features`, in numpy (weights from an ``.npz``).

    Parameters
    ----------
    path : str or Path
        An npz written by ``tools/train_timbre_classifier.py``: ``classes`` (str [n_classes]),
        ``config`` (JSON of the feature config), ``mean``/``std`` (feature standardisation) and
        ``w0, b0, w1, b1, ...`` (dense layers, ReLU between them, softmax after the last).
    """

    def __init__(self, path=DEFAULT_CLASSIFIER):
        path = Path(path)
        if not path.is_file():
            raise ParameterError(f"timbre classifier {path} missing; make it with "
                                 "python tools/train_timbre_classifier.py")
        with np.load(path, allow_pickle=False) as data:
            self.classes = [str(c) for c in data["classes"]]
            self.config = json.loads(str(data["config"]))
            self.mean, self.std = data["mean"], data["std"]
            self.layers = []
            k = 0
            while f"w{k}" in data:
                self.layers.append((data[f"w{k}"].astype(np.float64), data[f"b{k}"].astype(np.float64)))
                k += 1
        self.path = path

    def index(self, name: str) -> int:
        if name not in self.classes:
            raise ParameterError(f"class {name!r} not in the classifier's {', '.join(self.classes)}")
        return self.classes.index(name)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities [n_windows, n_classes] of feature rows [n_windows, n_features]."""
        h = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        h -= h.max(axis=1, keepdims=True)
        p = np.exp(h)
        return p / p.sum(axis=1, keepdims=True)

    def windows(self, signal, sample_rate: int) -> np.ndarray:
        """Window posteriors [n_windows, n_classes] of a signal (level-normalised first)."""
        x = level_normalise(signal, sample_rate)
        return self.predict_proba(window_features(x, sample_rate, self.config))

    def posterior(self, signal, sample_rate: int) -> np.ndarray:
        """Mean window posterior [n_classes]; uniform for a silent signal (no window to judge)."""
        p = self.windows(signal, sample_rate)
        return p.mean(axis=0) if p.shape[0] else np.full(len(self.classes), 1.0 / len(self.classes))


@lru_cache(maxsize=2)
def load_classifier(path: str | None = None) -> TimbreClassifier:
    """The classifier at ``path`` (default :data:`DEFAULT_CLASSIFIER`), loaded once per process."""
    return TimbreClassifier(DEFAULT_CLASSIFIER if path is None else path)


def classifier_scores(p_output: np.ndarray, p_input: np.ndarray, p_reference: np.ndarray,
                      output_windows: np.ndarray, style_index: int) -> dict:
    """Classifier cut, the output's probability of the style and its share of style windows.

    Parameters
    ----------
    p_output, p_input, p_reference : np.ndarray, float [n_classes]
        Mean posteriors (:meth:`TimbreClassifier.posterior`).
    output_windows : np.ndarray, float [n_windows, n_classes]
        The output's window posteriors.
    style_index : int
        The style instrument's class.

    Returns
    -------
    result : dict
        ``classifier_cut`` = ``1 - |p_out - p_ref|_1 / |p_in - p_ref|_1`` (None when the
        denominator is below :data:`MIN_CLASSIFIER_GAP`), ``p_style`` = ``p_out[style]``,
        ``p_style_input``, ``p_style_reference``, ``style_share`` (fraction of output windows
        whose argmax is the style; None without windows), ``top_class`` (index of the argmax of
        ``p_out``).
    """
    gap = float(np.abs(p_input - p_reference).sum())
    cut = 1.0 - float(np.abs(p_output - p_reference).sum()) / gap if gap >= MIN_CLASSIFIER_GAP else None
    share = float(np.mean(output_windows.argmax(axis=1) == style_index)) if len(output_windows) else None
    return {"classifier_cut": cut, "p_style": float(p_output[style_index]),
            "p_style_input": float(p_input[style_index]), "p_style_reference": float(p_reference[style_index]),
            "style_share": share, "top_class": int(np.argmax(p_output))}


# --------------------------------------------------------------------------------------------
# Content: pitch, onsets, loudness contour
# --------------------------------------------------------------------------------------------


def pitch_scores(output, input_signal, sample_rate: int, input_track=None) -> dict:
    """:func:`rtst.measure.style.pitch_kept` of the output on the input's voiced frames.

    Returns
    -------
    result : dict
        ``pitch_kept`` = ``within_50_cents * voicing_recall`` (the fraction of the input's voiced
        frames where the output is voiced and within 50 cents), ``within_50_cents``,
        ``voicing_recall``, ``octave_errors``, ``median_cents`` (None where the input has too few
        voiced frames or the output too few voiced in both), ``track`` (the input's pYIN track for
        ``input_track``).
    """
    r = pitch_kept(output, input_signal, sample_rate, content_f0=input_track)
    recall, within = r["voicing_recall"], r["within_50_cents"]
    kept = None if recall is None else (0.0 if within is None else within * recall)
    return {"pitch_kept": kept, "within_50_cents": within, "voicing_recall": recall,
            "octave_errors": r["octave_errors"], "median_cents": r["median_cents"], "track": r["content_track"]}


def onset_times(signal, sample_rate: int, hop_length: int = 512) -> np.ndarray:
    """Onset times in seconds (``librosa.onset.onset_detect`` on the level-normalised signal)."""
    try:
        import librosa
    except ImportError as exc:  # pragma: no cover - the bench extra brings it
        raise ParameterError("onset detection needs librosa (pip install librosa)") from exc
    x = level_normalise(signal, sample_rate).astype(np.float32)
    return np.asarray(librosa.onset.onset_detect(y=x, sr=sample_rate, hop_length=hop_length, units="time"),
                      dtype=np.float64)


def onset_f_measure(estimated_s: np.ndarray, reference_s: np.ndarray,
                    tolerance_s: float = ONSET_TOLERANCE_S) -> dict:
    """One-to-one matching of onset times within ``tolerance_s``; precision, recall, F-measure.

    Matching is greedy in order of distance (closest pairs first), which for a 50 ms tolerance and
    onsets further apart than 100 ms equals mir_eval's maximum bipartite matching. Both empty: F =
    1; one empty: F = 0.
    """
    est, ref = np.sort(np.asarray(estimated_s, float)), np.sort(np.asarray(reference_s, float))
    if est.size == 0 and ref.size == 0:
        return {"precision": 1.0, "recall": 1.0, "f_measure": 1.0, "n_estimated": 0, "n_reference": 0}
    dist = np.abs(est[:, None] - ref[None, :]) if est.size and ref.size else np.zeros((est.size, ref.size))
    candidates = sorted(zip(*np.nonzero(dist <= tolerance_s)), key=lambda ij: dist[ij])
    used_e, used_r = set(), set()
    for i, j in candidates:
        if i not in used_e and j not in used_r:
            used_e.add(i)
            used_r.add(j)
    hits = len(used_e)
    precision = hits / est.size if est.size else 0.0
    recall = hits / ref.size if ref.size else 0.0
    f = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"precision": precision, "recall": recall, "f_measure": f, "n_estimated": int(est.size),
            "n_reference": int(ref.size)}


def loudness_correlation(output, input_signal, sample_rate: int, floor_db: float = -60.0) -> float:
    """Pearson correlation of the frame levels (dB) of output and input, time-aligned."""
    out, inp = prepare(output, input_signal, sample_rate=sample_rate)
    return _pearson(loudness_envelope(out, sample_rate, floor_db=floor_db),
                    loudness_envelope(inp, sample_rate, floor_db=floor_db))


# --------------------------------------------------------------------------------------------
# A pair, with the input's and the reference's analyses computed once
# --------------------------------------------------------------------------------------------


def input_analysis(signal, sample_rate: int, classifier: TimbreClassifier | None = None,
                   pitch: bool = True) -> dict:
    """Everything about a signal that its pairs reuse: the level-normalised signal, its log-mel,
    window and mean posteriors, onsets, loudness envelope and (``pitch``) its pYIN track.

    Returns a dict of numpy arrays and tuples (picklable, for worker processes and caches).
    """
    x = level_normalise(signal, sample_rate)
    result = {"signal": x, "log_mel_db": log_mel_db(x, sample_rate), "onsets_s": onset_times(x, sample_rate),
              "loudness_db": loudness_envelope(x, sample_rate, floor_db=-60.0)}
    if classifier is not None:
        windows = classifier.windows(x, sample_rate)
        result["windows"] = windows
        result["posterior"] = windows.mean(axis=0) if windows.shape[0] else \
            np.full(len(classifier.classes), 1.0 / len(classifier.classes))
    if pitch:
        result["track"] = pitch_scores(x, x, sample_rate)["track"]
    return result


def pair_measures(output, inp: dict, ref: dict, sample_rate: int, classifier: TimbreClassifier,
                  style_class: str, pitch: bool = True) -> dict:
    """Every measure of one output against its input and reference analyses.

    Parameters
    ----------
    output : array_like, float [n_samples]
        Time-aligned with the input; cut or zero-padded to the input's length.
    inp, ref : dict
        :func:`input_analysis` of the input (with its pitch track) and of the reference.
    sample_rate : int
    classifier : TimbreClassifier
    style_class : str
        The style instrument's class name.
    pitch : bool
        Also run pYIN on the output (the slow part, ~1.5 s for 6 s).

    Returns
    -------
    result : dict of float or None
        ``log_mel_cut``, ``d_output_db``, ``d_input_db``, ``classifier_cut``, ``p_style``,
        ``p_style_input``, ``p_style_reference``, ``style_share``, ``top_class`` (name),
        ``pitch_kept``, ``within_50_cents``, ``voicing_recall``, ``octave_errors``,
        ``onset_f``, ``loudness_corr``.
    """
    y = _as_mono(output, "output")
    n = inp["signal"].shape[0]
    y = np.concatenate([y[:n], np.zeros(max(0, n - y.shape[0]))])
    y = level_normalise(y, sample_rate)
    cut = _cut(log_mel_distance(log_mel_db(y, sample_rate), ref["log_mel_db"]),
               log_mel_distance(inp["log_mel_db"], ref["log_mel_db"]))
    windows = classifier.windows(y, sample_rate)
    p_out = windows.mean(axis=0) if windows.shape[0] else np.full(len(classifier.classes), 1 / len(classifier.classes))
    cls = classifier_scores(p_out, inp["posterior"], ref["posterior"], windows, classifier.index(style_class))
    result = {"log_mel_cut": cut["cut"], "d_output_db": cut["d_output_db"], "d_input_db": cut["d_input_db"],
              **cls, "top_class": classifier.classes[cls["top_class"]]}
    if pitch:
        p = pitch_scores(y, inp["signal"], sample_rate, input_track=inp["track"])
        result.update({k: p[k] for k in ("pitch_kept", "within_50_cents", "voicing_recall", "octave_errors")})
    result["onset_f"] = onset_f_measure(onset_times(y, sample_rate), inp["onsets_s"])["f_measure"]
    result["loudness_corr"] = _pearson(loudness_envelope(y, sample_rate, floor_db=-60.0), inp["loudness_db"])
    return result

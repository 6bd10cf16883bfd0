"""The paired timbre panel: style models judged against the style instrument playing the same melody.

For every style B (:data:`rtst.testing.melodies.STYLES`) and pair ``(A, melody)`` of
:data:`~rtst.testing.melodies.STYLE_INPUTS` x :data:`~rtst.testing.melodies.MELODIES`, the input
is the melody played by A, the reference the same melody played by B; each *row* makes an output
from the input and :func:`rtst.measure.timbre.pair_measures` judges it. Rows:

* ``passthrough``: the input itself (every cut 0);
* ``cross_synthesis``: per-frame cross-synthesis, a model-free baseline (:func:`cross_synthesis`):
  the input's cepstral envelope divided out and B's mean envelope imposed, from
  :func:`rtst.testing.melodies.style_clip` (a melody that is not a reference), input phase, each
  frame's energy kept;
* ``other_soundfont``: not a transfer but the bar an instrument itself sets: the same melody
  played by B in another sound font (MuseScore_General_Lite), as if a second real B had played
  it (a different cello from the reference's scores far from 100 %);
* one row per model spec, run as ``rtst.Effect(model=SPEC)(audio, 48000)``, on the pairs of the
  style it is for (:data:`DEFAULT_STYLE_OF`, or ``style_of``; a model of unknown style on every
  style asked for).

Besides the pairs, every row is also heard on voices (no reference there): festival's kal voice
speaking a sentence, alsa-utils' recorded Front_Center + Front_Left, and a sung line (GM voice
oohs playing ``low_legato``: a rendered stand-in for a singer). For those the classifier's
``speech`` probability of the input and the output and the output's probability of the style are
reported.

The inputs' and references' analyses (pYIN tracks, posteriors, log-mel) and the passthrough and
cross-synthesis rows are cached under :func:`rtst.testing.signals.cache_dir`, keyed by the
signal, the classifier file and :data:`MEASURES_VERSION`; models are run every time. Pairs run in
worker processes (``workers``, default 2).

    results = run_panel(["cello", "organ", "bells"])       # the dict bench_timbre.py writes
    print(format_report(results))
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import platform
import time
from pathlib import Path

import numpy as np

from rtst.errors import ParameterError
from rtst.measure import timbre
from rtst.testing import melodies as mel
from rtst.testing.signals import ALSA_DIR, SAMPLE_RATE, _read_mono, _to_rate, _trim_silence, cache_dir

__all__ = ["DEFAULT_STYLE_OF", "MEASURES_VERSION", "BASELINES", "cross_synthesis", "voice_clips", "run_panel",
           "format_report", "plot_style"]

#: The style each shipped model (by name, or an .onnx path's stem) is judged for.
DEFAULT_STYLE_OF = {"cello": "cello", "cello-ll": "cello", "organ": "organ", "bells": "bells", "choir": "choir",
                    "guitar": "guitar"}
#: Bump when a measure changes: the cached analyses and baseline rows are keyed by it.
MEASURES_VERSION = "timbre-2"
BASELINES = ("passthrough", "cross_synthesis", "other_soundfont")
KAL_SENTENCE = "Bright lanterns swayed along the narrow street while the band played on."
#: The measures averaged over pairs, in table order.
MEAN_KEYS = ("log_mel_cut", "d_output_db", "d_input_db", "classifier_cut", "p_style", "style_share", "pitch_kept",
             "within_50_cents", "voicing_recall", "octave_errors", "onset_f", "loudness_corr")
REFERENCE_KEYS = ("pitch_kept", "within_50_cents", "voicing_recall", "octave_errors", "p_style", "onset_f",
                  "loudness_corr")
#: Pairs drawn in each style's spectrogram grid (indices into the style's pairs).
PLOT_PAIRS = 3
CROSS_N_FFT, CROSS_HOP, CROSS_LIFTER = 2048, 512, 40


# --------------------------------------------------------------------------------------------
# The cross-synthesis baseline
# --------------------------------------------------------------------------------------------


def _stft(x: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.stft(x, n_fft=CROSS_N_FFT, hop_length=CROSS_HOP, window="hann", center=True)


def _log_envelope(spec: np.ndarray) -> np.ndarray:
    """Cepstrally smoothed log magnitude [n_bins, n_frames] (real cepstrum, lifter of
    :data:`CROSS_LIFTER` quefrency samples: 0.83 ms at 48 kHz, below the period of any f0 up to
    1.2 kHz, so the envelope does not follow the partials)."""
    log_mag = np.log(np.abs(spec) + 1e-9)
    ceps = np.fft.irfft(log_mag, n=CROSS_N_FFT, axis=0)
    ceps[CROSS_LIFTER:CROSS_N_FFT - CROSS_LIFTER + 1] = 0.0
    return np.fft.rfft(ceps, axis=0).real


def style_envelope(style_signal: np.ndarray) -> np.ndarray:
    """Mean log envelope [n_bins] of a style clip over its frames within 40 dB of the loudest,
    each frame's own level removed first (so loud notes do not dominate the shape)."""
    spec = _stft(np.asarray(style_signal, dtype=np.float64))
    env = _log_envelope(spec)
    level_db = 10 * np.log10(np.sum(np.abs(spec) ** 2, axis=0) + 1e-30)
    active = level_db >= level_db.max() - 40.0
    env = env[:, active]
    return (env - env.mean(axis=0, keepdims=True)).mean(axis=1)


def cross_synthesis(x: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Per-frame cross-synthesis: ``|X| * exp(env_style - env_x)``, input phase, each frame's
    energy kept (so the input's dynamics and rests survive), overlap-added back to ``x``'s length.

    Parameters
    ----------
    x : np.ndarray, float [n_samples]
    envelope : np.ndarray, float [CROSS_N_FFT // 2 + 1]
        :func:`style_envelope` of the style clip.
    """
    import librosa

    x = np.asarray(x, dtype=np.float64)
    spec = _stft(x)
    gain = np.exp(envelope[:, None] - _log_envelope(spec))
    out = spec * gain
    energy_in = np.sum(np.abs(spec) ** 2, axis=0)
    energy_out = np.sum(np.abs(out) ** 2, axis=0) + 1e-30
    out *= np.sqrt(energy_in / energy_out)[None, :]
    return librosa.istft(out, hop_length=CROSS_HOP, window="hann", center=True, length=x.size)


# --------------------------------------------------------------------------------------------
# Material
# --------------------------------------------------------------------------------------------


def voice_clips() -> list[tuple[str, np.ndarray, str]]:
    """``(name, signal, description)`` of the voice inputs; a missing package skips its clip."""
    from rtst.testing import panel

    clips = []
    try:
        x = _trim_silence(panel._festival("voice_kal_diphone", KAL_SENTENCE))
        clips.append(("speech_kal", x, f"festival voice_kal_diphone (festvox-kallpc16k): {KAL_SENTENCE!r}"))
    except ParameterError as exc:
        print(f"note: speech_kal skipped: {exc}")
    names = ("Front_Center.wav", "Front_Left.wav")
    if all((ALSA_DIR / n).is_file() for n in names):
        x = np.concatenate([_trim_silence(_to_rate(*_read_mono(ALSA_DIR / n))) for n in names])
        clips.append(("speech_recorded", x, "alsa-utils " + " + ".join(names) + " (a recorded voice)"))
    else:
        print("note: speech_recorded skipped: alsa-utils' recordings missing")
    r = mel.render_melody("low_legato", "voice_oohs")
    clips.append(("sung_oohs", r.signal, "GM voice oohs (53) playing low_legato: a rendered stand-in for a singer"))
    return clips


def _sha(*parts) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else str(p).encode())
    return h.hexdigest()[:16]


def _cached(key: str, make):
    """``make()`` once, pickled under the cache dir by ``key``."""
    path = cache_dir() / f"timbre_measure_{key}.pkl"
    if path.is_file():
        try:
            return pickle.loads(path.read_bytes())
        except Exception:  # a torn file from an interrupted run: recompute it
            pass
    value = make()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(pickle.dumps(value))
    tmp.replace(path)
    return value


# --------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(classifier_path: str) -> None:
    # one thread per worker: the workers are the parallelism
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    _WORKER.clear()
    _WORKER["classifier"] = timbre.TimbreClassifier(classifier_path)
    _WORKER["effects"] = {}
    _WORKER["envelopes"] = {}


def _analysis(signal: np.ndarray, pitch: bool) -> dict:
    """Input analysis without the signal (the caller has it), cached."""
    clf = _WORKER["classifier"]
    key = _sha("analysis", MEASURES_VERSION, clf.path.read_bytes(), pitch, signal)

    def make():
        a = timbre.input_analysis(signal, SAMPLE_RATE, clf, pitch=pitch)
        a.pop("signal")
        return a

    a = _cached(key, make)
    a["signal"] = timbre.level_normalise(signal, SAMPLE_RATE)
    return a


def _job_analyse(job: dict) -> dict:
    """The analyses of a pair's input and reference and the reference's own pitch score."""
    inp = mel.render_melody(job["melody"], job["input"]).signal
    ref = mel.render_melody(job["melody"], mel.STYLES[job["style"]]).signal
    a_in, a_ref = _analysis(inp, pitch=True), _analysis(ref, pitch=False)
    clf = _WORKER["classifier"]
    key = _sha("reference", MEASURES_VERSION, clf.path.read_bytes(), job["style"], inp, ref)

    def make():
        p = timbre.pitch_scores(a_ref["signal"], a_in["signal"], SAMPLE_RATE, input_track=a_in["track"])
        out = {k: p[k] for k in ("pitch_kept", "within_50_cents", "voicing_recall", "octave_errors")}
        out["p_style"] = float(a_ref["posterior"][clf.index(mel.STYLES[job["style"]])])
        # the style instrument's own onsets and loudness against the input's, as the outputs'
        # are scored: the bar an instrument that decays or swells on its own can reach
        out["onset_f"] = timbre.onset_f_measure(a_ref["onsets_s"], a_in["onsets_s"])["f_measure"]
        out["loudness_corr"] = timbre.loudness_correlation(a_ref["signal"], a_in["signal"], SAMPLE_RATE)
        return out

    return {**job, "reference": _cached(key, make)}


def _effect(spec: str):
    effects = _WORKER["effects"]
    if spec not in effects:
        import rtst

        effects[spec] = rtst.Effect(model=spec)
    return effects[spec]


def _make_output(row: dict, style: str, x: np.ndarray, melody: str) -> np.ndarray:
    if row["kind"] == "passthrough":
        return x.copy()
    if row["kind"] == "other_soundfont":
        y = mel.render_melody(melody, mel.STYLES[style], soundfont=mel.MUSESCORE_SOUNDFONT).signal
        out = np.zeros_like(x)
        out[:min(x.size, y.size)] = y[:x.size]
        return out
    if row["kind"] == "cross_synthesis":
        envs = _WORKER["envelopes"]
        if style not in envs:
            envs[style] = style_envelope(mel.style_clip(style).signal)
        return cross_synthesis(x, envs[style])
    y = _effect(row["spec"])(x.astype(np.float32), SAMPLE_RATE)
    return np.asarray(y, dtype=np.float64)


def _job_pair(job: dict) -> dict:
    """One row's output for one pair, measured; baselines cached."""
    clf = _WORKER["classifier"]
    row, style = job["row"], job["style"]
    inp = mel.render_melody(job["melody"], job["input"]).signal
    ref = mel.render_melody(job["melody"], mel.STYLES[style]).signal
    a_in, a_ref = _analysis(inp, pitch=True), _analysis(ref, pitch=False)
    started = time.perf_counter()
    keep = job.get("keep_output", False)

    def make():
        y = _make_output(row, style, inp, job["melody"])
        m = timbre.pair_measures(y, a_in, a_ref, SAMPLE_RATE, clf, mel.STYLES[style])
        return m, (y.astype(np.float32) if keep else None)

    if row["kind"] in BASELINES:
        key = _sha("row", MEASURES_VERSION, clf.path.read_bytes(), row["kind"], style, keep, inp, ref)
        measures, y = _cached(key, make)
    else:
        measures, y = make()
    return {**{k: job[k] for k in ("style", "input", "melody")}, "row": row["name"], "measures": measures,
            "output": y, "wall_s": time.perf_counter() - started}


def _job_voice(job: dict) -> dict:
    """The classifier's view of one row's output on one voice clip."""
    clf = _WORKER["classifier"]
    row, style, x = job["row"], job["style"], job["signal"]
    y = _make_output(row, style, x, melody="")
    p_in, p_out = clf.posterior(x, SAMPLE_RATE), clf.posterior(y, SAMPLE_RATE)
    i_speech, i_style = clf.index("speech"), clf.index(mel.STYLES[style])
    return {"row": row["name"], "style": style, "clip": job["clip"], "p_speech_input": float(p_in[i_speech]),
            "p_speech_output": float(p_out[i_speech]), "p_style_input": float(p_in[i_style]),
            "p_style_output": float(p_out[i_style]), "top_output": clf.classes[int(np.argmax(p_out))]}


# --------------------------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------------------------


def _rows(models, styles, style_of) -> list[dict]:
    """Rows grouped by style: the baselines for every style judged, then the models for it."""
    model_rows = []
    for spec in models:
        name = Path(spec).stem if str(spec).endswith(".onnx") else str(spec)
        own = style_of.get(spec) or style_of.get(name) or DEFAULT_STYLE_OF.get(name)
        if own is not None and own not in mel.STYLES:
            raise ParameterError(f"style {own!r} of model {spec} is not one of {', '.join(mel.STYLES)}")
        model_rows += [{"name": name, "kind": "model", "spec": str(spec), "style": s} for s in ([own] if own else styles)]
    rows = []
    for style in dict.fromkeys([r["style"] for r in model_rows] + list(styles)):
        rows += [{"name": b, "kind": b, "spec": None, "style": style} for b in BASELINES]
        rows += [r for r in model_rows if r["style"] == style]
    return rows


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def run_panel(models, styles=None, style_of: dict | None = None, quick: bool = False, workers: int = 2,
              classifier_path=None, png_dir=None, log=print) -> dict:
    """Run the paired timbre panel for ``models`` and the baselines.

    Parameters
    ----------
    models : list of str
        Model specs for ``rtst.Effect(model=...)``: shipped names (cello, organ, bells, cello-ll) or
        ``.onnx`` paths. May be empty (baselines only).
    styles : list of str, optional
        Styles to judge (default: all of :data:`rtst.testing.melodies.STYLES`); the baselines run on
        these and on every model's style; a model of unknown style is judged on each of them.
    style_of : dict, optional
        ``{spec_or_name: style}`` overriding :data:`DEFAULT_STYLE_OF`.
    quick : bool
        One melody and two inputs per style (a smoke test).
    workers : int
        Worker processes (spawned).
    classifier_path : str or Path, optional
        Default :data:`rtst.measure.timbre.DEFAULT_CLASSIFIER`.
    png_dir : str or Path, optional
        Where to draw ``timbre_STYLE.png`` (None: no pictures).
    log : callable
        Progress lines.

    Returns
    -------
    results : dict
        ``rows`` (one per (row, style): ``mean`` of every measure over pairs, ``reference`` the
        style instrument's own take scored alike, ``pairs``), ``voice`` (the voice clips),
        ``styles``, ``classifier`` and provenance.
    """
    from rtst import __version__
    from rtst.measure.bench import git_revision, version_of

    started = time.perf_counter()
    styles = list(mel.STYLES) if styles is None else list(styles)
    unknown = [s for s in styles if s not in mel.STYLES]
    if unknown:
        raise ParameterError(f"unknown style(s) {', '.join(unknown)}; the panel judges {', '.join(mel.STYLES)}")
    if not (isinstance(workers, int) and workers >= 1):
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    missing = mel.missing_tools()
    if missing:
        raise ParameterError("the timbre panel needs " + ", ".join(missing))
    clf_path = Path(classifier_path or timbre.DEFAULT_CLASSIFIER)
    clf = timbre.TimbreClassifier(clf_path)
    for name in ["speech"] + [mel.STYLES[s] for s in styles]:
        clf.index(name)  # a classifier without these classes cannot judge the panel
    rows = _rows(list(models), styles, style_of or {})
    judged = list(dict.fromkeys(r["style"] for r in rows))
    pairs = mel.pairs(judged, quick=quick)
    # render in this process first: the workers then only read the cache
    for style, a, m in pairs:
        mel.render_melody(m, a), mel.render_melody(m, mel.STYLES[style])
    for style in judged:
        mel.style_clip(style)
    voices = voice_clips()
    log(f"timbre panel: {len(rows)} rows, {len(pairs)} pairs over {', '.join(judged)}; {workers} workers")

    by_style = {s: [p for p in pairs if p[0] == s] for s in judged}
    plot_keys = {(s, a, m) for s in judged for (s_, a, m) in by_style[s][::max(1, len(by_style[s]) // PLOT_PAIRS)]
                 [:PLOT_PAIRS]}
    analyse_jobs = [{"style": s, "input": a, "melody": m} for s, a, m in pairs]
    pair_jobs = [{"row": r, "style": s, "input": a, "melody": m, "keep_output": (s, a, m) in plot_keys}
                 for r in rows for s, a, m in by_style[r["style"]]]
    # the other sound font's instrument plays the melodies, not the voices
    voice_jobs = [{"row": r, "style": r["style"], "clip": name, "signal": x} for r in rows for name, x, _ in voices
                  if r["kind"] != "other_soundfont"]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(str(clf_path),)) as pool:
        analysed = pool.map(_job_analyse, analyse_jobs, chunksize=1)
        log(f"  inputs and references analysed: {time.perf_counter() - started:.0f} s")
        done = []
        # models first across the workers, one row's pairs in order, so each worker loads few Effects
        for k, res in enumerate(pool.imap(_job_pair, pair_jobs, chunksize=1)):
            done.append(res)
            if (k + 1) % 20 == 0 or k + 1 == len(pair_jobs):
                log(f"  {k + 1}/{len(pair_jobs)} outputs measured: {time.perf_counter() - started:.0f} s")
        voice = pool.map(_job_voice, voice_jobs, chunksize=1)

    reference = {(j["style"], j["input"], j["melody"]): j["reference"] for j in analysed}
    out_rows, outputs = [], {}
    for r in rows:
        mine = [d for d in done if d["row"] == r["name"] and d["style"] == r["style"]]
        for d in mine:
            if d["output"] is not None:
                outputs[(r["name"], d["style"], d["input"], d["melody"])] = d["output"]
        refs = [reference[(d["style"], d["input"], d["melody"])] for d in mine]
        out_rows.append({
            "row": r["name"], "kind": r["kind"], "spec": r["spec"], "style": r["style"],
            "style_instrument": mel.STYLES[r["style"]], "n_pairs": len(mine),
            "mean": {k: _mean(d["measures"].get(k) for d in mine) for k in MEAN_KEYS},
            "reference": {k: _mean(ref.get(k) for ref in refs) for k in REFERENCE_KEYS},
            "wall_s_per_pair": _mean(d["wall_s"] for d in mine),
            "pairs": [{"input": d["input"], "melody": d["melody"], **d["measures"],
                       "reference": reference[(d["style"], d["input"], d["melody"])]} for d in mine]})
    results = {
        "benchmark": "timbre", "quick": quick, "styles": {s: {"instrument": mel.STYLES[s], "program":
                                                               mel.INSTRUMENTS[mel.STYLES[s]],
                                                               "inputs": list(mel.STYLE_INPUTS[s])} for s in judged},
        "melodies": {m.name: m.description for m in mel.MELODIES.values()} if not quick else
        {"high_vibrato": mel.MELODIES["high_vibrato"].description},
        "voice_clips": {name: desc for name, _, desc in voices},
        "classifier": {"path": str(clf_path), "classes": clf.classes, "sha1": _sha(clf_path.read_bytes())},
        "rows": out_rows, "voice": voice,
        "rtst": __version__, "git": git_revision(), "python": platform.python_version(), "numpy": np.__version__,
        "librosa": version_of("librosa"), "onnxruntime": version_of("onnxruntime"), "workers": workers,
        "wall_s": round(time.perf_counter() - started, 1)}
    if png_dir is not None:
        for style in judged:
            path = plot_style(style, [r for r in rows if r["style"] == style],
                              [p for p in by_style[style] if p in plot_keys], outputs, Path(png_dir))
            log(f"  wrote {path}")
    return results


# --------------------------------------------------------------------------------------------
# Report and pictures
# --------------------------------------------------------------------------------------------


def _fmt(v, pct: bool = False, width: int = 7) -> str:
    if v is None:
        return "-".rjust(width)
    return (f"{100 * v:.0f} %" if pct else f"{v:.2f}").rjust(width)


def format_report(results: dict) -> str:
    """The panel as text tables: per (row, style) the means over pairs; then the voices."""
    lines = ["Paired timbre panel (means over pairs; cut: 0 = input unchanged, 100 % = the reference; "
             "pitch kept = within 50 cents x voicing recall)", ""]
    head = (f"{'style':<7} {'row':<16} {'pairs':>5} {'mel cut':>7} {'d out':>6} {'d in':>6} {'clf cut':>7} "
            f"{'p(B)':>6} {'B wins':>6} {'pitch':>6} {'octave':>6} {'onset F':>7} {'loud r':>6} | "
            f"{'ref pitch':>9} {'ref oct':>7} {'ref p(B)':>8} {'ref onset':>9} {'ref loud':>8}")
    lines += [head, "-" * len(head)]
    for r in results["rows"]:
        m, ref = r["mean"], r["reference"]
        lines.append(
            f"{r['style']:<7} {r['row']:<16} {r['n_pairs']:>5} {_fmt(m['log_mel_cut'], True)} "
            f"{_fmt(m['d_output_db'], width=6)} {_fmt(m['d_input_db'], width=6)} {_fmt(m['classifier_cut'], True)} "
            f"{_fmt(m['p_style'], width=6)} {_fmt(m['style_share'], True, 6)} {_fmt(m['pitch_kept'], True, 6)} "
            f"{_fmt(m['octave_errors'], True, 6)} {_fmt(m['onset_f'])} {_fmt(m['loudness_corr'], width=6)} | "
            f"{_fmt(ref['pitch_kept'], True, 9)} {_fmt(ref['octave_errors'], True)} {_fmt(ref['p_style'], width=8)} "
            f"{_fmt(ref.get('onset_f'), width=9)} {_fmt(ref.get('loudness_corr'), width=8)}")
    lines += ["", "Voices (no reference): classifier p(speech) of input -> output, output's p(B), top class",
              f"{'style':<7} {'row':<16} {'clip':<16} {'p(speech) in':>12} {'out':>6} {'p(B) out':>8}  top"]
    for v in results["voice"]:
        lines.append(f"{v['style']:<7} {v['row']:<16} {v['clip']:<16} {v['p_speech_input']:12.2f} "
                     f"{v['p_speech_output']:6.2f} {v['p_style_output']:8.2f}  {v['top_output']}")
    return "\n".join(lines)


def plot_style(style: str, rows: list[dict], pairs: list, outputs: dict, png_dir: Path) -> Path:
    """Spectrogram grid for one style: rows = pairs, columns = input, reference, each row's output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["input", "reference"] + [r["name"] for r in rows]
    fig, axes = plt.subplots(len(pairs), len(cols), figsize=(2.4 * len(cols), 1.9 * len(pairs) + 0.4),
                             squeeze=False, sharex=True, sharey=True)
    for i, (s, a, m) in enumerate(pairs):
        signals = [mel.render_melody(m, a).signal, mel.render_melody(m, mel.STYLES[s]).signal]
        signals += [outputs.get((r["name"], s, a, m)) for r in rows]
        for j, (name, x) in enumerate(zip(cols, signals)):
            ax = axes[i, j]
            if x is not None:
                db = timbre.log_mel_db(timbre.level_normalise(x, SAMPLE_RATE), SAMPLE_RATE)
                ax.imshow(db, origin="lower", aspect="auto", vmin=-80, vmax=0, cmap="magma",
                          extent=[0, x.size / SAMPLE_RATE, 0, db.shape[0]])
            if i == 0:
                ax.set_title(f"reference ({mel.STYLES[s]})" if j == 1 else name, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{a}\n{m}", fontsize=8)
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
    fig.suptitle(f"timbre panel, style {style} ({mel.STYLES[style]}): log-mel 30 Hz-16 kHz, dB re peak", fontsize=10)
    fig.tight_layout()
    png_dir.mkdir(parents=True, exist_ok=True)
    path = png_dir / f"timbre_{style}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

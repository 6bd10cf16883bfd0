"""Judging a style model on the quality panel, through the real streaming engine.

Library code of ``rtst evaluate`` and ``benchmarks/bench_quality.py`` (both only parse, call
:func:`evaluate` and print). For every model and every panel clip (rtst/testing/panel.py):

* the **student**: the clip streamed through :class:`rtst.engine.Processor` one hop per call
  (:func:`rtst.measure.bench.run_processor`) with the model and the phase it runs with by default
  (:func:`rtst.presets.phase_for_model`), i.e. what ``rtst render --model NAME`` plays;
* the **teacher**: ``rtst transfer`` (L-BFGS on the model's own descriptor and content weight,
  offline PGHI + 100 fast Griffin-Lim) on the same clip and style at the model's STFT, cached on
  disk (:data:`TEACHER_CACHE`) so that a second run does not optimise again.

Figures per (model, clip), on the time-aligned output against the input clip:

``timbre_cut``      ``1 - d(output, style) / d(input, style)``, d = MFCC Fréchet distance
                    (:func:`rtst.measure.style.timbre_distance`); 0 for passthrough, 1 for an
                    output whose timbre statistics equal the style's
``onset_correlation``  onset-strength envelopes of input and output, aligned within 50 ms
``voicing_recall``, ``f0_correlation``, ``median_cents``   :func:`rtst.measure.style.pitch_kept`
                    (None where the input has too few voiced frames)
``sc_heard_db``     spectral convergence of the output against the magnitudes the model asked for
``sc_floor_db``     the same magnitudes through offline PGHI + 100 fast Griffin-Lim: what a phase
                    reconstruction with the whole clip at hand reaches (the real-time floor)
``objective``       the teacher's objective (relative content + style loss with the model's
                    training descriptor) of: the input's features (passthrough), the student's asked
                    magnitudes, the teacher's optimised features; ``objective_ratio`` = student /
                    teacher

A model with no style of its own (``identity``) is measured against the style, descriptor and
content weight of the default preset's model, as the passthrough reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import io
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from rtst import __version__
from rtst.config import StftConfig
from rtst.errors import ParameterError
from rtst.measure.bench import FLOOR_GLA_ITERATIONS, git_revision, version_of  # the offline phase floor
from rtst.model import MODELS_DIR

__all__ = ["PITCHED_STYLES", "PITCH_CLIPS", "TARGETS", "REPO_DIR", "RESULTS_DIR", "TEACHER_CACHE",
           "load_panel", "model_paths", "evaluate", "targets", "format_report", "plot_model"]

REPO_DIR = Path(__file__).resolve().parents[2]  # the source checkout: results and caches live there
RESULTS_DIR = REPO_DIR / "benchmarks" / "results"
TEACHER_CACHE = RESULTS_DIR / "quality_teacher"

#: Whether a style has a pitch a performer expects to keep (the one place this is decided; a model
#: is looked up by name, then by its style file's stem). Bells are inharmonic: no pitch target.
PITCHED_STYLES = {"cello": True, "cello-ll": True, "organ": True, "bells": False,
                  "cello_style": True, "organ_style": True, "bells_style": False}
#: The clips the pitch targets are judged on.
PITCH_CLIPS = ("male_speech", "female_speech", "recorded_speech", "melody")
#: The quality targets: (figure, comparison, threshold, unit).
TARGETS = {"timbre_cut": (">=", 0.5), "onset_correlation": (">=", 0.6), "f0_correlation": (">=", 0.8),
           "voicing_recall": (">=", 0.7), "sc_heard_db": ("<=", -18.0), "objective_ratio": ("<=", 2.0)}
#: Largest onset lag searched, seconds (the engine's latency is already removed; this absorbs
#: envelope smearing, not delay).
ONSET_MAX_LAG_S = 0.05
#: Source files whose change invalidates a cached teacher result (the teacher run and its phase
#: reconstruction; not the metrics, which are recomputed from the cached audio every run).
TEACHER_SOURCES = ("rtst/transfer/__init__.py", "rtst/transfer/teacher.py", "rtst/transfer/losses.py",
                   "rtst/transfer/descriptors.py", "rtst/transfer/features.py", "rtst/phase/gla.py",
                   "rtst/phase/pghi.py", "rtst/phase/_kernels.py", "rtst/dsp/stft.py", "rtst/dsp/windows.py")
_ONE_HOP_DISPLAY = StftConfig(n_fft=1024, hop_length=256)  # spectrogram pictures


# --------------------------------------------------------------------------------------------
# Panel, models, styles
# --------------------------------------------------------------------------------------------

def _panel_module():
    from rtst.testing import panel  # builds clips with festival/fluidsynth: imported when used

    return panel


def _clips_module():
    from rtst.testing import clips

    return clips


def load_panel(names=None) -> list:
    """The panel's clips (``quality_panel.Clip``), all or those named."""
    return _panel_module().panel(names)


def model_paths(spec: str | None) -> list[str]:
    """Comma-separated names/paths, or every ``models/*.onnx`` when ``spec`` is None."""
    if spec:
        return [s.strip() for s in spec.split(",") if s.strip()]
    found = sorted(p.stem for p in MODELS_DIR.glob("*.onnx"))
    if not found:
        raise ParameterError(f"no models in {MODELS_DIR}; give --models")
    return found


def _shown(path: Path) -> str:
    """A path as results show it: relative to the checkout when inside it (results are committed)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_DIR)) if path.is_relative_to(REPO_DIR) else str(path)


def _read_mono(path: Path, rate: int) -> np.ndarray:
    from rtst.io.files import read_audio, resample

    audio, file_rate, _ = read_audio(path)
    return resample(audio.mean(axis=1, keepdims=True), file_rate, rate)[:, 0].astype(np.float64)


def _to_rate(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    if rate_from == rate_to:
        return x
    from rtst.io.files import resample

    return resample(x[:, None], rate_from, rate_to)[:, 0].astype(np.float64)


def _style(path: Path | None, style_meta: dict, rate: int) -> tuple[np.ndarray, str]:
    """The model's style clip: ``models/NAME.style.flac`` beside it, else rebuilt by
    rtst/testing/clips.py from the stem of its ``rtst.style`` file."""
    if path is not None:
        beside = path.parent / f"{path.stem}.style.flac"
        if beside.is_file():
            return _read_mono(beside, rate), _shown(beside)
    stem = Path(style_meta.get("file", "")).stem
    clips = _clips_module()
    if stem not in {f.__name__ for f in clips.STYLE}:
        raise ParameterError(f"style {style_meta.get('file')!r} of {path} is neither beside the model "
                             f"({path.stem if path else '?'}.style.flac) nor one rtst.testing.clips can rebuild")
    clip = clips.STYLE[[f.__name__ for f in clips.STYLE].index(stem)]()
    if clip is None:
        raise ParameterError(f"cannot rebuild style {stem} here (see the note above)")
    return _to_rate(clip[1], clips.SAMPLE_RATE, rate), f"rtst/testing/clips.py {stem} (rebuilt)"


@dataclasses.dataclass
class _Model:
    name: str
    model: object                 # rtst.model.StepModel
    path: Path | None
    stft: StftConfig
    style: np.ndarray             # at stft.sample_rate
    style_source: str
    style_meta: dict
    descriptor: dict | None       # DescriptorConfig dict from rtst.training
    content_weight: float | None
    weights: dict                 # the objective's weights from rtst.training (see _WEIGHTS)
    borrowed_from: str | None     # identity: whose style/descriptor it is measured with
    pitched: bool | None


#: Training weights that the teacher objective may take (by keyword), with the value meant when a
#: model's metadata lacks one: a model trained before the objective had an envelope term had 0.
_WEIGHTS = {"content_weight": None, "style_weight": 1.0, "envelope_weight": 0.0, "gram_weight": 1.0}


def _training_weights(config: dict) -> dict:
    return {k: float(config.get(k, default)) for k, default in _WEIGHTS.items()
            if config.get(k, default) is not None}


def _objective_class():
    from rtst.transfer.losses import TeacherObjective

    return TeacherObjective


def _load(spec: str) -> _Model:
    from rtst.model import load_model
    from rtst.presets import PRESETS

    model = load_model(spec)
    path = getattr(model, "path", None)
    if path is None:  # identity: the passthrough reference, measured with the default preset's model
        ref = _load(PRESETS["default"].model)
        return dataclasses.replace(ref, name=model.name, model=model, path=None, borrowed_from=ref.name)
    from rtst.transfer.distill import read_training

    meta = read_training(path)
    training, style_meta = meta["training"], meta["style"]
    style, source = _style(Path(path), style_meta, model.stft.sample_rate)
    stem = Path(style_meta.get("file", "")).stem
    pitched = PITCHED_STYLES.get(model.name, PITCHED_STYLES.get(stem))
    return _Model(name=model.name, model=model, path=Path(path), stft=model.stft, style=style, style_source=source,
                  style_meta=style_meta, descriptor=training.get("descriptor"),
                  content_weight=training.get("config", {}).get("content_weight"),
                  weights=_training_weights(training.get("config", {})), borrowed_from=None,
                  pitched=pitched)


# --------------------------------------------------------------------------------------------
# Measures
# --------------------------------------------------------------------------------------------

class _ClipCache:
    """Figures of an input clip that do not depend on the model (pitch track, onsets, distances)."""

    def __init__(self):
        self._store = {}

    def get(self, key, make):
        if key not in self._store:
            self._store[key] = make()
        return self._store[key]


def _measure(output: np.ndarray, content: np.ndarray, style: np.ndarray, rate: int, clip_key: str,
             cache: _ClipCache) -> dict:
    """Timbre cut, onset correlation and pitch of ``output`` (time-aligned) against ``content``."""
    from rtst.measure.style import aligned_correlation, onset_strength, pitch_kept, timbre_distance

    hop = 512
    d_in = cache.get((clip_key, "timbre", hashlib.sha1(style.tobytes()).hexdigest()),
                     lambda: timbre_distance(content, style, rate))
    try:
        d_out = timbre_distance(output, style, rate)
    except ParameterError:  # an (almost) silent output has no timbre to measure; not a reason to stop the panel
        d_out = None
    env_in = cache.get((clip_key, "onsets"), lambda: onset_strength(content, rate, hop_length=hop))
    env_out = onset_strength(output, rate, hop_length=hop)
    max_lag = min(int(ONSET_MAX_LAG_S * rate / hop), min(env_in.size, env_out.size) // 2)
    onset, lag = aligned_correlation(env_out, env_in, max_lag=max_lag)
    track = cache.get((clip_key, "pitch"), lambda: pitch_kept(content, content, rate)["content_track"])
    pitch = pitch_kept(output, content, rate, content_f0=track)
    pitch.pop("content_track")
    cut = None if d_out is None else (1.0 - d_out / d_in if d_in > 0 else 0.0)
    return {"timbre_cut": cut, "timbre_distance": d_out,
            "timbre_distance_input": d_in, "onset_correlation": onset, "onset_lag_frames": lag, **pitch}


def _objective(m: _Model, content: np.ndarray):
    """``losses(features) -> {total, content, style}`` with the model's training objective."""
    import torch

    from rtst.transfer.descriptors import DescriptorConfig, build_descriptor
    from rtst.transfer.features import signal_features
    from rtst.transfer.losses import TeacherObjective

    descriptor = build_descriptor(DescriptorConfig.from_dict(m.descriptor))
    content_feat = signal_features(content, m.stft)
    objective = TeacherObjective(descriptor, torch.from_numpy(content_feat),
                                 torch.from_numpy(signal_features(m.style, m.stft)),
                                 **_weights(m, inspect.signature(TeacherObjective).parameters))

    def losses(feat: np.ndarray) -> dict:
        if feat.shape != content_feat.shape:
            raise ParameterError(f"features {feat.shape} do not match the content's {content_feat.shape}")
        with torch.no_grad():
            total, lc, ls = objective(torch.from_numpy(np.ascontiguousarray(feat, dtype=np.float32)))
        return {"total": float(total), "content": float(lc), "style": float(ls)}

    return losses, content_feat


def _student(m: _Model, content: np.ndarray, phase: str, lookahead, clip_key: str, cache: _ClipCache, losses):
    from rtst.engine import Processor
    from rtst.measure.bench import offline_floor_db, run_processor

    proc = Processor(m.stft, model=m.model, phase=phase, lookahead=lookahead, block_size=m.stft.hop_length)
    run = run_processor(proc, content)
    target = run["target_mag"]
    started = time.perf_counter()
    floor = offline_floor_db(target, m.stft, content.size)
    floor_s = time.perf_counter() - started
    row = _measure(run["output"], content, m.style, m.stft.sample_rate, clip_key, cache)
    row.update({"sc_heard_db": run["spectral_convergence_db"], "sc_floor_db": floor,
                "wall_s": run["wall_s"], "rtf": run["wall_s"] * m.stft.sample_rate / content.size,
                "floor_wall_s": floor_s, "latency_samples": proc.latency_samples,
                "phase": proc.phase.name, "lookahead": proc.phase.lookahead})
    if losses is not None:
        row["objective"] = losses(np.log1p(target).astype(np.float32))
    return row, run["output"]


# --------------------------------------------------------------------------------------------
# Teacher (cached)
# --------------------------------------------------------------------------------------------

def _weights(m: _Model, accepted) -> dict:
    """The model's training weights, as far as this version of the objective takes them."""
    return {k: v for k, v in m.weights.items() if k in accepted}


def _teacher_config(m: _Model, iterations: int):
    from rtst.transfer.teacher import TeacherConfig

    return TeacherConfig(iterations=iterations, **_weights(m, {f.name for f in dataclasses.fields(TeacherConfig)}))


def _teacher_key(m: _Model, content: np.ndarray, iterations: int) -> tuple[str, dict]:
    import torch

    config = _teacher_config(m, iterations)
    settings = {"teacher": {k: v for k, v in dataclasses.asdict(config).items() if k != "memory_limit_bytes"},
                "descriptor": m.descriptor, "stft": dataclasses.asdict(m.stft), "torch": torch.__version__}
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(content, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(m.style, dtype=np.float64).tobytes())
    h.update(json.dumps(settings, sort_keys=True).encode())
    for rel in TEACHER_SOURCES:
        h.update(rel.encode())
        h.update((REPO_DIR / rel).read_bytes())
    return h.hexdigest(), settings


def _teacher(m: _Model, content: np.ndarray, clip_name: str, iterations: int, cache_dir: Path, losses, log):
    """The teacher's audio and objective for (clip, style) at the model's STFT, from the cache or run now.

    The cache holds the audio (16-bit FLAC at peak -1 dBFS plus its gain) and the objective; the
    figures are measured from the audio every run, so a change of a metric needs no new teacher.
    """
    import soundfile as sf

    from rtst.transfer.descriptors import DescriptorConfig, build_descriptor
    from rtst.transfer.teacher import transfer

    key, settings = _teacher_key(m, content, iterations)
    stem = f"{clip_name}_{Path(m.style_meta.get('file', 'style')).stem}_{m.stft.n_fft}-{m.stft.hop_length}_{key[:16]}"
    audio_path, info_path = cache_dir / f"{stem}.flac", cache_dir / f"{stem}.json"
    if audio_path.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("key") == key:
            audio, _ = sf.read(str(audio_path), dtype="float64")
            return audio * info["gain"], {**info, "cached": True}, audio_path
    log(f"    teacher {iterations} L-BFGS iterations on {clip_name} ({m.stft.n_fft}/{m.stft.hop_length}) ...")
    descriptor = build_descriptor(DescriptorConfig.from_dict(m.descriptor))
    result = transfer(content, m.style, m.stft, descriptor, config=_teacher_config(m, iterations))
    peak = float(np.max(np.abs(result.audio))) or 1.0
    gain = peak / 10.0 ** (-1.0 / 20.0)
    cache_dir.mkdir(parents=True, exist_ok=True)
    sf.write(str(audio_path), result.audio / gain, m.stft.sample_rate, subtype="PCM_16")
    info = {"key": key, "clip": clip_name, "style": m.style_meta.get("file"), "settings": settings, "gain": gain,
            "objective": losses(result.features), "lbfgs_final": result.final, "lbfgs_initial": result.initial,
            "iterations_run": len(result.history), "stopped": result.stopped,
            "wall_s": result.optimise_seconds + result.phase_seconds,
            "features_sc_db": None, "rtst_version": __version__, "git": git_revision(REPO_DIR)}
    # the teacher's own heard-vs-asked: its audio against the magnitudes it optimised
    from rtst.measure.bench import spectral_convergence_db
    from rtst.transfer.features import from_features

    info["features_sc_db"] = spectral_convergence_db(result.audio, from_features(result.features), m.stft)
    info_path.write_text(json.dumps(info, indent=1, default=float) + "\n")
    audio, _ = sf.read(str(audio_path), dtype="float64")
    return audio * gain, {**info, "cached": False}, audio_path


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

def _mean(rows: list, key: str):
    vals = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else None


def _summary(rows: list) -> dict:
    keys = ("timbre_cut", "onset_correlation", "voicing_recall", "f0_correlation", "median_cents",
            "within_50_cents", "octave_errors", "sc_heard_db", "sc_floor_db", "wall_s")
    return {k: _mean(rows, k) for k in keys}


def evaluate(models: list[str], clips=None, *, phase: str | None = None, lookahead: int | None = None,
             teacher_iterations: int = 100, teacher: bool = True, cache_dir: Path | None = None,
             png_dir: Path | None = None, log=None) -> dict:
    """Judge each model on the panel (see the module docstring).

    Parameters
    ----------
    models : list of str
        Shipped names, ``.onnx`` paths or ``identity``.
    clips : list of str or list of Clip, optional
        Panel clip names (default all), or clips already built (``quality_panel.Clip``).
    phase, lookahead : optional
        Override the model's default phase method (:func:`rtst.presets.phase_for_model`).
    teacher_iterations : int
        L-BFGS iterations of the teacher (part of its cache key).
    teacher : bool
        False skips the teacher (no objective ratio).
    cache_dir : Path, optional
        Teacher cache (default :data:`TEACHER_CACHE`).
    png_dir : Path, optional
        Write ``quality_MODEL.png`` here (:func:`plot_model`).
    log : callable, optional
        Progress lines.

    Returns
    -------
    results : dict
        ``settings``, ``clips`` (name, seconds, description, source, packages, licence), ``models``
        (per model: settings, ``rows`` per clip with ``student``/``teacher``/``passthrough``,
        ``mean``, ``teacher_mean``, ``targets``), versions and git revision.
    """
    from rtst.presets import phase_for_model

    log = log or (lambda line: None)
    cache_dir = Path(cache_dir) if cache_dir is not None else TEACHER_CACHE
    started = time.perf_counter()
    panel = load_panel(clips) if clips is None or all(isinstance(c, str) for c in clips) else list(clips)
    results = {
        "benchmark": "quality", "rtst_version": __version__, "git": git_revision(REPO_DIR),
        "machine": platform.processor() or platform.machine(),
        "versions": {p: version_of(p) for p in ("numpy", "torch", "onnxruntime", "librosa", "numba")},
        "settings": {"phase": phase, "lookahead": lookahead, "teacher": teacher,
                     "teacher_iterations": teacher_iterations if teacher else None,
                     "onset_max_lag_s": ONSET_MAX_LAG_S, "floor_gla_iterations": FLOOR_GLA_ITERATIONS,
                     "targets": {k: list(v) for k, v in TARGETS.items()}, "pitch_clips": list(PITCH_CLIPS)},
        "clips": [{"name": c.name, "seconds": c.signal.size / 48000.0, "description": c.description,
                   "source": c.source, "packages": c.packages, "licence": c.licence} for c in panel],
        "models": [],
    }
    cache = _ClipCache()
    for spec in models:
        m = _load(spec)
        default_phase, default_lookahead = phase_for_model(m.model)
        use_phase = phase or default_phase
        use_lookahead = lookahead if lookahead is not None else (default_lookahead if phase is None else None)
        entry = {"model": m.name, "path": _shown(m.path) if m.path else None, "stft": dataclasses.asdict(m.stft),
                 "phase": use_phase, "lookahead": use_lookahead, "style": m.style_source,
                 "style_meta": m.style_meta, "borrowed_from": m.borrowed_from, "pitched": m.pitched,
                 "descriptor": m.descriptor, "content_weight": m.content_weight, "weights": m.weights,
                 # a training weight the teacher objective cannot take (e.g. a student trained without
                 # the Gram term) makes the objective ratio compare against a different objective
                 "weights_the_teacher_lacks": {k: v for k, v in m.weights.items() if v != _WEIGHTS[k]
                                               and k not in inspect.signature(_objective_class()).parameters},
                 "rows": []}
        log(f"{m.name}: n_fft {m.stft.n_fft} hop {m.stft.hop_length}, phase {use_phase}"
            f"{'' if use_lookahead is None else f' lookahead {use_lookahead}'}, style {m.style_source}"
            + (f" (borrowed from {m.borrowed_from})" if m.borrowed_from else ""))
        audio = {}
        run_teacher = teacher and m.borrowed_from is None and m.descriptor is not None
        for clip in panel:
            content = _to_rate(clip.signal, 48000, m.stft.sample_rate)
            clip_key = f"{clip.name}@{m.stft.sample_rate}"
            losses = None
            row = {"clip": clip.name, "seconds": content.size / m.stft.sample_rate}
            if m.descriptor is not None:
                losses, content_feat = _objective(m, content)
                row["passthrough"] = {"objective": losses(content_feat)}
            row["student"], student_audio = _student(m, content, use_phase, use_lookahead, clip_key, cache, losses)
            audio[clip.name] = {"content": content, "student": student_audio}
            if run_teacher:
                t_audio, info, path = _teacher(m, content, clip.name, teacher_iterations, cache_dir, losses, log)
                t_row = _measure(t_audio, content, m.style, m.stft.sample_rate, clip_key, cache)
                t_row.update({"objective": info["objective"], "lbfgs_final": info["lbfgs_final"],
                              "sc_heard_db": info["features_sc_db"], "wall_s": info["wall_s"],
                              "cached": info["cached"], "cache_file": _shown(path)})
                row["teacher"] = t_row
                row["objective_ratio"] = row["student"]["objective"]["total"] / max(t_row["objective"]["total"], 1e-12)
                audio[clip.name]["teacher"] = t_audio
            s = row["student"]
            log(f"  {clip.name:<16} timbre cut {_fmt(s['timbre_cut'], '+5.0f', 100)} %  onsets {s['onset_correlation']:.2f}  "
                f"SC {s['sc_heard_db']:6.1f} / {s['sc_floor_db']:6.1f} dB"
                + (f"  objective {row['objective_ratio']:.2f}x teacher" if "objective_ratio" in row else ""))
            entry["rows"].append(row)
        students = [r["student"] for r in entry["rows"]]
        entry["mean"] = _summary(students)
        ratios = [r["objective_ratio"] for r in entry["rows"] if "objective_ratio" in r]
        entry["mean"]["objective_ratio"] = float(np.mean(ratios)) if ratios else None
        if run_teacher:
            entry["teacher_mean"] = _summary([r["teacher"] for r in entry["rows"]])
        entry["targets"] = targets(entry)
        if png_dir is not None:
            path = Path(png_dir) / f"quality_{m.name}.png"
            plot_model(path, entry, audio, m.style, m.stft.sample_rate)
            entry["png"] = _shown(path)
        results["models"].append(entry)
    results["wall_s"] = time.perf_counter() - started
    return results


# --------------------------------------------------------------------------------------------
# Targets and the printed report
# --------------------------------------------------------------------------------------------

def _judge(name: str, value, clips: list) -> dict:
    """One target on the mean ``value``, with the clips that miss it on their own."""
    op, threshold = TARGETS[name]
    if value is None:
        return {"target": name, "op": op, "threshold": threshold, "value": None, "met": None, "by": None,
                "clips_missing": []}
    met = value >= threshold if op == ">=" else value <= threshold
    missing = [c for c, v in clips if v is not None and not (v >= threshold if op == ">=" else v <= threshold)]
    return {"target": name, "op": op, "threshold": threshold, "value": value, "met": bool(met),
            "by": float(abs(value - threshold)), "clips_missing": missing}


def targets(entry: dict) -> list[dict]:
    """The quality targets for one model entry of :func:`evaluate`, judged on the mean over clips."""
    rows = entry["rows"]
    out = []
    for name in ("timbre_cut", "onset_correlation"):
        out.append(_judge(name, entry["mean"][name], [(r["clip"], r["student"][name]) for r in rows]))
    if entry.get("pitched"):
        pitch_rows = [r for r in rows if r["clip"] in PITCH_CLIPS]
        for name in ("f0_correlation", "voicing_recall"):
            out.append(_judge(name, _mean([r["student"] for r in pitch_rows], name),
                              [(r["clip"], r["student"][name]) for r in pitch_rows]))
    out.append(_judge("sc_heard_db", entry["mean"]["sc_heard_db"], [(r["clip"], r["student"]["sc_heard_db"]) for r in rows]))
    out.append(_judge("objective_ratio", entry["mean"].get("objective_ratio"),
                      [(r["clip"], r.get("objective_ratio")) for r in rows]))
    return out


def _fmt(value, spec: str, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        width = int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
        return "-".rjust(width)
    return format(value * scale, spec)


_COLUMNS = ("timbre cut", "onset", "v.recall", "f0 corr", "cents", "SC heard", "SC floor", "obj/teach", "wall s")


def _line(label: str, r: dict, ratio) -> str:
    return (f"  {label:<16} {_fmt(r.get('timbre_cut'), '+9.0f', 100)} % {_fmt(r.get('onset_correlation'), '6.2f')} "
            f"{_fmt(r.get('voicing_recall'), '8.2f')} {_fmt(r.get('f0_correlation'), '7.2f')} "
            f"{_fmt(r.get('median_cents'), '6.0f')} {_fmt(r.get('sc_heard_db'), '8.1f')} "
            f"{_fmt(r.get('sc_floor_db'), '8.1f')} {_fmt(ratio, '9.2f')} {_fmt(r.get('wall_s'), '7.2f')}")


def _target_text(t: dict) -> str:
    scale, value_fmt, by_fmt = {"timbre_cut": (100.0, "{:.0f} %", "{:.0f} points"),
                                "sc_heard_db": (1.0, "{:.1f} dB", "{:.1f} dB"),
                                "objective_ratio": (1.0, "{:.2f}x", "{:.2f}x")}.get(t["target"], (1.0, "{:.2f}", "{:.2f}"))
    head = f"{t['target']} {t['op']} {value_fmt.format(scale * t['threshold'])}:"
    if t["met"] is None:
        return f"    {head} not measured"
    text = (f"    {head} {value_fmt.format(scale * t['value'])} "
            + ("met" if t["met"] else f"MISSED by {by_fmt.format(scale * t['by'])}"))
    if t["clips_missing"]:
        text += f" (clips missing it: {', '.join(t['clips_missing'])})"
    return text


def format_report(results: dict) -> str:
    """The printed tables (one per model: student rows, mean, teacher rows) and the targets."""
    s = results["settings"]
    lines = [f"quality panel: {len(results['clips'])} clips, teacher "
             + (f"{s['teacher_iterations']} L-BFGS iterations" if s["teacher"] else "skipped")
             + f"; git {results['git']}"]
    header = (f"  {'clip':<16} {'timbre cut':>11} {'onset':>6} {'v.recall':>8} {'f0 corr':>7} {'cents':>6} "
              f"{'SC heard':>8} {'SC floor':>8} {'obj/teach':>9} {'wall s':>7}")
    for e in results["models"]:
        lines.append("")
        lines.append(f"{e['model']}: n_fft {e['stft']['n_fft']} hop {e['stft']['hop_length']}, phase {e['phase']}"
                     + ("" if e["lookahead"] is None else f" lookahead {e['lookahead']}")
                     + f", style {e['style']}" + (f" (borrowed from {e['borrowed_from']})" if e["borrowed_from"] else "")
                     + f", pitched {e['pitched']}"
                     + ("".join(f"; trained with {k} {v:g}, which the teacher objective lacks"
                                for k, v in e.get("weights_the_teacher_lacks", {}).items())))
        lines.append(header)
        for r in e["rows"]:
            lines.append(_line(r["clip"], r["student"], r.get("objective_ratio")))
        lines.append(_line("mean", e["mean"], e["mean"].get("objective_ratio")))
        if any("teacher" in r for r in e["rows"]):
            lines.append("  teacher (offline; SC heard = its audio vs its optimised magnitudes; cached rows marked *)")
            for r in e["rows"]:
                t = r["teacher"]
                lines.append(_line(r["clip"] + ("*" if t["cached"] else ""), {**t, "sc_floor_db": None}, None))
            lines.append(_line("mean", {**e["teacher_mean"], "sc_floor_db": None}, None))
        lines.append("  targets:")
        lines += [_target_text(t) for t in e["targets"]]
    lines.append("")
    lines.append(f"wall {results['wall_s']:.0f} s")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------

def _log_spec(x: np.ndarray, rate: int) -> np.ndarray:
    from rtst.dsp.stft import stft

    cfg = dataclasses.replace(_ONE_HOP_DISPLAY, sample_rate=rate)
    mag = np.abs(stft(np.asarray(x, dtype=np.float64), cfg))
    return 20.0 * np.log10(np.maximum(mag, 1e-6))


def plot_model(path: Path, entry: dict, audio: dict, style: np.ndarray, rate: int, *, fmax_hz: float = 8000.0) -> None:
    """One PNG: rows = panel clips, columns = content / style / teacher / student log spectrograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = entry["rows"]
    cols = ("content", "style", "teacher", "student")
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(13, 1.9 * len(rows) + 0.6), squeeze=False)
    style_db = _log_spec(style, rate)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            x = style_db if col == "style" else (None if col not in audio[row["clip"]] else
                                                  _log_spec(audio[row["clip"]][col], rate))
            if x is None:
                ax.text(0.5, 0.5, "no teacher", ha="center", va="center", transform=ax.transAxes)
            else:
                top = x.max()
                seconds = x.shape[1] * _ONE_HOP_DISPLAY.hop_length / rate
                ax.imshow(x, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                          extent=(0, seconds, 0, rate / 2))
                ax.set_ylim(0, fmax_hz)
            ax.set_xticks([])
            ax.set_yticks([] if j else [0, fmax_hz / 2, fmax_hz])
            if i == 0:
                ax.set_title(col)
            if j == 0:
                ax.set_ylabel(row["clip"], fontsize=8)
            if col in ("teacher", "student") and col in row:
                r = row[col]
                ax.text(0.01, 0.97, f"cut {_fmt(r['timbre_cut'], '.0f', 100)} %, onsets {r['onset_correlation']:.2f}",
                        transform=ax.transAxes, ha="left", va="top", fontsize=7, color="white")
    fig.suptitle(f"{entry['model']}: {entry['phase']} phase, style {Path(entry['style']).name}; 0-{fmax_hz / 1000:g} kHz, "
                 "80 dB range", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=72)
    plt.close(fig)
    # noisy spectrograms compress badly in true colour; a 128-colour palette keeps the picture
    # (one colour map) at about a third of the size, which matters for committed results
    from PIL import Image

    buffer.seek(0)
    Image.open(buffer).convert("RGB").quantize(colors=128).save(path, optimize=True)

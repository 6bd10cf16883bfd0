"""The quality panel's measures (pitch_kept, onsets), the phase a model runs with by default, and a
smoke run of the evaluation through the real engine (rtst.transfer.quality)."""

import numpy as np
import pytest

from rtst.measure.style import aligned_correlation, onset_strength

SR = 48000


def _tone(f0=220.0, cents=0.0, seconds=1.0, sr=SR):
    """Harmonic tone with a 5 Hz +-3 % vibrato, so that its log f0 contour has a shape to correlate."""
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * 2.0 ** (cents / 1200.0) * (1.0 + 0.03 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    return 0.3 * sum(np.sin(h * phase) / h for h in range(1, 9))


# ---- pitch_kept --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tone_track():
    pytest.importorskip("librosa")
    from rtst.measure.style import pitch_kept

    x = _tone()
    result = pitch_kept(x, x, SR)
    return x, result


def test_pitch_kept_tone_against_itself(tone_track):
    _, r = tone_track
    assert r["n_voiced"] > 60
    assert r["voicing_recall"] == pytest.approx(1.0)
    assert r["median_cents"] == pytest.approx(0.0, abs=1.0)
    assert r["f0_correlation"] > 0.999
    assert r["within_50_cents"] == 1.0 and r["octave_errors"] == 0.0


@pytest.mark.parametrize("cents", [100.0, 700.0, 1200.0])
def test_pitch_kept_measures_a_known_shift(tone_track, cents):
    from rtst.measure.style import pitch_kept

    x, ref = tone_track
    r = pitch_kept(_tone(cents=cents), x, SR, content_f0=ref["content_track"])
    assert r["median_cents"] == pytest.approx(cents, abs=10.0)
    assert r["f0_correlation"] > 0.98
    assert r["voicing_recall"] > 0.95
    assert r["within_50_cents"] == 0.0
    assert r["octave_errors"] == pytest.approx(1.0 if cents == 1200.0 else 0.0)


def test_pitch_kept_silent_output_keeps_nothing(tone_track):
    from rtst.measure.style import pitch_kept

    x, ref = tone_track
    r = pitch_kept(np.zeros_like(x), x, SR, content_f0=ref["content_track"])
    assert r["voicing_recall"] < 0.05
    assert r["f0_correlation"] is None and r["median_cents"] is None


def test_pitch_kept_white_noise_has_no_pitch():
    pytest.importorskip("librosa")
    from rtst.measure.style import pitch_kept

    noise = 0.1 * np.random.default_rng(0).standard_normal(SR)
    r = pitch_kept(noise, noise, SR)
    assert r["n_voiced"] < 20
    assert r["voicing_recall"] is None and r["f0_correlation"] is None and r["median_cents"] is None


# ---- onsets ----------------------------------------------------------------------------------

def test_onset_correlation_of_a_delayed_click_train():
    rng = np.random.default_rng(3)
    x = np.zeros(3 * SR)
    for start in np.cumsum(rng.uniform(0.15, 0.4, 10)):
        i = int(start * SR)
        x[i:i + 480] += rng.uniform(0.3, 1.0) * np.exp(-np.arange(480) / 60.0) * rng.standard_normal(480)
    delay = int(0.020 * SR)
    y = np.concatenate([np.zeros(delay), x[:-delay]])
    hop = 512
    corr, lag = aligned_correlation(onset_strength(y, SR, hop_length=hop), onset_strength(x, SR, hop_length=hop),
                                    max_lag=int(0.05 * SR / hop))
    assert corr > 0.95 and lag in (1, 2)
    # the lag search is what finds it: unaligned, a 20 ms shift is two frames off
    unaligned, _ = aligned_correlation(onset_strength(y, SR, hop_length=hop), onset_strength(x, SR, hop_length=hop),
                                       max_lag=0)
    assert unaligned < corr


# ---- the phase a model runs with -------------------------------------------------------------

def test_phase_for_model_follows_the_presets():
    from rtst.model import load_model
    from rtst.presets import DEFAULT_PHASE, PRESETS, phase_for_model

    assert phase_for_model("identity") == (DEFAULT_PHASE, None)
    for name in ("cello", "cello-ll", "bells"):
        try:
            model = load_model(name)
        except Exception:
            pytest.skip(f"shipped model {name} missing")
        named = [p for p in PRESETS.values() if p.model == name]
        same_stft = [p for p in PRESETS.values()
                     if load_model(p.model).stft.n_fft == model.stft.n_fft
                     and load_model(p.model).stft.hop_length == model.stft.hop_length]
        expected = (named or same_stft)[0]
        assert phase_for_model(model) == (expected.phase, expected.lookahead)
    # default comes before quality: a cello runs causal, as the default preset plays it
    assert phase_for_model("cello") == (PRESETS["default"].phase, PRESETS["default"].lookahead)
    assert phase_for_model("bells") == phase_for_model("cello")


@pytest.mark.parametrize("model", ["cello", "cello-ll", "identity"])
def test_render_without_phase_uses_the_models_default(tmp_path, model):
    import json

    import soundfile as sf

    from rtst.cli import main
    from rtst.model import MODELS_DIR
    from rtst.presets import DEFAULT_PHASE, PRESETS

    if model != "identity" and not (MODELS_DIR / f"{model}.onnx").is_file():
        pytest.skip(f"shipped model {model} missing")
    named = [p for p in PRESETS.values() if p.model == model]
    # the method's own lookahead when no preset names the model (hybrid: 1)
    expected = (named[0].phase, named[0].lookahead) if named else (DEFAULT_PHASE, 1)
    src, out, rep = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "r.json"
    sf.write(src, _tone(seconds=0.3).astype(np.float32), SR, subtype="FLOAT")
    assert main(["render", str(src), str(out), "--model", model, "--report", str(rep)]) == 0
    report = json.loads(rep.read_text())
    assert (report["phase"], report["lookahead"]) == expected
    # an option given wins over the model's default
    assert main(["render", str(src), str(out), "--model", model, "--phase", "spsi", "--report", str(rep)]) == 0
    assert json.loads(rep.read_text())["phase"] == "spsi"


# ---- the evaluation, end to end (real engine, real panel clip, no teacher) ----------------------

def test_evaluate_identity_scores_as_passthrough(tmp_path):
    pytest.importorskip("librosa")
    pytest.importorskip("torch")
    from rtst.model import MODELS_DIR
    from rtst.transfer import quality

    if not (MODELS_DIR / "cello.onnx").is_file():
        pytest.skip("shipped model cello missing")
    try:
        clip = quality.load_panel(["recorded_speech"])[0]
    except Exception as exc:  # alsa-utils missing: a one-line ParameterError
        pytest.skip(str(exc))
    short = clip._replace(signal=clip.signal[: int(1.6 * 48000)])
    results = quality.evaluate(["identity", "cello"], [short], teacher=False, png_dir=tmp_path)
    assert {"settings", "clips", "models", "git", "versions", "wall_s"} <= set(results)
    identity, cello = results["models"]
    assert identity["borrowed_from"] == "cello" and identity["phase"] == "guided"
    for entry in results["models"]:
        assert {"rows", "mean", "targets", "phase", "lookahead", "stft", "style", "png"} <= set(entry)
        row = entry["rows"][0]
        assert {"timbre_cut", "onset_correlation", "voicing_recall", "f0_correlation", "median_cents",
                "sc_heard_db", "sc_floor_db", "wall_s"} <= set(row["student"])
        # the teacher's objective is measured for models trained on it (a distilled student's
        # rtst.training names its descriptor); the shipped models re-synthesise and have none
        assert ("objective" in row["student"]) == (entry["model"] != "identity" and
                                                    quality._load(entry["model"]).descriptor is not None)
        assert "teacher" not in row and ("passthrough" in row) == ("objective" in row["student"])
        assert (tmp_path / f"quality_{entry['model']}.png").is_file()
    s = identity["rows"][0]["student"]
    assert abs(s["timbre_cut"]) < 0.05
    assert s["onset_correlation"] > 0.95
    assert s["f0_correlation"] > 0.95 and s["voicing_recall"] > 0.9 and s["median_cents"] < 20
    # a real style model moves the timbre towards its style
    assert cello["rows"][0]["student"]["timbre_cut"] > 0.2
    text = quality.format_report(results)
    assert "identity" in text and "targets:" in text and "timbre_cut >= 50 %" in text


@pytest.mark.parametrize("args, match", [(["--clips", "nope"], "unknown panel clip(s) nope"),
                                         (["--models", "no-such-model", "--clips", "percussive"], "not found")])
def test_evaluate_cli_errors_are_one_line(args, match, capsys):
    pytest.importorskip("torch")
    from rtst.cli import main

    assert main(["evaluate", "--no-teacher", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err


def test_phase_tuning_set_is_apart_from_the_panel():
    """The phase settings were chosen on rtst/testing/tuning.py; the panel judges them, so none of
    its sources may be a tuning source."""
    import inspect

    from rtst.testing import panel, tuning

    panel_source = inspect.getsource(panel)
    assert tuning.TUNING_VOICE not in ("voice_kal_diphone", "voice_cmu_us_slt_arctic_hts")
    assert f'voice = "{tuning.TUNING_VOICE}"' not in panel_source
    assert tuning.TUNING_MIDI.name not in panel_source and tuning.TUNING_MIDI.name != signals_midi()
    assert tuning.LOW_VOICE_TEXT not in (panel.MALE_TEXT, panel.FEMALE_TEXT)
    # screen-capture.oga is the same file as the panel's camera-shutter.oga
    assert not set(tuning.PERCUSSIVE) & {"camera-shutter.oga", "trash-empty.oga", "audio-volume-change.oga",
                                         "screen-capture.oga"}
    assert all(name not in panel_source for name in tuning.PERCUSSIVE)


def signals_midi():
    from rtst.testing import signals

    return signals.MIDI_PREFERRED

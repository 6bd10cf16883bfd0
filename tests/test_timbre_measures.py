"""The paired timbre benchmark's measures (rtst/measure/timbre.py) on signals with known answers:
the reference as output cuts 100 %, passthrough 0 %, a -10 dB output scores the same, the trained
classifier names held-out renders, pitch kept of a known tone, onset matching."""

import numpy as np
import pytest

pytest.importorskip("librosa")

from rtst.measure import timbre  # noqa: E402
from rtst.testing import melodies as mel  # noqa: E402

SR = 48000


def _tone(f0=220.0, cents=0.0, seconds=1.5, sr=SR):
    """Harmonic tone (8 partials, 1/h) with a 5 Hz +-3 % vibrato."""
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * 2.0 ** (cents / 1200.0) * (1.0 + 0.03 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    return 0.3 * sum(np.sin(h * phase) / h for h in range(1, 9))


@pytest.fixture(scope="module")
def classifier():
    if not timbre.DEFAULT_CLASSIFIER.is_file():
        pytest.skip(f"{timbre.DEFAULT_CLASSIFIER} missing (python tools/train_timbre_classifier.py)")
    return timbre.load_classifier()


@pytest.fixture(scope="module")
def pair(classifier):
    """flute (input) and cello (reference) playing middle_detached, their analyses."""
    missing = mel.missing_tools()
    if missing:
        pytest.skip("renders need " + ", ".join(missing))
    x = mel.render_melody("middle_detached", "flute").signal
    ref = mel.render_melody("middle_detached", "cello").signal
    a_in = timbre.input_analysis(x, SR, classifier)
    a_ref = timbre.input_analysis(ref, SR, classifier, pitch=False)
    return x, ref, a_in, a_ref


def _measures(y, pair, classifier, pitch=True):
    _, _, a_in, a_ref = pair
    return timbre.pair_measures(y, a_in, a_ref, SR, classifier, "cello", pitch=pitch)


def test_reference_as_output_cuts_everything(pair, classifier):
    x, ref, _, _ = pair
    m = _measures(ref, pair, classifier, pitch=False)
    assert m["d_input_db"] > 3.0            # flute and cello are far apart
    assert m["d_output_db"] == pytest.approx(0.0, abs=1e-9)
    assert m["log_mel_cut"] == pytest.approx(1.0)
    assert m["classifier_cut"] == pytest.approx(1.0)
    assert m["p_style"] == pytest.approx(m["p_style_reference"])
    assert timbre.log_mel_cut(ref, x, ref, SR)["cut"] == pytest.approx(1.0)


def test_passthrough_cuts_nothing_and_keeps_the_content(pair, classifier):
    x, ref, _, _ = pair
    m = _measures(x, pair, classifier)
    assert m["log_mel_cut"] == pytest.approx(0.0, abs=1e-12)
    assert m["classifier_cut"] == pytest.approx(0.0, abs=1e-9)
    assert m["pitch_kept"] > 0.95 and m["octave_errors"] == 0.0
    assert m["onset_f"] == pytest.approx(1.0)
    assert m["loudness_corr"] == pytest.approx(1.0)
    assert timbre.log_mel_cut(x, x, ref, SR)["cut"] == pytest.approx(0.0, abs=1e-12)


def test_level_cannot_buy_a_score(pair, classifier):
    """The same output 10 dB quieter (and 6 dB louder) scores the same on every measure."""
    x, ref, _, _ = pair
    # a half-way output: some of the reference's timbre, so the cuts are neither 0 nor 1
    y = 0.5 * x + 0.5 * ref
    base = _measures(y, pair, classifier)
    assert 0.05 < base["log_mel_cut"] < 0.95
    for gain_db in (-10.0, 6.0):
        m = _measures(y * 10 ** (gain_db / 20), pair, classifier)
        for key, value in base.items():
            if isinstance(value, float):
                assert m[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
            else:
                assert m[key] == value, key
    assert timbre.log_mel_cut(0.316 * y, x, ref, SR)["cut"] == pytest.approx(base["log_mel_cut"], abs=1e-9)
    assert timbre.loudness_correlation(0.316 * y, x, SR) == pytest.approx(timbre.loudness_correlation(y, x, SR))


def test_classifier_names_held_out_renders(classifier):
    """Random melodies of seeds never trained on (training 1000+, held-out test 5000+)."""
    if mel.missing_tools():
        pytest.skip("renders need " + ", ".join(mel.missing_tools()))
    for seed, instrument in ((9001, "organ"), (9002, "cello"), (9003, "flute"), (9004, "bells")):
        m = mel.random_melody(seed, seconds=5.0, low_pitch=50, high_pitch=76)
        x = mel.render_melody(m, instrument).signal
        p = classifier.posterior(x, SR)
        assert classifier.classes[int(np.argmax(p))] == instrument, (instrument, dict(zip(classifier.classes, p)))


def test_classifier_is_level_free_and_hears_silence_as_nothing(classifier):
    x = _tone(seconds=3.0)
    p = classifier.posterior(x, SR)
    assert classifier.posterior(0.01 * x, SR) == pytest.approx(p, abs=1e-6)
    assert classifier.windows(np.zeros(SR), SR).shape == (0, len(classifier.classes))
    assert classifier.posterior(np.zeros(SR), SR) == pytest.approx(np.full(len(classifier.classes),
                                                                          1 / len(classifier.classes)))


def test_pitch_kept_of_a_known_tone():
    x = _tone()
    same = timbre.pitch_scores(x, x, SR)
    assert same["pitch_kept"] > 0.98 and same["octave_errors"] == 0.0
    # a semitone off: voiced throughout, never within 50 cents
    semitone = timbre.pitch_scores(_tone(cents=100.0), x, SR, input_track=same["track"])
    assert semitone["voicing_recall"] > 0.95 and semitone["pitch_kept"] == 0.0
    # an octave up: every frame an octave error
    octave = timbre.pitch_scores(_tone(f0=440.0), x, SR, input_track=same["track"])
    assert octave["octave_errors"] > 0.95 and octave["pitch_kept"] < 0.05
    # silence: an unvoiced output frame is a miss
    silent = timbre.pitch_scores(np.zeros_like(x), x, SR, input_track=same["track"])
    assert silent["pitch_kept"] == 0.0


def test_onset_matching():
    ref = np.array([0.5, 1.0, 1.5, 2.0])
    assert timbre.onset_f_measure(ref + 0.03, ref)["f_measure"] == 1.0
    r = timbre.onset_f_measure(np.array([0.5, 1.08, 1.5]), ref)   # one late by 80 ms, one missing
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(0.5)
    # one estimate cannot match two references
    assert timbre.onset_f_measure(np.array([0.52]), np.array([0.5, 0.54]))["recall"] == 0.5
    assert timbre.onset_f_measure(np.array([]), np.array([]))["f_measure"] == 1.0
    assert timbre.onset_f_measure(np.array([]), ref)["f_measure"] == 0.0


def test_log_mel_db_is_relative_to_its_own_peak():
    x = _tone()
    db = timbre.log_mel_db(x, SR)
    assert db.max() == 0.0 and db.min() >= -timbre.MEL_FLOOR_DB
    assert timbre.log_mel_db(0.001 * x, SR) == pytest.approx(db, abs=1e-6)

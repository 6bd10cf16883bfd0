"""rtst learn-style: any clip -> a playable style model in seconds, checked as the shipped models are."""

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_model_step_allocates_nothing
from rtst.cli import main
from rtst.engine import Processor
from rtst.model import load_model
from rtst.presets import preset_stft
from rtst.testing.onnx_models import step_through

pytest.importorskip("torch")
pytest.importorskip("onnx")


def _clip(path, seconds=4.0, rate=44100, channels=2, level=0.3, seed=0):
    """A bright, noisy chord at another rate and channel count than the model's, with silence at both ends."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = level * sum(np.sin(2 * np.pi * f * t) for f in (523.0, 1319.0, 2637.0)) / 3
    x = x + 0.02 * level * rng.standard_normal(t.size)
    pad = np.zeros(int(0.3 * rate))
    x = np.concatenate([pad, x, pad])
    sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, rate)
    return path


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learn")
    clip = _clip(folder / "bright.wav")
    code = main(["learn-style", str(clip), "--output", str(folder / "bright.onnx"), "--seconds", "30", "--quiet"])
    assert code == 0
    return folder / "bright.onnx"


@pytest.fixture(scope="module")
def learned_filter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learn-filter")
    clip = _clip(folder / "bright.wav")
    code = main(["learn-style", str(clip), "--output", str(folder / "bright.onnx"), "--seconds", "30", "--quiet",
                 "--approach", "filter"])
    assert code == 0
    return folder / "bright.onnx"


def test_learned_model_has_its_golden_file_and_style_clip_and_reproduces_the_golden_io(learned):
    ort = pytest.importorskip("onnxruntime")
    golden = np.load(learned.with_name("bright.golden.npz"))
    sess = ort.InferenceSession(str(learned), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {"cond": row[None]})[0] for row in golden["cond"]])
    np.testing.assert_allclose(got, golden["params"], atol=1e-4)
    style, rate = sf.read(learned.with_name("bright.style.flac"))
    assert rate == 48000 and style.ndim == 1 and 3.9 < style.size / rate < 4.1  # mono, resampled, trimmed
    assert load_model(str(learned)).stft == preset_stft("default")
    from rtst.transfer.distill import read_training

    meta = read_training(learned)
    assert meta["training"]["approach"].startswith("re-synthesis") and meta["style"]["file"] == "bright.wav"
    assert meta["style"]["channels"] == 2 and meta["style"]["file_sample_rate"] == 44100


def test_the_filter_approach_still_learns_the_earlier_filter(learned_filter):
    golden = np.load(learned_filter.with_name("bright.golden.npz"))
    np.testing.assert_allclose(step_through(learned_filter, golden["frames"]), golden["outputs"], atol=1e-4)
    from rtst.transfer.distill import read_training

    assert read_training(learned_filter)["training"]["approach"].startswith("style-conditioned")


def test_learned_model_is_chunking_invariant_and_resets_to_fresh(learned):
    model = load_model(str(learned))
    t = np.arange(24000) / 48000
    x = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    whole = Processor(model.stft, model=load_model(str(learned))).process(x)
    proc = Processor(model.stft, model=model)
    halves = np.concatenate([proc.process(x[:777]), proc.process(x[777:])])
    np.testing.assert_array_equal(halves, whole)
    proc.reset()
    np.testing.assert_array_equal(proc.process(x), whole)


def test_learned_model_moves_the_input_toward_the_style(learned):
    """The style is bright (energy at 0.5-2.6 kHz): a dark input comes out with more of it there."""
    model = load_model(str(learned))
    t = np.arange(48000) / 48000
    x = (0.2 * sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 30))).astype(np.float32)
    y = Processor(model.stft, model=model, phase="input").process(x)[4096:]

    def share_above(sig, hz):
        spec = np.abs(np.fft.rfft(sig)) ** 2
        return spec[int(hz * sig.size / 48000):].sum() / spec.sum()

    assert share_above(y, 500) > 2 * share_above(x[4096:], 500)


def test_learned_model_allocates_nothing_per_step(learned):
    assert_model_step_allocates_nothing(load_model(str(learned)))


def test_low_latency_preset_gives_the_low_latency_stft(tmp_path):
    clip = _clip(tmp_path / "c.flac", rate=48000, channels=1)
    assert main(["learn-style", str(clip), "--output", str(tmp_path / "ll.onnx"), "--preset", "low-latency",
                 "--quiet"]) == 0
    assert load_model(str(tmp_path / "ll.onnx")).stft == preset_stft("low-latency")


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_existing_output_is_kept_unless_forced(tmp_path, capsys, learned):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"precious")
    clip = str(learned.with_name("bright.style.flac"))
    code, err = _error(capsys, ["learn-style", clip, "--output", str(out), "--quiet"])
    assert code == 2 and len(err) == 1 and "exists; pass --force" in err[0]
    assert out.read_bytes() == b"precious" and not tmp_path.joinpath("m.golden.npz").exists()
    assert main(["learn-style", clip, "--output", str(out), "--quiet", "--force"]) == 0
    assert out.read_bytes() != b"precious" and load_model(str(out)) is not None
    # a golden file or style clip in the way counts too
    out2 = tmp_path / "n.onnx"
    tmp_path.joinpath("n.style.flac").write_bytes(b"mine")
    code, err = _error(capsys, ["learn-style", clip, "--output", str(out2), "--quiet"])
    assert code == 2 and "n.style.flac" in err[0] and not out2.exists()


def _text(path):
    path.write_text("not audio")
    return path


def _mostly_silence(path):
    """3.7 s long, of which 1 s sounds."""
    sf.write(path, np.concatenate([np.zeros(130000), 0.3 * np.sin(np.arange(48000) * 0.05)]), 48000)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _clip(p, seconds=2.0), "long; a style needs at least 3 s"),
    (lambda p: _clip(p, level=0.0), "silent"),
    (_text, ""),
    (_mostly_silence, "of sound once its silence"),
], ids=["short", "silent", "unreadable", "mostly-silence"])
def test_bad_clips_are_one_line_errors_and_write_nothing(tmp_path, capsys, make, message):
    clip = make(tmp_path / "clip.wav")
    out = tmp_path / "m.onnx"
    code, err = _error(capsys, ["learn-style", str(clip), "--output", str(out), "--quiet"])
    assert code == 2 and len(err) == 1 and err[0].startswith("rtst learn-style: error:"), err
    assert message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav"]


@pytest.mark.parametrize("extra, message", [
    (["--output", "m.txt"], "must end in .onnx"),
    (["--output", "/nonexistent-folder/m.onnx"], "does not exist"),
    (["--output", "m.onnx", "--seconds", "0"], "seconds"),
    (["--output", "m.onnx", "--seconds", "0.001"], "seconds"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, monkeypatch, learned, extra, message):
    monkeypatch.chdir(tmp_path)
    code, err = _error(capsys, ["learn-style", str(learned.with_name("bright.style.flac")), *extra, "--quiet"])
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not list(tmp_path.glob("m*"))


def test_a_missing_clip_and_an_unknown_preset_are_one_line_errors(tmp_path, capsys):
    code, err = _error(capsys, ["learn-style", str(tmp_path / "nope.wav"), "--output", str(tmp_path / "m.onnx")])
    assert code == 2 and len(err) == 1
    with pytest.raises(SystemExit) as exc:
        main(["learn-style", "x.wav", "--output", "m.onnx", "--preset", "quality"])
    assert exc.value.code == 2

"""The models shipped in models/: real ONNX files run by onnxruntime through the engine.

Each one reproduces its golden input/output, keeps its state across calls (two halves equal the
whole), resets to fresh, allocates nothing per step, renders with every phase method through the
CLI, and is documented in models/README.md. The set covers at least three styles at the default
preset and one at the low-latency preset.

The shipped models re-synthesise (rtst.model.resynth); the compiled student step
(rtst.model.student_step) is tested on a filter student that ``learn_style(approach="filter")``
makes here, as no student ships.
"""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_model_step_allocates_nothing
from rtst.testing.onnx_models import step_through
from rtst.presets import PRESET_NAMES, preset_stft
from rtst.engine import Processor
from rtst.dsp.windows import get_window
from rtst.errors import ModelError, ParameterError
from rtst.model import MODELS_DIR, list_models, load_model
from rtst.model.onnx import PARITY_TOLERANCE, OnnxStepModel
from rtst.phase import METHODS

ort = pytest.importorskip("onnxruntime")

SHIPPED = sorted(MODELS_DIR.glob("*.onnx"))
NAMES = [p.stem for p in SHIPPED]
#: What builds each kind of shipped model (its ``rtst.training`` command starts so).
BUILDERS = ("python tools/build_styles.py", "rtst distill")


def _format(path) -> str:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta() \
        .custom_metadata_map["rtst.format"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A filter student (the rtst.transfer.student architecture) learned from the cello's clip."""
    pytest.importorskip("torch")
    from rtst.transfer.learn import learn_style

    out = tmp_path_factory.mktemp("student") / "filter.onnx"
    learn_style(MODELS_DIR / "cello.style.flac", out, approach="filter")
    return out


def signal(sample_rate, seconds, seed=0):
    """A harmonic tone with vibrato, a noise burst and a click."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = 2 * np.pi * 196.0 * t + 4.0 * np.sin(2 * np.pi * 5.0 * t)
    x = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 8))
    n = t.size
    x[n // 2:n // 2 + n // 8] += 0.1 * rng.standard_normal(n // 8)
    x[3 * n // 4] += 0.8
    return x.astype(np.float32)


def test_list_models_names_identity_and_every_shipped_model_with_its_files():
    assert list_models() == sorted(["identity"] + NAMES)
    for path in SHIPPED:
        for companion in (".golden.npz", ".style.flac"):
            assert path.with_name(path.stem + companion).is_file(), f"{path.stem} lacks its {companion}"


def test_the_shipped_set_covers_three_styles_and_the_low_latency_preset():
    presets, preset_stfts = {}, {name: preset_stft(name) for name in PRESET_NAMES}
    for path in SHIPPED:
        stft = load_model(str(path)).stft
        name = next((k for k, v in preset_stfts.items() if v == stft), None)
        assert name is not None, f"{path.name} has STFT {stft}, not a preset's"
        presets.setdefault(name, []).append(path.stem)
    assert len(presets.get("default", [])) >= 3, presets
    assert len(presets.get("low-latency", [])) >= 1, presets


@pytest.mark.parametrize("path", SHIPPED, ids=NAMES)
def test_shipped_model_is_small_documented_and_licensed(path):
    assert path.stat().st_size <= 8 * 2 ** 20
    readme = (MODELS_DIR / "README.md").read_text()
    assert f"`{path.stem}`" in readme, f"models/README.md does not describe {path.stem}"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    style = json.loads(meta["rtst.style"])
    training = json.loads(meta["rtst.training"])
    assert style.get("licence") and style.get("sha256")
    assert training["command"].startswith(BUILDERS), training["command"]


@pytest.mark.parametrize("path", SHIPPED, ids=NAMES)
def test_shipped_model_reproduces_its_golden_io(path):
    golden = np.load(path.with_suffix(".golden.npz"))
    if _format(path) == "resynth-v1":   # the decoder: cond rows in, params rows out
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = np.concatenate([sess.run(None, {"cond": row[None]})[0] for row in golden["cond"]])
        np.testing.assert_allclose(got, golden["params"], atol=1e-4)
        return
    np.testing.assert_allclose(step_through(path, golden["frames"]), golden["outputs"], atol=1e-4)


@pytest.mark.parametrize("path", SHIPPED, ids=NAMES)
def test_two_halves_equal_the_whole_and_reset_equals_fresh(path):
    model = load_model(str(path))
    x = signal(model.stft.sample_rate, 0.5)
    whole = Processor(model.stft, model=load_model(str(path))).process(x)
    assert np.all(np.isfinite(whole)) and 1e-3 < np.max(np.abs(whole)) <= 1.0
    proc = Processor(model.stft, model=model)
    cut = 1234
    halves = np.concatenate([proc.process(x[:cut]), proc.process(x[cut:])])
    np.testing.assert_array_equal(halves, whole)
    proc.reset()
    np.testing.assert_array_equal(proc.process(x), whole)


@pytest.mark.parametrize("path", SHIPPED, ids=NAMES)
def test_shipped_model_allocates_nothing_per_step(path):
    assert_model_step_allocates_nothing(load_model(str(path)))


@pytest.mark.parametrize("engine", ["compiled", "onnxruntime"])
def test_student_allocates_nothing_per_step(student, engine):
    assert_model_step_allocates_nothing(OnnxStepModel(student, engine=engine))


def stft_magnitudes(x, stft):
    """Magnitude frames of ``x`` as the engine analyses them, float64 [n_frames, n_bins]."""
    window = get_window(stft.window, stft.n_fft)
    starts = range(0, x.size - stft.n_fft, stft.hop_length)
    return np.abs(np.fft.rfft(np.stack([x[s:s + stft.n_fft] * window for s in starts]), axis=1))


def test_compiled_step_is_onnxruntimes_and_torchs_step(student):
    """A student runs compiled from its own weights, and that step is onnxruntime's on the
    parity frames and on a real signal's frames (features within 1e-5), and torch's golden outputs
    (within the golden test's 1e-4)."""
    path = student
    model = OnnxStepModel(path)
    model.prepare(model.stft.n_bins)
    assert model.engine == "compiled", model.engine_note
    assert model.parity_error() <= PARITY_TOLERANCE
    frames = stft_magnitudes(signal(model.stft.sample_rate, 1.0), model.stft)
    frames *= 10 ** np.linspace(-3, 1, len(frames))[:, None]      # from -60 to +20 dB
    assert model.parity_error(frames) <= PARITY_TOLERANCE
    golden = np.load(path.with_suffix(".golden.npz"))
    scale = json.loads(model.metadata["rtst.feature"])["scale"]
    out = np.zeros(model.stft.n_bins)
    model.reset()
    for frame, expected in zip(golden["frames"], golden["outputs"]):
        model.process(np.expm1(frame.astype(np.float64)) / scale, out)
        np.testing.assert_allclose(np.log1p(scale * out), expected, atol=1e-4)


def test_a_compiled_step_that_disagrees_with_onnxruntime_is_not_used(distilled):
    """The load-time check can fail: one weight off by 0.01 and ``auto`` runs onnxruntime and says
    why, ``compiled`` refuses the model (a distilled student: a learned filter's correction layer
    is zero, where a weight changes nothing)."""
    path = distilled
    model = OnnxStepModel(path)
    model._compiled._blob[3] += 0.01
    model.prepare(model.stft.n_bins)
    assert model.engine == "onnxruntime" and "differed from onnxruntime" in model.engine_note
    strict = OnnxStepModel(path, engine="compiled")
    strict._compiled._blob[3] += 0.01
    with pytest.raises(ModelError, match="differs from onnxruntime"):
        strict.prepare(strict.stft.n_bins)
    forced = OnnxStepModel(path, engine="onnxruntime")
    forced.prepare(forced.stft.n_bins)
    assert forced.engine == "onnxruntime" and forced._compiled is None
    with pytest.raises(ParameterError, match="engine="):
        OnnxStepModel(path, engine="fast")


@pytest.mark.parametrize("phase", sorted(METHODS))
@pytest.mark.parametrize("name", NAMES)
def test_cli_render_every_shipped_model_with_every_phase_method(name, phase, tmp_path, capsys):
    from rtst.cli import main

    sr = load_model(name).stft.sample_rate
    x = signal(sr, 0.4, seed=1)
    src, dst, rep = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "r.json"
    sf.write(src, x, sr, subtype="FLOAT")
    assert main(["render", str(src), str(dst), "--model", name, "--phase", phase, "--report", str(rep)]) == 0, \
        capsys.readouterr().err
    y, rate = sf.read(dst)
    assert rate == sr and y.shape == x.shape and np.sqrt(np.mean(y ** 2)) > 1e-3
    # what the engine had to repair before its clipper (a finite, bounded output says nothing
    # after it): no frame dropped, and no more than a few samples of the 0.8 click on the tone
    # clipped (measured at most 4, where a model boosts it); an unstable model clips thousands
    safety = json.loads(rep.read_text())["safety"]
    assert safety["bad_frames"] == 0 and safety["clipped_output"] <= 16, safety


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """A tiny student distilled here (40 steps) from the cello style clip of rtst.testing.clips,
    which benchmarks/bench_student.py rebuilds by the clip's file stem."""
    pytest.importorskip("torch")
    from rtst.config import StftConfig
    from rtst.testing import clips
    from rtst.transfer.distill import DistillConfig, distill

    work = tmp_path_factory.mktemp("distilled")
    name, x, _ = clips.cello_style()
    style = work / f"{name}.wav"
    sf.write(style, x, clips.SAMPLE_RATE)
    content = work / "content"
    content.mkdir()
    sf.write(content / "tone.wav", signal(clips.SAMPLE_RATE, 2.0, seed=3), clips.SAMPLE_RATE)
    out = work / "tiny.onnx"
    config = DistillConfig(steps=40, learning_rate=3e-3, filters=64, kernel_size=5, channels=16, dilations=(1, 2),
                           batch_size=2, segment_frames=16, checkpoint_every=20)
    distill(style, [content], out, StftConfig(sample_rate=clips.SAMPLE_RATE, n_fft=256, hop_length=64), config=config,
            name="tiny", command="rtst distill (test)")
    return out


def test_bench_student_runs_end_to_end(distilled, tmp_path):
    """A short run of benchmarks/bench_student.py (2 teacher iterations) writes every figure."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("torch")
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_student.py"
    name = str(distilled)
    out = tmp_path / "s.json"
    run = subprocess.run([sys.executable, str(bench), "--models", name, "--contents", "speech_content",
                          "--iterations", "2", "--step-hops", "200", "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    (entry,) = result["models"]
    (row,) = entry["clips"]
    student, passthrough, teacher = row["student"], row["passthrough"], row["teacher"]
    print(json.dumps({k: row[k] for k in ("student", "passthrough", "objective_ratio", "speedup")}, default=float))
    # the student, on the frames the engine produced, is closer to the teacher's goal than the
    # content itself, moves the timbre towards the style, and keeps the performance
    assert student["objective"][0] < passthrough["objective"][0]
    assert student["timbre_distance_change"] < 0 and student["content_retention"] >= 0.6, student
    # the derived figures are what their parts say
    assert row["speedup"] == pytest.approx(teacher["wall_s"] / student["wall_s"], rel=1e-9)
    assert row["objective_ratio"] == pytest.approx(student["objective"][0] / teacher["objective"][0], rel=1e-9)
    step = entry["step"]
    sr, hop = load_model(name).stft.sample_rate, load_model(name).stft.hop_length
    assert step["hops"] == 200 and step["budget_us"] == pytest.approx(1e6 * hop / sr)
    assert 0 < step["p50_us"] <= step["p99_us"] <= step["max_us"]
    assert step["p99_fraction"] == pytest.approx(step["p99_us"] / step["budget_us"])
    summary = run.stdout.split("\nsummary", 1)[1]
    assert f"objective {row['objective_ratio']:.2f}x" in summary and f"{row['speedup']:.0f}x" in summary, summary

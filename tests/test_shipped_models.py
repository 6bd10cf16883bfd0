"""The models shipped in models/: real ONNX files run by onnxruntime through the engine.

Each one reproduces its golden input/output, keeps its state across calls (two halves equal the
whole), resets to fresh, allocates nothing per step, renders with every phase method through the
CLI, and is documented in models/README.md. The set covers at least three styles at the default
preset and one at the low-latency preset.
"""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_model_step_allocates_nothing
from rtst.testing.onnx_models import step_through
from rtst.presets import PRESET_NAMES, preset_stft
from rtst.engine import Processor
from rtst.model import MODELS_DIR, list_models, load_model
from rtst.phase import METHODS

ort = pytest.importorskip("onnxruntime")

SHIPPED = sorted(MODELS_DIR.glob("*.onnx"))
NAMES = [p.stem for p in SHIPPED]


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
    assert training["command"].startswith("rtst distill") and training["steps"] > 0


@pytest.mark.parametrize("path", SHIPPED, ids=NAMES)
def test_shipped_model_reproduces_its_golden_io(path):
    golden = np.load(path.with_suffix(".golden.npz"))
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


@pytest.mark.parametrize("phase", sorted(METHODS))
@pytest.mark.parametrize("name", NAMES)
def test_cli_render_every_shipped_model_with_every_phase_method(name, phase, tmp_path, capsys):
    from rtst.cli import main

    sr = load_model(name).stft.sample_rate
    x = signal(sr, 0.4, seed=1)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, sr, subtype="FLOAT")
    assert main(["render", str(src), str(dst), "--model", name, "--phase", phase]) == 0, capsys.readouterr().err
    y, rate = sf.read(dst)
    assert rate == sr and y.shape == x.shape
    assert np.all(np.isfinite(y)) and 1e-3 < np.max(np.abs(y)) <= 1.0


@pytest.mark.skipif(not SHIPPED, reason="no shipped models")
def test_bench_student_runs_end_to_end(tmp_path):
    """A short run of benchmarks/bench_student.py (2 teacher iterations) writes every figure."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("torch")
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_student.py"
    name = min(SHIPPED, key=lambda p: p.stat().st_size).stem
    out = tmp_path / "s.json"
    run = subprocess.run([sys.executable, str(bench), "--models", name, "--contents", "speech_content",
                          "--iterations", "2", "--step-hops", "200", "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    (entry,) = result["models"]
    (row,) = entry["clips"]
    assert row["student"]["objective"][0] < row["passthrough"]["objective"][0]
    assert row["speedup"] > 0 and 0 < entry["step"]["p50_us"] <= entry["step"]["max_us"]
    assert "summary" in run.stdout

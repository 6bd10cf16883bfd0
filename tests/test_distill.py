"""Distillation: the batch objective is the teacher's, training lowers it, checkpoints resume exactly,
the result is a working ONNX step model, and bad input is refused in one line."""

import json

import numpy as np
import pytest
import soundfile as sf

from rtst.config import StftConfig
from rtst.errors import ModelError, ParameterError

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from rtst.transfer.descriptors import DescriptorConfig, build_descriptor  # noqa: E402
from rtst.transfer.distill import (BatchObjective, ContentCorpus, DistillConfig, distill,  # noqa: E402
                                   read_training, style_gram)
from rtst.transfer.losses import TeacherObjective, gram  # noqa: E402

SR = 16000
CFG = StftConfig(sample_rate=SR, n_fft=256, hop_length=64)
TINY = dict(filters=64, kernel_size=5, channels=16, dilations=(1, 2), batch_size=2, segment_frames=16,
            checkpoint_every=2)


def tone(seconds, f0, rng, vibrato=0.0):
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0 * t + vibrato * np.sin(2 * np.pi * 5 * t)
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return 0.3 * x / np.max(np.abs(x)) + 0.01 * rng.standard_normal(t.size)


@pytest.fixture
def clips(tmp_path, rng):
    """A style clip (noise bursts) and a content folder of harmonic tones with vibrato, plus a silent file."""
    content = tmp_path / "content"
    (content / "sub").mkdir(parents=True)
    for i, f0 in enumerate((110.0, 165.0, 220.0)):
        sf.write(content / ("sub" if i == 2 else ".") / f"tone{i}.wav", tone(1.5, f0, rng, vibrato=3.0), SR)
    sf.write(content / "silent.wav", np.zeros(SR), SR)
    noise = rng.standard_normal(2 * SR) * np.repeat(rng.uniform(0.05, 0.4, 20), SR // 10)
    style = tmp_path / "style.wav"
    sf.write(style, noise, SR)
    return style, content


def test_batch_objective_equals_the_teachers_per_clip_objective(rng):
    desc = build_descriptor(DescriptorConfig(kind="random", n_bins=CFG.n_bins, filters=(32,), kernel_size=5, seed=3))
    style = np.log1p(np.abs(rng.standard_normal((CFG.n_bins, 80))) * 8).astype(np.float32)
    contents = [np.log1p(np.abs(rng.standard_normal((CFG.n_bins, 30))) * s).astype(np.float32) for s in (4, 30)]
    results = [np.log1p(np.abs(rng.standard_normal((CFG.n_bins, 30))) * 20).astype(np.float32) - 0.5 for _ in contents]
    batch = BatchObjective(desc, style, content_weight=0.3, style_weight=0.7)
    got = batch(torch.from_numpy(np.stack(results)), torch.from_numpy(np.stack(contents)))
    expected = []
    for c, r in zip(contents, results):
        teacher = TeacherObjective(desc, torch.from_numpy(c), torch.from_numpy(style), content_weight=0.3, style_weight=0.7)
        expected.append([float(v) for v in teacher(torch.from_numpy(r))])
    np.testing.assert_allclose([float(v) for v in got], np.mean(expected, axis=0), rtol=1e-4)


def test_style_gram_in_chunks_equals_the_whole_clip(rng):
    desc = build_descriptor(DescriptorConfig(kind="random", n_bins=CFG.n_bins, filters=(16,), kernel_size=5, dilation=2))
    style = np.log1p(np.abs(rng.standard_normal((CFG.n_bins, 301))) * 8).astype(np.float32)
    whole = gram(desc(torch.from_numpy(style)[None])[0])
    chunked = style_gram(desc, style, chunk_frames=37)[0]
    np.testing.assert_allclose(chunked.numpy(), whole.numpy(), rtol=1e-5, atol=1e-7)


def test_corpus_skips_silent_files_and_draws_segments_with_sound(clips, rng):
    _, content = clips
    corpus = ContentCorpus([content], CFG)
    assert len(corpus.files) == 4 and len(corpus.features) == 3
    assert len(corpus.skipped) == 1 and "silent.wav" in corpus.skipped[0]
    segs = corpus.draw(np.random.default_rng(0), 5, 20)
    assert segs.shape == (5, CFG.n_bins, 20)
    assert ((segs.max(axis=1) > 1.0).mean(axis=1) >= 0.5).all()


def test_distill_lowers_the_objective_and_exports_a_working_model(clips, tmp_path):
    from rtst.engine import Processor
    from rtst.model import load_model

    style, content = clips
    out = tmp_path / "tiny.onnx"
    report = distill(style, [content], out, CFG, config=DistillConfig(steps=40, learning_rate=3e-3, **TINY),
                     name="tiny-style", command="rtst distill ...")
    first = np.mean([h["total"] for h in report["loss_curve"][:3]])
    assert report["final_losses_last100"]["total"] < first   # it learned something
    model = load_model(str(out))
    assert model.name == "tiny-style" and model.stft == CFG
    meta = read_training(out)
    assert meta["training"]["steps"] == 40 and meta["training"]["command"] == "rtst distill ..."
    assert meta["style"]["sha256"] and meta["student"]["receptive_field_frames"] == 1 + 2 * 1 + 2 * 2
    assert (tmp_path / "tiny.golden.npz").is_file() and (tmp_path / "tiny.onnx.ckpt").is_file()
    proc = Processor(CFG, model=model, phase="rtpghi")
    x = tone(0.5, 200.0, np.random.default_rng(1)).astype(np.float32)
    y = proc.process(x)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) > 1e-3


def test_resume_continues_exactly_where_a_killed_run_stopped(clips, tmp_path):
    style, content = clips
    config = DistillConfig(steps=6, **TINY)
    straight = distill(style, [content], tmp_path / "a.onnx", CFG, config=config)

    class Killed(Exception):
        pass

    def kill_at_5(step, losses):
        if step == 5:
            raise Killed
    with pytest.raises(Killed):
        distill(style, [content], tmp_path / "b.onnx", CFG, config=config, on_step=kill_at_5)
    resumed = distill(style, [content], tmp_path / "b.onnx", CFG, config=config, resume=True)  # from step 4
    assert [h["total"] for h in resumed["loss_curve"]] == [h["total"] for h in straight["loss_curve"]]
    a = torch.load(tmp_path / "a.onnx.ckpt", weights_only=True)["student"]
    b = torch.load(tmp_path / "b.onnx.ckpt", weights_only=True)["student"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_other_settings_and_missing_checkpoints(clips, tmp_path):
    style, content = clips
    distill(style, [content], tmp_path / "a.onnx", CFG, config=DistillConfig(steps=2, **TINY))
    with pytest.raises(ParameterError, match="trained with other config"):
        distill(style, [content], tmp_path / "a.onnx", CFG, config=DistillConfig(steps=2, seed=1, **TINY), resume=True)
    with pytest.raises(ParameterError, match="no checkpoint"):
        distill(style, [content], tmp_path / "new.onnx", CFG, config=DistillConfig(steps=2, **TINY), resume=True)
    (tmp_path / "bad.onnx.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        distill(style, [content], tmp_path / "bad.onnx", CFG, config=DistillConfig(steps=2, **TINY), resume=True)


def test_distill_config_and_path_errors(clips, tmp_path):
    style, content = clips
    with pytest.raises(ParameterError, match="steps"):
        DistillConfig(steps=0)
    with pytest.raises(ParameterError, match="segment_frames"):
        DistillConfig(segment_frames=5, kernel_size=11)
    with pytest.raises(ParameterError, match="both 0"):
        DistillConfig(content_weight=0, style_weight=0)
    with pytest.raises(ParameterError, match=r"\.onnx"):
        distill(style, [content], tmp_path / "x.pt", CFG, config=DistillConfig(steps=1, **TINY))
    with pytest.raises(ParameterError, match="does not exist"):
        distill(style, [tmp_path / "nowhere"], tmp_path / "x.onnx", CFG, config=DistillConfig(steps=1, **TINY))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no audio files"):
        distill(style, [tmp_path / "empty"], tmp_path / "x.onnx", CFG, config=DistillConfig(steps=1, **TINY))


def test_cli_distill_one_line_errors_and_a_run(clips, tmp_path, capsys):
    from rtst.cli import main

    style, content = clips
    assert main(["distill", "--style", str(tmp_path / "missing.wav"), "--content", str(content),
                 "--output", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rtst distill: error:") and "\n" not in err
    args = ["distill", "--style", str(style), "--content", str(content), "--output", str(tmp_path / "m.onnx"),
            "--steps", "3", "--batch-size", "2", "--segment-frames", "16", "--filters", "32", "--kernel-size", "5",
            "--channels", "8", "--dilations", "1", "2", "--sample-rate", str(SR), "--n-fft", "256",
            "--hop-length", "64", "--quiet", "--report", str(tmp_path / "r.json"), "--style-licence", "made by the test"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["steps"] == 3 and report["command"].startswith("rtst distill --style")
    assert read_training(tmp_path / "m.onnx")["style"]["licence"] == "made by the test"


def test_torchrun_two_processes_take_the_same_steps_as_one_at_the_same_global_batch(clips, tmp_path):
    """DistributedDataParallel over gloo on CPU: `torchrun --nproc_per_node 2 -m rtst distill` with a
    global batch of 4 ends with the weights and losses of one process with a batch of 4."""
    import shutil
    import subprocess
    import sys

    style, content = clips
    common = ["distill", "--style", str(style), "--content", str(content), "--steps", "4", "--batch-size", "4",
              "--segment-frames", "16", "--filters", "32", "--kernel-size", "5", "--channels", "8",
              "--dilations", "1", "2", "--sample-rate", str(SR), "--n-fft", "256", "--hop-length", "64",
              "--threads", "1", "--quiet"]
    one = subprocess.run([sys.executable, "-m", "rtst", *common, "--output", str(tmp_path / "one.onnx"),
                          "--report", str(tmp_path / "one.json")], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    from pathlib import Path

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None, "torchrun missing beside the interpreter (torch's console script)"
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "rtst", *common,
                          "--output", str(tmp_path / "two.onnx"), "--report", str(tmp_path / "two.json")],
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a = torch.load(tmp_path / "one.onnx.ckpt", weights_only=True)["student"]
    b = torch.load(tmp_path / "two.onnx.ckpt", weights_only=True)["student"]
    # gloo sums the two halves' gradients in its own order: differences of float rounding, which
    # Adam's normalised step can turn into up to one step (lr 1e-3) on a weight whose gradient is ~0;
    # a wrong split (another batch, lost data) moves every weight by whole steps
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=5e-4, msg=k)
    ra, rb = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    assert ra["processes"] == 1 and rb["processes"] == 2
    np.testing.assert_allclose([h["total"] for h in rb["loss_curve"]], [h["total"] for h in ra["loss_curve"]],
                               rtol=1e-4)
    # rank 0 alone wrote the model
    assert (tmp_path / "two.onnx").is_file() and not (tmp_path / "two.onnx.partial").exists()
    # and the runs trained: the correction network left its zero start
    assert float(a["out_proj.weight"].abs().max()) > 0

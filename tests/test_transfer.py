"""The teacher: features, descriptors, losses against naive code, L-BFGS behaviour, training, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import harmonic_tone
from rtst.cli import main
from rtst.config import StftConfig
from rtst.errors import ModelError, ParameterError

torch = pytest.importorskip("torch")

from rtst.transfer import features as feat  # noqa: E402
from rtst.transfer.descriptors import (DescriptorConfig, build_descriptor, load_descriptor,  # noqa: E402
                                       save_descriptor)
from rtst.transfer.losses import TeacherObjective, gram  # noqa: E402
from rtst.transfer.teacher import TeacherConfig, check_size, transfer  # noqa: E402
from rtst.transfer.train import TrainConfig, find_dataset, train_descriptor  # noqa: E402

SR = 48000
CFG = StftConfig()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "rtst", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def noise(rng, seconds, colour=8):
    x = np.convolve(rng.standard_normal(int(seconds * SR)), np.ones(colour) / colour, "same")
    return 0.2 * x / np.max(np.abs(x))


def small_descriptor(filters=64, seed=0):
    return build_descriptor(DescriptorConfig(n_bins=CFG.n_bins, filters=(filters,), kernel_size=5, seed=seed))


# ------------------------------------------------------------------------------------------ features
def test_features_are_log1p_of_the_engine_stft(rng):
    from rtst.dsp.stft import n_frames_for, stft

    x = rng.standard_normal(4000) * 0.1
    f = feat.signal_features(x, CFG)
    assert f.dtype == np.float32 and f.shape == (CFG.n_bins, n_frames_for(4000, CFG))
    np.testing.assert_allclose(f, np.log1p(np.abs(stft(x, CFG))), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(feat.from_features(f), np.abs(stft(x, CFG)), rtol=1e-5, atol=1e-5)
    assert np.all(feat.from_features(-np.ones(3)) == 0)


def test_prepare_signal_downmixes_resamples_and_refuses_silence(rng):
    stereo = np.stack([harmonic_tone(44100, 44100), harmonic_tone(44100, 44100)], 1)
    signal, notes = feat.prepare_signal(stereo, 44100, CFG, role="content")
    assert notes["downmixed"] and notes["resampled"] and notes["channels"] == 2
    assert abs(signal.shape[0] - 48000) <= 1
    with pytest.raises(ParameterError, match="style clip is silent"):
        feat.prepare_signal(np.zeros((1000, 1)), SR, CFG, role="style")
    with pytest.raises(ParameterError, match="non-finite"):
        feat.prepare_signal(np.array([[0.1], [np.nan]]), SR, CFG, role="content")


# --------------------------------------------------------------------------------------- descriptors
def test_random_descriptor_follows_ulyanov_init():
    config = DescriptorConfig(n_bins=513, filters=(4096,), kernel_size=11, seed=3)
    net = build_descriptor(config)
    w = net.weight.numpy()
    assert w.shape == (4096, 513, 11)
    expected = np.sqrt(2) * np.sqrt(2 / ((513 + 4096) * 11))
    assert abs(w.std() / expected - 1) < 0.01 and abs(w.mean()) < 1e-3 * expected * 10
    assert not any(p.requires_grad for p in net.parameters())
    again = build_descriptor(config).weight
    other = build_descriptor(DescriptorConfig(n_bins=513, filters=(4096,), kernel_size=11, seed=4)).weight
    assert torch.equal(again, net.weight) and not torch.equal(other, net.weight)


@pytest.mark.parametrize("config", [
    DescriptorConfig(n_bins=513, filters=(32,), kernel_size=11, dilation=2),
    DescriptorConfig(kind="random2d", n_bins=513, filters=(8, 16, 16), kernel_size=3),
    DescriptorConfig(kind="wyse", n_bins=513, filters=(32, 8), kernel_size=3, n_classes=3),
])
def test_min_frames_is_the_shortest_input_with_an_output(config):
    net = build_descriptor(config)
    acts = net(torch.zeros(1, 513, config.min_frames))
    assert all(a.shape[-1] >= 1 for a in acts)
    if config.kind == "wyse":
        assert net.classify(torch.zeros(1, 513, config.min_frames))[0].shape == (1, 3)
        with pytest.raises(RuntimeError):
            net.classify(torch.zeros(1, 513, config.min_frames - 1))
    else:
        with pytest.raises(RuntimeError):
            net(torch.zeros(1, 513, config.min_frames - 1))


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "vgg"}, "kind"),
    ({"filters": ()}, "filters"),
    ({"filters": (8, 8)}, "one layer"),
    ({"kind": "wyse", "filters": (8, 8), "n_classes": 1}, "at least 2 classes"),
    ({"kernel_size": 0}, "kernel_size"),
])
def test_descriptor_config_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        DescriptorConfig(**kwargs)


# --------------------------------------------------------------------------------------------- losses
def test_envelope_loss_matches_a_naive_computation_and_is_zero_for_the_style_itself(rng):
    from rtst.transfer.features import band_matrix
    from rtst.transfer.losses import ENVELOPE_ACTIVE, ENVELOPE_SCALE, EnvelopeStyle
    from rtst.transfer.student import ENVELOPE_FLOOR

    style = np.log1p(np.abs(rng.standard_normal((CFG.n_bins, 40))) * 30)
    style[:, 5] = 0.0                                   # a silent frame: left out of the statistics
    x = np.log1p(np.abs(rng.standard_normal((CFG.n_bins, 25))) * np.linspace(1, 50, CFG.n_bins)[:, None])
    env = EnvelopeStyle(torch.from_numpy(style), covariance_weight=0.5)
    b = band_matrix(CFG.n_bins).astype(np.float64)
    b /= b.sum(axis=1, keepdims=True)

    def stats(f):
        p = np.expm1(f) ** 2
        frame = p.mean(axis=0)
        keep = (frame > ENVELOPE_ACTIVE * frame.max()) & (frame > 1e-10)
        e = np.log(b @ p + ENVELOPE_FLOOR * frame + 1e-12)
        e = (e - e.mean(axis=0))[:, keep]
        mu = e.mean(axis=1)
        return mu, (e - mu[:, None]) @ (e - mu[:, None]).T / e.shape[1]

    (mu_s, cov_s), (mu_x, cov_x) = stats(style), stats(x)
    naive = ((mu_x - mu_s) ** 2).mean() / ENVELOPE_SCALE ** 2 + 0.5 * ((cov_x - cov_s) ** 2).mean() / ENVELOPE_SCALE ** 4
    np.testing.assert_allclose(float(env(torch.from_numpy(x)[None])[0]), naive, rtol=1e-9)
    assert float(env(torch.from_numpy(style)[None])[0]) < 1e-12
    assert naive > 0.1


def test_gram_and_losses_match_naive_loops(rng):
    f = rng.standard_normal((5, 7))
    naive = np.array([[sum(f[i, n] * f[j, n] for n in range(7)) / 7 for j in range(5)] for i in range(5)])
    np.testing.assert_allclose(gram(torch.from_numpy(f)).numpy(), naive, rtol=1e-12)
    np.testing.assert_allclose(gram(torch.from_numpy(f[None])).numpy(), naive, rtol=1e-12)

    net = small_descriptor(16).double()
    content = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 20))))
    style = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 33))))
    x = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 20))))
    obj = TeacherObjective(net, content, style, content_weight=0.3, style_weight=2.0, envelope_weight=0.0)
    total, lc, ls = obj(x)

    def acts(a):
        w = net.weight.numpy()  # [C, bins, k]
        k = w.shape[2]
        out = np.zeros((w.shape[0], a.shape[1] - k + 1))
        for t in range(out.shape[1]):
            out[:, t] = np.einsum("cbk,bk->c", w, a[:, t:t + k])
        return np.maximum(out, 0)

    fx, fc, fs = acts(x.numpy()), acts(content.numpy()), acts(style.numpy())
    gx, gs = fx @ fx.T / fx.shape[1], fs @ fs.T / fs.shape[1]
    naive_c = ((fx - fc) ** 2).sum() / (fc ** 2).sum()
    naive_s = ((gx - gs) ** 2).sum() / (gs ** 2).sum()
    np.testing.assert_allclose(float(lc), naive_c, rtol=1e-9)
    np.testing.assert_allclose(float(ls), naive_s, rtol=1e-9)
    np.testing.assert_allclose(float(total), 0.3 * naive_c + 2.0 * naive_s, rtol=1e-9)


def test_losses_are_scale_free_and_zero_at_their_targets(rng):
    net = small_descriptor(16)
    content = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 40))).astype(np.float32))
    obj = TeacherObjective(net, content, content, content_weight=1.0)
    total, lc, ls = obj(content)
    assert float(lc) == 0 and float(ls) < 1e-12
    # silence is exactly 1 away in the content and Gram terms, whatever the descriptor's scale
    gram_only = TeacherObjective(net, content, content, content_weight=1.0, envelope_weight=0.0)
    _, lc0, ls0 = gram_only(torch.zeros_like(content))
    assert float(lc0) == pytest.approx(1.0) and float(ls0) == pytest.approx(1.0)


def test_multilayer_weights_and_errors(rng):
    net = build_descriptor(DescriptorConfig(kind="random2d", n_bins=CFG.n_bins, filters=(4, 8), kernel_size=3))
    c = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 30))).astype(np.float32))
    s = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 30))).astype(np.float32))
    x = torch.from_numpy(np.abs(rng.standard_normal((CFG.n_bins, 30))).astype(np.float32))
    both = TeacherObjective(net, c, s, content_weight=1.0, envelope_weight=0.0)(x)[2]
    first = TeacherObjective(net, c, s, content_weight=1.0, style_layers=[1, 0], envelope_weight=0.0)(x)[2]
    second = TeacherObjective(net, c, s, content_weight=1.0, style_layers=[0, 1], envelope_weight=0.0)(x)[2]
    assert float(both) == pytest.approx(float(first) + float(second), rel=1e-5)
    with pytest.raises(ParameterError, match="style_layers"):
        TeacherObjective(net, c, s, content_weight=1.0, style_layers=[1])
    with pytest.raises(ParameterError, match="both 0"):
        TeacherObjective(net, c, s, content_weight=0.0, style_weight=0.0)
    with pytest.raises(ParameterError, match="content_weight"):
        TeacherObjective(net, c, s, content_weight=float("nan"))


# ------------------------------------------------------------------------------------------ teacher
@pytest.fixture
def clips(rng):
    return harmonic_tone(int(0.6 * SR)).astype(np.float64), noise(rng, 0.5)


@pytest.mark.parametrize("init", ["content", "noise"])
def test_loss_decreases_monotonically(clips, init):
    content, style = clips
    r = transfer(content, style, CFG, small_descriptor(),
                 config=TeacherConfig(iterations=15, init=init, content_weight=0.1, gla_iterations=4))
    totals = [r.initial["total"]] + [h["total"] for h in r.history]
    assert all(b <= a for a, b in zip(totals, totals[1:])), totals
    assert totals[-1] < 0.5 * totals[0]
    assert r.final["style"] < r.initial["style"]
    assert r.audio.shape == content.shape and np.isfinite(r.audio).all()
    assert r.evaluations >= len(r.history)


def test_seeded_runs_are_deterministic(clips):
    content, style = clips
    config = TeacherConfig(iterations=5, init="noise", seed=7, gla_iterations=4)
    a = transfer(content, style, CFG, small_descriptor(seed=1), config=config)
    b = transfer(content, style, CFG, small_descriptor(seed=1), config=config)
    c = transfer(content, style, CFG, small_descriptor(seed=1), config=TeacherConfig(
        iterations=5, init="noise", seed=8, gla_iterations=4))
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.history == [dict(h, seconds=h2["seconds"]) for h, h2 in zip(b.history, a.history)]
    assert not np.array_equal(a.features, c.features)


def test_zero_iterations_returns_the_content_resynthesised(clips):
    content, style = clips
    r = transfer(content, style, CFG, small_descriptor(), config=TeacherConfig(iterations=0, gla_iterations=8))
    np.testing.assert_array_equal(r.features, feat.signal_features(content, CFG))
    assert r.history == [] and r.final == r.initial and r.final["content"] == 0


def test_short_style_and_long_clip_errors(clips, rng):
    content, style = clips
    with pytest.raises(ParameterError, match="style clip is .* shorter than the descriptor's receptive field"):
        transfer(content, style[:200], CFG, small_descriptor(), config=TeacherConfig(iterations=1))
    with pytest.raises(ParameterError, match="content clip is .* too long .* limit is"):
        transfer(content, style, CFG, small_descriptor(),
                 config=TeacherConfig(iterations=1, memory_limit_bytes=2 ** 20))
    # the message names the longest clip that fits, and that clip does fit
    with pytest.raises(ParameterError, match=r"limit is 1.0 GiB \(about [0-9.]+ s\)") as info:
        check_size(4096, 100000, CFG, 2 ** 30, role="content")
    seconds = float(str(info.value).split("(about ")[1].split(" s)")[0])
    fits = int(seconds * CFG.sample_rate / CFG.hop_length)
    check_size(4096, fits, CFG, 2 ** 30, role="content")
    with pytest.raises(ParameterError):
        check_size(4096, int(fits * 1.01) + 1, CFG, 2 ** 30, role="content")
    with pytest.raises(ParameterError, match="n_bins"):
        transfer(content, style, StftConfig(n_fft=512, hop_length=128), small_descriptor(),
                 config=TeacherConfig(iterations=1))


def test_teacher_moves_the_timbre_towards_the_style(rng):
    """A vibrato tone given a noise's style: the independent timbre distance must drop."""
    from rtst.measure.style import content_retention, timbre_distance

    content = harmonic_tone(SR).astype(np.float64) * (0.55 + 0.45 * np.sin(2 * np.pi * 2 * np.arange(SR) / SR))
    style = noise(rng, 1.0)
    r = transfer(content, style, CFG, small_descriptor(256),   # the Gram loss alone
                 config=TeacherConfig(iterations=30, content_weight=0.01, gla_iterations=16, envelope_weight=0.0))
    before = timbre_distance(content, style, SR)
    after = timbre_distance(r.audio, style, SR)
    assert after < 0.5 * before
    assert content_retention(r.audio, content, SR)["content_retention"] > 0.6
    # the envelope term asks for the style's spectral envelope, which the MFCCs see: closer still
    r = transfer(content, style, CFG, small_descriptor(256),
                 config=TeacherConfig(iterations=30, content_weight=0.01, gla_iterations=16, envelope_weight=1.0))
    assert timbre_distance(r.audio, style, SR) < after


# ------------------------------------------------------------------------------------------ training
def _write_class(root, name, maker, n, rng):
    (root / name).mkdir(parents=True)
    for i in range(n):
        sf.write(root / name / f"{i}.wav", maker(rng).astype(np.float32), SR)


def _synthetic_set(root, rng, n=6):
    def tone(r):
        f0 = r.uniform(150, 400)
        t = np.arange(int(0.5 * SR)) / SR
        return 0.3 * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6))

    def hiss(r):
        x = r.standard_normal(int(0.5 * SR))
        return 0.1 * (x - np.concatenate([[0], x[:-1]]))  # high-passed

    def rumble(r):
        return 0.3 * np.convolve(r.standard_normal(int(0.5 * SR)), np.ones(64) / 8, "same")

    for name, maker in (("tone", tone), ("hiss", hiss), ("rumble", rumble)):
        _write_class(root, name, maker, n, rng)


def test_descriptor_training_beats_chance_and_round_trips(tmp_path, rng):
    _synthetic_set(tmp_path / "data", rng)
    out = tmp_path / "d.pt"
    record = train_descriptor(tmp_path / "data", out, CFG, config=TrainConfig(
        epochs=8, filters=(32, 8), crop_frames=24, batch_size=16, learning_rate=3e-3))
    assert record["classes"] == ["hiss", "rumble", "tone"]
    assert record["chance_accuracy"] < 0.4 and record["val_accuracy"] >= 0.7  # 3 balanced classes
    net, stft_config, info = load_descriptor(out, CFG)
    assert stft_config == CFG and info["classes"] == record["classes"]
    assert info["training"]["val_accuracy"] == record["val_accuracy"]
    acts = net(torch.from_numpy(feat.signal_features(harmonic_tone(SR), CFG))[None])
    assert [a.shape[1] for a in acts] == [32, 8]
    # the trained descriptor drives the teacher like any other
    r = transfer(harmonic_tone(SR // 2).astype(np.float64), noise(rng, 0.5), CFG, net,
                 config=TeacherConfig(iterations=3, gla_iterations=2))
    assert r.final["total"] < r.initial["total"]


def test_load_descriptor_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_descriptor(tmp_path / "nope.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ModelError, match="not a readable descriptor checkpoint"):
        load_descriptor(tmp_path / "text.pt")
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    with pytest.raises(ModelError, match="not an rtst descriptor checkpoint"):
        load_descriptor(tmp_path / "foreign.pt")
    net = build_descriptor(DescriptorConfig(kind="wyse", n_bins=CFG.n_bins, filters=(8, 4), kernel_size=3,
                                            n_classes=2))
    save_descriptor(tmp_path / "ok.pt", net, CFG, classes=["a", "b"], training={})
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelError, match="not a readable descriptor checkpoint"):
        load_descriptor(tmp_path / "cut.pt")
    with pytest.raises(ModelError, match="another STFT .*hop_length 256 vs 128"):
        load_descriptor(tmp_path / "ok.pt", StftConfig(hop_length=128))
    assert not (tmp_path / "ok.pt.partial").exists()


def test_find_dataset_layouts_and_errors(tmp_path, rng):
    _synthetic_set(tmp_path / "folders", rng, n=5)
    classes, train, val, layout = find_dataset(tmp_path / "folders")
    assert layout == "folders" and classes == ["hiss", "rumble", "tone"]
    assert len(val) == 3 and len(train) == 12
    assert not {p for p, _ in train} & {p for p, _ in val}

    esc = tmp_path / "esc"
    (esc / "meta").mkdir(parents=True)
    (esc / "audio").mkdir()
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for i in range(10):
        name = f"{i}.wav"
        sf.write(esc / "audio" / name, noise(rng, 0.2), SR)
        rows.append(f"{name},{i % 5 + 1},{i % 2},{'dog' if i % 2 else 'rain'},False,x,A")
    (esc / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    classes, train, val, layout = find_dataset(esc)
    assert layout == "esc50" and classes == ["dog", "rain"] and len(val) == 2 and len(train) == 8

    (tmp_path / "one" / "only").mkdir(parents=True)
    sf.write(tmp_path / "one" / "only" / "a.wav", noise(rng, 0.2), SR)
    with pytest.raises(ParameterError, match="1 class"):
        find_dataset(tmp_path / "one")
    with pytest.raises(ParameterError, match="not a folder"):
        find_dataset(tmp_path / "missing")
    (esc / "meta" / "esc50.csv").write_text("\n".join(rows + ["gone.wav,1,0,rain,False,x,A"]) + "\n")
    with pytest.raises(ParameterError, match="missing"):
        find_dataset(esc)


# ----------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def wavs(tmp_path, rng):
    content = tmp_path / "content.wav"
    t = np.arange(int(0.8 * 44100)) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(content, np.stack([tone, tone], 1), 44100)
    style = tmp_path / "style.wav"
    sf.write(style, noise(rng, 0.6), SR)
    return content, style


def test_cli_transfer_writes_audio_report_and_plot(wavs, tmp_path, capsys):
    content, style = wavs
    out, rep, png = tmp_path / "out.wav", tmp_path / "r.json", tmp_path / "p.png"
    assert main(["transfer", "--content", str(content), "--style", str(style), "--output", str(out),
                 "--iterations", "4", "--filters", "64", "--gla-iterations", "4", "--report", str(rep),
                 "--plot", str(png)]) == 0
    stdout = capsys.readouterr().out
    assert "downmixed from 2 channels" in stdout and "resampled from 44100 Hz" in stdout
    y, rate = sf.read(out)
    assert rate == SR and y.ndim == 1 and abs(len(y) - int(0.8 * SR)) <= 2 and np.isfinite(y).all()
    report = json.loads(rep.read_text())
    assert len(report["loss_curve"]) == report["iterations_run"] == 4
    assert {"total", "content", "style"} <= set(report["final_loss"]) and report["wall_s"] > 0
    assert report["descriptor"]["filters"] == [64] and report["content"]["downmixed"]
    assert {"timbre_distance", "timbre_distance_passthrough", "content_retention"} <= set(report["metrics"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("extra, match", [
    (["--iterations", "-1"], "iterations=-1"),
    (["--content-weight", "-1"], "content_weight=-1"),
    (["--descriptor", "nowhere.pt"], "does not exist"),
    (["--descriptor", "random", "--filters", "0"], "filters"),
    (["--n-fft", "1000"], "power of two"),
    (["--max-memory-gb", "0.0001"], "too long"),
    (["--descriptor", "random2d", "--filters", "4", "4", "--style-layers", "1"], "style_layers"),
    (["--init", "zeros"], "invalid choice"),
])
def test_cli_transfer_errors_are_one_line_exit_2(wavs, tmp_path, extra, match):
    content, style = wavs
    result = run_cli("transfer", "--content", content, "--style", style, "--output", tmp_path / "o.wav",
                     "--quiet", *extra)
    assert result.returncode == 2, result.stderr
    assert match in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o.wav").exists()


def test_cli_transfer_input_errors(wavs, tmp_path):
    content, style = wavs
    sf.write(tmp_path / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    sf.write(tmp_path / "short.wav", noise(np.random.default_rng(0), 0.01), SR)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunk")
    cases = [
        (["--style", tmp_path / "silent.wav"], "style clip is silent"),
        (["--style", tmp_path / "short.wav"], "shorter than the descriptor's receptive field"),
        (["--style", tmp_path / "bad.wav"], "cannot read"),
        (["--style", tmp_path / "missing.wav"], "does not exist"),
    ]
    for args, match in cases:
        result = run_cli("transfer", "--content", content, "--output", tmp_path / "o.wav", "--quiet",
                         "--iterations", "1", "--filters", "16", *args)
        assert result.returncode == 2 and match in result.stderr, (args, result.stderr)
    result = run_cli("transfer", "--content", content, "--style", style, "--output", content, "--iterations", "1",
                     "--filters", "16", "--quiet")
    assert result.returncode == 2 and "overwrite" in result.stderr
    assert sf.read(content)[0].shape[1] == 2  # the input is untouched


def test_cli_train_descriptor(tmp_path, rng):
    _synthetic_set(tmp_path / "data", rng, n=3)
    out, rep = tmp_path / "d.pt", tmp_path / "train.json"
    result = run_cli("train-descriptor", "--data", tmp_path / "data", "--output", out, "--epochs", "1",
                     "--filters", "16", "4", "--crop-frames", "20", "--report", rep)
    assert result.returncode == 0, result.stderr
    assert "validation accuracy" in result.stdout and out.is_file()
    assert json.loads(rep.read_text())["classes"] == ["hiss", "rumble", "tone"]
    result = run_cli("train-descriptor", "--data", tmp_path / "nothing", "--output", out)
    assert result.returncode == 2 and "not a folder" in result.stderr


def test_runtime_path_never_imports_torch():
    code = ("import sys, rtst.cli, rtst.engine.processor, rtst.live.stream, rtst.model, rtst.phase, rtst.transfer, "
            "rtst.transfer.features, rtst.measure.style; rtst.cli.build_parser(); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr

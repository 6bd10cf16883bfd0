import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import chirp
from rtst.cli import main

REPORT_KEYS = {"sample_rate", "n_fft", "hop_length", "phase", "lookahead", "model", "latency_samples",
               "frames", "budget_us", "hop_compute_us", "deadline_misses", "xruns"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "rtst", *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def wav(tmp_path, rng):
    path = tmp_path / "in.wav"
    sf.write(path, rng.uniform(-0.8, 0.8, 48000 + 77).astype(np.float32), 48000, subtype="FLOAT")
    return path


def test_render_identity_returns_input_and_full_report(wav, tmp_path, capsys):
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    assert main(["render", str(wav), str(out), "--model", "identity", "--phase", "input", "--report", str(rep)]) == 0
    x, _ = sf.read(wav, dtype="float32")
    y, sr = sf.read(out, dtype="float32")
    assert sr == 48000 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1e-4
    report = json.loads(rep.read_text())
    assert REPORT_KEYS <= set(report)
    assert set(report["latency_samples"]) >= {"algorithmic", "io", "total", "measured"}
    assert report["latency_samples"]["io"] is None and report["latency_samples"]["measured"] is None
    assert set(report["hop_compute_us"]) >= {"p50", "p99", "p999", "max"}
    assert report["frames"] > 180 and report["xruns"] is None  # no stream ran


@pytest.mark.parametrize("block_size", [1, 97, 256, 1000])
def test_render_any_block_size_is_time_aligned(wav, tmp_path, block_size):
    out = tmp_path / "out.wav"
    assert main(["render", str(wav), str(out), "--block-size", str(block_size), "--model", "identity",
                 "--phase", "input"]) == 0
    x, _ = sf.read(wav, dtype="float32")
    y, _ = sf.read(out, dtype="float32")
    assert np.max(np.abs(y - x)) <= 1e-4


def test_render_stereo_44k1_flac_is_resampled_and_returned(tmp_path):
    src = tmp_path / "in.flac"
    x = np.stack([chirp(44100, 44100, amp=0.4), chirp(44100, 44100, f0=3000, f1=100, amp=0.3)], axis=1)
    sf.write(src, x, 44100, subtype="PCM_24")
    out, rep = tmp_path / "out.flac", tmp_path / "r.json"
    assert main(["render", str(src), str(out), "--model", "identity", "--phase", "input", "--report", str(rep)]) == 0
    y, sr = sf.read(out, dtype="float32")
    assert sr == 44100 and y.shape == x.shape
    # resampling 44.1k -> 48k -> 44.1k is not bit-exact, but it is transparent below Nyquist
    assert np.max(np.abs(y - x)[2000:-2000]) < 2e-3
    report = json.loads(rep.read_text())
    assert report["input"]["resampled"] is True and report["input"]["channels"] == 2


def test_render_refuses_to_overwrite_its_input(wav):
    before = wav.read_bytes()
    result = run_cli("render", wav, wav)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "refusing to overwrite the input file" in result.stderr
    assert wav.read_bytes() == before


@pytest.mark.parametrize("content, match", [
    (b"", "cannot read"),
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "cannot read"),
    (b"this is not audio at all" * 10, "cannot read"),
])
def test_render_malformed_file_is_one_line_exit_2(tmp_path, content, match):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    result = run_cli("render", bad, tmp_path / "out.wav")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and match in result.stderr, result.stderr
    assert not (tmp_path / "out.wav").exists()


def test_render_empty_wav_is_an_error(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 48000)
    result = run_cli("render", empty, tmp_path / "out.wav")
    assert result.returncode == 2 and "is empty (0 samples)" in result.stderr


def test_render_missing_file(tmp_path):
    result = run_cli("render", tmp_path / "nope.wav", tmp_path / "out.wav")
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize("args, match", [
    (["--hop-length", "2048"], "hop_length=2048 must be between 1 and 1024"),
    (["--n-fft", "1000"], "n_fft=1000 must be a power of two"),
    (["--sample-rate", "1000"], "sample_rate=1000 must be between 8000 and 192000"),
    (["--mix", "2"], "mix=2.0 must be between 0.0 and 1.0"),
    (["--lookahead", "-1"], "lookahead=-1"),
    (["--phase", "magic"], "invalid choice: 'magic'"),
    (["--model", "no-such-model"], "model 'no-such-model' not found"),
    (["--block-size", "0"], "block_size"),
])
def test_render_bad_settings_are_one_line_exit_2(wav, tmp_path, args, match):
    result = run_cli("render", wav, tmp_path / "out.wav", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and match in result.stderr, result.stderr


def test_output_to_unknown_extension_or_missing_folder(wav, tmp_path):
    result = run_cli("render", wav, tmp_path / "out.xyz")
    assert result.returncode == 2 and "unknown audio extension" in result.stderr
    result = run_cli("render", wav, tmp_path / "missing" / "out.wav")
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize("command", [[], ["devices"], ["live"], ["render"], ["demo"], ["bench"], ["latency"],
                                     ["transfer"], ["train-descriptor"], ["distill"]])
def test_every_command_has_help(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: rtst" in result.stdout


def test_demo_renders_bundled_clip(tmp_path):
    out = tmp_path / "demo.wav"
    result = run_cli("demo", "--output", out)
    assert result.returncode == 0, result.stderr
    # without --model the demo plays the default preset's style, and says which and where
    from rtst.presets import DEFAULT_PRESET, PRESETS

    assert f"'{PRESETS[DEFAULT_PRESET].model}' model" in result.stdout and str(out) in result.stdout
    y, sr = sf.read(out)
    assert sr == 48000 and y.shape[0] == 4 * 48000 and np.abs(y).max() > 0.1


def test_live_with_missing_device_lists_devices(tmp_path):
    """One line naming the device asked for and listing those there are (none here, with no sound
    server; the JACK tests see the list filled)."""
    result = run_cli("live", "--input", "no-such-device-xyz", "--duration", "0.1")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "rtst live: error: no input device matches 'no-such-device-xyz' (available inputs: ") and lines[0].endswith(")")


@pytest.mark.parametrize("phase, lookahead", [("rtpghi", 0), ("rtpghi", 1), ("spsi", 0), ("rtisila", 2),
                                              ("hybrid", 1), ("hybrid", 3)])
def test_render_with_every_phase_method(tmp_path, phase, lookahead):
    """Tone bursts (harmonic, 90 ms on, 160 ms off) rendered through the identity: a
    magnitude-only reconstruction keeps each burst's energy and its place in time (the render
    takes the latency out), and nothing needed the sanitiser or the clipper."""
    sr = 48000
    t = np.arange(2 * sr) / sr
    gate = ((t % 0.25) < 0.09).astype(np.float32)
    x = (0.3 * gate * sum(np.sin(2 * np.pi * 196 * k * t) / k for k in range(1, 6))).astype(np.float32)
    src, out, rep = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "r.json"
    sf.write(src, x, sr, subtype="FLOAT")
    assert main(["render", str(src), str(out), "--model", "identity", "--phase", phase, "--lookahead", str(lookahead),
                 "--report", str(rep)]) == 0
    y, _ = sf.read(out, dtype="float32")
    assert y.shape == x.shape
    # the 5 ms envelopes: same level per burst (within 1 dB), same place (the cross-correlation
    # peaks at no lag), and silent between bursts (an envelope smeared or shifted by a hop fails)
    env_x = np.sqrt(np.mean(x[:x.size // 240 * 240].reshape(-1, 240) ** 2, axis=1))
    env_y = np.sqrt(np.mean(y[:y.size // 240 * 240].reshape(-1, 240) ** 2, axis=1))
    on = env_x > 0.5 * env_x.max()
    off = np.convolve(env_x > 1e-6, np.ones(9), mode="same") == 0  # 20 ms (a frame) from any burst
    burst_db = 20 * np.log10(np.add.reduceat(env_y, np.flatnonzero(np.diff(on.astype(int)) == 1) + 1)
                             / np.add.reduceat(env_x, np.flatnonzero(np.diff(on.astype(int)) == 1) + 1))
    print(phase, lookahead, "bursts dB", np.round(burst_db, 2), "between",
          np.sqrt(np.mean(y[np.repeat(off, 240)[:y.size]] ** 2)) / np.sqrt(np.mean(x ** 2)))
    assert np.all(np.abs(burst_db[:-1]) < 1.0), burst_db  # measured within 0.31 dB
    lags = np.arange(-4, 5)
    corr = [np.dot(env_x[8:-8], env_y[8 + k:env_y.size - 8 + k]) for k in lags]
    assert lags[int(np.argmax(corr))] == 0, corr
    assert np.sqrt(np.mean(y[np.repeat(off, 240)[:y.size]] ** 2)) < 1e-3 * np.sqrt(np.mean(x ** 2))  # measured 1e-7
    report = json.loads(rep.read_text())
    assert report["safety"]["clipped_output"] == 0 and report["safety"]["bad_frames"] == 0
    assert report["phase"] == phase and report["lookahead"] == lookahead
    assert report["latency_samples"]["algorithmic"] == 1024 - 256 + lookahead * 256


@pytest.mark.parametrize("phase", ["rtpghi", "spsi", "rtisila", "hybrid", "input"])
def test_bench_every_phase_method(tmp_path, phase):
    rep = tmp_path / "b.json"
    result = run_cli("bench", "--model", "identity", "--phase", phase, "--seconds", "1", "--report", rep)
    assert result.returncode == 0, result.stderr
    assert "of the 5333 us budget" in result.stdout
    report = json.loads(rep.read_text())
    assert report["phase"] == phase and report["frames"] > 100
    assert {"p50", "p99", "p999", "max"} <= set(report["hop_compute_us"])
    assert report["hop_compute_percent_of_budget"]["p50"] > 0
    assert report["spectral_convergence_db"] < (-100 if phase == "input" else -10)
    # the offline floor on the same magnitudes: identity's are a real signal's, so offline PGHI +
    # Griffin-Lim realises them well; the magnitude-only real-time methods do not beat it
    assert report["offline_floor_db"] < -20
    if phase in ("rtpghi", "spsi"):
        assert report["offline_floor_db"] < report["spectral_convergence_db"]
    assert "offline floor" in result.stdout


@pytest.mark.parametrize("args, match", [
    (["--phase", "spsi", "--iterations", "3"], "takes no option(s) iterations"),
    (["--phase", "rtpghi", "--lookahead", "2"], "must be 0 or 1"),
    (["--phase", "hybrid", "--iterations", "99"], "iterations=99"),
    (["--seconds", "0"], "--seconds=0"),
])
def test_bench_bad_settings_are_one_line_exit_2(args, match):
    result = run_cli("bench", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and match in result.stderr, result.stderr


@pytest.mark.parametrize("args, match", [
    (["--view-screenshot", "x.png"], "--view-screenshot needs --view"),
    (["--host", "alsa"], "invalid choice: 'alsa'"),
    (["--view", "--view-screenshot", "x.png", "--view-screenshot-after", "-1"], "--view-screenshot-after=-1.0 must be"),
])
def test_live_view_options_are_checked_before_anything_opens(args, match):
    result = run_cli("live", "--duration", "0.1", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and match in result.stderr, result.stderr


@pytest.mark.parametrize("args, match", [
    (["--repeats", "0"], "repeats=0 must be from 1 to 100"),
    (["--block-size", "0"], "--block-size=0 must be at least 1"),
    (["--latency", "soon"], "--latency='soon' must be low, high or seconds"),
    (["--through-effect", "--n-fft", "1000", "--hop-length", "256"], "n_fft"),
])
def test_latency_bad_settings_are_one_line_exit_2(args, match):
    result = run_cli("latency", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and match in result.stderr, result.stderr


def test_preset_fills_model_and_phase_and_options_win(tmp_path):
    path = tmp_path / "b.json"
    assert run_cli("bench", "--preset", "low-latency", "--seconds", "0.5", "--report", path).returncode == 0
    report = json.loads(path.read_text())
    assert (report["preset"], report["model"], report["phase"], report["lookahead"], report["n_fft"]) == \
        ("low-latency", "cello-ll", "input", 0, 256)
    assert run_cli("bench", "--preset", "default", "--phase", "rtpghi", "--lookahead", "1", "--seconds", "0.5",
                   "--report", path).returncode == 0
    report = json.loads(path.read_text())
    assert (report["model"], report["phase"], report["lookahead"]) == ("cello", "rtpghi", 1)
    result = run_cli("bench", "--preset", "all", "--seconds", "0.5", "--report", path)
    assert result.returncode == 0 and result.stdout.count("[") == 3
    assert set(json.loads(path.read_text())["presets"]) == {"low-latency", "default", "quality"}


@pytest.mark.parametrize("extra, message", [
    (["--view-fps", "500"], "--view-fps=500.0 must be from 1 to 120"),
    (["--view-fps", "0.5"], "--view-fps=0.5 must be from 1 to 120"),
    (["--models", "identity", "cello-ll"], "model 'cello-ll' was trained with n_fft=256 but the engine uses n_fft=1024"),
    (["--models", "nosuch"], "model 'nosuch' not found: give one of"),
    (["--morph-model", "cello-ll"], "model 'cello-ll' was trained with n_fft=256 but the engine uses n_fft=1024"),
    (["--midi-map", "{bad_map}"], "cc 1 = 'nonsense' must be one of mix, morph, bypass"),
    (["--midi-map", "{missing}"], "cannot be read: No such file or directory"),
])
def test_live_refuses_bad_rig_options_in_one_line_before_any_stream(tmp_path, extra, message):
    """Options that cannot work are refused before a stream opens (no audio device needed): exit 2,
    one line naming the option or the model and why."""
    pytest.importorskip("mido")
    bad_map = tmp_path / "map.toml"
    bad_map.write_text('[cc]\n1 = "nonsense"\n')
    extra = [a.format(bad_map=bad_map, missing=tmp_path / "none.toml") for a in extra]
    result = run_cli("live", "--model", "cello", "--duration", "0.1", *extra)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtst live: error: ") and message in lines[0], result.stderr

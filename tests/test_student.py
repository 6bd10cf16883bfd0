"""The student network: causality, streaming state, ONNX step export parity with torch."""

import numpy as np
import pytest

from rtst.config import StftConfig
from rtst.errors import ParameterError

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

from rtst.testing.onnx_models import step_through  # noqa: E402
from rtst.transfer.student import StepModule, Student, StudentConfig, export_onnx  # noqa: E402

CFG = StftConfig(n_fft=256, hop_length=64)


def trained_like(config, seed=0):
    """A student with every weight random (out_proj is zero at init, which would hide bugs)."""
    torch.manual_seed(seed)
    net = Student(config)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3 / np.sqrt(max(p.shape[1] if p.ndim > 1 else 1, 1)))
    return net.eval()


def features(rng, n_bins, n_frames):
    return np.log1p(np.abs(rng.standard_normal((n_bins, n_frames))) * 20).astype(np.float32)


def test_untrained_student_given_its_input_as_style_is_the_identity(rng):
    net = Student(StudentConfig(n_bins=CFG.n_bins, channels=16))
    frame = features(rng, CFG.n_bins, 1)
    x = torch.from_numpy(np.repeat(frame, 20, axis=1))
    net.set_style(x)
    torch.testing.assert_close(net.eval()(x[None]), x[None], rtol=1e-5, atol=1e-5)


def test_untrained_student_moves_the_envelope_toward_the_styles():
    """Input tilted down (dark), style tilted up (bright): the output's envelope heads for the
    style's, by up to max_gain, within a few time constants, and the harmonics stay put."""
    from rtst.transfer.student import band_envelope

    config = StudentConfig(n_bins=CFG.n_bins, channels=16, envelope_frames=5.0)
    net = Student(config)
    tilt = np.linspace(-1.0, 1.0, CFG.n_bins)[:, None]
    mag = np.full((CFG.n_bins, 60), 0.1)
    mag[4::4] = 50.0
    x = torch.from_numpy(np.log1p(mag * np.exp(-1.5 * tilt)).astype(np.float32))
    style = torch.from_numpy(np.log1p(mag * np.exp(1.5 * tilt)).astype(np.float32))
    net.set_style(style)
    with torch.no_grad():
        y = net.eval()(x[None])[0]
        env = lambda f: band_envelope(f, net.band_mean, dim=0)[:, -1]  # noqa: E731
        before = (env(x) - env(style)).abs().mean()
        after = (env(y) - env(style)).abs().mean()
    assert after < 0.5 * before
    top = np.sort(np.argsort(y[:, -1].numpy())[-20:])
    assert set(top) <= set(range(4, CFG.n_bins, 4))


def test_output_is_causal_with_the_stated_receptive_field(rng):
    config = StudentConfig(n_bins=CFG.n_bins, channels=16, kernel_size=3, dilations=(1, 2, 4))
    assert config.receptive_field == 15
    net = trained_like(config)
    x = torch.from_numpy(features(rng, CFG.n_bins, 40))[None]
    y = net(x)
    x2 = x.clone()
    x2[:, :, 30] += 5.0  # a change at frame 30 ...
    y2 = net(x2)
    changed = (y2 - y).abs().amax(dim=1)[0] > 1e-6
    assert not changed[:30].any()                       # ... never reaches earlier frames
    assert changed[30:30 + config.receptive_field].all()  # ... and reaches the next 14 frames
    assert not changed[30 + config.receptive_field:].any()


def test_stepping_equals_whole_clip_and_halves_equal_whole(rng):
    config = StudentConfig(n_bins=CFG.n_bins, channels=24, kernel_size=3, dilations=(1, 2, 4, 8))
    net = trained_like(config, seed=1)
    x = features(rng, CFG.n_bins, 50)
    with torch.no_grad():
        whole = net(torch.from_numpy(x)[None])[0].numpy()
        step = StepModule(net)
        states = step.initial_states()
        outs = []
        for t in range(50):
            out, *states = step(torch.from_numpy(x[:, t][None]), *states)
            outs.append(out[0].numpy())
    np.testing.assert_allclose(np.stack(outs, 1), whole, atol=1e-5)


def test_onnx_step_model_matches_torch_frame_by_frame(tmp_path, rng):
    """The failing parity check: ONNX stepped through a clip == torch on the whole clip (<= 1e-4)."""
    config = StudentConfig(n_bins=CFG.n_bins, channels=32, kernel_size=3, dilations=(1, 2, 4))
    net = trained_like(config, seed=2)
    path = export_onnx(net, tmp_path / "s.onnx", CFG, name="test-style", style={"source": "noise"},
                       training={"steps": 0})
    x = features(rng, CFG.n_bins, 64)
    with torch.no_grad():
        whole = net(torch.from_numpy(x)[None])[0].numpy()    # [n_bins, n_frames]
    stepped = step_through(path, x.T)                      # [n_frames, n_bins], plain onnxruntime
    assert np.max(np.abs(stepped.T - whole)) <= 1e-4
    golden = np.load(path.with_suffix(".golden.npz"))
    np.testing.assert_allclose(step_through(path, golden["frames"]), golden["outputs"], atol=1e-4)


def test_exported_student_runs_in_the_engine_as_a_step_model(tmp_path, rng):
    from rtst.model import load_model

    config = StudentConfig(n_bins=CFG.n_bins, channels=16, dilations=(1, 2))
    net = trained_like(config, seed=3)
    path = export_onnx(net, tmp_path / "s.onnx", CFG, name="engine-test")
    model = load_model(str(path))
    assert model.stft == CFG
    model.prepare(CFG.n_bins)
    mags = np.abs(rng.standard_normal((10, CFG.n_bins))) * 5
    out = np.zeros(CFG.n_bins)
    got = []
    for m in mags:
        model.process(m, out)
        got.append(out.copy())
    with torch.no_grad():
        ref = net(torch.from_numpy(np.log1p(mags.T).astype(np.float32))[None])[0].numpy().T
    np.testing.assert_allclose(np.stack(got), np.maximum(np.expm1(ref.astype(np.float64)), 0), rtol=1e-3, atol=1e-3)
    model.reset()
    first = np.zeros(CFG.n_bins)
    model.process(mags[0], first)
    np.testing.assert_allclose(first, got[0], rtol=1e-6, atol=1e-6)  # reset equals fresh


def test_student_config_errors():
    with pytest.raises(ParameterError, match="channels"):
        StudentConfig(channels=0)
    with pytest.raises(ParameterError, match="dilations"):
        StudentConfig(dilations=())
    with pytest.raises(ParameterError, match="n_bins"):
        export_onnx(Student(StudentConfig(n_bins=10, channels=4)), "/tmp/x.onnx", CFG, name="x")


def test_output_keeps_each_frames_energy_and_silence_stays_silent(rng):
    net = trained_like(StudentConfig(n_bins=CFG.n_bins, channels=16, dilations=(1, 2)), seed=4)
    x = features(rng, CFG.n_bins, 30)
    x[:, 10:20] = 0.0                                  # ten frames of digital silence
    with torch.no_grad():
        y = net(torch.from_numpy(x)[None])[0].numpy().astype(np.float64)
    assert not np.allclose(y, x, atol=1e-2)            # the (random) network does reshape the spectrum
    energy = lambda f: (np.expm1(f.astype(np.float64)) ** 2).sum(axis=0)  # noqa: E731
    loud = np.r_[0:10, 20:30]
    np.testing.assert_allclose(energy(y)[loud], energy(x)[loud], rtol=1e-3)
    assert np.expm1(y[:, 10:20]).max() < 1e-3          # silence in, silence out


def test_filter_stays_finite_for_wild_frames():
    from rtst.transfer.student import apply_filter

    x = torch.tensor([0.0, 5.0, 25.0, 1e4]).repeat(CFG.n_bins // 4 + 1)[:CFG.n_bins]
    x = torch.stack([x, torch.zeros_like(x), torch.full_like(x, 30.0)], dim=1)[None]
    g = torch.tensor([-60.0, 0.0, 60.0]).repeat(CFG.n_bins)[:CFG.n_bins]
    g = torch.stack([g, -g, torch.zeros_like(g)], dim=1)[None].requires_grad_(True)
    out = apply_filter(x, g, dim=1)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(g.grad).all()


def test_bands_interpolate_smoothly_and_cover_every_bin():
    from rtst.transfer.features import BAND_MIN_STEP, band_matrix

    for n_bins in (129, 513, 1025):
        b = band_matrix(n_bins)
        np.testing.assert_allclose(b.sum(axis=0), 1.0, atol=1e-6)   # a flat band gain is a flat filter
        peaks = b.argmax(axis=1)
        assert peaks[0] == 0 and peaks[-1] == n_bins - 1
        assert np.diff(peaks).min() >= BAND_MIN_STEP - 1e-9         # never narrower than the main lobe


def test_trained_student_is_a_smooth_filter_that_keeps_the_harmonics(rng):
    """The output is the input times a gain that is smooth across bins: a harmonic spectrum keeps
    its peaks (the pitch) where they were, whatever the weights."""
    net = trained_like(StudentConfig(n_bins=CFG.n_bins, channels=16, dilations=(1, 2)), seed=5)
    mag = np.full((CFG.n_bins, 20), 0.01)
    mag[8::8, :] = 30.0                                 # harmonics every 8 bins
    x = np.log1p(mag).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)[None])[0].numpy().astype(np.float64)
    ratio = np.log(np.expm1(y) / mag)                   # the log gain the student applied, per bin
    assert np.ptp(ratio) > 0.1                          # it does filter ...
    # ... with a gain that is a straight line (in log) between band centres: no detail finer than a band
    from rtst.transfer.features import band_matrix

    centres = band_matrix(CFG.n_bins).argmax(axis=1)    # band centres fall between bins: a kink
    kinks = set(centres) | set(centres - 1) | set(centres + 1)   # bends the gain at both neighbours
    inside = [i for i in range(1, CFG.n_bins - 1) if i not in kinks]
    assert np.abs(np.diff(ratio, 2, axis=0))[np.array(inside) - 1].max() < 1e-3
    for t in range(20):
        top = np.sort(np.argsort(np.expm1(y[:, t]))[-10:])
        assert set(top) <= set(range(8, CFG.n_bins, 8))  # the loudest bins are still the harmonics

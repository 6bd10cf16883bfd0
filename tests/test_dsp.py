from typing import NamedTuple

import numpy as np
import pytest
from numba import njit

from rtst.config import StftConfig
from rtst.dsp.fft import FftPlan, RfftPlan, fft_plan, rfft_kernel
from rtst.dsp.kernel_state import named, plain
from rtst.dsp.ringbuffer import next_pow2, ring_history
from rtst.dsp.stft import analyse_centred, analyse_frame, istft, stft, synthesise_centred, synthesise_frame
from rtst.dsp.windows import dual_window, get_window, ola_square_sum


@pytest.mark.parametrize("n_fft", [4, 8, 16, 64, 256, 1024, 4096])
def test_rfft_matches_numpy(n_fft, rng):
    plan = RfftPlan(n_fft)
    x = rng.standard_normal(n_fft)
    spec = plan.rfft(x)
    np.testing.assert_allclose(spec, np.fft.rfft(x), atol=1e-12 * n_fft)
    np.testing.assert_allclose(plan.irfft(spec), x, atol=1e-13)


@pytest.mark.parametrize("n_fft", [16, 512])
def test_irfft_matches_numpy_for_any_hermitian_half(n_fft, rng):
    plan = RfftPlan(n_fft)
    spec = rng.standard_normal(n_fft // 2 + 1) + 1j * rng.standard_normal(n_fft // 2 + 1)
    np.testing.assert_allclose(plan.irfft(spec), np.fft.irfft(spec, n_fft), atol=1e-13)


def test_rfft_plan_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        RfftPlan(12)


def test_fft_plan_is_one_named_tuple_of_its_tables():
    plan = fft_plan(64)
    assert isinstance(plan, FftPlan) and plan._fields == ("bitrev", "twiddle", "split", "work")
    assert (plan.bitrev.dtype, plan.twiddle.dtype, plan.split.dtype, plan.work.dtype) == (
        np.int64, np.complex128, np.complex128, np.complex128)
    assert plan.bitrev.shape == plan.work.shape == (32,) and plan.split.shape == (33,)
    assert isinstance(RfftPlan(64).tables, FftPlan)


def test_frame_centred_analysis_matches_numpy_and_synthesis_inverts_it(rng):
    n_fft, hop = 256, 64
    plan = fft_plan(n_fft)
    w = get_window("hann", n_fft)
    g = dual_window(w, hop)
    frame = rng.standard_normal(n_fft)
    spec = np.zeros(n_fft // 2 + 1, np.complex128)
    analyse_centred(frame, w, spec, np.zeros(n_fft), plan)
    np.testing.assert_allclose(spec, np.fft.rfft(np.fft.ifftshift(frame * w)), atol=1e-10)
    out = np.zeros(n_fft)
    synthesise_centred(spec, g, out, np.zeros_like(spec), plan)
    np.testing.assert_allclose(out, frame * w * g, atol=1e-12)


def test_frame_kernels_take_the_plan_whole_or_unpacked(rng):
    n_fft = 128
    plan = fft_plan(n_fft)
    w = get_window("hann", n_fft)
    frame = rng.standard_normal(n_fft)
    results = []
    for tables in ((plan,), (plain(plan),), tuple(plan)):
        spec = np.zeros(n_fft // 2 + 1, np.complex128)
        mag = np.zeros(n_fft // 2 + 1)
        analyse_frame(frame, w, spec, mag, np.zeros(n_fft), *tables)
        acc = np.zeros(n_fft)
        assert synthesise_frame(spec, w, acc, np.zeros_like(spec), np.zeros(n_fft), 1e9, *tables)
        results.append((spec, mag, acc))
    for spec, _, acc in results[1:]:
        np.testing.assert_array_equal(spec, results[0][0])
        np.testing.assert_array_equal(acc, results[0][2])
    np.testing.assert_allclose(results[0][1], np.abs(results[0][0]), rtol=1e-15)


def test_synthesise_frame_rejects_exploding_or_non_finite_frames():
    n_fft = 64
    plan = fft_plan(n_fft)
    w = get_window("hann", n_fft)
    acc = np.zeros(n_fft)
    scratch, spec_scratch = np.zeros(n_fft), np.zeros(n_fft // 2 + 1, np.complex128)
    spec = np.full(n_fft // 2 + 1, 1e3, np.complex128)
    assert not synthesise_frame(spec, w, acc, spec_scratch, scratch, 1.0, plan)
    spec[3] = np.nan
    assert not synthesise_frame(spec, w, acc, spec_scratch, scratch, np.inf, plan)
    assert np.all(acc == 0.0)


@pytest.mark.parametrize("n_fft, hop", [(1024, 256), (1024, 128), (512, 300), (256, 1)])
def test_dual_window_overlap_adds_to_one(n_fft, hop):
    w = get_window("hann", n_fft)
    g = dual_window(w, hop)
    # sum over frames of w*g at every sample phase must be exactly 1
    np.testing.assert_allclose(ola_square_sum(np.sqrt(w * g), hop), 1.0, atol=1e-12)


def test_stft_frames_match_naive_definition(rng):
    cfg = StftConfig(n_fft=256, hop_length=64)
    x = rng.standard_normal(1000)
    spec = stft(x, cfg)
    w = get_window("hann", 256)
    padded = np.concatenate([np.zeros(256), x, np.zeros(512)])
    for j in (0, 3, spec.shape[1] - 1):
        start = (j + 1) * 64 - 256  # frame j covers [(j+1)*hop - n_fft, (j+1)*hop)
        frame = padded[256 + start:256 + start + 256] * w
        expected = np.fft.rfft(np.fft.ifftshift(frame))  # frame-centred phase
        np.testing.assert_allclose(spec[:, j], expected, atol=1e-10)


@pytest.mark.parametrize("n_fft, hop", [(256, 128), (1024, 256), (2048, 256), (512, 300)])
def test_offline_istft_inverts_stft(n_fft, hop, rng):
    cfg = StftConfig(n_fft=n_fft, hop_length=hop)
    x = rng.standard_normal(5000)
    np.testing.assert_allclose(istft(stft(x, cfg), cfg, x.size), x, atol=1e-10)


def test_ring_history_returns_entries_oldest_first():
    ring = np.zeros(8, dtype=np.int64)
    for i in range(13):
        ring[i & 7] = i
    np.testing.assert_array_equal(ring_history(ring, 13), np.arange(5, 13))
    np.testing.assert_array_equal(ring_history(ring, 3), ring[:3])


def test_next_pow2_is_the_smallest_power_of_two_at_least_n():
    assert [next_pow2(n) for n in (0, 1, 2, 3, 4, 5, 63, 64, 65)] == [1, 1, 2, 4, 4, 8, 64, 64, 128]
    assert next_pow2(np.int64(1000)) == 1024 and next_pow2((1 << 20) + 1) == 1 << 21
    for n in range(1, 3000):
        p = next_pow2(n)
        assert p & (p - 1) == 0 and p >= n > p // 2



class _Outer(NamedTuple):
    gain: float
    buf: np.ndarray
    fft: FftPlan


@njit(cache=False)
def _outer_step(x, out, args):
    st = named(_Outer, args)
    for n in range(x.shape[0]):
        st.buf[n] = st.gain * x[n]
    rfft_kernel(st.buf, out, st.fft)


def test_kernel_state_round_trips_through_plain_tuples_in_python_and_compiled_code():
    state = _Outer(2.0, np.zeros(16), fft_plan(16))
    args = plain(state)
    assert type(args) is tuple and type(args[2]) is tuple
    assert args[1] is state.buf and all(a is b for a, b in zip(args[2], state.fft))
    assert named(_Outer, args) == state and named(_Outer, args).fft == state.fft
    assert named(_Outer, state) is state
    x = np.arange(16.0)
    out = np.zeros(9, np.complex128)
    _outer_step(x, out, args)
    np.testing.assert_allclose(out, np.fft.rfft(2.0 * x), atol=1e-12)


def test_angle_is_atan2_and_its_polynomial_is_the_fit_it_says():
    """rtst.dsp.compiled.angle against math.atan2 on every octant, axes, zero and tiny values; and
    its coefficients are the least-squares fit its comment names (derived here again)."""
    import math

    from numpy.polynomial import chebyshev

    from rtst.dsp import compiled
    from rtst.dsp.compiled import angle, rt_kernel

    @rt_kernel
    def angles(z, out):
        for k in range(z.shape[0]):
            out[k] = angle(z[k])

    rng = np.random.default_rng(3)
    z = np.concatenate([rng.standard_normal(50_000) + 1j * rng.standard_normal(50_000),
                        np.exp(1j * np.linspace(-np.pi, np.pi, 10_001)),
                        [1, -1, 1j, -1j, 1 + 1j, -1 - 1j, 1e-300, 1e-300j, 1e300, -1e300j],
                        1e-8 * (rng.standard_normal(100) + 1j * rng.standard_normal(100))])
    out = np.zeros(z.size)
    angles(z, out)
    assert np.abs(out - np.arctan2(z.imag, z.real)).max() <= 1e-15
    zero = np.zeros(1)
    angles(np.zeros(1, np.complex128), zero)
    assert zero[0] == 0.0

    z2max = math.tan(math.pi / 8) ** 2
    nodes = np.cos(np.pi * (np.arange(4000) + 0.5) / 4000)
    u = np.sqrt((nodes + 1) / 2 * z2max)
    fit = chebyshev.cheb2poly(chebyshev.chebfit(nodes, np.arctan(u) / u, 10))
    monomial = np.zeros(1)
    for c in fit[::-1]:  # s = 2 z / z2max - 1, back to powers of z = u²
        monomial = np.polynomial.polynomial.polyadd(np.polynomial.polynomial.polymul(monomial, [-1.0, 2 / z2max]), [c])
    # the coefficients of a degree-10 fit are ill-conditioned (they moved by 1e-4 between numpy
    # builds); what the fit fixes is the function, so the two polynomials are compared as functions
    zz = np.linspace(0.0, z2max, 20_001)
    ours = np.polynomial.polynomial.polyval(zz, compiled._ATAN_POLY)
    again = np.polynomial.polynomial.polyval(zz, monomial)
    assert np.abs(ours - again).max() <= 1e-15

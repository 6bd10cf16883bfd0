"""How a kernel that runs on the audio thread is compiled.

:func:`rt_kernel` is numba's ``njit`` with the on-disk cache and numba's reference-counted
runtime (NRT) off. Without the runtime, a call from Python unboxes each array argument into a
plain struct; with it, each array argument costs one 48-byte record from the heap for the length
of the call (tracemalloc sees it). Off, a kernel also cannot allocate an array at all: a kernel
that tried would not compile, so "allocates nothing" is checked by the compiler for every
kernel, not only by the tests' counters.

The GIL stays held (no ``nogil``): releasing it around each of a hop's calls made every call a
point where a Python thread waiting for the interpreter (OSC, MIDI, the recorder, the session's
loop) took it, for up to the switch interval, in the middle of the audio thread's hop. Held, the
audio thread gives it up only at the interpreter's own switch checks. Nothing runs kernels on two
threads at once.
"""

from __future__ import annotations

import math
import time

from numba import njit, types

__all__ = ["rt_kernel", "bound", "cabs", "angle", "monotonic_ns", "start_timer", "elapsed_ns", "TIMER_SLOTS"]


def rt_kernel(fn=None, **options):
    """Compile ``fn`` for the audio thread (usable as ``@rt_kernel`` or ``@rt_kernel(inline=...)``)."""
    settings = dict(cache=True, _nrt=False)
    settings.update(options)
    if fn is None:
        return njit(**settings)
    return njit(**settings)(fn)


def bound(kernel, *args):
    """The compiled entry point of ``kernel`` for the types of ``args``, to call on the audio
    thread instead of the kernel itself.

    Numba's dispatcher types every argument on every call; for a tuple (a kernel's state) whose
    type fingerprint outgrows its 40-byte buffer it mallocs and frees one, a C allocation per call
    that tracemalloc does not see (the real-time allocation counter, rtst.testing.rtmalloc, did:
    one a hop in RTPGHI, two in the guided method). The entry point unboxes the arguments as the
    bound types without that typing, so it must be given arrays of exactly those types (dtype,
    dimensions, layout): numba does not check an array's dtype there. Bind with the buffers the
    kernel will be called with."""
    from numba import typeof

    signature = tuple(typeof(arg) for arg in args)
    kernel.compile(signature)
    return kernel.overloads[signature].entry_point


@rt_kernel(inline="always")
def cabs(z):
    """``|z|`` as ``sqrt(re² + im²)``: numba's ``abs`` calls ``hypot``, which guards against an
    overflow no spectrum here can reach (above 1e154) and, unlike this, does not vectorise:
    measured 2.9 against 0.2 µs for 513 bins."""
    return math.sqrt(z.real * z.real + z.imag * z.imag)


#: atan(u) / u as a polynomial in u² for |u| <= tan(pi/8): a least-squares fit of degree 10 on 4000
#: Chebyshev nodes (tests/test_dsp.py derives it again and checks it): within 1.2e-16 of atan.
_ATAN_POLY = (0.9999999999999999, -0.3333333333332836, 0.19999999998819148, -0.14285714177459158,
              0.11111106021251219, -0.09090769078219525, 0.07689893564055654, -0.06639684950064309,
              0.05685341795018855, -0.04339010028016919, 0.021020695077617495)
_TAN_PI_8 = 0.41421356237309503
_QUARTER_PI = math.pi / 4.0
_HALF_PI = math.pi / 2.0


@rt_kernel(inline="always")
def angle(z):
    """``atan2(z.imag, z.real)`` to within 4e-16 rad, in straight-line arithmetic: libm's atan2
    is a call per bin that does not vectorise (measured 25-30 ns a bin, 10-15 µs a frame of 513
    bins, two frames a hop in the input-guided phase). Reduced to ``|u| <= tan(pi/8)`` by
    octant, then :data:`_ATAN_POLY`. ``angle(0) = 0``."""
    x, y = z.real, z.imag
    ax, ay = abs(x), abs(y)
    swap = ay > ax
    num = ax if swap else ay
    den = ay if swap else ax
    t = num / den if den > 0.0 else 0.0
    upper = t > _TAN_PI_8
    u = (t - 1.0) / (t + 1.0) if upper else t
    z2 = u * u
    p = _ATAN_POLY[10]
    p = p * z2 + _ATAN_POLY[9]
    p = p * z2 + _ATAN_POLY[8]
    p = p * z2 + _ATAN_POLY[7]
    p = p * z2 + _ATAN_POLY[6]
    p = p * z2 + _ATAN_POLY[5]
    p = p * z2 + _ATAN_POLY[4]
    p = p * z2 + _ATAN_POLY[3]
    p = p * z2 + _ATAN_POLY[2]
    p = p * z2 + _ATAN_POLY[1]
    p = p * z2 + _ATAN_POLY[0]
    a = u * p + (_QUARTER_PI if upper else 0.0)
    if swap:
        a = _HALF_PI - a
    if x < 0.0:
        a = math.pi - a
    return -a if y < 0.0 else a


# libc's clock, called from compiled code: time.perf_counter_ns() from Python would create an int
# object per reading (two per hop), and a call through ctypes would keep the kernel out of the cache.
_clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.voidptr))
_MONOTONIC = time.CLOCK_MONOTONIC


@rt_kernel(inline="always")
def monotonic_ns(timespec):
    """Now on the monotonic clock (the clock of ``time.monotonic_ns``), in ns. ``timespec``:
    int64 [2] scratch (seconds, nanoseconds: ``struct timespec`` on 64-bit POSIX)."""
    _clock_gettime(_MONOTONIC, timespec.ctypes.data)
    return timespec[0] * 1_000_000_000 + timespec[1]


#: int64 slots of a timer: a timespec scratch (2) and the start (ns).
TIMER_SLOTS = 3


@rt_kernel
def start_timer(timer):
    """Start ``timer`` (int64 [>= TIMER_SLOTS]). Real-time safe."""
    timer[2] = monotonic_ns(timer[0:2])


@rt_kernel(inline="always")
def elapsed_ns(timer):
    """Nanoseconds since :func:`start_timer` on ``timer``. Real-time safe."""
    return monotonic_ns(timer[0:2]) - timer[2]

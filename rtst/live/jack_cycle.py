"""The JACK process cycle's copies, in compiled code calling libjack directly.

JACK-Client's ``Port.get_array()`` makes a buffer object and a numpy array per port per cycle,
and slicing the callback's preallocated buffers makes views: Python objects on the audio thread
every period. These kernels take the ports' C pointers (integers) and call
``jack_port_get_buffer`` and ``jack_frames_since_cycle_start`` themselves, so a cycle's copies
and its wake-up stamp make no object at all.

Importing this module makes libjack's symbols visible to numba's linker (JACK-Client loaded the
library privately); the kernels are compiled (or loaded from the cache) after that.
"""

from __future__ import annotations

import ctypes.util

from llvmlite import binding as llvm
from numba import types

from rtst.dsp.compiled import rt_kernel

__all__ = ["pull_input", "push_output", "silence_output", "pointer_of", "compiled_for"]

_LIBJACK = ctypes.util.find_library("jack")
if _LIBJACK is None:  # JACK-Client needs the same library: it would not have imported either
    raise ImportError("the JACK library (libjack) is not installed")
llvm.load_library_permanently(_LIBJACK)

# pointers as integers (same registers on every 64-bit ABI); the buffer as float32*
_port_buffer = types.ExternalFunction("jack_port_get_buffer", types.CPointer(types.float32)(types.uintp, types.uint32))
_since_cycle_start = types.ExternalFunction("jack_frames_since_cycle_start", types.uint32(types.uintp))


def pointer_of(cdata) -> int:
    """The address of a JACK-Client object's C handle (``client._ptr``, ``port._ptr``)."""
    import jack

    return int(jack._ffi.cast("uintptr_t", cdata))


@rt_kernel
def pull_input(client, port, frames, indata, wake_frames, wake_count):
    """Note the cycle's wake-up delay (frames since the cycle started) in the ``wake_frames`` ring,
    and copy the input port's ``frames`` samples into ``indata[:frames, 0]``. Real-time safe."""
    n = wake_count[0]
    wake_frames[n & (wake_frames.shape[0] - 1)] = _since_cycle_start(client)
    wake_count[0] = n + 1
    buf = _port_buffer(port, frames)  # float32*, indexed directly (an array view would need numba's runtime)
    for i in range(frames):
        indata[i, 0] = buf[i]


@rt_kernel
def push_output(ports, frames, outdata):
    """Copy ``outdata[:frames, k]`` to output port ``ports[k]`` (uintp addresses). Real-time safe."""
    for k in range(ports.shape[0]):
        buf = _port_buffer(ports[k], frames)
        for i in range(frames):
            buf[i] = outdata[i, k]


@rt_kernel
def silence_output(ports, frames):
    """Zeros to every output port. Real-time safe."""
    for k in range(ports.shape[0]):
        buf = _port_buffer(ports[k], frames)
        for i in range(frames):
            buf[i] = 0.0


def compiled_for(client, port, frames, indata, outdata, ports, wake_frames, wake_count):
    """The three kernels, compiled (or loaded from the cache) for these arguments' types without
    running them: outside a process cycle there is no port buffer to touch."""
    from numba import typeof

    arg = lambda *values: tuple(typeof(v) for v in values)  # noqa: E731
    pull_input.compile(arg(client, port, frames, indata, wake_frames, wake_count))
    push_output.compile(arg(ports, frames, outdata))
    silence_output.compile(arg(ports, frames))
    return pull_input, push_output, silence_output

"""Heap allocations on the audio thread, counted in C: what tracemalloc cannot see.

tracemalloc counts Python's allocations only; onnxruntime, numba's runtime, libjack or numpy's C
code would allocate unseen. ``rt_malloc_count.c`` (beside this file) wraps malloc and its kin and
counts the calls made on real-time threads (SCHED_FIFO or SCHED_RR: the JACK process thread of a
client of a server started with -R). :func:`build_counter` compiles it (gcc); ``python -m
rtst.testing.rtmalloc`` runs the effect on the JACK server with it preloaded, for each model and
phase method given, and prints one JSON line per pair: the callbacks run, the allocations made
on real-time threads while they ran (after a warm-up) and how many real-time threads there were;
first a line saying whether the counter saw a real-time thread's allocation at all.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

SOURCE = Path(__file__).with_name("rt_malloc_count.c")


def build_counter(directory) -> Path:
    """Compile the counter into ``directory``; returns the shared library's path. RuntimeError
    when no C compiler is there (tools/setup.sh installs gcc with the dev extra)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler (gcc) to build the allocation counter")
    out = Path(directory) / "rt_malloc_count.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(SOURCE), "-ldl"], check=True,
                   capture_output=True, text=True)
    return out


def _counter():
    lib = ctypes.CDLL(None)
    try:
        read, reset = lib.rtst_rt_allocations, lib.rtst_rt_allocations_reset
    except AttributeError:
        raise RuntimeError("the allocation counter is not preloaded (LD_PRELOAD)") from None
    read.restype = ctypes.c_long
    return read, reset


def realtime_threads() -> int:
    """Threads of this process scheduled SCHED_FIFO or SCHED_RR now (field 41 of their stat)."""
    count = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        count += fields[41 - 3] in ("1", "2")  # after pid, comm: field 3 is index 0
    return count


def counter_sees_a_realtime_allocation() -> bool:
    """The positive control: a SCHED_FIFO thread of this process allocates once; counted?"""
    import os
    import threading

    read, reset = _counter()
    seen = []

    def allocate():
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        reset()
        bytearray(1 << 20)  # a malloc too large for Python's own small-object allocator
        seen.append(read())

    thread = threading.Thread(target=allocate)
    thread.start()
    thread.join()
    return bool(seen) and seen[0] >= 1


def measure(model_name: str, phase: str, warm_s: float, seconds: float) -> dict:
    """Run ``model_name`` / ``phase`` on the JACK server (the effect's own client) and count."""
    from rtst.config import StftConfig, StreamConfig
    from rtst.engine import Processor
    from rtst.live.stream import LiveEffect
    from rtst.model import load_model

    read, reset = _counter()
    model = load_model(model_name)
    stft = model.stft or StftConfig()  # the identity fits any
    proc = Processor(stft, model=model, phase=phase, block_size=stft.hop_length)
    effect = LiveEffect(proc, StreamConfig(block_size=stft.hop_length), host="jack")
    effect.start()
    try:
        time.sleep(warm_s)
        before = effect.stats["callbacks"]
        reset()
        time.sleep(seconds)
        allocations = read()
        callbacks = effect.stats["callbacks"] - before
        rt_threads = realtime_threads()
    finally:
        effect.stop()
    return {"model": model_name, "phase": phase, "callbacks": callbacks, "rt_allocations": allocations,
            "callback_failures": effect.stats["callback_failures"], "realtime_threads": rt_threads}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--phases", nargs="+", required=True)
    parser.add_argument("--warm", type=float, default=1.0, help="seconds before counting")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds counted")
    args = parser.parse_args(argv)
    print(json.dumps({"counter_works": counter_sees_a_realtime_allocation()}), flush=True)
    for model in args.models:
        for phase in args.phases:
            print(json.dumps(measure(model, phase, args.warm, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures: a seeded rng, signal makers, and the JACK test server (docs/testing.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rtst.testing.jack import jack_running, start_dummy_server

# Count allocations made inside compiled numba code (read by the real-time safety tests).
os.environ.setdefault("NUMBA_NRT_STATS", "1")

def pytest_sessionfinish(session, exitstatus):
    """In CI every skip is a failure: a test that needs a package or a tool installs it
    (tools/setup.sh), so a skip there means a check that silently did not run."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.ensure_newline()
        for report in skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            reporter.write_line(f"CI: skipped, which fails the run: {report.nodeid}: {reason}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


JACK_SAMPLE_RATE = 48000
JACK_PERIOD = int(os.environ.get("RTST_TEST_JACK_PERIOD", "128"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def chirp(n: int, sample_rate: int = 48000, f0: float = 50.0, f1: float = 12000.0, amp: float = 0.5) -> np.ndarray:
    """Linear chirp with short fades, float32 [n]."""
    t = np.arange(n) / sample_rate
    dur = n / sample_rate
    x = amp * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / dur * t ** 2))
    fade = min(n // 10, 480)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x.astype(np.float32)


def harmonic_tone(n: int, sample_rate: int = 48000, f0: float = 220.0, vibrato_hz: float = 5.0) -> np.ndarray:
    """Harmonic tone with vibrato, float32 [n]."""
    t = np.arange(n) / sample_rate
    f = f0 * (1 + 0.02 * np.sin(2 * np.pi * vibrato_hz * t))
    ph = 2 * np.pi * np.cumsum(f) / sample_rate
    return (0.2 * sum(np.sin(h * ph) / h for h in range(1, 10))).astype(np.float32)


def level_steps_db(y: np.ndarray, block: int = 256) -> np.ndarray:
    """Change of level (RMS dB) between consecutive ``block``-sample blocks: where a control or
    a glitch steps the sound."""
    b = y[:y.size // block * block].reshape(-1, block).astype(np.float64)
    level = 20 * np.log10(np.sqrt((b ** 2).mean(axis=1)) + 1e-12)
    return np.abs(np.diff(level))


def allocation_rounds(step, calls: int, rounds: int = 3, warm=None) -> list:
    """Bytes that ``calls`` calls of ``step()`` keep and peak at, per round, under tracemalloc:
    ``[(kept, peak), ...]``. ``warm()``, if given, runs first under tracemalloc (its allocations,
    and tracemalloc's own first-use ones, are not counted)."""
    import itertools
    import tracemalloc

    tracemalloc.start()
    try:
        if warm is not None:
            warm()
        result = []
        for _ in range(rounds):
            loop = itertools.repeat(None, calls)  # made before the reading: the loop itself adds nothing
            # read twice: the second reading counts the int objects the first one made, so the
            # harness's own objects cancel out and an empty step measures (0, 0) exactly
            base, unused = tracemalloc.get_traced_memory()
            base, unused = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            for _ in loop:
                step()
            current, peak = tracemalloc.get_traced_memory()
            result.append((current - base, peak - base))
    finally:
        tracemalloc.stop()
    return result


def assert_model_step_allocates_nothing(model) -> None:
    """An rtst step model's ``process`` keeps nothing and peaks low per call, after warm-up; a
    compiled student step allocates nothing at all (tracemalloc peak 0)."""
    model.prepare(model.stft.n_bins)
    mag = np.abs(np.random.default_rng(0).standard_normal(model.stft.n_bins)) * 5
    out = np.zeros_like(mag)
    # warm-up until the envelope tracker has settled on the constant input: onnxruntime's binding
    # was seen to keep a few hundred bytes once on the way there (never again after)
    rounds = allocation_rounds(lambda: model.process(mag, out), 500,
                               warm=lambda: [model.process(mag, out) for _ in range(1000)])
    if getattr(model, "engine", None) == "compiled":
        assert rounds == [(0, 0)] * len(rounds), rounds
        return
    # onnxruntime's binding keeps one small object of the latest run alive; a leak per step would
    # keep >= 500 x 28 bytes per round
    assert all(kept < 256 and peak < 1024 for kept, peak in rounds), rounds


def _unavailable(reason: str):
    # In CI the audio tests must run: a missing server is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(f"JACK test server unavailable in CI: {reason}")
    pytest.skip(reason)


def _clear_dead_servers_shm() -> None:
    """Servers killed outright (the fault tests kill theirs, as a crash would) leave their shared
    memory and their entry in JACK's registry, which holds 8 servers: after a few runs no new
    server starts. With no jackd running at all, every such entry is stale."""
    from pathlib import Path

    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == "jackd":
                return
        except OSError:
            continue
    for shm in Path("/dev/shm").glob("jack*"):
        try:
            shm.unlink()
        except OSError:
            pass


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A JACK server with the dummy driver (48 kHz, period JACK_PERIOD), found or started.

    Yields a dict with ``sample_rate``, ``period`` and ``log`` (the server's log file, None for a
    server found running). A server this fixture starts is stopped at the end of the session.
    """
    if jack_running():
        # a server found running has no log here, so the xrun attribution could not fail: CI
        # starts its own
        if os.environ.get("CI"):
            pytest.fail("a JACK server already runs: in CI the tests start their own (with its log); stop it")
        yield {"sample_rate": JACK_SAMPLE_RATE, "period": None, "started": False, "log": None}
        return
    if shutil.which("jackd") is None:
        _unavailable("jackd not installed (tools/setup.sh installs jackd2)")
    _clear_dead_servers_shm()
    log_path = tmp_path_factory.mktemp("jack") / "jackd.log"
    log = open(log_path, "w")
    proc = start_dummy_server(JACK_SAMPLE_RATE, JACK_PERIOD, log)
    if proc is None:
        log.close()
        _unavailable("jackd failed to start with the dummy driver")
    try:
        yield {"sample_rate": JACK_SAMPLE_RATE, "period": JACK_PERIOD, "started": True, "log": log_path}
    finally:
        log.close()
        # PortAudio in this process holds a JACK client; terminate it while the server still runs,
        # or its exit handler aborts the interpreter when it finds the server gone.
        sd = sys.modules.get("sounddevice")
        if sd is not None:
            while sd._initialized:
                sd._terminate()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()

"""The live effect on a real JACK server (dummy driver): its own JACK client, real audio."""

import json
from pathlib import Path
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import chirp, level_steps_db
from rtst.testing.jack import LoopProbe, find_lag, xrun_events

pytestmark = pytest.mark.jack


def assert_take_is_input(rec, sig, lag, glitches, *, tone, name="", period=128):
    """A take through an identity effect is the input delayed by ``lag``, to the sample, unless
    the server or the stream logged xruns. On this VM the dummy driver's timer and the clients
    stall now and then (tens to hundreds of xruns a minute; a C client gets them too), and each
    xrun drops or repeats a period or two of one client. So with ``glitches`` xruns, the tone (a
    slice of ``sig``) is compared period by period: at most three periods per xrun may differ, and
    at least half of it must be the input to the sample. (Two a xrun held until a fresh-clone CI
    run measured 14 differing periods with 6 xruns, half-hop blocks with two hops of lookahead,
    whose dropped period also shifts the effect's re-blocking by one.) The same comparison one sample early or late
    must fail on nearly all of it, in the same run: a take that is not the input, is misaligned or
    slips a sample somewhere cannot pass."""
    if glitches == 0:
        np.testing.assert_allclose(rec[lag:], sig[:sig.size - lag], atol=1e-4, err_msg=name)
        return

    def differing_periods(shift):
        wrong = np.abs(rec[tone.start + shift:tone.stop + shift] - sig[tone]) > 1e-4
        n = wrong.size // period
        return wrong[:n * period].reshape(n, period).any(axis=1)

    bad = differing_periods(lag)
    assert bad.sum() <= 3 * glitches and bad.mean() <= 0.5, (
        f"{name}: {bad.sum()} of {bad.size} periods of the tone differ with {glitches} xruns")
    for off in (-1, 1):
        assert differing_periods(lag + off).mean() >= 0.95, f"{name}: the check cannot tell a lag of {lag + off}"


#: The C reference client beside the effect in the short live tests: jack_metro (jackd2's example
#: client), doing almost nothing each cycle. The cycles it misses are what this machine does to any
#: client.
REFERENCE = "rtst-test-metro"
#: A driver timer this late (µs) is a machine stall: a quarter of the 128-frame period.
STALL_US = 667


@pytest.fixture
def reference_client(jack_server):
    if shutil.which("jack_metro") is None:
        if os.environ.get("CI"):
            pytest.fail("jack_metro (jackd2's example clients) is missing: tools/setup.sh installs it")
        pytest.skip("jack_metro is not installed")
    metro = subprocess.Popen(["jack_metro", "-b", "120", "-n", REFERENCE], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    yield REFERENCE
    metro.terminate()
    metro.wait(timeout=10)


class ServerLog:
    """The part of the JACK server's log written between :meth:`start` and :meth:`stop`."""

    def __init__(self, jack_server):
        self.path = jack_server["log"]
        self.text = ""

    def start(self):
        self.offset = self.path.stat().st_size if self.path else 0

    def stop(self):
        time.sleep(0.1)  # the server writes its report of the last cycle after it
        self.text = self.path.read_text()[self.offset:] if self.path else ""


def assert_effect_not_blamed(log: ServerLog, reference: str, what: str = "", slack: int = 1) -> None:
    """Each xrun the server reported in the window, attributed (rtst.testing.jack.xrun_events): it is
    the effect's when the server found it still in its callback at the deadline ("Running") and the
    driver's timer was on time. Those must be no more than twice the cycles the C reference client
    missed in the same window, plus one: a GIL wait before the callback, the effect's own threads
    starving it or a periodic hiccup would be late cycle after cycle, and the C client would not.
    ``slack`` (1) is the plus-one; a test that needs more says why with its measurements."""
    if log.path is None:  # a server this session did not start: no log to read (not in CI)
        assert not os.environ.get("CI"), "the JACK tests run their own server in CI"
        return
    blamed, missed, events = blame(log, reference, what)
    assert blamed <= 2 * missed + slack, (
        f"{what}: the server blamed {blamed} cycles on the effect, the C client missed {missed}: {events}")


def blame(log: ServerLog, reference: str, what: str = "", client: str = "rtst") -> tuple:
    """(cycles the server blamed on ``client``, the effect by default, cycles the C reference
    client missed, the events) in the log's window (see :func:`assert_effect_not_blamed`); printed."""
    events = xrun_events(log.text)
    blamed = [e for e in events if e["clients"].get(client) == "Running" and (e["timer_late_us"] or 0) < STALL_US]
    missed = [e for e in events if reference in e["clients"]]
    print(f"{what}: {len(events)} xruns in the window, blamed on {client} {len(blamed)}, "
          f"the C reference missed {len(missed)}")
    return len(blamed), len(missed), events


@pytest.mark.parametrize("extra", [
    [],                                      # block = hop: no block-alignment delay
    ["--block-size", "128", "--lookahead", "2"],  # half-hop blocks and two hops of lookahead
])
def test_live_identity_returns_chirp_delayed_by_reported_latency(jack_server, reference_client, tmp_path, extra):
    report_path = tmp_path / "live.json"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "identity", "--phase", "input",
         "--duration", "6", "--report", str(report_path), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = LoopProbe()
    try:
        ins, outs = probe.wait_for_ports("rtst")
        probe.patch(ins[0], outs[0])
        time.sleep(0.5)  # let the graph settle after re-patching
        log = ServerLog(jack_server)
        log.start()
        window_start = time.monotonic()
        sr = jack_server["sample_rate"]
        sig = np.zeros(int(1.5 * sr), np.float32)
        sig[4800:4800 + sr // 2] = chirp(sr // 2, sr)
        rec = probe.play_and_record(sig)
        window_end = time.monotonic()
        log.stop()
    finally:
        probe.close()
    stdout, stderr = effect.communicate(timeout=60)
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    lat = report["latency_samples"]
    lag = find_lag(sig, rec)
    print(f"reported {lat}, measured lag {lag}, probe xruns {probe.xruns}, stream {report['stream']}")
    assert lag == lat["total"]
    assert_take_is_input(rec, sig, lag, probe.xruns + report["stream"]["xruns"], tone=slice(4800, 4800 + sr // 2))
    # The xruns while the audio under test flowed, each attributed from the server's log and judged
    # against the C reference client in the same window; and no callback overran its block then
    # unless the machine stalled.
    assert_effect_not_blamed(log, reference_client, "identity")
    assert_no_unexplained_overruns(report, window_start, window_end, stalls(log))


def stalls(log: ServerLog) -> int:
    """Cycles in the window the machine, not a client, lost: the driver's timer woke late, or a
    client was woken but never got a CPU ("Triggered")."""
    return sum(1 for e in xrun_events(log.text)
               if (e["timer_late_us"] or 0) >= STALL_US or "Triggered" in e["clients"].values())


def test_live_is_the_jack_client_rtst_and_both_outputs_carry_the_effect(jack_server, tmp_path):
    """`rtst live` on JACK is its own client `rtst` with ports in_1, out_1, out_2 (1-based, like the
    server's system ports), wired to the physical ports when it starts; a chirp played into in_1
    comes out of out_1 and of out_2, each delayed by the reported latency to the sample."""
    report_path = tmp_path / "live.json"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "identity", "--phase", "input",
         "--duration", "8", "--report", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = LoopProbe()
    sr = jack_server["sample_rate"]
    sig = np.zeros(int(1.2 * sr), np.float32)
    sig[4800:4800 + sr // 2] = chirp(sr // 2, sr)
    takes = []
    try:
        ins, outs = probe.wait_for_ports("rtst")
        assert [p.name for p in ins] == ["rtst:in_1"]
        assert [p.name for p in outs] == ["rtst:out_1", "rtst:out_2"]
        assert not probe.client.get_ports("^PortAudio:")
        pb = probe.patchbay
        assert [p.name for p in pb.connections(ins[0])] == ["system:capture_1"]
        assert [[p.name for p in pb.connections(o)] for o in outs] == [["system:playback_1"], ["system:playback_2"]]
        for out in outs:
            probe.patch(ins[0], out)
            time.sleep(0.5)
            takes.append((out.name, probe.play_and_record(sig), probe.xruns))
        stdout, stderr = effect.communicate(timeout=60)  # the probe stays wired until the effect reports
    finally:
        probe.close()
        if effect.poll() is None:
            effect.kill()
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    assert report["stream"]["input_device"] == "rtst:in_1"
    assert report["stream"]["output_device"] == "rtst:out_1, rtst:out_2"
    lat = report["latency_samples"]["total"]
    for name, rec, xruns in takes:
        lag = find_lag(sig, rec)
        print(f"{name}: reported {lat}, measured lag {lag}, probe xruns so far {xruns}")
        assert lag == lat, name
        assert_take_is_input(rec, sig, lag, xruns + report["stream"]["xruns"], tone=slice(4800, 4800 + sr // 2),
                             name=name)


class StderrLines:
    """A process's stderr lines as they come, each with the time it arrived (time.monotonic())."""

    def __init__(self, proc):
        import threading

        self.lines = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc):
        for line in proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float) -> float | None:
        """When a line containing ``text`` arrived (waiting up to ``timeout`` s for it), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in self.lines:
                if text in line:
                    return at
            time.sleep(0.02)
        return None

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "\n".join(line for _, line in self.lines)


def _connections(server_name):
    from rtst.testing.jack import server_env

    return subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, env=server_env(server_name)).stdout


@pytest.mark.parametrize("view", [False, True], ids=["bare", "view"])
def test_live_rides_out_a_jack_server_restart(jack_server, tmp_path, view):
    """A server of its own (named, beside the session's), killed under `rtst live --record` and
    started again 2 s later: rtst says so in one line within 1 s, is back on the new server with
    its own connections within 3 s of it, and keeps playing and recording until --duration ends
    it with status 0; the report lists the gap in `interruptions`. With and without the view."""
    from rtst.testing.jack import server_env, start_dummy_server

    if view:
        pytest.importorskip("pyqtgraph")
    name = f"rtst-restart-{os.getpid()}"
    log = open(tmp_path / "jackd.log", "w")
    server = start_dummy_server(jack_server["sample_rate"], 128, log, name=name)
    assert server is not None, "a second jackd did not start"
    report_path, take = tmp_path / "live.json", tmp_path / "take.wav"
    cmd = [sys.executable, "-m", "rtst", "live", "--model", "identity", "--duration", "14", "--host", "jack",
           "--record", str(take), "--report", str(report_path)] + (["--view"] if view else [])
    effect = subprocess.Popen(cmd, env={**server_env(name), "QT_QPA_PLATFORM": "offscreen"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = StderrLines(effect)
    try:
        deadline = time.monotonic() + 60
        while "rtst:in_1\n   system:capture_1" not in _connections(name):
            assert time.monotonic() < deadline and effect.poll() is None, "rtst live did not come up"
            time.sleep(0.1)
        time.sleep(0.5)  # the other ports are connected one after another
        wired = _connections(name)
        time.sleep(1.0)
        server.kill()
        server.wait(timeout=10)
        killed = time.monotonic()
        noticed = err.wait_for("rtst live: the audio stream stopped", 5.0)
        time.sleep(max(0.0, 2.0 - (time.monotonic() - killed)))
        server = start_dummy_server(jack_server["sample_rate"], 128, log, name=name)
        assert server is not None, "the server did not start again"
        restarted = time.monotonic()
        back = err.wait_for("runs again", 10.0)
        rewired = _connections(name)
        stdout, _ = effect.communicate(timeout=60)
    finally:
        if effect.poll() is None:
            effect.kill()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        log.close()
    stderr = err.text()
    print(stderr)
    assert effect.returncode == 0, stderr
    assert noticed is not None and noticed - killed <= 1.0, f"noticed {None if noticed is None else noticed - killed} s after"
    assert back is not None and back - restarted <= 3.0, f"back {None if back is None else back - restarted} s after"
    ours = [line for line in stderr.splitlines() if line.startswith("rtst live:")]
    assert len(ours) == 2, ours  # one line for the loss, one for the return
    own = lambda text: sorted(line for line in text.splitlines() if "rtst:" in line or line.startswith("   "))  # noqa: E731
    assert "rtst:out_2\n   system:playback_2" in rewired and own(rewired) == own(wired), (wired, rewired)
    report = json.loads(report_path.read_text())
    assert report["complete"] is True and report["error"] is None
    (gap,) = report["interruptions"]
    assert 1.5 <= gap["duration_s"] <= 2.0 + 3.5 and "server" in gap["cause"], gap
    # it played on: the callbacks of the 14 s less the gap, give or take a second
    period_s = report["stream"]["callback_frames"] / jack_server["sample_rate"]
    assert report["stream"]["callbacks"] >= (14 - gap["duration_s"] - 1.5) / period_s, report["stream"]
    import soundfile as sf

    info = sf.info(str(take))
    assert info.channels == 2 and info.duration >= 14 - gap["duration_s"] - 2.0, info


def test_portaudio_stream_whose_jack_server_died_ends_with_one_line(jack_server, tmp_path):
    """PortAudio's JACK host cannot release a stream whose server died (stopping it waits for a
    cycle that never comes; at exit its Terminate asserts and aborts the process). So `rtst live
    --host portaudio` says so in one line, finalises the recording and the report, and exits 1,
    promptly, instead of hanging or aborting."""
    import soundfile as sf

    from rtst.testing.jack import server_env, start_dummy_server

    name = f"rtst-pa-gone-{os.getpid()}"
    log = open(tmp_path / "jackd.log", "w")
    server = start_dummy_server(jack_server["sample_rate"], 128, log, name=name)
    assert server is not None, "a second jackd did not start"
    report_path, take = tmp_path / "live.json", tmp_path / "take.wav"
    effect = subprocess.Popen([sys.executable, "-m", "rtst", "live", "--model", "identity", "--host", "portaudio",
                               "--duration", "60", "--record", str(take), "--report", str(report_path)],
                              env=server_env(name), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = StderrLines(effect)
    try:
        assert err.wait_for("Ctrl-C stops", 60.0) is not None, "rtst live did not come up"
        time.sleep(1.5)
        server.kill()
        server.wait(timeout=10)
        killed = time.monotonic()
        effect.wait(timeout=30)
        ended = time.monotonic()
    finally:
        if effect.poll() is None:
            effect.kill()
        if server.poll() is None:
            server.kill()
        # a server killed outright stays in JACK's registry (8 places): one of the same name
        # started and stopped cleanly takes it out
        again = start_dummy_server(jack_server["sample_rate"], 128, log, name=name)
        if again is not None:
            again.terminate()
            again.wait(timeout=10)
        log.close()
    stderr = err.text()
    assert effect.returncode == 1, stderr
    assert ended - killed < 5.0, f"took {ended - killed:.1f} s to end"
    ours = [line for line in stderr.splitlines() if line.startswith("rtst live:")]
    assert len(ours) == 2 and "stopped" in ours[0] and "PortAudio's JACK host" in ours[1], ours
    assert "Assertion" not in stderr and "Traceback" not in stderr, stderr
    report = json.loads(report_path.read_text())
    assert report["complete"] is True and "PortAudio's JACK host" in report["error"]
    assert report["record"]["seconds"] >= 1.0 and abs(sf.info(str(take)).duration - report["record"]["seconds"]) < 0.01


# A sound card as PortAudio's JACK host sees one: a JACK client with one capture and two playback
# ports (PortAudio lists each client as a device), in a process of its own (a second JACK client
# in the test's process stalls PortAudio's start) until its stdin closes or it is killed.
_CARD_SCRIPT = """
import sys, jack
card = jack.Client(sys.argv[1], no_start_server=True)
card.outports.register("capture_1", is_terminal=True, is_physical=True)
for k in (1, 2):
    card.inports.register(f"playback_{k}", is_terminal=True, is_physical=True)
@card.set_process_callback
def process(frames):  # a client without one stalls the graph
    card.outports[0].get_array()[:] = 0
card.activate()
print("up", flush=True)
sys.stdin.read()
"""


def plug_card(name: str) -> subprocess.Popen:
    card = subprocess.Popen([sys.executable, "-c", _CARD_SCRIPT, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert card.stdout.readline().strip() == "up", f"the card {name} did not come up"
    return card


def test_devices_are_listed_and_chosen_by_index_exact_name_or_refused_when_ambiguous(jack_server, tmp_path):
    """`rtst devices` lists PortAudio's devices (on JACK, one per client); `rtst live --host
    portaudio` opens the one named exactly, or by its index, and refuses an ambiguous name and a
    sample rate the device does not run at, each in one line. Which device was opened is read
    from the JACK graph: the stream's ports are connected to that card's."""
    cards = [plug_card("rtst-card-a"), plug_card("rtst-card-b")]
    try:
        listing = subprocess.run([sys.executable, "-m", "rtst", "devices"], capture_output=True, text=True, timeout=60)
        assert listing.returncode == 0, listing.stderr
        import re

        # "><   0  system      JACK Audio C   2   2   48000": marks, index, name, host API, in, out, rate
        rows = {m[2]: m.groups() for m in (re.match(r"^[<> ]*(\d+)\s+(\S+)\s+.*?\s(\d+)\s+(\d+)\s+(\d+)\s*$", line)
                                         for line in listing.stdout.splitlines()) if m}
        index = {name: int(row[0]) for name, row in rows.items()}
        for name in ("rtst-card-a", "rtst-card-b"):
            assert rows[name][2:] == ("1", "2", "48000"), listing.stdout  # in, out, rate
        assert rows["system"][2:] == ("2", "2", "48000"), listing.stdout

        def live(*args):
            return subprocess.Popen([sys.executable, "-m", "rtst", "live", "--model", "identity", "--host", "portaudio",
                                     "--duration", "4", *map(str, args)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)

        for spec, card in (("rtst-card-b", "rtst-card-b"), (index["rtst-card-a"], "rtst-card-a")):
            effect = live("--input", spec, "--output", spec)
            err = StderrLines(effect)
            try:
                assert err.wait_for("Ctrl-C stops", 60.0) is not None, err.text()
                time.sleep(0.5)
                graph = _connections(None)
            finally:
                effect.wait(timeout=60)
            assert effect.returncode == 0, err.text()
            assert f"{card}:capture_1\n   rtst:in_0" in graph and f"{card}:playback_2\n   rtst:out_1" in graph, graph
        for args, message in (
                (["--input", "rtst-card"], f"input device 'rtst-card' is ambiguous ({index['rtst-card-a']}: rtst-card-a, "
                                           f"{index['rtst-card-b']}: rtst-card-b); give an index"),
                (["--sample-rate", "44100"], "input device 'system' refuses sample_rate=44100 (its default is 48000)")):
            effect = live(*args)
            _, stderr = effect.communicate(timeout=60)
            lines = stderr.strip().splitlines()
            assert effect.returncode == 1 and len(lines) == 1 and message in lines[0], stderr
    finally:
        for card in cards:
            card.kill()
            card.wait(timeout=10)


def test_portaudio_device_unplugged_and_back_resumes_with_back_off(jack_server, tmp_path):
    """A device that goes away under a PortAudio stream and comes back: the session says so in one
    line, closes the dead stream, re-scans PortAudio's devices after 0.25, 0.5, 1, 1, ... s until
    the device (found again by its name) is back, reopens on it and plays on; the gap is in
    `interruptions`.

    The device is a JACK client of its own ("rtst-usb", one capture and two playback ports),
    closed and opened again as a USB interface is unplugged and plugged in. The one thing mocked
    is the stream's end: PortAudio's JACK host keeps a stream running when its peer client goes
    (ALSA's ends it with an error), so the test aborts the stream when it "unplugs"."""
    import io

    from rtst.config import StftConfig, StreamConfig
    from rtst.engine import Processor
    from rtst.live.session import REOPEN_BACKOFF_S, LiveSession

    def plug():
        return plug_card("rtst-usb")

    def unplug(card):
        card.kill()
        card.wait(timeout=10)

    card = plug()
    log = io.StringIO()
    proc = Processor(StftConfig(), block_size=256)
    session = LiveSession(proc, StreamConfig(input_device="rtst-usb", output_device="rtst-usb", block_size=256),
                          host="portaudio", log=log)
    tries = []
    try:
        session.start()
        assert session.effect.host == "portaudio" and session.effect.active
        time.sleep(1.0)
        unplug(card)
        session.effect._stream.abort()  # the mocked part: the stream ends as on an ALSA device error
        unplugged = time.monotonic()
        reopen = session.effect.reopen

        def counted():
            tries.append(time.monotonic() - unplugged)
            return reopen()

        session.effect.reopen = counted
        while time.monotonic() - unplugged < 2.5:
            session.check()
            time.sleep(0.01)
        assert session.interrupted and session.effect.device_names == "'rtst-usb'"
        card = plug()
        plugged = time.monotonic()
        while session.interrupted and time.monotonic() - plugged < 5.0:
            session.check()
            time.sleep(0.01)
        back = time.monotonic() - plugged
        callbacks = session.effect.stats["callbacks"]
        time.sleep(0.5)
        assert session.effect.active and session.effect.stats["callbacks"] > callbacks
        figures = session.figures()
    finally:
        session.stop()
        unplug(card)
    print(f"reopening tried at {np.round(tries, 2).tolist()} s after the loss; back {back:.2f} s after the device")
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "rtst-usb" in lines[0] and "runs again" in lines[1], lines
    assert back <= REOPEN_BACKOFF_S[-1] + 0.5, f"back {back:.2f} s after the device"
    # the back-off: the first try at once, then after 0.25, 0.5 and 1 s, then every 1 s
    gaps = np.diff(tries)
    assert tries[0] < 0.1 and len(tries) >= 4, tries
    assert np.allclose(gaps[:3], REOPEN_BACKOFF_S, atol=0.08) and (gaps[3:] >= REOPEN_BACKOFF_S[-1] - 0.02).all(), gaps
    (gap,) = figures["interruptions"]
    assert "device" in gap["cause"] and 2.5 <= gap["duration_s"] <= 2.5 + back + 0.5, gap
    from rtst.live.jack import name_portaudio_client
    import sounddevice as sd

    name_portaudio_client(sd, "PortAudio")  # give the name "rtst" back for later tests here


def _start_live_recording(tmp_path):
    """``rtst live --record --report`` on the identity model, once it says it runs: (process,
    its StderrLines, the report's path, the recording's path)."""
    report_path, take = tmp_path / "live.json", tmp_path / "take.wav"
    effect = subprocess.Popen([sys.executable, "-m", "rtst", "live", "--model", "identity", "--record", str(take),
                               "--report", str(report_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    err = StderrLines(effect)
    if err.wait_for("Ctrl-C stops", 60.0) is None:
        effect.kill()
        effect.wait(timeout=30)
        pytest.fail(f"rtst live did not come up: {err.text()}")
    return effect, err, report_path, take


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_live_ends_cleanly_on_ctrl_c_and_sigterm(jack_server, tmp_path, sig):
    """Ctrl-C (SIGINT) and SIGTERM end `rtst live --record --report` with status 0, a finished
    recording and the complete report."""
    import signal

    import soundfile as sf

    effect, err, report_path, take = _start_live_recording(tmp_path)
    try:
        time.sleep(2.0)
        effect.send_signal(getattr(signal, sig))
        effect.wait(timeout=30)
    finally:
        if effect.poll() is None:
            effect.kill()
    stderr = err.text()
    assert effect.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    report = json.loads(report_path.read_text())
    assert report["complete"] is True and report["interruptions"] == []
    assert report["record"]["seconds"] >= 1.5 and report["record"]["error"] is None
    info = sf.info(str(take))
    assert abs(info.duration - report["record"]["seconds"]) < 0.01


def test_live_killed_leaves_a_readable_recording_and_a_fresh_report(jack_server, tmp_path):
    """SIGKILL: nothing is finalised, yet the recording reads and the report, rewritten every
    0.5 s atomically, is no more than 1 s old."""
    import soundfile as sf

    effect, err, report_path, take = _start_live_recording(tmp_path)
    try:
        time.sleep(3.0)
        effect.kill()
        killed = time.monotonic()
        effect.wait(timeout=30)
    finally:
        if effect.poll() is None:
            effect.kill()
    report = json.loads(report_path.read_text())
    assert report["complete"] is False
    assert killed - report["written_monotonic_s"] <= 1.0, killed - report["written_monotonic_s"]
    assert report["stream"]["callbacks"] > 0
    rec, rate = sf.read(take, dtype="float32")
    assert rate == jack_server["sample_rate"] and rec.shape[1] == 2 and rec.shape[0] >= 2.0 * rate


def assert_overruns_rare(report, limit=0.01):
    """Fewer than ``limit`` of the callbacks overran their block, and fewer than ``limit`` of the
    hops their hop (the engine's own count: a JACK period may span several hops, so a hop can
    overrun its share without its callback overrunning). A model too slow for the hop overruns
    nearly every callback; this VM's scheduling jitter makes a few isolated ones (bursts of up to
    ~12 at 64-sample blocks)."""
    stream = report["stream"]
    assert report["deadline_misses"] < max(1, limit * report["frames"]), (
        f"{report['deadline_misses']} of {report['frames']} hops overran")
    assert stream["deadline_misses"] < limit * stream["callbacks"], (
        f"{stream['deadline_misses']} of {stream['callbacks']} callbacks overran, at {stream['deadline_miss_times_s']} s")


def assert_no_unexplained_overruns(report, window_start, window_end, stalls):
    """No callback overran its block while the audio under test flowed, unless the server log shows
    a VM stall then; outside that window, overruns are rare (the input is silence there and the
    effect's work per block the same, so an overrun there is the VM pausing the process)."""
    start = report["stream"]["started_monotonic_s"]
    in_window = [t for t in report["stream"]["deadline_miss_times_s"] if window_start <= start + t <= window_end]
    assert not in_window or stalls > 0, f"callback overran its block at {in_window} s"
    assert_overruns_rare(report)


@pytest.mark.parametrize("host", ["portaudio", "jack"])
def test_callback_allocates_nothing_and_always_fills_output(jack_server, host):
    """The stream callback, called directly (as the audio thread would) 10 000 times under
    tracing, allocates nothing at all: PortAudio's blocks of the stream's size, and JACK's periods
    (128 on the test server) re-blocked into the processor's 256."""
    from rtst.config import StftConfig, StreamConfig
    from rtst.engine import Processor
    from rtst.live.stream import LiveEffect

    proc = Processor(StftConfig(), block_size=256)
    effect = LiveEffect(proc, StreamConfig(block_size=256), host=host)
    assert effect.host == host
    n = effect.block_size
    indata = np.zeros((n, 1), np.float32)
    indata[:, 0] = chirp(n)
    outdata = np.full((n, effect.output_channels), np.nan, np.float32)
    flags = None
    if host == "portaudio":
        import sounddevice as sd

        flags = sd.CallbackFlags()
    from conftest import allocation_rounds

    def step():
        effect._callback(indata, outdata, n, None, flags)

    for _ in range(100):
        step()
    assert allocation_rounds(step, 10_000, rounds=1, warm=step) == [(0, 0)]
    assert np.abs(outdata).max() > 0.01 and effect.processor.stats["bad_frames"] == 0
    assert effect.stats["callback_failures"] == 0
    # an xrun as each back end reports it is counted once: PortAudio's status flag, JACK's
    # notification (the calls above passed none)
    before = effect.stats["xruns"]
    if host == "portaudio":
        flagged = sd.CallbackFlags()
        flagged.input_overflow = True
        effect._callback(indata, outdata, n, None, flagged)
    else:
        effect._on_xrun()
    assert effect.stats["xruns"] == before + 1

    # a block larger than preallocated is a failure that silences the block, never an exception
    big_in = np.ones((20000, 1), np.float32)
    big_out = np.ones((20000, effect.output_channels), np.float32)
    effect._callback(big_in, big_out, 20000, None, flags)
    assert not big_out.any() and effect.stats["callback_failures"] == 1
    effect.stop()
    if host == "portaudio":
        # PortAudio's JACK host holds its client, now "rtst", while this process lives: give the
        # name back, or the `rtst live` of a later test here would become "rtst-01"
        import sounddevice as sd

        from rtst.live.jack import name_portaudio_client

        name_portaudio_client(sd, "PortAudio")


def test_audio_thread_makes_no_c_allocation_for_any_model_or_phase_method(jack_server, tmp_path):
    """What tracemalloc cannot see: malloc and its kin called on the real-time thread (the JACK
    process thread, SCHED_FIFO on the -R test server) by anything, numba's dispatcher, its
    runtime, onnxruntime, libjack or numpy's C code included. Counted by a preloaded wrapper
    (rtst/testing/rt_malloc_count.c) while `rtst`'s own JACK client runs every shipped model (and
    the identity) with every phase method, through the real callback path, after a warm-up.
    Before the kernels were bound (rtst.dsp.compiled.bound), numba's dispatcher malloc'd once a
    hop in RTPGHI and twice in the guided method: 375 and 750 in 2 s."""
    from rtst.model import list_models
    from rtst.phase import PHASE_NAMES
    from rtst.testing.rtmalloc import build_counter

    if jack_server["period"] is None:
        assert not os.environ.get("CI"), "the JACK tests run their own server in CI"
    counter = build_counter(tmp_path)
    run = subprocess.run([sys.executable, "-m", "rtst.testing.rtmalloc", "--models", *list_models(), "--phases",
                          *PHASE_NAMES, "--warm", "0.7", "--seconds", "1.0"], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "LD_PRELOAD": str(counter)})
    assert run.returncode == 0, run.stderr[-3000:]
    control, *rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    # the counter counts (a real-time thread's allocation is seen), and the effect's process
    # thread is a real-time one (else nothing it did could be counted)
    assert control == {"counter_works": True}
    assert len(rows) == len(list_models()) * len(PHASE_NAMES)
    for row in rows:
        print(row)
    assert all(row["callbacks"] > 100 and row["callback_failures"] == 0 and row["realtime_threads"] >= 1
               for row in rows), rows
    allocating = [(row["model"], row["phase"], row["rt_allocations"]) for row in rows if row["rt_allocations"]]
    assert not allocating, allocating


def test_collector_is_paused_while_streaming_and_restored_after(jack_server):
    import gc

    from rtst.config import StftConfig, StreamConfig
    from rtst.engine import Processor
    from rtst.live.stream import LiveEffect

    effect = LiveEffect(Processor(StftConfig(), block_size=256), StreamConfig(block_size=256))
    assert gc.isenabled()
    effect.start()
    try:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        time.sleep(0.2)
        assert effect.stats["callbacks"] > 10
    finally:
        effect.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def _shipped_for_each_preset():
    from rtst.presets import PRESET_NAMES, preset_stft
    from rtst.model import load_model
    from rtst.model.base import MODELS_DIR

    chosen, stfts = {}, {}  # one shipped model per distinct preset STFT (quality shares default's)
    for name in PRESET_NAMES:
        stfts.setdefault(preset_stft(name), name)
    for path in sorted(MODELS_DIR.glob("*.onnx")):
        preset = stfts.get(load_model(str(path)).stft)
        if preset is not None:
            chosen.setdefault(preset, path.stem)
    return [pytest.param(name, id=preset) for preset, name in sorted(chosen.items())]


def spectrum_distance_db(y, x, sr=48000):
    """RMS difference of two signals' long-term spectra (the median over 4096-point Hann frames a
    quarter frame apart, 100 Hz-8 kHz, dB, floored 80 dB under the louder): what a magnitude-only
    change of timbre moves and a phase method alone does not (the identity under the shipped
    models' phase methods: 0.35-0.8 dB on a harmonic tone; the shipped styles 4.3-7.3 dB). The
    median, not the mean: an xrun's dropout fills the valleys between harmonics of the frames it
    falls in, and three of 128 samples moved the mean spectrum 16-17 dB (the median 1.0-1.5)."""
    def spectrum(s):
        n = 4096
        w = np.hanning(n)
        return 10 * np.log10(np.median([np.abs(np.fft.rfft(w * s[i:i + n])) ** 2
                                        for i in range(0, s.size - n, n // 4)], axis=0) + 1e-12)

    a, b = spectrum(y), spectrum(x)
    f = np.fft.rfftfreq(4096, 1 / sr)
    band = (f > 100) & (f < 8000)
    floor = max(a[band].max(), b[band].max()) - 80
    return float(np.sqrt(np.mean((np.maximum(a, floor)[band] - np.maximum(b, floor)[band]) ** 2)))


@pytest.mark.parametrize("model", _shipped_for_each_preset())
def test_live_with_a_shipped_style_model(jack_server, reference_client, tmp_path, model):
    """`rtst live --model NAME` on the JACK server: the style model runs in the callback, turns a
    harmonic tone into finite, audible, different sound, and overruns its block in under 1 % of the
    callbacks (the low-latency soak with 0 xruns is the latency issue's benchmark)."""
    report_path = tmp_path / "live.json"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", model, "--duration", "5", "--report", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = LoopProbe()
    try:
        ins, outs = probe.wait_for_ports("rtst")
        probe.patch(ins[0], outs[0])
        time.sleep(0.5)
        log = ServerLog(jack_server)
        log.start()
        window_start = time.monotonic()
        sr = jack_server["sample_rate"]
        t = np.arange(sr) / sr
        sig = np.zeros(int(1.5 * sr), np.float32)
        sig[4800:4800 + sr] = 0.2 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6))
        rec = probe.play_and_record(sig)
        window_end = time.monotonic()
        log.stop()
    finally:
        probe.close()
    stdout, stderr = effect.communicate(timeout=60)
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    assert report["model"] == model
    lag = report["latency_samples"]["total"]
    out = rec[lag + 4800 + sr // 4:lag + 4800 + sr]          # the steady part of the tone, through the effect
    src = sig[4800 + sr // 4:4800 + sr]
    # nothing clips on the clean tone; an xrun's dropout is a click in the input, which a style
    # may ring out past full scale (bells, offline, with 128-sample dropouts in this tone: 2-3
    # clipped samples each; seen live: 4 with 16 xruns). An unstable model would clip thousands.
    safety = report["safety"]
    assert safety["bad_frames"] == 0 and safety["clipped_output"] <= 4 * report["stream"]["xruns"], (
        safety, report["stream"]["xruns"])
    assert np.sqrt(np.mean(out ** 2)) > 0.01                # audible
    # and the style's spectrum, not the input's: judged on magnitudes (every phase method changes
    # the waveform), against the identity model under the same phase method on the same tone,
    # and against the same model rendered offline (the live path runs the model, not something else)
    from rtst.engine import Processor
    from rtst.model import load_model

    def offline(name):
        proc = Processor(load_model(model).stft, model=load_model(name), phase=report["phase"],
                         lookahead=report["lookahead"])
        y = proc.process(sig)
        engine_lag = proc.latency_samples
        return y[engine_lag + 4800 + sr // 4:engine_lag + 4800 + sr]

    to_input, identity_to_input = spectrum_distance_db(out, src), spectrum_distance_db(offline("identity"), src)
    to_offline = spectrum_distance_db(out, offline(model))
    print(f"{model}: spectrum distance to the input {to_input:.2f} dB (identity, same phase: "
          f"{identity_to_input:.2f} dB), to the offline render {to_offline:.2f} dB")
    # the same model offline within 2.5 dB (xruns on the way cost up to ~1.5); the identity in
    # its place would be 4.3 dB or more from it
    assert to_input > identity_to_input + 1.0 and to_offline < 2.5
    print(f"{model}: xruns at {report['stream']['xrun_times_s']} s, overruns at "
          f"{report['stream']['deadline_miss_times_s']} s, window {window_start - report['stream']['started_monotonic_s']:.2f}"
          f"..{window_end - report['stream']['started_monotonic_s']:.2f} s")
    assert_effect_not_blamed(log, reference_client, model)
    assert_no_unexplained_overruns(report, window_start, window_end, stalls(log))


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rig_controls_over_osc_and_jack_midi_reach_the_audio_and_the_recording(jack_server, reference_client,
                                                                               tmp_path):
    """`rtst live --osc --midi --record` on the JACK server: an OSC message sets the mix to dry (the
    output is then exactly the input, latency-aligned), a real JACK MIDI controller sets it back to
    wet and switches the model, OSC bypasses it; the recording holds input and output, aligned."""
    mido = pytest.importorskip("mido")
    pytest.importorskip("pythonosc")
    from pythonosc.udp_client import SimpleUDPClient

    keys = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output("rtst-test-keys", virtual=True)
    port = _free_udp_port()
    report_path, take = tmp_path / "live.json", tmp_path / "take.wav"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "cello", "--models", "identity", "organ",
         "--osc", str(port), "--midi", "rtst-test-keys", "--record", str(take), "--duration", "9",
         "--report", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    osc = SimpleUDPClient("127.0.0.1", port)
    probe = LoopProbe()
    sr = jack_server["sample_rate"]
    t = np.arange(sr) / sr
    sig = np.zeros(int(1.2 * sr), np.float32)
    sig[4800:4800 + sr] = 0.2 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6))
    try:
        ins, outs = probe.wait_for_ports("rtst")
        probe.patch(ins[0], outs[0])
        time.sleep(1.0)  # the OSC server starts with the stream
        log = ServerLog(jack_server)  # the takes and the controls between them
        log.start()
        osc.send_message("/rtst/mix", 0.0)
        time.sleep(0.2)
        dry = probe.play_and_record(sig)
        keys.send(mido.Message("control_change", control=7, value=127))  # mix: wet
        keys.send(mido.Message("note_on", note=36 + 2, velocity=100))    # model 2 of cello, identity, organ
        time.sleep(0.4)
        wet = probe.play_and_record(sig)
        osc.send_message("/rtst/bypass", 1)
        time.sleep(0.2)
        bypassed = probe.play_and_record(sig)
        log.stop()
    finally:
        probe.close()
        keys.close()
    stdout, stderr = effect.communicate(timeout=60)
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    assert_effect_not_blamed(log, reference_client, "rig")
    lag = report["latency_samples"]["total"]
    for name, rec in (("dry", dry), ("bypassed", bypassed)):
        assert_take_is_input(rec, sig, lag, probe.xruns + report["stream"]["xruns"], tone=slice(4800, 4800 + sr),
                             name=name)
    steady = slice(lag + 4800 + sr // 4, lag + 4800 + sr)
    assert np.max(np.abs(wet[steady] - sig[steady.start - lag:steady.stop - lag])) > 0.05  # the organ, wet
    from rtst.presets import phase_for_model

    # the phase the session started with: the first model's default (rtst.presets.phase_for_model)
    assert report["controls"]["final"] == {"mix": 1.0, "bypass": True, "morph": 0.0, "model": "organ",
                                           "phase": phase_for_model("cello")[0], "morph_model": None}
    assert report["midi"]["applied"] == 2 and report["midi"]["errors"] == 0
    assert report["osc"]["received"] == 2 and report["osc"]["errors"] == 0
    # the recording: input and output as the callback saw them; output = input delayed by the
    # engine's latency where the mix was dry
    import soundfile as sf

    rec, rate = sf.read(take, dtype="float32")
    assert rate == sr and rec.shape[1] == 2 and report["record"]["lost"] == 0
    # every sample the engine processed: the callbacks' JACK periods, less what was still being
    # gathered into the processor's block size when the stream stopped
    block, period = report["stream"]["block_size"], report["stream"]["callback_frames"]
    # (and the stream's last period, which can run while the stream is being stopped, after the
    # recorder's final drain: seen once in CI, 384 = 256 + 128 samples short)
    assert 0 <= report["stream"]["callbacks"] * period - rec.shape[0] < max(block, period) + period
    engine_lag = report["latency_samples"]["total"] - report["latency_samples"]["io"]
    first = int(np.argmax(np.abs(rec[:, 0]) > 0.01))  # where the first (dry) tone reached the input
    seg = slice(first + 2400, first + sr // 2)
    np.testing.assert_allclose(rec[seg.start + engine_lag:seg.stop + engine_lag, 1], rec[seg, 0], atol=1e-4)
    assert find_lag(rec[first:first + sr, 0], rec[first:first + sr, 1]) == engine_lag



def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_thousand_random_switches_during_a_show(jack_server, reference_client, tmp_path):
    """1000 random model / phase / morph / bypass changes over OSC in 8 s while a steady tone
    plays through `rtst live --record`: every change arrives, the last value of each control wins
    (changes that come while a model swap crossfades are merged), the callback never fails, memory
    stays flat after the first switches, and the server blames no more cycles on the effect than
    on a C client in the same window."""
    pytest.importorskip("pythonosc")
    import random

    import soundfile as sf
    from pythonosc.udp_client import SimpleUDPClient

    port = _free_udp_port()
    report_path, take = tmp_path / "live.json", tmp_path / "take.wav"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "cello", "--models", "identity", "organ",
         "--morph-model", "organ", "--osc", str(port), "--record", str(take), "--duration", "14",
         "--report", str(report_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    osc = SimpleUDPClient("127.0.0.1", port)
    probe = LoopProbe()
    sr = jack_server["sample_rate"]
    t = np.arange(10 * sr) / sr
    sig = (0.2 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6))).astype(np.float32)
    sig[:480] *= np.linspace(0, 1, 480, dtype=np.float32)
    rng = random.Random(0)
    changes = [rng.choice([("/rtst/model", rng.choice(["cello", "identity", "organ"])),
                           ("/rtst/phase", rng.choice(["guided", "rtpghi", "hybrid", "input"])),
                           ("/rtst/morph", rng.random()), ("/rtst/bypass", rng.randint(0, 1))])
               for _ in range(1000)]
    try:
        ins, outs = probe.wait_for_ports("rtst")
        probe.patch(ins[0], outs[0])
        time.sleep(1.5)  # the OSC server starts with the stream
        rss_start = _rss_kib(effect.pid)
        log = ServerLog(jack_server)
        log.start()
        import threading

        def play():
            probe.play_and_record(sig)

        player = threading.Thread(target=play)
        player.start()
        time.sleep(1.0)
        rss = []
        for i, (address, value) in enumerate(changes):  # 125 a second
            osc.send_message(address, value)
            time.sleep(0.008)
            if i in (250, 999):
                rss.append(_rss_kib(effect.pid))
        player.join(timeout=30)
        log.stop()
        rss_end = _rss_kib(effect.pid)
    finally:
        probe.close()
    stdout, stderr = effect.communicate(timeout=60)
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    forwarded = report["control_process"]
    print(report["osc"], forwarded, report["controls"]["changes"])
    # every message arrived and was accepted; the rig applied the last value of each control
    # whenever it was free (a model swap takes a few hundred ms: those in between are merged)
    assert report["osc"]["received"] == 1000 and report["osc"]["errors"] == 0
    assert forwarded["changes_forwarded"] == 1000 and forwarded["applied"] >= 50, forwarded
    assert report["controls"]["changes"] == forwarded["applied"]
    # memory: the first switches to each model and phase method allocate their buffers (a few
    # MB); after that it stays flat (the last 750 changes, 6 s)
    print("RSS KiB", rss_start, rss, rss_end)
    assert rss_end - rss[0] < 1024, (rss_start, rss, rss_end)
    assert report["stream"]["callback_failures"] == 0
    rec, rate = sf.read(take, dtype="float32")
    out = rec[:, 1]
    first = int(np.argmax(np.abs(rec[:, 0]) > 0.01))
    engine_lag = report["latency_samples"]["total"] - report["latency_samples"]["io"]
    span = slice(first + sr // 2, first + 9 * sr)  # while the changes came
    steady = out[span.start + engine_lag:span.stop + engine_lag]
    assert np.sqrt(np.mean(steady ** 2)) > 0.01
    # an xrun of the probe's playback is a gap in the input itself, which the output carries: the
    # blocks whose input (aligned) stepped, and the frame after them, are not the effect's steps
    source_steps = level_steps_db(rec[span, 0])
    output_steps = level_steps_db(steady)
    gap = np.convolve(source_steps > 1.5, np.ones(2 * 1024 // 256 + 3), mode="same") > 0  # the tone itself: 0.9
    # the level steps themselves are judged without xruns in the way, in tests/test_engine.py
    # (test_random_switching_stays_within_the_crossfade_bounds); printed here
    print(f"largest output step {output_steps.max():.2f} dB, {output_steps[~gap].max():.2f} dB away from "
          f"{int((source_steps > 1.5).sum())} input gaps")
    # 1000 switches build 250 phase methods in the effect's process, each holding its
    # interpreter for a few ms, so a few cycles come late that the C client does not miss.
    # Measured on this 2-core VM (blamed, C client missed): with the re-synthesising models
    # (2, 0), (2, 0), (4, 3), passes with 0-1; with the earlier filter students in the same
    # session (1, 1), (7, 0), (1, 0). A fault of the effect's own (a hop too slow, a lock) is
    # late cycle after cycle: hundreds in 8 s
    assert_effect_not_blamed(log, reference_client, "switching", slack=8)


# The flood's sender, in a process of its own (its Python must not share this one's GIL with the
# probe): every millisecond 10 OSC messages (/rtst/mix) to PORT (none if 0) and one MIDI CC 1
# (morph) on the JACK MIDI port rtst-flood-keys, for SECONDS; then one of each with the value
# given. Prints its counts as JSON.
_FLOOD_SENDER = """
import json, random, socket, sys, time
import mido
from pythonosc.osc_message_builder import OscMessageBuilder
port, seconds, last_mix, last_cc = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
def osc(value):
    b = OscMessageBuilder("/rtst/mix"); b.add_arg(value, "f"); return b.build().dgram
rng = random.Random(1)
grams = [osc(rng.random()) for _ in range(997)]
keys = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output("rtst-flood-keys", virtual=True)
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
target = ("127.0.0.1", port)
ticks = int(seconds * 1000)
per_tick = 10 if port else 0
sent = ccs = 0
start = time.monotonic()
for tick in range(ticks):
    for k in range(per_tick):
        sock.sendto(grams[sent % 997], target)
        sent += 1
    keys.send(mido.Message("control_change", control=1, value=rng.randrange(128)))
    ccs += 1
    wait = start + (tick + 1) / 1000 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
took = time.monotonic() - start
# the performer's last move, 50 ms after the flood, while its backlog is still being worked off
time.sleep(0.05)
if port:
    sock.sendto(osc(last_mix), target)
    sent += 1
keys.send(mido.Message("control_change", control=1, value=last_cc))
ccs += 1
time.sleep(0.5)
keys.close()
print(json.dumps({"osc": sent, "midi": ccs, "seconds": took}))
"""


def _window(report, first, second):
    """Counts between two of the report's marks (SIGUSR1)."""
    a, b = report["marks"][first], report["marks"][second]
    return {key: b[key] - a[key] for key in ("callbacks", "deadline_misses", "xruns")}


def test_control_flood_costs_the_audio_nothing_and_the_last_value_wins(jack_server, reference_client, tmp_path):
    """10 000 OSC messages a second and MIDI CCs at full DIN rate (1000 a second) for 10 s into
    `rtst live --osc --midi`, against 10 s of the same run without them: every message arrives,
    the last value of each control is the one applied, the effect overruns its blocks no more than
    without the flood (within the VM's noise) and the server blames it no more cycles than the C
    client beside it misses, and neither the audio nor the control process grows."""
    pytest.importorskip("mido")
    pytest.importorskip("pythonosc")
    import signal

    port = _free_udp_port()
    report_path = tmp_path / "live.json"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "cello", "--morph-model", "organ", "--osc", str(port),
         "--midi", "rtst-flood-keys", "--report", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sender = subprocess.Popen([sys.executable, "-c", _FLOOD_SENDER, str(port), "10", "0.375", "77"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    err = StderrLines(effect)
    try:
        assert sender.stdout.readline().strip() == "ready"
        # the MIDI port must exist before rtst live opens it: it was started just after the sender
        assert err.wait_for("Ctrl-C stops", 60.0) is not None, f"rtst live did not come up: {err.text()}"
        time.sleep(1.5)
        control_pid = int(open(f"/proc/{effect.pid}/task/{effect.pid}/children").read().split()[0])
        base_log, flood_log = ServerLog(jack_server), ServerLog(jack_server)
        effect.send_signal(signal.SIGUSR1)
        base_log.start()
        time.sleep(10.0)
        base_log.stop()
        effect.send_signal(signal.SIGUSR1)
        flood_log.start()
        sender.stdin.write("go\n")
        sender.stdin.flush()
        time.sleep(1.0)
        rss = [(_rss_kib(effect.pid), _rss_kib(control_pid))]
        sent = json.loads(sender.stdout.readline())
        flood_log.stop()
        effect.send_signal(signal.SIGUSR1)
        rss.append((_rss_kib(effect.pid), _rss_kib(control_pid)))
        time.sleep(0.5)
        effect.send_signal(signal.SIGINT)
        effect.wait(timeout=60)
    finally:
        for proc in (sender, effect):
            if proc.poll() is None:
                proc.kill()
    stderr = err.text()
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    base, flood = _window(report, 0, 1), _window(report, 1, 2)
    print(f"sent {sent}; received OSC {report['osc']}, MIDI {report['midi']}; control process "
          f"{report['control_process']}; baseline {base}, flood {flood}; RSS KiB (audio, control) {rss}")
    assert sent["seconds"] < 11.0 and sent["osc"] == 100_001 and sent["midi"] == 10_001, sent
    assert report["osc"]["received"] == sent["osc"] and report["osc"]["errors"] == 0
    # JACK MIDI drops the events of a cycle the graph missed (seen: 16 of 10 000 in a run with 72
    # xruns); OSC's socket buffer keeps all of them
    assert report["midi"]["received"] >= 0.995 * sent["midi"] and report["midi"]["errors"] == 0
    final = report["controls"]["final"]
    assert final["mix"] == 0.375 and abs(final["morph"] - 77 / 127) < 1e-9, final
    # the effect's own overruns: at most those of the quiet window again, and 3 (the VM's stalls)
    assert flood["deadline_misses"] <= 2 * base["deadline_misses"] + 3, (base, flood)
    # cycles the server blamed on the effect: in the flood no more than in the quiet window of the
    # same run, give or take the C client's own misses then and 2 (the flood's processes, the MIDI
    # clients among them, share the 2 vCPUs with the graph: seen 2 blamed with the C client at 0,
    # in the quiet window as in the flood, with MIDI clients late in the same cycles). Parsing in
    # the audio process would cost a late cycle every few hundred messages: hundreds here.
    if flood_log.path is None:
        assert not os.environ.get("CI"), "the JACK tests run their own server in CI"
    else:
        base_blamed, _, _ = blame(base_log, reference_client, "baseline")
        flood_blamed, flood_missed, events = blame(flood_log, reference_client, "flood")
        assert flood_blamed <= 2 * (base_blamed + flood_missed) + 2, events
    (audio_0, control_0), (audio_1, control_1) = rss
    assert audio_1 - audio_0 < 1024 and control_1 - control_0 < 1024, rss


def test_midi_input_keeps_python_out_of_the_jack_graph(jack_server, reference_client):
    """RtMidi's JACK input calls back from its client's process thread, which the whole graph
    waits for: Python there waits for the GIL, and a control process busy parsing an OSC flood made
    every client of the graph miss cycles (465 in 4 s here, with a callback). The MIDI input
    (rtst.control.midi.open_midi_input) reads RtMidi's queue from a thread of its own instead.
    Here CCs at DIN's full rate reach it for 4 s while this process keeps its GIL busy with pure
    Python (the default switch interval, 5 ms): the server finds the MIDI client late in no more
    cycles than the C reference client misses (x2, +1), and every CC arrives, the last one last."""
    pytest.importorskip("mido")
    pytest.importorskip("rtmidi")
    from rtst.control.midi import MIDI_CLIENT_NAME, open_midi_input

    sender = subprocess.Popen([sys.executable, "-c", _FLOOD_SENDER, "0", "4", "0", "77"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    received, log = [], ServerLog(jack_server)
    previous = sys.getswitchinterval()
    try:
        assert sender.stdout.readline().strip() == "ready"
        port = open_midi_input("rtst-flood-keys", received.append)
        done = threading.Event()

        def parse_a_flood():  # pure Python, as python-osc's parsing: the GIL held 5 ms at a time
            x = 0
            while not done.is_set():
                for i in range(10_000):
                    x += i * i

        busy = threading.Thread(target=parse_a_flood)
        try:
            sys.setswitchinterval(0.005)
            busy.start()
            log.start()
            sender.stdin.write("go\n")
            sender.stdin.flush()
            sent = json.loads(sender.stdout.readline())
            log.stop()
        finally:
            done.set()
            if busy.is_alive():
                busy.join()
            sys.setswitchinterval(previous)
            port.close()
    finally:
        if sender.poll() is None:
            sender.kill()
    print(f"sent {sent}, received {len(received)}")
    if log.path is None:
        assert not os.environ.get("CI"), "the JACK tests run their own server in CI"
    else:
        late, missed, events = blame(log, reference_client, "MIDI input, GIL busy", client=MIDI_CLIENT_NAME)
        assert late <= 2 * missed + 1, (late, missed, events)
    assert sent["midi"] == 4001 and len(received) >= 0.995 * sent["midi"], (sent, len(received))
    assert received[-1].control == 1 and received[-1].value == 77, received[-1]


def test_view_open_and_redrawing_does_not_hold_up_the_audio_at_low_latency(jack_server, tmp_path):
    """The issue's measurement, by benchmarks/soak.py: `rtst live --view` at the low-latency preset
    (cello-ll: n_fft 256, hop 64, 64-sample callbacks) for 60 s of a sung-like tone with the view
    (its own process, offscreen Qt) redrawing both spectrograms and the meters, then 30 s of the
    same without the view: this VM's own floor, measured in the same run (even a C JACK client
    gets xruns here when its vCPUs stall). Prints both.

    The view must really draw (about 30 redraws a second, every hop's frame), the effect must be
    audible, the engine's hop compute must not slow down with the view open (p99 within 1.5x + 50
    us of the run without it: nothing shares the audio process's GIL), and the cycles the effect
    misses and its overruns with the view must stay near those of a C client in the same run (see
    below)."""
    pytest.importorskip("pyqtgraph")
    import os

    seconds = float(os.environ.get("RTST_VIEW_SOAK_S", "60"))
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "benchmarks/soak.py", "--seconds", str(seconds), "--view", "--baseline-seconds",
           str(seconds / 2), "--json", str(out)]
    if jack_server["log"]:
        cmd += ["--server-log", str(jack_server["log"])]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 2 + 300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    print("\n" + "\n".join(line for line in run.stdout.splitlines() if not line.startswith("{")))
    assert run.returncode == 0, run.stderr[-3000:]
    view, base = json.loads(out.read_text())["runs"]
    assert view["view"] and not base["view"]
    assert (view["n_fft"], view["hop_length"], view["block_size"]) == (256, 64, 64)
    assert view["view_exit_status"] == 0
    assert view["view_redraws"] >= 25 * view["run_seconds"]          # it really redrew, ~30 per second
    assert view["view_frames_drawn"] >= 0.95 * view["hops_whole_run"]  # ... every hop's frame
    assert view["output_rms"] > 0.01 and base["output_rms"] > 0.01     # the effect was audible throughout
    assert view["callback_failures"] == 0
    assert view["rss_kib"]["growth"] is not None and view["rss_kib"]["growth"] < 5 * 1024  # MB over the run
    assert view["hop_compute_us"]["p99"] <= 1.5 * base["hop_compute_us"]["p99"] + 50
    # Every xrun in the window is counted (the effect's counters marked at its ends), and JACK tells
    # each client of every xrun in the graph: on this 2-vCPU VM the view's drawing load makes every
    # client miss cycles, jack_metro (a C client beside the effect) included (measured 487 in 60 s
    # with the view, 18 in 30 s without). So the effect is judged against that C client in the same
    # run: the cycles the server's log blames on it (still running, or woken but not scheduled)
    # and its overruns stay within 3x + 30 a minute of the C client's. A view that held the audio
    # process's interpreter would cost the effect about one cycle per redraw (1800 a minute) and
    # leave the C client alone.
    minutes = view["seconds"] / 60
    reference = view["reference_client_missed_cycles"]
    assert reference is not None, "the soak ran without jack_metro or the server log"
    causes = view["server_xrun_causes"]
    late = causes.get("effect running", 0) + causes.get("effect triggered", 0)
    for key, count in (("cycles the server blamed on the effect", late), ("overruns", view["deadline_misses"])):
        assert count / minutes <= 3 * reference / minutes + 30, (
            f"{key}: {count / minutes:.1f}/min with the view; the C client missed {reference / minutes:.1f}/min")


def run_latency(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rtst", "latency", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("host, ports", [("auto", "rtst:out_1 -> rtst:in_1"), ("portaudio", "rtst:out_0 -> rtst:in_0")])
def test_latency_of_a_bare_wire_is_the_streams_io_latency(jack_server, tmp_path, host, ports):
    """On JACK, auto is the effect's own client (1-based ports); --host portaudio a PortAudio stream,
    which registers as client rtst too (with PortAudio's 0-based port names). Each measures its own
    I/O latency exactly."""
    r = run_latency("--repeats", 6, "--report", tmp_path / "l.json", "--host", host)
    assert r.returncode == 0, r.stderr
    assert f"loopback {ports}" in r.stderr, r.stderr
    print(r.stdout)
    report = json.loads((tmp_path / "l.json").read_text())
    lat, loop = report["latency_samples"], report["loopback"]
    assert report["through_effect"] is False and loop["loopback_ports"] and loop["used"] == 6
    # the wire's round trip is the stream's own I/O latency, to the sample; nothing of an engine
    # is reported (none ran)
    assert lat["io"] > 0 and abs(lat["measured"] - lat["io"]) <= 1.0
    assert lat["algorithmic"] is None and not {"frames", "deadline_misses", "hop_compute_us"} & set(report)
    assert min(loop["correlation"]) > 0.99  # a wire gives the chirp back unchanged
    assert set(DESIGN_LATENCY_KEYS) <= set(lat)


DESIGN_LATENCY_KEYS = ("algorithmic", "io", "total", "measured")


@pytest.mark.parametrize("lookahead", [0, 2])
def test_latency_through_the_effect_measures_the_added_lookahead_exactly(jack_server, tmp_path, lookahead):
    """identity + input phase at n_fft 1024 / hop 256: n_fft - hop + k hops + I/O, to the sample;
    k = 2 must come out exactly 2 x 256 samples later than k = 0 (the JACK I/O is the same)."""
    path = tmp_path / "l.json"
    r = run_latency("--through-effect", "--lookahead", lookahead, "--repeats", 5, "--report", path)
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    report = json.loads(path.read_text())
    lat = report["latency_samples"]
    assert report["through_effect"] is True and report["phase"] == "input" and report["lookahead"] == lookahead
    assert lat["algorithmic"] == 1024 - 256 + lookahead * 256
    assert abs(lat["measured"] - lat["total"]) <= 1.0, lat
    assert report["loopback"]["jitter_samples"] <= 1.0
    assert abs(lat["measured"] - lat["io"] - (768 + 256 * lookahead)) <= 1.0


# quality: no round-trip target of its own; its 1024 + 256 samples of I/O (26.7 ms) under 30, and the run
# proves the preset measures at all (its refinements are not handed to the input phase)
@pytest.mark.parametrize("preset, limit_ms", [("low-latency", 12.0), ("default", 25.0), ("quality", 30.0)])
def test_presets_round_trip_within_their_targets(jack_server, tmp_path, preset, limit_ms):
    path = tmp_path / "l.json"
    r = run_latency("--through-effect", "--preset", preset, "--repeats", 4, "--report", path)
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    report = json.loads(path.read_text())
    assert abs(report["latency_samples"]["measured"] - report["latency_samples"]["total"]) <= 1.0
    assert report["latency_ms"]["measured"] <= limit_ms


def test_latency_with_nothing_patched_is_an_error_not_a_number(jack_server, tmp_path):
    """--no-connect: the stream's input stays on the dummy driver's silent capture port."""
    r = run_latency("--no-connect", "--repeats", 2, "--report", tmp_path / "l.json")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("rtst latency: error: nothing came back") and "Patch the output to the input" in lines[-1]
    assert not (tmp_path / "l.json").exists()


def test_latency_with_a_missing_device_is_one_line(jack_server):
    r = run_latency("--input", "no-such-device-xyz")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "no-such-device-xyz" in r.stderr


def _live_run(tmp_path, tag, extra, sig, *, capture_at=None):
    """`rtst live --model cello --osc` for 16 s with ``sig`` played into it from 1 s; returns the report
    (and sends /rtst/capture ``capture_at`` seconds just before playing, when given)."""
    pytest.importorskip("pythonosc")
    from pythonosc.udp_client import SimpleUDPClient

    port = _free_udp_port()
    report_path = tmp_path / f"{tag}.json"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "cello", "--osc", str(port), "--duration", "16",
         "--report", str(report_path), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = LoopProbe()
    try:
        ins, outs = probe.wait_for_ports("rtst")
        probe.patch(ins[0], outs[0])
        time.sleep(1.0)
        if capture_at is not None:
            SimpleUDPClient("127.0.0.1", port).send_message("/rtst/capture", float(capture_at))
        probe.play_and_record(sig)
    finally:
        probe.close()
    stdout, stderr = effect.communicate(timeout=60)
    assert effect.returncode == 0, stderr
    return json.loads(report_path.read_text()), stderr


def test_live_capture_learns_the_input_in_another_process_and_plays_it(jack_server, tmp_path):
    """OSC /rtst/capture 3: three seconds of the effect's own input become a clip and a model (learned
    by rtst learn-style in a niced process), which the effect then crossfades to. While it learns,
    loads and switches, no more deadline misses than a baseline run of the same length and signal
    without a capture had in the same stretch of time, beyond this VM's run-to-run noise: whole
    baseline runs here measured 2 to 16 misses scattered over 11 s (the learner, at nice 19, took
    4-6 s here and longer in CI: the runs last 16 s), and a learner in the audio
    process's interpreter (torch holding the GIL for seconds) would add hundreds."""
    sr = jack_server["sample_rate"]
    t = np.arange(5 * sr) / sr
    sig = (0.2 * sum(np.sin(2 * np.pi * 330 * k * t) / k ** 0.5 for k in range(1, 12))).astype(np.float32)
    baseline, _ = _live_run(tmp_path, "baseline", [], sig)
    caps = tmp_path / "caps"
    report, stderr = _live_run(tmp_path, "capture", ["--capture-dir", str(caps)], sig, capture_at=3.0)
    [event] = report["captures"]
    assert event["status"] == "playing", (event, stderr)
    clip, model = Path(event["clip"]), Path(event["model"])
    assert clip.name == "capture-001.wav" and model.name == "capture-001.onnx"
    assert {p.name for p in caps.iterdir()} == {"capture-001.wav", "capture-001.onnx", "capture-001.golden.npz",
                                                "capture-001.style.flac"}
    import soundfile as sf

    audio, rate = sf.read(clip)
    assert rate == sr and audio.shape == (3 * sr,) and np.sqrt(np.mean(audio ** 2)) > 0.05  # the tone, not silence
    assert report["controls"]["final"]["model"] == "capture-001"
    assert event["learn_s"] < 60.0
    start = report["stream"]["started_monotonic_s"]
    print({"capture": {k: report["stream"][k] for k in ("xruns", "deadline_misses")}, "learn_s": event["learn_s"],
           "baseline": {k: baseline["stream"][k] for k in ("xruns", "deadline_misses")},
           "events_s": {k: round(v - start, 2) for k, v in event["monotonic_s"].items()},
           "misses_s": report["stream"]["deadline_miss_times_s"],
           "baseline_misses_s": baseline["stream"]["deadline_miss_times_s"]})
    lo, hi = event["monotonic_s"]["learning"] - start, event["monotonic_s"]["switching"] - start + 0.5
    during = [t for t in report["stream"]["deadline_miss_times_s"] if lo <= t <= hi]
    same_stretch = [t for t in baseline["stream"]["deadline_miss_times_s"] if lo <= t <= hi]
    print(f"deadline misses from {lo:.2f} to {hi:.2f} s: capture {len(during)}, baseline {len(same_stretch)}")
    assert len(during) <= len(same_stretch) + 6

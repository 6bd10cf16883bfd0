"""Soak: the full live effect on the JACK test server for a while, with or without the live view.

Runs ``rtst live`` (a shipped model, default ``cello-ll``: the low-latency preset) as its own
process on a JACK server with the dummy driver (started here unless one runs), plays a sung-like
tone (harmonics, vibrato, three notes) into it from a JACK client and records it, and reports what a
performer would care about over the measured window: xruns and callback overruns (deadline misses),
every one of them (the effect's counters marked at the window's start and end with SIGUSR1, report
``marks``), with the times of the first 256, the hop compute distribution, the worst hop, the effect's RSS at the start and the
end, and the server's own account of each xrun (its log: the driver's timer woke late = the machine
stalled; a client "Triggered" = woken but not given a CPU; "Running" = still in its callback).

``--baseline-seconds S`` runs the same soak again without the view afterwards, so the view's cost is
judged against this machine's own floor in the same run (a virtual machine has xruns with no view
at all: its vCPUs stall). With ``--view`` the view process draws offscreen (QT_QPA_PLATFORM) unless
a display is set.

    .venv/bin/python benchmarks/soak.py --seconds 60 --view --baseline-seconds 60 --json soak.json
    .venv/bin/python benchmarks/soak.py --minutes 10 --model cello-ll

Needs the dev extra (JACK-Client) and, for --view, the view extra.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from rtst.measure.bench import git_revision
from rtst.live.stream import XRUN_LOG_CAPACITY
from rtst.testing.jack import SAMPLE_RATE, LoopProbe, jack_running, start_jack, xrun_events



def sung_tone(seconds: float) -> np.ndarray:
    """Seven harmonics with 5 Hz vibrato, three notes of 2 s in turn, peak about 0.4; float32."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 220 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t)) * (1 + 0.5 * (np.floor(t / 2) % 3))
    ph = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    return (0.15 * sum(np.sin(k * ph) / k for k in range(1, 8))).astype(np.float32)


def rss_kib(pid: int, field: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def own_rss_kib(pid: int) -> int | None:
    """RSS less shared memory: JACK's server segment (/dev/shm/jack-*, about 100 MB with the dummy
    driver) is mapped by the server and every client, the same pages, and is not the effect's."""
    rss, shmem = rss_kib(pid), rss_kib(pid, "RssShmem")
    return None if rss is None or shmem is None else rss - shmem


class RssSampler:
    """Samples a process's RSS once a second on a thread: (first, last, max) in KiB by stop()."""

    def __init__(self, pid: int, interval_s: float = 1.0):
        import threading

        self.pid = pid
        self.samples = []
        first = rss_kib(pid)
        if first is not None:
            self.samples.append(first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            value = rss_kib(self.pid)
            if value is not None:
                self.samples.append(value)

    def stop(self):
        self._stop.set()
        self._thread.join()
        last = rss_kib(self.pid)
        if last is not None:
            self.samples.append(last)
        if not self.samples:
            return None, None, None
        return self.samples[0], self.samples[-1], max(self.samples)


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of a process so far, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def children(pid: int) -> list:
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    except OSError:
        return []


def steal_jiffies() -> int | None:
    try:
        return int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])
    except (OSError, IndexError, ValueError):
        return None


REFERENCE_CLIENT = "rtst-soak-metro"


class ControlTraffic:
    """What a rig sends during a show, for ``--controls``: OSC mix changes and MIDI control changes
    at ``rate`` each a second, from this process, until stopped (the effect runs with its OSC
    server, a JACK MIDI input and the recorder)."""

    def __init__(self, osc_port: int, midi_port, rate: float):
        from pythonosc.udp_client import SimpleUDPClient

        self.osc = SimpleUDPClient("127.0.0.1", osc_port)
        self.midi = midi_port
        self.rate = rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import mido

        period = 1.0 / self.rate
        next_t = time.monotonic()
        while not self._stop.is_set():
            k = self.sent % 2
            self.osc.send_message("/rtst/mix", 0.9 + 0.1 * k)
            if self.midi is not None:
                self.midi.send(mido.Message("control_change", control=7, value=115 + 12 * k))
            self.sent += 1
            next_t += period
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)


def soak(seconds: float, *, model: str, view: bool, server_log: Path | None, reference: bool = True,
         view_fps: float = 30.0, controls: float = 0.0) -> dict:
    """One soak run; returns its figures (see the module docstring). With ``reference``, jackd2's
    C example client jack_metro runs beside the effect: the cycles it misses are the machine's."""
    work = Path(tempfile.mkdtemp(prefix="rtst-soak-"))
    report_path = work / "live.json"
    env = dict(os.environ)
    if view and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    # the effect outlives the window by a margin: a stalled machine plays the signal slower than
    # the wall clock
    cmd = [sys.executable, "-m", "rtst", "live", "--model", model, "--duration", str(1.05 * seconds + 15),
           "--report", str(report_path)] + (["--view", "--view-fps", str(view_fps)] if view else [])
    midi_out = None
    if controls:
        import socket

        import mido

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            osc_port = sock.getsockname()[1]
        midi_out = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output("rtst-soak-keys",
                                                                                        virtual=True)
        cmd += ["--osc", str(osc_port), "--midi", "rtst-soak-keys", "--record", str(work / "take.wav")]
    effect = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    probe = LoopProbe("rtst-soak")
    period = probe.client.blocksize
    sig = sung_tone(seconds)
    metro = None
    if reference and shutil.which("jack_metro"):
        metro = subprocess.Popen(["jack_metro", "-b", "120", "-n", REFERENCE_CLIENT],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ins, outs = probe.wait_for_ports("rtst", timeout_s=120)
        probe.patch(ins[0], outs[0])
        time.sleep(0.5)  # re-patching the graph flags an xrun to every client: keep it out of the window
        log_offset = server_log.stat().st_size if server_log else 0
        rss = RssSampler(effect.pid)
        steal0 = steal_jiffies()
        view_pids = children(effect.pid) if view else []
        cpu0 = {p: cpu_ticks(p) for p in [effect.pid, *view_pids]}
        traffic = ControlTraffic(osc_port, midi_out, controls) if controls else None
        effect.send_signal(signal.SIGUSR1)   # mark the counters at the window's start ...
        window_start = time.monotonic()
        if traffic is not None:
            traffic.start()
        rec = probe.play_and_record(sig, timeout_s=seconds + 60)
        if traffic is not None:
            traffic.stop()
        window_end = time.monotonic()
        effect.send_signal(signal.SIGUSR1)   # ... and at its end (report "marks")
        rss_start, rss_end, rss_max = rss.stop()
        own_rss = own_rss_kib(effect.pid)
        steal1 = steal_jiffies()
        cpu1 = {p: cpu_ticks(p) for p in cpu0}
        time.sleep(0.1)
        log_text = server_log.read_text()[log_offset:] if server_log else ""
    finally:
        probe.close()
        if midi_out is not None:
            midi_out.close()
        if metro is not None:
            metro.terminate()
            metro.wait(timeout=10)
    stdout, stderr = effect.communicate(timeout=180)
    if effect.returncode != 0:
        raise RuntimeError(f"rtst live exited with {effect.returncode}: {stderr.strip()[-2000:]}")
    report = json.loads(report_path.read_text())
    stream = report["stream"]
    start = stream["started_monotonic_s"]
    marks = report["marks"]
    if len(marks) != 2:
        raise RuntimeError(f"rtst live reported {len(marks)} counter marks, expected the window's two")
    counted = {key: marks[1][key] - marks[0][key] for key in ("xruns", "deadline_misses", "callbacks")}

    def in_window(times):
        return [round(start + x - window_start, 3) for x in times if window_start <= start + x <= window_end]

    events = xrun_events(log_text)
    causes = collections.Counter()
    for e in events:
        if e["timer_late_us"] is not None:
            causes["machine stall (driver timer late)"] += 1
        else:
            state = e["clients"].get("rtst")
            causes[f"effect {state.lower()}" if state else "other client only"] += 1
    window_s = window_end - window_start
    hz = os.sysconf("SC_CLK_TCK")

    def cpu_percent(pids):
        ticks = [cpu1[p] - cpu0[p] for p in pids if cpu0.get(p) is not None and cpu1.get(p) is not None]
        return round(100.0 * sum(ticks) / hz / window_s, 1) if ticks else None
    out = {
        "model": report["model"], "view": view, "seconds": round(window_s, 2),
        "controls": None if not controls else {"rate_per_s": controls, "sent": traffic.sent,
                                               "osc_received": report["osc"]["received"],
                                               "midi_received": report["midi"]["received"],
                                               "recorded_s": report["record"]["seconds"]},
        "n_fft": report["n_fft"], "hop_length": report["hop_length"], "phase": report["phase"],
        "block_size": stream["block_size"], "jack_period": period, "budget_us": report["budget_us"],
        "latency_samples": report["latency_samples"],
        # every xrun and miss in the window, from the counters marked at its ends; the time-stamped
        # lists hold only the first XRUN_LOG_CAPACITY of the run
        "xruns": counted["xruns"], "xrun_times_s": in_window(stream["xrun_times_s"]),
        "deadline_misses": counted["deadline_misses"], "callbacks": counted["callbacks"],
        "xrun_times_complete": stream["xruns"] <= XRUN_LOG_CAPACITY,
        "xruns_whole_run": stream["xruns"], "deadline_misses_whole_run": stream["deadline_misses"],
        "callback_failures": stream["callback_failures"],
        "xruns_per_minute": round(counted["xruns"] / window_s * 60, 2),
        "server_xrun_events": len(events), "server_xrun_causes": dict(causes),
        "probe_xruns": probe.xruns,
        "reference_client_missed_cycles": (None if metro is None or not server_log else
                                           sum(REFERENCE_CLIENT in e["clients"] for e in events)),
        "hop_compute_us": report["hop_compute_us"],
        "wakeup_us": stream.get("wakeup_us"),
        "worst_hop_fraction": round(report["hop_compute_us"]["max"] / report["budget_us"], 3),
        "own_rss_kib_end": own_rss,
        "rss_kib": {"start": rss_start, "end": rss_end, "max": rss_max,
                    "growth": None if rss_start is None or rss_end is None else rss_end - rss_start},
        "effect_cpu_percent": cpu_percent([effect.pid]),
        "steal_jiffies": None if steal0 is None or steal1 is None else steal1 - steal0,
        "output_rms": round(float(np.sqrt(np.mean(rec[SAMPLE_RATE:] ** 2))), 4),
        "input_rms": round(float(np.sqrt(np.mean(sig ** 2))), 4),
    }
    if view:  # the view's counters cover the whole run, from its first redraw to its last
        out["view_fps"] = view_fps
        out["view_cpu_percent"] = cpu_percent(view_pids)
        out["view_redraws"] = report["view"]["redraws"]
        out["view_frames_drawn"] = report["view"]["frames_drawn"]
        out["view_exit_status"] = report["view"]["exit_status"]
        # the effect is a JACK client: each callback is one server period, whatever its block size
        out["hops_whole_run"] = int(stream["callbacks"] * period / report["hop_length"])
        out["run_seconds"] = round(stream["callbacks"] * period / SAMPLE_RATE, 2)
    shutil.rmtree(work, ignore_errors=True)
    return out


def _row(r: dict) -> str:
    h = r["hop_compute_us"]
    rss = r["rss_kib"]
    growth = "-" if rss["growth"] is None else f"{rss['growth'] / 1024:+.1f}"
    w = r.get("wakeup_us")
    wake = f"{'-':>17}" if not w else f"{w['p50']:5.0f}/{w['p999']:5.0f}/{w['max']:5.0f}"
    name = "view" if r["view"] else "controls" if r.get("controls") else "plain"
    return (f"{name:8s} {r['seconds']:7.1f} {r['xruns']:6d} {r['xruns_per_minute']:7.1f} "
            f"{r['deadline_misses']:6d} {h['p50']:7.0f} {h['p99']:7.0f} {h['max']:8.0f} {r['worst_hop_fraction']:6.2f} "
            f"{'-' if rss['start'] is None else rss['start'] // 1024:>6} {growth:>7} "
            f"{'-' if r['reference_client_missed_cycles'] is None else r['reference_client_missed_cycles']:>5} "
            f"{wake} "
            f"{'; '.join(f'{k} {v}' for k, v in r['server_xrun_causes'].items()) or '-'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None, help="measured window (default 60)")
    length.add_argument("--minutes", type=float, default=None, help="measured window in minutes")
    p.add_argument("--model", default="cello-ll", help="shipped model (its STFT is the preset; default cello-ll)")
    p.add_argument("--view", action="store_true", help="with the live view open and redrawing")
    p.add_argument("--view-fps", type=float, default=30.0, help="the view's redraws per second (default 30)")
    p.add_argument("--controls", type=float, default=0.0, metavar="RATE",
                   help="with OSC, MIDI (JACK) and the recorder on, and RATE OSC and RATE MIDI changes a second")
    p.add_argument("--baseline-seconds", type=float, default=0.0,
                   help="then the same without the view and the controls, for comparison")
    p.add_argument("--period", type=int, default=128, help="JACK period when this script starts the server (default 128)")
    p.add_argument("--server-log", default=None, help="the running JACK server's log (to read its xrun causes)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    seconds = 60.0 if args.seconds is None and args.minutes is None else (args.seconds or 60.0 * args.minutes)
    if not 1.0 <= seconds <= 6 * 3600:
        p.error(f"the window must be from 1 s to 6 h, not {seconds:g} s")

    jackd = None
    server_log = Path(args.server_log) if args.server_log else None
    if not jack_running():
        server_log = Path(tempfile.mkdtemp(prefix="rtst-soak-jack-")) / "jackd.log"
        jackd = start_jack(args.period, server_log)
    try:
        runs = [soak(seconds, model=args.model, view=args.view, server_log=server_log, view_fps=args.view_fps,
                     controls=args.controls)]
        if args.baseline_seconds > 0 and (args.view or args.controls):
            runs.append(soak(args.baseline_seconds, model=args.model, view=False, server_log=server_log))
    finally:
        if jackd is not None:
            jackd.terminate()
            jackd.wait(timeout=10)
    r0 = runs[0]
    print(f"soak: {r0['model']} (n_fft {r0['n_fft']}, hop {r0['hop_length']}, block {r0['block_size']}, "
          f"{r0['phase']}), budget {r0['budget_us']:.0f} us, JACK dummy driver")
    print(f"{'run':8s} {'s':>7} {'xruns':>6} {'/min':>7} {'misses':>6} {'p50 us':>7} {'p99 us':>7} {'max us':>8} "
          f"{'worst':>6} {'RSS MB':>6} {'growth':>7} {'C ref':>5} {'wake-up us p50/p99.9/max':>17} server's xrun causes")
    for r in runs:
        print(_row(r))
    for r in runs:
        if r["view"]:
            print(f"view: {r['view_cpu_percent']} % of a core in the window (effect {r['effect_cpu_percent']} %); "
                  f"whole run, {r['run_seconds']:.0f} s of stream: {r['view_redraws']} redraws "
                  f"({r['view_redraws'] / r['run_seconds']:.1f}/s), {r['view_frames_drawn']} frames drawn of "
                  f"{r['hops_whole_run']} hops, exit {r['view_exit_status']}")
    print("(p50/p99/max: the engine's compute per hop over the run; worst = max / budget; RSS of the effect "
          "process at the window's start, growth to its end; C ref: cycles that jack_metro, a C client running "
          "beside the effect, missed in the window)")
    result = {"runs": runs, "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "git": git_revision()}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Makes the README's picture of the live view from the real program.

Starts a JACK server with the dummy driver (unless one runs), runs ``rtst live --view`` on it
(offscreen Qt unless a display is set) with ``--view-screenshot``, and plays the bundled demo clip
(looped) into the effect's input from a JACK client while it runs, so the spectrograms and meters
show a real run. Needs the dev (JACK-Client) and view extras::

    .venv/bin/python tools/make_view_screenshot.py [--model cello] [--output benchmarks/results/live-view.png]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 48000


def jack_running() -> bool:
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    return shutil.which("jack_lsp") is not None and subprocess.run(
        ["jack_lsp"], capture_output=True, env=env, timeout=5).returncode == 0


def start_jack(period: int):
    if jack_running():
        return None
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    proc = subprocess.Popen(["jackd", "-R", "-d", "dummy", "-r", str(SAMPLE_RATE), "-p", str(period), "-C", "2", "-P", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(100):
        if jack_running():
            return proc
        time.sleep(0.05)
    proc.kill()
    sys.exit("make_view_screenshot: jackd did not start (bash tools/setup.sh dev installs jackd2)")


class Player:
    """A JACK client that loops a clip into the effect's input and swallows its output."""

    def __init__(self, clip: np.ndarray):
        import jack

        self.clip = np.ascontiguousarray(clip, dtype=np.float32)
        self.pos = 0
        self.client = jack.Client("rtst-screenshot", no_start_server=True)
        self.out = self.client.outports.register("out")
        self.inp = self.client.inports.register("in")
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames):
        o = self.out.get_array()
        p, n = self.pos, self.clip.size
        a = min(frames, n - p)  # the clip is longer than a period: at most one wrap
        o[:a] = self.clip[p:p + a]
        o[a:] = self.clip[:frames - a]
        self.pos = (p + frames) % n

    def patch(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ins = self.client.get_ports("PortAudio", is_audio=True, is_input=True)
            outs = self.client.get_ports("PortAudio", is_audio=True, is_output=True)
            if ins and outs:
                for other in self.client.get_all_connections(ins[0]):
                    self.client.disconnect(other, ins[0])
                self.client.connect(self.out, ins[0])
                self.client.connect(outs[0], self.inp)
                return
            time.sleep(0.05)
        sys.exit("make_view_screenshot: the effect's JACK ports did not appear")

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cello")
    p.add_argument("--morph-model", default="bells")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "live-view.png"))
    p.add_argument("--after", type=float, default=8.0, help="seconds of playing before the picture")
    p.add_argument("--period", type=int, default=128, help="JACK period (frames)")
    args = p.parse_args()

    clip, sr = sf.read(ROOT / "rtst" / "data" / "demo.wav", dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE:
        sys.exit(f"make_view_screenshot: the demo clip is at {sr} Hz, not {SAMPLE_RATE}")
    jackd = start_jack(args.period)
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = Path(tempfile.mkdtemp()) / "live.json"
    player = Player(clip[:, 0])
    try:
        effect = subprocess.Popen(
            [sys.executable, "-m", "rtst", "live", "--model", args.model, "--morph-model", args.morph_model,
             "--view", "--view-screenshot", str(out), "--view-screenshot-after", str(args.after),
             "--duration", str(args.after + 3), "--report", str(report)], env=env, cwd=ROOT)
        player.patch()
        status = effect.wait(timeout=args.after + 120)
    finally:
        player.close()
        if jackd is not None:
            jackd.terminate()
            jackd.wait(timeout=10)
    if status != 0 or not out.exists():
        print(f"make_view_screenshot: rtst live exited with {status}", file=sys.stderr)
        return 1
    r = json.loads(report.read_text())
    print(f"wrote {out}: {args.model} (morph {args.morph_model}), xruns {r['xruns']}, deadline misses "
          f"{r['deadline_misses']}, view redraws {r['view']['redraws']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

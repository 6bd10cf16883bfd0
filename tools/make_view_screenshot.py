"""Makes the README's picture of the live view from the real program.

Starts a JACK server with the dummy driver (unless one runs), runs ``rtst live --view`` on it
(offscreen Qt unless a display is set) with ``--view-screenshot``, and plays the bundled demo clip
(looped) into the effect's input from a JACK client while it runs (benchmarks/soak.py's server
helpers, the tests' probe client), so the spectrograms and meters show a real run. Needs the dev (JACK-Client) and view extras::

    .venv/bin/python tools/make_view_screenshot.py [--model cello] [--output benchmarks/results/live-view.png]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent

from rtst.testing.jack import SAMPLE_RATE, LoopProbe, jack_running, start_jack


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
    jackd = None if jack_running() else start_jack(args.period, Path(tempfile.mkdtemp()) / "jackd.log")
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = Path(tempfile.mkdtemp()) / "live.json"
    seconds = args.after + 3
    signal = np.tile(clip[:, 0], int(np.ceil(seconds * SAMPLE_RATE / clip.shape[0])))
    probe = LoopProbe("rtst-screenshot")
    try:
        effect = subprocess.Popen(
            [sys.executable, "-m", "rtst", "live", "--model", args.model, "--morph-model", args.morph_model,
             "--view", "--view-screenshot", str(out), "--view-screenshot-after", str(args.after),
             "--duration", str(seconds), "--report", str(report)], env=env, cwd=ROOT)
        ins, outs = probe.wait_for_ports("rtst", timeout_s=120)
        probe.patch(ins[0], outs[0])
        player = threading.Thread(target=probe.play_and_record, args=(signal,), kwargs={"timeout_s": seconds + 60},
                                  daemon=True)
        player.start()
        status = effect.wait(timeout=seconds + 120)
    finally:
        probe.close()
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

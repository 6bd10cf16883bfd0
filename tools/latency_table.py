"""The README's preset table, from real runs: for each preset, the round trip measured by
``rtst latency --through-effect --preset P`` on the JACK test server (dummy driver, started here
unless one runs) and the per-hop compute of ``rtst bench --preset P`` (the shipped model and phase
method, no sound card). Prints a Markdown table and writes the JSON of every run.

    .venv/bin/python tools/latency_table.py [--json benchmarks/results/presets.json] [--period 128]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from rtst.testing.jack import jack_running, start_jack

PRESETS = ("low-latency", "default", "quality")


def rtst(*args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        r = subprocess.run([sys.executable, "-m", "rtst", *args, "--report", str(path)], capture_output=True,
                           text=True, cwd=ROOT, timeout=600)
        if r.returncode != 0:
            sys.exit(f"latency_table: rtst {' '.join(args)} failed: {r.stderr.strip()}")
        return json.loads(path.read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "presets.json"))
    p.add_argument("--period", type=int, default=128, help="JACK period if the server is started here")
    p.add_argument("--seconds", type=float, default=30.0, help="audio streamed by each bench (default 30)")
    args = p.parse_args()
    jackd = None if jack_running() else start_jack(args.period, Path(tempfile.mkdtemp()) / "jackd.log")
    try:
        rows = {}
        for name in PRESETS:
            lat = rtst("latency", "--through-effect", "--preset", name, "--repeats", "8")
            bench = rtst("bench", "--preset", name, "--seconds", str(args.seconds))
            rows[name] = {"latency": lat, "bench": bench}
    finally:
        if jackd is not None:
            jackd.terminate()
            jackd.wait(timeout=10)
    sr = 48000
    print("| preset | model / phase | n_fft / hop | algorithmic | I/O (JACK, period "
          f"{args.period}) | predicted | measured round trip | compute p50 / p99 / p99.9 / max (fraction of the hop) | RTF |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        lat, bench = r["latency"]["latency_samples"], r["bench"]
        loop = r["latency"]["loopback"]
        f = bench["hop_compute_fraction"]
        ms = lambda n: f"{n} ({n / sr * 1e3:.1f} ms)"  # noqa: E731
        refine = bench.get("phase_options", {}).get("iterations") if bench["lookahead"] else None
        phase = f"{bench['phase']} {bench['lookahead']}" + (f", {refine} refinements" if refine else "")
        print(f"| `{name}` | {bench['model']} / {phase} | {bench['n_fft']} / {bench['hop_length']} "
              f"| {ms(lat['algorithmic'])} | {ms(lat['io'])} | {ms(lat['total'])} "
              f"| {loop['mean_samples']:.2f} ± {loop['jitter_samples']:.2f} ({lat['measured'] / sr * 1e3:.2f} ms) "
              f"| {f['p50']:.3f} / {f['p99']:.3f} / {f['p999']:.3f} / {f['max']:.3f} | {bench['rtf']:.3f} |")
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"(written {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

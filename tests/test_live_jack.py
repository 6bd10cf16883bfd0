"""The live effect on a real JACK server (dummy driver): real PortAudio stream, real audio."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import chirp
from jackprobe import LoopProbe, find_lag

pytestmark = pytest.mark.jack


@pytest.mark.parametrize("extra", [
    [],                                      # block = hop: no block-alignment delay
    ["--block-size", "128", "--lookahead", "2"],  # half-hop blocks and two hops of lookahead
])
def test_live_identity_returns_chirp_delayed_by_reported_latency(jack_server, tmp_path, extra):
    report_path = tmp_path / "live.json"
    effect = subprocess.Popen(
        [sys.executable, "-m", "rtst", "live", "--model", "identity", "--phase", "input",
         "--duration", "6", "--report", str(report_path), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = LoopProbe()
    try:
        ins, outs = probe.wait_for_ports("PortAudio")
        probe.patch(ins[0], outs[0])
        sr = jack_server["sample_rate"]
        sig = np.zeros(int(1.5 * sr), np.float32)
        sig[4800:4800 + sr // 2] = chirp(sr // 2, sr)
        rec = probe.play_and_record(sig)
    finally:
        probe.close()
    stdout, stderr = effect.communicate(timeout=60)
    assert effect.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    lat = report["latency_samples"]
    lag = find_lag(sig, rec)
    print(f"reported {lat}, measured lag {lag}, probe xruns {probe.xruns}, stream {report['stream']}")
    assert lag == lat["total"]
    np.testing.assert_allclose(rec[lag:], sig[:sig.size - lag], atol=1e-4)
    assert report["xruns"] == 0
    assert report["stream"]["callback_failures"] == 0

"""Named settings a performer picks from: a model (which brings its STFT), a phase method and its
lookahead. ``--preset NAME`` on live, render, bench and latency; any option given as well wins.

Algorithmic latency (``n_fft - hop_length + lookahead * hop_length``) at 48 kHz: low-latency
(cello-ll, n_fft 256 / hop 64, hybrid, lookahead 1) 256 samples = 5.3 ms; default (cello, n_fft
1024 / hop 256, rtpghi, lookahead 0) 768 = 16 ms; quality (cello, hybrid, lookahead 1) 1024 =
21.3 ms. The sound card's I/O comes on top (README "Latency" has the measured round trips).

``default`` gives up the phase lookahead (causal RTPGHI: a few dB worse spectral convergence than
the hybrid, README "Phase reconstruction") to stay under 25 ms; ``quality`` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtst.errors import ParameterError

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    phase: str
    lookahead: int
    description: str


PRESETS = {p.name: p for p in (
    Preset("low-latency", "cello-ll", "hybrid", 1, "n_fft 256 / hop 64: under 10 ms round trip on a 128-frame period"),
    Preset("default", "cello", "rtpghi", 0, "n_fft 1024 / hop 256, causal RTPGHI: under 25 ms round trip"),
    Preset("quality", "cello", "hybrid", 1, "n_fft 1024 / hop 256, PGHI-initialised RTISI-LA with one hop of lookahead"),
)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(f"preset={name!r} must be one of {', '.join(PRESETS)}") from None

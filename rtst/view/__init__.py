"""The live effect's window: scrolling input and output spectrograms, meters and controls.

It runs in its own process (``python -m rtst.view``), attached to the engine's shared telemetry
block (:mod:`rtst.telemetry`), so drawing never holds the audio process's interpreter lock.
Control changes go back to the engine as JSON lines on stdout. Needs pyqtgraph and a Qt binding;
they are imported on first use, so ``import rtst.view`` alone needs neither.
"""

from __future__ import annotations

import importlib

__all__ = ["EffectView", "SpectrogramImage", "SpectrogramPlot"]

_HOMES = {"EffectView": "rtst.view.window", "SpectrogramImage": "rtst.view.spectrogram",
          "SpectrogramPlot": "rtst.view.spectrogram"}


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'rtst.view' has no attribute {name!r}")

"""Step-model interface and the built-in identity model.

:func:`rtst.model.load_model` (in :mod:`rtst.model.registry`) turns a name or path into a model.
"""

from __future__ import annotations

import numpy as np

from rtst.config import StftConfig
from rtst.errors import ModelError
# still importable from here for the code that has always found the folder here; new code uses
# rtst.model.MODELS_DIR
from rtst.model.shipped import MODELS_DIR

__all__ = ["StepModel", "IdentityModel", "MODELS_DIR"]


class StepModel:
    """A streaming magnitude model, stepped once per hop.

    Subclasses implement :meth:`process` without allocating; state lives in preallocated arrays.

    Attributes
    ----------
    name : str
        What reports call the model.
    stft : StftConfig or None
        The STFT the model was trained for; ``None`` accepts any (identity).
    latency_frames : int
        Hops of delay the model adds (0 for causal frame-to-frame models).
    """

    name = "model"
    stft: StftConfig | None = None
    latency_frames = 0
    #: A model that makes its frame anew (True) gives the engine its complex frame in
    #: ``spectrum`` after each :meth:`process`, and the engine takes that frame's phase where
    #: it would take the input's; a filter (False) leaves the input's phase to the engine.
    synthesises = False
    spectrum: np.ndarray | None = None

    def bind(self, waveform: np.ndarray, spec_in: np.ndarray) -> None:
        """The engine's newest input frame (float64 [n_fft]) and its spectrum (complex128
        [n_bins]), for a model that reads more than the magnitude; called before :meth:`prepare`."""

    def check(self, stft_config: StftConfig) -> None:
        """Raise ModelError if the model cannot run with the engine's STFT settings."""
        if self.stft is None:
            return
        for field in ("sample_rate", "n_fft", "hop_length", "window"):
            mine, theirs = getattr(self.stft, field), getattr(stft_config, field)
            if mine != theirs:
                raise ModelError(
                    f"model {self.name!r} was trained with {field}={mine} but the engine uses "
                    f"{field}={theirs}"
                )

    def prepare(self, n_bins: int) -> None:
        """Allocate and warm up for frames of ``n_bins`` bins. Called once, off the audio thread."""

    def process(self, mag_in: np.ndarray, mag_out: np.ndarray) -> None:
        """One hop: ``mag_in`` float64 [n_bins] -> ``mag_out`` float64 [n_bins].

        Real-time safe: implementations must not allocate, lock or do I/O.
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Zero the model's state, as if freshly loaded."""


class IdentityModel(StepModel):
    """Passes the magnitude through: measures phase reconstruction and latency alone."""

    name = "identity"

    def process(self, mag_in: np.ndarray, mag_out: np.ndarray) -> None:
        """Real-time safe: one in-place copy."""
        np.copyto(mag_out, mag_in)


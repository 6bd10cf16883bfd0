"""Named settings a performer picks from: a model (which brings its STFT), a phase method and its
lookahead. ``--preset NAME`` on live, render, bench and latency; any option given as well wins.

The shipped students filter the input's spectrum (a gain per band, smooth across bins:
:mod:`rtst.transfer.student`), so the input's own phase is the phase of the filtered signal: the
``input`` method realises what they ask for without a reconstruction and without lookahead.
``quality`` instead runs the PGHI-initialised RTISI-LA reconstruction with one hop of lookahead,
for models that draw magnitudes of their own.

Algorithmic latency (``n_fft - hop_length + lookahead * hop_length``) at 48 kHz: low-latency
(cello-ll, n_fft 256 / hop 64, input phase) 192 samples = 4.0 ms; default (cello, n_fft 1024 /
hop 256, input phase) 768 = 16 ms; quality (cello, hybrid, lookahead 1) 1024 = 21.3 ms. The sound
card's I/O comes on top (README "Latency" has the measured round trips).

:func:`phase_for_model` is the one place that decides the phase method and lookahead a model runs
with when none is given (``rtst live|render|bench --model NAME``, ``rtst evaluate``,
benchmarks/bench_quality.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtst.errors import ParameterError

__all__ = ["Preset", "PRESETS", "DEFAULT_PHASE", "get_preset", "phase_for_model"]

#: Phase method of a model that no preset covers (and of the identity model).
DEFAULT_PHASE = "hybrid"


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    phase: str
    lookahead: int
    description: str


PRESETS = {p.name: p for p in (
    Preset("low-latency", "cello-ll", "input", 0, "n_fft 256 / hop 64, the input's phase: under 10 ms round trip on a 128-frame period"),
    Preset("default", "cello", "input", 0, "n_fft 1024 / hop 256, the input's phase: under 25 ms round trip"),
    Preset("quality", "cello", "hybrid", 1, "n_fft 1024 / hop 256, PGHI-initialised RTISI-LA with one hop of lookahead"),
)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(f"preset={name!r} must be one of {', '.join(PRESETS)}") from None


def _preset_stft(model_name: str):
    """(n_fft, hop_length) of a preset's model, or None when its file is missing or unreadable."""
    from rtst.errors import RtstError
    from rtst.model import load_model

    try:
        stft = load_model(model_name).stft
    except RtstError:
        return None
    return None if stft is None else (stft.n_fft, stft.hop_length)


def phase_for_model(model) -> tuple[str, int | None]:
    """Phase method and lookahead for ``model`` when the user gives neither.

    The first preset (in :data:`PRESETS` order, so ``default`` before ``quality``) whose ``model``
    is this model's name; else the first preset whose model has the same n_fft and hop, since the
    latency budget that chose its phase depends on the STFT, not on the style; else
    (:data:`DEFAULT_PHASE`, None), None meaning the method's own lookahead.

    Parameters
    ----------
    model : rtst.model.StepModel or str
        A loaded model (its ``name`` and ``stft``), or a name/path for :func:`rtst.model.load_model`.

    Returns
    -------
    phase : str
    lookahead : int or None
    """
    if isinstance(model, str):
        from rtst.model import load_model

        model = load_model(model)
    for preset in PRESETS.values():
        if preset.model == model.name:
            return preset.phase, preset.lookahead
    stft = getattr(model, "stft", None)
    if stft is not None:
        for preset in PRESETS.values():
            if _preset_stft(preset.model) == (stft.n_fft, stft.hop_length):
                return preset.phase, preset.lookahead
    return DEFAULT_PHASE, None

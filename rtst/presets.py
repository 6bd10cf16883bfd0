"""Named settings a performer picks from: a model (which brings its STFT), a phase method and its
lookahead. ``--preset NAME`` on live, render, bench and latency, ``preset=`` in :class:`rtst.Effect`;
any option given as well wins. Without a preset or a model, the ``default`` preset applies, so the
first thing a user hears is style transfer (``model="identity"`` stays available by name).

:func:`resolve` is the one place that turns what a user asked for into what the engine runs:
every command and the Python API call it once, and it decides in one pass, in a fixed order
(preset -> model -> STFT -> phase), never climbing back.

The shipped models re-synthesise (:mod:`rtst.model.resynth`): each hop they make the frame anew,
partials with phases of their own, and give the engine that complex frame. The ``input`` phase
method takes the phase of the frame the model gives (the input's own for a filter), so it plays
the model's frame exactly, at no extra latency: ``low-latency`` and ``default`` run it.
``quality`` runs the input-guided method (:mod:`rtst.phase.guided`) with one hop of lookahead:
RTISI-LA refines the model's frames for consistency across hops, at 5.3 ms more.

Algorithmic latency (``n_fft - hop_length + lookahead * hop_length``) at 48 kHz: low-latency
(cello-ll, n_fft 256 / hop 64, lookahead 0) 192 samples = 4.0 ms; default (cello, n_fft 1024 /
hop 256, lookahead 0) 768 = 16 ms; quality (cello, lookahead 1) 1024 = 21.3 ms. The sound card's
I/O comes on top (docs/latency.md has the measured round trips).

:func:`phase_for_model` is the one place that decides the phase method and lookahead a model runs
with when none is given (``rtst live|render|bench --model NAME``, ``rtst evaluate``,
benchmarks/bench_quality.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rtst.errors import ModelError, ParameterError

__all__ = ["Preset", "PRESETS", "PRESET_NAMES", "DEFAULT_PRESET", "DEFAULT_PHASE", "Settings", "get_preset",
           "phase_for_model", "preset_stft", "resolve"]

#: Phase method of a model that no preset covers (and of the identity model): right for a model
#: that filters its input and for one that draws (it falls back on RTPGHI + RTISI-LA there).
DEFAULT_PHASE = "guided"


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    phase: str
    lookahead: int
    description: str
    #: Refinements per hop over the lookahead (None: the method's own default).
    iterations: int | None = None


PRESETS = {p.name: p for p in (
    Preset("low-latency", "cello-ll", "input", 0, "n_fft 256 / hop 64, the model's own phase without lookahead: "
           "under 10 ms round trip on a 128-frame period"),
    Preset("default", "cello", "input", 0, "n_fft 1024 / hop 256, the model's own phase without lookahead: "
           "under 25 ms round trip"),
    # Two refinements, not the method's four: on the panel's cello magnitudes 0.0-0.7 dB from four
    # (two thirds of what four gain over no lookahead) at 2.7-3.6 % of the hop instead of 3.2-4.7 %
    # (rtst bench, this 2-core VM; docs/phase.md), inside the 3 % p50 budget on a quiet machine.
    Preset("quality", "cello", "guided", 1, "n_fft 1024 / hop 256, the input-guided phase refined twice over one "
           "hop of lookahead", iterations=2),
)}
#: Preset names, in the order ``rtst bench --preset all`` runs them.
PRESET_NAMES = tuple(PRESETS)
#: What runs when neither a preset nor a model is named.
DEFAULT_PRESET = "default"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(f"preset={name!r} must be one of {', '.join(PRESETS)}") from None


def preset_stft(name: str):
    """The STFT of a preset: its model's (the preset does not fix one of its own).

    Raises
    ------
    ParameterError
        Unknown preset.
    ModelError
        Its model is missing.
    """
    from rtst.model import load_model

    return load_model(get_preset(name).model).stft


def _preset_sizes(name: str):
    """(n_fft, hop_length) of a preset, or None when its model is missing or unreadable."""
    from rtst.errors import RtstError

    try:
        stft = preset_stft(name)
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
            if _preset_sizes(preset.name) == (stft.n_fft, stft.hop_length):
                return preset.phase, preset.lookahead
    return DEFAULT_PHASE, None


@dataclass(frozen=True)
class Settings:
    """What the engine runs, as :func:`resolve` decided it.

    Attributes
    ----------
    preset : str or None
        The preset that supplied defaults (``"default"`` when nothing was named).
    model : rtst.model.StepModel
        The loaded model (one instance: :meth:`processor` loads a fresh one per extra call).
    model_spec : str or rtst.model.StepModel
        What the model was loaded from (a name, a path, or the instance given).
    stft : rtst.config.StftConfig
    phase : str
        Phase method name (:data:`rtst.phase.METHODS`).
    lookahead : int or None
        Hops of phase lookahead; None is the method's own default.
    phase_options : dict
        Extra keyword options of the phase method (``iterations``, ``tol``, ``seed``).
    mix : float
        Dry/wet mix, 0..1.
    """

    preset: str | None
    model: object
    model_spec: object
    stft: object
    phase: str
    lookahead: int | None
    phase_options: dict
    mix: float

    def fresh_model(self):
        """A new instance of the model (its own state), e.g. for a second channel."""
        from rtst.model import load_model

        return load_model(self.model_spec) if isinstance(self.model_spec, str) else self.model

    def processor(self, block_size: int | None = None, *, fresh: bool = False):
        """A :class:`rtst.engine.Processor` for these settings.

        Parameters
        ----------
        block_size : int or None
            Fixed block size of the caller; None for one hop per block.
        fresh : bool
            Load a new instance of the model instead of using :attr:`model` (one per channel).
        """
        from rtst.engine import Processor

        model = self.fresh_model() if fresh else self.model
        return Processor(self.stft, model=model, phase=self.phase, lookahead=self.lookahead, mix=self.mix,
                         block_size=block_size or None, phase_options=dict(self.phase_options))

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (no re-resolution)."""
        return dataclasses.replace(self, **changes)


def resolve(*, preset: str | None = None, model=None, phase: str | None = None, lookahead: int | None = None,
            sample_rate: int | None = None, n_fft: int | None = None, hop_length: int | None = None,
            window: str | None = None, mix: float = 1.0, phase_options: dict | None = None) -> Settings:
    """Decide what the engine runs from what the user named; everything not named comes from the
    preset, then the model, then the engine's defaults.

    Order, one pass: the preset (``preset``, else :data:`DEFAULT_PRESET` when ``model`` is None
    too); the model (``model``, else the preset's); the STFT (each of ``sample_rate``, ``n_fft``,
    ``hop_length``, ``window`` given, else the model's, else :data:`rtst.config.DEFAULT_STFT`'s);
    the phase (``phase`` with ``lookahead`` as given; else the preset's phase and lookahead, a
    given ``lookahead`` winning; else :func:`phase_for_model`).

    Parameters
    ----------
    preset : str, optional
        One of :data:`PRESET_NAMES`.
    model : str, path or rtst.model.StepModel, optional
        A shipped model's name, ``"identity"``, an ``.onnx`` path, or a loaded model.
    phase : str, optional
        One of :data:`rtst.phase.PHASE_NAMES`.
    lookahead : int, optional
        Hops of phase lookahead.
    sample_rate, n_fft, hop_length, window : optional
        STFT settings; a trained model accepts only its own.
    mix : float
        Dry/wet mix, 0..1.
    phase_options : dict, optional
        ``iterations``, ``tol``, ``seed`` of the methods that take them.

    Returns
    -------
    settings : Settings

    Raises
    ------
    ParameterError
        For an unknown preset or an impossible STFT.
    ModelError
        For a model that does not exist or was trained for other STFT settings.

    Examples
    --------
    >>> from rtst.presets import resolve
    >>> s = resolve()
    >>> s.preset, s.model.name, s.phase, s.lookahead
    ('default', 'cello', 'input', 0)
    >>> resolve(model="identity", n_fft=512, hop_length=128).stft.n_fft
    512
    """
    from rtst.config import DEFAULT_STFT, StftConfig
    from rtst.model import StepModel, load_model
    from rtst.validate import require_float

    chosen = get_preset(preset) if preset is not None else (PRESETS[DEFAULT_PRESET] if model is None else None)
    spec = model if model is not None else chosen.model
    loaded = spec if isinstance(spec, StepModel) else load_model(spec)
    base = loaded.stft or DEFAULT_STFT
    given = {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length, "window": window}
    stft = StftConfig(**{k: (v if v is not None else getattr(base, k)) for k, v in given.items()})
    try:
        loaded.check(stft)
    except ModelError as exc:
        if model is None:  # the user did not pick this model: say how to run the STFT they asked for
            raise ModelError(f"{exc} (the {chosen.name} preset's model; --model identity runs any STFT)") from None
        raise
    if phase is not None:
        from rtst.phase import METHODS

        if phase not in METHODS:
            raise ParameterError(f"phase={phase!r} must be one of {', '.join(METHODS)}")
    else:
        if chosen is not None:
            phase, lookahead = chosen.phase, (lookahead if lookahead is not None else chosen.lookahead)
        else:
            phase, own = phase_for_model(loaded)
            lookahead = lookahead if lookahead is not None else own
    options = {k: v for k, v in (phase_options or {}).items() if v is not None}
    if chosen is not None and phase == chosen.phase and chosen.iterations is not None:
        options.setdefault("iterations", chosen.iterations)
    return Settings(preset=chosen.name if chosen is not None else None, model=loaded, model_spec=spec, stft=stft,
                    phase=phase, lookahead=lookahead, phase_options=options, mix=require_float("mix", mix, 0.0, 1.0))

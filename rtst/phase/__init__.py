"""Phase reconstruction: turns magnitude frames into complex frames.

Real-time methods (per hop, inside the engine): ``input`` (baseline), ``rtpghi``, ``rtisila``,
``spsi``, ``hybrid`` and ``guided`` (the input's phase where the output follows it). Offline, for whole spectrograms: :func:`rtst.phase.pghi.pghi` and
:func:`rtst.phase.gla.fast_griffin_lim`.

This module is the registry of the real-time methods: :data:`METHODS`, :data:`PHASE_NAMES` and
:func:`make_phase`. Each method's defaults (``default_lookahead`` ...) are attributes of its class.
"""

from __future__ import annotations

import inspect

from rtst.config import StftConfig
from rtst.errors import ParameterError
from rtst.phase.base import InputPhase, PhaseMethod
from rtst.phase.guided import GuidedPhase
from rtst.phase.rtisila import HybridPhase, RtisilaPhase
from rtst.phase.rtpghi import RtpghiPhase
from rtst.phase.spsi import SpsiPhase

__all__ = ["PhaseMethod", "InputPhase", "RtpghiPhase", "SpsiPhase", "RtisilaPhase", "HybridPhase", "GuidedPhase", "METHODS",
           "PHASE_NAMES", "make_phase"]

#: Method name -> class. The order is the one offered to users (command line, live index control).
METHODS: dict[str, type[PhaseMethod]] = {
    "rtpghi": RtpghiPhase,
    "hybrid": HybridPhase,
    "rtisila": RtisilaPhase,
    "spsi": SpsiPhase,
    "input": InputPhase,
    "guided": GuidedPhase,
}

#: The method names, in :data:`METHODS` order.
PHASE_NAMES: tuple[str, ...] = tuple(METHODS)


def make_phase(method: str, stft_config: StftConfig, lookahead: int | None = None, **options) -> PhaseMethod:
    """Build a phase method by name.

    Parameters
    ----------
    method : str
        One of :data:`PHASE_NAMES`.
    stft_config : StftConfig
    lookahead : int, optional
        Hops of lookahead; the class's ``default_lookahead`` if omitted.
    **options
        Keyword options of the method's class.

    Returns
    -------
    phase : PhaseMethod

    Raises
    ------
    ParameterError
        Unknown method, bad lookahead or options.
    """
    try:
        cls = METHODS[method]
    except KeyError:
        raise ParameterError(
            f"phase={method!r} must be one of {', '.join(sorted(METHODS))}"
        ) from None
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in options if k not in params or k in ("self", "stft_config", "lookahead"))
    if unknown and not takes_any:
        raise ParameterError(f"phase={method!r} takes no option(s) {', '.join(unknown)}")
    return cls(stft_config, lookahead, **options)

"""Phase reconstruction: turns magnitude frames into complex frames.

Real-time methods (per hop, inside the engine): ``input`` (baseline), ``rtpghi``, ``rtisila``,
``spsi`` and ``hybrid``. Offline, for whole spectrograms: :func:`rtst.phase.pghi.pghi` and
:func:`rtst.phase.gla.fast_griffin_lim`.
"""

from rtst.phase.base import METHODS, InputPhase, PhaseMethod, make_phase
from rtst.phase.rtpghi import RtpghiPhase
from rtst.phase.rtisila import HybridPhase, RtisilaPhase
from rtst.phase.spsi import SpsiPhase

METHODS["rtpghi"] = RtpghiPhase
METHODS["spsi"] = SpsiPhase
METHODS["rtisila"] = RtisilaPhase
METHODS["hybrid"] = HybridPhase

__all__ = ["PhaseMethod", "InputPhase", "RtpghiPhase", "SpsiPhase", "RtisilaPhase", "HybridPhase", "METHODS", "make_phase"]

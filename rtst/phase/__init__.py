"""Phase reconstruction: turns magnitude frames into complex frames.

Real-time methods (per hop, inside the engine): ``input`` (baseline), ``rtpghi``, ``rtisila``,
``spsi`` and ``hybrid``. Offline, for whole spectrograms: :func:`rtst.phase.pghi.pghi` and
:func:`rtst.phase.gla.fast_griffin_lim`.
"""

from rtst.phase.base import METHODS, InputPhase, PhaseMethod, make_phase
from rtst.phase.rtpghi import RtpghiPhase

METHODS["rtpghi"] = RtpghiPhase

__all__ = ["PhaseMethod", "InputPhase", "RtpghiPhase", "METHODS", "make_phase"]

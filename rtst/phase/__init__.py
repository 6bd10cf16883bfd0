"""Phase for the model's magnitude frames.

Every method is a :class:`~rtst.phase.base.PhaseMethod`: it receives, once per hop, the new
magnitude frame (and the input's spectrum of the same frame) and writes the complex spectrum of the
frame ``lookahead`` hops back. :func:`make_phase` builds one by name.
"""

from rtst.phase.base import METHODS, InputPhase, PhaseMethod, make_phase

__all__ = ["PhaseMethod", "InputPhase", "METHODS", "make_phase"]

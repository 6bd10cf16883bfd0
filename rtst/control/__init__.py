"""Rig controls: one :class:`~rtst.control.rig.Rig` per running engine, driven by the view, OSC
(:mod:`rtst.control.osc`) and MIDI (:mod:`rtst.control.midi`)."""

from rtst.control.rig import PARAMETERS, Rig

__all__ = ["Rig", "PARAMETERS"]

"""The effect on a sound card: the duplex stream (:mod:`rtst.live.stream`), the session around it
on stage (:mod:`rtst.live.session`: telemetry, rig controls, view, recorder) and the recorder
(:mod:`rtst.live.recorder`)."""

from rtst.live.session import LiveSession, ViewProcess

__all__ = ["LiveSession", "ViewProcess"]

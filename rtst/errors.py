"""Exception hierarchy.

Every error the package raises on purpose derives from :class:`RtstError`, so the command line can
turn it into one line on stderr. Messages name the parameter, the offending value and the rule.
"""

__all__ = ["RtstError", "ParameterError", "DeviceError", "ModelError", "AudioFileError"]


class RtstError(Exception):
    """Root of all rtst errors."""


class ParameterError(RtstError, ValueError):
    """A setting is impossible or out of range (STFT sizes, sample rate, mix, ...)."""


class DeviceError(RtstError):
    """An audio device is missing, busy, or refuses the requested settings."""


class ModelError(RtstError):
    """A model file is malformed, foreign, or does not match the engine's settings."""


class AudioFileError(RtstError):
    """An audio file cannot be read or written (missing, malformed, empty, would overwrite input)."""

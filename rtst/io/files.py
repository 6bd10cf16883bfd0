"""Audio files: read any format libsndfile reads, resample with soxr, write without clobbering input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rtst.errors import AudioFileError

__all__ = ["read_audio", "write_audio", "resample"]


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int, dict]:
    """Read an audio file.

    Returns
    -------
    audio : np.ndarray, float32 [n_samples, n_channels]
    sample_rate : int
    info : dict
        ``format``, ``subtype`` and ``channels`` of the file.

    Raises
    ------
    AudioFileError
        Missing, unreadable, malformed or empty file, or one with non-finite samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"audio file {str(path)!r} does not exist")
    try:
        with sf.SoundFile(str(path)) as f:
            info = {"format": f.format, "subtype": f.subtype, "channels": f.channels}
            audio = f.read(dtype="float32", always_2d=True)
            sample_rate = int(f.samplerate)
    except (RuntimeError, sf.LibsndfileError, ValueError, TypeError) as exc:
        raise AudioFileError(f"cannot read {str(path)!r} as audio: {exc}") from None
    if audio.shape[0] == 0:
        raise AudioFileError(f"audio file {str(path)!r} is empty (0 samples)")
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise AudioFileError(f"audio file {str(path)!r} has {bad} non-finite samples")
    return audio, sample_rate, info


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample along axis 0 with soxr (very high quality); returns float32 [n, channels]."""
    if from_rate == to_rate:
        return np.ascontiguousarray(audio, dtype=np.float32)
    import soxr

    return np.ascontiguousarray(soxr.resample(audio, from_rate, to_rate, quality="VHQ"), dtype=np.float32)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, *,
                subtype: str | None = None, protect: tuple = ()) -> None:
    """Write ``audio`` float [n_samples, n_channels]; the format follows the extension.

    Parameters
    ----------
    protect : tuple of paths
        Files that must not be overwritten (the input of a render).

    Raises
    ------
    AudioFileError
        The path is a protected file, the extension is unknown, or writing fails.
    """
    import soundfile as sf

    path = Path(path)
    for other in protect:
        other = Path(other)
        if path.resolve() == other.resolve() or (path.exists() and other.exists() and os.path.samefile(path, other)):
            raise AudioFileError(f"refusing to overwrite the input file {str(other)!r}: choose another output")
    fmt = path.suffix.lstrip(".").upper()
    if fmt not in sf.available_formats():
        raise AudioFileError(f"cannot write {str(path)!r}: unknown audio extension {path.suffix!r} (use .wav or .flac)")
    if subtype is not None and not sf.check_format(fmt, subtype):
        subtype = None
    if not path.parent.exists():
        raise AudioFileError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    tmp = path.with_name(path.name + ".part")
    try:
        sf.write(str(tmp), audio, sample_rate, subtype=subtype, format=fmt)
        os.replace(tmp, path)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise AudioFileError(f"cannot write {str(path)!r}: {exc}") from None

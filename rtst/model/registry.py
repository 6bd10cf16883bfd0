"""Model names and files: :func:`load_model` and :func:`list_models`.

A name is ``'identity'`` (built in) or the stem of a file in the shipped models' folder
(:data:`rtst.model.shipped.MODELS_DIR`); anything else is taken as a path to an ONNX step model.
"""

from __future__ import annotations

import os
from pathlib import Path

from rtst.errors import ModelError
from rtst.model.base import IdentityModel, StepModel
from rtst.model.shipped import MODELS_DIR, models_dir

__all__ = ["load_model", "list_models", "open_model", "MODELS_DIR", "models_dir"]

#: The built-in model's name: it has no file.
IDENTITY = "identity"


def list_models() -> list[str]:
    """Names :func:`load_model` accepts without a path: ``'identity'`` and the shipped models, sorted.

    Returns
    -------
    list of str
        ``'identity'`` and the stem of each ``.onnx`` file in :data:`MODELS_DIR`, in sorted order.

    Examples
    --------
    >>> from rtst.model import list_models
    >>> list_models()
    ['bells', 'cello', 'cello-ll', 'choir', 'guitar', 'identity', 'organ']
    """
    return sorted([IDENTITY] + [p.stem for p in MODELS_DIR.glob("*.onnx")])


def load_model(name_or_path: str | os.PathLike | None) -> StepModel:
    """Resolve a model by name (one of :func:`list_models`) or by the path of an ONNX file.

    Parameters
    ----------
    name_or_path : str, os.PathLike or None
        ``'identity'`` or ``None`` for the built-in identity model, a shipped model's name
        (``'cello'``), or a path to an ``.onnx`` step model.

    Returns
    -------
    StepModel
        A fresh instance: callers that run a model twice at once load it twice.

    Raises
    ------
    ModelError
        If the model does not exist or cannot be loaded.
    """
    if name_or_path is None or str(name_or_path) == IDENTITY:
        return IdentityModel()
    text = str(name_or_path)
    candidates = [Path(text)]
    if os.sep not in text and not text.endswith(".onnx"):
        candidates.append(MODELS_DIR / f"{text}.onnx")
    for path in candidates:
        if path.is_file():
            return open_model(path)
    raise ModelError(f"model {text!r} not found: give one of {', '.join(list_models())} or the path of an .onnx file")


def open_model(path) -> StepModel:
    """The model in the ONNX file ``path``: a step model (``step-v1``) or a re-synthesising one
    (``resynth-v1``, :class:`rtst.model.resynth.ResynthModel`), by its ``rtst.format``."""
    # numba and onnxruntime are imported only when a model file is used
    from rtst.model.onnx import OnnxStepModel
    from rtst.model.resynth import RESYNTH_FORMAT, ResynthModel
    from rtst.model.session import open_session

    path = Path(path)
    session = open_session(path)
    if session.get_modelmeta().custom_metadata_map.get("rtst.format") == RESYNTH_FORMAT:
        return ResynthModel(path, session=session)
    return OnnxStepModel(path, session=session)
